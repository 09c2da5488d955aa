"""Unit tests of the DER reader and the VOMS attribute-certificate parser."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography import x509

from mu3e_checks.knowledge import der, voms
from tests.support.pki_factory import HOUR, NOW, der_oid, ia5, voms_ac, voms_extension


@pytest.fixture(scope="module")
def server(grid):
    return grid.pki.host(grid.ca, "voms.example.org")


# ------------------------------------------------------------------------------ DER


@pytest.mark.parametrize("dotted", ["1.2.42.42", "1.3.6.1.4.1.8005.100.100.5", "2.5.4.3",
                                    "1.2.840.113549.1.1.11"])
def test_oid_roundtrip(dotted):
    assert der.oid(der.parse(der_oid(dotted))) == dotted


def test_oid_with_large_first_arc():
    assert der.oid(der.parse(b"\x06\x03\x88\x37\x01")) == "2.999.1"
    with pytest.raises(der.DerError, match="malformed"):
        der.oid(der.parse(b"\x06\x02\x2a\x86"))


@pytest.mark.peer
def test_oid_matches_openssl():
    """Our OID encoding agrees with OpenSSL's own parser (the real peer)."""
    proc = subprocess.run(["openssl", "asn1parse", "-inform", "der"],
                          input=der_oid("1.3.6.1.4.1.8005.100.100.4"), capture_output=True,
                          timeout=30)
    assert b"1.3.6.1.4.1.8005.100.100.4" in proc.stdout


def test_strings_and_integers():
    assert der.string(der.parse(ia5("mu3e.org_user"))) == "mu3e.org_user"
    assert der.integer(der.parse(b"\x02\x02\x00\xff")) == 255
    assert der.integer(der.parse(b"\x02\x01\xff")) == -1


@pytest.mark.parametrize("data,expect", [
    (b"", "truncated"),
    (b"\x30", "truncated"),
    (b"\x30\x05\x02\x01", "runs past the end"),
    (b"\x30\x80\x00\x00", "indefinite length"),
    (b"\x02\x01\x01\x00", "unexpected bytes"),
    (b"\x30\x89" + b"\x00" * 9, "oversized"),
    (b"\x1f\x81\x01\x00", "high tag"),
])
def test_malformed_der_is_refused(data, expect):
    with pytest.raises(der.DerError, match=expect):
        der.parse(data)


def test_time_forms():
    g = der.parse(b"\x18\x0f20261125184156Z")
    assert der.time(g) == dt.datetime(2026, 11, 25, 18, 41, 56, tzinfo=dt.timezone.utc)
    u = der.parse(b"\x17\x0d261125184156Z")
    assert der.time(u).year == 2026
    with pytest.raises(der.DerError, match="not in UTC"):
        der.time(der.parse(b"\x18\x0e20261125184156"))


def test_name_roundtrip(grid):
    name = der.name(der.parse(grid.user.subject.public_bytes()))
    assert name == grid.user.subject


# ------------------------------------------------------------------------------ VOMS ACs


def test_factory_ac_is_parsed(grid, server):
    nb, na = NOW - HOUR, NOW + 11 * HOUR
    value = voms_extension(voms_ac(grid.user, server, fqans=["/mu3e.org",
                                                             "/mu3e.org/Role=production"],
                                   not_before=nb, not_after=na, serial=77))[1]
    (ac,) = voms.parse_voms_extension(value)
    assert ac.vo == "mu3e.org"
    assert ac.server == "voms.example.org:15000"
    assert ac.fqans == ("/mu3e.org", "/mu3e.org/Role=production")
    assert ac.issuer == "/C=CH/O=Mu3e Test Grid/CN=voms.example.org"
    assert ac.serial == 77
    assert (ac.not_before, ac.not_after) == (nb, na)
    assert ac.holder == "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA"
    assert ac.holder_serial == grid.user.cert.serial_number
    assert ac.signature_ok is True
    assert ac.state() == "valid"
    assert ac.state(na + HOUR) == "expired" and ac.state(nb - HOUR) == "not-yet-valid"
    assert "VO mu3e.org" in ac.describe()


def test_tampered_signature_is_detected(grid, server):
    (ac,) = voms.parse_voms_extension(voms_extension(voms_ac(grid.user, server,
                                                             bad_signature=True))[1])
    assert ac.signature_ok is False


def test_ac_without_server_certificate_cannot_be_checked(grid, server):
    (ac,) = voms.parse_voms_extension(voms_extension(voms_ac(
        grid.user, server, carry_server_cert=False))[1])
    assert ac.signature_ok is None and ac.vo == "mu3e.org"


def test_vo_from_fqan_when_no_policy_authority(grid, server):
    (ac,) = voms.parse_voms_extension(voms_extension(voms_ac(grid.user, server, uri=""))[1])
    assert ac.vo == "mu3e.org" and ac.server == ""


def test_several_acs_and_a_flat_list(grid, server):
    a, b = voms_ac(grid.user, server), voms_ac(grid.user, server, vo="atlas")
    assert [x.vo for x in voms.parse_voms_extension(voms_extension(a, b)[1])] == \
        ["mu3e.org", "atlas"]
    flat = b"\x30" + bytes([0x82]) + len(a).to_bytes(2, "big") + a  # SEQUENCE OF AC only
    assert voms.parse_voms_extension(flat)[0].vo == "mu3e.org"


@pytest.mark.parametrize("mangle,expect", [
    (lambda v: v[:-10], "cannot be read"),
    (lambda v: b"\x04\x03abc", "cannot be read"),
    (lambda v: b"\x30\x00", "no attribute certificate"),
    (lambda v: b"\x30\x03\x02\x01\x01", "cannot be read"),
])
def test_damaged_extension_gives_a_sentence(grid, server, mangle, expect):
    value = voms_extension(voms_ac(grid.user, server))[1]
    with pytest.raises(voms.VomsError, match=expect):
        voms.parse_voms_extension(mangle(value))


def test_find_voms_scans_the_chain(grid, server):
    dirac = grid.pki.proxy(grid.user, group="mu3e.org_user")
    outer = grid.pki.proxy(dirac, extensions=[voms_extension(voms_ac(grid.user, server))])
    found = voms.find_voms([outer.cert, dirac.cert, grid.user.cert])
    assert found.position == 0 and found.acs[0].vo == "mu3e.org" and not found.error
    assert voms.find_voms([dirac.cert, grid.user.cert]) == voms.VomsFinding()


def test_find_voms_reports_damage(grid):
    bad = grid.pki.proxy(grid.user, extensions=[(x509.ObjectIdentifier(
        "1.3.6.1.4.1.8005.100.100.5"), b"\x30\x02\x05\x00")])
    found = voms.find_voms([bad.cert])
    assert found.position == 0 and not found.acs and "cannot be read" in found.error
