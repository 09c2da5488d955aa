"""A real DIRAC 8.0.74 Configuration Server on loopback, started and stopped by the tests.

Recipe (real-peers.md): ``DIRAC_ROOT_PATH=<root> X509_CERT_DIR=<cadir> dirac-service
Configuration/Server`` with ``<root>/etc/dirac.cfg`` naming the setup, host, host certificate
and the service's port, and ``<root>/etc/Test.cfg`` the served configuration with the Registry.
DIRAC comes from ``$MU3E_TEST_DIRAC`` (default ``/opt/mu3e-dirac-8.0.74``, made by
``.ci/install-dirac``); a missing installation is a test failure, not a skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.pki_factory import Entity, pem

DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
SETUP = "GridPP"


def person_dn(cn: str) -> str:
    """The DN of a test user the served Registry knows (tests/support/net_world.py's CA)."""
    return f"/C=CH/O=Mu3e Test Grid/OU=Physics/CN={cn}"


def dirac_bin(tool: str) -> Path:
    path = DIRAC_VENV / "bin" / tool
    if not path.is_file():
        raise AssertionError(f"real DIRAC 8.0.74 missing: {path} (install it with "
                             ".ci/install-dirac, or set MU3E_TEST_DIRAC)")
    return path


def stop_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return f"(no log at {path})"


class DiracService:
    """A real ``dirac-service <system>/<service>`` on ``port`` under ``root``: its host
    credentials, its environment (nothing of the caller's grid variables), its log, and a
    bounded start that waits for "Listening at".  Subclasses write ``root/etc/dirac.cfg``."""

    SERVICE = ""

    def __init__(self, root: Path, port: int, host_cert: Entity, trust_dir: Path) -> None:
        self.root = root
        self.port = port
        self.url = f"dips://localhost:{port}/{self.SERVICE}"
        self.etc = root / "etc"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = root / "hostcert.pem", root / "hostkey.pem"
        self.cert.write_bytes(pem(host_cert))
        self.key.write_bytes(host_cert.key_pem())
        os.chmod(self.key, 0o600)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("X509_", "DIRAC", "GRID_", "MU3E_"))}
        self.env.update(DIRAC_ROOT_PATH=str(root), X509_CERT_DIR=str(trust_dir),
                        HOME=str(root))
        self.log = root / f"{self.SERVICE.replace('/', '-')}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: float = 120) -> DiracService:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(dirac_bin("dirac-service")), self.SERVICE],
                                         env=self.env, cwd=self.root, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if "Listening at" in tail(self.log, 1 << 20):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"DIRAC {self.SERVICE} did not start:\n{tail(self.log)}")

    def stop(self) -> None:
        stop_group(self.proc)

    def __enter__(self):  # noqa: ANN204 - the subclass itself
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cfg_users(users: Mapping[str, tuple[str, str, Sequence[str]]],
               group_options: Mapping[str, Mapping[str, str]] = {}) -> tuple[str, str]:
    """Users and Groups sections for ``{name: (DN, CA DN, groups)}``; ``group_options`` adds
    options (VOMSRole, VOMSVO) to a group."""
    user_lines, members = [], {}
    for name, (dn, ca, groups) in users.items():
        user_lines.append(f"    {name}\n    {{\n      DN = {dn}\n      CA = {ca}\n    }}")
        for g in groups:
            members.setdefault(g, []).append(name)
    group_lines = []
    for g, m in members.items():
        extra = "".join(f"\n      {k} = {v}" for k, v in group_options.get(g, {}).items())
        group_lines.append(f"    {g}\n    {{\n      Users = {', '.join(m)}\n      Properties = "
                           f"NormalUser\n      VO = mu3e.org{extra}\n    }}")
    return "\n".join(user_lines), "\n".join(group_lines)


#: The VO section served by default (what the tests before the server's-view checks expect).
PLAIN_VO_CFG = """    mu3e.org
    {
      VOAdmin = jane
    }"""

