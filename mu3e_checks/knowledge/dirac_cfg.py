"""dirac.cfg the way DIRAC v8 reads it: which files, in which order, and what each overrides.

DIRAC's local configuration is not one file.  ``rootPath`` is ``sys.base_prefix`` of the Python
DIRAC runs under (the DIRACOS prefix; for a plain venv the Python it was made from, not the venv)
unless ``$DIRAC_ROOT_PATH`` overrides it; DIRAC loads
``<rootPath>/etc/dirac.cfg``, then every file in ``$DIRACSYSCONFIG`` (a comma list, loaded from
the last to the first, so the first listed wins), then ``~/.dirac.cfg``; a later file overrides
an earlier one option by option.  So a stale ``~/.dirac.cfg`` silently beats what
``dirac-configure`` just wrote, and a different Python finds no cfg at all ("Missing mandatory
local configuration option /DIRAC/Setup").  The files are parsed with ``diraccfg``, DIRAC's own
parser, which understands ``Option += value`` lists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.files import Unreadable, read_bytes, secret_kind
from mu3e_checks.text import clip

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


# ---------------------------------------------------------------------------------- locating


#: DIRAC's server layout, ``<root>/versions/v<X.Y.Z>-<timestamp>/<OS>-<arch>``
#: (``DIRAC._computeRootPath``): the root is then the folder holding ``versions``.
_VERSION_DIR = re.compile(r"v(\d+\.\d+\.\d+[^\-]*)\-(\d+)")
_PLATFORM_DIR = re.compile(r"([^\-]+)-([^\-]+)")


def computed_root(base_prefix: Path) -> Path:
    """``DIRAC._computeRootPath(sys.base_prefix)`` of DIRAC 8.0.74: the prefix with symbolic
    links resolved, or, for a server-style ``versions/v8.0.74-<ts>/Linux-x86_64`` layout, the
    folder that holds ``versions``."""
    try:
        real = Path(os.path.realpath(base_prefix))
    except (OSError, ValueError):
        return Path(base_prefix)
    versions = real.parent
    if versions.parent.name == "versions" and _VERSION_DIR.fullmatch(versions.name) \
            and _PLATFORM_DIR.fullmatch(real.name):
        return versions.parent.parent
    return real


def root_path(environ: Mapping[str, str], python_prefix: Path,
              reason: str = "sys.base_prefix of DIRAC's Python") -> tuple[Path, str]:
    """DIRAC's ``rootPath`` and why: ``$DIRAC_ROOT_PATH`` whenever it is set (DIRAC takes it
    as it is, even empty or relative), else :func:`computed_root` of its Python's base prefix.
    """
    if "DIRAC_ROOT_PATH" in environ:
        value = environ["DIRAC_ROOT_PATH"]
        if not value:
            return Path(""), ("$DIRAC_ROOT_PATH, set but empty: DIRAC reads etc/dirac.cfg in "
                              "whatever directory a command is started from")
        if not os.path.isabs(value):
            return Path(value), ("$DIRAC_ROOT_PATH, a relative path: DIRAC reads it from "
                                 "whatever directory a command is started from")
        return Path(value), "$DIRAC_ROOT_PATH"
    return computed_root(python_prefix), reason


def root_is_unstable(source: str) -> bool:
    """Whether the rootPath depends on the directory a DIRAC command starts in."""
    return source.startswith("$DIRAC_ROOT_PATH, ")


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
        if "{" not in raw and "}" not in raw:
            continue
        line = raw.strip()
        if line.startswith("#"):
            continue
        head = line.split("=", 1)[0]
        if "{" not in head and "}" not in head:
            continue
        indent = len(raw) - len(raw.lstrip())
        for ch in _BRACE_RE.findall(head):
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


#: Bounds on shapes that make diraccfg slow.  It keeps each section's names in a list (a
#: membership test per new entry: quadratic in a section's size) and rebuilds an option's
#: value on every ``+=``.  dirac-configure writes a few dozen options; these limits are far
#: above any real file, and keep a hostile one linear.
MAX_SECTION_ENTRIES = 256
#: Text diraccfg glues together (lines without '=', '{' or '}'), grown a character at a time.
MAX_PENDING = 64 * 1024
MAX_APPEND_COPY = 16 * 1024 * 1024
#: Sections nest a few levels (/Resources/Sites/LCG/<site>/CEs/...); reading the options
#: back is recursive, so an absurd depth is refused rather than overflowing the stack.
MAX_DEPTH = 64
#: dirac-configure writes about 2 KB.  diraccfg costs a few microseconds per line in Python,
#: so a bigger hostile file of tiny lines would cost its parse (and ours) tens of seconds.
MAX_CFG_BYTES = 2 * 1024 * 1024
#: diraccfg looks each new name up in its section's list of names, so a section of n entries
#: costs n²/2 comparisons (20,000 entries: seconds).  The sum over all sections is bounded;
#: it allows one section of about 11,000 entries (a large Registry/Users), about a second.
MAX_NAME_SCAN = 64 * 1024 * 1024
#: Files up to this size get the failing line located by re-parsing prefixes.
LOCATE_LIMIT = 256 * 1024
#: What diraccfg acts on in a line, in its order: section open/close, '=', '+='.
_TOKEN_RE = re.compile(r"[{}=]|\+=")
_BRACE_RE = re.compile(r"[{}]")


def _cost_problem(lines: list[str], max_entries: Optional[int] = MAX_SECTION_ENTRIES
                  ) -> Optional[CfgSyntaxError]:
    """A shape on which diraccfg would take minutes (and DIRAC too), located; else None.

    A linear pass mirroring diraccfg's scan: sections by name, the entries each gets (at
    most ``max_entries`` each, None for no per-section limit), the name comparisons that
    costs in all, and how many bytes ``+=`` would copy.
    """
    root: dict[str, object] = {}
    stack: list[dict[str, object]] = []
    level = root
    pending = ""
    copied = 0
    scanned = 0

    def charge(number: int) -> Optional[CfgSyntaxError]:
        nonlocal scanned
        scanned += len(level)
        if max_entries is not None and len(level) > max_entries:
            return CfgSyntaxError(f"a section holds more than {max_entries} entries; a "
                                  "dirac.cfg holds a few dozen, and DIRAC's parser slows to "
                                  "minutes on such a file", number)
        if scanned > MAX_NAME_SCAN:
            return CfgSyntaxError("its sections hold so many entries that DIRAC's parser "
                                  "would spend minutes comparing their names", number)
        return None

    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pos = 0
        for m in _TOKEN_RE.finditer(line):
            token = m.group(0)
            pending += line[pos:m.start()]
            pos = m.end()
            if token == "{":
                name = pending.strip()
                child = level.get(name)
                if not isinstance(child, dict):
                    child = level[name] = {}
                    problem = charge(number)
                    if problem:
                        return problem
                stack.append(level)
                level = child
                pending = ""
                if len(stack) > MAX_DEPTH:
                    return CfgSyntaxError(f"sections nest more than {MAX_DEPTH} levels deep; a "
                                          "dirac.cfg nests a few", number)
            elif token == "}":
                level = stack.pop() if stack else root
            else:
                name = line[:m.start()].strip()  # diraccfg: line.split("=")[0]
                value = len(line) - m.end()
                if token == "+=":
                    current = level.get(name)
                    value += current if isinstance(current, int) else 0
                    copied += value
                level[name] = value
                problem = charge(number)  # diraccfg scans the names on every assignment
                if problem:
                    return problem
                pending = ""
                break
        else:
            pending += line[pos:]
            if len(pending) > MAX_PENDING:
                return CfgSyntaxError("the lines up to here hold no '=', '{' or '}': this is not "
                                      "a dirac.cfg (DIRAC glues such text into one name)",
                                      number)
        if copied > MAX_APPEND_COPY:
            return CfgSyntaxError("'Option += value' lines build a value far larger than any "
                                  "real option; DIRAC's parser slows to minutes on such a file",
                                  number)
    return None


def _load(text: str):
    from diraccfg import CFG

    return CFG().loadFromBuffer(text)


def parse_cfg(text: str, *, max_entries: Optional[int] = MAX_SECTION_ENTRIES):
    """Parse cfg text with diraccfg; :class:`CfgSyntaxError` names the offending line.

    ``max_entries`` bounds a section's entries (a local dirac.cfg has a few dozen; None for a
    Configuration Server's data, whose Registry lists every user); the total cost is bounded
    either way."""
    lines = text.split("\n")
    problem = _brace_problem(lines) or _cost_problem(lines, max_entries)
    if problem:
        raise problem
    try:
        return _load(text)
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError,
            RecursionError) as exc:
        # diraccfg's messages quote option and section names from the file: clipped, visible.
        message = clip(str(exc).strip("'\""), 160) or type(exc).__name__
    # Find the first line whose prefix already fails (parsing is sequential, so this is
    # monotonic): a binary search keeps it cheap for large files.  Each step re-parses, so
    # only for files of a size a real dirac.cfg has; a huge one is named without a line.
    hint = ""
    if "has not been declared" in message:
        hint = " ('Option += value' needs an 'Option = value' line before it in the same section)"
    if len(text) > LOCATE_LIMIT:
        raise CfgSyntaxError(f"{message}{hint}")
    lo, hi = 1, len(lines)
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            _load("\n".join(lines[:mid]) + "\n" + "}" * _depth(lines[:mid]))
            lo = mid + 1
        except Exception:  # noqa: BLE001 - any failure of the prefix locates the line
            hi = mid
    raise CfgSyntaxError(f"{message}{hint}", lo)


def _depth(lines: list[str]) -> int:
    depth = 0
    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            continue
        head = line.split("=", 1)[0]
        depth += head.count("{") - head.count("}")
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
            out.append((number, clip(line, 80)))
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
        return (f"{self.file} overrides {clip(self.option, 120)} = '{clip(self.previous, 80)}' "
                f"(from {self.previous_file}) with '{clip(self.value, 80)}'")


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
        data = read_bytes(path, limit=MAX_CFG_BYTES)
    except Unreadable as exc:
        entry.error = str(exc)
        return entry
    kind = secret_kind(data)
    if kind == "a PEM/key block":
        # Named, never parsed: diraccfg's errors and our stray-line warnings quote lines.
        entry.error = f"it holds {kind}, not a dirac.cfg (is $DIRACSYSCONFIG pointing at a key?)"
        return entry
    if kind:
        # DIRAC opens cfg files as UTF-8 text and fails on anything else.
        entry.error = f"it holds {kind} (not UTF-8 text), not a dirac.cfg"
        return entry
    text = data.decode("utf-8")
    try:
        cfg = parse_cfg(text)
    except CfgSyntaxError as exc:
        entry.error, entry.line = str(exc), exc.line
        return entry
    entry.cfg = cfg
    entry.options = dict(flatten(cfg))
    entry.stray = stray_lines(text)
    return entry


def load_layered(environ: Mapping[str, str], python_prefix: Path, home: Path,
                 reason: str = "sys.base_prefix of DIRAC's Python") -> LayeredConfig:
    """Locate, parse and layer the files as DIRAC does; records every override.  ``reason``
    says why ``python_prefix`` is DIRAC's root (for the report)."""
    root, source = root_path(environ, python_prefix, reason)
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
