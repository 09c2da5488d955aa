"""The ``X509_CERT_DIR`` export in a marked block of the shell's rc file (``EXPORT_CERT_DIR``).

Where the block goes decides who sees it.  diracosrc keeps a non-empty ``X509_CERT_DIR`` it
finds, so the block goes right after the user's own ``source …/diracosrc`` line: every shell
that sources diracosrc then sees it too.  Without such a line it goes before an
interactive-only guard (Debian's ``case $- in *i*) ;; *) return;; esac``, ``[ -z "$PS1" ] &&
return``): anything after the guard is invisible to ``bash -c`` and other non-interactive
shells.  Otherwise it is appended.  A block a previous run wrote is rewritten in place when its
place is right, else moved.

The block is found by whole lines: its begin mark, then the first line that *is* the end mark.
The export is always one line (``shell.quote`` writes a newline as ``$'\\n'``), so a value
holding the end mark, quotes or line breaks can neither end the block early nor leave a stray
quote behind, and a second run rewrites the block exactly.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from mu3e_checks import outputs
from mu3e_checks.remedy import Action
from mu3e_checks.repair.base import Context, RepairError, Step, backup_name
from mu3e_checks.shell import quote
from mu3e_checks.text import clip, visible

#: The marks of the block we own in a shell start-up file; a second run finds and rewrites only
#: what lies between them.
BLOCK_BEGIN = "# >>> mu3e-checks: X509_CERT_DIR (added by 'mu3e-checks fix') >>>"
BLOCK_END = "# <<< mu3e-checks: X509_CERT_DIR <<<"

#: ``source …/diracosrc`` or ``. …/diracosrc``, at the start of a command (``&&``, ``;`` and
#: ``then`` allowed before it), the path quoted or not.
_SOURCE_RE = re.compile(r"(?:^|[;&|]|\bthen|\bdo)\s*(?:source|\.)\s+[\"']?[^\s;&|\"']*diracosrc"
                        r"[\"']?(?:\s|;|&|\||$)")
#: The start of an interactive-only guard: a test of ``$-`` or ``$PS1`` that returns.
_GUARD_TEST_RE = re.compile(r"\$\{?-\}?|\$\{?PS1\b")
_RETURN_RE = re.compile(r"\breturn\b")
_RC_LIMIT = 4 * 1024 * 1024


def rc_file(ctx: Context) -> Path:
    """The shell start-up file the export goes into (zsh users get ~/.zshrc)."""
    shell = os.path.basename(ctx.environ.get("SHELL", ""))
    return ctx.home / (".zshrc" if shell == "zsh" else ".bashrc")


def export_block(value: object) -> str:
    """The block: the marks around one ``export`` line that always stays one line."""
    return f"{BLOCK_BEGIN}\nexport X509_CERT_DIR={quote(str(value))}\n{BLOCK_END}\n"


@dataclass(frozen=True)
class Placement:
    """The rc file's new text, and where the block is in it, said for the user."""

    text: str
    where: str


def _code(line: str) -> str:
    """A line without its comment (a ``#`` that starts a word), for the pattern tests."""
    return re.sub(r"(^|\s)#.*", "", line)


def _source_line(lines: list[str]) -> int:
    """The index of the last line that sources diracosrc, or -1."""
    found = -1
    for i, line in enumerate(lines):
        if _SOURCE_RE.search(_code(line).strip()):
            found = i
    return found


def _guard_lines(lines: list[str]) -> list[int]:
    """The indexes of lines starting an interactive-only guard: a test of ``$-`` or ``$PS1``
    with a ``return`` on it or within the next three lines."""
    return [i for i, line in enumerate(lines) if _GUARD_TEST_RE.search(_code(line)) and any(
        _RETURN_RE.search(_code(nxt)) for nxt in lines[i:i + 4])]


def _after_continuations(lines: list[str], i: int) -> int:
    """The index after line ``i`` and the lines a trailing backslash joins to it."""
    while i < len(lines) and lines[i].rstrip("\n").endswith("\\"):
        i += 1
    return i + 1


