"""Guide: "Initialize a Mu3e DIRAC Proxy" and verify it — as the Configuration Server sees it.

``dirac-proxy-info`` shows the group only when the server confirms the DN; this asks the server
directly (DISET ``whoami``) how it sees the proxy: which user, which group.  It belongs to the
proxy chapter because its fixes are about the proxy and the VO registration, not the network;
it is a network check all the same (``-m "not network"`` and ``--mu3e-offline`` skip it).
PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks.knowledge.net.diset import DisetError, identity_problem, whoami_info
from mu3e_checks.outcome import fail, note, skip
from mu3e_checks.registry import check

PROXY_INIT = "dirac-proxy-init -g {group} -M"


@check("NET-006", "The Configuration Server knows you: whoami gives your user and group",
       step="mu3e-proxy", network=True, requires=("NET-004",), fix=PROXY_INIT)
def test_cs_whoami(cs_probe, settings, run):
    credential = cs_probe.credential()
    if not credential.usable:
        skip(f"needs a valid proxy: {credential.reason}")
    call = cs_probe.whoami()
    if call.failure is not None:
        fail(f"the server rejected the whoami connection: {call.failure.detail}",
             group=settings.group)
    if call.error is not None:
        fail(f"whoami failed: {call.error.detail}", group=settings.group)
    try:
        who = whoami_info(call.value)
    except DisetError as exc:
        fail(f"the whoami answer cannot be read: {exc.detail}", group=settings.group)
    problem = identity_problem(who, settings.group, credential.group, credential.identity)
    dn = who.dn or credential.identity
    if problem is not None and problem.kind == "unregistered":
        fail(f"{problem.message}. Contact the Mu3e VO admin and send this DN exactly: {dn}",
             fix=f"# ask the Mu3e VO admin to register this DN in group {settings.group}:\n"
                 f"{dn}")
    if problem is not None:
        fail(problem.message, group=settings.group)
    props = ", ".join(who.properties) or "none"
    run.record_environment("CS sees you as", f"{who.username} in group {who.group} ({dn})")
    note(f"the server sees you as {who.username!r} in group {who.group!r} "
         f"(DN {dn}; properties {props})")
