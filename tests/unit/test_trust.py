"""Knowledge functions of the trust store, called directly on tmp dirs (no pytest plumbing)."""

from __future__ import annotations

import datetime as dt
import os

from cryptography.hazmat.primitives.serialization import Encoding

from mu3e_checks.advice import trust as adv
from mu3e_checks.knowledge import trust
from mu3e_checks.knowledge.pki import dn_slash
from tests.support.pki_factory import DAY, HOUR, crls_for, new_key, write_trust_dir

_PEM = Encoding.PEM


def test_two_dirs_problem_only_when_the_verdicts_differ(grid, tmp_path):
    diracos = tmp_path / "diracos"
    sysdir = tmp_path / "system"
    sysdir.mkdir()
    dns = [dn_slash(grid.root.cert.subject)]
    kw = {"cert": grid.user.cert, "required": dns}
    assert trust.two_dirs_problem({}, diracos, sysdir, **kw) is None  # nothing anywhere
    own = grid.trust_dir(trust.diracos_cert_dir(diracos))
    assert trust.two_dirs_problem({}, diracos, sysdir, **kw) is None  # system dir empty
    (sysdir / "README").write_text("not a CA")
    assert trust.two_dirs_problem({}, diracos, sysdir, **kw) is None  # no <hash>.N in it
    # Both populated with the same CAs and CRLs (an IGTF host with a good setup): no warning.
    grid.trust_dir(sysdir)
    assert trust.two_dirs_problem({}, diracos, sysdir, **kw) is None
    # The system directory's CRL of the user's CA is stale: the verdicts differ.
    crls = crls_for(grid.pki, grid.cas)
    crls[id(grid.ca)] = grid.pki.crl(grid.ca, last_update=grid.pki.now - 9 * DAY,
                                     next_update=grid.pki.now - DAY)
    stale = write_trust_dir(tmp_path / "stale", grid.cas, crls)
    text = trust.two_dirs_problem({}, diracos, stale, **kw)
    assert text and f"both {stale} and {own} hold CA certificates" in text
    # Unset X509_CERT_DIR: DIRAC itself uses the DIRACOS directory (getCAsLocation's order).
    assert f"in this shell DIRAC uses {own} (X509_CERT_DIR is not set)" in text
    assert f"your certificate verifies against {own} but not against {stale}" in text
    text = trust.two_dirs_problem({"X509_CERT_DIR": str(own)}, diracos, stale, **kw)
    assert text and "this shell exports X509_CERT_DIR" in text
    # A store already read is reused, not read again.
    store = trust.scan_trust_dir(own)
    assert trust.two_dirs_problem({}, diracos, sysdir, stores={own: store}, **kw) is None
    # One directory reached through two paths is one directory.
    link = tmp_path / "diracos2"
    os.symlink(diracos, link)
    assert trust.two_dirs_problem({}, link, trust.diracos_cert_dir(diracos), **kw) is None


def test_resolve_trust_dir_follows_diracs_order(tmp_path):
    diracos, sysdir = tmp_path / "diracos", tmp_path / "system"
    own = trust.diracos_cert_dir(diracos)
    sysdir.mkdir()
    (sysdir / "12345678.0").write_text("x")
    # DIRACOS directory missing: DIRAC falls back to the system directory.
    assert trust.resolve_trust_dir({}, diracos, None, sysdir).source == "system"
    # It exists, even empty: DIRAC uses it (diracosrc would prefer the populated system one).
    own.mkdir(parents=True)
    choice = trust.resolve_trust_dir({}, diracos, None, sysdir)
    assert (choice.path, choice.source) == (own, "DIRACOS")
    # $DIRAC_ROOT_PATH moves rootPath; $X509_CERT_DIR wins even when it does not exist.
    root = tmp_path / "root"
    (root / "etc/grid-security/certificates").mkdir(parents=True)
    choice = trust.resolve_trust_dir({"DIRAC_ROOT_PATH": str(root)}, diracos, None, sysdir)
    assert choice.path == root / "etc/grid-security/certificates"
    assert choice.source == "$DIRAC_ROOT_PATH"
    nope = tmp_path / "nope"
    assert trust.resolve_trust_dir({"X509_CERT_DIR": str(nope)}, diracos, None,
                                   sysdir).path == nope


