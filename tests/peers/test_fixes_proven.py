"""Issue 19: every fix is run in a test and proven to work.

Each row of :data:`ROWS` is a broken setup and the check it breaks.  The diagnosis runs as an
unprivileged user (tests/support/fix_proof.py), the check must fail (or warn); the fix it
printed runs unchanged, as that user, with the real tools (openssl, chmod, wget and tar against
a loopback IGTF repository, fetch-crl, DIRAC 8.0.74's dirac-configure and dirac-proxy-init
against a real Configuration Server on loopback); then the check must pass.

:data:`PERSON_ROWS` are findings no command repairs: the advice must name who acts.
:data:`NOT_RUNNABLE_HERE` lists, with the reason, the checks whose runnable fixes cannot run in
a test; ``test_every_runnable_fix_has_a_row`` fails for any other check with a runnable fix and
no row.  Everything runs in a loopback-only network namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mu3e_checks.knowledge.pki import dn_slash
from mu3e_checks.knowledge.proxy import proxy_maker
from mu3e_checks.registry import load_all, with_prerequisites
from mu3e_checks.settings import DEFAULT_GROUP
from tests.support.dirac_cs import DIRAC_VENV, VO_CFG, RealConfigurationServer, person_dn
from tests.support.diracos_trees import build_diracos, dirac_cfg_text, pip_release
from tests.support.diset_server import closed_port
from tests.support.dns_responder import DnsResponder
from tests.support.fix_proof import (
    PIP_PROCEED,
    SECRET_PROMPT,
    IgtfRepository,
    ProofWorld,
    diagnose,
    give,
    real_dirac_into,
    run_fix,
    shell_env,
    system_python,
)
from tests.support.pki_factory import (
    DAY,
    Entity,
    dn,
    pem,
    subject_hash,
    write_credentials,
    write_proxy,
)
from tests.support.runner import RunResult

pytestmark = [pytest.mark.peer, pytest.mark.usefixtures("loopback_only")]

GROUP = DEFAULT_GROUP
PASSWORD = "s3cret export"
GUIDE_BUNDLES = ("UKeScienceCA-2B", "UKeScienceRoot-2007")
#: The CAs the user's own CA directory holds in a good setup: the guide's two and the host CA
#: of the loopback Configuration Server.
ALL_BUNDLES = (*GUIDE_BUNDLES, "Mu3eTestHostCA")
#: Registry users (nick -> CN) in another group than the Mu3e one.
REGISTERED_ELSEWHERE = {"other": "Other Person", "olga": "Olga Outside", "vera": "Vera Voms"}


@dataclass
class Setup:
    """A broken setup: the home, the user's shell, extra diagnosis options, prompt answers."""

    home: Path
    env: dict[str, str]
    args: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()
    #: A directory of the host's (root's): no command of the fix may write there, and the
    #: first one must move the user away from it.
    root_owned: Optional[Path] = None
    #: The network checks run (against the loopback servers, names through the loopback
    #: nameserver); otherwise the diagnosis is offline.
    network: bool = False


@dataclass(frozen=True)
class Row:
    check: str
    broken: str  # what is wrong, in a few words (the test ID)
    build: Callable[[Lab], Setup]
    expect: str = ""  # a phrase the finding must hold
    fix_has: tuple[str, ...] = ()  # phrases the fix's command lines must hold
    fix_lacks: tuple[str, ...] = ()  # phrases no command line may hold


@dataclass(frozen=True)
class PersonRow:
    check: str
    broken: str
    build: Callable[[Lab], Setup]
    who: str  # who must act, as the advice names them


ROWS: list[Row] = []
PERSON_ROWS: list[PersonRow] = []


def row(check: str, broken: str, expect: str = "", *, fix_has: Sequence[str] = (),
        fix_lacks: Sequence[str] = ()):
    def add(build: Callable[[Lab], Setup]) -> Callable[[Lab], Setup]:
        ROWS.append(Row(check, broken, build, expect, tuple(fix_has), tuple(fix_lacks)))
        return build
    return add


def commands_of(fix: str) -> list[str]:
    """The command part of each line of a fix: comments and trailing notes left out."""
    out = []
    for line in fix.splitlines():
        body = line.split("   # ", 1)[0]
        if body.strip() and not body.lstrip().startswith("#"):
            out.append(body)
    return out


def person(check: str, broken: str, who: str):
    def add(build: Callable[[Lab], Setup]) -> Callable[[Lab], Setup]:
        PERSON_ROWS.append(PersonRow(check, broken, build, who))
        return build
    return add


