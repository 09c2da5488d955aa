"""Hostile reads: key files never quoted, parsers linear, unreadable key types named, no
process started, odd bytes in names and env values shown instead of crashing (issue 10)."""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519, x25519

from mu3e_checks.knowledge import dirac_cfg, files, pki, proxy, voms_env
from mu3e_checks.knowledge.host import host_facts, parse_os_release
from mu3e_checks.settings import Settings, resolve
from mu3e_checks.text import visible
from tests.support.pki_factory import new_key, pem

#: The regex pki used before: the oracle for what a PEM block is, on small inputs only.
_OLD_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def _key_lines(key_pem: bytes) -> list[bytes]:
    """The base64 lines of a PEM key: none of them may ever appear in a message."""
    return [line for line in key_pem.splitlines() if line and not line.startswith(b"-----")]


def _assert_no_key_bytes(text: str, key_pem: bytes) -> None:
    for line in _key_lines(key_pem):
        assert line.decode()[:24] not in text


# ----------------------------------------------------------------------------- PEM scanning


@pytest.mark.parametrize("data", [
    b"",
    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    b"Bag Attributes\n-----BEGIN CERTIFICATE-----\r\nAA\n-----END CERTIFICATE-----junk",
    b"-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----",
    b"-----BEGIN CERTIFICATE-----\nA\n-----END RSA PRIVATE KEY-----\n-----END CERTIFICATE-----",
    b"-----BEGIN X-----\n-----END Y-----\n-----BEGIN Y-----\n-----END X-----END Y-----",
    b"-----BEGIN CERTIFICATE-----no newline-----END CERTIFICATE-----",
    b"-----BEGIN lower-----\nA\n-----END lower-----",
    b"-----BEGIN A-----\n-----END A-----\n-----BEGIN A-----\n-----END A-----",
])
def test_pem_blocks_find_what_the_old_regex_found(data):
    expected = [(m.group(1).decode(), m.group(0)) for m in _OLD_PEM_RE.finditer(data)]
    assert pki.pem_blocks(data) == expected


