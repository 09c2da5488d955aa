"""What the user reads at the end: the terminal summary, the HTML summary, the environment.

Everything is rendered from :class:`mu3e_checks.run.DiagnosisRun` results in guide order, so
the terminal, the HTML, the JSON and JUnit agree about what failed and what to do first.

The HTML summary block is rendered server-side (pytest-html's results and environment tables
are drawn by JavaScript, which ticket viewers often strip): it carries the verdict, the guide
chapters, every failure and warning with its fix, a table of every check, and the environment,
all as plain HTML.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from mu3e_checks import registry
from mu3e_checks.outcome import Result

if TYPE_CHECKING:
    from mu3e_checks.run import DiagnosisRun

TITLE = "Mu3e DIRAC client diagnosis"

#: Chapter marks, flutter-doctor style, and their plain-ASCII fallback.
MARKS_UNICODE = {"ok": "✓", "warned": "!", "failed": "✗", "skipped": "-", "not checked": " "}
MARKS_ASCII = {"ok": "ok", "warned": "!", "failed": "X", "skipped": "-", "not checked": " "}


# --------------------------------------------------------------------------- the model


@dataclass
class Chapter:
    """One guide chapter and the results of its checks in this run."""

    key: str
    title: str
    results: list[Result] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ok | warned | failed | skipped | not checked."""
        outcomes = {r.outcome for r in self.results}
        if not outcomes:
            return "not checked"
        if outcomes & {"failed", "error"}:
            return "failed"
        if "warned" in outcomes:
            return "warned"
        if "passed" in outcomes:
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


def chapters(run: DiagnosisRun) -> list[Chapter]:
    """Every guide chapter, in guide order, with the results of its checks."""
    out = {key: Chapter(key, title) for key, title in registry.GUIDE_STEPS}
    for r in run.ordered_results():
        out[r.check.step].results.append(r)
    return list(out.values())


def problem_text(r: Result) -> str:
    """What is wrong: the failure message, or the warnings of a check that passed with some."""
    return "; ".join(r.warnings) if r.outcome == "warned" else r.message


def fixes_in_order(run: DiagnosisRun) -> list[tuple[str, str]]:
    """(check ID, fix) for every problem, in guide order, each distinct fix once."""
    seen: set[str] = set()
    out = []
    for r in run.ordered_results():
        if r.problem and r.fix and r.fix not in seen:
            seen.add(r.fix)
            out.append((r.check.id, r.fix))
    return out


def counts(run: DiagnosisRun) -> dict[str, int]:
    """How many checks ended in each outcome."""
    out = {k: 0 for k in ("passed", "warned", "failed", "error", "skipped")}
    for r in run.results.values():
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out


def ready(run: DiagnosisRun) -> bool:
    """True when the setup follows the guide as far as this run could tell."""
    c = counts(run)
    if not run.results or c["failed"] or c["error"]:
        return False
    return not (c["warned"] and run.settings.strict)


def verdict(run: DiagnosisRun) -> str:
    """The one-line verdict that closes the run."""
    results = run.ordered_results()
    failed = [r for r in results if r.outcome in ("failed", "error")]
    warned = [r for r in results if r.outcome == "warned"]
    if failed:
        first = failed[0]
        return (f"NOT READY: {len(failed)} check(s) failed; start with {first.check.id} "
                f"({first.check.title}).")
    if warned and run.settings.strict:
        return f"NOT READY (strict): {len(warned)} warning(s) count as failures."
    if warned:
        return f"READY with {len(warned)} warning(s): the setup follows the guide."
    if not results:
        return "NOTHING CHECKED: no mu3e check ran (check -k/-m/--mu3e-select)."
    return "READY: every check that ran passed."


def title(run: DiagnosisRun) -> str:
    """The report title: what, where, who, when."""
    from mu3e_checks.report_env import identity

    host, user = identity()
    return (f"{TITLE} — host {host}, user {user}, "
            f"{run.started.strftime('%Y-%m-%d %H:%M %z')}")


# --------------------------------------------------------------------------- environment


def fill_environment(run: DiagnosisRun) -> dict[str, str]:
    """Build the environment table; it replaces pytest-metadata's (used by pytest-html).

    pytest-metadata's own table is dropped on purpose: it lists installed packages, plugins and
    CI variables, which a support engineer does not need and a user may not want to share.
    """
    from mu3e_checks.report_env import collect

    env = collect(run)
    run.report_environment = env
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-html always brings pytest-metadata
        return env
    metadata = run.config.stash.get(metadata_key, None)
    if metadata is not None:
        metadata.clear()  # the same dict pytest-html holds: clear and refill, never rebind
        metadata.update(env)
    return env


