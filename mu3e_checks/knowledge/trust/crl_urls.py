"""Where each CA's CRL comes from: its ``.crl_url`` file, found the way fetch-crl finds it.

IGTF bundles carry ``<alias>.crl_url`` beside ``<alias>.pem`` (and the ``<hash>.0`` link points
at the ``.pem``); hand-made directories may have ``<hash>.crl_url``.  Only ``http``/``https``
URLs of printable ASCII are taken, each file read bounded and without blocking.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.knowledge.trust.scan import TrustStore

#: A ``.crl_url`` file holds a line or two; anything larger is not one.
_URL_FILE_LIMIT = 64 * 1024
_URL_RE = re.compile(r"https?://[!-~]+")


@dataclass(frozen=True)
class CrlSource:
    """One CA of the trust dir and where its CRL comes from."""

    ca_hash: str
    subject: str
    cert: Any
    urls: tuple[str, ...]
    names: tuple[str, ...]  # the .r0 names to write: <hash>.r0 (and the old hash's, if used)
    installed: tuple[tuple[str, Any], ...] = ()  # (name, the CRL the scan read there)


def urls_in(path: Path) -> tuple[str, ...]:
    """The http(s) URLs listed in a ``.crl_url`` file (none when it cannot be read)."""
    try:
        text = read_bytes(path, limit=_URL_FILE_LIMIT).decode("ascii", "replace")
    except Unreadable:
        return ()
    return tuple(line.strip() for line in text.splitlines() if _URL_RE.fullmatch(line.strip()))


def crl_sources(store: TrustStore) -> list[CrlSource]:
    """Every CA of the scanned directory with its CRL URLs, from ``<hash>.crl_url`` (new or
    old hash), or ``<name>.crl_url`` beside the ``<name>.pem`` a hash name links to, or the
    CA's IGTF alias."""
    ca_dir = store.path
    out = []
    for ca in store.cas:
        candidates = [f"{ca.hash}.crl_url", f"{ca.hash_old}.crl_url"]
        for name in ca.names:
            target = ca_dir / name
            if os.path.islink(target):
                stem = Path(os.readlink(target)).name.rsplit(".", 1)[0]
                candidates.append(f"{stem}.crl_url")
        if ca.alias:
            candidates.append(f"{ca.alias}.crl_url")
        urls: tuple[str, ...] = ()
        for cand in dict.fromkeys(candidates):
            if (ca_dir / cand).is_file():
                urls = urls_in(ca_dir / cand)
                if urls:
                    break
        names = [f"{ca.hash}.r0"]
        if ca.hash_old != ca.hash and f"{ca.hash_old}.0" in store.names:
            names.append(f"{ca.hash_old}.r0")
        installed = tuple((n, store.crls[n].crl) for n in names
                          if n in store.crls and store.crls[n].crl is not None)
        out.append(CrlSource(ca.hash, ca.subject, ca.cert, urls, tuple(names), installed))
    return out
