"""TLS: is the server's certificate trusted, and does the server accept our proxy.

The client side authenticates with the **proxy only**: the long-term key never goes near the
network.  Without a usable proxy the handshake is done without a client certificate, only to
verify the server, and the result says so.  The server is verified against the trust dir DIRAC
will use (``capath``) with the host name check, as DIRAC's client does; like DISET, no CRLs.

With TLS 1.3 the server checks the client certificate after the client has finished its side of
the handshake, so a rejected proxy shows up as an alert on the first read, not in the handshake:
:func:`classify` treats both places the same.
"""

from __future__ import annotations

import datetime as _dt
import socket
import ssl
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from mu3e_checks.knowledge import pki
from mu3e_checks.knowledge.der import DECODE_ERRORS
from mu3e_checks.knowledge.files import Unreadable
from mu3e_checks.knowledge.net import Deadline
from mu3e_checks.knowledge.proxy import find_group, read_proxy

# ----------------------------------------------------------------------------- our credential


class CredentialProblem(str, Enum):
    """Why the proxy cannot be presented: the kind, so a check can name the check that owns it."""

    MISSING = "missing"
    UNREADABLE = "unreadable"  # not a proxy file, or not parseable
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    KEY_MISMATCH = "key-mismatch"


@dataclass(frozen=True)
class ClientCredential:
    """The proxy the handshake will present, or why none will be presented."""

    path: Optional[Path]
    usable: bool
    reason: str  # why it is not usable, or a description of it
    identity: str = ""  # the user DN (slash form) behind the proxy
    issuer: str = ""  # the DN of the CA that issued the user certificate (slash form)
    group: Optional[str] = None  # DIRAC group extension 1.2.42.42, if any
    not_after: Optional[_dt.datetime] = None
    problem: Optional[CredentialProblem] = None  # set exactly when not usable


def proxy_credential(path: Optional[Path], now: Optional[_dt.datetime] = None
                     ) -> ClientCredential:
    """Decide whether the proxy file can be used for TLS client authentication.

    Usable means: the file parses as a proxy (first certificate a proxy, its unencrypted key,
    the chain), the key belongs to it, and it is valid now.  A file whose first certificate is
    not a proxy is refused: that would be the long-term credential.
    """
    if path is None:
        return ClientCredential(None, False, "no proxy file",
                                problem=CredentialProblem.MISSING)
    try:
        found = read_proxy(path)
    except (Unreadable, pki.PemError) as exc:
        reason = str(exc)
        if "not a proxy certificate" in reason:
            reason += "; the checks never send a long-term key"
        return ClientCredential(path, False, reason, problem=CredentialProblem.UNREADABLE)
    v = pki.validity(found.proxy, now)
    user = found.identity
    base = dict(identity=found.identity_dn or pki.dn_slash(found.proxy.issuer),
                issuer=pki.dn_slash(user.issuer) if user is not None else "",
                group=find_group(found.certs).group, not_after=v.not_after)
    if v.state == "expired":
        return ClientCredential(path, False, f"the proxy in {path} expired on "
                                f"{pki.fmt_time(v.not_after)}",
                                problem=CredentialProblem.EXPIRED, **base)
    if v.state == "not-yet-valid":
        return ClientCredential(path, False, f"the proxy in {path} is valid only from "
                                f"{pki.fmt_time(v.not_before)}",
                                problem=CredentialProblem.NOT_YET_VALID, **base)
    if not found.key_matches:
        return ClientCredential(path, False, f"the private key in {path} does not belong to "
                                "the proxy certificate", problem=CredentialProblem.KEY_MISMATCH,
                                **base)
    return ClientCredential(path, True, f"proxy {path} (valid until "
                            f"{pki.fmt_time(v.not_after)})", **base)


# ----------------------------------------------------------------------------- contexts


