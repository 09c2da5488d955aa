"""The ProxyManager's view of your uploaded proxy: ``getUserProxiesInfo``, read and judged.

The guide's last step is "Create **and upload** a proxy": ``dirac-proxy-init`` uploads a
long-lived proxy to ``Framework/ProxyManager`` so that the grid can act for the user while the
jobs run.  Without ``-t`` a failed upload still exits 0, and the jobs are later rescheduled with
"Can not download proxy".  So the checks ask the ProxyManager itself, as ``dirac-proxy-info -m``
does: DISET ``getUserProxiesInfo`` (no arguments, the local proxy as TLS client credential)
returns ``{DN: {group: expiry}}`` for the caller's own DNs.  In DIRAC v8 proxies are stored per
DN without a group (group ``""``: good for any group); the expiry is a naive UTC datetime.  The
stored proxy lives as long as the user certificate it was made from (its notAfter − 300 s).

The ProxyManager refuses an unregistered DN, or a proxy for a group the user is not in, with
``Unauthorized query``, as the Configuration Server does.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional
from urllib.parse import urlsplit

from mu3e_checks.knowledge.net import Advice, Level, UrlError, diset, dns, registry, tcp, tls
from mu3e_checks.knowledge.net.probe import CsProbe
from mu3e_checks.remedy import Remedy, join, say

SERVICE = "Framework/ProxyManager"
METHOD = "getUserProxiesInfo"
ANY_GROUP = ""  # v8: one stored proxy per DN, good for every group


class ProxiesInfoError(ValueError):
    """The answer to getUserProxiesInfo is not the ``{DN: {group: datetime}}`` it should be."""


@dataclass(frozen=True)
class StoredProxy:
    """One proxy the ProxyManager holds for the caller."""

    dn: str
    group: str  # "" in v8: any group
    expires: _dt.datetime  # UTC, aware


def _utc(value: Any, where: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise ProxiesInfoError(f"the expiry for {where} is {type(value).__name__}, "
                               "not a date and time")
    return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else \
        value.astimezone(_dt.timezone.utc)


def read_proxies_info(value: Any) -> list[StoredProxy]:
    """The stored proxies in a ``getUserProxiesInfo`` value.

    v8 answers ``{DN: {group: datetime}}``; v9 answers ``{DN: datetime}`` (as dirac-proxy-init
    itself accepts both).  When the server's own lookup fails, the v8 handler wraps the error
    dict in its answer: that is reported with the server's message.
    """
    if not isinstance(value, dict):
        raise ProxiesInfoError(f"getUserProxiesInfo returned {type(value).__name__}, "
                               "not a dict")
    if value.get("OK") is False and "Message" in value:
        raise ProxiesInfoError(f"the ProxyManager could not list your proxies: "
                               f"{value.get('Message')}")
    found: list[StoredProxy] = []
    for dn, entry in value.items():
        if not isinstance(dn, str):
            raise ProxiesInfoError(f"a DN in the answer is {type(dn).__name__}, not text")
        if isinstance(entry, dict):
            for group, expires in entry.items():
                found.append(StoredProxy(dn, str(group), _utc(expires, dn)))
        else:
            found.append(StoredProxy(dn, ANY_GROUP, _utc(entry, dn)))
    return found


#: The upload's verdict, on the network chapter's one scale.
UploadLevel = Level


class UploadProblem(str, Enum):
    """Why the ProxyManager's answer is not "a proxy for you with enough time left"."""

    NONE = "none"  # nothing stored for your DN (never uploaded, or the upload failed)
    OTHER_GROUP = "other-group"  # stored only for other groups (older servers)
    EXPIRED = "expired"  # stored, but its time is up
    SHORT = "short"  # stored, with less than the warning threshold left


@dataclass(frozen=True)
class UploadVerdict:
    level: UploadLevel
    problem: Optional[UploadProblem]
    stored: Optional[StoredProxy]  # the longest-lived proxy that serves you
    hours_left: Optional[float]
    others: tuple[StoredProxy, ...] = ()  # your DN's proxies for other groups

    @property
    def ok(self) -> bool:
        return self.level is UploadLevel.OK


