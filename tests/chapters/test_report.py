"""The reports of real diagnosis runs: JSON shape, environment, terminal, privacy, redaction."""

from __future__ import annotations

import base64
import html
import json
import re
import socket
from pathlib import Path

from cryptography import x509

from mu3e_checks.render.json import SHAPE, shape_errors
from tests.support.pki_factory import pem
from tests.support.runner import RunResult, run_checks

_BLOB_RE = re.compile(r'(data-jsonblob=")([^"]*)(")')
_CODE_RE = re.compile(r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>)", re.DOTALL | re.I)

#: A user name that cannot collide with anything else in a report.
USER = "jphysicist"
DN = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
DN_RFC = "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid,C=CH"


def run_with_json(home: Path, *args: str, env: dict | None = None) -> tuple[RunResult, dict]:
    out = home.parent / "report.json"
    if "--mu3e-proxy" not in args:  # never the machine's own /tmp/x509up_u<uid>
        args = ("--mu3e-proxy", str(home.parent / "no-proxy"), *args)
    r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-json", str(out), *args,
                   env={"USER": USER, "LOGNAME": USER, **(env or {})})
    assert out.is_file(), r.stdout + r.stderr
    return r, json.loads(out.read_text())


def blob(page: str) -> dict:
    """The test data pytest-html embeds in the page (what its JavaScript draws)."""
    m = _BLOB_RE.search(page)
    assert m, "no data-jsonblob in the page"
    return json.loads(html.unescape(m.group(2)))


# --------------------------------------------------------------------------- JSON


def test_json_of_a_broken_setup_matches_the_documented_shape(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644, cert_mode=0o666)
    r, data = run_with_json(home)
    assert shape_errors(SHAPE, data) == []
    checks = {c["id"]: c for c in data["checks"]}
    assert sorted(checks) == sorted(r.cases)  # one object per check that ran
    assert [c["id"] for c in data["checks"]] == sorted(checks)  # guide order
    key = home / ".globus" / "userkey.pem"
    assert checks["CERT-003"]["outcome"] == "failed"
    assert checks["CERT-003"]["fix"] == f"chmod 600 {key}"
    assert "mode 644" in checks["CERT-003"]["message"]
    assert checks["CERT-003"]["step"] == "certificate" and checks["CERT-003"]["severity"] == "fail"
    assert checks["CERT-001"]["outcome"] == "passed" and checks["CERT-001"]["fix"] == ""
    assert [f["check"] for f in data["fixes"]] == ["CERT-003", "CERT-004"]
    assert data["verdict"]["ready"] is False
    assert data["verdict"]["exit_code"] == r.returncode == 1
    assert data["verdict"]["text"].startswith("NOT READY: 2 check(s) failed; start with CERT-003")
    assert data["verdict"]["counts"] == {"passed": 7, "warned": 0, "failed": 2, "error": 0,
                                         "skipped": 0}
    steps = {s["key"]: s for s in data["steps"]}
    assert steps["certificate"]["status"] == "failed"
    assert steps["cs"]["status"] == "not checked"
    assert data["environment"]["User DN (slash form)"] == DN
    assert data["environment"]["Home"] == str(home)
    assert data["user"] == USER and data["redacted"] is False


def test_json_of_warnings_and_skips(grid, tmp_path):
    user = grid.pki.user(grid.ca, days=10)
    home = grid.home(tmp_path, user=user, extra_certs=[grid.ca])
    r, data = run_with_json(home, env={"MU3E_JSON": "ignored-when-flag-given.json"})
    assert shape_errors(SHAPE, data) == []
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["CERT-008"]["outcome"] == "warned"
    assert "expires in" in checks["CERT-008"]["message"]
    assert checks["CERT-008"]["warnings"] and checks["CERT-008"]["fix"]
    assert data["verdict"]["ready"] is True and data["verdict"]["exit_code"] == 0
    assert data["verdict"]["text"].startswith("READY offline with 2 warning(s)")
    assert {s["key"]: s["status"] for s in data["steps"]}["certificate"] == "warned"

    # A prerequisite failure: dependants skipped, naming it.
    (home / ".globus" / "usercert.pem").write_text("garbage")
    r, data = run_with_json(home)
    assert shape_errors(SHAPE, data) == []
    checks = {c["id"]: c for c in data["checks"]}
    assert checks["CERT-008"]["outcome"] == "skipped"
    assert checks["CERT-008"]["skipped_by"] == "CERT-005"
    assert "CERT-005" in checks["CERT-008"]["message"]
    assert data["environment"]["User DN (slash form)"].startswith("unknown")


