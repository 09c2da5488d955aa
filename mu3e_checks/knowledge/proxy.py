"""Grid proxies: where DIRAC finds one, and what is in it.

DIRAC reads ``$GRID_PROXY_FILE``, then ``$X509_USER_PROXY`` (each only if it is a file), then
``/tmp/x509up_u<uid>``.  A stale ``GRID_PROXY_FILE`` silently wins, which is why the report says
which source was used.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.x509.oid import NameOID

from mu3e_checks.knowledge import der
from mu3e_checks.knowledge.files import file_mode, is_file, read_bytes
from mu3e_checks.knowledge.pki import (
    DIRAC_GROUP_OID,
    PROXY_CERT_INFO_OID,
    PemError,
    PrivateKey,
    dn_slash,
    extension,
    key_matches,
    load_certificates,
    load_private_key,
    not_after,
    pem_blocks,
    proxy_kind,
    signed_by,
    text_problem,
)
from mu3e_checks.knowledge.trust import (
    X509_V_ERR_CERT_HAS_EXPIRED,
    X509_V_ERR_CERT_NOT_YET_VALID,
    X509_V_ERR_CERT_SIGNATURE_FAILURE,
    X509_V_ERR_INVALID_CA,
    X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION,
    ChainVerdict,
    verify_chain,
)


@dataclass(frozen=True)
class ProxyLocation:
    """The proxy file DIRAC would read (it may not exist) and how it was chosen."""

    path: Path
    source: str  # "--mu3e-proxy" | "$GRID_PROXY_FILE" | "$X509_USER_PROXY" | "default"
    exists: bool
    notes: tuple[str, ...] = field(default=())
    #: (variable, value) pairs of proxy variables that are set but do not name a file.
    dangling: tuple[tuple[str, str], ...] = field(default=())
    #: (variable, value) pairs of proxy variables naming a file that another one shadows.
    shadowed: tuple[tuple[str, str], ...] = field(default=())


def default_proxy_path(uid: int, tmp: Path = Path("/tmp")) -> Path:
    return tmp / f"x509up_u{uid}"


def locate_proxy(environ: Mapping[str, str], uid: int, override: Optional[Path] = None,
                 tmp: Path = Path("/tmp")) -> ProxyLocation:
    """The proxy file in DIRAC's order, with notes about variables that point nowhere."""
    notes: list[str] = []
    dangling: list[tuple[str, str]] = []
    shadowed: list[tuple[str, str]] = []
    if override is not None:
        return ProxyLocation(Path(override), "--mu3e-proxy", is_file(Path(override)))
    chosen: Optional[tuple[Path, str]] = None
    for var in ("GRID_PROXY_FILE", "X509_USER_PROXY"):
        value = environ.get(var)
        if not value:
            continue
        if is_file(Path(value)):
            if chosen is None:
                chosen = (Path(value), f"${var}")
            else:
                shadowed.append((var, value))
                notes.append(f"${var}={value} is shadowed by {chosen[1]}={chosen[0]}")
        else:
            dangling.append((var, value))
            notes.append(f"${var} is set to {value}, which is not a file; DIRAC ignores it")
    if chosen is None:
        path = default_proxy_path(uid, tmp)
        return ProxyLocation(path, "default", is_file(path), tuple(notes), tuple(dangling),
                             tuple(shadowed))
    return ProxyLocation(chosen[0], chosen[1], True, tuple(notes), tuple(dangling),
                         tuple(shadowed))

# ----------------------------------------------------------------------------- reading a proxy

#: RFC 3820 policy languages (proxyCertInfo) and what they make of a proxy.
POLICY_INHERIT_ALL = "1.3.6.1.5.5.7.21.1"
POLICY_INDEPENDENT = "1.3.6.1.5.5.7.21.2"
POLICY_LIMITED = "1.3.6.1.4.1.3536.1.1.1.9"
#: Pre-RFC "draft" (GSI-3) proxies, made by ``grid-proxy-init -draft``.
DRAFT_PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.4.1.3536.1.222")

DIRACX_MARKER = b"-----BEGIN DIRACX-----"


def proxy_format(cert: x509.Certificate) -> Optional[str]:
    """``rfc3820`` (critical proxyCertInfo), ``draft`` (GSI-3), ``legacy`` (Globus CN=proxy),
    or None for a certificate that is not a proxy."""
    if extension(cert, DRAFT_PROXY_CERT_INFO_OID) is not None:
        return "draft"
    return proxy_kind(cert)


