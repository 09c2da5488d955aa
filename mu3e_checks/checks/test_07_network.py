"""Guide: "Configure DIRAC for Mu3e" talks to the Configuration Server — can this machine reach it?

DIRAC says only "Can't connect", after three retries.  These checks walk the layers in order
(DNS, TCP, TLS, the DISET ping, the server's clock) and stop at the first that breaks, naming it
and its fix.  Every check is a network check: ``-m "not network"`` or ``--mu3e-offline`` skips
this chapter.  Each layer finishes within ``--mu3e-timeout``.  What a failure means, and its
fix, lives in the advice of the layer that names it (``advice/net``); the bodies here only ask.
PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from dataclasses import replace
from typing import NoReturn

from mu3e_checks import commands, facts, profile
from mu3e_checks.advice import net as adv  # the layers' advice loads on first use, too
from mu3e_checks.checks.owners import proxy_owner
from mu3e_checks.knowledge import net, pki, voms_env  # net's layers load on first use
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check

STEP = "cs"
INIT_FIX = commands.proxy_init
#: The guide's dirac-configure, with what it rewrites from the live CS.
SERVERS_FROM_CS = commands.configure.bind(note="rewrites the Servers list from the live CS")
VOMSES_FROM_CS = commands.configure.bind(note="writes vomses from the CS")
VOMS_FILES_FROM_CS = commands.configure.bind(note="rewrites vomses and vomsdir from the CS")
WRITE_LSC = commands.write_lsc.bind(note="once the Mu3e computing contacts confirm the DN")


#: The layer check that fails when no listed server gets past a layer.
LAYER_CHECK = {"url": "NET-001", "dns": "NET-001", "tcp": "NET-002", "tls": "NET-003",
               "ping": "NET-004"}


def _fail_layer(cs_serving, message: str, fix, net_reach) -> NoReturn:
    """Fail a layer check for the server that got furthest; with several listed, no server
    passed every layer (else it would be judged), so the message says how far each got (in
    the words of the survey's advice, which knows the trust dir the servers were verified
    against)."""
    if len(cs_serving.verdicts) > 1:
        message = f"{message}. {adv.servers.reached(cs_serving, net_reach.advice)}"
    fail(message, fix=fix)


def _which(cs_serving) -> str:
    """Which listed server the layer checks judge, when it is not simply the only one."""
    if len(cs_serving.verdicts) <= 1:
        return ""
    url = cs_serving.probe.url
    if cs_serving.works:
        return (f" [{url}: the first listed server that passes every layer; DIRAC falls over "
                "to it, NET-007 names the ones before it]")
    return f" [{url}: the listed server that gets furthest]"


def _target(cs_probe, advice: adv.Advice, cs_serving=None, net_reach=None):
    try:
        return cs_probe.target()
    except net.UrlError as exc:
        message, fix = adv.explain_url(exc, advice)
        if cs_serving is not None:
            _fail_layer(cs_serving, message, fix, net_reach)
        fail(message, fix=fix)


@check("NET-001", "The Configuration Server's host name resolves (DNS)", step=STEP,
       network=True,
       fix=commands.dig.bind(note="then see the message for what the answer means"))
def test_cs_name_resolves(cs_serving, cs_probe, settings, run, net_reach):
    """The Configuration Server's name must give an address.  Like getaddrinfo, ``/etc/hosts``
    answers first (reported, never asked over DNS); otherwise DNS is asked for A and AAAA.
    The failure tells apart a name that does not exist (NXDOMAIN: a typo or a VPN), a name
    without A/AAAA records, a resolver that does not answer in time, one that cannot be
    reached, and one that answers with an error (SERVFAIL, REFUSED...).

    dirac.cfg may list several servers and DIRAC falls over from one to the next, so the
    layer checks (NET-001 to NET-004) judge the first listed server that passes every layer;
    when none does, the one that got furthest, and the failing check says how far each got.
    """
    advice = net_reach.advice
    target = _target(cs_probe, advice, cs_serving, net_reach)
    host = target.host
    r = cs_probe.resolution()
    if r.problem:
        message, fix = adv.dns.explain(r, target, advice)
        _fail_layer(cs_serving, message, fix, net_reach)
    shown = ", ".join(r.addresses)
    run.record(cs_resolution=facts.Resolution(host, tuple(r.addresses), r.resolver))
    which = _which(cs_serving)
    if r.source == "hosts":
        note(f"{host} is answered by {r.resolver} ({shown}), as getaddrinfo would; it was not "
             f"looked up in DNS{which}")
    elif r.source == "literal":
        note(f"{host} is an IP address; nothing to resolve{which}")
    else:
        note(f"{host} → {shown} ({r.resolver}){which}")


@check("NET-002", "The Configuration Server's port accepts TCP connections", step=STEP,
       network=True, requires=("NET-001",), fix=commands.port_test)
def test_cs_port_open(cs_serving, cs_probe, settings, run, net_reach):
    """The port must accept TCP.  Refused (nothing listens, or the port is wrong) is told
    apart from timed out (a firewall drops it: outgoing TCP 9130-9200 must be open for
    DIRAC).  IPv6 broken while IPv4 works is a warning: clients that try IPv6 first stall.
    """
    advice = net_reach.advice
    target = _target(cs_probe, advice)
    attempts, verdict = cs_probe.tcp()
    if verdict.problem:
        message, fix = adv.tcp.explain(verdict, attempts, target, settings.timeout)
        _fail_layer(cs_serving, message, fix, net_reach)
    if verdict.ipv6_broken:
        message, fix = adv.tcp.explain_ipv6(attempts, target)
        warn(message, fix=fix)
    run.record(cs_tcp=verdict.message)
    note(f"open: {verdict.message}")


@check("NET-003", "TLS: the server's certificate is trusted and your proxy is accepted",
       step=STEP, network=True, requires=("NET-002", "CA-001", "CA-004"),
       fix=commands.tls_client_test)
def test_cs_tls(cs_serving, cs_probe, settings, run, net_reach):
    """The server is verified against the trust dir DIRAC will use, with the host name check
    and without CRLs, as DIRAC's client does; the client side presents only the proxy, never
    the long-term key.  In TLS 1.3 the server judges the proxy only after the handshake, so
    the check waits (within the timeout) for that verdict: DISET's first exchange, the
    server's session ticket, or an alert; a server that closes right after the handshake does
    not accept your certificate.  Fails with the cause: a CA missing from the trust dir
    (named, with the commands to install it), a host name mismatch, an expired certificate, a
    server that stalls or does not speak TLS, or a server that does not accept your
    certificate (naming its issuer, and what to ask the VO admins).  Without a usable proxy
    only the server is verified, and the check warns; in a site check (``--mu3e-profile
    site``) no proxy is ever presented, and verifying the server is the whole check.
    """
    advice = net_reach.advice
    target = _target(cs_probe, advice)
    credential = cs_probe.credential()
    layer = cs_probe.tls()
    failure = layer.failure
    if failure is not None and not (failure.kind is net.tls.TlsFailureKind.CLIENT_CERT_REJECTED
                                    and not credential.usable):
        message, fix = adv.tls.explain(failure, target, advice)
        _fail_layer(cs_serving, message, fix, net_reach)
    session = layer.session
    if session is not None and session.server is not None:
        s = session.server
        seen = (f"server {s.subject}, issued by {s.issuer}, valid until "
                f"{pki.fmt_time(s.not_after)}; {session.version}, {session.cipher}")
        run.record(cs_tls=facts.ServerCertificate(s.subject, s.issuer, s.not_after,
                                                  session.version, session.cipher))
        note(seen)
    if not credential.usable and not profile.uses_credentials(settings.profile):
        note("site check: the handshake presented no client certificate"
             + ("; the server then refused the connection, as every DIRAC service does "
                "without one, so its DISET calls are part of a person's check, not a site's"
                if failure is not None else ""))
    elif not credential.usable:
        also = (" The server requires a client certificate, so ping and whoami need a proxy."
                if failure is not None else "")
        warn(f"no usable proxy ({credential.reason}): the handshake was made without a client "
             f"certificate, only to verify the server.{also}", fix=advice.proxy_init())
    else:
        shown = f", accepted by the server ({layer.proof})" if layer.proof else ""
        note(f"client certificate: {credential.reason}{shown} — the long-term key is never "
             "used")


@check("NET-004", "The Configuration Server answers a DISET ping", step=STEP, network=True,
       requires=("NET-003",))
def test_cs_ping(cs_serving, cs_probe, settings, run, net_reach):
    """A DISET ping proves a DIRAC service answers behind TLS, and gives the server's DIRAC
    version.  Fails on a server that stalls, sends garbage or does not run the service the
    URL names; skips when there is no proxy to authenticate with.
    """
    advice = net_reach.advice
    target = _target(cs_probe, advice)
    credential = cs_probe.credential()
    call = cs_probe.ping()
    if call.failure is not None:
        if not credential.usable:
            skip_for(proxy_owner(credential), "the server requires a client certificate and "
                     f"{credential.reason}; run {advice.proxy_init().render()}")
        message, fix = adv.tls.explain(call.failure, target, advice)
        _fail_layer(cs_serving, message, fix, net_reach)
    try:
        if call.error is not None:
            raise call.error
        info = cs_probe.ping_info()
    except net.diset.DisetError as exc:
        message, fix = adv.diset.explain(exc, target, "ping", advice)
        _fail_layer(cs_serving, message, fix, net_reach)
    run.record(cs_ping=facts.Ping(info.name or target.service, info.version, info.round_trip))
    note(f"{info.name or target.service} runs DIRAC {info.version}; round trip "
         f"{info.round_trip:.2f} s" + _which(cs_serving))


@check("NET-005", "This machine's clock agrees with the Configuration Server's", step=STEP,
       network=True, requires=("NET-004",),
       fix=commands.clock_sync.bind(note="or ask your admin to enable NTP"),
       also=(commands.tell_contacts,))
def test_cs_clock(cs_probe, run):
    """Compares this machine's clock with the time in the server's ping answer.  A proxy made
    on a clock that is minutes off looks "not yet valid" or expired to the server: more than
    60 s warns, more than 5 minutes fails.
    """
    try:
        info = cs_probe.ping_info()
    except net.diset.DisetError as exc:
        skip_for("NET-004", f"the ping answer cannot be read ({exc.detail})")
    if info.skew is None:
        warn("the clocks cannot be compared: the server's ping answer has no time in it "
             "(a DIRAC server always sends one)", fix=commands.tell_contacts)
        return
    level = net.diset.skew_level(info.skew)
    run.record(cs_clock_skew=info.skew)
    side = "behind" if info.skew > 0 else "ahead of"
    text = (f"this machine's clock is {abs(info.skew):.0f} s {side} the Configuration "
            f"Server's (server time {info.server_time:%Y-%m-%d %H:%M:%S} UTC)")
    if level is net.Level.FAIL:
        fail(f"{text}: fresh proxies look 'not yet valid' or expired to the server")
    if level is net.Level.WARN:
        warn(f"{text}; above 5 minutes proxies start to fail")
    note(f"clocks agree within {abs(info.skew):.1f} s")


@check("NET-007", "Every Configuration Server listed in dirac.cfg answers", step=STEP,
       network=True, fix=SERVERS_FROM_CS)
def test_every_cs_answers(cs_survey, settings, run, net_reach):
    """``dirac-configure -I`` writes several servers and DIRAC tries them in random order,
    falling over to the next, so one dead server gives intermittent slowness, not a clear
    failure.  Each listed server gets its own DNS, TCP, TLS and ping verdict, probed at the
    same time; the report shows the table.  Warns naming the dead ones when some do not
    answer.  When none answers, the layer check none got past (NET-001 to NET-004) fails
    saying how far each got; this check fails on its own only when that one is not run.
    """
    verdicts = cs_survey.verdicts()
    advice = net_reach.advice
    said = {v.url: adv.servers.explained(v, advice) for v in verdicts}
    run.record(cs_servers=tuple(facts.ServerLine(v.url, adv.servers.line(v, said[v.url][0]))
                                for v in verdicts) + tuple(
        facts.ServerLine(url, "not probed (too many servers listed)")
        for url in cs_survey.skipped))
    level, dead = net.servers.summary(verdicts)
    if level is net.Level.FAIL:
        # One cause, one failure: the layer check no server got past already says how far
        # each one got.
        owner = LAYER_CHECK.get(cs_survey.serving().verdict.layer.value, "")
        reported = run.results.get(owner)
        if reported is not None and not reported.ok:
            skip_for(owner, f"none of the {len(verdicts)} listed Configuration Server(s) "
                     f"answers; {owner} says how far each got")
        first = dead[0] if dead else None
        first_said = said[first.url] if first is not None else ("", None)
        also = f"; the first, {first.url}: {first_said[0]}" if first else ""
        fail(f"none of the {len(verdicts)} listed Configuration Server(s) answers{also}",
             fix=first_said[1] or advice.configure())
    if level is net.Level.WARN:
        named = "; ".join(adv.servers.dead(v, v.url, said[v.url][0]) for v in dead)
        warn(f"{len(dead)} of {len(verdicts)} listed Configuration Servers do not answer, so "
             f"DIRAC, which picks them in random order, is slow or fails now and then: {named}",
             setup=advice.setup, cs=advice.cs_url)
        return
    alive = ", ".join(v.url for v in verdicts)
    note(f"all {len(verdicts)} listed server(s) answer: {alive}")


@check("NET-008", "Your DIRAC client's version suits the Configuration Server's", step=STEP,
       network=True, requires=("NET-004",), fix=commands.pip_install_dirac.bind(force=True),
       also=(commands.guide_dirac_contacts,))
def test_client_server_versions(cs_probe, dirac_install, run):
    """A client and server too far apart fail in strange ways far from the cause
    (``Option /DIRAC/Setups/GridPP/Framework is not defined``, ``illegal zero content`` at
    upload).  Compares the DIRAC version you run with the one the server's ping reports: the
    same major.minor passes, another DIRAC 8 release warns, a different major fails.
    """
    dist = dirac_install.in_use
    if dist is None:
        skip_for("DIRAC-001", "no DIRAC client is installed to compare")
    try:
        info = cs_probe.ping_info()
    except net.diset.DisetError as exc:
        skip_for("NET-004", f"the ping answer cannot be read ({exc.detail})")
    verdict = net.compat.judge(dist.version, info.version)
    run.record(cs_versions=facts.Versions(dist.version, info.version, verdict.level.value))
    if verdict.level is net.compat.Level.OK:
        note(f"client DIRAC {dist.version} and server DIRAC {info.version}: {verdict.why}")
        return
    text = (f"your DIRAC client is {dist.version} and the Configuration Server runs "
            f"{info.version}: {verdict.why}")
    guide = dist.version == commands.GUIDE_DIRAC_VERSION
    fix, values = ((commands.guide_dirac_contacts, {"version": dist.version}) if guide
                   else (None, {}))
    if verdict.level is net.compat.Level.FAIL:
        fail(text, fix=fix, **values)
    warn(text, fix=fix, **values)


def _record_registry(run, found, dn: str, **parts) -> tuple[str, ...]:
    """Keep how the Registry knows the user (their nick(s), its spelling of the DN) as a fact,
    with what the check read beside (``parts``): redacted, whichever of these checks ran."""
    nicks = tuple(found.nicks_for(dn))
    old = run.facts.registry or facts.Registry()
    dns = tuple(d for n in nicks for d in found.users.get(n, ()))
    run.record(registry=replace(old, nicks=nicks or old.nicks, dns=dns or old.dns, **parts))
    return nicks


def _registry(cs_data, cs_probe, settings, *, judge: bool = False):
    """The CS's Registry, or end the check with what the server's refusal tells.

    Data over the size cap is not read: DIRAC itself would load it (slowly), so that is
    NET-009's warning (``judge``: it returns None), and the checks that need the data skip
    naming it."""
    advice = adv.Advice.from_settings(settings)
    credential = cs_probe.credential()
    if not credential.usable:
        skip_for(proxy_owner(credential), f"needs a valid proxy: {credential.reason}")
    if cs_data.kind is net.registry.CsDataProblem.TOO_BIG:
        text = f"the Configuration Server's data was not read: {cs_data.problem}"
        if not judge:
            skip_for("NET-009", text)
        warn(f"{text}. DIRAC itself loads it, slowly; the Registry checks (NET-010 to NET-013) "
             "are not made", fix=adv.registry.unreadable())
        return None
    if cs_data.problem:
        fail(f"the Configuration Server's data cannot be read: {cs_data.problem}",
             fix=adv.registry.unreadable())
    if cs_data.error is not None:
        exc = cs_data.error
        if net.registry.is_unauthorized(exc):
            problem = net.registry.refusal(credential.group, settings.group)
            message, fix = adv.registry.explain(problem, credential.identity, advice,
                                                proxy_group=credential.group or "",
                                                detail=exc.detail)
            fail(message, fix=fix)
        message, fix = adv.diset.explain(exc, cs_probe.target(), "getCompressedData", advice)
        fail(message, fix=fix)
    return cs_data.registry, credential, advice


@check("NET-009", "The Configuration Server's Registry knows your DN (your nick)", step=STEP,
       network=True, requires=("NET-004",), fix=INIT_FIX, also=(commands.tell_vo_admin,))
def test_dn_registered(cs_data, cs_probe, settings, run):
    """Reads the server's configuration as DIRAC's client does (getCompressedData, with your
    proxy, never the long-term key) and looks your DN up in /Registry/Users.  A refusal
    (``Unauthorized query``) is told apart as far as the server's answers allow: an
    unregistered DN (send it to the VO admin) or a proxy for a group you are not in (make it
    again with ``-g``).  Passes naming your nick.  The data is capped like a local dirac.cfg
    (2 MiB) and its parse bounded; larger data is not read, and the check warns.
    """
    read = _registry(cs_data, cs_probe, settings, judge=True)
    if read is None:
        return
    found, credential, advice = read
    dn = credential.identity
    nicks = _record_registry(run, found, dn)
    if not nicks:
        message, fix = adv.registry.explain(net.registry.RegistryProblem.DN_UNKNOWN, dn, advice)
        fail(message, fix=fix)
    if len(nicks) > 1:
        warn(f"your DN is registered under several nicks ({', '.join(nicks)}); DIRAC uses "
             f"the first, {nicks[0]!r}", fix=commands.tell_vo_admin)
    note(f"your nick is {nicks[0]!r} (DN {dn})")


@check("NET-010", "The Mu3e group exists in the Registry and lists your nick", step=STEP,
       network=True, requires=("NET-009",), fix=INIT_FIX)
def test_group_lists_you(cs_data, cs_probe, settings, run):
    """The group your proxy must carry (``--mu3e-group``) must exist in the
    server's /Registry/Groups and list your nick, or every DIRAC command treats you as a
    visitor.  Fails naming what is missing, with the message to send to the VO admin.
    """
    found, credential, advice = _registry(cs_data, cs_probe, settings)
    dn = credential.identity
    nicks = _record_registry(run, found, dn)
    if not nicks:
        skip_for("NET-009", "your DN is not in the Registry")
    nick, group = nicks[0], found.groups.get(settings.group)
    if group is None:
        message, fix = adv.registry.explain(net.registry.RegistryProblem.NO_GROUP, dn, advice)
        fail(message, fix=fix)
    if nick not in group.users:
        message, fix = adv.registry.explain(net.registry.RegistryProblem.NOT_IN_GROUP, dn,
                                            advice, nick=nick)
        theirs = ", ".join(found.groups_of(nick)) or "none"
        fail(f"{message}; your groups there: {theirs}", fix=fix)
    role = found.voms_role(group.name) or "none"
    _record_registry(run, found, dn, group=facts.RegistryGroup(group.name, len(group.users),
                                                               found.voms_role(group.name) or ""))
    note(f"group {group.name!r} lists {nick!r} (VOMSRole {role})")


@check("NET-011", "The Registry gives the Mu3e group a VOMS role, and your vomses lists the "
       "VO's VOMS servers", step=STEP, network=True, severity="warn", requires=("NET-010",),
       fix=VOMSES_FROM_CS, also=(commands.no_voms_role, commands.no_voms_servers))
def test_group_voms(cs_data, cs_probe, settings, dirac_config, run):
    """``dirac-proxy-init -M`` asks the VOMS servers for the group's VOMSRole: a group without
    one gets a proxy without VOMS attributes, and a vomses without the server the CS lists, or
    with another server DN, makes the request fail.  Compares the server's Registry (group
    VOMSRole/VOMSVO, the VO's VOMSServers) with your local vomses; warns on each difference.
    """
    found, credential, advice = _registry(cs_data, cs_probe, settings)
    path, missing = voms_env.in_use(settings.environ, "X509_VOMSES", dirac_config.root,
                                    "vomses")
    entries = voms_env.read_vomses(path)[0] if path is not None else []
    view = net.registry.voms_view(found, settings.group, settings.vo, entries)
    hosts = ", ".join(f"{s.host}:{s.port}" for s in view.servers) or "none"
    _record_registry(run, found, credential.identity, voms=facts.RegistryVoms(
        view.group, view.role or "", view.voms_vo, view.vo,
        tuple(f"{s.host}:{s.port}" for s in view.servers)))
    if not view.role:
        warn(f"the server's group {view.group!r} has no VOMSRole (nor a "
             "/Registry/DefaultVOMSAttribute): 'dirac-proxy-init -M' adds no VOMS attributes "
             "for it, and services that need them treat you as outside the VO",
             fix=commands.no_voms_role, group=view.group)
    if not view.servers:
        warn(f"the server lists no VOMS servers for VO {view.vo!r} (/Registry/VO/{view.vo}/"
             "VOMSServers): dirac-configure cannot write your vomses from it",
             fix=commands.no_voms_servers)
    if missing:
        note(f"no local vomses to compare with ({missing}); ENV-002 reports it")
        return
    if view.missing:
        named = ", ".join(f"{s.host}:{s.port}" for s in view.missing)
        warn(f"your vomses ({path}) has no line for the VOMS server(s) the Configuration "
             f"Server lists for {view.vo}: {named}", setup=advice.setup, cs=advice.cs_url)
    for server, local in view.dn_mismatch:
        warn(f"the Configuration Server gives {server.host} the DN {server.dn}, your vomses "
             f"({path}) gives {local}: voms-proxy-init refuses a server whose DN does not "
             "match", setup=advice.setup, cs=advice.cs_url)
    if view.role and view.servers and not view.missing and not view.dn_mismatch:
        note(f"group {view.group!r}: VOMSRole {view.role}, VOMS servers {hosts} all in {path}")


@check("NET-012", "The Configuration Server names the ProxyManager and BundleDelivery for "
       "your setup", step=STEP, network=True, severity="warn", requires=("NET-009",),
       fix=commands.tell_contacts)
def test_setup_services(cs_data, cs_probe, settings, run):
    """The next steps need services the CS data names: the ProxyManager (proxy upload, via
    ``/DIRAC/Setups/<setup>/Framework`` and ``/Systems/Framework/<instance>/URLs``) and
    BundleDelivery (CA/CRL sync).  When the lookup breaks DIRAC says "Option
    /DIRAC/Setups/GridPP/Framework is not defined"; this warns with the same words and names the
    URLs found (dips or https).  The data is the server's: no command on your side changes
    it (``dirac-configure`` only copies it), so the advice is for the Mu3e computing contacts,
    with the setups the server does define, in case ``--mu3e-setup`` is the wrong one.
    """
    _registry(cs_data, cs_probe, settings)
    found, named = [], []
    for service in ("Framework/ProxyManager", "Framework/BundleDelivery"):
        lookup = net.registry.service_urls(cs_data.cfg, settings.setup, service)
        if lookup.problem:
            warn(adv.registry.service_missing(lookup, settings.setup))
            continue
        named.append((service, tuple(lookup.urls)))
        found.append(f"{service}: {', '.join(lookup.urls)}")
    run.record(cs_services=tuple(named))
    if found:
        note("; ".join(found))


# The guide's last step ("Create and upload a proxy") is where the upload happens, so the
# check is reported in that chapter; it lives here, beside the CS data it reads.
@check("NET-013", "Your proxy is uploaded to the ProxyManager with enough time left",
       step="mu3e-proxy", network=True, requires=("NET-012",), fix=INIT_FIX,
       also=(commands.proxy_info_uploads,))
def test_proxy_uploaded(cs_data, cs_probe, settings, run):
    """The guide's last step uploads a long-lived proxy to the ProxyManager, so the grid can
    act for you while your jobs run; without ``-t`` a failed upload still exits 0, and the jobs
    are later rescheduled with "Can not download proxy".  Asks the ProxyManager the CS names
    (getUserProxiesInfo, as ``dirac-proxy-info -m``, with your proxy): fails when it holds none
    for your DN (the fix uploads again with ``-t``), warns when it has less than
    ``--mu3e-upload-warn-hours`` left, and passes showing the hours left.
    """
    proxymgr = net.proxymgr
    _, credential, advice = _registry(cs_data, cs_probe, settings)
    lookup = net.registry.service_urls(cs_data.cfg, settings.setup, proxymgr.SERVICE)
    if lookup.problem:
        skip_for("NET-012", f"the Configuration Server names no ProxyManager for setup "
                 f"{settings.setup} ({lookup.problem})")
    url = lookup.urls[0]
    if proxymgr.scheme(url) != "dips":
        warn(f"the upload cannot be checked here: the ProxyManager URL {url} is not dips:// "
             "(an https/Tornado service), which this version does not ask",
             fix=commands.proxy_info_uploads)
        return
    asked = adv.proxymgr.ask(proxymgr.probe_like(cs_probe, url), advice, credential.group,
                             credential.identity)
    if asked.problem:
        fail(asked.problem, fix=asked.fix)
    assert asked.at is not None
    upload = proxymgr.judge_upload(asked.stored, credential.identity, settings.group, asked.at,
                                   settings.upload_warn_hours)
    if upload.ok:
        best = upload.stored
        assert best is not None and upload.hours_left is not None
        run.record(upload=facts.Upload(url, best.expires, upload.hours_left))
        note(f"{url} holds your proxy until {best.expires:%Y-%m-%d %H:%M} UTC "
             f"({upload.hours_left:.0f} h left)")
        return
    message, fix = adv.proxymgr.explain(upload, credential.identity, url, advice,
                                        settings.upload_warn_hours)
    if upload.level is proxymgr.UploadLevel.WARN:
        warn(message, fix=fix)
        return
    fail(message, fix=fix)


def _voms_verdicts(voms_survey, settings):
    """The VOMS servers' verdicts, or skip naming the check that reports why there are none."""
    if voms_survey.problem:
        skip_for("ENV-002", f"no {settings.vo} VOMS server to probe: {voms_survey.problem}")
    return voms_survey.verdicts


