"""Chain verification: OpenSSL's own verdict on a certificate, from the files we already read.

OpenSSL does the work (pyOpenSSL's ``X509Store``), but it never opens a CA-directory entry
itself: the store is filled with the certificates and CRLs :mod:`.scan` read through the one
bounded, non-blocking read path, chosen the way ``-CApath``'s hashed lookup would find them.
So a FIFO or device in the directory cannot hang verification, and the verdict stays the one
``openssl verify -CApath DIR -crl_check_all`` prints (tests/peers/test_openssl_verify.py).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from cryptography import x509

from mu3e_checks.knowledge.pki import (
    PROXY_CERT_INFO_OID,
    dn_slash,
    is_ca,
    proxy_kind,
    public_key,
    unreadable_key,
)
from mu3e_checks.knowledge.trust.scan import (
    CRLFile,
    OpenSSLRefuses,
    TrustStore,
    crl_damage,
    openssl_name,
    openssl_reason,
    openssl_x509,
    scan_trust_dir,
    subject_hash,
)


def _failing(exc: Exception, depth: object, leaf: x509.Certificate,
             untrusted: Sequence[x509.Certificate]) -> x509.Certificate:
    """The certificate OpenSSL stopped at, as ``cryptography`` holds it.

    OpenSSL's copy is turned back into one; where that fails (a public key OpenSSL loaded but
    cannot encode again) it is the one at that depth of the chain sent along.
    """
    from OpenSSL import crypto

    cert = getattr(exc, "certificate", None)
    if cert is not None:
        try:
            return cert.to_cryptography()
        except crypto.Error:
            pass
    chain = [leaf, *untrusted]
    return chain[depth] if isinstance(depth, int) and 0 <= depth < len(chain) else leaf


def _loads(cert: x509.Certificate) -> bool:
    try:
        openssl_x509(cert)
        return True
    except OpenSSLRefuses:
        return False

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
X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION = 34
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


def _explain(code: int, failing: Optional[str], issuer: Optional[str], lookup: Optional[str],
             store: TrustStore, openssl_message: str, failing_is_ca: bool,
             issuer_in_dir: bool = False) -> str:
    ca_dir = store.path
    who = failing or "the certificate"
    if code in _MISSING_ISSUER:
        if lookup and lookup in store.names:
            return (f"the CA that issued {who} ({issuer}) is not in {ca_dir}: {lookup} has "
                    "that name but is a different CA certificate (another key), so the chain "
                    "cannot be built")
        return (f"the CA that issued {who} ({issuer}) is not in {ca_dir}: OpenSSL looked for "
                f"{lookup} and did not find it, so the chain cannot be built")
    if code == X509_V_ERR_UNABLE_TO_GET_CRL:
        where = (f"{lookup} is there but cannot be used (CRL-002 says why)"
                 if lookup and lookup in store.names else f"{lookup} is missing")
        return (f"there is no revocation list (CRL) of {issuer} in {ca_dir} ({where}), so "
                f"OpenSSL cannot tell whether {who} is revoked")
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
        if issuer_in_dir:
            return (f"the signature on {who} does not verify with the key of the CA "
                    f"certificate {issuer} found in {ca_dir} ({lookup}): that CA did not sign "
                    "it, another one with the same name did")
        return (f"the signature on {who} does not verify with the key of its issuer {issuer} "
                "(the certificate after it in the chain): that key did not sign it")
    if code in (X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN):
        return f"{who} is a self-signed certificate that is not in {ca_dir}"
    if code == X509_V_ERR_INVALID_CA:
        return f"{who} is used as a CA but is not a CA certificate"
    if code == X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED:
        return f"{who} is a proxy certificate, which is not accepted here"
    return f"OpenSSL rejects {who}: {openssl_message}"



def _numbered(store: TrustStore, suffix: str) -> dict[str, list[str]]:
    """File names ``<hash>.<suffix><k>`` by hash, in the order OpenSSL's lookup tries them."""
    out: dict[str, list[str]] = {}
    for name in store.names:
        prefix, dot, tail = name.partition(".")
        if dot and len(prefix) == 8 and tail.startswith(suffix) and tail[len(suffix):].isdigit():
            out.setdefault(prefix, []).append(name)
    return out