def client_context(capath: Path, credential: Optional[ClientCredential] = None,
                   cadata: Optional[str] = None) -> ssl.SSLContext:
    """A client context: verify against ``capath`` with host name check, present the proxy.

    ``cadata`` (the trust dir's CA certificates as the scan already read them, PEM) is used
    instead of ``capath`` when given, so OpenSSL never opens a directory entry itself: a FIFO
    planted in the trust dir cannot hang the handshake.

    ``load_cert_chain`` on a proxy file works because OpenSSL takes the first certificate as
    the leaf, the key from the same file, and the certificates after the key as the chain.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cadata is not None:
        if cadata:
            ctx.load_verify_locations(cadata=cadata)
    else:
        ctx.load_verify_locations(capath=str(capath))
    if credential is not None and credential.usable and credential.path is not None:
        ctx.load_cert_chain(str(credential.path))
    return ctx


def unverified_context() -> ssl.SSLContext:
    """Only to *look* at the certificate a server presents after verification failed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ----------------------------------------------------------------------------- server facts


@dataclass(frozen=True)
class ServerCert:
    subject: str
    issuer: str
    not_before: _dt.datetime
    not_after: _dt.datetime
    names: tuple[str, ...]  # DNS/IP subjectAltNames

    @classmethod
    def from_der(cls, der: bytes) -> Optional[ServerCert]:
        """What the report shows of the server's certificate, or None when the server sent
        one that cannot be decoded (a duplicate extension, version 5, a date or name that
        cannot be read): the TLS verdict stands on its own, and the run never breaks on it."""
        try:
            cert = x509.load_der_x509_certificate(der)
            ext = pki.extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
            names: tuple[str, ...] = ()
            if ext is not None:
                san = ext.value
                names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName)) + tuple(
                    str(n) for n in san.get_values_for_type(x509.IPAddress))
            return cls(pki.dn_slash(cert.subject), pki.dn_slash(cert.issuer),
                       pki.not_before(cert), pki.not_after(cert), names)
        except (x509.InvalidVersion, *DECODE_ERRORS):
            return None


# ----------------------------------------------------------------------------- failures


class TlsFailureKind(str, Enum):
    """Why the TLS layer failed; each has its own fix (advice.net.tls)."""

    UNKNOWN_CA = "unknown-ca"  # the server's CA is not in the trust dir
    HOSTNAME_MISMATCH = "hostname-mismatch"  # the certificate is for another name
    EXPIRED = "expired"  # the server's (or a CA's) certificate expired
    NOT_YET_VALID = "not-yet-valid"  # this machine's clock is probably wrong
    VERIFY_FAILED = "verify-failed"  # any other verification error
    CLIENT_CERT_REJECTED = "client-cert-rejected"  # the server does not accept our proxy
    NO_VERDICT = "no-verdict"  # TLS 1.3 finished, but the server never judged our proxy
    TIMEOUT = "timeout"  # TCP accepted, TLS never finished
    NOT_TLS = "not-tls"  # something else listens there
    CLOSED = "closed"  # the server closed or reset the connection during TLS
    ERROR = "error"  # another TLS or network error
    BAD_PROXY = "bad-proxy"  # OpenSSL cannot use our proxy file
    NO_TRUST_DIR = "no-trust-dir"  # the trust dir cannot be used


class Refusal(str, Enum):
    """How a server turned our client certificate down: the TLS alert it sent (OpenSSL's
    reason name), or ``CLOSED`` when it closed the connection right after the handshake
    without a word, which is how a TLS 1.3 server's alert often reaches the client (the alert
    is lost when the client has already sent its first request)."""

    CERTIFICATE_REQUIRED = "CERTIFICATE_REQUIRED"
    UNKNOWN_CA = "UNKNOWN_CA"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    BAD_CERTIFICATE = "BAD_CERTIFICATE"
    UNSUPPORTED_CERTIFICATE = "UNSUPPORTED_CERTIFICATE"
    CERTIFICATE_UNKNOWN = "CERTIFICATE_UNKNOWN"
    ACCESS_DENIED = "ACCESS_DENIED"
    HANDSHAKE_FAILURE = "HANDSHAKE_FAILURE"
    CLOSED = "CLOSED"


#: OpenSSL verify codes (X509_V_ERR_*) → our kinds.
_VERIFY_KINDS = {
    2: TlsFailureKind.UNKNOWN_CA, 18: TlsFailureKind.UNKNOWN_CA, 19: TlsFailureKind.UNKNOWN_CA,
    20: TlsFailureKind.UNKNOWN_CA, 21: TlsFailureKind.UNKNOWN_CA,
    9: TlsFailureKind.NOT_YET_VALID, 10: TlsFailureKind.EXPIRED,
    62: TlsFailureKind.HOSTNAME_MISMATCH, 64: TlsFailureKind.HOSTNAME_MISMATCH,
}

