"""TLS endpoints on loopback standing in for the VO's VOMS servers.

Why stand-ins: a real voms-server (Debian's ``voms-server``) needs a VOMS database of its own
(MySQL/MariaDB schema, VO admin tools, host credentials) before it answers anything; what the
network checks (NET-014/NET-015) decide is only whether DNS, TCP and the TLS handshake work and
which certificate the server presents, and that is exactly what a TLS listener with a host
certificate shows.  One endpoint per verdict: :class:`VomsStandIn` (answers TLS with the given
host certificate; with another certificate than the .lsc names it is the DN-mismatch case),
``closed_port`` (refused) and ``StallServer`` (accepts TCP, never speaks TLS) from
:mod:`tests.support.diset_server`.

The stand-in asks for a client certificate but does not require one, like a VOMS server that
checks the proxy only after the handshake; it never answers a VOMS request, so a real
voms-proxy-init against it fails after TLS (which no test relies on).
"""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.diset_server import ALLOW_PROXY_CERTS, _Base, _linger
from tests.support.pki_factory import Entity, pem


class VomsStandIn(_Base):
    """A loopback TLS server presenting ``host_cert``; it closes each connection after the
    handshake (and after whatever the client sends first)."""

    def __init__(self, host_cert: Entity, client_cas: Sequence[Entity] = (), *,
                 host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._dir = tempfile.TemporaryDirectory(prefix="voms-standin-")
        cert, key = Path(self._dir.name) / "host.pem", Path(self._dir.name) / "host.key"
        cert.write_bytes(pem(host_cert, *host_cert.chain))
        key.write_bytes(host_cert.key_pem())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        if client_cas:
            cas = Path(self._dir.name) / "ca.pem"
            cas.write_bytes(pem(*client_cas))
            ctx.load_verify_locations(cafile=str(cas))
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.verify_flags |= ALLOW_PROXY_CERTS
        self.ctx = ctx
        self.handshakes = 0

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with self.ctx.wrap_socket(conn, server_side=True) as tls:
            self.handshakes += 1
            try:
                tls.recv(1024)
            except (OSError, ssl.SSLError):
                pass
            _linger(tls)

    def stop(self) -> None:
        super().stop()
        self._dir.cleanup()


def vomses_line(host: str, port: int, dn: str, vo: str = "mu3e.org") -> str:
    """One vomses line as dirac-configure writes it."""
    return f'"{vo}" "{host}" "{port}" "{dn}" "{vo}"\n'


def write_lsc(vomsdir: Path, host: str, server_dn: str, ca_dn: str,
              vo: str = "mu3e.org") -> Path:
    """``vomsdir/<vo>/<host>.lsc``: the server's DN, then its CA's DN."""
    path = vomsdir / vo / f"{host}.lsc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{server_dn}\n{ca_dn}\n")
    return path
