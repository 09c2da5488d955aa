"""NET-014/NET-015 end to end: the VO's VOMS servers, as a user's diagnosis run sees them.

The VOMS servers are stand-ins on loopback (tests/support/voms_standin.py says why: a real
voms-server needs a VOMS database of its own): one per verdict, up, refused, stalled and a
server whose DN is not the one its .lsc file names.  Names go to a loopback DNS responder and
the runs happen inside the loopback-only namespace.
"""

from __future__ import annotations

import time

import pytest

from mu3e_checks.knowledge.pki import dn_slash
from tests.chapters.test_network import HOSTILE, assert_harmless, no_pwned_left  # noqa: F401
from tests.support.diset_server import DisetServer, StallServer, closed_port
from tests.support.dns_responder import DnsResponder
from tests.support.net_world import TEST_HOST
from tests.support.runner import run_checks
from tests.support.voms_standin import VomsStandIn, vomses_line, write_lsc

pytestmark = pytest.mark.usefixtures("loopback_only")

VOMS1, VOMS2 = "voms1.mu3e.test", "voms2.mu3e.test"
IDS = "NET-014,NET-015"


@pytest.fixture(scope="module")
def responder(loopback_only):
    with DnsResponder({VOMS1: {"A": ["127.0.0.1"]}, VOMS2: {"A": ["127.0.0.1"]},
                       TEST_HOST: {"A": ["127.0.0.1"]}}) as r:
        yield r


@pytest.fixture(scope="module")
def voms_certs(net_world):
    pki = net_world.grid.pki
    return {VOMS1: pki.host(net_world.host_ca, VOMS1), VOMS2: pki.host(net_world.host_ca, VOMS2),
            "impostor": pki.host(net_world.host_ca, "impostor.mu3e.test")}


