"""The report files against a real second account, and a physicist's own install (issue 20, 21).

Two real accounts (``useradd``): the victim, who runs the diagnosis with the tool installed in
a venv under their home as the README installs it, and a planter, who shares a CI checkout's
group with the victim and plants ``ci.xml -> ~victim/.bashrc``.  The diagnosis runs as the
victim (``setpriv``), so the kernel, not a mock, decides what each account may do:

- ``--junitxml`` into a directory that others can write to and that is not sticky (a group's
  2770 checkout, a 0777 one) is refused with the reason, in the diagnosis and in ``fix``;
  in a sticky directory the planted link is never written through; in the victim's own
  directory a stale link is replaced by the report, mode 600, like the HTML and JSON;
- with ``--mu3e-redact``, the HTML, JSON and JUnit of every check selection hold none of the
  victim's user name, home (with a quote in it), uid, DN (every spelling), proxy serial, or
  the host's names and addresses, although the tool's own files lie under that home.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pki_factory import write_proxy
from tests.support.runner import ROOT

VICTIM, PLANTER, GROUP = "m3victim", "m3planter", "m3ci"
#: The deps of this checkout's venv, for the interpreter an unprivileged account can run
#: (this test's own Python lives under /root, which only root may enter).
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
    "site-packages"
SYSTEM_PYTHON = Path("/usr/bin/python3")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def run(self, argv: list[str], *, cwd: Path, env: dict[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``argv`` as this account (its own groups), nothing inherited but ``env``."""
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                               "--init-groups", "--", *argv], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _account(name: str) -> Account:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--user-group", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell", "/usr/sbin/nologin", name], check=True)
        pw = pwd.getpwnam(name)
    subprocess.run(["usermod", "--append", "--groups", GROUP, name], check=True)
    return Account(name, pw.pw_uid, pw.pw_gid)


