"""A small, strict DER reader for the few grid structures ``cryptography`` does not parse.

``cryptography`` hands over unknown certificate extensions as raw bytes: the VOMS attribute
certificate (RFC 3281), DIRAC's group (an IA5String) and the RFC 3820 proxyCertInfo policy.
Reading those needs only tag/length/value walking, OIDs, integers, strings, times and names, so
the project carries this reader instead of a new dependency (pyasn1).  It is strict on purpose:
a proxy is security material, so anything malformed (truncated, indefinite length, trailing
bytes, absurd nesting) raises :class:`DerError` rather than being guessed at.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Optional

from cryptography import x509

from mu3e_checks.text import clip

# Universal tags used here.
INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 0x02, 0x03, 0x04, 0x05, 0x06
UTF8_STRING, SEQUENCE, SET = 0x0C, 0x30, 0x31
PRINTABLE_STRING, T61_STRING, IA5_STRING = 0x13, 0x14, 0x16
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
VISIBLE_STRING, UNIVERSAL_STRING, BMP_STRING = 0x1A, 0x1C, 0x1E

#: What ``cryptography`` raises from the parts of a certificate or CRL it decodes only when
#: they are first touched (extensions, validity dates, names): a duplicate extension, a known
#: extension whose value is not what its type says (a garbage basicConstraints, keyUsage or
#: SAN), a general name type it does not know, a date it cannot represent.
DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, x509.DuplicateExtension,
                                              x509.UnsupportedGeneralNameType)


class DerError(ValueError):
    """The bytes are not valid DER for the expected structure; the message says where."""


@dataclass(frozen=True)
class Tlv:
    """One DER element: identifier octet, content bytes and the whole encoding."""

    tag: int  # the identifier octet as it appears (class, constructed bit, number < 31)
    content: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    @property
    def context_number(self) -> int | None:
        """``n`` for a context-specific ``[n]`` tag, else None."""
        return self.tag & 0x1F if self.tag & 0xC0 == 0x80 else None

    def children(self) -> list[Tlv]:
        """The elements inside a constructed element."""
        if not self.constructed:
            raise DerError(f"element with tag 0x{self.tag:02x} is not constructed")
        out, pos = [], 0
        while pos < len(self.content):
            tlv, pos = read_tlv(self.content, pos)
            out.append(tlv)
        return out


def read_tlv(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """The element starting at ``pos`` and the offset just after it."""
    if pos + 2 > len(data):
        raise DerError("truncated: no room for a tag and a length")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers do not occur in these structures")
    first = data[pos + 1]
    head = pos + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length is not allowed in DER")
    else:
        n = first & 0x7F
        if n > 4 or head + n > len(data):
            raise DerError("truncated or oversized length field")
        length = int.from_bytes(data[head:head + n], "big")
        head += n
    end = head + length
    if end > len(data):
        raise DerError(f"truncated: element of {length} bytes at offset {pos} runs past the end")
    return Tlv(tag, data[head:end], data[pos:end]), end


def parse(data: bytes) -> Tlv:
    """Exactly one element filling ``data``."""
    tlv, end = read_tlv(data, 0)
    if end != len(data):
        raise DerError(f"{len(data) - end} unexpected bytes after the structure")
    return tlv


def expect(tlv: Tlv, tag: int, what: str) -> Tlv:
    if tlv.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    return tlv


def seq(tlv: Tlv, what: str) -> list[Tlv]:
    """The children of a SEQUENCE."""
    return expect(tlv, SEQUENCE, what).children()


def oid(tlv: Tlv) -> str:
    """Dotted form of an OBJECT IDENTIFIER."""
    body = expect(tlv, OID, "object identifier").content
    if not body or body[-1] & 0x80:
        raise DerError("malformed object identifier")
    parts: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(p) for p in head + parts[1:])


def integer(tlv: Tlv) -> int:
    body = expect(tlv, INTEGER, "integer").content
    if not body:
        raise DerError("empty integer")
    return int.from_bytes(body, "big", signed=True)


def bit_string(tlv: Tlv) -> bytes:
    body = expect(tlv, BIT_STRING, "bit string").content
    if not body or body[0] > 7:
        raise DerError("malformed bit string")
    return body[1:]


_STRING_CODECS = {
    UTF8_STRING: "utf-8", PRINTABLE_STRING: "ascii", IA5_STRING: "ascii",
    VISIBLE_STRING: "ascii", T61_STRING: "latin-1", BMP_STRING: "utf-16-be",
    UNIVERSAL_STRING: "utf-32-be", OCTET_STRING: "utf-8",
}


def string(tlv: Tlv) -> str:
    """Any of the ASN.1 string types (and OCTET STRING holding text, as VOMS FQANs do)."""
    codec = _STRING_CODECS.get(tlv.tag)
    if codec is None:
        raise DerError(f"expected a string, found tag 0x{tlv.tag:02x}")
    try:
        return tlv.content.decode(codec)
    except UnicodeDecodeError:
        raise DerError("string with bytes that are not valid text") from None


def time(tlv: Tlv) -> _dt.datetime:
    """GeneralizedTime or UTCTime (``Z`` form, as DER requires) as an aware UTC datetime."""
    try:
        text = tlv.content.decode("ascii")
    except UnicodeDecodeError:
        raise DerError("malformed time") from None
    if not text.endswith("Z"):
        raise DerError(f"time '{clip(text, 40)}' is not in UTC")
    fmt = {GENERALIZED_TIME: "%Y%m%d%H%M%S", UTC_TIME: "%y%m%d%H%M%S"}.get(tlv.tag)
    if fmt is None:
        raise DerError(f"expected a time, found tag 0x{tlv.tag:02x}")
    core = text[:-1].split(".")[0]
    try:
        return _dt.datetime.strptime(core, fmt).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise DerError(f"malformed time '{clip(text, 40)}'") from None


def name(tlv: Tlv) -> x509.Name:
    """An X.501 Name (SEQUENCE OF SET OF {type, value}) as a ``cryptography`` Name."""
    rdns = []
    for rdn in seq(tlv, "name"):
        attrs = []
        for atv in expect(rdn, SET, "relative distinguished name").children():
            parts = seq(atv, "name attribute")
            if len(parts) != 2:
                raise DerError("name attribute without a value")
            ident = x509.ObjectIdentifier(oid(parts[0]))
            value = string(parts[1])
            with warnings.catch_warnings():  # a 3-letter country name is odd, not fatal
                warnings.simplefilter("ignore")
                attrs.append(x509.NameAttribute(ident, value, _validate=False))
        if attrs:
            rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


def raw_extensions(certs: Sequence[x509.Certificate], ident: x509.ObjectIdentifier
                   ) -> Iterator[tuple[int, Optional[bytes]]]:
    """(position, DER value) of extension ``ident`` on each certificate that has it.

    ``cryptography`` keeps extensions it does not know (the DIRAC group, the VOMS AC) as raw
    bytes; the value is None when the certificate's extensions cannot be decoded at all.
    """
    for n, cert in enumerate(certs):
        try:
            ext = cert.extensions.get_extension_for_oid(ident)
        except x509.ExtensionNotFound:
            continue
        except DECODE_ERRORS:
            yield n, None
            continue
        yield n, getattr(ext.value, "value", b"")


#: Short names for the DN attributes grid certificates use (OpenSSL's spelling).
_DN_SHORT = {"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU",
             "2.5.4.3": "CN", "0.9.2342.19200300.100.1.25": "DC",
             "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.1": "UID",
             "2.5.4.5": "serialNumber"}


def lenient_dn(tlv: Tlv) -> str:
    """Slash form of a Name whose strings may not be valid text (for a message only).

    ``cryptography`` refuses a certificate name whose UTF8String holds invalid UTF-8; OpenSSL
    loads it.  To *name* such a certificate the bytes are decoded with ``surrogateescape``, so
    :func:`mu3e_checks.text.visible` shows each bad byte as ``\\xNN``.
    """
    parts = []
    for rdn in seq(tlv, "name"):
        for atv in expect(rdn, SET, "relative distinguished name").children():
            fields = seq(atv, "name attribute")
            if len(fields) != 2:
                raise DerError("name attribute without a value")
            dotted = oid(fields[0])
            codec = {BMP_STRING: "utf-16-be", UNIVERSAL_STRING: "utf-32-be"}.get(fields[1].tag,
                                                                               "utf-8")
            value = fields[1].content.decode(codec, "surrogateescape" if codec == "utf-8"
                                             else "replace")
            parts.append(f"{_DN_SHORT.get(dotted, dotted)}={value}")
    return "/" + "/".join(parts) if parts else ""


def encode(tag: int, content: bytes) -> bytes:
    """One DER element (definite length): enough to rebuild a structure this module read."""
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(body)]) + body
    return bytes([tag]) + head + content


def tbs_extensions(tbs: bytes) -> list[Tlv]:
    """Each Extension (``SEQUENCE { extnID, critical?, extnValue }``) of a TBSCertificate."""
    fields = seq(parse(tbs), "TBSCertificate")
    found = next((f for f in fields if f.context_number == 3 and f.constructed), None)
    if found is None:
        return []
    inner = found.children()
    return seq(inner[0], "extensions") if inner else []


def with_only_extension(cert_der: bytes, ext: Tlv) -> bytes:
    """``cert_der`` with ``ext`` as its one extension and no signature: a certificate to
    *decode* one extension in isolation (nothing verifies it), to tell which one is damaged."""
    outer = seq(parse(cert_der), "Certificate")
    fields = seq(outer[0], "TBSCertificate")
    kept = [f.raw for f in fields if f.context_number != 3]
    tbs = encode(SEQUENCE, b"".join(kept) + encode(0xA3, encode(SEQUENCE, ext.raw)))
    return encode(SEQUENCE, tbs + outer[1].raw + encode(BIT_STRING, b"\x00"))


def tbs_names(tbs: bytes) -> tuple[Tlv, Tlv]:
    """(issuer, subject) Name elements of a TBSCertificate, read without ``cryptography``."""
    fields = seq(parse(tbs), "TBSCertificate")
    if fields and fields[0].context_number == 0:  # [0] EXPLICIT version
        fields = fields[1:]
    if len(fields) < 5:
        raise DerError("TBSCertificate has too few fields")
    return fields[2], fields[4]
