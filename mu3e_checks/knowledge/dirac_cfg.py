"""dirac.cfg the way DIRAC v8 reads it: which files, in which order, and what each overrides.

DIRAC's local configuration is not one file.  ``rootPath`` is ``sys.base_prefix`` of the Python
DIRAC runs under (the DIRACOS prefix) unless ``$DIRAC_ROOT_PATH`` overrides it; DIRAC loads
``<rootPath>/etc/dirac.cfg``, then every file in ``$DIRACSYSCONFIG`` (a comma list, loaded from
the last to the first, so the first listed wins), then ``~/.dirac.cfg``; a later file overrides
an earlier one option by option.  So a stale ``~/.dirac.cfg`` silently beats what
``dirac-configure`` just wrote, and a different Python finds no cfg at all ("Missing mandatory
local configuration option /DIRAC/Setup").  The files are parsed with ``diraccfg``, DIRAC's own
parser, which understands ``Option += value`` lists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.remedy import Remedy

SETUP_PATH = "/DIRAC/Setup"
SERVERS_PATH = "/DIRAC/Configuration/Servers"
SERVER_CERT_PATH = "/DIRAC/Security/UseServerCertificate"
#: DIRAC's boolean reading of an option (ConfigurationClient.getOption with a bool default).
_TRUE = ("y", "yes", "true", "1")


def is_true(value: Optional[str]) -> bool:
    """DIRAC's truth for an option value: y, yes, true or 1, any case."""
    return bool(value) and value.strip().lower() in _TRUE


def split_list(value: Optional[str]) -> list[str]:
    """A DIRAC list option (``a, b`` as ``+=`` lines read back) as a list."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


#: The guide's configuration command as the registry's default fix text (ours, for the check
#: reference); ``{setup}`` and ``{cs}`` are filled with raw values and quoted when shown.
CONFIGURE_TEMPLATE = "dirac-configure -F -S {setup} -C {cs} -I"


def configure_command(setup: str, cs_url: str) -> Remedy:
    """The guide's ``dirac-configure`` line for this setup and CS URL (both stay data: a CS URL
    from a cfg file or an option is quoted when the fix is shown)."""
    return commands.configure(setup, cs_url)


# ---------------------------------------------------------------------------------- locating


def root_path(environ: Mapping[str, str], python_prefix: Path) -> tuple[Path, str]:
    """DIRAC's ``rootPath`` and why: ``$DIRAC_ROOT_PATH``, else the base prefix of its Python."""
    value = environ.get("DIRAC_ROOT_PATH")
    if value:
        return Path(value), "$DIRAC_ROOT_PATH"
    return python_prefix, "sys.base_prefix of DIRAC's Python"


def candidate_files(environ: Mapping[str, str], root: Path, home: Path) -> list[tuple[Path, str]]:
    """The cfg files DIRAC tries, in load order (a later file overrides an earlier one)."""
    files = [(root / "etc" / "dirac.cfg", "<rootPath>/etc/dirac.cfg")]
    sysconfig = [p for p in environ.get("DIRACSYSCONFIG", "").replace(" ", "").split(",") if p]
    files += [(Path(p), "$DIRACSYSCONFIG") for p in reversed(sysconfig)]
    files.append((home / ".dirac.cfg", "~/.dirac.cfg"))
    return files


# ---------------------------------------------------------------------------------- parsing