# --------------------------------------------------------------------------- terminal


def _terminal_encoding(tr: Any) -> str:
    stream = getattr(getattr(tr, "_tw", None), "_file", None) or sys.stdout
    return getattr(stream, "encoding", None) or "ascii"


def terminal_marks(encoding: str) -> dict[str, str]:
    """✓ ✗ ! where the terminal can show them, else plain ASCII."""
    try:
        "".join(MARKS_UNICODE.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return MARKS_ASCII
    return MARKS_UNICODE


_ASCII_FOLD = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                             "…": "...", "→": "->", "✓": "ok", "✗": "X"})


def fit(text: str, encoding: str) -> str:
    """``text`` made printable in ``encoding`` (dashes and quotes folded, the rest as '?')."""
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        folded = text.translate(_ASCII_FOLD)
        try:
            return folded.encode(encoding, "replace").decode(encoding)
        except LookupError:
            return folded.encode("ascii", "replace").decode("ascii")


def terminal_summary(tr: Any, run: DiagnosisRun) -> None:
    """Flutter-doctor style: a mark per guide chapter, the problems under it, then the fixes
    in the order to apply them, the verdict, and where the reports are."""
    enc = _terminal_encoding(tr)
    marks = terminal_marks(enc)

    def line(text: str = "", **kw: bool) -> None:
        tr.write_line(fit(text, enc), **kw)

    tr.write_sep("=", TITLE)
    ran = [c for c in chapters(run) if c.results]
    for ch in ran:
        status = ch.status
        colour = {"ok": {"green": True}, "failed": {"red": True}, "warned": {"yellow": True}}
        line(f"[{marks[status]}] {ch.title} ({ch.counts()})", **colour.get(status, {}))
        for r in ch.results:
            if not r.problem:
                continue
            mark = marks["warned"] if r.outcome == "warned" else marks["failed"]
            line(f"    {mark} {r.check.id} {r.check.title}")
            for text in problem_text(r).splitlines():
                line(f"        {text}")
    skipped_out = [c.title for c in chapters(run) if not c.results]
    if ran and skipped_out:
        line(f"    (not checked in this run: {len(skipped_out)} of "
             f"{len(registry.GUIDE_STEPS)} guide chapters)")
    fixes = fixes_in_order(run)
    if fixes:
        line("")
        line("Fixes, in the order to apply them:")
        for n, (cid, fix) in enumerate(fixes, 1):
            first, *rest = fix.splitlines()
            line(f"  {n}. [{cid}] {first}")
            for text in rest:
                line(f"        {text}")
    line("")
    line(verdict(run), bold=True)
    if run.html_path is not None:
        redacted = " (redacted)" if run.redactor.active else ""
        line(f"Report for your support ticket{redacted}: {run.html_path}")
    if run.json_path is not None:
        line(f"JSON report: {run.json_path}")
    for problem in run.report_problems:
        line(f"Report problem: {problem}", red=True)


# --------------------------------------------------------------------------- HTML

_STYLE = """<style>
#mu3e-summary{color:#111}
#mu3e-summary h3{color:#111;margin:1em 0 .3em}
#mu3e-summary table{border-collapse:collapse;margin:.5em 0 1em}
#mu3e-summary th,#mu3e-summary td{border:1px solid #ccc;padding:3px 6px;text-align:left;
vertical-align:top}
#mu3e-summary td:first-child{white-space:nowrap}
#mu3e-summary pre{white-space:pre-wrap;margin:.2em 0;background:#f4f4f4;padding:3px;
color:#111}
#mu3e-summary .mu3e-failed,#mu3e-summary .mu3e-error{color:#b00}
#mu3e-summary .mu3e-warned{color:#a60}
#mu3e-summary .mu3e-passed,#mu3e-summary .mu3e-ok{color:#070}
</style>"""

