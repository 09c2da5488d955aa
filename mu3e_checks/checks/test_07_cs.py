"""Guide: "Configure DIRAC for Mu3e" talks to the Configuration Server — can this machine reach it?

DIRAC says only "Can't connect", after three retries.  These checks walk the layers in order
(DNS, TCP, TLS, the DISET ping, the server's clock) and stop at the first that breaks, naming it
and its fix.  Every check is a network check: ``-m "not network"`` or ``--mu3e-offline`` skips
this chapter.  Each layer finishes within ``--mu3e-timeout``.
PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks.knowledge import pki
from mu3e_checks.knowledge.credentials import q
from mu3e_checks.knowledge.net import UrlError, describe_address
from mu3e_checks.knowledge.net.diset import DisetError, skew_level
from mu3e_checks.knowledge.net.tcp import FIREWALL_HINT
from mu3e_checks.knowledge.trust import bundle_fix
from mu3e_checks.outcome import fail, note, skip, warn
from mu3e_checks.registry import check
from mu3e_checks.settings import DEFAULT_CS_URL

STEP = "cs"
CONFIGURE = f"dirac-configure -F -S GridPP -C {DEFAULT_CS_URL} -I"
PROXY_INIT = "dirac-proxy-init -g {group} -M"
PORT_TEST = ("timeout 10 bash -c 'cat </dev/null >/dev/tcp/{host}/{port}' && echo open"
             "   # test the port again")

def _target(cs_probe):
    try:
        return cs_probe.target()
    except UrlError as exc:
        fail(f"the Configuration Server URL is unusable: {exc}", fix=CONFIGURE)


@check("NET-001", "The Configuration Server's host name resolves (DNS)", step=STEP,
       network=True, fix="dig {host}   # then see the message for what the answer means")
def test_cs_name_resolves(cs_probe, run):
    target = _target(cs_probe)
    host = target.host
    r = cs_probe.resolution()
    if r.problem == "nxdomain":
        retype = "" if target.url == DEFAULT_CS_URL else f"\n{CONFIGURE}   # the guide's URL"
        fail(f"{host} does not exist in DNS ({r.resolver} answered NXDOMAIN): a typo in the "
             "URL, or a name only your institute's network (VPN) can see",
             fix=f"# check the host name in {target.url}{retype}\n# if the name is right, "
                 "connect to your institute's VPN or ask your network admin why it does not "
                 f"resolve:\ndig {host}")
    if r.problem == "empty":
        fail(f"{host} exists in DNS but has no address (no A or AAAA record, via {r.resolver}); "
             "the record was removed or your DNS filters it",
             fix=f"dig {host} A\ndig {host} AAAA   # compare from another network; if both are "
                 "empty everywhere, tell the Mu3e computing contacts")
    if r.problem in ("timeout", "servfail"):
        what = "did not answer in time" if r.problem == "timeout" else "answered with an error"
        fail(f"the DNS server {what} for {host} ({r.detail}; {r.resolver}): no network, a VPN "
             "that must be connected, or broken DNS settings",
             fix="cat /etc/resolv.conf   # check the 'nameserver' lines\n"
                 f"dig {host}   # works once the network/VPN is up")
    if r.problem == "no-resolver":
        fail(f"{host} cannot be looked up: {r.detail}",
             fix="cat /etc/resolv.conf   # it needs at least one 'nameserver' line; ask your "
                 "admin")
    if r.problem == "bad-nameserver":
        fail(r.detail, fix="--mu3e-nameserver 192.0.2.53:53   # an IP address, optional port")
    if r.problem:
        fail(f"{host}: {r.detail}", fix=CONFIGURE)
    shown = ", ".join(r.addresses)
    run.record_environment("CS addresses", f"{host} → {shown} ({r.resolver})")
    if r.source == "hosts":
        note(f"{host} is answered by {r.resolver} ({shown}), as getaddrinfo would; it was not "
             "looked up in DNS")
    elif r.source == "literal":
        note(f"{host} is an IP address; nothing to resolve")
    else:
        note(f"{host} → {shown} ({r.resolver})")


@check("NET-002", "The Configuration Server's port accepts TCP connections", step=STEP,
       network=True, requires=("NET-001",), fix=PORT_TEST)
def test_cs_port_open(cs_probe, settings, run):
    target = _target(cs_probe)
    attempts, verdict = cs_probe.tcp()
    where = ", ".join(a.where for a in attempts)
    values = {"host": target.host, "port": target.port}
    if verdict.problem == "refused":
        fail(f"{where}: connection refused — nothing listens on port {target.port} there, or a "
             "firewall rejects the connection",
             fix=PORT_TEST.format(**values) + f"\n# still refused: check the port in "
                 f"{target.url} (the Configuration Server uses 9135); if it is right, the "
                 "service is down: tell the Mu3e computing contacts")
    if verdict.problem == "timeout":
        fail(f"{where}: no answer within {settings.timeout:g} s — a firewall drops the "
             f"connection; {FIREWALL_HINT}",
             fix=f"# ask your network admin to open outgoing TCP 9130-9200 to {target.host}, or "
                 "try from another network\n" + PORT_TEST.format(**values))
    if verdict.problem:
        fail(f"no address of {target.host} accepts a connection on port {target.port}: "
             f"{verdict.message}",
             fix="ip route   # this machine needs a network route (connect the network or "
                 "VPN)\n" + PORT_TEST.format(**values))
    if verdict.ipv6_broken:
        bad = "; ".join(f"{a.where} {a.detail}" for a in attempts
                        if a.family == "IPv6" and a.outcome != "open")
        warn(f"IPv6 to {target.host} does not work ({bad}) while IPv4 does: clients that try "
             "IPv6 first stall before they fall back",
             fix="# ask your network admin to fix IPv6 routing to "
                 f"{target.host}, or prefer IPv4: add 'precedence ::ffff:0:0/96 100' to "
                 "/etc/gai.conf")
    run.record_environment("CS TCP", verdict.message)
    note(f"open: {verdict.message}")


def _tls_failure(failure, target, trust_choice, settings):
    capath = q(trust_choice.path)
    server = failure.server
    kind = failure.kind
    if kind == "unknown-ca":
        issuer = server.issuer if server else "unknown"
        uk = "eScience" in issuer
        fail(f"the server's certificate ({server.subject if server else '?'}) is issued by "
             f"'{issuer}', which is not in your trust dir {trust_choice.path}",
             fix=bundle_fix(trust_choice.path, settings.required_cas if uk else [issuer], {}))
    if kind == "hostname-mismatch":
        names = ", ".join(server.names) if server and server.names else "other names"
        better = server.names[0] if server and server.names else None
        fix = (f"dirac-configure -F -S GridPP -C dips://{better}:{target.port}/{target.service} "
               "-I   # if that is the right server" if better else CONFIGURE)
        fail(f"the server's certificate is for {names}, not for {target.host}: the URL uses "
             "another name than the server's, or something intercepts the connection", fix=fix)
    if kind == "expired":
        if server and server.not_after < pki.utcnow():
            fail(f"the server's certificate ({server.subject}) expired on "
                 f"{pki.fmt_time(server.not_after)}; its admins must renew it",
                 fix="# nothing to change on your side: tell the Mu3e computing contacts that "
                     f"the certificate of {target.host} has expired")
        fail("a CA certificate in the server's chain has expired in your trust dir "
             f"{trust_choice.path}", fix=bundle_fix(trust_choice.path, settings.required_cas, {}))
    if kind == "not-yet-valid":
        fail(f"the server's certificate is not valid yet ({failure.detail}): this machine's "
             "clock is probably wrong", fix="date -u   # compare with the real UTC time; "
                                               "sudo timedatectl set-ntp true")
    if kind == "client-cert-rejected":
        fail(f"the server verified fine but rejected your proxy: {failure.detail}",
             fix=PROXY_INIT.format(group=settings.group) + "   # a fresh proxy; if the server "
                 "still rejects it, send your DN and this message to the Mu3e VO admin")
    if kind == "timeout":
        fail(f"{failure.detail}: the server accepts TCP but does not talk TLS in time — an "
             "interfering firewall or proxy, or the service hangs",
             fix=f"openssl s_client -connect {target.host}:{target.port} -CApath {capath} "
                 "</dev/null   # see where it stops")
    if kind == "not-tls":
        fail(f"{failure.detail}: something other than a DIRAC service listens on "
             f"{target.host}:{target.port}, or the URL's port is wrong", fix=CONFIGURE)
    if kind == "bad-proxy":
        fail(failure.detail, fix=PROXY_INIT.format(group=settings.group))
    if kind == "no-trust-dir":
        fail(failure.detail, fix=bundle_fix(trust_choice.path, settings.required_cas, {}))
    fail(f"TLS with {target.host}:{target.port} failed: {failure.detail}",
         fix=f"openssl s_client -connect {target.host}:{target.port} -CApath {capath} "
             "</dev/null")


@check("NET-003", "TLS: the server's certificate is trusted and your proxy is accepted",
       step=STEP, network=True, requires=("NET-002", "CA-001", "CA-004"),
       fix="openssl s_client -connect {host}:{port} -CApath {capath} </dev/null")
def test_cs_tls(cs_probe, trust_choice, settings, run):
    target = _target(cs_probe)
    credential = cs_probe.credential()
    layer = cs_probe.tls()
    failure = layer.failure
    if failure is not None and not (failure.kind == "client-cert-rejected"
                                    and not credential.usable):
        _tls_failure(failure, target, trust_choice, settings)
    session = layer.session
    if session is not None and session.server is not None:
        s = session.server
        facts = (f"server {s.subject}, issued by {s.issuer}, valid until "
                 f"{pki.fmt_time(s.not_after)}; {session.version}, {session.cipher}")
        run.record_environment("CS certificate and TLS", facts)
        note(facts)
    if not credential.usable:
        also = (" The server requires a client certificate, so ping and whoami need a proxy."
                if failure is not None else "")
        warn(f"no usable proxy ({credential.reason}): the handshake was made without a client "
             f"certificate, only to verify the server.{also}",
             fix=PROXY_INIT.format(group=settings.group))
    else:
        note(f"client certificate: {credential.reason} — the long-term key is never used")


def _diset_failure(exc: DisetError, target, what: str):
    where = describe_address(target.host, target.port)
    if exc.kind == "refused":
        fix = CONFIGURE if "not up" in exc.detail else (
            "# send this message to the Mu3e computing contacts")
        fail(f"the server at {where} refused the {what}: {exc.detail}", fix=fix)
    if exc.kind == "timeout":
        fail(f"the server at {where} completed TLS but gave no DISET answer: {exc.detail}; "
             "the service hangs or something that is not DIRAC holds the port",
             fix="# tell the Mu3e computing contacts; DIRAC itself would say only "
                 "\"Can't connect\"")
    if exc.kind in ("garbage", "too-big"):
        fail(f"{where} does not answer like a DIRAC service: {exc.detail}", fix=CONFIGURE)
    fail(f"the {what} to {where} failed: {exc.detail}",
         fix="# a server that drops the connection after TLS may not accept your proxy: "
             "run dirac-proxy-init again, then this check")


@check("NET-004", "The Configuration Server answers a DISET ping", step=STEP, network=True,
       requires=("NET-003",))
def test_cs_ping(cs_probe, settings, run):
    target = _target(cs_probe)
    credential = cs_probe.credential()
    call = cs_probe.ping()
    if call.failure is not None:
        if not credential.usable:
            skip(f"needs a valid proxy: the server requires a client certificate and "
                 f"{credential.reason}; run {PROXY_INIT.format(group=settings.group)}")
        fail(f"the server rejected the connection: {call.failure.detail}",
             fix=PROXY_INIT.format(group=settings.group))
    if call.error is not None:
        _diset_failure(call.error, target, "ping")
    try:
        info = cs_probe.ping_info()
    except DisetError as exc:
        _diset_failure(exc, target, "ping")
    facts = (f"{info.name or target.service} runs DIRAC {info.version}; round trip "
             f"{info.round_trip:.2f} s")
    run.record_environment("CS DIRAC version", facts)
    note(facts)


@check("NET-005", "This machine's clock agrees with the Configuration Server's", step=STEP,
       network=True, requires=("NET-004",),
       fix="timedatectl status   # needs 'System clock synchronized: yes'\n"
           "sudo timedatectl set-ntp true   # or ask your admin to enable NTP")
def test_cs_clock(cs_probe, run):
    try:
        info = cs_probe.ping_info()
    except DisetError as exc:
        skip(f"the ping answer cannot be read ({exc.detail}); NET-004 reports it")
    if info.skew is None:
        skip("the server did not report its time in the ping answer")
    level = skew_level(info.skew)
    run.record_environment("Clock offset to the CS", f"{info.skew:+.1f} s (server minus ours)")
    side = "behind" if info.skew > 0 else "ahead of"
    text = (f"this machine's clock is {abs(info.skew):.0f} s {side} the Configuration "
            f"Server's (server time {info.server_time:%Y-%m-%d %H:%M:%S} UTC)")
    if level == "fail":
        fail(f"{text}: fresh proxies look 'not yet valid' or expired to the server")
    if level == "warn":
        warn(f"{text}; above 5 minutes proxies start to fail")
    note(f"clocks agree within {abs(info.skew):.1f} s")
