"""DISET, the ``dips://`` RPC protocol, client side: enough to call ``ping`` and ``whoami``.

Facts (DIRAC v8): each message is ``<ASCII decimal length>:<DEncode payload>``.  A call is: the
client proposes ``S_OK([[service, setup, vo], ["RPC", method], extraCredentials, version])``
(at most 1024 bytes); the server answers ``S_OK()`` or an ``S_ERROR`` dict; the client sends
``S_OK([args])``; the server sends the result and closes.  ``ping`` gives the server's version
and clock; ``whoami`` shows how the server sees the caller: an unregistered DN or a group the
user is not in comes back as username ``anonymous``, group ``visitor``.

No DIRAC import: this is our own client.  Reads are bounded by the layer's deadline and by
:data:`MAX_MESSAGE`, so a server that trickles, lies about lengths or sends garbage gets a named
verdict, never a hang; a number that is not finite is garbage too (DEncode refuses it).
"""

from __future__ import annotations

import datetime as _dt
import math
import socket
import ssl
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from mu3e_checks.knowledge.dirac_cfg import MAX_CFG_BYTES
from mu3e_checks.knowledge.net import Deadline, Level
from mu3e_checks.knowledge.net.dencode import DecodeError, decode, encode

#: Every answer a server sends is capped like a local dirac.cfg: the largest one, the CS's
#: compressed configuration, is a fraction of it, and decoding stays well within a timeout.
MAX_MESSAGE = MAX_CFG_BYTES
MAX_PROPOSAL = 1024
KEEPALIVE = b"dka"
CLIENT_VERSION = "8.0.74"  # the version the guide installs; servers may log or check it
#: What DIRAC's BaseClient sends as the VO when dirac.cfg names no /DIRAC/VirtualOrganization.
NO_VO = "unknown"


class DisetErrorKind(str, Enum):
    """How a DISET exchange failed; each has its own fix (advice.net.diset)."""

    TIMEOUT = "timeout"  # TLS is up but no answer came in time
    CLOSED = "closed"  # the server closed the connection
    GARBAGE = "garbage"  # the answer is not DISET
    TOO_BIG = "too-big"  # the server announced more than we accept
    TLS = "tls"  # an SSL error after the handshake
    REFUSED = "refused"  # an S_ERROR from the server


#: The kinds in which the server answered (an S_ERROR, garbage, an oversized announcement): it
#: got past TLS and judged our certificate; the others leave that open.
ANSWERED = frozenset({DisetErrorKind.REFUSED, DisetErrorKind.GARBAGE, DisetErrorKind.TOO_BIG})


class DisetError(Exception):
    """The DISET exchange failed: ``kind`` picks the fix, ``detail`` is for the user."""

    def __init__(self, kind: DisetErrorKind, detail: str,
                 cause: Optional[BaseException] = None) -> None:
        super().__init__(detail)
        self.kind = DisetErrorKind(kind)
        self.detail = detail
        self.cause = cause


def frame(obj: Any) -> bytes:
    payload = encode(obj)
    return str(len(payload)).encode() + b":" + payload


def s_ok(value: Any = None) -> dict:
    return {"OK": True, "Value": value}


def proposal(service: str, method: str, *, setup: str, vo: str,
             client_version: str = CLIENT_VERSION, extra_credentials: str = "") -> dict:
    """The action proposal for an RPC, as DIRAC's BaseClient sends it."""
    return s_ok([[service, setup, vo], ["RPC", method], extra_credentials, client_version])


