"""Loopback servers for the network tests: a DISET (dips://) server and hostile ones.

:class:`DisetServer` is our own implementation of the server side of DIRAC's protocol: TLS with
a required client certificate (RFC 3820 proxies accepted), the ``<len>:<DEncode>`` framing, the
proposal / S_OK / arguments / result exchange, and ``ping`` and ``whoami`` with a small registry
(DN → user, groups) that maps unknown DNs and foreign groups to ``anonymous``/``visitor`` as
DIRAC does.  It can lie about its clock, stall or send garbage after the handshake.

Proxy certificates as client certificates: OpenSSL refuses them unless the verify flag
X509_V_FLAG_ALLOW_PROXY_CERTS is set on the server's store.  Python exposes it as
``ssl.VERIFY_ALLOW_PROXY_CERTS`` (Python >= 3.10; the value is 0x40 on older versions), set
through ``SSLContext.verify_flags``; with it a proxy chain (proxy, user, user CA) verifies.

The hostile ones: :func:`closed_port` (refused), :class:`StallServer` (accepts TCP, never says a
word), :class:`GarbageServer` (sends bytes that are not TLS), :class:`BlackholePort` (a listening
port whose queue is full, so SYNs go unanswered: a real TCP connect timeout on loopback).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import tempfile
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Optional

from cryptography import x509

from mu3e_checks.knowledge.net.dencode import decode, encode
from tests.support.pki_factory import DIRAC_GROUP_OID, PROXY_CERT_INFO_OID, Entity, pem

ALLOW_PROXY_CERTS = getattr(ssl, "VERIFY_ALLOW_PROXY_CERTS", 0x40)


def _frame(obj: object) -> bytes:
    payload = encode(obj)
    return str(len(payload)).encode() + b":" + payload


def _slash(name: x509.Name) -> str:
    short = {"countryName": "C", "organizationName": "O", "organizationalUnitName": "OU",
             "commonName": "CN", "localityName": "L", "domainComponent": "DC"}
    return "".join(f"/{short.get(a.oid._name, a.oid.dotted_string)}={a.value}"
                   for a in name)


def peer_identity(der: bytes) -> tuple[str, Optional[str], bool]:
    """(identity DN, DIRAC group, is proxy) of a client's leaf certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        cert.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
        is_proxy = True
    except x509.ExtensionNotFound:
        is_proxy = False
    group = None
    try:
        raw = cert.extensions.get_extension_for_oid(DIRAC_GROUP_OID).value.value
        group = raw[2:].decode()
    except x509.ExtensionNotFound:
        pass
    return _slash(cert.issuer if is_proxy else cert.subject), group, is_proxy


def _linger(sock: socket.socket) -> None:
    """Close without losing what was sent: closing a socket that still holds unread data from
    the peer (the proposal a client sends right after a TLS 1.3 handshake) resets the
    connection, and the peer never reads our last bytes (an alert, a garbage answer)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        for _ in range(64):
            if not sock.recv(4096):
                break
    except OSError:
        pass
    sock.close()


class _Base:
    def __init__(self, host: str = "127.0.0.1", family: int = socket.AF_INET) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.held: list[socket.socket] = []

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except Exception:  # one broken connection must not stop the server
            try:
                conn.close()
            except OSError:
                pass

    def cfg_text(self) -> str:
        """The served configuration: the registry as /Registry (VO mu3e.org, every group with
        VOMSRole /mu3e.org), in the layout a real CS's getCompressedData gives."""
        users = "".join(f"    {user}\n    {{\n      DN = {dn}\n    }}\n"
                        for dn, (user, _) in self.registry.items())
        members: dict[str, list[str]] = {}
        for user, groups in self.registry.values():
            for g in groups:
                members.setdefault(g, []).append(user)
        groups = "".join(f"    {g}\n    {{\n      Users = {', '.join(m)}\n      VO = mu3e.org\n"
                         f"      VOMSRole = /mu3e.org\n    }}\n" for g, m in members.items())
        return (f"Registry\n{{\n  Users\n  {{\n{users}  }}\n  Groups\n  {{\n{groups}  }}\n"
                "  VO\n  {\n    mu3e.org\n    {\n      VOMSName = mu3e.org\n    }\n  }\n}\n")

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StallServer(_Base):
    """Accepts TCP connections and never sends or reads anything."""

    def handle(self, conn: socket.socket) -> None:
        self.held.append(conn)


