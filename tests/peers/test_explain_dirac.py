"""``mu3e-checks explain`` fed with what the real DIRAC 8.0.74 ``dirac-proxy-init`` prints on
broken setups: the messages are produced by the program, never typed in.

Everything runs inside the loopback-only namespace (``loopback_only``), against a refused port
on 127.0.0.1 and a name under ``.invalid``, so nothing reaches a real resolver or server.
DIRAC gets its inputs through ``DIRAC_ROOT_PATH``, ``X509_*`` and ``HOME`` in a tmp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mu3e_checks import explain, profile, registry
from mu3e_checks.explain import DIRAC as FROM_DIRAC
from tests.peers.test_proxy_tools import signing_policies
from tests.support.diracos_trees import build_diracos
from tests.support.diset_server import closed_port
from tests.support.runner import ROOT

pytestmark = pytest.mark.peer

DIRAC = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
PROXY_INIT = DIRAC / "bin" / "dirac-proxy-init"
GROUP = "mu3e.org_user"


class World:
    """A home with credentials and a trust dir, and a DIRAC root whose dirac.cfg we set."""

    def __init__(self, grid, base: Path, user=None) -> None:
        assert PROXY_INIT.is_file(), f"real DIRAC 8.0.74 missing at {DIRAC}"
        self.base = base
        self.home = grid.home(base, user=user)
        # The user's DIRACOS with the DIRAC client (its dirac.cfg we write or remove below);
        # dirac-proxy-init itself is the real 8.0.74 from DIRAC's venv.
        build_diracos(self.home, cfg="")
        cadir = self.home / "dirac_ui/diracos/etc/grid-security/certificates"
        signing_policies(cadir)
        self.root = base / "dirac-root"
        (self.root / "etc").mkdir(parents=True)
        globus = self.home / ".globus"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS", "MU3E_", "PYTEST_"))}
        self.env.update(HOME=str(self.home), X509_CERT_DIR=str(cadir),
                        X509_USER_CERT=str(globus / "usercert.pem"),
                        X509_USER_KEY=str(globus / "userkey.pem"),
                        DIRAC_ROOT_PATH=str(self.root), X509_USER_PROXY=str(base / "proxy"),
                        PATH=f"{DIRAC / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")

    def cfg(self, server: str | None) -> None:
        path = self.root / "etc" / "dirac.cfg"
        if server is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text("DIRAC\n{\n  Setup = GridPP\n  Configuration\n  {\n"
                            f"    Servers = {server}\n  }}\n}}\n")

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env={**self.env, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300,
                              stdin=subprocess.DEVNULL, cwd=self.base)

    def proxy_init(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return self.run([str(PROXY_INIT), *args], **env)

    def explain(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """The full ``mu3e-checks explain``, as a user runs it."""
        return subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "explain",
                               "--mu3e-home", str(self.home), *args],
                              env={**self.env, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=600, stdin=subprocess.DEVNULL, cwd=self.base)


@pytest.fixture(scope="module")
def world(grid, tmp_path_factory, loopback_only):
    return World(grid, tmp_path_factory.mktemp("explain"))


def keys(text: str) -> list[str]:
    return [e.key for e in explain.entries(explain.match(text))]


def all_keys(text: str) -> set[str]:
    """The entries that matched, the programs' ordinary output included."""
    return {e.key for e in explain.entries(explain.read(text), ordinary=True)}


def candidates(text: str) -> set[str]:
    return {c for e in explain.entries(explain.match(text)) if e.harmful for c in e.check_ids}


def section(out: str) -> str:
    assert "Error explained" in out, out[-3000:]
    return out.split("Error explained", 1)[1]


def test_nocs_messages_are_harmless(world):
    world.cfg(None)
    proc = world.proxy_init("--nocs", "-g", GROUP)
    assert proc.returncode == 0, proc.stdout
    assert "Cannot get URL for Framework/ProxyManager" in proc.stdout
    assert "nocs-upload" in keys(proc.stdout)
    ex = explain.Explanation(explain.read(proc.stdout))
    assert ex.harmless_only
    # -N (no upload) removes the alarming lines; then nothing harmful is left either.
    quiet = world.proxy_init("--nocs", "-N", "-g", GROUP)
    assert quiet.returncode == 0, quiet.stdout
    assert "Cannot get URL" not in quiet.stdout
    assert not candidates(quiet.stdout)


