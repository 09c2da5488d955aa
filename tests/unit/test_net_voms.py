"""knowledge/net/voms.py: the VO's VOMS servers from vomses and .lsc, probed on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net import voms as voms_advice
from mu3e_checks.knowledge.net import voms as v
from mu3e_checks.knowledge.net.servers import summary
from mu3e_checks.knowledge.net.tls import ClientCredential, ServerCert
from mu3e_checks.knowledge.voms_env import parse_vomses
from tests.support.diset_server import StallServer, closed_port
from tests.support.voms_standin import VomsStandIn, vomses_line, write_lsc

DN = "/C=UK/O=eScience/OU=Manchester/L=HEP/CN=voms.gridpp.ac.uk"
CA = "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B"
ADVICE = Advice(setup="GridPP", cs_url="dips://cs.example:9135/Configuration/Server",
                group="mu3e.org_user")


def entries(tmp_path: Path, *lines: str):
    f = tmp_path / "vomses"
    f.write_text("".join(lines))
    return parse_vomses(f.read_text(), f)[0]


def test_targets_take_the_vo_lines_once_and_read_the_lsc(tmp_path):
    vomsdir = tmp_path / "vomsdir"
    write_lsc(vomsdir, "voms.gridpp.ac.uk", DN, CA)
    found = v.targets(entries(tmp_path, vomses_line("voms.gridpp.ac.uk", 15027, DN),
                              vomses_line("voms.gridpp.ac.uk", 15027, DN),
                              vomses_line("voms.other.org", 15000, DN, vo="other.org"),
                              vomses_line("voms02.gridpp.ac.uk", 15027, DN)),
                      "mu3e.org", vomsdir, cs_servers=[("voms03.gridpp.ac.uk", 15027, DN),
                                                       ("VOMS.gridpp.ac.uk", "", DN)])
    assert [(t.host, t.port) for t in found] == [
        ("voms.gridpp.ac.uk", 15027), ("voms02.gridpp.ac.uk", 15027),
        ("voms03.gridpp.ac.uk", 15027)]
    assert found[0].lsc_dn == DN and found[0].where.endswith("vomses, line 1")
    assert found[1].lsc_dn == "" and "voms02.gridpp.ac.uk.lsc" in found[1].lsc_problem
    assert found[2].where == "the Configuration Server" and found[2].vomses_dn == ""


def test_lsc_first_line_must_be_a_dn(tmp_path):
    bad = tmp_path / "x.lsc"
    bad.write_text("\n\nnot a dn\n")
    assert v.read_lsc(bad)[0] == "" and "not a DN" in v.read_lsc(bad)[1]
    bad.write_text("")
    assert "empty" in v.read_lsc(bad)[1]


def test_same_dn_ignores_the_email_spelling():
    assert v.same_dn("/C=UK/CN=a/emailAddress=x@y", "/C=UK/CN=a/Email=x@y")
    assert not v.same_dn("/C=UK/CN=a", "/C=UK/CN=b")
    assert not v.same_dn("", "")


def _verdict(layer, *, lsc_dn=DN, vomses_dn=DN, subject=DN, lsc=Path("/v/h.lsc")):
    import datetime as dt

    t = v.VomsTarget("h", 15000, vomses_dn, "vomses, line 1", lsc, lsc_dn)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    server = ServerCert(subject, CA, now, now, ())
    return v.VomsVerdict(t, layer, detail="m", server=server if layer is v.Layer.OK else None)


def test_summary_and_dn_findings():
    ok, dead = _verdict(v.Layer.OK), _verdict(v.Layer.TCP)
    assert summary([ok, ok]) == ("ok", [])
    assert summary([ok, dead]) == ("warn", [dead])
    assert summary([dead])[0] == "fail" and summary([])[0] == "fail"
    report = v.dn_findings([ok, dead])
    assert report.matching == [ok.target] and not report.mismatches
    moved = _verdict(v.Layer.OK, subject="/C=UK/CN=new-voms")
    report = v.dn_findings([moved])
    assert {f.source for f in report.mismatches} == {"vomses", "lsc"}
    message, fix = voms_advice.explain_mismatch(report.mismatches[1], "mu3e.org", ADVICE)
    assert "/v/h.lsc says " + DN in message and "/C=UK/CN=new-voms" in message
    text = fix.render()
    assert text.startswith("dirac-configure -F -S GridPP -C dips://cs.example:9135/")
    assert "printf '%s\\n%s\\n' /C=UK/CN=new-voms " in text and "> /v/h.lsc" in text
    missing = v.dn_findings([_verdict(v.Layer.OK, lsc_dn="")])
    assert missing.no_lsc and missing.matching


def test_none_answering_says_it_is_the_network_not_membership():
    message, fix = voms_advice.explain_none([_verdict(v.Layer.TCP)], "mu3e.org")
    assert "Are you sure you are properly registered in the VO?" in message
    assert "NETWORK problem, not a membership one" in message
    assert "network admin" in fix.render()


@pytest.fixture
def probe(net_world):
    from mu3e_checks.knowledge.net.tls import proxy_credential

    return v.Probe(timeout=1.5, capath=net_world.trust,
                   credential=proxy_credential(net_world.proxy))


def test_probe_up_refused_stall_and_wrong_ca(net_world, probe):
    good = net_world.localhost
    with VomsStandIn(good, net_world.client_cas) as up, StallServer() as stall, \
            VomsStandIn(net_world.rogue) as rogue:
        found = [v.VomsTarget("localhost", up.port), v.VomsTarget("127.0.0.1", closed_port()),
                 v.VomsTarget("localhost", stall.port), v.VomsTarget("localhost", rogue.port)]
        start = time.monotonic()
        verdicts, skipped = v.survey(found, probe)
        took = time.monotonic() - start
    assert not skipped
    assert [x.layer for x in verdicts] == [v.Layer.OK, v.Layer.TCP, v.Layer.TLS,
                                           v.Layer.TLS]
    assert verdicts[0].server.subject.endswith("CN=localhost")
    message, fix = voms_advice.message, voms_advice.explained
    assert "connection refused" in message(verdicts[1])
    assert "did not finish within 1.5 s" in message(verdicts[2])
    assert "Rogue Interception CA" in message(verdicts[3])
    assert "openssl s_client -connect localhost:" in fix(verdicts[2])[1].render()
    assert took < 4, took  # probed at the same time: one timeout, not one per server


def test_probe_without_proxy_still_verifies_the_server(net_world):
    probe = v.Probe(timeout=1.5, capath=net_world.trust,
                    credential=ClientCredential(None, False, "no proxy file"))
    with VomsStandIn(net_world.localhost) as up:
        got = v.probe_server(v.VomsTarget("localhost", up.port), probe)
    assert got.answers and got.server is not None


def test_unknown_server_ca_gets_the_network_chapters_explanation(net_world):
    from dataclasses import replace

    from mu3e_checks.knowledge.net.tls import proxy_credential

    probe = v.Probe(timeout=1.5, capath=net_world.trust,
                    credential=proxy_credential(net_world.proxy))
    advice = replace(ADVICE, trust_dir=net_world.trust)
    with VomsStandIn(net_world.rogue) as rogue:
        got = v.probe_server(v.VomsTarget("localhost", rogue.port), probe)
    assert got.layer is v.Layer.TLS
    message, fix = voms_advice.explained(got, advice)
    assert f"localhost:{rogue.port}: the server's certificate" in message
    assert "Rogue Interception CA" in message and str(net_world.trust) in message
    assert fix and "openssl s_client" not in fix.render()