def test_a_megabyte_of_begin_lines_is_read_in_linear_time():
    # The quadratic regex took minutes on this (another user's /tmp/x509up_u<uid>).
    data = b"-----BEGIN CERTIFICATE-----\n" * (2 * 1024 * 1024 // 28)
    start = time.monotonic()
    with pytest.raises(pki.PemError, match="starts but never ends"):
        pki.load_certificates(data, "x509up_u1000")
    with pytest.raises(pki.PemError):
        pki.load_private_key(data.replace(b"CERTIFICATE", b"RSA PRIVATE KEY"), None, "proxy")
    assert time.monotonic() - start < 5


# ----------------------------------------------------------------------------- key types


def _pkcs8(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_unknown_key_algorithm_is_a_named_failure_not_a_crash():
    der = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    unknown = der.replace(bytes.fromhex("06032b656e"), bytes.fromhex("06032b657f"))
    data = (b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(unknown)
            + b"-----END PRIVATE KEY-----\n")
    with pytest.raises(pki.PemError, match="unsupported algorithm") as exc:
        pki.load_private_key(data, None, "userkey.pem")
    _assert_no_key_bytes(str(exc.value), data)


@pytest.mark.parametrize("make, algo", [
    (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
    (x25519.X25519PrivateKey.generate, "X25519"),
    (lambda: dsa.generate_private_key(1024), "DSA"),
])
def test_key_types_that_cannot_sign_a_proxy_are_named(make, algo):
    data = _pkcs8(make())
    with pytest.raises(pki.PemError, match=f"holds an {algo} private key") as exc:
        pki.load_private_key(data, None, "userkey.pem")
    _assert_no_key_bytes(str(exc.value), data)


def test_ec_key_loads_because_dirac_can_sign_with_it():
    # DIRAC 8's generateProxyToFile works with a P-256 user key (tried in its venv).
    keyfile = pki.load_private_key(_pkcs8(new_key(256, "ec")), None, "userkey.pem")
    assert keyfile.algorithm == "EC secp256r1"
    assert "EC secp256r1" in keyfile.describe()


def test_encrypted_key_without_pass_phrase_is_still_reported_not_loaded(grid):
    keyfile = pki.load_private_key(grid.user.key_pem(passphrase=b"pw"), None)
    assert keyfile.encrypted and keyfile.key is None


# ----------------------------------------------------------------------------- certificates


def _patched(cert_der: bytes, old: bytes, new: bytes, count: int = 1) -> x509.Certificate:
    assert old in cert_der
    return x509.load_der_x509_certificate(cert_der.replace(old, new, count))


def test_invalid_utf8_in_a_dn_is_shown_escaped_not_a_crash(grid):
    user = grid.pki.user(grid.ca, cn="ZZZZ")
    bad = _patched(user.cert_der(), b"ZZZZ", b"\xff\xfe(Z")
    with pytest.raises(pki.PemError, match="not valid text") as exc:
        pki.pick_user_certificate(bad.public_bytes(serialization.Encoding.PEM))
    assert "CN=\\xff\\xfe(Z" in visible(str(exc.value))
    with pytest.raises(pki.PemError, match="subject name"):
        pki.load_certificate_any(bad.public_bytes(serialization.Encoding.DER), "ca.0")


def test_unknown_public_key_and_signature_algorithms_are_strength_problems(grid):
    der = grid.user.cert_der()
    rsa_oid, sha256_rsa = bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a864886f70d01010b")
    odd_key = _patched(der, rsa_oid, bytes.fromhex("2a864886f70d01017e"))
    problems = pki.strength_problems(odd_key)
    assert any("1.2.840.113549.1.1.126" in p for p in problems)
    assert "unreadable public key" in pki.key_description(odd_key)
    assert not pki.key_matches(odd_key, grid.user.key)
    # Both copies: the signed one and the outer one cryptography reads.
    odd_sig = _patched(der, sha256_rsa, bytes.fromhex("2a864886f70d01017f"), count=2)
    assert any("cannot be checked" in p for p in pki.strength_problems(odd_sig))
    assert pki.strength_problems(grid.user.cert) == []


# ----------------------------------------------------------------------------- vomses


def test_vomses_pointing_at_globus_names_key_files_and_never_quotes_them(tmp_path, grid):
    globus = tmp_path / ".globus"
    globus.mkdir()
    key_pem = grid.user.key_pem("pkcs1")
    (globus / "userkey.pem").write_bytes(key_pem)
    (globus / "usercert.pem").write_bytes(grid.user.cert_pem())
    (globus / "usercred.p12").write_bytes(b"0\x82\x01\x00\x02\x01\x03" + os.urandom(200))
    (globus / "mu3e.org").write_text(
        '"mu3e.org" "voms.example.org" "15000" "/DC=org/CN=voms.example.org" "mu3e.org"\n')
    entries, problems = voms_env.read_vomses(globus)
    assert [e.host for e in entries] == ["voms.example.org"]
    text = "\n".join(problems)
    assert "userkey.pem holds a PEM/key block, not vomses" in text
    assert "usercert.pem holds a PEM/key block" in text
    assert "usercred.p12 holds binary data" in text
    _assert_no_key_bytes(text, key_pem)


def test_bad_vomses_lines_are_clipped_visible_and_counted(tmp_path):
    f = tmp_path / "vomses"
    f.write_text("\n".join(["bad \x1b[2J line " + "x" * 300] * 9) + "\n")
    _, problems = voms_env.read_vomses(f)
    assert len(problems) == voms_env.MAX_LINE_PROBLEMS + 1
    assert "\x1b" not in problems[0] and "\\x1b[2J" in problems[0]
    assert len(problems[0]) < 250
    assert "4 more lines" in problems[-1]


def test_undecodable_env_values_do_not_crash(tmp_path):
    odd = os.fsdecode(b"/tmp/\xff\xfe-nowhere")
    path, _default, problem = voms_env.location({"X509_VOMSES": odd}, "X509_VOMSES",
                                                tmp_path, "vomses")
    assert problem and "\\xff" in visible(problem)
    files_ = dirac_cfg.candidate_files({"DIRACSYSCONFIG": odd}, tmp_path, tmp_path)
    assert Path(odd) in [p for p, _ in files_]
    layered = dirac_cfg.load_layered({"DIRACSYSCONFIG": odd}, tmp_path, tmp_path)
    assert "\\xff" in visible(" ".join(layered.describe()))


# ----------------------------------------------------------------------------- dirac.cfg


def test_diracsysconfig_pointing_at_the_user_key_names_it_and_never_quotes_it(tmp_path, grid):
    key_pem = grid.user.key_pem("pkcs1")
    key = tmp_path / "userkey.pem"
    key.write_bytes(key_pem)
    layered = dirac_cfg.load_layered({"DIRACSYSCONFIG": str(key)}, tmp_path, tmp_path)
    [bad] = layered.broken
    assert bad.path == key
    assert "holds a PEM/key block, not a dirac.cfg" in bad.error
    assert bad.options == {} and bad.stray == []
    _assert_no_key_bytes(bad.error + "\n".join(layered.describe()), key_pem)


def test_a_cfg_over_its_cap_is_refused_after_one_fstat(tmp_path):
    f = tmp_path / "dirac.cfg"
    f.write_bytes(b"A = 1\n" * (dirac_cfg.MAX_CFG_BYTES // 6 + 1))
    assert "far larger than expected" in dirac_cfg.read_cfg_file(f, "x").error


def test_a_binary_cfg_is_named_not_parsed(tmp_path):
    f = tmp_path / "dirac.cfg"
    f.write_bytes(b"DIRAC\n{\n  Setup = \xff\xfe\n}\n")
    assert "not UTF-8 text" in dirac_cfg.read_cfg_file(f, "x").error


@pytest.mark.parametrize("text, why", [
    ("".join(f"O{i} = {i}\n" for i in range(2000)), "more than 256 entries"),
    ("".join(f"S{i}\n{{\nO = 1\n}}\n" for i in range(2000)), "more than 256 entries"),
    ("".join(f"S{i}\n{{\n" for i in range(5000)) + "}\n" * 5000, "nest more than 64"),
    ("X = 1\n" + "X += abcdefghijklmnop\n" * 5000, "far larger"),
    ("ABCDEFGH\n" * 100000, "hold no '='"),
], ids=["wide", "many-sections", "deep", "appends", "stray"])
def test_cfg_shapes_diraccfg_parses_quadratically_are_refused_quickly(tmp_path, text, why):
    f = tmp_path / "dirac.cfg"
    f.write_text(text)
    start = time.monotonic()
    entry = dirac_cfg.read_cfg_file(f, "<rootPath>/etc/dirac.cfg")
    assert why in (entry.error or "")
    assert entry.line > 0
    assert time.monotonic() - start < 5


def test_cfg_error_quoting_file_text_is_visible_and_clipped():
    with pytest.raises(dirac_cfg.CfgSyntaxError) as exc:
        dirac_cfg.parse_cfg("Evil\x1b]0;pwned\x07" + "y" * 400 + " += 1\n")
    message = str(exc.value)
    assert "\x1b" not in message and "\\x1b" in message
    assert len(message) < 400


def test_stray_lines_and_overrides_are_visible():
    assert dirac_cfg.stray_lines("A\x1b[2J\nB = 1\n") == [(1, "A\\x1b[2J")]
    o = dirac_cfg.Override("/DIRAC/Setup", "x\ny", Path("b"), "GridPP", Path("a"))
    assert "\n" not in o.describe() and "x\\x0ay" in o.describe()


# ----------------------------------------------------------------------------- FIFOs


def _never_hangs(call, seconds: float = 5.0):
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what was raised
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the read blocked"
    return result


def test_a_fifo_as_the_pass_phrase_file_does_not_hang(tmp_path):
    fifo = tmp_path / "pass"
    os.mkfifo(fifo)
    env = {"HOME": str(tmp_path)}
    settings = Settings.build(resolve({"mu3e_passphrase_file": str(fifo)}, env), env)
    assert _never_hangs(settings.passphrase) == {"value": None}


def test_fifos_where_proxy_cfg_and_vomses_are_expected_do_not_hang(tmp_path):
    fifo = tmp_path / "x509up_u1000"
    os.mkfifo(fifo)
    out = _never_hangs(lambda: proxy.read_proxy(fifo))
    assert isinstance(out["error"], files.Unreadable) and "FIFO" in str(out["error"])
    entry = _never_hangs(lambda: dirac_cfg.read_cfg_file(fifo, "$DIRACSYSCONFIG"))["value"]
    assert "FIFO" in entry.error  # type: ignore[union-attr]
    _, problems = _never_hangs(lambda: voms_env.read_vomses(fifo))["value"]  # type: ignore
    assert problems == [] or "FIFO" in problems[0]


# ----------------------------------------------------------------------------- host facts


def test_host_facts_start_no_program_even_with_uname_on_path(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    fake = tmp_path / "bin" / "uname"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho Evil\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ.get('PATH', '')}")
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
                       'VERSION_ID="12"\n# comment\nnot a line\n')
    facts = host_facts((release,))
    assert not marker.exists()
    assert facts.system == os.uname().sysname and facts.hostname == os.uname().nodename
    assert (facts.pretty_name, facts.distro_id, facts.version_id) == (
        "Debian GNU/Linux 12 (bookworm)", "debian", "12")
    assert facts.describe().startswith("Debian GNU/Linux 12 (bookworm) (Linux-")


def test_host_facts_without_os_release_or_with_a_fifo(tmp_path):
    fifo = tmp_path / "os-release"
    os.mkfifo(fifo)
    facts = _never_hangs(lambda: host_facts((fifo, tmp_path / "missing")))["value"]
    assert facts.pretty_name == "" and facts.describe().startswith(os.uname().sysname)


def test_os_release_quoting():
    assert parse_os_release('NAME="A \\"B\\""\nID=\'x\'\nX=1=2\n') == {
        "NAME": 'A "B"', "ID": "x", "X": "1=2"}


def test_pem_helper_round_trip(grid):
    # pem() from the factory is what the other tests build files with; keep it honest.
    assert pki.load_certificates(pem(grid.ca, grid.user))[1] == grid.user.cert


# ----------------------------------------------------------------------------- dist METADATA


def test_a_metadata_of_a_million_headers_is_named_quickly(tmp_path):
    from mu3e_checks.knowledge.pydists import find_dists

    meta = tmp_path / "DIRAC-8.0.74.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_bytes(b"Name: DIRAC\n" + b"A:b\n" * 1_000_000)
    start = time.monotonic()
    [dist] = find_dists([tmp_path], "DIRAC")
    assert time.monotonic() - start < 2
    assert dist.version == "8.0.74" and "not read" in (dist.problem or "")


def test_a_long_metadata_description_is_not_parsed(tmp_path):
    from mu3e_checks.knowledge.pydists import find_dists

    meta = tmp_path / "DIRAC-8.0.74.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_bytes(b"Name: DIRAC\r\nVersion: 8.0.74\r\nRequires-Python: >=3.9"
                                    b"\r\n\r\n" + b"Version: 9\n" * 300_000)
    [dist] = find_dists([tmp_path], "DIRAC")
    assert (dist.version, dist.requires_python, dist.problem) == ("8.0.74", ">=3.9", None)


# ----------------------------------------------------------------------------- what DIRAC refuses


def test_a_proxy_file_appended_to_itself_is_not_a_chain(grid, tmp_path):
    # DIRAC loads it, but its chain check then says "not a proxy" and finds no group.
    p = grid.pki.proxy(grid.user, group="mu3e.org_user")
    f = tmp_path / "x509up_u1000"
    f.write_bytes(p.proxy_file() * 2)
    with pytest.raises(pki.PemError, match="are not a chain: certificate 3 is not issued by"):
        proxy.read_proxy(f)
    f.write_bytes(p.proxy_file())
    assert proxy.read_proxy(f).proxy == p.cert


def test_bytes_dirac_cannot_decode_as_text_fail_cert_key_and_proxy(grid, tmp_path):
    # DIRAC opens these files as UTF-8 text: X509Chain.loadChainFromFile raises on 0xff.
    tail = b"\nfriendlyName: J\xfcrgen\n"
    with pytest.raises(pki.PemError, match="invalid UTF-8 at byte"):
        pki.pick_user_certificate(grid.user.cert_pem() + tail)
    with pytest.raises(pki.PemError, match="invalid UTF-8"):
        pki.load_private_key(grid.user.key_pem() + tail)
    f = tmp_path / "x509up_u1000"
    f.write_bytes(grid.pki.proxy(grid.user).proxy_file() + tail)
    with pytest.raises(pki.PemError, match="DIRAC reads the file as UTF-8 text"):
        proxy.read_proxy(f)


def test_the_same_user_certificate_twice_is_a_note(grid):
    found = pki.pick_user_certificate(grid.user.cert_pem() * 2)
    assert found.cert == grid.user.cert
    assert any("2 times" in n for n in found.notes)