def test_strict_stops_on_the_failed_upload_and_no_upload_avoids_it(world):
    """Why the fixes say -t and the --nocs fix says -N (DIRAC 8.0.74's own behaviour)."""
    world.cfg(None)
    assert world.proxy_init("--nocs", "-t", "-g", GROUP).returncode == 1
    assert world.proxy_init("--nocs", "-N", "-t", "-g", GROUP).returncode == 0


def test_refused_port_is_explained_and_confirmed_by_net_002(world):
    port = closed_port()
    url = f"dips://127.0.0.1:{port}/Configuration/Server"
    world.cfg(url)
    proc = world.proxy_init("-g", GROUP)
    assert proc.returncode == 1
    assert "Can't contact DIRAC CS" in proc.stdout
    assert keys(proc.stdout)[:2] == ["cs-refused", "cs-unreachable"]
    assert "NET-002" in candidates(proc.stdout)
    r = world.explain("--mu3e-cs-url", url, "--", str(PROXY_INIT), "-g", GROUP)
    assert r.returncode == 1  # dirac-proxy-init's own exit code, passed through
    text = section(r.stdout)
    assert "confirmed cause: nothing accepts connections" in text
    assert "NET-002 failed" in text
    assert "ruled out: the server's name does not resolve (NET-001 passed)" in text


def test_dirac_configure_with_a_refused_port_is_confirmed_by_net_002(world):
    """dirac-configure exits 0 although it reached no server; its BundleDelivery message
    reads like a setup problem, the checks show the port is closed."""
    world.cfg(None)
    (world.base / "proxy").unlink(missing_ok=True)
    argv = [str(DIRAC / "bin" / "dirac-configure"), "-F", "-S", "GridPP", "-C",
            f"dips://127.0.0.1:{closed_port()}/Configuration/Server", "-I"]
    noproxy = world.run(argv)
    assert noproxy.returncode == 1
    assert keys(noproxy.stdout)[-1] == "no-proxy", noproxy.stdout
    assert world.proxy_init("--nocs", "-N", "-g", GROUP).returncode == 0
    url = f"dips://127.0.0.1:{closed_port()}/Configuration/Server"
    argv = [str(DIRAC / "bin" / "dirac-configure"), "-F", "-S", "GridPP", "-C", url, "-I"]
    proc = world.run(argv)
    assert proc.returncode == 0
    assert "Cannot get URL for Framework/BundleDelivery in setup GridPP" in proc.stdout
    assert {"setup-mismatch", "cs-refused"} <= set(keys(proc.stdout))
    r = world.explain("--mu3e-cs-url", url, "--", *argv)
    assert r.returncode == 0  # dirac-configure's own exit code
    text = section(r.stdout)
    assert "confirmed cause: DIRAC could not download the configuration" in text, text
    assert "NET-002 failed" in text.split("ruled out")[0]
    world.cfg(None)


def test_proxy_info_on_an_expired_proxy_is_confirmed_by_proxy_008(grid, tmp_path,
                                                                   loopback_only):
    client = World(grid, tmp_path)
    client.cfg("dips://127.0.0.1:9/Configuration/Server")
    expired = grid.pki.proxy(grid.user, group=GROUP, expired=True)
    proxy = Path(client.env["X509_USER_PROXY"])
    proxy.write_bytes(expired.proxy_file())
    proxy.chmod(0o600)
    argv = [str(DIRAC / "bin" / "dirac-proxy-info")]
    proc = client.run(argv)
    assert "PEM file has expired" in proc.stdout  # and dirac-proxy-info still exits 0
    assert keys(proc.stdout)[0] == "cert-expired", proc.stdout
    assert "PROXY-008" in candidates(proc.stdout)
    r = client.explain("--mu3e-offline", "--", *argv)
    assert r.returncode == proc.returncode
    text = section(r.stdout)
    assert "PROXY-008 failed" in text.split("ruled out")[0], text


def test_unresolvable_name_points_at_net_001(world):
    world.cfg("dips://cs.mu3e-explain.invalid:9135/Configuration/Server")
    proc = world.proxy_init("-g", GROUP)
    assert proc.returncode == 1
    assert "DNS lookup failed" in proc.stdout
    assert keys(proc.stdout)[0] == "cs-dns"
    assert "NET-001" in candidates(proc.stdout)


