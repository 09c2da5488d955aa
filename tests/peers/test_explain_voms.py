"""The explain catalogue's VOMS and CS-timeout entries, produced by the real programs.

Real ``voms-proxy-init`` (2.1) and real DIRAC 8.0.74 ``dirac-proxy-init -M`` are pointed, through
vomses, at VOMS servers that cannot answer: a refused port, and a listener that accepts TCP and
never speaks TLS (stalled).  They are
stand-ins on loopback: a real voms-server needs a VOMS database of its own, and what these
messages are about is only that no server answers.  Their output must be keyed to
``voms-unreachable`` / ``voms-failed``, and ``mu3e-checks explain -- <command>`` must confirm
the cause with NET-014 (the network, not the VO membership the message suggests).

Debian's voms-proxy-init reads vomses from ``-vomses`` (or ``VOMS_USERCONF``), not from
``$X509_VOMSES``: DIRAC passes ``-vomses $X509_VOMSES`` itself, and so do these tests.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mu3e_checks.knowledge.pki import dn_slash
from tests.peers.test_explain_dirac import DIRAC, GROUP, PROXY_INIT, World, keys, section
from tests.support.diset_server import StallServer, closed_port
from tests.support.voms_standin import vomses_line

pytestmark = pytest.mark.peer

VOMS_DN = "/C=UK/O=eScience/OU=Manchester/L=HEP/CN=voms.mu3e.test"
#: The Registry DIRAC needs to know the group's VOMS role.  In the guide it comes from the
#: Configuration Server; with ``--nocs`` the local dirac.cfg gives the same data, so the VOMS
#: step runs without any DIRAC server.
REGISTRY_CFG = """DIRAC
{
  Setup = GridPP
}
Registry
{
  Users
  {
    jane
    {
      DN = /C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist
    }
  }
  Groups
  {
    mu3e.org_user
    {
      Users = jane
      Properties = NormalUser
      VOMSRole = /mu3e.org
      VOMSVO = mu3e.org
    }
  }
  VO
  {
    mu3e.org
    {
      VOMSName = mu3e.org
    }
  }
}
"""


def voms_world(grid, base: Path, port: int) -> tuple[World, Path]:
    world = World(grid, base)
    vomses = base / "vomses"
    vomses.write_text(vomses_line("127.0.0.1", port, VOMS_DN))
    vomsdir = base / "vomsdir" / "mu3e.org"
    vomsdir.mkdir(parents=True)
    (vomsdir / "127.0.0.1.lsc").write_text(f"{VOMS_DN}\n/C=UK/O=eScienceCA/CN=UK e-Science CA\n")
    world.env.update(X509_VOMSES=str(vomses), X509_VOMS_DIR=str(base / "vomsdir"))
    return world, vomses


def explained_by_net_014(world: World, argv: list[str], returncode: int) -> str:
    r = world.explain("--mu3e-timeout", "2", "--", *argv)
    assert r.returncode == returncode  # the command's own exit code, passed through
    text = section(r.stdout)
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: the VOMS servers cannot be reached: a network problem, not a " \
           "membership one" in confirmed, text
    assert "NET-014 failed" in confirmed and "NETWORK problem, not a membership one" in \
        confirmed, text
    return text


class _Refused:
    def __init__(self) -> None:
        self.port = closed_port()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        pass


# A port that never answers the SYN (BlackholePort) is left out on purpose: voms-proxy-init's
# -timeout does not bound its TCP connect, so it waits for the kernel's SYN retries (measured:
# about 270 s for one server, tried twice), far beyond what a test can wait.  NET-014 itself
# covers that case within --mu3e-timeout (tests/chapters/test_network_voms.py).
@pytest.mark.parametrize("server", [_Refused, StallServer], ids=["refused", "stalled"])
def test_voms_proxy_init_without_a_voms_server_is_the_network(grid, tmp_path, loopback_only,
                                                              server):
    voms = shutil.which("voms-proxy-init")
    assert voms, "real peer voms-proxy-init is missing"
    with server() as s:
        world, vomses = voms_world(grid, tmp_path, s.port)
        argv = [voms, "-voms", "mu3e.org", "-vomses", str(vomses), "-timeout", "2",
                "-out", str(tmp_path / "vp")]
        start = time.monotonic()
        proc = world.run(argv)
        assert time.monotonic() - start < 60
        assert proc.returncode == 1, proc.stdout
        assert "were capable\nof returning a valid AC for the user" in proc.stdout, proc.stdout
        assert "voms-unreachable" in keys(proc.stdout), proc.stdout
        text = explained_by_net_014(world, argv, proc.returncode)
    assert "ruled out: X509_VOMSES has no (or an outdated) entry for mu3e.org (ENV-002 " \
           "passed)" in text


def test_dirac_proxy_init_m_without_a_voms_server_is_the_network(grid, tmp_path,
                                                                 loopback_only):
    """The real dirac-proxy-init -M: "Are you sure you are properly registered in the VO?"."""
    port = closed_port()
    world, _ = voms_world(grid, tmp_path, port)
    (world.root / "etc" / "dirac.cfg").write_text(REGISTRY_CFG)
    argv = [str(PROXY_INIT), "--nocs", "-N", "-M", "-t", "-g", GROUP]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "Are you sure you are properly registered in the VO?" in proc.stdout, proc.stdout
    assert f"Contacting  127.0.0.1:{port}" in proc.stdout  # DIRAC passed our vomses on
    assert {"voms-unreachable", "voms-failed"} <= set(keys(proc.stdout)), proc.stdout
    explained_by_net_014(world, argv, proc.returncode)


def test_dirac_with_a_stalled_configuration_server_is_a_timeout(grid, tmp_path,
                                                                loopback_only):
    """A CS port that accepts TCP and never speaks: DIRAC's own wait (its default socket
    timeout), then the cs-timeout entry, confirmed by NET-003 (TLS never completes)."""
    with StallServer() as stall:
        world = World(grid, tmp_path)
        url = f"dips://127.0.0.1:{stall.port}/Configuration/Server"
        world.cfg(url)
        argv = [str(DIRAC / "bin" / "dirac-proxy-init"), "-g", GROUP]
        proc = world.run(argv)
        assert proc.returncode == 1, proc.stdout
        assert "cs-timeout" in keys(proc.stdout), proc.stdout
        # The test CAs stand in for the Mu3e ones, so CA-004 passes and NET-003 runs.
        required = [a for ca in grid.cas for a in ("--mu3e-required-ca", dn_slash(ca.subject))]
        r = world.explain("--mu3e-cs-url", url, "--mu3e-timeout", "2", *required, "--", *argv)
    text = section(r.stdout)
    assert r.returncode == 1
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: the server accepts the connection but never completes TLS" in \
        confirmed, text
    assert "NET-003 failed" in confirmed, text
    assert "did not finish within 2 s" in text
