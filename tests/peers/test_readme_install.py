"""README.md's install and run commands (and docs/install.md's pip route), pasted as written on
a fresh account with no root.

Each case makes a new unprivileged account (useradd; a home that holds nothing, not even the
skeleton files), puts the release files where the README says they come from
(``~/Downloads``), and runs the README's own code blocks (read from README.md here, so the README
cannot drift from what is tested) as that user, in one bash, as a person pastes them: the
install block, then the run block.  The run must end in a first diagnosis: the verdict, the
report for the ticket, and exit code 1 (a new account has no certificate yet).

The shells differ in their ``python3``, as the README promises:

- ``debian``: the system's /usr/bin/python3 (Debian 12, externally managed, PEP 668);
- ``rhel9``: a machine whose ``python3`` is CPython 3.9 (RHEL 9's), first on PATH;
- ``diracos``: after ``source diracosrc``, DIRACOS's Python (the real DIRAC 8.0.74
  environment) first on PATH.

The pip route (a venv and the wheel) cannot reach an index from CI's point of view: its pip gets
``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS`` naming a wheelhouse made from this checkout's wheel,
which the README's command reads from the environment as written.  So what is installed is this
checkout, never something from PyPI.

The interpreters of this CI image live under /root/.pyenv, which other accounts cannot enter:
each run gets a private mount namespace in which /root is an empty tmpfs holding only a bind of
/root/.pyenv (a stand-in for /usr/bin/python3.9 on RHEL 9).  It also has no network (unshare
-n), so the diagnosis's network checks fail fast instead of reaching GridPP.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from tests.peers.test_install_into_dirac import _source_copy  # the sources alone
from tests.support.pythons import find_python, missing_message
from tests.support.runner import ROOT

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root (useradd, unshare)")

README = ROOT / "README.md"
INSTALL_MD = ROOT / "docs" / "install.md"  # the README's "other ways" (the pip route)
DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
PYENV = Path(os.environ.get("PYENV_ROOT") or "/root/.pyenv")


def bash_blocks(section: str, page: Path = README) -> list[str]:
    """The ```bash blocks of ``page``'s ``section`` (a heading line), in order, up to the
    next heading of the same or a higher level."""
    text = page.read_text(encoding="utf-8")
    level = section.split(" ", 1)[0]
    start = text.index(section + "\n")
    rest = text[start + len(section) + 1:]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    body = rest[:end.start()] if end else rest
    return re.findall(r"^```bash\n(.*?)^```", body, re.M | re.S)


@dataclass
class Fresh:
    """A new account: its name, uid, gid and empty home, in a directory other users can reach."""

    name: str
    uid: int
    gid: int
    home: Path
    base: Path


@pytest.fixture
def fresh(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="mu3e-fresh-", dir="/tmp"))
    os.chmod(base, 0o755)
    name = f"mu3e-fresh-{os.getpid() % 100000}-{base.name[-6:].lower()}"
    name = re.sub(r"[^a-z0-9-]", "x", name)[:31]
    home = base / "home"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell",
                    "/bin/bash", "--user-group", name], check=True, timeout=60)
    try:
        entry = pwd.getpwnam(name)
        home.mkdir(mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        assert os.listdir(home) == []
        yield Fresh(name, entry.pw_uid, entry.pw_gid, home, base)
    finally:
        subprocess.run(["userdel", name], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def give(user: Fresh, source: Path, name: str) -> Path:
    """``source`` saved as ``~/Downloads/<name>``, owned by the user, as a download is."""
    downloads = user.home / "Downloads"
    if not downloads.exists():
        downloads.mkdir()
        os.chown(downloads, user.uid, user.gid)
    target = downloads / name
    shutil.copy(source, target)
    os.chown(target, user.uid, user.gid)
    return target


def python_dir(user: Fresh, shell: str) -> tuple[str, str]:
    """A directory whose ``python3`` is the shell's Python, put first on PATH ('' for the
    system's own), and that Python's version (which the report must show)."""
    if shell == "debian":
        python = Path("/usr/bin/python3")
    elif shell == "rhel9":
        python = find_python("3.9")
        assert python is not None, missing_message("3.9")
    else:
        python = DIRAC_VENV / "bin" / "python3"
        assert python.exists(), f"no DIRAC 8.0.74 environment at {DIRAC_VENV}"
    version = subprocess.run([str(python), "-c", "import platform; "
                              "print(platform.python_version())"], capture_output=True,
                             text=True, check=True).stdout.strip()
    if shell == "debian":
        return "", version
    d = user.base / f"{shell}-bin"
    d.mkdir()
    (d / "python3").symlink_to(python)
    return str(d), version


def as_user(user: Fresh, script: str, *, path_first: str = "", env: Optional[dict[str, str]] = None
            ) -> subprocess.CompletedProcess[str]:
    """``script`` in a new bash of ``user``: a fresh login's environment, no network, and
    /root/.pyenv readable (see the module docstring)."""
    path = ":".join(p for p in (path_first, "/usr/local/bin:/usr/bin:/bin") if p)
    variables = {"HOME": str(user.home), "USER": user.name, "LOGNAME": user.name,
                 "SHELL": "/bin/bash", "LANG": "C.UTF-8", "PATH": path, **(env or {})}
    login = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
             "env", "-i", *(f"{k}={v}" for k, v in variables.items()),
             "bash", "--noprofile", "--norc", "-c", script]
    prepare = "set -e\n"
    if PYENV.is_dir():
        mnt = user.base / "pyenv-mount"
        mnt.mkdir()
        prepare += (f"mount --bind {shlex.quote(str(PYENV))} {shlex.quote(str(mnt))}\n"
                    "mount -t tmpfs -o mode=755 tmpfs /root\n"
                    f"mkdir -p {shlex.quote(str(PYENV))}\n"
                    f"mount --bind {shlex.quote(str(mnt))} {shlex.quote(str(PYENV))}\n")
    prepare += "exec " + shlex.join(login) + "\n"
    return subprocess.run(["unshare", "--mount", "--net", "bash", "-c", prepare],
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def pasted(install: str, run: str, *, source: str = "") -> str:
    """How a person pastes the blocks into one shell: in their home, the install must work;
    the run's exit code is the script's."""
    return f"cd ~\nset -e\n{install}\nset +e\n{source}{run}"


def first_diagnosis(proc: subprocess.CompletedProcess[str], user: Fresh, version: str) -> None:
    """A diagnosis ran to its verdict, as the user, with the Python the shell names."""
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-3000:]
    assert "NOT READY:" in out and "CERT-001" in out, out[-3000:]
    m = re.search(r"Report for your support ticket: (\S+\.html)", out)
    assert m, out[-2000:]
    report = Path(m.group(1))
    assert report.parent == user.home / "reports" and report.stat().st_uid == user.uid
    assert f"{version} (" in report.read_text()  # the report's "Python" line
    assert "command not found" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("shell", ["debian", "rhel9", "diracos"])
def test_the_readme_installs_the_pyz_and_runs_a_first_diagnosis(fresh, pyz, shell):
    install, run = bash_blocks("## Install and run")[:2]
    assert "~/Downloads/mu3e-checks.pyz" in install and run.strip() == "mu3e-checks"
    give(fresh, pyz, "mu3e-checks.pyz")
    first, version = python_dir(fresh, shell)
    source = ""
    if shell == "diracos":  # "after source diracosrc": DIRACOS's bin first on PATH
        rc = fresh.base / "diracosrc"
        rc.write_text(f'export PATH={shlex.quote(first)}:"$PATH"\n')
        source, first = f"source {shlex.quote(str(rc))}\n", ""
    proc = as_user(fresh, pasted(install, run, source=source), path_first=first)
    first_diagnosis(proc, fresh, version)
    assert (fresh.home / ".local" / "bin" / "mu3e-checks").is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This checkout's wheel, built from a copy of its sources."""
    src = _source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "-q", "--wheel", "--outdir", str(out),
                    str(src)], check=True, capture_output=True, timeout=600)
    [found] = out.glob("mu3e_checks-*-py3-none-any.whl")
    return found


@pytest.mark.parametrize("shell", ["debian", "rhel9"])
def test_the_readme_installs_the_wheel_in_a_venv_and_its_pytest_runs_the_checks(fresh, wheel,
                                                                                shell):
    install, run = bash_blocks("## With pip, in a venv of its own", INSTALL_MD)[:2]
    assert "pytest --pyargs mu3e_checks" in run
    give(fresh, wheel, wheel.name)
    first, version = python_dir(fresh, shell)
    python = str(Path(first) / "python3") if first else "/usr/bin/python3"
    # The wheelhouse: this checkout's wheel and its dependencies for this Python, downloaded
    # here by root; the user's pip sees nothing else.
    house = fresh.base / "wheelhouse"
    got = subprocess.run([python, "-m", "pip", "download", "-q", "-d", str(house), str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert got.returncode == 0, got.stderr
    os.chmod(house, 0o755)
    proc = as_user(fresh, pasted(install, run), path_first=first,
                   env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)})
    first_diagnosis(proc, fresh, version)
    # Both commands of the run block gave a verdict: mu3e-checks, then the venv's pytest.
    assert proc.stdout.count("NOT READY:") == 2, proc.stdout[-3000:]
