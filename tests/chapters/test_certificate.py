"""The "Install User Certificates" chapter, end to end: real homes, real runs, JUnit verdicts."""

from __future__ import annotations

import os
import shutil

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from tests.support.pki_factory import pem, write_credentials
from tests.support.runner import run_checks, unprivileged_command


def test_good_home_passes_every_certificate_check(grid, tmp_path):
    home = grid.home(tmp_path)
    r = run_checks(home, "--mu3e-select", "CERT")
    for cid in [f"CERT-00{n}" for n in range(1, 10)]:
        assert r.outcome(cid) == "passed", (cid, r[cid].message)
    assert r.returncode == 0, r.stdout
    assert "READY" in r.stdout


def test_key_mode_644_fails_with_chmod_fix(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    r = run_checks(home, "--mu3e-select", "CERT")
    case = r["CERT-003"]
    assert case.outcome == "failed"
    assert "mode 644" in case.message
    key = home / ".globus" / "userkey.pem"
    assert case.fix == f"chmod 600 {key}"
    assert r.returncode == 1
    # The fix reaches the terminal summary too, in order.
    assert f"chmod 600 {key}" in r.stdout


def test_key_mode_400_is_fine(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o400)
    assert run_checks(home, "--mu3e-select", "CERT-003").outcome("CERT-003") == "passed"


def test_only_p12_gives_openssl_pkcs12_fix(grid, tmp_path):
    home = tmp_path / "home"
    (home / ".globus").mkdir(parents=True)
    p12 = home / "my_personal_CERN_cert.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"me", grid.user.key, grid.user.cert, None, BestAvailableEncryption(b"pw")))
    r = run_checks(home, "--mu3e-select", "CERT")
    case = r["CERT-001"]
    assert case.outcome == "failed"
    assert f"openssl pkcs12 -in {p12} -clcerts -nokeys -out {home}/.globus/usercert.pem" \
        in case.fix
    assert f"openssl pkcs12 -in {p12} -nocerts -nodes -out {home}/.globus/userkey.pem" in case.fix
    # An AES export (what cryptography writes): OpenSSL 3 reads it without -legacy, and the
    # fix does not send the user after a problem this file cannot have.
    assert "-legacy" not in case.fix
    # One root cause, one failure: the dependants are skipped naming CERT-001.
    for cid in ("CERT-003", "CERT-004", "CERT-005", "CERT-006"):
        assert r.outcome(cid) == "skipped", cid
        assert "CERT-001" in r[cid].message
    assert r.outcome("CERT-007") == "skipped" and "CERT-001" in r["CERT-007"].message
    assert r.failed() == ["CERT-001"]


def test_nothing_at_all_fails_with_copy_instructions(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-001") == "failed"
    assert f"mkdir -p {home}/.globus" in r["CERT-001"].fix


def test_mismatched_key_fails(grid, tmp_path):
    home = grid.home(tmp_path)
    other = grid.pki.user(grid.ca, "Someone Else")
    (home / ".globus" / "userkey.pem").write_bytes(other.key_pem())
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-007") == "failed"
    assert "not the private key" in r["CERT-007"].message
    assert "openssl pkcs12" in r["CERT-007"].fix
    assert r.returncode == 1


def test_expired_certificate_names_the_date(grid, tmp_path):
    user = grid.pki.user(grid.ca, expired=True)
    home = grid.home(tmp_path, user=user)
    r = run_checks(home, "--mu3e-select", "CERT")
    case = r["CERT-008"]
    assert case.outcome == "failed"
    assert user.cert.not_valid_after_utc.strftime("%Y-%m-%d") in case.message
    assert "renew" in case.fix


def test_not_yet_valid_certificate_mentions_the_clock(grid, tmp_path):
    home = grid.home(tmp_path, user=grid.pki.user(grid.ca, not_yet_valid=True))
    r = run_checks(home, "--mu3e-select", "CERT-008")
    assert r.outcome("CERT-008") == "failed"
    assert "clock" in r["CERT-008"].message
    assert "date -u" in r["CERT-008"].fix


def test_expiring_soon_warns_and_keeps_exit_code_zero(grid, tmp_path):
    home = grid.home(tmp_path, user=grid.pki.user(grid.ca, days=10))
    r = run_checks(home, "--mu3e-select", "CERT")
    case = r["CERT-008"]
    assert case.outcome == "warned"
    assert "expires in" in case.properties["warning"]
    assert "renew" in case.fix
    assert r.returncode == 0
    strict = run_checks(home, "--mu3e-select", "CERT", "--mu3e-strict")
    assert strict.outcome("CERT-008") == "failed"
    assert strict.returncode == 1


def test_garbage_usercert_is_a_clear_failure(grid, tmp_path):
    home = grid.home(tmp_path)
    (home / ".globus" / "usercert.pem").write_bytes(b"\x00\xffthis is not a certificate\n")
    r = run_checks(home, "--mu3e-select", "CERT")
    case = r["CERT-005"]
    assert case.outcome == "failed"
    assert "no PEM certificate" in case.message
    assert "Traceback" not in r.stdout and "INTERNALERROR" not in r.stdout + r.stderr
    assert r.outcome("CERT-007") == "skipped" and "CERT-005" in r["CERT-007"].message


@pytest.mark.parametrize("content,expect", [
    (lambda g: g.user.cert_der(), "DER"),
    (lambda g: g.user.cert_pem()[:300], "never ends"),
    (lambda g: b"", "empty"),
    (lambda g: g.ca.cert_pem(), "only CA"),
])
def test_bad_usercert_shapes(grid, tmp_path, content, expect):
    home = grid.home(tmp_path)
    (home / ".globus" / "usercert.pem").write_bytes(content(grid))
    r = run_checks(home, "--mu3e-select", "CERT-005")
    assert r.outcome("CERT-005") == "failed"
    assert expect in r["CERT-005"].message


def test_bag_attributes_and_chain_in_usercert(grid, tmp_path):
    home = grid.home(tmp_path)
    bag = (b"Bag Attributes\n    localKeyID: 01 02 03\nsubject=/CN=x\nissuer=/CN=y\n"
           + pem(grid.user) + b"Bag Attributes\n" + pem(grid.ca))
    (home / ".globus" / "usercert.pem").write_bytes(bag)
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-005") == "warned"
    assert "1 other certificate" in r["CERT-005"].message
    assert r.outcome("CERT-007") == "passed"


def test_encrypted_key_without_passphrase_skips_match_with_reason(grid, tmp_path):
    home = grid.home(tmp_path, passphrase=b"s3cret", key_fmt="pkcs1")
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-006") == "passed"
    assert r.outcome("CERT-007") == "skipped"
    assert "pass phrase" in r["CERT-007"].message
    ok = run_checks(home, "--mu3e-select", "CERT", env={"MU3E_KEY_PASSPHRASE": "s3cret"})
    assert ok.outcome("CERT-007") == "passed"
    bad = run_checks(home, "--mu3e-select", "CERT", env={"MU3E_KEY_PASSPHRASE": "wrong"})
    assert bad.outcome("CERT-006") == "failed"
    assert "pass phrase" in bad["CERT-006"].message


def test_weak_key_fails(grid, tmp_path):
    weak = grid.pki.user(grid.ca, key_size=1024)
    home = grid.home(tmp_path, user=weak)
    r = run_checks(home, "--mu3e-select", "CERT-009")
    assert r.outcome("CERT-009") == "failed"
    assert "1024 bits" in r["CERT-009"].message
    assert "2048" in r["CERT-009"].fix


def test_group_writable_globus_and_cert(grid, tmp_path):
    home = grid.home(tmp_path, cert_mode=0o666)
    os.chmod(home / ".globus", 0o777)
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-002") == "failed"
    assert r["CERT-002"].fix == f"chmod go-w {home}/.globus"
    assert r.outcome("CERT-004") == "failed"
    assert r["CERT-004"].fix == f"chmod 644 {home}/.globus/usercert.pem"


def test_env_overrides_take_precedence(grid, tmp_path):
    home = grid.home(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    write_credentials(elsewhere, grid.user, key_mode=0o640)
    env = {"X509_USER_CERT": str(elsewhere / "usercert.pem"),
           "X509_USER_KEY": str(elsewhere / "userkey.pem")}
    r = run_checks(home, "--mu3e-select", "CERT", env=env)
    assert r.outcome("CERT-003") == "failed"
    assert str(elsewhere / "userkey.pem") in r["CERT-003"].fix


def test_unreadable_key_is_named(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o000)
    r = run_checks(home, "--mu3e-select", "CERT", command=unprivileged_command())
    key = home / ".globus" / "userkey.pem"
    assert r.outcome("CERT-003") == "failed"
    assert "mode 000" in r["CERT-003"].message and r["CERT-003"].fix == f"chmod 600 {key}"
    assert r.outcome("CERT-006") == "failed"
    assert "permission denied" in r["CERT-006"].message


def test_key_owned_by_someone_else(grid, tmp_path):
    if os.getuid() != 0:
        pytest.fail("this test changes file ownership; run the suite as root, as CI does")
    home = grid.home(tmp_path)
    key = home / ".globus" / "userkey.pem"
    os.chown(key, 4242, 4242)
    r = run_checks(home, "--mu3e-select", "CERT-003")
    assert r.outcome("CERT-003") == "failed"
    assert "owned by uid 4242" in r["CERT-003"].message


def test_symlink_loop_and_directory_instead_of_file(grid, tmp_path):
    home = grid.home(tmp_path)
    cert = home / ".globus" / "usercert.pem"
    cert.unlink()
    cert.mkdir()
    key = home / ".globus" / "userkey.pem"
    key.unlink()
    os.symlink(key, key)
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-001") == "failed"
    assert "INTERNALERROR" not in r.stdout + r.stderr
    shutil.rmtree(cert)
    cert.write_bytes(grid.user.cert_pem())
    r = run_checks(home, "--mu3e-select", "CERT")
    assert r.outcome("CERT-001") == "failed"
    assert "userkey.pem" in r["CERT-001"].message
