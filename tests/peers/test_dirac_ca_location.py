"""CA-001, CA-002 and ENV-001 agree with DIRAC 8.0.74's own ``getCAsLocation``, called for real.

Each environment is given to DIRAC's Python (``Locations.getCAsLocation`` in the DIRAC venv,
``$DIRAC_ROOT_PATH`` pointing at a tmp DIRACOS) and to the diagnosis; both must name the same
CA directory.  The host's /etc/grid-security/certificates takes part as it is (DIRAC's lookup
hard-codes it), and is only read.  The test fails when DIRAC is missing: CI installs it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.knowledge import trust
from tests.support.pki_factory import write_trust_dir
from tests.support.runner import run_checks
from tests.support.worlds import UKGrid

DIRAC_PYTHON = Path("/opt/mu3e-dirac-8.0.74/bin/python")
SYSTEM = Path("/etc/grid-security/certificates")


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def dirac_ca_location(env: dict[str, str], cwd: Path) -> str | None:
    """What DIRAC 8.0.74 itself answers in this environment (None: no CA directory)."""
    assert DIRAC_PYTHON.exists(), f"{DIRAC_PYTHON} is missing: CI installs DIRAC 8.0.74 there"
    code = ("from DIRAC.Core.Security.Locations import getCAsLocation\n"
            "print(repr(getCAsLocation()))")
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    proc = subprocess.run([str(DIRAC_PYTHON), "-c", code], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - repr() of a str or None


def _environments(uk: UKGrid, home: Path, tmp: Path) -> dict[str, dict[str, str]]:
    diracos = home / "dirac_ui" / "diracos"
    own = trust.diracos_cert_dir(diracos)
    return {
        # X509_CERT_DIR unset: DIRAC takes <rootPath>/etc/grid-security/certificates ...
        "root-dir-populated": {"DIRAC_ROOT_PATH": str(diracos)},
        # ... even when it is empty (diracosrc would prefer a populated system directory) ...
        "root-dir-empty": {"DIRAC_ROOT_PATH": str(tmp / "empty-root")},
        # ... and only without it the host's /etc/grid-security/certificates.
        "root-dir-missing": {"DIRAC_ROOT_PATH": str(tmp / "no-root")},
        # X509_CERT_DIR wins, even when it does not exist.
        "exported": {"DIRAC_ROOT_PATH": str(diracos), "X509_CERT_DIR": str(own)},
        "exported-missing": {"DIRAC_ROOT_PATH": str(diracos),
                             "X509_CERT_DIR": str(tmp / "nope")},
    }


@pytest.mark.parametrize("name", ["root-dir-populated", "root-dir-empty", "root-dir-missing",
                                  "exported", "exported-missing"])
def test_ca_dir_agrees_with_getCAsLocation(uk, tmp_path, name):
    home = uk.home(tmp_path)
    (tmp_path / "empty-root" / "etc/grid-security/certificates").mkdir(parents=True)
    env = _environments(uk, home, tmp_path)[name]
    expected = dirac_ca_location(env, tmp_path)
    if expected is None:  # neither directory exists on this host: DIRAC finds none
        expected = str(trust.dirac_root_cert_dir(env, home)[0])
    diracos = home / "dirac_ui" / "diracos"
    choice = trust.resolve_trust_dir(env, diracos, None, SYSTEM)
    assert str(choice.path) == expected, (name, choice)
    r = run_checks(home, "--mu3e-select", "CA-001,CA-002,ENV-001",
                   "--mu3e-system-cert-dir", str(SYSTEM), env=env)
    assert f"CA directory: {expected} (" in r["CA-001"].properties.get("note", ""), \
        (name, r["CA-001"].properties)
    env001 = r["ENV-001"]
    if "X509_CERT_DIR" not in env:
        assert env001.outcome == "warned" and f"(now {expected}: DIRAC uses {expected} (" \
            in env001.message, (name, env001.message)
    ca002 = r["CA-002"]
    if name == "root-dir-populated":  # the host's IGTF CAs do not verify the test user
        assert ca002.outcome == "warned", ca002.message
    if ca002.outcome == "warned" and "X509_CERT_DIR" not in env:
        if expected == str(SYSTEM):
            assert "DIRAC uses the system directory" in ca002.message, ca002.message
        else:
            assert f"DIRAC uses {expected} (X509_CERT_DIR is not set)" in ca002.message


def test_two_good_directories_do_not_warn(uk, tmp_path):
    """An IGTF-style host directory holding the same CAs and CRLs as DIRACOS's: no CA-002
    warning, whichever directory DIRAC picks."""
    home = uk.home(tmp_path)
    sysdir = write_trust_dir(tmp_path / "system", uk.cas, None)
    own = UKGrid.cadir(home)
    for entry in os.scandir(own):  # the same files, the same CRLs
        if not (sysdir / entry.name).exists():
            os.symlink(os.path.realpath(entry.path), sysdir / entry.name)
    r = run_checks(home, "--mu3e-select", "CA-002", "--mu3e-system-cert-dir", str(sysdir))
    assert r.outcome("CA-002") == "passed", r["CA-002"].message


def test_empty_x509_cert_dir_is_what_dirac_uses_and_env001_fails(uk, tmp_path):
    """DIRAC takes an exported but empty X509_CERT_DIR as set: it answers '' and looks no
    further.  ENV-001 says so instead of naming a directory DIRAC never uses."""
    home = uk.home(tmp_path)
    env = {"DIRAC_ROOT_PATH": str(home / "dirac_ui" / "diracos"), "X509_CERT_DIR": ""}
    assert dirac_ca_location(env, tmp_path) == ""
    r = run_checks(home, "--mu3e-select", "ENV-001", env=env)
    case = r["ENV-001"]
    assert case.outcome == "failed" and "X509_CERT_DIR is set but empty" in case.message
    assert case.fix == f"export X509_CERT_DIR={UKGrid.cadir(home)}"
