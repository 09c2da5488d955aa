"""The hooks of a diagnosis run, registered only when the run targets mu3e_checks.

Keeping them on an object that :mod:`mu3e_checks.plugin` registers on demand is what keeps the
installed plugin inert in other projects: none of these hooks exists in their sessions.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any, Optional

import pytest

from mu3e_checks import outcome as _outcome
from mu3e_checks import registry
from mu3e_checks.outcome import CheckFailed, Result
from mu3e_checks.redact import Redactor
from mu3e_checks.settings import Settings, id_matches

RESULT_KEY = pytest.StashKey[Result]()
_ID_IN_TEXT = re.compile(r"\b[A-Z]+-\d{3}\b")


def _entry(item: pytest.Item) -> Optional[registry.Check]:
    return registry.check_of(getattr(item, "function", None))


class DiagnosisRun:
    """What one diagnosis run has found so far, and the hooks that report it."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: dict[str, Result] = {}
        self.environment: dict[str, str] = {}
        self.started = _dt.datetime.now().astimezone()
        self.html_path: Optional[Path] = None
        # Filled at the end of the session by the reporting hooks (mu3e_checks.report).
        self.json_path: Optional[Path] = None
        self.report_environment: dict[str, str] = {}
        self.redactor: Redactor = Redactor()
        self.report_problems: list[str] = []

    # ------------------------------------------------------------------ helpers for reporters

    def ordered_results(self) -> list[Result]:
        """Results in guide order, whatever order pytest ran them in."""
        order = {c.id: i for i, c in enumerate(registry.ordered(
            r.check for r in self.results.values()))}
        return sorted(self.results.values(), key=lambda r: order[r.check.id])

    def record_environment(self, key: str, value: object) -> None:
        """Add a line to the report's environment section (paths, versions, DN; no secrets)."""
        if value not in (None, ""):
            self.environment[key] = str(value)

    # ------------------------------------------------------------------ collection

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
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
            if selected and not id_matches(entry.id, self.settings.ignore):
                keep.append(item)
            else:
                drop.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    # ------------------------------------------------------------------ running

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        entry = _entry(item)
        if entry is None:
            return
        result = Result(check=entry)
        item.stash[RESULT_KEY] = result
        self.results[entry.id] = result
        item.user_properties.append(("check", entry.id))
        if entry.network and self.settings.offline:
            pytest.skip("offline mode (--mu3e-offline): network checks are not run")
        for req in entry.requires:
            dep = self.results.get(req)
            if dep is not None and not dep.ok:
                root = dep.skipped_by or req
                result.skipped_by = root
                why = "did not pass" if root == req else f"was skipped ({root} did not pass)"
                pytest.skip(f"prerequisite {req} ({dep.check.title}) {why}; fix {root} first")
        _outcome._set_current(result)

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        _outcome._set_current(None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        result = item.stash.get(RESULT_KEY, None)
        if result is None or call.when == "teardown":
            yield
            return
        exc = call.excinfo.value if call.excinfo is not None else None
        downgraded = False
        if isinstance(exc, CheckFailed) and result.check.severity == "warn":
            # An advisory check: a problem it finds is a warning by declaration.
            result.warnings.append(result.message)
            downgraded = True
        elif exc is not None and not isinstance(exc, (CheckFailed, pytest.skip.Exception)):
            result.message = (f"the check itself broke ({type(exc).__name__}: {exc}); "
                              "please report this with the HTML file attached")
        if call.when == "call":
            result.duration = call.duration
        if result.warnings and call.when == "call":
            item.user_properties.append(("warning", "\n".join(result.warnings)))
        if result.notes and call.when == "call":
            item.user_properties.append(("note", "\n".join(result.notes)))
        failing = exc is not None and not isinstance(exc, pytest.skip.Exception)
        problem = result.warnings or failing
        if problem and call.when == "call":
            if not result.remedy and result.check.fix:
                result.remedy = result.check.fix
            if result.fix:
                item.user_properties.append(("fix", result.fix))
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if downgraded:
            report.outcome = "passed"
            report.longrepr = None
        if report.passed and call.when == "call":
            result.outcome = "warned" if result.warnings else "passed"
            if result.warnings and self.settings.strict:
                report.outcome = "failed"
                report.longrepr = ("strict mode, warning counts as failure: "
                                   + "; ".join(result.warnings))
        elif report.failed:
            result.outcome = "failed" if isinstance(exc, CheckFailed) else "error"
            if not result.message:
                result.message = _short(report)
            # No traceback for the user: the check's sentence, and the fix to apply.
            report.longrepr = f"{result.check.id} {result.check.title}\n  {result.message}" + (
                "\n  fix: " + result.fix.replace("\n", "\n       ") if result.fix else "")
        elif report.skipped:
            result.outcome = "skipped"
            result.message = _short(report)
            self._trace_root_cause(result)
            if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                report.longrepr = (*report.longrepr[:2], f"Skipped: {result.message}")
        report.mu3e = {  # type: ignore[attr-defined]
            "id": result.check.id, "title": result.check.title, "fix": result.fix,
            "outcome": result.outcome, "warnings": list(result.warnings),
        }

    def _trace_root_cause(self, result: Result) -> None:
        """A check skipped by a fixture ("needs DIRAC-001: ...") names the check that owns the
        missing fact; if that one was itself skipped, name the root cause too, so the user is
        always pointed at the check that actually failed."""
        if result.skipped_by:
            return
        for cid in _ID_IN_TEXT.findall(result.message):
            dep = self.results.get(cid)
            if dep is None or dep is result:
                continue
            if dep.outcome in ("failed", "error"):
                result.skipped_by = cid
            elif dep.skipped_by:
                result.skipped_by = dep.skipped_by
                result.message += f" (root cause: {dep.skipped_by})"
            return

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> Optional[tuple[str, str, tuple[str, dict[str, bool]]]]:
        info = getattr(report, "mu3e", None)
        if info and report.when == "call" and report.passed and info["warnings"]:
            return "warned", "W", ("WARN", {"yellow": True})
        return None

    # ------------------------------------------------------------------ reporting

    # trylast: the innermost wrapper, so the terminal summary (printed after the terminal
    # reporter's own wrapper resumes) already knows whether the reports were finished.
    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, Any, None]:
        from mu3e_checks import report
        from mu3e_checks.redact import Redactor, finish_html
        from mu3e_checks.report_env import option_values, redactor_for

        env = report.fill_environment(self)
        options = option_values(self)
        self.redactor = redactor_for(self, env) if options.get("mu3e_redact") else Redactor()
        json_path = options.get("mu3e_json")
        if json_path and not hasattr(self.config, "workerinput"):
            from mu3e_checks import report_json  # only when asked: a CERT-only run skips it

            path = Path(json_path).resolve()
            try:
                report_json.write(path, report_json.build(self, int(exitstatus), self.redactor))
                self.json_path = path
            except OSError as exc:
                self.report_problems.append(f"the JSON report could not be written to {path}: "
                                            f"{exc.strerror or exc}")
        yield  # pytest-html writes its file here (trylast)
        if self.html_path is not None and not hasattr(self.config, "workerinput"):
            try:
                finish_html(self.html_path, self.redactor)
            except OSError as exc:
                # A report that could not be scrubbed or redacted must not be attached.
                self.report_problems.append(
                    f"the HTML report {self.html_path} could not be finished "
                    f"({exc.strerror or exc}); do not attach it")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from mu3e_checks.report import terminal_summary

        terminal_summary(terminalreporter, self)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        from mu3e_checks.report import title

        report.title = title(self)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        from mu3e_checks.report import table_header

        table_header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        from mu3e_checks.report import table_row

        table_row(report, cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        from mu3e_checks.report import html_summary

        prefix.extend(html_summary(self, self.redactor.describe()))


def _short(report: pytest.TestReport) -> str:
    """The one-line reason pytest recorded, without 'Skipped: ' or a traceback."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        msg = str(longrepr[2])
        return msg[len("Skipped: "):] if msg.startswith("Skipped: ") else msg
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message if crash is not None else (longrepr or ""))
    return text.strip().splitlines()[-1] if text.strip() else ""
