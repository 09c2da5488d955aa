"""The server's view, as plain functions: the survey of all listed servers, the version
compatibility table and the Registry reader."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net import registry as registry_advice
from mu3e_checks.advice.net import servers as servers_advice
from mu3e_checks.knowledge.net import registry
from mu3e_checks.knowledge.net.compat import RULES, Level, judge, parse_version
from mu3e_checks.knowledge.net.dencode import decode, encode
from mu3e_checks.knowledge.net.diset import DisetError, DisetErrorKind
from mu3e_checks.knowledge.net.probe import CsProbe
from mu3e_checks.knowledge.net.servers import Layer, ServerSurvey, summary
from tests.support.diset_server import BlackholePort, StallServer, closed_port

ADVICE = Advice(setup="GridPP", cs_url="dips://cs.mu3e.test:9135/Configuration/Server",
                group="mu3e.org_user")


def _survey(urls, net_world, timeout=1.0):
    def make(url: str) -> CsProbe:
        return CsProbe(url, timeout=timeout, capath=net_world.trust, proxy=net_world.proxy,
                       hosts_path=Path("/etc/hosts"), setup="GridPP", vo="unknown")
    return ServerSurvey(urls, make)


def test_dead_servers_cost_about_one_timeout(net_world, loopback_only):
    with StallServer() as stall, BlackholePort() as hole:
        urls = [f"dips://127.0.0.1:{closed_port()}/Configuration/Server",
                f"dips://127.0.0.1:{hole.port}/Configuration/Server",
                f"dips://127.0.0.1:{stall.port}/Configuration/Server",
                f"dips://localhost:{stall.port}/Configuration/Server",
                "http://not-dips/Configuration/Server"]
        start = time.monotonic()
        verdicts = _survey(urls, net_world).verdicts()
        took = time.monotonic() - start
    assert [v.layer for v in verdicts] == [Layer.TCP, Layer.TCP, Layer.TLS, Layer.TLS,
                                            Layer.URL]
    assert "connection refused" in servers_advice.message(verdicts[0], ADVICE)
    assert took < 2.5, took  # five dead servers, one 1 s timeout (plus slack), not five
    assert summary(verdicts) == ("fail", verdicts)


def test_survey_keeps_order_dedups_and_answers(net_world, loopback_only):
    with net_world.diset(net_world.localhost) as server:
        good = f"dips://localhost:{server.port}/Configuration/Server"
        dead = f"dips://localhost:{closed_port()}/Configuration/Server"
        survey = _survey([dead, good, dead], net_world, timeout=3.0)
        verdicts = survey.verdicts()
        assert survey.probe_for(good) is survey.probes[good]
    assert [v.url for v in verdicts] == [dead, good]
    assert verdicts[1].answers and verdicts[1].version == "v8r0p74-test"
    level, dead_ones = summary(verdicts)
    assert level == "warn" and [v.url for v in dead_ones] == [dead]
    def line(verdict):
        return servers_advice.line(verdict, servers_advice.message(verdict, ADVICE))

    assert "answers" in line(verdicts[1]) and "dead at TCP" in line(verdicts[0])


@pytest.mark.parametrize("dead_first", ["refused", "stalled"])
def test_the_first_server_that_works_is_judged(net_world, loopback_only, dead_first):
    # DIRAC falls over to the next listed server: the checks judge the first that passes every
    # layer, waiting only for the ones listed before it (probed at the same time).
    with StallServer() as stall, net_world.diset(net_world.localhost) as server:
        dead = (f"dips://localhost:{closed_port()}/Configuration/Server"
                if dead_first == "refused" else
                f"dips://localhost:{stall.port}/Configuration/Server")
        good = f"dips://localhost:{server.port}/Configuration/Server"
        start = time.monotonic()
        serving = _survey([dead, dead.replace("localhost", "127.0.0.1"), good], net_world,
                          timeout=1.0).serving()
        took = time.monotonic() - start
    assert serving.works and serving.probe.url == good
    assert [v.url for v in serving.verdicts][-1] == good and len(serving.verdicts) == 3
    assert took < 2.5, took  # about one timeout, however many dead ones come first


def test_when_none_works_the_furthest_stands_for_all(net_world, loopback_only):
    with StallServer() as stall:
        urls = [f"dips://127.0.0.1:{closed_port()}/Configuration/Server",
                "http://not-dips/Configuration/Server",
                f"dips://localhost:{stall.port}/Configuration/Server",
                f"dips://127.0.0.1:{stall.port}/Configuration/Server"]
        serving = _survey(urls, net_world).serving()
    assert not serving.works
    assert serving.probe.url == urls[2] and serving.verdict.layer is Layer.TLS  # first furthest
    assert [v.layer for v in serving.verdicts] == [Layer.TCP, Layer.URL, Layer.TLS, Layer.TLS]
    text = servers_advice.reached(serving, ADVICE)
    assert text.startswith("none of the 4 listed Configuration Servers passes every layer")
    assert f"{urls[0]} (dead at TCP" in text and f"{urls[1]} (dead at URL" in text
    assert text.count("dead at TLS") == 2


def test_no_url_at_all_is_judged_as_an_unusable_url(net_world):
    serving = _survey([""], net_world).serving()
    assert not serving.works and serving.verdict.layer is Layer.URL


def test_layers_are_ranked_bottom_up():
    assert [layer.rank for layer in Layer] == list(range(len(Layer)))
    assert Layer.URL.rank < Layer.DNS.rank < Layer.TLS.rank < Layer.OK.rank


def test_summary_without_servers_fails():
    assert summary([]) == ("fail", [])


@pytest.mark.parametrize("n", [40])
def test_survey_is_bounded(net_world, n):
    urls = [f"bad-{i}://x" for i in range(n)]
    survey = _survey(urls, net_world)
    assert len(survey.urls) == 32 and len(survey.skipped) == n - 32
    assert all(v.layer is Layer.URL for v in survey.verdicts())


# ------------------------------------------------------------------ compatibility table

@pytest.mark.parametrize("client, server, level, words", [
    ("8.0.74", "8.0.74", Level.OK, "same major.minor"),
    ("8.0.74", "v8r0p74-test", Level.OK, "same major.minor"),  # DIRAC's old spelling
    ("8.0.74", "8.0.86", Level.OK, "same major.minor"),
    ("8.0.74", "8.1.3", Level.WARN, "illegal zero content"),
    ("8.1.0", "v8r0p74", Level.WARN, "DIRAC#7306"),
    ("9.1.22", "8.0.74", Level.FAIL, "No diracx token"),
    ("8.0.74", "9.0.0a12", Level.FAIL, "ignores /DIRAC/Setup"),
    ("7.3.40", "8.0.74", Level.FAIL, "Setups/GridPP/Framework is not defined"),
    ("8.0.74", "7.3.40", Level.FAIL, "different major"),
    ("10.2.1", "10.3.0", Level.WARN, "other minor"),
    ("8.0.74", "unknown", Level.WARN, "server's DIRAC version is not a version"),
])
def test_compatibility_table(client, server, level, words):
    verdict = judge(client, server)
    assert verdict.level is level, verdict
    assert words in verdict.why


def test_known_bad_pairs_come_before_the_general_rule():
    # The specific rows name the symptom users see; the general rows come last.
    assert RULES[0].client_major == 9 and RULES[-1].client_major is None
    assert parse_version("v8r0p74").release == "8.0.74"
    assert parse_version("garbage") is None


# ------------------------------------------------------------------ the Registry reader

#: What a real DIRAC 8.0.74 Configuration Server returned for getCompressedData (decompressed),
#: captured from tests/support/dirac_cs.py's server with the Registry of tests/peers.
REAL_CS_CFG = Path(__file__).parent / "data" / "real_cs_8.0.74.cfg"
JANE = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
DAVE = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Dave Registered"


def _as_sent() -> object:
    """The RPC value as our DISET client decodes it: zlib level 9, DEncode raw string."""
    import zlib

    wire = encode(zlib.compress(REAL_CS_CFG.read_bytes(), 9))
    return decode(wire)


def test_registry_reader_on_the_real_servers_output():
    reg = registry.read_registry(registry.parse_cs_data(_as_sent()))
    assert reg.nicks_for(JANE) == ["jane"] and reg.nicks_for(DAVE) == ["dave"]
    assert reg.nicks_for(JANE.upper()) == []  # DIRAC compares DNs as exact strings
    g = reg.groups["mu3e.org_user"]
    assert g.users == ("jane", "dave")  # written back by the server as 'Users +=' lines
    assert (g.voms_role, g.voms_vo) == ("/mu3e.org", "mu3e.org")
    assert reg.groups["gridpp_user"].voms_role is None
    assert reg.groups_of("dave") == ["mu3e.org_user", "gridpp_user"]
    assert reg.default_group == "mu3e.org_user"
    vo = reg.vos["mu3e.org"]
    assert vo.voms_name == "mu3e.org"
    assert [(s.host, s.port) for s in vo.servers] == [("voms.mu3e.test", "15030"),
                                                      ("voms2.mu3e.test", "15030")]
    assert vo.servers[0].dn == "/C=CH/O=Mu3e Test Grid/CN=voms.mu3e.test"


def test_cs_data_that_is_not_configuration_is_named():
    import zlib

    with pytest.raises(registry.CsDataError, match="not zlib"):
        registry.parse_cs_data("plain text")
    with pytest.raises(registry.CsDataError, match="not data"):
        registry.parse_cs_data(42)
    bomb = zlib.compress(b"A" * (registry.MAX_CFG + 10), 9)
    with pytest.raises(registry.CsDataError, match="inflates to more than") as info:
        registry.decompress(bomb)
    assert info.value.problem is registry.CsDataProblem.TOO_BIG
    with pytest.raises(registry.CsDataError, match="cut short"):
        registry.decompress(zlib.compress(b"Registry\n{\n}\n" * 100, 9)[:-6])
    with pytest.raises(registry.CsDataError, match="does not parse"):
        registry.parse_cs_data(zlib.compress(b"Registry\n{\n  Users\n  {\n", 9))
    assert registry.read_registry(registry.parse_cs_data(zlib.compress(b"", 9))).users == {}


def test_cs_data_is_capped_like_a_local_dirac_cfg():
    from mu3e_checks.knowledge import dirac_cfg
    from mu3e_checks.knowledge.net import diset

    # One cap: the inflated configuration, and every DISET answer as sent.
    assert registry.MAX_CFG == dirac_cfg.MAX_CFG_BYTES == diset.MAX_MESSAGE


def test_a_cs_data_bomb_stops_at_the_cap_in_memory_and_time():
    import tracemalloc
    import zlib

    # The bomb: a few hundred KiB that inflate to 63 MiB of configuration.
    bomb = zlib.compress(b"Registry\n{\n" + b"  A = 1\n" * (63 * (1 << 20) // 8), 9)
    assert len(bomb) < 480 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(registry.CsDataError) as info:
            registry.parse_cs_data(decode(encode(bomb)))  # as our DISET client gets it
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.problem is registry.CsDataProblem.TOO_BIG
    assert peak < 4 * registry.MAX_CFG + len(bomb) * 3  # never the 63 MiB it inflates to


def _registry_text(users: int) -> bytes:
    lines = ["Registry", "{", "  Users", "  {"]
    for i in range(users):
        lines += [f"    user{i}", "    {", f"      DN = /C=UK/O=eScience/CN=User {i}", "    }"]
    lines += ["  }", "  Groups", "  {", "    mu3e.org_user", "    {",
              "      Users = " + ", ".join(f"user{i}" for i in range(0, users, 97)),
              "    }", "  }", "}"]
    return "\n".join(lines).encode()


def test_a_real_sized_registry_parses_though_a_local_cfg_could_not_hold_it():
    import zlib

    # A server's Registry lists every user: far more entries than a local dirac.cfg section
    # may hold (256), which would make the Registry checks fail on any big VO's server.
    reg = registry.read_registry(registry.parse_cs_data(zlib.compress(_registry_text(3000))))
    assert len(reg.users) == 3000 and reg.nicks_for("/C=UK/O=eScience/CN=User 2999") == \
        ["user2999"]


def test_a_section_costing_minutes_to_parse_is_refused_before_diraccfg_starts():
    import zlib

    # Under the size cap, but one section of 160,000 names: diraccfg would compare names for
    # minutes (n²/2); the linear pre-scan refuses it, at the line where the cost passes the
    # bound (about a second of diraccfg's time).
    text = b"A\n{\n" + b"".join(b"o%d=1\n" % i for i in range(160_000)) + b"}\n"
    assert len(text) < registry.MAX_CFG
    with pytest.raises(registry.CsDataError, match="comparing their names") as info:
        registry.parse_cs_data(zlib.compress(text))
    assert info.value.problem is registry.CsDataProblem.NOT_CFG
    assert "line 11587:" in str(info.value)  # where n²/2 passes the bound: nothing parsed


@pytest.mark.parametrize("proxy_group, problem, words", [
    (None, registry.RegistryProblem.REFUSED_NO_GROUP, "carries no DIRAC group"),
    ("gridpp_user", registry.RegistryProblem.REFUSED_OTHER_GROUP, "group 'gridpp_user'"),
    ("mu3e.org_user", registry.RegistryProblem.REFUSED_UNREGISTERED, "not registered"),
])
def test_an_unauthorized_query_is_told_apart_by_the_proxys_group(proxy_group, problem, words):
    exc = DisetError(DisetErrorKind.REFUSED, "Unauthorized query")
    assert registry.is_unauthorized(exc)
    assert registry.refusal(proxy_group, "mu3e.org_user") is problem
    message, fix = registry_advice.explain(problem, JANE, ADVICE, proxy_group=proxy_group or "",
                                    detail=exc.detail)
    assert words in message
    rendered = fix.render()
    if problem is registry.RegistryProblem.REFUSED_UNREGISTERED:
        assert rendered.splitlines()[-1] == "# " + JANE  # a comment: never run when pasted
    else:
        assert rendered == "dirac-proxy-init -g mu3e.org_user -M -t"


def test_hostile_dn_stays_on_a_comment_line():
    dn = "/CN=x\n$(rm -rf ~)"
    _, fix = registry_advice.explain(registry.RegistryProblem.DN_UNKNOWN, dn, ADVICE)
    assert all(line.startswith("#") for line in fix.render().splitlines())


def _vomses(*lines: str):
    from mu3e_checks.knowledge.voms_env import parse_vomses

    return parse_vomses("\n".join(lines), Path("vomses"))[0]


def test_voms_view_compares_the_cs_with_local_vomses():
    reg = registry.read_registry(registry.parse_cs_data(_as_sent()))
    good = '"mu3e.org" "voms.mu3e.test" "15030" "/C=CH/O=Mu3e Test Grid/CN=voms.mu3e.test" ' \
           '"mu3e.org"'
    other_dn = '"mu3e.org" "voms2.mu3e.test" "15030" "/C=CH/O=Elsewhere/CN=voms2" "mu3e.org"'
    view = registry.voms_view(reg, "mu3e.org_user", "mu3e.org", _vomses(good, other_dn))
    assert (view.role, view.voms_vo, view.vo) == ("/mu3e.org", "mu3e.org", "mu3e.org")
    assert view.missing == ()
    assert [(s.host, dn) for s, dn in view.dn_mismatch] == [
        ("voms2.mu3e.test", "/C=CH/O=Elsewhere/CN=voms2")]
    view = registry.voms_view(reg, "mu3e.org_user", "mu3e.org", _vomses(good))
    assert [s.host for s in view.missing] == ["voms2.mu3e.test"] and view.dn_mismatch == ()
    # gridpp_user has no VOMSRole and the Registry no DefaultVOMSAttribute.
    assert registry.voms_view(reg, "gridpp_user", "mu3e.org", []).role is None


SETUPS_CFG = """DIRAC
{
  Setups
  {
    GridPP
    {
      Framework = Production
    }
  }
}
Systems
{
  Framework
  {
    Production
    {
      URLs
      {
        ProxyManager = dips://pm.mu3e.test:9152/Framework/ProxyManager
        ProxyManager += https://pm.mu3e.test:8443/Framework/ProxyManager
      }
    }
  }
}
"""


def test_service_urls_follow_the_setup_as_dirac_does():
    import zlib

    cfg = registry.parse_cs_data(zlib.compress(SETUPS_CFG.encode(), 9))
    pm = registry.service_urls(cfg, "GridPP", "Framework/ProxyManager")
    assert pm.problem == "" and pm.instance == "Production"
    assert pm.urls == ("dips://pm.mu3e.test:9152/Framework/ProxyManager",
                       "https://pm.mu3e.test:8443/Framework/ProxyManager")
    bd = registry.service_urls(cfg, "GridPP", "Framework/BundleDelivery")
    assert bd.problem == "Option /Systems/Framework/Production/URLs/BundleDelivery is not defined"
    other = registry.service_urls(cfg, "Other", "Framework/ProxyManager")
    assert other.problem == "Option /DIRAC/Setups/Other/Framework is not defined"
    assert other.setups == ("GridPP",)  # what the server does define, for the advice
    real = registry.parse_cs_data(_as_sent())  # the real test CS serves no Setups
    none = registry.service_urls(real, "GridPP", "Framework/ProxyManager")
    assert none.instance is None and none.setups == ()