def _fifo_dir(grid, tmp_path):
    """The user's CA directory with FIFOs, a device and a link loop under every name OpenSSL
    or fetch-crl opens."""
    d = grid.trust_dir(tmp_path / "ca")
    h = trust.subject_hash(grid.ca.cert)
    for name in (f"{h}.1", f"{h}.r1", "0badf00d.0", "0badf00d.info", "1badf00d.r0"):
        os.mkfifo(d / name)
    os.symlink("/dev/zero", d / "2badf00d.info")
    os.symlink("3badf00d.0", d / "3badf00d.0")
    os.symlink("gone.info", d / "4badf00d.info")
    return d


def test_special_files_in_the_ca_dir_are_named_never_opened_by_openssl(grid, tmp_path):
    import signal

    d = _fifo_dir(grid, tmp_path)
    signal.alarm(60)  # a FIFO opened for reading would block forever
    try:
        store = trust.scan_trust_dir(d)
        verdict = trust.verify_chain(grid.user.cert, [], store)
        by_path = trust.verify_chain(grid.user.cert, [], d)
    finally:
        signal.alarm(0)
    named = {p.name: p for p in store.bad_files}
    h = trust.subject_hash(grid.ca.cert)
    for name in (f"{h}.1", f"{h}.r1", "0badf00d.0", "0badf00d.info", "1badf00d.r0"):
        assert "named pipe (FIFO)" in named[name].message, name
        assert not named[name].harmless
        assert adv.file_fix(named[name].repair).render().startswith(f"rm {d / name}")
    assert "character device" in named["2badf00d.info"].message
    assert "symbolic link loop" in named["3badf00d.0"].message
    assert "4badf00d.info" not in named  # a dangling .info link blocks nothing
    assert str(d) not in named[f"{h}.1"].message  # the file's name, not its path
    assert verdict.ok and by_path.ok, verdict  # the real CAs and CRLs still verify
    assert len(store.cas) == 2


def test_ca_dir_problem_names_each_case(grid, tmp_path):
    def choice(p, source="$X509_CERT_DIR"):
        return trust.TrustDirChoice(p, source, str(p) if source == "$X509_CERT_DIR" else None)

    assert "does not exist" in trust.ca_dir_problem(choice(tmp_path / "nope"))
    f = tmp_path / "file"
    f.write_text("x")
    assert "is a file" in trust.ca_dir_problem(choice(f))
    e = tmp_path / "empty"
    e.mkdir()
    assert trust.ca_dir_problem(choice(e)) == f"X509_CERT_DIR={e} is empty: no CA " \
        "certificates are installed there"
    (e / "ca.pem").write_bytes(grid.root.cert_pem())
    assert "no CA certificate named <hash>.0" in trust.ca_dir_problem(choice(e, "DIRACOS"))
    assert trust.ca_dir_problem(choice(grid.trust_dir(tmp_path / "ok"))) is None


def test_bundle_fix_known_and_unknown(tmp_path):
    dns = ["/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B", "/C=XX/CN=Somebody CA"]
    text = adv.bundle_fix(tmp_path, dns, {"/C=XX/CN=Somebody CA": ""}).render()
    assert "wget https://repository.egi.eu/sw/production/cas/1/current/tgz/" \
           "ca_UKeScienceCA-2B-1.138.tar.gz" in text
    assert "# /C=XX/CN=Somebody CA: find the IGTF bundle (ca_*-1.138.tar.gz)" in text
    aliased = adv.bundle_fix(tmp_path, ["/C=XX/CN=Somebody CA"],
                               {"/C=XX/CN=Somebody CA": "XX-Somebody"}).render()
    assert "ca_XX-Somebody-1.138.tar.gz" in aliased


def test_bundle_fix_brings_the_root_an_issuing_ca_requires(tmp_path):
    # IGTF ships an issuing CA and its root as two bundles; the issuing CA alone verifies
    # nothing, so the fix for a missing CERN Grid CA installs CERN-Root-2 too, once.
    text = adv.bundle_fix(tmp_path, [trust.CERN_GRID_CA, trust.CERN_ROOT_CA_2], {}).render()
    assert "ca_CERN-GridCA-1.138.tar.gz" in text
    assert text.count("ca_CERN-Root-2-1.138.tar.gz") == text.count("ca_CERN-GridCA-1.138.tar.gz")
    root_only = adv.bundle_fix(tmp_path, [trust.CERN_ROOT_CA_2], {}).render()
    assert "CERN-GridCA" not in root_only


