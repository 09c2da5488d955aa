"""DIRACOS and the DIRAC client, end to end: each check failing for its reason, and passing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.diracos_trees import (
    DIRAC_SCRIPTS,
    build_diracos,
    fake_base_python,
    install_release,
    layout_venv,
    pip_release,
    set_shebang,
)
from tests.support.runner import run_checks

REAL_DIRAC = Path(__import__("os").environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))


@pytest.fixture
def home(grid, tmp_path, dirac_releases):
    return grid.home(tmp_path)


def test_no_diracos_fails_with_the_guide_install_and_skips_the_rest(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    r = run_checks(home, "--mu3e-select", "DIRACOS,DIRAC,CFG")
    case = r["DIRACOS-001"]
    assert case.outcome == "failed"
    assert f"no DIRACOS at {home}/dirac_ui/diracos (guide default" in case.message
    assert "it does not exist" in case.message
    assert case.fix.splitlines()[:2] == [f"mkdir -p {home}/dirac_ui", f"cd {home}/dirac_ui"]
    assert "bash DIRACOS-Linux-$(uname -m).sh" in case.fix
    assert r.outcome("DIRAC-001") == "skipped" and "DIRACOS-001" in r["DIRAC-001"].message
    assert r.outcome("CFG-001") == "skipped" and "DIRAC-001" in r["CFG-001"].message
    assert r.failed() == ["DIRACOS-001"]


def test_diracos_variable_naming_a_missing_prefix(home, tmp_path):
    missing = tmp_path / "elsewhere" / "diracos"
    r = run_checks(home, "--mu3e-select", "DIRACOS-001", env={"DIRACOS": str(missing)})
    assert r.outcome("DIRACOS-001") == "failed"
    assert f"no DIRACOS at {missing} ($DIRACOS)" in r["DIRACOS-001"].message


def test_prefix_without_diracosrc_is_not_diracos(home):
    tree = build_diracos(home)
    (tree.prefix / "diracosrc").unlink()
    r = run_checks(home, "--mu3e-select", "DIRACOS-001", env=tree.env())
    assert r.outcome("DIRACOS-001") == "failed"
    assert "has no diracosrc" in r["DIRACOS-001"].message
    assert r["DIRACOS-001"].fix.startswith(f"mv {tree.prefix} {tree.prefix}.broken\n")


def test_garbage_or_missing_diracos_version_is_only_noted(home):
    """Only DIRACOS2's installer writes .diracos_version (once) and nothing reads it: a
    garbled or missing file costs nothing but the version in the report."""
    tree = build_diracos(home)
    (tree.prefix / ".diracos_version").write_text("\x00\x01garbage\n")
    r = run_checks(home, "--mu3e-select", "DIRACOS-001,DIRACOS-002", env=tree.env())
    assert r.outcome("DIRACOS-002") == "passed"
    assert "not 'DIRACOS2 <version>'" in r["DIRACOS-002"].properties["note"]
    assert r.outcome("DIRACOS-001") == "passed"
    (tree.prefix / ".diracos_version").unlink()
    r = run_checks(home, "--mu3e-select", "DIRACOS-001,DIRACOS-002", env=tree.env())
    assert r.outcome("DIRACOS-002") == "passed"


def test_legacy_diracos_1_warns_with_the_diracos2_installation(home):
    tree = build_diracos(home)
    (tree.prefix / ".diracos_version").write_text("DIRACOS v1r25\n")
    r = run_checks(home, "--mu3e-select", "DIRACOS-001,DIRACOS-002", env=tree.env())
    case = r["DIRACOS-002"]
    assert case.outcome == "warned" and "legacy DIRACOS 1" in case.message
    lines = case.fix.splitlines()
    assert lines[0] == f"mv {tree.prefix} {tree.prefix}.old"
    assert "bash DIRACOS-Linux-$(uname -m).sh" in lines
    assert lines[-2:] == [f"source {tree.prefix}/diracosrc", "pip install DIRAC==8.0.74"]


def test_inactive_environment_fails_with_source_diracosrc(home):
    tree = build_diracos(home)
    r = run_checks(home, "--mu3e-select", "DIRACOS,DIRAC",
                   env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    case = r["DIRACOS-003"]
    assert case.outcome == "failed"
    assert "DIRACOS is not set" in case.message
    assert case.fix == f"source {tree.prefix}/diracosrc"
    for dependant in ("DIRACOS-004", "DIRAC-006"):
        assert r.outcome(dependant) == "skipped" and "DIRACOS-003" in r[dependant].message
    # DIRAC itself is still judged: it lies in the tree whether or not the shell is active.
    assert r.outcome("DIRAC-002") == "passed"


def test_system_dirs_ahead_of_diracos_bin_fail(home):
    tree = build_diracos(home)
    env = tree.env(PATH=f"/usr/bin:{tree.bin}:/bin")
    r = run_checks(home, "--mu3e-select", "DIRACOS-003", env=env)
    assert r.outcome("DIRACOS-003") == "failed"
    assert "after /usr/bin" in r["DIRACOS-003"].message


def _venv_runner(tmp_path: Path) -> tuple[Path, list[str]]:
    """A fresh venv of this Python (sees its packages), and the diagnosis command run by it:
    how a user runs mu3e-checks installed in a venv they activate after sourcing diracosrc."""
    venv = tmp_path / "checks-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, timeout=120)
    # --system-site-packages shows the *base* interpreter's packages; when this suite itself
    # runs in a venv (CI's), its packages (diraccfg, cryptography, ...) are added by a .pth,
    # as a user's venv would have them installed.
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "_suite_packages.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    return venv / "bin", [str(venv / "bin" / "python"), "-m", "pytest", "--pyargs",
                          "mu3e_checks"]


def test_checks_venv_activated_after_diracosrc_passes(home, tmp_path):
    """The venv that runs the diagnosis comes first on PATH: that is the tool, not a broken
    activation, so a good setup passes cleanly and the venv is only noted."""
    tree = build_diracos(home)
    venv_bin, command = _venv_runner(tmp_path)
    env = tree.env(PATH=f"{venv_bin}:{tree.bin}:{tree.prefix}/condabin:/usr/local/bin:/usr/bin"
                        ":/bin")
    r = run_checks(home, "--mu3e-select", "DIRACOS,DIRAC", env=env, command=command)
    assert r.outcome("DIRACOS-003") == "passed", r["DIRACOS-003"].message
    assert "the Python running this diagnosis" in r["DIRACOS-003"].properties.get("note", "")
    assert {c.id: c.outcome for c in r.cases.values() if c.outcome != "passed"} == {}
    assert r.returncode == 0


def test_foreign_dir_ahead_of_diracos_still_fails_beside_the_checks_venv(home, tmp_path):
    tree = build_diracos(home)
    venv_bin, command = _venv_runner(tmp_path)
    other = tmp_path / "other" / "bin"
    other.mkdir(parents=True)
    env = tree.env(PATH=f"{venv_bin}:{other}:{tree.bin}:/usr/bin:/bin")
    r = run_checks(home, "--mu3e-select", "DIRACOS-003", env=env, command=command)
    case = r["DIRACOS-003"]
    assert case.outcome == "failed"
    assert f"after {other}:" in case.message and str(venv_bin) not in case.message
    assert case.fix == f"source {tree.prefix}/diracosrc"


def test_other_diracos_active_fails(home, tmp_path):
    tree = build_diracos(home)
    other = build_diracos(home, prefix=tmp_path / "other" / "diracos")
    r = run_checks(home, "--mu3e-select", "DIRACOS-003", "--mu3e-diracos", str(tree.prefix),
                   env=other.env())
    assert r.outcome("DIRACOS-003") == "failed"
    assert f"DIRACOS is {other.prefix} in this shell, not {tree.prefix}" in \
        r["DIRACOS-003"].message


def test_missing_voms_proxy_init_warns(home):
    tree = build_diracos(home)
    (tree.bin / "voms-proxy-init").unlink()
    r = run_checks(home, "--mu3e-select", "DIRACOS-004", env=tree.env(PATH=str(tree.bin)))
    assert r.outcome("DIRACOS-004") == "warned"
    assert "voms-proxy-init is not on PATH" in r["DIRACOS-004"].message
    assert r.returncode == 0


def test_dirac_8_other_than_8_0_74_warns(home):
    tree = build_diracos(home, dirac="8.0.86")
    r = run_checks(home, "--mu3e-select", "DIRAC-002", env=tree.env())
    assert r.outcome("DIRAC-002") == "warned"
    assert "DIRAC 8.0.86 is installed; the guide installs 8.0.74" in r["DIRAC-002"].message
    assert r["DIRAC-002"].fix == f"source {tree.prefix}/diracosrc\npip install DIRAC==8.0.74"


def test_user_site_v9_shadowing_diracos_8(home):
    tree = build_diracos(home)
    user_site = home / ".local" / "lib" / "python3.11" / "site-packages"
    install_release(pip_release("DIRAC", "9.1.22"), user_site)
    r = run_checks(home, "--mu3e-select", "DIRAC", env=tree.env())
    version = r["DIRAC-002"]
    assert version.outcome == "failed"
    assert "9.1.22" in version.message and "user site" in version.message
    assert f"python3.11 -m pip uninstall DIRAC   # DIRAC 9.1.22 in {user_site}" in version.fix
    several = r["DIRAC-003"]
    assert several.outcome == "warned"
    assert str(user_site / "dirac-9.1.22.dist-info") in several.message
    assert str(tree.site / "dirac-8.0.74.dist-info") in several.message
    assert "keep DIRAC 8.0.74" in several.fix


def test_single_installation_passes_dirac_003(home):
    tree = build_diracos(home)
    r = run_checks(home, "--mu3e-select", "DIRAC-001,DIRAC-003", env=tree.env())
    assert r.outcome("DIRAC-003") == "passed"


def test_no_setuptools_at_all_fails(home):
    tree = build_diracos(home, setuptools=None)
    r = run_checks(home, "--mu3e-select", "DIRAC-004", env=tree.env())
    assert r.outcome("DIRAC-004") == "failed"
    assert "setuptools is not installed" in r["DIRAC-004"].message


def test_python_older_than_requires_python_fails(home):
    tree = build_diracos(home, python="3.8.18")
    r = run_checks(home, "--mu3e-select", "DIRAC-005", env=tree.env())
    case = r["DIRAC-005"]
    assert case.outcome == "failed"
    assert "requires Python >=3.9" in case.message and "Python 3.8.18" in case.message
    assert f"mv {tree.prefix} {tree.prefix}.old" in case.fix
    assert "pip install DIRAC==8.0.74" in case.fix


def test_commands_missing_from_diracos_bin_warn(home):
    tree = build_diracos(home)
    for name in ("dirac-proxy-init", "dirac-configure", "dirac-proxy-info"):
        (tree.bin / name).unlink()
    r = run_checks(home, "--mu3e-select", "DIRAC-006",
                   env=tree.env(PATH=f"{tree.bin}:/usr/bin:/bin"))
    assert r.outcome("DIRAC-006") == "warned"
    assert "dirac-proxy-init, dirac-configure, dirac-proxy-info not on PATH" in \
        r["DIRAC-006"].message
    assert "--force-reinstall --no-deps DIRAC==8.0.74" in r["DIRAC-006"].fix


@pytest.mark.peer
def test_commands_from_another_dirac_warn_naming_it(home):
    """The real DIRAC 8.0.74 venv's dirac-proxy-init, later on PATH, is found and named."""
    real = REAL_DIRAC / "bin" / "dirac-proxy-init"
    assert real.exists(), f"the real DIRAC peer is missing: {real} (run .ci/install-dirac)"
    tree = build_diracos(home)
    (tree.bin / "dirac-proxy-init").unlink()
    r = run_checks(home, "--mu3e-select", "DIRAC-006",
                   env=tree.env(PATH=f"{tree.bin}:{REAL_DIRAC / 'bin'}:/usr/bin"))
    case = r["DIRAC-006"]
    assert case.outcome == "warned"
    assert f"dirac-proxy-init is {real}" in case.message
    assert f"not from {tree.bin}" in case.message


