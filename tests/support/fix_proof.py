"""Running a printed fix the way its user would, and diagnosing again (issue 19: "every fix is
run in a test and proven to work").

Everything runs as an unprivileged uid (``nobody``), never as root: root's file access would hide
exactly the failures this harness exists to catch (a fix that writes into a root-owned CA
directory "works" as root).  The fix text is the one the diagnosis printed (JUnit's ``fix``
property), run by ``bash`` with the shell environment the user had; a prompt (the .p12 import
password, pip's "Proceed (Y/n)?") is answered on a terminal, as a person at the keyboard would.
The diagnosis before and after runs as the same uid, with the environment the fix left behind
(an ``export`` in a fix changes the shell the next diagnosis runs in).

The real tools do the work: ``openssl pkcs12``, ``chmod``, ``wget`` and ``tar`` against a
loopback IGTF repository (:class:`IgtfRepository`, what ``--mu3e-ca-repository`` points at),
``fetch-crl`` against the CRL URLs in it, and DIRAC 8.0.74's own ``dirac-configure`` and
``dirac-proxy-init`` against a real Configuration Server on loopback.
"""

from __future__ import annotations

import functools
import io
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from mu3e_checks.commands import IGTF_VERSION, tarball
from tests.support.dirac_cs import DIRAC_VENV
from tests.support.hostile import NOBODY
from tests.support.pki_factory import PKI, Entity, subject_hash, subject_hash_old
from tests.support.runner import ROOT, RunResult, run_checks

#: The uid (and gid) every fix and every diagnosis here runs as.
USER = NOBODY
#: What a shell prompt for a secret looks like (openssl's "Enter Import Password:", ...).
SECRET_PROMPT = r"(Enter (Import |PEM )?[Pp]ass ?(word|phrase)[^\n]*:|Verifying[^\n]*:)\s*$"
#: pip uninstall's question.
PIP_PROCEED = r"Proceed \(Y/n\)\?\s*$"