class _View:
    """What ``-CApath`` finds in one store, computed once per store: the CA certificates, the
    candidate CRLs as (file hash, file name, CRL, issuer name DER), the OpenSSL hashes of the
    names the directory's certificates carry, which issuer name hashes the CAs of each
    subject name hash point at (the steps OpenSSL's chain building can take), and whether a
    CA certificate may carry proxyCertInfo (see :func:`_store_for`).  (A plain class: a
    dataclass costs a visible part of a millisecond to define, at every start.)"""

    __slots__ = ("certs", "crls", "hashes", "issuers", "proxy_cas")

    def __init__(self, certs: list[x509.Certificate],
                 crls: list[tuple[str, str, x509.CertificateRevocationList, bytes]],
                 hashes: dict[bytes, str], issuers: dict[str, frozenset[str]],
                 proxy_cas: bool) -> None:
        self.certs, self.crls, self.hashes = certs, crls, hashes
        self.issuers, self.proxy_cas = issuers, proxy_cas


def _store_view(store: TrustStore) -> _View:
    """The store's :class:`_View`; computed once per store."""
    cached = store.__dict__.get("_openssl_view")
    if cached is not None:
        return cached
    certs: list[x509.Certificate] = []
    for prefix in _numbered(store, ""):
        k = 0
        while f"{prefix}.{k}" in store.names:
            cert = store.loaded.get(f"{prefix}.{k}")
            if cert is not None and subject_hash(cert) == prefix:
                certs.append(cert)
            k += 1
    crls: list[tuple[str, str, x509.CertificateRevocationList, bytes]] = []
    for prefix in _numbered(store, "r"):
        k = 0
        while f"{prefix}.r{k}" in store.names:
            f = store.crls.get(f"{prefix}.r{k}")
            if f is not None and f.crl is not None and f.encoding == "PEM":
                crls.append((prefix, f.name, f.crl, f.crl.issuer.public_bytes()))
            k += 1
    hashes: dict[bytes, str] = {}
    for cert in {id(c): c for c in store.loaded.values() if c is not None}.values():
        _learn(hashes, cert)  # once per file read (IGTF gives each file two names)
    certs = list(dict.fromkeys(certs))
    issuers: dict[str, set[str]] = {}
    for cert in certs:
        issuers.setdefault(subject_hash(cert), set()).add(subject_hash(cert, issuer=True))
    view = _View(certs, crls, hashes, {k: frozenset(v) for k, v in issuers.items()},
                 any(_may_be_proxy(c) for c in certs))
    store.__dict__["_openssl_view"] = view
    return view


def _learn(hashes: dict[bytes, str], cert: x509.Certificate) -> None:
    """Remember the OpenSSL hashes of ``cert``'s subject and issuer names."""
    hashes.setdefault(cert.subject.public_bytes(), subject_hash(cert))
    hashes.setdefault(cert.issuer.public_bytes(), subject_hash(cert, issuer=True))


def _found_crls(view: _View, chain: Sequence[x509.Certificate]
                ) -> list[tuple[str, str, x509.CertificateRevocationList]]:
    """(file hash, file name, CRL) of every CRL ``-CApath`` finds: its issuer's name hash
    (known from any certificate in the directory or in ``chain``) is its file's hash."""
    hashes = dict(view.hashes)
    for cert in chain:
        _learn(hashes, cert)
    return [(prefix, name, crl) for prefix, name, crl, issuer in view.crls
            if hashes.get(issuer) == prefix]


def _chain_issuers(view: _View, chain: Sequence[x509.Certificate]) -> set[str]:
    """The name hashes OpenSSL can ask for a CRL under while it verifies ``chain``.

    Without extended CRL support (never set here) OpenSSL asks the store for the CRLs of a
    certificate by that certificate's issuer name, and takes the CRL's signer from the chain
    itself: so only the issuers of the certificates the chain can hold matter, the chain
    sent along and every CA its building can reach in the store by name.  Any other CRL in
    the directory cannot change the verdict, and is not handed to OpenSSL: loading a CRL
    there costs as much as parsing all of its entries (a 100k-entry CRL: 70 ms).
    """
    todo = [subject_hash(cert, issuer=True) for cert in chain]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(view.issuers.get(name, ()))
    return seen


def openssl_view(store: TrustStore, chain: Sequence[x509.Certificate] = ()
                 ) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """The CA certificates and CRLs ``-CApath`` would find in ``store``, as already parsed.

    OpenSSL looks an issuer up as ``<hash>.0``, ``<hash>.1``, ... and stops at the first name
    that does not exist (OpenSSL 3.0 steps over a dangling link or a file that does not load,
    see the peer test); it reads PEM only, and it looks up by name hash, so a
    file under another name's hash is never found for its own CA.  CRLs the same, under
    ``<hash>.r0``, ...; a CRL counts when its issuer's name hash (known from any certificate
    in the directory or in ``chain``, the certificates being verified) is its file's hash.
    """
    view = _store_view(store)
    return view.certs, [crl for _, _, crl in _found_crls(view, chain)]


