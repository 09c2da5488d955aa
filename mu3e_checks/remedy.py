"""Fixes as data: a :class:`Remedy` is the exact command(s) a user runs, kept as parts.

A line's *template* is our own text (a command, a shell construct, a comment) with ``{name}``
fields; the *values* come from outside (paths, DNs, host names, groups) and are filled in only
when the fix is rendered: shell-quoted on a command line, made visible on a comment line.  So a
value can never become shell syntax, end a comment, or paint the terminal, however it was made.

A remedy also says whether a tool may apply it (:class:`Safety`), what it would do as a
machine-applicable :class:`Action` (for ``mu3e-checks fix``), and which checks must pass before
it can work.  Renderers (terminal, HTML, JSON, JUnit) call :meth:`Remedy.render` and nothing else.

A :class:`Builder` is a fix defined once (every command in :mod:`mu3e_checks.commands` is one):
called with a finding's values it makes the :class:`Remedy` a user sees, and called with
:class:`Field` placeholders it makes its :attr:`~Builder.template`, the text docs/checks.md
shows.  Both come from the same code, so the documented fix and the shown fix cannot drift.
"""

from __future__ import annotations

import inspect
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
        def text(template: str) -> str:
            return _fill(template, {}, str, lambda n: "{" + n + "}")

        out = []
        for ln in self.lines:
            if ln.is_comment:
                out.append(f"# {text(ln.template)}")
            else:
                out.append(text(ln.template) + (f"   # {text(ln.note)}" if ln.note else ""))
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


    def as_template(self) -> Remedy:
        """This remedy as a template: every bound value written into its line as text, so a
        :class:`Field` reads ``{name}`` again and our own constants read as themselves; no
        values, no action (a template is never applied).  What a :class:`Builder` documents,
        and what a check that broke before it could fill its fix is given (its holes are
        shown as holes)."""
        return replace(self, action=None, lines=tuple(
            Line(_as_text(ln.template, ln.values), (), _as_text(ln.note, ln.values),
                 ln.is_comment) for ln in self.lines))


def _as_text(template: str, values: tuple[tuple[str, Any], ...]) -> str:
    """``template`` with the bound ``values`` written in as text (braces in our literal text
    kept escaped); fields without a value stay ``{name}``."""
    bound = dict(values)
    out = []
    for literal, name, _spec, _conv in _FORMATTER.parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        value = bound.get(name)
        out.append("{" + name + "}" if value is None else
                   os.fsdecode(value) if isinstance(value, os.PathLike) else str(value))
    return "".join(out)


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


# ------------------------------------------------------------------------------- builders


class Field(str):
    """A value a finding supplies, by name: ``Field("key")`` is the text ``{key}``.

    A builder's template is made by calling the builder with a field for each value it needs,
    so the template reads ``chmod 600 {key}``.  In :meth:`Builder.bind`, a field renames: the
    builder's parameter is filled from the finding's value of that name.  Builders whose code
    looks at a value (is it a plain host name?) treat a field as the plain case.
    """

    def __new__(cls, name: str) -> Field:
        return super().__new__(cls, "{" + name + "}")

    @property
    def name(self) -> str:
        return str.__str__(self)[1:-1]


@dataclass(frozen=True)
class Builder:
    """A fix defined once: the call that fills it, and the template made by the same call.

    ``builder(**values)`` is the :class:`Remedy` for a finding; :attr:`template` is that same
    function called with a :class:`Field` for every value it needs (or the ``example`` value
    given for it), written as text.  A check registers builders (``@check(fix=...)``), so
    docs/checks.md shows what the check's findings print.  :meth:`bind` fixes some arguments
    (``commands.chmod.bind("600", path=Field("key"))`` is ``chmod 600 {key}``, filled from the
    finding's ``key``).
    """

    make: Callable[..., Remedy]
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    example: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return getattr(self.make, "__name__", "builder")

    @property
    def __doc__(self) -> Optional[str]:  # type: ignore[override]
        return self.make.__doc__

    def __repr__(self) -> str:
        bound = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}.bind({', '.join(bound)})" if bound else self.name

    def __call__(self, *args: Any, **values: Any) -> Remedy:
        """The remedy for one finding: the bound arguments, a bound :class:`Field` filled
        from ``values`` by its name, then ``args`` and the rest of ``values``."""
        kwargs = dict(self.kwargs)
        for key, value in kwargs.items():
            if isinstance(value, Field):
                if value.name not in values:
                    raise TypeError(f"{self!r} needs the value {value.name!r}")
                kwargs[key] = values.pop(value.name)
        return self.make(*self.args, *args, **kwargs, **values)

    def bind(self, *args: Any, **kwargs: Any) -> Builder:
        """This builder with some arguments fixed (a :class:`Field` value renames one)."""
        return replace(self, args=self.args + args,
                       kwargs=tuple({**dict(self.kwargs), **kwargs}.items()))

    @property
    def template(self) -> Remedy:
        """The fix as docs/checks.md shows it: ``{fields}`` where the finding's values go
        (made once per builder: every check module registers its builders at import)."""
        try:
            return _TEMPLATES[self]
        except KeyError:
            made = _TEMPLATES[self] = self._template()
            return made
        except TypeError:  # a bound value that cannot be a key (a list): made each time
            return self._template()

    def _template(self) -> Remedy:
        given = dict(self.kwargs)
        example = dict(self.example)
        params = list(inspect.signature(self.make).parameters.values())[len(self.args):]
        for p in params:
            if p.name in given or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name in example:
                given[p.name] = example[p.name]
            elif p.default is p.empty:
                given[p.name] = Field(p.name)
        return self.make(*self.args, **given).as_template()

    def template_text(self) -> str:
        return self.template.template_text()

    def __bool__(self) -> bool:
        return True


_TEMPLATES: dict[Builder, Remedy] = {}


def builder(make: Optional[Callable[..., Remedy]] = None, *,
            example: Optional[Mapping[str, Any]] = None) -> Any:
    """Make a function of the finding's values into a :class:`Builder` (a decorator, with or
    without ``example=``: the values its template shows where a plain ``{field}`` would not
    read well, e.g. ``{parent}/diracos`` for a path whose parent the fix names)."""
    def wrap(func: Callable[..., Remedy]) -> Builder:
        return Builder(func, example=tuple((example or {}).items()))

    return wrap(make) if make is not None else wrap
