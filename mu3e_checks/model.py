"""The diagnosis as plain data: results, chapters, verdict and fixes, with no pytest in sight.

The pytest hooks (:mod:`mu3e_checks.run`) fill :class:`Result` records while checks run and then
freeze them into one :class:`Diagnosis`.  Every renderer (terminal, HTML, JSON, JUnit
properties) reads only a ``Diagnosis``; redaction (:mod:`mu3e_checks.redact`) maps one
``Diagnosis`` to another before anything is rendered, so markup and schema strings are never
touched by it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Optional

from mu3e_checks import registry
from mu3e_checks.facts import Facts
from mu3e_checks.registry import Check
from mu3e_checks.remedy import Action, Remedy


class Outcome(str, Enum):
    """How one check ended.  A ``str`` enum, so it compares and serialises as its value."""

    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    ERROR = "error"  # the check itself broke
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


class SkipKind(str, Enum):
    """The only two reasons a check may be skipped: a prerequisite that did not pass (named),
    or the user's own selection (``--mu3e-offline``, a profile, no pass phrase given)."""

    PREREQUISITE = "prerequisite"
    SELECTION = "selection"

    def __str__(self) -> str:
        return self.value


class ModelError(ValueError):
    """A result that breaks the model's rules (a skip without a reason it may give)."""


@dataclass
class Result:
    """What one check found, filled in while it runs (mutable until the run is frozen)."""

    check: Check
    outcome: str = Outcome.PASSED.value
    message: str = ""
    remedy: Remedy = field(default_factory=Remedy)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0
    skipped_by: Optional[str] = None  # ID of the prerequisite that caused a skip
    skip_kind: Optional[SkipKind] = None  # why a skipped check was skipped

    @property
    def ok(self) -> bool:
        """True when dependants may run: the check passed, possibly with warnings."""
        return self.outcome in (Outcome.PASSED, Outcome.WARNED)

    @property
    def problem(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.WARNED, Outcome.ERROR)

    @property
    def fix(self) -> str:
        """The fix as the user pastes it: values quoted, one command or comment per line."""
        return self.remedy.render(self.values)

    def freeze(self) -> CheckResult:
        c = self.check
        remedy = self.remedy.with_values(**self.values) if self.problem else None
        return CheckResult(
            id=c.id, title=c.title, step=c.step, step_title=c.step_title, severity=c.severity,
            requires=c.requires, outcome=str(self.outcome), message=self.message,
            warnings=tuple(self.warnings), notes=tuple(self.notes),
            fix=remedy.render() if remedy else "", skipped_by=self.skipped_by,
            skip_kind=self.skip_kind if self.outcome == Outcome.SKIPPED else None,
            duration=float(self.duration),
            actions=(self.remedy.action,) if self.problem and self.remedy.action else (),
            remedy=remedy or None)


@dataclass(frozen=True)
class CheckResult:
    """One check's result as the renderers see it: text only, already made visible."""

    id: str
    title: str
    step: str
    step_title: str
    severity: str
    requires: tuple[str, ...]
    outcome: str
    message: str
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    fix: str = ""
    skipped_by: Optional[str] = None
    duration: float = 0.0
    #: The machine-applicable form of the fix (``mu3e-checks fix``); data, never rendered.
    actions: tuple[Action, ...] = ()
    #: Why a skipped check was skipped; ``skipped_by`` names the prerequisite for
    #: ``SkipKind.PREREQUISITE``.  Set exactly when the outcome is ``skipped``.
    skip_kind: Optional[SkipKind] = None
    #: The fix as data (its outside values bound, not yet quoted), from which ``fix`` is
    #: rendered: redaction replaces the values here, before quoting (:meth:`map_text`).
    remedy: Optional[Remedy] = None

    def __post_init__(self) -> None:
        """A skip never hides a finding: it has one of the two reasons a skip may give."""
        if self.outcome == Outcome.SKIPPED:
            if self.skip_kind is None:
                raise ModelError(f"{self.id} is skipped without a reason kind: {self.message!r}")
            if self.skip_kind is SkipKind.PREREQUISITE and not self.skipped_by:
                raise ModelError(f"{self.id} is skipped for a prerequisite it does not name")
        elif self.skip_kind is not None:
            raise ModelError(f"{self.id} is {self.outcome}, not skipped, but has a skip reason")

    @property
    def problem(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.WARNED, Outcome.ERROR)

    @property
    def problem_text(self) -> str:
        """What is wrong: the failure message, or the warnings of a check that passed."""
        return "; ".join(self.warnings) if self.outcome == Outcome.WARNED else self.message

    def map_text(self, f: Callable[[str], str]) -> CheckResult:
        """``f`` applied to every free text; to the fix's outside values before they are
        quoted, then to the fix as rendered (our templates hold nothing ``f`` looks for)."""
        remedy = self.remedy.map_values(f) if self.remedy else self.remedy
        fix = remedy.render() if remedy else self.fix
        return replace(self, message=f(self.message), warnings=tuple(map(f, self.warnings)),
                       notes=tuple(map(f, self.notes)), fix=f(fix), remedy=remedy)


