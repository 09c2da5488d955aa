"""Which check modules a ``--mu3e-select``/``--mu3e-ignore`` run can leave unimported.

Importing a check module imports the knowledge it uses: the network chapter pulls in the DNS,
TLS and DISET code.  A run limited to ``CERT`` needs none of that, and collection is a large
part of a short run's time.  The check IDs a module declares are read from its source (the
``@check("ID", ...)`` lines) without importing it; a module whose IDs cannot be read is always
collected, so the worst a wrong guess can cost is time, never a check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mu3e_checks.settings import id_matches

_DECLARED = re.compile(r"""^@check\(\s*["']([A-Z]+-\d{3})["']""", re.MULTILINE)


def declared_ids(source: str) -> tuple[str, ...]:
    """The check IDs a check module's source declares, in order."""
    return tuple(_DECLARED.findall(source))


def can_skip(path: Path, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """True when none of the module's checks would survive selection, so it need not be
    imported.  False whenever in doubt (no selection, unreadable source, no IDs found)."""
    if not select and not ignore:
        return False
    try:
        ids = declared_ids(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    if not ids:
        return False
    return not any((not select or id_matches(cid, select)) and not id_matches(cid, ignore)
                   for cid in ids)