def test_dirac_found_in_a_prefix_symlinked_into_place(home, tmp_path):
    """A DIRACOS installed elsewhere and linked to ~/dirac_ui/diracos is the same prefix."""
    real_prefix = tmp_path / "opt" / "diracos"
    tree = build_diracos(home, prefix=real_prefix)
    link = home / "dirac_ui" / "diracos"
    shutil.rmtree(link)
    link.symlink_to(real_prefix)
    r = run_checks(home, "--mu3e-select", "DIRACOS,DIRAC", env=tree.env(DIRACOS=str(link)))
    assert r.failed() == [], {c.id: c.message for c in r.cases.values()}


def test_prefix_that_is_a_file_and_unreadable_metadata(home, tmp_path):
    not_a_dir = tmp_path / "diracos-file"
    not_a_dir.write_text("oops")
    r = run_checks(home, "--mu3e-select", "DIRACOS-001", env={"DIRACOS": str(not_a_dir)})
    assert "it is not a directory" in r["DIRACOS-001"].message
    tree = build_diracos(home)
    meta = tree.site / "dirac-8.0.74.dist-info" / "METADATA"
    meta.unlink()
    meta.symlink_to(meta)
    r = run_checks(home, "--mu3e-select", "DIRAC", env=tree.env())
    assert r.outcome("DIRAC-001") == "warned"
    assert "symbolic link loop" in r["DIRAC-001"].message
    assert "Traceback" not in r.stdout


