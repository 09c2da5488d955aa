"""What pytest's own outputs say about a check, rendered from its :class:`CheckResult` alone.

pytest writes the terminal's failure lines and the JUnit XML itself; the run hooks only hand
it what to say: the outcome as pytest counts it, the failure or skip text, and the JUnit
properties (``check``, ``warning``, ``note``, ``fix``, ``skip``, ``skipped_by``).  At the end
of the run :func:`rewrite` renders every check's part of the JUnit file again from the final
model, redacted when ``--mu3e-redact`` is on, and passes every other text in the file (host
name, test names, captured output) through the same redactor: the JUnit is redacted once,
from the final identity, like the HTML and the JSON.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable

from mu3e_checks.model import CheckResult, Diagnosis, Outcome

#: pytest's word for a skip reason's prefix in a report's ``longrepr``.
SKIPPED_PREFIX = "Skipped: "


def pytest_outcome(r: CheckResult, strict: bool) -> str:
    """passed | failed | skipped, as pytest counts it (a warning fails only in strict mode)."""
    if r.outcome == Outcome.SKIPPED:
        return "skipped"
    if r.outcome in (Outcome.FAILED, Outcome.ERROR) or (r.outcome == Outcome.WARNED and strict):
        return "failed"
    return "passed"


def failure_text(r: CheckResult) -> str:
    """The check's sentence and its fix, for the terminal's failure list and JUnit: never a
    traceback."""
    if r.outcome == Outcome.WARNED:
        return "strict mode, warning counts as failure: " + "; ".join(r.warnings)
    fix = ("\n  fix: " + r.fix.replace("\n", "\n       ")) if r.fix else ""
    return f"{r.id} {r.title}\n  {r.message}{fix}"


def properties(r: CheckResult) -> list[tuple[str, str]]:
    """The JUnit properties of one check: its ID, warnings, notes, fix and why it was skipped."""
    props = [("check", r.id)]
    if r.warnings:
        props.append(("warning", "\n".join(r.warnings)))
    if r.notes:
        props.append(("note", "\n".join(r.notes)))
    if r.problem and r.fix:
        props.append(("fix", r.fix))
    if r.skip_kind is not None:
        props.append(("skip", str(r.skip_kind)))
    if r.skipped_by:
        props.append(("skipped_by", r.skipped_by))
    return props


def rewrite(xml: bytes, d: Diagnosis, f: Callable[[str], str]) -> bytes:
    """pytest's JUnit file with each check's properties and failure or skip message rendered
    from ``d`` (already redacted when asked), and ``f`` applied to every other text and
    attribute in it (``f`` is the redactor, or nothing)."""
    root = ET.fromstring(xml)
    by_id = {r.id: r for r in d.results}
    for case in root.iter("testcase"):
        props = case.find("properties")
        cid = next((p.get("value", "") for p in (props if props is not None else ())
                    if p.get("name") == "check"), "")
        r = by_id.get(cid)
        if r is None:
            continue
        if props is not None:
            case.remove(props)
        props = ET.Element("properties")
        for name, value in properties(r):
            ET.SubElement(props, "property", name=name, value=value)
        case.insert(0, props)
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None and r.outcome != Outcome.SKIPPED:
                el.set("message", failure_text(r))
                el.text = failure_text(r)
        el = case.find("skipped")
        if el is not None and r.outcome == Outcome.SKIPPED:
            el.set("message", r.message)
            el.text = r.message
    for el in root.iter():  # ours again (harmless: placeholders match nothing), and the rest
        for key, value in list(el.attrib.items()):
            el.set(key, f(value))
        if el.text:
            el.text = f(el.text)
        if el.tail:
            el.tail = f(el.tail)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="utf-8",
                                                                   xml_declaration=False)
