"""IGTF knowledge: the bundle names of the CAs Mu3e users meet, and ``.info`` files.

The fixes name IGTF tarballs (``ca_<alias>-<version>.tar.gz``), so a CA's alias is read from the
bundle's own ``.info`` file when it is installed, and taken from :data:`KNOWN_BUNDLES` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

#: IGTF aliases (the ``ca_<alias>-<version>.tar.gz`` names) of the CAs Mu3e users meet.
CERN_GRID_CA = "/DC=ch/DC=cern/CN=CERN Grid Certification Authority"
CERN_ROOT_CA_2 = "/C=ch/O=CERN/CN=CERN Root Certification Authority 2"
KNOWN_BUNDLES: dict[str, str] = {
    "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B": "UKeScienceCA-2B",
    "/C=UK/O=eScienceRoot/OU=Authority/CN=UK e-Science Root": "UKeScienceRoot-2007",
    CERN_ROOT_CA_2: "CERN-Root-2",
    CERN_GRID_CA: "CERN-GridCA",
}
#: The bundle each of those requires (IGTF's ``requires`` in its ``.info``): an issuing CA's
#: bundle holds no root, and OpenSSL verifies nothing below a CA whose own issuer is missing.
BUNDLE_REQUIRES: dict[str, str] = {
    "UKeScienceCA-2B": "UKeScienceRoot-2007",
    "CERN-GridCA": "CERN-Root-2",
}


def with_required(aliases: Iterable[str]) -> list[str]:
    """``aliases``, each followed by the bundles it requires (up to its root), each once: what
    must be installed for a certificate of those CAs to verify."""
    out: list[str] = []
    for alias in aliases:
        seen: Optional[str] = alias
        while seen is not None and seen not in out:
            out.append(seen)
            seen = BUNDLE_REQUIRES.get(seen)
    return out


@dataclass(frozen=True)
class IgtfInfo:
    """What an IGTF ``.info`` file says about the CA certificate its bundle ships."""

    dn: Optional[str] = None  # subjectdn
    alias: Optional[str] = None
    #: SHA-1 fingerprints (hex, no colons, upper case) of the certificate(s) IGTF ships
    #: under this name (``sha1fp.0``, ``sha1fp.1`` ... for a re-keyed CA)
    fingerprints: frozenset[str] = frozenset()
    contact: Optional[str] = None  # email, else url


def parse_info(data: bytes) -> IgtfInfo:
    """An IGTF ``.info`` file's facts (None/empty where absent).

    The caller reads the file through ``files.read_bytes`` with a small limit: a FIFO or
    ``/dev/zero`` under a ``.info`` name must never reach this parser.
    """
    found: dict[str, str] = {}
    prints: set[str] = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip().strip('"')
        if key.startswith("sha1fp"):
            hexed = value.replace(":", "").upper()
            if len(hexed) == 40 and all(c in "0123456789ABCDEF" for c in hexed):
                prints.add(hexed)
        elif key in ("subjectdn", "alias", "email", "url"):
            found.setdefault(key, value)
    return IgtfInfo(found.get("subjectdn"), found.get("alias"), frozenset(prints),
                    found.get("email") or found.get("url"))


def read_info(data: bytes) -> tuple[Optional[str], Optional[str]]:
    """(subjectdn, alias) from the bytes of an IGTF ``.info`` file (None where absent)."""
    info = parse_info(data)
    return info.dn, info.alias


def guide_bundles(required: Sequence[str]) -> list[str]:
    """The IGTF aliases of the required CAs (the guide's UK pair when none is known)."""
    aliases = [KNOWN_BUNDLES[dn] for dn in required if dn in KNOWN_BUNDLES]
    return aliases or list(KNOWN_BUNDLES.values())[:2]