@check("NET-014", "The mu3e.org VOMS servers answer (DNS, TCP, TLS)", step=STEP,
       network=True, requires=("CA-001",),
       fix=commands.tls_client_test)
def test_voms_servers_answer(voms_survey, settings, net_reach):
    """``dirac-proxy-init -M`` asks the VO's VOMS servers (the mu3e.org lines of your vomses)
    for your attributes.  When none answers it says "Are you sure you are properly registered
    in the VO?", which is a network problem, not a membership one.  Each server (and each one
    the Configuration Server lists, once NET-009 has read its data) gets its own DNS, TCP and
    TLS verdict against the trust dir, all probed at once.  Fails when none answers, warns
    naming the dead ones when some do not.
    """
    verdicts = _voms_verdicts(voms_survey, settings)
    if voms_survey.skipped:
        note(f"{len(voms_survey.skipped)} more {settings.vo} lines in {voms_survey.vomses} were "
             "not probed (more servers than any VO has)")
    level, dead = net.servers.summary(verdicts)
    advice = net_reach.advice
    if level is net.Level.FAIL:
        message, fix = adv.voms.explain_none(verdicts, settings.vo, advice)
        fail(message, fix=fix)
    if level is net.Level.WARN:
        message, fix = adv.voms.explain_some(dead, len(verdicts), settings.vo, advice)
        warn(message, fix=fix)
        return
    alive = ", ".join(v.target.name for v in verdicts)
    note(f"all {len(verdicts)} {settings.vo} VOMS server(s) answer: {alive}")


