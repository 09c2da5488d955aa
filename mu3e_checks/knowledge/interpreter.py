"""Which Python a console script runs under, and that Python's ``sys.prefix`` and
``sys.base_prefix``, read from disk without starting it.

DIRAC 8 takes its root (``DIRAC.rootPath``: where it reads ``etc/dirac.cfg`` and looks for CAs
and vomses) from ``sys.base_prefix`` of the Python that runs it.  In DIRACOS that is the DIRACOS
folder; in a plain venv it is the prefix of the Python the venv was made from (``/usr`` for a
venv of the system Python), not the venv.  So the Python matters, and it is the one named on the
``#!`` line of ``dirac-proxy-init`` and friends, which pip writes when it installs DIRAC.

The prefixes are computed the way CPython's start-up does (``Modules/getpath.py`` and
``site.venv``): a ``pyvenv.cfg`` one directory above the interpreter, or beside it, makes it a
venv whose base is found from the ``home`` the file names; otherwise from the interpreter's
resolved location.  Either way the base prefix is the nearest directory, going up, that holds
``lib/pythonX.Y/os.py``.  A broken interpreter is still described, and the diagnosis starts no
program.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.text import clip

#: A console script is a few hundred bytes; a larger file on PATH is a binary or something else.
MAX_SCRIPT = 64 * 1024
#: pyvenv.cfg holds five short lines.
MAX_PYVENV_CFG = 64 * 1024
VENV_CFG = "pyvenv.cfg"
#: pip (distlib) writes this second line under ``#!/bin/sh`` when the interpreter's path is too
#: long for the kernel's ``#!`` limit or holds a space: ``'''exec' "<python>" "$0" "$@"``.
_SH_EXEC = re.compile(r"""^'''exec'\s+(?:"([^"]+)"|(\S+))\s""")
_LIB_PYTHON = re.compile(r"^python(3\.\d+)$")
_VERSION = re.compile(r"^(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Shebang:
    """The interpreter a script names, and the one option the kernel passes it."""

    interpreter: Optional[Path]
    options: str = ""  # e.g. "-E" or "-sE"; empty when the line has none
    problem: Optional[str] = None  # why no interpreter could be read from the script

    def flag(self, letter: str) -> bool:
        """Whether the ``#!`` option turns on the Python switch ``-<letter>``."""
        return self.options.startswith("-") and not self.options.startswith("--") and \
            letter in self.options[1:]

    @property
    def ignores_environment(self) -> bool:
        """``-E`` or ``-I``: the Python it starts ignores PYTHONPATH and the other variables."""
        return self.flag("E") or self.flag("I")


def read_shebang(script: Path, environ: Mapping[str, str]) -> Shebang:
    """The Python ``script`` runs under, as the kernel reads its ``#!`` line.

    ``#!/usr/bin/env python3`` is resolved on the run's PATH (as ``env`` does); pip's
    ``#!/bin/sh`` + ``'''exec' "<python>"`` form for long paths is understood too.
    """
    try:
        data = read_bytes(script, limit=MAX_SCRIPT)
    except Unreadable as exc:
        return Shebang(None, problem=str(exc))
    if not data.startswith(b"#!"):
        return Shebang(None, problem=f"{script} has no '#!' line: it is not a Python console "
                                     "script")
    lines = data.decode("utf-8", "replace").split("\n", 2)
    words = lines[0][2:].strip().split(None, 1)
    if not words:
        return Shebang(None, problem=f"{script} has an empty '#!' line")
    interpreter, options = words[0], (words[1].strip() if len(words) > 1 else "")
    if os.path.basename(interpreter) == "env" and options:
        parts = options.split()
        if parts[0] == "-S":
            parts = parts[1:]
        if not parts:
            return Shebang(None, problem=f"{script}: '#!{clip(lines[0][2:], 80)}' names no "
                                         "program")
        found = shutil.which(parts[0], path=environ.get("PATH", ""))
        if found is None:
            return Shebang(None, problem=f"{script} runs '{clip(parts[0], 80)}' through env, "
                                         "and it is not on PATH")
        return Shebang(Path(found), " ".join(parts[1:]))
    if os.path.basename(interpreter) in ("sh", "bash") and len(lines) > 1:
        m = _SH_EXEC.match(lines[1])
        if m:
            return Shebang(Path(m.group(1) or m.group(2)))
        return Shebang(None, problem=f"{script} is a shell script, not a Python console script")
    return Shebang(Path(interpreter), options)


@dataclass(frozen=True)
class Interpreter:
    """A Python installation as CPython computes it at start-up, read from disk."""

    executable: Path  # as named (a #! line, a PATH hit): not resolved
    prefix: Path  # sys.prefix: the venv folder for a venv
    base_prefix: Path  # sys.base_prefix: the installation the venv was made from
    venv: bool
    home: Optional[str] = None  # pyvenv.cfg's home, for a venv
    version: Optional[str] = None  # "3.11.2" from pyvenv.cfg, else "3.11" from lib/python3.11
    system_site: bool = True  # a venv's include-system-site-packages
    how: str = ""  # how base_prefix was found, for the report
    problem: Optional[str] = None  # why base_prefix is a guess, or the interpreter is missing

    @property
    def missing(self) -> bool:
        """The interpreter itself is gone: nothing that names it can start."""
        return not _fs.exists(self.executable)

    @property
    def minor(self) -> Optional[str]:
        return ".".join(self.version.split(".")[:2]) if self.version else None

    def describe(self) -> str:
        if self.venv:
            return f"the venv {self.prefix}, made from the Python at {self.base_prefix}"
        return f"the Python at {self.prefix}"


def _read_pyvenv_cfg(path: Path) -> Optional[dict[str, str]]:
    """The keys of a pyvenv.cfg, lowercased, as CPython reads them; None when absent (not a
    regular file, as ``site.py`` tests it); no keys when it cannot be read here."""
    if not _fs.is_file(path):
        return None
    try:
        text = read_bytes(path, limit=MAX_PYVENV_CFG).decode("utf-8", "replace")
    except Unreadable:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, had_equ, value = line.partition("=")
        if had_equ:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _stdlib_minors(prefix: Path) -> list[str]:
    """``3.Y`` for every ``<prefix>/lib/python3.Y`` holding ``os.py`` (or ``os.pyc``), newest
    first: CPython's landmark for its prefix."""
    try:
        entries = list(os.scandir(prefix / "lib"))
    except (OSError, ValueError):
        return []
    found = [m.group(1) for e in entries if (m := _LIB_PYTHON.match(e.name))
             and (_fs.is_file(Path(e.path) / "os.py") or _fs.is_file(Path(e.path) / "os.pyc"))]
    return sorted(found, key=lambda v: int(v.split(".")[1]), reverse=True)


