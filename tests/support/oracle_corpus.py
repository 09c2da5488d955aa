"""The oracle corpus of issue 19: hundreds of chain and proxy setups, each judged by the real tools.

A *setup* is one user's situation: ``~/.globus/usercert.pem`` and ``userkey.pem``, a proxy file,
and the CA directory DIRAC uses (``$X509_CERT_DIR``).  The corpus combines a few dozen
certificates, proxies and CA directories, each made once per session, into the setups
:func:`plan` lists by name (so pytest can parametrize over them before anything is built):

- certificates: a neutral test grid (root, issuing CA, users) plus its look-alikes (same DN,
  another key), forgeries (signed by a key that is not the issuer's), expired and not yet valid
  users and CAs, and a user whose issuer carries the real *UK e-Science CA 2B* name;
- CA directories: ours with fresh, stale, future, missing or foreign CRLs, CRLs that revoke the
  user or the issuing CA, missing or look-alike CAs, and copies of the real IGTF directory
  (Debian's ``igtf-policy-classic``) with and without look-alikes planted in it;
- proxies: made by ``cryptography`` (RFC 3820, limited, legacy, expired, not yet valid, signed by
  the wrong key, a second-level proxy signed by the wrong key) and by the real tools users run:
  ``grid-proxy-init`` (RFC, ``-old``, ``-draft``, ``-limited``, ``-independent``),
  ``voms-proxy-init`` (RFC, ``-old``, ``-proxyver 3``, ``-limited``), ``voms-proxy-fake`` (VOMS
  AC and DIRAC group, limited, legacy, draft, expired) and DIRAC 8.0.74's ``dirac-proxy-init
  --nocs`` (with and without group, limited, and from a certificate and key that do not match).

Then :func:`run_corpus` asks the oracles and the tool about every setup:

- ``openssl verify -CApath DIR -crl_check_all`` on usercert.pem, and with ``-allow_proxy_certs
  -untrusted PROXY`` on the proxy (real-peers.md), each distinct pair once, two at a time;
- DIRAC 8.0.74 itself, in one process of its venv (:data:`DIRAC_ORACLE`): ``X509Chain``'s
  ``loadChainFromFile``/``loadProxyFromFile``, ``isProxy``, ``isLimitedProxy``, ``hasExpired``,
  ``isValidProxy`` and each step's signature (``X509Certificate.verify``), then the chain
  check a DIRAC service makes: a TLS handshake over a socket pair whose server side is the
  context DISET builds (``getM2SSLContext(bServerMode=True)``: CA path from ``$X509_CERT_DIR``,
  proxies allowed, no CRLs) and whose client presents the proxy (or usercert.pem with its key),
  with ``getM2PeerInfo`` reading the peer as DISET does;
- the diagnosis (``--mu3e-select CERT,CA,CRL,PROXY --mu3e-offline``), two at a time in the warm
  fork pool of the fuzz corpus (:class:`tests.support.hostile.DiagnosisPool`), with only our
  plugin loaded (the HTML report is not rendered: it changes no verdict).

Nothing here reads or writes outside the given directory: every tool gets explicit paths, and
DIRAC a ``DIRAC_ROOT_PATH`` of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from mu3e_checks.cli import UNUSED_BUILTINS
from mu3e_checks.knowledge.pki import dn_slash
from tests.support.hostile import DiagnosisPool, Job
from tests.support.pki_factory import (
    DAY,
    HOUR,
    PKI,
    Entity,
    dn,
    subject_hash,
    voms_ac,
    voms_extension,
    write_trust_dir,
)
from tests.support.runner import Case, parse_junit

DIRAC_HOME = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
#: Debian's igtf-policy-classic: the real IGTF CA directory (hash links next to the files).
IGTF_DIR = Path(os.environ.get("MU3E_TEST_IGTF_DIR", "/etc/grid-security/certificates"))
#: The IGTF files (by alias) of the two CAs Mu3e requires.
IGTF_UK_2B, IGTF_UK_ROOT = "UKeScienceCA-2B.pem", "UKeScienceRoot-2007.pem"
GROUP = "mu3e.org_user"
#: The checks the diagnosis runs for each setup: the chain and proxy chapters and the
#: certificate checks they depend on.
SELECT = "CERT,CA,CRL,PROXY"
#: One diagnosis ends within this, or it counts as a hang.
RUN_TIMEOUT = 60.0

# ------------------------------------------------------------------------- the plan (names)

#: Proxies made for the main user ``U`` (``f-`` by cryptography, the others by the real tool
#: named in :data:`REAL_TOOLS`).
FACTORY_PROXIES = ("f-rfc", "f-limited", "f-legacy", "f-expired", "f-future", "f-wrongkey",
                   "f-voms", "f-voms-wrongkey")
REAL_TOOLS: dict[str, tuple[str, ...]] = {
    "gpi": ("grid-proxy-init",),
    "gpi-old": ("grid-proxy-init", "-old"),
    "gpi-draft": ("grid-proxy-init", "-draft"),
    "gpi-limited": ("grid-proxy-init", "-limited"),
    "gpi-independent": ("grid-proxy-init", "-independent"),
    "gpi-old-limited": ("grid-proxy-init", "-old", "-limited"),
    "vpi": ("voms-proxy-init",),
    "vpi-old": ("voms-proxy-init", "-old"),
    "vpi-draft": ("voms-proxy-init", "-proxyver", "3"),
    "vpi-limited": ("voms-proxy-init", "-limited"),
    "vpf": ("voms-proxy-fake",),
    "vpf-limited": ("voms-proxy-fake", "-limited"),
    "vpf-legacy": ("voms-proxy-fake", "-proxyver", "2"),
    "vpf-draft": ("voms-proxy-fake", "-proxyver", "3"),
    "vpf-expired": ("voms-proxy-fake", "-hours", "1", "-pastproxy", "7200"),
    "dpi": ("dirac-proxy-init", "-g", GROUP),
    "dpi-nogroup": ("dirac-proxy-init",),
    "dpi-limited": ("dirac-proxy-init", "-g", GROUP, "-l"),
    # dirac-proxy-init signs with whatever X509_USER_KEY names, even another certificate's key.
    "dpi-wrongkey": ("dirac-proxy-init", "-g", GROUP),
}
ALL_PROXIES = FACTORY_PROXIES + tuple(REAL_TOOLS)
#: Proxies made with a key that is not the user certificate's.
WRONG_KEY_PROXIES = frozenset({"f-wrongkey", "f-voms-wrongkey", "dpi-wrongkey"})

#: CA directories of the neutral grid.  Each name says how it differs from ``good``.
MAIN_TRUST = ("good", "no-crls", "crl-c-stale", "revoked-user", "revoked-ca", "igtf-plus",
              "good-old-hash")
OTHER_TRUST = ("crl-r-stale", "crl-c-future", "crl-c-missing", "crl-c-wrong-signer",
               "no-intermediate", "lookalike-c", "lookalike-r", "both-c", "odd-cas")
UK_TRUST = ("uk-ours", "uk-ours-no-crls", "uk-lookalike-2b", "igtf", "igtf-fake-2b",
            "igtf-with-uk-ours")

#: Users: ``U`` is the main one; the others each bend one thing.
USERS = ("U", "U-expired", "U-future", "U-lookalike", "U-forged", "U-forged-aki",
         "U-expired-ca", "U-future-ca", "UK")
#: Real-tool proxies made for users other than ``U`` (a small set each).
OTHER_USER_PROXIES: dict[str, tuple[str, ...]] = {
    "U-expired": ("f-rfc", "gpi", "vpf"),
    "U-future": ("f-rfc", "vpf"),
    "U-lookalike": ("f-rfc", "gpi", "dpi"),
    "U-forged": ("f-rfc", "dpi"),
    "U-forged-aki": ("f-rfc", "dpi"),
    "U-expired-ca": ("f-rfc", "gpi"),
    "U-future-ca": ("f-rfc", "gpi"),
    "UK": ("f-rfc", "f-legacy", "f-wrongkey", "gpi", "vpi", "dpi", "dpi-wrongkey"),
}


@dataclass(frozen=True)
class Spec:
    """One setup, by name: which user certificate, proxy, CA directory and userkey.pem."""

    id: str
    category: str
    user: str
    proxy: str
    trust: str
    #: ``own``: userkey.pem is the certificate's key; ``other``: the key the proxy was wrongly
    #: signed with (the mismatched pair ``dirac-proxy-init`` was given, still in ~/.globus).
    home_key: str = "own"

    @property
    def world(self) -> str:
        return "uk" if self.user == "UK" else "n"


def category(user: str, proxy: str, trust: str) -> str:
    """What a setup is about, from its parts: the first thing in it that is wrong.

    Look-alikes and wrong keys come first, because they are what the corpus is for; then what
    breaks the chain for both oracles (certificates, CAs, the proxy's format and time); last
    what only a CRL check sees (revocation, CRLs), so that those categories hold setups DIRAC
    accepts.
    """
    lookalike_issuer = (user in ("U-lookalike", "U-forged-aki")
                        or (user == "U" and trust == "lookalike-c")
                        or (user == "UK" and trust in ("igtf", "uk-lookalike-2b")))
    rules = (
        ("lookalike-issuer", lookalike_issuer),
        ("wrong-key-proxy", proxy in WRONG_KEY_PROXIES),
        ("forged-user", user == "U-forged"),
        ("lookalike-installed-uk", user == "UK" and trust == "igtf-fake-2b"),
        ("lookalike-root", trust == "lookalike-r"),
        ("user-validity", user in ("U-expired", "U-future")),
        ("ca-validity", user in ("U-expired-ca", "U-future-ca")),
        ("missing-issuer", trust == "no-intermediate"),
        ("legacy-proxy", proxy in ("f-legacy", "gpi-old", "gpi-old-limited", "vpi-old",
                                   "vpf-legacy")),
        ("draft-proxy", proxy in ("gpi-draft", "vpi-draft", "vpf-draft")),
        ("proxy-validity", proxy in ("f-expired", "f-future", "vpf-expired")),
        ("revoked", trust in ("revoked-user", "revoked-ca")),
        ("crl-missing", trust in ("no-crls", "uk-ours-no-crls", "crl-c-missing")),
        ("crl-bad", trust in ("crl-c-stale", "crl-r-stale", "crl-c-future",
                              "crl-c-wrong-signer")),
    )
    return next((name for name, hit in rules if hit), "valid")


def _spec(user: str, proxy: str, trust: str, home_key: str = "own") -> Spec:
    sid = f"{user}/{proxy}/{trust}" + ("/other-key" if home_key != "own" else "")
    return Spec(sid, category(user, proxy, trust), user, proxy, trust, home_key)


def plan() -> list[Spec]:
    """Every setup of the corpus, by name; cheap and deterministic (pytest's parameter list)."""
    out = [_spec("U", p, t) for t in MAIN_TRUST for p in ALL_PROXIES]
    some = ("f-rfc", "f-wrongkey", "gpi", "gpi-old", "vpi-limited", "dpi", "dpi-wrongkey")
    out += [_spec("U", p, t) for t in OTHER_TRUST for p in some]
    for user, proxies in OTHER_USER_PROXIES.items():
        trusts = {"UK": UK_TRUST, "U-expired-ca": ("odd-cas",),
                  "U-future-ca": ("odd-cas",)}.get(user, ("good", "no-crls"))
        out += [_spec(user, p, t) for t in trusts for p in proxies]
    # The mismatched pair dirac-proxy-init was given is still in ~/.globus.
    out += [_spec("U", p, t, "other") for t in ("good", "no-crls", "revoked-user")
            for p in ("dpi-wrongkey", "dpi", "f-rfc")]
    return out


# ------------------------------------------------------------------------- the material

_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def key(role: str) -> rsa.RSAPrivateKey:
    """One RSA key per role, made once per process.  Look-alikes need keys that surely
    differ from the real CA's, so the corpus does not take them from the factory's cycling
    pool (whose slots repeat after 24 entities)."""
    if role not in _KEYS:
        _KEYS[role] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[role]


def _forged_user(pki: PKI, template: Entity, issuer_name: x509.Name, signer: rsa.RSAPrivateKey,
                 *, aki: bool) -> Entity:
    """A user certificate naming ``issuer_name`` as issuer but signed by ``signer``; with
    ``aki`` its authority key identifier points at ``signer`` (so OpenSSL's lookup finds no
    issuer), without it OpenSSL finds the named CA and the signature fails."""
    b = (x509.CertificateBuilder().subject_name(template.subject).issuer_name(issuer_name)
         .public_key(template.key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(pki.now - DAY).not_valid_after(pki.now + 365 * DAY))
    for ext in template.cert.extensions:
        if isinstance(ext.value, x509.AuthorityKeyIdentifier):
            continue
        b = b.add_extension(ext.value, ext.critical)
    if aki:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer.public_key()), critical=False)
    return Entity(b.sign(signer, hashes.SHA256()), template.key)


def proxy_file(proxy: Entity, user: Entity) -> bytes:
    """A proxy file as DIRAC writes it from a usercert.pem holding only the user certificate:
    proxy certificate, its key, any proxies between, then the user certificate."""
    parts = [proxy.cert_pem(), proxy.key_pem("pkcs8")]
    e = proxy.issuer
    while e is not None:
        parts.append(e.cert_pem())
        if e.cert == user.cert:
            break
        e = e.issuer
    return b"".join(parts)


@dataclass
class Made:
    """What a real tool left: the proxy file (or None), its exit code and its stderr tail."""

    data: Optional[bytes]
    rc: int
    stderr: str


class Material:
    """Certificates, CA directories and proxies, made once; setups only combine them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pki = PKI()
        p = self.pki
        self.entities: dict[str, Entity] = {}
        e = self.entities
        e["R"] = p.ca("Oracle Root CA", key=key("R"))
        e["C"] = p.ca("Oracle User CA", parent=e["R"], key=key("C"))
        e["R2"] = p.ca(subject=e["R"].subject, key=key("R2"))  # look-alike root
        e["C2"] = p.ca(subject=e["C"].subject, parent=e["R"], key=key("C2"))  # look-alike CA
        e["Cx"] = p.ca("Oracle Expired CA", parent=e["R"], key=key("Cx"), expired=True)
        e["Cf"] = p.ca("Oracle Future CA", parent=e["R"], key=key("Cf"), not_yet_valid=True)
        # UK doubles: the real certificates' names (byte for byte, so both OpenSSL hashes
        # match IGTF's files) with our keys, and another look-alike of CA 2B.
        assert (IGTF_DIR / IGTF_UK_2B).is_file(), (
            f"the real IGTF CAs are missing from {IGTF_DIR}: apt-get install igtf-policy-classic")
        real_root, real_2b = (x509.load_pem_x509_certificate((IGTF_DIR / name).read_bytes())
                              for name in (IGTF_UK_ROOT, IGTF_UK_2B))
        e["UKR"] = p.ca(subject=real_root.subject, key=key("UKR"))
        e["UK2B"] = p.ca(subject=real_2b.subject, parent=e["UKR"], key=key("UK2B"))
        e["UK2B-other"] = p.ca(subject=real_2b.subject, parent=e["UKR"], key=key("C2"))
        self.voms_server = p.host(e["C"], "voms.example.org")
        self.dirac_host = p.host(e["C"], "localhost")
        u = self.users = {}
        u["U"] = p.user(e["C"], "Olga Oracle", key=key("U"))
        u["U-expired"] = p.user(e["C"], "Olga Expired", key=key("U2"), expired=True)
        u["U-future"] = p.user(e["C"], "Olga Future", key=key("U2"), not_yet_valid=True)
        u["U-lookalike"] = p.user(e["C2"], "Olga Lookalike", key=key("U2"))
        template = p.user(e["C"], "Olga Forged", key=key("U2"))
        u["U-forged"] = _forged_user(p, template, e["C"].subject, key("X"), aki=False)
        u["U-forged-aki"] = _forged_user(p, p.user(e["C"], "Olga Forged AKI", key=key("U2")),
                                         e["C"].subject, key("X"), aki=True)
        u["U-expired-ca"] = p.user(e["Cx"], "Olga Under Expired", key=key("U2"))
        u["U-future-ca"] = p.user(e["Cf"], "Olga Under Future", key=key("U2"))
        u["UK"] = p.user(e["UK2B"], subject=dn(
            "/C=UK/O=eScience/OU=Imperial/L=Physics/CN=olga oracle"), key=key("UK"))
        for user in u.values():  # forged ones carry no issuer link: give them C for the chain
            if user.issuer is None:
                user.issuer = e["C"]
        self.other_key = key("X")  # the key dirac-proxy-init is wrongly given
        self.trust: dict[str, Path] = {}
        self.files: dict[str, Path] = {}
        self.proxies: dict[tuple[str, str], bytes] = {}
        self.made: dict[tuple[str, str], Made] = {}

    # -- required CAs, as the user configures them
    def required(self, spec: Spec) -> Optional[str]:
        """MU3E_REQUIRED_CA: the neutral grid's root and issuing CA (as Mu3e requires UK 2B
        and its root); the UK setups keep the default."""
        if spec.world == "uk":
            return None
        return f"{dn_slash(self.entities['R'].subject)};{dn_slash(self.entities['C'].subject)}"

    # -- CA directories
    def build_trust(self) -> None:
        e, p = self.entities, self.pki
        base = self.root / "trust"

        def crl(ca: str, **kw) -> x509.CertificateRevocationList:
            return p.crl(e[ca], **kw)

        def ours(name: str, cas: Iterable[str], crls: dict[str, Optional[
                 x509.CertificateRevocationList]], **kw) -> None:
            listed = [e[c] for c in cas]
            self.trust[name] = write_trust_dir(
                base / name, listed,
                {id(e[c]): v for c, v in crls.items() if v is not None}, **kw)

        fresh = {c: crl(c) for c in ("R", "C", "R2", "C2", "Cx", "Cf", "UKR", "UK2B",
                                     "UK2B-other")}
        ours("good", ["R", "C"], {"R": fresh["R"], "C": fresh["C"]})
        ours("good-old-hash", ["R", "C"], {"R": fresh["R"], "C": fresh["C"]}, old_hash=True)
        ours("no-crls", ["R", "C"], {})
        ours("crl-c-stale", ["R", "C"], {"R": fresh["R"], "C": crl(
            "C", last_update=p.now - 10 * DAY, next_update=p.now - DAY)})
        ours("crl-r-stale", ["R", "C"], {"R": crl(
            "R", last_update=p.now - 10 * DAY, next_update=p.now - HOUR), "C": fresh["C"]})
        ours("crl-c-future", ["R", "C"], {"R": fresh["R"], "C": crl(
            "C", last_update=p.now + 2 * DAY, next_update=p.now + 9 * DAY)})
        ours("crl-c-missing", ["R", "C"], {"R": fresh["R"]})
        ours("crl-c-wrong-signer", ["R", "C"], {"R": fresh["R"], "C": p.crl(
            e["C"], signer=Entity(e["C"].cert, key("X")))})
        ours("revoked-user", ["R", "C"], {"R": fresh["R"], "C": crl(
            "C", revoked=[self.users["U"]], filler=20)})
        ours("revoked-ca", ["R", "C"], {"R": crl("R", revoked=[e["C"]]), "C": fresh["C"]})
        ours("no-intermediate", ["R"], {"R": fresh["R"]})
        ours("lookalike-c", ["R", "C2"], {"R": fresh["R"], "C2": fresh["C2"]})
        ours("lookalike-r", ["R2", "C"], {"R2": fresh["R2"], "C": fresh["C"]})
        ours("odd-cas", ["R", "C", "Cx", "Cf"], {c: fresh[c] for c in ("R", "C", "Cx", "Cf")})
        # Both CAs named like C: the look-alike under <hash>.0, the real one under <hash>.1.
        both = base / "both-c"
        write_trust_dir(both, [e["R"]], {id(e["R"]): fresh["R"]})
        h = subject_hash(e["C"].cert)
        (both / f"{h}.0").write_bytes(e["C2"].cert_pem())
        (both / f"{h}.1").write_bytes(e["C"].cert_pem())
        (both / f"{h}.r0").write_bytes(_crl_pem(fresh["C"]))
        self.trust["both-c"] = both
        ours("uk-ours", ["UKR", "UK2B"], {"UKR": fresh["UKR"], "UK2B": fresh["UK2B"]},
             old_hash=True)
        ours("uk-ours-no-crls", ["UKR", "UK2B"], {}, old_hash=True)
        ours("uk-lookalike-2b", ["UKR", "UK2B-other"],
             {"UKR": fresh["UKR"], "UK2B-other": fresh["UK2B-other"]}, old_hash=True)
        # Copies of the real IGTF directory (the real CA 2B and UK root, no CRLs: nobody here
        # holds their keys), as a user unpacks it.
        self.trust["igtf"] = self._igtf(base / "igtf")
        plus = self._igtf(base / "igtf-plus")
        write_trust_dir(plus, [e["R"], e["C"]], {id(e["R"]): fresh["R"], id(e["C"]): fresh["C"]})
        self.trust["igtf-plus"] = plus
        # The real CA 2B's file replaced by our look-alike (both hash names link to it).
        fake = self._igtf(base / "igtf-fake-2b")
        (fake / IGTF_UK_2B).unlink()
        (fake / IGTF_UK_2B).write_bytes(e["UK2B"].cert_pem())
        self.trust["igtf-fake-2b"] = fake
        # IGTF plus our UK doubles as second files under the same hash names, with their CRLs.
        mixed = self._igtf(base / "igtf-with-uk-ours")
        for name in ("UKR", "UK2B"):
            hh = subject_hash(e[name].cert)
            (mixed / f"{hh}.1").write_bytes(e[name].cert_pem())
            (mixed / f"{hh}.r0").write_bytes(_crl_pem(fresh[name]))
        self.trust["igtf-with-uk-ours"] = mixed

    def _igtf(self, target: Path) -> Path:
        shutil.copytree(IGTF_DIR, target, symlinks=True)
        return target

    # -- user files
    def build_users(self) -> None:
        d = self.root / "users"
        d.mkdir(parents=True)
        for name, user in self.users.items():
            self.files[f"{name}.cert"] = _write(d / f"{name}.cert.pem", user.cert_pem())
            self.files[f"{name}.key"] = _write(d / f"{name}.key.pem", user.key_pem(), 0o600)
            # DIRAC's TLS probe presents the certificate with its own key.
            self.files[f"{name}.cred"] = _write(d / f"{name}.cred.pem",
                                                user.cert_pem() + user.key_pem(), 0o600)
        self.files["other.key"] = _write(d / "other.key.pem", Entity(
            self.users["U"].cert, self.other_key).key_pem(), 0o600)
        self.files["voms.cert"] = _write(d / "voms.pem", self.voms_server.cert_pem())
        self.files["voms.key"] = _write(d / "voms.key.pem", self.voms_server.key_pem("pkcs1"),
                                        0o600)
        self.files["host.cert"] = _write(d / "host.pem", self.dirac_host.cert_pem())
        self.files["host.key"] = _write(d / "host.key.pem", self.dirac_host.key_pem("pkcs1"),
                                        0o600)

    # -- proxies
    def factory_proxy(self, user_name: str, kind: str) -> bytes:
        p, user = self.pki, self.users[user_name]
        wrong = Entity(user.cert, self.other_key, issuer=user.issuer)
        if kind == "f-rfc":
            proxy = p.proxy(user, group=GROUP)
        elif kind == "f-limited":
            proxy = p.proxy(user, kind="limited", group=GROUP)
        elif kind == "f-legacy":
            proxy = p.proxy(user, kind="legacy", group=GROUP)
        elif kind == "f-expired":
            proxy = p.proxy(user, expired=True, group=GROUP)
        elif kind == "f-future":
            proxy = p.proxy(user, group=GROUP, not_before=p.now + 2 * HOUR)
        elif kind == "f-wrongkey":
            proxy = p.proxy(wrong, group=GROUP)
            proxy.issuer = user
        elif kind in ("f-voms", "f-voms-wrongkey"):
            inner = p.proxy(user, group=GROUP)
            ac = voms_extension(voms_ac(user, self.voms_server))
            signer = inner if kind == "f-voms" else Entity(inner.cert, self.other_key,
                                                          issuer=user)
            proxy = p.proxy(signer, extensions=[ac])
            proxy.issuer = inner
        else:  # pragma: no cover - plan() lists only the kinds above
            raise AssertionError(kind)
        return proxy_file(proxy, user)

    def real_proxy(self, user_name: str, kind: str) -> Made:
        """Run the real tool for ``kind`` with this user's files; what it left behind."""
        argv = list(REAL_TOOLS[kind])
        work = self.root / "made" / f"{user_name}-{kind}"
        work.mkdir(parents=True)
        out = work / "proxy"
        cert = self.files[f"{user_name}.cert"]
        keyfile = self.files["other.key" if kind == "dpi-wrongkey" else f"{user_name}.key"]
        cadir = self.trust["uk-ours" if user_name == "UK" else "good"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS", "MU3E_", "PYTEST_"))}
        env.update(HOME=str(work), X509_CERT_DIR=str(cadir), X509_USER_CERT=str(cert),
                   X509_USER_KEY=str(keyfile))
        tool = argv[0]
        if tool == "dirac-proxy-init":
            (work / "dirac-root" / "etc").mkdir(parents=True)
            exe = DIRAC_HOME / "bin" / tool
            assert exe.is_file(), f"real DIRAC 8.0.74 missing at {DIRAC_HOME}: .ci/install-dirac"
            env.update(DIRAC_ROOT_PATH=str(work / "dirac-root"), X509_USER_PROXY=str(out),
                       PATH=f"{DIRAC_HOME / 'bin'}{os.pathsep}{env.get('PATH', '')}")
            cmd = [str(exe), "--nocs", "-N", *argv[1:]]
        else:
            exe_path = shutil.which(tool)
            assert exe_path, f"real peer {tool} is missing; run .ci/install-peers"
            cmd = [exe_path, "-q", *argv[1:], "-out", str(out)]
            if tool == "voms-proxy-fake":
                cmd = [exe_path, "-q", "-hostcert", str(self.files["voms.cert"]), "-hostkey",
                       str(self.files["voms.key"]), "-voms", "mu3e.org", "-uri",
                       "voms.example.org:15000", "-fqan", "/mu3e.org/Role=NULL/Capability=NULL",
                       "-extension", "1.2.42.42~160D" + GROUP.encode().hex().upper(),
                       "-certdir", str(cadir), "-cert", str(cert), "-key", str(keyfile),
                       *(("-rfc",) if "-proxyver" not in argv else ()), *argv[1:],
                       "-out", str(out)]
        proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        data = out.read_bytes() if out.is_file() and out.stat().st_size else None
        return Made(data, proc.returncode, (proc.stdout + proc.stderr)[-600:])

    def build_proxies(self, specs: Iterable[Spec]) -> None:
        wanted = sorted({(s.user, s.proxy) for s in specs})
        for user, kind in wanted:
            if kind.startswith("f-"):
                self.proxies[(user, kind)] = self.factory_proxy(user, kind)
        real = [(u, k) for u, k in wanted if not k.startswith("f-")]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for (u, k), made in zip(real, pool.map(lambda uk: self.real_proxy(*uk), real)):
                self.made[(u, k)] = made
                assert made.data is not None, (
                    f"{REAL_TOOLS[k][0]} made no proxy for {u} ({k}), exit {made.rc}: "
                    f"{made.stderr}")
                self.proxies[(u, k)] = made.data
        d = self.root / "proxies"
        d.mkdir(parents=True)
        for (u, k), data in self.proxies.items():
            self.files[f"{u}.{k}"] = _write(d / f"{u}.{k}.pem", data, 0o600)


def _crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return crl.public_bytes(Encoding.PEM)


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


# ------------------------------------------------------------------------- the oracles


@dataclass(frozen=True)
class OpenSSLVerdict:
    """``openssl verify``'s answer: every ``error N at D depth`` line, first one first."""

    argv: tuple[str, ...]
    ok: bool
    errors: tuple[tuple[int, int, str], ...]  # (code, depth, text)
    output: str

    @property
    def first(self) -> Optional[tuple[int, int, str]]:
        return self.errors[0] if self.errors else None

    def describe(self) -> str:
        if self.ok:
            return "OK"
        return "; ".join(f"error {c} at depth {d}: {t}" for c, d, t in self.errors) or (
            self.output.strip().splitlines() or ["failed"])[-1]


_ERROR_LINE = re.compile(r"^error (\d+) at (\d+) depth lookup: ?(.*)$", re.M)


def openssl_verify(cadir: Path, target: Path, proxy: bool) -> OpenSSLVerdict:
    """real-peers.md's command, for a user certificate or (``proxy``) a proxy file."""
    exe = shutil.which("openssl")
    assert exe, "openssl is not installed (apt-get install openssl)"
    argv = [exe, "verify", "-CApath", str(cadir), "-crl_check_all"]
    if proxy:
        argv += ["-allow_proxy_certs", "-untrusted", str(target)]
    argv.append(str(target))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    errors = tuple((int(c), int(d), t.strip()) for c, d, t in _ERROR_LINE.findall(out))
    ok = proc.returncode == 0
    assert ok == (not errors), f"openssl verify said neither OK nor an error: {out}"
    return OpenSSLVerdict(tuple(argv), ok, errors, out)


#: Runs inside DIRAC 8.0.74's venv: every (kind, file, credential, CA dir) item through DIRAC's
#: own loaders and the TLS check its services make; one JSON line per item on stdout.
DIRAC_ORACLE = r"""
import json, os, socket, sys, threading
request = json.load(sys.stdin)
os.environ["DIRAC_X509_HOST_CERT"] = request["host_cert"]
os.environ["DIRAC_X509_HOST_KEY"] = request["host_key"]
from DIRAC.Core.Security.X509Chain import X509Chain
from DIRAC.Core.DISET.private.Transports.SSL.M2Utils import getM2SSLContext, getM2PeerInfo
from M2Crypto import SSL

def chain_facts(kind, path):
    chain = X509Chain()
    res = chain.loadChainFromFile(path) if kind == "cert" else chain.loadProxyFromFile(path)
    if not res["OK"]:
        return {"load": False, "message": res["Message"]}
    out = {"load": True, "isProxy": chain.isProxy()["Value"],
           "isLimited": chain.isLimitedProxy()["Value"], "expired": chain.hasExpired()["Value"]}
    certs = chain.getCertList()["Value"]
    out["steps"] = [bool(certs[n].verify(certs[n + 1].getPublicKey()["Value"])["Value"])
                    for n in range(len(certs) - 1)]
    if kind == "proxy":
        valid = chain.isValidProxy()
        out["validProxy"] = bool(valid["OK"])
        out["validMessage"] = "" if valid["OK"] else valid["Message"]
    return out

servers = {}
def server_ctx(cadir):
    if cadir not in servers:
        os.environ["X509_CERT_DIR"] = cadir  # what Locations.getCAsLocation reads
        servers[cadir] = getM2SSLContext(bServerMode=True)
    return servers[cadir]

def tls(cadir, cred):
    try:
        sctx = server_ctx(cadir)
        cctx = getM2SSLContext(clientMode=True, proxyLocation=cred, skipCACheck=True)
    except Exception as exc:
        return {"accepted": False, "verify": None, "error": "context: " + repr(exc)[:300]}
    a, b = socket.socketpair()
    res = {}
    def serve():
        conn = SSL.Connection(sctx, a)
        try:
            conn.setup_ssl(); conn.set_accept_state(); conn.accept_ssl()
            peer = getM2PeerInfo(conn)
            res["peer"] = {k: peer[k] for k in ("DN", "isProxy", "isLimitedProxy")}
            res["accepted"] = True
        except Exception as exc:
            res["accepted"] = False
            res["error"] = repr(exc)[:300]
        res["verify"] = conn.get_verify_result()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    client = SSL.Connection(cctx, b)
    try:
        client.setup_ssl(); client.set_connect_state(); client.connect_ssl()
    except Exception as exc:
        res["client_error"] = repr(exc)[:300]
    th.join(20)
    if th.is_alive():
        res = {"accepted": False, "verify": None, "error": "handshake did not end in 20 s"}
    for s in (a, b):
        s.close()
    return res

for item in request["items"]:
    facts = chain_facts(item["kind"], item["file"])
    facts["tls"] = tls(item["cadir"], item["cred"])
    print(json.dumps({"key": item["key"], "facts": facts}), flush=True)
"""


@dataclass(frozen=True)
class DiracVerdict:
    """DIRAC 8.0.74's facts about one file against one CA directory (see DIRAC_ORACLE)."""

    facts: dict

    @property
    def loaded(self) -> bool:
        return bool(self.facts.get("load"))

    @property
    def tls(self) -> dict:
        return self.facts.get("tls", {})

    def describe(self) -> str:
        f = self.facts
        if not f.get("load"):
            return f"X509Chain cannot load it: {f.get('message')}"
        parts = [f"isProxy={f['isProxy']}", f"hasExpired={f['expired']}",
                 f"signature steps={f['steps']}"]
        if "validProxy" in f:
            parts.append(f"isValidProxy={f['validProxy'] or f['validMessage']}")
        t = self.tls
        parts.append("DISET TLS: accepted" + (f" (peer isProxy={t['peer']['isProxy']})"
                                              if t.get("peer") else "")
                     if t.get("accepted") else
                     f"DISET TLS: refused, verify code {t.get('verify')} ({t.get('error')})")
        return ", ".join(parts)


def dirac_verdicts(items: list[dict], files: dict[str, Path], workdir: Path
                   ) -> dict[str, DiracVerdict]:
    """All items through DIRAC in one process of its venv; {item key: verdict}."""
    python = DIRAC_HOME / "bin" / "python"
    assert python.is_file(), f"real DIRAC 8.0.74 missing at {DIRAC_HOME}; run .ci/install-dirac"
    root = workdir / "dirac-root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "DIRAC_ROOT_PATH": str(root), "LANG": "C.UTF-8"}
    request = json.dumps({"host_cert": str(files["host.cert"]),
                          "host_key": str(files["host.key"]), "items": items})
    proc = subprocess.run([str(python), "-c", DIRAC_ORACLE], input=request, env=env,
                          capture_output=True, text=True, timeout=600, cwd=workdir)
    out: dict[str, DiracVerdict] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            out[item["key"]] = DiracVerdict(item["facts"])
    missing = [i["key"] for i in items if i["key"] not in out]
    assert proc.returncode == 0 and not missing, (
        f"DIRAC's oracle stopped (exit {proc.returncode}) before {missing[:3]}: "
        f"{proc.stderr[-2000:]}")
    return out


# ------------------------------------------------------------------------- running it all


@dataclass
class Verdicts:
    """Everything known about one setup."""

    spec: Spec
    openssl_cert: OpenSSLVerdict
    openssl_proxy: OpenSSLVerdict
    dirac_cert: DiracVerdict
    dirac_proxy: DiracVerdict
    cases: dict[str, Case]
    rc: Optional[int]
    timed_out: bool
    stdout: str
    #: certificates in the proxy file before the user certificate (the proxies)
    proxy_depth: int


@dataclass
class Corpus:
    specs: list[Spec]
    verdicts: dict[str, Verdicts]
    material: Material
    seconds: dict[str, float] = field(default_factory=dict)


def _proxy_count(data: bytes) -> int:
    return data.count(b"-----BEGIN CERTIFICATE-----") - 1


def home_for(material: Material, spec: Spec, base: Path) -> tuple[Path, dict[str, str]]:
    """The setup's home (~/.globus, a proxy file beside it) and the variables of its shell."""
    home = base / "home"
    globus = home / ".globus"
    globus.mkdir(parents=True)
    os.chmod(globus, 0o700)
    user = material.users[spec.user]
    _write(globus / "usercert.pem", user.cert_pem())
    keyfile = material.files["other.key" if spec.home_key == "other" else f"{spec.user}.key"]
    _write(globus / "userkey.pem", keyfile.read_bytes(), 0o600)
    proxy = _write(base / "x509up", material.proxies[(spec.user, spec.proxy)], 0o600)
    env = {"X509_USER_PROXY": str(proxy), "X509_CERT_DIR": str(material.trust[spec.trust]),
           # No host CA directory may leak in (runner.run_checks does the same).
           "MU3E_SYSTEM_CERT_DIR": str(base / "no-system-cert-dir"),
           # Only our plugin: the hermetic command's set minus the HTML report.
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    required = material.required(spec)
    if required:
        env["MU3E_REQUIRED_CA"] = required
    return home, env


def run_corpus(root: Path, specs: list[Spec]) -> Corpus:
    """Build everything, ask openssl, DIRAC and the diagnosis about every setup."""
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    material = Material(root)
    material.build_trust()
    material.build_users()
    seconds["certificates and CA directories"] = time.monotonic() - t0
    t = time.monotonic()
    material.build_proxies(specs)
    seconds["real-tool proxies"] = time.monotonic() - t

    # DIRAC reads every distinct (file, CA directory) pair once, in one process, while openssl
    # runs on the same pairs two at a time.
    t = time.monotonic()
    items: dict[str, dict] = {}
    for s in specs:
        cadir = str(material.trust[s.trust])
        items.setdefault(f"cert|{s.user}|{s.trust}", {
            "kind": "cert", "file": str(material.files[f"{s.user}.cert"]),
            "cred": str(material.files[f"{s.user}.cred"]), "cadir": cadir})
        proxy = str(material.files[f"{s.user}.{s.proxy}"])
        items.setdefault(f"proxy|{s.user}.{s.proxy}|{s.trust}", {
            "kind": "proxy", "file": proxy, "cred": proxy, "cadir": cadir})
    wire = [{"key": k, **v} for k, v in items.items()]
    with ThreadPoolExecutor(max_workers=3) as pool:
        dirac_future = pool.submit(dirac_verdicts, wire, material.files, root)
        openssl = dict(zip(items, pool.map(
            lambda kv: openssl_verify(Path(kv[1]["cadir"]), Path(kv[1]["file"]),
                                      kv[1]["kind"] == "proxy"), items.items())))
        dirac = dirac_future.result()
    seconds["oracles (openssl, DIRAC)"] = time.monotonic() - t

    t = time.monotonic()
    homes = root / "homes"
    unused = [x for name in UNUSED_BUILTINS for x in ("-p", f"no:{name}")]
    jobs = []
    for n, s in enumerate(specs):
        home, env = home_for(material, s, homes / f"{n:03d}")
        jobs.append(Job(f"{n:03d}", home, ["-p", "mu3e_checks.plugin", *unused,
                                           "--mu3e-select", SELECT], env,
                        timeout=RUN_TIMEOUT, json_report=False))
    pool_dir = root / "pool"
    outcomes = DiagnosisPool(pool_dir, width=2).run(jobs, deadline=900)
    seconds["diagnoses"] = time.monotonic() - t

    verdicts = {}
    for job, s in zip(jobs, specs):
        o = outcomes[job.id]
        junit = pool_dir / job.id / "junit.xml"
        verdicts[s.id] = Verdicts(
            s, openssl[f"cert|{s.user}|{s.trust}"],
            openssl[f"proxy|{s.user}.{s.proxy}|{s.trust}"],
            dirac[f"cert|{s.user}|{s.trust}"], dirac[f"proxy|{s.user}.{s.proxy}|{s.trust}"],
            parse_junit(junit) if junit.is_file() else {}, o.rc, o.timed_out,
            o.stdout + o.stderr, _proxy_count(material.proxies[(s.user, s.proxy)]))
    return Corpus(specs, verdicts, material, seconds)
