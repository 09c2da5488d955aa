"""The ProxyManager's answer to getUserProxiesInfo, read and judged as plain functions."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net import proxymgr as proxymgr_advice
from mu3e_checks.knowledge.net import proxymgr
from mu3e_checks.knowledge.net.dencode import decode
from mu3e_checks.knowledge.net.diset import unwrap
from mu3e_checks.knowledge.net.proxymgr import (
    ProxiesInfoError,
    StoredProxy,
    UploadLevel,
    UploadProblem,
    judge_upload,
    read_proxies_info,
)

#: The answer a DIRAC 8.0.74 ProxyManager sends for getUserProxiesInfo, as DEncode bytes:
#: made by DIRAC 8.0.74's own DEncode.encode from S_OK({DN: {"": naive UTC datetime}}), the
#: shape ProxyManagerHandler returns (tests/peers/test_dirac_proxymgr.py asks a live one).
REAL_ANSWER = Path(__file__).parent / "data" / "getUserProxiesInfo_8.0.74.dencode"
ULLA = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Ulla Uploaded"
GROUP = "mu3e.org_user"
ADVICE = Advice(setup="GridPP", cs_url="dips://cs.mu3e.test:9135/Configuration/Server",
                group=GROUP)
URL = "dips://pm.mu3e.test:9152/Framework/ProxyManager"
UTC = dt.timezone.utc
NOW = dt.datetime(2027, 11, 25, 15, 9, 12, tzinfo=UTC)


def test_reads_the_real_v8_answer_as_utc():
    value = unwrap(decode(REAL_ANSWER.read_bytes()), "result")
    stored = read_proxies_info(value)
    assert stored == [StoredProxy(ULLA, "", dt.datetime(2027, 11, 26, 15, 9, 12, tzinfo=UTC))]
    verdict = judge_upload(stored, ULLA, GROUP, NOW, 24)
    assert verdict.level is UploadLevel.OK and verdict.hours_left == pytest.approx(24.0)


def test_reads_the_v9_shape_and_several_groups():
    when = dt.datetime(2030, 1, 1)
    assert read_proxies_info({ULLA: when}) == [StoredProxy(ULLA, "", when.replace(tzinfo=UTC))]
    both = read_proxies_info({ULLA: {"gridpp_user": when, GROUP: when}})
    assert sorted(p.group for p in both) == ["gridpp_user", GROUP]
    assert read_proxies_info({}) == []


@pytest.mark.parametrize("value,words", [
    ([ULLA], "returned list, not a dict"),
    ({ULLA: {"": "tomorrow"}}, "is str, not a date"),
    ({1: {"": dt.datetime(2030, 1, 1)}}, "is int, not text"),
    # The v8 handler wraps its own lookup's S_ERROR in the S_OK it answers with.
    ({"OK": False, "Message": "No username"}, "could not list your proxies: No username"),
])
def test_unreadable_answers_are_named(value, words):
    with pytest.raises(ProxiesInfoError, match=words):
        read_proxies_info(value)


def stored(hours: float, dn: str = ULLA, group: str = "") -> StoredProxy:
    return StoredProxy(dn, group, NOW + dt.timedelta(hours=hours))


@pytest.mark.parametrize("proxies,level,problem", [
    ([], UploadLevel.FAIL, UploadProblem.NONE),
    ([stored(500, dn="/CN=Someone Else")], UploadLevel.FAIL, UploadProblem.NONE),
    ([stored(500, group="gridpp_user")], UploadLevel.FAIL, UploadProblem.OTHER_GROUP),
    ([stored(-1)], UploadLevel.FAIL, UploadProblem.EXPIRED),
    ([stored(5)], UploadLevel.WARN, UploadProblem.SHORT),
    ([stored(5), stored(500, group=GROUP)], UploadLevel.OK, None),
    ([stored(25)], UploadLevel.OK, None),
])
def test_judge_upload(proxies, level, problem):
    verdict = judge_upload(proxies, ULLA, GROUP, NOW, 24)
    assert (verdict.level, verdict.problem) == (level, problem)


def test_threshold_comes_from_the_caller():
    assert judge_upload([stored(100)], ULLA, GROUP, NOW, 24).ok
    assert judge_upload([stored(100)], ULLA, GROUP, NOW, 200).level is UploadLevel.WARN


def test_no_upload_fix_is_the_strict_proxy_init():
    verdict = judge_upload([], ULLA, GROUP, NOW, 24)
    message, fix = proxymgr_advice.explain(verdict, ULLA, URL, ADVICE, 24)
    assert "holds no proxy for your DN " + ULLA in message and "Can not download proxy" in message
    assert fix.render() == f"dirac-proxy-init -g {GROUP} -M -t"


def test_short_upload_warns_with_hours_and_renewal_advice():
    verdict = judge_upload([stored(5)], ULLA, GROUP, NOW, 24)
    message, fix = proxymgr_advice.explain(verdict, ULLA, URL, ADVICE, 24)
    assert "in 5.0 h (less than --mu3e-upload-warn-hours 24 h)" in message
    lines = fix.render().splitlines()
    assert lines[0] == f"dirac-proxy-init -g {GROUP} -M -t" and lines[1].startswith("# ")


def test_refusal_is_told_apart_by_the_proxy_group():
    _, fix = proxymgr_advice.explain_refusal("gridpp_user", ULLA, URL, ADVICE, "Unauthorized query")
    assert fix.render() == f"dirac-proxy-init -g {GROUP} -M -t"
    # The CS accepted this proxy for the expected group before the ProxyManager was asked.
    message, fix = proxymgr_advice.explain_refusal(GROUP, ULLA, URL, ADVICE, "Unauthorized query")
    assert "Unauthorized query" in message and "computing contacts" in message
    assert fix.render().splitlines() == [
        f"# tell the Mu3e computing contacts: the ProxyManager {URL} refuses a DN the "
        f"Configuration Server knows in group {GROUP}:", f"# {ULLA}"]


def test_a_hostile_dn_stays_a_comment():
    dn = "/CN=x\n$(touch /tmp/pwned)"
    _, fix = proxymgr_advice.explain_refusal(GROUP, dn, URL, ADVICE, "Unauthorized query")
    text = fix.render()
    assert all(line.startswith("#") for line in text.splitlines())
    proc = subprocess.run(["bash", "-n", "-c", text], capture_output=True)
    assert proc.returncode == 0


@pytest.mark.parametrize("url,scheme", [
    (URL, "dips"), ("https://pm.mu3e.test:8443/Framework/ProxyManager", "https"),
    ("HTTPS://x/y", "https"), ("not a url", ""), ("http://[::1", "")])
def test_scheme(url, scheme):
    assert proxymgr.scheme(url) == scheme


def test_ask_names_the_layer_a_proxymanager_breaks_at(net_world, loopback_only):
    """Each way the ProxyManager cannot be asked is a message naming it, with its layer's fix;
    and a server that is not a ProxyManager (here: a TLS server that never answers DISET) is a
    failure too, never an empty list of proxies that would read as 'nothing uploaded'."""
    from mu3e_checks.knowledge.net.probe import CsProbe
    from tests.support.diset_server import StallServer, closed_port

    advice = Advice(setup="GridPP", cs_url="dips://cs.mu3e.test:9135/Configuration/Server",
                    group="mu3e.org_user")

    def ask(url: str) -> proxymgr_advice.Answer:
        probe = CsProbe(url, timeout=1.0, capath=net_world.trust, proxy=net_world.proxy,
                        hosts_path=Path("/etc/hosts"), setup="GridPP", vo="unknown")
        return proxymgr_advice.ask(probe, advice, "mu3e.org_user", "/C=CH/CN=Jane")

    refused = ask(f"dips://127.0.0.1:{closed_port()}/Framework/ProxyManager")
    assert refused.problem.startswith("ProxyManager: ") and "refused" in refused.problem
    assert refused.stored == () and refused.fix is not None
    bad = ask("http://pm.mu3e.test/Framework/ProxyManager")
    assert bad.problem.startswith("the ProxyManager URL the Configuration Server names is "
                                  "unusable")
    with StallServer() as stall:
        stalled = ask(f"dips://127.0.0.1:{stall.port}/Framework/ProxyManager")
    assert stalled.problem.startswith("ProxyManager: ") and stalled.at is None
