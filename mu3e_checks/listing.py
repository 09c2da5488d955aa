"""The check list: ``mu3e-checks --list`` / ``pytest --mu3e-list`` and the README reference."""

from __future__ import annotations

from mu3e_checks import registry


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


def reference_markdown() -> str:
    """The check reference for the README, generated from the registry."""
    checks = registry.ordered(registry.load_all().values())
    lines = ["| ID | guide step | check | severity | requires | fix |", "|---|---|---|---|---|---|"]
    for c in checks:
        fix = "<br>".join(f"`{f}`" for f in c.fix.template_text().splitlines()) if c.fix else "—"
        lines.append(f"| {c.id} | {c.step_title} | {c.title}{' (network)' if c.network else ''}"
                     f" | {c.severity} | {', '.join(c.requires) or '—'} | {fix} |")
    return "\n".join(lines)


BEGIN = "<!-- BEGIN CHECK REFERENCE (generated: python -m mu3e_checks.listing --update-readme) -->"
END = "<!-- END CHECK REFERENCE -->"
OPT_BEGIN = "<!-- BEGIN OPTIONS (generated) -->"
OPT_END = "<!-- END OPTIONS -->"
JSON_BEGIN = "<!-- BEGIN JSON SHAPE (generated) -->"
JSON_END = "<!-- END JSON SHAPE -->"


def _splice(text: str, begin: str, end: str, body: str) -> str:
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def readme_with_reference(text: str) -> str:
    """README text with the generated check reference and option table put in place."""
    from mu3e_checks.render.json import shape_markdown
    from mu3e_checks.settings import options_markdown

    text = _splice(text, BEGIN, END, reference_markdown())
    text = _splice(text, OPT_BEGIN, OPT_END, options_markdown())
    if JSON_BEGIN in text:
        text = _splice(text, JSON_BEGIN, JSON_END, shape_markdown())
    return text


def main(argv: list[str] | None = None) -> int:
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--update-readme"]:
        path = Path(args[1]) if len(args) > 1 else Path("README.md")
        path.write_text(readme_with_reference(path.read_text()))
        return 0
    if args[:1] == ["--markdown"]:
        print(reference_markdown())
        return 0
    print_checks()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