def test_no_dirac_cfg_is_confirmed_by_cfg_001(world):
    world.cfg(None)
    proc = world.proxy_init("-g", GROUP)
    assert proc.returncode == 1
    assert "is not registered" in proc.stdout
    assert {"no-cfg", "dn-unregistered"} <= set(keys(proc.stdout))
    assert "CFG-001" in candidates(proc.stdout)
    log = world.base / "nocfg.log"
    log.write_text(proc.stdout)
    report = world.base / "nocfg.json"
    html = world.base / "nocfg.html"
    r = world.explain("--mu3e-offline", "--mu3e-json", str(report), "--html", str(html),
                      "--file", str(log))
    text = section(r.stdout)
    assert "confirmed cause: no dirac.cfg where DIRAC reads it" in text
    assert "CFG-001 failed" in text
    assert r.returncode == 1
    # the same section, from the same run, as data in the JSON and at the top of the HTML
    explained = json.loads(report.read_text())["explained"]
    assert explained["verdict"] == "harmful"
    assert {"no-cfg", "dn-unregistered"} <= {e["id"] for e in explained["entries"]}
    assert explained["causes"][0]["cause"] == "no dirac.cfg where DIRAC reads it " \
        "(dirac-configure never ran, or ran with another Python)"
    assert explained["causes"][0]["checks"][0]["id"] == "CFG-001"
    page = html.read_text()
    assert page.index('id="mu3e-explained"') < page.index("Guide chapters")
    assert "DIRAC read no dirac.cfg" in page


def test_proxy_info_without_dirac_cfg_is_confirmed_by_cfg_001(world):
    world.cfg(None)
    proc = world.run([str(DIRAC / "bin" / "dirac-proxy-info")])
    assert proc.returncode == 1
    assert "Missing mandatory local configuration option /DIRAC/Setup" in proc.stdout
    assert "no-cfg" in keys(proc.stdout)
    r = world.explain("--mu3e-offline", "--", str(DIRAC / "bin" / "dirac-proxy-info"))
    assert r.returncode == 1
    text = section(r.stdout)
    assert "confirmed cause: no dirac.cfg where DIRAC reads it" in text
    assert "CFG-001 failed" in text


def test_voms_step_fails_silently_without_t(world):
    """-M without a configuration: DIRAC knows no VOMS role for the group, makes a proxy
    without VOMS attributes and exits 0, unless -t is given.  Why the fixes say -t."""
    world.cfg(None)
    args = ("--nocs", "-N", "-M", "-g", GROUP)
    loose = world.proxy_init(*args)
    assert loose.returncode == 0, loose.stdout
    assert keys(loose.stdout) == ["no-cfg-notice", "voms-no-role"]
    assert {"CFG-001", "VOMS-001"} <= candidates(loose.stdout)
    assert world.proxy_init(*args, "-t").returncode == 1
    r = world.explain("--mu3e-offline", "--", str(PROXY_INIT), *args, "-t")
    assert r.returncode == 1
    text = section(r.stdout)
    assert "confirmed cause: DIRAC read no configuration" in text, text
    assert "CFG-001 failed" in text


def test_voms_proxy_init_without_vomses_is_explained(world):
    import shutil

    voms = shutil.which("voms-proxy-init")
    assert voms, "real peer voms-proxy-init is missing"
    empty = world.base / "no-vomses"
    empty.mkdir(exist_ok=True)
    # Debian's voms-proxy-init ignores $X509_VOMSES; DIRAC passes it as -vomses, so do we.
    proc = world.run([voms, "-voms", "mu3e.org", "-vomses", str(empty), "-out",
                      str(world.base / "vp")], X509_VOMSES=str(empty))
    assert "VOMS Server for mu3e.org not known" in proc.stdout, proc.stdout
    assert keys(proc.stdout)[0] == "vomses-missing"
    assert candidates(proc.stdout) == {"ENV-002"}
    r = world.explain("--mu3e-offline", "--", voms, "-voms", "mu3e.org", "-vomses", str(empty),
                      "-out", str(world.base / "vp"), X509_VOMSES=str(empty))
    assert r.returncode == proc.returncode
    text = section(r.stdout)
    assert "confirmed cause: X509_VOMSES is unset or has no entry for mu3e.org" in text, text
    # ENV-002 warns and names what fixes it: dirac-configure writes vomses under DIRAC's root
    # (DIRAC_ROOT_PATH here), and the variable must name that place instead of the empty file
    assert "ENV-002 warned" in text
    assert "dirac-configure -F -S GridPP" in text, text
    assert "export X509_VOMSES=" + str(world.root / "etc/grid-security/vomses") in text, text


