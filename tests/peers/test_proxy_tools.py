"""Proxies made by the real tools users run: grid-proxy-init, voms-proxy-fake, DIRAC 8.0.74.

These tests fail (never skip) when a tool is missing: CI installs them (.ci/install-peers).
Every tool gets its inputs through explicit paths and variables pointing into tmp dirs, so the
machine's own proxy, ~/.globus and /etc/grid-security are never read or written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from mu3e_checks.knowledge.pki import dn_slash
from mu3e_checks.knowledge.proxy import find_group, read_proxy
from mu3e_checks.knowledge.voms import find_voms
from tests.support.runner import run_checks

pytestmark = pytest.mark.peer

DIRAC = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
SELECT = ("--mu3e-select", "PROXY,GROUP,VOMS")
GROUP_EXT = "1.2.42.42~160D" + b"mu3e.org_user".hex().upper()


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"real peer {name} is missing; run .ci/install-peers"
    return path


def signing_policies(cadir: Path) -> None:
    """Globus tools need <hash>.signing_policy next to each CA (IGTF ships them)."""
    for ca in cadir.glob("*.0"):
        cert = x509.load_pem_x509_certificate(ca.read_bytes())
        subject = dn_slash(cert.subject)
        prefix = subject.rsplit("/CN=", 1)[0]
        (cadir / f"{ca.name[:-2]}.signing_policy").write_text(
            f"access_id_CA X509 '{subject}'\npos_rights globus CA:sign\n"
            f"cond_subjects globus '\"{prefix}/*\"'\n")


@pytest.fixture
def world(grid, tmp_path):
    home = grid.home(tmp_path)
    cadir = home / "dirac_ui/diracos/etc/grid-security/certificates"
    signing_policies(cadir)
    globus = home / ".globus"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("X509_", "GRID_", "DIRAC", "VOMS"))}
    env.update(HOME=str(home), X509_CERT_DIR=str(cadir),
               X509_USER_CERT=str(globus / "usercert.pem"),
               X509_USER_KEY=str(globus / "userkey.pem"))
    return home, cadir, env


def make(argv: list[str], env: dict, out: Path) -> Path:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=out.parent)
    assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    assert out.is_file(), (proc.stdout, proc.stderr)
    return out


def verdicts(home: Path, proxy: Path, *args: str):
    r = run_checks(home, *SELECT, *args, env={"X509_USER_PROXY": str(proxy)})
    assert "Traceback" not in r.stdout + r.stderr
    return r


def test_grid_proxy_init_rfc3820(world, tmp_path):
    home, cadir, env = world
    out = make([tool("grid-proxy-init"), "-pwstdin", "-out", str(tmp_path / "gp")], env,
               tmp_path / "gp")
    proxy = read_proxy(out)
    assert proxy.format == "rfc3820" and proxy.policy == "impersonation"
    r = verdicts(home, out)
    for cid in ("PROXY-001", "PROXY-002", "PROXY-003", "PROXY-004", "PROXY-005", "PROXY-006",
                "PROXY-007", "PROXY-008", "PROXY-009"):
        assert r.outcome(cid) == "passed", (cid, r[cid].message)
    # grid-proxy-init knows nothing of DIRAC groups.
    assert r.outcome("GROUP-001") == "failed"
    assert r["GROUP-001"].fix.startswith("dirac-proxy-init -g mu3e.org_user -M")


def test_grid_proxy_init_old_is_legacy(world, tmp_path):
    home, cadir, env = world
    out = make([tool("grid-proxy-init"), "-old", "-pwstdin", "-out", str(tmp_path / "gp")],
               env, tmp_path / "gp")
    assert read_proxy(out).format == "legacy"
    r = verdicts(home, out)
    assert r.outcome("PROXY-005") == "failed"
    assert "legacy Globus proxy" in r["PROXY-005"].message
    assert r.failed() == ["PROXY-005"]


def test_openssl_agrees_legacy_proxy_cannot_be_verified(world, tmp_path):
    """The reason PROXY-005 fails legacy proxies: openssl verify rejects them."""
    home, cadir, env = world
    out = make([tool("grid-proxy-init"), "-old", "-pwstdin", "-out", str(tmp_path / "gp")],
               env, tmp_path / "gp")
    proc = subprocess.run([tool("openssl"), "verify", "-CApath", str(cadir), "-allow_proxy_certs",
                           "-untrusted", str(out), str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0


def voms_fake(env: dict, tmp_path: Path, grid, *, extension: bool = True, vo: str = "mu3e.org",
              extra: tuple[str, ...] = ()) -> Path:
    server = grid.pki.host(grid.ca, "voms.example.org")
    (tmp_path / "voms.pem").write_bytes(server.cert_pem())
    key = tmp_path / "vomskey.pem"
    key.write_bytes(server.key_pem("pkcs1"))
    os.chmod(key, 0o600)
    out = tmp_path / "vp"
    argv = [tool("voms-proxy-fake"), "-rfc", "-hostcert", str(tmp_path / "voms.pem"),
            "-hostkey", str(key), "-voms", vo, "-uri", "voms.example.org:15000",
            "-fqan", f"/{vo}/Role=NULL/Capability=NULL", "-out", str(out),
            "-certdir", env["X509_CERT_DIR"], "-cert", env["X509_USER_CERT"],
            "-key", env["X509_USER_KEY"], *extra]
    if extension:
        argv += ["-extension", GROUP_EXT]
    return make(argv, env, out)


def test_voms_proxy_fake_with_group_passes(world, tmp_path, grid):
    home, cadir, env = world
    out = voms_fake(env, tmp_path, grid)
    proxy = read_proxy(out)
    acs = find_voms(proxy.certs).acs
    assert acs and acs[0].vo == "mu3e.org" and acs[0].signature_ok is True
    assert acs[0].fqans == ("/mu3e.org/Role=NULL/Capability=NULL",)
    assert acs[0].issuer.endswith("/CN=voms.example.org")
    assert acs[0].server == "voms.example.org:15000"
    assert find_group(proxy.certs).group == "mu3e.org_user"
    r = verdicts(home, out)
    for cid, case in r.cases.items():
        assert case.outcome == "passed", (cid, case.message)
    assert r.returncode == 0


def test_voms_proxy_fake_parsed_as_voms_proxy_info_does(world, tmp_path, grid):
    """Our reading of the AC matches voms-proxy-info's (needs a vomsdir with an .lsc)."""
    home, cadir, env = world
    out = voms_fake(env, tmp_path, grid)
    server = x509.load_pem_x509_certificate((tmp_path / "voms.pem").read_bytes())
    vomsdir = tmp_path / "vomsdir" / "mu3e.org"
    vomsdir.mkdir(parents=True)
    (vomsdir / "voms.example.org.lsc").write_text(
        f"{dn_slash(server.subject)}\n{dn_slash(server.issuer)}\n")
    proc = subprocess.run([tool("voms-proxy-info"), "-all", "-file", str(out)],
                          env={**env, "X509_VOMS_DIR": str(tmp_path / "vomsdir")},
                          capture_output=True, text=True, timeout=60)
    text = proc.stdout + proc.stderr
    ac = find_voms(read_proxy(out).certs).acs[0]
    assert f"VO        : {ac.vo}" in text
    assert f"attribute : {ac.fqans[0]}" in text


