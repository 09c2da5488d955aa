"""The explain catalogue and matcher, without running any program: every entry names real
checks, lines land on the right family, and the verdict text follows the checks' outcomes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mu3e_checks import commands, explain, hooks, registry
from mu3e_checks.explain import CATALOGUE, CONFIRMED, RULED_OUT, UNDECIDED
from mu3e_checks.model import CheckResult, SkipKind
from mu3e_checks.run import attach_sections

ALL = registry.load_all()


def test_entries_are_unique_and_complete():
    keys = [e.key for e in CATALOGUE]
    assert len(keys) == len(set(keys))
    for entry in CATALOGUE:
        assert entry.anchors and all(a.text.strip() for a in entry.anchors), entry.key
        assert all(a.origin in explain.ORIGINS for a in entry.anchors), entry.key
        if entry.harmful:
            assert entry.causes, f"{entry.key}: a harmful message needs candidate causes"
        else:
            assert entry.why, f"{entry.key}: a harmless message must say why"


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.key)
def test_every_cause_names_real_checks(entry):
    for cause in entry.causes:
        assert cause.checks, (entry.key, cause.text)
        unknown = [c for c in cause.checks if c not in ALL]
        assert not unknown, (entry.key, unknown)


def test_narrowing_regexes_are_simple():
    """No nested quantifier such as (a+)+: matching must stay linear in the line."""
    for entry in CATALOGUE:
        if entry.narrow:
            re.compile(entry.narrow)
            assert not re.search(r"\)[*+]|[*+]\)", entry.narrow), entry.key


@pytest.mark.parametrize("line,key", [
    ("Could not select DISET or Tornado client RuntimeError('Option "
     "/DIRAC/Setups/None/Framework is not defined')", "nocs-upload"),
    ("Cannot get URL for Framework/ProxyManager in setup Test: RuntimeError('Option "
     "/DIRAC/Setups/Test/Framework is not defined')", "nocs-upload"),
    ("Could not sync dir Cannot get URL for Framework/BundleDelivery in setup GridPP: "
     "RuntimeError('Option /DIRAC/Setups/GridPP/Framework is not defined')", "setup-mismatch"),
    ("No CFG file loaded, was that intentional?", "no-cfg-notice"),
    ("Missing mandatory local configuration option /DIRAC/Setup", "no-cfg"),
    ("\t[Errno 111] Connection refused:ConnectionRefusedError(111, 'Connection refused')",
     "cs-refused"),
    ("\tDNS lookup failed gaierror(-2, 'Name or service not known')", "cs-dns"),
    ("Can't contact DIRAC CS: Reason(s):", "cs-unreachable"),
    ("Can't update from server dips://x:9135/Configuration/Server: "
     "SSLError('certificate verify failed')", "tls-verify"),
    ("No CRL files found for /c/*.r0. Abort check of CAs", "crl-missing"),
    ("error 12 at 0 depth lookup: CRL has expired", "crl-outdated"),
    ("Could not add VOMS extensions to the proxy", "voms-failed"),
    ("None of the contacted servers for mu3e.org were capable of returning a valid AC for "
     "the user.", "voms-unreachable"),
    ("Requested group mu3e_user is not valid for DN /C=CH/CN=Jane", "wrong-group"),
    ("error 23 at 0 depth lookup: certificate revoked", "cert-revoked"),
    ("error 20 at 0 depth lookup: unable to get local issuer certificate", "unknown-ca"),
    ("bash: dirac-proxy-init: command not found", "command-not-found"),
    ("realpath: '': No such file or directory", "diracosrc-realpath"),
    ("Cannot verify AC signature!", "voms-ac-unverifiable"),
])
def test_line_lands_on_its_family(line, key):
    found = explain.match(f"some preamble\n{line}\n")
    assert [m.entry.key for m in found] == [key]
    assert found[0].line_no == 2


def test_unknown_text_is_not_forced_onto_a_cause():
    assert explain.match("Segmentation fault (core dumped)\nls: cannot access 'x'\n") == []
    assert explain.match("") == []
    # "command not found" for another program is not DIRAC's environment
    assert explain.match("bash: root: command not found") == []
    # other programs' network and registry words are not the Configuration Server's
    for line in ("ssh: Could not resolve hostname x: Name or service not known",
                 "curl: (7) Failed to connect to x port 80: Connection refused",
                 "wget: read error: Connection timed out",
                 "Event foo is not registered", "Hashes don't match!",
                 "OSError: [Errno 30] Read-only file system: '/home/u/analysis/out.root'",
                 "/data/run42 is not a valid directory"):
        assert explain.match(line) == [], line


def test_with_prerequisites_follows_requires():
    ids = explain.with_prerequisites(["NET-002"], ALL)
    assert ids == ["NET-001", "NET-002"]
    assert {"NET-001", "NET-002", "NET-003", "NET-004", "CA-001", "CA-004"} <= set(
        explain.with_prerequisites(["NET-006"], ALL))


def _results(**outcomes: str) -> dict[str, CheckResult]:
    return {k.replace("_", "-"): CheckResult(
        id=k.replace("_", "-"), title="t", step="s", step_title="s", severity="fail",
        requires=(), outcome=v, message=f"{v} msg", fix="fix-it" if v == "failed" else "",
        skip_kind=SkipKind.SELECTION if v == "skipped" else None)
        for k, v in outcomes.items()}


def test_judging_confirms_rules_out_and_leaves_undecided():
    matches = explain.match("[Errno 111] Connection refused:ConnectionRefusedError(111, "
                            "'Connection refused')")
    judged = explain.judge(matches, _results(NET_002="failed", CFG_004="passed"))
    assert [(j.cause.checks, j.status) for j in judged] == [
        (("NET-002",), CONFIRMED), (("CFG-004",), RULED_OUT)]
    judged = explain.judge(matches, _results(NET_002="skipped"))
    assert [j.status for j in judged] == [UNDECIDED, UNDECIDED]


def test_a_failed_check_confirms_before_a_warned_one():
    matches = explain.match("SSLError('certificate verify failed')")
    ex = explain.Explanation(matches, explain.judge(
        matches, _results(NET_003="skipped", CA_004="passed", CA_001="passed", ENV_001="failed",
                          CRL_003="warned", CRL_001="passed")))
    assert ex.confirmed is not None and ex.confirmed.cause.checks == ("CA-001", "ENV-001")
    only_warned = explain.Explanation(matches, explain.judge(
        matches, _results(CRL_003="warned", CRL_001="passed")))
    assert only_warned.confirmed.cause.checks == ("CRL-003", "CRL-001")


def test_render_confirmed_names_check_and_fix():
    matches = explain.match("Can't contact DIRAC CS: Reason(s):\n[Errno 111] Connection "
                            "refused:ConnectionRefusedError(111, 'Connection refused')")
    ex = explain.Explanation(matches, explain.judge(
        matches, _results(NET_001="passed", NET_002="failed", NET_003="skipped",
                          NET_004="skipped", CFG_004="passed")), ran=True)
    text = explain.render_text(ex)
    assert ex.confirmed is not None and ex.confirmed.cause.checks == ("NET-002",)
    assert "confirmed cause: nothing accepts connections" in text
    assert "NET-002 failed" in text and "fix-it" in text
    assert "ruled out: dirac.cfg points at the wrong Configuration Server" in text


def test_render_none_confirmed_says_what_was_ruled_out():
    matches = explain.match("No CRL files found for /x/*.r0")
    ex = explain.Explanation(matches, explain.judge(
        matches, _results(CRL_001="passed", CRL_003="passed")), ran=True, offline=True)
    text = explain.render_text(ex)
    assert ex.confirmed is None
    assert "none confirmed" in text and "--mu3e-offline" in text
    assert "ruled out: CAs are installed but their CRLs were never fetched" in text


def test_harmless_nocs_output_is_called_harmless_without_running_checks(tmp_path, capsys):
    log = tmp_path / "nocs.log"
    log.write_text("No CFG file loaded, was that intentional?\nGenerating proxy...\n"
                   "Cannot get URL for Framework/ProxyManager in setup Test: RuntimeError("
                   "'Option /DIRAC/Setups/Test/Framework is not defined')\n")
    def no_run(args):  # a harmless message must not start the diagnosis at all
        raise AssertionError(f"checks were run: {args}")

    assert explain.main(["--file", str(log)], no_run) == 0
    out = capsys.readouterr().out
    assert "(harmless)" in out and "harmful" not in out and "verdict: harmless" in out
    assert commands.PROXY_INIT_LOCAL.format(group="<group>") in out
    assert "-N" in commands.PROXY_INIT_LOCAL


def test_unknown_render_keeps_the_text_for_support():
    ex = explain.Explanation([], text="weird \x1b[31mfailure\n")
    text = explain.render_text(ex)
    assert "not recognised" in text and "weird" in text and "\x1b" not in text


def test_catalogue_is_documented_from_its_data():
    md = explain.catalogue_markdown()
    for entry in CATALOGUE:
        assert f"| {entry.key} |" in md
    page = Path(__file__).resolve().parents[2] / explain.DOCS_PATH
    assert page.read_text() == explain.docs_page(), f"run {explain.GENERATE}"


def test_proxy_init_fix_is_strict():
    strict = "dirac-proxy-init -g mu3e.org_user -M -t"
    assert commands.proxy_init("mu3e.org_user").render() == strict
    assert commands.proxy_init_local("g").render() == "dirac-proxy-init --nocs -N -g g"


# ------------------------------------------------------------------- the reports' section

def _model_result(cid: str, outcome: str, fix: str = ""):
    from mu3e_checks.model import CheckResult as ModelResult

    return ModelResult(id=cid, title=f"title of {cid}", step="cs", step_title="cs",
                       severity="fail", requires=(), outcome=outcome,
                       message=f"{cid} says {outcome}", fix=fix)


def test_reports_get_the_section_judged_from_the_runs_own_results():
    import datetime as dt
    import json

    from mu3e_checks.model import Diagnosis
    from mu3e_checks.render import html
    from mu3e_checks.render import json as render_json

    text = ("[Errno 111] Connection refused:ConnectionRefusedError(111, 'Connection refused')"
            "\nDN /CN=Jane Physicist is not registered")
    plugin = explain.ReportPlugin(explain.match(text), text, offline=False)

    d = Diagnosis((_model_result("NET-001", "passed"),
                   _model_result("NET-002", "failed", fix="timeout 10 bash -c 'x'"),
                   _model_result("CFG-004", "passed")),
                  started=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert attach_sections(hooks.relay(), d) is d  # an ordinary run: no section
    got = attach_sections(hooks.relay(object(), plugin), d)
    assert "confirmed cause: nothing accepts connections on the Configuration Server's port, "\
           "or a firewall rejects it" in got.explained
    data = json.loads(render_json.dumps(got))
    assert render_json.shape_errors(render_json.SHAPE, data) == []
    assert data["explained"] == list(got.explained)
    page = "".join(html.html_summary(got))
    assert page.index('id="mu3e-explained"') < page.index("Guide chapters")
    assert "Error explained" in page and "NET-002 failed" in page
    # redaction reaches the section like every other free-text field
    assert all("Jane" not in line
               for line in got.map_text(lambda t: t.replace("Jane", "[user]")).explained)


def test_key_material_in_pasted_text_is_never_shown(grid, tmp_path):
    key = grid.user.key_pem().decode()
    ex = explain.Explanation([], text=f"voms-proxy-init failed with\n{key}the end\n")
    text = explain.render_text(ex)
    body = [ln for ln in key.splitlines() if "-----" not in ln]
    assert "the end" in text and not any(ln in text for ln in body)


def test_help_needs_no_run(capsys):
    def no_run(args):
        raise AssertionError(f"checks were run: {args}")

    assert explain.main(["--help"], no_run) == 0
    assert "mu3e-checks explain" in capsys.readouterr().out
