"""The "Error explained" section as text lines, rendered from the model's :class:`Explained`
items alone: ``mu3e-checks explain`` prints them on the terminal and the HTML report shows the
same lines, so what a user reads and what support reads cannot differ.

Every line of outside text in the items is already visible and clipped (explain.py makes
them so), and the reports' items are redacted before they get here.
"""

from __future__ import annotations

from collections.abc import Sequence

from mu3e_checks.model import Explained

HEADING = "Error explained"


def _quoted(lines: Sequence[str]) -> list[str]:
    return ["  | " + line for line in lines]


def _fix(fix: str, indent: str = "  ") -> list[str]:
    if not fix:
        return []
    return [f"{indent}fix:"] + [f"{indent}  {line}" for line in fix.splitlines()]


def section_lines(items: Sequence[Explained]) -> list[str]:
    """The section's lines, in the items' order: the matched messages, the verdict, the root
    cause with its fix (the headline), what else was confirmed, what was ruled out, and the
    lines that matched nothing."""
    out: list[str] = []
    verdict = next((e for e in items if e.kind == "verdict"), None)
    causes = [e for e in items if e.kind == "cause"]
    for e in items:
        if e.kind == "entry":
            out.append(f"[{e.key}] {e.title} ({'harmful' if e.harmful else 'harmless'})")
            out += _quoted(e.lines[:1])
            if len(e.lines) > 1:
                out.append(f"  (and {len(e.lines) - 1} more line(s) of this message)")
            if not e.harmful and e.why:
                out.append(f"  harmless: {e.why}")
        elif e.kind == "verdict":
            out.append(f"verdict: {e.title}")
            if e.why:
                out.append(f"  ({e.why})")
            if e.key == "harmful" and not causes:
                out.append("none confirmed: no check that decides these causes failed")
        elif e.kind == "cause":
            first = e is causes[0]
            head = "confirmed cause" if first else "also confirmed"
            out.append(f"{head}: {e.title}" if first else
                       f"{head} (fix it after the cause above): {e.title}")
            for r in e.results:
                out.append(f"  {r.id} {r.outcome}: {r.problem_text}")
                out += _fix(r.fix, "    " if not first else "  ")
        elif e.kind == "ruled out":
            out.append(f"ruled out: {e.title} ({', '.join(e.checks)} passed)")
        elif e.kind == "undecided":
            ran = {r.id: r.outcome for r in e.results}
            how = ", ".join(f"{c} {ran[c]}" for c in e.checks if c in ran) or "not run"
            out.append(f"undecided: {e.title} ({how})")
        elif e.kind == "unexplained":
            total = int(e.key or len(e.lines))
            shown = len(e.lines)
            more = f"; the last {shown} shown" if shown < total else ""
            intro = ("not explained" if verdict is None or verdict.key != "not recognised"
                     else "the text")
            out.append(f"{intro} ({total} line(s) no entry matched{more}):")
            out += _quoted(e.lines)
    return out
