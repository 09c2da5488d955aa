"""Guide: "Install Certificate Authorities (CAs)": the CA directory DIRAC uses, and its content.

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

from mu3e_checks import commands
from mu3e_checks.advice import trust as adv
from mu3e_checks.advice.trust import bundle_fix
from mu3e_checks.knowledge import trust
from mu3e_checks.knowledge.pki import dn_key, same_dn
from mu3e_checks.knowledge.trust import diracos_cert_dir, has_ca_files
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check
from mu3e_checks.remedy import Field

STEP = "cas"
#: The guide's IGTF bundles, downloaded and untarred into the CA directory.
INSTALL = commands.install_ca_bundles


@check("CA-001", "The CA directory DIRAC uses exists and holds CA certificates", step=STEP,
       fix=INSTALL)
def test_ca_dir_usable(trust_choice, trust_store, settings):
    """The CA directory DIRAC will use, found the way DIRAC 8.0.74 finds it: ``$X509_CERT_DIR``
    (even when missing or empty, as DIRAC does), else ``<DIRACOS>/etc/grid-security/
    certificates`` when it is a directory, else ``/etc/grid-security/certificates``.  Missing,
    empty or unreadable fails; with X509_CERT_DIR pointing at it the fix is the ``export`` of
    the DIRACOS directory, or the guide's install commands when that is empty too.
    """
    note(f"CA directory: {trust_choice.describe()}")
    if not trust_store.error:
        return
    own = diracos_cert_dir(settings.diracos)
    if trust_choice.source == "$X509_CERT_DIR":
        message = (f"{trust_store.error}; DIRAC uses it anyway and then fails with 'No valid CA "
                   "dir found' or a TLS error")
        has_cas = has_ca_files(own) and own != trust_choice.path
        fix = adv.exported_dir_fix(own, settings.diracos / "diracosrc", settings.required_cas,
                                   settings.ca_repository, has_cas=has_cas)
        if has_cas:
            fail(f"{message}; your CAs are in {own}", fix=fix)
        fail(message, fix=fix)
    # Without X509_CERT_DIR, DIRAC prefers the DIRACOS directory as soon as it exists, so the
    # guide's install into it is the fix even when the system directory is the one in use.
    target = own if trust_choice.source == "system" else trust_choice.path
    fail(trust_store.error, **adv.guide_install_values(target, settings.required_cas,
                                                       settings.ca_repository))


@check("CA-002", "diracosrc will not switch to another CA directory", step=STEP,
       severity="warn",
       fix=commands.export.bind("X509_CERT_DIR", value=Field("own"),
                                note="in ~/.bashrc, after 'source {diracosrc}'"))
def test_single_ca_dir(settings, system_cert_dir, trust_choice, trust_store, user_cert_fact):
    """Both the DIRACOS CA directory and the host's ``/etc/grid-security/certificates``
    (``--mu3e-system-cert-dir``) hold CAs: diracosrc switches to the host one in every shell
    that does not export X509_CERT_DIR first, while DIRAC alone keeps the DIRACOS one.  This
    warns only when the two would give a different verdict for your own certificate or for the
    required CAs; on an IGTF host with a good setup they agree and nothing is said.
    """
    exported = settings.environ.get("X509_CERT_DIR")
    if exported and has_ca_files(exported):
        note(f"X509_CERT_DIR={exported} is exported and holds CAs: diracosrc keeps it")
        return
    cert = user_cert_fact.value.cert if user_cert_fact.value is not None else None
    chain = trust.UserChain(cern=cert is not None and same_dn(cert.issuer, trust.CERN_GRID_CA))
    stores = {trust_choice.path: trust_store.value} if trust_store.value is not None else {}
    problem = trust.two_dirs_problem(settings.environ, settings.diracos, system_cert_dir,
                                     cert=cert,
                                     required=trust.required_dns(settings.required_cas, chain),
                                     stores=stores)
    if problem:
        fail(problem, own=diracos_cert_dir(settings.diracos),
             diracosrc=settings.diracos / "diracosrc")


@check("CA-003", "Every CA file parses and is named by its OpenSSL subject hash", step=STEP,
       fix=commands.rename.bind(old=Field("wrong_name"), new=Field("subject_hash_name")),
       requires=("CA-001",))
def test_ca_files(trust_store, trust_choice, user_ca_chain, settings, own_ca_dir_fix):
    """Every ``<hash>.N`` parses as PEM and is named by its OpenSSL subject hash (the old MD5
    hash names IGTF ships are accepted).  Broken symlinks, link loops, FIFOs and devices,
    damaged or DER files and wrong names fail with the ``mv``/``rm``/``openssl x509`` command
    for that file; a second copy of an installed CA under a wrong name only warns, and so does
    a damaged CA certificate (a duplicate or undecodable extension, a date or key that cannot be
    read) that you do not rely on.  A required CA installed only under a wrong name or in a
    damaged file is this check's finding alone.
    """
    store = trust_store.get()
    mine = trust.relied_on(user_ca_chain, trust.required_dns(settings.required_cas,
                                                             user_ca_chain))
    lookup = trust.missing_issuer_hashes(user_ca_chain)  # where OpenSSL seeks your issuer
    others = [p for p in store.bad_files if not p.harmless and p.dn is not None
              and dn_key(p.dn) not in mine and p.name.split(".")[0] not in lookup]
    bad = [p for p in store.bad_files if not p.harmless and p not in others]
    for p in store.bad_files:
        if p.harmless:
            warn(p.message, fix=adv.file_fix(p.repair))
    if others:
        warn(f"{len(others)} CA file(s) of CAs you do not rely on cannot be used: "
             + trust.summarize([p.message for p in others]),
             fix=adv.files_fix(p.repair for p in others))
    if bad:
        fail(f"{len(bad)} CA file(s) in {store.path} cannot be used by OpenSSL: "
             + trust.summarize([p.message for p in bad]),
             fix=own_ca_dir_fix() or adv.files_fix(p.repair for p in bad))
    olds = sum(1 for ca in store.cas for n in ca.names if n.startswith(ca.hash_old)
               and ca.hash_old != ca.hash)
    note(f"{len(store.cas)} CA certificates in {store.path}"
         + (f" ({olds} also under their old-style hash name)" if olds else ""))


@check("CA-004", "The required Mu3e CAs are installed (and the CERN ones for CERN certificates)",
       step=STEP, fix=INSTALL, requires=("CA-001",))
def test_required_cas(trust_store, user_ca_chain, settings, trust_choice, own_ca_dir_fix):
    """The CAs Mu3e needs (``--mu3e-required-ca``: UK e-Science CA 2B and Root 2007 by default,
    plus CERN Root CA 2 and CERN Grid CA for a CERN-issued certificate), recognised by subject
    DN and by key (the signature must verify with the issuer's key), never by file name.  The
    fix is the guide's ``wget …/ca_<alias>-1.138.tar.gz`` and ``tar … -C <your CA dir>/``.
    A required CA present only under a wrong file name passes here with a note: CA-003 fails
    for it, with the ``mv`` that repairs it.
    """
    store = trust_store.get()
    dns = trust.required_dns(settings.required_cas, user_ca_chain)
    if user_ca_chain.cern:
        note("your certificate is CERN-issued, so the CERN Root CA 2 and CERN Grid CA are "
             "required too")
    results = trust.check_required(store, dns)
    problems = [r for r in results if r.problem]
    if problems:
        again = list(dict.fromkeys(d for r in problems for d in (r.reinstall or (r.dn,))))
        fail("; ".join(r.problem for r in problems),
             fix=own_ca_dir_fix() or bundle_fix(store.path, again, store.aliases,
                                                settings.ca_repository))
    for r in results:
        if r.misnamed:
            note(f"{r.dn} is installed as {', '.join(r.misnamed)}, which OpenSSL cannot use "
                 "(a wrong name or a damaged file): CA-003 reports it, with the command that "
                 "repairs it")
        else:
            note(f"found {r.found.describe()}" if r.found else r.dn)


@check("CA-005", "No CA certificate in the directory has expired", step=STEP,
       fix=INSTALL, also=(commands.harmless_expired,), requires=("CA-001",))
def test_expired_cas(trust_store, user_ca_chain, settings, own_ca_dir_fix):
    """No CA certificate is outside its validity period.  An expired CA in your certificate's
    chain or among the required ones fails with the install commands of its current bundle;
    expired CAs you do not rely on (IGTF ships a few) are a warning with a count.
    """
    store = trust_store.get()
    why = trust.focus(store, user_ca_chain, trust.required_dns(settings.required_cas,
                                                               user_ca_chain))
    expired = trust.expired_cas(store)
    fails, warns = trust.split_by_focus(expired, why)
    if warns:
        warn(f"{len(warns)} CA certificate(s) you do not rely on are outside their validity "
             f"period: {trust.summarize(warns)}", fix=commands.harmless_expired)
    if fails:
        dns = [ca.subject for ca, _ in expired if ca.fingerprint in why]
        fail("; ".join(fails), fix=own_ca_dir_fix() or bundle_fix(
            store.path, dns, store.aliases, settings.ca_repository))


@check("CA-006", "Your certificate's issuing CA chain is in the CA directory", step=STEP,
       fix=commands.issuer_bundle,
       requires=("CA-001", "CERT-005", "CERT-008"))
def test_user_chain_present(trust_store, user_cert, user_ca_chain, settings, own_ca_dir_fix):
    """OpenSSL builds your certificate's chain from the directory, without CRLs (CRL-004 adds
    them), from the files the diagnosis already read, as ``openssl verify -CApath`` would.  A
    failure names the failing certificate's DN; a missing issuer also names the issuer DN and
    the ``<hash>.0`` OpenSSL looked up.  A look-alike (a CA installed under your issuer's name
    whose key did not sign your certificate) fails here, saying which side is not genuine when
    the IGTF ``.info`` files tell, with the genuine bundle and whom to ask.  A CA missing
    because of a wrong or unusable file, an expired CA or a required CA that CA-004 reports
    is skipped here, naming the check that reports it.  Where the CA directory in use is not
    yours to write (a host's /etc/grid-security/certificates), this and every CA and CRL fix
    start with ``export X509_CERT_DIR=<your DIRACOS one>`` and fill that one.
    """
    store = trust_store.get()
    verdict = trust.verify_chain(user_cert.cert, [], store, crl_check=False)
    if verdict.ok:
        note("chain: " + " <- ".join(reversed(verdict.chain)))
        return
    if verdict.code in (trust.X509_V_ERR_CERT_HAS_EXPIRED, trust.X509_V_ERR_CERT_NOT_YET_VALID) \
            and verdict.depth:
        skip_for("CA-005", verdict.reason)
    missing = verdict.missing_issuer_dn
    if missing and store.misnamed(missing):
        names = ", ".join(p.name for p in store.misnamed(missing))
        skip_for("CA-003", f"{missing} is installed as {names}, under a "
                 "name OpenSSL never opens")  # one root cause, one failure (CA-003's)
    unusable = [p.name for p in (store.unusable(missing) if missing else [])]
    unusable += [p.name for p in store.bad_files if not p.harmless and p.dn is None
                 and verdict.lookup_name
                 and p.name.split(".")[0] == verdict.lookup_name.split(".")[0]]
    if missing and unusable:
        skip_for("CA-003", f"{missing} is installed as {', '.join(unusable)}, which OpenSSL "
                 "cannot use")
    required = trust.required_dns(settings.required_cas, user_ca_chain)
    gap = user_ca_chain.gap
    if gap is not None and gap.same_name and (
            missing or verdict.code == trust.X509_V_ERR_CERT_SIGNATURE_FAILURE):
        if gap.holder is not None and trust.required_problem(store, required, gap.issuer_dn,
                                                             gap.holder.subject):
            skip_for("CA-004", trust.explain_gap(store, gap).message)  # the same two CAs
        finding = trust.explain_gap(store, gap)
        fail(f"{finding.message}. OpenSSL cannot build your chain (error {verdict.code}: "
             f"{verdict.openssl_message}), so grid-proxy-init and voms-proxy-init refuse your "
             "certificate ('Certificate verification failed') and DIRAC's services reject it",
             fix=own_ca_dir_fix() or adv.gap_fix(store, finding, "CA-006",
                                                 settings.ca_repository))
    if missing and trust.required_problem(store, required, missing):
        skip_for("CA-004", verdict.reason)  # one missing CA, one failure (CA-004's)
    if missing:
        fail(verdict.reason, fix=own_ca_dir_fix() or bundle_fix(
            store.path, [missing], store.aliases, settings.ca_repository))
    own = own_ca_dir_fix()
    if own:
        fail(verdict.reason, fix=own)
    fail(verdict.reason, dir=store.path)
