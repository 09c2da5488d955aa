"""Unit tests of the certificate knowledge, without pytest plumbing or subprocess runs."""

from __future__ import annotations

import subprocess

import pytest
from cryptography import x509

from mu3e_checks.knowledge import files, pki
from tests.support.pki_factory import new_key, pem


def test_dn_forms(grid):
    assert pki.dn_slash(grid.user.subject) == \
        "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
    assert pki.dn_rfc2253(grid.user.subject) == \
        "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid,C=CH"
    assert pki.same_dn(grid.user.subject, "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist")
    assert not pki.same_dn(grid.user.subject, "/C=CH/O=Mu3e Test Grid/CN=Jane Physicist")


def test_parse_slash_dn_keeps_slashes_inside_values():
    assert pki.parse_slash_dn("/DC=ch/DC=cern/CN=a/b user") == [
        ("DC", "ch"), ("DC", "cern"), ("CN", "a/b user")]


def test_pick_user_certificate_from_chain_in_any_order(grid):
    found = pki.pick_user_certificate(pem(grid.ca, grid.user))
    assert found.cert == grid.user.cert
    assert "is NOT" in found.notes[0]


def test_pick_user_certificate_rejects_proxy(grid):
    proxy = grid.pki.proxy(grid.user)
    with pytest.raises(pki.PemError, match="proxy"):
        pki.pick_user_certificate(pem(proxy))


def test_proxy_kinds(grid):
    assert pki.proxy_kind(grid.pki.proxy(grid.user).cert) == "rfc3820"
    assert pki.proxy_kind(grid.pki.proxy(grid.user, kind="legacy").cert) == "legacy"
    assert pki.proxy_kind(grid.user.cert) is None


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_load_private_key_formats(grid, fmt):
    k = pki.load_private_key(grid.user.key_pem(fmt))
    assert k.format == {"pkcs1": "PKCS#1", "pkcs8": "PKCS#8"}[fmt]
    assert pki.key_matches(grid.user.cert, k.key)


def test_encrypted_key_is_not_loaded_without_passphrase(grid):
    data = grid.user.key_pem("pkcs8", b"pw")
    k = pki.load_private_key(data)
    assert k.encrypted and k.key is None
    assert pki.load_private_key(data, b"pw").key is not None
    with pytest.raises(pki.PemError, match="pass phrase") as err:
        pki.load_private_key(data, b"nope")
    assert b"PRIVATE" not in str(err.value).encode()


def test_damaged_key_message_has_no_key_bytes(grid):
    data = grid.user.key_pem("pkcs1")
    lines = data.splitlines()
    damaged = b"\n".join(lines[:3] + [b"AAAA" * 16] + lines[4:])
    with pytest.raises(pki.PemError) as err:
        pki.load_private_key(damaged)
    assert all(line.decode() not in str(err.value) for line in lines[1:-1])


@pytest.mark.peer
def test_sha1_signature_is_weak(tmp_path):
    # cryptography refuses to sign with SHA-1, so openssl makes this one, as old CAs did.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-sha1", "-nodes",
                    "-subj", "/CN=old", "-keyout", str(tmp_path / "k"), "-out",
                    str(tmp_path / "c"), "-days", "2"], check=True, capture_output=True)
    cert = x509.load_pem_x509_certificate((tmp_path / "c").read_bytes())
    assert any("SHA1" in p for p in pki.strength_problems(cert))


def test_read_bytes_names_the_problem(tmp_path):
    with pytest.raises(files.Unreadable, match="does not exist"):
        files.read_bytes(tmp_path / "nope")
    with pytest.raises(files.Unreadable, match="directory"):
        files.read_bytes(tmp_path)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(files.Unreadable, match="loop"):
        files.read_bytes(loop)


