"""``mu3e-checks fix`` reads the .p12 exports real ``openssl pkcs12`` writes, old ones too."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from mu3e_checks import commands, repair
from tests.chapters.test_repair import run_fix, tree_hash
from tests.support.pki_factory import pem

pytestmark = [pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl"),
              pytest.mark.usefixtures("loopback_only")]


def _legacy_available() -> bool:
    probe = subprocess.run(["openssl", "list", "-providers", "-provider", "legacy"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and "legacy" in probe.stdout.lower()


VARIANTS = {
    "modern": [],
    "legacy-rc2-40": ["-legacy"],
    "descert": ["-descert"],
}


def openssl_p12(grid, directory: Path, passphrase: str, extra: list[str]) -> Path:
    """The export a CA's web page or a browser gives the user, made by openssl itself."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "in-cert.pem", directory / "in-key.pem"
    cert.write_bytes(pem(grid.user))
    key.write_bytes(grid.user.key_pem("pkcs8", None))
    out = directory / "usercred.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(cert), "-inkey", str(key),
                    "-out", str(out), "-passout", f"pass:{passphrase}", *extra],
                   check=True, capture_output=True)
    cert.unlink()
    key.unlink()
    out.chmod(0o600)
    return out


def _action(p12: Path, globus: Path):
    return commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_openssl_exports_are_extracted_and_openssl_reads_the_result(grid, tmp_path, variant):
    if variant == "legacy-rc2-40" and not _legacy_available():
        pytest.skip("this openssl has no legacy provider")
    p12 = openssl_p12(grid, tmp_path / "in", "s3cret pass", VARIANTS[variant])
    globus = tmp_path / ".globus"
    ctx = repair.Context(home=tmp_path, environ={"MU3E_KEY_PASSPHRASE": "s3cret pass"})
    repair.apply_pkcs12(_action(p12, globus), ctx)
    key_file = globus / "userkey.pem"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key = load_pem_private_key(key_file.read_bytes(), b"s3cret pass")
    assert key.public_key().public_numbers() == grid.user.cert.public_key().public_numbers()
    # The peer agrees: openssl opens the key with the same pass phrase and matches the pair.
    mod_key = subprocess.run(["openssl", "rsa", "-in", str(key_file), "-passin",
                              "pass:s3cret pass", "-noout", "-modulus"],
                             capture_output=True, text=True, check=True).stdout
    mod_cert = subprocess.run(["openssl", "x509", "-in", str(globus / "usercert.pem"),
                               "-noout", "-modulus"], capture_output=True, text=True,
                              check=True).stdout
    assert mod_key == mod_cert


def test_empty_pass_phrase_export(grid, tmp_path):
    p12 = openssl_p12(grid, tmp_path / "in", "", [])
    globus = tmp_path / ".globus"
    log = repair.apply_pkcs12(_action(p12, globus), repair.Context(
        home=tmp_path, environ={"MU3E_KEY_PASSPHRASE": ""}))
    assert any("NOT encrypted" in ln and "empty pass phrase" in ln for ln in log)
    assert load_pem_private_key((globus / "userkey.pem").read_bytes(), None)


def test_wrong_pass_phrase_is_a_clear_failure_and_writes_nothing(grid, tmp_path):
    home = grid.home(tmp_path)
    globus = home / ".globus"
    for name in ("usercert.pem", "userkey.pem"):
        (globus / name).unlink()
    openssl_p12(grid, globus, "right one", [])
    before = tree_hash(home)
    r = run_fix(home, "--yes", "--mu3e-select", "CERT",
                env={"MU3E_KEY_PASSPHRASE": "wrong one"})
    assert "CERT-001: NOT repaired: the .p12 cannot be opened with this pass phrase" in r.stdout, \
        r.stdout + r.stderr
    assert r.returncode == 1
    assert tree_hash(home) == before


# ------------------------------------------------------------------ fetch-crl as the oracle

