"""Grid proxies: where DIRAC finds one, and what is in it.

DIRAC reads ``$GRID_PROXY_FILE``, then ``$X509_USER_PROXY`` (each only if it is a file), then
``/tmp/x509up_u<uid>``.  A stale ``GRID_PROXY_FILE`` silently wins, which is why the report says
which source was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.files import is_file


@dataclass(frozen=True)
class ProxyLocation:
    """The proxy file DIRAC would read (it may not exist) and how it was chosen."""

    path: Path
    source: str  # "--mu3e-proxy" | "$GRID_PROXY_FILE" | "$X509_USER_PROXY" | "default"
    exists: bool
    notes: tuple[str, ...] = field(default=())


def default_proxy_path(uid: int, tmp: Path = Path("/tmp")) -> Path:
    return tmp / f"x509up_u{uid}"


def locate_proxy(environ: Mapping[str, str], uid: int, override: Optional[Path] = None,
                 tmp: Path = Path("/tmp")) -> ProxyLocation:
    """The proxy file in DIRAC's order, with notes about variables that point nowhere."""
    notes = []
    if override is not None:
        return ProxyLocation(Path(override), "--mu3e-proxy", is_file(Path(override)))
    chosen: Optional[tuple[Path, str]] = None
    for var in ("GRID_PROXY_FILE", "X509_USER_PROXY"):
        value = environ.get(var)
        if not value:
            continue
        if is_file(Path(value)):
            if chosen is None:
                chosen = (Path(value), f"${var}")
            else:
                notes.append(f"${var}={value} is shadowed by {chosen[1]}={chosen[0]}")
        else:
            notes.append(f"${var} is set to {value}, which is not a file; DIRAC ignores it")
    if chosen is None:
        path = default_proxy_path(uid, tmp)
        return ProxyLocation(path, "default", is_file(path), tuple(notes))
    return ProxyLocation(chosen[0], chosen[1], True, tuple(notes))
