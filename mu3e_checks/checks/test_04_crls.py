"""Guide: "Fetch Certificate Revocation Lists (CRLs)" — a current, signed CRL for every CA.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

import datetime as dt

from mu3e_checks import commands, facts
from mu3e_checks.advice import trust as adv
from mu3e_checks.knowledge import trust
from mu3e_checks.outcome import fail, note, warn
from mu3e_checks.registry import check
from mu3e_checks.remedy import Field

STEP = "crls"
#: fetch-crl into the CA directory (on Merlin7 from the module).
FETCH = commands.fetch_crl.bind(ca_dir=Field("dir"))


def _focus(store, chain, settings):
    return trust.focus(store, chain, trust.required_dns(settings.required_cas, chain))


def _fetch(store, own_ca_dir_fix) -> dict:
    """How a CRL finding is fixed: fetch-crl into the CA directory (:data:`FETCH`), or, when
    that is not the user's to write, the move to their own one (``fix``)."""
    own = own_ca_dir_fix(crls=True)
    return {"fix": own} if own else {"dir": store.path}


@check("CRL-001", "Every CA has a revocation list (<hash>.r0)", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_present(trust_store, user_ca_chain, settings, own_ca_dir_fix):
    """Every CA has its CRL as ``<subject hash>.r0``, the only name OpenSSL looks a CRL up
    under.  The guide requires them.  Without any, dirac-proxy-init prints 'No CRL files found
    for <dir>/*.r0. Abort check of CAs' and checks nothing; OpenSSL itself refuses a
    certificate without its CA's CRL only when asked to check CRLs (``-crl_check``: 'unable to
    get certificate CRL'), as CRL-004 does.  A missing CRL of a CA in your certificate's chain
    or a required CA fails; others only warn, with a count.  The fix is ``fetch-crl -l <your
    CA dir>`` (on Merlin7 from the module); into your DIRACOS CA directory, exported first,
    when the one in use is not yours to write.
    """
    store = trust_store.get()
    fetch = _fetch(store, own_ca_dir_fix)
    if not store.crls:
        fail(f"there are no CRL files (*.r0) in {store.path}: the CRLs were never fetched, "
             "which the guide requires. dirac-proxy-init then prints 'No CRL files found for "
             f"{store.path}/*.r0. Abort check of CAs', and a revoked certificate goes unnoticed "
             "until a server that checks CRLs refuses it (openssl verify -crl_check: 'unable "
             "to get certificate CRL')", **fetch)
    missing = trust.missing_crls(store)
    items = []
    for ca in missing:
        text = f"{ca.subject} has no {ca.crl_name}"
        if f"{ca.hash_old}.r0" in store.crls and ca.hash_old != ca.hash:
            text += f" (only {ca.hash_old}.r0, under the old hash OpenSSL no longer reads)"
        items.append((ca, text))
    fails, warns = trust.split_by_focus(items, _focus(store, user_ca_chain, settings))
    if warns:
        warn(f"{len(warns)} CA(s) you do not rely on have no CRL: {trust.summarize(warns)}",
             **fetch)
    if fails:
        fail("; ".join(fails), **fetch)
    note(f"{len(store.crls)} CRL files for {len(store.cas)} CAs")


@check("CRL-002", "Every CRL is readable and signed by its CA", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_valid(trust_store, user_ca_chain, settings, own_ca_dir_fix):
    """Every CRL file parses, is PEM (OpenSSL reads only PEM in a CA directory), is named after
    the CA that issued it and is signed by that CA's key; those of the CAs you rely on must also
    load in OpenSSL (no damaged revoked entry or extension).  A DER CRL gets the ``openssl crl``
    conversion; a damaged, truncated or foreign one is fetched again.  Problems of CAs you rely
    on fail; the others warn.
    """
    store = trust_store.get()
    why = _focus(store, user_ca_chain, settings)
    bad = trust.bad_crls(store, why)
    by_hash = {ca.hash: ca for ca in store.cas}
    items = [(c.ca or by_hash.get(c.name.split(".")[0]), c.problem) for c in bad]
    fails, warns = trust.split_by_focus(items, why)
    # DER files need converting; anything else is fetched again.
    fix = own_ca_dir_fix(crls=True) or adv.crl_fix(bad, store.path)
    if warns:
        warn(f"{len(warns)} CRL file(s) of CAs you do not rely on cannot be used: "
             f"{trust.summarize(warns)}", fix=fix)
    if fails:
        fail("; ".join(fails), fix=fix)


@check("CRL-003", "CRLs are current (nextUpdate in the future)", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_fresh(trust_store, user_ca_chain, settings, own_ca_dir_fix):
    """Each CRL's nextUpdate is in the future: past it, OpenSSL and VOMS reject every
    certificate of that CA ('CRL has expired'), whatever the file's date says.  Within 24 h
    (``--mu3e-crl-warn-hours``) it warns; a CRL issued in the future points at this machine's
    clock.  Stale CRLs of CAs you rely on fail; others warn.
    """
    store = trust_store.get()
    hours = settings.crl_warn_hours
    ages = trust.crl_freshness(store, warn_within=dt.timedelta(hours=hours))
    fetch = _fetch(store, own_ca_dir_fix)
    soon = [a.message for a in ages if a.state == "expiring"]
    if soon:
        warn(f"{len(soon)} CRL(s) expire within {hours:g} h: {trust.summarize(soon)}", **fetch)
    odd = [a.message for a in ages if a.state == "no-next-update"]
    if odd:
        warn("; ".join(odd), **fetch)
    bad = [(a.crl.ca, a.message) for a in ages if a.state in ("stale", "not-yet-valid")]
    fails, warns = trust.split_by_focus(bad, _focus(store, user_ca_chain, settings))
    if warns:
        warn(f"{len(warns)} CRL(s) of CAs you do not rely on are out of date: "
             f"{trust.summarize(warns)}", **fetch)
    if fails:
        fail("; ".join(fails) + ": grid services and VOMS reject certificates of a CA whose "
             "CRL has expired ('CRL has expired')", **fetch)


@check("CRL-004", "Your certificate passes OpenSSL's chain check with CRLs (not revoked)",
       step=STEP, fix=FETCH, also=(commands.new_certificate,),
       requires=("CERT-005", "CERT-008", "CA-006", "CRL-001", "CRL-002", "CRL-003"))
def test_user_cert_verifies(trust_store, user_cert, own_ca_dir_fix):
    """OpenSSL's own verdict on your certificate with ``-crl_check_all``, the one grid services,
    VOMS and DIRAC reach: every certificate in the chain needs a current CRL from its issuer,
    and none may be revoked.  A revoked certificate cannot be repaired: request a new one.
    """
    store = trust_store.get()
    verdict = trust.verify_chain(user_cert.cert, [], store)
    if verdict.ok:
        note(f"openssl verify -CApath {store.path} -crl_check_all: OK")
        return
    if verdict.code == trust.X509_V_ERR_CERT_REVOKED:
        fail(verdict.reason, fix=commands.new_certificate)
    fail(f"{verdict.reason} (OpenSSL error {verdict.code}: {verdict.openssl_message})",
         **_fetch(store, own_ca_dir_fix))


@check("CRL-005", "A CRL updater keeps the CRLs fresh (fetch-crl from cron or a systemd timer)",
       step=STEP, fix=commands.crl_updater, requires=("CA-001",))
def test_crl_updater(trust_choice, settings, run):
    """A site check (``--mu3e-profile site``): fresh CRLs today expire in days to weeks, so a
    site image must also run fetch-crl for the CA directory DIRAC uses.  Looks for fetch-crl
    in the cron tables (/etc/crontab, /etc/cron.d, users' crontabs, /etc/cron.daily & co.) and
    in the services of enabled systemd timers, or only in the file ``--mu3e-crl-updater``
    names, and works out from its options, fetch-crl.conf and environment files where it
    writes.  Fails when none is scheduled, when the packaged cron entry is switched off (its
    ``/var/lock/fetch-crl-cron`` is missing), or when it refreshes another directory.  Checks
    what is configured, not that cron or systemd runs in the image.
    """
    from mu3e_checks.knowledge import crl_updater as updater

    directory = trust_choice.path
    found = updater.survey(named=settings.crl_updater)
    if found.problem:
        fail(found.problem, ca_dir=directory)
    serving = found.serving(directory)
    if serving:
        run.record(crl_updater=tuple(
            facts.CrlRun(r.source, r.how, r.schedule, r.output, r.output_from)
            for r in serving))
        note(updater.describe(serving))
        return
    if not found.runs:
        idle = f"; {'; '.join(found.idle)}" if found.idle else ""
        fail(f"no fetch-crl run is scheduled (looked in {', '.join(found.looked_in)}){idle}: "
             f"the CRLs in {directory} will expire, and then DIRAC refuses every certificate "
             "of their CAs ('CRL has expired')", ca_dir=directory)
    off = [r for r in found.runs if r.off and updater.same_dir(r.output, directory)]
    if off:
        fail(f"the fetch-crl run in {off[0].source} never starts: {off[0].off}",
             ca_dir=directory, switch=off[0].switch)
    other = next((r for r in found.runs if not r.off), found.runs[0])
    also = f" (and it never starts: {other.off})" if other.off else ""
    fail(f"fetch-crl in {other.source} refreshes {other.output} ({other.output_from}), not "
         f"{directory}, the CA directory DIRAC uses ({trust_choice.describe()}){also}",
         ca_dir=directory, source=other.source)
