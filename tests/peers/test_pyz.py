"""mu3e-checks.pyz, the one file for Merlin7: a diagnosis from a directory holding only it.

The file is built from this checkout by .ci/build-pyz (or taken from ``$MU3E_TEST_PYZ``, which
.ci/run sets after building it once).  It runs, without installing anything:

- with DIRACOS's Python: the real DIRAC 8.0.74 environment (.ci/install-dirac), used read-only;
  its ``pip freeze`` and site-packages are the same afterwards, and the .pyz's own packages, not
  DIRAC's, are the ones imported;
- with ``python -I`` (isolated: no PYTHON* variables, no user site) of every CPython version
  pyproject.toml claims, and of the system's python3.

Each gives the verdict on a complete setup (READY, exit 0) and on a broken one (a stale CRL:
NOT READY naming CRL-003, exit 1).  The wheels are unpacked once per interpreter into a
``PEX_ROOT`` shared by the runs (as ~/.cache/pex is for a user), so the test pays that once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.peers.test_install_into_dirac import _freeze  # pip freeze --all, by name
from tests.support.pki_factory import DAY, crls_for
from tests.support.pythons import claimed_versions, find_python, missing_message
from tests.support.runner import parse_junit
from tests.support.worlds import UKGrid, complete_setup

DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture(scope="session")
def pex_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pex-root")


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


@pytest.fixture(scope="module")
def setups(uk, tmp_path_factory) -> dict[str, tuple[Path, dict[str, str]]]:
    """A complete setup and the same with the user CA's CRL stale: (home, its shell's env)."""
    stale = crls_for(uk.pki, uk.cas)
    stale[id(uk.ca)] = uk.pki.crl(uk.ca, last_update=uk.pki.now - 9 * DAY,
                                  next_update=uk.pki.now - DAY)
    return {"good": complete_setup(uk, tmp_path_factory.mktemp("good")),
            "broken": complete_setup(uk, tmp_path_factory.mktemp("broken"), crls=stale)}


def run_pyz(python: list[str], pyz: Path, setup: tuple[Path, dict[str, str]], where: Path,
            pex_root: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``<python> mu3e-checks.pyz --mu3e-offline`` started in ``where``, which holds only the
    file; the environment is the user's shell after diracosrc, without any PYTHON* variable
    (this checkout must not be importable)."""
    home, shell = setup
    where.mkdir()
    shutil.copy(pyz, where / pyz.name)
    assert os.listdir(where) == [pyz.name]
    env = {k: v for k, v in shell.items() if not k.startswith("PYTHON")}
    env.update(HOME=str(home), PEX_ROOT=str(pex_root), LANG="C.UTF-8",
               MU3E_SYSTEM_CERT_DIR=str(where.parent / "no-system-cert-dir"))
    junit = where.parent / f"{where.name}.xml"
    proc = subprocess.run([*python, pyz.name, "--mu3e-offline", f"--junitxml={junit}"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    return proc, (parse_junit(junit) if junit.exists() else {})


def interpreter_used(python: list[str], pyz: Path, pex_root: Path) -> str:
    """'3.X <sys.executable>' of the interpreter the file ends up in.  pex looks on PATH for
    another interpreter when the one it was started with has no wheels in the file, which
    would let a missing version pass unnoticed."""
    probe = subprocess.run([*python, str(pyz), "-c", "import sys; print('%d.%d' % "
                            "sys.version_info[:2], sys.executable)"],
                           env={"PEX_INTERPRETER": "1", "PEX_ROOT": str(pex_root),
                                "PATH": os.environ["PATH"], "HOME": str(pex_root)},
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.strip()


def python_version(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def assert_verdicts(python: list[str], pyz: Path, setups, tmp_path: Path, pex_root: Path):
    version = python_version(Path(python[0]))
    assert interpreter_used(python, pyz, pex_root).split()[0] == version, \
        f"the .pyz has no wheels for Python {version}: pex ran another interpreter"
    good, cases = run_pyz(python, pyz, setups["good"], tmp_path / "good", pex_root)
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert "READY" in good.stdout and "NOT READY" not in good.stdout
    assert cases["CRL-003"].outcome == "passed" and cases["CERT-001"].outcome == "passed"
    assert (tmp_path / "good" / "reports").is_dir()  # the ticket's HTML report was written
    broken, cases = run_pyz(python, pyz, setups["broken"], tmp_path / "broken", pex_root)
    assert broken.returncode == 1, broken.stdout[-3000:] + broken.stderr[-3000:]
    assert "NOT READY: 1 check(s) failed; start with CRL-003" in broken.stdout
    assert cases["CRL-003"].outcome == "failed"


def _tree(site: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(site)), p.stat().st_mtime_ns) for p in site.rglob("*")
                  if "__pycache__" not in p.parts)


def test_the_pyz_runs_with_diracos_python_and_leaves_its_packages_alone(pyz, setups, pex_root,
                                                                        tmp_path):
    python = DIRAC_VENV / "bin" / "python"
    assert python.exists(), f"no DIRAC 8.0.74 environment in {DIRAC_VENV}: run .ci/install-dirac"
    site, base = subprocess.run([str(python), "-c", "import sys, sysconfig; "
                                 "print(sysconfig.get_paths()['purelib'], sys.base_prefix)"],
                                capture_output=True, text=True, check=True).stdout.split()
    site = Path(site)
    freeze, tree = _freeze(python), _tree(site)
    assert freeze.get("dirac") == "DIRAC==8.0.74"

    assert_verdicts([str(python)], pyz, setups, tmp_path, pex_root)

    # The pyz's packages are used, not the ones DIRAC's environment holds (cryptography,
    # requests, packaging, diraccfg): the interpreter's site-packages are off sys.path.
    probe = subprocess.run(
        [str(python), str(pyz), "-c", "import cryptography, diraccfg, packaging, requests, "
         "pytest, sys; print(sys.prefix); [print(m.__file__) for m in (cryptography, diraccfg, "
         "packaging, requests, pytest)]"],
        env={"PEX_INTERPRETER": "1", "PEX_ROOT": str(pex_root), "HOME": str(tmp_path),
             "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    prefix, *files = probe.stdout.split()
    # DIRAC's interpreter runs it.  This stand-in for DIRACOS is a venv, which pex leaves for
    # the interpreter it was made from (its base_prefix), so that no venv's site-packages can
    # leak in; a real DIRACOS is a conda prefix, not a venv, and runs the file itself.
    assert prefix in (str(DIRAC_VENV), base)
    assert all(f.startswith(str(pex_root)) for f in files), files  # ... with our packages
    assert _freeze(python) == freeze and _tree(site) == tree


@pytest.mark.parametrize("version", claimed_versions())
def test_the_pyz_runs_isolated_with_every_claimed_python(version, pyz, setups, pex_root,
                                                         tmp_path):
    python = find_python(version)
    assert python is not None, missing_message(version)
    assert_verdicts([str(python), "-I"], pyz, setups, tmp_path, pex_root)


def test_the_pyz_runs_isolated_with_the_system_python(pyz, setups, pex_root, tmp_path):
    assert SYSTEM_PYTHON.exists(), "no /usr/bin/python3"
    assert_verdicts([str(SYSTEM_PYTHON), "-I"], pyz, setups, tmp_path, pex_root)
