"""The explain catalogue's remaining entries, each produced by the real program that prints it.

tests/unit/test_explain.py matches typed-in lines; here bash, coreutils' realpath, openssl,
grid-proxy-init, voms-proxy-init, voms-proxy-fake, a real Python and DIRAC 8.0.74 itself are
run on broken setups, their output is keyed, and where a check decides the cause,
``mu3e-checks explain -- <the same command>`` must confirm it with that check's failure.  Every
program gets its inputs through explicit paths and variables pointing into tmp dirs (the
:class:`World` of test_explain_dirac.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mu3e_checks import explain
from tests.peers.test_explain_dirac import (
    DIRAC,
    GROUP,
    PROXY_INIT,
    World,
    all_keys,
    keys,
    section,
)
from tests.peers.test_explain_voms import REGISTRY_CFG
from tests.support.diset_server import closed_port
from tests.support.voms_standin import VomsStandIn, vomses_line

pytestmark = pytest.mark.peer


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"real peer {name} is missing"
    return found


def confirmed_by(world: World, check_id: str, argv: list[str], returncode: int,
                 *opts: str, cause: str = "", outcome: str = "failed", **env: str) -> str:
    """``mu3e-checks explain [opts] -- argv``: the command's exit code is passed through, and
    ``check_id`` failed (or, for a warn-severity check, warned) under the confirmed cause."""
    r = world.explain("--mu3e-offline", *opts, "--", *argv, **env)
    text = section(r.stdout)
    assert r.returncode == returncode, r.stdout[-3000:]
    assert "confirmed cause: " + cause in text, text
    confirmed = text.split("confirmed cause", 1)[1].split("ruled out", 1)[0]
    assert f"{check_id} {outcome}" in confirmed, text
    return text


def no_path(*progs: str) -> str:
    """A PATH (the DIRAC venv's bin, where DIRAC's own scripts are) lacking ``progs``."""
    path = str(DIRAC / "bin")
    for p in progs:
        assert shutil.which(p, path=path) is None, p
    return path


# ----------------------------------------------------------------------------- the shell

def test_command_not_found_is_the_inactive_diracos(grid, tmp_path):
    """bash itself says "command not found" when DIRACOS was never sourced."""
    world = World(grid, tmp_path)
    bash = tool("bash")
    argv = [bash, "-c", f"dirac-proxy-init -g {GROUP}"]
    env = {"PATH": "/usr/bin:/bin"}
    proc = world.run(argv, **env)
    assert proc.returncode == 127, proc.stdout
    assert "dirac-proxy-init: command not found" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["command-not-found"]
    confirmed_by(world, "DIRACOS-003", argv, 127,
                 cause="the DIRACOS environment is not active in this shell", **env)


def test_realpath_of_an_empty_variable_is_harmless(grid, tmp_path):
    """The line diracosrc prints: coreutils' realpath given the empty value of a variable."""
    world = World(grid, tmp_path)
    argv = [tool("bash"), "-c", 'unset CONDA_EXE; realpath "$CONDA_EXE"; true']
    proc = world.run(argv)
    assert proc.stdout.strip() == "realpath: '': No such file or directory", proc.stdout
    assert keys(proc.stdout) == ["diracosrc-realpath"]
    assert explain.Explanation(explain.read(proc.stdout)).harmless_only
    r = world.explain("--mu3e-offline", "--", *argv)
    assert r.returncode == 0
    assert "verdict: harmless" in section(r.stdout)


# ----------------------------------------------------------------- the certificate and key

