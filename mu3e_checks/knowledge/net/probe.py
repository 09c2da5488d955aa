"""One Configuration Server, probed layer by layer, each layer computed once and remembered.

The checks ask for one layer each; a layer uses the layer below (the TCP layer connects to the
addresses DNS gave, TLS to the first address that accepted TCP, and so on) and each gets its
own deadline of ``timeout`` seconds.  The TLS layer also sends the DISET proposal for ``ping``
and reads the first answer, because with TLS 1.3 that read is where the server's verdict on our
proxy shows up (an alert, a bare close, or its session ticket and answer: :func:`refusal`); the
ping layer then finishes that same call.
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.net import (
    Deadline,
    ServiceUrl,
    UrlError,
    diset,
    dns,
    parse_service_url,
    tcp,
    tls,
)


@dataclass
class TlsLayer:
    session: Optional[tls.TlsSession] = None
    failure: Optional[tls.TlsFailure] = None
    channel: Optional[diset.Channel] = None  # proposal accepted, waiting for the arguments
    proposal_error: Optional[diset.DisetError] = None
    proof: str = ""  # what showed the server accepted our certificate ("" when not shown)


@dataclass
class CallLayer:
    value: Any = None
    error: Optional[diset.DisetError] = None
    failure: Optional[tls.TlsFailure] = None  # a TLS problem on this call's own connection
    sent: Optional[_dt.datetime] = None
    received: Optional[_dt.datetime] = None


def refusal(exc: diset.DisetError, session: tls.TlsSession,
            credential: tls.ClientCredential) -> Optional[tls.TlsFailure]:
    """The server's verdict on our certificate, read from how its first DISET exchange failed:
    a :class:`~tls.TlsFailure` when it refused the certificate (or never judged it), else None
    (the failure is DISET's, after the certificate was accepted).

    In TLS 1.3 the handshake ends on our side before the server has checked the proxy, so the
    verdict arrives with the first read: an alert (``unknown_ca``, ``bad_certificate``...),
    or, when our proposal was already on its way, often only a close (the alert is lost in the
    reset).  The server's session tickets, or any DISET answer, show it accepted; a close
    without either is its refusal, and silence without either is no verdict at all.  Ask this
    before the socket is closed.
    """
    rejected = tls.TlsFailureKind.CLIENT_CERT_REJECTED
    kinds = (diset.DisetErrorKind.TLS, diset.DisetErrorKind.CLOSED)
    if exc.kind in kinds and exc.cause is not None:
        failure = tls.classify(exc.cause)
        if failure.kind is rejected:
            failure.credential = credential
            return failure
    if exc.kind in diset.ANSWERED:
        return None  # an answer came (garbage, too big, an S_ERROR): the server got this far
    if not session.client_cert_sent:
        if exc.kind is diset.DisetErrorKind.TIMEOUT:
            return None
        return tls.TlsFailure(rejected, "the server closed the connection right after the "
                              f"handshake; it requires a client certificate ({exc.detail})",
                              refusal=tls.Refusal.CERTIFICATE_REQUIRED, credential=credential)
    if session.certificate_accepted():
        return None
    if exc.kind is diset.DisetErrorKind.TIMEOUT:
        return tls.TlsFailure(tls.TlsFailureKind.NO_VERDICT, "the server completed the TLS "
                              "handshake but gave no verdict on your proxy (neither an answer "
                              f"nor an alert): {exc.detail}", credential=credential)
    return tls.TlsFailure(rejected, "the server closed the connection right after the TLS "
                          f"handshake ({exc.detail})", refusal=tls.Refusal.CLOSED,
                          credential=credential)


def proof(session: tls.TlsSession, *, answered: bool) -> str:
    """What showed that the server accepted our certificate, for the report; "" when nothing
    did (no certificate was sent, or no verdict came)."""
    if not session.client_cert_sent:
        return ""
    if answered:
        return "it answered DISET's first exchange"
    if not session.certificate_accepted():
        return ""
    if session.version != "TLSv1.3":
        return f"the {session.version} handshake, in which the server checks it"
    return "its TLS 1.3 session ticket"


class CsProbe:
    """Lazily probes ``url``; every method returns the remembered result of its layer."""

    def __init__(self, url: str, *, timeout: float, capath: Path, proxy: Optional[Path],
                 nameserver: Optional[dns.Nameserver] = None,
                 hosts_path: Path = dns.HOSTS_FILE, setup: str, vo: str,
                 nameserver_problem: str = "",
                 cadata: Optional[str] = None) -> None:
        self.url = url
        self.cadata = cadata  # the scanned trust dir's CAs (PEM), used instead of capath
        self.timeout = timeout
        self.capath = Path(capath)
        self.proxy = proxy
        self.nameserver = nameserver
        self.nameserver_problem = nameserver_problem
        self.hosts_path = hosts_path
        self.setup = setup
        self.vo = vo
        self._memo: dict[str, Any] = {}
        # The survey of all servers (servers.py) probes this object in a worker thread while
        # the checks ask it too: one lock keeps each layer computed once, by whoever is first.
        self._lock = threading.RLock()

    def _once(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]

    # ------------------------------------------------------------------ layers

    def target(self) -> ServiceUrl:
        """The parsed URL; raises :class:`UrlError` every time it is asked, if broken."""
        result = self._once("target", self._target)
        if isinstance(result, UrlError):
            raise result
        return result

    def _target(self) -> Any:
        try:
            return parse_service_url(self.url)
        except UrlError as exc:
            return exc

    def resolution(self) -> dns.Resolution:
        if self.nameserver_problem:
            return dns.Resolution(self.target().host, "dns", "-",
                                  problem=dns.DnsProblem.BAD_NAMESERVER,
                                  detail=self.nameserver_problem)
        return self._once("dns", lambda: dns.resolve(
            self.target().host, timeout=self.timeout, nameserver=self.nameserver,
            hosts_path=self.hosts_path))

    def tcp(self) -> tuple[list[tcp.TcpAttempt], tcp.TcpJudgement]:
        def compute() -> tuple[list[tcp.TcpAttempt], tcp.TcpJudgement]:
            attempts = tcp.probe(self.resolution().addresses, self.target().port, self.timeout)
            return attempts, tcp.judge(attempts)
        return self._once("tcp", compute)

    def credential(self) -> tls.ClientCredential:
        return self._once("cred", lambda: tls.proxy_credential(self.proxy))

    def tls(self) -> TlsLayer:
        return self._once("tls", self._tls)

    def _tls(self) -> TlsLayer:
        target = self.target()
        address = self.tcp()[1].open_address
        deadline = Deadline(self.timeout)
        if not _fs.is_dir(self.capath):
            return TlsLayer(failure=tls.TlsFailure(
                tls.TlsFailureKind.NO_TRUST_DIR, f"the trust dir {self.capath} is not a "
                "directory, so the server cannot be verified"))
        try:
            session = tls.open_session(address, target.port, target.host, self.capath,
                                       self.credential(), deadline, self.cadata)
        except tls.TlsFailure as failure:
            return TlsLayer(failure=failure)
        layer = TlsLayer(session=session)
        channel = diset.Channel(session.sock, deadline)
        try:
            diset.propose(channel, target.service, "ping", setup=self.setup, vo=self.vo)
            layer.channel = channel
            layer.proof = proof(session, answered=True)
        except diset.DisetError as exc:
            refused = refusal(exc, session, self.credential())
            layer.proof = proof(session, answered=exc.kind in diset.ANSWERED)
            session.sock.close()
            if refused is not None:
                refused.server = session.server
                layer.failure = refused
                return layer
            layer.proposal_error = exc
        return layer

    def ping(self) -> CallLayer:
        return self._once("ping", self._ping)

    def _ping(self) -> CallLayer:
        layer = self.tls()
        if layer.failure is not None:
            return CallLayer(failure=layer.failure)
        if layer.proposal_error is not None or layer.channel is None:
            return CallLayer(error=layer.proposal_error or diset.DisetError(
                diset.DisetErrorKind.CLOSED, "no connection"))
        channel = layer.channel
        channel.deadline = Deadline(self.timeout)
        call = CallLayer(sent=diset.utcnow())
        try:
            call.value = diset.finish_call(channel, [])
        except diset.DisetError as exc:
            call.error = exc
        finally:
            call.received = diset.utcnow()
            channel.sock.close()
            layer.channel = None
        return call

    def ping_info(self) -> diset.PingInfo:
        call = self.ping()
        assert call.sent is not None and call.received is not None
        return diset.ping_info(call.value, call.sent, call.received)

    def whoami(self) -> CallLayer:
        return self._once("whoami", lambda: self.call("whoami"))

    def call(self, method: str, args: Optional[list] = None,
             limit: int = diset.MAX_MESSAGE) -> CallLayer:
        """One complete RPC on a fresh connection, within one timeout; ``limit`` bounds the
        size of the answer."""
        target = self.target()
        address = self.tcp()[1].open_address
        deadline = Deadline(self.timeout)
        try:
            session = tls.open_session(address, target.port, target.host, self.capath,
                                       self.credential(), deadline, self.cadata)
        except tls.TlsFailure as failure:
            return CallLayer(failure=failure)
        channel = diset.Channel(session.sock, deadline)
        result = CallLayer(sent=diset.utcnow())
        try:
            diset.propose(channel, target.service, method, setup=self.setup, vo=self.vo)
            result.value = diset.finish_call(channel, list(args or []), limit)
        except diset.DisetError as exc:
            result.failure = refusal(exc, session, self.credential())
            if result.failure is None and exc.kind is diset.DisetErrorKind.TLS and \
                    exc.cause is not None:
                result.failure = tls.classify(exc.cause)
            result.error = exc
        finally:
            result.received = diset.utcnow()
            session.sock.close()
        return result
