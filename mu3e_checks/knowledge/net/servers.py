"""Every Configuration Server dirac.cfg lists, probed at once: one verdict per server.

``dirac-configure -I`` writes several servers and DIRAC tries them in random order, falling
over to the next when one fails, so one dead server shows up as intermittent slowness, never as
a clear failure.  Each server is walked through the same layers as the main checks (DNS, TCP,
TLS, DISET ping) by its own :class:`CsProbe`, all at once: N dead servers cost about one
timeout, not N.  The checks then judge the server DIRAC would end up using
(:meth:`ServerSurvey.serving`): the first listed one that passes every layer, or, when none
does, the one that got furthest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Optional, TypeVar

from mu3e_checks.knowledge.net import Level, ServiceUrl, UrlError, diset, tcp, tls
from mu3e_checks.knowledge.net.probe import CsProbe

MAX_SERVERS = 32  # more entries than any real dirac.cfg holds are reported, not probed
#: One thread per server, so every server is probed at the same time and N stalled servers
#: cost one timeout; bounded by MAX_SERVERS, so a hostile cfg cannot start thousands.
MAX_WORKERS = MAX_SERVERS


class Layer(str, Enum):
    """The layer a server's probe stopped at; ``OK`` means the ping answered."""

    URL = "url"
    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    PING = "ping"
    OK = "ok"

    @property
    def rank(self) -> int:
        """How far up the layers a probe got: URL is 0, OK is the top."""
        return list(Layer).index(self)


class LayerVerdict:
    """What every verdict on one of several servers shares (a CS, a VOMS server): the layer
    its probe stopped at, the typed reason (``cause``, which the advice layer words, with its
    fix), what the probe saw when there is no cause to word (``detail``: the answer, or a
    surprise), and how long it took."""

    layer: Layer
    cause: object
    detail: str
    seconds: float

    @property
    def answers(self) -> bool:
        return self.layer is Layer.OK


@dataclass(frozen=True)
class ServerVerdict(LayerVerdict):
    """One server's verdict: where its probe stopped and why (``cause`` by layer: the URL's
    :class:`UrlError`, the DNS ``Resolution``, the ``TcpJudgement`` with its ``attempts``, a
    ``TlsFailure``, a ``DisetError``), for the advice layer (advice.net.servers) to word."""

    url: str
    layer: Layer
    cause: object = None
    detail: str = ""
    target: Optional[ServiceUrl] = None
    attempts: tuple[tcp.TcpAttempt, ...] = ()
    timeout: float = 0.0
    version: str = ""  # from the ping answer
    seconds: float = 0.0
    no_proxy: bool = False  # TLS answered but without a proxy no ping could be made


def judge(probe: CsProbe) -> ServerVerdict:
    """Walk ``probe`` up the layers and stop at the first that breaks; never raises."""
    start = time.monotonic()
    target: Optional[ServiceUrl] = None

    def done(layer: Layer, cause: object = None, detail: str = "", **kw) -> ServerVerdict:
        return ServerVerdict(probe.url, layer, cause, detail, target, timeout=probe.timeout,
                             seconds=time.monotonic() - start, **kw)

    try:
        target = probe.target()
    except UrlError as exc:
        return done(Layer.URL, exc)
    try:
        r = probe.resolution()
        if r.problem:
            return done(Layer.DNS, r)
        attempts, verdict = probe.tcp()
        if verdict.problem:
            return done(Layer.TCP, verdict, attempts=tuple(attempts))
        layer = probe.tls()
        credential = probe.credential()
        if layer.failure is not None:
            rejected = layer.failure.kind is tls.TlsFailureKind.CLIENT_CERT_REJECTED
            if rejected and not credential.usable:
                return done(Layer.OK, detail="TLS answers; no usable proxy, so no ping was sent",
                            no_proxy=True)
            return done(Layer.TLS, layer.failure)
        call = probe.ping()
        if call.failure is not None:
            return done(Layer.TLS, call.failure)
        if call.error is not None:
            return done(Layer.PING, call.error)
        info = probe.ping_info()
    except diset.DisetError as exc:
        return done(Layer.PING, exc)
    except Exception as exc:  # noqa: BLE001 - one server's surprise must not hide the others
        return done(Layer.PING,
                    detail=f"the probe broke unexpectedly: {type(exc).__name__}: {exc}")
    return done(Layer.OK, detail=f"DIRAC {info.version}, round trip {info.round_trip:.2f} s",
                version=info.version)


class ServerSurvey:
    """All servers, probed in the background from the moment the survey is made.

    The checks of the main server ask ``probe_for(url)``, the same object the survey's worker
    probes, so the first server is never probed twice and its layers finish by the time the
    survey's verdicts are asked for.
    """

    def __init__(self, urls: Sequence[str], make_probe: Callable[[str], CsProbe],
                 max_workers: int = MAX_WORKERS) -> None:
        unique = list(dict.fromkeys(u for u in urls if u))
        self._make = make_probe
        self.skipped = unique[MAX_SERVERS:]
        self.urls = unique[:MAX_SERVERS]
        self.probes = {u: make_probe(u) for u in self.urls}
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(self.urls))),
                                        thread_name_prefix="mu3e-cs-survey")
        self._futures: dict[str, Future] = {
            u: self._pool.submit(judge, p) for u, p in self.probes.items()}
        self._pool.shutdown(wait=False)

    def probe_for(self, url: str) -> Optional[CsProbe]:
        return self.probes.get(url)

    def verdicts(self) -> list[ServerVerdict]:
        """Every server's verdict, in the order dirac.cfg lists them (waits for the workers;
        each finishes within its layers' timeouts)."""
        return [self._futures[u].result() for u in self.urls]

    def serving(self) -> Serving:
        """The server DIRAC would end up using, for the layer checks to judge.

        DIRAC falls over to the next server when one fails, so the setup works when any
        listed server passes every layer: the first such one in dirac.cfg's order is chosen,
        and only the servers before it are waited for (they are probed at the same time, so
        that costs about one timeout).  When none works, the one that got furthest up the
        layers stands for all, and every server's verdict comes along for the message.
        """
        seen: list[ServerVerdict] = []
        for url in self.urls:
            verdict = self._futures[url].result()
            seen.append(verdict)
            if verdict.answers:
                return Serving(self.probes[url], verdict, tuple(seen))
        if not seen:  # no URL at all (an empty --mu3e-cs-url): judged as the unusable URL
            probe = self._make("")
            verdict = judge(probe)
            return Serving(probe, verdict, (verdict,))
        best = max(seen, key=lambda v: v.layer.rank)  # the first of the furthest
        return Serving(self.probes[best.url], best, tuple(seen))


@dataclass(frozen=True)
class Serving:
    """The server the layer checks judge, its verdict, and every listed server's verdict."""

    probe: CsProbe
    verdict: ServerVerdict
    verdicts: tuple[ServerVerdict, ...]  # those up to the chosen one; all when none works

    @property
    def works(self) -> bool:
        return self.verdict.answers


V = TypeVar("V", bound=LayerVerdict)


def summary(verdicts: Sequence[V]) -> tuple[Level, list[V]]:
    """``("ok"|"warn"|"fail", dead servers)``: fail when none answers, warn when some do not.
    The one rule for every list of servers a client tries in turn (CS servers, VOMS servers)."""
    dead = [v for v in verdicts if not v.answers]
    if not verdicts or len(dead) == len(verdicts):
        return Level.FAIL, dead
    return (Level.WARN if dead else Level.OK), dead
