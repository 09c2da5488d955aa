"""The closing terminal summary, flutter-doctor style, rendered from the model alone."""

from __future__ import annotations

from typing import Any

from mu3e_checks.model import Diagnosis, Written
from mu3e_checks.render import TITLE, counts_line

#: Chapter marks, flutter-doctor style, and their plain-ASCII fallback.
MARKS_UNICODE = {"ok": "✓", "warned": "!", "failed": "✗", "skipped": "-", "not checked": " "}
MARKS_ASCII = {"ok": "ok", "warned": "!", "failed": "X", "skipped": "-", "not checked": " "}


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


def summary_lines(d: Diagnosis, marks: dict[str, str]) -> list[tuple[str, dict[str, bool]]]:
    """(line, markup) pairs of the closing summary; text in the model is already visible."""
    out: list[tuple[str, dict[str, bool]]] = []
    if d.repairs:
        out.append(("Repairs applied (mu3e-checks fix), before this diagnosis:", {"bold": True}))
        out.extend((f"  {text}", {}) for text in d.repairs)
        out.append(("", {}))
    colour = {"ok": {"green": True}, "failed": {"red": True}, "warned": {"yellow": True}}
    chapters = d.chapters()
    ran = [c for c in chapters if c.results]
    for ch in ran:
        out.append((f"[{marks[ch.status]}] {ch.title} ({ch.counts()})", colour.get(ch.status, {})))
        for r in ch.results:
            if not r.problem:
                continue
            mark = marks["warned"] if r.outcome == "warned" else marks["failed"]
            out.append((f"    {mark} {r.id} {r.title}", {}))
            out.extend((f"        {text}", {}) for text in r.problem_text.splitlines())
    skipped_out = [c.title for c in chapters if not c.results]
    if ran and skipped_out:
        out.append((f"    (not checked in this run: {len(skipped_out)} of "
                    f"{len(chapters)} guide chapters)", {}))
    if ran:
        out.append((counts_line(d), {}))
    fixes = d.fixes_in_order()
    if fixes:
        out.append(("", {}))
        out.append(("Fixes, in the order to apply them:", {}))
        for n, (cid, fix) in enumerate(fixes, 1):
            first, *rest = fix.splitlines()
            out.append((f"  {n}. [{cid}] {first}", {}))
            out.extend((f"        {text}", {}) for text in rest)
    for text in d.foreign_config:
        out.append(("", {}))
        out.append((text, {"yellow": True}))
    out.append(("", {}))
    out.append((d.verdict(), {"bold": True}))
    return out


def terminal_summary(tr: Any, d: Diagnosis, written: Written, encoding: str) -> None:
    """Write the summary (chapters, problems, fixes in order, verdict) and where the reports
    are, through pytest's terminal reporter ``tr`` (its public ``write_sep``/``write_line``);
    ``encoding`` is that of the stream it writes to."""
    tr.write_sep("=", TITLE)
    for text, markup in summary_lines(d, terminal_marks(encoding)):
        tr.write_line(fit(text, encoding), **markup)
    if written.html is not None:
        tr.write_line(fit(f"Report for your support ticket"
                          f"{' (redacted)' if written.redacted else ''}: {written.html}",
                          encoding))
    if written.json is not None:
        tr.write_line(fit(f"JSON report: {written.json}", encoding))
    if written.junit is not None:
        tr.write_line(fit(f"JUnit report: {written.junit}", encoding))
    for problem in written.problems:
        tr.write_line(fit(f"Report problem: {problem}", encoding), red=True)
