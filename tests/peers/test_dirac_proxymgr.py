"""NET-012/NET-013 against a real DIRAC 8.0.74 Configuration Server and ProxyManager.

The CS serves /DIRAC/Setups and /Systems/Framework naming a real ``dirac-service
Framework/ProxyManager`` on a private MariaDB (tests/support/proxy_manager.py).  The real
``dirac-proxy-init -g mu3e.org_user`` (8.0.74) uploads each user's proxy, as the guide's last
step does, and then the diagnosis asks the ProxyManager what it holds.  Each test has a user of
its own: the ProxyDB keeps one stored proxy per DN, and the services cache DN -> user for 60 s.
Fails when DIRAC or MariaDB is not installed (CI installs them: .ci/install-peers).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mu3e_checks.knowledge.pki import dn_slash
from tests.support.dirac_cs import (
    SETUP,
    VO_CFG,
    RealConfigurationServer,
    dirac_bin,
    person_dn,
)
from tests.support.diset_server import closed_port
from tests.support.net_world import GROUP
from tests.support.pki_factory import write_credentials
from tests.support.proxy_manager import (
    PrivateMariaDB,
    RealProxyManager,
    free_port,
    served_hosts,
    served_setups,
    served_systems,
)
from tests.support.runner import run_checks

pytestmark = [pytest.mark.peer, pytest.mark.usefixtures("loopback_only")]

#: Registry users: nick -> CN.  Each test uploads (or not) for a user of its own.
PEOPLE = {"ulla": "Ulla Uploaded", "nora": "Nora Noupload", "sam": "Sam Soonexpiring",
          "hank": "Hank Highthreshold"}




@contextlib.contextmanager
def _services(net_world, name: str, *, host_registered: bool = True
              ) -> Iterator[tuple[RealConfigurationServer, RealProxyManager]]:
    """MariaDB, then the CS that names the ProxyManager, then the ProxyManager itself.

    ``host_registered=False`` leaves the ProxyManager's host out of /Registry/Hosts: the CS
    (Authorization/Default = authenticated) then refuses it its data, so the ProxyManager knows
    no users, as one whose CS connection broke."""
    ca = dn_slash(net_world.grid.ca.cert.subject)
    users = {nick: (person_dn(cn), ca, [GROUP]) for nick, cn in PEOPLE.items()}
    pm_port = free_port()
    pm_url = f"dips://localhost:{pm_port}/Framework/ProxyManager"
    bundle_url = f"dips://localhost:{closed_port()}/Framework/BundleDelivery"
    hosts = served_hosts(dn_slash(net_world.localhost.cert.subject)) if host_registered else ""
    cs = RealConfigurationServer(
        net_world.base / f"{name}-cs-root", closed_port(), net_world.localhost,
        net_world.trust, users,
        group_options={GROUP: {"VOMSRole": "/mu3e.org", "VOMSVO": "mu3e.org"}},
        authenticated=True, vo_cfg=VO_CFG, dirac_cfg=served_setups(),
        systems_cfg=served_systems(pm_url, bundle_url), registry_cfg=hosts)
    with PrivateMariaDB(net_world.base / f"{name}-mariadb") as db, cs:
        pm = RealProxyManager(net_world.base / f"{name}-pm-root", pm_port, net_world.localhost,
                              net_world.trust, cs.url, db)
        with pm:
            yield cs, pm


@pytest.fixture(scope="module")
def services(net_world, loopback_only):
    with _services(net_world, "pm") as both:
        yield both


class Person:
    """A registered user with ~/.globus, a DIRAC client config and a proxy path of their own."""

    def __init__(self, net_world, base: Path, cs_url: str, cn: str, days: float = 365) -> None:
        self.base = base
        self.dn = person_dn(cn)
        self.cert = net_world.grid.pki.user(net_world.grid.ca, cn, days=days)
        self.home = base / "home"
        self.home.mkdir(parents=True)
        cert, key = write_credentials(self.home / ".globus", self.cert)
        root = base / "dirac-root"
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "dirac.cfg").write_text(
            f"DIRAC\n{{\n  Setup = {SETUP}\n  Configuration\n  {{\n    Servers = {cs_url}\n"
            f"  }}\n  Security\n  {{\n    UseServerCertificate = no\n  }}\n}}\n")
        self.proxy = base / "x509up"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS", "MU3E_", "PYTEST_"))}
        self.env.update(HOME=str(self.home), X509_CERT_DIR=str(net_world.trust),
                        X509_USER_CERT=str(cert), X509_USER_KEY=str(key),
                        DIRAC_ROOT_PATH=str(root), X509_USER_PROXY=str(self.proxy))

    def proxy_init(self, *args: str) -> subprocess.CompletedProcess:
        """The real ``dirac-proxy-init -g mu3e.org_user`` (8.0.74), bounded."""
        proc = subprocess.run([str(dirac_bin("dirac-proxy-init")), "-g", GROUP, *args],
                              env=self.env, cwd=self.base, capture_output=True, text=True,
                              timeout=180, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert self.proxy.is_file(), proc.stdout
        return proc


def person(net_world, tmp_path, services, cn: str, **kw) -> Person:
    cs, _ = services
    return Person(net_world, tmp_path / "person", cs.url, cn, **kw)


def diagnose(who: Person, net_world, responder, services, *args: str):
    cs, _ = services
    return run_checks(who.home, "--mu3e-select", "NET-004,NET-009,NET-012,NET-013",
                      "--mu3e-cs-url", cs.url, "--mu3e-nameserver", responder.address,
                      "--mu3e-timeout", "10", "--mu3e-trust-dir", str(net_world.trust),
                      "--mu3e-proxy", str(who.proxy), *args, offline=False)


def test_uploaded_proxy_passes(net_world, tmp_path, responder, services):
    cs, pm = services
    who = person(net_world, tmp_path, services, PEOPLE["ulla"])
    out = who.proxy_init()
    assert "Proxies uploaded" in out.stdout, out.stdout
    assert who.dn in pm.stored()
    r = diagnose(who, net_world, responder, services)
    for cid in ("NET-004", "NET-009", "NET-012", "NET-013"):
        assert r.outcome(cid) == "passed", (cid, r[cid].message, pm.log.read_text()[-3000:])
    html = r.html.read_text()
    # The upload lasts as long as the user certificate (365 days here), not 24 h.
    assert re.search(re.escape(pm.url) + r" holds your proxy until \S+ \S+ UTC \((\d+) h left\)",
                     html), html
    hours = int(re.search(r"UTC \((\d+) h left\)", html).group(1))
    assert 360 * 24 < hours <= 365 * 24
    assert "[mu3e.org_user:ulla] RPC/getUserProxiesInfo" in pm.log.read_text()


def test_no_upload_fails_with_the_strict_command(net_world, tmp_path, responder, services):
    _, pm = services
    who = person(net_world, tmp_path, services, PEOPLE["nora"])
    out = who.proxy_init("--no-upload")
    assert "Uploading" not in out.stdout
    assert who.dn not in pm.stored()
    r = diagnose(who, net_world, responder, services)
    assert r.outcome("NET-012") == "passed", r["NET-012"].message
    case = r["NET-013"]
    assert case.outcome == "failed", case.message
    assert "holds no proxy for your DN" in case.message and who.dn in case.message
    assert case.fix == f"dirac-proxy-init -g {GROUP} -M -t"
    assert r.returncode == 1


def test_stored_proxy_expiring_soon_warns(net_world, tmp_path, responder, services):
    # The stored proxy lives as long as the user certificate (notAfter - 300 s): a certificate
    # with 6 h left gives an upload with less than the default 24 h.
    _, pm = services
    who = person(net_world, tmp_path, services, PEOPLE["sam"], days=0.25)
    who.proxy_init()
    assert who.dn in pm.stored()
    r = diagnose(who, net_world, responder, services)
    case = r["NET-013"]
    assert case.outcome == "warned", case.message
    assert "less than --mu3e-upload-warn-hours 24 h" in case.message
    assert case.fix.splitlines()[0] == f"dirac-proxy-init -g {GROUP} -M -t"
    assert "renew it first" in case.fix


def test_upload_warn_hours_above_the_time_left_warns(net_world, tmp_path, responder,
                                                     services):
    who = person(net_world, tmp_path, services, PEOPLE["hank"])
    who.proxy_init()
    r = diagnose(who, net_world, responder, services, "--mu3e-upload-warn-hours", "100000")
    case = r["NET-013"]
    assert case.outcome == "warned", case.message
    assert "less than --mu3e-upload-warn-hours 100000 h" in case.message
    r = diagnose(who, net_world, responder, services)
    assert r.outcome("NET-013") == "passed", r["NET-013"].message


def test_upload_to_a_proxymanager_without_registry_fails_silently_and_is_named(
        net_world, tmp_path, responder):
    # dirac-proxy-init (without -t) exits 0 although the ProxyManager refused the upload
    # ("Path /Registry/Users does not exist"); the ProxyManager then refuses to list proxies.
    with _services(net_world, "pm-noreg", host_registered=False) as (cs, pm):
        who = Person(net_world, tmp_path / "person", cs.url, PEOPLE["ulla"])
        out = who.proxy_init()
        assert "Proxies uploaded" not in out.stdout
        assert pm.stored() == ""
        r = diagnose(who, net_world, responder, (cs, pm))
        assert r.outcome("NET-012") == "passed", r["NET-012"].message
        case = r["NET-013"]
        assert case.outcome == "failed", case.message
        assert "the ProxyManager (" + pm.url + ") refused to list your proxies" in case.message
        assert "Unauthorized query" in case.message and who.dn in case.message
        assert "although the Configuration Server accepts your proxy" in case.message
        assert case.fix.splitlines() == [
            f"# tell the Mu3e computing contacts: the ProxyManager {pm.url} refuses a DN the "
            f"Configuration Server knows in group {GROUP}:", f"# {who.dn}"]