def test_stale_crls_are_confirmed_by_crl_003(grid, tmp_path, loopback_only):
    """CRLs fetched ten days ago: DIRAC notices by the files' age, CRL-003 by nextUpdate."""
    import time

    from tests.support.pki_factory import DAY, crls_for, write_trust_dir

    stale = World(grid, tmp_path)
    stale.cfg(None)
    cadir = Path(stale.env["X509_CERT_DIR"])
    pki = grid.pki
    write_trust_dir(cadir, grid.cas, crls_for(pki, grid.cas, last_update=pki.now - 10 * DAY,
                                              next_update=pki.now - 3 * DAY))
    old = time.time() - 10 * 86400
    for crl in cadir.glob("*.r0"):
        os.utime(crl, (old, old))
    args = ("--nocs", "-N", "-g", GROUP)
    proc = stale.proxy_init(*args)
    assert "Your CRLs appear to be outdated" in proc.stdout, proc.stdout
    assert "crl-outdated" in keys(proc.stdout)
    r = stale.explain("--mu3e-offline", "--", str(PROXY_INIT), *args)
    assert r.returncode == proc.returncode
    text = section(r.stdout)
    assert "confirmed cause: a CRL's nextUpdate has passed" in text, text
    assert "CRL-003 failed" in text and "fetch-crl -l" in text


def test_server_with_an_unknown_ca_is_confirmed_by_net_003(world, grid):
    """The Configuration Server's certificate comes from a CA the trust dir does not hold."""
    from mu3e_checks.knowledge.pki import dn_slash
    from tests.support.diset_server import DisetServer

    rogue_ca = grid.pki.ca("Rogue Interception CA")
    server_cert = grid.pki.host(rogue_ca, "localhost", sans=["localhost", "127.0.0.1"])
    with DisetServer(server_cert, grid.cas) as server:
        url = f"dips://127.0.0.1:{server.port}/Configuration/Server"
        world.cfg(url)
        proc = world.proxy_init("-g", GROUP)
        assert proc.returncode == 1
        assert "SSLError('certificate verify failed')" in proc.stdout
        assert keys(proc.stdout)[0] == "tls-verify"
        assert "NET-003" in candidates(proc.stdout)
        # The test CAs stand in for the Mu3e ones, so CA-004 passes and NET-003 runs.
        required = [a for ca in grid.cas for a in ("--mu3e-required-ca", dn_slash(ca.subject))]
        r = world.explain("--mu3e-cs-url", url, *required, "--", str(PROXY_INIT), "-g", GROUP)
    text = section(r.stdout)
    assert r.returncode == 1
    assert "NET-003 failed" in text.split("ruled out")[0], text


def test_server_that_rejects_the_client_ca_is_confirmed_by_net_003(world, grid, net_world,
                                                                   responder):
    """The server trusts only another CA for clients: it ends the handshake on our proxy."""
    from tests.support.diset_server import DisetServer

    other = grid.pki.ca("Some Other Client CA")
    with DisetServer(net_world.localhost, [other]) as server:
        url = f"dips://localhost:{server.port}/Configuration/Server"
        client = World(grid, world.base / "rejected")
        client.cfg(url)
        client.env["X509_CERT_DIR"] = str(net_world.trust)
        proc = client.proxy_init("-g", GROUP)
        assert proc.returncode == 1
        assert keys(proc.stdout)[0] == "peer-closed", proc.stdout
        assert "NET-003" in candidates(proc.stdout)
        opts = ["--mu3e-cs-url", url, "--mu3e-nameserver", responder.address,
                "--mu3e-trust-dir", str(net_world.trust), "--mu3e-timeout", "10"]
        for ca in (grid.root, grid.ca, net_world.host_ca):
            opts += ["--mu3e-required-ca", _slash(ca)]
        r = client.explain(*opts, "--", str(PROXY_INIT), "-g", GROUP)
    text = section(r.stdout)
    assert r.returncode == 1
    assert "NET-003 failed" in text.split("ruled out")[0], text


def _slash(ca) -> str:
    from mu3e_checks.knowledge.pki import dn_slash

    return dn_slash(ca.subject)


# ------------------------------------------------- a real DIRAC 8.0.74 Configuration Server

@pytest.fixture(scope="module")
def real_cs(net_world, loopback_only):
    from mu3e_checks.knowledge.pki import dn_slash
    from tests.support.dirac_cs import RealConfigurationServer
    from tests.support.net_world import GROUP as CS_GROUP

    users = {"jane": (net_world.user_dn, dn_slash(net_world.grid.ca.cert.subject), [CS_GROUP])}
    server = RealConfigurationServer(net_world.base / "explain-cs-root", closed_port(),
                                     net_world.localhost, net_world.trust, users)
    with server:
        yield server



