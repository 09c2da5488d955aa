"""A real DIRAC 8.0.74 ProxyManager on a private MariaDB, started and stopped by the tests.

Recipe (dirac-v8-facts.md, "Running a ProxyManager in tests"): ``mariadb-install-db`` makes a
private data dir, ``mariadbd`` serves it on 127.0.0.1 (and a socket for our own set-up), the
``ProxyDB`` database and a user are created, and ``dirac-service Framework/ProxyManager`` runs
with ``/Systems/Framework/<instance>/Databases/ProxyDB`` pointing at it; ProxyDB creates its
own tables.  The service reads the Registry from the test Configuration Server, whose served
data names it through :func:`served_setups` and :func:`served_systems`.

Everything is a real program: MariaDB from Debian (``mariadb-server-core``, installed by
.ci/install-peers) and DIRAC with MySQLdb from ``$MU3E_TEST_DIRAC`` (.ci/install-dirac).  A
missing one is a test failure, not a skip.  Every wait is bounded, and each server is started
in a session of its own and stopped by killing that process group.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from tests.support.dirac_cs import SETUP, DiracService, stop_group, tail
from tests.support.pki_factory import Entity

INSTANCE = "Production"  # /DIRAC/Setups/GridPP/Framework in the served data
DB_NAME = "ProxyDB"
DB_USER = "dirac"
DB_PASSWORD = "mu3e-test-only"  # a throw-away database on loopback, gone after the test


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.is_file()),
        None)
    if path is None:
        raise AssertionError(f"real peer {name} is missing: install mariadb-server-core "
                             "(.ci/install-peers)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateMariaDB:
    """``mariadbd`` on 127.0.0.1:``port`` over a data dir of its own, with ``ProxyDB`` and a
    user for DIRAC.  As root, ``mariadbd`` runs only with an explicit ``--user=root``."""

    def __init__(self, base: Path, port: Optional[int] = None) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.log = base / "mariadbd.err"
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen] = None
        self._user = ["--user=root"] if os.geteuid() == 0 else []

    def start(self, wait: float = 60) -> PrivateMariaDB:
        self.base.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            [_tool("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._user],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if install.returncode != 0:
            raise AssertionError(f"mariadb-install-db failed:\n{install.stdout}\n"
                                 f"{install.stderr}")
        with open(self.base / "mariadbd.out", "wb") as out:
            self.proc = subprocess.Popen(
                [_tool("mariadbd"), "--no-defaults", f"--datadir={self.datadir}",
                 f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                 "--skip-name-resolve", f"--pid-file={self.base / 'mariadbd.pid'}",
                 f"--log-error={self.log}", "--innodb-buffer-pool-size=16M", *self._user],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            if "ready for connections" in tail(self.log, 100000) and self.socket.exists():
                self.sql(f"CREATE DATABASE {DB_NAME};"
                         f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
                         f"GRANT ALL PRIVILEGES ON {DB_NAME}.* TO '{DB_USER}'@'127.0.0.1';")
                return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"mariadbd did not start within {wait:g} s:\n{tail(self.log)}")

    def sql(self, statements: str, database: str = "") -> str:
        """Run SQL as the database's root over the socket; the output, tab-separated."""
        argv = [_tool("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
                "--batch", "--skip-column-names", "-e", statements]
        if database:
            argv.append(database)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"SQL failed: {statements}\n{proc.stderr}")
        return proc.stdout

    def stop(self) -> None:
        stop_group(self.proc)

    def __enter__(self) -> PrivateMariaDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def served_setups(instance: str = INSTANCE) -> str:
    """The served ``/DIRAC/Setups`` (inside the CS's DIRAC section): the setup's instances."""
    return f"""  Setups
  {{
    {SETUP}
    {{
      Configuration = {instance}
      Framework = {instance}
    }}
  }}"""


def served_systems(proxy_manager_url: str, bundle_delivery_url: str,
                   instance: str = INSTANCE) -> str:
    """The served ``/Systems/Framework/<instance>/URLs``: where the client finds the
    ProxyManager (and BundleDelivery, which no test here runs)."""
    return f"""Systems
{{
  Framework
  {{
    {instance}
    {{
      URLs
      {{
        ProxyManager = {proxy_manager_url}
        BundleDelivery = {bundle_delivery_url}
      }}
    }}
  }}
}}"""


def served_hosts(host_dn: str, name: str = "localhost") -> str:
    """The served ``/Registry/Hosts`` entry for the ProxyManager's host certificate: a CS with
    ``Authorization/Default = authenticated`` answers a host only when it is registered, and
    without the Registry the ProxyManager refuses every upload ("Path /Registry/Users does not
    exist")."""
    return f"""  Hosts
  {{
    {name}
    {{
      DN = {host_dn}
      Properties = TrustedHost
    }}
  }}"""


class RealProxyManager(DiracService):
    """``dirac-service Framework/ProxyManager`` on ``port``, its ProxyDB in ``db``; it reads
    the Registry from the Configuration Server at ``cs_url``."""

    SERVICE = "Framework/ProxyManager"

    def __init__(self, root: Path, port: int, host_cert: Entity, trust_dir: Path,
                 cs_url: str, db: PrivateMariaDB, instance: str = INSTANCE) -> None:
        super().__init__(root, port, host_cert, trust_dir)
        etc, cert, key = self.etc, self.cert, self.key
        # The database's password stays in the service's local dirac.cfg: the CS never serves
        # it.  Authorization is the handler's own (getUserProxiesInfo: authenticated).
        (etc / "dirac.cfg").write_text(f"""DIRAC
{{
  Setup = {SETUP}
  Hostname = localhost
  Configuration
  {{
    Servers = {cs_url}
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
      Framework = {instance}
    }}
  }}
}}
Systems
{{
  Framework
  {{
    {instance}
    {{
      Services
      {{
        ProxyManager
        {{
          Port = {port}
        }}
      }}
      URLs
      {{
        ProxyManager = {self.url}
      }}
      Databases
      {{
        ProxyDB
        {{
          Host = 127.0.0.1
          Port = {db.port}
          User = {DB_USER}
          Password = {DB_PASSWORD}
          DBName = {DB_NAME}
        }}
      }}
    }}
  }}
}}
""")
        self.db = db

    def stored(self) -> str:
        """ProxyDB's stored proxies (DN, expiry), as the database holds them: in v8 uploads go
        to ``ProxyDB_CleanProxies``, one row per DN, without a group."""
        return self.db.sql("SELECT UserDN, ExpirationTime FROM ProxyDB_CleanProxies;", DB_NAME)