def proxy_policy(cert: x509.Certificate) -> str:
    """``impersonation``, ``limited``, ``independent`` or ``policy <oid>`` for one proxy.

    RFC 3820 proxies say it in proxyCertInfo's policy language; legacy ones in the last CN
    (``proxy`` or ``limited proxy``).  Grid services refuse limited proxies for job submission.
    """
    ext = extension(cert, PROXY_CERT_INFO_OID)
    if ext is None:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return "limited" if cns and cns[-1].value == "limited proxy" else "impersonation"
    fields = der.seq(der.parse(getattr(ext.value, "value", b"")), "proxyCertInfo")
    policy = next((f for f in fields if f.tag == der.SEQUENCE), None)
    if policy is None:
        raise der.DerError("proxyCertInfo has no proxy policy")
    language = der.oid(der.seq(policy, "proxy policy")[0])
    return {POLICY_INHERIT_ALL: "impersonation", POLICY_LIMITED: "limited",
            POLICY_INDEPENDENT: "independent"}.get(language, f"policy {language}")


@dataclass
class ProxyFile:
    """What a proxy file holds: the proxy, its key and the chain, in file order.

    The network checks use :attr:`path` (and :attr:`key`) for TLS client authentication.
    """

    path: Path
    certs: list[x509.Certificate]  # proxy first, then its issuers as written in the file
    key: PrivateKey = field(repr=False)
    key_format: str
    format: str  # "rfc3820" | "legacy" | "draft"
    policy: str  # "impersonation" | "limited" | "independent" | "policy <oid>"
    diracx: bool  # a DIRAC v9 "BEGIN DIRACX" token block follows the PEM

    @property
    def proxy(self) -> x509.Certificate:
        return self.certs[0]

    @property
    def chain(self) -> list[x509.Certificate]:
        """The certificates after the proxy (more proxies, the user certificate, maybe CAs)."""
        return self.certs[1:]

    @property
    def identity(self) -> Optional[x509.Certificate]:
        """The end-entity (user) certificate the proxy chain derives from."""
        return next((c for c in self.certs if proxy_format(c) is None), None)

    @property
    def identity_dn(self) -> str:
        ident = self.identity
        return dn_slash(ident.subject) if ident is not None else ""

    @property
    def limited(self) -> bool:
        return self.policy == "limited"

    @property
    def key_matches(self) -> bool:
        return key_matches(self.proxy, self.key)

    def end(self) -> _dt.datetime:
        """When the chain stops working: the earliest notAfter of the proxy and its issuers."""
        return min(not_after(c) for c in self.certs)

    def describe(self) -> str:
        kind = {"rfc3820": "RFC 3820", "legacy": "legacy Globus", "draft": "draft GSI-3"}
        return f"{kind.get(self.format, self.format)} {self.policy} proxy of {self.identity_dn}"


def read_proxy(path: Path) -> ProxyFile:
    """Read and parse the proxy file at ``path``; :class:`Unreadable` or :class:`PemError`."""
    return parse_proxy(read_bytes(path), path)


def parse_proxy(data: bytes, path: Path) -> ProxyFile:
    """Parse a proxy file (PEM certificate, private key, chain; maybe a DIRACX block).

    Every problem becomes :class:`PemError` with a sentence naming the file.
    """
    what = str(path)
    if not data.strip():
        raise PemError(f"{what} is empty")
    diracx = DIRACX_MARKER in data
    pem = data.split(DIRACX_MARKER)[0] if diracx else data
    certs = load_certificates(pem, what)
    problem = text_problem(data, what)
    if problem:
        raise PemError(problem)
    if not any(label.endswith("PRIVATE KEY") for label, _ in pem_blocks(pem)):
        raise PemError(f"{what} holds certificates but no private key, so it is not a proxy "
                       "file (a proxy carries its own key)")
    broken = _chain_break(certs)
    if broken is not None:
        raise PemError(f"the certificates in {what} are not a chain: certificate {broken + 1} "
                       f"is not issued by certificate {broken + 2} after it (it names another "
                       "issuer); DIRAC then does not take the file for a proxy (a file appended "
                       "to itself, or pieced together)")
    keyfile = load_private_key(pem, None, what)
    if keyfile.key is None:
        raise PemError(f"{what} holds an encrypted private key; a proxy key is never encrypted, "
                       "so this is not a proxy file")
    fmt = proxy_format(certs[0])
    if fmt is None:
        raise PemError(f"the first certificate in {what} ({dn_slash(certs[0].subject)}) is not "
                       "a proxy certificate; this is a certificate file, not a proxy")
    try:
        policy = proxy_policy(certs[0])
    except der.DerError as exc:
        raise PemError(f"the proxy certificate in {what} has a damaged proxyCertInfo "
                       f"extension ({exc})") from None
    return ProxyFile(Path(path), certs, keyfile.key, keyfile.format, fmt, policy, diracx)


