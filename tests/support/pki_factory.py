"""A PKI factory for the tests: real CAs, user and host certificates, RFC 3820 proxies, CRLs.

Everything is made with ``cryptography`` so the checks are tested against the same kind of
objects OpenSSL and DIRAC produce.  RSA keys are cached by size: generating them dominates the
test suite's run time, and reusing a key across unrelated certificates changes no verdict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
SHA256 = hashes.SHA256()

PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
DIRAC_GROUP_OID = x509.ObjectIdentifier("1.2.42.42")
INHERIT_ALL = "1.3.6.1.5.5.7.21.1"
LIMITED = "1.3.6.1.4.1.3536.1.1.1.9"

_KEYS: dict[tuple[str, int], list] = {}


def new_key(size: int = 2048, kind: str = "rsa", fresh: bool = False, slot: int = 0):
    """An RSA (or EC) key; ``slot`` picks among cached keys so two entities can differ."""
    cache = _KEYS.setdefault((kind, size), [])
    if fresh:
        slot = len(cache)
    while len(cache) <= slot:
        if kind == "ec":
            curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 192: ec.SECP192R1()}[size]
            cache.append(ec.generate_private_key(curve))
        else:
            cache.append(rsa.generate_private_key(public_exponent=65537, key_size=size))
    return cache[slot]


_slot_counter = [0]


def _next_slot() -> int:
    """A distinct cached key per entity (a pool of 2048-bit keys, grown on demand)."""
    _slot_counter[0] = (_slot_counter[0] + 1) % 24
    return _slot_counter[0]


def name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def dn(slash: str) -> x509.Name:
    """``/C=UK/O=x/CN=y`` → x509.Name in the same order."""
    oids = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
            "L": NameOID.LOCALITY_NAME, "DC": NameOID.DOMAIN_COMPONENT,
            "ST": NameOID.STATE_OR_PROVINCE_NAME}
    attrs = []
    for piece in slash.strip("/").split("/"):
        k, _, v = piece.partition("=")
        attrs.append(x509.NameAttribute(oids[k], v))
    return x509.Name(attrs)


@dataclass
class Entity:
    """A certificate with its key and the chain above it (issuer first)."""

    cert: x509.Certificate
    key: object
    issuer: Optional[Entity] = None
    extra_chain: list[x509.Certificate] = field(default_factory=list)

    @property
    def subject(self) -> x509.Name:
        return self.cert.subject

    @property
    def chain(self) -> list[x509.Certificate]:
        """This certificate's issuers up to (not including) the root, nearest first."""
        out, e = [], self.issuer
        while e is not None and e.issuer is not None:
            out.append(e.cert)
            e = e.issuer
        return out

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, fmt: str = "pkcs8", passphrase: Optional[bytes] = None) -> bytes:
        enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
               else serialization.NoEncryption())
        f = (serialization.PrivateFormat.TraditionalOpenSSL if fmt == "pkcs1"
             else serialization.PrivateFormat.PKCS8)
        return self.key.private_bytes(serialization.Encoding.PEM, f, enc)  # type: ignore

    def proxy_file(self) -> bytes:
        """DIRAC's proxy file layout: proxy cert, its key, then the rest of the chain."""
        parts = [self.cert_pem(), self.key_pem("pkcs8")]
        e = self.issuer
        while e is not None and e.issuer is not None:
            parts.append(e.cert_pem())
            e = e.issuer
        return b"".join(parts)


def _serial() -> int:
    return x509.random_serial_number()


