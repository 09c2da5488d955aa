"""Stored XSS (issue 10): markup from outside never runs in the report, in a real Chromium with
JavaScript on.

pytest-html draws its tables with ``innerHTML`` (the run leaves them empty), and the page runs
its scripts; the report's own tables hold DNs, paths and what the server said.  Markup planted
in each of those places (the user certificate's CN, the proxy's CN, the home directory's name,
the Configuration Server's ping version) must stay text: the page title never changes, no
element our markup would create exists, and the markup is shown literally.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.support.browser import Chromium, chromium_path
from tests.support.dns_responder import DnsResponder
from tests.support.hostile import proxy_with_cn
from tests.support.net_world import TEST_HOST
from tests.support.pki_factory import write_credentials, write_proxy
from tests.support.runner import RunResult, run_checks

pytestmark = pytest.mark.peer

#: An image whose error handler retitles the page, and a script that does the same.
IMG = "<img src=x onerror=document.title='PWNED'>"
SCRIPT = "<script>document.title='PWNED'</script>"


@pytest.fixture(scope="module")
def browser():
    chromium_path()
    with Chromium(timeout=60) as b:
        yield b


def _subject(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mu3e Test Grid"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, SCRIPT),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _assert_inert(browser: Chromium, r: RunResult, literal: str, where: Path) -> None:
    assert r.returncode in (0, 1), (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert r.html is not None, r.stdout[-2000:]
    # Opened from a plain path: Chromium cannot open a file: URL holding a raw "<" (the home
    # directory test), and the page is self-contained, so the copy is the same page.
    page = where / "opened-report.html"
    shutil.copyfile(r.html, page)
    session = browser.open(page, javascript=True)
    time.sleep(1.0)  # give an injected <img> time to fail to load and fire onerror
    title = browser.evaluate(session, "document.title")
    planted = browser.evaluate(session, "document.querySelector('img[src=x]') !== null")
    scripts = browser.evaluate(session, "[...document.scripts].filter(s => "
                                        "s.textContent.includes('PWNED')).length")
    ran = browser.evaluate(session, "document.querySelector('#results-table tbody') !== null")
    text = browser.evaluate(session, "document.body.innerText")
    assert ran, "pytest-html's JavaScript did not run (JavaScript off?)"
    assert "PWNED" not in title, title
    assert planted is False, "an <img> from outside markup exists in the DOM"
    assert scripts == 0, "a <script> from outside markup exists in the DOM"
    assert literal in text, f"{literal!r} is not shown literally"


def test_markup_in_the_user_certificate_cn_is_text(grid, tmp_path, browser):
    user = grid.pki.user(grid.ca, subject=_subject(IMG))
    home = grid.home(tmp_path, user=user, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT,CA", "--mu3e-proxy", str(tmp_path / "none"),
                   timeout=60)
    _assert_inert(browser, r, IMG, tmp_path)


def test_markup_in_the_proxy_cn_is_text(grid, tmp_path, browser):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up_u1000", proxy_with_cn(grid.pki, grid.user, IMG),
                        mode=0o644)
    r = run_checks(home, "--mu3e-select", "PROXY,GROUP", "--mu3e-proxy", str(proxy),
                   timeout=60)
    _assert_inert(browser, r, IMG, tmp_path)


def test_markup_in_the_home_directory_name_is_text(grid, tmp_path, browser):
    home = tmp_path / IMG / "home"
    write_credentials(home / ".globus", grid.user, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-proxy", str(tmp_path / "none"),
                   timeout=60)
    _assert_inert(browser, r, IMG, tmp_path)


def test_markup_in_the_servers_ping_version_is_text(net_world, tmp_path, browser,
                                                      loopback_only):
    home = tmp_path / "home"
    home.mkdir()
    records = {TEST_HOST: {"A": ["127.0.0.1"]}}
    with DnsResponder(records) as dns, net_world.diset(version=IMG + SCRIPT) as server:
        r = run_checks(home, "--mu3e-select", "NET", "--mu3e-cs-url",
                       f"dips://{TEST_HOST}:{server.port}/Configuration/Server",
                       "--mu3e-nameserver", dns.address, "--mu3e-timeout", "2",
                       "--mu3e-trust-dir", str(net_world.trust),
                       "--mu3e-proxy", str(net_world.proxy), offline=False, timeout=60)
    assert r.outcome("NET-004") in ("passed", "warned"), r["NET-004"].message
    _assert_inert(browser, r, IMG, tmp_path)


def test_the_probe_would_see_an_attack(tmp_path, browser):
    """The assertions can fail: a page that does render outside markup is caught."""
    page = tmp_path / "attack.html"
    page.write_text(f"<html><head><title>t</title></head><body>{IMG}<table id="
                    "'results-table'><tbody class='results-table-row'></tbody></table>"
                    "</body></html>")
    fake = RunResult(0, "", "", {}, tmp_path / "none.xml", page)
    (tmp_path / "copy").mkdir()
    with pytest.raises(AssertionError):
        _assert_inert(browser, fake, IMG, tmp_path / "copy")

