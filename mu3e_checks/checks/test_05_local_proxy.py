"""Guide: "Initialize a Local Proxy" — the proxy file DIRAC reads, its mode, content, chain, time.

The checks read the same file DIRAC will read ($GRID_PROXY_FILE, $X509_USER_PROXY, then
/tmp/x509up_u<uid>) and say which one that was, because a stale variable silently wins.
PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice.proxy import chain_fix, writes_ca_dir
from mu3e_checks.knowledge import pki, trust
from mu3e_checks.knowledge.proxy import (
    proxy_file_problem,
    proxy_refusal,
    signature_problem,
    write_target,
)
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check
from mu3e_checks.remedy import Field

STEP = "local-proxy"
#: A new proxy for the Mu3e group: the guide's dirac-proxy-init.
INIT = commands.proxy_init


@check("PROXY-001", "A proxy file is where DIRAC looks for it", step=STEP, fix=INIT,
       also=(commands.unset_or_renew, commands.unset_shadowing))
def test_proxy_present(proxy_location, settings, uid):
    """DIRAC reads $GRID_PROXY_FILE, then $X509_USER_PROXY (each only if it is a file), then
    /tmp/x509up_u<uid>; --mu3e-proxy checks another file.  Fails when there is no proxy (fix:
    dirac-proxy-init -g <group> -M -t); warns when a variable points at nothing (dirac-proxy-init
    still writes there) or when $GRID_PROXY_FILE shadows $X509_USER_PROXY.
    """
    loc = proxy_location
    group = settings.group
    target = write_target(settings.environ, uid)
    for var, value in loc.dangling:
        lands = (f"; dirac-proxy-init will write your next proxy to {value}"
                 if target == value or str(target) == value else "")
        warn(f"${var} is set to {value}, which is not a file, so DIRAC skips it when reading"
             f"{lands}", fix=commands.unset_or_renew, var=var, group=group)
    for var, value in loc.shadowed:
        warn(f"{loc.source}={loc.path} shadows ${var}={value}: DIRAC reads {loc.path}, not the "
             f"proxy in ${var}", fix=commands.unset_shadowing, var=loc.source.lstrip("$"),
             value=value)
    if not loc.exists:
        if loc.source == "--mu3e-proxy":
            fail(f"the proxy file given with --mu3e-proxy, {loc.path}, does not exist or is "
                 "not a file", group=group)
        fail(f"no proxy: neither $GRID_PROXY_FILE nor $X509_USER_PROXY names a file, and "
             f"{loc.path} does not exist", group=group)
    note(f"proxy: {loc.path} ({loc.source})")


@check("PROXY-002", "The proxy file is yours and private (mode 600)", step=STEP,
       fix=commands.chmod.bind("600", path=Field("proxy")), also=(commands.own_proxy,),
       requires=("PROXY-001",))
def test_proxy_permissions(proxy_location, settings, uid):
    """The proxy holds an unencrypted key: it must be yours and mode 600.  Group/world bits
    fail (voms-proxy-init refuses the key; chmod 600 fixes it, a new proxy keeps the old
    mode); another owner fails (make your own proxy elsewhere); 400 warns, because
    dirac-proxy-init cannot overwrite it.
    """
    path = proxy_location.path
    severity, problem = proxy_file_problem(path, uid)
    if severity == "fail" and "owned by uid" in problem:
        fail(problem, fix=commands.own_proxy, path=settings.home / f".x509up_u{uid}",
             group=settings.group)
    if severity == "fail":
        fail(problem, proxy=path)
    if severity == "warn":
        warn(problem, proxy=path)


@check("PROXY-003", "The proxy file holds a proxy certificate, its key and the chain",
       step=STEP, fix=INIT, also=(commands.back_to_v8,), requires=("PROXY-001",))
def test_proxy_parses(proxy_fact, settings):
    """A proxy file holds the proxy certificate, its unencrypted key (PKCS#8 or PKCS#1) and
    the chain down from the user certificate.  Fails when it does not parse or lacks the user
    certificate; warns on a trailing DIRACX block (made by DIRAC v9, which Mu3e cannot use).
    """
    group = settings.group
    if proxy_fact.error:
        fail(proxy_fact.error, group=group)
    proxy = proxy_fact.value
    if proxy.identity is None:
        fail(f"{proxy.path} holds only proxy certificates and not the user certificate they "
             "derive from, so no service can validate it", group=group)
    if proxy.diracx:
        warn(f"{proxy.path} ends with a DIRACX token block: it was made by DIRAC v9, and Mu3e "
             "works only with DIRAC v8 (8.0.74)", fix=commands.back_to_v8, group=group)
    note(f"{proxy.describe()}; {len(proxy.certs)} certificate(s), "
         f"{proxy.key_format} private key")


@check("PROXY-004", "The proxy is signed by your certificate's key and holds its own key",
       step=STEP, fix=INIT, also=(commands.matching_key_then_proxy,), requires=("PROXY-003",))
def test_proxy_key_matches(proxy_fact, settings, user_cert_fact, user_key_fact, credentials):
    """Each proxy must be signed by the key of the certificate it names as issuer, as DIRAC
    ("The proxy is not valid") and OpenSSL check whatever the CRLs say, and the file's key must
    be the proxy's.  ``dirac-proxy-init --nocs`` signs silently with a key that is not your
    certificate's: the fix puts the right key in place (CERT-007), then makes a new proxy.
    """
    proxy = proxy_fact.get()
    group = settings.group
    problem = signature_problem(proxy)
    if problem:
        cert = user_cert_fact.value.cert if user_cert_fact.value is not None else None
        key = user_key_fact.value.key if user_key_fact.value is not None else None
        pair_broken = cert is not None and key is not None and not pki.key_matches(cert, key)
        message = (f"{problem}. DIRAC says 'The proxy is not valid' and OpenSSL 'certificate "
                   "signature failure' for it, so no service accepts it")
        if pair_broken:
            fail(message, fix=commands.matching_key_then_proxy, key=credentials.key,
                 cert=credentials.cert, group=group)
        fail(message, group=group)
    if pki.public_key(proxy.proxy) is None:
        fail(f"the proxy certificate in {proxy.path} has {pki.unreadable_key(proxy.proxy)}, so "
             "no service can check that the private key belongs to it", group=group)
    if not proxy.key_matches:
        fail(f"the private key in {proxy.path} does not belong to its proxy certificate: the "
             "file was pieced together or overwritten halfway", group=group)


@check("PROXY-005", "The proxy is an RFC 3820 impersonation proxy", step=STEP, fix=INIT,
       requires=("PROXY-003",))
def test_proxy_format(proxy_fact, settings, trust_store):
    """OpenSSL, and so the DIRAC services, validate only RFC 3820 proxies.  Legacy Globus
    (CN=proxy, grid-proxy-init -old) and draft GSI-3 proxies fail, and so does one OpenSSL
    refuses as a proxy (its name, a path length), judged without CRLs so none can hide it;
    limited and independent proxies warn (refused for job submission, or not your rights).
    """
    proxy = proxy_fact.get()
    group = settings.group
    if proxy.format == "legacy":
        fail(f"{proxy.path} is a legacy Globus proxy (CN=proxy, e.g. from 'grid-proxy-init "
             "-old'): OpenSSL, and so the DIRAC services, cannot validate it, and it carries no "
             "DIRAC group", group=group)
    if proxy.format == "draft":
        fail(f"{proxy.path} is a pre-RFC draft (GSI-3) proxy, which current services do not "
             "accept", group=group)
    refusal = proxy_refusal(proxy, trust_store.value) if trust_store.value is not None else None
    if refusal is not None:
        fail(f"OpenSSL refuses the proxy in {proxy.path} itself (error {refusal.code}, whatever "
             f"the CRLs say): {refusal.reason}", group=group)
    if proxy.limited:
        warn(f"{proxy.path} is a limited proxy: services refuse it for job submission and most "
             "data operations", group=group)
    elif proxy.policy != "impersonation":
        warn(f"{proxy.path} is an RFC 3820 proxy with the '{proxy.policy}' policy, not an "
             "impersonation proxy: services may not grant it your rights", group=group)
    note(proxy.describe())


@check("PROXY-007", "The proxy belongs to the certificate in usercert.pem", step=STEP,
       fix=INIT, requires=("PROXY-003", "CERT-005"))
def test_proxy_identity(proxy_fact, user_cert, credentials, settings):
    """DIRAC acts as the identity in the proxy, whatever usercert.pem holds.  Warns when the
    proxy derives from another certificate (another DN, or an older or renewed certificate
    with your DN); a new proxy from usercert.pem is the fix.
    """
    proxy = proxy_fact.get()
    mine = user_cert.subject_slash
    if proxy.identity_dn != mine:
        warn(f"{proxy.path} belongs to another certificate: its identity is "
             f"{proxy.identity_dn}, but {credentials.cert} is {mine}; DIRAC will act as "
             f"{proxy.identity_dn}", group=settings.group)
    elif pki.public_bytes(proxy.identity) != pki.public_bytes(user_cert.cert):
        warn(f"{proxy.path} was made from another certificate with your DN (an older or "
             f"renewed one), not from {credentials.cert}", group=settings.group)


@check("PROXY-008", "The proxy is valid now, with time left", step=STEP, fix=INIT,
       also=(commands.check_clock,), requires=("PROXY-003",))
def test_proxy_lifetime(proxy_fact, settings):
    """A proxy works until the earliest notAfter of itself and the certificates it derives
    from.  Expired or not yet valid (check the clock) fails; less than
    --mu3e-proxy-warn-hours (1 h) left warns; the fix is a new proxy.
    """
    proxy = proxy_fact.get()
    group = settings.group
    v = pki.validity(proxy.proxy)
    if v.state == "expired":
        fail(f"the proxy in {proxy.path} expired on {pki.fmt_time(v.not_after)}", group=group)
    if v.state == "not-yet-valid":
        fail(f"the proxy in {proxy.path} is valid only from {pki.fmt_time(v.not_before)}; "
             "check this machine's clock (date -u)", fix=commands.check_clock)
    end = proxy.end()
    now = pki.utcnow()
    if end < now:
        fail(f"the proxy is in date, but a certificate it derives from expired on "
             f"{pki.fmt_time(end)}", group=group)
    hours = (end - now).total_seconds() / 3600
    if hours < settings.proxy_warn_hours:
        warn(f"the proxy expires in {int(hours * 60)} minutes, at {pki.fmt_time(end)}",
             group=group)
    identity = proxy.identity
    if identity is not None and pki.not_after(identity) < v.not_after:
        note(f"the proxy claims validity until {pki.fmt_time(v.not_after)}, after your "
             f"certificate expires ({pki.fmt_time(pki.not_after(identity))}); it stops "
             "working then")
    note(f"valid until {pki.fmt_time(end)} ({hours:.1f} h left)")


@check("PROXY-009", "The proxy key is strong enough (RSA >= 2048 bits)", step=STEP,
       fix=commands.proxy_init.bind(bits=2048), requires=("PROXY-003",))
def test_proxy_strength(proxy_fact, settings):
    """Services refuse proxy keys under 2048 bits.  Fails naming what is too weak, with
    dirac-proxy-init -b 2048.
    """
    proxy = proxy_fact.get()
    problems = pki.strength_problems(proxy.proxy)
    if problems:
        fail(f"the proxy in {proxy.path}: " + "; ".join(problems), group=settings.group)
    note(pki.key_description(proxy.proxy))



# Defined last so that its prerequisites (format and lifetime) have run before it.
@check("PROXY-006", "The chain proxy → user certificate → CA validates, with CRLs", step=STEP,
       fix=INIT, requires=("PROXY-004", "PROXY-005", "PROXY-008", "CRL-004"))
def test_proxy_chain(proxy_fact, trust_choice, trust_store, settings, own_ca_dir_fix):
    """OpenSSL validates proxy -> user certificate -> CA against the CA directory in play,
    proxies allowed and CRLs checked, as the services will.  Fails with OpenSSL's error; the
    fix follows the cause (fetch-crl, install the CA, ask the CA, or a new proxy).  Skipped
    when the CA directory is missing or empty (the CA checks report it).
    """
    proxy = proxy_fact.get()
    ca_dir = trust_choice.path
    if not trust.non_empty_dir(ca_dir):
        skip_for("CA-001", f"the CA directory {ca_dir} is missing or empty")
    # The store the CA chapter already scanned: the directory is read once per run.
    where = trust_store.value if trust_store.value is not None else ca_dir
    verdict = trust.verify_chain(proxy.proxy, proxy.chain, where, crl_check=True,
                                 allow_proxy=True)
    if verdict.ok:
        note(" → ".join(verdict.chain) or verdict.reason)
        return
    fix = chain_fix(verdict, ca_dir, settings.group)
    if writes_ca_dir(verdict):
        fix = own_ca_dir_fix(crls=True) or fix
    fail(f"OpenSSL rejects the proxy chain in {proxy.path} (error {verdict.code}): "
         f"{verdict.reason}", fix=fix)
