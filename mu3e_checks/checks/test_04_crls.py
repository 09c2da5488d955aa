"""Guide: "Fetch Certificate Revocation Lists (CRLs)" — a current, signed CRL for every CA.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

import datetime as dt

from mu3e_checks.knowledge import trust
from mu3e_checks.knowledge.credentials import q
from mu3e_checks.outcome import fail, note, warn
from mu3e_checks.registry import check, render

STEP = "crls"
FETCH = "module use unstable; module load fetch-crl   # on Merlin7\nfetch-crl -l {dir}"


def _focus(store, chain, settings):
    return trust.focus(store, chain, trust.required_dns(settings.required_cas, chain))


@check("CRL-001", "Every CA has a revocation list (<hash>.r0)", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_present(trust_store, user_ca_chain, settings):
    store = trust_store.get()
    d = q(store.path)
    if not store.crls:
        fail(f"there are no CRL files (*.r0) in {store.path}: the CRLs were never fetched, and "
             "OpenSSL-based tools fail with 'unable to get certificate CRL'", dir=d)
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
             dir=d)
    if fails:
        fail("; ".join(fails), dir=d)
    note(f"{len(store.crls)} CRL files for {len(store.cas)} CAs")


@check("CRL-002", "Every CRL is readable and signed by its CA", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_valid(trust_store, user_ca_chain, settings):
    store = trust_store.get()
    why = _focus(store, user_ca_chain, settings)
    bad = trust.bad_crls(store)
    by_hash = {ca.hash: ca for ca in store.cas}
    items = [(c.ca or by_hash.get(c.name.split(".")[0]), c.problem) for c in bad]
    fails, warns = trust.split_by_focus(items, why)
    d = q(store.path)
    # DER files need converting; anything else is fetched again.
    fix = "\n".join(list(dict.fromkeys(c.fix for c in bad if c.fix))
                    + [render(FETCH, {"dir": d})])
    if warns:
        warn(f"{len(warns)} CRL file(s) of CAs you do not rely on cannot be used: "
             f"{trust.summarize(warns)}", fix=fix)
    if fails:
        fail("; ".join(fails), fix=fix)


@check("CRL-003", "CRLs are current (nextUpdate in the future)", step=STEP, fix=FETCH,
       requires=("CA-001",))
def test_crls_fresh(trust_store, user_ca_chain, settings):
    store = trust_store.get()
    hours = float(settings.extra.get("mu3e_crl_warn_hours") or 24.0)
    ages = trust.crl_freshness(store, warn_within=dt.timedelta(hours=hours))
    d = q(store.path)
    soon = [a.message for a in ages if a.state == "expiring"]
    if soon:
        warn(f"{len(soon)} CRL(s) expire within {hours:g} h: {trust.summarize(soon)}", dir=d)
    odd = [a.message for a in ages if a.state == "no-next-update"]
    if odd:
        warn("; ".join(odd), dir=d)
    bad = [(a.crl.ca, a.message) for a in ages if a.state in ("stale", "not-yet-valid")]
    fails, warns = trust.split_by_focus(bad, _focus(store, user_ca_chain, settings))
    if warns:
        warn(f"{len(warns)} CRL(s) of CAs you do not rely on are out of date: "
             f"{trust.summarize(warns)}", dir=d)
    if fails:
        fail("; ".join(fails) + ": grid services and VOMS reject certificates of a CA whose "
             "CRL has expired ('CRL has expired')", dir=d)


@check("CRL-004", "Your certificate passes OpenSSL's chain check with CRLs (not revoked)",
       step=STEP, fix=FETCH,
       requires=("CERT-005", "CERT-008", "CA-006", "CRL-001", "CRL-002", "CRL-003"))
def test_user_cert_verifies(trust_store, user_cert):
    store = trust_store.get()
    verdict = trust.verify_chain(user_cert.cert, [], store.path)
    if verdict.ok:
        note(f"openssl verify -CApath {store.path} -crl_check_all: OK")
        return
    if verdict.code == trust.X509_V_ERR_CERT_REVOKED:
        fail(verdict.reason, fix="# a revoked certificate cannot be repaired: request a new "
             "grid certificate from your CA, then export it into ~/.globus again")
    fail(f"{verdict.reason} (OpenSSL error {verdict.code}: {verdict.openssl_message})",
         dir=q(store.path))
