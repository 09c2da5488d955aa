"""TCP: does anything accept connections on the service port, address by address.

"Refused" and "timed out" mean different things: a refusal is an answer (nothing listens, or a
firewall rejects), silence is a firewall that drops the packets (outgoing 9130-9200 must be open
for DIRAC).  IPv6 that fails while IPv4 works makes clients stall before they fall back, so it
is worth a warning on its own.  Addresses are probed in parallel so the layer finishes within
one timeout however many addresses the name has.
"""

from __future__ import annotations

import concurrent.futures
import errno
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from mu3e_checks.knowledge.net import describe_address

MAX_ADDRESSES = 8
FIREWALL_HINT = "outgoing TCP ports 9130-9200 must be open for DIRAC"


@dataclass(frozen=True)
class TcpAttempt:
    address: str
    port: int
    outcome: str  # "open" | "refused" | "timeout" | "unreachable" | "error"
    detail: str
    seconds: float

    @property
    def family(self) -> str:
        return "IPv6" if ":" in self.address else "IPv4"

    @property
    def where(self) -> str:
        return describe_address(self.address, self.port)


def connect_once(address: str, port: int, timeout: float) -> TcpAttempt:
    """One TCP connect to a numeric address (no name lookup), closed again at once."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    start = time.monotonic()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(max(0.05, timeout))
        sock.connect((address, port))
        outcome, detail = "open", "connected"
    except ConnectionRefusedError:
        outcome, detail = "refused", "connection refused"
    except (socket.timeout, TimeoutError):
        outcome, detail = "timeout", f"no answer within {timeout:g} s"
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
                         errno.EAFNOSUPPORT):
            outcome = "unreachable"
        else:
            outcome = "error"
        detail = exc.strerror or str(exc)
    finally:
        sock.close()
    return TcpAttempt(address, port, outcome, detail, time.monotonic() - start)


def probe(addresses: Sequence[str], port: int, timeout: float) -> list[TcpAttempt]:
    """Connect to each address (at most :data:`MAX_ADDRESSES`) at the same time."""
    chosen = list(dict.fromkeys(addresses))[:MAX_ADDRESSES]
    if not chosen:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        return list(pool.map(lambda a: connect_once(a, port, timeout), chosen))


class TcpProblem(str, Enum):
    """Why no address accepted a connection; each has its own fix (advice.net.tcp)."""

    REFUSED = "refused"  # an answer: nothing listens, or a firewall rejects
    TIMEOUT = "timeout"  # silence: a firewall drops the packets
    UNREACHABLE = "unreachable"  # no route to any address
    MIXED = "mixed"  # addresses failed in different ways


@dataclass(frozen=True)
class TcpJudgement:
    ok: bool
    problem: Optional[TcpProblem]  # None when an address is open
    message: str
    ipv6_broken: bool = False
    open_address: str = ""


def judge(attempts: Sequence[TcpAttempt]) -> TcpJudgement:
    """Turn attempts into one verdict: the first open address, or why none is."""
    opened = [a for a in attempts if a.outcome == "open"]
    listing = "; ".join(f"{a.where} {a.detail}" for a in attempts)
    if opened:
        v4_ok = any(a.family == "IPv4" for a in opened)
        v6_bad = [a for a in attempts if a.family == "IPv6" and a.outcome != "open"]
        return TcpJudgement(True, None, listing, ipv6_broken=bool(v4_ok and v6_bad),
                            open_address=opened[0].address)
    kinds = {a.outcome for a in attempts}
    if kinds == {"refused"}:
        return TcpJudgement(False, TcpProblem.REFUSED, listing)
    if kinds == {"timeout"}:
        return TcpJudgement(False, TcpProblem.TIMEOUT, listing)
    if kinds <= {"unreachable"}:
        return TcpJudgement(False, TcpProblem.UNREACHABLE, listing)
    return TcpJudgement(False, TcpProblem.MIXED, listing)