class PKI:
    """Builds related certificates.  ``now`` is the reference clock for validity windows."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now
        #: The public keys each CA subject was given: a second CA of the same name (a
        #: look-alike, a re-keyed CA) never gets one of them from the cycling key pool.
        self._ca_keys: dict[x509.Name, list[object]] = {}

    def _window(self, expired: bool, not_yet_valid: bool, days: float,
                start: Optional[dt.datetime] = None) -> tuple[dt.datetime, dt.datetime]:
        if expired:
            return self.now - dt.timedelta(days=days + 10), self.now - 10 * DAY
        if not_yet_valid:
            return self.now + 10 * DAY, self.now + dt.timedelta(days=days + 10)
        nb = start or self.now - DAY
        return nb, self.now + dt.timedelta(days=days)

    def ca(self, cn: str = "Mu3e Test CA", parent: Optional[Entity] = None, *,
           subject: Optional[x509.Name] = None, expired: bool = False,
           not_yet_valid: bool = False, days: float = 3650, key=None,
           hash_alg: hashes.HashAlgorithm = SHA256) -> Entity:
        subject = subject or name((NameOID.COUNTRY_NAME, "CH"), (NameOID.ORGANIZATION_NAME,
                                  "Mu3e Test Grid"), (NameOID.COMMON_NAME, cn))
        taken = self._ca_keys.setdefault(subject, [])
        if key is None:
            key = new_key(slot=_next_slot())
            for _ in range(24):  # the pool cycles: skip a key this name already has
                if all(key.public_key() != k.public_key() for k in taken):
                    break
                key = new_key(slot=_next_slot())
        taken.append(key)
        nb, na = self._window(expired, not_yet_valid, days)
        issuer_name = parent.subject if parent else subject
        signer = parent.key if parent else key
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(_serial())
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False))
        if parent:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                parent.key.public_key()), critical=False)
        return Entity(b.sign(signer, hash_alg), key, issuer=parent or None)

    def user(self, issuer: Entity, cn: str = "Jane Physicist", *, subject=None,
             expired: bool = False, not_yet_valid: bool = False, days: float = 365,
             key=None, key_size: int = 2048, key_kind: str = "rsa",
             hash_alg: hashes.HashAlgorithm = SHA256) -> Entity:
        key = key or (new_key(key_size, key_kind, slot=_next_slot()) if key_size == 2048
                      and key_kind == "rsa" else new_key(key_size, key_kind))
        subject = subject or x509.Name(list(issuer.subject)[:-1] + [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Physics"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        nb, na = self._window(expired, not_yet_valid, days)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject)
             .public_key(key.public_key()).serial_number(_serial())
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                          False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.key.public_key()), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False))
        return Entity(b.sign(issuer.key, hash_alg), key, issuer=issuer)

    def host(self, issuer: Entity, hostname: str = "localhost", *,
             sans: Sequence[str] = (), expired: bool = False, days: float = 365) -> Entity:
        key = new_key(slot=_next_slot())
        nb, na = self._window(expired, False, days)
        alt = [x509.DNSName(h) for h in (sans or [hostname])]
        b = (x509.CertificateBuilder()
             .subject_name(name((NameOID.COUNTRY_NAME, "CH"), (NameOID.ORGANIZATION_NAME,
                                "Mu3e Test Grid"), (NameOID.COMMON_NAME, hostname)))
             .issuer_name(issuer.subject).public_key(key.public_key())
             .serial_number(_serial()).not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.SubjectAlternativeName(alt), critical=False)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False))
        return Entity(b.sign(issuer.key, hashes.SHA256()), key, issuer=issuer)

    def proxy(self, issuer: Entity, *, kind: str = "rfc3820", group: Optional[str] = None,
              lifetime: dt.timedelta = 12 * HOUR, expired: bool = False, key_size: int = 2048,
              extensions: Iterable[tuple[x509.ObjectIdentifier, bytes]] = (),
              not_before: Optional[dt.datetime] = None) -> Entity:
        """An RFC 3820 (or legacy/limited) proxy signed by ``issuer``'s key.

        ``group`` adds DIRAC's 1.2.42.42 extension (DER IA5String), as dirac-proxy-init does.
        """
        key = new_key(key_size, slot=_next_slot()) if key_size == 2048 else new_key(key_size)
        if expired:
            nb, na = self.now - 2 * lifetime - HOUR, self.now - HOUR
        else:
            nb = not_before or self.now - 15 * dt.timedelta(minutes=1)
            na = nb + lifetime
        serial = _serial()
        if kind == "legacy":
            cn = "proxy"
        elif kind == "legacy-limited":
            cn = "limited proxy"
        else:
            cn = str(serial % 10**10)
        subject = x509.Name(list(issuer.subject) + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject)
             .public_key(key.public_key()).serial_number(serial)
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                          False), critical=True))
        if kind in ("rfc3820", "limited"):
            policy = LIMITED if kind == "limited" else INHERIT_ALL
            b = b.add_extension(x509.UnrecognizedExtension(
                PROXY_CERT_INFO_OID, proxy_cert_info_der(policy)), critical=True)
        if group is not None:
            b = b.add_extension(x509.UnrecognizedExtension(DIRAC_GROUP_OID, ia5(group)),
                                critical=False)
        for oid, der in extensions:
            b = b.add_extension(x509.UnrecognizedExtension(oid, der), critical=False)
        return Entity(b.sign(issuer.key, hashes.SHA256()), key, issuer=issuer)

    def crl(self, ca: Entity, revoked: Sequence[Entity | x509.Certificate] = (), *,
            next_update: Optional[dt.datetime] = None, last_update: Optional[dt.datetime] = None,
            filler: int = 0, signer: Optional[Entity] = None) -> x509.CertificateRevocationList:
        """A CRL by ``ca`` (or signed by ``signer``'s key); ``filler`` adds dummy serials."""
        b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
             .last_update(last_update or self.now - DAY)
             .next_update(next_update or self.now + 7 * DAY))
        for r in revoked:
            cert = r.cert if isinstance(r, Entity) else r
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                .revocation_date(self.now - DAY).build())
        for n in range(filler):
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(10**12 + n)
                .revocation_date(self.now - DAY).build())
        return b.sign((signer or ca).key, hashes.SHA256())