def diagnose(tmp_path, net_world, responder, servers, *extra, lsc=None, timeout="2",
             ids=IDS):
    """``servers``: (host, port, DN in the vomses line); ``lsc``: host -> DN of its .lsc."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    vomses = tmp_path / "vomses"
    vomses.write_text("".join(vomses_line(h, p, dn) for h, p, dn in servers))
    vomsdir = tmp_path / "vomsdir"
    ca = dn_slash(net_world.host_ca.subject)
    for host, dn in (lsc or {}).items():
        write_lsc(vomsdir, host, dn, ca)
    vomsdir.mkdir(exist_ok=True)
    return run_checks(home, "--mu3e-select", ids, "--mu3e-nameserver", responder.address,
                      "--mu3e-timeout", timeout, "--mu3e-trust-dir", str(net_world.trust),
                      "--mu3e-proxy", str(net_world.proxy), *extra, offline=False,
                      env={"X509_VOMSES": str(vomses), "X509_VOMS_DIR": str(vomsdir)})


def subject(entity) -> str:
    return dn_slash(entity.subject)


def test_servers_up_with_matching_dns_pass(net_world, responder, voms_certs, tmp_path):
    one, two = voms_certs[VOMS1], voms_certs[VOMS2]
    with VomsStandIn(one, net_world.client_cas) as a, VomsStandIn(two) as b:
        r = diagnose(tmp_path, net_world, responder,
                     [(VOMS1, a.port, subject(one)), (VOMS2, b.port, subject(two))],
                     lsc={VOMS1: subject(one), VOMS2: subject(two)})
    assert r.outcome("NET-014") == "passed", r["NET-014"].message
    assert r.outcome("NET-015") == "passed", r["NET-015"].message
    assert r.returncode == 0


def test_refused_server_alone_fails_as_a_network_problem(net_world, responder, tmp_path):
    port = closed_port()
    r = diagnose(tmp_path, net_world, responder, [(VOMS1, port, "/CN=" + VOMS1)])
    case = r["NET-014"]
    assert case.outcome == "failed", case.message
    assert "connection refused" in case.message and f"{VOMS1}:{port}" in case.message
    assert "Are you sure you are properly registered in the VO?" in case.message
    assert "NETWORK problem, not a membership one" in case.message
    assert f"/dev/tcp/{VOMS1}/{port}" in case.fix  # the TCP layer's own test
    assert r.outcome("NET-015") == "skipped" and "NET-014" in r["NET-015"].message
    assert r.returncode == 1


def test_stalled_server_fails_at_tls_within_one_timeout(net_world, responder, tmp_path):
    with StallServer() as s1, StallServer() as s2, StallServer() as s3:
        start = time.monotonic()
        r = diagnose(tmp_path, net_world, responder,
                     [(VOMS1, s1.port, "/CN=a"), (VOMS2, s2.port, "/CN=b"),
                      ("localhost", s3.port, "/CN=c")])
        took = time.monotonic() - start
    case = r["NET-014"]
    assert case.outcome == "failed", case.message
    assert "none of the 3 mu3e.org VOMS server(s)" in case.message
    assert case.message.count("dead at TLS") == 3 and "did not finish within 2 s" in case.message
    assert f"openssl s_client -connect {VOMS1}:{s1.port} -CApath" in case.fix
    assert took < 15, took  # three stalled servers cost one 2 s timeout, plus the run


def test_one_dead_server_warns_naming_it(net_world, responder, voms_certs, tmp_path):
    one = voms_certs[VOMS1]
    dead = closed_port()
    with VomsStandIn(one) as a:
        r = diagnose(tmp_path, net_world, responder,
                     [(VOMS2, dead, "/CN=gone"), (VOMS1, a.port, subject(one))],
                     lsc={VOMS1: subject(one)})
    case = r["NET-014"]
    assert case.outcome == "warned", case.message
    assert "1 of 2 mu3e.org VOMS servers do not answer" in case.message
    assert f"{VOMS2}:{dead} (dead at TCP" in case.message and f"{VOMS1}:{a.port}" not in \
        case.message
    assert r.outcome("NET-015") == "passed", r["NET-015"].message


def test_dn_mismatch_with_the_lsc_fails_with_the_fix(net_world, responder, voms_certs,
                                                     tmp_path):
    impostor = voms_certs["impostor"]
    expected = subject(voms_certs[VOMS1])
    with VomsStandIn(impostor) as a:
        r = diagnose(tmp_path, net_world, responder, [(VOMS1, a.port, subject(impostor))],
                     lsc={VOMS1: expected})
    assert r.outcome("NET-014") == "passed", r["NET-014"].message
    case = r["NET-015"]
    assert case.outcome == "failed", case.message
    lsc = tmp_path / "vomsdir" / "mu3e.org" / f"{VOMS1}.lsc"
    assert f"presents the DN {subject(impostor)}, but {lsc} says {expected}" in case.message
    assert case.fix.startswith("dirac-configure -F -S GridPP -C ")
    assert f"> {lsc}" in case.fix and "printf" in case.fix


def test_dn_mismatch_with_the_vomses_line(net_world, responder, voms_certs, tmp_path):
    one = voms_certs[VOMS1]
    with VomsStandIn(one) as a:
        r = diagnose(tmp_path, net_world, responder, [(VOMS1, a.port, "/CN=old-voms")],
                     lsc={VOMS1: subject(one)})
    case = r["NET-015"]
    assert case.outcome == "failed", case.message
    assert "your vomses (" in case.message and "expects /CN=old-voms" in case.message
    assert "correct the DN of that line in" in case.fix


def test_no_vomses_line_skips_naming_env_002(net_world, responder, tmp_path):
    r = diagnose(tmp_path, net_world, responder, [])
    assert r.outcome("NET-014") == "skipped" and "ENV-002" in r["NET-014"].message


@pytest.mark.usefixtures("no_pwned_left")
def test_hostile_server_dn_stays_text_in_message_and_fix(net_world, responder, voms_certs,
                                                         tmp_path):
    """The DN comes from the server: it is shown escaped and quoted as one word in the .lsc
    fix, which pasted into bash writes a file and runs nothing."""
    liar = net_world.grid.pki.host(net_world.host_ca, "voms" + HOSTILE,
                                   sans=["voms.liar.test"])
    expected = subject(voms_certs[VOMS1])
    with VomsStandIn(liar) as a:
        r = diagnose(tmp_path, net_world, responder, [(VOMS1, a.port, expected)],
                     lsc={VOMS1: expected})
    case = r["NET-015"]
    assert case.outcome == "failed", case.message
    assert "printf '%s\\n%s\\n' $'/C=CH/O=Mu3e Test Grid/CN=voms\\x0a$(touch" in case.fix, \
        case.fix
    assert_harmless(r, tmp_path)


class VomsListingCs(DisetServer):
    """Our DISET test CS whose Registry lists VOMSServers for mu3e.org (host -> port)."""

    def __init__(self, *args, voms: dict, **kw) -> None:
        super().__init__(*args, **kw)
        self.voms = voms

    def cfg_text(self) -> str:
        servers = "".join(f"        {h}\n        {{\n          DN = /CN={h}\n          Port = {p}\n"
                          "        }\n" for h, p in self.voms.items())
        return super().cfg_text().replace(
            "      VOMSName = mu3e.org\n",
            f"      VOMSName = mu3e.org\n      VOMSServers\n      {{\n{servers}      }}\n")


def test_servers_the_cs_lists_are_probed_once_the_cs_was_read(net_world, responder,
                                                              voms_certs, tmp_path):
    one = voms_certs[VOMS1]
    dead = closed_port()
    with VomsStandIn(one) as a, VomsListingCs(net_world.named, net_world.client_cas,
                                              registry=net_world.registry(),
                                              voms={VOMS2: dead}) as cs:
        cs_url = f"dips://{TEST_HOST}:{cs.port}/Configuration/Server"
        r = diagnose(tmp_path, net_world, responder, [(VOMS1, a.port, subject(one))],
                     "--mu3e-cs-url", cs_url, lsc={VOMS1: subject(one)},
                     ids="NET-004,NET-009,NET-014,NET-015")
        alone = diagnose(tmp_path / "alone", net_world, responder,
                         [(VOMS1, a.port, subject(one))], "--mu3e-cs-url", cs_url,
                         lsc={VOMS1: subject(one)})
    assert r.outcome("NET-009") == "passed", r["NET-009"].message
    case = r["NET-014"]
    assert case.outcome == "warned", case.message
    assert f"{VOMS2}:{dead} (dead at TCP" in case.message
    # without NET-009 in the run, the CS is not asked for this alone: only vomses counts
    assert alone.outcome("NET-014") == "passed", alone["NET-014"].message
