"""What a failed name lookup means for the user, and what to run: one entry per problem."""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.knowledge.net import ServiceUrl
from mu3e_checks.knowledge.net.dns import DnsProblem, Resolution
from mu3e_checks.remedy import Remedy, join, say

#: No nameserver answered: what happened instead.
_SILENT = {DnsProblem.TIMEOUT: "no DNS server answered in time",
           DnsProblem.UNREACHABLE: "no DNS server could be reached"}
#: A nameserver answered, with an error.
_ANSWERED = {DnsProblem.SERVFAIL: "the DNS server failed to resolve the name (SERVFAIL)",
             DnsProblem.REFUSED: "the DNS server refused to answer (REFUSED)",
             DnsProblem.ERROR: "the DNS server answered with an error"}


def explain(r: Resolution, target: ServiceUrl, advice: Advice) -> tuple[str, Remedy]:
    """What a failed lookup means for the user, and what to run: one entry per problem."""
    host = target.host
    problem = r.problem
    if problem is DnsProblem.NXDOMAIN:
        retype = Remedy() if target.url == advice.cs_url else advice.configure(
            note="the guide's URL")
        return (f"{host} does not exist in DNS ({r.resolver} answered NXDOMAIN): a typo in "
                "the URL, or a name only your institute's network (VPN) can see",
                join(say("check the host name in {url}", url=target.url), retype,
                     say("if the name is right, connect to your institute's VPN or ask your "
                         "network admin why it does not resolve:"),
                     commands.dig(host)))
    if problem is DnsProblem.EMPTY:
        return (f"{host} exists in DNS but has no address (no A or AAAA record, via "
                f"{r.resolver}); the record was removed or your DNS filters it",
                join(commands.dig(host, "A"),
                     commands.dig(host, "AAAA", note="compare from another network; if both "
                                  "are empty everywhere, tell the Mu3e computing contacts")))
    if problem in _SILENT or problem in _ANSWERED:
        what = _SILENT.get(problem) or _ANSWERED[problem]
        why = ("no network, a VPN that must be connected, or broken DNS settings"
               if problem in _SILENT else "broken DNS settings (a nameserver that does not "
               "serve this machine), or a VPN whose DNS must be used")
        return (f"{what} for {host} ({r.detail}; {r.resolver}): {why}",
                join(commands.show_resolv_conf(note="check the 'nameserver' lines"),
                     commands.dig(host, note="works once the network/VPN is up")))
    if problem is DnsProblem.NO_RESOLVER:
        return (f"{host} cannot be looked up: {r.detail}",
                commands.show_resolv_conf(note="it needs at least one 'nameserver' line; ask "
                                          "your admin"))
    if problem is DnsProblem.BAD_NAMESERVER:
        return r.detail, commands.nameserver_option()
    return f"{host}: {r.detail}", advice.configure()