class Channel:
    """Framed DEncode messages over a connected socket, every step within ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = bytearray()

    def send(self, obj: Any) -> None:
        data = frame(obj)
        try:
            self.sock.settimeout(max(0.05, self.deadline.remaining()))
            self.sock.sendall(data)
        except (socket.timeout, TimeoutError):
            raise DisetError(DisetErrorKind.TIMEOUT, "the server stopped reading") from None
        except ssl.SSLError as exc:
            raise DisetError(DisetErrorKind.TLS, str(exc), exc) from None
        except OSError as exc:
            raise DisetError(DisetErrorKind.CLOSED, f"the server closed the connection "
                             f"({exc.strerror or exc})", exc) from None

    def _fill(self, what: str) -> None:
        if self.deadline.expired:
            raise DisetError(DisetErrorKind.TIMEOUT,
                             f"{what} did not come within {self.deadline.seconds:g} s")
        try:
            self.sock.settimeout(max(0.05, self.deadline.remaining()))
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise DisetError(DisetErrorKind.TIMEOUT,
                             f"{what} did not come within {self.deadline.seconds:g} s") from None
        except ssl.SSLError as exc:
            raise DisetError(DisetErrorKind.TLS, str(exc), exc) from None
        except OSError as exc:
            raise DisetError(DisetErrorKind.CLOSED, f"the connection broke while waiting for "
                             f"{what} ({exc.strerror or exc})", exc) from None
        if not chunk:
            raise DisetError(DisetErrorKind.CLOSED, f"the server closed the connection instead of "
                             f"sending {what}")
        self.buffer += chunk

    def receive(self, what: str = "an answer", limit: int = MAX_MESSAGE) -> Any:
        """One message.  Keep-alive pings (``dka``) are skipped, at most a few of them."""
        for _ in range(4):
            while b":" not in self.buffer[:24] and not self.buffer.startswith(KEEPALIVE):
                if len(self.buffer) >= 24:
                    raise DisetError(DisetErrorKind.GARBAGE, "the server's answer is not "
                                     f"DISET framing (starts with {bytes(self.buffer[:24])!r})")
                self._fill(what)
            keepalive = self.buffer.startswith(KEEPALIVE)
            if keepalive:
                del self.buffer[:len(KEEPALIVE)]
                if b":" not in self.buffer[:24]:
                    self._fill(what)
            head, _, _ = bytes(self.buffer[:24]).partition(b":")
            if not head.isdigit():
                raise DisetError(DisetErrorKind.GARBAGE, "the server's answer is not DISET framing "
                                 f"(starts with {bytes(self.buffer[:24])!r})")
            size = int(head)
            if size > limit:
                raise DisetError(DisetErrorKind.TOO_BIG, f"the server announced {size} "
                                 f"bytes, more than the {limit} this check accepts")
            start = len(head) + 1
            while len(self.buffer) < start + size:
                self._fill(what)
            payload = bytes(self.buffer[start:start + size])
            del self.buffer[:start + size]
            try:
                message = decode(payload)
            except DecodeError as exc:
                raise DisetError(DisetErrorKind.GARBAGE,
                                 f"the server's answer cannot be decoded ({exc})") from None
            if not keepalive:
                return message
        raise DisetError(DisetErrorKind.GARBAGE, "the server sends only keep-alives")


def unwrap(reply: Any, step: str) -> Any:
    """The ``Value`` of an S_OK, or :class:`DisetError` ``refused`` with the server's message."""
    if not isinstance(reply, dict) or "OK" not in reply:
        raise DisetError(DisetErrorKind.GARBAGE,
                         f"the {step} answer is not a DIRAC result ({str(reply)[:80]})")
    if not reply["OK"]:
        raise DisetError(DisetErrorKind.REFUSED, str(reply.get("Message", "no message")))
    return reply.get("Value")


def propose(channel: Channel, service: str, method: str, **kw: Any) -> Any:
    """Send the proposal and read the server's first answer (unwrapped)."""
    message = proposal(service, method, **kw)
    if len(frame(message)) > MAX_PROPOSAL:
        raise ValueError("proposal longer than 1024 bytes")
    channel.send(message)
    return unwrap(channel.receive("an answer to the proposal"), "proposal")


def finish_call(channel: Channel, args: list, limit: int = MAX_MESSAGE) -> Any:
    """Send the arguments after an accepted proposal and return the RPC's Value."""
    channel.send(s_ok(list(args)))
    return unwrap(channel.receive("the result", limit), "result")


# ----------------------------------------------------------------------------- ping


