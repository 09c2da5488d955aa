"""Malformed certificates and CRLs that still carry a valid signature (DER surgery).

``cryptography`` refuses to *build* a certificate with two basicConstraints, a version-5 field, a
keyUsage that is not DER or a public key of an unknown algorithm; a CA, a careless tool or an
attacker can still write one, and OpenSSL loads most of them.  These helpers take a certificate
or CRL made by :mod:`tests.support.pki_factory`, cut its to-be-signed part into fields with the
project's own strict DER reader (:mod:`mu3e_checks.knowledge.der`), replace one field, and sign
the result again with the right key, so the *only* thing wrong with each input is the malformed
field itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from mu3e_checks.knowledge import der as _der
from tests.support.pki_factory import DIRAC_GROUP_OID, PROXY_CERT_INFO_OID, der, der_int, der_oid

#: sha256WithRSAEncryption and ecdsa-with-SHA256, as AlgorithmIdentifier DER.
SHA256_RSA = der(0x30, der_oid("1.2.840.113549.1.1.11") + der(0x05, b""))
SHA256_ECDSA = der(0x30, der_oid("1.2.840.10045.4.3.2"))

#: Extension OIDs the corpus damages.
BASIC_CONSTRAINTS = "2.5.29.19"
KEY_USAGE = "2.5.29.15"
SUBJECT_ALT_NAME = "2.5.29.17"
EXT_KEY_USAGE = "2.5.29.37"
SUBJECT_KEY_ID = "2.5.29.14"
AUTHORITY_KEY_ID = "2.5.29.35"
CERT_POLICIES = "2.5.29.32"
CRL_DISTRIBUTION = "2.5.29.31"
NAME_CONSTRAINTS = "2.5.29.30"
CRL_NUMBER = "2.5.29.20"
CRL_REASON = "2.5.29.21"
INVALIDITY_DATE = "2.5.29.24"
DELTA_CRL = "2.5.29.27"
ISSUING_DP = "2.5.29.28"
PROXY_CERT_INFO = PROXY_CERT_INFO_OID.dotted_string
DIRAC_GROUP = DIRAC_GROUP_OID.dotted_string


def extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    """One Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }."""
    return der(0x30, der_oid(oid) + (der(0x01, b"\xff") if critical else b"")
               + der(0x04, value))


def utc_time(text: str) -> bytes:
    return der(0x17, text.encode("ascii"))


def generalized_time(text: str) -> bytes:
    return der(0x18, text.encode("ascii"))


def _sign(tbs: bytes, key: object) -> bytes:
    """The SHA-256 signature of ``tbs`` by ``key`` (RSA PKCS#1 v1.5 or ECDSA)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    raise TypeError(f"cannot sign with {type(key).__name__}")


def _replaced(fields: dict[str, bytes], order: Sequence[str],
              replace: dict[str, Optional[bytes]]) -> tuple[list[bytes], bytes]:
    """The to-be-signed fields in ``order`` with ``replace`` applied (``None`` drops one), and
    the (possibly replaced) signature algorithm they declare."""
    for name, value in replace.items():
        if name not in order:
            raise KeyError(name)
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return [fields[n] for n in order if n in fields], fields["signature"]


def _signed(tbs_fields: Sequence[bytes], algorithm: bytes, key: object) -> bytes:
    """SEQUENCE { tbs, algorithm, BIT STRING signature }: ``algorithm`` is the TBS's own
    signature field, so a replaced (even unknown) algorithm is declared in both places."""
    tbs = der(0x30, b"".join(tbs_fields))
    signature = _sign(tbs, key)
    return der(0x30, tbs + algorithm + der(0x03, b"\x00" + signature))


# ------------------------------------------------------------------------- certificates

CERT_FIELDS = ("version", "serial", "signature", "issuer", "validity", "subject", "spki",
               "issuer_uid", "subject_uid", "extensions")


def cert_fields(cert: x509.Certificate) -> dict[str, bytes]:
    """The TBSCertificate's fields as raw DER, by name (absent optional ones left out)."""
    fields = _der.seq(_der.parse(cert.tbs_certificate_bytes), "TBSCertificate")
    out: dict[str, bytes] = {}
    if fields and fields[0].context_number == 0:
        out["version"] = fields[0].raw
        fields = fields[1:]
    for name, f in zip(("serial", "signature", "issuer", "validity", "subject", "spki"), fields):
        out[name] = f.raw
    for f in fields[6:]:
        out[{1: "issuer_uid", 2: "subject_uid", 3: "extensions"}[f.context_number]] = f.raw
    return out


def extensions_of(cert: x509.Certificate) -> list[bytes]:
    """Each Extension of ``cert`` as raw DER, in order."""
    raw = cert_fields(cert).get("extensions")
    if raw is None:
        return []
    inner = _der.parse(raw).children()[0]
    return [e.raw for e in inner.children()]


def rebuild(cert: x509.Certificate, key: object, **replace: Optional[bytes]) -> x509.Certificate:
    """``cert`` with some TBS fields replaced (``None`` removes one), signed again by ``key``
    (the issuer's key: the signature stays valid).  ``extensions=`` takes the whole [3] field;
    see :func:`with_extensions`."""
    data = _signed(*_replaced(cert_fields(cert), CERT_FIELDS, replace), key)
    try:
        return x509.load_der_x509_certificate(data)
    except Exception:  # noqa: BLE001 - whatever cryptography refuses, keep the bytes instead
        return Unloadable(data)  # type: ignore[return-value]


def cert_der(cert: object) -> bytes:
    """DER of a certificate made here (also of one ``cryptography`` cannot load)."""
    if isinstance(cert, Unloadable):
        return cert.der
    return cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]


