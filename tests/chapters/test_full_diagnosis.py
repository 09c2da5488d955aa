"""The whole offline diagnosis over complete setups: every chapter at once, as a user runs it.

A correct setup (credentials, DIRACOS with DIRAC 8.0.74 and the guide's dirac.cfg, the UK
e-Science CAs with fresh CRLs, a Mu3e proxy with group and VOMS attributes) must pass every
offline check; a single broken thing must give a single failure, with every check that depends
on it skipped and naming it, across chapters.
"""

from __future__ import annotations

import pytest

from mu3e_checks import profile, registry
from tests.support.pki_factory import DAY, crls_for, write_trust_dir
from tests.support.runner import run_checks
from tests.support.worlds import UKGrid, complete_setup


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def test_a_correct_setup_passes_every_offline_check(uk, tmp_path):
    home, env = complete_setup(uk, tmp_path)
    r = run_checks(home, env=env)
    offline = {c.id for c in registry.load_all().values()
               if not c.network and not profile.excluded(profile.USER, c.id)}
    assert set(r.cases) >= offline
    problems = {cid: (c.outcome, c.message) for cid, c in r.cases.items()
                if cid in offline and c.outcome != "passed"}
    assert problems == {}
    assert all(r.outcome(c) == "skipped" for c in r.cases if c not in offline)
    assert r.returncode == 0
    assert "READY" in r.stdout and "NOT READY" not in r.stdout
    # The environment section tells a support engineer what was found, without JavaScript.
    html = r.html.read_text()
    for fact in ("DIRAC version", "dirac-8.0.74.dist-info", "DIRACOS2 2.49", "from dirac.cfg",
                 "/C=UK/O=eScience/OU=Imperial/L=Physics/CN=jane physicist"):
        assert fact in html, fact


def test_stale_crl_is_one_failure_across_chapters(uk, tmp_path):
    crls = crls_for(uk.pki, uk.cas)
    crls[id(uk.ca)] = uk.pki.crl(uk.ca, next_update=uk.pki.now - DAY,
                                 last_update=uk.pki.now - 8 * DAY)
    home, env = complete_setup(uk, tmp_path, crls=crls)
    r = run_checks(home, env=env)
    assert r.failed() == ["CRL-003"], {c: r[c].message for c in r.failed()}
    assert "fetch-crl -l" in r["CRL-003"].fix
    # The user's chain check and the proxy's chain check depend on it: skipped, naming it.
    assert r.outcome("CRL-004") == "skipped" and "CRL-003" in r["CRL-004"].message
    assert r.outcome("PROXY-006") == "skipped" and "CRL-003" in r["PROXY-006"].message
    assert r.returncode == 1


def test_missing_required_ca_is_one_failure(uk, tmp_path):
    home, env = complete_setup(uk, tmp_path)
    cadir = uk.cadir(home)
    for f in cadir.iterdir():
        f.unlink()
    write_trust_dir(cadir, [uk.other], crls_for(uk.pki, [uk.other]), old_hash=True)
    r = run_checks(home, env=env)
    assert r.failed() == ["CA-004"], {c: r[c].message for c in r.failed()}
    assert r.outcome("CA-006") == "skipped" and "CA-004" in r["CA-006"].message
    assert "ca_UKeScienceCA-2B" in r["CA-004"].fix
    assert f"-C {cadir}" in r["CA-004"].fix or str(cadir) in r["CA-004"].fix


def test_first_run_on_an_empty_home_names_each_root_cause_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    r = run_checks(home, "--mu3e-proxy", str(tmp_path / "no-proxy"))
    assert r.failed() == ["CERT-001", "DIRACOS-001", "CA-001", "PROXY-001"], r.failed()
    for cid in ("ENV-001", "ENV-002", "ENV-003", "DIRAC-001", "CFG-001"):
        assert r.outcome(cid) == "skipped" and "DIRACOS-001" in r[cid].message, cid
    for cid in ("CRL-001", "CA-004"):
        assert r.outcome(cid) == "skipped" and "CA-001" in r[cid].message, cid
    # The fixes come in guide order, the first one first.
    out = r.stdout
    assert out.index("mkdir -p") < out.index("DIRACOS-Linux") < out.index("dirac-proxy-init")
    assert "NOT READY: 4 check(s) failed; start with CERT-001" in out
