"""verify_chain against the real ``openssl verify -CApath DIR -crl_check_all``: same verdicts.

Each case builds its own hashed CA directory with real certificates and CRLs, runs the openssl
binary on it, and compares OpenSSL's first error code with :func:`verify_chain`'s.  The test
fails (it does not skip) when openssl is missing: CI installs it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.knowledge import trust
from mu3e_checks.knowledge.pki import dn_slash
from tests.support.pki_factory import (
    DAY,
    PKI,
    crls_for,
    pem,
    subject_hash_old,
    write_trust_dir,
)

_ERR = re.compile(r"error (\d+) at (\d+) depth lookup")


def openssl_verify(ca_dir: Path, leaf_pem: Path, untrusted: Path | None = None,
                   allow_proxy: bool = False) -> tuple[int, str]:
    """(first error code or 0, output) of the real openssl binary."""
    exe = shutil.which("openssl")
    assert exe, "openssl is not installed (apt-get install openssl)"
    argv = [exe, "verify", "-CApath", str(ca_dir), "-crl_check_all"]
    if allow_proxy:
        argv.append("-allow_proxy_certs")
    if untrusted is not None:
        argv += ["-untrusted", str(untrusted)]
    argv.append(str(leaf_pem))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    m = _ERR.search(out)
    if proc.returncode == 0:
        assert m is None, out
        return 0, out
    assert m, out
    return int(m.group(1)), out


class World:
    """A root CA, an issuing CA under it, CRLs for both; each case bends one thing."""

    def __init__(self) -> None:
        self.pki = PKI()
        self.root = self.pki.ca("Oracle Root CA")
        self.ca = self.pki.ca("Oracle User CA", parent=self.root)
        self.user = self.pki.user(self.ca, "Oracle User")


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _case(world: World, name: str, tmp: Path):
    """(ca_dir, leaf Entity, untrusted certs, allow_proxy, expected code) for one case."""
    p, root, ca, user = world.pki, world.root, world.ca, world.user
    d = tmp / name
    leaf, untrusted, proxy, expect = user, [], False, None
    if name == "valid":
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]))
        expect = 0
    elif name == "valid-old-and-new-hash-der-crl-elsewhere":
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]), old_hash=True)
        expect = 0
    elif name == "expired-user":
        leaf = p.user(ca, "Expired User", expired=True)
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]))
        expect = trust.X509_V_ERR_CERT_HAS_EXPIRED
    elif name == "not-yet-valid-user":
        leaf = p.user(ca, "Future User", not_yet_valid=True)
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]))
        expect = trust.X509_V_ERR_CERT_NOT_YET_VALID
    elif name == "revoked":
        crls = crls_for(p, [root, ca])
        crls[id(ca)] = p.crl(ca, [user], filler=50)
        write_trust_dir(d, [root, ca], crls)
        expect = trust.X509_V_ERR_CERT_REVOKED
    elif name == "crl-missing":
        write_trust_dir(d, [root, ca], {id(root): p.crl(root)})
        expect = trust.X509_V_ERR_UNABLE_TO_GET_CRL
    elif name == "root-crl-missing":
        write_trust_dir(d, [root, ca], {id(ca): p.crl(ca)})
        expect = trust.X509_V_ERR_UNABLE_TO_GET_CRL
    elif name == "crl-expired":
        crls = crls_for(p, [root, ca])
        crls[id(ca)] = p.crl(ca, last_update=p.now - 10 * DAY, next_update=p.now - DAY)
        write_trust_dir(d, [root, ca], crls)
        expect = trust.X509_V_ERR_CRL_HAS_EXPIRED
    elif name == "crl-wrong-signer":
        crls = crls_for(p, [root, ca])
        crls[id(ca)] = p.crl(ca, signer=p.ca("Somebody Else"))
        write_trust_dir(d, [root, ca], crls)
        expect = None  # whatever OpenSSL says; the point is agreement
    elif name == "wrong-ca":
        other = p.ca("Unrelated Root CA")
        write_trust_dir(d, [other], crls_for(p, [other]))
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "impostor-ca-same-name":
        fake = p.ca(subject=ca.subject, parent=root)  # same DN, another key
        write_trust_dir(d, [root, fake], crls_for(p, [root, fake]))
        expect = None
    elif name == "missing-intermediate":
        write_trust_dir(d, [root], crls_for(p, [root]))
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "intermediate-sent-untrusted":
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        (d / f"{trust.subject_hash(ca.cert)}.r0").write_bytes(
            crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        untrusted = [ca]
        expect = 0
    elif name == "expired-ca":
        old = p.ca("Oracle Expired CA", parent=root, expired=True)
        leaf = p.user(old, "Child Of Expired")
        write_trust_dir(d, [root, old], crls_for(p, [root, old]))
        expect = trust.X509_V_ERR_CERT_HAS_EXPIRED
    elif name == "not-yet-valid-ca":
        new = p.ca("Oracle Future CA", parent=root, not_yet_valid=True)
        leaf = p.user(new, "Child Of Future")
        write_trust_dir(d, [root, new], crls_for(p, [root, new]))
        expect = trust.X509_V_ERR_CERT_NOT_YET_VALID
    elif name == "empty-dir":
        d.mkdir(parents=True)
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "proxy":
        leaf = p.proxy(user)
        untrusted = [user.cert]
        proxy = True
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]))
        expect = 0
    elif name == "proxy-of-revoked-user":
        leaf = p.proxy(user)
        untrusted = [user.cert]
        proxy = True
        crls = crls_for(p, [root, ca])
        crls[id(ca)] = p.crl(ca, [user])
        write_trust_dir(d, [root, ca], crls)
        expect = trust.X509_V_ERR_CERT_REVOKED
    elif name == "ca-under-wrong-name":
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        (d / "0badc0de.0").write_bytes(ca.cert_pem())
        (d / f"{trust.subject_hash(ca.cert)}.r0").write_bytes(
            crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "ca-under-old-hash-only":
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        old = subject_hash_old(ca.cert)
        (d / f"{old}.0").write_bytes(ca.cert_pem())
        (d / f"{trust.subject_hash(ca.cert)}.r0").write_bytes(
            crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "der-ca-file":
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        (d / f"{trust.subject_hash(ca.cert)}.0").write_bytes(ca.cert_der())
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "ca-after-a-gap":  # <hash>.1 without <hash>.0: OpenSSL stops at .0
        write_trust_dir(d, [root], crls_for(p, [root]))
        (d / f"{trust.subject_hash(ca.cert)}.1").write_bytes(ca.cert_pem())
        expect = trust.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    elif name == "ca-after-garbage-der-and-dangling":  # OpenSSL steps over names that exist
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        h = trust.subject_hash(ca.cert)
        (d / f"{h}.0").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
        (d / f"{h}.1").write_bytes(ca.cert_der())
        (d / f"{h}.2").symlink_to("gone.pem")
        (d / f"{h}.3").write_bytes(ca.cert_pem())
        (d / f"{h}.r0").symlink_to("gone.r0")
        (d / f"{h}.r1").write_bytes(crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        expect = 0
    elif name == "second-slot-ca":  # a hash collision's second file is found
        write_trust_dir(d, [root], crls_for(p, [root, ca]))
        h = trust.subject_hash(ca.cert)
        other = p.ca("Oracle Colliding CA")
        (d / f"{h}.0").write_bytes(other.cert_pem())
        (d / f"{h}.1").write_bytes(ca.cert_pem())
        (d / f"{h}.r0").write_bytes(crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        expect = 0
    elif name == "der-crl":
        write_trust_dir(d, [root, ca], crls_for(p, [root, ca]), crl_der=True)
        expect = trust.X509_V_ERR_UNABLE_TO_GET_CRL
    elif name == "crl-under-another-name":
        other = p.ca("Oracle Other CA")
        write_trust_dir(d, [root, ca, other], crls_for(p, [root, other]))
        (d / f"{trust.subject_hash(other.cert)}.r1").write_bytes(
            crls_for(p, [ca])[id(ca)].public_bytes(_pem_enc()))
        expect = trust.X509_V_ERR_UNABLE_TO_GET_CRL
    else:  # pragma: no cover
        raise AssertionError(name)
    return d, leaf, untrusted, proxy, expect


def _pem_enc():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


CASES = ["valid", "valid-old-and-new-hash-der-crl-elsewhere", "expired-user",
         "not-yet-valid-user", "revoked", "crl-missing", "root-crl-missing", "crl-expired",
         "crl-wrong-signer", "wrong-ca", "impostor-ca-same-name", "missing-intermediate",
         "intermediate-sent-untrusted", "expired-ca", "not-yet-valid-ca", "empty-dir", "proxy",
         "proxy-of-revoked-user", "ca-under-wrong-name", "ca-under-old-hash-only",
         "der-ca-file", "ca-after-a-gap",
         "ca-after-garbage-der-and-dangling", "second-slot-ca", "der-crl", "crl-under-another-name"]


@pytest.mark.parametrize("name", CASES)
def test_verdict_matches_openssl_verify(world, tmp_path, name):
    d, leaf, untrusted, proxy, expect = _case(world, name, tmp_path)
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(pem(leaf))
    chain_file = None
    if untrusted:
        chain_file = tmp_path / "untrusted.pem"
        chain_file.write_bytes(pem(*untrusted))
    code, out = openssl_verify(d, leaf_file, chain_file, proxy)
    verdict = trust.verify_chain(leaf.cert, [getattr(c, "cert", c) for c in untrusted], d,
                                 allow_proxy=proxy)
    assert verdict.code == code, (name, verdict, out)
    assert verdict.ok == (code == 0)
    if expect is not None:
        assert code == expect, (name, out)
    if not verdict.ok:
        assert verdict.failing_dn and verdict.failing_dn in verdict.reason
        assert verdict.reason and "OpenSSL rejects" not in verdict.reason, verdict.reason


def test_missing_issuer_names_issuer_and_lookup_file(world, tmp_path):
    d = write_trust_dir(tmp_path / "ca", [world.root], crls_for(world.pki, [world.root]))
    v = trust.verify_chain(world.user.cert, [], d)
    assert v.code == 20
    assert v.failing_dn == dn_slash(world.user.subject)
    assert v.missing_issuer_dn == dn_slash(world.ca.subject)
    assert v.lookup_name == f"{trust.subject_hash(world.ca.cert)}.0"
    assert v.lookup_name in v.reason and v.missing_issuer_dn in v.reason


def test_stale_crl_names_the_r0_file(world, tmp_path):
    crls = crls_for(world.pki, [world.root, world.ca])
    crls[id(world.ca)] = world.pki.crl(world.ca, last_update=world.pki.now - 9 * DAY,
                                       next_update=world.pki.now - DAY)
    d = write_trust_dir(tmp_path / "ca", [world.root, world.ca], crls)
    v = trust.verify_chain(world.user.cert, [], d)
    assert v.code == 12 and v.lookup_name == f"{trust.subject_hash(world.ca.cert)}.r0"
    assert "expired" in v.reason


def test_at_time_moves_the_clock(world, tmp_path):
    d = write_trust_dir(tmp_path / "ca", [world.root, world.ca],
                        crls_for(world.pki, [world.root, world.ca]))
    assert trust.verify_chain(world.user.cert, [], d).ok
    later = world.pki.now + dt.timedelta(days=400)  # the user cert lives 365 days
    v = trust.verify_chain(world.user.cert, [], d, crl_check=False, at=later)
    assert v.code == trust.X509_V_ERR_CERT_HAS_EXPIRED


def test_without_crl_check_a_missing_crl_is_fine(world, tmp_path):
    d = write_trust_dir(tmp_path / "ca", [world.root, world.ca])
    assert not trust.verify_chain(world.user.cert, [], d).ok
    assert trust.verify_chain(world.user.cert, [], d, crl_check=False).ok


def test_same_name_other_key_says_the_file_holds_another_ca(world, tmp_path):
    fake = world.pki.ca(subject=world.ca.subject, parent=world.root)
    d = write_trust_dir(tmp_path / "ca", [world.root, fake],
                        crls_for(world.pki, [world.root, fake]))
    v = trust.verify_chain(world.user.cert, [], d)
    assert v.code == 20 and "different CA certificate" in v.reason


def test_revoked_user_under_a_proxy_is_not_called_a_ca(world, tmp_path):
    crls = crls_for(world.pki, [world.root, world.ca])
    crls[id(world.ca)] = world.pki.crl(world.ca, [world.user])
    d = write_trust_dir(tmp_path / "ca", [world.root, world.ca], crls)
    v = trust.verify_chain(world.pki.proxy(world.user).cert, [world.user.cert], d,
                           allow_proxy=True)
    assert v.code == 23 and v.depth == 1
    assert v.failing_dn == dn_slash(world.user.subject)
    assert v.reason.startswith(f"{v.failing_dn} has been revoked")