@dataclass(frozen=True)
class Chapter:
    """One guide chapter and the results of its checks in this run."""

    key: str
    title: str
    results: tuple[CheckResult, ...] = ()

    @property
    def status(self) -> str:
        """ok | warned | failed | skipped | not checked."""
        outcomes = {r.outcome for r in self.results}
        if not outcomes:
            return "not checked"
        if outcomes & {Outcome.FAILED, Outcome.ERROR}:
            return "failed"
        if Outcome.WARNED in outcomes:
            return "warned"
        if Outcome.PASSED in outcomes:
            return "ok"
        return "skipped"

    def counts(self) -> str:
        """"2 passed, 1 skipped": what happened in this chapter."""
        names = (("failed", "failed"), ("error", "broken"), ("warned", "with warnings"),
                 ("passed", "passed"), ("skipped", "skipped"))
        parts = []
        for outcome, label in names:
            n = sum(1 for r in self.results if r.outcome == outcome)
            if n:
                parts.append(f"{n} {label}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Coverage:
    """What this run did not look at, so the verdict never claims more than was checked."""

    offline: bool = False  # --mu3e-offline: network checks skipped
    network_deselected: bool = False  # -m "not network", -k or --mu3e-select left them out
    deselected: int = 0  # mu3e checks left out by selection


@dataclass(frozen=True)
class Explained:
    """One item of ``mu3e-checks explain``'s "Error explained" section, as data: the section is
    the tuple of them on :attr:`Diagnosis.explained`, in the order it reads, and the terminal,
    the HTML and the JSON render from it.  ``kind`` says what the item is and which fields
    it fills:

    - ``entry``: a catalogue entry that matched (``key``, ``title``, ``harmful``, ``why`` for a
      harmless one, ``lines``: the lines it claimed); ``ordinary`` is the same for a program's
      ordinary output (progress, proxy fields, the command line), which says nothing is wrong;
    - ``verdict``: ``key`` is ``harmful``, ``harmless`` or ``not recognised``, ``title`` the
      sentence;
    - ``cause``: a confirmed cause, the root cause first (``title``, ``checks``: its deciding
      checks, ``results``: those whose problem confirms it, with message and fix);
    - ``ruled out`` / ``undecided``: a candidate cause whose deciding checks all passed / did
      not decide (``title``, ``checks``, ``results``: those that ran);
    - ``unexplained``: the lines no entry matched (``lines``; ``key``: how many there were).

    Lines are outside text, already made visible and clipped; :meth:`map_text` reaches them
    and the results (redaction, the key scrub), not the catalogue's own words.
    """

    kind: str
    key: str = ""
    title: str = ""
    harmful: bool = False
    why: str = ""
    lines: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    results: tuple[CheckResult, ...] = ()

    def map_text(self, f: Callable[[str], str]) -> Explained:
        return replace(self, lines=tuple(map(f, self.lines)),
                       results=tuple(r.map_text(f) for r in self.results))


@dataclass(frozen=True)
class Diagnosis:
    """A finished (or finishing) diagnosis run, ready to render."""

    results: tuple[CheckResult, ...]
    started: _dt.datetime
    host: str = ""
    user: str = ""
    strict: bool = False
    coverage: Coverage = field(default_factory=Coverage)
    #: What the run learned about the machine, typed; the environment table is rendered from
    #: it and ``--mu3e-redact`` takes every personal value from it.
    facts: Facts = field(default_factory=Facts)
    exit_code: Optional[int] = None
    finished: Optional[_dt.datetime] = None
    redaction: str = ""  # the placeholders in use when redacted, else ""
    foreign_config: tuple[str, ...] = ()  # a pytest configuration that is not ours, named
    explained: tuple[Explained, ...] = ()  # mu3e-checks explain: its section, as data
    #: mu3e-checks fix: what the repairs before this run changed (old modes, backup names), so
    #: the report a support engineer reads says which files the tool touched.
    repairs: tuple[str, ...] = ()

    # ------------------------------------------------------------------ views

    def chapters(self) -> list[Chapter]:
        """Every guide chapter, in guide order, with the results of its checks."""
        grouped: dict[str, list[CheckResult]] = {key: [] for key, _ in registry.GUIDE_STEPS}
        for r in self.results:
            grouped[r.step].append(r)
        return [Chapter(key, title, tuple(grouped[key])) for key, title in registry.GUIDE_STEPS]

    def counts(self) -> dict[str, int]:
        """How many checks ended in each outcome: the one count the terminal, the HTML and the
        JSON report all give."""
        out = {o.value: 0 for o in Outcome}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    @property
    def ready(self) -> bool:
        """True when no check that ran failed (and, in strict mode, none warned)."""
        c = self.counts()
        if not self.results or c["failed"] or c["error"]:
            return False
        return not (c["warned"] and self.strict)

    def fixes_in_order(self) -> list[tuple[str, str]]:
        """(check ID, fix) for every problem, in guide order, each distinct fix once."""
        seen: set[str] = set()
        out = []
        for r in self.results:
            if r.problem and r.fix and r.fix not in seen:
                seen.add(r.fix)
                out.append((r.id, r.fix))
        return out

    def not_checked(self) -> list[str]:
        """What the verdict must admit it did not look at."""
        out = []
        if self.coverage.offline:
            out.append("the Configuration Server was not contacted (offline)")
        elif self.coverage.network_deselected:
            out.append("the Configuration Server was not contacted (network checks deselected)")
        missing = [ch.title for ch in self.chapters() if not ch.results]
        if missing and self.results:
            out.append(f"{len(missing)} of {len(registry.GUIDE_STEPS)} guide chapters not run")
        return out

    def verdict(self) -> str:
        """The one-line verdict that closes the run; it never claims what was not checked."""
        failed = [r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
        warned = [r for r in self.results if r.outcome == Outcome.WARNED]
        if failed:
            first = failed[0]
            return (f"NOT READY: {len(failed)} check(s) failed; start with {first.id} "
                    f"({first.title}).")
        if warned and self.strict:
            return f"NOT READY (strict): {len(warned)} warning(s) count as failures."
        if not self.results:
            return "NOTHING CHECKED: no mu3e check ran (check -k/-m/--mu3e-select)."
        gaps = self.not_checked()
        offline = " offline" if self.coverage.offline else ""
        if gaps:
            what = f"READY{offline}" + (f" with {len(warned)} warning(s)" if warned else "")
            return f"{what}: every check that ran passed, but {'; '.join(gaps)}."
        if warned:
            return f"READY with {len(warned)} warning(s): the setup follows the guide."
        return "READY: every check that ran passed."

    def title(self, name: str) -> str:
        """The report title: what, where, who, when."""
        return (f"{name} — host {self.host}, user {self.user}, "
                f"{self.started.strftime('%Y-%m-%d %H:%M %z')}")

    # ------------------------------------------------------------------ transformations

    def map_text(self, f: Callable[[str], str]) -> Diagnosis:
        """The same diagnosis with ``f`` applied to every free-text field (not IDs, keys,
        outcomes or chapter titles): how redaction and the key scrub reach every renderer."""
        return replace(
            self, results=tuple(r.map_text(f) for r in self.results), host=f(self.host),
            user=f(self.user), facts=self.facts.map_text(f),
            foreign_config=tuple(map(f, self.foreign_config)),
            explained=tuple(e.map_text(f) for e in self.explained),
            repairs=tuple(map(f, self.repairs)))


@dataclass(frozen=True)
class Written:
    """The report files a run wrote (paths as the user gave them) and why any was not, for
    the terminal summary: written after the model was rendered into them."""

    html: Optional[str] = None
    json: Optional[str] = None
    junit: Optional[str] = None  # --junitxml (pytest says so itself only when not quiet)
    redacted: bool = False
    problems: tuple[str, ...] = ()


def freeze(results: Iterable[Result], **kw: Any) -> Diagnosis:
    """A :class:`Diagnosis` of ``results`` in guide order."""
    results = list(results)
    ordered = registry.ordered(r.check for r in results)
    by_id = {r.check.id: r for r in results}
    return Diagnosis(results=tuple(by_id[c.id].freeze() for c in ordered), **kw)
