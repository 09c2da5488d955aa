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

from mu3e_checks.knowledge.net import Level, ServiceUrl, UrlError, tcp
from mu3e_checks.knowledge.net.probe import CsProbe

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
    """What the ProxyManager said: the stored proxies and when it said so; or the layer at
    which asking it broke (``layer``) and the typed reason (``cause``: the URL's
    :class:`UrlError`, the DNS :class:`~dns.Resolution`, the TCP :class:`~tcp.TcpJudgement`
    with its ``attempts``, a :class:`~tls.TlsFailure`, a :class:`~diset.DisetError` (a refusal
    among them) or the unreadable answer's :class:`ProxiesInfoError`), which the advice layer
    words (advice.net.proxymgr)."""

    stored: tuple[StoredProxy, ...] = ()
    at: Optional[_dt.datetime] = None
    layer: str = ""  # "" (it answered) | "url" | "dns" | "tcp" | "tls" | "diset" | "answer"
    cause: object = None
    target: Optional[ServiceUrl] = None
    attempts: tuple[tcp.TcpAttempt, ...] = ()
    url: str = ""
    timeout: float = 0.0

    @property
    def answered(self) -> bool:
        return not self.layer


def ask(probe: CsProbe) -> Asked:
    """``getUserProxiesInfo`` at ``probe``'s URL, walking DNS, TCP and TLS as the checks of the
    Configuration Server do, so a ProxyManager that cannot be reached is named by its layer."""
    def broke(layer: str, cause: object, **kw: Any) -> Asked:
        return Asked(layer=layer, cause=cause, url=probe.url, timeout=probe.timeout, **kw)

    try:
        target = probe.target()
    except UrlError as exc:
        return broke("url", exc)
    resolved = probe.resolution()
    if resolved.problem:
        return broke("dns", resolved, target=target)
    attempts, verdict = probe.tcp()
    if verdict.problem:
        return broke("tcp", verdict, target=target, attempts=tuple(attempts))
    call = probe.call(METHOD)
    if call.failure is not None:
        return broke("tls", call.failure, target=target)
    if call.error is not None:
        return broke("diset", call.error, target=target)
    try:
        stored = read_proxies_info(call.value)
    except ProxiesInfoError as exc:
        return broke("answer", exc, target=target)
    return Asked(stored=tuple(stored), at=call.received or call.sent, url=probe.url)