def test_dirac_in_a_plain_venv_is_judged_under_the_venvs_python(home, tmp_path):
    """The dirac-* commands on PATH name the venv's Python: its site-packages hold the DIRAC
    that runs, and its pyvenv.cfg the Python version DIRAC-005 judges."""
    venv = layout_venv(tmp_path / "venv", fake_base_python(tmp_path / "base"), dirac="9.1.22")
    r = run_checks(home, "--mu3e-select", "DIRAC", env=venv.env())
    assert r.outcome("DIRAC-001") == "passed"
    assert f"from {venv.site}/dirac-9.1.22.dist-info (venv at {venv.path})" in \
        r["DIRAC-001"].properties["note"]
    case = r["DIRAC-002"]
    assert case.outcome == "failed" and "DIRAC 9.1.22" in case.message
    assert case.fix == f"{venv.python} -m pip install DIRAC==8.0.74"  # that venv's pip
    assert "Python 3.11.7 satisfies" in r["DIRAC-005"].properties["note"]
    # What that pip leaves behind (no index is reachable here): 8.0.74 in place of 9.1.22.
    for entry in pip_release("DIRAC", "9.1.22").iterdir():
        installed = venv.site / entry.name
        if installed.is_symlink():
            installed.unlink()
        elif installed.is_dir():
            shutil.rmtree(installed)
    install_release(pip_release("DIRAC", "8.0.74"), venv.site)
    r = run_checks(home, "--mu3e-select", "DIRAC", env=venv.env())
    assert r.failed() == [], {c.id: c.message for c in r.cases.values()}


