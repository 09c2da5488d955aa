"""The check list (``mu3e-checks --list``) and the generated reference page docs/checks.md.

docs/checks.md is made from the registry (IDs, titles, fixes, the check docstrings), the options
table and the JSON report shape, so what it says is what the code does; a test compares the
committed page with :func:`docs_markdown` and names the command that regenerates it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import profile, registry
from mu3e_checks.registry import Check

#: Where the page lives in a checkout, and the one command that rewrites it.
DOCS_PATH = Path("docs") / "checks.md"
GENERATE = "python -m mu3e_checks.listing --write-docs"


def print_checks() -> None:
    """Print every check in guide order: ID, severity, title, then the fix template."""
    try:
        _print_checks()
    except BrokenPipeError:  # `mu3e-checks --list | head` is fine
        pass


def _print_checks() -> None:
    checks = registry.ordered(registry.load_all().values())
    step = None
    for c in checks:
        if c.step != step:
            step = c.step
            print(f"\n{c.step_title}")
        tags = " [network]" if c.network else ""
        print(f"  {c.id}  {c.title}{tags}")
        if c.requires:
            print(f"           requires: {', '.join(c.requires)}")
        if c.fix:
            first, *rest = c.fix.template_text().splitlines()
            print(f"           fix: {first}")
            for line in rest:
                print(f"                {line}")


# --------------------------------------------------------------------------- the check reference

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def prose(text: str) -> str:
    """Docstring text as Markdown prose: ``<`` outside code spans is escaped, because docstrings
    write placeholders like ``<hash>.r0`` that a Markdown viewer would swallow as HTML tags."""
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(text[pos:m.start()].replace("<", "&lt;"))
        out.append(m.group(0))
        pos = m.end()
    out.append(text[pos:].replace("<", "&lt;"))
    return "".join(out)


def anchor(check_id: str) -> str:
    """The link target of a check's section (the heading is the bare ID, so viewers agree)."""
    return check_id.lower()


def check_markdown(c: Check) -> str:
    """One check's section: ID, title, severity, prerequisites, explanation, fix template."""
    requires = ", ".join(f"[{r}](#{anchor(r)})" for r in c.requires) or "—"
    facts = f"Severity: **{c.severity}** · Requires: {requires}"
    if c.network:
        facts += " · needs the network (skipped offline)"
    in_profile = profile.scope(c.id)
    if in_profile:
        facts += f" · {in_profile}"
    parts = [f"### {c.id}", f"**{prose(c.title)}**", facts]
    if c.doc.strip():
        parts.append(prose(c.doc.strip()))
    if c.fix:
        parts.append(f"Fix:\n\n```sh\n{c.fix.template_text()}\n```")
    else:
        parts.append("No fix template: a failure brings its own fix or says what to do.")
    return "\n\n".join(parts)


def _chapters(checks: Iterable[Check]) -> Iterator[tuple[int, str, list[Check]]]:
    by_step: dict[str, list[Check]] = {}
    for c in registry.ordered(checks):
        by_step.setdefault(c.step, []).append(c)
    number = 0
    for key, title in registry.GUIDE_STEPS:
        if by_step.get(key):
            number += 1
            yield number, title, by_step[key]


def reference_markdown(checks: Optional[Iterable[Check]] = None) -> str:
    """The checks per guide chapter, in guide order, with a contents table first."""
    chapters = list(_chapters(registry.load_all().values() if checks is None else checks))
    rows = ["| guide chapter | checks |", "|---|---|"]
    for number, title, members in chapters:
        ids = ", ".join(f"[{c.id}](#{anchor(c.id)})" for c in members)
        rows.append(f"| {number}. {title} | {ids} |")
    sections = ["\n".join(rows)]
    for number, title, members in chapters:
        sections.append(f"## {number}. {title}")
        sections.extend(check_markdown(c) for c in members)
    return "\n\n".join(sections)


# --------------------------------------------------------------------------- the JSON report

#: The JSON vocabulary of the shape language in :mod:`mu3e_checks.render.json`.
_TYPE_NAMES = ("string", "integer", "number", "boolean", "null")

