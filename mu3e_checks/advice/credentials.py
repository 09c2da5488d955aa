"""Fixes for the long-term credentials: the guide's extraction from the export on disk."""

from __future__ import annotations

from pathlib import Path

from mu3e_checks import commands
from mu3e_checks.knowledge.credentials import Credentials, export_needs_legacy
from mu3e_checks.remedy import Remedy


def pkcs12_fix(p12: Path, creds: Credentials) -> Remedy:
    """The guide's two ``openssl pkcs12`` commands, filled in, plus the permission step, with
    ``-legacy`` when the export needs it (:func:`export_needs_legacy`).

    The paths stay data: they are quoted when the fix is shown, whatever characters they hold.
    """
    return commands.pkcs12_extract(Path(p12), creds.cert, creds.key,
                                   legacy=export_needs_legacy(Path(p12), creds))