#: Checks whose runnable fixes cannot run in a test, and why.  Keep it short and honest.
NOT_RUNNABLE_HERE: dict[str, str] = {
    **dict.fromkeys(("DIRACOS-001", "DIRACOS-002", "DIRACOS-004", "DIRAC-005"),
                    "the fix downloads the DIRACOS2 installer from GitHub's releases, which no "
                    "option redirects to a loopback server"),
    **dict.fromkeys(("DIRAC-001", "DIRAC-002", "DIRAC-004", "DIRAC-006", "NET-008"),
                    "the fix is a pip install from PyPI (DIRAC with its dependencies)"),
    **dict.fromkeys(("VOMS-001", "VOMS-002", "VOMS-003", "NET-006", "NET-009", "NET-010",
                     "NET-013"),
                    "dirac-proxy-init -M needs a VOMS server that issues attribute "
                    "certificates; none runs here (tests/support/voms_standin.py says why); "
                    "the people who act when no command can help are PERSON_ROWS"),
    "PROXY-006": ("its findings come first from the checks it requires: each proxy's "
                  "signature (PROXY-004, proven above with a wrong-key proxy), the user's "
                  "chain (CA-006) and the CRLs (CRL-001..004); a chain OpenSSL still refuses "
                  "after those is a new proxy from the right certificate (PROXY-007's row)"),
    "CRL-004": ("every CRL problem fetch-crl repairs fails CRL-001..003 first (its "
                "prerequisites); what is left (a revoked certificate) only the CA can "
                "repair: PERSON_ROWS"),
    **dict.fromkeys(("NET-002", "NET-014"),
                    "the command shows the state (a port test, openssl s_client); it repairs "
                    "nothing"),
    "NET-005": "the fix is 'sudo timedatectl set-ntp true': root's, on the user's machine",
    "NET-015": ("the failing setup needs a VOMS server presenting another DN than the CS "
                "lists, with a real VOMS host name; the dirac-configure -I that rewrites "
                "vomses and vomsdir from the CS is proven by NET-011's row"),
}


# ------------------------------------------------------------------ the lab


class Lab:
    """One module's shared world: the PKI, the loopback IGTF repository and, when a row needs
    it, a real DIRAC Configuration Server; each row lays out its own home under ``base``."""

    def __init__(self, world: ProofWorld, repo: IgtfRepository, base: Path,
                 responder: DnsResponder) -> None:
        self.world = world
        self.repo = repo
        self.base = base
        self.responder = responder
        self._cs: Optional[RealConfigurationServer] = None
        self._cern_cs: Optional[RealConfigurationServer] = None
        self.n = 0

    @property
    def grid(self):
        return self.world.grid

    @property
    def cs(self) -> RealConfigurationServer:
        """The Configuration Server most rows talk to (host certificate from the Mu3e Test
        Host CA, which every good home trusts)."""
        if self._cs is None:
            self._cs = self._start_cs("cs-root", self.world.localhost)
        return self._cs

    @property
    def cern_cs(self) -> RealConfigurationServer:
        """The same service with a host certificate from the CERN Grid CA, which the homes do
        not trust until its IGTF bundles are installed."""
        if self._cern_cs is None:
            self._cern_cs = self._start_cs("cern-cs-root", self.world.cern_localhost)
        return self._cern_cs

    def _start_cs(self, name: str, host: Entity) -> RealConfigurationServer:
        w = self.world
        trust = self.repo.install(self.base / f"{name}-trust", ALL_BUNDLES)
        ca = dn_slash(w.grid.ca.cert.subject)
        # The Registry: jane is the home's user; the others are strangers to the Mu3e group
        # (person rows: each row a DN of its own, since the server caches DN -> user for 60 s).
        users = {"jane": (dn_slash(w.grid.user.cert.subject), ca, [GROUP]),
                 **{nick: (person_dn(cn), ca, ["gridpp_user"])
                    for nick, cn in REGISTERED_ELSEWHERE.items()}}
        return RealConfigurationServer(
            self.base / name, closed_port(), host, trust, users,
            group_options={GROUP: {"VOMSRole": "/mu3e.org", "VOMSVO": "mu3e.org"}},
            authenticated=True, vo_cfg=VO_CFG).start()

    def close(self) -> None:
        for cs in (self._cs, self._cern_cs):
            if cs is not None:
                cs.stop()

    def fresh(self) -> Path:
        self.n += 1
        base = self.base / f"row{self.n}"
        base.mkdir()
        return base

    def home(self, *, cas: Sequence[str] = ALL_BUNDLES, crls: bool = True, **cred) -> Path:
        """A home as the guide leaves it: ~/.globus, and the IGTF bundles (and CRLs) installed
        into the DIRACOS CA directory the guide's way."""
        home = self.fresh() / "home"
        write_credentials(home / ".globus", cred.pop("user", self.grid.user), **cred)
        self.repo.install(self.cadir(home), cas, crls=crls)
        return home

    @staticmethod
    def cadir(home: Path) -> Path:
        return home / "dirac_ui" / "diracos" / "etc" / "grid-security" / "certificates"

    def diracos(self, home: Path, *, cfg: Optional[str] = None, dirac: bool = True,
                **kw) -> object:
        """The DIRACOS tree, with the real DIRAC commands and a dirac.cfg naming the loopback
        CS (unless ``cfg`` says otherwise)."""
        if cfg is None:
            cfg = dirac_cfg_text(servers=(self.cs.url,))
        tree = build_diracos(home, cfg=cfg, **kw)
        if dirac:
            real_dirac_into(tree.bin, tree.prefix)
        return tree

    def env(self, home: Path, tree=None, **values: Optional[str]) -> dict[str, str]:
        """The user's shell: DIRACOS sourced (when there is a tree) and the guide's export,
        the proxy in the home (never the machine's shared /tmp)."""
        env = shell_env(home, X509_USER_PROXY=str(home / "x509up"))
        if tree is not None:
            active = tree.env()
            active["PATH"] += ":/usr/sbin:/sbin"  # fetch-crl lives there (Merlin7: module)
            env.update(active)
        env.update({k: v for k, v in values.items() if v is not None})
        return {k: v for k, v in env.items() if values.get(k, "") is not None}

    def proxy(self, home: Path, proxy=None, **kw) -> Path:
        """A proxy file in the home, as a tool made it (``proxy``: an Entity of the factory)."""
        entity = proxy or self.world.pki.proxy(self.grid.user, group=GROUP)
        return write_proxy(home / "x509up", entity, **kw)

    def tool_proxy(self, home: Path, argv: Sequence[str]) -> Path:
        """A proxy made by a real grid tool (grid-proxy-init, voms-proxy-init, DIRAC 8.0.74's
        dirac-proxy-init) from the home's credentials, into the home's proxy file."""
        out = home / "x509up"
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "X509_CERT_DIR": str(self.cadir(home)),
               "X509_USER_CERT": str(home / ".globus" / "usercert.pem"),
               "X509_USER_KEY": str(home / ".globus" / "userkey.pem")}
        if argv[0] == "dirac-proxy-init":
            root = home.parent / "dirac-root"
            (root / "etc").mkdir(parents=True, exist_ok=True)
            env.update(DIRAC_ROOT_PATH=str(root), X509_USER_PROXY=str(out))
            cmd = [str(DIRAC_VENV / "bin" / argv[0]), *argv[1:]]
        else:
            tool = shutil.which(argv[0])
            assert tool, f"the real peer {argv[0]} is missing"
            cmd = [tool, "-q", *argv[1:], "-out", str(out)]
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
        return out

    def dirac_args(self, cs: Optional[RealConfigurationServer] = None) -> tuple[str, ...]:
        return ("--mu3e-cs-url", (cs or self.cs).url)

    def net_args(self) -> tuple[str, ...]:
        """What a network row's diagnosis adds: names through the loopback nameserver, never
        the machine's resolver, and a short timeout (every server here is on loopback)."""
        return ("--mu3e-nameserver", self.responder.address, "--mu3e-timeout", "5")

    def user(self, cn: str) -> Entity:
        """A user certificate of the UK CA 2B with a test DN the Registry may know."""
        return self.world.pki.user(self.grid.ca, subject=dn(person_dn(cn)))


