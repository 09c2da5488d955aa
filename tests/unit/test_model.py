"""The pure diagnosis model: chapters, verdict, fixes in order, coverage, text mapping."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

from mu3e_checks.facts import Facts, Located, Paths, Proxy
from mu3e_checks.model import CheckResult, Coverage, Diagnosis, SkipKind

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)


def r(cid: str, step: str, outcome: str, *, fix: str = "", message: str = "",
      warnings: tuple[str, ...] = ()) -> CheckResult:
    return CheckResult(id=cid, title=f"title of {cid}", step=step, step_title=step,
                       severity="fail", requires=(), outcome=outcome, message=message,
                       warnings=warnings, fix=fix,
                       skip_kind=SkipKind.SELECTION if outcome == "skipped" else None)


def test_chapters_follow_the_guide_and_say_what_happened():
    d = Diagnosis((r("CERT-001", "certificate", "passed"), r("CA-001", "cas", "failed"),
                   r("CA-002", "cas", "skipped")), started=T0)
    chapters = {c.key: c for c in d.chapters()}
    assert list(chapters)[0] == "certificate"
    assert chapters["certificate"].status == "ok"
    assert chapters["cas"].status == "failed" and chapters["cas"].counts() == \
        "1 failed, 1 skipped"
    assert chapters["cs"].status == "not checked"


def test_verdict_names_the_first_failure_in_guide_order():
    d = Diagnosis((r("CERT-003", "certificate", "failed"), r("CA-004", "cas", "error")),
                  started=T0)
    assert not d.ready
    assert d.verdict() == ("NOT READY: 2 check(s) failed; start with CERT-003 "
                           "(title of CERT-003).")


def test_strict_mode_turns_warnings_into_not_ready():
    results = (r("CERT-008", "certificate", "warned", warnings=("expires soon",)),)
    assert Diagnosis(results, started=T0).ready
    strict = Diagnosis(results, started=T0, strict=True)
    assert not strict.ready and strict.verdict().startswith("NOT READY (strict)")


def test_an_offline_ready_says_what_it_did_not_check():
    d = Diagnosis((r("CERT-001", "certificate", "passed"),), started=T0,
                  coverage=Coverage(offline=True))
    v = d.verdict()
    assert v.startswith("READY offline") and "Configuration Server was not contacted" in v
    assert "follows the guide" not in v


def test_a_full_run_without_gaps_is_plainly_ready():
    from mu3e_checks.registry import GUIDE_STEPS

    d = Diagnosis(tuple(r(f"X-{n:03d}", key, "passed") for n, (key, _) in
                        enumerate(GUIDE_STEPS)), started=T0)
    assert d.verdict() == "READY: every check that ran passed."


def test_fixes_in_order_once_each():
    d = Diagnosis((r("CERT-003", "certificate", "failed", fix="chmod 600 k"),
                   r("PROXY-002", "local-proxy", "failed", fix="chmod 600 k"),
                   r("CA-004", "cas", "warned", fix="fetch-crl")), started=T0)
    assert d.fixes_in_order() == [("CERT-003", "chmod 600 k"), ("CA-004", "fetch-crl")]


def test_map_text_reaches_free_text_but_not_ids_or_keys():
    facts = Facts(paths=Paths(home=Path("/secret"), globus=Path("/secret/.globus"),
                              diracos=Located(Path("/secret/d"), "guide default")),
                  proxy=Proxy(Located(Path("/tmp/x509up_u1000"), "default", True)),
                  cs_clock_skew=1.5)
    d = Diagnosis((r("CERT-001", "certificate", "failed", fix="f secret", message="m secret"),),
                  started=T0, host="secret", facts=facts)
    m = d.map_text(lambda s: s.replace("secret", "X"))
    assert m.results[0].message == "m X" and m.results[0].fix == "f X"
    assert m.results[0].id == "CERT-001" and m.facts.paths.home == Path("/X")
    assert m.facts.paths.diracos == Located(Path("/X/d"), "guide default")
    assert m.facts.cs_clock_skew == 1.5 and m.host == "X"


def test_a_fix_is_redacted_in_its_values_before_it_is_quoted():
    """A home ``/home/o'brien`` is ``'/home/o'"'"'brien/...'`` once quoted: no pattern for the
    home matches that text, so the value is replaced first, then quoted."""
    from mu3e_checks import commands

    home = "/home/o'brien"
    result = r("CERT-003", "certificate", "failed")
    remedy = commands.chmod("600", Path(home) / ".globus" / "userkey.pem")
    result = replace(result, remedy=remedy, fix=remedy.render())
    assert result.fix == "chmod 600 '/home/o'\"'\"'brien/.globus/userkey.pem'"
    shown = result.map_text(lambda s: s.replace(home, "[home]"))
    assert shown.fix == "chmod 600 '[home]/.globus/userkey.pem'"
    assert "brien" not in shown.fix and shown.remedy is not None


def test_the_model_imports_no_pytest():
    import subprocess

    code = ("import sys, mu3e_checks.model, mu3e_checks.facts, mu3e_checks.render.json, "
            "mu3e_checks.render.html, mu3e_checks.render.terminal, mu3e_checks.render.junit, "
            "mu3e_checks.render.environment, mu3e_checks.redact; "
            "print('pytest' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