def test_json_path_from_the_environment(grid, tmp_path):
    home = grid.home(tmp_path)
    out = tmp_path / "from-env.json"
    r = run_checks(home, "--mu3e-select", "CERT-001", "--mu3e-proxy", str(tmp_path / "none"),
                   env={"MU3E_JSON": str(out)})
    assert r.returncode == 0
    assert shape_errors(SHAPE, json.loads(out.read_text())) == []
    assert f"JSON report: {out}" in r.stdout


# --------------------------------------------------------------------------- HTML


def _our_rows(page: str) -> dict[str, str]:
    """The rows of the report's one results table, by check ID (the server-rendered HTML)."""
    table = page[page.index('<table id="mu3e-results">'):]
    table = table[:table.index("</table>")]
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<tr class="mu3e-[a-z]+"><td>([A-Z]+-\d+)</td>.*?</tr>', table, re.S)}


def test_html_has_one_results_table_one_count_and_our_environment(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r, data = run_with_json(home)
    page = r.html.read_text()
    host = socket.gethostname()
    title = re.search(r"<title[^>]*>(.*?)</title>", page).group(1)
    assert title.startswith("Mu3e DIRAC client diagnosis — ")
    assert f"host {host}" in title and f"user {USER}" in title
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", title)
    # One results table: ours, one row per check that ran; pytest-html's is left empty.
    assert blob(page)["tests"] == {} and blob(page)["environment"] == {}
    rows = _our_rows(page)
    assert sorted(rows) == sorted(c["id"] for c in data["checks"])
    assert f"chmod 600 {home}/.globus/userkey.pem" in rows["CERT-003"]
    assert "FAILED" in rows["CERT-003"] and "userkey.pem is private" in rows["CERT-003"]
    assert "checks/test_" not in page and "::test_" not in page  # no pytest test names
    # One set of counts: the JSON's, as the terminal gives them; pytest-html's are hidden.
    counts = data["verdict"]["counts"]
    line = (f"{len(data['checks'])} checks: {counts['passed']} passed, {counts['warned']} "
            f"warned, {counts['failed']} failed, {counts['skipped']} skipped")
    assert f'<p id="mu3e-counts">{line}</p>' in page and line in r.stdout
    for hidden in ("#results-table", ".run-count", ".controls", "#environment"):
        assert hidden in page[:page.index("{display:none")], hidden
    # The environment: our table, from the run's facts, with no internal error in it.
    env = data["environment"]
    for key in ("OS", "Python", "mu3e-checks", "DIRAC version", "DIRACOS version", "OpenSSL",
                "Home", "Trust dir", "Proxy", "Proxy summary", "dirac.cfg",
                "User DN (slash form)", "User DN (RFC 2253)", "CS URL", "Run options"):
        assert key in env, key
        assert f"<tr><th>{html.escape(key)}</th><td>{html.escape(env[key])}</td></tr>" in page
    assert "OpenSSL" in env["OpenSSL"] and env["Home"] == str(home)
    assert "Packages" not in page and "Plugins" not in page  # no package/environment dump
    assert env["Proxy summary"] == "no proxy file"
    assert env["Run options"].startswith("--mu3e-proxy ") and "--mu3e-json" in env["Run options"]
    assert "unknown" not in env["Run options"] and "object has no attribute" not in page


def test_proxy_summary_reads_certificates_only(grid, tmp_path):
    home = grid.home(tmp_path)
    proxy = tmp_path / "x509up_test"
    proxy.write_bytes(grid.pki.proxy(grid.user).proxy_file())
    r, data = run_with_json(home, "--mu3e-proxy", str(proxy))
    summary = data["environment"]["Proxy summary"]
    assert summary.startswith(DN + "/CN=") and "rfc3820" in summary and "h left" in summary
    assert data["environment"]["Proxy"].startswith(f"{proxy} (--mu3e-proxy")


def _private_key_fragments(key_pem: bytes) -> list[str]:
    """The PEM lines of a key, and 16-character chunks of its base64 body and raw DER."""
    lines = [ln for ln in key_pem.decode().splitlines() if ln and "-----" not in ln]
    body = "".join(lines)
    der = base64.b64decode(body)
    chunks = [body[i:i + 16] for i in range(0, len(body) - 16, 16)]
    return lines + chunks + [der[i:i + 24].hex() for i in range(0, len(der) - 24, 24)]


def test_reports_never_contain_private_key_bytes(grid, tmp_path):
    # An unencrypted key where it belongs, and the classic mistake: key and certificate
    # concatenated into usercert.pem as well.
    home = grid.home(tmp_path / "a")
    key_pem = (home / ".globus" / "userkey.pem").read_bytes()
    assert b"ENCRYPTED" not in key_pem
    mixed = grid.home(tmp_path / "b")
    (mixed / ".globus" / "usercert.pem").write_bytes(key_pem + pem(grid.user))
    for h in (home, mixed):
        r, data = run_with_json(h)
        assert r.cases, r.stdout
        page = r.html.read_text()
        text = json.dumps(data)
        for fragment in _private_key_fragments(key_pem):
            assert fragment not in page and fragment not in text, fragment
        assert "PRIVATE KEY-----" not in page and "PRIVATE KEY-----" not in text
        assert DN in page  # the report itself is there and complete


# --------------------------------------------------------------------------- redaction


def _visible_content(page: str) -> str:
    return _CODE_RE.sub("", page)


def test_redaction_removes_user_home_dn_and_host_everywhere(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r, data = run_with_json(home, "--mu3e-redact")
    page = r.html.read_text()
    text = json.dumps(data, ensure_ascii=False)
    host = socket.gethostname()
    for secret in (DN, DN_RFC, "Jane Physicist", USER, str(home)):
        assert secret not in page, secret
        assert secret not in text, secret
        assert secret not in json.dumps(blob(page)), secret
    host_re = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(host)}(?![A-Za-z0-9_])", re.I)
    assert not host_re.search(_visible_content(page)) and not host_re.search(text)
    # Consistent placeholders, and the report still says everything.  The fix is redacted
    # in its value, then quoted: the placeholder is one shell word.
    fix = "chmod 600 '[home]/.globus/userkey.pem'"
    assert html.escape(fix) in page and data["fixes"][0]["fix"] == fix
    assert html.escape(fix) in _our_rows(page)["CERT-003"]
    assert data["environment"]["User DN (slash form)"] == "[user DN]"
    assert data["environment"]["Home"] == "[home]" and data["user"] == "[user]"
    junit = r.junit.read_text()
    for secret in (DN, DN_RFC, "Jane Physicist", USER, str(home), host):
        assert secret not in junit, secret
    assert r["CERT-003"].fix == fix and 'hostname="[host]"' in junit
    assert data["host"] == "[host]" and data["redacted"] is True
    assert "host [host], user [user]" in re.search(r"<title[^>]*>(.*?)</title>", page).group(1)
    assert shape_errors(SHAPE, data) == []
    # The terminal is the user's own: not redacted, fixes paste as they are.
    assert f"chmod 600 {home}/.globus/userkey.pem" in r.stdout
    assert f"Report for your support ticket (redacted): {r.html}" in r.stdout


def test_redaction_finds_the_dn_in_the_proxy_when_usercert_is_broken(grid, tmp_path):
    home = grid.home(tmp_path)
    (home / ".globus" / "usercert.pem").write_text("garbage")
    proxy = tmp_path / "x509up_test"
    proxy.write_bytes(grid.pki.proxy(grid.user).proxy_file())
    r, data = run_with_json(home, "--mu3e-proxy", str(proxy), "--mu3e-redact")
    assert data["environment"]["User DN (slash form)"] == "[user DN]"
    assert data["environment"]["Proxy summary"].startswith("[user DN];")  # serial CN too
    assert "the proxy" in data["environment"]["User DN read from"]
    for text in (r.html.read_text(), json.dumps(data)):
        assert "Jane Physicist" not in text and DN not in text


def test_redaction_via_environment_variable(grid, tmp_path):
    home = grid.home(tmp_path)
    r, data = run_with_json(home, env={"MU3E_REDACT": "1"})
    assert data["redacted"] is True and DN not in r.html.read_text()


def test_without_redaction_the_dn_is_shown(grid, tmp_path):
    r, data = run_with_json(grid.home(tmp_path))
    assert DN in r.html.read_text() and DN_RFC in r.html.read_text()
    assert data["environment"]["User DN (RFC 2253)"] == DN_RFC


# --------------------------------------------------------------------------- terminal


def test_terminal_is_doctor_style_with_utf8_marks(grid, tmp_path):
    user = grid.pki.user(grid.ca, days=10)
    home = grid.home(tmp_path, user=user, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-proxy", str(tmp_path / "none"),
                   env={"PYTHONIOENCODING": "utf-8"})
    out = r.stdout
    assert "[✗] Install User Certificates (1 failed, 1 with warnings, 7 passed)" in out
    assert "    ✗ CERT-003 userkey.pem is private" in out
    assert "    ! CERT-008 The user certificate is valid now" in out
    fixes = out.index("Fixes, in the order to apply them:")
    assert out.index(f"1. [CERT-003] chmod 600 {home}/.globus/userkey.pem") > fixes
    assert out.index("2. [CERT-008]") > out.index("1. [CERT-003]")
    verdict = out.index("NOT READY: 1 check(s) failed; start with CERT-003")
    assert verdict > fixes
    assert f"Report for your support ticket: {r.html}" in out

    good = run_checks(grid.home(tmp_path / "good"), "--mu3e-select", "CERT", "--mu3e-proxy",
                      str(tmp_path / "none"), env={"PYTHONIOENCODING": "utf-8"})
    assert "[✓] Install User Certificates (9 passed)" in good.stdout
    assert "READY offline: every check that ran passed, but the Configuration Server was " \
        "not contacted (offline)" in good.stdout
    assert "follows the guide" not in good.stdout


def test_terminal_falls_back_to_ascii(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-proxy", str(tmp_path / "none"),
                   env={"PYTHONIOENCODING": "ascii"})
    out = r.stdout
    summary = out[out.index("Mu3e DIRAC client diagnosis"):]
    assert "[X] Install User Certificates (1 failed, 8 passed)" in summary
    assert "    X CERT-003" in summary
    assert "NOT READY" in summary and "1. [CERT-003] chmod 600" in summary
    assert summary.isascii(), [c for c in summary if not c.isascii()]
    assert "Traceback" not in out and "INTERNALERROR" not in out + r.stderr


def test_certificate_fixture_facts_reach_the_report(grid, tmp_path):
    # The DN comes from the certificate the run read, not from a guess.
    other = grid.pki.user(grid.ca, "Ada Muon")
    home = grid.home(tmp_path, user=other)
    r, data = run_with_json(home)
    cert = x509.load_pem_x509_certificate((home / ".globus/usercert.pem").read_bytes())
    assert data["environment"]["User DN (RFC 2253)"] == cert.subject.rfc4514_string()
    assert data["environment"]["User DN (slash form)"].endswith("/CN=Ada Muon")


def test_unwritable_json_path_is_a_clear_line_not_a_crash(grid, tmp_path):
    home = grid.home(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    r = run_checks(home, "--mu3e-select", "CERT-001", "--mu3e-json", str(blocker / "r.json"),
                   "--mu3e-proxy", str(tmp_path / "none"))
    assert r.returncode == 0 and r.outcome("CERT-001") == "passed"
    assert f"Report problem: the JSON report was not written: {blocker} is not a directory" \
        in r.stdout
    assert "INTERNALERROR" not in r.stdout + r.stderr and "Traceback" not in r.stdout