def cert_pem(cert: object) -> bytes:
    """PEM of a certificate made here (also of one ``cryptography`` cannot load)."""
    return _pem(cert_der(cert), "CERTIFICATE")


class Unloadable:
    """A certificate ``cryptography`` refuses to load (a version-5 one): its DER only."""

    def __init__(self, data: bytes) -> None:
        self.der = data


def _pem(data: bytes, label: str) -> bytes:
    import base64
    import textwrap

    body = base64.b64encode(data).decode("ascii")
    return (f"-----BEGIN {label}-----\n" + "\n".join(textwrap.wrap(body, 64))
            + f"\n-----END {label}-----\n").encode("ascii")


def with_extensions(cert: x509.Certificate, key: object, exts: Sequence[bytes]
                    ) -> x509.Certificate:
    """``cert`` with exactly these raw extensions, re-signed by ``key``."""
    return rebuild(cert, key, extensions=der(0xA3, der(0x30, b"".join(exts))))


def _ext_oid(raw: bytes) -> str:
    return _der.oid(_der.parse(raw).children()[0])


def duplicate_extension(cert: x509.Certificate, key: object, oid: str) -> x509.Certificate:
    """``cert`` with its extension ``oid`` written twice."""
    exts = extensions_of(cert)
    twice = [e for e in exts for _ in range(2 if _ext_oid(e) == oid else 1)]
    assert len(twice) == len(exts) + 1, f"{oid} not on the certificate"
    return with_extensions(cert, key, twice)


def replace_extension(cert: x509.Certificate, key: object, oid: str, value: bytes,
                      critical: Optional[bool] = None) -> x509.Certificate:
    """``cert`` with extension ``oid``'s value replaced (added when absent)."""
    exts = extensions_of(cert)
    out, done = [], False
    for e in exts:
        if _ext_oid(e) == oid:
            parts = _der.parse(e).children()
            crit = critical if critical is not None else (
                len(parts) == 3 and parts[1].content == b"\xff")
            out.append(extension(oid, value, crit))
            done = True
        else:
            out.append(e)
    if not done:
        out.append(extension(oid, value, bool(critical)))
    return with_extensions(cert, key, out)


def with_version(cert: x509.Certificate, key: object, version: int) -> object:
    """``cert`` claiming X.509 version ``version + 1`` (4 = "version 5"); may be unloadable."""
    return rebuild(cert, key, version=der(0xA0, der_int(version)))


def with_spki(cert: x509.Certificate, key: object, algorithm_oid: str, key_bits: bytes,
              params: bytes = b"\x05\x00") -> object:
    """``cert`` whose SubjectPublicKeyInfo is ``algorithm_oid`` with ``key_bits``."""
    spki = der(0x30, der(0x30, der_oid(algorithm_oid) + params) + der(0x03, b"\x00" + key_bits))
    return rebuild(cert, key, spki=spki)


