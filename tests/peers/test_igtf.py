"""The real IGTF classic bundle (Debian's igtf-policy-classic, installed by .ci/run).

A tmp trust dir is built from /usr/share/igtf-policy/classic with symlinks, exactly as the
package links it into /etc/grid-security/certificates: both OpenSSL hash names per CA, the
.info/.signing_policy/.namespaces files.  The diagnosis is pointed at that tmp dir, never at
/etc/grid-security.  The test fails when the package is missing: CI installs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mu3e_checks.knowledge import trust
from mu3e_checks.settings import DEFAULT_REQUIRED_CAS
from tests.support.pki_factory import subject_hash_old, write_credentials
from tests.support.runner import run_checks

IGTF = Path("/usr/share/igtf-policy/classic")


@pytest.fixture(scope="module")
def igtf_dir(tmp_path_factory) -> Path:
    assert IGTF.is_dir(), "igtf-policy-classic is missing (apt-get install igtf-policy-classic)"
    d = tmp_path_factory.mktemp("igtf") / "certificates"
    d.mkdir()
    for entry in os.scandir(IGTF):
        os.symlink(os.path.realpath(entry.path), d / entry.name)
    return d


def test_scan_recognises_uk_and_cern_under_both_hash_names(igtf_dir):
    store = trust.scan_trust_dir(igtf_dir)
    assert len(store.cas) >= 70 and not store.bad_files
    expect = {
        "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B": {"530f7122.0", "ffc3d59b.0"},
        "/C=UK/O=eScienceRoot/OU=Authority/CN=UK e-Science Root": {"7ed47087.0", "98ef0ee5.0"},
        trust.CERN_ROOT_CA_2: {"c2a48ab6.0", "b4278411.0"},
        trust.CERN_GRID_CA: {"5168735f.0", "4339b4bc.0"},
    }
    for dn, names in expect.items():
        (ca,) = store.with_subject(dn)
        assert set(ca.names) == names, dn
        assert trust.subject_hash(ca.cert) + ".0" in names
        assert subject_hash_old(ca.cert) + ".0" in names  # the test's own MD5 hash agrees
        assert ca.alias == trust.KNOWN_BUNDLES[dn]  # read from the bundle's .info files
    assert not [r for r in trust.check_required(store, list(expect)) if r.problem]
    # UK CA 2B chains to the UK Root by key, not just by name.
    (ca2b,) = store.with_subject(DEFAULT_REQUIRED_CAS[0])
    assert [c.subject for c in store.issuers_of(ca2b.cert)] == [DEFAULT_REQUIRED_CAS[1]]


def test_diagnosis_over_igtf(igtf_dir, grid, tmp_path):
    home = tmp_path / "home"
    write_credentials(home / ".globus", grid.user)
    sysdir = tmp_path / "system"
    sysdir.mkdir()
    r = run_checks(home, "--mu3e-select", "CA-001,CA-003,CA-004,CA-005",
                   "--mu3e-required-ca", DEFAULT_REQUIRED_CAS[0],
                   "--mu3e-required-ca", DEFAULT_REQUIRED_CAS[1],
                   "--mu3e-required-ca", trust.CERN_ROOT_CA_2,
                   "--mu3e-required-ca", trust.CERN_GRID_CA,
                   "--mu3e-system-cert-dir", str(sysdir),
                   env={"X509_CERT_DIR": str(igtf_dir)})
    assert r.outcome("CA-001") == "passed"
    assert r.outcome("CA-003") == "passed", r["CA-003"].message
    assert r.outcome("CA-004") == "passed", r["CA-004"].message
    expired = trust.expired_cas(trust.scan_trust_dir(igtf_dir))
    if expired:  # several IGTF 1.133 CAs are past their end date by today's clock
        case = r["CA-005"]
        assert case.outcome == "warned", case.message
        assert f"{len(expired)} CA certificate(s) you do not rely on" in case.message
    else:
        assert r.outcome("CA-005") == "passed"
    assert r.returncode == 0
