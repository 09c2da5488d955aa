"""The hooks of a diagnosis run, registered only when the run targets mu3e_checks.

Keeping them on an object that :mod:`mu3e_checks.plugin` registers on demand is what keeps the
installed plugin inert in other projects: none of these hooks exists in their sessions.  The
hooks do three things: order and gate the checks (prerequisites by the dependency graph), turn
``fail``/``warn``/``note`` into pytest outcomes and JUnit properties, and at the end freeze the
results into a :class:`~mu3e_checks.model.Diagnosis` that the renderers draw.  Redaction and the
secret scrub are applied to that data (and to each report's JUnit text) before anything renders.
"""

from __future__ import annotations

import datetime as _dt
import gc
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any, Optional

import pytest

from mu3e_checks import outcome as _outcome
from mu3e_checks import profile, registry
from mu3e_checks.foreign import ForeignConfig
from mu3e_checks.model import Coverage, Diagnosis, Outcome, Result, SkipKind, freeze
from mu3e_checks.outcome import CheckFailed, CheckSkipped
from mu3e_checks.outputs import OutputError
from mu3e_checks.redact import Identity, Redactor, scrub_secrets
from mu3e_checks.settings import Settings, id_matches
from mu3e_checks.text import visible

RESULT_KEY = pytest.StashKey[Result]()


def _entry(item: pytest.Item) -> Optional[registry.Check]:
    return registry.check_of(getattr(item, "function", None))


