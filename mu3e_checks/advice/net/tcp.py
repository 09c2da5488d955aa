"""What "no connection" means for the user, and what to run: one entry per problem."""

from __future__ import annotations

from collections.abc import Sequence

from mu3e_checks import commands
from mu3e_checks.knowledge.net import DIPS_DEFAULT_PORT, ServiceUrl
from mu3e_checks.knowledge.net.tcp import FIREWALL_HINT, TcpAttempt, TcpJudgement, TcpProblem
from mu3e_checks.remedy import Remedy, join, say


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