def _search_up(start: Path, minor: Optional[str]) -> tuple[Optional[Path], Optional[str]]:
    """getpath's ``search_up``: the first of ``start`` and its parents holding the standard
    library (of ``minor`` when known), and the minor version found there."""
    for candidate in (start, *start.parents):
        minors = _stdlib_minors(candidate)
        if minor:
            if minor in minors:
                return candidate, minor
        elif minors:
            return candidate, minors[0]
    return None, None


def _version_of(cfg: Mapping[str, str]) -> Optional[str]:
    for key in ("version", "version_info"):
        m = _VERSION.match(cfg.get(key, ""))
        if m:
            return m.group(1)
    return None


def _name_minor(executable: Path) -> Optional[str]:
    m = _LIB_PYTHON.match(executable.name)
    return m.group(1) if m else None


#: getpath's realpath follows at most this many links, as the kernel does.
MAX_LINKS = 40


def resolve_file_links(path: Path) -> Path:
    """The file a chain of symbolic links ends at, as CPython's getpath resolves its executable:
    only the last component is followed, not links among the folders above it (a DIRACOS
    reached through a linked folder keeps the linked path as its prefix)."""
    for _ in range(MAX_LINKS):
        try:
            target = os.readlink(path)
        except (OSError, ValueError):
            return path
        path = path.parent / target
    return path


