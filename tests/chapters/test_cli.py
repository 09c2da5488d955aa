"""The ``mu3e-checks`` command: a help that fits one screen, and a run that imports only what the
selected checks need."""

from __future__ import annotations

import importlib
import subprocess
import sys

from mu3e_checks import registry
from mu3e_checks.plugin import PACKAGE_DIR
from mu3e_checks.prune import can_skip, declared_ids
from mu3e_checks.settings import OPTIONS
from tests.support.runner import audit_processes, clean_env, run_checks


def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mu3e_checks.cli", *args], cwd=tmp_path,
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_help_fits_one_screen_with_every_mu3e_option_and_five_pytest_options(tmp_path):
    out = _cli(tmp_path, "--help")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) < 40, out.stdout
    assert max(len(line) for line in lines) <= 100
    assert "Mu3e DIRAC grid client" in lines[0]
    for opt in OPTIONS:
        assert any(line.split()[:1] == [opt.flag] for line in lines), opt.flag
    for flag in ("-k", "-m", "-v", "--html", "--junitxml"):
        assert any(line.split()[:1] == [flag] for line in lines), flag
    assert "--help-pytest" in out.stdout
    assert "collected" not in out.stdout  # the help does not start a diagnosis
    assert _cli(tmp_path, "-h").stdout == out.stdout


def test_help_pytest_shows_pytests_full_help_with_the_mu3e_options(tmp_path):
    out = _cli(tmp_path, "--help-pytest")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) > 100
    assert "--junit-xml" in out.stdout and "--mu3e-home" in out.stdout
    assert "Mu3e DIRAC client diagnosis" in out.stdout  # the option group's title


_PRINT_MODULES = """
def pytest_sessionfinish(session):
    import sys
    names = sorted(n for n in sys.modules if n.startswith("mu3e_checks"))
    print("\\nMU3E-MODULES " + " ".join(names))
"""


def test_selecting_cert_imports_neither_network_code_nor_json_report(grid, tmp_path):
    home = grid.home(tmp_path)
    plugin_dir = tmp_path / "probe"
    plugin_dir.mkdir()
    (plugin_dir / "mu3e_module_probe.py").write_text(_PRINT_MODULES)
    env = {"PYTHONPATH": f"{clean_env(home)['PYTHONPATH']}:{plugin_dir}"}

    def modules(*args: str) -> set[str]:
        r = run_checks(home, "-p", "mu3e_module_probe", "-s", *args, env=env)
        line = next(x for x in r.stdout.splitlines() if x.startswith("MU3E-MODULES "))
        return set(line.split()[1:])

    cert = modules("--mu3e-select", "CERT")
    assert "mu3e_checks.checks.test_01_certificate" in cert
    assert not {m for m in cert if m.startswith("mu3e_checks.knowledge.net")}, sorted(cert)
    assert "mu3e_checks.render.json" not in cert
    assert "mu3e_checks.checks.test_07_network" not in cert
    # The probe does see them when the run needs them: the assertion above can fail.
    full = modules("--mu3e-json", str(tmp_path / "r.json"))
    assert "mu3e_checks.knowledge.net" in full and "mu3e_checks.render.json" in full


def test_ids_read_from_source_are_exactly_the_checks_each_module_registers():
    """Pruning trusts the ``@check("ID"`` lines: a check declared some other way would be lost
    from a --mu3e-select run, so every module's source must show all of its IDs."""
    modules = sorted((PACKAGE_DIR / "checks").glob("test_*.py"))
    assert len(modules) >= 8
    for path in modules:
        module = importlib.import_module(f"mu3e_checks.checks.{path.stem}")
        registered = {c.id for c in map(registry.check_of, vars(module).values()) if c}
        assert set(declared_ids(path.read_text())) == registered, path.name
        assert registered


def test_can_skip_only_modules_with_nothing_selected(tmp_path):
    cas = PACKAGE_DIR / "checks" / "test_03_cas.py"
    assert can_skip(cas, ("CERT",), ())
    assert not can_skip(cas, ("CERT", "CA-003"), ())
    assert not can_skip(cas, (), ())
    assert can_skip(cas, (), ("CA",))
    assert not can_skip(cas, (), ("CA-001",))
    unknown = tmp_path / "test_other.py"
    unknown.write_text("def test_x():\n    pass\n")
    assert not can_skip(unknown, ("CERT",), ())  # no IDs found: collect it, never guess


