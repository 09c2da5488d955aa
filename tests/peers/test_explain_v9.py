"""``mu3e-checks explain`` on what a real DIRAC 9 client prints against the Mu3e (DIRAC 8) server.

The guide's first warning: never ``pip install DIRAC`` (v9).  Here a real DIRAC 9.1.22 client
(.ci/install-dirac9, its own venv, ``$MU3E_TEST_DIRAC9``) runs ``dirac-proxy-init`` and
``dirac-proxy-info`` against the project's loopback DIRAC 8.0.74 Configuration Server
(tests/support/dirac_cs.py), which serves the setup and the ProxyManager's URL as GridPP's does.
The user's DIRACOS holds the DIRAC 9.1.22 release (its real metadata), so DIRAC-002 decides.
A missing DIRAC 9 is a test failure, not a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mu3e_checks import explain
from mu3e_checks.explain import DIRAC9 as FROM_DIRAC9
from tests.peers.test_explain_dirac import GROUP, World, cs_client, cs_options, keys, section
from tests.support.diracos_trees import FakeDiracos
from tests.support.diset_server import closed_port

pytestmark = [pytest.mark.peer, pytest.mark.usefixtures("loopback_only")]

DIRAC9 = Path(os.environ.get("MU3E_TEST_DIRAC9", "/opt/mu3e-dirac-9"))
RELEASE = "9.1.22"


def v9_tool(name: str) -> str:
    path = DIRAC9 / "bin" / name
    assert path.is_file(), f"real DIRAC 9 missing at {DIRAC9} (install it with .ci/install-dirac9)"
    return str(path)


@pytest.fixture(scope="module")
def gridpp_like_cs(net_world, loopback_only):
    """A real 8.0.74 CS that serves /DIRAC/Setups/GridPP and the ProxyManager's URL under the
    setup's instance, as GridPP's does (nothing listens there: no upload gets that far)."""
    from mu3e_checks.knowledge.pki import dn_slash
    from tests.support.dirac_cs import RealConfigurationServer
    from tests.support.proxy_manager import served_setups, served_systems

    users = {"jane": (net_world.user_dn, dn_slash(net_world.grid.ca.cert.subject), [GROUP])}
    url = "dips://localhost:{}/Framework/{}"
    server = RealConfigurationServer(
        net_world.base / "explain-v9-cs", closed_port(), net_world.localhost, net_world.trust,
        users, authenticated=True, dirac_cfg=served_setups(),
        systems_cfg=served_systems(url.format(closed_port(), "ProxyManager"),
                                   url.format(closed_port(), "BundleDelivery")))
    with server:
        yield server


def v9_world(grid, net_world, cs, base: Path) -> World:
    """A home whose DIRACOS holds DIRAC 9.1.22, dirac.cfg naming the CS, the v9 tools on PATH."""
    world = cs_client(grid, net_world, cs, base)
    tree = FakeDiracos(world.home / "dirac_ui" / "diracos", "3.11.7")
    tree.remove("DIRAC")
    tree.install("DIRAC", RELEASE)
    world.env["PATH"] = f"{DIRAC9 / 'bin'}{os.pathsep}/usr/bin:/bin"
    return world


def test_dirac_9_finds_no_proxymanager_and_the_client_is_the_cause(grid, net_world,
                                                                     gridpp_like_cs, responder,
                                                                     tmp_path):
    """The guide's ``dirac-proxy-init -g mu3e.org_user`` with a v9 client: it reads the CS,
    then cannot find the ProxyManager (v9 looks services up without the setup).  The server
    does name it for the setup (NET-012 passes): the client is the cause."""
    world = v9_world(grid, net_world, gridpp_like_cs, tmp_path)
    argv = [v9_tool("dirac-proxy-init"), "-g", GROUP]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "URL for service Framework/ProxyManager not found" in proc.stdout, proc.stdout
    assert keys(proc.stdout)[0] == "service-url", proc.stdout
    report = tmp_path / "v9.json"
    (tmp_path / "proxy").unlink()  # the run again from scratch, as the user's first one was
    r = world.explain(*cs_options(grid, net_world, gridpp_like_cs, responder),
                      "--mu3e-json", str(report), "--", *argv)
    text = section(r.stdout)
    assert r.returncode == 1, r.stdout[-3000:]
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: the DIRAC client is v9 or newer" in confirmed, text
    assert "DIRAC-002 failed" in confirmed and RELEASE in confirmed, text
    assert "ruled out: the Configuration Server does not name this service for your setup " \
           "(NET-012 passed)" in text
    data = json.loads(report.read_text())["explained"]
    assert data["causes"][0]["checks"][0]["id"] == "DIRAC-002"
    assert "NET-012" in {c for r in data["ruled_out"] for c in r["checks"]}


def test_dirac_9_messages_after_a_first_proxy_name_the_client(grid, net_world, gridpp_like_cs,
                                                               tmp_path):
    """With a proxy already there (the guide's ``--nocs`` step first), the v9 client reads no
    Registry and says the DN "is not registered", with a hint only v9 prints; its --nocs
    run says DiracX will not work, and dirac-proxy-info shows a DiracX field: each names the
    client.  Offline, so only DIRAC-002 decides."""
    world = v9_world(grid, net_world, gridpp_like_cs, tmp_path)
    nocs = world.run([v9_tool("dirac-proxy-init"), "--nocs"])
    assert nocs.returncode == 0, nocs.stdout
    assert "DiracX will not work" in nocs.stdout, nocs.stdout
    assert {"v9-client", "nocs-upload"} <= set(keys(nocs.stdout)), nocs.stdout
    info = world.run([v9_tool("dirac-proxy-info")])
    assert "DiracX       : " in info.stdout, info.stdout
    assert keys(info.stdout) == ["v9-client"], info.stdout
    argv = [v9_tool("dirac-proxy-init"), "-g", GROUP, "-M"]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "is not registered" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["v9-client", "v9-registry"], proc.stdout
    for output in (nocs.stdout, info.stdout, proc.stdout):
        log = tmp_path / "v9.log"
        log.write_text(output)
        r = world.explain("--mu3e-offline", "--file", str(log))
        text = section(r.stdout)
        assert r.returncode == 1
        confirmed = text.split("ruled out")[0]
        assert "confirmed cause: the DIRAC client is v9 or newer" in confirmed, text
        assert "DIRAC-002 failed" in confirmed, text
        # a DIRAC 8 reading of "is not registered" is not confirmed: CFG-001 passes
        assert "confirmed cause: DIRAC read no dirac.cfg" not in text


def test_the_guides_client_reaches_the_same_server_and_only_the_upload_fails(
        grid, net_world, gridpp_like_cs, responder, tmp_path):
    """The same server with the guide's DIRAC 8.0.74: it finds the ProxyManager under the
    setup, whose port is closed, and the upload fails (exit 0 without -t).  NET-013 decides."""
    from tests.peers.test_explain_dirac import PROXY_INIT

    world = cs_client(grid, net_world, gridpp_like_cs, tmp_path)
    argv = [str(PROXY_INIT), "-g", GROUP]
    proc = world.run(argv)
    assert "Framework/ProxyManager') : [Errno 111] Connection refused" in proc.stdout, \
        proc.stdout
    assert keys(proc.stdout)[0] == "proxymanager-unreachable", proc.stdout
    assert "cs-refused" not in keys(proc.stdout)  # the CS answered; its port is not the one
    r = world.explain(*cs_options(grid, net_world, gridpp_like_cs, responder), "--", *argv)
    text = section(r.stdout)
    assert r.returncode == proc.returncode
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: the ProxyManager the Configuration Server names does not " \
           "answer" in confirmed, text
    assert "NET-013 failed" in confirmed, text


def test_dirac_9_anchors_occur_in_its_installed_sources():
    roots = sorted((DIRAC9 / "lib").glob("python3*/site-packages/DIRAC"))
    assert roots, f"DIRAC 9 sources missing under {DIRAC9}/lib (.ci/install-dirac9)"
    src = "\n".join(p.read_text(errors="replace") for p in roots[0].rglob("*.py"))
    missing = [(e.key, a.text) for e in explain.CATALOGUE for a in e.anchors
               if a.origin == FROM_DIRAC9 and a.text not in src]
    assert not missing
