"""The explain catalogue and matcher, without running any program: every entry names real
checks, lines land on the right family in their context, hostile text is read in linear time,
causes come root first, and the section is data the terminal, the HTML and the JSON share.

The real programs' own output is in tests/peers/test_explain_*.py; here lines are typed in to
pin the matching rules."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

from mu3e_checks import commands, explain, hooks, registry
from mu3e_checks.explain import (
    CATALOGUE,
    CONFIRMED,
    HARMFUL,
    HARMLESS,
    NOT_RECOGNISED,
    RULED_OUT,
    UNDECIDED,
)
from mu3e_checks.model import CheckResult, Diagnosis, Explained, SkipKind
from mu3e_checks.render import html
from mu3e_checks.render import json as render_json
from mu3e_checks.run import attach_sections

ALL = registry.load_all()


def keys(text: str, command=()) -> list[str]:
    return [e.key for e in explain.entries(explain.read(text, command))]


def test_entries_are_unique_and_complete():
    keys_ = [e.key for e in CATALOGUE]
    assert len(keys_) == len(set(keys_))
    for entry in CATALOGUE:
        assert all(a.text.strip() for a in entry.anchors), entry.key
        assert all(a.origin in explain.ORIGINS for a in entry.anchors), entry.key
        # without anchors, only the text's structure may claim a line
        assert entry.anchors or all(c.role or c.only for c in entry.when), entry.key
        if entry.harmful:
            assert entry.causes and not entry.ordinary, entry.key
        else:
            assert entry.why and not entry.causes, f"{entry.key}: say why it is harmless"


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.key)
def test_every_cause_names_real_checks(entry):
    for cause in entry.causes:
        assert cause.checks, (entry.key, cause.text)
        unknown = [c for c in cause.checks if c not in ALL]
        assert not unknown, (entry.key, unknown)


def test_the_catalogue_holds_no_regex_and_the_matcher_only_escaped_literals():
    """No pattern of the catalogue's own can backtrack: entries are plain substrings, and the
    one compiled pattern is a lookahead over the escaped anchors."""
    for entry in CATALOGUE:
        for c in entry.when:
            for value in (c.line, c.starts, c.text, c.not_text):
                assert all(isinstance(v, str) for v in value), entry.key
    index = explain._index(CATALOGUE)
    texts = sorted({a.text for e in CATALOGUE for a in e.anchors}, key=lambda t: (-len(t), t))
    assert index.pattern.pattern == "(?=(" + "|".join(map(re.escape, texts)) + "))"


@pytest.mark.parametrize("hostile", [
    # issue 20's case: the old (?:dirac|voms)-[\w-]+ regex took minutes on it
    "dirac-" * 45000 + " command not found",
    "voms-" * 50000 + ": command not found\n" * 3,
    "bash: " + "dirac-proxy-init: " * 15000 + "command not found",
    "Can't update from server " * 10000 + "Unauthorized query",
    "\n".join(a.text for e in CATALOGUE for a in e.anchors) * 50,
    " ".join(a.text for e in CATALOGUE for a in e.anchors) * 100,
    "Traceback (most recent call last):\n" + "  x\n" * 100000,
    "=" * explain.MAX_TEXT,
])
def test_hostile_text_is_read_in_one_pass(hostile):
    """Each of these hung (or took minutes) with the catalogue's regexes; now every line is
    searched once for fixed strings.  Not timed: before the change this test would not end."""
    reading = explain.read(hostile)
    assert len(reading.matches) + len(reading.unexplained) <= hostile.count("\n") + 1
    items = explain.Explanation(reading).items(ALL)
    shown = [line for e in items for line in e.lines]
    assert all(len(line) <= explain.LINE_CHARS + 1 for line in shown)


def test_the_issue_line_is_dirac_commands_missing_not_a_command_line():
    assert keys("dirac-" * 45000 + " command not found") == ["command-not-found"]


@pytest.mark.parametrize("line,key", [
    ("Could not select DISET or Tornado client RuntimeError('Option "
     "/DIRAC/Setups/None/Framework is not defined')", "nocs-upload"),
    ("Cannot get URL for Framework/ProxyManager in setup Test: RuntimeError('Option "
     "/DIRAC/Setups/Test/Framework is not defined')", "nocs-upload"),
    ("Could not sync dir Cannot get URL for Framework/BundleDelivery in setup GridPP: "
     "RuntimeError('Option /DIRAC/Setups/GridPP/Framework is not defined')", "setup-mismatch"),
    ("URL for service Framework/ProxyManager not found", "service-url"),
    ("ERROR: Could not find VO for group False, DiracX will not work!", "v9-client"),
    ("No CFG file loaded, was that intentional?", "no-cfg-notice"),
    ("Missing mandatory local configuration option /DIRAC/Setup", "no-cfg"),
    ("\t[Errno 111] Connection refused:ConnectionRefusedError(111, 'Connection refused')",
     "cs-refused"),
    ("\tDNS lookup failed gaierror(-2, 'Name or service not known')", "cs-dns"),
    ("Can't contact DIRAC CS: Reason(s):", "cs-unreachable"),
    ("Cannot contact CS to get user list", "cs-unreachable"),
    ("Can't update from server dips://x:9135/Configuration/Server: "
     "SSLError('certificate verify failed')", "tls-verify"),
    ("No CRL files found for /c/*.r0. Abort check of CAs", "crl-missing"),
    ("error 12 at 0 depth lookup: CRL has expired", "crl-outdated"),
    ("  Your certificate will expire in less than 0 days. Please renew it!  ", "cert-expiring"),
    ("ERROR: Your certificate expired Wed Nov 25 22:58:34 2026", "cert-expiring"),
    ("Proxy /tmp/x509up_u1000 has expired", "upload-expired"),
    ("Could not add VOMS extensions to the proxy", "voms-failed"),
    ("None of the contacted servers for mu3e.org were capable of returning a valid AC for "
     "the user.", "voms-unreachable"),
    ("ERROR: Couldn't find valid credentials to generate a proxy.", "voms-credentials"),
    ("Requested group mu3e_user is not valid for DN /C=CH/CN=Jane", "wrong-group"),
    ("KeyError: 'group'", "proxy-no-group"),
    ("!!! The proxy is not valid !!!", "proxy-invalid"),
    ("This is likely due to a non-matching user key and cert.", "key-mismatch"),
    ("error 23 at 0 depth lookup: certificate revoked", "cert-revoked"),
    ("error 20 at 0 depth lookup: unable to get local issuer certificate", "unknown-ca"),
    ("bash: dirac-proxy-init: command not found", "command-not-found"),
    ("zsh: command not found: dirac-proxy-init", "command-not-found"),
    ("bash: fetch-crl: command not found", "crl-tools"),
    ("/bin/bash: line 1: module: command not found", "crl-tools"),
    ("realpath: '': No such file or directory", "diracosrc-realpath"),
    ("Cannot verify AC signature!", "voms-ac-unverifiable"),
    ("Fail to create directory: /usr/etc/grid-security/certificates", "configure-mkdir"),
    ("jane does not have the permissions to update /etc/grid-security/certificates",
     "configure-permissions"),
    ("Non-responding URL temporarily banned dips://pm:9152/Framework/ProxyManager",
     "proxymanager-unreachable"),
])
def test_line_lands_on_its_family(line, key):
    found = [m for m in explain.match(f"some preamble\n{line}\n") if not m.entry.ordinary]
    assert [m.entry.key for m in found] == [key]
    assert found[0].line_no == 2


def test_unknown_text_is_not_forced_onto_a_cause():
    for text in ("Segmentation fault (core dumped)\nls: cannot access 'x'\n", ""):
        reading = explain.read(text)
        assert explain.entries(reading) == [] and explain.verdict(reading) == NOT_RECOGNISED
    # "command not found" for another program is not DIRAC's environment
    assert keys("bash: root: command not found") == []
    # other programs' network and registry words are not the Configuration Server's
    for line in ("ssh: Could not resolve hostname x: Name or service not known",
                 "curl: (7) Failed to connect to x port 80: Connection refused",
                 "wget: read error: Connection timed out",
                 "Event foo is not registered", "Hashes don't match!",
                 "OSError: [Errno 30] Read-only file system: '/home/u/analysis/out.root'",
                 "/data/run42 is not a valid directory", "Done with 3 errors",
                 "Creating proxy failed: no key", "===== ERROR ====="):
        assert keys(line) == [], line
        assert explain.verdict(explain.read(line)) == NOT_RECOGNISED, line


def test_a_harmless_line_does_not_make_unknown_text_harmless():
    """DIRAC prints "No CFG file loaded" before almost anything: with an unknown error after
    it the text is not recognised, the full diagnosis runs, and the line is listed."""
    reading = explain.read("No CFG file loaded, was that intentional?\n"
                           "Segmentation fault (core dumped)\n")
    assert keys("No CFG file loaded, was that intentional?") == ["no-cfg-notice"]
    assert explain.verdict(reading) == NOT_RECOGNISED
    assert [t for _, t in reading.unexplained] == ["Segmentation fault (core dumped)"]


# ---------------------------------------------------------------------------- context decides

@pytest.mark.parametrize("line,words", [
    ("dirac-proxy-init --nocs", ["dirac-proxy-init", "--nocs"]),
    ("[jane@merlin-l-001 ~]$ dirac-proxy-init -g mu3e.org_user -M",
     ["dirac-proxy-init", "-g", "mu3e.org_user", "-M"]),
    ("(diracos) jane@host:~$ /opt/x/bin/dirac-proxy-info", ["/opt/x/bin/dirac-proxy-info"]),
    ("$ fetch-crl -l dir", ["fetch-crl", "-l", "dir"]),
    # output, not something typed
    ("bash: dirac-proxy-init: command not found", None),
    ("Executing: /opt/dirac/bin/dirac-configure -F -S GridPP", None),
    ("    dirac-admin-debug-user --ca '/C=CH/CN=CA' '/C=CH/CN=Jane'", None),
    ("dirac-" * 100 + " command not found", None),
    ("module: command not found", None),
])
def test_command_lines_are_what_the_user_typed(line, words):
    assert explain.command_words(line) == words


@pytest.mark.parametrize("words,nocs", [
    (["dirac-proxy-init", "--nocs"], True), (["dirac-proxy-init", "-xN"], True),
    (["dirac-proxy-info", "-x"], True), (["dirac-proxy-init", "-g", "mu3e.org_user"], False),
    (["bash", "-x", "-c", "dirac-proxy-init", "-g", "g"], False), (["fetch-crl", "-x"], None),
])
def test_a_nocs_run_is_read_from_dirac_proxy_init_s_own_options(words, nocs):
    assert explain.nocs_of(words) is nocs


_UPLOAD = ("Uploading proxy..\n"
           "Could not select DISET or Tornado client RuntimeError('Option "
           "/DIRAC/Setups/GridPP/Framework is not defined')\n"
           "Cannot get URL for Framework/ProxyManager in setup GridPP: RuntimeError('Option "
           "/DIRAC/Setups/GridPP/Framework is not defined')\n"
           "Proxy generated:\n"
           "subject      : /C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist/CN=123\n")


def test_the_nocs_upload_lines_are_harmless_in_a_nocs_run_only():
    # the command after --, a command line in the pasted text, or what the text shows
    assert keys(_UPLOAD, ["dirac-proxy-init", "--nocs"]) == ["nocs-upload"]
    assert keys(_UPLOAD, ["bash", "-c", "dirac-proxy-init -xg mu3e.org_user"]) == \
        ["nocs-upload"]
    assert keys("[jane@merlin ~]$ dirac-proxy-init --nocs\n" + _UPLOAD) == ["nocs-upload"]
    assert keys("Generating proxy...\n" + _UPLOAD) == ["nocs-upload"]
    for harmless in (explain.read(_UPLOAD, ["dirac-proxy-init", "--nocs"]),
                     explain.read("Generating proxy...\n" + _UPLOAD)):
        assert explain.verdict(harmless) == HARMLESS
    # the same lines after contacting the CS: the upload really failed
    assert keys(_UPLOAD, ["dirac-proxy-init", "-g", "mu3e.org_user"]) == ["setup-mismatch"]
    assert keys("Generating proxy...\nContacting CS...\n" + _UPLOAD) == ["setup-mismatch"]
    # the last command line before the lines decides
    two_runs = ("$ dirac-proxy-init --nocs\nGenerating proxy...\nProxy generated:\n"
                "$ dirac-proxy-init -g mu3e.org_user -M\nGenerating proxy...\n" + _UPLOAD)
    assert keys(two_runs) == ["setup-mismatch"]
    # dirac-configure's BundleDelivery line is never the upload step
    assert keys("Could not sync dir Cannot get URL for Framework/BundleDelivery in setup "
                "GridPP: RuntimeError('Option /DIRAC/Setups/GridPP/Framework is not "
                "defined')", ["dirac-proxy-init", "--nocs"]) == ["setup-mismatch"]


def test_unauthorized_query_makes_the_cs_lines_a_refusal():
    refused = ("Can't update from server Error while updating from dips://h:9135/"
               "Configuration/Server: Unauthorized query ( 1111 : Unauthorized query)\n"
               "Cannot contact CS to get user list\n")
    assert keys(refused) == ["cs-refused-dn"]
    assert keys("Cannot contact CS to get user list") == ["cs-unreachable"]
    assert {"NET-009", "NET-006"} <= set(explain.entries(explain.read(refused))[0].check_ids)


def test_peer_closed_makes_the_cs_lines_the_certificate_not_the_ping():
    closed = ("Can't update from server Error while updating from dips://h:9135/"
              "Configuration/Server: Peer closed connection\nReason(s):\n"
              "\tPeer closed connection\nCan't contact DIRAC CS: Reason(s):\n"
              "\tPeer closed connection\n")
    reading = explain.read(closed)
    assert keys(closed) == ["peer-closed"] and not reading.unexplained
    (entry,) = explain.entries(reading)
    assert entry.causes[0].checks == ("NET-003",)
    assert "NET-004" not in entry.check_ids


def test_v9_context_turns_dirac_8_messages_into_the_client():
    v9 = ("Path /Registry/Users does not exist or it's not a section\n"
          "DN /C=CH/CN=Jane is not registered\n\nYour certificate subject (DN) is:\n"
          "If you need help, someone with a working proxy can check your registration by "
          "running:\n")
    assert keys(v9) == ["v9-client", "v9-registry"]
    assert keys("DN /C=CH/CN=Jane is not registered") == ["dn-unregistered"]


def test_tracebacks_frames_are_ordinary_and_the_exception_is_the_message():
    tb = ("Traceback (most recent call last):\n"
          '  File "/opt/dirac/bin/dirac-proxy-info", line 8, in <module>\n'
          "    sys.exit(main())\n             ^^^^^^\n"
          "    invalidProxy(f\"Group {infoDict['group']} is not valid\")\n"
          "KeyError: 'group'\n")
    reading = explain.read(tb)
    assert keys(tb) == ["proxy-no-group"] and not reading.unexplained
    unknown = explain.read(tb.replace("KeyError: 'group'", "KeyError: 'colour'"))
    assert [t for _, t in unknown.unexplained] == ["KeyError: 'colour'"]
    assert explain.verdict(unknown) == NOT_RECOGNISED


def test_ordinary_output_alone_is_harmless():
    info = ("$ dirac-proxy-info\nsubject      : /C=CH/CN=Jane/CN=1\nissuer       : /C=CH/CN=Jane\n"
            "timeleft     : 23:59:58\nDIRAC group  : mu3e.org_user\n")
    reading = explain.read(info)
    assert explain.entries(reading) == [] and explain.verdict(reading) == HARMLESS
    # an expired proxy's zero time left is not ordinary
    assert keys(info.replace("23:59:58", "00:00:00")) == ["cert-expired"]


# ---------------------------------------------------------------------------------- judging

def _results(**outcomes: str) -> dict[str, CheckResult]:
    return {k.replace("_", "-"): CheckResult(
        id=k.replace("_", "-"), title="t", step="s", step_title="s", severity="fail",
        requires=(), outcome=v, message=f"{v} msg", fix="fix-it" if v == "failed" else "",
        skip_kind=SkipKind.SELECTION if v == "skipped" else None)
        for k, v in outcomes.items()}


def test_with_prerequisites_follows_requires():
    ids = explain.with_prerequisites(["NET-002"], ALL)
    assert ids == ["NET-001", "NET-002"]
    assert {"NET-001", "NET-002", "NET-003", "NET-004", "CA-001", "CA-004"} <= set(
        explain.with_prerequisites(["NET-006"], ALL))


def test_judging_confirms_rules_out_and_leaves_undecided():
    reading = explain.read("[Errno 111] Connection refused:ConnectionRefusedError(111, "
                           "'Connection refused')")
    judged = explain.judge(reading, _results(NET_002="failed", CFG_004="passed"))
    assert [(j.cause.checks, j.status) for j in judged] == [
        (("NET-002",), CONFIRMED), (("CFG-004",), RULED_OUT)]
    judged = explain.judge(reading, _results(NET_002="skipped"))
    assert [j.status for j in judged] == [UNDECIDED, UNDECIDED]


def test_the_graph_rank_puts_every_prerequisite_first():
    rank = explain.graph_rank(ALL)
    assert set(rank) == set(ALL)
    for check in ALL.values():
        assert all(rank[req] < rank[check.id] for req in check.requires), check.id


def _causes(text: str, **outcomes: str) -> list[Explained]:
    ex = explain.Explanation(explain.read(text), ran=True)
    ex.judged = explain.judge(ex.reading, _results(**outcomes))
    return [e for e in ex.items(ALL) if e.kind == "cause"]


def test_the_expired_certificate_is_the_root_cause_not_the_expired_proxy():
    """Issue 22: CERT-008 (renew the certificate) is the headline, "your proxy has expired"
    with its dirac-proxy-init, which cannot work, only follows."""
    text = "Proxy /tmp/x509up_u1 has expired\nPEM file has expired"
    causes = _causes(text, PROXY_008="failed", CERT_008="failed", CA_005="passed")
    assert [c.results[0].id for c in causes] == ["CERT-008", "PROXY-008"]
    lines = explain.section_lines(explain.Explanation(explain.read(text)).items(ALL))
    assert lines  # rendering works without any result too


def test_a_failed_check_confirms_before_a_warned_one():
    text = "SSLError('certificate verify failed')"
    causes = _causes(text, NET_003="skipped", CA_004="passed", CA_001="passed",
                     ENV_001="failed", CRL_003="warned", CRL_001="passed")
    assert [c.checks for c in causes] == [("CA-001", "ENV-001"), ("CRL-003", "CRL-001")]


def test_render_confirmed_names_check_and_fix_and_lists_what_nothing_matched():
    text = ("Can't contact DIRAC CS: Reason(s):\n[Errno 111] Connection refused:"
            "ConnectionRefusedError(111, 'Connection refused')\nsomething odd \x1b[31mhere\n")
    ex = explain.Explanation(explain.read(text), ran=True)
    ex.judged = explain.judge(ex.reading, _results(
        NET_001="passed", NET_002="failed", NET_003="skipped", NET_004="skipped",
        CFG_004="passed"))
    rendered = explain.render_text(ex.items(ALL))
    assert "confirmed cause: nothing accepts connections" in rendered
    assert "NET-002 failed" in rendered and "fix-it" in rendered
    assert "ruled out: dirac.cfg points at the wrong Configuration Server" in rendered
    assert "not explained (1 line(s)" in rendered
    assert "something odd \\x1b[31mhere" in rendered and "\x1b" not in rendered


def test_render_none_confirmed_says_what_was_ruled_out():
    ex = explain.Explanation(explain.read("No CRL files found for /x/*.r0"), ran=True,
                             offline=True)
    ex.judged = explain.judge(ex.reading, _results(CRL_001="passed", CRL_003="passed"))
    rendered = explain.render_text(ex.items(ALL))
    assert "none confirmed" in rendered and "--mu3e-offline" in rendered
    assert "ruled out: CAs are installed but their CRLs were never fetched" in rendered


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
    rendered = explain.render_text(explain.Explanation(
        explain.read("weird \x1b[31mfailure\n")).items(ALL))
    assert "not recognised" in rendered and "weird" in rendered and "\x1b" not in rendered


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


# ----------------------------------------------------------------------------------- bounds

def _no_run(args):
    raise AssertionError(f"checks were run: {args}")


def test_help_names_the_size_it_reads(capsys):
    assert explain.main(["--help"], _no_run) == 0
    out = capsys.readouterr().out
    assert "mu3e-checks explain" in out and str(explain.MAX_TEXT) in out


def test_a_file_larger_than_the_bound_is_refused_unread(tmp_path, capsys):
    big = tmp_path / "huge.log"
    big.write_text("No CFG file loaded, was that intentional?\n" * 30000)
    assert big.stat().st_size > explain.MAX_TEXT
    assert explain.main(["--file", str(big)], _no_run) == 2
    assert "at most" in capsys.readouterr().err


def test_stdin_is_read_up_to_the_bound_and_no_further(monkeypatch, capsys):
    class Endless(io.RawIOBase):  # /dev/zero-like: whoever reads it all never ends
        served = 0

        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"x" * len(b)
            Endless.served += len(b)
            return len(b)

    stream = io.TextIOWrapper(io.BufferedReader(Endless()))
    monkeypatch.setattr("sys.stdin", stream)
    assert explain.main([], _no_run) == 2
    assert "at most" in capsys.readouterr().err
    assert Endless.served <= explain.MAX_TEXT + 64 * 1024


def test_a_huge_command_output_is_explained_by_its_end(capsys):
    line = "realpath: '': No such file or directory\n"
    out = line * (explain.MAX_TEXT // len(line) + 1000)
    assert explain.main(["--", "x"], _no_run, lambda argv: (0, out)) == 0
    assert "only the last 1 MiB" in capsys.readouterr().out


# ------------------------------------------------------------------- the reports' section

def _model_result(cid: str, outcome: str, fix: str = ""):
    return CheckResult(id=cid, title=f"title of {cid}", step="cs", step_title="cs",
                       severity="fail", requires=(), outcome=outcome,
                       message=f"{cid} says {outcome}", fix=fix)


def test_reports_get_the_section_as_data_judged_from_the_runs_own_results():
    text = ("[Errno 111] Connection refused:ConnectionRefusedError(111, 'Connection refused')"
            "\nDN /CN=Jane Physicist is not registered\nJane's own odd line")
    plugin = explain.ReportPlugin(explain.read(text), offline=False)

    d = Diagnosis((_model_result("NET-001", "passed"),
                   _model_result("NET-002", "failed", fix="timeout 10 bash -c 'x'"),
                   _model_result("CFG-004", "passed")),
                  started=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    assert attach_sections(hooks.relay(), d) is d  # an ordinary run: no section
    got = attach_sections(hooks.relay(object(), plugin), d)
    assert got.explained == plugin.items
    data = json.loads(render_json.dumps(got))
    assert render_json.shape_errors(render_json.SHAPE, data) == []
    assert "explained" not in json.loads(render_json.dumps(d))
    section = data["explained"]
    assert section["verdict"] == HARMFUL
    assert [e["id"] for e in section["entries"]] == ["cs-refused", "dn-unregistered"]
    assert section["entries"][0]["harmful"] is True
    (cause,) = section["causes"]
    assert cause["cause"].startswith("nothing accepts connections")
    assert cause["checks"] == [{"id": "NET-002", "outcome": "failed",
                                "message": "NET-002 says failed",
                                "fix": "timeout 10 bash -c 'x'"}]
    assert {"cause": "dirac.cfg points at the wrong Configuration Server",
            "checks": ["CFG-004"]} in section["ruled_out"]
    assert section["not_explained"] == ["Jane's own odd line"]
    assert section["not_explained_count"] == 1
    page = "".join(html.html_summary(got))
    assert page.index('id="mu3e-explained"') < page.index("Guide chapters")
    assert "Error explained" in page and "NET-002 failed" in page
    assert "not explained (1 line(s)" in page and "Jane&#x27;s own odd line" in page
    # the terminal prints the very lines the HTML shows
    assert explain.section_lines(plugin.items) == explain.section_lines(got.explained)
    # redaction reaches every line and result of the section
    redacted = got.map_text(lambda t: t.replace("Jane", "[user]"))
    assert "Jane" not in json.dumps(render_json.build(redacted)["explained"])


def test_key_material_in_pasted_text_is_never_shown(grid):
    key = grid.user.key_pem().decode()
    ex = explain.Explanation(explain.read(explain.scrub_secrets(
        f"voms-proxy-init failed with\n{key}the end\n")))
    rendered = explain.render_text(ex.items(ALL))
    body = [ln for ln in key.splitlines() if "-----" not in ln]
    assert "the end" in rendered and not any(ln in rendered for ln in body)