def test_the_hermetic_command_runs_no_uname_found_on_path(grid, tmp_path):
    """pytest-metadata asks ``platform.platform()``, which runs ``uname -p`` through PATH; the
    hermetic command loads that plugin after ours, so its configure runs first: the platform is
    pinned before any configure, and a planted ``uname`` never runs."""
    home = grid.home(tmp_path)
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    marker = tmp_path / "uname-ran"
    (shadow / "uname").write_text(f"#!/bin/sh\ntouch {marker}\nexec /bin/uname \"$@\"\n")
    (shadow / "uname").chmod(0o755)
    env = clean_env(home)
    env["PATH"] = f"{shadow}:{env['PATH']}"
    out = subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "--mu3e-select", "CERT",
                          "--mu3e-offline", "-q"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert "passed" in out.stdout, out.stdout + out.stderr
    assert not marker.exists()


def test_a_whole_diagnosis_starts_no_process(grid, tmp_path):
    """The diagnosis only reads: an audit hook in the diagnosing interpreter sees every process
    start (subprocess, exec, spawn, system) and a whole run, reports included, makes none."""
    home = grid.home(tmp_path)
    seen = tmp_path / "processes"
    code = (audit_processes(seen) +
            "from mu3e_checks import cli\n"
            "sys.exit(cli.main(['--mu3e-offline', '-q', '--mu3e-json', 'r.json']))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(home),
                         capture_output=True, text=True, timeout=180)
    assert "passed" in out.stdout, out.stdout + out.stderr
    assert (tmp_path / "r.json").is_file()
    assert seen.read_text() == ""


def test_the_default_output_is_the_summary_without_pytests_paths_and_tracebacks(tmp_path):
    """What the README shows: one line of progress marks, then the summary; no header, no
    site-packages paths, no FAILURES block.  -v brings pytest's full output back."""
    home = tmp_path / "home"
    home.mkdir()
    out = _cli(tmp_path, "--mu3e-offline", "--mu3e-home", str(home))
    assert out.returncode == 1, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert set(first.split()[0]) <= set("FsW.E") and first.endswith("[100%]"), first
    assert "Mu3e DIRAC client diagnosis" in second
    for noise in ("test session starts", "FAILURES", "checks/test_", "short test summary"):
        assert noise not in out.stdout, noise
    assert "NOT READY: " in out.stdout and "CERT-001" in out.stdout
    verbose = _cli(tmp_path, "--mu3e-offline", "--mu3e-home", str(home), "-v")
    assert "test session starts" in verbose.stdout and "test_credentials_present FAILED" \
        in verbose.stdout


def _stderr_of(tmp_path, code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path,
                          env=clean_env(tmp_path), capture_output=True, text=True,
                          timeout=120).stderr


def test_a_diagnosis_process_collects_garbage_rarely(tmp_path):
    # Both ways into a diagnosis raise the collector's thresholds (the imports alone would
    # trigger some 140 collections at CPython's 700); another pytest run keeps its own.
    probe = ("import gc, sys; from mu3e_checks.cli import main; "
             "from mu3e_checks.plugin import GC_THRESHOLD; "
             "main(sys.argv[1:]); sys.stderr.write('threshold=%r wanted=%r' % "
             "(gc.get_threshold(), GC_THRESHOLD))")
    out = _stderr_of(tmp_path, probe, "--help")
    assert "threshold=(100000, 50, 100) wanted=(100000, 50, 100)" in out, out
    plugin = ("import gc, sys, pytest; before = gc.get_threshold(); pytest.main(sys.argv[1:]); "
              "sys.stderr.write('threshold=%r' % (gc.get_threshold(),)); "
              "sys.stderr.write(' kept' if gc.get_threshold() == before else ' changed')")
    ours = _stderr_of(tmp_path, plugin, "-p", "no:cacheprovider", "--pyargs", "mu3e_checks",
                      "--mu3e-list")
    assert "threshold=(100000, 50, 100)" in ours, ours
    (tmp_path / "test_other.py").write_text("def test_one():\n    pass\n")
    other = _stderr_of(tmp_path, plugin, "-p", "no:cacheprovider", "test_other.py")
    assert other.endswith(" kept"), other
