"""The trust store: which CA directory DIRAC will use, and what is in it.

DIRAC's own lookup returns ``$X509_CERT_DIR`` even when it does not exist, and diracosrc
silently prefers a populated ``/etc/grid-security/certificates`` over the DIRACOS one, so the
first thing a user needs to know is which directory is actually in play, and why.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from mu3e_checks import commands
from mu3e_checks.knowledge.credentials import q
from mu3e_checks.knowledge.files import Unreadable, describe_os_error, read_bytes
from mu3e_checks.knowledge.pki import (
    PemError,
    dn_slash,
    fmt_time,
    is_ca,
    load_certificate_any,
    same_dn,
    utcnow,
    validity,
)
from mu3e_checks.remedy import Remedy, join

SYSTEM_CERT_DIR = Path("/etc/grid-security/certificates")


def diracos_cert_dir(diracos: Path) -> Path:
    """Where the guide installs the CAs: ``<DIRACOS>/etc/grid-security/certificates``."""
    return diracos / "etc" / "grid-security" / "certificates"


def non_empty_dir(path: Path) -> bool:
    """True for a directory with at least one entry; never raises."""
    try:
        with os.scandir(path) as it:
            return any(True for _ in it)
    except OSError:
        return False


@dataclass(frozen=True)
class TrustDirChoice:
    """The CA directory DIRAC will use and the reason, as the report states it."""

    path: Path
    source: str  # "--mu3e-trust-dir" | "$X509_CERT_DIR" | "DIRACOS" | "system"
    exported: Optional[str]  # the value of $X509_CERT_DIR, or None when it is not set

    def describe(self) -> str:
        why = {
            "--mu3e-trust-dir": "given with --mu3e-trust-dir",
            "$X509_CERT_DIR": "from $X509_CERT_DIR",
            "DIRACOS": "DIRACOS default (X509_CERT_DIR is not set)",
            "system": "system directory (X509_CERT_DIR is not set)",
        }[self.source]
        return f"{self.path} ({why})"


def resolve_trust_dir(environ: Mapping[str, str], diracos: Path,
                      override: Optional[Path] = None,
                      system_dir: Path = SYSTEM_CERT_DIR) -> TrustDirChoice:
    """The CA directory in play, in DIRAC's order.

    ``$X509_CERT_DIR`` wins even when it is missing or empty (DIRAC returns it unchecked); without
    it DIRAC uses ``<rootPath>/etc/grid-security/certificates`` (rootPath is the DIRACOS prefix),
    then ``/etc/grid-security/certificates``.
    """
    exported = environ.get("X509_CERT_DIR") or None
    if override is not None:
        return TrustDirChoice(Path(override), "--mu3e-trust-dir", exported)
    if exported:
        return TrustDirChoice(Path(exported), "$X509_CERT_DIR", exported)
    own = diracos_cert_dir(diracos)
    if non_empty_dir(own) or not non_empty_dir(system_dir):
        return TrustDirChoice(own, "DIRACOS", None)
    return TrustDirChoice(system_dir, "system", None)


# ----------------------------------------------------------------------------- chain validation

#: OpenSSL X509_V_ERR codes the verdicts name (include/openssl/x509_vfy.h).
X509_V_OK = 0
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2
X509_V_ERR_UNABLE_TO_GET_CRL = 3
X509_V_ERR_CERT_SIGNATURE_FAILURE = 7
X509_V_ERR_CRL_SIGNATURE_FAILURE = 8
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_CRL_NOT_YET_VALID = 11
X509_V_ERR_CRL_HAS_EXPIRED = 12
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
X509_V_ERR_CERT_REVOKED = 23
X509_V_ERR_INVALID_CA = 24
X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER = 33
X509_V_ERR_KEYUSAGE_NO_CRL_SIGN = 35
X509_V_ERR_INVALID_NON_CA = 37
X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED = 40

_MISSING_ISSUER = (X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                   X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
_CRL_OF_ISSUER = (X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_CRL_SIGNATURE_FAILURE,
                  X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_CRL_HAS_EXPIRED,
                  X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN)


@dataclass(frozen=True)
class ChainVerdict:
    """What OpenSSL said about a certificate chain, in words a physicist can act on.

    ``code`` is OpenSSL's X509_V_ERR number (0 when ok), the same one ``openssl verify`` prints
    as ``error N at depth D``; ``failing_dn`` is the certificate OpenSSL was looking at when it
    stopped; ``lookup_name`` is the file in the CA directory that OpenSSL looked for (or would
    need): ``<hash>.0`` for a missing issuer, ``<hash>.r0`` for a CRL problem.
    """

    ok: bool
    code: int
    reason: str
    failing_dn: Optional[str] = None
    missing_issuer_dn: Optional[str] = None
    lookup_name: Optional[str] = None
    depth: Optional[int] = None
    openssl_message: str = ""
    chain: tuple[str, ...] = ()  # the verified chain, leaf first (slash DNs), when ok


@functools.lru_cache(maxsize=4096)
def subject_hash(cert: x509.Certificate, *, issuer: bool = False) -> str:
    """OpenSSL's subject-name hash of ``cert`` (of its issuer with ``issuer=True``).

    This is ``X509_NAME_hash``, the name ``c_rehash``/``openssl rehash`` give CA files
    (``<hash>.0``) and CRLs (``<hash>.r0``), and the name OpenSSL looks a CA up under.
    Cached: a scan asks for the same CA's hash more than once.
    """
    import warnings

    from OpenSSL import crypto

    x = crypto.X509.from_cryptography(cert)
    if not issuer:
        return f"{x.subject_name_hash() & 0xffffffff:08x}"
    with warnings.catch_warnings():  # pyOpenSSL deprecates X509Name, but cryptography has
        warnings.simplefilter("ignore", DeprecationWarning)  # no X509_NAME_hash of its own
        return f"{x.get_issuer().hash() & 0xffffffff:08x}"


def subject_hash_old(cert: x509.Certificate) -> str:
    """The pre-OpenSSL-1.0 (MD5) subject hash; IGTF ships a link under this name too."""
    import hashlib
    import struct

    digest = hashlib.md5(cert.subject.public_bytes(), usedforsecurity=False).digest()
    return f"{struct.unpack('<I', digest[:4])[0]:08x}"


def _explain(code: int, failing: Optional[str], issuer: Optional[str], lookup: Optional[str],
             ca_dir: Path, openssl_message: str, failing_is_ca: bool) -> str:
    who = failing or "the certificate"
    if code in _MISSING_ISSUER:
        if lookup and os.path.lexists(ca_dir / lookup):
            return (f"the CA that issued {who} ({issuer}) is not in {ca_dir}: {lookup} has "
                    "that name but is a different CA certificate (another key), so the chain "
                    "cannot be built")
        return (f"the CA that issued {who} ({issuer}) is not in {ca_dir}: OpenSSL looked for "
                f"{lookup} and did not find it, so the chain cannot be built")
    if code == X509_V_ERR_UNABLE_TO_GET_CRL:
        return (f"there is no revocation list (CRL) of {issuer} in {ca_dir} ({lookup} is "
                f"missing), so OpenSSL cannot tell whether {who} is revoked")
    if code == X509_V_ERR_CRL_HAS_EXPIRED:
        return (f"the revocation list (CRL) of {issuer} in {ca_dir} ({lookup}) has expired, "
                f"so grid services and VOMS reject {who} and every other certificate it covers")
    if code == X509_V_ERR_CRL_NOT_YET_VALID:
        return (f"the revocation list (CRL) of {issuer} ({lookup}) is not valid yet, so {who} "
                "cannot be checked; check this machine's clock (date -u)")
    if code in (X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER,
                X509_V_ERR_KEYUSAGE_NO_CRL_SIGN):
        return (f"the revocation list (CRL) of {issuer} in {ca_dir} ({lookup}) is not signed "
                f"by that CA (it is damaged or belongs to another CA), so {who} cannot be "
                "checked")
    if code == X509_V_ERR_CERT_REVOKED:
        if failing_is_ca:
            return f"the CA certificate {who} has been revoked by {issuer}"
        return (f"{who} has been revoked by its CA ({issuer}); it can no longer be used "
                "on the grid")
    if code == X509_V_ERR_CERT_HAS_EXPIRED:
        return f"{who} has expired"
    if code == X509_V_ERR_CERT_NOT_YET_VALID:
        return f"{who} is not valid yet; check this machine's clock (date -u)"
    if code == X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return (f"the signature on {who} does not match the CA certificate {issuer} found in "
                f"{ca_dir} ({lookup}); that file holds a different CA with the same name")
    if code in (X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN):
        return f"{who} is a self-signed certificate that is not in {ca_dir}"
    if code == X509_V_ERR_INVALID_CA:
        return f"{who} is used as a CA but is not a CA certificate"
    if code == X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED:
        return f"{who} is a proxy certificate, which is not accepted here"
    return f"OpenSSL rejects {who}: {openssl_message}"


def verify_chain(leaf: x509.Certificate, untrusted: Sequence[x509.Certificate], ca_dir: Path,
                 *, crl_check: bool = True, allow_proxy: bool = False,
                 at: Optional[_dt.datetime] = None) -> ChainVerdict:
    """Validate ``leaf`` the way ``openssl verify -CApath ca_dir -crl_check_all`` does.

    OpenSSL itself does the work (pyOpenSSL's ``X509Store`` over the hashed directory, loaded
    lazily by subject hash exactly like ``-CApath``), so the verdict is the one grid services,
    VOMS and DIRAC's M2Crypto will reach; this function only turns OpenSSL's error into a
    sentence naming the certificate and the file involved.  ``untrusted`` are the extra
    certificates sent along (the rest of a proxy chain, or intermediates from usercert.pem).
    With ``crl_check`` every certificate in the chain needs a current CRL from its issuer
    (``-crl_check_all``); ``allow_proxy`` accepts RFC 3820 proxies (``-allow_proxy_certs``);
    ``at`` verifies at another time (``-attime``).
    """
    from OpenSSL import crypto


    store = crypto.X509Store()
    store.load_locations(None, str(ca_dir))
    flags = 0
    if crl_check:
        flags |= crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL
    if allow_proxy:
        flags |= crypto.X509StoreFlags.ALLOW_PROXY_CERTS
    if flags:
        store.set_flags(flags)
    if at is not None:
        store.set_time(at.astimezone(_dt.timezone.utc).replace(tzinfo=None)
                       if at.tzinfo else at)
    ctx = crypto.X509StoreContext(store, crypto.X509.from_cryptography(leaf),
                                  [crypto.X509.from_cryptography(c) for c in untrusted])
    leaf_dn = dn_slash(leaf.subject)
    try:
        verified = ctx.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        code, depth, message = (list(exc.errors) + [0, None, ""])[:3]
        failing = exc.certificate.to_cryptography() if exc.certificate is not None else leaf
        failing_dn = dn_slash(failing.subject)
        issuer_dn = dn_slash(failing.issuer)
        lookup = None
        missing = None
        if code in _MISSING_ISSUER:
            missing = issuer_dn
            lookup = f"{subject_hash(failing, issuer=True)}.0"
        elif code in _CRL_OF_ISSUER:
            lookup = f"{subject_hash(failing, issuer=True)}.r0"
        elif code == X509_V_ERR_CERT_SIGNATURE_FAILURE:
            lookup = f"{subject_hash(failing, issuer=True)}.0"
        reason = _explain(int(code), failing_dn, issuer_dn, lookup, ca_dir, str(message),
                          is_ca(failing))
        return ChainVerdict(False, int(code), reason, failing_dn, missing, lookup,
                            depth if isinstance(depth, int) else None, str(message))
    except crypto.Error as exc:  # OpenSSL could not even start (memory, broken store)
        return ChainVerdict(False, -1, f"OpenSSL could not verify {leaf_dn}: {exc}",
                            leaf_dn, openssl_message=str(exc))
    chain = tuple(dn_slash(c.to_cryptography().subject) for c in verified)
    return ChainVerdict(True, X509_V_OK, f"{leaf_dn} verifies against {ca_dir}"
                        + (" with current CRLs" if crl_check else ""), chain=chain)


# ----------------------------------------------------------------------------- where CAs come from

#: IGTF aliases (the ``ca_<alias>-<version>.tar.gz`` names) of the CAs Mu3e users meet.
CERN_GRID_CA = "/DC=ch/DC=cern/CN=CERN Grid Certification Authority"
CERN_ROOT_CA_2 = "/C=ch/O=CERN/CN=CERN Root Certification Authority 2"
KNOWN_BUNDLES: dict[str, str] = {
    "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B": "UKeScienceCA-2B",
    "/C=UK/O=eScienceRoot/OU=Authority/CN=UK e-Science Root": "UKeScienceRoot-2007",
    CERN_ROOT_CA_2: "CERN-Root-2",
    CERN_GRID_CA: "CERN-GridCA",
}


def bundle_fix(ca_dir: Path, dns: Sequence[str], aliases: Mapping[str, str]) -> Remedy:
    """Install commands for the CAs named by ``dns``; unknown ones get a pointer to the index."""
    known = [aliases.get(dn) or KNOWN_BUNDLES.get(dn) for dn in dns]
    found = list(dict.fromkeys(a for a in known if a))
    unknown = [commands.find_ca_bundle(dn, ca_dir) for dn, a in zip(dns, known) if not a]
    return join(commands.install_ca_bundles(ca_dir, found), *unknown)


def guide_bundles(required: Sequence[str]) -> list[str]:
    """The IGTF aliases of the required CAs (the guide's UK pair when none is known)."""
    aliases = [KNOWN_BUNDLES[dn] for dn in required if dn in KNOWN_BUNDLES]
    return aliases or list(KNOWN_BUNDLES.values())[:2]


# ----------------------------------------------------------------------------- the directory


def ca_dir_problem(choice: TrustDirChoice) -> Optional[str]:
    """Why the chosen CA directory cannot serve as one, in a sentence, or None.

    DIRAC returns ``$X509_CERT_DIR`` unchecked, so a missing or empty directory only shows up
    later as "No valid CA dir found" or a TLS failure; this says it up front.
    """
    path = choice.path
    where = (f"X509_CERT_DIR={choice.exported}" if choice.source == "$X509_CERT_DIR"
             else f"the CA directory {path} ({choice.describe().split(' (', 1)[1]}")
    try:
        with os.scandir(path) as it:
            names = [e.name for e in it]
    except FileNotFoundError:
        return f"{where} does not exist"
    except NotADirectoryError:
        return f"{where} is a file, not a directory"
    except PermissionError:
        return f"{where} cannot be read: permission denied"
    except OSError as exc:

        return describe_os_error(path, exc)
    if not names:
        return f"{where} is empty: no CA certificates are installed there"
    if not any(CA_FILE_RE.match(n) for n in names):
        return (f"{where} holds {len(names)} files but no CA certificate named <hash>.0, "
                "which is the only name OpenSSL and DIRAC look for")
    return None


def has_ca_files(path: Path) -> bool:
    """True when ``path`` holds at least one ``<hash>.N`` file; never raises."""
    try:
        with os.scandir(path) as it:
            return any(CA_FILE_RE.match(e.name) for e in it)
    except OSError:
        return False


def two_dirs_problem(environ: Mapping[str, str], diracos: Path,
                     system_dir: Path = SYSTEM_CERT_DIR) -> Optional[str]:
    """When diracosrc would switch to the system CA dir although DIRACOS has its own, say so.

    diracosrc keeps ``$X509_CERT_DIR`` only if it is a non-empty directory; otherwise it prefers
    a non-empty ``/etc/grid-security/certificates`` over ``$DIRACOS/etc/grid-security/
    certificates``.  With both populated, shells that source diracosrc without exporting
    X509_CERT_DIR first use the system CAs, others the DIRACOS ones: DIRAC tools then disagree
    (e.g. CRLs fetched into one directory, "CRL has expired" read from the other).
    """
    own = diracos_cert_dir(diracos)
    if not (has_ca_files(own) and has_ca_files(system_dir)):
        return None
    try:
        if os.path.samefile(own, system_dir):
            return None
    except OSError:
        pass
    exported = environ.get("X509_CERT_DIR") or ""
    if exported and non_empty_dir(Path(exported)) and not _same(Path(exported), system_dir):
        now = f"this shell exports X509_CERT_DIR={exported}, but"
    else:
        now = "in this shell DIRAC already uses the system directory, and"
    return (f"both {system_dir} and {own} hold CA certificates: {now} any shell that sources "
            f"diracosrc without X509_CERT_DIR exported first switches to {system_dir}, so "
            "DIRAC tools disagree about which CAs and CRLs they trust")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


# ----------------------------------------------------------------------------- the inventory

CA_FILE_RE = re.compile(r"^([0-9a-f]{8})\.(\d+)$")
CRL_FILE_RE = re.compile(r"^([0-9a-f]{8})\.r(\d+)$")


@dataclass(frozen=True)
class CA:
    """One distinct CA certificate in the directory, with every file name that holds it."""

    cert: x509.Certificate
    subject: str  # slash form
    hash: str  # OpenSSL's subject hash: what OpenSSL looks the CA up under
    hash_old: str
    names: tuple[str, ...]
    fingerprint: bytes
    alias: Optional[str] = None  # IGTF alias from a .info file, when there is one

    @property
    def crl_name(self) -> str:
        return f"{self.hash}.r0"

    def describe(self) -> str:
        return f"{self.subject} ({', '.join(self.names)})"


@dataclass(frozen=True)
class FileProblem:
    """A CA file OpenSSL cannot use, the sentence saying why, and the command that fixes it."""

    name: str
    message: str
    fix: str = ""
    harmless: bool = False  # the same CA is also installed under a name OpenSSL finds


@dataclass(frozen=True)
class CRLFile:
    """A ``<hash>.r0`` file: parsed, and judged against the CA it is named after."""

    name: str
    crl: Optional[x509.CertificateRevocationList] = None
    encoding: str = ""  # "PEM" | "DER"
    problem: str = ""  # why OpenSSL cannot use it ("" when fine)
    ca: Optional[CA] = None  # the CA whose subject hash names the file and who signed it
    next_update: Optional[_dt.datetime] = None
    last_update: Optional[_dt.datetime] = None
    fix: str = ""


@dataclass
class TrustStore:
    """Everything in one CA directory, read once per session.

    CA files are parsed once per target (IGTF links both hash names to one ``.pem``); CRLs
    are parsed and their signature checked once, without walking their entries, so a
    100k-entry CRL costs one signature check (see benchmarks/bench_trust.py).
    """

    path: Path
    cas: list[CA] = field(default_factory=list)
    bad_files: list[FileProblem] = field(default_factory=list)
    crls: dict[str, CRLFile] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # subject DN -> IGTF alias
    file_count: int = 0

    def with_subject(self, dn: str) -> list[CA]:

        return [ca for ca in self.cas if same_dn(ca.cert.subject, dn)]

    def issuers_of(self, cert: x509.Certificate) -> list[CA]:
        """CAs in the directory whose name and key issued ``cert``."""
        return [ca for ca in self.cas if ca.cert.subject == cert.issuer
                and signed_by(cert, ca.cert)]

    def read_crls(self) -> list[CRLFile]:
        """The CRL files OpenSSL reads: not the copies under a CA's old-style hash name.

        fetch-crl writes both names; judging both would count each CA twice.
        """
        new = {ca.hash for ca in self.cas}
        old_only = {ca.hash_old for ca in self.cas} - new
        return [c for c in self.crls.values() if c.name.split(".")[0] not in old_only]

    def crl_of(self, ca: CA) -> Optional[CRLFile]:
        """The CRL OpenSSL would use for ``ca``: ``<subject hash>.r0``."""
        return self.crls.get(ca.crl_name)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key made ``cert``'s signature (names must match too)."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _read_info(path: Path) -> tuple[Optional[str], Optional[str]]:
    """(subjectdn, alias) from an IGTF ``.info`` file; (None, None) when unreadable."""
    dn = alias = None
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None, None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip().strip('"')
        if key == "subjectdn":
            dn = value
        elif key == "alias":
            alias = value
    return dn, alias


def _problem_for_unreadable(entry: os.DirEntry, exc_text: str) -> str:
    try:
        if entry.is_symlink() and not os.path.exists(entry.path):
            return (f"{entry.name} is a broken symbolic link (to {os.readlink(entry.path)}), "
                    "so OpenSSL cannot read it")
    except OSError:
        pass
    return exc_text


def scan_trust_dir(path: Path) -> TrustStore:
    """Read every ``<hash>.N`` CA file and ``<hash>.rN`` CRL in ``path``; never raises.

    Files that cannot be used become :class:`FileProblem` entries (broken symlink, symlink
    loop, unreadable, not a certificate, DER where OpenSSL reads only PEM, name that is neither
    the new nor the old OpenSSL subject hash); usable ones become :class:`CA` entries.
    """
    import warnings

    with warnings.catch_warnings():  # some IGTF CAs have serials cryptography frowns upon
        warnings.simplefilter("ignore")
        return _scan(Path(path))


def _scan(path: Path) -> TrustStore:

    store = TrustStore(Path(path))
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return store
    store.file_count = len(entries)
    taken = {e.name for e in entries}
    mismatched: list[tuple[str, x509.Certificate, bytes, str, str]] = []
    parsed: dict[str, tuple[Optional[x509.Certificate], str, bool]] = {}
    by_fp: dict[bytes, list[str]] = {}
    certs: dict[bytes, x509.Certificate] = {}
    crl_entries: list[os.DirEntry] = []
    for entry in entries:
        if entry.name.endswith(".info"):
            dn, alias = _read_info(Path(entry.path))
            if dn and alias:
                store.aliases[dn] = alias
            continue
        if CRL_FILE_RE.match(entry.name):
            crl_entries.append(entry)
            continue
        m = CA_FILE_RE.match(entry.name)
        if not m:
            continue
        real = os.path.realpath(entry.path)
        if real not in parsed:
            try:
                data = read_bytes(Path(entry.path))
                is_pem = b"-----BEGIN" in data
                parsed[real] = (load_certificate_any(data, entry.name), "", is_pem)
            except Unreadable as exc:
                parsed[real] = (None, _problem_for_unreadable(entry, str(exc)), False)
            except PemError as exc:
                parsed[real] = (None, f"{exc}; OpenSSL skips it", False)
        cert, problem, is_pem = parsed[real]
        target = q(Path(path) / entry.name)
        if cert is None:
            store.bad_files.append(FileProblem(
                entry.name, problem.replace(real, entry.name),
                f"rm {target}   # then install that CA's bundle again (see CA-004)"))
            continue
        if not is_pem:
            store.bad_files.append(FileProblem(
                entry.name, f"{entry.name} is a DER (binary) certificate; OpenSSL reads only "
                "PEM files in a CA directory, so it never finds this CA",
                f"openssl x509 -inform der -in {target} -out {target}.pem && "
                f"mv {target}.pem {target}"))
            continue
        new, old = subject_hash(cert), subject_hash_old(cert)
        fp = cert.fingerprint(hashes.SHA256())
        if m.group(1) not in (new, old):
            mismatched.append((entry.name, cert, fp, new, old))
            continue
        certs.setdefault(fp, cert)
        by_fp.setdefault(fp, []).append(entry.name)
    for name, cert, fp, new, old in mismatched:
        target = q(Path(path) / name)
        dupe = fp in by_fp
        slot = 0
        while f"{new}.{slot}" in taken:
            slot += 1
        taken.add(f"{new}.{slot}")
        store.bad_files.append(FileProblem(
            name, f"{name} holds {dn_slash(cert.subject)}, whose subject hash is {new} "
            f"(old-style {old}); OpenSSL looks it up as {new}.0 and never opens {name}"
            + (f" (the same CA is also installed as {', '.join(by_fp[fp])})" if dupe else ""),
            f"rm {target}" if dupe else f"mv {target} {q(Path(path) / f'{new}.{slot}')}",
            harmless=dupe))
    for fp, names in by_fp.items():
        cert = certs[fp]
        subject = dn_slash(cert.subject)
        store.cas.append(CA(cert, subject, subject_hash(cert), subject_hash_old(cert),
                            tuple(names), fp, store.aliases.get(subject)))
    by_hash: dict[str, list[CA]] = {}
    for ca in store.cas:
        by_hash.setdefault(ca.hash, []).append(ca)
        if ca.hash_old != ca.hash:
            by_hash.setdefault(ca.hash_old, []).append(ca)
    old_only = {ca.hash_old for ca in store.cas} - {ca.hash for ca in store.cas}
    for entry in crl_entries:
        if entry.name.split(".")[0] in old_only:  # fetch-crl's copy OpenSSL never reads
            store.crls[entry.name] = CRLFile(entry.name)
            continue
        store.crls[entry.name] = _read_crl(entry, by_hash)
    return store


def _pem_crl_body(data: bytes) -> Optional[bytes]:
    """The base64 text of the first PEM CRL block (plain ``find``: a regex is slow on 10 MB)."""
    begin, end = b"-----BEGIN X509 CRL-----", b"-----END X509 CRL-----"
    start = data.find(begin)
    stop = data.find(end, start + len(begin)) if start >= 0 else -1
    return data[start + len(begin):stop] if stop >= 0 else None


def _der_tbs(der: bytes) -> Optional[bytes]:
    """The tbsCertList bytes of a DER CRL, sliced out as they are (None if malformed).

    ``CertificateList ::= SEQUENCE { tbsCertList SEQUENCE, signatureAlgorithm, signature }``.
    Slicing costs nothing; cryptography's ``is_signature_valid`` re-encodes every revoked
    entry first, which is most of the time spent on a 100k-entry CRL.
    """
    def header(pos: int) -> Optional[tuple[int, int]]:
        if pos + 2 > len(der) or der[pos] != 0x30:
            return None
        first = der[pos + 1]
        if first < 0x80:
            return pos + 2, first
        n = first & 0x7F
        if not 0 < n <= 4 or pos + 2 + n > len(der):
            return None
        return pos + 2 + n, int.from_bytes(der[pos + 2:pos + 2 + n], "big")

    outer = header(0)
    inner = header(outer[0]) if outer else None
    if not outer or not inner or inner[0] + inner[1] > len(der):
        return None
    return der[outer[0]:inner[0] + inner[1]]


def crl_signed_by(crl: x509.CertificateRevocationList, der: bytes,
                  issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``crl`` (``der`` is the CRL's own DER encoding)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    pub = issuer.public_key()
    tbs = _der_tbs(der)
    try:
        if tbs is not None and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(crl.signature, tbs, crl.signature_algorithm_parameters,  # type: ignore
                       crl.signature_hash_algorithm)  # type: ignore[arg-type]
        elif tbs is not None and isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(crl.signature, tbs, crl.signature_algorithm_parameters)  # type: ignore
        else:
            return crl.is_signature_valid(pub)  # type: ignore[arg-type]
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        return False
    return True


def _read_crl(entry: os.DirEntry, by_hash: Mapping[str, list[CA]]) -> CRLFile:
    """Parse one CRL file (PEM or DER) and check it against the CA its name points at."""
    name = entry.name
    try:
        data = read_bytes(Path(entry.path))
    except Unreadable as exc:
        return CRLFile(name, problem=_problem_for_unreadable(entry, str(exc)))
    try:
        if b"-----BEGIN" in data:
            body = _pem_crl_body(data)
            if body is None:
                if b"-----BEGIN X509 CRL-----" in data:
                    raise ValueError("truncated")
                return CRLFile(name, problem=f"{name} is a PEM file but holds no X509 CRL")
            der, enc = base64.b64decode(b"".join(body.split()), validate=True), "PEM"
        else:
            der, enc = data, "DER"
        crl = x509.load_der_x509_crl(der)
    except (ValueError, binascii.Error):
        what = "empty" if not data.strip() else "damaged or truncated"
        return CRLFile(name, problem=f"{name} is {what}: it is not a readable CRL (PEM or DER)")
    nxt, last = crl.next_update_utc, crl.last_update_utc
    cas = by_hash.get(name.split(".")[0], [])
    named = [ca for ca in cas if ca.cert.subject == crl.issuer]
    if not named:
        owner = cas[0].subject if cas else "no CA in this directory"
        return CRLFile(name, crl, enc, f"{name} is the CRL of {dn_slash(crl.issuer)}, but its "
                       f"name belongs to {owner}", None, nxt, last)
    ca = named[0]
    if not crl_signed_by(crl, der, ca.cert):
        return CRLFile(name, crl, enc, f"{name} claims to be the CRL of {ca.subject} but is "
                       "not signed by that CA's key (damaged, or from an impostor)", ca, nxt,
                       last)
    if enc == "DER":
        target = q(entry.path)
        return CRLFile(name, crl, enc, f"{name} (the CRL of {ca.subject}) is in DER (binary) "
                       "form; OpenSSL reads only PEM CRLs in a CA directory, so it never finds "
                       "it", ca, nxt, last,
                       f"openssl crl -inform der -in {target} -out {target}.pem && "
                       f"mv {target}.pem {target}")
    return CRLFile(name, crl, enc, "", ca, nxt, last)


# ----------------------------------------------------------------------------- judgments


@dataclass(frozen=True)
class UserChain:
    """The CAs above the user's certificate that the directory holds, nearest first."""

    cas: tuple[CA, ...] = ()
    missing_dn: Optional[str] = None  # the first issuer not found (by name and key)
    cern: bool = False  # the user certificate is CERN-issued


def user_chain(store: TrustStore, cert: Optional[x509.Certificate]) -> UserChain:
    """Walk from the user's certificate to a self-signed root through the directory's CAs."""

    if cert is None:
        return UserChain()
    cern = same_dn(cert.issuer, CERN_GRID_CA)
    out: list[CA] = []
    current = cert
    for _ in range(16):  # chains are 1-3 CAs deep; a loop of cross-signed CAs stops here
        found = store.issuers_of(current)
        if not found:
            return UserChain(tuple(out), dn_slash(current.issuer), cern)
        ca = found[0]
        if ca in out:
            break
        out.append(ca)
        if ca.cert.subject == ca.cert.issuer:
            break
        current = ca.cert
    return UserChain(tuple(out), None, cern)


def required_dns(configured: Sequence[str], chain: UserChain) -> list[str]:
    """The configured CAs, plus the two CERN CAs when the user's certificate is CERN-issued."""
    dns = list(configured)
    if chain.cern:
        dns += [dn for dn in (CERN_ROOT_CA_2, CERN_GRID_CA) if dn not in dns]
    return dns


@dataclass(frozen=True)
class RequiredCA:
    dn: str
    found: Optional[CA]
    problem: str = ""  # "" when present and recognised


def check_required(store: TrustStore, dns: Sequence[str]) -> list[RequiredCA]:
    """Each required CA, recognised by subject DN and by key, never by file name.

    A root must verify its own signature; an intermediate must be signed by a CA in the
    directory with its issuer's name (when that issuer is itself missing, the issuer's own
    entry reports it).  A file with the right DN but a foreign key is reported, not accepted.
    """
    out = []
    for dn in dns:
        candidates = store.with_subject(dn)
        if not candidates:
            out.append(RequiredCA(dn, None, f"{dn} is not installed in {store.path}"))
            continue
        good = None
        for ca in candidates:
            issuers = ([ca] if ca.cert.subject == ca.cert.issuer
                       else [c for c in store.cas if c.cert.subject == ca.cert.issuer])
            if not issuers or any(signed_by(ca.cert, i.cert) for i in issuers):
                good = ca
                break
        if good is None:
            names = ", ".join(n for c in candidates for n in c.names)
            out.append(RequiredCA(dn, candidates[0], f"{names} carries the name {dn} but its "
                                  "signature does not verify with that CA's key: it is not "
                                  "the real CA certificate (damaged or replaced)"))
        else:
            out.append(RequiredCA(dn, good))
    return out


def focus(store: TrustStore, chain: UserChain, required: Sequence[str]) -> dict[bytes, str]:
    """Fingerprints of the CAs whose problems are failures, with why they matter."""
    why: dict[bytes, str] = {}
    for ca in chain.cas:
        why[ca.fingerprint] = "in your certificate's chain"
    for dn in required:
        for ca in store.with_subject(dn):
            why.setdefault(ca.fingerprint, "a required CA")
    return why


def expired_cas(store: TrustStore, now: Optional[_dt.datetime] = None) -> list[tuple[CA, str]]:
    """(CA, sentence) for every CA certificate outside its validity window."""

    out = []
    for ca in store.cas:
        v = validity(ca.cert, now)
        if v.state == "expired":
            out.append((ca, f"{ca.subject} expired on {fmt_time(v.not_after)}"))
        elif v.state == "not-yet-valid":
            out.append((ca, f"{ca.subject} is valid only from {fmt_time(v.not_before)}"))
    return out


def missing_crls(store: TrustStore) -> list[CA]:
    """CAs without ``<subject hash>.r0`` (the only name OpenSSL looks a CRL up under)."""
    return [ca for ca in store.cas if ca.crl_name not in store.crls]


def bad_crls(store: TrustStore) -> list[CRLFile]:
    return [c for c in store.read_crls() if c.problem]


@dataclass(frozen=True)
class CRLAge:
    crl: CRLFile
    state: str  # "stale" | "expiring" | "not-yet-valid" | "no-next-update"
    message: str


def crl_freshness(store: TrustStore, now: Optional[_dt.datetime] = None,
                  warn_within: _dt.timedelta = _dt.timedelta(hours=24)) -> list[CRLAge]:
    """CRLs whose nextUpdate has passed or comes within ``warn_within``, and other oddities.

    nextUpdate, not the file's mtime (which is all dirac-proxy-init looks at), is what OpenSSL
    and VOMS judge: past it, every certificate of that CA is rejected ("CRL has expired").
    """

    now = now or utcnow()
    out = []
    for crl in store.read_crls():
        if crl.problem or crl.ca is None:
            continue
        who = f"the CRL of {crl.ca.subject} ({crl.name})"
        if crl.last_update is not None and crl.last_update > now + _dt.timedelta(minutes=5):
            out.append(CRLAge(crl, "not-yet-valid", f"{who} is issued in the future "
                              f"({fmt_time(crl.last_update)}); check this machine's clock"))
        elif crl.next_update is None:
            out.append(CRLAge(crl, "no-next-update", f"{who} has no nextUpdate"))
        elif crl.next_update <= now:
            out.append(CRLAge(crl, "stale", f"{who} expired on {fmt_time(crl.next_update)}"))
        elif crl.next_update - now < warn_within:
            hours = (crl.next_update - now).total_seconds() / 3600
            out.append(CRLAge(crl, "expiring", f"{who} expires in {hours:.0f} h, on "
                              f"{fmt_time(crl.next_update)}"))
    return out


def split_by_focus(items: Sequence[tuple[Optional[CA], str]], why: Mapping[bytes, str]
                   ) -> tuple[list[str], list[str]]:
    """(failures, warnings): problems of CAs that matter fail, the others only warn."""
    fails, warns = [], []
    for ca, text in items:
        if ca is not None and ca.fingerprint in why:
            fails.append(f"{text} ({why[ca.fingerprint]})")
        else:
            warns.append(text)
    return fails, warns


def summarize(items: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` items and how many more, for a warning about many CAs."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
