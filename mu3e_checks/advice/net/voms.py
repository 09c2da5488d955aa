"""The VO's VOMS servers in words: why one is dead, and what to run.

Certificate problems get the network chapter's own explanation and fix (the CA bundle to
install, the clock to check), as for the Configuration Server; any other TLS problem the
openssl test of that server; DNS and TCP problems the command that shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net import servers as _servers
from mu3e_checks.knowledge.net import ServiceUrl, dns, tcp, tls
from mu3e_checks.knowledge.net.voms import DnFinding, VomsTarget, VomsVerdict
from mu3e_checks.remedy import Remedy, join, say

_DNS_WORDS = {
    dns.DnsProblem.NXDOMAIN: "the name does not exist (NXDOMAIN: a typo, or a name only a VPN "
                             "can see)",
    dns.DnsProblem.EMPTY: "the name has no A/AAAA record",
    dns.DnsProblem.TIMEOUT: "no DNS server answered in time",
    dns.DnsProblem.UNREACHABLE: "no DNS server could be reached",
    dns.DnsProblem.SERVFAIL: "the DNS server failed to resolve it (SERVFAIL)",
    dns.DnsProblem.REFUSED: "the DNS server refused to answer (REFUSED)",
    dns.DnsProblem.ERROR: "the DNS server answered with an error",
    dns.DnsProblem.NO_RESOLVER: "no nameserver is configured",
}

#: TLS failures about the server's certificate: explained, with their fix, as for the CS.
_CERT_FAILURES = (tls.TlsFailureKind.UNKNOWN_CA, tls.TlsFailureKind.EXPIRED,
                  tls.TlsFailureKind.NOT_YET_VALID)


def _tls_fix(target: VomsTarget, capath: Optional[Path]) -> Remedy:
    return commands.tls_client_test(target.host, target.port, capath or Path("."),
                                    note="see where it stops")


def _explain_tls(failure: tls.TlsFailure, target: VomsTarget, capath: Optional[Path],
                 advice: Optional[Advice]) -> tuple[str, Remedy]:
    """A certificate problem gets the network chapter's explanation and fix (the CA bundle to
    install, the clock to check); anything else the openssl test of this server."""
    from mu3e_checks.advice.net import tls as tls_advice

    if failure.kind in _CERT_FAILURES and advice is not None:
        where = ServiceUrl(f"{target.host}:{target.port}", target.host, target.port, "VOMS")
        message, fix = tls_advice.explain(failure, where, advice)
        return f"{target.name}: {message}", fix
    what = failure.detail
    if failure.server is not None:
        what += f" (server {failure.server.subject}, issued by {failure.server.issuer})"
    return f"{target.name}: {what}", _tls_fix(target, capath)


def explained(v: VomsVerdict, advice: Optional[Advice] = None
              ) -> tuple[str, Optional[Remedy]]:
    """One VOMS server's verdict in words, with the fix for the layer it stopped at (None for
    one that answers, or whose probe broke in a way no fix addresses).  Without ``advice`` a
    certificate problem gets the openssl test of the server, not the CA bundle to install."""
    target, c = v.target, v.cause
    if c is None:
        return v.detail, None
    if isinstance(c, dns.Resolution):
        why = _DNS_WORDS.get(c.problem, c.problem.value if c.problem else "")
        return (f"{target.host} does not resolve: {why}"
                f"{' (' + c.detail + ')' if c.detail else ''}", commands.dig(target.host))
    if isinstance(c, tcp.TcpJudgement):
        if c.problem is tcp.TcpProblem.TIMEOUT:
            why = f"no answer within {v.timeout:g} s (a firewall drops it)"
        elif c.problem is tcp.TcpProblem.REFUSED:
            why = "connection refused (nothing listens there, or a firewall rejects it)"
        else:
            why = c.message
        return f"{target.name}: {why}", commands.port_test(target.host, target.port)
    if isinstance(c, tls.TlsFailure):
        return _explain_tls(c, target, v.capath, advice)
    return f"the TLS client cannot be set up: {c}", _tls_fix(target, v.capath)


def message(v: VomsVerdict, advice: Optional[Advice] = None) -> str:
    return explained(v, advice)[0]


def line(v: VomsVerdict, advice: Optional[Advice] = None) -> str:
    """One table line for the report."""
    return _servers.line(v, message(v, advice))


def dead(v: VomsVerdict, advice: Optional[Advice] = None) -> str:
    """The server, and where and why it is dead, for a message listing the dead servers."""
    return _servers.dead(v, v.target.name, message(v, advice))


NOT_MEMBERSHIP = ("a NETWORK problem, not a membership one, although 'dirac-proxy-init -M' "
                  "then asks \"Are you sure you are properly registered in the VO?\"")


def explain_none(verdicts: Sequence[VomsVerdict], vo: str,
                 advice: Optional[Advice] = None) -> tuple[str, Remedy]:
    """No VOMS server of the VO answers: the message says it is the network, with the first
    dead server's layer fix."""
    named = "; ".join(dead(v, advice) for v in verdicts)
    first = verdicts[0] if verdicts else None
    fix = join(explained(first, advice)[1] if first is not None else None,
               say("no VOMS server of {vo} can be reached from this machine: ask your network "
                   "admin to open outgoing TCP to them, or try from another network; if they "
                   "are down, tell the Mu3e computing contacts", vo=vo))
    return (f"none of the {len(verdicts)} {vo} VOMS server(s) answers, "
            f"{NOT_MEMBERSHIP}: {named}", fix)


def explain_some(down: Sequence[VomsVerdict], total: int, vo: str,
                 advice: Optional[Advice] = None) -> tuple[str, Remedy]:
    """Some servers are dead: voms-proxy-init tries them in turn, so it is slower, not broken."""
    named = "; ".join(dead(v, advice) for v in down)
    fix = join(*(explained(v, advice)[1] for v in down[:1]),
               say("voms-proxy-init waits for each dead server before it tries the next; tell "
                   "the Mu3e computing contacts if it stays down"))
    return (f"{len(down)} of {total} {vo} VOMS servers do not answer, so 'dirac-proxy-init -M' "
            f"waits for them before it asks the others: {named}", fix)


def explain_mismatch(finding: DnFinding, vo: str, advice: Advice) -> tuple[str, Remedy]:
    """A vomses line or an .lsc file that names another DN than the server presents."""
    t = finding.target
    if finding.source == "vomses":
        message = (f"{t.name} presents the DN {finding.actual}, but your vomses ({t.where}) "
                   f"expects {finding.expected}: voms-proxy-init refuses the server")
        manual = say("or correct the DN of that line in {where} to {dn}", where=t.where,
                     dn=finding.actual)
    else:
        message = (f"{t.name} presents the DN {finding.actual}, but {t.lsc} says "
                   f"{finding.expected}: voms-proxy-init rejects the {vo} attributes it "
                   "returns")
        manual = commands.write_lsc(t.lsc or Path(f"{t.host}.lsc"), finding.actual,
                                    finding.issuer, note="or, once the Mu3e computing "
                                    "contacts confirm the server's new DN")
    return message, join(advice.configure(note="rewrites vomses and vomsdir from the CS"),
                         manual)


def mismatch_fix(fixes: Sequence[Remedy]) -> Remedy:
    """The fixes of several DN mismatches as one (each line once)."""
    return join(*fixes)