class _Loaded:
    """One pyOpenSSL store for one way of verifying (flags, time), with the directory's CAs,
    kept with the :class:`TrustStore`: every chain check of the run that verifies that way
    uses it, so each CRL is loaded into OpenSSL once per run, and only when a chain needs it.
    ``refused`` holds, per CRL file handed to it in that order, why OpenSSL refused to load
    it ("" when it loaded)."""

    __slots__ = ("x509", "refused")

    def __init__(self, x509_store: Any) -> None:
        self.x509 = x509_store
        self.refused: dict[str, str] = {}


def _flags(crl_check: bool, allow_proxy: bool) -> int:
    """OpenSSL's flags for ``-crl_check_all`` and ``-allow_proxy_certs``."""
    from OpenSSL import crypto

    flags = 0
    if crl_check:
        flags |= crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL
    if allow_proxy:
        flags |= crypto.X509StoreFlags.ALLOW_PROXY_CERTS
    return flags


def _openssl_store(store: TrustStore, flags: int, at: Optional[_dt.datetime],
                   kept: bool = True) -> _Loaded:
    """The store's pyOpenSSL store for ``flags`` and ``at``, made (with the CAs) once; a new
    one, not kept, with ``kept=False``."""
    from OpenSSL import crypto

    stores = store.__dict__.setdefault("_openssl_stores", {})
    key = (flags, at)
    if key not in stores or not kept:
        x509_store = crypto.X509Store()
        for cert in _store_view(store).certs:  # the scan kept only CAs OpenSSL loads
            x509_store.add_cert(openssl_x509(cert))
        if flags:
            x509_store.set_flags(flags)
        if at is not None:
            x509_store.set_time(at.astimezone(_dt.timezone.utc).replace(tzinfo=None)
                                if at.tzinfo else at)
        if not kept:
            return _Loaded(x509_store)
        stores[key] = _Loaded(x509_store)
    return stores[key]


def _load_crl(loaded: _Loaded, name: str, crl: x509.CertificateRevocationList) -> str:
    """Hand ``crl`` (the file ``name``) to ``loaded``'s store once; why OpenSSL refused it, or
    "" (a CRL OpenSSL cannot load is no CRL, as with -CApath)."""
    from OpenSSL import crypto

    if name not in loaded.refused:
        try:
            loaded.x509.add_crl(crl)
            loaded.refused[name] = ""
        except crypto.Error as exc:
            loaded.refused[name] = openssl_reason(exc)
    return loaded.refused[name]


def openssl_refusal(store: TrustStore, crl: CRLFile) -> Optional[str]:
    """Why OpenSSL refuses to load ``crl`` (a damaged revoked entry, an extension it cannot
    decode), or None; asked once per file and store (the chain check skips such a CRL, as
    ``-CApath`` does, and says the CRL is there but cannot be used).

    OpenSSL is asked by loading the CRL into the store the chain checks with CRLs use, so a
    CRL the user relies on is loaded into OpenSSL once per run, not once per question.
    """
    cache = store.__dict__.setdefault("_openssl_refusals", {})
    if crl.name not in cache:
        refusal = None
        if crl.crl is not None and crl.encoding == "PEM":
            refusal = crl_damage(crl.crl)
            if refusal is None:
                loaded = _openssl_store(store, _flags(True, True), None)
                reason = _load_crl(loaded, crl.name, crl.crl)
                refusal = f"cannot be loaded by {openssl_name()} ({reason})" if reason else None
        cache[crl.name] = refusal
    return cache[crl.name]


def _may_be_proxy(cert: x509.Certificate) -> bool:
    """True unless ``cert`` surely carries no proxyCertInfo (RFC 3820), the extension OpenSSL
    marks a proxy by; one whose extensions cannot be decoded may be anything."""
    try:
        return any(ext.oid == PROXY_CERT_INFO_OID for ext in cert.extensions)
    except Exception:  # noqa: BLE001 - DECODE_ERRORS and whatever else a damaged one raises
        return True


