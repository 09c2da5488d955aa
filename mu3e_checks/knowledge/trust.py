"""The trust store: which CA directory DIRAC will use, and what is in it.

DIRAC's own lookup returns ``$X509_CERT_DIR`` even when it does not exist, and diracosrc
silently prefers a populated ``/etc/grid-security/certificates`` over the DIRACOS one, so the
first thing a user needs to know is which directory is actually in play, and why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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
