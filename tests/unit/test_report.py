"""The report's plain functions: redaction, the private-key scrub, the JSON shape, the marks."""

from __future__ import annotations

import html
import json

from mu3e_checks import redact, report
from mu3e_checks.report_json import SHAPE, shape_errors

DN = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane O'Physicist"
DN_RFC = "CN=Jane O'Physicist,OU=Physics,O=Mu3e Test Grid,C=CH"


def _redactor() -> redact.Redactor:
    return redact.build_redactor(homes=["/home/jphys"], users=["jphys"], hosts=["pc17.lab"],
                                 dns=[DN, DN_RFC], dn_values=["Jane O'Physicist"])


def test_text_replaces_every_kind_consistently():
    r = _redactor()
    text = (f"chmod 600 /home/jphys/.globus/userkey.pem; DN {DN}; RFC {DN_RFC}; "
            "user jphys on PC17.lab; CN Jane O'Physicist; proxy " + DN + "/CN=12345")
    out = r.text(text)
    assert out == ("chmod 600 [home]/.globus/userkey.pem; DN [user DN]; RFC [user DN]; "
                   "user [user] on [host]; CN [user CN]; proxy [user DN]/CN=12345")


def test_user_name_only_as_a_whole_word():
    r = redact.build_redactor(homes=[], users=["ann"], hosts=[], dns=[])
    assert r.text("annual report by ann, for ann_b and ann.") == \
        "annual report by [user], for ann_b and [user]."


def test_trivial_values_are_not_redacted():
    r = redact.build_redactor(homes=["/"], users=["a"], hosts=[""], dns=[""])
    assert not r.active
    assert r.text("/a/b") == "/a/b"


def test_html_escaped_forms_are_redacted_too():
    r = _redactor()
    assert r.text(html.escape(DN)) == "[user DN]"
    assert r.text(html.escape(DN, quote=False)) == "[user DN]"


def _page(blob: dict) -> str:
    return ("<html><head><title>t jphys</title><style>:root{--jphys:1} .jphys{}</style></head>"
            f"<body><h1>Diagnosis for jphys on pc17.lab</h1><td>{html.escape(DN)}</td>"
            f'<div id="data-container" data-jsonblob="{html.escape(json.dumps(blob))}"></div>'
            "<script>var jphys = 1; // code is not content</script></body></html>")


def test_html_document_redacts_content_and_blob_but_not_code():
    blob = {"environment": {"Home": "/home/jphys", "User DN (slash form)": DN},
            "tests": {"x": [{"log": html.escape(f"fix: chmod 600 /home/jphys/k\n{DN}"),
                             "resultsTableRow": [f"<td>{html.escape(DN_RFC)}</td>"]}]}}
    out = redact.redact_html(_page(blob), _redactor())
    assert "Diagnosis for [user] on [host]" in out
    assert "<td>[user DN]</td>" in out
    assert ":root{--jphys:1} .jphys{}" in out and "var jphys = 1;" in out
    text_outside_code = redact._CODE_RE.sub("", out)
    for secret in ("jphys", "pc17", "Physicist", "/home/"):
        assert secret not in text_outside_code, secret
    # The blob is still valid JSON that pytest-html's script can read, and consistent.
    raw = redact._BLOB_RE.search(out).group(2)
    data = json.loads(html.unescape(raw))
    assert data["environment"] == {"Home": "[home]", "User DN (slash form)": "[user DN]"}
    assert "chmod 600 [home]/k" in data["tests"]["x"][0]["log"]
    assert data["tests"]["x"][0]["resultsTableRow"] == ["<td>[user DN]</td>"]


def test_inactive_redactor_keeps_the_page_but_scrubs_keys():
    key = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
           "BKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n")
    page = _page({"tests": {"x": [{"log": "printed: " + key}]}}).replace(
        "<h1>", "<h1>" + html.escape(key))
    out = redact.redact_html(page, redact.Redactor())
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in out
    assert "BKcwggSjAgEAAoIBAQC7" not in out
    assert out.count(redact.REMOVED_KEY) == 2
    assert "Diagnosis for jphys" in out  # nothing else changed


def test_truncated_and_encrypted_key_blocks_are_scrubbed():
    text = ("a -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkq\n"
            "-----END ENCRYPTED PRIVATE KEY----- b -----BEGIN RSA PRIVATE KEY-----\n"
            "Proc-Type: 4,ENCRYPTED\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMx")
    out = redact.scrub_private_keys(text)
    assert "MII" not in out and out.startswith("a [private") and " b [private" in out


def test_certificates_are_not_scrubbed():
    cert = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----"
    assert redact.scrub_private_keys(cert) == cert


def test_shape_validator_finds_what_is_wrong():
    good = {"schema": "mu3e-checks/report/1", "tool": {"name": "mu3e-checks", "version": "1"},
            "title": "t", "host": "h", "user": "u", "started": "s", "finished": "f",
            "redacted": False,
            "verdict": {"ready": True, "text": "READY", "exit_code": 0,
                        "counts": dict.fromkeys(("passed", "warned", "failed", "error",
                                                 "skipped"), 0)},
            "environment": {"OS": "x"}, "steps": [], "fixes": [],
            "checks": [{"id": "CERT-001", "title": "t", "step": "certificate",
                        "step_title": "s", "outcome": "passed", "severity": "fail",
                        "message": "", "warnings": [], "notes": ["n"], "fix": "",
                        "requires": [], "skipped_by": None, "duration": 0.1}]}
    assert shape_errors(SHAPE, good) == []
    bad = json.loads(json.dumps(good))
    bad["checks"][0]["outcome"] = "green"
    bad["checks"][0]["extra"] = 1
    del bad["verdict"]["exit_code"]
    bad["environment"]["Home"] = 3
    bad["verdict"]["ready"] = 1
    errors = shape_errors(SHAPE, bad)
    assert "$.checks[0]: unexpected key 'extra'" in errors
    assert "$.verdict: missing key 'exit_code'" in errors
    assert any(e.startswith("$.checks[0].outcome: 'green'") for e in errors)
    assert any(e.startswith("$.environment.Home: 3") for e in errors)
    assert any(e.startswith("$.verdict.ready: 1") for e in errors)


def test_terminal_marks_fall_back_to_ascii():
    assert report.terminal_marks("utf-8")["failed"] == "✗"
    assert report.terminal_marks("ascii") == report.MARKS_ASCII
    assert report.terminal_marks("no-such-codec") == report.MARKS_ASCII
    assert report.fit("a — b ✓ é", "ascii") == "a - b ok ?"
    assert report.fit("a — b", "utf-8") == "a — b"