def igtf_dir(directory: Path, cas, crls, base: str) -> Path:
    """An IGTF-layout CA dir: ``<name>.pem``, ``<name>.crl_url``, ``<hash>.0`` links to the
    ``.pem``, and the current ``<hash>.r0``."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.support.pki_factory import subject_hash

    directory.mkdir(parents=True)
    for n, ca in enumerate(cas):
        name, h = f"TestCA-{n}", subject_hash(ca.cert)
        (directory / f"{name}.pem").write_bytes(ca.cert_pem())
        (directory / f"{name}.crl_url").write_text(f"{base}/{h}.crl\n")
        (directory / f"{h}.0").symlink_to(f"{name}.pem")
        (directory / f"{h}.r0").write_bytes(crls[n].public_bytes(Encoding.PEM))
    return directory


def _crl_facts(directory: Path) -> dict[str, tuple[str, object]]:
    from cryptography import x509

    out = {}
    for p in sorted(directory.glob("*.r0")):
        if (directory / f"{p.stem}.0").exists():  # the names OpenSSL reads
            crl = x509.load_pem_x509_crl(p.read_bytes())
            out[p.name] = (crl.issuer.rfc4514_string(), crl.next_update_utc)
    return out


@pytest.mark.skipif(not shutil.which("fetch-crl"), reason="needs fetch-crl")
def test_our_refresh_and_fetch_crl_leave_the_same_crls(tmp_path):
    from tests.support.crl_server import serve
    from tests.support.pki_factory import DAY, NOW, PKI, pem, subject_hash

    pki = PKI()
    cas = [pki.ca(f"Oracle CA {n}") for n in range(4)]
    stale = [pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY) for ca in cas]
    fresh = {f"/{subject_hash(ca.cert)}.crl": pem(pki.crl(ca, next_update=NOW + 3 * DAY))
             for ca in cas}
    with serve(fresh) as server:
        ours = igtf_dir(tmp_path / "ours", cas, stale, server.base)
        theirs = igtf_dir(tmp_path / "theirs", cas, stale, server.base)
        log = repair.refresh_crls(ours, seconds=5.0)
        peer = subprocess.run(["fetch-crl", "-l", str(theirs), "-o", str(theirs)],
                              capture_output=True, text=True, timeout=120)
    assert peer.returncode == 0, peer.stderr
    assert len([ln for ln in log if " <- " in ln]) == len(cas), log
    facts = _crl_facts(ours)
    assert len(facts) == len(cas)
    assert facts == _crl_facts(theirs)


# ------------------------------------------------------------------ the real IGTF bundles

IGTF = Path("/usr/share/igtf-policy/classic")
GUIDE_CAS = ("UKeScienceCA-2B", "UKeScienceRoot-2007", "CERN-Root-2", "CERN-GridCA")


def real_bundle(alias: str) -> bytes:
    """``ca_<alias>-1.133.tar.gz`` as the EGI repository lays it out, built from Debian's
    igtf-policy-classic files: the alias's files, and both hash names linking to them."""
    from cryptography import x509

    from tests.support.igtf_bundles import tar_gz
    from tests.support.pki_factory import subject_hash, subject_hash_old

    files = sorted(IGTF.glob(f"{alias}.*"))
    cert = x509.load_pem_x509_certificate((IGTF / f"{alias}.pem").read_bytes())
    members = [(f.name, f.read_bytes(), None) for f in files]
    for h in dict.fromkeys((subject_hash(cert), subject_hash_old(cert))):
        for f in files:
            ext = f.name[len(alias) + 1:]
            if ext in ("pem", "signing_policy", "namespaces"):
                members.append((f"{h}.{'0' if ext == 'pem' else ext}", None, f.name))
    return tar_gz(members, f"ca_{alias}-1.133")


@pytest.fixture(scope="module")
def igtf_present() -> None:
    assert IGTF.is_dir(), "igtf-policy-classic is missing (apt-get install igtf-policy-classic)"


@pytest.mark.parametrize("alias", GUIDE_CAS)
def test_the_real_bundles_pass_every_rule_with_the_packaged_keys(igtf_present, alias):
    """The packaged known keys are the real CAs' (read from the IGTF package, not copied by
    hand), and a bundle with the real layout (.info with sha1fp.0, both hash names,
    .signing_policy, .namespaces) passes every content rule."""
    bundle = repair.check_bundle(real_bundle(alias), alias)
    assert bundle.notes == ()
    from mu3e_checks.repair.bundles import key_digest

    assert key_digest(bundle.cert) in repair.known_keys().keys[alias]


def test_a_real_bundle_installs_as_tar_strip_components_does_and_openssl_agrees(
        igtf_present, tmp_path):
    """fix's install of the real UK pair leaves what ``tar xzf --strip-components=1`` leaves,
    and openssl verifies CA 2B against the directory (the hash links work)."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    theirs.mkdir()
    for alias in ("UKeScienceRoot-2007", "UKeScienceCA-2B"):
        data = real_bundle(alias)
        repair.install_bundle(repair.check_bundle(data, alias), ours, "s")
        tgz = tmp_path / f"{alias}.tgz"
        tgz.write_bytes(data)
        subprocess.run(["tar", "xzf", str(tgz), "--strip-components=1", "-C", str(theirs)],
                       check=True)
    listing = {p.name: (os.readlink(p) if p.is_symlink() else p.read_bytes())
               for p in sorted(ours.iterdir())}
    assert listing == {p.name: (os.readlink(p) if p.is_symlink() else p.read_bytes())
                       for p in sorted(theirs.iterdir())}
    ok = subprocess.run(["openssl", "verify", "-CApath", str(ours),
                         str(ours / "UKeScienceCA-2B.pem")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.skipif(not shutil.which("fetch-crl"), reason="needs fetch-crl")
def test_a_minimal_refresh_ends_where_fetch_crl_ends(tmp_path):
    """Two CAs with current CRLs, two stale: fetch-crl rewrites all four, ours only the two
    stale ones; the CRLs OpenSSL then reads are the same in both directories."""
    from tests.support.crl_server import serve
    from tests.support.pki_factory import DAY, NOW, PKI, pem, subject_hash

    pki = PKI()
    cas = [pki.ca(f"Minimal CA {n}") for n in range(4)]
    current = [pki.crl(ca) for ca in cas[:2]]
    stale = [pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY) for ca in cas[2:]]
    served = {f"/{subject_hash(ca.cert)}.crl": pem(crl) for ca, crl in zip(cas[:2], current)}
    served.update({f"/{subject_hash(ca.cert)}.crl": pem(pki.crl(ca)) for ca in cas[2:]})
    with serve(served) as server:
        ours = igtf_dir(tmp_path / "ours", cas, current + stale, server.base)
        theirs = igtf_dir(tmp_path / "theirs", cas, current + stale, server.base)
        log = repair.refresh_crls(ours, seconds=5.0)
        assert sorted(server.hits) == sorted(f"/{subject_hash(ca.cert)}.crl" for ca in cas[2:])
        peer = subprocess.run(["fetch-crl", "-l", str(theirs), "-o", str(theirs)],
                              capture_output=True, text=True, timeout=120)
    assert peer.returncode == 0, peer.stderr
    assert len([ln for ln in log if " <- " in ln]) == 2, log
    assert _crl_facts(ours) == _crl_facts(theirs) and len(_crl_facts(ours)) == 4
