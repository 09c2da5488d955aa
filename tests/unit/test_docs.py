"""The docs say what the code does: generated reference, README promises, links, example."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mu3e_checks import listing, registry
from mu3e_checks.registry import Check
from mu3e_checks.remedy import Remedy
from mu3e_checks.render.json import SCHEMA_ID, SHAPE
from tests.support.runner import ROOT, clean_env, run_checks

CHECKS_MD = ROOT / "docs" / "checks.md"
ARCHITECTURE_MD = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"


def _check(**kw) -> Check:
    fields = dict(id="CERT-099", title="A title", step="certificate", fix=Remedy())
    fields.update(kw)
    return Check(**fields)


# --------------------------------------------------------------------------- docs/checks.md

def test_checks_md_is_what_the_generator_makes():
    assert CHECKS_MD.read_text(encoding="utf-8") == listing.docs_markdown(), (
        f"docs/checks.md is stale: run {listing.GENERATE}")


def test_every_check_has_a_section_in_guide_order():
    page = listing.docs_markdown()
    checks = registry.ordered(registry.load_all().values())
    positions = [page.index(f"\n### {c.id}\n") for c in checks]
    assert positions == sorted(positions)
    for c in checks:
        assert f"[{c.id}](#{c.id.lower()})" in page  # the contents table links to it


def test_a_check_section_carries_docstring_fix_and_prerequisites():
    c = _check(doc="Why it matters: `chmod 600 <key>` keeps <hash>.r0 visible.",
               fix=Remedy.parse("chmod 600 {key}\n# then run again"), requires=("CERT-001",),
               severity="warn")
    text = listing.check_markdown(c)
    assert text.startswith("### CERT-099\n\n**A title**\n\nSeverity: **warn**")
    assert "Requires: [CERT-001](#cert-001)" in text
    # '<' outside code is escaped so a viewer does not swallow it as a tag; code stays as is.
    assert "`chmod 600 <key>` keeps &lt;hash>.r0 visible." in text
    assert "```sh\nchmod 600 {key}\n# then run again\n```" in text


def test_a_check_without_docstring_or_fix_renders_cleanly():
    text = listing.check_markdown(_check(network=True))
    assert text == ("### CERT-099\n\n**A title**\n\nSeverity: **fail** · Requires: — · needs the "
                    "network (skipped offline) · not part of a site check (--mu3e-profile site)"
                    "\n\nNo fix template: a failure brings its own fix or says what to do.")


def test_checks_md_documents_the_json_shape_from_the_data():
    page = CHECKS_MD.read_text(encoding="utf-8")
    block = page.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == SHAPE
    assert f"`{SCHEMA_ID}`" in page
    for path in ("checks[].id", "checks[].outcome", "checks[].fix", "verdict.exit_code",
                 "environment.*"):
        assert f"| `{path}` |" in page


def test_every_json_field_is_explained_and_no_explanation_is_stale():
    paths = [p for p, _ in listing.shape_paths(SHAPE)]
    assert "checks[].skipped_by" in paths and "verdict.counts.error" in paths
    assert sorted(set(paths) - set(listing.FIELD_NOTES)) == [], "add these to FIELD_NOTES"
    assert sorted(set(listing.FIELD_NOTES) - set(paths)) == [], "these fields no longer exist"


@pytest.mark.parametrize("spec, words", [
    ("string", "string"),
    ("string | null", "string or null"),
    ("mu3e-checks/report/1", "always `mu3e-checks/report/1`"),
    ("fail | warn", "one of `fail`, `warn`"),
    (["string"], "list of string"),
    ([{"a": "string"}], "list of objects"),
    ({"*": "string"}, "map of string"),
])
def test_shape_specs_in_words(spec, words):
    assert listing.type_text(spec) == words


def test_check_docs_exits_1_on_a_stale_page_and_write_docs_fixes_it(tmp_path, capsys):
    page = tmp_path / "docs" / "checks.md"
    assert listing.main(["--check-docs", str(page)]) == 1
    assert listing.GENERATE in capsys.readouterr().err
    assert listing.main(["--write-docs", str(page)]) == 0
    assert listing.main(["--check-docs", str(page)]) == 0


# --------------------------------------------------------------------------- README

def test_readme_keeps_the_ci_test_command_in_a_bash_block():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert any("python -m pytest tests -ra" in b.splitlines() for b in blocks)


def test_readme_first_screen_says_where_to_install_and_what_to_run():
    """Where the file comes from, the install (no root, ~/.local/bin made, PATH) and the run
    command; tests/peers/test_readme_install.py pastes them on a fresh account."""
    text = README.read_text(encoding="utf-8")
    first_screen = "\n".join(text.splitlines()[:45])
    assert "computing contacts" in first_screen and "~/Downloads/mu3e-checks.pyz" in first_screen
    assert "mkdir -p ~/.local/bin" in first_screen
    assert 'export PATH="$HOME/.local/bin:$PATH"' in first_screen
    assert "```bash\nmu3e-checks\n```" in first_screen
    assert "pytest --pyargs mu3e_checks" in text
    # No placeholder shown as a command that works: pipx, a git URL, an unpublished name.
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    for placeholder in ("pipx", "github.com/mu3e", "pip install mu3e-checks"):
        assert placeholder not in blocks, placeholder


def test_readme_is_short_and_leaves_the_reference_to_docs():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 180, "move detail into check docstrings or docs/"
    ids = [cid for cid in registry.load_all() if cid in text]
    assert len(ids) <= 5, f"the check reference belongs in docs/checks.md, not README: {ids}"
    assert "docs/checks.md" in text and "docs/architecture.md" in text


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", [README, CHECKS_MD, ARCHITECTURE_MD], ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name} links to missing {target}"
        if fragment:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
            assert fragment in {_slug(h) for h in headings}, f"{page.name}: no anchor {target}"


# --------------------------------------------------------------------------- the worked example

def _example(kind: str) -> str:
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {kind} .*?-->\n```python\n(.*?)```", text, re.S)
    assert match, f"docs/architecture.md lost its example {kind}"
    return match.group(1)


@pytest.fixture(scope="module")
def package_with_example(tmp_path_factory) -> Path:
    """A copy of the package whose certificate module ends with the documented check: the
    architecture doc promises that this module is the only one a new check touches."""
    root = tmp_path_factory.mktemp("pkg")
    shutil.copytree(ROOT / "mu3e_checks", root / "mu3e_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    module = root / "mu3e_checks" / "checks" / "test_01_certificate.py"
    module.write_text(module.read_text(encoding="utf-8") + "\n\n" + _example("check"),
                      encoding="utf-8")
    return root


def test_architecture_example_check_runs_as_its_documented_test_says(
        grid, tmp_path, package_with_example):
    namespace = {"run_checks": functools.partial(
        run_checks, env={"PYTHONPATH": str(package_with_example)})}
    exec(compile(_example("test"), str(ARCHITECTURE_MD), "exec"), namespace)
    (test,) = [f for name, f in namespace.items() if name.startswith("test_")]
    test(grid, tmp_path)


def test_architecture_example_check_reaches_the_reference_with_its_docstring(
        package_with_example, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mu3e_checks.listing", "--markdown"],
                          env=clean_env(tmp_path, {"PYTHONPATH": str(package_with_example)}),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("\n### CERT-010\n", 1)[1].split("\n### ", 1)[0]
    assert "Requires: [CERT-002](#cert-002)" in section
    assert "A .p12 export holds your private key" in section
    assert "```sh\nchmod 600 {path}\n```" in section