def test_grid_proxy_init_refuses_a_readable_key(grid, tmp_path):
    world = World(grid, tmp_path)
    globus = world.home / ".globus"
    (globus / "userkey.pem").chmod(0o644)
    argv = [tool("grid-proxy-init"), "-cert", str(globus / "usercert.pem"), "-key",
            str(globus / "userkey.pem"), "-out", str(tmp_path / "gp")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "File has bad permissions" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["key-permissions"]
    confirmed_by(world, "CERT-003", argv, proc.returncode,
                 cause="userkey.pem is group- or world-readable")


def test_voms_proxy_init_debug_names_the_readable_key(grid, tmp_path):
    world = World(grid, tmp_path)
    globus = world.home / ".globus"
    (globus / "userkey.pem").chmod(0o644)
    proc = world.run([tool("voms-proxy-init"), "--debug", "-out", str(tmp_path / "vp")])
    assert proc.returncode != 0, proc.stdout
    assert "Wrong permissions on file" in proc.stdout, proc.stdout
    assert "key-permissions" in keys(proc.stdout)


def test_voms_library_refuses_a_readable_key(grid, tmp_path):
    """The VOMS client library's own words, as voms-proxy-fake prints them (voms-proxy-init
    prints them only as "Wrong permissions on file" under --debug)."""
    world = World(grid, tmp_path)
    globus = world.home / ".globus"
    (globus / "userkey.pem").chmod(0o644)
    host = grid.pki.host(grid.ca, "voms.example.org")
    (tmp_path / "voms.pem").write_bytes(host.cert_pem())
    (tmp_path / "vomskey.pem").write_bytes(host.key_pem("pkcs1"))
    (tmp_path / "vomskey.pem").chmod(0o600)
    argv = [tool("voms-proxy-fake"), "-rfc", "-hostcert", str(tmp_path / "voms.pem"),
            "-hostkey", str(tmp_path / "vomskey.pem"), "-voms", "mu3e.org",
            "-uri", "voms.example.org:15000", "-fqan", "/mu3e.org/Role=NULL/Capability=NULL",
            "-certdir", world.env["X509_CERT_DIR"], "-cert", str(globus / "usercert.pem"),
            "-key", str(globus / "userkey.pem"), "-out", str(tmp_path / "fake")]
    proc = world.run(argv)
    assert "bad file system permissions on private key" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["key-permissions"]
    confirmed_by(world, "CERT-003", argv, proc.returncode,
                 cause="userkey.pem is group- or world-readable")


def _other_key(grid, world: World) -> Path:
    """userkey.pem replaced by the key of another certificate (another export)."""
    key = world.home / ".globus" / "userkey.pem"
    key.write_bytes(grid.pki.user(grid.ca, "Someone Else").key_pem())
    key.chmod(0o600)
    return key


def test_pkcs12_export_of_a_foreign_key_is_the_mismatch(grid, tmp_path):
    world = World(grid, tmp_path)
    key = _other_key(grid, world)
    argv = [tool("openssl"), "pkcs12", "-export", "-in",
            str(world.home / ".globus" / "usercert.pem"), "-inkey", str(key),
            "-passout", "pass:", "-out", str(tmp_path / "again.p12")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "key values mismatch" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["key-mismatch"]
    confirmed_by(world, "CERT-007", argv, proc.returncode,
                 cause="usercert.pem and userkey.pem come from different exports")


@pytest.mark.parametrize("program,says", [
    ("voms-proxy-init", "user key and certificate don't match"),
    ("grid-proxy-init", "non-matching user key and cert"),
])
def test_the_grid_tools_with_a_foreign_key_say_it_is_the_mismatch(grid, tmp_path, program,
                                                                  says):
    """voms-proxy-init and grid-proxy-init say it in words (DIRAC 8.0.74's dirac-proxy-init
    --nocs says nothing and signs a proxy that cannot work, see below)."""
    world = World(grid, tmp_path)
    _other_key(grid, world)
    argv = [tool(program), "-out", str(tmp_path / "proxy-out")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert says in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert keys(proc.stdout) == ["key-mismatch"] and not reading.unexplained, proc.stdout
    confirmed_by(world, "CERT-007", argv, proc.returncode,
                 cause="usercert.pem and userkey.pem come from different exports")


def test_openssl_server_with_a_foreign_key_is_the_mismatch(grid, tmp_path, loopback_only):
    world = World(grid, tmp_path)
    key = _other_key(grid, world)
    proc = world.run([tool("openssl"), "s_server", "-accept", "127.0.0.1:0", "-cert",
                      str(world.home / ".globus" / "usercert.pem"), "-key", str(key)])
    assert proc.returncode != 0, proc.stdout
    assert keys(proc.stdout) == ["key-mismatch"], proc.stdout


def test_dirac_with_a_wrong_pass_phrase(grid, tmp_path, loopback_only):
    """DIRAC's own "Bad passphrase"; with the same wrong pass phrase CERT-006 fails."""
    world = World(grid, tmp_path)
    key = world.home / ".globus" / "userkey.pem"
    key.write_bytes(grid.user.key_pem(passphrase=b"the right one"))
    world.cfg(None)
    argv = [str(PROXY_INIT), "--nocs", "-N", "-p", "-g", GROUP]
    proc = subprocess.run(argv, env=world.env, input="a wrong one\n", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "Bad passphrase" in proc.stdout, proc.stdout
    assert "bad-passphrase" in keys(proc.stdout), proc.stdout
    # openssl says it its own way
    ossl = world.run([tool("openssl"), "pkey", "-in", str(key), "-passin", "pass:a wrong one",
                      "-noout"])
    assert ossl.returncode != 0
    assert "bad decrypt" in ossl.stdout, ossl.stdout
    assert keys(ossl.stdout) == ["bad-passphrase"]
    # and the Globus and VOMS tools, given the same wrong pass phrase on stdin
    for name in ("grid-proxy-init", "voms-proxy-init"):
        grid_tool = subprocess.run([tool(name), "-pwstdin", "-out", str(tmp_path / name)],
                                   env=world.env, input="a wrong one\n", text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=120, cwd=tmp_path)
        assert grid_tool.returncode != 0, grid_tool.stdout
        assert "bad-passphrase" in keys(grid_tool.stdout), (name, grid_tool.stdout)
    log = tmp_path / "bad-pass.log"
    log.write_text(proc.stdout)
    r = world.explain("--mu3e-offline", "--file", str(log), MU3E_KEY_PASSPHRASE="a wrong one")
    text = section(r.stdout)
    assert "confirmed cause: the pass phrase is wrong" in text, text
    assert "CERT-006 failed" in text.split("ruled out")[0]


def test_openssl_refuses_a_1024_bit_certificate(grid, tmp_path, loopback_only):
    weak = grid.pki.user(grid.ca, "Weak Key Physicist", key_size=1024)
    world = World(grid, tmp_path, user=weak)
    globus = world.home / ".globus"
    argv = [tool("openssl"), "s_server", "-accept", "127.0.0.1:0", "-cert",
            str(globus / "usercert.pem"), "-key", str(globus / "userkey.pem")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "ee key too small" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["weak-key"]
    confirmed_by(world, "CERT-009", argv, proc.returncode,
                 cause="your certificate's key is weaker than 2048 bits")


def test_openssl_3_cannot_read_a_legacy_p12(grid, tmp_path):
    """An RC2-40 export (as older browsers and CAs made them) and nothing extracted yet."""
    world = World(grid, tmp_path)
    globus = world.home / ".globus"
    p12 = globus / "mycert.p12"
    made = world.run([tool("openssl"), "pkcs12", "-export", "-legacy", "-in",
                      str(globus / "usercert.pem"), "-inkey", str(globus / "userkey.pem"),
                      "-passout", "pass:secret", "-out", str(p12)])
    assert made.returncode == 0, made.stdout
    (globus / "usercert.pem").unlink()
    (globus / "userkey.pem").unlink()
    argv = [tool("openssl"), "pkcs12", "-in", str(p12), "-passin", "pass:secret", "-nodes",
            "-out", str(tmp_path / "both.pem")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "RC2-40-CBC" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["pkcs12-legacy"]
    confirmed_by(world, "CERT-001", argv, proc.returncode,
                 cause="usercert.pem/userkey.pem were never extracted")


# ------------------------------------------------------------------------- DIRAC 8.0.74

def test_dirac_with_an_empty_x509_cert_dir_finds_no_ca_dir(grid, tmp_path, loopback_only):
    world = World(grid, tmp_path)
    world.cfg(None)
    argv = [str(PROXY_INIT), "--nocs", "-N", "-g", GROUP]
    proc = world.run(argv, X509_CERT_DIR="")
    assert "No valid CA dir found" in proc.stdout, proc.stdout
    assert "ca-dir" in keys(proc.stdout), proc.stdout
    confirmed_by(world, "ENV-001", argv, proc.returncode, X509_CERT_DIR="",
                 cause="X509_CERT_DIR points at a missing or empty directory")


def test_dirac_with_a_missing_x509_cert_dir_cannot_connect(grid, tmp_path, loopback_only):
    world = World(grid, tmp_path)
    url = f"dips://127.0.0.1:{closed_port()}/Configuration/Server"
    world.cfg(url)
    missing = str(tmp_path / "no-such-certificates")
    argv = [str(PROXY_INIT), "-g", GROUP]
    proc = world.run(argv, X509_CERT_DIR=missing)
    assert proc.returncode == 1, proc.stdout
    assert f"CA path ({missing}) is not a valid directory" in proc.stdout, proc.stdout
    assert "ca-dir" in keys(proc.stdout), proc.stdout
    # --mu3e-cs-url: this test's server is the expected one, so CFG-004 passes
    text = confirmed_by(world, "CA-001", argv, proc.returncode, "--mu3e-cs-url", url,
                        X509_CERT_DIR=missing,
                        cause="X509_CERT_DIR points at a missing or empty directory")
    assert "ruled out: dirac.cfg points at the wrong server (CFG-004 passed)" in text


def test_dirac_m_without_voms_proxy_init(grid, tmp_path, loopback_only):
    """DIRAC runs voms-proxy-init through /bin/sh, which says "not found"; 8.0.74's own "no
    standard grid interface available" needs a check DIRAC never calls."""
    world = World(grid, tmp_path)
    (world.root / "etc" / "dirac.cfg").write_text(REGISTRY_CFG)
    path = no_path("voms-proxy-init")
    argv = [str(PROXY_INIT), "--nocs", "-N", "-M", "-t", "-g", GROUP]
    proc = world.run(argv, PATH=path)
    assert proc.returncode == 1, proc.stdout
    assert "voms-proxy-init: not found" in proc.stdout, proc.stdout
    assert {"voms-binary", "voms-failed"} <= set(keys(proc.stdout)), proc.stdout
    confirmed_by(world, "DIRACOS-003", argv, 1, PATH=path,
                 cause="voms-proxy-init is not on PATH (DIRACOS not active)")


# -------------------------------------------------------------------------------- Python

def test_dirac_8_under_setuptools_82_has_no_pkg_resources(grid, tmp_path):
    """The real DIRAC 8.0.74 imported with the real setuptools 82 (which dropped
    pkg_resources) in the user's DIRACOS site-packages.  DIRACOS's own python is a conda build
    we do not have: a bare venv whose .pth adds that site-packages stands in for it."""
    from tests.support.diracos_trees import FakeDiracos, install_release, pip_release

    world = World(grid, tmp_path)
    tree = FakeDiracos(world.home / "dirac_ui" / "diracos", "3.11.7")
    for entry in pip_release("setuptools", "81.0.0").iterdir():  # as pip -U removes it
        installed = tree.site / entry.name
        if installed.is_symlink() or installed.is_file():
            installed.unlink()
        elif installed.is_dir():
            shutil.rmtree(installed)
    install_release(pip_release("setuptools", "82.0.0"), tree.site)
    venv = tmp_path / "diracos-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    sites = list(venv.glob("lib/python3*/site-packages"))
    assert len(sites) == 1
    (sites[0] / "diracos.pth").write_text(f"{tree.site}\n")
    argv = [str(venv / "bin" / "python"), "-c", "import DIRAC"]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "from pkg_resources import" in proc.stdout, proc.stdout  # DIRAC/__init__.py
    assert "No module named 'pkg_resources'" in proc.stdout, proc.stdout
    assert keys(proc.stdout) == ["pkg-resources"]
    # The user's shell after sourcing diracosrc: DIRACOS's dirac-* commands come first, so
    # DIRAC runs under DIRACOS's Python and its site-packages (not the test's DIRAC venv).
    confirmed_by(world, "DIRAC-004", argv, 1,
                 cause="setuptools >= 82 dropped pkg_resources, which DIRAC 8 needs",
                 PATH=f"{tree.bin}{os.pathsep}{world.env['PATH']}")


# ---------------------------------------------------------------------------------- VOMS

def _ac_der(proxy: Path) -> bytes:
    """The one AC in the VOMS extension of ``proxy`` (SEQUENCE OF SEQUENCE OF AC), as DER."""
    from cryptography import x509

    from tests.support.pki_factory import VOMS_AC_OID

    cert = x509.load_pem_x509_certificates(proxy.read_bytes())[0]
    raw = cert.extensions.get_extension_for_oid(VOMS_AC_OID).value.value

    def content(i: int) -> tuple[int, int]:
        size, i = raw[i + 1], i + 2
        if size & 0x80:
            n = size & 0x7F
            size, i = int.from_bytes(raw[i:i + n], "big"), i + n
        return i, i + size

    seqs, _ = content(0)
    ac, _ = content(seqs)
    return raw[ac:content(ac)[1]]


class VomsAnswering(VomsStandIn):
    """A VOMS server's legacy protocol on loopback: it reads the request and answers with the
    given AC in VOMS's own reply format (voms src/common/xml.c, XMLEncodeAns).  A real
    voms-server needs a VOMS database; the AC it would sign is made by the real
    voms-proxy-fake instead."""

    def __init__(self, host_cert, client_cas, ac: bytes) -> None:
        super().__init__(host_cert, client_cas)
        self.answer = ('<?xml version="1.0" encoding = "US-ASCII"?><vomsans><version>3'
                       f'</version><ac>{base64.encodebytes(ac).decode()}</ac></vomsans>')

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with self.ctx.wrap_socket(conn, server_side=True) as tls:
            request = b""
            while b"</voms>" not in request:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                request += chunk
            tls.sendall(self.answer.encode())


def test_voms_proxy_init_cannot_verify_an_ac_without_its_lsc(grid, tmp_path, loopback_only):
    """The AC's signer is not in X509_VOMS_DIR (no mu3e.org .lsc): the real voms-proxy-init
    makes the proxy, then says "Cannot verify AC signature!" and exits 1."""
    from mu3e_checks.knowledge.pki import dn_slash
    from tests.peers.test_proxy_tools import signing_policies, voms_fake

    world = World(grid, tmp_path)
    signing_policies(Path(world.env["X509_CERT_DIR"]))
    fake = tmp_path / "fake"
    fake.mkdir()
    ac = _ac_der(voms_fake(dict(world.env), fake, grid))
    server = grid.pki.host(grid.ca, "localhost", sans=["localhost", "127.0.0.1"])
    vomsdir = tmp_path / "vomsdir"
    (vomsdir / "mu3e.org").mkdir(parents=True)  # dirac-configure never wrote the .lsc
    with VomsAnswering(server, grid.cas, ac) as voms:
        vomses = tmp_path / "vomses"
        vomses.write_text(vomses_line("localhost", voms.port, dn_slash(server.cert.subject)))
        env = {"X509_VOMS_DIR": str(vomsdir), "X509_VOMSES": str(vomses)}
        # voms-proxy-init waits out -timeout after the answer, so keep it short
        argv = [tool("voms-proxy-init"), "-voms", "mu3e.org", "-vomses", str(vomses),
                "-timeout", "2", "-out", world.env["X509_USER_PROXY"]]
        proc = world.run(argv, **env)
        assert proc.returncode == 1, proc.stdout
        assert "Cannot verify AC signature!" in proc.stdout, proc.stdout
        assert keys(proc.stdout) == ["voms-ac-unverifiable"], proc.stdout
        confirmed_by(world, "ENV-003", argv, 1, outcome="warned",
                     cause="X509_VOMS_DIR lacks the mu3e.org .lsc file", **env)



# ------------------------------------------------------------- issue 22: what users paste

def test_voms_proxy_init_without_debug_hides_the_readable_key(grid, tmp_path):
    """Without --debug, voms-proxy-init only says it found no valid credentials (the key was
    mode 644); CERT-003 names the key.  A missing key is the same message family, CERT-001."""
    world = World(grid, tmp_path)
    key = world.home / ".globus" / "userkey.pem"
    key.chmod(0o644)
    argv = [tool("voms-proxy-init"), "-out", str(tmp_path / "vp")]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "Couldn't find valid credentials to generate a proxy" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert keys(proc.stdout) == ["voms-credentials"] and not reading.unexplained
    confirmed_by(world, "CERT-003", argv, 1,
                 cause="userkey.pem can be read by others: voms-proxy-init ignores such a key")
    key.unlink()
    missing = world.run(argv)
    assert "Unable to find user certificate or key" in missing.stdout, missing.stdout
    assert keys(missing.stdout) == ["voms-credentials"]
    confirmed_by(world, "CERT-001", argv, missing.returncode,
                 cause="usercert.pem or userkey.pem is missing where the grid tools look")


def _expired_world(grid, tmp_path) -> World:
    return World(grid, tmp_path, user=grid.pki.user(grid.ca, "Expired Physicist",
                                                     expired=True))


@pytest.mark.parametrize("program", ["voms-proxy-init", "grid-proxy-init"])
def test_the_grid_tools_refuse_an_expired_certificate(grid, tmp_path, program):
    world = _expired_world(grid, tmp_path)
    argv = [tool(program), "-out", str(tmp_path / "p")]
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "ERROR: Your certificate" in proc.stdout and "expired" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert keys(proc.stdout) == ["cert-expiring"] and not reading.unexplained, proc.stdout
    assert "grid-progress" in all_keys(proc.stdout)  # "Your identity:", "Creating proxy ..."
    confirmed_by(world, "CERT-008", argv, proc.returncode,
                 cause="your user certificate has expired or expires soon")


def test_an_expired_certificate_is_the_root_cause_not_the_proxy(grid, tmp_path):
    """dirac-proxy-init --nocs with an expired certificate: "Your certificate will expire in
    less than 0 days", then a proxy that "has expired".  CERT-008 and PROXY-008 both fail;
    the certificate is the root cause and its fix the headline, the proxy only follows."""
    world = _expired_world(grid, tmp_path)
    world.cfg(None)
    argv = [str(PROXY_INIT), "--nocs"]
    proc = world.run(argv)
    assert proc.returncode == 0, proc.stdout  # DIRAC says it made a proxy
    assert "Your certificate will expire in less than 0 days" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout, argv)
    assert {"cert-expiring", "upload-expired"} <= set(keys(proc.stdout)), proc.stdout
    assert not reading.unexplained, reading.unexplained
    assert "separator" in all_keys(proc.stdout)  # the banner's rows of =
    report = tmp_path / "expired.json"
    text = confirmed_by(world, "CERT-008", argv, 0, "--mu3e-json", str(report),
                        cause="your user certificate has expired or expires soon")
    headline = text.split("confirmed cause", 1)[1].split("also confirmed", 1)[0]
    assert "CERT-008 failed" in headline and "PROXY-008" not in headline, text
    assert "dirac-proxy-init" not in headline, text  # renewing is the fix, not a new proxy
    assert "PROXY-008 failed" in text.split("also confirmed", 1)[1], text
    causes = json.loads(report.read_text())["explained"]["causes"]
    assert [c["checks"][0]["id"] for c in causes][:2] == ["CERT-008", "PROXY-008"]


def test_the_crl_step_off_merlin7_has_no_module_and_no_fetch_crl(grid, tmp_path):
    """The guide's CRL step where there are no environment modules and no fetch-crl."""
    world = World(grid, tmp_path)
    cadir = Path(world.env["X509_CERT_DIR"])
    for crl in cadir.glob("*.r0"):
        crl.unlink()
    script = ("module use unstable\nmodule load fetch-crl\n"
              f"fetch-crl -l {cadir}/\n")
    path = "/usr/local/bin:/usr/bin:/bin"
    assert shutil.which("module", path=path) is None
    env = {"PATH": no_path("fetch-crl") + os.pathsep + path}
    argv = [tool("bash"), "-i", "-c", script]  # typed in an interactive shell
    proc = world.run(argv, **env)
    assert proc.returncode == 127, proc.stdout
    assert "module: command not found" in proc.stdout, proc.stdout
    assert "fetch-crl: command not found" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert keys(proc.stdout) == ["crl-tools"] and not reading.unexplained, proc.stdout
    assert "shell-noise" in all_keys(proc.stdout)  # bash -i without a terminal says so
    confirmed_by(world, "CRL-001", argv, 127, cause="fetch-crl is not available", **env)


def _dirac_cfg_with_a_closed_server(world: World) -> str:
    url = f"dips://127.0.0.1:{closed_port()}/Configuration/Server"
    world.cfg(url)
    return url


def test_dirac_proxy_info_stops_on_a_voms_proxy_without_group(grid, tmp_path, loopback_only):
    """A VOMS proxy made without DIRAC (the real voms-proxy-fake, no group extension):
    ``dirac-proxy-info -v`` ends in ``KeyError: 'group'``; GROUP-001 says why."""
    from tests.peers.test_proxy_tools import signing_policies, voms_fake

    world = World(grid, tmp_path)
    signing_policies(Path(world.env["X509_CERT_DIR"]))
    fake = tmp_path / "fake"
    fake.mkdir()
    made = voms_fake(dict(world.env), fake, grid, extension=False)
    proxy = Path(world.env["X509_USER_PROXY"])
    proxy.write_bytes(made.read_bytes())
    proxy.chmod(0o600)
    url = _dirac_cfg_with_a_closed_server(world)
    argv = [str(DIRAC / "bin" / "dirac-proxy-info"), "-v"]
    proc = world.run(argv)
    assert proc.returncode == 1, proc.stdout
    assert "KeyError: 'group'" in proc.stdout and "Traceback" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert "proxy-no-group" in keys(proc.stdout), proc.stdout
    assert not reading.unexplained, reading.unexplained  # the traceback is its frames
    assert "traceback" in all_keys(proc.stdout)
    confirmed_by(world, "GROUP-001", argv, 1, "--mu3e-cs-url", url,
                 cause="the proxy carries no DIRAC group")


def test_a_proxy_signed_with_another_key_is_not_valid(grid, tmp_path, loopback_only):
    """dirac-proxy-init --nocs signs with whatever userkey.pem holds and says nothing;
    dirac-proxy-info then says "!!! The proxy is not valid !!!".  CERT-007 is the root."""
    world = World(grid, tmp_path)
    _other_key(grid, world)
    world.cfg(None)
    made = world.run([str(PROXY_INIT), "--nocs", "-N"])
    assert made.returncode == 0, made.stdout
    url = _dirac_cfg_with_a_closed_server(world)
    argv = [str(DIRAC / "bin" / "dirac-proxy-info")]
    proc = world.run(argv)
    assert "!!! The proxy is not valid !!!" in proc.stdout, proc.stdout
    reading = explain.read(proc.stdout)
    assert "proxy-invalid" in keys(proc.stdout) and not reading.unexplained, proc.stdout
    confirmed_by(world, "CERT-007", argv, proc.returncode, "--mu3e-cs-url", url,
                 cause="the proxy was signed with a key that does not belong to usercert.pem")


def test_dirac_configure_cannot_write_dirac_s_root(grid, tmp_path, loopback_only):
    """dirac-configure from another DIRAC than DIRACOS's, whose root it may not write (as a
    plain venv's DIRAC, rooted at its base Python's prefix): "Fail to create directory".
    Run without root's file capabilities so the directory's mode binds."""
    from tests.support.runner import without_file_capabilities

    world = World(grid, tmp_path)
    world.cfg(None)
    url = f"dips://127.0.0.1:{closed_port()}/Configuration/Server"
    for d in (world.root / "etc", world.root):
        d.chmod(0o555)
    argv = without_file_capabilities(
        [str(DIRAC / "bin" / "dirac-configure"), "-F", "-S", "GridPP", "-C", url, "-I"])
    proc = world.run(argv)
    assert proc.returncode != 0, proc.stdout
    assert "Fail to create directory" in proc.stdout, proc.stdout
    assert "configure-mkdir" in keys(proc.stdout), proc.stdout
    # DIRACOS is not active here and dirac-configure is /opt's: that is the root cause;
    # DIRAC's root holds no dirac.cfg either (CFG-001 follows)
    text = confirmed_by(world, "DIRACOS-003", argv, proc.returncode, "--mu3e-cs-url", url,
                        cause="dirac-configure is not DIRACOS's")
    assert "CFG-001 failed" in text.split("also confirmed", 1)[1], text


def test_dirac_configure_cannot_update_a_site_managed_ca_dir(grid, tmp_path, loopback_only):
    """X509_CERT_DIR at a CA directory the user may not write (a site-managed one):
    dirac-configure's CA sync says the user "does not have the permissions to update" it."""
    from tests.support.runner import without_file_capabilities

    world = World(grid, tmp_path)
    world.cfg(None)
    assert world.proxy_init("--nocs", "-N").returncode == 0
    site = tmp_path / "site-certificates"
    shutil.copytree(world.env["X509_CERT_DIR"], site)
    site.chmod(0o555)
    url = f"dips://127.0.0.1:{closed_port()}/Configuration/Server"
    argv = without_file_capabilities(
        [str(DIRAC / "bin" / "dirac-configure"), "-F", "-S", "GridPP", "-C", url, "-I"])
    proc = world.run(argv, X509_CERT_DIR=str(site))
    assert "does not have the permissions to update" in proc.stdout, proc.stdout
    assert "configure-permissions" in keys(proc.stdout), proc.stdout
    confirmed_by(world, "ENV-001", argv, proc.returncode, "--mu3e-cs-url", url,
                 outcome="warned", cause="the CA directory DIRAC uses is not yours to write",
                 X509_CERT_DIR=str(site))


# ------------------------------------------------------------------------ hostile input

def test_hostile_text_through_the_real_command(grid, tmp_path):
    """Issue 20's input through ``mu3e-checks explain`` as a user runs it: the quadratic line is
    read at once and named, the line it echoes is clipped; more than the bound is refused
    unread, on stdin as in a file."""
    world = World(grid, tmp_path)
    log = tmp_path / "hostile.log"
    log.write_text("dirac-" * 45000 + " command not found\n")
    r = world.explain("--mu3e-offline", "--file", str(log))
    text = section(r.stdout)
    assert r.returncode == 1 and "[command-not-found]" in text, text[-2000:]
    quoted = [line for line in text.splitlines() if line.startswith("  | ")]
    assert quoted and all(len(line) <= 4 + explain.LINE_CHARS + 1 for line in quoted)
    log.write_bytes(b"x" * (explain.MAX_TEXT + 1))
    r = world.explain("--file", str(log))
    assert r.returncode == 2 and "at most" in r.stdout and "Error explained" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "mu3e_checks.cli", "explain"],
                       input=b"y" * (explain.MAX_TEXT * 3), env=world.env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 2 and b"at most" in r.stdout