def with_validity(cert: x509.Certificate, key: object, not_before: bytes, not_after: bytes
                  ) -> object:
    """``cert`` with these raw notBefore/notAfter times."""
    return rebuild(cert, key, validity=der(0x30, not_before + not_after))


# ------------------------------------------------------------------------- CRLs


def crl_fields(crl: x509.CertificateRevocationList) -> dict[str, bytes]:
    """The TBSCertList's fields as raw DER: version, signature, issuer, this, next, revoked,
    extensions (absent optional ones left out)."""
    outer = _der.parse(crl.public_bytes(serialization.Encoding.DER))
    fields = outer.children()[0].children()
    out: dict[str, bytes] = {}
    i = 0
    if fields[i].tag == _der.INTEGER:
        out["version"] = fields[i].raw
        i += 1
    out["signature"], out["issuer"], out["this"] = fields[i].raw, fields[i + 1].raw, \
        fields[i + 2].raw
    i += 3
    if i < len(fields) and fields[i].tag in (_der.UTC_TIME, _der.GENERALIZED_TIME):
        out["next"] = fields[i].raw
        i += 1
    if i < len(fields) and fields[i].tag == _der.SEQUENCE:
        out["revoked"] = fields[i].raw
        i += 1
    if i < len(fields) and fields[i].context_number == 0:
        out["extensions"] = fields[i].raw
    return out


CRL_FIELDS = ("version", "signature", "issuer", "this", "next", "revoked", "extensions")


def rebuild_crl(crl: x509.CertificateRevocationList, key: object, **replace: Optional[bytes]
                ) -> bytes:
    """DER of ``crl`` with some fields replaced (``None`` removes one), signed by ``key``."""
    return _signed(*_replaced(crl_fields(crl), CRL_FIELDS, replace), key)


def revoked_entry(serial: int, when: bytes, exts: Sequence[bytes] = ()) -> bytes:
    """One revokedCertificates entry with raw extensions."""
    return der(0x30, der_int(serial) + when + (der(0x30, b"".join(exts)) if exts else b""))


def crl_pem(data: bytes) -> bytes:
    return _pem(data, "X509 CRL")


#: A few ready-made garbage extension values: not DER, the wrong type, trailing bytes.
GARBAGE: dict[str, bytes] = {
    "not-der": b"\xde\xad\xbe\xef",
    "wrong-type": der(0x04, b"xyz"),
    "trailing-bytes": der(0x30, b"") + b"\x00",
    "empty": b"",
    "truncated": b"\x30\x05\x01\x01",
}

Mutation = Callable[[x509.Certificate, object], object]


# ------------------------------------------------------------------------- the catalogues


def _alg(oid: str) -> bytes:
    return der(0x30, der_oid(oid) + der(0x05, b""))