def cs_client(grid, net_world, cs, base: Path, user=None) -> World:
    """A home whose trust dir (with fresh CRLs) also holds the CS's host CA, and whose
    dirac.cfg names ``cs``."""
    from tests.support.pki_factory import crls_for, write_trust_dir

    client = World(grid, base, user=user)
    host_ca = [net_world.host_ca]
    write_trust_dir(Path(client.env["X509_CERT_DIR"]), host_ca, crls_for(grid.pki, host_ca))
    client.cfg(cs.url)
    return client


def cs_options(grid, net_world, cs, responder) -> list[str]:
    """The diagnosis options for a test CS: its URL, the test DNS, and the test CAs as the
    required ones."""
    required = [a for ca in (grid.root, grid.ca, net_world.host_ca)
                for a in ("--mu3e-required-ca", _slash(ca))]
    return ["--mu3e-cs-url", cs.url, "--mu3e-nameserver", responder.address,
            "--mu3e-timeout", "10", *required]


def test_unregistered_dn_is_confirmed_by_net_006(grid, net_world, real_cs, responder,
                                                  tmp_path):
    stranger = grid.pki.user(grid.ca, "Unknown Stranger")
    client = cs_client(grid, net_world, real_cs, tmp_path, user=stranger)
    proc = client.proxy_init("-g", GROUP)
    assert proc.returncode == 1, proc.stdout
    assert "is not registered" in proc.stdout, proc.stdout
    assert "dn-unregistered" in keys(proc.stdout)
    r = client.explain(*cs_options(grid, net_world, real_cs, responder), "--",
                       str(PROXY_INIT), "-g", GROUP)
    text = section(r.stdout)
    assert r.returncode == 1
    assert "NET-006 failed" in text.split("ruled out")[0], text
    assert "ruled out: DIRAC read no dirac.cfg, so it knows no users (CFG-001 passed)" in text


def test_wrong_group_is_confirmed_by_group_002(grid, net_world, real_cs, responder, tmp_path):
    client = cs_client(grid, net_world, real_cs, tmp_path)
    proc = client.proxy_init("-g", "mu3e.org_admin")
    assert proc.returncode == 1, proc.stdout
    assert "Requested group mu3e.org_admin is not valid for DN" in proc.stdout, proc.stdout
    assert keys(proc.stdout)[0] == "wrong-group"
    r = client.explain(*cs_options(grid, net_world, real_cs, responder), "--",
                       str(PROXY_INIT), "-g", "mu3e.org_admin")
    text = section(r.stdout)
    assert r.returncode == 1
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: -g asked for a group the server does not give your DN" in \
        confirmed, text
    # DIRAC 8.0.74 leaves a proxy without any group: GROUP-001 decides, and gives the command
    assert "GROUP-001 failed" in confirmed
    assert "dirac-proxy-init -g mu3e.org_user -M -t" in confirmed


# ------------------------------------- issue 22: context decides, with the real CS's answers

def _guarded_cs(net_world, base: Path, trust: Path | None = None):
    """A real 8.0.74 CS as GridPP runs it (Authorization/Default = authenticated), knowing only
    jane; one per test, as the server caches each DN's verdict for 60 s."""
    from mu3e_checks.knowledge.pki import dn_slash
    from tests.support.dirac_cs import RealConfigurationServer

    users = {"jane": (net_world.user_dn, dn_slash(net_world.grid.ca.cert.subject), [GROUP])}
    return RealConfigurationServer(base / "cs-root", closed_port(), net_world.localhost,
                                   trust or net_world.trust, users, authenticated=True)


