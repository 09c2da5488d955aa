"""The hooks of a diagnosis run, registered only when the run targets mu3e_checks.

Keeping them on an object that :mod:`mu3e_checks.plugin` registers on demand is what keeps the
installed plugin inert in other projects: none of these hooks exists in their sessions.  The
hooks map; they do not render.  They order and gate the checks (prerequisites by the dependency
graph), turn how each check ended into its :class:`~mu3e_checks.model.Result` (typed skips, a
broken check as an error), keep the typed facts fixtures record, and at the end freeze all of it
into a :class:`~mu3e_checks.model.Diagnosis`.  Every text pytest shows or writes (failure lines,
JUnit properties) and every report is rendered from that model (:mod:`mu3e_checks.render`);
redaction and the secret scrub are applied to the model's data before anything renders.
"""

from __future__ import annotations

import datetime as _dt
import gc
import sys
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from mu3e_checks import outcome as _outcome
from mu3e_checks import profile, registry
from mu3e_checks.facts import Facts
from mu3e_checks.foreign import ForeignConfig
from mu3e_checks.model import (
    CheckResult,
    Coverage,
    Diagnosis,
    Outcome,
    Result,
    SkipKind,
    Written,
    freeze,
)
from mu3e_checks.outcome import CheckFailed, CheckSkipped
from mu3e_checks.outputs import OutputError
from mu3e_checks.redact import Identity, Redactor, scrub_secrets
from mu3e_checks.render import junit
from mu3e_checks.settings import Settings, id_matches
from mu3e_checks.text import visible

RESULT_KEY = pytest.StashKey[Result]()
#: The directory that holds the package: the skip location pytest records is relative to it
#: (``mu3e_checks/checks/test_01_certificate.py``), never a path under the user's home.
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _entry(item: pytest.Item) -> Optional[registry.Check]:
    return registry.check_of(getattr(item, "function", None))


