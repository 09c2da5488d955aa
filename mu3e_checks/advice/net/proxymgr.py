"""What the ProxyManager's answer, or its silence, means for the user, and what to run."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.advice.net import Advice
from mu3e_checks.advice.net.servers import explain_layer
from mu3e_checks.knowledge.net import registry
from mu3e_checks.knowledge.net.probe import CsProbe
from mu3e_checks.knowledge.net.proxymgr import (
    METHOD,
    Asked,
    StoredProxy,
    UploadProblem,
    UploadVerdict,
)
from mu3e_checks.knowledge.net.proxymgr import ask as ask_proxymgr
from mu3e_checks.remedy import Remedy, join, say


def _when(p: StoredProxy) -> str:
    return p.expires.strftime("%Y-%m-%d %H:%M UTC")


def explain(verdict: UploadVerdict, dn: str, url: str, advice: Advice, warn_hours: float
            ) -> tuple[str, Remedy]:
    """The message and fix for a verdict that is not OK.  The fix is the guide's command with
    ``-t``: a failed upload then stops it with exit code 1 instead of passing silently."""
    upload = advice.proxy_init()
    if verdict.problem is UploadProblem.NONE:
        return (f"the ProxyManager ({url}) holds no proxy for your DN {dn}: it was never "
                "uploaded, or the upload failed and dirac-proxy-init (without -t) still exited "
                "0; your jobs would be rescheduled with \"Can not download proxy\"", upload)
    if verdict.problem is UploadProblem.OTHER_GROUP:
        groups = ", ".join(sorted(p.group for p in verdict.others))
        return (f"the ProxyManager ({url}) holds proxies for your DN {dn} only for group(s) "
                f"{groups}, none for {advice.group!r}", upload)
    stored = verdict.stored
    assert stored is not None and verdict.hours_left is not None
    renew = say("the upload lasts as long as your certificate: if that expires by then, "
                "renew it first (see the certificate checks)")
    if verdict.problem is UploadProblem.EXPIRED:
        return (f"the proxy the ProxyManager ({url}) holds for your DN {dn} expired at "
                f"{_when(stored)}: jobs can no longer get a proxy for you",
                join(upload, renew))
    return (f"the proxy the ProxyManager ({url}) holds for your DN {dn} expires at "
            f"{_when(stored)}, in {verdict.hours_left:.1f} h (less than "
            f"--mu3e-upload-warn-hours {warn_hours:g} h): longer jobs will fail with "
            "\"Can not download proxy\"", join(upload, renew))


def explain_refusal(proxy_group: Optional[str], dn: str, url: str, advice: Advice,
                    detail: str) -> tuple[str, Remedy]:
    """``Unauthorized query`` from the ProxyManager, told apart by the proxy's own group (never
    by signing a new proxy).

    The check asks only after the Configuration Server handed its data to this same proxy, so
    with a proxy for the expected group the CS does know the DN in it: a ProxyManager that
    still refuses reads another (or no) Registry, which only the service's admins can mend.
    A proxy for another group, or none, is made again with ``-g``.
    """
    group = advice.group
    if proxy_group and proxy_group == group:
        return (f"the ProxyManager ({url}) refused to list your proxies ({detail}) although "
                f"the Configuration Server accepts your proxy for group {group!r}: the "
                "ProxyManager does not know your DN (its Registry is not the CS's, or it cannot "
                "read the CS), so uploads to it fail too; tell the Mu3e computing contacts",
                join(say("tell the Mu3e computing contacts: the ProxyManager {url} refuses "
                         "a DN the Configuration Server knows in group {group}:", url=url,
                         group=group), say("{dn}", dn=dn)))
    asked = f"group {proxy_group!r}" if proxy_group else "no DIRAC group"
    return (f"the ProxyManager ({url}) refused to list your proxies ({detail}): your proxy "
            f"carries {asked}, which it does not grant to your DN; make the proxy for "
            f"{group!r}", advice.proxy_init())


@dataclass(frozen=True)
class Answer:
    """The ProxyManager's answer for a check: the stored proxies and when it said so, or why
    it could not be asked (the message names the ProxyManager and the layer that broke, with
    its fix)."""

    stored: tuple[StoredProxy, ...] = ()
    at: Optional[_dt.datetime] = None
    problem: str = ""
    fix: Optional[Remedy] = None


def explain_asked(asked: Asked, advice: Advice, proxy_group: Optional[str],
                  dn: str) -> tuple[str, Remedy]:
    """Why the ProxyManager could not be asked, by the layer that broke, and its fix
    (``proxy_group`` and ``dn`` are the local proxy's, for telling a refusal apart)."""
    contacts = commands.tell_contacts()
    cause, target = asked.cause, asked.target
    if asked.layer == "url":
        return (f"the ProxyManager URL the Configuration Server names is unusable: {cause}",
                contacts)
    if asked.layer == "answer":
        return f"ProxyManager ({asked.url}): {cause}", contacts
    if asked.layer == "diset" and registry.is_unauthorized(cause):  # type: ignore[arg-type]
        return explain_refusal(proxy_group, dn, asked.url, advice,
                               cause.detail)  # type: ignore[attr-defined]
    assert target is not None
    message, fix = explain_layer(asked.layer, cause, target, advice, attempts=asked.attempts,
                                 timeout=asked.timeout, what=METHOD)
    return f"ProxyManager: {message}", fix


def ask(probe: CsProbe, advice: Advice, proxy_group: Optional[str], dn: str) -> Answer:
    """``getUserProxiesInfo`` at ``probe``'s URL (:func:`knowledge.net.proxymgr.ask`), with a
    ProxyManager that cannot be asked named by its layer, and that layer's fix."""
    asked = ask_proxymgr(probe)
    if asked.answered:
        return Answer(asked.stored, asked.at)
    message, fix = explain_asked(asked, advice, proxy_group, dn)
    return Answer(problem=message, fix=fix)