def openssl_p12(grid, path: Path, *extra: str) -> Path:
    """The user's export as openssl itself writes it (``-legacy``: RC2-40, as old CA portals)."""
    work = path.parent / ".p12-in"
    work.mkdir(parents=True, exist_ok=True)
    (work / "c.pem").write_bytes(pem(grid.user))
    (work / "k.pem").write_bytes(grid.user.key_pem())
    subprocess.run(["openssl", "pkcs12", "-export", *extra, "-in", str(work / "c.pem"),
                    "-inkey", str(work / "k.pem"), "-out", str(path), "-passout",
                    f"pass:{PASSWORD}"], check=True, capture_output=True)
    shutil.rmtree(work)
    os.chmod(path, 0o600)
    return path


# ------------------------------------------------------------------ rows: certificates

P12 = ((SECRET_PROMPT, PASSWORD),)


@row("CERT-001", "only an old RC2-40 .p12 (openssl pkcs12 -export -legacy)",
     fix_has=("openssl pkcs12 -legacy -in",))
def _only_legacy_p12(lab: Lab) -> Setup:
    home = lab.fresh() / "home"
    (home / ".globus").mkdir(parents=True)
    openssl_p12(lab.grid, home / ".globus" / "usercred.p12", "-legacy")
    return Setup(home, lab.env(home), answers=P12)


def _legacy_aftermath(lab: Lab) -> Setup:
    """What the guide's two commands leave with an old export and OpenSSL 3: they fail and
    leave 0-byte usercert.pem and userkey.pem.  Made by running those very commands."""
    home = lab.fresh() / "home"
    globus = home / ".globus"
    globus.mkdir(parents=True)
    p12 = openssl_p12(lab.grid, globus / "usercred.p12", "-legacy")
    give(home)
    guide = (f"cd {globus}\nopenssl pkcs12 -in {p12.name} -clcerts -nokeys -out usercert.pem\n"
             f"openssl pkcs12 -in {p12.name} -nocerts -nodes -out userkey.pem\n")
    ran = run_fix(guide, lab.env(home), home.parent / "guide", answers=P12)
    assert "RC2-40-CBC" in ran.output, ran.output
    assert (globus / "userkey.pem").stat().st_size == 0
    return Setup(home, lab.env(home), answers=P12)


row("CERT-005", "empty PEM files left by the guide's commands on an RC2-40 .p12",
    "old export", fix_has=("openssl pkcs12 -legacy -in",))(_legacy_aftermath)
row("CERT-006", "empty PEM files left by the guide's commands on an RC2-40 .p12",
    "old export", fix_has=("openssl pkcs12 -legacy -in",))(_legacy_aftermath)