def test_damaged_rsa_numbers_are_caught_cheaply(grid):
    """A key whose private numbers do not fit together is reported as damaged, not loaded."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    good = grid.user.key.private_numbers()
    bad = rsa.RSAPrivateNumbers(good.p, good.q, good.d + 2, good.dmp1, good.dmq1, good.iqmp,
                                good.public_numbers)
    damaged = bad.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    assert pki.rsa_key_consistent(grid.user.key)
    with pytest.raises(pki.PemError, match="damaged"):
        pki.load_private_key(damaged)


def test_pkcs12_fix_is_the_guide_commands_and_keeps_paths_as_data(tmp_path):
    """The CERT-001 fix for a .p12 lying around: byte for byte the guide's commands for plain
    paths; a hostile file name is one quoted word that runs nothing when pasted."""
    import subprocess
    from pathlib import Path

    from mu3e_checks.advice.credentials import pkcs12_fix
    from mu3e_checks.knowledge.credentials import Credentials

    globus = Path("/home/u/.globus")
    creds = Credentials(globus / "usercert.pem", globus / "userkey.pem", "default", "default")
    assert pkcs12_fix(globus / "me.p12", creds).render() == "\n".join([
        "mkdir -p /home/u/.globus",
        "openssl pkcs12 -in /home/u/.globus/me.p12 -clcerts -nokeys -out /home/u/.globus/"
        "usercert.pem",
        "openssl pkcs12 -in /home/u/.globus/me.p12 -nocerts -nodes -out /home/u/.globus/"
        "userkey.pem",
        "chmod 600 /home/u/.globus/userkey.pem",
        "# OpenSSL 3 with an old RC2-40 export ('unsupported ... RC2-40-CBC'): add -legacy to "
        "both openssl pkcs12 commands"])
    hostile = tmp_path / "x $(touch PWNED)\n`touch PWNED`;.p12"
    text = pkcs12_fix(hostile, creds).render()
    assert len(text.splitlines()) == 5
    subprocess.run(["bash", "-n", "-c", text], check=True)
    stubs = "openssl() { :; }; chmod() { :; }; mkdir() { :; }\n"
    subprocess.run(["bash", "-c", stubs + text], cwd=tmp_path, capture_output=True)
    assert not (tmp_path / "PWNED").exists()


def test_damage_is_found_where_a_certificate_is_read_and_named(grid):
    """cryptography decodes extensions and dates lazily; usable_certificate touches them once
    where the file is read, so nothing later meets them (issue 19)."""
    from tests.support import malformed as M

    cases = {"dup-key-usage": "the extension keyUsage (2.5.29.15) twice",
             "basic-constraints-not-der": "a basicConstraints (2.5.29.19) extension",
             "san-unknown-name-type": "a subjectAltName (2.5.29.17) extension",
             "aki-wrong-type": "authorityKeyIdentifier",
             "validity-year-0": "notBefore date that cannot be read",
             "version-5": "claims X.509 version 5",
             "validity-not-a-time": "bad notBefore date",
             "subject-bmp-odd-length": "bad name attribute"}
    for name, words in cases.items():
        bad = M.CERTIFICATE_MUTATIONS[name](grid.user.cert, grid.ca.key)
        with pytest.raises(pki.PemError, match=r"usercert\.pem") as exc:
            pki.pick_user_certificate(M.cert_pem(bad))
        assert words in str(exc.value), (name, str(exc.value))
        with pytest.raises(pki.PemError):
            pki.load_certificate_any(M.cert_der(bad), "ca.0")
    # A certificate from elsewhere (a TLS peer) that was never checked: no crash either.
    dup = M.CERTIFICATE_MUTATIONS["dup-key-usage"](grid.user.cert, grid.ca.key)
    assert not pki.is_ca(dup) and pki.proxy_kind(dup) is None
    assert pki.extension(dup, x509.oid.ExtensionOID.KEY_USAGE) is None


def test_signed_by_is_a_verdict_or_none(grid):
    from tests.support import malformed as M

    assert pki.signed_by(grid.user.cert, grid.ca.cert) is True
    assert pki.signed_by(grid.user.cert, grid.root.cert) is False  # another name
    other = grid.pki.ca(subject=grid.ca.subject, key=new_key(fresh=True))
    assert pki.signed_by(grid.user.cert, other.cert) is False  # same name, another key
    odd = M.CERTIFICATE_MUTATIONS["signature-algorithm-unknown"](grid.user.cert, grid.ca.key)
    assert pki.signed_by(odd, grid.ca.cert) is None  # cannot be checked: no verdict
    keyless = M.CERTIFICATE_MUTATIONS["key-unknown-algorithm"](grid.ca.cert, grid.root.key)
    assert "algorithm not known here (1.2.3.4.5)" in pki.unreadable_key(keyless)
    assert "RSA public key that cannot be decoded" in pki.unreadable_key(
        M.CERTIFICATE_MUTATIONS["key-rsa-garbage"](grid.ca.cert, grid.root.key))


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + \
        n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


def _oid_der(dotted: str) -> bytes:
    a, b, *rest = (int(x) for x in dotted.split("."))
    out = bytes([40 * a + b])
    for v in rest:
        chunk = [v & 0x7F]
        while v > 0x7F:
            v >>= 7
            chunk.insert(0, 0x80 | (v & 0x7F))
        out += bytes(chunk)
    return _der(0x06, out)


def test_an_encrypted_key_that_asks_for_absurd_work_is_refused_before_any(grid):
    """An encrypted PKCS#8 key names its own PBKDF2 cost, and OpenSSL pays whatever it asks
    for each pass-phrase try: above the bound the key is refused, unread, with the reason."""
    import base64

    import pytest
    from cryptography.hazmat.primitives import serialization

    from mu3e_checks.knowledge.pki import PemError, load_private_key

    usual = grid.user.key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(b"secret"))
    assert load_private_key(usual, b"secret").key is not None
    # PBES2 with PBKDF2 at 2,000,001 rounds; the ciphertext is never reached
    pbkdf2 = _der(0x30, _oid_der("1.2.840.113549.1.5.12") + _der(0x30, _der(0x04, b"s" * 8)
                                                                + _der(0x02, b"\x1e\x84\x81")))
    aes = _der(0x30, _oid_der("2.16.840.1.101.3.4.1.42") + _der(0x04, b"i" * 16))
    alg = _der(0x30, _oid_der("1.2.840.113549.1.5.13") + _der(0x30, pbkdf2 + aes))
    der = _der(0x30, alg + _der(0x04, b"x" * 1232))
    pem = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + base64.encodebytes(der)
           + b"-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(PemError, match="asks for 2,000,001 iterations"):
        load_private_key(pem, b"secret")