def _find_block(lines: list[str]) -> tuple[int, int]:
    """(first, last) line index of a block a previous run wrote, or (-1, -1)."""
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == BLOCK_BEGIN:
            for j in range(i + 1, len(lines)):
                if lines[j].rstrip("\r\n") == BLOCK_END:
                    return i, j
            raise RepairError("the mu3e-checks block in the rc file has no end mark; edit it "
                              "by hand")
    return -1, -1


def place_block(text: str, value: object) -> Placement:
    """``text`` with our block set to ``value`` where every shell that sources diracosrc sees
    it (see the module's docstring); nothing outside the block changes."""
    lines = text.splitlines(keepends=True)
    first, last = _find_block(lines)
    at = -1
    if first >= 0:
        lines = lines[:first] + lines[last + 1:]
        at = first
    src, guards = _source_line(lines), _guard_lines(lines)
    guard = guards[0] if guards else -1
    if src >= 0:
        lo = _after_continuations(lines, src)
        best, why = lo, f"right after your line {lo} ({clip(lines[src].strip(), 80)})"
    elif guard >= 0:
        lo, best = 0, guard
        while best > 0 and lines[best - 1].lstrip().startswith("#"):
            best -= 1  # above the comment that introduces the guard, too
        why = (f"before the interactive-only guard ({clip(lines[guard].strip(), 80)}), so "
               "non-interactive shells see it too")
    else:
        lo = 0
        best, why = len(lines), "at the end"
    # A previous block stays where it is when it is after the source line and no guard
    # separates them (or, without a source line, when no guard comes before it).
    if at >= lo and not any(lo <= g < at for g in guards):
        best, why = at, "where a previous run put it"
    before = lines[:best]
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    new = "".join(before) + export_block(value) + "".join(lines[best:])
    return Placement(new, f"lines {best + 1}-{best + 3}, {why}")


def with_block(text: str, value: object) -> str:
    """``text`` with our block set to ``value`` (:func:`place_block`)."""
    return place_block(text, value).text


def _read_rc(path: Path) -> str:
    if not os.path.lexists(path):
        return ""
    if os.path.islink(path):
        raise RepairError(f"{visible(path)} is a symbolic link; add the line by hand")
    st = os.lstat(path)
    if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
        raise RepairError(f"{visible(path)} is not a plain file of yours; add the line by hand")
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    try:
        return read_bytes(path, limit=_RC_LIMIT).decode("utf-8", "surrogateescape")
    except Unreadable as exc:
        raise RepairError(str(exc)) from None


def plan_export(step: Step, action: Action, ctx: Context) -> None:
    path = rc_file(ctx)
    text = _read_rc(path)
    placed = place_block(text, action.param("value"))
    if placed.text == text:
        step.done = True
        step.changes.append(f"{visible(path)}: the X509_CERT_DIR block is already there")
        return
    verb = "rewrite the mu3e-checks block in" if BLOCK_BEGIN in text else "add to"
    step.changes.append(f"{verb} {visible(path)}: export X509_CERT_DIR="
                        f"{visible(quote(str(action.param('value'))))} (a marked block at "
                        f"{placed.where}; the old file is kept as a .bak)")


def apply_export(action: Action, ctx: Context) -> list[str]:
    path = rc_file(ctx)
    text = _read_rc(path)
    placed = place_block(text, action.param("value"))
    if placed.text == text:
        return [f"{visible(path)}: the X509_CERT_DIR block is already there, unchanged"]
    log = []
    mode = stat.S_IMODE(os.lstat(path).st_mode) if os.path.lexists(path) else 0o644
    if os.path.lexists(path):
        backup = backup_name(path, ctx.stamp)
        os.link(path, backup, follow_symlinks=False)  # the old content stays, under a new name
        log.append(f"kept the old {visible(path)} as {visible(backup)}")
    outputs.write_file(path, placed.text.encode("utf-8", "surrogateescape"), mode)
    log.append(f"{visible(path)}: export X509_CERT_DIR={visible(quote(str(action.param('value'))))}"
               f" in the mu3e-checks block, {placed.where} (open a new shell, or source it)")
    return log
