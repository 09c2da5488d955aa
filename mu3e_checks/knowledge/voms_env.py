"""The VOMS client environment ``dirac-proxy-init -M`` needs: vomses and vomsdir.

``-M`` runs ``voms-proxy-init``, which finds the VO's VOMS server in ``$X509_VOMSES`` (a file or a
directory of files, one server per line) and checks the server's answer against
``$X509_VOMS_DIR/<vo>/<host>.lsc``.  Without them it prints "VOMS Server for mu3e.org not known",
``dirac-proxy-init`` says "Could not add VOMS extensions to the proxy" and still exits 0.
``dirac-configure`` writes both under ``<rootPath>/etc/grid-security/`` (DIRAC's root, the DIRACOS
folder in DIRACOS); diracosrc exports them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.files import Unreadable, read_bytes, secret_kind
from mu3e_checks.text import clip

#: Bad lines quoted per file; a misdirected variable can name a file of thousands of lines.
MAX_LINE_PROBLEMS = 5


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
    """Entries and one sentence per line that is not a vomses entry (at most
    :data:`MAX_LINE_PROBLEMS`, then one sentence counting the rest).

    Bad lines are quoted clipped and made visible; the caller keeps key files away
    (:func:`read_vomses` never passes a file that holds a PEM/key block or binary data).
    """
    entries: list[VomsesEntry] = []
    problems: list[str] = []
    bad = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = _fields(line)
        if len(fields) < 5:
            bad += 1
            if bad <= MAX_LINE_PROBLEMS:
                problems.append(f"{file}, line {number}: '{clip(line, 80)}' is not a vomses "
                                'entry ("alias" "host" "port" "server DN" "vo")')
            continue
        entries.append(VomsesEntry(*fields[:5], file=file, line=number))
    if bad > MAX_LINE_PROBLEMS:
        problems.append(f"{file}: {bad - MAX_LINE_PROBLEMS} more lines are not vomses entries")
    return entries, problems


def _fields(line: str) -> list[str]:
    """The quoted fields of a vomses line, as voms-proxy-init splits them.

    ``shlex`` is linear but slow (a Python loop per character); a line longer than any real
    entry (five short fields) is not an entry, and is not split at all.
    """
    if len(line) > 4096:
        return []
    if line.count('"') % 2 and "\\" not in line and "'" not in line:
        return []  # an unclosed double quote: shlex would fail, after a slow scan
    try:
        return shlex.split(line)
    except ValueError:
        return []


def vomses_files(location: Path) -> list[Path]:
    """The files voms-proxy-init reads for a vomses location (a file, or the files in a dir)."""
    if _fs.is_dir(location):
        try:
            return sorted(Path(e.path) for e in os.scandir(location)
                          if not e.name.startswith(".") and _fs.is_file(e))
        except OSError:
            return []
    return [location] if _fs.is_file(location) else []


def read_vomses(location: Path) -> tuple[list[VomsesEntry], list[str]]:
    """All entries under a vomses location, and the problems met reading it."""
    entries: list[VomsesEntry] = []
    problems: list[str] = []
    for f in vomses_files(location):
        try:
            data = read_bytes(f, limit=1024 * 1024)
        except Unreadable as exc:
            problems.append(str(exc))
            continue
        kind = secret_kind(data)
        if kind:
            problems.append(f"{f} holds {kind}, not vomses; voms-proxy-init would read it as "
                            "one (is $X509_VOMSES pointing at the wrong place?)")
            continue
        found, bad = parse_vomses(data.decode("utf-8", "replace"), f)
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
                      if e.name.endswith(".lsc") and _fs.is_file(e))
    except OSError:
        return []


def location(environ: Mapping[str, str], var: str, prefix: Path,
             leaf: str) -> tuple[Path, Path, Optional[str]]:
    """``(path, default, problem)`` for ``$X509_VOMSES`` / ``$X509_VOMS_DIR``.

    ``default`` is where dirac-configure writes (``<prefix>/etc/grid-security/<leaf>``, prefix
    being DIRAC's rootPath; in DIRACOS, where diracosrc points too); ``problem`` says why the
    variable does not name an existing entry, or is None.
    """
    default = grid_security(prefix) / leaf
    value = environ.get(var)
    if not value:
        return default, default, f"{var} is not set"
    if not os.path.exists(value):
        return Path(value), default, f"{var}={value}, which does not exist"
    return Path(value), default, None


def in_use(environ: Mapping[str, str], var: str, root: Path,
           leaf: str) -> tuple[Optional[Path], str]:
    """``(path, '')`` of the vomses or vomsdir DIRAC reads: ``$var``, else, as DIRAC falls
    back, ``<rootPath>/etc/grid-security/<leaf>`` when it exists; ``(None, why)`` when
    neither is there."""
    path, default, missing = location(environ, var, root, leaf)
    if not missing:
        return path, ""
    if os.path.exists(default):
        return default, ""
    return None, missing


def vomses_hosts(entries: Sequence[VomsesEntry]) -> str:
    return ", ".join(sorted({f"{e.host}:{e.port}" for e in entries}))
