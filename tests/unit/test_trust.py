"""Knowledge functions of the trust store, called directly on tmp dirs (no pytest plumbing)."""

from __future__ import annotations

import datetime as dt
import os

from mu3e_checks.knowledge import trust
from tests.support.pki_factory import DAY, HOUR, crls_for, write_trust_dir


def test_two_dirs_problem_only_when_both_are_populated(grid, tmp_path):
    diracos = tmp_path / "diracos"
    sysdir = tmp_path / "system"
    sysdir.mkdir()
    assert trust.two_dirs_problem({}, diracos, sysdir) is None  # nothing anywhere
    grid.trust_dir(trust.diracos_cert_dir(diracos))
    assert trust.two_dirs_problem({}, diracos, sysdir) is None  # system dir empty
    (sysdir / "README").write_text("not a CA")
    assert trust.two_dirs_problem({}, diracos, sysdir) is None  # no <hash>.N in it
    grid.trust_dir(sysdir)
    text = trust.two_dirs_problem({}, diracos, sysdir)
    assert text and "already uses the system directory" in text
    exported = {"X509_CERT_DIR": str(trust.diracos_cert_dir(diracos))}
    text = trust.two_dirs_problem(exported, diracos, sysdir)
    assert text and "this shell exports X509_CERT_DIR" in text
    # One directory reached through two paths is one directory.
    link = tmp_path / "diracos2"
    os.symlink(diracos, link)
    assert trust.two_dirs_problem({}, link, trust.diracos_cert_dir(diracos)) is None


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
    text = trust.bundle_fix(tmp_path, dns, {"/C=XX/CN=Somebody CA": ""}).render()
    assert "wget https://repository.egi.eu/sw/production/cas/1/current/tgz/" \
           "ca_UKeScienceCA-2B-1.138.tar.gz" in text
    assert "# /C=XX/CN=Somebody CA: find its ca_<name>-1.138.tar.gz" in text
    aliased = trust.bundle_fix(tmp_path, ["/C=XX/CN=Somebody CA"],
                               {"/C=XX/CN=Somebody CA": "XX-Somebody"}).render()
    assert "ca_XX-Somebody-1.138.tar.gz" in aliased


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
