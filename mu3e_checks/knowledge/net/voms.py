"""The VO's VOMS servers: can this machine reach them (DNS, TCP, TLS), and are they who vomses says.

When no VOMS server answers, ``voms-proxy-init`` prints "None of the contacted servers for
mu3e.org were capable of returning a valid AC" and ``dirac-proxy-init -M`` adds "Are you sure you
are properly registered in the VO?": a network problem that reads as a membership one.  Each
server named by a mu3e.org line of the vomses in use (and by the Configuration Server's
``/Registry/VO/<vo>/VOMSServers``, when known) is walked through DNS, TCP and TLS against the
trust dir, all servers at once, so N dead servers cost about one timeout, not N.

The TLS layer verifies the server's chain but not its host name: VOMS clients identify the
server by the DN written in vomses, and check its answer against
``vomsdir/<vo>/<host>.lsc`` (first line: the server's DN, second: its CA's DN).  Both are
compared with the certificate the server presents.  Only the proxy is presented as client
certificate, never the long-term key; no VOMS request is sent.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.knowledge.net import Deadline, describe_address, dns, tcp, tls
from mu3e_checks.knowledge.net.servers import MAX_WORKERS, Layer, LayerVerdict
from mu3e_checks.knowledge.pki import dn_key
from mu3e_checks.knowledge.voms_env import VomsesEntry, entries_for

#: The port VOMS servers of the EGI/GridPP world listen on when nothing else is said.
VOMS_DEFAULT_PORT = 15000
MAX_SERVERS = 16  # more VOMS servers than any VO has are reported, not probed
_LSC_LIMIT = 64 * 1024

# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class VomsTarget:
    """One VOMS server to probe, with the DNs the local files expect of it."""

    host: str
    port: int
    vomses_dn: str = ""  # the DN the vomses line gives ("" when only the CS names it)
    where: str = ""  # "<vomses file>, line N" or "the Configuration Server"
    lsc: Optional[Path] = None  # vomsdir/<vo>/<host>.lsc
    lsc_dn: str = ""  # its first line, "" when the file is missing or empty
    lsc_problem: str = ""  # why lsc_dn is empty

    @property
    def name(self) -> str:
        return describe_address(self.host, self.port)


def read_lsc(path: Path) -> tuple[str, str]:
    """``(server DN, problem)`` from an .lsc file: its first non-empty line is the server's DN."""
    try:
        text = read_bytes(path, _LSC_LIMIT).decode("utf-8", "replace")
    except Unreadable as exc:
        return "", str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "", f"{path} is empty"
    if not lines[0].startswith("/"):
        return "", f"the first line of {path} is not a DN in slash form"
    return lines[0], ""


def targets(entries: Iterable[VomsesEntry], vo: str, vomsdir: Optional[Path],
            cs_servers: Iterable[tuple[str, object, str]] = ()) -> list[VomsTarget]:
    """The VO's servers from the vomses entries, then those only the CS lists, once each.

    ``cs_servers`` are ``(host, port, dn)`` from the CS's Registry (the port may be "", as
    Registry entries often omit it).  A port that is not a number gives the VOMS default port:
    voms-proxy-init would fail on such a vomses line, and ENV-002 reports the line itself.
    """
    found: dict[tuple[str, int], VomsTarget] = {}
    mine = entries_for(entries, vo)
    local = {e.host.strip().lower() for e in mine}
    rows = [(e.host, e.port, e.dn, f"{e.file}, line {e.line}") for e in mine]
    # A server the CS lists and vomses names too is probed as vomses gives it; the CS's DN for
    # it is NET-011's comparison, so a CS-only server is compared with its .lsc alone.
    rows += [(h, str(p), "", "the Configuration Server") for h, p, dn in cs_servers
             if h.strip().lower() not in local]
    for host, port_text, dn, where in rows:
        host = host.strip()
        if not host:
            continue
        port = int(port_text) if str(port_text).strip().isdigit() else VOMS_DEFAULT_PORT
        if (host.lower(), port) in found:
            continue
        lsc, lsc_dn, problem = None, "", ""
        if vomsdir is not None:
            lsc = vomsdir / vo / f"{host}.lsc"
            lsc_dn, problem = read_lsc(lsc)
        found[(host.lower(), port)] = VomsTarget(host, port, dn.strip(), where, lsc, lsc_dn,
                                                 problem)
    return list(found.values())


# ----------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VomsVerdict(LayerVerdict):
    """One VOMS server: the layer its probe stopped at, the typed reason (``cause``: the DNS
    ``Resolution``, the ``TcpJudgement``, a ``TlsFailure``, or the exception that stopped the
    TLS client being set up), what the probe saw otherwise (``detail``), and its certificate;
    the advice layer (advice.net.voms) words it, with its fix."""

    target: VomsTarget
    layer: Layer
    cause: object = None
    detail: str = ""
    server: Optional[tls.ServerCert] = None
    seconds: float = 0.0
    timeout: float = 0.0
    capath: Optional[Path] = None  # the trust dir the server was verified against


@dataclass(frozen=True)
class Probe:
    """How to reach the servers: the run's timeout, trust dir, proxy and name service."""

    timeout: float
    capath: Path
    credential: tls.ClientCredential
    cadata: Optional[str] = None
    nameserver: Optional[dns.Nameserver] = None
    hosts_path: Path = dns.HOSTS_FILE
    nameserver_problem: str = ""  # --mu3e-nameserver is unusable: no name is looked up


