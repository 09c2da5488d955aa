"""The proxy chapters end to end, with proxies from the PKI factory: real files, real runs.

Each test lays out a home (credentials and a DIRACOS trust dir with CRLs), writes a proxy into
the test's tmp dir, points X509_USER_PROXY (or GRID_PROXY_FILE, --mu3e-proxy) at it and reads
the verdicts back from JUnit.  The machine's real /tmp/x509up_u<uid> is never consulted: every
run names its proxy explicitly.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.support.pki_factory import (
    HOUR,
    NOW,
    voms_ac,
    voms_extension,
    write_proxy,
    write_trust_dir,
)
from tests.support.runner import run_checks

SELECT = ("--mu3e-select", "PROXY,GROUP,VOMS")
INIT = "dirac-proxy-init -g mu3e.org_user -M -t"


@pytest.fixture(scope="module")
def voms_server(grid):
    return grid.pki.host(grid.ca, "voms.example.org")


def mu3e_proxy(grid, voms_server, *, user=None, group="mu3e.org_user", ac=True, **ac_kw):
    """What 'dirac-proxy-init -g mu3e.org_user -M' makes: VOMS proxy → DIRAC proxy → user."""
    user = user or grid.user
    dirac = grid.pki.proxy(user, group=group)
    exts = [voms_extension(voms_ac(user, voms_server, **ac_kw))] if ac else []
    return grid.pki.proxy(dirac, extensions=exts)


def run(home: Path, proxy: Path, *args: str, var: str = "X509_USER_PROXY", env=None):
    return run_checks(home, *SELECT, *args, env={var: str(proxy), **(env or {})})


def assert_clean(r, *skip_ids):
    for cid, case in r.cases.items():
        if cid in skip_ids:
            continue
        assert case.outcome == "passed", (cid, case.outcome, case.message)
    assert "Traceback" not in r.stdout + r.stderr
    assert "INTERNALERROR" not in r.stdout + r.stderr


def test_good_mu3e_proxy_passes_everything(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server))
    r = run(home, proxy)
    assert sorted(r.cases) == sorted(
        [f"PROXY-00{n}" for n in range(1, 10)] + ["GROUP-001", "GROUP-002", "VOMS-001",
                                                  "VOMS-002", "VOMS-003"])
    assert_clean(r)
    assert r.returncode == 0


def test_no_proxy_at_all_fails_with_init_command(grid, tmp_path):
    home = grid.home(tmp_path)
    missing = tmp_path / "nothing-here"
    r = run_checks(home, *SELECT, "--mu3e-proxy", str(missing))
    case = r["PROXY-001"]
    assert case.outcome == "failed"
    assert str(missing) in case.message
    assert case.fix == INIT
    # One root cause, one failure.
    assert r.failed() == ["PROXY-001"]
    assert "PROXY-001" in r["PROXY-003"].message and r.outcome("GROUP-001") == "skipped"


def test_expired_proxy_fails_with_date(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    dirac = grid.pki.proxy(grid.user, group="mu3e.org_user", expired=True)
    proxy = write_proxy(tmp_path / "x509up", dirac)
    r = run(home, proxy)
    case = r["PROXY-008"]
    assert case.outcome == "failed"
    assert "expired on " + dirac.cert.not_valid_after_utc.strftime("%Y-%m-%d") in case.message
    assert case.fix == INIT
    assert r.outcome("PROXY-006") == "skipped" and "PROXY-008" in r["PROXY-006"].message
    assert r.returncode == 1


def test_proxy_about_to_expire_warns(grid, tmp_path):
    home = grid.home(tmp_path)
    p = grid.pki.proxy(grid.user, group="mu3e.org_user", lifetime=HOUR,
                       not_before=NOW - dt.timedelta(minutes=40))
    proxy = write_proxy(tmp_path / "x509up", p)
    r = run(home, proxy)
    assert r.outcome("PROXY-008") == "warned"
    assert "expires in" in r["PROXY-008"].message
    assert r["PROXY-008"].fix == INIT
    assert r.returncode == 0


def test_proxy_without_group_explains_the_cs(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, group=None))
    r = run(home, proxy)
    case = r["GROUP-001"]
    assert case.outcome == "failed"
    assert "no DIRAC group" in case.message and "Configuration Server" in case.message
    assert case.fix.startswith(INIT) and "Contacting CS" in case.fix
    assert r.outcome("GROUP-002") == "skipped"
    assert r.failed() == ["GROUP-001"]


def test_proxy_with_wrong_group_fails(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, group="lhcb_user"))
    r = run(home, proxy)
    assert r.outcome("GROUP-001") == "passed"
    case = r["GROUP-002"]
    assert case.outcome == "failed"
    assert "'lhcb_user'" in case.message and "mu3e.org_user" in case.message
    assert case.fix == INIT


def test_expected_group_is_configurable(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, group="mu3e.org_prod"))
    r = run(home, proxy, "--mu3e-group", "mu3e.org_prod")
    assert r.outcome("GROUP-002") == "passed"


def test_group_on_first_certificate_is_found_too(grid, tmp_path):
    """dirac-proxy-init without -M: the group is on the proxy itself."""
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", grid.pki.proxy(grid.user, group="mu3e.org_user"))
    r = run(home, proxy)
    assert r.outcome("GROUP-002") == "passed"
    assert r.outcome("VOMS-001") == "warned"


def test_proxy_mode_644_fails_with_chmod(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server), mode=0o644)
    r = run(home, proxy)
    case = r["PROXY-002"]
    assert case.outcome == "failed"
    assert "mode 644" in case.message and "voms-proxy-init refuses" in case.message
    assert case.fix == f"chmod 600 {proxy}"
    assert r.failed() == ["PROXY-002"]


def test_proxy_mode_400_warns_about_renewal(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server), mode=0o400)
    r = run(home, proxy)
    assert r.outcome("PROXY-002") == "warned"
    assert "cannot overwrite" in r["PROXY-002"].message
    assert r["PROXY-002"].fix == f"chmod 600 {proxy}"


def test_proxy_of_another_users_certificate_warns(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    other = grid.pki.user(grid.ca, "Somebody Else")
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, user=other))
    r = run(home, proxy)
    case = r["PROXY-007"]
    assert case.outcome == "warned"
    assert "belongs to another certificate" in case.message
    assert "CN=Somebody Else" in case.message and "CN=Jane Physicist" in case.message
    assert case.fix == INIT
    assert r.returncode == 0


def test_legacy_proxy_fails_once(grid, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", grid.pki.proxy(grid.user, kind="legacy"))
    r = run(home, proxy)
    case = r["PROXY-005"]
    assert case.outcome == "failed"
    assert "legacy Globus proxy" in case.message
    assert case.fix == INIT
    # The chain, group and VOMS checks follow from the format: skipped, naming PROXY-005.
    for cid in ("PROXY-006", "GROUP-001", "VOMS-001"):
        assert r.outcome(cid) == "skipped" and "PROXY-005" in r[cid].message, cid
    assert r.failed() == ["PROXY-005"]


def test_limited_proxy_warns(grid, tmp_path):
    home = grid.home(tmp_path)
    p = grid.pki.proxy(grid.user, kind="limited", group="mu3e.org_user")
    r = run(home, write_proxy(tmp_path / "x509up", p))
    assert r.outcome("PROXY-005") == "warned"
    assert "limited proxy" in r["PROXY-005"].message
    assert r.outcome("PROXY-006") == "passed"


def test_proxy_with_voms_ac_reports_vo_and_fqans(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(
        grid, voms_server, fqans=["/mu3e.org", "/mu3e.org/Role=production/Capability=NULL"]))
    r = run(home, proxy)
    for cid in ("VOMS-001", "VOMS-002", "VOMS-003"):
        assert r.outcome(cid) == "passed", (cid, r[cid].message)


def test_proxy_without_voms_ac_warns_with_fix(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, ac=False))
    r = run(home, proxy)
    case = r["VOMS-001"]
    assert case.outcome == "warned"
    assert "no VOMS attributes" in case.message and "-M" in case.message
    assert case.fix.startswith(INIT) and "Could not add VOMS extensions" in case.fix
    for cid in ("VOMS-002", "VOMS-003"):
        assert r.outcome(cid) == "skipped" and "VOMS-001" in r[cid].message
    assert r.returncode == 0
    assert run(home, proxy, "--mu3e-strict").returncode == 1


def test_voms_ac_expired_while_proxy_valid_fails(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(
        grid, voms_server, not_before=NOW - 13 * HOUR, not_after=NOW - HOUR))
    r = run(home, proxy)
    case = r["VOMS-003"]
    assert case.outcome == "failed"
    assert "expired" in case.message and "while the proxy is still valid" in case.message
    assert case.fix == INIT
    assert r.outcome("PROXY-008") == "passed"


def test_voms_ac_of_other_vo_fails(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, vo="atlas"))
    r = run(home, proxy)
    case = r["VOMS-002"]
    assert case.outcome == "failed"
    assert "'atlas'" in case.message and "mu3e.org" in case.message
    assert case.fix == INIT


def test_voms_ac_with_forged_signature_fails(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server, bad_signature=True))
    r = run(home, proxy)
    assert r.outcome("VOMS-003") == "failed"
    assert "does not verify" in r["VOMS-003"].message


def test_damaged_voms_extension_fails_clearly(grid, tmp_path):
    home = grid.home(tmp_path)
    dirac = grid.pki.proxy(grid.user, group="mu3e.org_user")
    oid, value = voms_extension(b"\x30\x05\x02\x01\x01")
    p = grid.pki.proxy(dirac, extensions=[(oid, value[:-1] + b"")])
    r = run(home, write_proxy(tmp_path / "x509up", p))
    case = r["VOMS-001"]
    assert case.outcome == "failed"
    assert "cannot" in case.message and "VOMS" in case.message
    assert "Traceback" not in r.stdout


def test_diracx_block_is_tolerated_but_flagged_as_v9(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    tail = b"-----BEGIN DIRACX-----\neyJhY2Nlc3NfdG9rZW4iOiAieCJ9\n-----END DIRACX-----\n"
    proxy = write_proxy(tmp_path / "x509up", mu3e_proxy(grid, voms_server), tail=tail)
    r = run(home, proxy)
    case = r["PROXY-003"]
    assert case.outcome == "warned"
    assert "DIRAC v9" in case.message
    assert 'pip install "DIRAC==8.0.74"' in case.fix
    assert r.outcome("GROUP-002") == "passed" and r.outcome("PROXY-006") == "passed"


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"\x00garbage\xff", "no PEM certificate"),
    ("cert-only", "no private key"),
    ("usercert+key", "not a proxy certificate"),
    ("truncated", "never ends"),
])
def test_bad_proxy_files_are_named(grid, tmp_path, content, expect):
    home = grid.home(tmp_path)
    p = grid.pki.proxy(grid.user, group="mu3e.org_user")
    data = {"cert-only": p.cert_pem() + grid.user.cert_pem(),
            "usercert+key": grid.user.cert_pem() + grid.user.key_pem(),
            "truncated": p.proxy_file()[:700]}.get(content, content)
    path = tmp_path / "x509up"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    r = run(home, path)
    case = r["PROXY-003"]
    assert case.outcome == "failed", case.message
    assert expect in case.message
    assert case.fix == INIT
    assert "Traceback" not in r.stdout + r.stderr
    assert r.outcome("GROUP-001") == "skipped" and "PROXY-003" in r["GROUP-001"].message


def test_key_of_another_proxy_fails(grid, tmp_path):
    home = grid.home(tmp_path)
    a = grid.pki.proxy(grid.user, group="mu3e.org_user")
    b = grid.pki.proxy(grid.user, group="mu3e.org_user")
    path = tmp_path / "x509up"
    path.write_bytes(a.cert_pem() + b.key_pem() + grid.user.cert_pem())
    os.chmod(path, 0o600)
    r = run(home, path)
    assert r.outcome("PROXY-004") == "failed"
    assert "does not belong" in r["PROXY-004"].message


def test_weak_proxy_key_fails(grid, tmp_path):
    home = grid.home(tmp_path)
    p = grid.pki.proxy(grid.user, group="mu3e.org_user", key_size=1024)
    r = run(home, write_proxy(tmp_path / "x509up", p))
    case = r["PROXY-009"]
    assert case.outcome == "failed"
    assert "1024 bits" in case.message
    assert case.fix == INIT + " -b 2048"


def test_chain_with_expired_crl_names_fetch_crl(grid, tmp_path):
    home = grid.home(tmp_path, trust=False)
    cadir = home / "dirac_ui/diracos/etc/grid-security/certificates"
    crls = {id(ca): grid.pki.crl(ca, last_update=NOW - 20 * 24 * HOUR,
                                 next_update=NOW - 24 * HOUR) for ca in grid.cas}
    write_trust_dir(cadir, grid.cas, crls)
    p = grid.pki.proxy(grid.user, group="mu3e.org_user")
    r = run(home, write_proxy(tmp_path / "x509up", p))
    case = r["PROXY-006"]
    assert case.outcome == "failed"
    assert "CRL" in case.message and "expired" in case.message
    assert case.fix == f"fetch-crl -l {cadir}"


def test_chain_with_unknown_ca_names_it(grid, tmp_path):
    home = grid.home(tmp_path)
    stranger_ca = grid.pki.ca("Some Other CA")
    user = grid.pki.user(stranger_ca)
    p = grid.pki.proxy(user, group="mu3e.org_user")
    r = run(home, write_proxy(tmp_path / "x509up", p))
    case = r["PROXY-006"]
    assert case.outcome == "failed"
    assert "Some Other CA" in case.message
    assert "Some Other CA" in case.fix and "fetch-crl" in case.fix


def test_chain_with_revoked_user_cert_fails(grid, tmp_path):
    user = grid.pki.user(grid.ca, "Revoked Physicist")
    home = grid.home(tmp_path, user=user, trust=False)
    cadir = home / "dirac_ui/diracos/etc/grid-security/certificates"
    crls = {id(grid.root): grid.pki.crl(grid.root), id(grid.ca): grid.pki.crl(grid.ca, [user])}
    write_trust_dir(cadir, grid.cas, crls)
    r = run(home, write_proxy(tmp_path / "x509up", grid.pki.proxy(user, group="mu3e.org_user")))
    case = r["PROXY-006"]
    assert case.outcome == "failed"
    assert "revoked" in case.message
    assert "ask your CA" in case.fix


def test_grid_proxy_file_shadows_x509_user_proxy(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    good = write_proxy(tmp_path / "good", mu3e_proxy(grid, voms_server))
    stale = write_proxy(tmp_path / "stale", grid.pki.proxy(grid.user, expired=True))
    r = run(home, good, env={"GRID_PROXY_FILE": str(stale)})
    case = r["PROXY-001"]
    assert case.outcome == "warned"
    assert f"$GRID_PROXY_FILE={stale} shadows $X509_USER_PROXY={good}" in case.message
    assert "unset GRID_PROXY_FILE" in case.fix
    # The checks then judge the file DIRAC really reads: the stale one.
    assert r.outcome("PROXY-008") == "failed"


def test_dangling_variable_warns_and_default_is_used(grid, voms_server, tmp_path):
    home = grid.home(tmp_path)
    gone = tmp_path / "gone"
    good = write_proxy(tmp_path / "good", mu3e_proxy(grid, voms_server))
    r = run(home, good, env={"GRID_PROXY_FILE": str(gone)})
    case = r["PROXY-001"]
    assert case.outcome == "warned"
    assert f"$GRID_PROXY_FILE is set to {gone}, which is not a file" in case.message
    assert "dirac-proxy-init will write your next proxy to" in case.message
    assert "unset GRID_PROXY_FILE" in case.fix
    assert r.outcome("PROXY-008") == "passed"


def test_proxy_outliving_user_certificate_is_noted(grid, tmp_path):
    user = grid.pki.user(grid.ca, "Short Lived", days=0.25)
    home = grid.home(tmp_path, user=user)
    p = grid.pki.proxy(user, group="mu3e.org_user", lifetime=24 * HOUR)
    r = run(home, write_proxy(tmp_path / "x509up", p))
    # Notes are informational: the proxy is judged by the chain's real end, not failed.
    assert r.outcome("PROXY-008") == "passed"
    assert r.outcome("PROXY-006") == "passed"


def test_proxy_fixes_keep_a_hostile_group_and_paths_as_data(grid, tmp_path):
    """A group (--mu3e-group), a dangling proxy variable and a proxy path carrying shell
    syntax: every PROXY fix passes `bash -n` and, pasted with its commands stubbed out, runs
    none of the payload; the plain fixes keep their guide wording."""
    import subprocess

    from mu3e_checks.shell import quote

    home = grid.home(tmp_path)
    group = "mu3e.org_user;touch PWNED"
    missing = tmp_path / "gone;touch PWNED"
    stubs = "dirac-proxy-init() { :; }; unset() { :; }; chmod() { :; }\n"

    def pasted_runs_nothing(text: str) -> None:
        subprocess.run(["bash", "-n", "-c", text], check=True)
        subprocess.run(["bash", "-c", stubs + text], cwd=tmp_path, capture_output=True,
                       timeout=30)
        assert not (tmp_path / "PWNED").exists(), text

    r = run_checks(home, *SELECT, "--mu3e-group", group,
                   env={"X509_USER_PROXY": str(tmp_path / "none $(touch PWNED)")})
    assert r["PROXY-001"].outcome == "failed"
    assert r["PROXY-001"].fix == f"dirac-proxy-init -g {quote(group)} -M -t"
    pasted_runs_nothing(r["PROXY-001"].fix)

    evil = write_proxy(tmp_path / "p $(touch PWNED) `touch PWNED`",
                       grid.pki.proxy(grid.user, group="mu3e.org_user"))
    evil.chmod(0o644)
    r = run_checks(home, *SELECT, "--mu3e-group", group,
                   env={"X509_USER_PROXY": str(evil), "GRID_PROXY_FILE": str(missing)})
    case = r["PROXY-001"]
    assert case.outcome == "warned"
    assert case.fix == ("unset GRID_PROXY_FILE   # or run: dirac-proxy-init -g "
                        f"{group} -M -t")  # a comment: the group is shown, never run
    pasted_runs_nothing(case.fix)
    assert r["PROXY-002"].fix == f"chmod 600 {quote(str(evil))}"
    pasted_runs_nothing(r["PROXY-002"].fix)


def test_proxy_signed_by_a_key_that_is_not_the_users_fails_without_crls(grid, tmp_path):
    """Issue 19: dirac-proxy-init --nocs signs with whatever key X509_USER_KEY names.  Without
    CRLs every PROXY check used to pass; PROXY-004 now names the cause whatever CRL-004 says,
    and its fix puts the right key back before the new proxy."""
    from tests.support.pki_factory import Entity, new_key

    other = new_key(fresh=True)
    home = grid.home(tmp_path, trust=False)
    write_trust_dir(home / "dirac_ui/diracos/etc/grid-security/certificates", grid.cas, {})
    # The mismatched pair dirac-proxy-init was given is still in ~/.globus.
    key = home / ".globus" / "userkey.pem"
    key.write_bytes(Entity(grid.user.cert, other).key_pem())
    wrong = grid.pki.proxy(Entity(grid.user.cert, other, issuer=grid.ca), group="mu3e.org_user")
    wrong.issuer = grid.user
    r = run_checks(home, "--mu3e-select", "CERT,CRL,PROXY",
                   env={"X509_USER_PROXY": str(write_proxy(tmp_path / "x509up", wrong))})
    case = r["PROXY-004"]
    assert case.outcome == "failed", (case.outcome, case.message)
    assert "was not signed by your certificate's key" in case.message
    assert "different CA" not in case.message
    assert f"{key} does not belong to" in case.fix and case.fix.endswith(INIT)
    assert r.outcome("PROXY-006") == "skipped" and "PROXY-004" in r["PROXY-006"].message
    assert r.returncode == 1


def test_a_proxy_openssl_refuses_as_such_is_named_even_without_crls(grid, tmp_path):
    """A proxy whose subject is not its issuer's plus one CN: OpenSSL says 'proxy subject name
    violation' without CRLs, but stops at the missing CRL with them; PROXY-005 judges the proxy
    itself without CRLs, so the missing CRLs (CRL-001) cannot hide it."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    home = grid.home(tmp_path, trust=False)
    write_trust_dir(home / "dirac_ui/diracos/etc/grid-security/certificates", grid.cas, {})
    odd = grid.pki.proxy(grid.user, group="mu3e.org_user")
    names = list(grid.user.subject)[:-1] + [x509.NameAttribute(NameOID.COMMON_NAME, "x"),
                                             x509.NameAttribute(NameOID.COMMON_NAME, "123")]
    from tests.support import malformed as M

    odd.cert = M.rebuild(odd.cert, grid.user.key, subject=x509.Name(names).public_bytes())
    r = run_checks(home, "--mu3e-select", "CRL,PROXY",
                   env={"X509_USER_PROXY": str(write_proxy(tmp_path / "x509up", odd))})
    case = r["PROXY-005"]
    assert case.outcome == "failed", (case.outcome, case.message)
    assert "proxy subject name violation" in case.message and "error 72" in case.message
    assert r.outcome("CRL-001") == "failed"