def test_nocs_after_dirac_configure_is_harmless_and_the_same_lines_after_the_cs_are_not(
        grid, net_world, responder, tmp_path):
    """The guide's order: ``--nocs``, ``dirac-configure``, then ``--nocs`` again prints the
    upload lines with setup GridPP and "Proxy generated": harmless, exit 0, no check run,
    nothing left unexplained.  The same lines from a run that contacted the CS are harmful
    (the upload failed), and the checks decide why: this server names no ProxyManager for
    the setup (NET-012)."""
    with _guarded_cs(net_world, tmp_path) as cs:
        client = cs_client(grid, net_world, cs, tmp_path / "c")
        client.cfg(None)
        assert client.proxy_init("--nocs").returncode == 0
        configure = client.run([str(DIRAC / "bin" / "dirac-configure"), "-F", "-S", "GridPP",
                                "-C", cs.url, "-I"])
        assert configure.returncode == 0, configure.stdout
        nocs = client.proxy_init("--nocs")
        assert nocs.returncode == 0, nocs.stdout
        assert "Cannot get URL for Framework/ProxyManager in setup GridPP" in nocs.stdout
        assert "Proxy generated:" in nocs.stdout, nocs.stdout
        reading = explain.read(nocs.stdout)
        assert keys(nocs.stdout) == ["nocs-upload"] and not reading.unexplained, nocs.stdout
        assert {"dirac-progress", "proxy-fields"} <= all_keys(nocs.stdout)
        # pasted with the prompt line it was typed at, the command line says --nocs
        typed = f"[jane@merlin-l-001 ~]$ dirac-proxy-init --nocs\n{nocs.stdout}"
        assert "command-line" in all_keys(typed) and keys(typed) == ["nocs-upload"]
        r = client.explain(*cs_options(grid, net_world, cs, responder), "--", str(PROXY_INIT),
                           "--nocs")
        assert r.returncode == 0, r.stdout[-3000:]
        text = section(r.stdout)
        assert "verdict: harmless" in text and "(harmful)" not in text, text
        assert "Mu3e DIRAC client diagnosis" not in r.stdout  # no check ran
        assert "not explained" not in text
        log = tmp_path / "nocs.log"
        log.write_text(nocs.stdout)
        pasted = client.explain("--file", str(log))
        assert pasted.returncode == 0 and "verdict: harmless" in section(pasted.stdout)
        # the same lines once dirac-proxy-init did contact the CS
        argv = [str(PROXY_INIT), "-g", GROUP]
        full = client.run(argv)
        assert "Contacting CS..." in full.stdout and "in setup GridPP" in full.stdout
        assert "setup-mismatch" in keys(full.stdout), full.stdout
        r = client.explain(*cs_options(grid, net_world, cs, responder), "--", *argv)
        text = section(r.stdout)
        assert r.returncode == 0  # dirac-proxy-init's own: it does not stop on the upload
        confirmed = text.split("ruled out")[0]
        assert "confirmed cause: the Configuration Server does not name this service for " \
               "your setup" in confirmed, text
        assert "NET-012 warned" in confirmed, text


@pytest.mark.parametrize("case", ["unregistered", "wrong-group"])
def test_unauthorized_query_is_the_server_refusing_the_dn_or_group(grid, net_world, responder,
                                                                   tmp_path, case):
    """``dirac-proxy-info`` with a DN the server does not know, or a proxy for a group the
    user is not in: "Can't update from server ... Unauthorized query" then "Cannot contact CS
    to get user list".  Not an unreachable server: NET-009 (and NET-006) confirm the refusal."""
    with _guarded_cs(net_world, tmp_path) as cs:
        if case == "unregistered":
            client = cs_client(grid, net_world, cs, tmp_path / "c",
                             user=grid.pki.user(grid.ca, "Unknown Stranger"))
            made = client.run([str(PROXY_INIT), "--nocs", "-N"])
            assert made.returncode == 0, made.stdout
        else:
            client = cs_client(grid, net_world, cs, tmp_path / "c")
            proxy = Path(client.env["X509_USER_PROXY"])
            proxy.write_bytes(grid.pki.proxy(grid.user, group="mu3e.org_admin").proxy_file())
            proxy.chmod(0o600)
        argv = [str(DIRAC / "bin" / "dirac-proxy-info")]
        proc = client.run(argv)
        assert "Unauthorized query" in proc.stdout, proc.stdout
        assert "Cannot contact CS to get user list" in proc.stdout, proc.stdout
        reading = explain.read(proc.stdout)
        assert keys(proc.stdout) == ["cs-refused-dn"] and not reading.unexplained, proc.stdout
        report = tmp_path / "refused.json"
        r = client.explain(*cs_options(grid, net_world, cs, responder), "--mu3e-json",
                           str(report), "--", *argv)
    text = section(r.stdout)
    assert r.returncode == proc.returncode
    confirmed = text.split("ruled out")[0]
    assert "confirmed cause: the Configuration Server refuses your proxy" in confirmed, text
    assert "NET-009 failed" in confirmed and "could not reach" not in text, text
    ids = [c["id"] for cause in json.loads(report.read_text())["explained"]["causes"]
           for c in cause["checks"]]
    assert ids[0] == "NET-009" and "NET-006" in ids
    if case == "wrong-group":
        assert "GROUP-002" in ids


