"""Guide: "Install Certificate Authorities (CAs)": the CA directory DIRAC uses, and its content.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.knowledge import trust
from mu3e_checks.knowledge.credentials import q
from mu3e_checks.knowledge.trust import (
    bundle_fix,
    diracos_cert_dir,
    has_ca_files,
)
from mu3e_checks.outcome import fail, note, skip, warn
from mu3e_checks.registry import check

STEP = "cas"


def _guide_install(ca_dir, settings):
    return commands.install_ca_bundles(ca_dir, trust.guide_bundles(settings.required_cas))


@check("CA-001", "The CA directory DIRAC uses exists and holds CA certificates", step=STEP,
       fix="# install the CA bundles as the guide shows, into {dir}")
def test_ca_dir_usable(trust_choice, trust_store, settings):
    note(f"CA directory: {trust_choice.describe()}")
    if not trust_store.error:
        return
    own = diracos_cert_dir(settings.diracos)
    if trust_choice.source == "$X509_CERT_DIR":
        message = (f"{trust_store.error}; DIRAC uses it anyway and then fails with 'No valid CA "
                   "dir found' or a TLS error")
        export = commands.export("X509_CERT_DIR", own,
                                 note="and put this line in ~/.bashrc, after 'source {rc}'",
                                 rc=settings.diracos / "diracosrc")
        if has_ca_files(own) and own != trust_choice.path:
            fail(f"{message}; your CAs are in {own}", fix=export)
        fail(message, fix=_guide_install(own, settings) + export)
    fail(trust_store.error, fix=_guide_install(trust_choice.path, settings),
         dir=trust_choice.path)


@check("CA-002", "diracosrc will not switch to another CA directory", step=STEP,
       severity="warn",
       fix="export X509_CERT_DIR={own}   # in ~/.bashrc, after 'source {diracosrc}'")
def test_single_ca_dir(settings, system_cert_dir):
    problem = trust.two_dirs_problem(settings.environ, settings.diracos, system_cert_dir)
    if problem:
        fail(problem, own=q(diracos_cert_dir(settings.diracos)),
             diracosrc=q(settings.diracos / "diracosrc"))


@check("CA-003", "Every CA file parses and is named by its OpenSSL subject hash", step=STEP,
       fix="mv {dir}/<wrong name>.0 {dir}/<subject hash>.0", requires=("CA-001",))
def test_ca_files(trust_store, trust_choice):
    store = trust_store.get()
    bad = [p for p in store.bad_files if not p.harmless]
    for p in store.bad_files:
        if p.harmless:
            warn(p.message, fix=p.fix)
    if bad:
        fail(f"{len(bad)} CA file(s) in {store.path} cannot be used by OpenSSL: "
             + trust.summarize([p.message for p in bad]),
             fix="\n".join(p.fix for p in bad))
    olds = sum(1 for ca in store.cas for n in ca.names if n.startswith(ca.hash_old)
               and ca.hash_old != ca.hash)
    note(f"{len(store.cas)} CA certificates in {store.path}"
         + (f" ({olds} also under their old-style hash name)" if olds else ""))


@check("CA-004", "The required Mu3e CAs are installed (and the CERN ones for CERN certificates)",
       step=STEP, fix="# install the missing CA bundles into {dir}", requires=("CA-001",))
def test_required_cas(trust_store, user_ca_chain, settings, trust_choice):
    store = trust_store.get()
    dns = trust.required_dns(settings.required_cas, user_ca_chain)
    if user_ca_chain.cern:
        note("your certificate is CERN-issued, so the CERN Root CA 2 and CERN Grid CA are "
             "required too")
    results = trust.check_required(store, dns)
    problems = [r for r in results if r.problem]
    if problems:
        fail("; ".join(r.problem for r in problems),
             fix=bundle_fix(store.path, [r.dn for r in problems], store.aliases))
    for r in results:
        note(f"found {r.found.describe()}" if r.found else r.dn)


@check("CA-005", "No CA certificate in the directory has expired", step=STEP,
       fix="# install the current bundles of these CAs into {dir}", requires=("CA-001",))
def test_expired_cas(trust_store, user_ca_chain, settings):
    store = trust_store.get()
    why = trust.focus(store, user_ca_chain, trust.required_dns(settings.required_cas,
                                                               user_ca_chain))
    expired = trust.expired_cas(store)
    fails, warns = trust.split_by_focus(expired, why)
    if warns:
        warn(f"{len(warns)} CA certificate(s) you do not rely on are outside their validity "
             f"period: {trust.summarize(warns)}",
             fix="# harmless for Mu3e; refresh the IGTF bundles or delete those CA files "
                 "if you do not need them")
    if fails:
        dns = [ca.subject for ca, _ in expired if ca.fingerprint in why]
        fail("; ".join(fails), fix=bundle_fix(store.path, dns, store.aliases))


@check("CA-006", "Your certificate's issuing CA chain is in the CA directory", step=STEP,
       fix="# install the bundle of your certificate's CA into {dir}",
       requires=("CA-001", "CERT-005", "CERT-008"))
def test_user_chain_present(trust_store, user_cert, user_ca_chain, settings):
    store = trust_store.get()
    verdict = trust.verify_chain(user_cert.cert, [], store.path, crl_check=False)
    if verdict.ok:
        note("chain: " + " <- ".join(reversed(verdict.chain)))
        return
    if verdict.code in (trust.X509_V_ERR_CERT_HAS_EXPIRED, trust.X509_V_ERR_CERT_NOT_YET_VALID) \
            and verdict.depth:
        skip(f"needs CA-005: {verdict.reason}")
    if verdict.missing_issuer_dn in trust.required_dns(settings.required_cas, user_ca_chain):
        skip(f"needs CA-004: {verdict.reason}")  # one missing CA, one failure (CA-004's)
    if verdict.missing_issuer_dn:
        fail(verdict.reason, fix=bundle_fix(store.path, [verdict.missing_issuer_dn],
                                            store.aliases))
    fail(verdict.reason, dir=q(store.path))