#: Alerts a server sends when it does not accept the client certificate.
_CLIENT_REJECTIONS = {
    Refusal.CERTIFICATE_REQUIRED: "the server requires a client certificate and none was sent",
    Refusal.UNKNOWN_CA: "the server does not trust the CA that issued your certificate",
    Refusal.CERTIFICATE_EXPIRED: "the server says your proxy or certificate has expired",
    Refusal.CERTIFICATE_REVOKED: "the server says your certificate is revoked",
    Refusal.BAD_CERTIFICATE: "the server rejected your proxy certificate (bad certificate)",
    Refusal.UNSUPPORTED_CERTIFICATE: "the server rejected your proxy certificate (unsupported)",
    Refusal.CERTIFICATE_UNKNOWN: "the server could not validate your proxy certificate",
    Refusal.ACCESS_DENIED: "the server denied access to your certificate",
    Refusal.HANDSHAKE_FAILURE: "the server aborted the handshake (it may not accept your "
                               "proxy)",
}

#: The kinds that come from verifying the server: explained with its certificate.
_VERIFY_FAILURES = (TlsFailureKind.UNKNOWN_CA, TlsFailureKind.HOSTNAME_MISMATCH,
                    TlsFailureKind.EXPIRED, TlsFailureKind.NOT_YET_VALID,
                    TlsFailureKind.VERIFY_FAILED)

_NOT_TLS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_MESSAGE",
            "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_TOO_LONG",
            "BAD_RECORD_TYPE", "UNEXPECTED_RECORD", "DECODE_ERROR", "LENGTH_MISMATCH")


class TlsFailure(Exception):
    """Why the TLS layer failed: ``kind`` picks the fix, ``detail`` is for the user.

    A refused client certificate carries how it was refused (``refusal``) and the credential
    that was presented (``credential``), so the explanation can name the CA behind it.
    """

    def __init__(self, kind: TlsFailureKind, detail: str,
                 server: Optional[ServerCert] = None, *,
                 refusal: Optional[Refusal] = None,
                 credential: Optional[ClientCredential] = None) -> None:
        super().__init__(detail)
        self.kind = TlsFailureKind(kind)
        self.detail = detail
        self.server = server
        self.refusal = refusal
        self.credential = credential