#: What each field of the JSON report means, keyed by its path in the shape (``[]`` is "each
#: item of the list", ``*`` "any key").  A test fails when a path is missing here or stale.
FIELD_NOTES: dict[str, str] = {
    "schema": "Which version of this shape the file has. It changes when a key is added, "
              "removed or changes meaning, so a strict validator can rely on it.",
    "tool": "The program that wrote the file.",
    "tool.name": "The program's name.",
    "tool.version": "Its version.",
    "title": "The report's title: host, user and time of the run.",
    "host": "The host name (`[host]` when redacted).",
    "user": "The user name (`[user]` when redacted).",
    "started": "When the run started (ISO 8601, local time with offset).",
    "finished": "When the report was written (ISO 8601).",
    "redacted": "Whether `--mu3e-redact` replaced user, home, DN and host.",
    "verdict": "The outcome of the whole run.",
    "verdict.ready": "True when at least one check ran and none failed or crashed (with "
                     "`--mu3e-strict`, none warned either).",
    "verdict.text": "The one-line verdict the terminal prints (READY…, NOT READY…).",
    "verdict.exit_code": "The exit code of the run.",
    "verdict.counts": "How many checks ended in each outcome.",
    "verdict.counts.passed": "Checks that passed.",
    "verdict.counts.warned": "Checks that passed with a warning.",
    "verdict.counts.failed": "Checks that failed.",
    "verdict.counts.error": "Checks that crashed instead of giving a verdict (please report "
                             "it).",
    "verdict.counts.skipped": "Checks that were skipped (prerequisite not passed, or offline).",
    "environment": "The environment table of the HTML report, rendered from the run's typed "
                   "facts: versions, resolved paths, DN, proxy summary, CS URL, what the "
                   "servers said, grid variables, options. Never key material.",
    "environment.*": "One fact, as display text (redacted with `--mu3e-redact`).",
    "steps": "One entry per guide chapter, in guide order.",
    "steps[].key": "The chapter's stable key (e.g. `certificate`).",
    "steps[].title": "The chapter's heading in the guide.",
    "steps[].status": "The chapter's mark: all passed, a warning, a failure, all skipped, or "
                      "not run at all.",
    "steps[].checks": "The IDs of the chapter's checks that ran.",
    "fixes": "The fixes in the order to apply them.",
    "fixes[].check": "The ID of the check the fix is for.",
    "fixes[].fix": "The command lines to paste, with your values filled in and quoted.",
    "checks": "One entry per check that ran, in guide order.",
    "checks[].id": "The stable check ID (see the reference above).",
    "checks[].title": "The check's title.",
    "checks[].step": "The key of its guide chapter.",
    "checks[].step_title": "The title of its guide chapter.",
    "checks[].outcome": "What happened.",
    "checks[].severity": "`fail`: a problem fails the run; `warn`: advisory.",
    "checks[].message": "What is wrong, or why the check was skipped; for a warning, the "
                        "warnings joined.",
    "checks[].warnings": "Each warning's text.",
    "checks[].notes": "Findings worth reading that need no action (your DN, the proxy's "
                      "source, the server's DIRAC version).",
    "checks[].fix": "The fix for this check's problem; empty when there is none.",
    "checks[].requires": "The IDs of its prerequisites.",
    "checks[].skipped_by": "The prerequisite whose problem caused the skip, else null.",
    "checks[].duration": "Seconds the check took.",
    "explained": "Optional: present only in a run of `mu3e-checks explain`: its \"Error "
                 "explained\" section as data (docs/explain.md).",
    "explained.verdict": "`harmful`: a harmful message matched; `harmless`: every line is a "
                         "harmless message or ordinary output; `not recognised`: the full "
                         "diagnosis ran.",
    "explained.summary": "The verdict as the terminal says it.",
    "explained.entries": "The catalogue entries that matched, in catalogue order.",
    "explained.entries[].id": "The entry's stable key (docs/explain.md).",
    "explained.entries[].title": "What the message is.",
    "explained.entries[].harmful": "Whether the message means something is wrong.",
    "explained.entries[].ordinary": "The programs' ordinary output (progress, proxy fields, "
                                    "the command line), not a message.",
    "explained.entries[].why": "Why a harmless message is harmless; empty for a harmful one.",
    "explained.entries[].lines": "The lines it matched (visible, clipped; at most 20).",
    "explained.causes": "The confirmed causes, the root cause first (its fix is the one to "
                        "apply first); empty when none was confirmed.",
    "explained.causes[].cause": "The cause, in the catalogue's words.",
    "explained.causes[].checks": "The checks whose problem confirms it.",
    "explained.causes[].checks[].id": "The check ID.",
    "explained.causes[].checks[].outcome": "How that check ended.",
    "explained.causes[].checks[].message": "What the check found.",
    "explained.causes[].checks[].fix": "The check's fix, with your values.",
    "explained.ruled_out": "Candidate causes whose deciding checks all passed.",
    "explained.ruled_out[].cause": "The cause, in the catalogue's words.",
    "explained.ruled_out[].checks": "The IDs of the checks that passed.",
    "explained.undecided": "When nothing was confirmed: the candidate causes whose checks "
                           "did not decide (skipped, or not run).",
    "explained.undecided[].cause": "The cause, in the catalogue's words.",
    "explained.undecided[].checks": "The IDs of its deciding checks.",
    "explained.not_explained": "The lines no entry matched (the last 40, visible, clipped): "
                               "for support.",
    "explained.not_explained_count": "How many lines no entry matched.",
    "repairs": "Optional: present only in the final report of `mu3e-checks fix` that applied "
               "repairs. One line per change, prefixed with the check ID it repaired: the file "
               "and its old and new mode, the files written, the backup names of files moved "
               "aside, or why a repair was not done. The first line is the verdict before the "
               "repairs.",
}