@check("NET-015", "The mu3e.org VOMS servers present the DN your vomses and .lsc files expect",
       step=STEP, network=True, requires=("NET-014",),
       fix=VOMS_FILES_FROM_CS, also=(WRITE_LSC,))
def test_voms_server_dns(voms_survey, settings):
    """voms-proxy-init contacts the server its vomses line names, and accepts the attributes
    only when the server's DN matches ``vomsdir/mu3e.org/<host>.lsc`` (first line).  A server
    that changed its certificate, or stale local files, break ``-M`` although the server
    answers.  Compares each answering server's certificate with both files: fails when no
    server matches, warns naming the others.
    """
    verdicts = _voms_verdicts(voms_survey, settings)
    advice = adv.Advice.from_settings(settings)
    report = net.voms.dn_findings(verdicts)
    answering = [v for v in verdicts if v.answers]
    for finding in report.no_lsc:
        t = finding.target
        warn(f"no usable {t.lsc} for {t.name} ({finding.problem}): voms-proxy-init cannot "
             f"check the {settings.vo} attributes this server returns",
             fix=WRITE_LSC, path=t.lsc, server_dn=finding.actual, ca_dn=finding.issuer)
    if not report.mismatches:
        shown = ", ".join(t.name for t in report.matching) or "none with a certificate"
        note(f"{len(answering)} answering server(s) present the DN your files expect: {shown}")
        return
    texts = [adv.voms.explain_mismatch(f, settings.vo, advice) for f in report.mismatches]
    if not report.matching:
        message = texts[0][0]
        also = "; ".join(m for m, _ in texts[1:])
        fail(message + (f"; also: {also}" if also else ""),
             fix=adv.voms.mismatch_fix([f for _, f in texts]))
    for message, fix in texts:
        warn(message, fix=fix)