def graph_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` reordered so every check runs after the checks it requires.

    The collected order (guide order: module names, then definition order) is kept wherever
    the graph allows: at each step the earliest item whose prerequisites have all run goes
    next.  So a prerequisite works whatever order files or other plugins put the checks in.
    (The registry refuses cycles when it loads; a cycle here would keep the rest as is.)
    """
    by_check = {e.id: it for it in items if (e := _entry(it)) is not None}
    deps: dict[int, set[int]] = {}
    for it in items:
        e = _entry(it)
        deps[id(it)] = {id(by_check[r]) for r in (e.requires if e else ()) if r in by_check}
    placed: set[int] = set()
    out: list[pytest.Item] = []
    remaining = list(items)
    while remaining:
        for n, it in enumerate(remaining):  # noqa: B007 (n is used after the loop)
            if deps[id(it)] <= placed:
                break
        else:
            out.extend(remaining)
            break
        out.append(remaining.pop(n))
        placed.add(id(it))
    return out


class DiagnosisRun:
    """What one diagnosis run has found so far, and the hooks that report it."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: dict[str, Result] = {}
        self.environment: dict[str, str] = {}
        self.facts: dict[str, Any] = {"proxy_dns": [], "server_dns": [], "dirac_users": []}
        self.started = _dt.datetime.now().astimezone()
        self.html_path: Optional[Path] = None  # where the report ends up
        self.html_staging: Optional[Path] = None  # where pytest-html writes it first
        self.json_path: Optional[Path] = None
        self.report_problems: list[str] = []
        self.foreign: list[ForeignConfig] = []  # pytest configuration that is not ours
        self.deselected = 0
        self.network_deselected = False
        self.identity = Identity()
        self.redactor = Redactor()
        self.diagnosis: Optional[Diagnosis] = None  # as the report files show it
        self.screen: Optional[Diagnosis] = None  # as the terminal shows it
        self._fixture_breaks: dict[str, str] = {}
        self._html_report: Any = None  # pytest-html's report data, whose title we set at the end

    # ------------------------------------------------------------------ recording

    def record_environment(self, key: str, value: object, *, fact: object = None) -> None:
        """Add a line to the report's environment (paths, versions, DN; no secrets).  ``fact``
        keeps the typed value for later code, so nothing parses the display text back."""
        if value not in (None, ""):
            self.environment[key] = visible(value)
        if fact is not None:
            self.facts[key] = fact

    def learn_identity(self, *, dn: str = "", dirac_user: str = "") -> None:
        """A personal value a check met (the server's spelling of the DN, the DIRAC user name):
        redacted from everything that follows and from the finished reports."""
        if dn:
            self.facts["server_dns"].append(dn)
            self.identity.add_dn(dn)
        if dirac_user:
            self.facts["dirac_users"].append(dirac_user)
            self.identity.dirac_users.add(dirac_user)
        if self.settings.redact:
            self.redactor = Redactor(self.identity)

    def _outside_text(self, text: str) -> str:
        """The last step before text leaves the run: scrub, and redact when asked to."""
        return self.redactor.text(scrub_secrets(text))

    # ------------------------------------------------------------------ session

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.settings.redact:  # known up front, so JUnit can be redacted as it is written
            from mu3e_checks.environment import identity, proxy_identity

            try:
                from mu3e_checks.knowledge.proxy import locate_proxy

                loc = locate_proxy(self.settings.environ, os.getuid(),
                                   self.settings.proxy)
                self.facts["proxy_dns"] = proxy_identity(loc.path if loc.exists else None)
            except Exception:  # never break the run for the redactor's sake
                pass
            self.identity = identity(self.settings, self.facts, self.environment)
            self.redactor = Redactor(self.identity)

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
        if self.foreign:
            self.record_environment("Foreign pytest configuration",
                                    "; ".join(f.describe() for f in self.foreign))

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
        item.user_properties.append(("check", entry.id))
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
        result = item.stash.get(RESULT_KEY, None)
        if result is None:
            yield
            return
        if call.when == "teardown":  # JUnit writes the properties from the teardown report
            outcome = yield
            report = outcome.get_result()
            report.user_properties = [(k, self._outside_text(str(v)))
                                      for k, v in item.user_properties]
            return
        exc = call.excinfo.value if call.excinfo is not None else None
        downgraded = False
        skipped: Optional[tuple[SkipKind, Optional[str], str]] = None  # kind, root, reason
        broken = ""  # why the check itself broke: an ERROR, never a skip
        if isinstance(exc, CheckFailed) and result.check.severity == "warn":
            # An advisory check: a problem it finds is a warning by declaration.
            result.warnings.append(result.message)
            downgraded = True
        elif isinstance(exc, CheckSkipped):
            skipped, broken = self._skip_reason(result, exc)
        elif isinstance(exc, pytest.skip.Exception):
            broken = ("it skipped without naming a prerequisite or your selection: "
                      f"{visible(_skip_text(exc))}")
        elif exc is not None and not isinstance(exc, CheckFailed):
            broke = visible(f"{type(exc).__name__}: {exc}")
            first = self._fixture_breaks.get(broke) if call.when == "setup" else None
            if first is not None:  # one broken fact, one error: the others name it
                skipped = (SkipKind.PREREQUISITE, first,
                           f"needs {first}: a fact it shares broke there ({broke})")
            else:
                if call.when == "setup":
                    self._fixture_breaks[broke] = result.check.id
                broken = broke
        if broken:
            result.message = (f"the check itself broke ({broken}); please report this with "
                              "the HTML file attached")
        if call.when == "call":
            result.duration = call.duration
        failing = bool(broken) or (exc is not None and skipped is None
                                   and not isinstance(exc, pytest.skip.Exception))
        if call.when == "call" or failing:
            self._properties(item, result, failing)
        if skipped is not None:
            kind, root, _ = skipped
            item.user_properties.append(("skip", str(kind)))
            if root:
                item.user_properties.append(("skipped_by", root))
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if downgraded:
            report.outcome = "passed"
            report.longrepr = None
        if skipped is not None:
            kind, root, reason = skipped
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               self._outside_text(f"Skipped: {reason}"))
            result.outcome = Outcome.SKIPPED
            result.skip_kind, result.skipped_by = kind, root
            result.message = reason
        elif broken:
            report.outcome = "failed"
        if report.passed and call.when == "call":
            result.outcome = Outcome.WARNED if result.warnings else Outcome.PASSED
            if result.warnings and self.settings.strict:
                report.outcome = "failed"
                report.longrepr = self._outside_text(
                    "strict mode, warning counts as failure: " + "; ".join(result.warnings))
        elif report.failed:
            result.outcome = (Outcome.FAILED if isinstance(exc, CheckFailed) and not broken
                              else Outcome.ERROR)
            if not result.message:
                result.message = visible(_short(report))
            # No traceback for the user: the check's sentence, and the fix to apply.
            fix = result.fix
            report.longrepr = self._outside_text(
                f"{result.check.id} {result.check.title}\n  {result.message}"
                + ("\n  fix: " + fix.replace("\n", "\n       ") if fix else ""))
        report.user_properties = [(k, self._outside_text(str(v)))
                                  for k, v in item.user_properties]
        report.mu3e = {  # type: ignore[attr-defined]
            "id": result.check.id, "title": result.check.title,
            "fix": self._outside_text(result.fix) if result.problem else "",
            "outcome": str(result.outcome), "warnings": list(result.warnings),
        }

    def _skip_reason(self, result: Result, exc: CheckSkipped
                     ) -> tuple[Optional[tuple[SkipKind, Optional[str], str]], str]:
        """The typed reason of a skip, or why it is not one a skip may give.

        A prerequisite skip names the check that owns the missing fact; the root cause is that
        check, or what it was itself skipped for.  A prerequisite that *passed* cannot explain a
        missing fact: that skip would hide a finding, so it is reported as a broken check.  (One
        that warned has reported the finding: its warning is the reason.)
        """
        reason = exc.reason
        if exc.kind is SkipKind.SELECTION:
            return (SkipKind.SELECTION, None, reason), ""
        owner = exc.owner or ""
        dep = self.results.get(owner)
        if dep is None or dep is result or dep.outcome in (Outcome.FAILED, Outcome.ERROR,
                                                           Outcome.WARNED):
            return (SkipKind.PREREQUISITE, owner, reason), ""
        if dep.outcome == Outcome.SKIPPED:
            root = dep.skipped_by or owner
            if root not in reason:
                reason += f" (root cause: {root})"
            return (SkipKind.PREREQUISITE, root, reason), ""
        return None, f"it needs a fact {owner} reports, but {owner} passed: {reason}"

    def _properties(self, item: pytest.Item, result: Result, failing: bool) -> None:
        """JUnit properties of a check: its warnings, notes and fix (scrubbed on the way out)."""
        if result.warnings:
            item.user_properties.append(("warning", "\n".join(result.warnings)))
        if result.notes:
            item.user_properties.append(("note", "\n".join(result.notes)))
        if (result.warnings or failing) and not result.remedy and result.check.fix:
            result.remedy = result.check.fix
        if (result.warnings or failing) and result.fix:
            item.user_properties.append(("fix", result.fix))

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> Optional[tuple[str, str, tuple[str, dict[str, bool]]]]:
        info = getattr(report, "mu3e", None)
        if info and report.when == "call" and report.passed and info["warnings"]:
            return "warned", "W", ("WARN", {"yellow": True})
        return None

    # ------------------------------------------------------------------ the model

    def build_diagnosis(self, exit_code: Optional[int] = None) -> Diagnosis:
        """Freeze the results into the model every renderer reads (scrubbed, not redacted)."""
        from mu3e_checks import environment
        from mu3e_checks.foreign import summary_line

        acct = environment.account()
        env = environment.collect(self.settings, self.environment, self.facts)
        raw = freeze(self.results.values(), started=self.started, host=acct.host,
                     user=acct.user, strict=self.settings.strict, environment=tuple(env),
                     coverage=Coverage(offline=self.settings.offline,
                                       network_deselected=self.network_deselected,
                                       deselected=self.deselected),
                     exit_code=exit_code, finished=_dt.datetime.now().astimezone(),
                     foreign_config=(summary_line(self.foreign),) if self.foreign else ())
        return attach_sections(self.config, raw).map_text(scrub_secrets)

    def for_reports(self, d: Diagnosis) -> Diagnosis:
        """The model as the files show it: redacted in the data when ``--mu3e-redact`` is on."""
        if not self.settings.redact:
            return d
        from dataclasses import replace

        from mu3e_checks import environment

        self.identity = environment.identity(self.settings, self.facts, self.environment)
        self.redactor = Redactor(self.identity)
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
        self._fill_metadata(self.diagnosis)
        if self.settings.json_path and not worker:
            from mu3e_checks import outputs
            from mu3e_checks.render import json as render_json

            path = outputs.absolute(self.settings.json_path)
            try:
                outputs.ensure_directory(path.parent)
                self.json_path = outputs.write_file(path, render_json.dumps(self.diagnosis))
            except OutputError as exc:
                self.report_problems.append(f"the JSON report was not written: {exc}")
        yield  # pytest-html writes its file here (into our private staging directory)
        if self.html_staging is not None and self.html_path is not None and not worker:
            from mu3e_checks import outputs

            try:
                if self.html_staging.exists():
                    outputs.publish(self.html_staging, self.html_path)
                    self._point_pytest_html_at(self.html_path)
                else:
                    self.report_problems.append("the HTML report was not written")
                    self.html_path = None
            except OutputError as exc:
                self.report_problems.append(f"the HTML report was not put in place: {exc}")
                self.html_path = None

    def _point_pytest_html_at(self, final: Path) -> None:
        """pytest-html closes with "Generated html report: <its path>", which is our staging
        file; point that line at the published report (its only attribute for it)."""
        try:
            from pytest_html.basereport import BaseReport
        except ImportError:  # pragma: no cover
            return
        for plugin in self.config.pluginmanager.get_plugins():
            if isinstance(plugin, BaseReport) and hasattr(plugin, "_report_path"):
                plugin._report_path = final

    def _fill_metadata(self, d: Diagnosis) -> None:
        """pytest-html's environment table is pytest-metadata's dict: cleared and refilled with
        our escaped table (it lists packages and CI variables support does not need)."""
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-html always brings pytest-metadata
            return
        from mu3e_checks.render.html import environment_cells

        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None:
            metadata.clear()  # the same dict pytest-html holds: clear and refill, never rebind
            metadata.update(environment_cells(d))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from mu3e_checks.render.terminal import terminal_summary

        if self.screen is None:
            return
        # The terminal is the user's own screen: scrubbed, never redacted.
        terminal_summary(terminalreporter, self.screen,
                         html_path=visible(self.html_path) if self.html_path else None,
                         json_path=visible(self.json_path) if self.json_path else None,
                         redacted=self.settings.redact, problems=self.report_problems)

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
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        from mu3e_checks.render.html import table_header

        table_header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        from mu3e_checks.render.html import table_row

        table_row(getattr(report, "mu3e", None) or {}, cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        from mu3e_checks.render import TITLE
        from mu3e_checks.render.html import html_summary

        d = self.diagnosis or self.for_reports(self.build_diagnosis())
        if self._html_report is not None:
            self._html_report.title = d.title(TITLE)
        prefix.extend(html_summary(d))


def attach_sections(config: object, d: Diagnosis) -> Diagnosis:
    """``d`` with the sections a subcommand hands in (explain's "Error explained", fix's
    repairs): a plugin object given to ``pytest.main`` adds its own through ``mu3e_attach(d)``.
    Called before the key scrub and ``--mu3e-redact``, so those lines are treated like every
    other text; an ordinary run has no such plugin."""
    manager = getattr(config, "pluginmanager", None)
    for plugin in manager.get_plugins() if manager is not None else ():
        attach = getattr(plugin, "mu3e_attach", None)
        if callable(attach):
            d = attach(d)
    return d


def _skip_text(exc: BaseException) -> str:
    return str(getattr(exc, "msg", "") or exc)


def _short(report: pytest.TestReport) -> str:
    """The one-line reason pytest recorded, without 'Skipped: ' or a traceback."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        msg = str(longrepr[2])
        return msg[len("Skipped: "):] if msg.startswith("Skipped: ") else msg
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message if crash is not None else (longrepr or ""))
    return text.strip().splitlines()[-1] if text.strip() else ""