def _server_distrusting_the_user_ca(grid, net_world, base: Path):
    from tests.support.pki_factory import write_trust_dir

    trust = write_trust_dir(base / "server-trust", [grid.root, net_world.host_ca])
    return _guarded_cs(net_world, base, trust)


def _peer_closed_explained(grid, net_world, responder, base: Path):
    with _server_distrusting_the_user_ca(grid, net_world, base) as cs:
        client = cs_client(grid, net_world, cs, base / "c")
        argv = [str(PROXY_INIT), "-g", GROUP]
        proc = client.run(argv)
        assert proc.returncode == 1, proc.stdout
        # DIRAC says either, depending on when the server's close arrives
        assert "Peer closed connection" in proc.stdout or \
            "Transport endpoint is not connected" in proc.stdout, proc.stdout
        reading = explain.read(proc.stdout)
        assert keys(proc.stdout) == ["peer-closed"] and not reading.unexplained, proc.stdout
        report = base / "closed.json"
        r = client.explain(*cs_options(grid, net_world, cs, responder), "--mu3e-json",
                           str(report), "--", *argv)
    return section(r.stdout), json.loads(report.read_text())["explained"]


def test_a_server_that_does_not_trust_the_users_ca_is_not_a_ping_problem(
        grid, net_world, responder, tmp_path):
    """The real CS trusts another CA for clients and drops the connection after TLS: "Peer
    closed connection".  Every line is the certificate's story, decided by NET-003, and never
    "run dirac-proxy-init again" (NET-004's advice)."""
    text, data = _peer_closed_explained(grid, net_world, responder, tmp_path)
    assert [e["id"] for e in data["entries"] if not e["ordinary"]] == ["peer-closed"]
    # NET-003 waits for the server's verdict after the handshake, fails on the close, and so
    # confirms the certificate cause: the headline, never a ping problem
    confirmed = {c["cause"]: [k["id"] for k in c["checks"]] for c in data["causes"]}
    (certificate,) = [c for c in confirmed if c.startswith("the server does not accept your")]
    assert confirmed[certificate] == ["NET-003"], data
    assert data["causes"][0]["cause"] == certificate, data
    decided = {**confirmed, **{r["cause"]: r["checks"] for r in data["ruled_out"]}}
    named = {c for checks in decided.values() for c in checks}
    assert "NET-004" not in named and "run dirac-proxy-init again" not in text, text


def test_unknown_text_is_not_recognised_and_runs_the_full_diagnosis(world):
    log = world.base / "unknown.log"
    log.write_text("Segmentation fault (core dumped)\n")
    report = world.base / "unknown.json"
    r = world.explain("--mu3e-offline", "--mu3e-json", str(report), "--file", str(log))
    text = section(r.stdout)
    assert "not recognised" in text and "Segmentation fault" in text
    assert "confirmed cause" not in text
    assert r.returncode == 1
    # the full diagnosis ran (every check has a result) and the user's own JSON report stays
    data = json.loads(report.read_text())
    assert {c["id"] for c in data["checks"]} == {
        c for c in registry.load_all() if not profile.excluded(profile.USER, c)}
    assert data["explained"]["verdict"] == "not recognised"
    assert data["explained"]["not_explained"] == ["Segmentation fault (core dumped)"]


def _dirac_sources() -> str:
    roots = sorted((DIRAC / "lib").glob("python3*/site-packages/DIRAC"))
    assert roots, f"DIRAC 8.0.74 sources missing under {DIRAC}/lib"
    return "\n".join(p.read_text(errors="replace") for p in roots[0].rglob("*.py"))


def test_dirac_anchors_occur_in_the_installed_sources():
    """A pattern whose text DIRAC no longer prints would silently never match."""
    src = _dirac_sources()
    missing = [(e.key, a.text) for e in explain.CATALOGUE for a in e.anchors
               if a.origin == FROM_DIRAC and a.text not in src]
    assert not missing
    others = {a.origin for e in explain.CATALOGUE for a in e.anchors} - {FROM_DIRAC}
    assert others <= set(explain.ORIGINS)