def test_voms_proxy_fake_other_vo_and_no_group(world, tmp_path, grid):
    home, cadir, env = world
    out = voms_fake(env, tmp_path, grid, extension=False, vo="atlas")
    r = verdicts(home, out)
    assert r.outcome("GROUP-001") == "failed"
    assert r.outcome("VOMS-002") == "failed" and "'atlas'" in r["VOMS-002"].message


def test_voms_proxy_fake_expired_ac(world, tmp_path, grid):
    """-vomslife 1 with the AC started 2 h ago: the AC expired, the proxy lives on."""
    home, cadir, env = world
    out = voms_fake(env, tmp_path, grid, extra=("-vomslife", "1", "-pastac", "7200"))
    r = verdicts(home, out)
    assert r.outcome("PROXY-008") == "passed"
    assert r.outcome("VOMS-003") == "failed"
    assert "while the proxy is still valid" in r["VOMS-003"].message


def dirac_proxy_init(env: dict, tmp_path: Path, *args: str) -> Path:
    exe = DIRAC / "bin" / "dirac-proxy-init"
    assert exe.is_file(), f"real DIRAC 8.0.74 missing at {DIRAC}; run .ci/install-dirac"
    root = tmp_path / "dirac-root"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    out = tmp_path / "dirac-proxy"
    denv = {**env, "DIRAC_ROOT_PATH": str(root), "X509_USER_PROXY": str(out),
            "PATH": f"{DIRAC / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    return make([str(exe), *args], denv, out)


def test_real_dirac_proxy_with_group(world, tmp_path):
    home, cadir, env = world
    out = dirac_proxy_init(env, tmp_path, "--nocs", "-N", "-g", "mu3e.org_user")
    proxy = read_proxy(out)
    assert proxy.format == "rfc3820" and proxy.key_format == "PKCS#8"
    assert find_group(proxy.certs).group == "mu3e.org_user"
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    r = verdicts(home, out)
    for cid in ("PROXY-001", "PROXY-002", "PROXY-003", "PROXY-004", "PROXY-005", "PROXY-006",
                "PROXY-007", "PROXY-008", "PROXY-009", "GROUP-001", "GROUP-002"):
        assert r.outcome(cid) == "passed", (cid, r[cid].message)
    # --nocs cannot reach voms-proxy-init: no VOMS attributes, which the guide's -M adds.
    assert r.outcome("VOMS-001") == "warned"
    assert r.returncode == 0


def test_real_dirac_proxy_without_group(world, tmp_path):
    """'dirac-proxy-init --nocs' (the guide's local step) makes a proxy without a group."""
    home, cadir, env = world
    out = dirac_proxy_init(env, tmp_path, "--nocs", "-N")
    assert find_group(read_proxy(out).certs).group is None
    r = verdicts(home, out)
    assert r.outcome("PROXY-006") == "passed"
    assert r.outcome("GROUP-001") == "failed"
    assert "Configuration Server" in r["GROUP-001"].message


def test_real_dirac_keeps_mode_644_of_an_existing_file(world, tmp_path):
    """DIRAC opens an existing file with O_TRUNC, so a 644 proxy stays 644: PROXY-002 fails."""
    home, cadir, env = world
    target = tmp_path / "dirac-proxy"
    target.write_text("")
    os.chmod(target, 0o644)
    out = dirac_proxy_init(env, tmp_path, "--nocs", "-N", "-g", "mu3e.org_user")
    assert out.stat().st_mode & 0o777 == 0o644
    r = verdicts(home, out)
    assert r.outcome("PROXY-002") == "failed"
    assert r["PROXY-002"].fix == f"chmod 600 {out}"
