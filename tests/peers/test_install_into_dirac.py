"""Install (b): mu3e-checks pip-installed into a real DIRAC 8.0.74 environment changes no pin.

A physicist who installs the tool into DIRACOS's Python must not find DIRAC's own packages
upgraded or downgraded by our dependencies: DIRAC 8.0.74 is tested against the versions it has.
The test copies the real DIRAC 8.0.74 venv (made by .ci/install-dirac), installs this project
into the copy *with* its dependencies, and compares ``pip freeze`` before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.runner import ROOT

DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))


def _env() -> dict[str, str]:
    """The caller's environment without PYTHONPATH & co: this checkout on the path would show
    up in ``pip freeze`` as if it were installed in the DIRAC venv."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_USER"))}


def _freeze(python: Path) -> dict[str, str]:
    """Installed distributions by normalised name -> the freeze line (version or URL)."""
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True,
                         text=True, check=True, timeout=120, env=_env()).stdout
    pins: dict[str, str] = {}
    for line in out.splitlines():
        name = re.split(r"[=@ ]", line, maxsplit=1)[0].strip()
        if name:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = line.strip()
    return pins


def _source_copy(dest: Path) -> Path:
    """The project's sources alone: pip builds a local directory in place, and the checkout
    must not collect build/ and *.egg-info from a test."""
    shutil.copytree(ROOT / "mu3e_checks", dest / "mu3e_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def test_install_into_dirac_8_0_74_changes_no_dirac_pin(tmp_path):
    assert (DIRAC_VENV / "bin" / "python").exists(), (
        f"no DIRAC 8.0.74 venv in {DIRAC_VENV}: run .ci/install-dirac or set MU3E_TEST_DIRAC")
    venv = tmp_path / "dirac"
    # A venv finds its prefix from pyvenv.cfg next to bin/python, so a copy is a working venv
    # (its console-script shebangs still name the original: only `python -m` is used here).
    shutil.copytree(DIRAC_VENV, venv, symlinks=True)
    python = venv / "bin" / "python"
    before = _freeze(python)
    assert before.get("dirac") == "DIRAC==8.0.74", before.get("dirac")
    check_before = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True,
                                  text=True, timeout=120, env=_env()).stdout.splitlines()

    src = _source_copy(tmp_path / "src")
    env = _env()
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", str(src)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    after = _freeze(python)
    changed = {name: (line, after.get(name)) for name, line in before.items()
               if after.get(name) != line}
    assert not changed, f"installing mu3e-checks changed DIRAC's environment: {changed}"
    assert after["mu3e-checks"].startswith("mu3e-checks")
    # Only genuinely new distributions appear: ours and the dependencies DIRAC does not have.
    new = set(after) - set(before)
    assert new >= {"mu3e-checks", "pytest", "pytest-html"}, new
    assert new <= {"mu3e-checks", "pytest", "pytest-html", "pytest-metadata", "pyopenssl",
                   "dnspython", "iniconfig", "pluggy", "pygments", "jinja2", "markupsafe",
                   "exceptiongroup", "tomli"}, new
    # No dependency conflict that was not there before (DIRAC's optional server deps such as
    # boto3 are absent from the client venv from the start).
    check_after = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True,
                                 text=True, timeout=120, env=_env()).stdout.splitlines()
    assert set(check_after) <= set(check_before), set(check_after) - set(check_before)

    # Both work side by side in the one interpreter, and the command lists the checks.
    both = subprocess.run([str(python), "-c", "import DIRAC, M2Crypto, mu3e_checks; "
                           "print(DIRAC.version, mu3e_checks.__version__)"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert both.returncode == 0, both.stderr
    assert both.stdout.split()[0] in ("8.0.74", "v8.0.74"), both.stdout
    listed = subprocess.run([str(python), "-m", "mu3e_checks.cli", "--list"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "CERT-001" in listed.stdout