@pytest.fixture(scope="module")
def accounts() -> tuple[Account, Account]:
    assert os.getuid() == 0, "these tests create accounts with useradd: run them as root (CI)"
    assert shutil.which("useradd") and shutil.which("setpriv"), "passwd and util-linux needed"
    assert SYSTEM_PYTHON.exists(), "Debian's python3 is needed: an account can run it"
    subprocess.run(["groupadd", "--force", GROUP], check=True)
    return _account(VICTIM), _account(PLANTER)


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory every account may pass through (pytest's own tmp dirs are root's, 700)."""
    path = Path(tempfile.mkdtemp(prefix="mu3e-accounts-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _chown_tree(root: Path, who: Account) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            os.lchown(os.path.join(dirpath, name), who.uid, who.gid)


def install_tool(home: Path) -> Path:
    """The README's install, without the network: a venv in ~/.local/mu3e-checks holding a
    copy of this package (its dependencies come from this checkout's venv through a .pth).
    Returns the venv's python."""
    venv = home / ".local" / "mu3e-checks"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    shutil.copytree(ROOT / "mu3e_checks", site / "mu3e_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (site / "deps.pth").write_text(f"{SITE}\n")
    return venv / "bin" / "python"


def _victim_home(grid, base: Path, victim: Account) -> tuple[Path, Path]:
    """The victim's home, named with a quote (``o'brien``), holding credentials, the trust
    dir, a proxy at a uid-named path, and the tool; owned by the victim."""
    home = grid.home(base / "o'brien", key_mode=0o644)
    proxy = write_proxy(home / f"x509up_u{victim.uid}",
                        grid.pki.proxy(grid.user, group="mu3e.org_user"))
    (home / ".bashrc").write_text("# the victim's shell setup\nexport PATH=$HOME/bin:$PATH\n")
    assert proxy.exists()
    python = install_tool(home)
    _chown_tree(base / "o'brien", victim)
    os.chmod(base / "o'brien", 0o755)
    return home, python


def _env(home: Path, who: Account, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "USER": who.name, "LOGNAME": who.name,
            "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
            "MU3E_SYSTEM_CERT_DIR": str(home / "no-system-cert-dir"),
            "X509_USER_PROXY": str(home / f"x509up_u{who.uid}"), **extra}


def _diagnose(who: Account, python: Path, home: Path, cwd: Path, *args: str,
              fix: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [str(python), "-m", "mu3e_checks.cli", *(["fix", "--dry-run"] if fix else []),
            "--mu3e-offline", *args]
    return who.run(argv, cwd=cwd, env=_env(home, who))


# --------------------------------------------------------------------------- a planted link


def _planted(base: Path, name: str, owner: Account, gid: int, mode: int,
             target: Path) -> Path:
    """A directory ``base/name`` of ``owner``'s, in which ``owner`` (the real account) plants
    ``ci.xml -> target``."""
    shared = base / name
    shared.mkdir()
    os.chown(shared, owner.uid, gid)
    os.chmod(shared, mode)
    planted = owner.run(["ln", "-s", str(target), "ci.xml"], cwd=shared, env={})
    assert planted.returncode == 0, planted.stderr
    assert os.stat(shared / "ci.xml", follow_symlinks=False).st_uid == owner.uid
    return shared


@pytest.mark.parametrize("mode", [0o2770, 0o777], ids=["group-checkout-2770", "world-0777"])
@pytest.mark.parametrize("fix", [False, True], ids=["diagnosis", "fix"])
def test_a_planted_junit_link_in_a_shared_checkout_is_refused(grid, base, accounts, mode, fix):
    victim, planter = accounts
    home, python = _victim_home(grid, base, victim)
    bashrc = home / ".bashrc"
    before = bashrc.read_bytes()
    group = grp.getgrnam(GROUP).gr_gid if mode == 0o2770 else planter.gid
    checkout = _planted(base, "ci-checkout", planter, group, mode, bashrc)
    r = _diagnose(victim, python, home, checkout, "--mu3e-select", "CERT",
                  "--junitxml=ci.xml", fix=fix)
    said = r.stdout + r.stderr
    assert r.returncode == 4, said[-3000:]
    assert "--junitxml: cannot write the report safely" in said, said[-3000:]
    who = f"the members of group {GROUP}" if mode == 0o2770 else "every account"
    assert f"{checkout} can be written by other accounts ({who}; mode {mode:03o}, " \
        "not sticky)" in said, said[-3000:]
    assert bashrc.read_bytes() == before
    assert os.readlink(checkout / "ci.xml") == str(bashrc)  # untouched, not followed
    assert sorted(os.listdir(checkout)) == ["ci.xml"]  # nothing created before the refusal
    assert "Traceback" not in said


def test_in_a_sticky_directory_a_planted_link_is_never_written_through(grid, base, accounts):
    victim, planter = accounts
    home, python = _victim_home(grid, base, victim)
    bashrc = home / ".bashrc"
    before = bashrc.read_bytes()
    # like /tmp: others may add files, never replace ours
    shared = _planted(base, "scratch", planter, planter.gid, 0o1777, bashrc)
    r = _diagnose(victim, python, home, shared, "--mu3e-select", "CERT", "--junitxml=ci.xml")
    said = r.stdout + r.stderr
    assert r.returncode == 1, said[-3000:]  # the diagnosis itself ran (key mode 644)
    assert bashrc.read_bytes() == before
    assert os.readlink(shared / "ci.xml") == str(bashrc)  # the planter's link stays theirs
    assert "Report problem: the JUnit report was not put in place: cannot put the report " \
        f"at {shared}/ci.xml" in said, said[-3000:]
    assert not [p for p in os.listdir(shared) if p.startswith(".mu3e-report-")]


def test_reports_are_mode_600_and_replace_a_stale_link_in_your_own_directory(grid, base,
                                                                             accounts):
    victim, _ = accounts
    home, python = _victim_home(grid, base, victim)
    bashrc = home / ".bashrc"
    before = bashrc.read_bytes()
    work = home / "work"
    work.mkdir()
    os.chown(work, victim.uid, victim.gid)
    (work / "ci.xml").symlink_to(bashrc)
    (work / "out.json").symlink_to(bashrc)
    os.lchown(work / "ci.xml", victim.uid, victim.gid)
    r = _diagnose(victim, python, home, work, "--mu3e-select", "CERT", "--junitxml=ci.xml",
                  "--mu3e-json", "out.json", "--html", "report.html")
    assert r.returncode == 1, (r.stdout + r.stderr)[-3000:]
    assert bashrc.read_bytes() == before
    for name in ("ci.xml", "out.json", "report.html"):
        st = os.stat(work / name, follow_symlinks=False)
        assert not os.path.islink(work / name) and st.st_mode & 0o777 == 0o600, name
        assert st.st_uid == victim.uid, name
    assert "<testcase" in (work / "ci.xml").read_text()
    # pytest's own closing lines name the published files, never the staging copies.
    assert f"JUnit report: {work}/ci.xml" in r.stdout
    assert ".mu3e-report-" not in r.stdout and "Generated html report" not in r.stdout
    assert sorted(os.listdir(work)) == ["ci.xml", "out.json", "report.html"]


# --------------------------------------------------------------------------- redaction


def _personal(home: Path, victim: Account, grid) -> list[re.Pattern[str]]:
    """Every spelling of every personal value of this run, as patterns."""
    from cryptography import x509

    proxy = x509.load_pem_x509_certificate((home / f"x509up_u{victim.uid}").read_bytes())
    serial = proxy.subject.rfc4514_string().split(",")[0].removeprefix("CN=")
    dn = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
    words = {victim.name, str(home), os.path.realpath(home), str(home.parent), "o'brien",
             "o&#x27;brien", "o'\"'\"'brien", dn, "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid",
             "Jane Physicist", f"x509up_u{victim.uid}", f"uid {victim.uid}",
             f"uid={victim.uid}", serial}
    out = [re.compile(re.escape(w)) for w in words]
    host = socket.gethostname()
    for name in {host, host.split(".")[0], os.uname().nodename}:
        out.append(re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", re.I))
    # The host's addresses as ip(8) lists them (not as the code under test finds them).
    listing = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                             check=True).stdout
    for address in re.findall(r"\binet6? ([0-9a-f.:]+)/", listing):
        if address not in ("127.0.0.1", "::1"):
            out.append(re.compile(rf"(?<![\w.:]){re.escape(address)}(?![\w:]|\.\d)", re.I))
    return out


SELECTIONS = ["", "CERT", "CERT-003", "PROXY,GROUP,VOMS", "CA,CRL", "DIRACOS,DIRAC",
              "CFG,ENV", "GROUP-002"]


def test_redacted_reports_of_every_selection_hold_nothing_personal(grid, base, accounts):
    """The README's install (a venv in ~/.local), a home with a quote in its name, a proxy at a
    uid-named path: for each selection the HTML, JSON and JUnit hold none of the victim's
    values, the tool's own paths under the home included, and no pytest skip tuple."""
    victim, _ = accounts
    home, python = _victim_home(grid, base, victim)
    personal = _personal(home, victim, grid)
    for n, selection in enumerate(SELECTIONS):
        out = home / f"out-{n}"
        out.mkdir()
        os.chown(out, victim.uid, victim.gid)
        args = ["--mu3e-redact", "--junitxml=ci.xml", "--mu3e-json", "r.json",
                "--html", "r.html"] + (["--mu3e-select", selection] if selection else [])
        r = _diagnose(victim, python, home, out, *args)
        assert r.returncode in (0, 1), (selection, (r.stdout + r.stderr)[-3000:])
        assert str(home) in r.stdout  # the terminal is the user's own: never redacted
        for name in ("r.html", "ci.xml", "r.json"):
            text = (out / name).read_text()
            for pattern in personal:
                m = pattern.search(text)
                assert m is None, (selection, name, pattern.pattern,
                                   text[max(0, m.start() - 120):m.end() + 120])
        page = (out / "r.html").read_text()
        assert "Skipped: " not in page and "::test_" not in page and ".py', " not in page
        data = json.loads((out / "r.json").read_text())
        assert data["redacted"] is True and data["user"] == "[user]", selection
        if "CERT-003" in {c["id"] for c in data["checks"]}:
            fix = next(c["fix"] for c in data["checks"] if c["id"] == "CERT-003")
            assert fix == "chmod 600 '[home]/.globus/userkey.pem'", fix