# ------------------------------------------------------------------------- DER helpers


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_len(len(content)) + content


def der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return der(0x06, body)


def ia5(text: str) -> bytes:
    return der(0x16, text.encode("ascii"))


def proxy_cert_info_der(policy_oid: str) -> bytes:
    """ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint OPTIONAL, proxyPolicy SEQUENCE {oid} }"""
    return der(0x30, der(0x30, der_oid(policy_oid)))


# ------------------------------------------------------------------------- files


def pem(*objs) -> bytes:
    out = b""
    for o in objs:
        if isinstance(o, Entity):
            o = o.cert
        out += o.public_bytes(serialization.Encoding.PEM)
    return out


def subject_hash(cert: x509.Certificate) -> str:
    """OpenSSL's new-style subject hash (via pyOpenSSL), as used by c_rehash."""
    from OpenSSL import crypto

    return f"{crypto.X509.from_cryptography(cert).subject_name_hash() & 0xffffffff:08x}"


def subject_hash_old(cert: x509.Certificate) -> str:
    """OpenSSL's pre-1.0 MD5 subject hash; IGTF ships links under both names."""
    digest = hashlib.md5(cert.subject.public_bytes()).digest()
    return f"{struct.unpack('<I', digest[:4])[0]:08x}"


def write_trust_dir(directory: Path, cas: Sequence[Entity],
                    crls: Optional[dict[int, x509.CertificateRevocationList]] = None,
                    *, old_hash: bool = False, crl_der: bool = False) -> Path:
    """A c_rehash-style CA dir: ``<hash>.0`` per CA and ``<hash>.r0`` per CRL given.

    ``crls`` maps ``id(ca_entity)`` → CRL; pass :func:`crls_for` output.
    """
    directory.mkdir(parents=True, exist_ok=True)
    crls = crls or {}
    for ca in cas:
        names = [subject_hash(ca.cert)] + ([subject_hash_old(ca.cert)] if old_hash else [])
        for n, h in enumerate(names):
            target = directory / f"{h}.0"
            if n == 0:
                target.write_bytes(ca.cert_pem())
            else:
                os.symlink(f"{names[0]}.0", target)
            crl = crls.get(id(ca))
            if crl is not None:
                enc = serialization.Encoding.DER if crl_der else serialization.Encoding.PEM
                (directory / f"{h}.r0").write_bytes(crl.public_bytes(enc))
    return directory


def crls_for(pki: PKI, cas: Sequence[Entity], **kw) -> dict[int, x509.CertificateRevocationList]:
    return {id(ca): pki.crl(ca, **kw) for ca in cas}