def shape_paths(shape: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field path of a report shape with its spec, parents before children."""
    if isinstance(shape, dict):
        if list(shape) == ["*"]:
            path = f"{prefix}.*" if prefix else "*"
            yield path, shape["*"]
            yield from _inner(shape["*"], path)
            return
        for key, spec in shape.items():
            key = key.removesuffix("?")  # an optional key: its meaning says when it is there
            path = f"{prefix}.{key}" if prefix else key
            yield path, spec
            yield from _inner(spec, path)


def _inner(spec: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(spec, dict):
        yield from shape_paths(spec, path)
    elif isinstance(spec, list) and isinstance(spec[0], dict):
        yield from shape_paths(spec[0], f"{path}[]")


def type_text(spec: Any) -> str:
    """A shape spec in words: ``object``, ``list of string``, ``one of `a`, `b```…"""
    if isinstance(spec, dict):
        return "map of " + type_text(spec["*"]) if list(spec) == ["*"] else "object"
    if isinstance(spec, list):
        return "list of " + ("objects" if isinstance(spec[0], dict) else type_text(spec[0]))
    alts = [a.strip() for a in str(spec).split("|")]
    types = [a for a in alts if a in _TYPE_NAMES]
    literals = [f"`{a}`" for a in alts if a not in _TYPE_NAMES]
    if literals and not types:
        return f"always {literals[0]}" if len(literals) == 1 else "one of " + ", ".join(literals)
    return " or ".join(types + literals)


def json_markdown() -> str:
    """The JSON report's fields and shape, read from :data:`mu3e_checks.render.json.SHAPE`."""
    from mu3e_checks.render import json as report_json

    rows = ["| field | type | meaning |", "|---|---|---|"]
    for path, spec in shape_paths(report_json.SHAPE):
        note = FIELD_NOTES.get(path, "")
        rows.append(f"| `{path}` | {type_text(spec)} | {note} |")
    shape = json.dumps(report_json.SHAPE, indent=2, ensure_ascii=False)
    return "\n\n".join([
        f"`--mu3e-json PATH` (or `MU3E_JSON=PATH`) writes one JSON object per run, for scripts "
        f"and ticket bots; `--mu3e-redact` redacts it like the HTML report. Its `schema` is "
        f"`{report_json.SCHEMA_ID}`. In the field paths, `[]` means each item of a list and "
        f"`*` any key of a map.",
        "\n".join(rows),
        "The shape itself, as the project's tests check real reports against it: an object "
        "lists exactly its keys, `{\"*\": …}` is a map, `[…]` a list, and `a | b` gives "
        "alternatives, each a type name or a literal value.",
        f"```json\n{shape}\n```",
    ])


# --------------------------------------------------------------------------- the whole page

def options_section() -> str:
    from mu3e_checks.settings import options_markdown

    return "\n\n".join([
        "Every option can also be set by its environment variable; the command line wins over "
        "the environment, the environment over the default. The standard variables are "
        "honoured as DIRAC honours them: `HOME`, `X509_USER_CERT`, `X509_USER_KEY`, "
        "`X509_CERT_DIR`, `X509_USER_PROXY`, `GRID_PROXY_FILE`, `DIRACOS`, `DIRAC_ROOT_PATH`.",
        options_markdown(),
    ])


def docs_markdown(checks: Optional[Iterable[Check]] = None) -> str:
    """The whole of docs/checks.md."""
    if checks is None:
        checks = registry.load_all().values()
    return "\n\n".join([
        "# Check reference",
        f"<!-- Generated by `{GENERATE}` from the check registry, the options table and the "
        f"JSON report shape. Do not edit by hand: tests/unit/test_docs.py fails when this page "
        f"differs from what the generator makes. -->",
        "Every check has a stable ID that is never renumbered; the terminal, the HTML report, "
        "the JUnit XML (`check` property) and the JSON report all use it. Severity **fail** "
        "means a problem fails the run (exit code 1); **warn** means it is reported and the run "
        "still passes, unless `--mu3e-strict`. A check whose prerequisite (Requires) did not "
        "pass is skipped with a reason naming that prerequisite. In a fix, `{name}` fields are "
        "filled with your own values, shell-quoted, when the diagnosis prints it.",
        reference_markdown(checks),
        "## Options",
        options_section(),
        "## JSON report",
        json_markdown(),
    ]) + "\n"


def docs_command(args: list[str], default: Path, make: Callable[[], str], generate: str) -> int:
    """``--write-docs [PATH]`` rewrites a generated page, ``--check-docs [PATH]`` exits 1 when
    it is stale (for CI): the one way every page generated from data (docs/checks.md,
    docs/explain.md) is written and checked."""
    path = Path(args[1]) if len(args) > 1 else default
    text = make()
    if args[0] == "--check-docs":
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{path} is out of date: run {generate}", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """``--write-docs [PATH]`` rewrites the page, ``--check-docs [PATH]`` exits 1 when it is
    stale (for CI), ``--markdown`` prints it; with no argument, the check list."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["--write-docs"], ["--check-docs"]):
        return docs_command(args, DOCS_PATH, docs_markdown, GENERATE)
    if args[:1] == ["--markdown"]:
        print(docs_markdown(), end="")
        return 0
    print_checks()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
