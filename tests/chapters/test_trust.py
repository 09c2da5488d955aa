"""The CA and CRL chapters end to end: real trust dirs, real diagnosis runs, JUnit verdicts.

The world here looks like a Mu3e user's: a (test) UK e-Science Root and CA 2B with the real
DNs, a user under CA 2B, both OpenSSL hash names as IGTF ships them, and fresh CRLs.  Every run
points ``--mu3e-system-cert-dir`` at an empty tmp dir, so the machine's populated
/etc/grid-security/certificates never takes part.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mu3e_checks.knowledge.trust import CERN_GRID_CA, CERN_ROOT_CA_2, subject_hash
from mu3e_checks.settings import DEFAULT_REQUIRED_CAS
from tests.support.pki_factory import (
    DAY,
    crls_for,
    dn,
    subject_hash_old,
    write_credentials,
    write_trust_dir,
)
from tests.support.runner import run_checks
from tests.support.worlds import UKGrid, complete_setup

UK_2B, UK_ROOT = DEFAULT_REQUIRED_CAS
TRUST_CHECKS = ["CA-001", "CA-002", "CA-003", "CA-004", "CA-005", "CA-006", "CRL-001",
                "CRL-002", "CRL-003", "CRL-004"]


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def trust_run(home, *args, env=None, select="CA,CRL"):
    sysdir = home.parent / "system-certificates"
    sysdir.mkdir(exist_ok=True)
    return run_checks(home, "--mu3e-select", select, "--mu3e-system-cert-dir", str(sysdir),
                      *args, env=env)


def test_good_trust_dir_passes(uk, tmp_path):
    home = uk.home(tmp_path)
    r = trust_run(home)
    for cid in TRUST_CHECKS:
        assert r.outcome(cid) == "passed", (cid, r[cid].message, r.stdout[-2000:])
    assert r.returncode == 0


def test_stale_crl_of_users_ca_fails_with_fetch_crl(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, last_update=uk.pki.now - 9 * DAY,
                                 next_update=uk.pki.now - DAY)
    home = uk.home(tmp_path, crls=crls)
    r = trust_run(home)
    case = r["CRL-003"]
    assert case.outcome == "failed"
    assert UK_2B in case.message and "expired" in case.message
    assert f"{subject_hash(uk.ca.cert)}.r0" in case.message
    assert case.fix == ("module use unstable; module load fetch-crl   # on Merlin7\n"
                        f"fetch-crl -l {uk.cadir(home)}")
    assert r.outcome("CRL-004") == "skipped" and "CRL-003" in r["CRL-004"].message
    assert r.failed() == ["CRL-003"]
    assert r.returncode == 1


def test_stale_crl_of_unrelated_ca_only_warns(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.other)] = uk.pki.crl(uk.other, last_update=uk.pki.now - 9 * DAY,
                                    next_update=uk.pki.now - DAY)
    r = trust_run(uk.home(tmp_path, crls=crls))
    assert r.outcome("CRL-003") == "warned"
    assert "1 CRL(s) of CAs you do not rely on" in r["CRL-003"].message
    assert r.outcome("CRL-004") == "passed"
    assert r.returncode == 0


def test_crl_expiring_within_a_day_warns(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, next_update=uk.pki.now + dt_hours(5))
    r = trust_run(uk.home(tmp_path, crls=crls))
    assert r.outcome("CRL-003") == "warned"
    assert "expire within 24 h" in r["CRL-003"].message
    assert "fetch-crl -l" in r["CRL-003"].fix


def dt_hours(n):
    import datetime as dt

    return dt.timedelta(hours=n)


def test_revoked_user_certificate_fails(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, [uk.user], filler=20)
    r = trust_run(uk.home(tmp_path, crls=crls))
    case = r["CRL-004"]
    assert case.outcome == "failed"
    assert "jane physicist has been revoked by its CA" in case.message
    assert UK_2B in case.message
    assert "request a new grid certificate" in case.fix
    assert r.failed() == ["CRL-004"]


def test_missing_required_ca_fails_with_egi_tarballs(uk, tmp_path):
    pki = uk.pki
    root = pki.ca("Mu3e Test Root CA")
    ca = pki.ca("Mu3e Test User CA", parent=root)
    home = uk.home(tmp_path, user=pki.user(ca), cas=[root, ca])
    r = trust_run(home)
    case = r["CA-004"]
    assert case.outcome == "failed"
    assert f"{UK_2B} is not installed in {uk.cadir(home)}" in case.message
    assert UK_ROOT in case.message
    egi = "https://repository.egi.eu/sw/production/cas/1/current/tgz/"
    assert f"wget {egi}ca_UKeScienceCA-2B-1.138.tar.gz" in case.fix
    assert f"wget {egi}ca_UKeScienceRoot-2007-1.138.tar.gz" in case.fix
    assert (f"tar xvzf ~/Downloads/ca_UKeScienceCA-2B-1.138.tar.gz --strip-components=1 "
            f"-C {uk.cadir(home)}/") in case.fix
    assert r.outcome("CA-006") == "passed"  # the user's own chain is there
    assert r.failed() == ["CA-004"]


def test_required_ca_with_the_right_name_but_another_key_fails(uk, tmp_path):
    impostor_root = uk.pki.ca("Somebody")
    fake_2b = uk.pki.ca(subject=dn(UK_2B), parent=impostor_root)
    # Re-issue it so it *claims* the UK Root as issuer while another key signed it.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    c = fake_2b.cert
    forged = (x509.CertificateBuilder().subject_name(c.subject).issuer_name(dn(UK_ROOT))
              .public_key(c.public_key()).serial_number(c.serial_number)
              .not_valid_before(c.not_valid_before_utc).not_valid_after(c.not_valid_after_utc)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(impostor_root.key, hashes.SHA256()))
    fake_2b.cert = forged
    home = uk.home(tmp_path, cas=[uk.root, fake_2b, uk.other])
    r = trust_run(home)
    assert r.outcome("CA-004") == "failed"
    assert "signature does not verify" in r["CA-004"].message
    assert "ca_UKeScienceCA-2B-1.138.tar.gz" in r["CA-004"].fix


def test_cern_certificate_requires_cern_cas(uk, tmp_path):
    root = uk.pki.ca(subject=dn(CERN_ROOT_CA_2))
    grid_ca = uk.pki.ca(subject=dn(CERN_GRID_CA), parent=root)
    user = uk.pki.user(grid_ca, subject=dn(
        "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe"))
    home = uk.home(tmp_path, user=user)
    r = trust_run(home)
    case = r["CA-004"]
    assert case.outcome == "failed"
    assert "ca_CERN-Root-2-1.138.tar.gz" in case.fix and "ca_CERN-GridCA-1.138.tar.gz" in case.fix
    assert "ca_UKeScience" not in case.fix
    # The user's missing issuer is a required CA: one failure (CA-004), CA-006 names it.
    assert r.outcome("CA-006") == "skipped" and "CA-004" in r["CA-006"].message
    assert r.failed() == ["CA-004"]
    # With the CERN CAs installed everything passes.
    home2 = uk.home(tmp_path / "ok", user=user, cas=uk.cas + [root, grid_ca])
    r2 = trust_run(home2)
    for cid in TRUST_CHECKS:
        assert r2.outcome(cid) == "passed", (cid, r2[cid].message)


def test_x509_cert_dir_empty_fails_with_export_fix(uk, tmp_path):
    home = uk.home(tmp_path)
    empty = tmp_path / "empty-cadir"
    empty.mkdir()
    r = trust_run(home, env={"X509_CERT_DIR": str(empty)})
    case = r["CA-001"]
    assert case.outcome == "failed"
    assert f"X509_CERT_DIR={empty} is empty" in case.message
    assert "No valid CA dir found" in case.message
    assert case.fix.startswith(f"export X509_CERT_DIR={uk.cadir(home)}")
    for cid in TRUST_CHECKS[2:]:
        assert r.outcome(cid) == "skipped" and "CA-001" in r[cid].message, cid
    assert r.failed() == ["CA-001"]


def test_x509_cert_dir_missing_and_nothing_installed(tmp_path, uk):
    home = tmp_path / "home"
    write_credentials(home / ".globus", uk.user)
    r = trust_run(home, env={"X509_CERT_DIR": str(tmp_path / "nope")})
    case = r["CA-001"]
    assert case.outcome == "failed" and "does not exist" in case.message
    assert "ca_UKeScienceRoot-2007-1.138.tar.gz" in case.fix
    assert f"export X509_CERT_DIR={uk.cadir(home)}" in case.fix


def test_default_dir_missing_gives_the_guide_install(tmp_path, uk):
    home = tmp_path / "home"
    write_credentials(home / ".globus", uk.user)
    r = trust_run(home)
    case = r["CA-001"]
    assert case.outcome == "failed"
    assert f"mkdir -p {uk.cadir(home)}" in case.fix
    assert "export" not in case.fix


def test_trust_dir_symlink_loop_is_a_sentence(tmp_path, uk):
    home = uk.home(tmp_path)
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    r = trust_run(home, env={"X509_CERT_DIR": str(loop)})
    assert r.outcome("CA-001") == "failed"
    assert "symbolic link loop" in r["CA-001"].message


def test_hash_name_mismatch_fails_with_mv(uk, tmp_path):
    home = uk.home(tmp_path)
    cadir = uk.cadir(home)
    wrong = cadir / "0badc0de.0"
    wrong.write_bytes(uk.pki.ca("Stray CA").cert_pem())
    r = trust_run(home)
    case = r["CA-003"]
    assert case.outcome == "failed"
    assert "0badc0de.0 holds /C=CH/O=Mu3e Test Grid/CN=Stray CA" in case.message
    assert case.fix.startswith(f"mv {wrong} {cadir}/")
    assert r.failed() == ["CA-003"]


def test_copy_under_a_wrong_name_of_an_installed_ca_only_warns(uk, tmp_path):
    home = uk.home(tmp_path)
    (uk.cadir(home) / "0badc0de.0").write_bytes(uk.root.cert_pem())
    r = trust_run(home, select="CA-003")
    assert r.outcome("CA-003") == "warned"
    assert r["CA-003"].fix == f"rm {uk.cadir(home)}/0badc0de.0"


def test_broken_symlink_garbage_and_der_ca_files_fail(uk, tmp_path):
    home = uk.home(tmp_path)
    cadir = uk.cadir(home)
    os.symlink("GoneCA.pem", cadir / "11111111.0")
    (cadir / "22222222.0").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    der_ca = uk.pki.ca("DER CA")
    (cadir / f"{subject_hash(der_ca.cert)}.0").write_bytes(der_ca.cert_der())
    r = trust_run(home, select="CA-003")
    case = r["CA-003"]
    assert case.outcome == "failed"
    assert "3 CA file(s)" in case.message
    assert "11111111.0 is a broken symbolic link (to GoneCA.pem)" in case.message
    assert "22222222.0" in case.message and "truncated" in case.message
    assert "DER (binary)" in case.message
    assert "openssl x509 -inform der" in case.fix
    assert f"rm {cadir}/11111111.0" in case.fix


def test_missing_crl_of_users_ca_fails_unrelated_warns(uk, tmp_path):
    crls = crls_for(uk.pki, [uk.root, uk.other])
    r = trust_run(uk.home(tmp_path, crls=crls))
    case = r["CRL-001"]
    assert case.outcome == "failed"
    assert f"{UK_2B} has no {subject_hash(uk.ca.cert)}.r0" in case.message
    assert "fetch-crl -l" in case.fix
    crls2 = crls_for(uk.pki, [uk.root, uk.ca])
    r2 = trust_run(uk.home(tmp_path / "b", crls=crls2), select="CRL")
    assert r2.outcome("CRL-001") == "warned"
    assert "1 CA(s) you do not rely on have no CRL" in r2["CRL-001"].message
    assert r2.outcome("CRL-004") == "passed"


def test_no_crls_at_all(uk, tmp_path):
    r = trust_run(uk.home(tmp_path, crls={}), select="CRL")
    assert r.outcome("CRL-001") == "failed"
    assert "no CRL files" in r["CRL-001"].message


def test_der_crl_and_foreign_signature_fail(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, signer=uk.other)
    home = uk.home(tmp_path, crls=crls)
    r = trust_run(home, select="CRL")
    assert r.outcome("CRL-002") == "failed"
    assert "not signed by that CA's key" in r["CRL-002"].message
    assert "fetch-crl -l" in r["CRL-002"].fix
    home2 = uk.home(tmp_path / "der", crl_der=True)
    r2 = trust_run(home2, select="CRL")
    case = r2["CRL-002"]
    assert case.outcome == "failed" and "DER (binary)" in case.message
    crl = uk.cadir(home2) / f"{subject_hash(uk.ca.cert)}.r0"
    assert f"openssl crl -inform der -in {crl} -out {crl}.pem && mv {crl}.pem {crl}" in case.fix


def test_truncated_crl_fails(uk, tmp_path):
    home = uk.home(tmp_path)
    crl = uk.cadir(home) / f"{subject_hash(uk.ca.cert)}.r0"
    crl.write_bytes(crl.read_bytes()[:200])
    r = trust_run(home, select="CRL")
    assert r.outcome("CRL-002") == "failed"
    assert "damaged or truncated" in r["CRL-002"].message


def test_expired_unrelated_ca_warns_expired_chain_ca_fails(uk, tmp_path):
    old = uk.pki.ca("Old Grid CA", expired=True)
    r = trust_run(uk.home(tmp_path, cas=uk.cas + [old]))
    assert r.outcome("CA-005") == "warned"
    assert "1 CA certificate(s) you do not rely on" in r["CA-005"].message
    assert r.returncode == 0
    old_2b = uk.pki.ca(subject=dn(UK_2B), parent=uk.root, expired=True)
    user = uk.pki.user(old_2b, subject=uk.user.cert.subject)
    r2 = trust_run(uk.home(tmp_path / "b", user=user, cas=[uk.root, old_2b]))
    case = r2["CA-005"]
    assert case.outcome == "failed"
    assert f"{UK_2B} expired on" in case.message and "in your certificate's chain" in case.message
    assert "ca_UKeScienceCA-2B-1.138.tar.gz" in case.fix
    assert r2.outcome("CA-006") == "skipped" and "CA-005" in r2["CA-006"].message


def test_two_populated_ca_dirs_warn(uk, tmp_path):
    home = uk.home(tmp_path)
    sysdir = home.parent / "system-certificates"
    write_trust_dir(sysdir, [uk.other])
    r = trust_run(home, select="CA-002")
    case = r["CA-002"]
    assert case.outcome == "warned"
    assert f"both {sysdir} and {uk.cadir(home)} hold CA certificates" in case.message
    assert case.fix.startswith(f"export X509_CERT_DIR={uk.cadir(home)}")
    assert r.returncode == 0
    r2 = trust_run(home, "--mu3e-strict", select="CA-002")
    assert r2.returncode == 1


def test_crl_issued_in_the_future_fails(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, last_update=uk.pki.now + 2 * DAY,
                                 next_update=uk.pki.now + 9 * DAY)
    r = trust_run(uk.home(tmp_path, crls=crls), select="CRL-003")
    assert r.outcome("CRL-003") == "failed"
    assert "clock" in r["CRL-003"].message


def test_crl_file_under_another_cas_name(uk, tmp_path):
    home = uk.home(tmp_path)
    cadir = uk.cadir(home)
    (cadir / f"{subject_hash(uk.other.cert)}.r0").write_bytes(
        uk.pki.crl(uk.ca).public_bytes(Encoding.PEM))
    r = trust_run(home, select="CRL-002")
    assert r.outcome("CRL-002") == "warned"
    assert "but its name belongs to /C=CH/O=Mu3e Test Grid/CN=Unrelated Grid CA" \
        in r["CRL-002"].message


def test_required_ca_under_a_wrong_hash_name_is_one_failure(uk, tmp_path):
    """Issue 14: one root cause (UK CA 2B saved under a name OpenSSL never opens), one
    failure (CA-003's mv); CA-004 passes with a note, and every check that depends on the
    chain is skipped naming CA-003, not CA-004."""
    home, env = complete_setup(uk, tmp_path)
    cadir = uk.cadir(home)
    for h in (subject_hash(uk.ca.cert), subject_hash_old(uk.ca.cert)):
        (cadir / f"{h}.0").unlink()
    (cadir / "0badc0de.0").write_bytes(uk.ca.cert_pem())
    r = run_checks(home, env=env)
    assert r.failed() == ["CA-003"], {c: r[c].message for c in r.failed()}
    assert r["CA-003"].fix.startswith(
        f"mv {cadir}/0badc0de.0 {cadir}/{subject_hash(uk.ca.cert)}.0")
    assert r.outcome("CA-004") == "passed"
    assert "0badc0de.0" in r["CA-004"].properties["note"]
    assert "CA-003" in r["CA-004"].properties["note"]
    for cid in ("CA-006", "CRL-004", "PROXY-006"):
        case = r[cid]
        assert case.outcome == "skipped" and "CA-003" in case.message, (cid, case.message)
        assert "CA-004" not in case.message, (cid, case.message)
    assert r.returncode == 1


def test_fifos_devices_and_loops_in_the_ca_dir_are_named_findings(uk, tmp_path):
    """Issue 10: FIFOs named like CA files, CRLs and .info files, /dev/zero as a .info file and
    a link loop: the whole diagnosis finishes, and CA-003 names each of them."""
    home, env = complete_setup(uk, tmp_path)
    cadir = uk.cadir(home)
    h = subject_hash(uk.ca.cert)
    fifos = [f"{h}.1", f"{h}.r1", "0badf00d.0", f"{h}.info"]
    for name in fifos:
        os.mkfifo(cadir / name)
    os.symlink("/dev/zero", cadir / "UKeScienceCA-2B.info")
    os.symlink("1badf00d.0", cadir / "1badf00d.0")
    r = run_checks(home, env=env, timeout=120)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert "INTERNALERROR" not in r.stdout + r.stderr and "Traceback" not in r.stdout
    case = r["CA-003"]
    assert case.outcome == "failed"
    for name in fifos + ["UKeScienceCA-2B.info", "1badf00d.0"]:
        assert name in case.message, name
    assert "named pipe (FIFO)" in case.message and "character device" in case.message
    assert "symbolic link loop" in case.message
    for name in fifos:
        assert f"rm {cadir / name}" in case.fix
    # The real CAs and CRLs are still read: the user's chain verifies with CRLs.
    assert r.outcome("CA-006") == "passed" and r.outcome("CA-004") == "passed"


def test_fifos_in_place_of_the_users_ca_and_crl_finish_with_named_findings(uk, tmp_path):
    """The FIFOs take the very names OpenSSL would open for the user's CA (``<hash>.0``) and
    its CRL (``<hash>.r0``): the run still ends, and CA-003 names both files."""
    home, env = complete_setup(uk, tmp_path)
    cadir = uk.cadir(home)
    h = subject_hash(uk.ca.cert)
    for name in (f"{h}.0", f"{h}.r0"):
        (cadir / name).unlink()
        os.mkfifo(cadir / name)
    r = run_checks(home, env=env, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "INTERNALERROR" not in r.stdout + r.stderr and "Traceback" not in r.stdout
    case = r["CA-003"]
    assert case.outcome == "failed"
    assert f"{h}.0 is a named pipe (FIFO)" in case.message
    assert f"{h}.r0 is a named pipe (FIFO)" in case.message
    assert f"rm {cadir / (h + '.0')}" in case.fix


def test_lookalike_issuing_ca_is_not_ready(uk, tmp_path):
    """Issue 19: a CA with the UK e-Science CA 2B name but another key signed the user's
    certificate; openssl verify says error 20.  CA-006 fails naming the look-alike, with the
    genuine bundle and whom to ask, in the terminal too; nothing else fails for it."""
    from tests.support.pki_factory import new_key

    lookalike = uk.pki.ca(subject=dn(UK_2B), parent=uk.root, key=new_key(fresh=True))
    user = uk.pki.user(lookalike, subject=uk.user.subject, key=uk.user.key)
    home = uk.home(tmp_path, user=user)
    r = trust_run(home)
    case = r["CA-006"]
    assert case.outcome == "failed", (case.outcome, case.message)
    assert f"names {UK_2B} as its issuer, but its signature does not verify" in case.message
    assert "the directory alone cannot tell which" in case.message
    assert "error 20" in case.message
    assert "ca_UKeScienceCA-2B-1.138.tar.gz" in case.fix
    assert "your certificate was not issued by the real" in case.fix
    assert r.failed() == ["CA-006"]
    assert r.outcome("CRL-004") == "skipped" and "CA-006" in r["CRL-004"].message
    assert "CA-006" in r.stdout and "look-alike" in r.stdout  # the terminal shows it
    assert r.returncode == 1


def test_lookalike_root_is_one_failure_in_the_same_words(uk, tmp_path):
    """The oracle corpus's look-alike root: CA 2B does not verify with the root installed
    under its issuer's name.  CA-004 says the two do not belong together (not which one is
    the impostor: the directory cannot tell), and CA-006 defers to it."""
    from tests.support.pki_factory import new_key

    root2 = uk.pki.ca(subject=dn(UK_ROOT), key=new_key(fresh=True))
    r = trust_run(uk.home(tmp_path, cas=[root2, uk.ca, uk.other]))
    assert r.failed() == ["CA-004"], {c: r[c].message for c in r.failed()}
    assert "the two certificates do not belong together" in r["CA-004"].message
    assert "not the real CA certificate" not in r["CA-004"].message
    fix = r["CA-004"].fix
    assert "ca_UKeScienceCA-2B-1.138.tar.gz" in fix and "ca_UKeScienceRoot-2007" in fix
    assert r.outcome("CA-006") == "skipped" and "CA-004" in r["CA-006"].message
