"""The HTML report's own parts, rendered from the model: every outside value escaped here.

pytest-html's page is the frame: its title, and a summary block into which this module puts
the report, rendered on the server, so a ticket viewer that blocks scripts shows all of it.
The report has one results table and one environment table, ours: pytest-html draws its own
with JavaScript from data the run leaves empty (no rows, no metadata), and the style below
hides them with their counts, which would count warnings as passes.  Nothing from outside is
ever parsed as HTML.  Colours meet WCAG AA contrast (4.5:1) on the page's white, which a test
measures in Chromium.
"""

from __future__ import annotations

from html import escape

from mu3e_checks.model import Diagnosis
from mu3e_checks.render import counts_line, explained
from mu3e_checks.render.environment import rows as environment_rows
from mu3e_checks.render.terminal import MARKS_UNICODE

#: pytest-html's own results table, its counts and filters, and its environment table: empty
#: for a diagnosis, and hidden, scripts or not (ours say it all, once).
_HIDDEN = ("#results-table", ".run-count", "p.filter", ".controls", ".summary__reload",
           "#environment-header", "#environment")

_STYLE = """<style>
body{color:#111}
""" + ",".join(_HIDDEN) + """{display:none !important}
#mu3e-summary{color:#111}
#mu3e-summary h3{color:#111;margin:1em 0 .3em}
#mu3e-summary table{border-collapse:collapse;margin:.5em 0 1em}
#mu3e-summary th,#mu3e-summary td{border:1px solid #ccc;padding:3px 6px;text-align:left;
vertical-align:top}
#mu3e-summary td:first-child{white-space:nowrap}
#mu3e-summary pre{white-space:pre-wrap;margin:.2em 0;background:#f4f4f4;padding:3px;
color:#111}
#mu3e-summary .mu3e-failed,#mu3e-summary .mu3e-error{color:#b00}
#mu3e-summary .mu3e-warned{color:#8a4b00}
#mu3e-summary .mu3e-passed,#mu3e-summary .mu3e-ok{color:#070}
#mu3e-environment th{background:#f4f4f4;color:#111;font-weight:600}
#mu3e-environment td{color:#111;background:#fff;word-break:break-word}
</style>"""

_OUTCOME_LABEL = {"passed": "passed", "warned": "WARNING", "failed": "FAILED", "error": "ERROR",
                  "skipped": "skipped"}


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def html_summary(d: Diagnosis) -> list[str]:
    """Server-rendered summary block: readable even where the viewer blocks JavaScript."""
    out = [_STYLE, '<div id="mu3e-summary">',
           f'<h2 id="mu3e-verdict" class="mu3e-{"ok" if d.ready else "failed"}">'
           f"{escape(d.verdict())}</h2>",
           f"<p>Host <b>{escape(d.host)}</b>, user <b>{escape(d.user)}</b>, started "
           f"{escape(d.started.strftime('%Y-%m-%d %H:%M:%S %z'))}.</p>"]
    if d.redaction:
        out.append(f"<p>Redacted (--mu3e-redact): personal values are shown as "
                   f"{escape(d.redaction)}.</p>")
    for text in d.foreign_config:
        out.append(f'<p class="mu3e-warned" id="mu3e-foreign">{escape(text)}</p>')
    if d.repairs:
        out.append('<h3 id="mu3e-repairs">Repairs applied</h3>'
                   "<p>mu3e-checks fix changed these files before this diagnosis ran:</p>"
                   + _pre("\n".join(d.repairs)))
    if d.explained:
        out.append('<h3 id="mu3e-explained">Error explained</h3>'
                   + _pre("\n".join(explained.section_lines(d.explained))))

    out.append("<h3>Guide chapters</h3><ul>")
    chapters = d.chapters()
    for ch in chapters:
        if ch.results:
            out.append(f'<li class="mu3e-{ch.status}">[{MARKS_UNICODE[ch.status]}] '
                       f"{escape(ch.title)} ({escape(ch.counts())})</li>")
    unchecked = [ch.title for ch in chapters if not ch.results]
    if unchecked:
        out.append(f"<li>Not checked in this run: {escape('; '.join(unchecked))}</li>")
    out.append("</ul>")
    if d.results:
        out.append(f'<p id="mu3e-counts">{escape(counts_line(d))}</p>')

    problems = [r for r in d.results if r.problem]
    if problems:
        out.append('<h3 id="mu3e-problems">Failures and warnings, in guide order, '
                   "each with its fix</h3><ol>")
        for r in problems:
            kind = "warning" if r.outcome == "warned" else "failure"
            fix = f"Fix:{_pre(r.fix)}" if r.fix else ""
            out.append(f'<li class="mu3e-problem"><b class="mu3e-{escape(r.outcome)}">'
                       f"{escape(r.id)} ({kind})</b> {escape(r.title)}"
                       f"{_pre(r.problem_text)}{fix}</li>")
        out.append("</ol>")
        fixes = d.fixes_in_order()
        if fixes:
            out.append('<h3 id="mu3e-fixes">Fixes, in the order to apply them</h3><ol>')
            out.extend(f"<li>[{escape(cid)}] {_pre(fix)}</li>" for cid, fix in fixes)
            out.append("</ol>")

    out.append('<h3>Every check</h3><table id="mu3e-results"><thead><tr><th>ID</th>'
               "<th>Check</th><th>Outcome</th><th>Details and fix</th></tr></thead><tbody>")
    for r in d.results:
        details = r.problem_text if r.outcome != "passed" else "; ".join(r.notes)
        cell = escape(details)
        if r.problem and r.fix:
            cell += f"<br>Fix:{_pre(r.fix)}"
        out.append(f'<tr class="mu3e-{escape(r.outcome)}"><td>{escape(r.id)}</td>'
                   f"<td>{escape(r.title)}</td>"
                   f'<td class="mu3e-{escape(r.outcome)}">'
                   f"{_OUTCOME_LABEL.get(r.outcome, escape(r.outcome))}</td><td>{cell}</td></tr>")
    out.append("</tbody></table>")

    out.append('<h3>Environment</h3><table id="mu3e-environment"><tbody>')
    out.extend(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
               for k, v in environment_rows(d))
    out.append("</tbody></table></div>")
    return out
