"""Reports of broken setups, opened in a real headless Chromium with JavaScript on and off.

Ticket viewers strip JavaScript, and pytest-html v4 draws its tables with it; the report's
tables are therefore ours, rendered on the server, and pytest-html's are hidden.  These tests
read what a person sees (``document.body.innerText``, which leaves out hidden elements) and
assert that every failure, every warning and every line of every fix is there either way, in
one results table with one set of counts, and that the environment table is readable (WCAG AA
contrast, measured on the colours Chromium rendered).  The
expected problems come from the run's own JSON, so checks added later are covered too; the
named check IDs make sure the test cannot pass on an empty report.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from tests.support.browser import Chromium, chromium_path
from tests.support.runner import run_checks

pytestmark = pytest.mark.peer


def _only_p12(grid, base: Path) -> Path:
    home = base / "home"
    (home / ".globus").mkdir(parents=True)
    (home / "my_grid_cert.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"me", grid.user.key, grid.user.cert, None, BestAvailableEncryption(b"pw")))
    return home


def _mismatched_key(grid, base: Path) -> Path:
    home = grid.home(base)
    (home / ".globus" / "userkey.pem").write_bytes(grid.pki.user(grid.ca, "Other").key_pem())
    return home


def _warnings(grid, base: Path) -> Path:
    return grid.home(base, user=grid.pki.user(grid.ca, days=10), extra_certs=[grid.ca],
                     key_mode=0o644)


#: Independently built broken setups and the checks each must show as failing or warning.
SETUPS = {
    "permissions": (lambda g, b: g.home(b, key_mode=0o644, cert_mode=0o666),
                    {"CERT-003", "CERT-004"}),
    "only-p12": (_only_p12, {"CERT-001"}),
    "mismatched-key": (_mismatched_key, {"CERT-007"}),
    "expiring-and-extra-certs": (_warnings, {"CERT-003", "CERT-005", "CERT-008"}),
}


@pytest.fixture(scope="module")
def browser():
    chromium_path()  # fails, not skips, when Debian's chromium is missing
    with Chromium(timeout=60) as b:
        yield b


def _report(grid, tmp_path: Path, name: str, *args: str) -> tuple[Path, dict]:
    build, expected = SETUPS[name]
    home = build(grid, tmp_path / name)
    out = tmp_path / f"{name}.json"
    r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-json", str(out),
                   "--mu3e-proxy", str(tmp_path / "no-proxy"), *args)
    assert r.html is not None, r.stdout + r.stderr
    data = json.loads(out.read_text())
    problems = {c["id"] for c in data["checks"] if c["outcome"] in ("failed", "warned",
                                                                      "error")}
    assert problems == expected, (name, problems)
    return r.html, data


def _assert_shows_every_problem(text: str, data: dict, where: str) -> None:
    for c in data["checks"]:
        if c["outcome"] not in ("failed", "warned", "error"):
            continue
        assert c["id"] in text, (where, c["id"])
        for line in (c["message"].splitlines() + c["fix"].splitlines()):
            assert line.strip() in text, (where, c["id"], line)
    for f in data["fixes"]:
        for line in f["fix"].splitlines():
            assert line.strip() in text, (where, f["check"], line)
    assert data["verdict"]["text"] in text, where


def _tables_showing(browser: Chromium, session: str, check_id: str) -> int:
    """How many tables a person sees that hold a row for ``check_id``."""
    return int(browser.evaluate(session, f"""[...document.querySelectorAll('table')].filter(
        (t) => t.offsetParent !== null && t.innerText.includes({check_id!r})).length"""))


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_every_failure_and_fix_is_visible_with_and_without_javascript(grid, tmp_path, browser,
                                                                      name):
    page, data = _report(grid, tmp_path, name)
    text_off, ran_off = browser.page_text(page, javascript=False)
    text_on, ran_on = browser.page_text(page, javascript=True)
    # JavaScript really was off (pytest-html drew nothing) and really was on (it drew).
    assert not ran_off and ran_on
    for where, text in (("javascript off", text_off), ("javascript on", text_on)):
        _assert_shows_every_problem(text, data, where)
        # One environment table and one results table, ours, either way; one count.
        assert text.count("User DN (slash form)") == 1 and "OpenSSL" in text, where
        for c in data["checks"]:
            assert c["id"] in text and c["title"] in text, (where, c["id"])
        counts = data["verdict"]["counts"]
        assert text.count(f"{len(data['checks'])} checks: {counts['passed']} passed, "
                          f"{counts['warned']} warned, {counts['failed']} failed, "
                          f"{counts['skipped']} skipped") == 1, where
        assert " tests took " not in text and " test took " not in text, where
        assert "Passed," not in text and "Failed," not in text, where  # pytest-html's filters
        assert "object has no attribute" not in text and "::test_" not in text, where
    for javascript in (False, True):
        session = browser.open(page, javascript=javascript)
        first = data["checks"][0]["id"]
        assert _tables_showing(browser, session, first) == 1, javascript


def test_the_environment_table_meets_wcag_aa_contrast(grid, tmp_path, browser):
    """Every text in the environment table (and the rest of the report's own block) has a
    contrast of at least 4.5:1 against what is drawn behind it, as Chromium renders it."""
    page, _ = _report(grid, tmp_path, "expiring-and-extra-certs")
    for javascript in (False, True):
        session = browser.open(page, javascript=javascript)
        cells = browser.contrast(session, "#mu3e-environment th, #mu3e-environment td")
        assert len(cells) > 15, cells  # the table is there and visible
        low = [c for c in cells + browser.contrast(session, "#mu3e-summary *")
               if c["ratio"] < 4.5]
        assert not low, low
    # The probe can fail: pytest-html's own grey (#999 on white) is about 2.8:1.
    browser.evaluate(session, "document.querySelector('#mu3e-environment td').style.color"
                              " = '#999'")
    worst = min(c["ratio"] for c in browser.contrast(session, "#mu3e-environment td"))
    assert 2.7 < worst < 3.0, worst


def test_redacted_report_still_renders_and_shows_no_personal_values(grid, tmp_path, browser):
    page, data = _report(grid, tmp_path, "permissions", "--mu3e-redact")
    text_off, ran_off = browser.page_text(page, javascript=False)
    text_on, ran_on = browser.page_text(page, javascript=True)
    assert not ran_off and ran_on  # the page still loads its scripts
    for text in (text_off, text_on):
        _assert_shows_every_problem(text, data, "redacted")
        assert "chmod 600 '[home]/.globus/userkey.pem'" in text
        home = tmp_path / "permissions" / "home"  # personal; the --mu3e-proxy tmp path is not
        assert "Jane Physicist" not in text and str(home) not in text
        assert f"host {socket.gethostname()}," not in text


def test_a_screenshot_shows_the_summary(grid, tmp_path, browser):
    """Not an assertion on pixels: a PNG for a person to look at (kept when MU3E_SHOTS is set)."""
    page, _ = _report(grid, tmp_path, "permissions")
    session = browser.open(page, javascript=False)
    shot = Path(os.environ.get("MU3E_SHOTS", tmp_path)) / "report-no-js.png"
    browser.screenshot(session, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