@row("CERT-002", "~/.globus writable by everyone")
def _globus_777(lab: Lab) -> Setup:
    home = lab.home()
    (home / ".globus").chmod(0o777)
    return Setup(home, lab.env(home))


@row("CERT-003", "userkey.pem readable by everyone", "mode 644")
def _key_644(lab: Lab) -> Setup:
    home = lab.home(key_mode=0o644)
    return Setup(home, lab.env(home))


@row("CERT-004", "usercert.pem writable by everyone")
def _cert_666(lab: Lab) -> Setup:
    home = lab.home(cert_mode=0o666)
    return Setup(home, lab.env(home))


@row("CERT-007", "userkey.pem from another export; the .p12 is there", "not the private key")
def _key_mismatch(lab: Lab) -> Setup:
    home = lab.home()
    other = lab.world.pki.user(lab.grid.ca, "Someone Else")
    (home / ".globus" / "userkey.pem").write_bytes(other.key_pem())
    openssl_p12(lab.grid, home / ".globus" / "usercred.p12")
    return Setup(home, lab.env(home), answers=P12)


@person("CERT-008", "expired user certificate", "your CA")
def _expired(lab: Lab) -> Setup:
    home = lab.home(user=lab.world.pki.user(lab.grid.ca, subject=lab.grid.user.cert.subject,
                                            expired=True))
    return Setup(home, lab.env(home))


@person("CERT-009", "1024-bit user key", "your CA")
def _weak(lab: Lab) -> Setup:
    home = lab.home(user=lab.world.pki.user(lab.grid.ca, subject=lab.grid.user.cert.subject,
                                            key_size=1024))
    return Setup(home, lab.env(home))


# ------------------------------------------------------------------ rows: DIRACOS and DIRAC


@row("DIRACOS-003", "DIRACOS installed but not sourced", "DIRACOS is not set")
def _not_sourced(lab: Lab) -> Setup:
    home = lab.home()
    build_diracos(home, cfg="")
    return Setup(home, lab.env(home))


@row("DIRAC-003", "a second DIRAC (8.0.86) in the user site", "2 DIRAC installations")
def _user_site_copy(lab: Lab) -> Setup:
    home = lab.home()
    tree = build_diracos(home, cfg="")
    # DIRACOS's Python has a user site and pip (the test tree's links to this venv's, which
    # has neither): the system Python of the same version stands in.
    system = system_python(tree.python)
    assert system, f"no system python{tree.minor} to stand in for DIRACOS's"
    (tree.bin / f"python{tree.minor}").unlink()
    (tree.bin / f"python{tree.minor}").symlink_to(system)
    # The metadata pip wrote for 8.0.86, as a user-site install leaves it; its RECORD names
    # only the metadata, so pip uninstall removes exactly what this test laid out.
    site = home / ".local" / "lib" / f"python{tree.minor}" / "site-packages"
    meta = next(pip_release("DIRAC", "8.0.86").glob("*.dist-info"))
    target = site / meta.name
    shutil.copytree(meta, target)
    (target / "RECORD").write_text("".join(f"{f.relative_to(site)},,\n"
                                           for f in sorted(target.rglob("*")) if f.is_file()))
    # Debian marks its Python externally managed (PEP 668); DIRACOS's conda Python is not.
    env = lab.env(home, tree, PIP_BREAK_SYSTEM_PACKAGES="1")
    return Setup(home, env, answers=((PIP_PROCEED, "y"),))


# ------------------------------------------------------------------ rows: CAs and CRLs


@row("CA-001", "X509_CERT_DIR names an empty directory; the DIRACOS one is complete",
     "is empty")
def _cert_dir_empty(lab: Lab) -> Setup:
    home = lab.home()
    empty = home / "empty-cas"
    empty.mkdir()
    return Setup(home, lab.env(home, X509_CERT_DIR=str(empty)))


@row("CA-001", "no CA directory at all", "does not exist")
def _no_cas(lab: Lab) -> Setup:
    home = lab.fresh() / "home"
    write_credentials(home / ".globus", lab.grid.user)
    return Setup(home, lab.env(home))


@row("CA-002", "the host's CA directory and the DIRACOS one judge the user differently",
     "hold CA certificates")
def _two_dirs(lab: Lab) -> Setup:
    home = lab.home()
    system = lab.repo.install(home.parent / "system-certificates", ["Mu3eTestHostCA"])
    return Setup(home, lab.env(home), args=("--mu3e-system-cert-dir", str(system)))


@row("CA-003", "a CA under a name that is not its hash", "named")
def _misnamed(lab: Lab) -> Setup:
    home = lab.home()
    cadir = lab.cadir(home)
    h = subject_hash(lab.world.host_ca.cert)
    for link in cadir.glob(f"{h}.*"):
        link.unlink()
    (cadir / "Mu3eTestHostCA.pem").rename(cadir / "0badc0de.0")
    return Setup(home, lab.env(home))


