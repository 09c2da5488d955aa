"""The trust store: which CA directory DIRAC will use, and what is in it.

DIRAC's own lookup returns ``$X509_CERT_DIR`` even when it does not exist, and diracosrc
silently prefers a populated ``/etc/grid-security/certificates`` over the DIRACOS one, so the
first thing a user needs to know is which directory is actually in play, and why.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from cryptography import x509

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


def subject_hash(cert: x509.Certificate, *, issuer: bool = False) -> str:
    """OpenSSL's subject-name hash of ``cert`` (of its issuer with ``issuer=True``).

    This is ``X509_NAME_hash``, the name ``c_rehash``/``openssl rehash`` give CA files
    (``<hash>.0``) and CRLs (``<hash>.r0``), and the name OpenSSL looks a CA up under.
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

    from mu3e_checks.knowledge.pki import dn_slash, is_ca

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