def write_credentials(globus: Path, user: Entity, *, key_mode: int = 0o600,
                      cert_mode: int = 0o644, key_fmt: str = "pkcs8",
                      passphrase: Optional[bytes] = None, extra_certs: Sequence[Entity] = ()
                      ) -> tuple[Path, Path]:
    """``usercert.pem`` and ``userkey.pem`` as ``openssl pkcs12`` leaves them."""
    globus.mkdir(parents=True, exist_ok=True)
    os.chmod(globus, 0o700)
    cert = globus / "usercert.pem"
    key = globus / "userkey.pem"
    cert.write_bytes(pem(user, *extra_certs))
    key.write_bytes(user.key_pem(key_fmt, passphrase))
    os.chmod(cert, cert_mode)
    os.chmod(key, key_mode)
    return cert, key


# ------------------------------------------------------------------------- proxies and VOMS

VOMS_AC_OID = x509.ObjectIdentifier("1.3.6.1.4.1.8005.100.100.5")
_FQAN_OID = "1.3.6.1.4.1.8005.100.100.4"
_AC_CERTS_OID = "1.3.6.1.4.1.8005.100.100.10"
_SHA256_RSA = "1.2.840.113549.1.1.11"


def der_int(n: int) -> bytes:
    return der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def _gtime(t: dt.datetime) -> bytes:
    return der(0x18, t.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ").encode())


def _directory_names(subject: x509.Name) -> bytes:
    """GeneralNames holding one directoryName ([4] EXPLICIT Name)."""
    return der(0x30, der(0xA4, subject.public_bytes()))


def voms_ac(holder: Entity, server: Entity, *, vo: str = "mu3e.org",
            fqans: Sequence[str] = (), uri: str = "voms.example.org:15000",
            not_before: Optional[dt.datetime] = None, not_after: Optional[dt.datetime] = None,
            serial: int = 1, carry_server_cert: bool = True, bad_signature: bool = False
            ) -> bytes:
    """One RFC 3281 attribute certificate, laid out as VOMS (and voms-proxy-fake) writes it.

    ``holder`` is the certificate the AC is issued to (its issuer and serial go into the
    Holder); ``server`` is the VOMS server certificate whose key signs it.
    """
    fqans = list(fqans) or [f"/{vo}/Role=NULL/Capability=NULL"]
    nb = not_before or NOW - 15 * dt.timedelta(minutes=1)
    na = not_after or nb + 12 * HOUR
    holder_der = der(0x30, der(0xA0, _directory_names(holder.cert.issuer)
                               + der_int(holder.cert.serial_number)))
    issuer_der = der(0xA0, _directory_names(server.subject))
    algorithm = der(0x30, der_oid(_SHA256_RSA) + der(0x05, b""))
    ietf = der(0x30, der(0xA0, der(0x86, f"{vo}://{uri}".encode()))
               + der(0x30, b"".join(der(0x04, f.encode()) for f in fqans)))
    attributes = der(0x30, der(0x30, der_oid(_FQAN_OID) + der(0x31, ietf)))
    extensions = b""
    if carry_server_cert:
        certs = der(0x30, der(0x30, server.cert_der()))
        extensions = der(0x30, der(0x30, der_oid(_AC_CERTS_OID) + der(0x04, certs)))
    acinfo = der(0x30, der_int(1) + holder_der + issuer_der + algorithm + der_int(serial)
                 + der(0x30, _gtime(nb) + _gtime(na)) + attributes + extensions)
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = server.key.sign(acinfo, padding.PKCS1v15(), hashes.SHA256())  # type: ignore
    if bad_signature:
        signature = bytes([signature[0] ^ 0xFF]) + signature[1:]
    return der(0x30, acinfo + algorithm + der(0x03, b"\x00" + signature))


def voms_extension(*acs: bytes) -> tuple[x509.ObjectIdentifier, bytes]:
    """The proxy extension carrying ``acs`` (SEQUENCE { SEQUENCE OF AC }), for
    ``PKI.proxy(extensions=[...])``."""
    return VOMS_AC_OID, der(0x30, der(0x30, b"".join(acs)))


def write_proxy(path: Path, proxy: Entity, *, mode: int = 0o600, tail: bytes = b"") -> Path:
    """A proxy file as DIRAC writes it (proxy, key, chain), plus optional trailing bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proxy.proxy_file() + tail)
    os.chmod(path, mode)
    return path