@row("CA-004", "the required UK e-Science CA 2B is not installed", "UK e-Science CA 2B")
def _missing_required(lab: Lab) -> Setup:
    home = lab.home(cas=("UKeScienceRoot-2007", "Mu3eTestHostCA"))
    return Setup(home, lab.env(home))


@row("CA-005", "the installed copy of the user's CA 2B has expired", "expired")
def _expired_ca(lab: Lab) -> Setup:
    home = lab.home()
    old = lab.world.pki.ca(subject=dn("/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B"),
                           parent=lab.grid.root, expired=True, key=lab.grid.ca.key)
    cadir = lab.cadir(home)
    target = cadir / f"{subject_hash(old.cert)}.0"
    target.unlink()
    target.write_bytes(old.cert_pem())
    return Setup(home, lab.env(home))


def _system_dir(lab: Lab, *, own: Sequence[str], system: Sequence[str]) -> Setup:
    """A host whose own /etc/grid-security/certificates is populated (IGTF ships no CRLs) and
    belongs to root; diracosrc exported it, as it does for a populated system directory."""
    home = lab.home(cas=own) if own else lab.fresh() / "home"
    if not own:
        write_credentials(home / ".globus", lab.grid.user)
    sysdir = lab.repo.install(home.parent / "grid-security" / "certificates", system,
                              crls=False)
    tree = build_diracos(home, cfg="", system_ca=sysdir)
    env = lab.env(home, tree, X509_CERT_DIR=str(sysdir))
    return Setup(home, env, args=("--mu3e-system-cert-dir", str(sysdir)), root_owned=sysdir)


@row("CA-006", "the host's root-owned CA directory is in use and lacks the user's CA",
     "UK e-Science CA 2B")
def _system_lacks_users_ca(lab: Lab) -> Setup:
    # The user's CA is not a required one here, so CA-006 (not CA-004) names it.
    setup = _system_dir(lab, own=ALL_BUNDLES, system=("UKeScienceRoot-2007", "Mu3eTestHostCA"))
    setup.args += ("--mu3e-required-ca", "/C=UK/O=eScienceRoot/OU=Authority/CN=UK e-Science Root")
    return setup


@row("CRL-001", "no CRLs were ever fetched", "No CRL files found")
def _no_crls(lab: Lab) -> Setup:
    home = lab.home(crls=False)
    return Setup(home, lab.env(home))


@row("CRL-001", "the host's root-owned CA directory is in use and has no CRLs",
     "No CRL files found", fix_has=("fetch-crl -l",))
def _system_without_crls(lab: Lab) -> Setup:
    return _system_dir(lab, own=(), system=ALL_BUNDLES)


@row("CRL-002", "the CRL of the user's CA is damaged")
def _damaged_crl(lab: Lab) -> Setup:
    home = lab.home()
    crl = lab.cadir(home) / f"{subject_hash(lab.grid.ca.cert)}.r0"
    crl.write_bytes(crl.read_bytes()[:200])
    return Setup(home, lab.env(home))


@row("CRL-003", "the CRL of the user's CA is past its nextUpdate", "CRL has expired")
def _stale_crl(lab: Lab) -> Setup:
    home = lab.home()
    pki = lab.world.pki
    stale = pki.crl(lab.grid.ca, last_update=pki.now - 9 * DAY, next_update=pki.now - DAY)
    (lab.cadir(home) / f"{subject_hash(lab.grid.ca.cert)}.r0").write_bytes(
        stale.public_bytes(Encoding.PEM))
    return Setup(home, lab.env(home))


@person("CRL-004", "the user certificate is revoked", "your CA")
def _revoked(lab: Lab) -> Setup:
    home = lab.home()
    pki = lab.world.pki
    crl = pki.crl(lab.grid.ca, revoked=[lab.grid.user])
    (lab.cadir(home) / f"{subject_hash(lab.grid.ca.cert)}.r0").write_bytes(
        crl.public_bytes(Encoding.PEM))
    return Setup(home, lab.env(home))


# ------------------------------------------------------------------ rows: proxies


def _proxy_home(lab: Lab, proxy: Optional[Callable[[Lab, Path], object]] = None) -> Setup:
    """The guide's setup up to the proxy step, with DIRAC talking to the loopback CS; the
    proxy file as ``proxy`` leaves it (none when None)."""
    home = lab.home()
    tree = lab.diracos(home)
    if proxy is not None:
        proxy(lab, home)
    return Setup(home, lab.env(home, tree), args=lab.dirac_args())


@row("PROXY-001", "no proxy yet", "no proxy")
def _no_proxy(lab: Lab) -> Setup:
    return _proxy_home(lab)


@row("PROXY-002", "the proxy is readable by everyone", "mode 644")
def _proxy_644(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.proxy(home, mode=0o644))


@row("PROXY-003", "the proxy file is garbage")
def _proxy_garbage(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: (home / "x509up").write_bytes(b"\x00garbage\n"))


@row("PROXY-004", "the proxy's key belongs to another proxy", "does not belong")
def _proxy_pieced(lab: Lab) -> Setup:
    def pieced(lab: Lab, home: Path) -> None:
        pki, user = lab.world.pki, lab.grid.user
        a, b = pki.proxy(user, group=GROUP), pki.proxy(user, group=GROUP)
        (home / "x509up").write_bytes(a.cert_pem() + b.key_pem("pkcs8") + user.cert_pem())
        os.chmod(home / "x509up", 0o600)
    return _proxy_home(lab, pieced)