def _chain_break(certs: list[x509.Certificate]) -> Optional[int]:
    """Index of the first certificate whose issuer is not the next one by name, or None.

    Names only: a file pieced together is not a proxy file at all (PROXY-003).  Whether each
    proxy is signed by the key of the certificate after it is PROXY-004's question
    (:func:`signature_problem`), asked of every file that is a chain.
    """
    for n in range(len(certs) - 1):
        if certs[n].issuer != certs[n + 1].subject:
            return n
    return None


def signature_problem(proxy: ProxyFile) -> Optional[str]:
    """Why a proxy in the file is not signed by the key of the certificate after it, or None.

    Each proxy must be signed by the key of the certificate it names as issuer: the next proxy,
    and at last the user certificate.  DIRAC's X509Chain checks every step ("The proxy is not
    valid"), and so does OpenSSL ('certificate signature failure'), whatever the CRLs and the CA
    directory say.  ``dirac-proxy-init --nocs`` signs with whatever key X509_USER_KEY names, so
    a certificate and a key that do not belong together give such a proxy without a word.  A
    signature that cannot be checked here (an unknown algorithm) gives no verdict.
    """
    certs = proxy.certs
    for n in range(len(certs) - 1):
        cert, issuer = certs[n], certs[n + 1]
        if proxy_format(cert) is None:  # past the proxies: the user's and CA certificates
            break
        if signed_by(cert, issuer) is not False:
            continue
        which = "the proxy" if n == 0 else f"the proxy at position {n + 1} in the file"
        if proxy_format(issuer) is None:
            return (f"{which} in {proxy.path} was not signed by your certificate's key: its "
                    f"signature does not verify with the key of {dn_slash(issuer.subject)}, "
                    "the certificate it names as its issuer (what dirac-proxy-init --nocs "
                    "makes from a certificate and a key that do not belong together)")
        return (f"{which} in {proxy.path} was not signed by the key of the proxy it names as "
                f"its issuer ({dn_slash(issuer.subject)}): its signature does not verify "
                "with that key (the file was pieced together from two proxies, or the proxy "
                "was made with a key that is not that proxy's)")
    return None


#: OpenSSL's errors at a proxy's own depth that another PROXY check reports: its signature
#: (PROXY-004), its validity (PROXY-008), a legacy or draft proxy (PROXY-005's format test).
_OWNED_ELSEWHERE = frozenset({X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_CERT_NOT_YET_VALID,
                              X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_INVALID_CA,
                              X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION})


def proxy_refusal(proxy: ProxyFile, store: object) -> Optional[ChainVerdict]:
    """OpenSSL's refusal of the proxy certificates themselves (a subject that is not its
    issuer's plus one CN, a path length exceeded ...), or None.

    Judged without CRLs: with them OpenSSL stops at the first CRL problem of the user's CA
    and never looks at the proxy, so a missing or stale CRL would hide what is wrong with the
    proxy itself (the CRL checks report the CRLs).  Only refusals at a proxy's depth count;
    the user's certificate and its CAs are the CA checks' business.
    """
    proxies = next((n for n, c in enumerate(proxy.certs) if proxy_format(c) is None),
                   len(proxy.certs))
    verdict = verify_chain(proxy.proxy, proxy.chain, store, crl_check=False,  # type: ignore
                           allow_proxy=True)
    if verdict.ok or verdict.depth is None or verdict.depth >= proxies \
            or verdict.code in _OWNED_ELSEWHERE:
        return None
    return verdict


# ----------------------------------------------------------------------------- the DIRAC group


@dataclass(frozen=True)
class GroupFinding:
    """DIRAC group(s) found in extension 1.2.42.42 along the chain, nearest the proxy first."""

    groups: tuple[tuple[int, str], ...] = ()  # (position in chain, group)
    errors: tuple[str, ...] = ()

    @property
    def group(self) -> Optional[str]:
        """The group DIRAC uses: the one nearest the proxy."""
        return self.groups[0][1] if self.groups else None


def decode_group(value: bytes) -> str:
    """The group name in a 1.2.42.42 value: a DER IA5String of ASCII text.

    DIRAC 8 decodes it with pyasn1 as an IA5String and then as UTF-8; another string type or a
    byte that is not text makes its ``getDIRACGroup`` raise, so such a group is no group.
    """
    tlv = der.parse(value)
    if tlv.tag != der.IA5_STRING:
        raise der.DerError(f"it is ASN.1 tag 0x{tlv.tag:02x}, not the IA5String DIRAC reads "
                           "(DIRAC stops with an error on it)")
    return der.string(tlv)


