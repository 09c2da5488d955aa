"""Renderers: each turns a :class:`~mu3e_checks.model.Diagnosis` into one output, nothing more."""

from __future__ import annotations

from mu3e_checks.model import Diagnosis

TITLE = "Mu3e DIRAC client diagnosis"


def counts_line(d: Diagnosis) -> str:
    """The one count every output gives: how many checks passed, warned, failed (or broke)
    and were skipped, as the JSON report's ``verdict.counts``."""
    c = d.counts()
    parts = [f"{c['passed']} passed", f"{c['warned']} warned", f"{c['failed']} failed"]
    if c["error"]:
        parts.append(f"{c['error']} broken")
    parts.append(f"{c['skipped']} skipped")
    return f"{len(d.results)} checks: " + ", ".join(parts)
