"""The plugin's contract: IDs, selection, prerequisites, JUnit, HTML, exit codes, inertness."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from mu3e_checks import registry
from mu3e_checks.foreign import PACKAGE_DIR, ForeignConfig, find_foreign
from tests.support.runner import ROOT, clean_env, run_checks, unprivileged_command


def test_every_testcase_carries_its_check_id(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r = run_checks(home)
    root = ET.parse(r.junit).getroot()
    cases = list(root.iter("testcase"))
    assert cases
    for tc in cases:
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        assert "check" in props, ET.tostring(tc)[:300]
    failing = [tc for tc in cases if tc.find("failure") is not None]
    assert failing
    for tc in failing:
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        assert props.get("fix"), props


def test_list_command_shows_every_id(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "--list"], cwd=tmp_path,
                         env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ids = set(registry.load_all())
    assert ids >= {f"CERT-00{n}" for n in range(1, 10)}
    for cid in ids:
        assert cid in out.stdout
    via_pytest = subprocess.run([sys.executable, "-m", "pytest", "--mu3e-list"], cwd=tmp_path,
                                env=clean_env(tmp_path), capture_output=True, text=True,
                                timeout=60)
    assert via_pytest.returncode == 0
    assert all(cid in via_pytest.stdout for cid in ids)


def test_select_and_ignore_by_id(grid, tmp_path):
    home = grid.home(tmp_path)
    only = run_checks(home, "--mu3e-select", "CERT-003,CERT-007")
    assert set(only.cases) == {"CERT-003", "CERT-007"}
    ignored = run_checks(home, "--mu3e-select", "CERT", "--mu3e-ignore", "CERT-009")
    assert "CERT-009" not in ignored.cases and "CERT-001" in ignored.cases
    by_k = run_checks(home, "-k", "CERT-004")
    assert set(by_k.cases) == {"CERT-004"}
    by_env = run_checks(home, env={"MU3E_SELECT": "CERT-002"})
    assert set(by_env.cases) == {"CERT-002"}


def test_not_network_marker_expression_works(grid, tmp_path):
    home = grid.home(tmp_path)
    r = run_checks(home, "-m", "not network", offline=False)
    assert r.cases, r.stdout
    assert all(not registry.REGISTRY.get(cid, None) or not registry.REGISTRY[cid].network
               for cid in r.cases)
    assert "PytestUnknownMarkWarning" not in r.stdout + r.stderr


def test_prerequisite_skip_names_root_cause(grid, tmp_path):
    home = grid.home(tmp_path)
    (home / ".globus" / "usercert.pem").write_text("garbage")
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.failed() == ["CERT-005"]
    for cid in ("CERT-007", "CERT-008", "CERT-009"):
        assert r.outcome(cid) == "skipped"
        assert "CERT-005" in r[cid].message


def test_prerequisites_hold_whatever_order_the_checks_are_collected_in(grid, tmp_path):
    """Another plugin (or a file reordering) that reverses the checks cannot run a check
    before its prerequisite: the dependency graph decides, not the file order."""
    home = grid.home(tmp_path)
    (home / ".globus" / "usercert.pem").unlink()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "reverse_items.py").write_text(
        "import pytest\n\n@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{plugins}"}
    normal = run_checks(home, "--mu3e-select", "CERT")
    reversed_ = run_checks(home, "--mu3e-select", "CERT", "-p", "reverse_items", env=env)
    assert reversed_.failed() == normal.failed() == ["CERT-001"]
    for cid in ("CERT-003", "CERT-004", "CERT-005", "CERT-006"):  # each requires CERT-001
        assert reversed_.outcome(cid) == "skipped" and "CERT-001" in reversed_[cid].message
    assert {c: normal.outcome(c) for c in normal.cases} == \
        {c: reversed_.outcome(c) for c in reversed_.cases}


def test_terminal_summary_orders_fixes_and_gives_verdict(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644, cert_mode=0o666)
    r = run_checks(home, "--mu3e-select", "CERT")
    out = r.stdout
    assert out.index("chmod 600") < out.index("chmod 644")  # CERT-003 before CERT-004
    assert "NOT READY: 2 check(s) failed; start with CERT-003" in out
    assert "Traceback" not in out


def test_html_report_is_written_by_default_with_fix_and_environment(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.html is not None and r.html.parent.name == "reports"
    assert str(r.html) in r.stdout
    text = r.html.read_text()
    assert "Mu3e DIRAC client diagnosis" in text
    assert f"chmod 600 {home}/.globus/userkey.pem" in text
    assert "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist" in text  # slash-form DN
    assert "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid,C=CH" in text  # RFC 2253 DN
    assert "<th>Details and fix</th>" in text
    custom = tmp_path / "custom.html"
    r2 = run_checks(home, "--mu3e-select", "CERT", f"--html={custom}", cwd=tmp_path / "cwd2")
    assert custom.exists()
    assert r2.html is None  # nothing written to reports/ when --html overrides it


def test_exit_codes(grid, tmp_path):
    good = run_checks(grid.home(tmp_path / "a"), "--mu3e-select", "CERT")
    assert good.returncode == 0
    bad = run_checks(grid.home(tmp_path / "b", key_mode=0o644), "--mu3e-select", "CERT")
    assert bad.returncode == 1


def test_plugin_is_inert_in_other_projects(tmp_path):
    project = tmp_path / "other"
    project.mkdir()
    # The run hooks (and everything they import) are not even imported in other projects.
    (project / "test_x.py").write_text(
        "import sys\n\ndef test_ok():\n    assert 'mu3e_checks.run' not in sys.modules\n"
        "    assert 'mu3e_checks.plugin' in sys.modules\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=project, env=clean_env(tmp_path), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout
    assert "1 passed" in out.stdout
    assert "Mu3e" not in out.stdout and "mu3e" not in out.stdout.lower()
    assert not (project / "reports").exists()
    # The plugin is loaded (its options exist) but registers none of its run hooks.
    help_out = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=project,
                              env=clean_env(tmp_path), capture_output=True, text=True,
                              timeout=60)
    assert "--mu3e-home" in help_out.stdout


def test_cli_is_hermetic(grid, tmp_path):
    home = grid.home(tmp_path)
    cwd = tmp_path / "analysis"
    cwd.mkdir()
    # A physicist's own project config that would break a plain `pytest --pyargs` run.
    (cwd / "pytest.ini").write_text("[pytest]\npython_files = check_*.py\naddopts = -x\n")
    (cwd / "conftest.py").write_text("raise RuntimeError('user conftest must not load')\n")
    r = run_checks(home, "--mu3e-select", "CERT", cwd=cwd,
                   command=[sys.executable, "-m", "mu3e_checks.cli"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(r.cases) == 9
    assert not (cwd / ".pytest_cache").exists()
    assert r.html is not None
    assert "configuration from outside mu3e-checks" not in r.stdout  # the packaged ini is ours


def test_read_only_directory_gets_the_report_elsewhere_not_an_internal_error(grid, tmp_path):
    home = grid.home(tmp_path)
    cwd = tmp_path / "readonly"
    cwd.mkdir()
    junit_dir = tmp_path / "out"
    junit_dir.mkdir()
    os.chmod(cwd, 0o555)
    try:
        r = run_checks(home, "--mu3e-select", "CERT-001", cwd=cwd,
                       command=unprivileged_command(), junit=junit_dir / "junit.xml")
        bad = run_checks(home, "--mu3e-select", "CERT-001", f"--html={cwd}/sub/r.html",
                         cwd=cwd, command=unprivileged_command(),
                         junit=junit_dir / "junit2.xml")
    finally:
        os.chmod(cwd, 0o755)
    assert "INTERNALERROR" not in r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if "Report for your support ticket" in x)
    report = Path(line.split(": ", 1)[1].strip())
    assert report.is_file() and cwd not in report.parents
    assert bad.returncode == 4 and "cannot write the report" in bad.stderr


def test_foreign_ini_and_conftest_are_named_in_the_summary_and_report(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644, cert_mode=0o666)  # CERT-003 and CERT-004 fail
    project = tmp_path / "analysis"
    project.mkdir()
    ini = project / "pytest.ini"
    ini.write_text("[pytest]\naddopts = -x -p no:randomly --tb=no\n")
    (project / "conftest.py").write_text("# the analysis project's own fixtures\n")
    r = run_checks(home, "--mu3e-select", "CERT", cwd=project)
    # -x really bent the run: it stopped at the first failure, CERT-004 never ran.
    assert r.failed() == ["CERT-003"] and "CERT-004" not in r.cases
    line = next(x for x in r.stdout.splitlines() if "outside mu3e-checks" in x)
    assert line.startswith("WARNING:")
    assert f"{ini} (-x -p no:randomly --tb=no)" in line
    assert str(project / "conftest.py") in line
    assert "run `mu3e-checks` instead" in line
    # Reading the inifile's own values must not show pytest's deprecation of Config.inicfg (9.2).
    assert "Warning" not in r.stderr, r.stderr
    assert r.html is not None
    assert f"{ini} (-x -p no:randomly --tb=no)" in r.html.read_text()
    clean = run_checks(home, "--mu3e-select", "CERT", cwd=tmp_path / "empty")
    assert set(clean.failed()) == {"CERT-003", "CERT-004"}
    assert "outside mu3e-checks" not in clean.stdout


def test_pytest_addopts_is_named(grid, tmp_path):
    home = grid.home(tmp_path)
    r = run_checks(home, "--mu3e-select", "CERT-001", env={"PYTEST_ADDOPTS": "--maxfail=1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "outside mu3e-checks changed this run: PYTEST_ADDOPTS (--maxfail=1)" in r.stdout


def test_find_foreign_keeps_our_own_files_out(tmp_path):
    ours = find_foreign(PACKAGE_DIR / "pytest.ini", {"addopts": "-p no:cacheprovider"}, {},
                        [PACKAGE_DIR / "checks" / "conftest.py"])
    assert ours == []
    checkout = tmp_path / "conftest.py"
    assert find_foreign(None, {}, {}, [checkout], own=[checkout]) == []
    ini = tmp_path / "tox.ini"
    found = find_foreign(ini, {"addopts": "-x --tb=no", "python_files": "check_*.py"},
                         {"PYTEST_ADDOPTS": "-q -p no:randomly"}, [checkout])
    assert found == [
        ForeignConfig(str(ini), "inifile", ("-x", "--tb=no", "python_files = check_*.py")),
        ForeignConfig("PYTEST_ADDOPTS", "environment", ("-q", "-p", "no:randomly")),
        ForeignConfig(str(checkout), "conftest"),
    ]
