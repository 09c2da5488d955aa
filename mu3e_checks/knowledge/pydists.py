"""Installed Python distributions, read from their metadata files without importing anything.

``import DIRAC`` is exactly what breaks on a bad setup (setuptools >= 82 removes the
``pkg_resources`` DIRAC 8 imports; a v9 install pulls in diracx), and it would run DIRAC's code
inside the checker.  So versions and ``Requires-Python`` come from the ``*.dist-info/METADATA``
(or ``*.egg-info/PKG-INFO``) that pip writes next to the package, the way ``pip list`` reads them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Optional

from packaging.version import InvalidVersion, Version

from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.files import Unreadable, read_bytes

_META_SUFFIXES = (".dist-info", ".egg-info")
#: The header block of METADATA/PKG-INFO: DIRAC's dependencies have at most ~5 KB.
MAX_HEADER_CHARS = 256 * 1024


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: ``DIRAC``, ``dirac`` and ``Dirac_`` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Dist:
    """One installed distribution as its metadata describes it."""

    name: str
    version: str
    site: Path  # the directory it is installed in (a site-packages)
    meta: Path  # its .dist-info / .egg-info
    requires_python: Optional[str] = None
    problem: Optional[str] = None  # why the metadata could not be read fully, if so

    @property
    def parsed_version(self) -> Optional[Version]:
        try:
            return Version(self.version)
        except InvalidVersion:
            return None

    def describe(self) -> str:
        return f"{self.name} {self.version} in {self.site}"


def _name_from_dir(entry: str) -> tuple[str, str]:
    stem = entry[: -len(".dist-info")] if entry.endswith(".dist-info") else entry[: -len(
        ".egg-info")]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0]


def _read_metadata(meta: Path) -> tuple[dict[str, str], Optional[str]]:
    candidates = [meta / "METADATA", meta / "PKG-INFO"] if _fs.is_dir(meta) else [meta]
    for path in candidates:
        try:
            raw = read_bytes(path, limit=4 * 1024 * 1024)
        except Unreadable as exc:
            if os.path.lexists(path) or not _fs.is_dir(meta):
                return {}, str(exc)
            continue
        # Only the header block (up to the first blank line) says Name, Version and
        # Requires-Python; the description after it can be megabytes.  Real header blocks are
        # a few KB; the email parser costs microseconds a line, so a hostile one is refused.
        head = raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n", 1)[0]
        if len(head) > MAX_HEADER_CHARS:
            return {}, (f"{path} has {len(head)} characters of headers before its description; "
                        "a real METADATA has a few thousand, so it is not read")
        headers = HeaderParser().parsestr(head)
        return {k: str(v) for k, v in headers.items()}, None
    return {}, f"{meta} has no METADATA file"


def find_dists(site_dirs: Iterable[Path], name: str) -> list[Dist]:
    """Every installation of project ``name`` in ``site_dirs``, in the order given.

    The name is matched after PEP 503 normalisation, so ``DIRAC-8.0.74.dist-info`` and
    ``dirac-8.0.74.dist-info`` are both found.  Unreadable directories are skipped; a broken
    METADATA still yields a :class:`Dist` (version from the directory name) with ``problem`` set.
    """
    wanted = canonical_name(name)
    found: list[Dist] = []
    for site in site_dirs:
        try:
            entries = sorted(e.name for e in os.scandir(site))
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith(_META_SUFFIXES):
                continue
            dir_name, dir_version = _name_from_dir(entry)
            if canonical_name(dir_name) != wanted:
                continue
            meta = Path(site) / entry
            headers, problem = _read_metadata(meta)
            meta_name = headers.get("Name", "")
            if meta_name and canonical_name(meta_name) != wanted:
                continue
            found.append(Dist(
                name=meta_name or dir_name,
                version=headers.get("Version") or dir_version or "unknown",
                site=Path(site),
                meta=meta,
                requires_python=headers.get("Requires-Python") or None,
                problem=problem or (None if headers.get("Version") else
                                    f"{meta} does not state a Version"),
            ))
    return found


def python_satisfies(requires_python: Optional[str], python_version: str) -> Optional[bool]:
    """Whether ``python_version`` (e.g. ``3.11.7``) meets a ``Requires-Python`` specifier.

    None when either side cannot be understood (the check then says so instead of guessing).
    """
    if not requires_python:
        return True
    # Imported here: its class body compiles a large regex (some 8 ms), and most dists in a
    # diagnosis state no Requires-Python.
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return Version(python_version) in SpecifierSet(requires_python)
    except (InvalidSpecifier, InvalidVersion):
        return None


def dedupe_dirs(dirs: Sequence[Path]) -> list[Path]:
    """Directories in order, without repeats (compared after resolving symlinks)."""
    seen: set[str] = set()
    out: list[Path] = []
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(Path(d))
    return out
