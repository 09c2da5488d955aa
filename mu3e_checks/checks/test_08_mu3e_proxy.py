"""Guide: "Initialize a Mu3e DIRAC Proxy" and "Verify" — group, VOMS, and the server's view.

``dirac-proxy-info`` shows the group only when the Configuration Server confirms it, so these
checks read the proxy itself: DIRAC's group extension (1.2.42.42) anywhere in the chain, and
the VOMS attribute certificate that ``-M`` should have added.  The last one, NET-006, asks the
server directly (DISET ``whoami``): its fixes are about the proxy and the VO registration, so it
belongs here, but it is a network check (``-m "not network"`` and ``--mu3e-offline`` skip it).
PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks import commands, facts
from mu3e_checks.advice import net as adv  # the layers' advice loads on first use, too
from mu3e_checks.checks.owners import proxy_owner
from mu3e_checks.knowledge import net, pki  # net's layers load on first use
from mu3e_checks.knowledge.proxy import find_group, proxy_maker
from mu3e_checks.knowledge.voms import find_voms
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check

STEP = "mu3e-proxy"
INIT = commands.proxy_init


@check("GROUP-001", "The proxy carries a DIRAC group", step=STEP,
       fix=INIT.bind(note="if it stops at 'Contacting CS', fix the Configuration Server checks "
                          "first"), requires=("PROXY-005",))
def test_group_present(proxy_fact, settings):
    """DIRAC's group extension (1.2.42.42) is looked for on every certificate of the proxy
    (with ``-M`` it sits on the second).  Missing fails and names the cause by the tool that
    made the proxy (told from its extensions): grid-proxy-init and voms-proxy-init never add a
    group; dirac-proxy-init leaves a group-less proxy when it cannot reach the Configuration
    Server.
    """
    proxy = proxy_fact.get()
    found = find_group(proxy.certs)
    if found.errors and found.group is None:
        fail("; ".join(found.errors), group=settings.group)
    if found.group is None:
        fail(f"the proxy in {proxy.path} carries no DIRAC group (extension 1.2.42.42 is in none "
             f"of its certificates). {_groupless_cause(proxy_maker(proxy.proxy))}",
             group=settings.group)
    for text in found.errors:
        warn(text, group=settings.group)
    note(f"DIRAC group {found.group} (certificate {found.groups[0][0] + 1} of "
         f"{len(proxy.certs)})")


@check("GROUP-002", "The DIRAC group is the Mu3e group (--mu3e-group)", step=STEP, fix=INIT,
       requires=("GROUP-001",))
def test_group_is_mu3e(proxy_fact, settings):
    """The group must be ``--mu3e-group``: a proxy made with another ``-g``
    fails, with the dirac-proxy-init command that asks for the right one.  Other groups further
    up the chain warn; DIRAC uses the one nearest the proxy.
    """
    proxy = proxy_fact.get()
    found = find_group(proxy.certs)
    if found.group is None:
        skip_for("GROUP-001", "the proxy carries no DIRAC group")
    if found.group != settings.group:
        fail(f"the proxy is for DIRAC group '{found.group}', not '{settings.group}': it was "
             f"made with the wrong -g", group=settings.group)
    others = sorted({g for _, g in found.groups} - {found.group})
    if others:
        warn(f"the proxy chain also carries the group(s) {', '.join(others)}; DIRAC uses "
             f"{found.group}, the one nearest the proxy", group=settings.group)


@check("VOMS-001", "The proxy carries a readable VOMS attribute certificate", step=STEP,
       fix=INIT.bind(note="watch for 'Could not add VOMS extensions to the proxy'"),
       requires=("PROXY-005",))
def test_voms_present(proxy_fact, settings):
    """The VOMS attribute certificate that the guide's ``-M`` adds, read with the project's own
    DER reader.  Absent warns (grid sites and storage need it), naming the tool that made the
    proxy: grid-proxy-init never adds one, voms-proxy-init only with ``-voms``, and
    dirac-proxy-init exits 0 even when its voms-proxy-init step fails; present but unusable
    fails.
    """
    proxy = proxy_fact.get()
    found = find_voms(proxy.certs)
    if found.error:
        fail(f"the proxy in {proxy.path} has a VOMS extension that cannot be used: "
             f"{found.error}", group=settings.group)
    if not found.acs:
        warn(f"the proxy in {proxy.path} has no VOMS attributes: "
             f"{_no_voms_cause(proxy_maker(proxy.proxy), settings.vo)}. Grid sites and storage "
             "need them", group=settings.group)
        return
    for ac in found.acs:
        note(ac.describe())


def _groupless_cause(maker) -> str:
    """Why a proxy has no group, told by the tool that made it (only dirac-proxy-init -g adds
    one; blaming the CS for a grid-proxy-init proxy sends the user the wrong way)."""
    if maker in ("grid-proxy-init", "voms-proxy-init"):
        return (f"It was made by {maker}, which never adds a DIRAC group: only "
                "'dirac-proxy-init -g' does")
    if maker == "dirac-proxy-init":
        return ("It was made by dirac-proxy-init, which leaves such a proxy behind when it "
                "cannot reach the Configuration Server: it writes a proxy without a group, "
                "fails, and leaves that proxy in place ('dirac-proxy-init --nocs' without -g "
                "also makes one)")
    return ("Only 'dirac-proxy-init -g' adds one; other tools never do, and dirac-proxy-init "
            "leaves a group-less proxy behind when it cannot reach the Configuration Server")


def _no_voms_cause(maker, vo: str) -> str:
    """Why a proxy has no VOMS attributes, told by the tool that made it."""
    if maker == "grid-proxy-init":
        return ("it was made by grid-proxy-init, which never adds VOMS attributes; the guide's "
                "'dirac-proxy-init -M' does")
    if maker == "voms-proxy-init":
        return (f"it was made by voms-proxy-init without '-voms {vo}' (or its VOMS request "
                "failed); the guide's 'dirac-proxy-init -M' adds them")
    if maker == "dirac-proxy-init":
        return ("it was made by dirac-proxy-init without a working '-M': the guide's '-M' "
                "should add them, but dirac-proxy-init exits 0 even when voms-proxy-init fails "
                "(unless -t)")
    return ("the guide's 'dirac-proxy-init -M' should add them, and it exits 0 even when "
            "voms-proxy-init fails (unless -t)")


def _acs(proxy_fact):
    proxy = proxy_fact.get()
    found = find_voms(proxy.certs)
    if not found.acs:
        skip_for("VOMS-001", "the proxy carries no VOMS attributes")
    return proxy, found.acs


@check("VOMS-002", "The VOMS attributes are for the Mu3e VO (--mu3e-vo)", step=STEP, fix=INIT,
       requires=("VOMS-001",))
def test_voms_vo(proxy_fact, settings):
    """The attributes must be for ``--mu3e-vo``: another VO fails; FQANs outside
    ``/<vo>`` warn.  Reports the FQANs and the VOMS server.
    """
    proxy, acs = _acs(proxy_fact)
    vo = settings.vo
    ac = acs[0]
    if ac.vo != vo:
        fail(f"the VOMS attributes in {proxy.path} are for VO '{ac.vo or 'unknown'}' "
             f"({', '.join(ac.fqans) or 'no FQANs'}), not for {vo}", group=settings.group)
    foreign = [f for f in ac.fqans if not f.startswith(f"/{vo}")]
    if foreign:
        warn(f"some FQANs are outside /{vo}: {', '.join(foreign)}", group=settings.group)
    note(f"FQANs: {', '.join(ac.fqans) or 'none'}; VOMS server {ac.issuer}")


@check("VOMS-003", "The VOMS attributes are valid and signed by their VOMS server", step=STEP,
       fix=INIT, also=(commands.check_clock,), requires=("VOMS-001",))
def test_voms_validity(proxy_fact, settings):
    """The attributes must be valid now and signed by the VOMS server certificate they carry.
    An AC that expired while the proxy is still valid ("VOMS attributes are expired"), one not
    valid yet (check the clock), or a bad signature fails; an AC ending before the proxy is
    noted.
    """
    proxy, acs = _acs(proxy_fact)
    ac = acs[0]
    group = settings.group
    state = ac.state()
    proxy_state = pki.validity(proxy.proxy).state
    if state == "expired":
        also = (" while the proxy is still valid ('VOMS attributes are expired')"
                if proxy_state == "valid" else "")
        fail(f"the VOMS attributes expired on {pki.fmt_time(ac.not_after)}{also}", group=group)
    if state == "not-yet-valid":
        fail(f"the VOMS attributes are valid only from {pki.fmt_time(ac.not_before)}; check "
             "this machine's clock (date -u)", fix=commands.check_clock)
    if ac.signature_ok is False:
        fail(f"the signature on the VOMS attributes does not verify against the VOMS server "
             f"certificate they carry ({ac.issuer}): the extension is damaged or forged",
             group=group)
    end = proxy.end()
    if ac.not_after < end:
        note(f"the VOMS attributes end at {pki.fmt_time(ac.not_after)}, before the proxy "
             f"({pki.fmt_time(end)}); renew the proxy then")
    note(f"VOMS attributes valid until {pki.fmt_time(ac.not_after)}")


@check("NET-006", "The Configuration Server knows you: whoami gives your user and group",
       step=STEP, network=True, requires=("NET-004",), fix=INIT,
       also=(commands.tell_contacts,))
def test_cs_whoami(cs_probe, settings, run):
    """Asks the Configuration Server how it sees your proxy (DISET ``whoami``): which user,
    which group.  An unregistered DN fails with the exact DN to send to the Mu3e VO admin; a
    proxy for another group fails with ``dirac-proxy-init -g <group> -M -t``.  Skips without a
    valid proxy.
    """
    advice = adv.Advice.from_settings(settings)
    credential = cs_probe.credential()
    if not credential.usable:
        skip_for(proxy_owner(credential), f"needs a valid proxy: {credential.reason}")
    call = cs_probe.whoami()
    if call.failure is not None:
        message, fix = adv.tls.explain(call.failure, cs_probe.target(), advice)
        fail(f"whoami: {message}", fix=fix)
    if call.error is not None:
        message, fix = adv.diset.explain(call.error, cs_probe.target(), "whoami", advice)
        fail(message, fix=fix)
    try:
        who = net.diset.whoami_info(call.value)
    except net.diset.DisetError as exc:
        fail(f"the whoami answer cannot be read: {exc.detail}", fix=commands.tell_contacts)
    problem = net.diset.identity_problem(who, settings.group, credential.group, credential.identity)
    dn = who.dn or credential.identity
    run.record(whoami=facts.WhoAmI(who.username, who.group, who.dn, tuple(who.properties)))
    if problem is not None:
        message, fix = adv.diset.explain_identity(problem, dn, advice)
        fail(message, fix=fix)
    props = ", ".join(who.properties) or "none"
    note(f"the server sees you as {who.username!r} in group {who.group!r} "
         f"(DN {dn}; properties {props})")