class GarbageServer(_Base):
    """Answers every connection with bytes that are neither TLS nor DISET, then closes."""

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + os.urandom(64))
        _linger(conn)


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released): connecting is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BlackholePort:
    """A listening port with a full accept queue: further SYNs are dropped, connects time out."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(64):  # bounded: the queue is full after a handful on any kernel
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(0.3)
            try:
                c.connect((host, self.port))
            except OSError:
                c.close()
                break
            self.fillers.append(c)
        else:
            raise RuntimeError("could not fill the accept queue")

    def __enter__(self) -> BlackholePort:
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self.fillers:
            c.close()
        self.sock.close()


class DisetServer(_Base):
    """A DISET service on loopback TLS.

    ``registry`` maps an identity DN (slash form) to (username, groups); the first group is the
    DN's default group.  ``time_offset`` seconds are added to the clock ``ping`` reports.
    ``mode``: ``ok``, ``stall`` (after the handshake), ``garbage`` (after the handshake).
    ``whoami_dn``: the DN whoami reports instead of the caller's (a hostile server's choice);
    ``whoami_extra``: fields that replace whoami's own (``secondsLeft``...).
    ``replies``: method → the result's Value to send instead of the method's own, or ``bytes``
    sent as they are in place of the framed result (a lying length, a bomb).
    ``refuse_by``: how a client certificate the server does not trust is turned down:
    ``alert`` (the alert reaches the client) or ``close`` (the connection is closed right after
    the handshake without a word, as a real DIRAC 8.0.74 server's refusal reaches a client whose
    first request is already in flight: "Peer closed connection").
    ``tickets``: TLS 1.3 session tickets sent once the client is accepted (0: none).
    """

    def __init__(self, host_cert: Entity, client_cas: Sequence[Entity], *,
                 registry: Optional[Mapping[str, tuple[str, Iterable[str]]]] = None,
                 services: Iterable[str] = ("Configuration/Server",),
                 version: str = "v8r0p74-test", time_offset: float = 0.0, mode: str = "ok",
                 host: str = "127.0.0.1", family: int = socket.AF_INET,
                 whoami_dn: Optional[str] = None, whoami_extra: Optional[dict] = None,
                 replies: Optional[Mapping[str, object]] = None, refuse_by: str = "alert",
                 tickets: int = 2) -> None:
        super().__init__(host, family)
        self.registry = {dn: (user, list(groups)) for dn, (user, groups) in
                         (registry or {}).items()}
        self.services = set(services)
        self.version = version
        self.time_offset = time_offset
        self.mode = mode
        self.whoami_dn = whoami_dn
        self.whoami_extra = dict(whoami_extra or {})
        self.replies = dict(replies or {})
        self.refuse_by = refuse_by
        self.calls: list[tuple[str, str]] = []
        self._dir = tempfile.TemporaryDirectory(prefix="diset-server-")
        cert, key, cas = (Path(self._dir.name) / n for n in ("host.pem", "host.key", "ca.pem"))
        cert.write_bytes(pem(host_cert, *host_cert.chain))
        key.write_bytes(host_cert.key_pem())
        cas.write_bytes(pem(*client_cas))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(cas))
        ctx.verify_flags |= ALLOW_PROXY_CERTS
        ctx.num_tickets = tickets
        self.ctx = ctx

    def stop(self) -> None:
        super().stop()
        self._dir.cleanup()

    def _recv_message(self, conn: ssl.SSLSocket, limit: int) -> object:
        buf = b""
        while b":" not in buf:
            chunk = conn.recv(64)
            if not chunk or len(buf) > 24:
                raise ConnectionError("bad framing")
            buf += chunk
        head, _, rest = buf.partition(b":")
        size = int(head)
        if size > limit:
            raise ConnectionError("too big")
        while len(rest) < size:
            chunk = conn.recv(size - len(rest))
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        return decode(rest[:size])

    def _whoami(self, dn: str, group: Optional[str], is_proxy: bool) -> dict:
        user, groups = self.registry.get(dn, (None, []))
        if user is not None and group is None and groups:
            group = groups[0]
        if user is None or group not in groups:
            user, group = "anonymous", "visitor"
        props = ["NormalUser"] if user != "anonymous" else []
        if self.whoami_dn is not None:
            dn = self.whoami_dn
        return {"DN": dn, "CN": dn.rsplit("CN=", 1)[-1], "group": group, "username": user,
                "properties": props, "isProxy": is_proxy, "isLimitedProxy": False,
                "secondsLeft": 3600, **self.whoami_extra}

    def _close_after_handshake(self, conn: socket.socket) -> None:
        """The handshake over memory BIOs, so the server's own last words (an alert, or its
        session tickets) are never sent: the client's side of the handshake completes, then
        the connection closes.  Deterministic, where a socket server's alert races the
        client's first request."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            for _ in range(64):  # bounded: a TLS 1.3 handshake takes two round trips
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    conn.sendall(outgoing.read())
                    data = conn.recv(65536)
                    if not data:
                        break
                    incoming.write(data)
        except (ssl.SSLError, OSError):
            pass
        conn.close()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        if self.refuse_by == "close":
            self._close_after_handshake(conn)
            return
        tls = self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            # The alert must reach the client, as real DIRAC servers' alerts can.
            _linger(tls)
            return
        with tls:
            if self.mode == "stall":
                self.held.append(tls)
                self._stop.wait(30)
                return
            if self.mode == "garbage":
                tls.sendall(b"\x00\xffthis is not DISET at all\r\n" * 4)
                _linger(tls)
                return
            dn, group, is_proxy = peer_identity(tls.getpeercert(binary_form=True))
            proposal = self._recv_message(tls, 1024)
            (service, _setup, _vo), (_kind, method), _extra, _version = proposal["Value"]
            self.calls.append((service, method))
            if service not in self.services:
                tls.sendall(_frame({"OK": False, "Errno": 0,
                                    "Message": f"{service} is not up in this server"}))
                return
            if method == "getCompressedData" and \
                    self._whoami(dn, group, is_proxy)["username"] == "anonymous":
                # As a real CS with Authorization/Default = authenticated answers.
                tls.sendall(_frame({"OK": False, "Errno": 1111, "Message": "Unauthorized query"}))
                return
            tls.sendall(_frame({"OK": True, "Value": None}))
            self._recv_message(tls, 1 << 20)
            if method in self.replies:
                reply = self.replies[method]
                tls.sendall(reply if isinstance(reply, bytes) else
                            _frame({"OK": True, "Value": reply}))
                return
            if method == "ping":
                now = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                       + dt.timedelta(seconds=self.time_offset))
                result = {"OK": True, "Value": {
                    "version": self.version, "time": now, "host uptime": 1000,
                    "service uptime": 10, "name": service, "load": "0.1 0.1 0.1"}}
            elif method == "whoami":
                result = {"OK": True, "Value": self._whoami(dn, group, is_proxy)}
            elif method == "getCompressedData":
                result = {"OK": True, "Value": zlib.compress(self.cfg_text().encode(), 9)}
            else:
                result = {"OK": False, "Errno": 0, "Message": f"Unknown method {method}"}
            tls.sendall(_frame(result))
