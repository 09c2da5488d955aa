"""VOMS attribute certificates (RFC 3281) inside a proxy: VO, FQANs, issuer, validity.

``dirac-proxy-init -M`` asks ``voms-proxy-init`` to add the VO's attribute certificate (AC) to
the proxy as extension 1.3.6.1.4.1.8005.100.100.5.  When that step fails DIRAC prints "Could not
add VOMS extensions to the proxy" and still exits 0, so a proxy without an AC is common; an AC
that expired while the proxy lives on ("VOMS attributes are expired") or one for another VO gets
jobs and transfers refused by the sites.  ``cryptography`` cannot parse ACs, hence the reader in
:mod:`mu3e_checks.knowledge.der`.

Layout, as VOMS writes it (an extra SEQUENCE level around the list is tolerated)::

    AttributeCertificate ::= SEQUENCE { acinfo, signatureAlgorithm, signatureValue BIT STRING }
    acinfo ::= SEQUENCE { version, holder, issuer [0] V2Form, signature, serialNumber,
                          SEQUENCE { notBefore GeneralizedTime, notAfter GeneralizedTime },
                          attributes SEQUENCE OF Attribute, issuerUniqueID?, extensions? }
    FQAN attribute 1.3.6.1.4.1.8005.100.100.4: IetfAttrSyntax ::= SEQUENCE {
        policyAuthority [0] GeneralNames OPTIONAL  -- URI "<vo>://<host>:<port>"
        values SEQUENCE OF OCTET STRING }         -- "/mu3e.org/Role=NULL/Capability=NULL"
    AC extension 1.3.6.1.4.1.8005.100.100.10: the VOMS server's certificate(s), DER.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from mu3e_checks.knowledge import der
from mu3e_checks.knowledge.pki import (
    VOMS_AC_OID,
    PemError,
    dn_slash,
    fmt_time,
    load_certificate_any,
    public_key,
    utcnow,
)

FQAN_ATTRIBUTE_OID = "1.3.6.1.4.1.8005.100.100.4"
AC_CERTS_OID = "1.3.6.1.4.1.8005.100.100.10"

_RSA_HASHES = {
    "1.2.840.113549.1.1.5": hashes.SHA1, "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384, "1.2.840.113549.1.1.13": hashes.SHA512,
    "1.2.840.113549.1.1.14": hashes.SHA224,
}
_ECDSA_HASHES = {
    "1.2.840.10045.4.3.2": hashes.SHA256, "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}


class VomsError(ValueError):
    """The VOMS extension is present but cannot be read; the message is for the user."""


@dataclass(frozen=True)
class AttributeCertificate:
    """The facts of one VOMS AC that a physicist or a site cares about."""

    vo: str
    server: str  # "host:port" of the VOMS server from the policy authority, "" if absent
    fqans: tuple[str, ...]
    issuer: str  # slash DN of the VOMS server that signed it
    serial: int
    not_before: _dt.datetime
    not_after: _dt.datetime
    holder: str = ""  # slash DN from the holder's baseCertificateID, "" if absent
    holder_serial: Optional[int] = None
    signer_certs: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    #: True/False when the AC's signature could be checked with the VOMS certificate it
    #: carries; None when it carries none or uses an algorithm not checked here.
    signature_ok: Optional[bool] = None

    def state(self, now: Optional[_dt.datetime] = None) -> str:
        now = now or utcnow()
        if now > self.not_after:
            return "expired"
        if now < self.not_before:
            return "not-yet-valid"
        return "valid"

    def describe(self) -> str:
        fq = ", ".join(self.fqans) or "no FQANs"
        return (f"VO {self.vo} ({fq}), issued by {self.issuer}"
                f"{' at ' + self.server if self.server else ''}, valid until "
                f"{fmt_time(self.not_after)}")


def _general_names(tlv: der.Tlv) -> list[der.Tlv]:
    return der.seq(tlv, "general names")


def _directory_name(names: Sequence[der.Tlv]) -> str:
    """The first directoryName ([4] EXPLICIT Name) in a GeneralNames, in slash form."""
    for gn in names:
        if gn.context_number == 4 and gn.constructed:
            inner = gn.children()
            if inner:
                return dn_slash(der.name(inner[0]))
    return ""


def _holder(tlv: der.Tlv) -> tuple[str, Optional[int]]:
    for part in der.seq(tlv, "holder"):
        if part.context_number == 0 and part.constructed:  # baseCertificateID IssuerSerial
            fields = part.children()
            if len(fields) >= 2:
                return _directory_name(_general_names(fields[0])), der.integer(fields[1])
    return "", None


def _issuer(tlv: der.Tlv) -> str:
    if tlv.context_number == 0 and tlv.constructed:  # v2Form [0] IMPLICIT V2Form
        fields = tlv.children()
        if fields and fields[0].tag == der.SEQUENCE:
            return _directory_name(_general_names(fields[0]))
        return ""
    if tlv.tag == der.SEQUENCE:  # v1Form GeneralNames
        return _directory_name(_general_names(tlv))
    raise der.DerError("unexpected AC issuer form")


def _fqan_attribute(values: der.Tlv) -> tuple[str, list[str]]:
    """(policy authority URI, FQANs) from the SET OF IetfAttrSyntax."""
    authority, fqans = "", []
    for syntax in der.expect(values, der.SET, "FQAN attribute values").children():
        for part in der.seq(syntax, "IetfAttrSyntax"):
            if part.context_number == 0 and part.constructed:
                for gn in part.children():
                    if gn.context_number == 6 and not authority:  # uniformResourceIdentifier
                        authority = gn.content.decode("ascii", "replace")
            elif part.tag == der.SEQUENCE:
                fqans.extend(der.string(v) for v in part.children() if v.tag != der.OID)
    return authority, fqans


def _ac_certificates(extensions: der.Tlv) -> list[x509.Certificate]:
    """The VOMS server certificate(s) the AC carries (nested SEQUENCEs of DER certificates)."""
    found: list[der.Tlv] = []

    def walk(tlv: der.Tlv, depth: int) -> None:
        if _is_signed(tlv):
            found.append(tlv)
        elif tlv.tag == der.SEQUENCE and depth < 3:
            for child in tlv.children():
                walk(child, depth + 1)

    for ext in der.seq(extensions, "AC extensions"):
        parts = der.seq(ext, "AC extension")
        if len(parts) >= 2 and der.oid(parts[0]) == AC_CERTS_OID:
            walk(der.parse(der.expect(parts[-1], der.OCTET_STRING, "AC certs").content), 0)
    try:
        return [load_certificate_any(t.raw, "the VOMS server certificate in the AC")
                for t in found]
    except PemError as exc:
        raise der.DerError(str(exc)) from None


def _is_signed(tlv: der.Tlv) -> bool:
    """SEQUENCE { SEQUENCE to-be-signed, SEQUENCE algorithm, BIT STRING signature }."""
    if tlv.tag != der.SEQUENCE:
        return False
    kids = tlv.children()
    return (len(kids) == 3 and kids[0].tag == der.SEQUENCE and kids[1].tag == der.SEQUENCE
            and kids[2].tag == der.BIT_STRING)


def _verify(signers: Sequence[x509.Certificate], issuer: str, algorithm: str, tbs: bytes,
            signature: bytes) -> Optional[bool]:
    candidates = [c for c in signers if dn_slash(c.subject) == issuer] or list(signers)[:1]
    if not candidates:
        return None
    pub = public_key(candidates[0])
    try:
        if isinstance(pub, rsa.RSAPublicKey) and algorithm in _RSA_HASHES:
            pub.verify(signature, tbs, padding.PKCS1v15(), _RSA_HASHES[algorithm]())
        elif isinstance(pub, ec.EllipticCurvePublicKey) and algorithm in _ECDSA_HASHES:
            pub.verify(signature, tbs, ec.ECDSA(_ECDSA_HASHES[algorithm]()))
        else:
            return None
    except InvalidSignature:
        return False
    return True


def _looks_like_ac(tlv: der.Tlv) -> bool:
    if not _is_signed(tlv):
        return False
    info = tlv.children()[0].children()
    return bool(info) and info[0].tag == der.INTEGER


def parse_ac(tlv: der.Tlv) -> AttributeCertificate:
    """One RFC 3281 attribute certificate."""
    acinfo, algorithm, signature = der.seq(tlv, "attribute certificate")
    fields = der.seq(acinfo, "AC info")
    if len(fields) < 7:
        raise der.DerError("AC info has too few fields")
    version, holder, issuer, _sig, serial, period, attributes = fields[:7]
    if der.integer(version) != 1:
        raise der.DerError("not a version 2 attribute certificate")
    times = der.seq(period, "AC validity")
    if len(times) != 2:
        raise der.DerError("AC validity needs a start and an end")
    authority, fqans = "", []
    for attribute in der.seq(attributes, "AC attributes"):
        parts = der.seq(attribute, "AC attribute")
        if len(parts) == 2 and der.oid(parts[0]) == FQAN_ATTRIBUTE_OID:
            authority, fqans = _fqan_attribute(parts[1])
    vo, _, server = authority.partition("://")
    if not server:
        vo, server = "", ""
    if not vo and fqans:
        vo = fqans[0].strip("/").split("/")[0]
    extensions = next((f for f in fields[7:] if f.tag == der.SEQUENCE), None)
    signers = tuple(_ac_certificates(extensions)) if extensions is not None else ()
    issuer_dn = _issuer(issuer)
    holder_dn, holder_serial = _holder(holder)
    algo = der.oid(der.seq(algorithm, "signature algorithm")[0])
    return AttributeCertificate(
        vo=vo, server=server, fqans=tuple(fqans), issuer=issuer_dn,
        serial=der.integer(serial), not_before=der.time(times[0]),
        not_after=der.time(times[1]), holder=holder_dn, holder_serial=holder_serial,
        signer_certs=signers,
        signature_ok=_verify(signers, issuer_dn, algo, acinfo.raw, der.bit_string(signature)))


def _collect(tlv: der.Tlv, out: list[AttributeCertificate], depth: int = 0) -> None:
    if depth > 4:
        raise der.DerError("VOMS extension nested too deeply")
    if _looks_like_ac(tlv):
        out.append(parse_ac(tlv))
        return
    for child in der.seq(tlv, "VOMS AC list"):
        _collect(child, out, depth + 1)


def parse_voms_extension(value: bytes) -> list[AttributeCertificate]:
    """Every AC in the value of extension 1.3.6.1.4.1.8005.100.100.5, or :class:`VomsError`."""
    out: list[AttributeCertificate] = []
    try:
        _collect(der.parse(value), out)
    except der.DerError as exc:
        raise VomsError(f"the VOMS attribute certificate cannot be read ({exc})") from None
    if not out:
        raise VomsError("the VOMS extension holds no attribute certificate")
    return out


@dataclass(frozen=True)
class VomsFinding:
    """The ACs found in a proxy chain, where, or why they could not be read."""

    acs: tuple[AttributeCertificate, ...] = ()
    position: Optional[int] = None  # index in the chain of the certificate that carries them
    error: str = ""


def find_voms(chain: Sequence[x509.Certificate]) -> VomsFinding:
    """The first certificate in the chain (proxy first) that carries a VOMS extension.

    ``voms-proxy-init`` puts it on the outermost proxy; with ``dirac-proxy-init -M`` that is the
    first certificate, with a DIRAC proxy as the second.
    """
    for n, raw in der.raw_extensions(chain, VOMS_AC_OID):
        if raw is None:
            return VomsFinding(position=n, error="certificate extensions cannot be decoded")
        try:
            return VomsFinding(tuple(parse_voms_extension(raw)), n)
        except VomsError as exc:
            return VomsFinding(position=n, error=str(exc))
    return VomsFinding()