@dataclass(frozen=True)
class PingInfo:
    version: str
    name: str
    server_time: Optional[_dt.datetime]  # UTC
    skew: Optional[float]  # server clock minus ours, seconds; None without a server time
    round_trip: float
    uptime: Optional[int] = None


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def ping_info(value: Any, sent: _dt.datetime, received: _dt.datetime) -> PingInfo:
    """Read a ping result; the skew compares the server's time with the middle of our call."""
    if not isinstance(value, dict):
        raise DisetError(DisetErrorKind.GARBAGE,
                         f"ping returned {type(value).__name__}, not a dict")
    server_time = value.get("time")
    if isinstance(server_time, _dt.datetime):
        if server_time.tzinfo is None:  # DIRAC sends utcnow(), naive
            server_time = server_time.replace(tzinfo=_dt.timezone.utc)
        middle = sent + (received - sent) / 2
        skew: Optional[float] = (server_time - middle).total_seconds()
    else:
        server_time, skew = None, None
    uptime = value.get("service uptime")
    return PingInfo(str(value.get("version", "unknown")), str(value.get("name", "")),
                    server_time, skew, (received - sent).total_seconds(),
                    uptime if isinstance(uptime, int) else None)


WARN_SKEW = 60.0
FAIL_SKEW = 300.0


def skew_level(skew: float, warn: float = WARN_SKEW, fail: float = FAIL_SKEW) -> Level:
    """``ok``, ``warn`` (above 60 s) or ``fail`` (above 5 min): a proxy made on a clock that is
    minutes ahead is "not yet valid" on the server."""
    size = abs(skew)
    return Level.FAIL if size > fail else Level.WARN if size > warn else Level.OK


# ----------------------------------------------------------------------------- whoami


@dataclass(frozen=True)
class WhoAmI:
    username: str
    group: str
    dn: str
    properties: tuple[str, ...] = ()
    is_proxy: Optional[bool] = None
    seconds_left: Optional[int] = None
    raw: dict = field(default_factory=dict, compare=False)


def whoami_info(value: Any) -> WhoAmI:
    if not isinstance(value, dict):
        raise DisetError(DisetErrorKind.GARBAGE,
                         f"whoami returned {type(value).__name__}, not a dict")
    props = value.get("properties") or ()
    left = value.get("secondsLeft")
    if isinstance(left, float) and not math.isfinite(left):
        raise DisetError(DisetErrorKind.GARBAGE, f"whoami's secondsLeft is {left!r}, not a "
                         "finite number of seconds")
    return WhoAmI(str(value.get("username", "")), str(value.get("group", "")),
                  str(value.get("DN", "")), tuple(str(p) for p in props)
                  if isinstance(props, (list, tuple)) else (),
                  value.get("isProxy") if isinstance(value.get("isProxy"), bool) else None,
                  int(left) if isinstance(left, (int, float)) and not isinstance(left, bool)
                  else None, dict(value))


class IdentityKind(str, Enum):
    """Why the server's view of the caller is wrong; each has its own fix."""

    UNREGISTERED = "unregistered"  # the DN is not in the VO (in that group): the VO admin
    WRONG_GROUP = "wrong-group"  # the proxy asks for another group: make it again with -g


@dataclass(frozen=True)
class IdentityProblem:
    kind: IdentityKind
    message: str


def identity_problem(who: WhoAmI, expected_group: str, proxy_group: Optional[str],
                     dn: str) -> Optional[IdentityProblem]:
    """Why the server's view of the caller is not "you, in the expected group", or None.

    The server answers ``anonymous``/``visitor`` both for an unknown DN and for a group the DN
    is not in.  The proxy's own group tells them apart: a proxy already asking for the expected
    group and still anonymous means the DN is not registered (in that group) — only the VO
    admin can fix that; any other group means the proxy must be made again with ``-g``.
    """
    shown_dn = who.dn or dn
    if who.username and who.username != "anonymous":
        if who.group == expected_group:
            return None
        return IdentityProblem(IdentityKind.WRONG_GROUP,
                               f"the server knows you as {who.username!r} but in group "
                               f"{who.group!r}, not {expected_group!r}")
    if proxy_group == expected_group:
        return IdentityProblem(IdentityKind.UNREGISTERED,
                               f"the server does not know your DN {shown_dn} in group "
                               f"{expected_group!r} (it sees you as anonymous): the DN is not "
                               "registered in the VO, or not in that group")
    if proxy_group:
        return IdentityProblem(IdentityKind.WRONG_GROUP,
                               f"your proxy asks for group {proxy_group!r}, which the server "
                               "does not grant (it sees you as anonymous); the expected group "
                               f"is {expected_group!r}")
    return IdentityProblem(IdentityKind.WRONG_GROUP,
                           "your proxy carries no DIRAC group and the server finds no default "
                           "group for your DN (it sees you as anonymous)")