@row("PROXY-005", "a legacy proxy from grid-proxy-init -old", "legacy Globus proxy")
def _proxy_legacy(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.tool_proxy(home, ["grid-proxy-init", "-old"]))


@row("PROXY-004", "a proxy signed by a key that is not the user's",
     "not signed by your certificate's key")
def _proxy_wrong_key(lab: Lab) -> Setup:
    def wrong(lab: Lab, home: Path) -> None:
        pki, user = lab.world.pki, lab.grid.user
        stranger = pki.user(lab.grid.ca, "Key Thief")
        proxy = pki.proxy(Entity(user.cert, stranger.key), group=GROUP)
        proxy.issuer = user
        lab.proxy(home, proxy)
    return _proxy_home(lab, wrong)


@row("PROXY-007", "the proxy was made from another certificate", "another certificate")
def _proxy_other_cert(lab: Lab) -> Setup:
    def other(lab: Lab, home: Path) -> None:
        pki = lab.world.pki
        lab.proxy(home, pki.proxy(pki.user(lab.grid.ca, "Former Self"), group=GROUP))
    return _proxy_home(lab, other)


@row("PROXY-008", "the proxy has expired", "expired")
def _proxy_expired(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.proxy(
        home, lab.world.pki.proxy(lab.grid.user, group=GROUP, expired=True)))


@row("PROXY-009", "a 1024-bit proxy", "1024")
def _proxy_weak(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.proxy(
        home, lab.world.pki.proxy(lab.grid.user, group=GROUP, key_size=1024)))


@row("GROUP-001", "a proxy grid-proxy-init made (no DIRAC group)", "made by grid-proxy-init")
def _group_less(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.tool_proxy(home, ["grid-proxy-init"]))


@row("GROUP-002", "a proxy for another DIRAC group", "'gridpp_user'")
def _wrong_group(lab: Lab) -> Setup:
    return _proxy_home(lab, lambda lab, home: lab.proxy(
        home, lab.world.pki.proxy(lab.grid.user, group="gridpp_user")))


# ------------------------------------------------------------------ rows: configuration


def _cfg_home(lab: Lab, cfg: Optional[str], **kw) -> Setup:
    home = lab.home()
    tree = lab.diracos(home, cfg=cfg, **kw)
    lab.proxy(home)  # the guide's local proxy (dirac-configure -I needs one)
    return Setup(home, lab.env(home, tree), args=lab.dirac_args())


@row("CFG-001", "dirac-configure never ran", "no dirac.cfg")
def _no_cfg(lab: Lab) -> Setup:
    return _cfg_home(lab, "")


@row("CFG-002", "dirac.cfg cannot be parsed (a section never closed)", "never closed")
def _broken_cfg(lab: Lab) -> Setup:
    text = dirac_cfg_text(servers=(lab.cs.url,)).replace(
        "  Security\n  {\n    UseServerCertificate = no\n  }\n",
        "  Security\n  {\n    UseServerCertificate = no\n")
    return _cfg_home(lab, text)


@row("CFG-003", "dirac.cfg names another setup", "'LHCb-Certification'")
def _wrong_setup(lab: Lab) -> Setup:
    return _cfg_home(lab, dirac_cfg_text(setup="LHCb-Certification", servers=(lab.cs.url,)))


@row("CFG-004", "dirac.cfg names another Configuration Server", "does not include")
def _wrong_cs(lab: Lab) -> Setup:
    return _cfg_home(lab, dirac_cfg_text(
        servers=("dips://cs.example.org:9135/Configuration/Server",)))


@row("CFG-005", "dirac.cfg asks for a server certificate", "UseServerCertificate = yes")
def _server_cert(lab: Lab) -> Setup:
    return _cfg_home(lab, dirac_cfg_text(servers=(lab.cs.url,), use_server_certificate="yes"))


@row("ENV-001", "X509_CERT_DIR not exported", "not exported")
def _cert_dir_unset(lab: Lab) -> Setup:
    home = lab.home()
    tree = build_diracos(home, cfg="")
    return Setup(home, lab.env(home, tree, X509_CERT_DIR=None))


@row("ENV-002", "the vomses folder does not exist yet (diracosrc points at it)",
     "does not exist", fix_has=("dirac-configure -F -S GridPP -C dips://localhost:",),
     fix_lacks=("export X509_VOMSES",))
def _no_vomses(lab: Lab) -> Setup:
    return _cfg_home(lab, None, vomses=False)


@row("ENV-003", "the vomsdir folder does not exist yet (diracosrc points at it)",
     "does not exist", fix_has=("dirac-configure -F -S GridPP -C dips://localhost:",),
     fix_lacks=("export X509_VOMS_DIR",))
def _no_vomsdir(lab: Lab) -> Setup:
    return _cfg_home(lab, None, vomses=False)


# ------------------------------------------------------------------ rows: the network


