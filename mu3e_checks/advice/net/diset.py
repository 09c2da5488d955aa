"""What a failed DISET call, or the server's view of the caller, means, and what to run."""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net.registry import vo_admin
from mu3e_checks.knowledge.net import ServiceUrl, describe_address
from mu3e_checks.knowledge.net.diset import (
    DisetError,
    DisetErrorKind,
    IdentityKind,
    IdentityProblem,
)
from mu3e_checks.remedy import Remedy, say


def explain(exc: DisetError, target: ServiceUrl, what: str, advice: Advice
            ) -> tuple[str, Remedy]:
    """What a failed DISET call (``what``: ping, whoami) means, and what to run."""
    where = describe_address(target.host, target.port)
    if exc.kind is DisetErrorKind.REFUSED:
        fix = advice.configure() if "not up" in exc.detail else commands.tell_contacts()
        return f"the server at {where} refused the {what}: {exc.detail}", fix
    if exc.kind is DisetErrorKind.TIMEOUT:
        return (f"the server at {where} completed TLS but gave no DISET answer: {exc.detail}; "
                "the service hangs or something that is not DIRAC holds the port",
                say('tell the Mu3e computing contacts; DIRAC itself would say only '
                    '"Can\'t connect"'))
    if exc.kind in (DisetErrorKind.GARBAGE, DisetErrorKind.TOO_BIG):
        return f"{where} does not answer like a DIRAC service: {exc.detail}", advice.configure()
    return (f"the {what} to {where} failed: {exc.detail}; the server had accepted your "
            "certificate, so the service itself broke off",
            say("send this message to the Mu3e computing contacts; DIRAC itself would say "
                "only \"Can't connect\""))


def explain_identity(problem: IdentityProblem, dn: str, advice: Advice
                     ) -> tuple[str, Remedy]:
    """The server does not see "you, in the expected group": the VO admin, or a new proxy.

    The DN the server returned is shown on a comment line of its own, made visible, so the
    user can send it exactly; it is never a line a shell would run.
    """
    if problem.kind is IdentityKind.UNREGISTERED:
        return (f"{problem.message}. Contact the Mu3e VO admin and send this DN exactly: {dn}",
                vo_admin(dn, advice.group))
    return problem.message, advice.proxy_init()
