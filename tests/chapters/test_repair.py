"""``mu3e-checks fix`` end to end: broken homes repaired in a subprocess, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from mu3e_checks import repair
from mu3e_checks.render.json import SHAPE, shape_errors
from tests.support.igtf_bundles import igtf_tarball, known_keys_file
from tests.support.runner import clean_env, run_checks, unprivileged_command

# fix talks to loopback repositories and CRL endpoints: the module runs in a loopback-only
# network namespace (conftest.py's ``loopback_only``), and so do the fix subprocesses.
pytestmark = pytest.mark.usefixtures("loopback_only")


def fix_command() -> list[str]:
    """``mu3e-checks fix`` with root's file-access capabilities dropped, like the runner's."""
    base = unprivileged_command()
    cut = base.index(sys.executable)
    return base[:cut] + [sys.executable, "-m", "mu3e_checks.cli", "fix"]


def run_fix(home: Path, *args: str, env: Optional[dict] = None, stdin: str = "",
            offline: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """``mu3e-checks fix`` as the user runs it; ``timeout`` is the test's own bound (the
    attack tests give 60 s: every run must end within a minute)."""
    cwd = home.parent / f"{home.name}-fix-cwd"
    cwd.mkdir(exist_ok=True)
    run_env = clean_env(home, env)
    run_env.setdefault("MU3E_SYSTEM_CERT_DIR", str(cwd / "no-system-cert-dir"))
    argv = fix_command() + (["--mu3e-offline"] if offline else []) + list(args)
    return subprocess.run(argv, cwd=cwd, env=run_env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def uk_keys(uk, directory: Path) -> list[str]:
    """``--ca-fingerprints`` for the UK test doubles: their keys are the known ones here, as a
    site mirror's own file would list them."""
    path = known_keys_file(directory / "uk-keys.json",
                           [("UKeScienceCA-2B", uk.ca), ("UKeScienceRoot-2007", uk.root)])
    return ["--ca-fingerprints", str(path)]


def serve_uk_bundles(server, uk, **overrides) -> None:
    """The UK pair's honest bundles (and their CRLs) on ``server``, under /tgz/ and /crl/;
    ``overrides`` replace a bundle's content by alias."""
    from tests.support.pki_factory import pem, subject_hash

    for ca, alias in ((uk.ca, "UKeScienceCA-2B"), (uk.root, "UKeScienceRoot-2007")):
        h = subject_hash(ca.cert)
        server.content[f"/tgz/ca_{alias}-1.138.tar.gz"] = overrides.get(alias) or igtf_tarball(
            ca, alias, crl_url=f"{server.base}/crl/{h}.crl")
        server.content[f"/crl/{h}.crl"] = pem(uk.pki.crl(ca))


def changed(stdout: str, check_id: str, old: str, new: str) -> bool:
    """The before/after table shows ``check_id`` going from ``old`` to ``new``."""
    return re.search(rf"^  {check_id} +{old} -> {new}$", stdout, re.M) is not None


