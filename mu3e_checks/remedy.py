"""Fixes as data: a :class:`Remedy` is the exact command(s) a user runs, kept as parts.

A line's *template* is our own text (a command, a shell construct, a comment) with ``{name}``
fields; the *values* come from outside (paths, DNs, host names, groups) and are filled in only
when the fix is rendered: shell-quoted on a command line, made visible on a comment line.  So a
value can never become shell syntax, end a comment, or paint the terminal, however it was made.

A remedy also says whether a tool may apply it (:class:`Safety`), what it would do as a
machine-applicable :class:`Action` (for ``mu3e-checks fix``), and which checks must pass before
it can work.  Renderers (terminal, HTML, JSON, JUnit) call :meth:`Remedy.render` and nothing else.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Callable, Optional

from mu3e_checks.shell import comment, quote
from mu3e_checks.text import visible

_FORMATTER = string.Formatter()


class Safety(str, Enum):
    """Who may carry out a remedy."""

    SAFE = "safe"  # a tool may apply it after one confirmation (modes, CRLs, CA bundles)
    CONFIRM = "confirm"  # changes a shell start-up file: needs its own yes
    MANUAL = "manual"  # only a person can do it (another owner, a CA, a VO admin, a network)


class ActionKind(str, Enum):
    """The repairs a tool knows how to do and verify (the repair issue builds on these)."""

    CHMOD = "chmod"
    PKCS12_EXTRACT = "pkcs12-extract"
    FETCH_CRLS = "fetch-crls"
    INSTALL_CA_BUNDLES = "install-ca-bundles"
    EXPORT_CERT_DIR = "export-cert-dir"


@dataclass(frozen=True)
class Action:
    """A machine-applicable form of a remedy: a kind and its typed parameters."""

    kind: ActionKind
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str) -> Any:
        return dict(self.params).get(name)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def _fill(template: str, values: Mapping[str, Any], convert, missing) -> str:
    out = []
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        out.append(convert(values[name]) if values.get(name) is not None else missing(name))
    return "".join(out)


@dataclass(frozen=True)
class Line:
    """One line of a fix: a command (values quoted) or a comment (values made visible)."""

    template: str
    values: tuple[tuple[str, Any], ...] = ()
    note: str = ""  # a trailing '# ...' on a command line; a template like the line itself
    is_comment: bool = False

    def fields(self) -> list[str]:
        return _fields(self.template) + _fields(self.note)

    def render(self, values: Mapping[str, Any]) -> str:
        merged = {**values, **dict(self.values)}
        if self.is_comment:
            return comment(_fill(self.template, merged, visible, lambda n: f"<{n}>"))
        missing = [n for n in self.fields() if merged.get(n) is None]
        note = _fill(self.note, merged, visible, lambda n: f"<{n}>")
        if missing:  # never print a runnable line with a hole in it
            body = _fill(self.template, merged, quote, lambda n: f"<{n}>")
            return comment(f"{body}   (fill in {', '.join(dict.fromkeys(missing))})")
        body = _fill(self.template, merged, quote, lambda n: "")
        return f"{body}   {comment(note)}" if note else body


@dataclass(frozen=True)
class Remedy:
    """The fix for one finding: lines to run, and what a tool may do about it."""

    lines: tuple[Line, ...] = ()
    safety: Safety = Safety.MANUAL
    action: Optional[Action] = None
    requires: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.lines)

    def __add__(self, other: Remedy) -> Remedy:
        """Both remedies, this one's lines first; the result is only as safe as the less safe."""
        if not other:
            return self
        if not self:
            return other
        order = list(Safety)
        return Remedy(self.lines + other.lines,
                      safety=max(self.safety, other.safety, key=order.index),
                      action=self.action or other.action,
                      requires=tuple(dict.fromkeys(self.requires + other.requires)))

    def with_values(self, **values: Any) -> Remedy:
        """The same remedy with ``values`` bound to every line (outside text stays data)."""
        bound = tuple(replace(ln, values=tuple({**dict(values), **dict(ln.values)}.items()))
                      for ln in self.lines)
        return replace(self, lines=bound)

    def fields(self) -> list[str]:
        return [n for ln in self.lines for n in ln.fields()]

    def map_values(self, f: Callable[[str], str]) -> Remedy:
        """The same remedy with ``f`` applied to every outside value before any is quoted:
        how redaction reaches a fix.  A home ``/home/o'brien`` is one value here; in the
        rendered text it is ``'/home/o'"'"'brien'``, which no pattern for the value matches."""
        return replace(self, lines=tuple(
            replace(ln, values=tuple((k, _map_value(v, f)) for k, v in ln.values))
            for ln in self.lines))

    def render(self, values: Optional[Mapping[str, Any]] = None) -> str:
        """The text a user pastes: one line per :class:`Line`, values quoted or made visible."""
        return "\n".join(ln.render(values or {}) for ln in self.lines)

    def template_text(self) -> str:
        """The remedy as written, ``{fields}`` unfilled: for the check reference, never a user."""
        out = []
        for ln in self.lines:
            if ln.is_comment:
                out.append(f"# {ln.template}")
            else:
                out.append(ln.template + (f"   # {ln.note}" if ln.note else ""))
        return "\n".join(out)

    @classmethod
    def parse(cls, text: str) -> Remedy:
        """A remedy from our own template text (a registry default): lines starting with '#'
        are comments, '   # ' starts a command line's note.  Never for text with outside values."""
        lines = []
        for raw in text.split("\n"):
            if raw.lstrip().startswith("#"):
                lines.append(Line(raw.lstrip()[1:].lstrip(), is_comment=True))
            elif "   # " in raw:
                body, note = raw.split("   # ", 1)
                lines.append(Line(body.rstrip(), note=note))
            elif raw.strip():
                lines.append(Line(raw))
        return cls(tuple(lines))


def _map_value(value: Any, f: Callable[[str], str]) -> Any:
    """``f`` applied to a text value (a path or bytes read as text); numbers stay."""
    if isinstance(value, bytes):
        return f(value.decode("utf-8", "surrogateescape"))
    if isinstance(value, (str, os.PathLike)):
        return f(os.fsdecode(value) if isinstance(value, os.PathLike) else value)
    return value


def cmd(template: str, *, note: str = "", safety: Safety = Safety.MANUAL,
        action: Optional[Action] = None, requires: Iterable[str] = (), **values: Any) -> Remedy:
    """One command line.  ``template`` is ours; ``values`` are quoted when it is rendered."""
    return Remedy((Line(template, tuple(values.items()), note),), safety=safety, action=action,
                  requires=tuple(requires))


def say(template: str, **values: Any) -> Remedy:
    """One comment line: advice for a person.  ``values`` are shown, never run."""
    return Remedy((Line(template, tuple(values.items()), is_comment=True),))


def join(*remedies: Optional[Remedy]) -> Remedy:
    """Several remedies as one fix, in order, each line once."""
    out = Remedy()
    seen: set[Line] = set()
    for r in remedies:
        if not r:
            continue
        fresh = tuple(ln for ln in r.lines if ln not in seen)
        seen.update(fresh)
        out = out + replace(r, lines=fresh)
    return out


NO_FIX = Remedy()