def graph_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` reordered so every check runs after the checks it requires
    (:func:`registry.graph_ordered`), the collected order (guide order: module names, then
    definition order) kept wherever the graph allows.  So a prerequisite works whatever order
    files or other plugins put the checks in."""
    at = {e.id: n for n, it in enumerate(items) if (e := _entry(it)) is not None}

    def requires(item: pytest.Item) -> list[int]:
        e = _entry(item)
        return [at[r] for r in (e.requires if e else ()) if r in at]

    return registry.graph_ordered(items, requires)


class DiagnosisRun:
    """What one diagnosis run has found so far, and the hooks that report it."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: dict[str, Result] = {}
        #: Each check's result, frozen when it ended (scrubbed): what pytest is told about it.
        self.ended: dict[str, CheckResult] = {}
        self.facts = Facts()
        self.started = _dt.datetime.now().astimezone()
        self.html_path: Optional[Path] = None  # where the report ends up
        self.html_staging: Optional[Path] = None  # where pytest-html writes it first
        self.junit_path: Optional[Path] = None  # --junitxml, where it ends up
        self.junit_staging: Optional[Path] = None  # where pytest's junitxml writes it first
        self.json_path: Optional[Path] = None
        self.report_problems: list[str] = []
        self.foreign: list[ForeignConfig] = []  # pytest configuration that is not ours
        self.deselected = 0
        self.network_deselected = False
        self.redactor = Redactor()
        self.diagnosis: Optional[Diagnosis] = None  # as the report files show it
        self.screen: Optional[Diagnosis] = None  # as the terminal shows it
        #: The encoding of the stream pytest's terminal reporter writes to: it is made from
        #: ``sys.stdout`` in pytest_configure, as this object is (pytest has no public getter).
        self.encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        self._fixture_breaks: dict[str, str] = {}
        self._checks_by_node: dict[str, str] = {}
        self._html_report: Any = None  # pytest-html's report data, whose title we set at the end

    # ------------------------------------------------------------------ recording

    def record(self, **facts: Any) -> None:
        """Keep typed facts a fixture or check learned (fields of
        :class:`~mu3e_checks.facts.Facts`): the environment table is rendered from them, and
        ``--mu3e-redact`` takes every personal value from them."""
        self.facts = replace(self.facts, **facts)

    # ------------------------------------------------------------------ collection

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> Generator[None, Any, None]:
        """Before the others: IDs as keywords and the network marker (so -k and -m see them),
        and --mu3e-select/--mu3e-ignore.  After all others: the dependency-graph order, so no
        other plugin's reordering can put a check before its prerequisite."""
        keep, drop = [], []
        for item in items:
            entry = _entry(item)
            if entry is None:
                keep.append(item)
                continue
            item.extra_keyword_matches.add(entry.id)
            if entry.network:
                item.add_marker(pytest.mark.network)
            selected = not self.settings.select or id_matches(entry.id, self.settings.select)
            if selected and not id_matches(entry.id, self.settings.ignore) \
                    and not profile.excluded(self.settings.profile, entry.id):
                keep.append(item)
            else:
                drop.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        yield
        items[:] = graph_order(items)

    def note_foreign(self) -> None:
        """Name the pytest configuration from outside the package that bends this run (an
        inifile, PYTEST_ADDOPTS, a conftest.py): the summary and the report say so."""
        from mu3e_checks.foreign import foreign_of

        self.foreign = foreign_of(self.config, self.settings.environ)
        self.record(foreign=tuple(f.describe() for f in self.foreign))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Every prerequisite and fixture owner names a real check, and there is no cycle.
        (Conftests above the checks load during collection: look for foreign ones again.)"""
        self.note_foreign()
        # What exists now (modules, classes, the registry) lives until the process ends: move
        # it out of the collector's way, so the collections during the run and pytest's final
        # gc.collect() (unraisableexception) walk only what the checks themselves allocate.
        gc.freeze()
        if self.settings.select or self.settings.ignore:
            return  # unselected modules were never imported: the registry is partial
        try:
            registry.validate(registry.REGISTRY, registry.OWNER_REFS)
        except registry.RegistryError as exc:
            raise pytest.UsageError(f"mu3e_checks is broken: {exc}") from None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            entry = _entry(item)
            if entry is not None:
                self.deselected += 1
                self.network_deselected |= entry.network

    # ------------------------------------------------------------------ running

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        entry = _entry(item)
        if entry is None:
            return
        # The user's own settings fill a fix's {group}, {vo} and {setup}: never a hole.
        s = self.settings
        result = Result(check=entry, values={"group": s.group, "vo": s.vo, "setup": s.setup})
        item.stash[RESULT_KEY] = result
        self.results[entry.id] = result
        self._checks_by_node[item.nodeid] = entry.id
        not_in_profile = profile.skip_reason(self.settings.profile, entry.id)
        if not_in_profile:  # the user's selection, like offline: never a prerequisite's fault
            raise CheckSkipped(not_in_profile, SkipKind.SELECTION)
        if entry.network and self.settings.offline:
            raise CheckSkipped("offline mode (--mu3e-offline): network checks are not run",
                               SkipKind.SELECTION)
        for req in entry.requires:
            dep = self.results.get(req)
            if dep is not None and not dep.ok:
                root = dep.skipped_by or req
                why = "did not pass" if root == req else f"was skipped ({root} did not pass)"
                raise CheckSkipped(f"prerequisite {req} ({dep.check.title}) {why}; fix {root} "
                                   "first", SkipKind.PREREQUISITE, req)
        _outcome._set_current(result)

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        _outcome._set_current(None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        """Map how a check's phase ended into its Result, then tell pytest what the frozen
        result says (outcome, text, JUnit properties), rendered by :mod:`render.junit`."""
        made = yield
        result = item.stash.get(RESULT_KEY, None)
        if result is None or (call.when == "setup" and call.excinfo is None):
            return  # not a check, or its setup passed: the check itself comes next
        report: pytest.TestReport = made.get_result()
        if call.when == "teardown":  # JUnit writes the properties from the teardown report
            done = self.ended.get(result.check.id)
            report.user_properties = junit.properties(done) if done else [("check",
                                                                           result.check.id)]
            return
        self._conclude(result, call)
        done = self.ended[result.check.id] = result.freeze().map_text(scrub_secrets)
        report.outcome = junit.pytest_outcome(done, self.settings.strict)  # type: ignore
        if report.outcome == "skipped":
            report.longrepr = (self._location(item), item.location[1] or 0,
                               junit.SKIPPED_PREFIX + done.message)
        elif report.outcome == "failed":
            report.longrepr = junit.failure_text(done)
        else:
            report.longrepr = None

    def _conclude(self, result: Result, call: pytest.CallInfo[None]) -> None:
        """The check's outcome, message and skip reason as data, from how its phase ended."""
        exc = call.excinfo.value if call.excinfo is not None else None
        if call.when == "call":
            result.duration = call.duration
        if exc is None:
            result.outcome = Outcome.WARNED if result.warnings else Outcome.PASSED
        elif isinstance(exc, CheckFailed):
            if result.check.severity == "warn":  # advisory: a problem is a warning
                result.warnings.append(result.message)
                result.outcome = Outcome.WARNED
            else:
                result.outcome = Outcome.FAILED
                result.message = result.message or visible(str(exc))
        elif isinstance(exc, CheckSkipped):
            self._skip(result, exc)
        elif isinstance(exc, pytest.skip.Exception):
            self._broke(result, "it skipped without naming a prerequisite or your selection: "
                                f"{visible(getattr(exc, 'msg', '') or exc)}")
        else:
            broke = visible(f"{type(exc).__name__}: {exc}")
            first = self._fixture_breaks.get(broke) if call.when == "setup" else None
            if first is not None:  # one broken fact, one error: the others name it
                self._skipped(result, SkipKind.PREREQUISITE, first,
                              f"needs {first}: a fact it shares broke there ({broke})")
            else:
                if call.when == "setup":
                    self._fixture_breaks[broke] = result.check.id
                self._broke(result, broke)
        if result.problem and not result.remedy and result.check.fix:
            result.remedy = result.check.fix

    @staticmethod
    def _broke(result: Result, why: str) -> None:
        result.outcome = Outcome.ERROR
        result.message = (f"the check itself broke ({why}); please report this with the HTML "
                          "file attached")

    @staticmethod
    def _skipped(result: Result, kind: SkipKind, by: Optional[str], reason: str) -> None:
        result.outcome = Outcome.SKIPPED
        result.skip_kind, result.skipped_by, result.message = kind, by, reason

    def _skip(self, result: Result, exc: CheckSkipped) -> None:
        """A typed skip, or why it is not one a skip may give.

        A prerequisite skip names the check that owns the missing fact; the root cause is that
        check, or what it was itself skipped for.  A prerequisite that *passed* cannot explain a
        missing fact: that skip would hide a finding, so it is reported as a broken check.  (One
        that warned has reported the finding: its warning is the reason.)
        """
        reason = exc.reason
        if exc.kind is SkipKind.SELECTION:
            return self._skipped(result, SkipKind.SELECTION, None, reason)
        owner = exc.owner or ""
        dep = self.results.get(owner)
        if dep is None or dep is result or dep.outcome in (Outcome.FAILED, Outcome.ERROR,
                                                           Outcome.WARNED):
            return self._skipped(result, SkipKind.PREREQUISITE, owner, reason)
        if dep.outcome == Outcome.SKIPPED:
            root = dep.skipped_by or owner
            if root not in reason:
                reason += f" (root cause: {root})"
            return self._skipped(result, SkipKind.PREREQUISITE, root, reason)
        return self._broke(result, f"it needs a fact {owner} reports, but {owner} passed: "
                                   f"{reason}")

    @staticmethod
    def _location(item: pytest.Item) -> str:
        """The check module as the package names it, for a skip's location: never the path it
        is installed at (under the user's home, for a venv in ~/.local)."""
        path = Path(str(item.path))
        try:
            return str(path.relative_to(_PACKAGE_PARENT))
        except ValueError:
            return path.name

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> Optional[tuple[str, str, tuple[str, dict[str, bool]]]]:
        done = self.ended.get(self._checks_by_node.get(report.nodeid, ""))
        if done is not None and report.when == "call" and report.passed \
                and done.outcome == Outcome.WARNED:
            return "warned", "W", ("WARN", {"yellow": True})
        return None

    # ------------------------------------------------------------------ the model

    def build_diagnosis(self, exit_code: Optional[int] = None) -> Diagnosis:
        """Freeze the results into the model every renderer reads (scrubbed, not redacted);
        the facts completed with what the report always shows."""
        from mu3e_checks import environment
        from mu3e_checks.foreign import summary_line

        facts = environment.complete(self.facts, self.settings)
        # Who the user is, from every fact the run has, before anything is scrubbed or shown.
        self.redactor = Redactor(Identity.of(facts)) if self.settings.redact else Redactor()
        raw = freeze(self.results.values(), started=self.started, host=facts.account.host,
                     user=facts.account.user, strict=self.settings.strict, facts=facts,
                     coverage=Coverage(offline=self.settings.offline,
                                       network_deselected=self.network_deselected,
                                       deselected=self.deselected),
                     exit_code=exit_code, finished=_dt.datetime.now().astimezone(),
                     foreign_config=(summary_line(self.foreign),) if self.foreign else ())
        return attach_sections(self.config.hook, raw).map_text(scrub_secrets)

    def for_reports(self, d: Diagnosis) -> Diagnosis:
        """The model as the files show it: redacted in the data when ``--mu3e-redact`` is on."""
        if not self.settings.redact:
            return d
        return replace(d.map_text(self.redactor.text),
                       redaction=self.redactor.describe() or "nothing personal found")

    # ------------------------------------------------------------------ reporting

    # trylast: the innermost wrapper, so the terminal summary (printed after the terminal
    # reporter's own wrapper resumes) already knows whether the reports were finished.
    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, Any, None]:
        worker = hasattr(self.config, "workerinput")
        self.screen = self.build_diagnosis(int(exitstatus))
        self.diagnosis = self.for_reports(self.screen)
        if self.settings.json_path and not worker:
            self._write_json(self.diagnosis)
        yield  # pytest-html and junitxml write their files here (into our staging dirs)
        if worker:
            return
        self.html_path = self._publish(self.html_staging, self.html_path, "HTML", None)
        if self.html_path is not None:
            self._forget_pytest_html()
        self.junit_path = self._publish(self.junit_staging, self.junit_path, "JUnit",
                                        self._junit_text)
        if self.junit_path is not None:
            self._point_junitxml_at(self.junit_path)

    def _write_json(self, d: Diagnosis) -> None:
        from mu3e_checks import outputs
        from mu3e_checks.render import json as render_json

        path = outputs.absolute(self.settings.json_path)  # type: ignore[arg-type]
        try:
            outputs.ensure_directory(path.parent)
            self.json_path = outputs.write_file(path, render_json.dumps(d))
        except OutputError as exc:
            self.report_problems.append(f"the JSON report was not written: {exc}")

    def _junit_text(self, staged: bytes) -> bytes:
        """The JUnit file pytest wrote, each check's part rendered from the final model and
        everything else passed through the final redactor: redacted once, at the end."""
        assert self.diagnosis is not None
        return junit.rewrite(staged, self.diagnosis, self.redactor.text)

    def _publish(self, staged: Optional[Path], final: Optional[Path], what: str,
                 rewrite: Optional[Callable[[bytes], bytes]]) -> Optional[Path]:
        """Put a report another program wrote into our staging directory in place (mode
        600), rewritten first when ``rewrite`` is given; None and a report problem when not."""
        if staged is None or final is None:
            return None
        from mu3e_checks import outputs

        try:
            if not staged.exists():
                self.report_problems.append(f"the {what} report was not written")
                return None
            data = None
            if rewrite is not None:
                try:  # our own file, in our own private directory
                    data = rewrite(staged.read_bytes())
                except (OSError, ValueError, SyntaxError) as exc:  # ParseError is one
                    staged.unlink()  # never publish what could not be redacted
                    self.report_problems.append(f"the {what} report was not written: {exc}")
                    return None
            return outputs.publish(staged, final, data)
        except OutputError as exc:
            self.report_problems.append(f"the {what} report was not put in place: {exc}")
            return None

    def _forget_pytest_html(self) -> None:
        """pytest-html would close with "Generated html report: <its path>", our staging file,
        now gone: its report object has done its work, so it leaves the session (public
        pluggy API; pytest-html has no hook for that line)."""
        try:
            from pytest_html.basereport import BaseReport
        except ImportError:  # pragma: no cover
            return
        for plugin in self.config.pluginmanager.get_plugins():
            if isinstance(plugin, BaseReport):
                self.config.pluginmanager.unregister(plugin)

    def _point_junitxml_at(self, final: Path) -> None:
        """pytest's junitxml closes with "generated xml file: <its path>": point that line at
        the published file.  Its plugin cannot leave the session (pytest unregisters it at
        the end) and has no hook for the line: its ``logfile`` attribute is set."""
        for plugin in self.config.pluginmanager.get_plugins():
            if getattr(plugin, "logfile", None) == str(self.junit_staging):
                plugin.logfile = str(final)

    def written(self) -> Written:
        """What the terminal says about the report files."""
        return Written(html=visible(self.html_path) if self.html_path else None,
                       json=visible(self.json_path) if self.json_path else None,
                       junit=visible(self.junit_path) if self.junit_path else None,
                       redacted=self.settings.redact, problems=tuple(self.report_problems))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from mu3e_checks.render.terminal import terminal_summary

        if self.screen is None:
            return
        # The terminal is the user's own screen: scrubbed, never redacted.
        terminal_summary(terminalreporter, self.screen, self.written(), self.encoding)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        """pytest-html asks for the title at session start, before any check ran: give the
        bare name now and the full one (host, user, time, redacted like the rest) when the
        diagnosis exists, in :meth:`pytest_html_results_summary`, which pytest-html calls
        just before it writes the file.  Building a whole diagnosis here only for the title
        cost a noticeable part of a run's time."""
        from mu3e_checks.render import TITLE

        self._html_report = report
        report.title = TITLE  # pytest-html's template escapes the title itself

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        """The report has one results table, ours (server-rendered, in the summary): pytest-html
        leaves out a row whose cells are removed, and counts nothing for it."""
        cells.clear()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        from mu3e_checks.render import TITLE
        from mu3e_checks.render.html import html_summary

        d = self.diagnosis or self.for_reports(self.build_diagnosis())
        if self._html_report is not None:
            self._html_report.title = d.title(TITLE)
        prefix.extend(html_summary(d))


def attach_sections(hook: Any, d: Diagnosis) -> Diagnosis:
    """``d`` with the sections a subcommand hands in (explain's "Error explained", fix's
    repairs) through :func:`mu3e_checks.hooks.pytest_mu3e_report_sections`.  Called before
    the key scrub and ``--mu3e-redact``, so those sections are treated like every other text;
    an ordinary run has no such plugin."""
    for fields in hook.pytest_mu3e_report_sections(diagnosis=d):
        if fields:
            d = replace(d, **fields)
    return d