_OUTCOME_LABEL = {"passed": "passed", "warned": "WARNING", "failed": "FAILED", "error": "ERROR",
                  "skipped": "skipped"}


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def html_summary(run: DiagnosisRun, redaction: str = "") -> list[str]:
    """Server-rendered summary block: readable even where the viewer blocks JavaScript.

    ``redaction`` names the placeholders when ``--mu3e-redact`` is on (the page is redacted
    as a whole after pytest-html wrote it).
    """
    from mu3e_checks.report_env import identity

    host, user = identity()
    ok = ready(run)
    out = [_STYLE, '<div id="mu3e-summary">',
           f'<h2 id="mu3e-verdict" class="mu3e-{"ok" if ok else "failed"}">'
           f"{escape(verdict(run))}</h2>",
           f"<p>Host <b>{escape(host)}</b>, user <b>{escape(user)}</b>, started "
           f"{escape(run.started.strftime('%Y-%m-%d %H:%M:%S %z'))}.</p>"]
    if redaction:
        out.append(f"<p>Redacted (--mu3e-redact): personal values are shown as "
                   f"{escape(redaction)}.</p>")

    out.append("<h3>Guide chapters</h3><ul>")
    for ch in chapters(run):
        if ch.results:
            out.append(f'<li class="mu3e-{ch.status}">[{MARKS_UNICODE[ch.status]}] '
                       f"{escape(ch.title)} ({escape(ch.counts())})</li>")
    unchecked = [ch.title for ch in chapters(run) if not ch.results]
    if unchecked:
        out.append(f"<li>Not checked in this run: {escape('; '.join(unchecked))}</li>")
    out.append("</ul>")

    problems = [r for r in run.ordered_results() if r.problem]
    if problems:
        out.append('<h3 id="mu3e-problems">Failures and warnings, in guide order, '
                   "each with its fix</h3><ol>")
        for r in problems:
            kind = "warning" if r.outcome == "warned" else "failure"
            fix = f"Fix:{_pre(r.fix)}" if r.fix else ""
            out.append(f'<li class="mu3e-problem"><b class="mu3e-{r.outcome}">'
                       f"{escape(r.check.id)} ({kind})</b> {escape(r.check.title)}"
                       f"{_pre(problem_text(r))}{fix}</li>")
        out.append("</ol>")
        fixes = fixes_in_order(run)
        if fixes:
            out.append('<h3 id="mu3e-fixes">Fixes, in the order to apply them</h3><ol>')
            out.extend(f"<li>[{escape(cid)}] {_pre(fix)}</li>" for cid, fix in fixes)
            out.append("</ol>")

    out.append('<h3>Every check</h3><table id="mu3e-results"><thead><tr><th>ID</th>'
               "<th>Check</th><th>Outcome</th><th>Details and fix</th></tr></thead><tbody>")
    for r in run.ordered_results():
        details = problem_text(r) if r.outcome != "passed" else "; ".join(r.notes)
        cell = escape(details)
        if r.problem and r.fix:
            cell += f"<br>Fix:{_pre(r.fix)}"
        out.append(f'<tr class="mu3e-{r.outcome}"><td>{escape(r.check.id)}</td>'
                   f"<td>{escape(r.check.title)}</td>"
                   f'<td class="mu3e-{r.outcome}">{_OUTCOME_LABEL.get(r.outcome, r.outcome)}'
                   f"</td><td>{cell}</td></tr>")
    out.append("</tbody></table>")

    # pytest-html draws its own environment table with JavaScript; this copy is for viewers
    # without it, and the one-line script hides it wherever scripts do run.
    env = run.report_environment or {}
    out.append('<div id="mu3e-environment-block"><h3>Environment</h3>'
               '<table id="mu3e-environment"><tbody>')
    out.extend(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in env.items())
    out.append("</tbody></table></div>"
               "<script>document.getElementById('mu3e-environment-block').hidden=true;</script>"
               "</div>")
    return out


def table_header(cells: list[str]) -> None:
    """pytest-html's (JavaScript) results table: Result, Check, Title, Fix, Test, Duration."""
    cells[:] = [c for c in cells if ">Links<" not in c]
    cells.insert(1, '<th class="sortable" data-column-type="check">Check</th>')
    cells.insert(2, "<th>Title</th>")
    cells.insert(3, "<th>Fix</th>")


def table_row(report: Any, cells: list[str]) -> None:
    """The row cells matching :func:`table_header`."""
    info = getattr(report, "mu3e", None) or {}
    cells[:] = [c for c in cells if 'class="col-links"' not in c]
    cells.insert(1, f'<td class="col-check">{escape(info.get("id", ""))}</td>')
    cells.insert(2, f'<td class="col-title">{escape(info.get("title", ""))}</td>')
    fix = escape(info.get("fix", "")).replace("\n", "<br>")
    cells.insert(3, f'<td class="col-fix"><code>{fix}</code></td>')