def test_scan_dedupes_hash_names_and_freshness(grid, tmp_path):
    pki = grid.pki
    crls = crls_for(pki, grid.cas)
    crls[id(grid.ca)] = pki.crl(grid.ca, next_update=pki.now + 3 * HOUR)
    d = write_trust_dir(tmp_path / "ca", grid.cas, crls, old_hash=True)
    store = trust.scan_trust_dir(d)
    assert len(store.cas) == 2 and all(len(ca.names) == 2 for ca in store.cas)
    assert len(store.crls) == 4 and len(store.read_crls()) == 2
    ages = trust.crl_freshness(store)
    assert [a.state for a in ages] == ["expiring"]
    assert trust.crl_freshness(store, now=pki.now + 8 * DAY)[0].state == "stale"
    assert trust.crl_freshness(store, warn_within=dt.timedelta(hours=1)) == []


def test_user_chain_and_focus(grid, tmp_path):
    store = trust.scan_trust_dir(grid.trust_dir(tmp_path / "ca"))
    chain = trust.user_chain(store, grid.user.cert)
    assert [c.subject for c in chain.cas] == ["/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA",
                                              "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test Root CA"]
    assert chain.missing_dn is None and not chain.cern
    assert trust.user_chain(store, None) == trust.UserChain()
    why = trust.focus(store, chain, [])
    fails, warns = trust.split_by_focus([(chain.cas[0], "a"), (None, "b")], why)
    assert fails == ["a (in your certificate's chain)"] and warns == ["b"]
    only_root = trust.scan_trust_dir(write_trust_dir(tmp_path / "r", [grid.root]))
    partial = trust.user_chain(only_root, grid.user.cert)
    assert partial.cas == () and partial.missing_dn == "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA"


def test_required_dns_adds_cern_for_cern_users():
    chain = trust.UserChain(cern=True)
    assert trust.required_dns(["/A"], chain) == ["/A", trust.CERN_ROOT_CA_2, trust.CERN_GRID_CA]
    assert trust.required_dns(["/A"], trust.UserChain()) == ["/A"]


def test_summarize_counts_the_rest():
    assert trust.summarize(list("abcdefg"), 3) == "a; b; c; and 4 more"


def test_scan_of_unreadable_path_is_empty(tmp_path):
    store = trust.scan_trust_dir(tmp_path / "missing")
    assert store.cas == [] and store.crls == {}


def test_crl_signature_check_slices_tbs_for_rsa_and_ec(grid):
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.support.pki_factory import new_key

    ec_ca = grid.pki.ca("EC CA", key=new_key(256, "ec"))
    for ca in (grid.ca, ec_ca):
        crl = grid.pki.crl(ca, filler=300)  # long enough for a multi-byte DER length
        der = crl.public_bytes(Encoding.DER)
        assert trust.crl_signed_by(crl, der, ca.cert)
        assert not trust.crl_signed_by(crl, der, grid.root.cert)
        tampered = bytearray(der)
        tampered[40] ^= 1
        assert not trust.crl_signed_by(crl, bytes(tampered), ca.cert)
    assert trust._der_tbs(b"\x30\x85garbage") is None


def test_ca_under_its_old_hash_name_only_is_a_file_problem(grid, tmp_path):
    """OpenSSL 1.0+ never looks a CA up under its MD5 name: alone, that name is CA-003's
    finding (with the mv), and the chain check names the same CA as missing."""
    d = write_trust_dir(tmp_path / "ca", [grid.root], crls_for(grid.pki, grid.cas))
    old = trust.subject_hash_old(grid.ca.cert)
    (d / f"{old}.0").write_bytes(grid.ca.cert_pem())
    store = trust.scan_trust_dir(d)
    (problem,) = store.bad_files
    assert problem.name == f"{old}.0" and "old-style (MD5) hash name only" in problem.message
    new = trust.subject_hash(grid.ca.cert)
    assert adv.file_fix(problem.repair).render() == f"mv {d}/{old}.0 {d}/{new}.0"
    dn = dn_slash(grid.ca.cert.subject)
    assert store.misnamed(dn) == [problem]
    verdict = trust.verify_chain(grid.user.cert, [], store)
    assert verdict.code == 20 and verdict.missing_issuer_dn == dn


