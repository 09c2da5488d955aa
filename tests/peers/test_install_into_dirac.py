"""Install (b): mu3e-checks pip-installed into a real DIRAC 8.0.74 environment changes no pin.

A physicist who installs the tool into DIRACOS's Python must not find DIRAC's own packages
upgraded or downgraded by our dependencies: DIRAC 8.0.74 is tested against the versions it has.
The test copies the real DIRAC 8.0.74 venv (made by .ci/install-dirac), installs this project
into the copy *with* its dependencies as docs/install.md says (the environment's own versions as
pip constraints), and compares ``pip freeze`` before and after.  Two environments: one whose
packages admit all our dependencies (the install must succeed and change nothing), and the venv
as .ci/install-dirac left it, whose cryptography may be newer than any pyOpenSSL release admits
(then pip must refuse, and still change nothing: a plain ``pip install`` would downgrade it).
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


#: The install command of docs/install.md's option b, with the constraints file it writes first.
PINS = "dirac-pins.txt"


def _documented_install() -> list[str]:
    """docs/install.md's option b, as its lines: pins written, then the constrained install."""
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    section = text[text.index("## Into DIRACOS's Python (option b)"):]
    block = section[section.index("```bash") + 7:]
    return [ln.split("#")[0].strip() for ln in block[:block.index("```")].splitlines()
            if ln.strip() and not ln.startswith("source ")]


def _dirac_copy(tmp_path: Path) -> Path:
    assert (DIRAC_VENV / "bin" / "python").exists(), (
        f"no DIRAC 8.0.74 venv in {DIRAC_VENV}: run .ci/install-dirac or set MU3E_TEST_DIRAC")
    venv = tmp_path / "dirac"
    # A venv finds its prefix from pyvenv.cfg next to bin/python, so a copy is a working venv
    # (its console-script shebangs still name the original: only `python -m` is used here).
    shutil.copytree(DIRAC_VENV, venv, symlinks=True)
    return venv / "bin" / "python"


def _pip_check(python: Path) -> set[str]:
    return set(subprocess.run([str(python), "-m", "pip", "check"], capture_output=True,
                              text=True, timeout=120, env=_env()).stdout.splitlines())


def _install_as_documented(python: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """docs/install.md's commands, with ``pip`` meaning this environment's pip and the wheel
    path meaning this checkout's sources."""
    src = _source_copy(tmp_path / "src")
    lines = _documented_install()
    assert lines[0] == f"pip list --format=freeze > ~/{PINS}", lines
    assert lines[1].startswith(f"pip install --constraint ~/{PINS} "), lines
    pins = tmp_path / PINS
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], env=_env(),
                            capture_output=True, text=True, timeout=120, check=True).stdout
    pins.write_text(listed)
    return subprocess.run([str(python), "-m", "pip", "install", "-q", "--constraint", str(pins),
                           str(src)], env=_env(), capture_output=True, text=True, timeout=600)


def test_install_into_a_compatible_dirac_changes_nothing(tmp_path):
    python = _dirac_copy(tmp_path)
    # A DIRACOS whose cryptography a released pyOpenSSL admits: pip settles that first, as the
    # environment a user may well have (this is the copy's state *before* our install).
    subprocess.run([str(python), "-m", "pip", "install", "-q", "pyopenssl"], env=_env(),
                   check=True, capture_output=True, timeout=600)
    before = _freeze(python)
    assert before.get("dirac") == "DIRAC==8.0.74", before.get("dirac")
    check_before = _pip_check(python)

    proc = _install_as_documented(python, tmp_path)
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
    assert _pip_check(python) <= check_before, _pip_check(python) - check_before
    # Both work side by side in the one interpreter, and the command lists the checks.
    both = subprocess.run([str(python), "-c", "import DIRAC, M2Crypto, mu3e_checks; "
                           "print(DIRAC.version, mu3e_checks.__version__)"],
                          env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert both.returncode == 0, both.stderr
    assert both.stdout.split()[0] in ("8.0.74", "v8.0.74"), both.stdout
    listed = subprocess.run([str(python), "-m", "mu3e_checks.cli", "--list"], env=_env(),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "CERT-001" in listed.stdout


def test_install_into_any_dirac_never_changes_a_version(tmp_path):
    """The venv as .ci/install-dirac made it: whatever pip decides, no installed version moves
    (a refusal names the conflict, and then nothing of ours is installed)."""
    python = _dirac_copy(tmp_path)
    before = _freeze(python)
    proc = _install_as_documented(python, tmp_path)
    after = _freeze(python)
    assert {n: line for n, line in after.items() if n in before} == before
    if proc.returncode != 0:
        assert "conflict" in (proc.stdout + proc.stderr).lower(), proc.stdout + proc.stderr
        assert "mu3e-checks" not in after
