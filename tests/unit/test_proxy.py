"""Unit tests of the proxy knowledge: location, parsing, format, group, file mode, fixes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mu3e_checks.advice import proxy as adv
from mu3e_checks.knowledge import der as der_mod
from mu3e_checks.knowledge import proxy as px
from mu3e_checks.knowledge.pki import PemError
from mu3e_checks.knowledge.trust import ChainVerdict
from tests.support.pki_factory import der, ia5, write_proxy


def test_location_precedence(tmp_path):
    gpf, xup = write_proxy_stub(tmp_path / "gpf"), write_proxy_stub(tmp_path / "xup")
    default = write_proxy_stub(tmp_path / "x509up_u1234")
    env = {"GRID_PROXY_FILE": str(gpf), "X509_USER_PROXY": str(xup)}
    loc = px.locate_proxy(env, 1234, tmp=tmp_path)
    assert (loc.path, loc.source, loc.exists) == (gpf, "$GRID_PROXY_FILE", True)
    assert loc.shadowed == (("X509_USER_PROXY", str(xup)),) and not loc.dangling
    loc = px.locate_proxy({"X509_USER_PROXY": str(xup)}, 1234, tmp=tmp_path)
    assert (loc.path, loc.source) == (xup, "$X509_USER_PROXY")
    loc = px.locate_proxy({}, 1234, tmp=tmp_path)
    assert (loc.path, loc.source, loc.exists) == (default, "default", True)


def test_dangling_variables_are_skipped_and_recorded(tmp_path):
    xup = write_proxy_stub(tmp_path / "xup")
    env = {"GRID_PROXY_FILE": str(tmp_path / "gone"), "X509_USER_PROXY": str(xup)}
    loc = px.locate_proxy(env, 1234, tmp=tmp_path)
    assert loc.path == xup and loc.dangling == (("GRID_PROXY_FILE", str(tmp_path / "gone")),)
    loc = px.locate_proxy({"X509_USER_PROXY": str(tmp_path)}, 1234, tmp=tmp_path)  # a dir
    assert loc.source == "default" and not loc.exists and loc.dangling


def test_override_wins(tmp_path):
    loc = px.locate_proxy({"X509_USER_PROXY": "/x"}, 1, override=tmp_path / "p", tmp=tmp_path)
    assert (loc.path, loc.source, loc.exists) == (tmp_path / "p", "--mu3e-proxy", False)


def test_write_target_follows_dirac(tmp_path):
    """DIRAC writes to the first variable that is set, file or not."""
    assert px.write_target({"GRID_PROXY_FILE": "/a", "X509_USER_PROXY": "/b"}, 5) == Path("/a")
    assert px.write_target({"X509_USER_PROXY": "/b"}, 5) == Path("/b")
    assert px.write_target({}, 5, tmp=tmp_path) == tmp_path / "x509up_u5"


def write_proxy_stub(path: Path) -> Path:
    path.write_text("stub")
    return path


def test_parse_dirac_style_proxy(grid, tmp_path):
    p = grid.pki.proxy(grid.user, group="mu3e.org_user")
    found = px.read_proxy(write_proxy(tmp_path / "p", p))
    assert found.proxy == p.cert and found.chain[0] == grid.user.cert
    assert found.identity == grid.user.cert
    assert found.identity_dn == "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
    assert (found.format, found.policy, found.limited, found.diracx) == \
        ("rfc3820", "impersonation", False, False)
    assert found.key_matches and found.key_format == "PKCS#8"
    assert found.end() == min(p.cert.not_valid_after_utc, grid.ca.cert.not_valid_after_utc)
    assert "RFC 3820 impersonation proxy of" in found.describe()


@pytest.mark.parametrize("kind,fmt,policy", [
    ("limited", "rfc3820", "limited"), ("legacy", "legacy", "impersonation"),
    ("legacy-limited", "legacy", "limited"),
])
def test_formats_and_policies(grid, tmp_path, kind, fmt, policy):
    found = px.read_proxy(write_proxy(tmp_path / "p", grid.pki.proxy(grid.user, kind=kind)))
    assert (found.format, found.policy) == (fmt, policy)


def test_pkcs1_key_and_diracx_block(grid):
    p = grid.pki.proxy(grid.user)
    data = (p.cert_pem() + p.key_pem("pkcs1") + grid.user.cert_pem()
            + b"-----BEGIN DIRACX-----\nnot base64 at all {}\n-----END DIRACX-----\n")
    found = px.parse_proxy(data, Path("p"))
    assert found.diracx and found.key_format == "PKCS#1" and found.key_matches


@pytest.mark.parametrize("make,expect", [
    (lambda g, p: b"   \n", "is empty"),
    (lambda g, p: p.cert_pem(), "no private key"),
    (lambda g, p: g.user.cert_pem() + g.user.key_pem(), "not a proxy certificate"),
    (lambda g, p: p.cert_pem() + p.key_pem(passphrase=b"x"), "encrypted"),
    (lambda g, p: p.key_pem(), "no PEM certificate"),
])
def test_parse_errors_are_sentences(grid, make, expect):
    p = grid.pki.proxy(grid.user)
    with pytest.raises(PemError, match=expect):
        px.parse_proxy(make(grid, p), Path("/tmp/x509up_u1"))


def test_damaged_proxy_cert_info(grid):
    from cryptography import x509

    # A proxy whose critical proxyCertInfo is junk: cryptography keeps it as raw bytes.
    p = grid.pki.proxy(grid.user, kind="legacy",
                       extensions=[(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"), b"\x30\x00")])
    with pytest.raises(PemError, match="damaged proxyCertInfo"):
        px.parse_proxy(p.proxy_file(), Path("p"))


def test_group_is_found_on_any_certificate(grid):
    dirac = grid.pki.proxy(grid.user, group="mu3e.org_user")
    outer = grid.pki.proxy(dirac)
    found = px.find_group([outer.cert, dirac.cert, grid.user.cert])
    assert found.group == "mu3e.org_user" and found.groups == ((1, "mu3e.org_user"),)
    assert px.find_group([grid.user.cert]).group is None


def test_group_nearest_the_proxy_wins_and_junk_is_reported(grid):
    from cryptography import x509

    inner = grid.pki.proxy(grid.user, group="lhcb_user")
    outer = grid.pki.proxy(inner, group="mu3e.org_user")
    assert px.find_group([outer.cert, inner.cert]).group == "mu3e.org_user"
    junk = grid.pki.proxy(grid.user, extensions=[(x509.ObjectIdentifier("1.2.42.42"),
                                                  b"\x16\x10short")])
    found = px.find_group([junk.cert])
    assert found.group is None and "not a readable string" in found.errors[0]


def test_decode_group_refuses_utf8string_as_dirac_does():
    # DIRAC 8 decodes the group as an IA5String; on a UTF8String its getDIRACGroup raises
    # (tests/peers/test_dirac_loaders.py), so such a group must not pass GROUP-001.
    assert px.decode_group(ia5("mu3e.org_user")) == "mu3e.org_user"
    with pytest.raises(der_mod.DerError, match="not the IA5String"):
        px.decode_group(der(0x0C, b"mu3e.org_user"))


@pytest.mark.parametrize("mode,severity,text", [
    (0o600, "", ""), (0o400, "warn", "cannot overwrite"), (0o644, "fail", "voms-proxy-init"),
    (0o640, "fail", "mode 640"), (0o200, "fail", "cannot read it yourself"),
])
def test_file_modes(tmp_path, mode, severity, text):
    path = write_proxy_stub(tmp_path / "p")
    os.chmod(path, mode)
    got_severity, why = px.proxy_file_problem(path, os.getuid())
    assert got_severity == severity and text in why


def test_file_of_another_user(tmp_path):
    path = write_proxy_stub(tmp_path / "p")
    os.chmod(path, 0o600)
    severity, why = px.proxy_file_problem(path, os.getuid() + 1)
    assert severity == "fail" and "another user's proxy" in why


@pytest.mark.parametrize("verdict,expect", [
    (ChainVerdict(False, 12, "crl", lookup_name="abcd1234.r0"), "fetch-crl -l /ca"),
    (ChainVerdict(False, 20, "ca", missing_issuer_dn="/CN=X CA", lookup_name="abcd1234.0"),
     "# install the CA '/CN=X CA' into /ca"),
    (ChainVerdict(False, 23, "revoked", failing_dn="/CN=Jane", depth=1),
     "# /CN=Jane is revoked: ask your CA"),
    (ChainVerdict(False, 7, "sig"), "dirac-proxy-init -g mu3e.org_user -M -t"),
])
def test_chain_fix_by_cause(verdict, expect):
    assert adv.chain_fix(verdict, Path("/ca"), "mu3e.org_user").render().startswith(expect)


HOSTILE_DN = "/CN=X\n$(touch PWNED)`touch PWNED`\x1b]0;t\x07\u202e"


@pytest.mark.parametrize("verdict", [
    ChainVerdict(False, 20, "ca", missing_issuer_dn=HOSTILE_DN, lookup_name="abcd1234.0"),
    ChainVerdict(False, 23, "revoked", failing_dn=HOSTILE_DN, depth=1),
    ChainVerdict(False, 12, "crl", lookup_name="abcd1234.r0"),
    ChainVerdict(False, 7, "sig"),
])
def test_chain_fix_with_hostile_dn_group_and_dir_runs_nothing_when_pasted(verdict, tmp_path):
    """A DN from a certificate, a CA directory and a group are data: pasted into bash, the fix
    runs none of them, and every line stays one visible line."""
    import subprocess

    ca_dir = tmp_path / "ca $(touch PWNED);"
    text = adv.chain_fix(verdict, ca_dir, "g`touch PWNED`\n").render()
    assert "\x1b" not in text and "\u202e" not in text
    assert all(line.startswith("#") or "fetch-crl" in line or "dirac-proxy-init" in line
               for line in text.split("\n"))
    subprocess.run(["bash", "-n", "-c", text], check=True)
    # Run it with the commands it names replaced by no-ops: only the values' payload could
    # create PWNED, and it must stay data.
    stub = "fetch-crl() { :; }; dirac-proxy-init() { :; }\n"
    subprocess.run(["bash", "-c", stub + text], cwd=tmp_path, capture_output=True)
    assert not (tmp_path / "PWNED").exists()


def test_init_command_is_the_guide_line():
    assert adv.init_command("mu3e.org_user").render() == "dirac-proxy-init -g mu3e.org_user -M -t"
    assert adv.init_command("a b;c").render() == "dirac-proxy-init -g 'a b;c' -M -t"


def test_a_proxy_not_signed_by_the_users_key_is_named_whatever_the_crls(grid, tmp_path):
    """What dirac-proxy-init --nocs makes from a certificate and a key that do not belong
    together: the proxy names the user as issuer, another key signed it (issue 19)."""
    from tests.support.pki_factory import Entity, new_key

    other = new_key(fresh=True)
    wrong = grid.pki.proxy(Entity(grid.user.cert, other, issuer=grid.ca), group="g")
    wrong.issuer = grid.user
    f = write_proxy(tmp_path / "x509up_u1000", wrong)
    proxy = px.read_proxy(f)  # a chain by name: PROXY-003 reads it
    problem = px.signature_problem(proxy)
    assert problem and "was not signed by your certificate's key" in problem
    assert str(f) in problem and "Jane Physicist" in problem
    assert px.signature_problem(px.read_proxy(write_proxy(
        tmp_path / "good", grid.pki.proxy(grid.user)))) is None


def test_a_voms_proxy_signed_by_another_key_than_the_proxy_below_it(grid, tmp_path):
    from tests.support.pki_factory import Entity, new_key

    inner = grid.pki.proxy(grid.user, group="g")
    outer = grid.pki.proxy(Entity(inner.cert, new_key(fresh=True), issuer=grid.user))
    outer.issuer = inner
    problem = px.signature_problem(px.read_proxy(write_proxy(tmp_path / "p", outer)))
    assert problem and "the key of the proxy it names as its issuer" in problem


def test_a_file_whose_names_do_not_chain_is_no_proxy_file_at_index_0(grid, tmp_path):
    """The first break (index 0) counts: it was never reported before issue 19."""
    a = grid.pki.proxy(grid.user)
    b = grid.pki.proxy(grid.user)
    data = a.cert_pem() + a.key_pem() + b.cert_pem()  # a proxy, then a proxy it is not from
    f = tmp_path / "x509up_u1000"
    f.write_bytes(data)
    with pytest.raises(PemError, match="certificate 1 is not issued by certificate 2"):
        px.read_proxy(f)


def test_damaged_extensions_in_a_proxy_are_a_sentence_not_a_crash(grid, tmp_path):
    from tests.support import malformed as M

    p = grid.pki.proxy(grid.user, group="mu3e.org_user")
    for name in ("dup-any-extension", "basic-constraints-not-der", "key-usage-empty",
                 "san-garbage", "version-5"):
        bad = M.CERTIFICATE_MUTATIONS[name](p.cert, grid.user.key)
        f = tmp_path / name
        f.write_bytes(M.cert_pem(bad) + p.key_pem() + grid.user.cert_pem())
        with pytest.raises(PemError, match=re.escape(str(f))):
            px.read_proxy(f)
        # The report's proxy summary reads the same file: a line, never an exception.
        from mu3e_checks.environment import read_chain

        chain, why = read_chain(f)
        assert chain is None and why