def test_venv_whose_base_python_is_gone_fails_and_a_new_venv_passes(home, tmp_path):
    """A venv outlives the Python it was made from (a pyenv version removed): its dirac-*
    commands cannot start.  DIRAC-001 says so; its fix makes the venv again."""
    base = tmp_path / "base"
    venv = layout_venv(tmp_path / "venv", fake_base_python(base))
    (base / "bin" / "python3.11").unlink()
    r = run_checks(home, "--mu3e-select", "DIRAC-001", env=venv.env())
    case = r["DIRAC-001"]
    assert case.outcome == "failed"
    assert (f"{venv.bin}/dirac-proxy-init runs under {venv.python} (its #! line), and "
            f"{venv.python} does not exist (it links to {base}/bin/python3.11, which is gone)"
            ) in case.message
    assert "bad interpreter" in case.message
    assert case.fix.splitlines() == [
        f"python3 -m venv --clear {venv.path}   # its old Python is gone; this empties the venv",
        f"{venv.python} -m pip install DIRAC==8.0.74"]
    # The first line for real; the second as pip would leave it (no index reachable here).
    subprocess.run(["bash", "-c", case.fix.splitlines()[0]], check=True, timeout=300,
                   env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    install_release(pip_release("DIRAC", "8.0.74"), venv.site, venv.bin)
    for name in DIRAC_SCRIPTS:
        set_shebang(venv.bin / name, venv.python)
    r = run_checks(home, "--mu3e-select", "DIRAC-001,DIRAC-002", env=venv.env())
    assert r.failed() == [], {c.id: c.message for c in r.cases.values()}