def _store_for(store: TrustStore, chain: Sequence[x509.Certificate], crl_check: bool,
               allow_proxy: bool, at: Optional[_dt.datetime]) -> Any:
    """The pyOpenSSL store to verify ``chain`` with: the one kept for these flags, with the
    CRLs OpenSSL can ask for while verifying ``chain`` (see :func:`_chain_issuers`) loaded.

    OpenSSL reads ALLOW_PROXY_CERTS only to refuse a proxy certificate in the chain, so where
    no certificate the chain can hold is a proxy, a check without it shares the proxy checks'
    store (and its CRLs).  A kept store may hold CRLs other chains needed; those OpenSSL
    never asks for this chain change nothing.  Should it hold, under a name hash this chain
    needs, a CRL this chain would not get, or the same ones in another order (which decides
    between CRLs of one issuer that OpenSSL finds equally good), this chain gets a store of
    its own: the verdict is always the one of a store built for it alone.
    """
    view = _store_view(store)
    if not allow_proxy and not any(_may_be_proxy(c) for c in chain) \
            and not view.proxy_cas:
        allow_proxy = True
    flags = _flags(crl_check, allow_proxy)
    if not crl_check:
        return _openssl_store(store, flags, at).x509
    wanted = _chain_issuers(view, chain)
    crls = [(name, crl) for prefix, name, crl in _found_crls(view, chain) if prefix in wanted]
    loaded = _openssl_store(store, flags, at)
    for prefix in wanted:
        handed = [n for n in loaded.refused if n.split(".")[0] == prefix]
        mine = [n for n, _ in crls if n.split(".")[0] == prefix]
        if handed != mine[:len(handed)]:
            loaded = _openssl_store(store, flags, at, kept=False)
            break
    for name, crl in crls:
        _load_crl(loaded, name, crl)
    return loaded.x509


def verify_chain(leaf: x509.Certificate, untrusted: Sequence[x509.Certificate],
                 ca_dir: Union[Path, TrustStore], *, crl_check: bool = True,
                 allow_proxy: bool = False, at: Optional[_dt.datetime] = None) -> ChainVerdict:
    """Validate ``leaf`` the way ``openssl verify -CApath ca_dir -crl_check_all`` does.

    OpenSSL itself does the work, so the verdict is the one grid services, VOMS and DIRAC's
    M2Crypto will reach; this function only turns OpenSSL's error into a sentence naming the
    certificate and the file involved.  ``ca_dir`` is a :class:`TrustStore` already read (a
    path is scanned first): OpenSSL gets the parsed certificates and CRLs, never the directory.
    ``untrusted`` are the extra certificates sent along (the rest of a proxy chain, or
    intermediates from usercert.pem).  With ``crl_check`` every certificate in the chain needs
    a current CRL from its issuer (``-crl_check_all``); ``allow_proxy`` accepts RFC 3820
    proxies (``-allow_proxy_certs``); ``at`` verifies at another time (``-attime``).
    """
    from OpenSSL import crypto

    store = ca_dir if isinstance(ca_dir, TrustStore) else scan_trust_dir(Path(ca_dir))
    leaf_dn = dn_slash(leaf.subject)
    try:
        x509_store = _store_for(store, [leaf, *untrusted], crl_check, allow_proxy, at)
        ctx = crypto.X509StoreContext(x509_store, openssl_x509(leaf),
                                      [openssl_x509(c) for c in untrusted])
    except OpenSSLRefuses as exc:
        unread = next((c for c in (leaf, *untrusted) if not _loads(c)), leaf)
        who = dn_slash(unread.subject)
        return ChainVerdict(False, -1, f"OpenSSL cannot load {who} ({exc}), so it cannot "
                            "check the chain", who, openssl_message=str(exc))
    try:
        verified = ctx.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        code, depth, message = (list(exc.errors) + [0, None, ""])[:3]
        failing = _failing(exc, depth, leaf, untrusted)
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
        reason = _explain(int(code), failing_dn, issuer_dn, lookup, store, str(message),
                          is_ca(failing), bool(store.with_subject(issuer_dn))
                          and proxy_kind(failing) is None)
        if public_key(failing) is None:  # OpenSSL's "unspecified" error for such a key
            reason = (f"{failing_dn} has {unreadable_key(failing)}, so OpenSSL rejects it: "
                      f"{message}")
        return ChainVerdict(False, int(code), reason, failing_dn, missing, lookup,
                            depth if isinstance(depth, int) else None, str(message))
    except crypto.Error as exc:  # OpenSSL could not even start (memory, broken store)
        return ChainVerdict(False, -1, f"OpenSSL could not verify {leaf_dn}: {exc}",
                            leaf_dn, openssl_message=str(exc))
    chain = tuple(dn_slash(c.to_cryptography().subject) for c in verified)
    return ChainVerdict(True, X509_V_OK, f"{leaf_dn} verifies against {store.path}"
                        + (" with current CRLs" if crl_check else ""), chain=chain)
