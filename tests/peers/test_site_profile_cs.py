"""The site profile's network verdict against a real DIRAC 8.0.74 Configuration Server.

What a real DIRAC 8.0.74 service does to a client without a certificate (found here, and by
reading DIRAC/Core/DISET/private/Transports/SSL/M2Utils.py): its TLS context sets
``verify_peer | verify_fail_if_no_peer_cert`` (unless the service runs with SkipCACheck), so
the handshake completes on the client's side (TLS 1.3) and the server closes the connection
with "certificate required" on the first read.  No DISET call, not even ping, is answered.
So a site check reaches the CS up to TLS: DNS, TCP, the server's certificate verified against
the site's CA directory with the host name, and the server's demand for a client certificate;
the ping and everything after it need a person's proxy.  A proxy lying around the site image
is never presented.
"""

from __future__ import annotations

import pytest

from mu3e_checks import profile
from mu3e_checks.knowledge.pki import dn_slash
from tests.support.dirac_cs import RealConfigurationServer
from tests.support.diset_server import closed_port
from tests.support.net_world import GROUP
from tests.support.pki_factory import write_trust_dir
from tests.support.runner import run_checks

pytestmark = [pytest.mark.peer, pytest.mark.usefixtures("loopback_only")]


@pytest.fixture(scope="module")
def real_cs(net_world, loopback_only):
    ca = dn_slash(net_world.grid.ca.cert.subject)
    server = RealConfigurationServer(
        net_world.base / "site-dirac-root", closed_port(), net_world.localhost, net_world.trust,
        {"jane": (net_world.user_dn, ca, [GROUP])},
        more_servers=[f"dips://localhost:{closed_port()}/Configuration/Server"],
        authenticated=True)
    with server:
        yield server


def site_net_run(tmp_path, net_world, responder, real_cs, trust):
    home = tmp_path / "home"
    home.mkdir()
    # A valid proxy lies around the image (a builder's): the site check must not present it.
    return run_checks(home, "--mu3e-profile", "site", "--mu3e-select", "NET",
                      "--mu3e-cs-url", real_cs.url, "--mu3e-nameserver", responder.address,
                      "--mu3e-timeout", "5", "--mu3e-trust-dir", str(trust),
                      env={"X509_USER_PROXY": str(net_world.proxy)}, offline=False)


def test_a_site_reaches_the_real_cs_up_to_tls_without_a_certificate(net_world, responder,
                                                                    real_cs, tmp_path):
    log_before = real_cs.log.read_text()
    r = site_net_run(tmp_path, net_world, responder, real_cs, net_world.trust)
    for cid in ("NET-001", "NET-002", "NET-003", "NET-007"):
        assert r.outcome(cid) == "passed", (cid, r[cid].message, r.stdout[-2000:])
    note = r["NET-003"].properties["note"]
    assert "site check: the handshake presented no client certificate" in note
    assert "refused the connection, as every DIRAC service does without one" in note
    assert "server /" in note and "issued by" in note  # the server's certificate was verified
    for cid in ("NET-004", "NET-005", "NET-006", "NET-008", "NET-009", "NET-013"):
        assert r[cid].message == profile.NOT_A_SITE_CHECK, (cid, r[cid].message)
    assert r.failed() == [] and r.returncode == 0
    # The server saw no authenticated call: the proxy lying around was never presented.
    assert "mu3e.org_user:jane" not in real_cs.log.read_text()[len(log_before):]


def test_a_site_whose_ca_directory_cannot_verify_the_cs_is_named(net_world, responder,
                                                                 real_cs, tmp_path):
    wrong = write_trust_dir(tmp_path / "site-cas", [net_world.rogue_ca])  # not the CS's CA
    r = site_net_run(tmp_path, net_world, responder, real_cs, wrong)
    case = r["NET-003"]
    assert case.outcome == "failed", (case.outcome, case.message)
    assert "Mu3e Test Host CA" in case.message, case.message
    assert r.returncode == 1
