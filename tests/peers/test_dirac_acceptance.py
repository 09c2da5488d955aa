"""The issue's acceptance list, as a new user meets it: one DIRACOS tree each, one named verdict.

Each tree is a fake DIRACOS prefix holding real DIRAC / setuptools dists pip installed, and the
dirac.cfg dirac-configure writes; each run is ``pytest --pyargs mu3e_checks`` in a subprocess.
"""

from __future__ import annotations

import pytest

from tests.support.diracos_trees import GUIDE_CS, build_diracos, dirac_cfg_text
from tests.support.runner import run_checks

OURS = ("--mu3e-select", "DIRACOS,DIRAC,CFG,ENV")


@pytest.fixture
def home(grid, tmp_path, dirac_releases):
    return grid.home(tmp_path)


def _pip_fix(tree, requirement: str) -> str:
    return f"source {tree.prefix}/diracosrc\npip install {requirement}"


def test_dirac_9_fails_naming_v9_with_the_guide_pin(home):
    tree = build_diracos(home, dirac="9.1.22")
    r = run_checks(home, *OURS, env=tree.env())
    case = r["DIRAC-002"]
    assert case.outcome == "failed"
    assert "DIRAC 9.1.22" in case.message and "v9" in case.message
    assert "incompatible" in case.message
    assert case.fix == _pip_fix(tree, "DIRAC==8.0.74")
    assert r.failed() == ["DIRAC-002"]
    assert r.returncode == 1


def test_no_dirac_fails_with_pip_install_after_sourcing(home):
    tree = build_diracos(home, dirac=None)
    r = run_checks(home, *OURS, env=tree.env())
    case = r["DIRAC-001"]
    assert case.outcome == "failed"
    assert "DIRAC is not installed" in case.message
    assert str(tree.site) in case.message
    assert case.fix == _pip_fix(tree, "DIRAC==8.0.74")
    for dependant in ("DIRAC-002", "DIRAC-004", "DIRAC-005", "DIRAC-006"):
        assert r.outcome(dependant) == "skipped" and "DIRAC-001" in r[dependant].message
    assert r.failed() == ["DIRAC-001"]


def test_dirac_8_with_setuptools_82_fails_on_pkg_resources(home):
    tree = build_diracos(home, setuptools="82.0.0")
    r = run_checks(home, *OURS, env=tree.env())
    case = r["DIRAC-004"]
    assert case.outcome == "failed"
    assert "setuptools 82.0.0" in case.message and "pkg_resources" in case.message
    assert case.fix == _pip_fix(tree, '"setuptools<82"')
    assert r.failed() == ["DIRAC-004"]


def test_cfg_without_setup_fails_with_dirac_configure(home):
    tree = build_diracos(home, cfg=dirac_cfg_text(setup=None))
    r = run_checks(home, *OURS, env=tree.env())
    case = r["CFG-003"]
    assert case.outcome == "failed"
    assert "/DIRAC/Setup is not set" in case.message
    assert str(tree.cfg) in case.message
    assert case.fix == (f"source {tree.prefix}/diracosrc\n"
                        f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I")
    assert r.failed() == ["CFG-003"]


def test_cfg_pointing_at_another_cs_fails(home):
    other = "dips://lbcertifdirac70.cern.ch:9135/Configuration/Server"
    tree = build_diracos(home, cfg=dirac_cfg_text(servers=(other,)))
    r = run_checks(home, *OURS, env=tree.env())
    case = r["CFG-004"]
    assert case.outcome == "failed"
    assert other in case.message and GUIDE_CS in case.message
    assert f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I" in case.fix
    assert r.failed() == ["CFG-004"]


def test_x509_cert_dir_unset_warns_with_the_guide_export(home):
    tree = build_diracos(home)
    r = run_checks(home, *OURS, env=tree.env(X509_CERT_DIR=None))
    case = r["ENV-001"]
    assert case.outcome == "warned"
    assert "X509_CERT_DIR is not exported" in case.message
    assert case.fix == f"export X509_CERT_DIR={tree.cert_dir}"
    assert r.failed() == []
    assert r.returncode == 0
    strict = run_checks(home, "--mu3e-select", "ENV-001", "--mu3e-strict",
                        env=tree.env(X509_CERT_DIR=None))
    assert strict.returncode == 1


def test_correct_tree_passes_after_sourcing_diracosrc_as_the_guide_says(home):
    tree = build_diracos(home)
    # The guide's two shell steps, run by a real bash: source diracosrc, export X509_CERT_DIR.
    env = tree.sourced_env(home, "export X509_CERT_DIR=$HOME/dirac_ui/diracos/etc/grid-security/"
                                 "certificates")
    assert env["DIRACOS"] == str(tree.prefix)
    r = run_checks(home, *OURS, env=env)
    assert len(r.cases) == 18, sorted(r.cases)
    not_passed = {c.id: (c.outcome, c.message) for c in r.cases.values() if c.outcome != "passed"}
    assert not_passed == {}
    assert r.returncode == 0
    assert "READY" in r.stdout