def inspect_interpreter(executable: Path, environ: Mapping[str, str],
                        ignore_environment: bool = False) -> Interpreter:
    """``sys.prefix`` and ``sys.base_prefix`` of the Python at ``executable``; never raises.

    ``ignore_environment`` is Python's ``-E``/``-I`` (a ``#!`` option): ``$PYTHONHOME`` is then
    not read.
    """
    executable = Path(os.path.abspath(executable))
    pythonhome = "" if ignore_environment else environ.get("PYTHONHOME", "")
    if pythonhome:
        home = Path(pythonhome.split(":", 1)[0])
        minors = _stdlib_minors(home)
        return Interpreter(executable, home, home, False,
                           version=_name_minor(executable) or (minors[0] if minors else None),
                           how=f"$PYTHONHOME={pythonhome}")
    exe_dir = executable.parent
    cfg_path = next((p for p in (exe_dir / VENV_CFG, exe_dir.parent / VENV_CFG)
                     if _fs.is_file(p)), None)
    cfg = _read_pyvenv_cfg(cfg_path) if cfg_path else None
    home = (cfg or {}).get("home") or None
    version = _version_of(cfg) if cfg else None
    if home:
        start = Path(home)
        how = f"home = {home} in {cfg_path}"
    else:
        real = resolve_file_links(executable)
        start = real.parent
        how = f"from {real}" if real != executable else f"from {executable}"
        version = version or _name_minor(real) or _name_minor(executable)
    base, minor = _search_up(start, ".".join(version.split(".")[:2]) if version else None)
    problem = None
    if base is None:
        base, minor = _search_up(start, None)
    if base is None:
        base = start.parent
        problem = (f"no lib/python3.*/os.py in {start} or above it: Python falls back to the "
                   f"prefix it was built with, which cannot be read from disk; {base} is a guess")
    version = version or minor
    if not _fs.exists(executable):
        gone = resolve_file_links(executable)
        problem = f"{executable} does not exist" + (
            f" (it links to {gone}, which is gone)" if gone != executable else "")
    if cfg is not None:
        system = (cfg.get("include-system-site-packages") or "true").lower() == "true"
        return Interpreter(executable, exe_dir.parent, base, True, home, version, system,
                           how, problem)
    return Interpreter(executable, base, base, False, None, version, True, how, problem)


def site_packages(interp: Interpreter) -> list[Path]:
    """The site directories ``site.py`` adds for this Python, in order, that exist: the venv's
    own, then (outside a venv, or with include-system-site-packages) the installation's, with
    Debian's ``dist-packages`` layout."""
    minors = [interp.minor] if interp.minor else _stdlib_minors(interp.base_prefix)
    out: list[Path] = []
    if interp.venv:
        out += [interp.prefix / lib / f"python{m}" / "site-packages"
                for m in minors for lib in ("lib", "lib64")]
    if not interp.venv or interp.system_site:
        base = interp.base_prefix
        for m in minors:
            out += [base / "lib" / f"python{m}" / "site-packages",
                    base / "lib64" / f"python{m}" / "site-packages",
                    base / "local" / "lib" / f"python{m}" / "dist-packages",
                    base / "lib" / "python3" / "dist-packages",
                    base / "lib" / f"python{m}" / "dist-packages"]
    seen: set[str] = set()
    kept = []
    for p in out:
        key = os.path.realpath(p)
        if key not in seen and _fs.is_dir(p):
            seen.add(key)
            kept.append(p)
    return kept


def user_site_enabled(interp: Interpreter, environ: Mapping[str, str],
                      shebang: Optional[Shebang] = None) -> bool:
    """Whether ``site.py`` adds the user site (``~/.local/lib/pythonX.Y/site-packages``): not in
    a venv without system site packages, not with ``$PYTHONNOUSERSITE``, ``-s`` or ``-I``."""
    if interp.venv and not interp.system_site:
        return False
    if shebang is not None and (shebang.flag("s") or shebang.flag("I")):
        return False
    ignore_env = shebang is not None and shebang.ignores_environment
    return ignore_env or not environ.get("PYTHONNOUSERSITE")
