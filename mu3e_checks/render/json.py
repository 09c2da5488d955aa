"""The JSON twin of the HTML report (``--mu3e-json PATH``), rendered from the model alone.

Its shape is :data:`SHAPE`, which the README prints (generated) and a test checks real runs
against with :func:`shape_errors`.  A shape is written the way the README shows it: an object
lists exactly its keys; ``{"*": spec}`` is a map with any keys; ``[spec]`` is a list of items;
a string spec is a ``|``-separated list of alternatives, each a type name (``string``,
``integer``, ``number``, ``boolean``, ``null``) or a literal value.  A key written with a
trailing ``?`` (``"repairs?"``) is optional: the file has it only when it has something to say,
so adding one keeps the schema's version (a reader of the version that lacks it loses nothing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mu3e_checks import __version__
from mu3e_checks.model import Diagnosis, Explained
from mu3e_checks.render import TITLE
from mu3e_checks.render.environment import rows as environment_rows

SCHEMA_ID = "mu3e-checks/report/3"  # 2: "explained" added; later the optional "repairs"; 3:
#: "explained" is data (an object, only in explain's runs) instead of the terminal's lines

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
    "explained?": {
        "verdict": "harmful | harmless | not recognised",
        "summary": "string",
        "entries": [{"id": "string", "title": "string", "harmful": "boolean",
                     "ordinary": "boolean", "why": "string", "lines": ["string"]}],
        "causes": [{"cause": "string", "checks": [{
            "id": "string", "outcome": "failed | warned | error", "message": "string",
            "fix": "string"}]}],
        "ruled_out": [{"cause": "string", "checks": ["string"]}],
        "undecided": [{"cause": "string", "checks": ["string"]}],
        "not_explained": ["string"],
        "not_explained_count": "integer",
    },
    "repairs?": ["string"],
}

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def optional_key(key: str) -> str:
    """The key as it appears in a file: an optional key's ``?`` is only the shape's mark."""
    return key[:-1] if key.endswith("?") else key


def shape_errors(shape: Any, value: Any, where: str = "$") -> list[str]:
    """Every place where ``value`` does not have ``shape``; empty when it matches."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        if list(shape) == ["*"]:
            return [e for k, v in value.items() for e in shape_errors(shape["*"], v,
                                                                      f"{where}.{k}")]
        keys = {optional_key(k): k for k in shape}
        errors = [f"{where}: missing key {k!r}" for k in shape
                  if not k.endswith("?") and k not in value]
        errors += [f"{where}: unexpected key {k!r}" for k in value if k not in keys]
        for k, spec in shape.items():
            if optional_key(k) in value:
                errors += shape_errors(spec, value[optional_key(k)], f"{where}.{optional_key(k)}")
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


def build(d: Diagnosis) -> dict[str, Any]:
    """The report as data.  ``d`` is already redacted and scrubbed where that was asked for."""
    data: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "tool": {"name": "mu3e-checks", "version": __version__},
        "title": d.title(TITLE),
        "host": d.host,
        "user": d.user,
        "started": d.started.isoformat(timespec="seconds"),
        "finished": (d.finished or d.started).isoformat(timespec="seconds"),
        "redacted": bool(d.redaction),
        "verdict": {"ready": d.ready, "text": d.verdict(),
                    "exit_code": int(d.exit_code or 0), "counts": d.counts()},
        "environment": dict(environment_rows(d)),
        "steps": [{"key": ch.key, "title": ch.title, "status": ch.status,
                   "checks": [r.id for r in ch.results]} for ch in d.chapters()],
        "fixes": [{"check": cid, "fix": fix} for cid, fix in d.fixes_in_order()],
        "checks": [{
            "id": r.id,
            "title": r.title,
            "step": r.step,
            "step_title": r.step_title,
            "outcome": str(r.outcome),
            "severity": r.severity,
            "message": r.problem_text,
            "warnings": list(r.warnings),
            "notes": list(r.notes),
            "fix": r.fix if r.problem else "",
            "requires": list(r.requires),
            "skipped_by": r.skipped_by,
            "duration": round(float(r.duration), 6),
        } for r in d.results],
    }
    if d.explained:
        data["explained"] = explained(d.explained)
    if d.repairs:
        data["repairs"] = list(d.repairs)
    return data


def explained(items: Sequence[Explained]) -> dict[str, Any]:
    """explain's section as data: the messages matched, the confirmed causes (root cause
    first) with the checks that confirm them, what was ruled out, and the lines that matched
    nothing."""
    verdict = next((e for e in items if e.kind == "verdict"), Explained("verdict"))
    unexplained = next((e for e in items if e.kind == "unexplained"), Explained("unexplained"))
    return {
        "verdict": verdict.key or "not recognised",
        "summary": verdict.title,
        "entries": [{"id": e.key, "title": e.title, "harmful": e.harmful,
                     "ordinary": e.kind == "ordinary", "why": e.why, "lines": list(e.lines)}
                    for e in items if e.kind in ("entry", "ordinary")],
        "causes": [{"cause": e.title, "checks": [
            {"id": r.id, "outcome": str(r.outcome), "message": r.problem_text, "fix": r.fix}
            for r in e.results]} for e in items if e.kind == "cause"],
        "ruled_out": [{"cause": e.title, "checks": list(e.checks)}
                      for e in items if e.kind == "ruled out"],
        "undecided": [{"cause": e.title, "checks": list(e.checks)}
                      for e in items if e.kind == "undecided"],
        "not_explained": list(unexplained.lines),
        "not_explained_count": int(unexplained.key or len(unexplained.lines)),
    }


def dumps(d: Diagnosis) -> bytes:
    """The file's bytes: the report as indented UTF-8 JSON."""
    return (json.dumps(build(d), indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape")