def as_user(uid: int = USER) -> list[str]:
    """The command prefix that drops to ``uid``: no root uid, no capabilities, no groups."""
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to run fixes unprivileged"
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def give(path: Path, uid: int = USER) -> Path:
    """Make ``path`` (recursively) the user's, as a home directory is: links themselves, never
    what they point at."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.lchown(path, uid, uid)
    return path


# ------------------------------------------------------------------ interpreters the uid can run


def _runs(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether the uid runs ``argv`` from a shell, as a fix does.  Through ``sh``: setpriv
    itself still holds root's capabilities when it executes, so a binary below a mode-700
    directory would start (and then run with the wrong standard library)."""
    try:
        return subprocess.run([*as_user(), "sh", "-c", 'exec "$0" "$@"', *argv],
                              env=dict(env), capture_output=True, timeout=120,
                              cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def system_python(version: str) -> Optional[str]:
    """The system's Python of ``version``'s minor release (``/usr/bin/python3.11``), or None."""
    minor = ".".join(version.split(".")[:2])
    for candidate in (f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def checker_python() -> tuple[str, str]:
    """``(interpreter, PYTHONPATH)`` with which the unprivileged uid runs this checkout.

    The test Python itself when the uid can reach it; otherwise (a pyenv below /root, mode
    700) the system Python of the same minor version, with this environment's site-packages:
    the same packages, an interpreter the uid may execute.
    """
    sites = list(dict.fromkeys([sysconfig.get_paths()["purelib"],
                                sysconfig.get_paths()["platlib"]]))
    path = os.pathsep.join([str(ROOT), *sites])
    probe = ["-c", "import mu3e_checks, cryptography, pytest, diraccfg"]
    env = {"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "HOME": "/"}
    if _runs([sys.executable, *probe], env):
        return sys.executable, path
    other = system_python(".".join(map(str, sys.version_info[:2])))
    assert other and _runs([other, *probe], env), (
        f"no Python the unprivileged uid {USER} can run this checkout with: {sys.executable} "
        "is out of its reach and there is no system python of the same version")
    return other, path


@functools.lru_cache(maxsize=1)
def dirac_python() -> tuple[str, str]:
    """``(interpreter, site-packages)`` that run the real DIRAC 8.0.74 as the unprivileged uid:
    its venv's Python when the uid can reach it, else the system Python of the venv's version
    with the venv's site-packages (the venv itself stays read-only)."""
    cfg = (DIRAC_VENV / "pyvenv.cfg").read_text()
    version = re.search(r"^version\s*=\s*(\S+)", cfg, re.M)
    assert version, f"real DIRAC 8.0.74 missing or odd at {DIRAC_VENV}"
    site = next(DIRAC_VENV.glob("lib/python3*/site-packages"))
    probe = ["-c", "import DIRAC, M2Crypto"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/"}
    if _runs([str(DIRAC_VENV / "bin" / "python3"), *probe], env):
        return str(DIRAC_VENV / "bin" / "python3"), ""
    other = system_python(version.group(1))
    assert other and _runs([other, *probe], {**env, "PYTHONPATH": str(site)}), (
        f"no Python the unprivileged uid can run DIRAC from {DIRAC_VENV} with")
    return other, str(site)


# ------------------------------------------------------------------ running a fix


@dataclass
class Ran:
    """What running a fix did: the terminal's text, the exit status and the shell's
    environment afterwards."""

    output: str
    status: int
    env: dict[str, str]


#: Variables bash sets for itself: not part of what the user's shell exported.
_SHELL_OWN = ("SHLVL", "_", "PWD", "OLDPWD")


def run_fix(fix: str, env: Mapping[str, str], scratch: Path, *,
            answers: Sequence[tuple[str, str]] = (), timeout: float = 240) -> Ran:
    """Run ``fix`` (the printed text, unchanged) with bash as the unprivileged user, on a
    terminal, in ``env``'s shell; prompts matching an ``answers`` pattern get the reply.

    The lines run one after another as if typed (``cd`` and ``export`` carry over, a failing
    line does not stop the next); the shell's environment is read back afterwards.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    give(scratch)
    script = scratch / "fix.sh"
    after = scratch / "env-after"
    script.write_text(f"{fix}\nenv -0 > {after}\n")
    os.chmod(script, 0o644)
    if after.exists():
        after.unlink()
    argv = [*as_user(), "bash", "--noprofile", "--norc", str(script)]
    cwd = env.get("HOME", str(scratch))
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, dict(env))
        finally:
            os._exit(127)
    patterns = [(re.compile(p), reply) for p, reply in answers]
    out = bytearray()
    answered_at = 0
    end = time.monotonic() + timeout
    status = None
    try:
        while status is None:
            if time.monotonic() > end:
                os.killpg(pid, signal.SIGKILL)
                raise AssertionError(f"the fix did not end within {timeout} s:\n{fix}\n"
                                     f"--- terminal\n{out.decode(errors='replace')[-3000:]}")
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                out += chunk
                tail = out[answered_at:].decode(errors="replace")
                for pattern, reply in patterns:
                    if pattern.search(tail):
                        os.write(fd, reply.encode() + b"\n")
                        answered_at = len(out)
                        break
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(code)
        while True:  # what the child wrote last
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                break
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fd)
    raw = after.read_bytes() if after.exists() else b""
    shell = dict(item.split("=", 1) for item in raw.decode(errors="surrogateescape").split("\0")
                 if "=" in item)
    return Ran(out.decode(errors="replace"), status,
               {k: v for k, v in shell.items() if k not in _SHELL_OWN})


# ------------------------------------------------------------------ diagnosing as the user


def diagnose(home: Path, env: Mapping[str, str], *args: str, workdir: Path,
             offline: bool = True) -> RunResult:
    """The diagnosis as the unprivileged user, in ``env`` (the user's shell), from
    ``workdir`` (the user's, where JUnit and the report land); ``offline=False`` lets the
    network checks run (the caller names the loopback nameserver)."""
    python, path = checker_python()
    workdir.mkdir(parents=True, exist_ok=True)
    give(workdir)
    run_env = {**env, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    return run_checks(home, *args, env=run_env, cwd=workdir, offline=offline,
                      command=[*as_user(), python, "-m", "pytest", "--pyargs", "mu3e_checks"])


def shell_env(home: Path, **values: Optional[str]) -> dict[str, str]:
    """A login shell's environment for ``home``: nothing of the test runner's own grid setup,
    and ``values`` on top (None removes one)."""
    env = {"HOME": str(home), "USER": "nobody", "LOGNAME": "nobody", "LANG": "C.UTF-8",
           "TERM": "dumb", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
           "EDITOR": "true"}
    env.update({k: v for k, v in values.items() if v is not None})
    return {k: v for k, v in env.items() if values.get(k, "") is not None}


# ------------------------------------------------------------------ the world


class ProofWorld:
    """The UK grid a Mu3e user meets (test keys, real DNs), a host CA for the loopback
    Configuration Server, and the user registered there; and the CERN pair (test keys, real
    DNs), whose Grid CA issues the host certificate of a server the user's CA directory does
    not trust yet (IGTF ships the two as separate bundles: CERN-GridCA requires CERN-Root-2)."""

    def __init__(self) -> None:
        from mu3e_checks.knowledge.trust import CERN_GRID_CA, CERN_ROOT_CA_2
        from tests.support.pki_factory import dn
        from tests.support.worlds import UKGrid

        self.grid = UKGrid()
        self.pki: PKI = self.grid.pki
        self.host_ca = self.pki.ca("Mu3e Test Host CA", parent=self.grid.root)
        self.localhost = self.pki.host(self.host_ca, "localhost",
                                       sans=["localhost", "127.0.0.1"])
        self.cern_root = self.pki.ca(subject=dn(CERN_ROOT_CA_2))
        self.cern_ca = self.pki.ca(subject=dn(CERN_GRID_CA), parent=self.cern_root)
        self.cern_localhost = self.pki.host(self.cern_ca, "localhost",
                                            sans=["localhost", "127.0.0.1"])

    @property
    def bundles(self) -> dict[str, Entity]:
        """The IGTF aliases of this world's CAs (the UK and CERN pairs under their real
        aliases)."""
        return {"UKeScienceCA-2B": self.grid.ca, "UKeScienceRoot-2007": self.grid.root,
                "Mu3eTestHostCA": self.host_ca, "CERN-Root-2": self.cern_root,
                "CERN-GridCA": self.cern_ca}


@dataclass
class IgtfRepository:
    """The EGI repository's ``tgz/`` on loopback: one ``ca_<alias>-<version>.tar.gz`` per CA in
    IGTF's layout (``<alias>.pem``, ``.info`` naming its CRL URL, ``.crl_url``, and the
    ``<hash>.0`` links under both hash names), and each CA's current CRL (DER, as CAs publish
    them) for fetch-crl."""

    pki: PKI
    cas: Mapping[str, Entity]
    server: object = None
    revoked: Sequence[Entity] = ()
    _crls: dict = field(default_factory=dict)

    def __enter__(self) -> IgtfRepository:
        from tests.support.crl_server import serve

        self._serve = serve({})
        self.server = self._serve.__enter__()
        content = self.server.content
        for alias, ca in self.cas.items():
            crl = self.pki.crl(ca, revoked=[r for r in self.revoked if r.issuer is ca])
            content[f"/crl/{subject_hash(ca.cert)}.crl"] = crl.public_bytes(Encoding.DER)
            content[f"/tgz/{tarball(alias)}"] = self._tarball(alias, ca)
        return self

    def __exit__(self, *exc: object) -> None:
        self._serve.__exit__(*exc)

    @property
    def url(self) -> str:
        """What ``--mu3e-ca-repository`` is set to."""
        return f"{self.server.base}/tgz/"

    def crl_url(self, ca: Entity) -> str:
        return f"{self.server.base}/crl/{subject_hash(ca.cert)}.crl"

    def _tarball(self, alias: str, ca: Entity) -> bytes:
        from mu3e_checks.knowledge.pki import dn_slash

        top = f"ca_{alias}-{IGTF_VERSION}"
        fp = ca.cert.fingerprint(hashes.SHA1()).hex(":").upper()
        # An intermediate's bundle names the bundle of its issuer, as IGTF's do.
        requires = "".join(f"requires = {a}\n" for a, c in self.cas.items()
                           if ca.issuer is c and c is not ca)
        info = (f"alias = {alias}\ncrl_url = {self.crl_url(ca)}\n{requires}sha1fp.0 = {fp}\n"
                f'subjectdn = "{dn_slash(ca.cert.subject)}"\nversion = {IGTF_VERSION}\n')
        files = {f"{alias}.pem": ca.cert.public_bytes(Encoding.PEM),
                 f"{alias}.info": info.encode(),
                 f"{alias}.crl_url": f"{self.crl_url(ca)}\n".encode()}
        links = {f"{subject_hash(ca.cert)}.0": f"{alias}.pem",
                 f"{subject_hash_old(ca.cert)}.0": f"{alias}.pem"}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            d = tarfile.TarInfo(top)
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(d)
            for name, data in files.items():
                t = tarfile.TarInfo(f"{top}/{name}")
                t.size, t.mode = len(data), 0o644
                tar.addfile(t, io.BytesIO(data))
            for name, target in links.items():
                t = tarfile.TarInfo(f"{top}/{name}")
                t.type, t.linkname = tarfile.SYMTYPE, target
                tar.addfile(t)
        return buf.getvalue()

    def install(self, directory: Path, aliases: Iterable[str], *, crls: bool = True) -> Path:
        """What the guide's commands leave: the bundles untarred into ``directory`` and, with
        ``crls``, the CRLs as fetch-crl writes them (``<hash>.r0``, PEM)."""
        from cryptography import x509

        directory.mkdir(parents=True, exist_ok=True)
        for alias in aliases:
            data = self.server.content[f"/tgz/{tarball(alias)}"]
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers()[1:]:
                    target = directory / member.name.split("/", 1)[1]
                    if member.issym():
                        target.unlink(missing_ok=True)
                        target.symlink_to(member.linkname)
                    else:
                        target.write_bytes(tar.extractfile(member).read())
            if crls:
                ca = self.cas[alias]
                der = self.server.content[f"/crl/{subject_hash(ca.cert)}.crl"]
                pem = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
                (directory / f"{subject_hash(ca.cert)}.r0").write_bytes(pem)
        return directory


# ------------------------------------------------------------------ DIRAC inside a DIRACOS tree

DIRAC_TOOLS = ("dirac-configure", "dirac-proxy-init", "dirac-proxy-info")


def real_dirac_into(tree_bin: Path, prefix: Path) -> None:
    """Put the real DIRAC 8.0.74 commands into a test DIRACOS's ``bin`` as DIRACOS has them:
    run by a Python whose DIRAC root is the DIRACOS prefix (in DIRACOS, ``sys.base_prefix``
    is the prefix; here ``DIRAC_ROOT_PATH`` says the same, unless the user set it)."""
    python, site = dirac_python()
    for tool in DIRAC_TOOLS:
        script = tree_bin / tool
        script.unlink(missing_ok=True)
        pythonpath = f'PYTHONPATH={site} ' if site else ""
        script.write_text(
            "#!/bin/sh\n"
            f'export DIRAC_ROOT_PATH="${{DIRAC_ROOT_PATH-{prefix}}}"\n'
            f'{pythonpath}exec {python} {DIRAC_VENV / "bin" / tool} "$@"\n')
        os.chmod(script, 0o755)
