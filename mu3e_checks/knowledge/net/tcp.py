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

from mu3e_checks import commands
from mu3e_checks.knowledge.net import DIPS_DEFAULT_PORT, ServiceUrl, describe_address
from mu3e_checks.remedy import Remedy, join, say

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
    """Why no address accepted a connection; each has its own fix (see :func:`explain`)."""

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


# ----------------------------------------------------------------------------- explanations


def explain(verdict: TcpJudgement, attempts: Sequence[TcpAttempt], target: ServiceUrl,
            timeout: float) -> tuple[str, Remedy]:
    """What "no connection" means for the user, and what to run: one entry per problem."""
    where = ", ".join(a.where for a in attempts)
    again = commands.port_test(target.host, target.port)
    if verdict.problem is TcpProblem.REFUSED:
        return (f"{where}: connection refused — nothing listens on port {target.port} there, "
                "or a firewall rejects the connection",
                join(again, say("still refused: check the port in {url} (the Configuration "
                                "Server uses {port}); if it is right, the service is down: tell "
                                "the Mu3e computing contacts", url=target.url,
                                port=DIPS_DEFAULT_PORT)))
    if verdict.problem is TcpProblem.TIMEOUT:
        return (f"{where}: no answer within {timeout:g} s — a firewall drops the connection; "
                f"{FIREWALL_HINT}",
                join(say("ask your network admin to open outgoing TCP 9130-9200 to {host}, or "
                         "try from another network", host=target.host), again))
    return (f"no address of {target.host} accepts a connection on port {target.port}: "
            f"{verdict.message}",
            join(commands.show_routes(note="this machine needs a network route (connect the "
                                      "network or VPN)"), again))


def explain_ipv6(attempts: Sequence[TcpAttempt], target: ServiceUrl) -> tuple[str, Remedy]:
    """IPv6 broken while IPv4 works: clients that try IPv6 first stall before they fall back."""
    bad = "; ".join(f"{a.where} {a.detail}" for a in attempts
                    if a.family == "IPv6" and a.outcome != "open")
    return (f"IPv6 to {target.host} does not work ({bad}) while IPv4 does: clients that try "
            "IPv6 first stall before they fall back",
            say("ask your network admin to fix IPv6 routing to {host}, or prefer IPv4: add "
                "'precedence ::ffff:0:0/96 100' to /etc/gai.conf", host=target.host))