#: Damaged certificates, each ``(certificate, its issuer's key) -> certificate`` (or an
#: :class:`Unloadable`).  One family each: duplicate and undecodable extensions, impossible
#: versions, public keys of unknown or damaged kinds, dates and names that cannot be read,
#: unknown signature algorithms, and critical extensions nobody knows.
CERTIFICATE_MUTATIONS: dict[str, Mutation] = {
    "dup-key-usage": lambda c, k: duplicate_extension(c, k, next(
        (o for o in (KEY_USAGE, BASIC_CONSTRAINTS) if o in map(_ext_oid, extensions_of(c))),
        _ext_oid(extensions_of(c)[0]))),
    "dup-any-extension": lambda c, k: with_extensions(c, k, extensions_of(c)
                                                      + extensions_of(c)[-1:]),
    "version-5": lambda c, k: with_version(c, k, 4),
    "version-huge": lambda c, k: rebuild(c, k, version=der(0xA0, der_int(2**70))),
    "basic-constraints-not-der": lambda c, k: replace_extension(c, k, BASIC_CONSTRAINTS,
                                                                GARBAGE["not-der"]),
    "basic-constraints-trailing": lambda c, k: replace_extension(c, k, BASIC_CONSTRAINTS,
                                                                 GARBAGE["trailing-bytes"]),
    "key-usage-empty": lambda c, k: replace_extension(c, k, KEY_USAGE, GARBAGE["empty"]),
    "san-garbage": lambda c, k: replace_extension(c, k, SUBJECT_ALT_NAME, GARBAGE["not-der"]),
    "san-unknown-name-type": lambda c, k: replace_extension(
        c, k, SUBJECT_ALT_NAME, der(0x30, der(0xA9, b"\x01"))),
    "aki-wrong-type": lambda c, k: replace_extension(c, k, AUTHORITY_KEY_ID,
                                                     GARBAGE["wrong-type"]),
    "name-constraints-critical-garbage": lambda c, k: replace_extension(
        c, k, NAME_CONSTRAINTS, GARBAGE["truncated"], True),
    "unknown-critical-extension": lambda c, k: replace_extension(c, k, "1.2.3.4.5.6",
                                                                 b"\x05\x00", True),
    "key-unknown-algorithm": lambda c, k: with_spki(c, k, "1.2.3.4.5", b"\x01\x02\x03"),
    "key-rsa-garbage": lambda c, k: with_spki(c, k, "1.2.840.113549.1.1.1",
                                              b"\xde\xad\xbe\xef"),
    "key-ec-unknown-curve": lambda c, k: with_spki(c, k, "1.2.840.10045.2.1",
                                                   b"\x04" + b"\x01" * 64, der_oid("1.2.3.4")),
    "validity-year-0": lambda c, k: with_validity(c, k, generalized_time("00000101000000Z"),
                                                  generalized_time("99991231235959Z")),
    "validity-not-a-time": lambda c, k: with_validity(c, k, utc_time("ABCDEFGHIJKLZ"),
                                                      utc_time("300101000000Z")),
    "signature-algorithm-unknown": lambda c, k: rebuild(c, k, signature=_alg("1.2.3.4.99")),
    "subject-bmp-odd-length": lambda c, k: rebuild(c, k, subject=der(0x30, der(0x31, der(
        0x30, der_oid("2.5.4.3") + der(0x1E, b"\x00a\x00"))))),
}


def crl_mutations(crl: x509.CertificateRevocationList, key: object) -> dict[str, bytes]:
    """Damaged CRLs (DER) of the issuer of ``crl``, signed by ``key``: impossible versions,
    duplicate and undecodable extensions, unknown critical ones, damaged revoked entries,
    dates that cannot be read, an unknown signature algorithm, an issuer name not text."""
    when = utc_time("200101000000Z")
    number = extension(CRL_NUMBER, der_int(5))

    def exts(*items: bytes) -> bytes:
        return der(0xA0, der(0x30, b"".join(items)))

    def entries(*items: bytes) -> bytes:
        return der(0x30, b"".join(items))

    return {
        "crl-version-5": rebuild_crl(crl, key, version=der_int(4)),
        "crl-duplicate-number": rebuild_crl(crl, key, extensions=exts(number, number)),
        "crl-number-garbage": rebuild_crl(crl, key, extensions=exts(
            extension(CRL_NUMBER, GARBAGE["not-der"]))),
        "crl-unknown-critical": rebuild_crl(crl, key, extensions=exts(
            extension("1.2.3.4.5", b"\x05\x00", True))),
        "crl-delta": rebuild_crl(crl, key, extensions=exts(
            extension(DELTA_CRL, der_int(1), True))),
        "crl-entry-reason-garbage": rebuild_crl(crl, key, revoked=entries(revoked_entry(
            77, when, [extension(CRL_REASON, GARBAGE["not-der"])]))),
        "crl-entry-invalidity-date-garbage": rebuild_crl(crl, key, revoked=entries(
            revoked_entry(77, when, [extension(INVALIDITY_DATE, GARBAGE["wrong-type"])]))),
        "crl-entry-date-garbage": rebuild_crl(crl, key, revoked=entries(
            revoked_entry(77, utc_time("XXXXXXXXXXXXZ")))),
        "crl-entry-unknown-critical": rebuild_crl(crl, key, revoked=entries(revoked_entry(
            77, when, [extension("1.2.3.9", b"\x05\x00", True)]))),
        "crl-this-update-garbage": rebuild_crl(crl, key, this=utc_time("ABCDEFGHIJKLZ")),
        "crl-next-update-year-0": rebuild_crl(crl, key, next=generalized_time(
            "00000101000000Z")),
        "crl-signature-algorithm-unknown": rebuild_crl(crl, key, signature=_alg("1.2.3.4.99")),
        "crl-issuer-not-text": rebuild_crl(crl, key, issuer=der(0x30, der(0x31, der(
            0x30, der_oid("2.5.4.3") + der(0x0C, b"\xff\xfe"))))),
    }