def tree_hash(root: Path) -> str:
    """Names, modes and contents of every file under ``root``."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = os.lstat(p)
            h.update(f"{p.relative_to(root)}:{st.st_mode:o}\n".encode())
            if p.is_file() and not p.is_symlink():
                h.update(p.read_bytes())
    return h.hexdigest()


def test_key_644_is_repaired_then_passes_and_second_run_changes_nothing(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    key = home / ".globus" / "userkey.pem"
    r = run_fix(home, "--yes", "--mu3e-select", "CERT", "--mu3e-json",
                str(tmp_path / "report.json"))
    assert f"chmod {key}: mode 644 -> 600" in r.stdout, r.stdout + r.stderr
    assert changed(r.stdout, "CERT-003", "failed", "passed")
    assert r.returncode == 0, r.stdout + r.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # The repairs are part of the final report (HTML and JSON); no separate log file.
    reports = home.parent / f"{home.name}-fix-cwd" / "reports"
    assert not list(reports.glob("*.repairs.txt"))
    # The report from before the repairs is kept beside the final one, even within a second.
    assert len(list(reports.glob("mu3e-diagnosis-*.html"))) == 2, list(reports.iterdir())
    final = re.search(r"^The repairs are listed in the report \(for a support ticket\): "
                      r"(\S+), (\S+)$", r.stdout, re.M)
    assert final, r.stdout
    page = Path(final.group(1)).read_text()
    assert 'id="mu3e-repairs"' in page and f"CERT-003: chmod {key}: mode 644 -&gt; 600" in page
    data = json.loads(Path(final.group(2)).read_text())
    assert data["repairs"][0].startswith("before the repairs: NOT READY")
    assert f"CERT-003: chmod {key}: mode 644 -> 600" in data["repairs"]
    assert shape_errors(SHAPE, data) == []
    # The report is the full final diagnosis (every CERT check), not the re-run of the
    # affected ones (CERT-001 and CERT-003), whose partial reports stay private.
    assert [c["id"] for c in data["checks"]] == [f"CERT-00{n}" for n in range(1, 10)]
    assert "Diagnosis now: READY" in r.stdout and "a full run of every check" in r.stdout
    assert run_checks(home, "--mu3e-select", "CERT").outcome("CERT-003") == "passed"
    before = tree_hash(home)
    again = run_fix(home, "--yes", "--mu3e-select", "CERT")
    assert "Nothing to repair." in again.stdout and again.returncode == 0
    assert tree_hash(home) == before


def test_dry_run_writes_nothing(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    (home / ".globus").chmod(0o777)
    before = tree_hash(home)
    r = run_fix(home, "--dry-run", "--mu3e-select", "CERT,ENV")
    assert "Would repair (dry run" in r.stdout, r.stdout + r.stderr
    assert "mode 644 -> 600" in r.stdout and "mode 777 -> 755" in r.stdout
    assert r.returncode == 1
    assert tree_hash(home) == before


def test_no_answer_changes_nothing(grid, tmp_path):
    home = grid.home(tmp_path, key_mode=0o644)
    before = tree_hash(home)
    r = run_fix(home, "--mu3e-select", "CERT", stdin="n\n")
    assert "Apply 1 repair(s)? [y/N]" in r.stdout and "Nothing changed." in r.stdout
    assert r.returncode == 1
    assert tree_hash(home) == before


def test_p12_only_is_extracted_to_a_passing_setup(grid, tmp_path):
    home = grid.home(tmp_path)
    globus = home / ".globus"
    for name in ("usercert.pem", "userkey.pem"):
        (globus / name).unlink()
    p12 = globus / "usercred.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"jane", grid.user.key, grid.user.cert, None, BestAvailableEncryption(b"pass word")))
    p12.chmod(0o600)
    env = {"MU3E_KEY_PASSPHRASE": "pass word"}
    r = run_fix(home, "--yes", "--mu3e-select", "CERT", env=env)
    assert changed(r.stdout, "CERT-001", "failed", "passed"), r.stdout + r.stderr
    assert oct((globus / "userkey.pem").stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in (globus / "userkey.pem").read_bytes()
    assert "PRIVATE KEY" not in r.stdout + r.stderr
    assert p12.exists()  # nothing deleted
    checked = run_checks(home, "--mu3e-select", "CERT", env=env)
    assert checked.outcome("CERT-007") == "passed", checked["CERT-007"].message


def test_x509_cert_dir_block_after_yes_and_recognised_next_time(tmp_path):
    from tests.support.diracos_trees import build_diracos
    from tests.support.worlds import World

    world = World()
    home = world.home(tmp_path)
    tree = build_diracos(home)
    env = {k: v for k, v in tree.env().items() if k != "X509_CERT_DIR"}
    bashrc = home / ".bashrc"
    bashrc.write_text("# my own settings\nexport EDITOR=vim\n")
    r = run_fix(home, "--mu3e-select", "ENV-001", env=env, stdin="y\ny\n")
    assert "Edit it? [y/N]" in r.stdout, r.stdout + r.stderr
    text = bashrc.read_text()
    assert text.startswith("# my own settings\nexport EDITOR=vim\n" + repair.BLOCK_BEGIN)
    assert f"export X509_CERT_DIR={world.cadir(home)}\n" in text
    assert changed(r.stdout, "ENV-001", "warned", "passed")
    backups = sorted(p.name for p in home.iterdir() if p.name.startswith(".bashrc.bak-"))
    assert len(backups) == 1
    again = run_fix(home, "--yes", "--mu3e-select", "ENV-001", env=env)
    assert "block is already there" in again.stdout, again.stdout
    assert bashrc.read_text() == text


def test_stale_crls_are_refreshed_from_loopback_and_offline_says_it_skips(grid, tmp_path):
    from tests.support.crl_server import point_crl_urls, serve
    from tests.support.pki_factory import DAY, NOW, crls_for, pem, subject_hash

    stale = crls_for(grid.pki, grid.cas, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
    home = grid.home(tmp_path, crls=stale)
    ca_dir = grid.cadir(home)
    fresh = {f"/{subject_hash(ca.cert)}.crl": pem(grid.pki.crl(ca)) for ca in grid.cas}
    with serve(fresh) as server:
        point_crl_urls(ca_dir, grid.cas, server.base)
        offline = run_fix(home, "--yes", "--mu3e-select", "CRL")
        assert "--mu3e-offline: the CRL downloads are skipped" in offline.stdout, offline.stdout
        assert not server.hits
        r = run_fix(home, "--yes", "--mu3e-select", "CRL", offline=False)
    assert changed(r.stdout, "CRL-003", "failed", "passed"), r.stdout + r.stderr
    assert r.returncode == 0
    kept = sorted(p.name for p in (ca_dir / repair.REPLACED_DIR).iterdir())
    assert len(kept) == len(grid.cas)  # every old CRL kept, none deleted


def test_independently_broken_setup_is_repaired_to_passing(tmp_path):
    """Key 644, no UK CAs, X509_CERT_DIR unset: one `fix --yes` against a loopback repository
    installs the bundles, then fetches their CRLs, and the user's other files stay as they were."""
    from tests.support.crl_server import serve
    from tests.support.diracos_trees import build_diracos
    from tests.support.pki_factory import subject_hash
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    home = uk.home(tmp_path, cas=[uk.other], key_mode=0o644)
    tree = build_diracos(home)
    env = {k: v for k, v in tree.env().items() if k != "X509_CERT_DIR"}
    (home / "analysis.C").write_text("void analysis() {}\n")
    mine = tree_hash(home / "dirac_ui" / "diracos" / "bin")
    other_crl = (uk.cadir(home) / f"{subject_hash(uk.other.cert)}.r0").read_bytes()
    with serve({}) as server:
        serve_uk_bundles(server, uk)
        args = ("--yes", "--mu3e-select", "CERT,CA,CRL,ENV-001", "--mu3e-ca-repository",
                f"{server.base}/tgz/", "--allow-http-repository", *uk_keys(uk, tmp_path))
        r = run_fix(home, *args, env=env, offline=False)
        # A second fix (the shell has not sourced ~/.bashrc yet) plans, changes nothing.
        before = tree_hash(home)
        hits = len(server.hits)
        again = run_fix(home, *args, env=env, offline=False)
        assert "Repairs done" not in again.stdout, again.stdout
        assert "block is already there" in again.stdout and again.returncode == 0
        assert tree_hash(home) == before and len(server.hits) == hits
    out = r.stdout + r.stderr
    assert "WARNING: the CA repository" in r.stdout and "is plain http" in r.stdout, out
    assert changed(r.stdout, "CERT-003", "failed", "passed"), out
    assert changed(r.stdout, "CA-004", "failed", "passed"), out
    assert changed(r.stdout, "ENV-001", "warned", "passed"), out
    assert "Diagnosis now: READY" in r.stdout, out
    assert r.returncode == 0
    assert (home / "analysis.C").read_text() == "void analysis() {}\n"
    assert tree_hash(home / "dirac_ui" / "diracos" / "bin") == mine
    assert (uk.cadir(home) / f"{subject_hash(uk.other.cert)}.0").exists()  # nothing deleted
    # Minimal: the other CA's CRL was current, so it was left alone.
    assert (uk.cadir(home) / f"{subject_hash(uk.other.cert)}.r0").read_bytes() == other_crl