def test_every_entry_is_produced_by_a_real_program_in_a_test():
    """Issue 12's rule: every message family is keyed from a real program's output in one of
    the real-program test files, never only from typed-in text (tests/unit/test_explain.py).
    A new entry without such a test fails here."""
    here = Path(__file__).parent
    text = "".join((here / name).read_text() for name in
                   ("test_explain_dirac.py", "test_explain_voms.py", "test_explain_real.py",
                    "test_explain_v9.py"))
    assert [e.key for e in explain.CATALOGUE if f'"{e.key}"' not in text] == []


# ------------------------------------------------------------------- OpenSSL's own messages

def _openssl_home(grid, base: Path, case: str) -> tuple[Path, Path]:
    """A home whose trust dir or certificate is broken the way ``case`` says (for
    ``crl-missing``: the CAs without any CRL)."""
    from tests.support.pki_factory import DAY, crls_for, write_credentials, write_trust_dir

    pki = grid.pki
    user = grid.user
    cas, crl_kw, revoked = grid.cas, {}, ()
    if case == "crl-outdated":
        crl_kw = dict(last_update=pki.now - 10 * DAY, next_update=pki.now - DAY)
    elif case == "cert-revoked":
        revoked = (user,)
    elif case == "unknown-ca":
        cas = [grid.root]  # the issuing CA of the user is missing
    elif case == "cert-expired":
        user = pki.user(grid.ca, "Expired Physicist", expired=True)
    home = base / case / "home"
    write_credentials(home / ".globus", user)
    cadir = home / "dirac_ui/diracos/etc/grid-security/certificates"
    crls = {} if case == "crl-missing" else crls_for(pki, cas, **crl_kw)
    if revoked:
        crls[id(grid.ca)] = pki.crl(grid.ca, revoked)
    write_trust_dir(cadir, cas, crls)
    return home, cadir


@pytest.mark.parametrize("case,confirmed", [
    ("crl-outdated", "CRL-003"), ("cert-revoked", "CRL-004"), ("unknown-ca", "CA-006"),
    ("cert-expired", "CERT-008"), ("crl-missing", "CRL-001"),
])
def test_openssl_verify_messages_are_explained(grid, tmp_path, case, confirmed):
    import shutil

    openssl = shutil.which("openssl")
    assert openssl, "real peer openssl is missing"
    home, cadir = _openssl_home(grid, tmp_path, case)
    cert = home / ".globus" / "usercert.pem"
    argv = [openssl, "verify", "-crl_check_all", "-CApath", str(cadir), str(cert)]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=60)
    assert proc.returncode != 0, proc.stdout
    assert keys(proc.stdout)[0] == case, proc.stdout
    assert confirmed in candidates(proc.stdout)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS", "MU3E_", "PYTEST_"))}
    env.update(HOME=str(home), X509_CERT_DIR=str(cadir), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "explain", "--mu3e-offline",
                        "--mu3e-home", str(home), "--", *argv], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600, cwd=tmp_path)
    text = section(r.stdout)
    assert r.returncode == proc.returncode
    assert "confirmed cause" in text, text
    confirmed_block = text.split("confirmed cause", 1)[1].split("ruled out", 1)[0]
    assert f"{confirmed} failed" in confirmed_block, text


@pytest.mark.parametrize("case,confirmed", [("crl-outdated", "CRL-003"),
                                            ("cert-revoked", "CRL-004")])
def test_voms_proxy_init_messages_are_explained(grid, tmp_path, case, confirmed):
    """voms-proxy-init makes the proxy, then reports the CRL problem and exits 1."""
    import shutil

    voms = shutil.which("voms-proxy-init")
    assert voms, "real peer voms-proxy-init is missing"
    home, cadir = _openssl_home(grid, tmp_path, case)
    signing_policies(cadir)
    globus = home / ".globus"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS", "MU3E_", "PYTEST_"))}
    env.update(HOME=str(home), X509_CERT_DIR=str(cadir), PYTHONPATH=str(ROOT),
               X509_USER_CERT=str(globus / "usercert.pem"),
               X509_USER_KEY=str(globus / "userkey.pem"),
               X509_USER_PROXY=str(tmp_path / "vp"))
    argv = [voms, "-rfc"]
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stdout
    assert keys(proc.stdout)[0] == case, proc.stdout
    r = subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "explain", "--mu3e-offline",
                        "--mu3e-home", str(home), "--", *argv], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600, cwd=tmp_path, stdin=subprocess.DEVNULL)
    text = section(r.stdout)
    assert r.returncode == 1
    assert f"{confirmed} failed" in text.split("ruled out")[0], text