class CfgSyntaxError(Exception):
    """A cfg file DIRAC cannot load; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def _brace_problem(lines: list[str]) -> Optional[CfgSyntaxError]:
    """Unbalanced braces, located the way diraccfg scans (a line stops at its first '=').

    A missing '}' is only noticed at the end of the file, where the parser blames the outermost
    section; the indentation dirac-configure writes points at the section actually left open
    (the first whose '}' is indented unlike its '{').
    """
    opened: list[tuple[int, int]] = []  # (line number, indentation)
    misfit: Optional[int] = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        for ch in line:
            if ch == "=":
                break
            if ch == "{":
                opened.append((number, indent))
            elif ch == "}":
                if not opened:
                    return CfgSyntaxError("'}' closes a section that was never opened", number)
                start, start_indent = opened.pop()
                if start_indent != indent and misfit is None:
                    misfit = start
    if opened:
        return CfgSyntaxError("the section opened here is never closed (a '}' is missing)",
                              misfit or opened[-1][0])
    return None


def _load(text: str):
    from diraccfg import CFG

    return CFG().loadFromBuffer(text)


def parse_cfg(text: str):
    """Parse cfg text with diraccfg; :class:`CfgSyntaxError` names the offending line."""
    lines = text.split("\n")
    problem = _brace_problem(lines)
    if problem:
        raise problem
    try:
        return _load(text)
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError) as exc:
        message = str(exc).strip("'\"") or type(exc).__name__
    # Find the first line whose prefix already fails (parsing is sequential, so this is
    # monotonic): a binary search keeps it cheap for large files.
    lo, hi = 1, len(lines)
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            _load("\n".join(lines[:mid]) + "\n" + "}" * _depth(lines[:mid]))
            lo = mid + 1
        except Exception:  # noqa: BLE001 - any failure of the prefix locates the line
            hi = mid
    hint = ""
    if "has not been declared" in message:
        hint = " ('Option += value' needs an 'Option = value' line before it in the same section)"
    raise CfgSyntaxError(f"{message}{hint}", lo)


def _depth(lines: list[str]) -> int:
    depth = 0
    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            continue
        for ch in line:
            if ch == "=":
                break
            depth += (ch == "{") - (ch == "}")
    return max(depth, 0)


def stray_lines(text: str) -> list[tuple[int, str]]:
    """Lines diraccfg silently glues onto the next section name (no '=', '{' or '}').

    ``Setup GridPP`` (a forgotten '=') does not set anything; it turns the next section
    ``Configuration`` into ``Setup GridPPConfiguration``.  A line directly before a lone ``{``
    is a section name and fine.
    """
    out: list[tuple[int, str]] = []
    lines = text.split("\n")
    meaningful = [(n, raw.strip()) for n, raw in enumerate(lines, 1)
                  if raw.strip() and not raw.strip().startswith("#")]
    for i, (number, line) in enumerate(meaningful):
        if any(c in line for c in "={}"):
            continue
        nxt = meaningful[i + 1][1] if i + 1 < len(meaningful) else ""
        if not nxt.startswith("{"):
            out.append((number, line))
    return out


def flatten(cfg, base: str = "") -> Iterator[tuple[str, str]]:
    """``(/Section/Option, value)`` for every option of a diraccfg CFG, in file order."""
    for name in cfg.listAll():
        path = f"{base}/{name}"
        if cfg.isSection(name):
            yield from flatten(cfg[name], path)
        else:
            yield path, cfg[name]


# ---------------------------------------------------------------------------------- layering


@dataclass
class CfgFile:
    """One file DIRAC tries to load."""

    path: Path
    role: str  # "<rootPath>/etc/dirac.cfg" | "$DIRACSYSCONFIG" | "~/.dirac.cfg"
    exists: bool
    error: Optional[str] = None  # unreadable or a syntax error (with "line N")
    line: int = 0
    options: dict[str, str] = field(default_factory=dict)
    stray: list[tuple[int, str]] = field(default_factory=list)
    cfg: object = None

    @property
    def loaded(self) -> bool:
        return self.exists and self.error is None


@dataclass(frozen=True)
class Override:
    """A later file changing an option an earlier file set."""

    option: str
    value: str
    file: Path
    previous: str
    previous_file: Path

    def describe(self) -> str:
        return (f"{self.file} overrides {self.option} = {self.previous!r} (from "
                f"{self.previous_file}) with {self.value!r}")


@dataclass
class LayeredConfig:
    """The local configuration DIRAC ends up with, and where each option comes from."""

    root: Path
    root_source: str
    files: list[CfgFile]
    merged: dict[str, str] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)

    @property
    def found(self) -> list[CfgFile]:
        return [f for f in self.files if f.exists]

    @property
    def broken(self) -> list[CfgFile]:
        return [f for f in self.files if f.exists and f.error]

    @property
    def default_file(self) -> Path:
        """Where ``dirac-configure`` writes: ``<rootPath>/etc/dirac.cfg``."""
        return self.root / "etc" / "dirac.cfg"

    def get(self, option: str) -> Optional[str]:
        return self.merged.get(option)

    def servers(self) -> list[str]:
        return split_list(self.get(SERVERS_PATH))

    def source_of(self, option: str) -> Optional[Path]:
        return self.origin.get(option)

    def describe(self) -> list[str]:
        """One line per file DIRAC tries, in load order, for the report."""
        out = []
        for f in self.files:
            state = ("not present" if not f.exists else f"cannot be used: {f.error}" if f.error
                     else f"{len(f.options)} options")
            out.append(f"{f.role}: {f.path} ({state})")
        return out


def read_cfg_file(path: Path, role: str) -> CfgFile:
    """Read and parse one file; problems become ``error`` (never raised)."""
    entry = CfgFile(path, role, exists=os.path.lexists(path))
    if not entry.exists:
        return entry
    try:
        text = read_bytes(path, limit=16 * 1024 * 1024).decode("utf-8", "replace")
    except Unreadable as exc:
        entry.error = str(exc)
        return entry
    try:
        cfg = parse_cfg(text)
    except CfgSyntaxError as exc:
        entry.error, entry.line = str(exc), exc.line
        return entry
    entry.cfg = cfg
    entry.options = dict(flatten(cfg))
    entry.stray = stray_lines(text)
    return entry


def load_layered(environ: Mapping[str, str], python_prefix: Path, home: Path) -> LayeredConfig:
    """Locate, parse and layer the files as DIRAC does; records every override."""
    root, source = root_path(environ, python_prefix)
    files = [read_cfg_file(p, role) for p, role in candidate_files(environ, root, home)]
    layered = LayeredConfig(root, source, files)
    for f in files:
        if not f.loaded:
            continue
        for option, value in f.options.items():
            old = layered.merged.get(option)
            if old is not None and old != value:
                layered.overrides.append(Override(option, value, f.path, old,
                                                  layered.origin[option]))
            layered.merged[option] = value
            layered.origin[option] = f.path
    return layered


def configured_cs_url(layered: LayeredConfig) -> Optional[str]:
    """The first URL in the layered /DIRAC/Configuration/Servers, if a readable cfg names one."""
    if layered.found and not layered.broken and layered.servers():
        return layered.servers()[0]
    return None


def target_cs_url(layered: LayeredConfig, expected: str) -> str:
    """The Configuration Server DIRAC will talk to: dirac.cfg's, else ``expected``."""
    return configured_cs_url(layered) or expected
