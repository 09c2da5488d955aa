"""``mu3e-checks fix`` reads the .p12 exports real ``openssl pkcs12`` writes, old ones too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from mu3e_checks import commands, repair
from tests.chapters.test_repair import run_fix, tree_hash
from tests.support.pki_factory import pem

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


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