def classify(exc: BaseException) -> TlsFailure:
    """Name the cause of an exception from a handshake or from the first read after it."""
    if isinstance(exc, TlsFailure):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0) or 0
        msg = getattr(exc, "verify_message", "") or str(exc)
        return TlsFailure(_VERIFY_KINDS.get(code, TlsFailureKind.VERIFY_FAILED),
                          f"server certificate verification failed: {msg}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TlsFailure(TlsFailureKind.TIMEOUT,
                          "the server did not complete the exchange in time")
    if isinstance(exc, ssl.SSLError):
        reason = (getattr(exc, "reason", "") or "").upper()
        text = str(exc)
        for key, sentence in _CLIENT_REJECTIONS.items():
            if key.value in reason:
                return TlsFailure(TlsFailureKind.CLIENT_CERT_REJECTED,
                                  f"{sentence} ({reason.lower()})", refusal=key)
        if any(k in reason for k in _NOT_TLS):
            return TlsFailure(TlsFailureKind.NOT_TLS,
                              f"the server does not speak TLS ({reason.lower()})")
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or "EOF" in text:
            return TlsFailure(TlsFailureKind.CLOSED, "the server closed the connection during TLS")
        return TlsFailure(TlsFailureKind.ERROR, f"TLS error: {reason.lower() or text}")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return TlsFailure(TlsFailureKind.CLOSED, "the server reset the connection during TLS")
    if isinstance(exc, OSError):
        return TlsFailure(TlsFailureKind.ERROR,
                          f"network error during TLS: {exc.strerror or exc}")
    return TlsFailure(TlsFailureKind.ERROR, f"{type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- connecting


class Watchdog:
    """Shuts a socket down at the deadline, so no blocking call can outlive it.

    A socket timeout bounds each recv, not a handshake made of several; a server that trickles
    bytes would stretch it.  The watchdog makes the deadline absolute.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.fired = False
        self._sock = sock
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def connect(address: str, port: int, hostname: str, ctx: ssl.SSLContext,
            deadline: Deadline) -> ssl.SSLSocket:
    """TCP connect and TLS handshake to ``address`` verifying ``hostname``; :class:`TlsFailure`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    try:
        raw.settimeout(max(0.05, deadline.remaining()))
        raw.connect((address, port))
        tls = ctx.wrap_socket(raw, server_hostname=hostname, do_handshake_on_connect=False)
    except OSError as exc:
        raw.close()
        if isinstance(exc, (socket.timeout, TimeoutError)):
            raise TlsFailure(TlsFailureKind.TIMEOUT, "the TCP connection timed out") from None
        raise TlsFailure(TlsFailureKind.ERROR,
                         f"cannot connect: {exc.strerror or exc}") from None
    watchdog = Watchdog(tls, deadline)
    try:
        with watchdog:
            tls.settimeout(max(0.05, deadline.remaining()))
            tls.do_handshake()
    except (OSError, ValueError) as exc:
        tls.close()
        if watchdog.fired or deadline.expired:
            raise TlsFailure(TlsFailureKind.TIMEOUT, f"the TLS handshake did not finish within "
                             f"{deadline.seconds:g} s (the server stalls)") from None
        raise classify(exc) from None
    return tls


def peek_server_cert(address: str, port: int, hostname: str, deadline: Deadline
                     ) -> Optional[ServerCert]:
    """The certificate the server presents, without verifying it (to explain a failure)."""
    if deadline.remaining() < 0.05:
        return None
    try:
        tls = connect(address, port, hostname, unverified_context(), deadline)
    except TlsFailure:
        return None
    try:
        der = tls.getpeercert(binary_form=True)
        return ServerCert.from_der(der) if der else None
    except ValueError:
        return None
    finally:
        tls.close()


@dataclass
class TlsSession:
    """An established, verified TLS connection and what it showed."""

    sock: ssl.SSLSocket
    version: str
    cipher: str
    server: Optional[ServerCert]
    client_cert_sent: bool
    notes: list[str] = field(default_factory=list)

    def certificate_accepted(self) -> bool:
        """Whether the server has been seen to accept our certificate at the TLS level.

        In TLS 1.2 the server judges the client certificate inside the handshake, so a finished
        handshake says it.  In TLS 1.3 the client finishes first and the server's verdict comes
        after: an alert, a close, or (once it has accepted) its session tickets, which OpenSSL
        takes in on the first read.  Without a ticket only the server's first DISET answer
        proves it.  Ask after a read and before the socket is closed.
        """
        if not self.client_cert_sent:
            return False
        if self.version != "TLSv1.3":
            return True
        try:
            session = self.sock.session
        except (ValueError, OSError):
            return False
        return bool(session is not None and session.has_ticket)


def open_session(address: str, port: int, hostname: str, capath: Path,
                 credential: ClientCredential, deadline: Deadline,
                 cadata: Optional[str] = None) -> TlsSession:
    """Connect, verify, and describe; a verification failure is explained with the server's
    certificate fetched a second time without verification."""
    try:
        ctx = client_context(capath, credential, cadata)
    except ssl.SSLError as exc:
        raise TlsFailure(TlsFailureKind.BAD_PROXY, f"OpenSSL cannot use the proxy "
                         f"{credential.path}: {exc.reason or exc}") from None
    except OSError as exc:
        raise TlsFailure(TlsFailureKind.NO_TRUST_DIR, f"the trust dir {capath} cannot be used: "
                         f"{exc.strerror or exc}") from None
    try:
        tls = connect(address, port, hostname, ctx, deadline)
    except TlsFailure as failure:
        if failure.kind in _VERIFY_FAILURES:
            failure.server = peek_server_cert(address, port, hostname, deadline)
        raise
    der = tls.getpeercert(binary_form=True)
    cipher = tls.cipher()
    return TlsSession(tls, tls.version() or "?", cipher[0] if cipher else "?",
                      ServerCert.from_der(der) if der else None, credential.usable)
