"""The JSON twin of the HTML report (``--mu3e-json PATH``), for scripts and ticket bots.

Its shape is :data:`SHAPE`, which the README prints (generated) and a test checks real runs
against with :func:`shape_errors`.  A shape is written the way the README shows it: an object
lists exactly its keys; ``{"*": spec}`` is a map with any keys; ``[spec]`` is a list of items;
a string spec is a ``|``-separated list of alternatives, each a type name (``string``,
``integer``, ``number``, ``boolean``, ``null``) or a literal value.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mu3e_checks import __version__
from mu3e_checks.redact import scrub_data

if TYPE_CHECKING:
    from mu3e_checks.redact import Redactor
    from mu3e_checks.run import DiagnosisRun

SCHEMA_ID = "mu3e-checks/report/1"

SHAPE: dict[str, Any] = {
    "schema": SCHEMA_ID,
    "tool": {"name": "mu3e-checks", "version": "string"},
    "title": "string",
    "host": "string",
    "user": "string",
    "started": "string",
    "finished": "string",
    "redacted": "boolean",
    "verdict": {
        "ready": "boolean",
        "text": "string",
        "exit_code": "integer",
        "counts": {"passed": "integer", "warned": "integer", "failed": "integer",
                   "error": "integer", "skipped": "integer"},
    },
    "environment": {"*": "string"},
    "steps": [{
        "key": "string",
        "title": "string",
        "status": "ok | warned | failed | skipped | not checked",
        "checks": ["string"],
    }],
    "fixes": [{"check": "string", "fix": "string"}],
    "checks": [{
        "id": "string",
        "title": "string",
        "step": "string",
        "step_title": "string",
        "outcome": "passed | warned | failed | error | skipped",
        "severity": "fail | warn",
        "message": "string",
        "warnings": ["string"],
        "notes": ["string"],
        "fix": "string",
        "requires": ["string"],
        "skipped_by": "string | null",
        "duration": "number",
    }],
}

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def shape_errors(shape: Any, value: Any, where: str = "$") -> list[str]:
    """Every place where ``value`` does not have ``shape``; empty when it matches."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        if list(shape) == ["*"]:
            return [e for k, v in value.items() for e in shape_errors(shape["*"], v,
                                                                      f"{where}.{k}")]
        errors = [f"{where}: missing key {k!r}" for k in shape if k not in value]
        errors += [f"{where}: unexpected key {k!r}" for k in value if k not in shape]
        for k, spec in shape.items():
            if k in value:
                errors += shape_errors(spec, value[k], f"{where}.{k}")
        return errors
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [e for i, v in enumerate(value) for e in shape_errors(shape[0], v, f"{where}[{i}]")]
    for alt in (a.strip() for a in str(shape).split("|")):
        if alt in _TYPES:
            if _TYPES[alt](value):
                return []
        elif value == alt:
            return []
    return [f"{where}: {value!r} is not {shape}"]


def shape_markdown() -> str:
    """The shape as the README shows it (generated, so it cannot drift)."""
    return "```json\n" + json.dumps(SHAPE, indent=2, ensure_ascii=False) + "\n```"


def build(run: DiagnosisRun, exit_code: int, redactor: Redactor) -> dict[str, Any]:
    """The report as data, redacted by ``redactor`` (which may be inactive)."""
    from mu3e_checks import report
    from mu3e_checks.report_env import identity

    host, user = identity()
    results = run.ordered_results()
    data = {
        "schema": SCHEMA_ID,
        "tool": {"name": "mu3e-checks", "version": __version__},
        "title": report.title(run),
        "host": host,
        "user": user,
        "started": run.started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "redacted": redactor.active,
        "verdict": {"ready": report.ready(run), "text": report.verdict(run),
                    "exit_code": int(exit_code), "counts": report.counts(run)},
        "environment": dict(run.report_environment or {}),
        "steps": [{"key": ch.key, "title": ch.title, "status": ch.status,
                   "checks": [r.check.id for r in ch.results]} for ch in report.chapters(run)],
        "fixes": [{"check": cid, "fix": fix} for cid, fix in report.fixes_in_order(run)],
        "checks": [{
            "id": r.check.id,
            "title": r.check.title,
            "step": r.check.step,
            "step_title": r.check.step_title,
            "outcome": r.outcome,
            "severity": r.check.severity,
            "message": report.problem_text(r) if r.outcome == "warned" else r.message,
            "warnings": list(r.warnings),
            "notes": list(r.notes),
            "fix": r.fix if r.problem else "",
            "requires": list(r.check.requires),
            "skipped_by": r.skipped_by,
            "duration": round(float(r.duration), 6),
        } for r in results],
    }
    return scrub_data(redactor.data(data))


def write(path: Path, data: dict[str, Any]) -> None:
    """Write the report, creating the parent directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