def test_crl_of_a_rekeyed_ca_is_judged_against_the_copy_that_signed_it(grid, tmp_path):
    """A CA re-keyed under the same DN sits twice in the directory (<hash>.0 the old key,
    <hash>.1 the new one); its CRL is signed by the new key.  OpenSSL takes it (the oracle
    corpus, tests/peers/test_oracle_corpus.py), so the scan must not call it an impostor's;
    a CRL that neither copy signed still is one."""
    old = grid.pki.ca(subject=grid.ca.subject, parent=grid.root)  # same DN, another key
    d = write_trust_dir(tmp_path / "ca", [grid.root], crls_for(grid.pki, [grid.root]))
    h = trust.subject_hash(grid.ca.cert)
    (d / f"{h}.0").write_bytes(old.cert_pem())
    (d / f"{h}.1").write_bytes(grid.ca.cert_pem())
    crl = grid.pki.crl(grid.ca)
    (d / f"{h}.r0").write_bytes(crl.public_bytes(_PEM))
    (good,) = [c for c in trust.scan_trust_dir(d).crls.values() if c.name == f"{h}.r0"]
    assert good.problem == "" and good.ca is not None and good.ca.cert == grid.ca.cert
    assert trust.bad_crls(trust.scan_trust_dir(d)) == []
    assert trust.verify_chain(grid.user.cert, [], d).ok  # and OpenSSL agrees
    # a fresh key: the factory's pool cycles, and a pooled one may be grid.ca's own
    foreign = grid.pki.crl(grid.ca, signer=grid.pki.ca("Somebody Else",
                                                       key=new_key(fresh=True)))
    (d / f"{h}.r0").write_bytes(foreign.public_bytes(_PEM))
    (bad,) = trust.bad_crls(trust.scan_trust_dir(d))
    assert "not signed by that CA's key" in bad.problem


# ------------------------------------------------------------------------- look-alikes (issue 19)


def _info(dn: str, alias: str, cert, email: str = "ca@example.org") -> bytes:
    from cryptography.hazmat.primitives import hashes

    fp = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA1()))
    return (f'alias = {alias}\nemail = {email}\nsha1fp.0 = {fp}\nsubjectdn = "{dn}"\n').encode()


def test_a_lookalike_issuer_is_a_gap_the_directory_cannot_settle_alone(grid, tmp_path):
    """Same DN as the user's CA, another key: the walk stops at the user's certificate, and
    without IGTF .info files both readings are given, with the genuine bundle and the CA."""
    double = grid.pki.ca(subject=grid.ca.subject, parent=grid.root, key=new_key(fresh=True))
    store = trust.scan_trust_dir(write_trust_dir(tmp_path / "d", [grid.root, double]))
    chain = trust.user_chain(store, grid.user.cert)
    assert chain.gap is not None and chain.gap.holder is None
    assert [ca.cert for ca in chain.gap.same_name] == [double.cert]
    finding = trust.explain_gap(store, chain.gap)
    issuer = dn_slash(grid.ca.subject)
    assert "does not verify with the key of the CA certificate installed under that name" in (
        finding.message)
    assert "the directory alone cannot tell which" in finding.message
    assert finding.reinstall == (issuer,) and finding.ask_issuer
    fix = adv.gap_fix(store, finding, "CA-006").render()
    assert "genuine IGTF bundle" in fix and "if CA-006 still fails afterwards" in fix
    # The directory itself is consistent: CA-004 has nothing to say about it.
    assert not any(r.problem for r in trust.check_required(store, [issuer]))