#: A VO section with VOMS servers as GridPP lists them (host names of the test domain;
#: nothing here contacts them).
VO_CFG = """    mu3e.org
    {
      VOAdmin = jane
      VOMSName = mu3e.org
      VOMSServers
      {
        voms.mu3e.test
        {
          DN = /C=CH/O=Mu3e Test Grid/CN=voms.mu3e.test
          CA = /C=CH/O=Mu3e Test Grid/CN=Mu3e Test Host CA
          Port = 15030
        }
        voms2.mu3e.test
        {
          DN = /C=CH/O=Mu3e Test Grid/CN=voms2.mu3e.test
          CA = /C=CH/O=Mu3e Test Grid/CN=Mu3e Test Host CA
          Port = 15030
        }
      }
    }"""


class RealConfigurationServer(DiracService):
    """``dirac-service Configuration/Server`` on ``port``, serving ``etc/Test.cfg``."""

    SERVICE = "Configuration/Server"

    def __init__(self, root: Path, port: int, host_cert: Entity, trust_dir: Path,
                 users: Mapping[str, tuple[str, str, Sequence[str]]], *,
                 group_options: Mapping[str, Mapping[str, str]] = {},
                 more_servers: Sequence[str] = (), authenticated: bool = False,
                 vo_cfg: str = PLAIN_VO_CFG, dirac_cfg: str = "", systems_cfg: str = "",
                 registry_cfg: str = "") -> None:
        """``dirac_cfg`` goes inside the served ``DIRAC`` section (e.g. ``Setups``),
        ``systems_cfg`` after it, at the top level (e.g. ``Systems``), and ``registry_cfg``
        inside ``Registry`` (e.g. ``Hosts``): together they name a ProxyManager and let its
        host read the CS (tests/support/proxy_manager.py).  By default the served data has no
        /DIRAC/Setups, as a server too far from the client's version looks to it."""
        super().__init__(root, port, host_cert, trust_dir)
        etc, cert, key = self.etc, self.cert, self.key
        users_cfg, groups_cfg = _cfg_users(users, group_options)
        # ``authenticated``: Authorization/Default = authenticated, as DIRAC's ConfigTemplate.cfg
        # installs the service (and GridPP runs it).  Without it every query is allowed, so an
        # unregistered DN can read the Registry and dirac-proxy-init says "is not registered"
        # instead of "Unauthorized query".
        authorization = ("          Authorization\n          {\n            Default = "
                         "authenticated\n          }\n" if authenticated else "")
        #: /DIRAC/Configuration/Servers as served (what dirac-configure -I copies): this server,
        #: then ``more_servers`` (e.g. a dead one).
        self.servers = [self.url, *more_servers]
        servers_cfg = "\n".join(f"    Servers {'=' if i == 0 else '+='} {u}"
                                 for i, u in enumerate(self.servers)) if more_servers else ""
        (etc / "dirac.cfg").write_text(f"""DIRAC
{{
  Setup = {SETUP}
  Hostname = localhost
  Configuration
  {{
    Name = Test
    Master = yes
    Servers = {self.url}
  }}
  Security
  {{
    CertFile = {cert}
    KeyFile = {key}
    UseServerCertificate = yes
  }}
  Setups
  {{
    {SETUP}
    {{
      Configuration = Production
      Framework = Production
    }}
  }}
}}
Systems
{{
  Configuration
  {{
    Production
    {{
      Services
      {{
        Server
        {{
          HandlerPath = DIRAC/ConfigurationSystem/Service/ConfigurationHandler.py
          Port = {port}
{authorization}        }}
      }}
      URLs
      {{
        Server = {self.url}
      }}
    }}
  }}
}}
""")
        (etc / "Test.cfg").write_text(f"""DIRAC
{{
  Configuration
  {{
    Name = Test
{servers_cfg}
  }}
{dirac_cfg}
}}
{systems_cfg}
Registry
{{
  DefaultGroup = mu3e.org_user
  Users
  {{
{users_cfg}
  }}
  Groups
  {{
{groups_cfg}
  }}
  VO
  {{
{vo_cfg}
  }}
{registry_cfg}
}}
""")
