"""A loopback HTTP(S) server standing in for the CAs' CRL endpoints and the EGI repository,
honest or hostile: besides bytes, a path may stall, drip, redirect or never end."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional, Union

#: What a path serves: bytes, or ``STALL`` (the server holds the connection without answering).
STALL = "stall"


@dataclass(frozen=True)
class Drip:
    """Headers at once (with the full ``Content-Length``), then the body one byte every
    ``every`` seconds: alive for any per-read timeout, never done."""

    body: bytes
    every: float = 1.0


@dataclass(frozen=True)
class Redirect:
    """A redirect to ``location`` (absolute, or relative to this server)."""

    location: str
    status: int = 302


@dataclass(frozen=True)
class Endless:
    """A 200 whose body never ends (``chunk`` again and again), with ``announce`` as its
    Content-Length when given: the huge endpoint."""

    chunk: bytes = b"\0" * 65536
    announce: Optional[int] = None


Content = Union[bytes, str, Drip, Redirect, Endless]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.hits.append(self.path)
        body = self.server.content.get(self.path)
        try:
            self._answer(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.server.aborted.append(self.path)  # the client hung up before the end

    def _answer(self, body: Optional[Content]) -> None:
        if body == STALL:
            time.sleep(self.server.stall_seconds)
            return
        if body is None:
            self.send_error(404)
            return
        if isinstance(body, Redirect):
            self.send_response(body.status)
            location = body.location
            if location.startswith("/"):
                location = self.server.base + location
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(body, Drip):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body.body)))
            self.end_headers()
            self.wfile.flush()
            for i in range(len(body.body)):
                if self.server.stopping.is_set():
                    return
                self.wfile.write(body.body[i:i + 1])
                self.wfile.flush()
                self._count(1)
                time.sleep(body.every)
            return
        if isinstance(body, Endless):
            self.send_response(200)
            if body.announce is not None:
                self.send_header("Content-Length", str(body.announce))
            self.end_headers()
            while not self.server.stopping.is_set():
                self.wfile.write(body.chunk)
                self._count(len(body.chunk))
            return
        assert isinstance(body, bytes)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._count(len(body))

    def _count(self, n: int) -> None:
        self.server.sent[self.path] = self.server.sent.get(self.path, 0) + n

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.content: dict[str, Content] = {}
        self.hits: list[str] = []
        self.aborted: list[str] = []  # paths whose client hung up before the end
        self.sent: dict[str, int] = {}  # body bytes written, by path
        self.stopping = threading.Event()
        self.stall_seconds = 5.0
        self.tls = tls

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        if self.tls is not None:  # the handshake runs in the handler's thread, on first read
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses our certificate ends its handshake: expected, not noise

    @property
    def base(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


def tls_context(ca: Any, directory: Path) -> ssl.SSLContext:
    """A server context whose certificate, for the IP address 127.0.0.1, is issued by ``ca``
    (a :class:`tests.support.pki_factory.Entity`): the client trusts it exactly when it is
    given ``ca``'s certificate (``REQUESTS_CA_BUNDLE``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from tests.support.pki_factory import new_key, pem

    key = new_key(fresh=True)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    chain = Path(tempfile.mkstemp(suffix=".pem", dir=directory)[1])
    chain.write_bytes(pem(cert) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain)
    return ctx


@contextmanager
def serve(content: dict[str, Content], stall_seconds: float = 5.0,
          tls: Optional[ssl.SSLContext] = None) -> Iterator[_Server]:
    """Serve ``content`` (path -> bytes or STALL) on 127.0.0.1 until the block ends; over
    HTTPS with ``tls`` (see :func:`tls_context`)."""
    server = _Server(tls)
    server.content.update(content)
    server.stall_seconds = stall_seconds
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def point_crl_urls(ca_dir: Path, cas: Any, base: str) -> list[str]:
    """Write ``<hash>.crl_url`` for each CA (test :class:`~tests.support.pki_factory.Entity`)
    in ``ca_dir``, pointing at ``<base>/<hash>.crl``; the hashes, in the order of ``cas``."""
    from tests.support.pki_factory import subject_hash

    hashes = [subject_hash(ca.cert) for ca in cas]
    for h in hashes:
        (ca_dir / f"{h}.crl_url").write_text(f"{base}/{h}.crl\n")
    return hashes
