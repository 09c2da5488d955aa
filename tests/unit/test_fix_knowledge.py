"""Unit tests of the knowledge behind issue 19's repaired fixes: an old .p12 told from its DER,
the tool that made a proxy, and where CA/CRL fixes may write.  The real tools prove the same
end to end in tests/peers/test_fixes_proven.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    PrivateFormat,
    pkcs12,
)
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

from mu3e_checks import commands
from mu3e_checks.advice.trust import own_dir_fix
from mu3e_checks.knowledge import der as der_mod
from mu3e_checks.knowledge.credentials import needs_legacy, pkcs12_algorithms
from mu3e_checks.knowledge.proxy import proxy_maker
from mu3e_checks.knowledge.trust import TrustDirChoice
from mu3e_checks.knowledge.trust.target import needs_own_dir, writable_dir
from tests.support.pki_factory import HOUR, der, der_int, der_oid

RC2_40 = "1.2.840.113549.1.12.1.6"
DATA, ENCRYPTED_DATA = "1.2.840.113549.1.7.1", "1.2.840.113549.1.7.6"


def _content_info(kind: str, inner: bytes) -> bytes:
    return der(0x30, der_oid(kind) + der(0xA0, inner))


def _pfx(cert_algorithm: str, key_algorithm: str = "1.2.840.113549.1.12.1.3") -> bytes:
    """A PFX laid out as openssl writes one (certificates in EncryptedData, the key in a
    shrouded key bag), with these algorithm OIDs and dummy ciphertext."""
    algo = lambda oid: der(0x30, der_oid(oid) + der(0x30, der(0x04, b"salt") + der_int(2048)))  # noqa: E731
    encrypted = der(0x30, der_int(0) + der(0x30, der_oid(DATA) + algo(cert_algorithm)
                                           + der(0x80, b"ciphertext")))
    bag = der(0x30, der_oid("1.2.840.113549.1.12.10.1.2")
              + der(0xA0, der(0x30, algo(key_algorithm) + der(0x04, b"key"))))
    safe = der(0x30, _content_info(ENCRYPTED_DATA, encrypted)
               + _content_info(DATA, der(0x04, der(0x30, bag))))
    return der(0x30, der_int(3) + _content_info(DATA, der(0x04, safe)))


def test_an_rc2_export_needs_legacy_and_a_3des_or_aes_one_does_not(tmp_path, grid):
    legacy = tmp_path / "old.p12"
    legacy.write_bytes(_pfx(RC2_40))
    assert pkcs12_algorithms(legacy.read_bytes()) == [RC2_40, "1.2.840.113549.1.12.1.3"]
    assert needs_legacy(legacy) is True
    modern = tmp_path / "aes.p12"
    modern.write_bytes(pkcs12.serialize_key_and_certificates(
        b"me", grid.user.key, grid.user.cert, None, BestAvailableEncryption(b"pw")))
    assert needs_legacy(modern) is False
    triple_des = tmp_path / "3des.p12"
    enc = (PrivateFormat.PKCS12.encryption_builder()
           .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC).build(b"pw"))
    triple_des.write_bytes(pkcs12.serialize_key_and_certificates(
        b"me", grid.user.key, grid.user.cert, None, enc))
    assert needs_legacy(triple_des) is False  # OpenSSL 3's default provider has 3DES


@pytest.mark.parametrize("data", [b"", b"not a p12", b"\x30\x80\x02\x01\x03\x00\x00",
                                  b"\x30\x03\x02\x01\x03", _pfx(RC2_40)[:-7]])
def test_what_is_not_a_readable_p12_gives_no_verdict(tmp_path, data):
    p = tmp_path / "odd.p12"
    p.write_bytes(data)
    assert needs_legacy(p) is None
    with pytest.raises(der_mod.DerError):
        pkcs12_algorithms(data)


def test_needs_legacy_never_reads_a_fifo(tmp_path):
    fifo = tmp_path / "x.p12"
    os.mkfifo(fifo)
    assert needs_legacy(fifo) is None


def test_the_legacy_flag_goes_into_both_commands():
    p12, cert, key = Path("/h/.globus/a.p12"), Path("/h/.globus/usercert.pem"), \
        Path("/h/.globus/userkey.pem")
    text = commands.pkcs12_extract(p12, cert, key, legacy=True).render()
    assert text.count("openssl pkcs12 -legacy -in /h/.globus/a.p12") == 2
    assert "-legacy" not in commands.pkcs12_extract(p12, cert, key, legacy=False).render()
    unknown = commands.pkcs12_extract(p12, cert, key).render()
    assert "openssl pkcs12 -legacy" not in unknown and "# OpenSSL 3" in unknown


def _proxy(grid, *extensions):
    from cryptography.hazmat.primitives import hashes

    from tests.support.pki_factory import PROXY_CERT_INFO_OID, new_key, proxy_cert_info_der

    key = new_key()
    b = (x509.CertificateBuilder().subject_name(grid.user.cert.subject)
         .issuer_name(grid.user.cert.subject).public_key(key.public_key()).serial_number(7)
         .not_valid_before(grid.pki.now).not_valid_after(grid.pki.now + HOUR)
         .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, proxy_cert_info_der(
             "1.3.6.1.5.5.7.21.1")), critical=True))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return b.sign(grid.user.key, hashes.SHA256())


def test_the_tool_that_made_a_proxy_is_told_by_its_extensions(grid):
    ku = lambda data: x509.KeyUsage(True, False, True, data, False, False, False, False, False)  # noqa: E731
    eku = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    bc = x509.BasicConstraints(ca=False, path_length=None)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(grid.user.cert.public_key())
    group = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.42.42"), b"\x16\x01g")
    assert proxy_maker(_proxy(grid, (ku(True), True))) == "dirac-proxy-init"
    assert proxy_maker(_proxy(grid, (ku(False), True), (group, False))) == "dirac-proxy-init"
    assert proxy_maker(_proxy(grid, (eku, False), (ku(False), True))) == "grid-proxy-init"
    assert proxy_maker(_proxy(grid, (ku(False), True), (bc, True), (aki, False))) == \
        "voms-proxy-init"
    assert proxy_maker(_proxy(grid, (ku(False), True))) is None  # says nothing
    assert proxy_maker(grid.user.cert) is None  # not a proxy


def test_a_dir_is_writable_when_it_or_its_nearest_parent_is(tmp_path):
    assert writable_dir(tmp_path / "not" / "yet")
    f = tmp_path / "file"
    f.write_text("")
    assert not writable_dir(f / "below")


def test_the_own_dir_is_never_forced_on_a_trust_dir_the_user_chose(tmp_path):
    own = tmp_path / "own"
    chosen = TrustDirChoice(Path("/proc/1"), "--mu3e-trust-dir", None)
    assert not needs_own_dir(chosen, own)
    assert own_dir_fix(chosen, own, [], {}, diracosrc=tmp_path / "rc", crls=True) is None