def _net_home(lab: Lab, *, cs: Optional[RealConfigurationServer] = None,
              servers: Sequence[str] = (), user: Optional[Entity] = None, proxy=None,
              **tree) -> Setup:
    """The guide's setup with the network checks on: dirac.cfg lists ``servers`` (the
    loopback ``cs`` by default), the diagnosis expects ``cs``, and the home's proxy is
    ``proxy`` (the user's Mu3e proxy by default)."""
    cs = cs or lab.cs
    home = lab.home(**({"user": user} if user is not None else {}))
    built = lab.diracos(home, cfg=dirac_cfg_text(servers=tuple(servers) or (cs.url,)), **tree)
    lab.proxy(home, proxy)
    return Setup(home, lab.env(home, built), args=lab.dirac_args(cs), network=True)


@row("NET-001", "dirac.cfg names a Configuration Server host that does not exist (a typo)",
     "does not exist in DNS", fix_has=("dirac-configure -F -S GridPP -C dips://localhost:",))
def _cs_host_typo(lab: Lab) -> Setup:
    # The loopback nameserver answers NXDOMAIN for it, as DNS does for a typo.
    return _net_home(lab, servers=(f"dips://cs.mu3e.tset:{closed_port()}/Configuration/Server",))


@row("NET-003", "the server's host certificate is from a CA not installed (CERN Grid CA)",
     "cannot verify", fix_has=("ca_CERN-GridCA-", "ca_CERN-Root-2-"))
def _server_ca_missing(lab: Lab) -> Setup:
    return _net_home(lab, cs=lab.cern_cs)


@row("NET-007", "dirac.cfg lists a dead Configuration Server before the live one",
     "do not answer", fix_has=("dirac-configure -F -S GridPP -C dips://localhost:",))
def _dead_server_first(lab: Lab) -> Setup:
    dead = f"dips://localhost:{closed_port()}/Configuration/Server"
    return _net_home(lab, servers=(dead, lab.cs.url))


@row("NET-011", "the vomses lacks the VOMS servers the Configuration Server lists",
     "has no line for the VOMS server(s)",
     fix_has=("dirac-configure -F -S GridPP -C dips://localhost:",))
def _vomses_stale(lab: Lab) -> Setup:
    # The tree's vomses names voms.gridpp.ac.uk only; the CS lists voms(2).mu3e.test.
    return _net_home(lab)


@person("NET-006", "the user's DN is not registered in the VO (whoami: anonymous)",
        "Mu3e VO admin")
def _whoami_unregistered(lab: Lab) -> Setup:
    stranger = lab.user("Unknown Stranger")
    return _net_home(lab, user=stranger, proxy=lab.world.pki.proxy(stranger, group=GROUP))


@person("NET-009", "the user's DN is not registered: the CS refuses its data",
        "Mu3e VO admin")
def _registry_refuses(lab: Lab) -> Setup:
    stranger = lab.user("Nobody Registered")
    return _net_home(lab, user=stranger, proxy=lab.world.pki.proxy(stranger, group=GROUP))


@person("NET-010", "the user is registered, but not in the Mu3e group", "Mu3e VO admin")
def _not_in_group(lab: Lab) -> Setup:
    # A proxy without a group: the CS gives the user's own group, so its data can be read.
    olga = lab.user(REGISTERED_ELSEWHERE["olga"])
    return _net_home(lab, user=olga, proxy=lab.world.pki.proxy(olga))


@person("NET-011", "the group has no VOMSRole in the Registry", "Mu3e computing contacts")
def _no_voms_role(lab: Lab) -> Setup:
    vera = lab.user(REGISTERED_ELSEWHERE["vera"])
    setup = _net_home(lab, user=vera, proxy=lab.world.pki.proxy(vera, group="gridpp_user"),
                      vomses=False)
    setup.args += ("--mu3e-group", "gridpp_user")
    return setup


@person("NET-012", "the CS's data names no ProxyManager for the setup (no /DIRAC/Setups)",
        "Mu3e computing contacts")
def _no_setups_served(lab: Lab) -> Setup:
    # The lab's CS serves no /DIRAC/Setups, as a server too far from the client looks to it.
    return _net_home(lab)


# ------------------------------------------------------------------ the tests


@pytest.fixture(scope="module")
def lab(dirac_releases, loopback_only):
    if os.getuid() != 0:
        pytest.fail("the fixes are proven as another, unprivileged uid: run as root (CI does) "
                    "so the harness can drop to it")
    world = ProofWorld()
    # Not under pytest's tmp_path: its /tmp/pytest-of-root is mode 700, out of the user's reach.
    base = Path(tempfile.mkdtemp(prefix="mu3e-fixes-proven-"))
    os.chmod(base, 0o755)
    try:
        with IgtfRepository(world.pki, world.bundles) as repo, DnsResponder({}) as responder:
            lab = Lab(world, repo, base, responder)
            try:
                yield lab
            finally:
                lab.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _select(check: str) -> str:
    return ",".join(with_prerequisites([check], load_all()))


def _prepare(lab: Lab, setup: Setup) -> None:
    """Everything the user has is the user's; a host directory stays root's."""
    give(setup.home.parent)
    if setup.root_owned is not None:
        for dirpath, dirnames, filenames in os.walk(setup.root_owned):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), 0, 0)
        os.lchown(setup.root_owned, 0, 0)