def judge_upload(proxies: Sequence[StoredProxy], dn: str, group: str, now: _dt.datetime,
                 warn_hours: float) -> UploadVerdict:
    """Does the ProxyManager hold a proxy for ``dn`` usable for ``group``, with at least
    ``warn_hours`` left at ``now``?  A stored proxy for group ``""`` serves every group."""
    mine = [p for p in proxies if p.dn == dn]
    serving = [p for p in mine if p.group in (ANY_GROUP, group)]
    others = tuple(p for p in mine if p not in serving)
    if not serving:
        problem = UploadProblem.OTHER_GROUP if others else UploadProblem.NONE
        return UploadVerdict(UploadLevel.FAIL, problem, None, None, others)
    best = max(serving, key=lambda p: p.expires)
    left = (best.expires - now).total_seconds() / 3600
    if left <= 0:
        return UploadVerdict(UploadLevel.FAIL, UploadProblem.EXPIRED, best, left, others)
    if left < warn_hours:
        return UploadVerdict(UploadLevel.WARN, UploadProblem.SHORT, best, left, others)
    return UploadVerdict(UploadLevel.OK, None, best, left, others)


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


def scheme(url: str) -> str:
    """The URL's scheme, lower case ("dips", "https", ...), or empty."""
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


def probe_like(cs_probe: CsProbe, url: str) -> CsProbe:
    """A probe of ``url`` that reaches it as ``cs_probe`` reaches the CS: the same proxy as the
    only client credential, trust store, resolver and timeout."""
    return CsProbe(url, timeout=cs_probe.timeout, capath=cs_probe.capath, proxy=cs_probe.proxy,
                   nameserver=cs_probe.nameserver,
                   nameserver_problem=cs_probe.nameserver_problem,
                   hosts_path=cs_probe.hosts_path, setup=cs_probe.setup, vo=cs_probe.vo,
                   cadata=cs_probe.cadata)


@dataclass(frozen=True)
class Asked:
    """What the ProxyManager said: the stored proxies and when it said so, or why it could not
    be asked (the message names the ProxyManager and the layer that broke, with its fix)."""

    stored: tuple[StoredProxy, ...] = ()
    at: Optional[_dt.datetime] = None
    problem: str = ""
    fix: Optional[Remedy] = None


def ask(probe: CsProbe, advice: Advice, proxy_group: Optional[str], dn: str) -> Asked:
    """``getUserProxiesInfo`` at ``probe``'s URL, walking DNS, TCP and TLS as the checks of the
    Configuration Server do, so a ProxyManager that cannot be reached is named by its layer
    (``proxy_group`` and ``dn`` are the local proxy's, for telling a refusal apart)."""
    contacts = say("send this message to the Mu3e computing contacts")
    try:
        target = probe.target()
    except UrlError as exc:
        return Asked(problem=f"the ProxyManager URL the Configuration Server names is "
                             f"unusable: {exc}", fix=contacts)

    def failed(message: str, fix: Remedy) -> Asked:
        return Asked(problem=f"ProxyManager: {message}", fix=fix)

    resolved = probe.resolution()
    if resolved.problem:
        return failed(*dns.explain(resolved, target, advice))
    attempts, verdict = probe.tcp()
    if verdict.problem:
        return failed(*tcp.explain(verdict, attempts, target, probe.timeout))
    call = probe.call(METHOD)
    if call.failure is not None:
        return failed(*tls.explain(call.failure, target, advice))
    if call.error is not None:
        if registry.is_unauthorized(call.error):
            message, fix = explain_refusal(proxy_group, dn, probe.url, advice,
                                           call.error.detail)
            return Asked(problem=message, fix=fix)
        return failed(*diset.explain(call.error, target, METHOD, advice))
    try:
        stored = read_proxies_info(call.value)
    except ProxiesInfoError as exc:
        return Asked(problem=f"ProxyManager ({probe.url}): {exc}", fix=contacts)
    return Asked(stored=tuple(stored), at=call.received or call.sent)