def test_corrupt_or_foreign_tarball_installs_nothing(tmp_path):
    from tests.support.crl_server import serve
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    home = uk.home(tmp_path, cas=[uk.other])
    ca_dir = uk.cadir(home)
    before = tree_hash(ca_dir)
    content = {"/ca_UKeScienceCA-2B-1.138.tar.gz": igtf_tarball(uk.other, "UKeScienceCA-2B"),
               "/ca_UKeScienceRoot-2007-1.138.tar.gz": b"\x1f\x8b garbage"}
    with serve(content) as server:
        r = run_fix(home, "--yes", "--mu3e-select", "CA", "--mu3e-ca-repository", server.base,
                    "--allow-http-repository", *uk_keys(uk, tmp_path), offline=False)
    assert "NOT repaired" in r.stdout and "nothing installed" in r.stdout, r.stdout + r.stderr
    assert "holds another CA" in r.stdout
    assert tree_hash(ca_dir) == before
    assert r.returncode == 1


def test_unwritable_trust_dir_is_a_clear_finding(grid, tmp_path):
    from tests.support.pki_factory import DAY, NOW, crls_for, subject_hash

    stale = crls_for(grid.pki, grid.cas, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
    home = grid.home(tmp_path, crls=stale)
    ca_dir = grid.cadir(home)
    for ca in grid.cas:
        h = subject_hash(ca.cert)
        (ca_dir / f"{h}.crl_url").write_text(f"http://127.0.0.1:9/{h}.crl\n")
    ca_dir.chmod(0o555)
    try:
        before = tree_hash(ca_dir)
        r = run_fix(home, "--yes", "--mu3e-select", "CRL", offline=False)
        assert "is not writable by you" in r.stdout, r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr
        assert r.returncode == 1
        assert tree_hash(ca_dir) == before
    finally:
        ca_dir.chmod(0o755)


def test_https_repository_and_crls_verified_with_the_given_ca_and_untrusted_server_refused(
        tmp_path):
    """The repository and the CRL endpoints over TLS on loopback: requests verifies the server
    with the CA REQUESTS_CA_BUNDLE names (never the system store); the same setup against a
    server whose certificate another CA issued is a finding, and nothing is written."""
    from tests.support.crl_server import serve, tls_context
    from tests.support.diracos_trees import build_diracos
    from tests.support.pki_factory import PKI, pem
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    web_pki = PKI()
    web_ca, rogue_ca = web_pki.ca("Loopback Web CA"), web_pki.ca("Rogue Web CA")
    bundle = tmp_path / "web-ca.pem"
    bundle.write_bytes(pem(web_ca))

    def broken_home(name: str) -> tuple[Path, dict]:
        home = uk.home(tmp_path / name, cas=[uk.other])
        tree = build_diracos(home)
        env = dict(tree.env(), REQUESTS_CA_BUNDLE=str(bundle))
        return home, env

    (tmp_path / "good").mkdir()
    (tmp_path / "rogue").mkdir()
    home, env = broken_home("good")
    with serve({}, tls=tls_context(web_ca, tmp_path)) as server:
        assert server.base.startswith("https://")
        serve_uk_bundles(server, uk)
        r = run_fix(home, "--yes", "--mu3e-select", "CA,CRL", "--mu3e-ca-repository",
                    f"{server.base}/tgz/", *uk_keys(uk, tmp_path), env=env, offline=False)
    out = r.stdout + r.stderr
    assert changed(r.stdout, "CA-004", "failed", "passed"), out
    assert any(h.startswith("/crl/") for h in server.hits), server.hits  # CRLs over TLS too
    assert "Diagnosis now: READY" in r.stdout and r.returncode == 0, out

    home, env = broken_home("rogue")
    ca_dir = uk.cadir(home)
    before = tree_hash(ca_dir)
    with serve({}, tls=tls_context(rogue_ca, tmp_path)) as server:
        serve_uk_bundles(server, uk)
        r = run_fix(home, "--yes", "--mu3e-select", "CA", "--mu3e-ca-repository",
                    f"{server.base}/tgz/", *uk_keys(uk, tmp_path), env=env, offline=False)
    out = r.stdout + r.stderr
    assert "CA-004: NOT repaired" in r.stdout, out
    assert "its TLS certificate is not trusted (certificate verify failed)" in r.stdout, out
    assert "nothing installed" in r.stdout and "Traceback" not in out
    assert not server.hits  # no request got through the refused handshake
    assert tree_hash(ca_dir) == before
    assert r.returncode == 1


# ------------------------------------------------------------------ issue 20: as an attacker

def _uk_home(tmp_path: Path, name: str, *, extra_cas=()):
    """A UK user's home missing both UK CAs (CA-004 fails), with DIRACOS; (home, env)."""
    from tests.support.diracos_trees import build_diracos
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    (tmp_path / name).mkdir()
    home = uk.home(tmp_path / name, cas=[uk.other, *extra_cas])
    return uk, home, build_diracos(home).env()


def test_a_poisoned_bundle_installs_nothing_and_the_verdict_stays_not_ready(tmp_path):
    """The issue's poisoned CA 2B tarball: an unrequested CA as a regular <hash>.0 with its
    .signing_policy and .crl_url, and a look-alike of the installed CERN root under the genuine
    file's hash name.  fix refuses it whole, names the strangers, changes nothing in the CA
    directory, and the final diagnosis is not READY."""
    from tests.support.crl_server import serve
    from tests.support.pki_factory import PKI, dn, subject_hash

    cern_dn = "/C=ch/O=CERN/CN=CERN Root Certification Authority 2"
    pki = PKI()
    genuine_cern, fake_cern = pki.ca(subject=dn(cern_dn)), pki.ca(subject=dn(cern_dn))
    evil = pki.ca("Unrequested Evil CA")
    uk, home, env = _uk_home(tmp_path, "poisoned", extra_cas=[genuine_cern])
    ca_dir = uk.cadir(home)
    before = tree_hash(ca_dir)
    he, hc = subject_hash(evil.cert), subject_hash(genuine_cern.cert)
    poisoned = igtf_tarball(uk.ca, "UKeScienceCA-2B", extra=[
        (f"{he}.0", evil.cert_pem(), None), (f"{he}.signing_policy", b"x\n", None),
        (f"{he}.crl_url", b"http://127.0.0.1:9/e.crl\n", None),
        (f"{hc}.0", fake_cern.cert_pem(), None)])
    with serve({}) as server:
        serve_uk_bundles(server, uk, **{"UKeScienceCA-2B": poisoned})
        r = run_fix(home, "--yes", "--mu3e-select", "CA,CRL", "--mu3e-ca-repository",
                    f"{server.base}/tgz/", "--allow-http-repository", *uk_keys(uk, tmp_path),
                    env=env, offline=False, timeout=60)
    out = r.stdout + r.stderr
    assert "CA-004: NOT repaired" in r.stdout and "nothing installed" in r.stdout, out
    assert f"{he}.0 (holds /C=CH/O=Mu3e Test Grid/CN=Unrequested Evil CA)" in r.stdout
    assert f"{hc}.0 (holds {cern_dn})" in r.stdout
    assert tree_hash(ca_dir) == before
    assert "Diagnosis now: NOT READY" in r.stdout and r.returncode == 1, out


def test_a_downgrade_redirect_and_a_plain_http_repository_are_refused(tmp_path):
    """An HTTPS repository that answers 302 to http:// is refused (the plain server is never
    asked); a plain-http repository is refused in the plan without --allow-http-repository."""
    from tests.support.crl_server import Redirect, serve, tls_context
    from tests.support.pki_factory import PKI, pem

    web_ca = PKI().ca("Loopback Web CA")
    (tmp_path / "web-ca.pem").write_bytes(pem(web_ca))
    uk, home, env = _uk_home(tmp_path, "downgrade")
    env["REQUESTS_CA_BUNDLE"] = str(tmp_path / "web-ca.pem")
    ca_dir = uk.cadir(home)
    before = tree_hash(ca_dir)
    with serve({}) as plain, serve({}, tls=tls_context(web_ca, tmp_path)) as secure:
        serve_uk_bundles(plain, uk)
        for alias in ("UKeScienceCA-2B", "UKeScienceRoot-2007"):
            path = f"/tgz/ca_{alias}-1.138.tar.gz"
            secure.content[path] = Redirect(plain.base + path)
        r = run_fix(home, "--yes", "--mu3e-select", "CA", "--mu3e-ca-repository",
                    f"{secure.base}/tgz/", *uk_keys(uk, tmp_path), env=env, offline=False,
                    timeout=60)
        assert "may not change the scheme (https -> http)" in r.stdout, r.stdout + r.stderr
        assert plain.hits == []
        r = run_fix(home, "--yes", "--mu3e-select", "CA", "--mu3e-ca-repository",
                    f"{plain.base}/tgz/", *uk_keys(uk, tmp_path), env=env, offline=False,
                    timeout=60)
        assert "Cannot repair (do it yourself)" in r.stdout
        assert "CA bundles are fetched over HTTPS only" in r.stdout, r.stdout + r.stderr
        assert plain.hits == []
    assert tree_hash(ca_dir) == before and r.returncode == 1


def test_slow_and_huge_endpoints_end_within_a_minute_with_the_default_deadlines(tmp_path):
    """One fix run, default --mu3e-timeout: the CA repository drips one byte a second, one CRL
    endpoint drips, another never ends.  Both steps end at their deadlines as 'NOT repaired',
    nothing is written, and the whole run ends within a minute (the test's own bound)."""
    from tests.support.crl_server import Drip, Endless, serve
    from tests.support.pki_factory import DAY, NOW, crls_for, subject_hash
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    stale_ca = uk.pki.ca("Stale CRL CA")
    cas = [uk.other, stale_ca]
    stale = crls_for(uk.pki, cas, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
    (tmp_path / "slow").mkdir()
    home = uk.home(tmp_path / "slow", cas=cas, crls=stale)
    from tests.support.diracos_trees import build_diracos

    env = build_diracos(home).env()
    ca_dir = uk.cadir(home)
    with serve({}) as server:
        serve_uk_bundles(server, uk)
        for path in list(server.content):
            if path.startswith("/tgz/"):
                server.content[path] = Drip(server.content[path], every=1.0)
        for ca, body in ((uk.other, Endless()), (stale_ca, Drip(b"x" * 5000, every=1.0))):
            h = subject_hash(ca.cert)
            server.content[f"/crl/{h}.crl"] = body
            (ca_dir / f"{h}.crl_url").write_text(f"{server.base}/crl/{h}.crl\n")
        before = tree_hash(ca_dir)
        r = run_fix(home, "--yes", "--mu3e-select", "CA,CRL", "--mu3e-ca-repository",
                    f"{server.base}/tgz/", "--allow-http-repository", *uk_keys(uk, tmp_path),
                    env=env, offline=False, timeout=60)
    out = r.stdout + r.stderr
    assert "CA-004: NOT repaired" in r.stdout and "timed out" in r.stdout, out
    assert f"{subject_hash(stale_ca.cert)}.r0 NOT repaired" in r.stdout, out
    assert f"{subject_hash(uk.other.cert)}.r0 NOT repaired" in r.stdout, out
    assert "larger than 64 MiB" in r.stdout or "timed out" in r.stdout
    assert tree_hash(ca_dir) == before and "Traceback" not in out


def test_fix_changes_only_the_stale_crl_and_a_second_fix_changes_nothing(grid, tmp_path):
    """Minimal repair on a good setup with one stale CRL: that CRL (and its kept copy) is the
    only change in the whole home; the next fix has nothing to do and writes nothing."""
    from tests.support.crl_server import point_crl_urls, serve
    from tests.support.pki_factory import DAY, NOW, crls_for, pem, subject_hash

    crls = crls_for(grid.pki, grid.cas)
    user_ca = grid.ca
    crls[id(user_ca)] = grid.pki.crl(user_ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
    home = grid.home(tmp_path, crls=crls)
    ca_dir = grid.cadir(home)
    fresh = {f"/{subject_hash(ca.cert)}.crl": pem(grid.pki.crl(ca)) for ca in grid.cas}
    with serve(fresh) as server:
        point_crl_urls(ca_dir, grid.cas, server.base)
        snapshot = {p: p.read_bytes() for p in ca_dir.iterdir() if p.is_file()}
        outside = tree_hash(home / ".globus")
        r = run_fix(home, "--yes", "--mu3e-select", "CRL", offline=False, timeout=60)
        assert changed(r.stdout, "CRL-003", "failed", "passed"), r.stdout + r.stderr
        assert server.hits == [f"/{subject_hash(user_ca.cert)}.crl"]
        changed_files = sorted(p.name for p, data in snapshot.items() if p.read_bytes() != data)
        assert changed_files == [f"{subject_hash(user_ca.cert)}.r0"]
        assert sorted(os.listdir(ca_dir)) == sorted([p.name for p in snapshot]
                                                    + [repair.REPLACED_DIR])
        assert tree_hash(home / ".globus") == outside
        before = tree_hash(home)
        again = run_fix(home, "--yes", "--mu3e-select", "CRL", offline=False, timeout=60)
    assert "Nothing to repair." in again.stdout and again.returncode == 0, again.stdout
    assert tree_hash(home) == before and len(server.hits) == 1


def test_a_p12_asking_for_2e9_mac_iterations_is_refused_at_once(grid, tmp_path):
    from tests.unit.test_repair_hostile import costly_p12

    home = grid.home(tmp_path)
    globus = home / ".globus"
    for name in ("usercert.pem", "userkey.pem"):
        (globus / name).unlink()
    good = pkcs12.serialize_key_and_certificates(
        b"jane", grid.user.key, grid.user.cert, None, BestAvailableEncryption(b"pw"))
    (globus / "usercred.p12").write_bytes(costly_p12(good, 2_000_000_000))
    before = tree_hash(home)
    r = run_fix(home, "--yes", "--mu3e-select", "CERT", env={"MU3E_KEY_PASSPHRASE": "pw"},
                timeout=60)
    assert "the MAC asks for 2,000,000,000 iterations" in r.stdout, r.stdout + r.stderr
    assert "Cannot repair (do it yourself)" in r.stdout and r.returncode == 1
    assert tree_hash(home) == before


def test_the_block_lands_before_debians_guard_and_fix_says_where(tmp_path):
    from tests.support.diracos_trees import build_diracos
    from tests.support.worlds import World

    world = World()
    home = world.home(tmp_path)
    env = {k: v for k, v in build_diracos(home).env().items() if k != "X509_CERT_DIR"}
    bashrc = home / ".bashrc"
    bashrc.write_text("# ~/.bashrc\n\n# If not running interactively, don't do anything\n"
                      "case $- in\n    *i*) ;;\n      *) return;;\nesac\n\nalias ll='ls -l'\n")
    r = run_fix(home, "--yes", "--mu3e-select", "ENV-001", env=env)
    assert "before the interactive-only guard (case $- in)" in r.stdout, r.stdout + r.stderr
    assert changed(r.stdout, "ENV-001", "warned", "passed")
    out = subprocess.run(["bash", "-c", f"source {bashrc}; printf %s \"$X509_CERT_DIR\""],
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert out.stdout == str(world.cadir(home))
    text = bashrc.read_text()
    again = run_fix(home, "--yes", "--mu3e-select", "ENV-001", env=env)
    assert "block is already there" in again.stdout and bashrc.read_text() == text


def test_fix_on_a_complete_setup_changes_nothing(tmp_path):
    """The whole diagnosis on a setup done as the guide says: nothing to repair, not a byte
    changed in the home, and the exit code is the diagnosis's."""
    from tests.support.worlds import UKGrid, complete_setup

    home, env = complete_setup(UKGrid(), tmp_path)
    before = tree_hash(home)
    r = run_fix(home, "--yes", env=env, timeout=120)
    assert "Nothing to repair." in r.stdout and r.returncode == 0, r.stdout + r.stderr
    assert tree_hash(home) == before
