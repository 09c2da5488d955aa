"""The VOMS client environment ``dirac-proxy-init -M`` needs: vomses and vomsdir.

``-M`` runs ``voms-proxy-init``, which finds the VO's VOMS server in ``$X509_VOMSES`` (a file or a
directory of files, one server per line) and checks the server's answer against
``$X509_VOMS_DIR/<vo>/<host>.lsc``.  Without them it prints "VOMS Server for mu3e.org not known",
``dirac-proxy-init`` says "Could not add VOMS extensions to the proxy" and still exits 0.
``dirac-configure`` writes both under ``<rootPath>/etc/grid-security/``; diracosrc exports them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.files import Unreadable, read_bytes


def grid_security(prefix: Path) -> Path:
    return prefix / "etc" / "grid-security"


@dataclass(frozen=True)
class VomsesEntry:
    """One line of a vomses file: ``"alias" "host" "port" "server DN" "vo" ["lifetime"]``."""

    alias: str
    host: str
    port: str
    dn: str
    vo: str
    file: Path
    line: int


def parse_vomses(text: str, file: Path) -> tuple[list[VomsesEntry], list[str]]:
    """Entries and one sentence per line that is not a vomses entry."""
    entries: list[VomsesEntry] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = shlex.split(line)
        except ValueError:
            fields = []
        if len(fields) < 5:
            problems.append(f"{file}, line {number}: {line[:80]!r} is not a vomses entry "
                            '("alias" "host" "port" "server DN" "vo")')
            continue
        entries.append(VomsesEntry(*fields[:5], file=file, line=number))
    return entries, problems


def vomses_files(location: Path) -> list[Path]:
    """The files voms-proxy-init reads for a vomses location (a file, or the files in a dir)."""
    if location.is_dir():
        try:
            return sorted(Path(e.path) for e in os.scandir(location)
                          if not e.name.startswith(".") and e.is_file())
        except OSError:
            return []
    return [location] if location.is_file() else []


def read_vomses(location: Path) -> tuple[list[VomsesEntry], list[str]]:
    """All entries under a vomses location, and the problems met reading it."""
    entries: list[VomsesEntry] = []
    problems: list[str] = []
    for f in vomses_files(location):
        try:
            text = read_bytes(f, limit=1024 * 1024).decode("utf-8", "replace")
        except Unreadable as exc:
            problems.append(str(exc))
            continue
        found, bad = parse_vomses(text, f)
        entries += found
        problems += bad
    return entries, problems


def entries_for(entries: Iterable[VomsesEntry], vo: str) -> list[VomsesEntry]:
    """Entries that serve ``vo`` (by VO name or alias, as voms-proxy-init matches ``-voms``)."""
    return [e for e in entries if vo in (e.vo, e.alias)]


def lsc_files(vomsdir: Path, vo: str) -> list[Path]:
    """``<vomsdir>/<vo>/*.lsc``: how the client trusts the VO's VOMS servers."""
    try:
        return sorted(Path(e.path) for e in os.scandir(vomsdir / vo)
                      if e.name.endswith(".lsc") and e.is_file())
    except OSError:
        return []


def location(environ: Mapping[str, str], var: str, prefix: Path,
             leaf: str) -> tuple[Path, Path, Optional[str]]:
    """``(path, default, problem)`` for ``$X509_VOMSES`` / ``$X509_VOMS_DIR``.

    ``default`` is where dirac-configure writes and diracosrc points
    (``<prefix>/etc/grid-security/<leaf>``); ``problem`` says why the variable does not name an
    existing entry, or is None.
    """
    default = grid_security(prefix) / leaf
    value = environ.get(var)
    if not value:
        return default, default, f"{var} is not set"
    if not os.path.exists(value):
        return Path(value), default, f"{var}={value}, which does not exist"
    return Path(value), default, None


def vomses_hosts(entries: Sequence[VomsesEntry]) -> str:
    return ", ".join(sorted({f"{e.host}:{e.port}" for e in entries}))