def test_igtf_fingerprints_tell_which_side_is_the_lookalike(grid, tmp_path):
    issuer = dn_slash(grid.ca.subject)
    d = write_trust_dir(tmp_path / "genuine", [grid.root, grid.ca])
    (d / "TestCA.info").write_bytes(_info(issuer, "TestCA", grid.ca.cert))
    forged = grid.pki.user(grid.pki.ca(subject=grid.ca.subject, key=new_key(fresh=True)),
                           "Olga Forged")
    store = trust.scan_trust_dir(d)
    finding = trust.explain_gap(store, trust.user_chain(store, forged.cert).gap)
    assert "your certificate was issued by another CA that uses the same name" in finding.message
    assert finding.ask_issuer and not finding.reinstall and finding.contact == "ca@example.org"
    assert "no CA bundle can fix this" in adv.gap_fix(store, finding, "CA-006").render()
    # The CA file replaced by a look-alike while its .info stays: the file is the impostor.
    double = grid.pki.ca(subject=grid.ca.subject, parent=grid.root, key=new_key(fresh=True))
    d2 = write_trust_dir(tmp_path / "replaced", [grid.root, double])
    (d2 / "TestCA.info").write_bytes(_info(issuer, "TestCA", grid.ca.cert))
    store2 = trust.scan_trust_dir(d2)
    finding2 = trust.explain_gap(store2, trust.user_chain(store2, grid.user.cert).gap)
    assert "is not the certificate its IGTF bundle ships" in finding2.message
    assert finding2.reinstall == (issuer,) and not finding2.ask_issuer
    assert adv.bundle_fix(d2, [issuer], store2.aliases).render().count("TestCA-") >= 1


def test_two_required_cas_that_do_not_belong_together_are_one_story(grid, tmp_path):
    """A look-alike root: the intermediate does not verify with it, and CA-004 says the two
    do not belong together (not that the intermediate is 'not the real CA')."""
    root2 = grid.pki.ca(subject=grid.root.subject, key=new_key(fresh=True))
    store = trust.scan_trust_dir(write_trust_dir(tmp_path / "d", [root2, grid.ca]))
    dns = [dn_slash(grid.root.subject), dn_slash(grid.ca.subject)]
    results = {r.dn: r for r in trust.check_required(store, dns)}
    bad = results[dn_slash(grid.ca.subject)]
    assert "the two certificates do not belong together" in bad.problem
    assert "not the real CA certificate" not in bad.problem
    assert set(bad.reinstall) == set(dns)
    assert not results[dn_slash(grid.root.subject)].problem
    chain = trust.user_chain(store, grid.user.cert)
    assert chain.gap.holder is not None
    assert trust.required_problem(store, dns, chain.gap.issuer_dn, chain.gap.holder.subject)


def test_a_ca_with_a_key_that_cannot_be_read_is_a_named_file_problem(grid, tmp_path):
    from tests.support import malformed as M

    bad = M.CERTIFICATE_MUTATIONS["key-rsa-garbage"](grid.ca.cert, grid.root.key)
    d = write_trust_dir(tmp_path / "d", [grid.root, grid.ca], crls_for(grid.pki, grid.cas))
    (d / f"{trust.subject_hash(grid.ca.cert)}.0").write_bytes(M.cert_pem(bad))
    store = trust.scan_trust_dir(d)
    problems = store.unusable(dn_slash(grid.ca.subject))
    assert problems and "RSA public key that cannot be decoded" in problems[0].message
    # Its CRL is no problem of its own (nothing can be checked with that CA's key).
    assert not trust.bad_crls(store)
    chain = trust.user_chain(store, grid.user.cert)
    finding = trust.explain_gap(store, chain.gap)
    assert "that CA file is damaged" in finding.message


def test_damaged_crls_are_named_not_raised(grid, tmp_path):
    from tests.support import malformed as M

    mutated = M.crl_mutations(grid.pki.crl(grid.ca), grid.ca.key)
    expect = {"crl-version-5": "claims CRL version 5", "crl-duplicate-number":
              "CRL number (2.5.29.20) twice", "crl-issuer-not-text": "issuer name",
              "crl-entry-date-garbage": "revocation date", "crl-next-update-year-0":
              "nextUpdate", "crl-entry-invalidity-date-garbage": "cannot be loaded by OpenSSL"}
    for name, words in expect.items():
        d = write_trust_dir(tmp_path / name, [grid.root, grid.ca])
        (d / f"{trust.subject_hash(grid.ca.cert)}.r0").write_bytes(M.crl_pem(mutated[name]))
        store = trust.scan_trust_dir(d)
        mine = trust.focus(store, trust.user_chain(store, grid.user.cert), [])
        found = [c.problem for c in trust.bad_crls(store, mine)]
        assert any(words in p for p in found), (name, found)
        # OpenSSL's chain check then has no CRL for that CA, and says so without breaking.
        verdict = trust.verify_chain(grid.user.cert, [], store)
        assert verdict.code == trust.X509_V_ERR_UNABLE_TO_GET_CRL, (name, verdict)
        assert "cannot be used" in verdict.reason
