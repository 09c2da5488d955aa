"""Where the user's long-term credentials are, the way DIRAC looks for them.

DIRAC takes ``$X509_USER_CERT``/``$X509_USER_KEY`` only when the file exists, and otherwise
``$HOME/.globus/usercert.pem`` and ``userkey.pem``.  The checks must look at the same files DIRAC
will use, or their verdict is about the wrong thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge import der
from mu3e_checks.knowledge.files import Unreadable, find_files, is_file, read_bytes
from mu3e_checks.knowledge.pkcs12_cost import (
    PBES2,
    PKCS7_DATA,
    PKCS7_ENCRYPTED_DATA,
    SHROUDED_KEY_BAG,
)


@dataclass(frozen=True)
class Credentials:
    cert: Path
    key: Path
    cert_source: str
    key_source: str


def locate_credentials(environ: Mapping[str, str], globus: Path) -> Credentials:
    """The certificate and key paths DIRAC would use, and why."""
    def pick(var: str, default: Path) -> tuple[Path, str]:
        value = environ.get(var)
        if value and is_file(Path(value)):
            return Path(value), f"${var}"
        if value:
            return default, f"default (${var}={value} is not a file, so DIRAC ignores it)"
        return default, "default"

    cert, cert_src = pick("X509_USER_CERT", globus / "usercert.pem")
    key, key_src = pick("X509_USER_KEY", globus / "userkey.pem")
    return Credentials(cert, key, cert_src, key_src)


def find_pkcs12(globus: Path, home: Path) -> list[Path]:
    """``.p12``/``.pfx`` exports lying in ``~/.globus`` or the home directory."""
    return find_files([globus, home], (".p12", ".pfx"))


def export_needs_legacy(p12: Path, creds: Credentials) -> Optional[bool]:
    """Whether extracting from this export needs ``openssl pkcs12 -legacy``: what
    :func:`needs_legacy` reads from the file, or True when it cannot tell and both PEM files
    are empty (what the guide's commands leave after OpenSSL 3 refused an RC2 export)."""
    legacy = needs_legacy(Path(p12))
    if legacy is None and empty_file(creds.cert) and empty_file(creds.key):
        legacy = True
    return legacy


def empty_file(path: Path) -> bool:
    """A regular file of 0 bytes (what a refused ``openssl pkcs12 -out`` leaves); never raises."""
    try:
        return is_file(path) and path.stat().st_size == 0
    except OSError:
        return False


# ----------------------------------------------------------------------------- .p12 exports

#: Encryption algorithms OpenSSL 3 keeps in its *legacy* provider: a .p12 that uses one for its
#: certificates or key is read only by ``openssl pkcs12 -legacy`` ("unsupported ... RC2-40-CBC";
#: the guide's commands then leave 0-byte PEM files).  Old CA portals and browsers wrote RC2-40.
LEGACY_PBE = {
    "1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
    "1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
    "1.2.840.113549.1.5.1": "pbeWithMD2AndDES-CBC",
    "1.2.840.113549.1.5.3": "pbeWithMD5AndDES-CBC",
    "1.2.840.113549.1.5.4": "pbeWithMD2AndRC2-CBC",
    "1.2.840.113549.1.5.6": "pbeWithMD5AndRC2-CBC",
    "1.2.840.113549.1.5.10": "pbeWithSHA1AndDES-CBC",
    "1.2.840.113549.1.5.11": "pbeWithSHA1AndRC2-CBC",
    # ciphers inside PBES2
    "1.3.14.3.2.7": "DES-CBC",
    "1.2.840.113549.3.2": "RC2-CBC",
    "1.2.840.113549.3.9": "RC5-CBC",
}
#: A .p12 is a few kilobytes; anything far larger is not one.
MAX_PKCS12 = 1024 * 1024


def pkcs12_algorithms(data: bytes) -> list[str]:
    """The encryption algorithm OIDs of a PKCS#12 file, in file order: of each encrypted
    ``SafeContents`` (the certificates) and each shrouded key bag (the key); for PBES2 the
    cipher inside.  Read from the DER alone, without decrypting anything or running openssl.
    Raises :class:`~mu3e_checks.knowledge.der.DerError` for anything that is not such a file
    (BER with indefinite lengths, as some exporters write, included).
    """
    pfx = der.seq(der.parse(data), "PFX")
    if len(pfx) < 2:
        raise der.DerError("PFX: too few fields")
    auth_type, auth_content = _content_info(pfx[1])
    if auth_type != PKCS7_DATA:
        raise der.DerError("PFX: the authenticated safe is not plain data (public-key mode)")
    found: list[str] = []
    for info in der.seq(der.parse(_octets(auth_content)), "AuthenticatedSafe"):
        kind, content = _content_info(info)
        if kind == PKCS7_ENCRYPTED_DATA:
            encrypted = der.seq(content, "EncryptedData")
            if len(encrypted) < 2:
                raise der.DerError("EncryptedData: too few fields")
            eci = der.seq(encrypted[1], "EncryptedContentInfo")
            if len(eci) < 2:
                raise der.DerError("EncryptedContentInfo: too few fields")
            found.append(_algorithm(eci[1]))
        elif kind == PKCS7_DATA:
            for bag in der.seq(der.parse(_octets(content)), "SafeContents"):
                fields = der.seq(bag, "SafeBag")
                if len(fields) >= 2 and der.oid(fields[0]) == SHROUDED_KEY_BAG:
                    value = _explicit(fields[1])
                    found.append(_algorithm(der.seq(value, "EncryptedPrivateKeyInfo")[0]))
    return found


def _content_info(tlv: der.Tlv) -> tuple[str, der.Tlv]:
    fields = der.seq(tlv, "ContentInfo")
    if len(fields) < 2:
        raise der.DerError("ContentInfo without content")
    return der.oid(fields[0]), _explicit(fields[1])


def _explicit(tlv: der.Tlv) -> der.Tlv:
    """The one element inside an ``[0] EXPLICIT`` wrapper."""
    if tlv.context_number != 0 or not tlv.constructed:
        raise der.DerError(f"expected [0], found tag 0x{tlv.tag:02x}")
    inner = tlv.children()
    if len(inner) != 1:
        raise der.DerError("[0] must hold exactly one element")
    return inner[0]


def _octets(tlv: der.Tlv) -> bytes:
    return der.expect(tlv, der.OCTET_STRING, "OCTET STRING").content


def _algorithm(tlv: der.Tlv) -> str:
    """An AlgorithmIdentifier's OID; for PBES2, the cipher's (the part OpenSSL may lack)."""
    fields = der.seq(tlv, "AlgorithmIdentifier")
    if not fields:
        raise der.DerError("empty AlgorithmIdentifier")
    ident = der.oid(fields[0])
    if ident == PBES2 and len(fields) > 1:
        params = der.seq(fields[1], "PBES2-params")
        if len(params) >= 2:
            return der.oid(der.seq(params[1], "encryptionScheme")[0])
    return ident


def needs_legacy(p12: Path) -> Optional[bool]:
    """Whether ``openssl pkcs12`` (OpenSSL 3) needs ``-legacy`` to read this export: True for
    an RC2/RC4/DES-encrypted one, False when every algorithm is current (AES, 3DES), None when
    the file cannot be read or is not DER this reader understands."""
    try:
        algorithms = pkcs12_algorithms(read_bytes(p12, limit=MAX_PKCS12))
    except (Unreadable, der.DerError):
        return None
    return any(a in LEGACY_PBE for a in algorithms)
