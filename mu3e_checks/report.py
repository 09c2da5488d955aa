"""What the user reads at the end: the terminal summary, the HTML summary, the environment.

Everything is rendered from :class:`mu3e_checks.run.DiagnosisRun` results in guide order, so
the terminal, the HTML and JUnit agree about what failed and what to do first.
"""

from __future__ import annotations

import getpass
import platform
import socket
import sys
from html import escape
from typing import TYPE_CHECKING, Any

from mu3e_checks import __version__

if TYPE_CHECKING:
    from mu3e_checks.run import DiagnosisRun


def fill_environment(run: DiagnosisRun) -> None:
    """Put the resolved paths and versions into pytest-metadata's table (used by pytest-html)."""
    s = run.settings
    env: dict[str, str] = {
        "mu3e-checks": __version__,
        "Python": f"{platform.python_version()} ({sys.executable})",
        "Platform": platform.platform(),
        "Home": str(s.home),
        ".globus": str(s.globus),
        "DIRACOS": f"{s.diracos} ({s.diracos_source})",
        "Expected CS URL": s.cs_url,
        "Expected DIRAC group": s.group,
    }
    env.update(run.environment)
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-html always brings pytest-metadata
        return
    metadata = run.config.stash.get(metadata_key, None)
    if metadata is None:
        return
    for noisy in ("Packages", "Plugins", "JAVA_HOME"):
        metadata.pop(noisy, None)
    metadata.update(env)


def fixes_in_order(run: DiagnosisRun) -> list[tuple[str, str]]:
    """(check ID, fix) for every problem, in guide order, each distinct fix once."""
    seen: set[str] = set()
    out = []
    for r in run.ordered_results():
        if r.problem and r.fix and r.fix not in seen:
            seen.add(r.fix)
            out.append((r.check.id, r.fix))
    return out


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


def terminal_summary(tr: Any, run: DiagnosisRun) -> None:
    """Problems in guide order, then the fixes in the order to apply them, then the verdict."""
    results = run.ordered_results()
    problems = [r for r in results if r.problem]
    tr.write_sep("=", "Mu3e DIRAC client diagnosis")
    if problems:
        tr.write_line("Problems, in guide order:")
        for r in problems:
            mark = "WARN" if r.outcome == "warned" else "FAIL"
            text = "; ".join(r.warnings) if r.outcome == "warned" else r.message
            tr.write_line(f"  {mark} {r.check.id} {r.check.title}")
            for line in text.splitlines():
                tr.write_line(f"       {line}")
        fixes = fixes_in_order(run)
        if fixes:
            tr.write_line("")
            tr.write_line("Fixes, in the order to apply them:")
            for n, (cid, fix) in enumerate(fixes, 1):
                lines = fix.splitlines()
                tr.write_line(f"  {n}. [{cid}] {lines[0]}")
                for line in lines[1:]:
                    tr.write_line(f"        {line}")
    tr.write_line("")
    tr.write_line(verdict(run), bold=True)
    if run.html_path is not None:
        tr.write_line(f"Report for your support ticket: {run.html_path}")


def html_summary(run: DiagnosisRun) -> list[str]:
    """Server-rendered summary block: readable even where the viewer blocks JavaScript."""
    host = socket.gethostname()
    user = getpass.getuser()
    out = [f"<h2>Verdict</h2><p><strong>{escape(verdict(run))}</strong></p>",
           f"<p>Host {escape(host)}, user {escape(user)}, "
           f"{escape(run.started.strftime('%Y-%m-%d %H:%M %Z'))}</p>"]
    problems = [r for r in run.ordered_results() if r.problem]
    if problems:
        out.append("<h2>Problems and fixes, in guide order</h2><ol>")
        for r in problems:
            text = "; ".join(r.warnings) if r.outcome == "warned" else r.message
            kind = "warning" if r.outcome == "warned" else "failure"
            fix = (f"<br>Fix: <code>{escape(r.fix).replace(chr(10), '<br>')}</code>"
                   if r.fix else "")
            out.append(f"<li><strong>{escape(r.check.id)}</strong> ({kind}) "
                       f"{escape(r.check.title)}: {escape(text)}{fix}</li>")
        out.append("</ol>")
    return out