def find_group(chain: list[x509.Certificate]) -> GroupFinding:
    """Scan every certificate for DIRAC's group extension.

    With ``-M`` the file is VOMS proxy → DIRAC proxy → user certificate, so the group sits on
    the second certificate; looking only at the first would wrongly report "no group".
    """
    groups, errors = [], []
    for n, raw in der.raw_extensions(chain, DIRAC_GROUP_OID):
        if raw is None:
            errors.append(f"certificate {n + 1} has extensions that cannot be decoded")
            continue
        try:
            groups.append((n, decode_group(raw)))
        except der.DerError as exc:
            errors.append(f"certificate {n + 1} has a DIRAC group extension (1.2.42.42) that is "
                          f"not a readable string ({exc})")
    return GroupFinding(tuple(groups), tuple(errors))


# ----------------------------------------------------------------------------- file checks


def proxy_file_problem(path: Path, uid: int) -> tuple[str, str]:
    """(severity, why) for the proxy file's owner and mode; ("", "") when it is right.

    Mode 600 is what DIRAC writes.  Group/world bits make voms-proxy-init (and Globus) refuse
    the key inside ("bad file system permissions on private key").  Mode 400 is safe but
    dirac-proxy-init opens the file for writing and cannot renew it.
    """
    fm = file_mode(path)
    if fm.uid != uid:
        return "fail", (f"{path} is owned by uid {fm.uid}, not by you (uid {uid}): it is "
                        "another user's proxy, and grid tools refuse a key that is not yours")
    if fm.mode & 0o077:
        return "fail", (f"{path} has mode {fm.octal}: other users can read your proxy and its "
                        "private key, and voms-proxy-init refuses such a file ('bad file system "
                        "permissions on private key')")
    if not fm.mode & 0o400:
        return "fail", f"{path} has mode {fm.octal}: you cannot read it yourself"
    if not fm.mode & 0o200:
        return "warn", (f"{path} has mode {fm.octal}: it is private, but dirac-proxy-init cannot "
                        "overwrite it when you renew the proxy")
    return "", ""


def write_target(environ: Mapping[str, str], uid: int, tmp: Path = Path("/tmp")) -> Path:
    """Where ``dirac-proxy-init`` writes the next proxy.

    Unlike reading, writing takes the first of ``$GRID_PROXY_FILE``/``$X509_USER_PROXY`` that is
    *set*, file or not; so a stale variable decides where a renewed proxy lands.
    """
    for var in ("GRID_PROXY_FILE", "X509_USER_PROXY"):
        if var in environ:
            return Path(environ[var])
    return default_proxy_path(uid, tmp)


# ----------------------------------------------------------------------------- which tool


def proxy_maker(cert: x509.Certificate) -> Optional[str]:
    """The tool that wrote this RFC 3820 proxy certificate, told by the extensions each sets
    (seen on real proxies of grid-proxy-init 11, voms-proxy-init 2.1 and dirac-proxy-init
    8.0.74), or None when they do not say:

    - ``dirac-proxy-init``: DIRAC's group (1.2.42.42), or keyUsage with dataEncipherment and
      neither extendedKeyUsage nor basicConstraints;
    - ``grid-proxy-init``: extendedKeyUsage (clientAuth) without basicConstraints;
    - ``voms-proxy-init``: basicConstraints (CA:FALSE) with an authorityKeyIdentifier (with
      ``-M``, dirac-proxy-init runs it, so the outermost certificate is its).

    Findings about what a proxy lacks (a group, VOMS attributes) name the tool that made it,
    because only dirac-proxy-init can add a group and a failure means something else per tool.
    """
    try:
        exts = {e.oid: e.value for e in cert.extensions}
    except der.DECODE_ERRORS:
        return None
    if DIRAC_GROUP_OID in exts:
        return "dirac-proxy-init"
    if PROXY_CERT_INFO_OID not in exts:
        return None
    eku = x509.ExtendedKeyUsage.oid in exts
    bc = x509.BasicConstraints.oid in exts
    if bc and x509.AuthorityKeyIdentifier.oid in exts:
        return "voms-proxy-init"
    if eku and not bc:
        return "grid-proxy-init"
    usage = exts.get(x509.KeyUsage.oid)
    if isinstance(usage, x509.KeyUsage) and usage.data_encipherment and not eku and not bc:
        return "dirac-proxy-init"
    return None