def _diagnose(lab: Lab, setup: Setup, env, check: str, tag: str) -> RunResult:
    net = lab.net_args() if setup.network else ()
    return diagnose(setup.home, env, "--mu3e-select", _select(check), "--mu3e-ca-repository",
                    lab.repo.url, *setup.args, *net, workdir=setup.home.parent / f"work-{tag}",
                    offline=not setup.network)


def _finding(lab: Lab, build: Callable[[Lab], Setup], check: str):
    """The broken setup, made the user's, and what the diagnosis says about ``check``."""
    setup = build(lab)
    _prepare(lab, setup)
    return setup, _diagnose(lab, setup, setup.env, check, "before")[check]


@pytest.mark.parametrize("case", ROWS, ids=[f"{r.check}:{r.broken}" for r in ROWS])
def test_the_printed_fix_repairs_the_setup(lab, case: Row):
    setup, found = _finding(lab, case.build, case.check)
    assert found.outcome in ("failed", "warned"), (case.check, found.outcome, found.message)
    text = found.message + found.properties.get("warning", "")
    assert case.expect in text, (case.expect, text)
    fix = found.fix
    runnable = commands_of(fix)
    assert runnable, fix
    for phrase in case.fix_has:
        assert any(phrase in c for c in runnable), (phrase, fix)
    for phrase in case.fix_lacks:
        assert not any(phrase in c for c in runnable), (phrase, fix)
    if setup.root_owned is not None:  # issue 19: fixes target a directory the user owns
        assert runnable[0].startswith("export X509_CERT_DIR="), fix
        assert not any(str(setup.root_owned) in c for c in runnable), fix
    ran = run_fix(fix, setup.env, setup.home.parent / "fix", answers=setup.answers)
    print(f"--- {case.check}: the fix\n{fix}\n--- printed\n{ran.output}")  # shown with -s
    after = _diagnose(lab, setup, ran.env, case.check, "after")
    assert after.outcome(case.check) == "passed", (
        f"{case.check} after running its fix:\n{fix}\n--- it printed\n{ran.output[-4000:]}"
        f"\n--- the check now says\n{after[case.check].message}")


@pytest.mark.parametrize("case", PERSON_ROWS, ids=[f"{r.check}:{r.broken}" for r in PERSON_ROWS])
def test_no_command_repairs_it_and_the_advice_names_who_acts(lab, case: PersonRow):
    _, found = _finding(lab, case.build, case.check)
    # A check of severity warn (NET-011, NET-012) says it with a warning.
    assert found.outcome in ("failed", "warned"), (case.check, found.outcome, found.message)
    lines = [ln for ln in found.fix.splitlines() if ln.strip()]
    assert lines and all(ln.lstrip().startswith("#") for ln in lines), found.fix
    assert case.who in found.fix, (case.who, found.fix)


MAKERS = {"grid-proxy-init": ("grid-proxy-init",), "voms-proxy-init": ("voms-proxy-init",),
          "dirac-proxy-init": ("dirac-proxy-init", "--nocs", "-N")}


@pytest.mark.parametrize("tool", sorted(MAKERS))
def test_group_and_voms_findings_name_the_tool_that_made_the_proxy(lab, tool):
    """A group-less, VOMS-less proxy from each real tool: the findings say which tool made it,
    and blame the Configuration Server only for dirac-proxy-init's."""
    home = lab.home()
    proxy = lab.tool_proxy(home, MAKERS[tool])
    assert proxy_maker(x509.load_pem_x509_certificates(proxy.read_bytes())[0]) == tool
    setup = Setup(home, lab.env(home))
    _prepare(lab, setup)
    r = diagnose(home, setup.env, "--mu3e-select", "PROXY,GROUP-001,VOMS-001",
                 workdir=home.parent / "work")
    group, voms = r["GROUP-001"], r["VOMS-001"]
    assert group.outcome == "failed" and f"made by {tool}" in group.message, group.message
    assert voms.outcome == "warned" and f"made by {tool}" in voms.message, voms.message
    blames_cs = "cannot reach the Configuration Server" in group.message
    assert blames_cs == (tool == "dirac-proxy-init"), group.message


def test_every_runnable_fix_has_a_row():
    """A check whose fix holds a command (a line that is not a '#' comment) has a row that
    runs it, or a reason here why it cannot run in a test."""
    checks = load_all()
    proven = {r.check for r in ROWS}
    runnable = {c.id for c in checks.values()
                if any(not ln.is_comment for ln in c.fix.lines)}
    missing = sorted(runnable - proven - set(NOT_RUNNABLE_HERE))
    assert missing == [], f"checks with a runnable fix and no proof row: {missing}"
    stale = sorted(set(NOT_RUNNABLE_HERE) & proven)
    assert stale == [], f"proven, yet listed as not runnable: {stale}"
    unknown = sorted((set(NOT_RUNNABLE_HERE) | proven | {r.check for r in PERSON_ROWS})
                     - set(checks))
    assert unknown == [], unknown