def _context(probe: Probe) -> ssl.SSLContext:
    """The network checks' client context without the host name check (VOMS clients check the
    server's DN instead, which :func:`dn_findings` compares)."""
    ctx = tls.client_context(probe.capath, probe.credential, probe.cadata)
    ctx.check_hostname = False
    return ctx


def probe_server(target: VomsTarget, probe: Probe) -> VomsVerdict:
    """DNS, TCP and TLS for one server, each within ``probe.timeout``; never raises."""
    start = time.monotonic()

    def done(layer: Layer, cause: object = None, detail: str = "",
             server: Optional[tls.ServerCert] = None) -> VomsVerdict:
        return VomsVerdict(target, layer, cause, detail, server, time.monotonic() - start,
                           probe.timeout, probe.capath)

    if probe.nameserver_problem:
        return done(Layer.DNS, detail=probe.nameserver_problem)
    try:
        r = dns.resolve(target.host, timeout=probe.timeout, nameserver=probe.nameserver,
                        hosts_path=probe.hosts_path)
        if r.problem:
            return done(Layer.DNS, r)
        attempts = tcp.probe(r.addresses, target.port, probe.timeout)
        verdict = tcp.judge(attempts)
        if verdict.problem:
            return done(Layer.TCP, verdict)
        deadline = Deadline(probe.timeout)
        try:
            ctx = _context(probe)
        except (ssl.SSLError, OSError) as exc:
            return done(Layer.TLS, exc)
        try:
            sock = tls.connect(verdict.open_address, target.port, target.host, ctx, deadline)
        except tls.TlsFailure as failure:
            if failure.kind is tls.TlsFailureKind.CLIENT_CERT_REJECTED:
                # The server was verified and answered; it only refused our client side.
                return done(Layer.OK, detail=f"TLS answers ({failure.detail})")
            server = None
            if failure.kind in (tls.TlsFailureKind.UNKNOWN_CA, tls.TlsFailureKind.EXPIRED,
                                tls.TlsFailureKind.VERIFY_FAILED,
                                tls.TlsFailureKind.NOT_YET_VALID):
                server = tls.peek_server_cert(verdict.open_address, target.port, target.host,
                                              Deadline(probe.timeout))
            failure.server = server
            return done(Layer.TLS, failure, server=server)
        try:
            der = sock.getpeercert(binary_form=True)
            version = sock.version() or "TLS"
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        server = tls.ServerCert.from_der(der) if der else None
        shown = f"server {server.subject}" if server else "no server certificate"
        return done(Layer.OK, detail=f"{version}, {shown}", server=server)
    except Exception as exc:  # noqa: BLE001 - one server's surprise must not hide the others
        return done(Layer.TLS,
                    detail=f"the probe broke unexpectedly: {type(exc).__name__}: {exc}")


def survey(found: Sequence[VomsTarget], probe: Probe,
           max_workers: int = MAX_WORKERS) -> tuple[list[VomsVerdict], list[VomsTarget]]:
    """Every server probed at the same time: ``(verdicts in order, servers not probed)``."""
    chosen, skipped = list(found[:MAX_SERVERS]), list(found[MAX_SERVERS:])
    if not chosen:
        return [], skipped
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(chosen))),
                            thread_name_prefix="mu3e-voms-survey") as pool:
        return list(pool.map(lambda t: probe_server(t, probe), chosen)), skipped


# ----------------------------------------------------------------------------- identity


def same_dn(a: str, b: str) -> bool:
    """Slash-form DNs equal as OpenSSL compares them, the e-mail attribute's spelling aside."""
    return bool(a) and bool(b) and dn_key(a) == dn_key(b)


@dataclass(frozen=True)
class DnFinding:
    """What a local file says the server's DN is, against what the server presented."""

    target: VomsTarget
    source: str  # "vomses" | "lsc"
    expected: str  # "" when the .lsc file is missing or unreadable
    actual: str
    problem: str = ""  # the .lsc file's own problem
    issuer: str = ""  # the DN of the CA that issued the server's certificate

    @property
    def missing(self) -> bool:
        return not self.expected


@dataclass
class DnReport:
    """The answering servers' DNs compared with vomses and the .lsc files."""

    mismatches: list[DnFinding] = field(default_factory=list)
    no_lsc: list[DnFinding] = field(default_factory=list)
    matching: list[VomsTarget] = field(default_factory=list)
    unknown: list[VomsTarget] = field(default_factory=list)  # answered without a certificate


def dn_findings(verdicts: Sequence[VomsVerdict]) -> DnReport:
    """Compare each answering server's certificate with its vomses line and its .lsc file.

    voms-proxy-init contacts the server named by the vomses line and accepts the attributes
    only when the server's DN matches the .lsc file, so either difference breaks ``-M``.
    """
    report = DnReport()
    for v in verdicts:
        if not v.answers:
            continue
        t = v.target
        if v.server is None:
            report.unknown.append(t)
            continue
        actual = v.server.subject
        bad = False
        if t.vomses_dn and not same_dn(t.vomses_dn, actual):
            report.mismatches.append(DnFinding(t, "vomses", t.vomses_dn, actual,
                                              issuer=v.server.issuer))
            bad = True
        if t.lsc is not None and not t.lsc_dn:
            report.no_lsc.append(DnFinding(t, "lsc", "", actual, t.lsc_problem,
                                          v.server.issuer))
        elif t.lsc_dn and not same_dn(t.lsc_dn, actual):
            report.mismatches.append(DnFinding(t, "lsc", t.lsc_dn, actual,
                                              issuer=v.server.issuer))
            bad = True
        if not bad:
            report.matching.append(t)
    return report
