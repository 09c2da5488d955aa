"""What the Configuration Server's Registry says about you, and what to do about it."""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.knowledge.net.registry import RegistryProblem, ServiceLookup
from mu3e_checks.remedy import Remedy, join, say


def vo_admin(dn: str, group: str) -> Remedy:
    """The DN on a comment line of its own, made visible, never a line a shell would run."""
    return join(say("ask the Mu3e VO admin to register this DN in group {group}:", group=group),
                say("{dn}", dn=dn))


def explain(problem: RegistryProblem, dn: str, advice: Advice, *, proxy_group: str = "",
            nick: str = "", detail: str = "") -> tuple[str, Remedy]:
    """The message and fix for each :class:`RegistryProblem`."""
    group = advice.group
    if problem is RegistryProblem.REFUSED_NO_GROUP:
        return (f"the Configuration Server refused to hand out its data ({detail}): your proxy "
                f"carries no DIRAC group and the server found no group for your DN {dn}, so "
                "either the DN is not registered or its default group is not allowed; make a "
                f"proxy for {group!r} and run again", advice.proxy_init())
    if problem is RegistryProblem.REFUSED_OTHER_GROUP:
        return (f"the Configuration Server refused to hand out its data ({detail}) to a proxy "
                f"for group {proxy_group!r}: your DN is not registered, or it is not in group "
                f"{proxy_group!r}; the expected group is {group!r}, so make the proxy for it",
                advice.proxy_init())
    if problem is RegistryProblem.REFUSED_UNREGISTERED:
        return (f"the Configuration Server refused to hand out its data ({detail}) to your "
                f"proxy for group {group!r}: your DN is not registered in the VO, or not in "
                f"{group!r}. Send this DN exactly to the Mu3e VO admin: {dn}",
                vo_admin(dn, group))
    if problem is RegistryProblem.DN_UNKNOWN:
        return (f"no user in the server's /Registry/Users has your DN {dn}",
                vo_admin(dn, group))
    if problem is RegistryProblem.NO_GROUP:
        return (f"the server's /Registry/Groups has no group {group!r}: the Mu3e group is not "
                "set up on this server (or --mu3e-group names another)",
                say("tell the Mu3e computing contacts: group {group} is missing on the "
                    "Configuration Server", group=group))
    return (f"the server's group {group!r} does not list your nick {nick!r} (DN {dn})",
            join(say("ask the Mu3e VO admin to add user {nick} to group {group}:", nick=nick,
                     group=group), say("{dn}", dn=dn)))


def unreadable() -> Remedy:
    """The Configuration Server's data cannot be read, or is too big to read: only the people
    who run it can look into that."""
    return commands.tell_contacts()


def service_missing(lookup: ServiceLookup, setup: str) -> str:
    """Why DIRAC finds no URL for a service, in DIRAC's own words, with the setups the server
    does define: the data is the server's, so its fix is :func:`unreadable`'s people."""
    known = (f"the server defines the setup(s) {', '.join(lookup.setups)}" if lookup.setups
             else "the server's data defines no /DIRAC/Setups")
    return (f"Cannot get URL for {lookup.service} in setup {setup}: {lookup.problem} ({known}: "
            "a wrong --mu3e-setup, or a server too far from the client)")
