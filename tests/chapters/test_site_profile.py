"""``--mu3e-profile site`` on a site-like tree: READY when the site is right, the fault named when
it is not, and a person's credential checks reported as not part of a site check.

The tree is what a site image holds: DIRACOS with DIRAC 8.0.74 and the setuptools pin under
/opt, the guide's dirac.cfg, the UK e-Science CAs with fresh CRLs in DIRACOS's CA directory, a
cron entry that runs fetch-crl for it, and an account whose home is empty (no ~/.globus, no
proxy).  The cron entry is named with ``--mu3e-crl-updater``, because the machine running the
tests has its own /etc/cron.d; how CRL-005 finds entries by itself is tests/unit/
test_crl_updater.py's subject.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mu3e_checks import profile, registry
from tests.support.diracos_trees import build_diracos
from tests.support.pki_factory import DAY, HOUR, crls_for
from tests.support.runner import run_checks
from tests.support.worlds import UKGrid

#: The user-credential checks a site run must report as not part of it.
USER_ONLY = sorted(cid for cid in registry.load_all()
                   if profile.skip_reason(profile.SITE, cid) == profile.NOT_A_SITE_CHECK)


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def site(tmp_path: Path, uk: UKGrid, *, cron: str = "42 */6 * * * root fetch-crl -q -l {dir}",
         crls=None, cas=None, **diracos) -> tuple[Path, dict[str, str], Path]:
    """A site image's tree: (the empty home of its account, the environment after
    ``source diracosrc``, the cron file that refreshes the CRLs)."""
    home = tmp_path / "home"
    home.mkdir()
    tree = build_diracos(home, prefix=tmp_path / "opt" / "diracos", **diracos)
    uk.trust_dir(tree.cert_dir, cas=cas, crls=crls)
    cron_file = tmp_path / "etc" / "cron.d" / "fetch-crl"
    cron_file.parent.mkdir(parents=True)
    cron_file.write_text(cron.format(dir=tree.cert_dir, root=tmp_path) + "\n")
    return home, tree.env(), cron_file


def site_run(home: Path, env: dict[str, str], cron: Path, *args: str):
    return run_checks(home, "--mu3e-profile", "site", "--mu3e-crl-updater", str(cron), *args,
                      env=env)


def test_a_right_site_is_ready_and_credential_checks_are_not_part_of_it(uk, tmp_path):
    home, env, cron = site(tmp_path, uk)
    r = site_run(home, env, cron)
    assert r.failed() == [], {c: r[c].message for c in r.failed()}
    assert r.returncode == 0, r.stdout[-3000:]
    assert "READY" in r.stdout and "NOT READY" not in r.stdout
    ran = {cid: c.outcome for cid, c in r.cases.items() if c.outcome != "skipped"}
    assert set(ran) >= {"DIRACOS-001", "DIRAC-002", "DIRAC-004", "CFG-001", "CFG-004",
                        "CA-001", "CA-004", "CRL-001", "CRL-002", "CRL-003", "CRL-005"}
    assert set(ran.values()) == {"passed"}, ran
    assert "fetch-crl -q -l" not in r["CRL-005"].message  # passed: the note says where
    assert f"writes to {env['X509_CERT_DIR']}" in r["CRL-005"].properties["note"]
    # Every credential check is reported, with the one reason that names the selection.
    for cid in USER_ONLY:
        assert r.outcome(cid) == "skipped", cid
        assert r[cid].message == profile.NOT_A_SITE_CHECK, (cid, r[cid].message)
    assert {"CERT-001", "PROXY-001", "CA-006", "CRL-004", "NET-004", "VOMS-001"} <= set(USER_ONLY)


def test_a_proxy_lying_around_a_site_image_changes_nothing(uk, tmp_path):
    home, env, cron = site(tmp_path, uk)
    stray = tmp_path / "x509up_u0"
    stray.write_text("-----BEGIN CERTIFICATE-----\nnot a proxy\n")
    r = site_run(home, {**env, "X509_USER_PROXY": str(stray)}, cron)
    assert r.returncode == 0 and r.failed() == []
    assert r["PROXY-003"].message == profile.NOT_A_SITE_CHECK


#: One broken thing per site: (what is changed, the check that must fail, words it must say).
FAULTS = {
    "DIRAC v9": (dict(dirac="9.1.22"), "DIRAC-002", "9.1.22"),
    "setuptools 82 (no pkg_resources)": (dict(setuptools="82.0.0"), "DIRAC-004", "82.0.0"),
    "no dirac.cfg": (dict(cfg=""), "CFG-001", "dirac.cfg"),
    "the required CA 2B missing": ("cas", "CA-004", "UK e-Science CA 2B"),
    "a stale CRL of a required CA": ("stale", "CRL-003", "expired"),
    "fetch-crl refreshes another directory":
        (dict(cron="42 */6 * * * root fetch-crl -q -l /etc/grid-security/certificates"),
         "CRL-005", "refreshes /etc/grid-security/certificates (its -l option), not"),
    "the packaged cron entry switched off":
        (dict(cron="42 */6 * * * root [ ! -f {root}/var/lock/fetch-crl-cron ] || "
                   "/usr/sbin/fetch-crl -q -r 360 -l {dir}"),
         "CRL-005", "var/lock/fetch-crl-cron exists, and it does not"),
    "no fetch-crl in the named updater":
        (dict(cron="42 */6 * * * root /usr/local/bin/sync-things"), "CRL-005",
         "runs no fetch-crl command"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_broken_site_names_its_fault(uk, tmp_path, fault):
    change, cid, words = FAULTS[fault]
    kw = dict(change) if isinstance(change, dict) else {}
    if change == "cas":
        kw["cas"] = [uk.root, uk.other]
    if change == "stale":
        crls = crls_for(uk.pki, uk.cas)
        crls[id(uk.ca)] = uk.pki.crl(uk.ca, last_update=uk.pki.now - 9 * DAY,
                                     next_update=uk.pki.now - DAY)
        kw["crls"] = crls
    home, env, cron = site(tmp_path, uk, **kw)
    r = site_run(home, env, cron)
    assert r.outcome(cid) == "failed", (cid, r[cid].outcome, r[cid].message)
    assert words in r[cid].message, r[cid].message
    assert r[cid].fix, cid
    assert r.returncode == 1
    assert f"NOT READY: {len(r.failed())} check(s) failed; start with {r.failed()[0]}" in r.stdout
    assert not set(r.failed()) & set(USER_ONLY)  # never a person's credential


def test_warnings_and_strict_mode_work_as_for_users(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, next_update=uk.pki.now + 2 * HOUR)
    home, env, cron = site(tmp_path, uk, crls=crls)
    r = site_run(home, env, cron)
    assert r.outcome("CRL-003") == "warned" and r.returncode == 0
    assert "READY offline with 1 warning(s)" in r.stdout
    strict = site_run(home, env, cron, "--mu3e-strict")
    assert strict.returncode == 1 and "NOT READY (strict)" in strict.stdout


def test_the_profile_comes_from_the_environment_and_a_wrong_one_stops_the_run(uk, tmp_path):
    home, env, cron = site(tmp_path, uk)
    r = run_checks(home, env={**env, "MU3E_PROFILE": "site", "MU3E_CRL_UPDATER": str(cron)})
    assert r.returncode == 0 and r["CERT-001"].message == profile.NOT_A_SITE_CHECK
    bad = run_checks(home, "--mu3e-profile", "admin", env=env)
    assert bad.returncode == 4 and "--mu3e-profile (or MU3E_PROFILE) must be one of user, " \
        "site, not 'admin'" in bad.stderr + bad.stdout
    assert run_checks(home, env={**env, "MU3E_PROFILE": "Site"}).returncode == 4


def test_the_updater_check_is_no_part_of_a_users_run(uk, tmp_path):
    from tests.support.worlds import complete_setup

    home, env = complete_setup(uk, tmp_path)
    r = run_checks(home, "--mu3e-select", "CRL", env=env)
    assert "CRL-005" not in r.cases and {"CRL-001", "CRL-002", "CRL-003"} <= set(r.cases)
    assert r.returncode == 0 and r.failed() == []
