"""``fix`` against a hostile repository, CRL endpoint and file (issue 20): each attack is a
test.  The servers run on loopback inside a loopback-only network namespace; the repairs are
called directly (tests/chapters/test_repair.py runs ``fix`` end to end)."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from mu3e_checks import commands, repair
from mu3e_checks.repair import download
from tests.support.crl_server import Drip, Endless, Redirect, point_crl_urls, serve, tls_context
from tests.support.igtf_bundles import igtf_tarball, info_text
from tests.support.pki_factory import DAY, NOW, PKI, pem, subject_hash, write_trust_dir
from tests.support.worlds import UKGrid

pytestmark = pytest.mark.usefixtures("loopback_only")

UK2B, UKROOT = "UKeScienceCA-2B", "UKeScienceRoot-2007"
TGZ = f"/ca_{UK2B}-1.138.tar.gz"


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def _keys(*pairs) -> repair.KnownKeys:
    from mu3e_checks.repair.bundles import key_digest

    return repair.KnownKeys("test keys", {a: frozenset({key_digest(ca.cert)}) for a, ca in pairs})


def _ctx(tmp_path: Path, **kw) -> repair.Context:
    opts = repair.Options(**{k: kw.pop(k) for k in ("yes", "allow_http", "ca_fingerprints")
                             if k in kw})
    return repair.Context(home=tmp_path, environ=kw.pop("environ", {}), options=opts,
                          stamp="s", **kw)


def _keys_file(tmp_path: Path, *pairs) -> Path:
    from tests.support.igtf_bundles import known_keys_file

    return known_keys_file(tmp_path / "keys.json", pairs)


def _tree(root: Path) -> dict[str, bytes]:
    """Every entry under ``root``: file bytes, or the link target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = (b"-> " + os.readlink(p).encode()) if p.is_symlink() else (
            p.read_bytes() if p.is_file() else b"<dir>")
    return out


def _apply(uk, tmp_path, server_base, ca_dir, *aliases, **kw):
    action = commands.install_ca_bundles(ca_dir, list(aliases or (UK2B,))).action
    ctx = _ctx(tmp_path, ca_repository=server_base, allow_http=kw.pop("allow_http", True),
               ca_fingerprints=_keys_file(tmp_path, (UK2B, uk.ca), (UKROOT, uk.root)), **kw)
    return repair.apply_bundles(action, ctx)


# ------------------------------------------------------------------ 1. poisoned bundles

def test_a_bundle_carrying_an_unrequested_ca_is_refused_whole_and_names_it(uk, tmp_path):
    """Issue 20, 1a: ca_UKeScienceCA-2B also carries another CA as a regular <hash>.0, with its
    .signing_policy and .crl_url: nothing is installed, and the stranger is named."""
    evil = PKI().ca("Unrequested Evil CA")
    h = subject_hash(evil.cert)
    poisoned = igtf_tarball(uk.ca, UK2B, extra=[
        (f"{h}.0", evil.cert_pem(), None), (f"{h}.signing_policy", b"access_id_CA X509 x\n",
                                             None),
        (f"{h}.crl_url", b"http://127.0.0.1:9/evil.crl\n", None)])
    ca_dir = uk.trust_dir(tmp_path / "certificates", cas=[uk.other])
    before = _tree(ca_dir)
    with serve({TGZ: poisoned}) as server, pytest.raises(repair.RepairError) as err:
        _apply(uk, tmp_path, server.base, ca_dir)
    text = str(err.value)
    assert "not UKeScienceCA-2B's own" in text and "nothing installed" in text
    assert f"{h}.0 (holds /C=CH/O=Mu3e Test Grid/CN=Unrequested Evil CA)" in text
    assert f"{h}.crl_url" in text and f"{h}.signing_policy" in text
    assert _tree(ca_dir) == before


def test_a_look_alike_of_an_installed_root_under_its_hash_name_is_refused(uk, tmp_path):
    """Issue 20, 1b: the tarball carries a look-alike of the installed CERN root (same DN,
    another key) under the genuine file's hash name: refused, the genuine file untouched, no
    .mu3e-checks-replaced/ made."""
    pki = PKI()
    from tests.support.pki_factory import dn

    cern_dn = "/C=ch/O=CERN/CN=CERN Root Certification Authority 2"
    genuine = pki.ca(subject=dn(cern_dn))
    fake = pki.ca(subject=dn(cern_dn))
    ca_dir = write_trust_dir(tmp_path / "certificates", [genuine, uk.other])
    h = subject_hash(genuine.cert)
    before = _tree(ca_dir)
    poisoned = igtf_tarball(uk.ca, UK2B, extra=[(f"{h}.0", fake.cert_pem(), None)])
    with serve({TGZ: poisoned}) as server, pytest.raises(repair.RepairError) as err:
        _apply(uk, tmp_path, server.base, ca_dir)
    assert f"{h}.0 (holds {cern_dn})" in str(err.value)
    assert _tree(ca_dir) == before
    assert not (ca_dir / repair.REPLACED_DIR).exists()


def test_an_installed_anchor_is_never_replaced_by_another_key_and_both_fingerprints_show(
        uk, tmp_path):
    """Even a bundle the known-keys file accepts (a careless site file) cannot replace an
    installed CA of the same DN with another key: both SHA-256 fingerprints are shown."""
    from mu3e_checks.repair.bundles import cert_fingerprint
    from tests.support.pki_factory import dn
    from tests.support.worlds import UK_ROOT

    look_alike = PKI().ca(subject=dn(UK_ROOT))
    ca_dir = write_trust_dir(tmp_path / "certificates", [uk.root, uk.other])
    before = _tree(ca_dir)
    bundle = repair.check_bundle(igtf_tarball(look_alike, UKROOT), UKROOT,
                                 _keys((UKROOT, look_alike)))
    with pytest.raises(repair.RepairError) as err:
        repair.conflicts(bundle, ca_dir)
    text = str(err.value)
    assert "already trusted" in text and "never replaced" in text
    assert cert_fingerprint(uk.root.cert) in text and cert_fingerprint(look_alike.cert) in text
    assert _tree(ca_dir) == before


@pytest.mark.parametrize("case, expect", [
    ("hash-file-differs", "not the same as UKeScienceCA-2B.pem"),
    ("hash-link-elsewhere", "not to UKeScienceCA-2B.pem"),
    ("two-certs-in-pem", "holds 2 PEM blocks"),
    ("no-hash-name", "no {h}.0"),
    ("sha1fp-wrong", "not the certificate its .info names"),
    ("no-sha1fp", "has no sha1fp.0"),
    ("no-info", "no UKeScienceCA-2B.info"),
    ("info-other-alias", "its .info is for Other"),
    ("unknown-key", "not a known key of UKeScienceCA-2B"),
    ("alias-link", "a link to"),
    ("crl-in-bundle", "{h}.r0 (a link to UKeScienceCA-2B.r0)"),
])
def test_bundle_content_rules(uk, case, expect):
    h = subject_hash(uk.ca.cert)
    other = PKI().ca("Other CA")
    keys = _keys((UK2B, uk.ca))
    kw: dict = {}
    if case == "hash-file-differs":
        kw = {"drop": [f"{h}.0"], "extra": [(f"{h}.0", other.cert_pem(), None)]}
    elif case == "hash-link-elsewhere":
        kw = {"drop": [f"{h}.0"], "extra": [(f"{h}.0", None, f"{UK2B}.info")]}
    elif case == "two-certs-in-pem":
        kw = {"pem": uk.ca.cert_pem() + other.cert_pem()}
    elif case == "no-hash-name":
        kw = {"drop": [f"{h}.0"]}
    elif case == "sha1fp-wrong":
        kw = {"info": info_text(uk.ca.cert, UK2B, sha1="AB" * 20)}  # another certificate's
    elif case == "no-sha1fp":
        kw = {"info": f"alias = {UK2B}\n".encode()}
    elif case == "no-info":
        kw = {"drop": [f"{UK2B}.info"]}
    elif case == "info-other-alias":
        kw = {"info": info_text(uk.ca.cert, "Other")}
    elif case == "unknown-key":
        keys = _keys((UK2B, other))
    elif case == "alias-link":
        kw = {"extra": [(f"{UK2B}.namespaces", None, f"{UK2B}.pem")]}
    elif case == "crl-in-bundle":  # a CRL would go in unverified: not a bundle's file
        kw = {"extra": [(f"{UK2B}.r0", b"any CRL", None), (f"{h}.r0", None, f"{UK2B}.r0")]}
    with pytest.raises(repair.RepairError, match=re.escape(expect.format(h=h))):
        repair.check_bundle(igtf_tarball(uk.ca, UK2B, **kw), UK2B, keys)


def test_the_packaged_known_keys_refuse_a_test_double_of_a_guide_ca(uk):
    """Without --ca-fingerprints, a bundle of a guide CA is checked against the packaged keys
    of the real CAs: our test double (real DN, our key) is a look-alike, and refused."""
    assert set(repair.known_keys().keys) == {UK2B, UKROOT, "CERN-Root-2", "CERN-GridCA"}
    with pytest.raises(repair.RepairError, match="not a known key of UKeScienceCA-2B"):
        repair.check_bundle(igtf_tarball(uk.ca, UK2B), UK2B)


def test_a_ca_without_a_known_key_is_checked_by_its_info_and_said_so(tmp_path):
    ca = PKI().ca("Some Other Grid CA")
    bundle = repair.check_bundle(igtf_tarball(ca, "SomeOther"), "SomeOther", _keys())
    assert bundle.notes and "no known key for SomeOther" in bundle.notes[0]


def test_a_failed_install_takes_back_every_file_it_put_in_place(uk, tmp_path):
    """Nothing half-installed: the last file cannot be written (a directory stands where a
    link goes), so the files already installed are removed and a replaced one comes back."""
    ca_dir = tmp_path / "certificates"
    ca_dir.mkdir()
    (ca_dir / f"{UK2B}.info").write_text("old info\n")
    h = subject_hash(uk.ca.cert)
    blocker = ca_dir / f"{h}.signing_policy"
    blocker.mkdir()
    (blocker / "x").write_text("a non-empty directory cannot be replaced by a link")
    before = _tree(ca_dir)
    bundle = repair.check_bundle(igtf_tarball(uk.ca, UK2B), UK2B, _keys((UK2B, uk.ca)))
    with pytest.raises(repair.RepairError, match="taken back"):
        repair.install_bundle(bundle, ca_dir, "s")
    after = _tree(ca_dir)
    after = {k: v for k, v in after.items() if not k.startswith(repair.REPLACED_DIR)}
    assert after == before


# ------------------------------------------------------------------ 2. transport

def test_a_plain_http_repository_needs_the_option_and_is_warned_about(uk, tmp_path):
    action = commands.install_ca_bundles(tmp_path / "certificates", [UK2B]).action
    steps = repair.build_plan([_failed("CA-004", action)],
                              _ctx(tmp_path, ca_repository="http://127.0.0.1:9/tgz/"))
    assert "plain http" in steps[0].blocked and "--allow-http-repository" in steps[0].blocked
    steps = repair.build_plan([_failed("CA-004", action)],
                              _ctx(tmp_path, ca_repository="http://127.0.0.1:9/tgz/",
                                   allow_http=True))
    assert steps[0].applicable and steps[0].changes[0].startswith("WARNING: the CA repository")


def _failed(cid: str, action):
    from mu3e_checks.model import CheckResult

    return CheckResult(id=cid, title=cid, step="cas", step_title="", severity="fail",
                       requires=(), outcome="failed", message="m", fix="f", actions=(action,))


def _web(tmp_path: Path):
    pki = PKI()
    web_ca = pki.ca("Loopback Web CA")
    bundle = tmp_path / "web-ca.pem"
    bundle.write_bytes(pem(web_ca))
    return tls_context(web_ca, tmp_path), {"REQUESTS_CA_BUNDLE": str(bundle)}


def test_an_https_repository_redirecting_to_http_is_refused_and_http_never_asked(uk, tmp_path):
    """Issue 20, 2: the HTTPS repository answers 302 to http://: a downgrade, refused; the
    plain server is never contacted, nothing is installed."""
    tls, env = _web(tmp_path)
    ca_dir = tmp_path / "certificates"
    with serve({TGZ: igtf_tarball(uk.ca, UK2B)}) as plain:
        with serve({TGZ: Redirect(plain.base + TGZ)}, tls=tls) as secure:
            with pytest.raises(repair.RepairError) as err:
                _apply(uk, tmp_path, secure.base, ca_dir, allow_http=False, environ=env)
    assert "may not change the scheme (https -> http)" in str(err.value)
    assert secure.hits == [TGZ] and plain.hits == []
    assert not ca_dir.exists()


def test_redirects_stay_on_the_host_and_scheme(uk, tmp_path):
    good = igtf_tarball(uk.ca, UK2B)
    ca_dir = tmp_path / "certificates"
    with serve({"/real.tgz": good}) as other, serve({"/moved.tgz": good}) as server:
        server.content[TGZ] = Redirect("/moved.tgz")  # same host: followed
        assert any("installed" in ln for ln in _apply(uk, tmp_path, server.base, ca_dir))
        port = server.base.rsplit(":", 1)[1]
        for away in (other.base + "/real.tgz", f"http://localhost:{port}/moved.tgz"):
            server.content[TGZ] = Redirect(away)
            with pytest.raises(repair.RepairError, match="may not leave 127.0.0.1"):
                _apply(uk, tmp_path, server.base, tmp_path / "c2")
    assert other.hits == []


def test_a_slow_drip_endpoint_is_cut_at_the_deadline(uk, tmp_path):
    """Issue 20, 3: headers, then one byte a second: alive for any per-read timeout, cut at the
    total deadline; the server sees the hang-up, nothing is installed."""
    ca_dir = tmp_path / "certificates"
    with serve({TGZ: Drip(igtf_tarball(uk.ca, UK2B), every=0.2)}) as server:
        with pytest.raises(repair.RepairError, match=r"timed out: not finished within 1 s"):
            _apply(uk, tmp_path, server.base, ca_dir, timeout=1.0)
        assert server.sent[TGZ] < 12
    assert not ca_dir.exists()


def test_a_huge_endpoint_is_cut_at_the_cap_while_streaming(tmp_path):
    with serve({"/huge": Endless(), "/said": Endless(announce=10 ** 10)}) as server:
        for path, expect in (("/huge", "larger than 1 MiB"), ("/said", "10000000000 bytes")):
            with pytest.raises(download.DownloadError, match=expect):
                download.fetch(server.base + path, deadline=download.Deadline(5),
                               max_bytes=1 << 20, https_only=False, environ={})
    assert server.sent.get("/said", 0) < 8 << 20 and server.sent.get("/huge", 0) < 8 << 20


@pytest.mark.parametrize("same_name, expect", [(True, "appears twice"),
                                                (False, "more than 64 entries")])
def test_a_tarball_of_countless_empty_members_stops_while_streaming(uk, tmp_path, same_name,
                                                                     expect):
    """Issue 20, 3: 20 000 zero-size members (10 MiB unpacked, a few kB packed), all alike as
    in the issue, or each with its own name.  Members are checked and counted as they are
    read: the second (a name twice) or the 65th ends it, long before the unpacked-size cap
    (reached after ~8 000 members) would, let alone the end of the file."""
    top = f"ca_{UK2B}-1.138"
    headers = b"".join(tarfile.TarInfo(f"{top}/{UK2B}.x{0 if same_name else n}").tobuf()
                       for n in range(20_000))
    bomb = gzip.compress(headers, 6)
    with serve({TGZ: bomb}) as server, pytest.raises(repair.RepairError) as err:
        _apply(uk, tmp_path, server.base, tmp_path / "certificates")
    assert expect in str(err.value), err.value


def test_a_member_that_unpacks_to_gigabytes_stops_at_the_unpacked_cap(uk, tmp_path):
    """A GNU long-name member of 64 MiB (tarfile reads such a name whole): the unpacked bytes
    are capped as they stream out of gzip."""
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = tarfile.GNUTYPE_LONGNAME, 64 << 20
    bomb = gzip.compress(info.tobuf(tarfile.GNU_FORMAT) + b"a" * (64 << 20), 1)
    with serve({TGZ: bomb}) as server, pytest.raises(repair.RepairError) as err:
        _apply(uk, tmp_path, server.base, tmp_path / "certificates")
    assert "unpacks to more than 4 MiB" in str(err.value), err.value


# ------------------------------------------------------------------ CRLs

def test_a_refresh_touches_only_the_crls_that_need_it(tmp_path):
    """Issue 20, 8: a CRL that is already fresh is left alone, byte for byte and untouched on
    disk; its endpoint is not even asked."""
    pki = PKI()
    fresh_ca, stale_ca = pki.ca("Fresh CA"), pki.ca("Stale CA")
    crls = {id(fresh_ca): pki.crl(fresh_ca),
            id(stale_ca): pki.crl(stale_ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)}
    ca_dir = write_trust_dir(tmp_path / "certificates", [fresh_ca, stale_ca], crls)
    hf, hs = subject_hash(fresh_ca.cert), subject_hash(stale_ca.cert)
    fresh_file = ca_dir / f"{hf}.r0"
    stat_before = os.stat(fresh_file)
    before = fresh_file.read_bytes()
    with serve({f"/{hf}.crl": pem(pki.crl(fresh_ca)),
                f"/{hs}.crl": pem(pki.crl(stale_ca))}) as server:
        point_crl_urls(ca_dir, [fresh_ca, stale_ca], server.base)
        log = repair.refresh_crls(ca_dir, seconds=5.0, stamp="s")
        assert server.hits == [f"/{hs}.crl"]
        again = repair.refresh_crls(ca_dir, seconds=5.0, stamp="t")
    assert [ln.split(" <- ")[0] for ln in log] == [f"{hs}.r0"] and again == []
    assert fresh_file.read_bytes() == before
    assert os.stat(fresh_file).st_mtime_ns == stat_before.st_mtime_ns
    assert os.listdir(ca_dir / repair.REPLACED_DIR) == [f"{hs}.r0.bak-s"]


def test_the_crl_apply_fetches_only_what_the_plan_listed(tmp_path):
    pki = PKI()
    a, b = pki.ca("CA A"), pki.ca("CA B")
    stale = {id(ca): pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
             for ca in (a, b)}
    ca_dir = write_trust_dir(tmp_path / "certificates", [a, b], stale)
    with serve({f"/{subject_hash(ca.cert)}.crl": pem(pki.crl(ca)) for ca in (a, b)}) as server:
        point_crl_urls(ca_dir, [a, b], server.base)
        action = commands.fetch_crl(ca_dir).action
        ctx = _ctx(tmp_path, timeout=5.0)
        step = repair.build_plan([_failed("CRL-003", action)], ctx)[0]
        assert step.applicable and "the 0 current one(s) stay" in step.changes[0]
        ctx.planned[action] = frozenset({subject_hash(a.cert)})  # as if B was fresh then
        log = repair.apply_crls(action, ctx)
    assert [ln.split(" <- ")[0] for ln in log] == [f"{subject_hash(a.cert)}.r0"]
    assert server.hits == [f"/{subject_hash(a.cert)}.crl"]


def test_crls_over_http_are_verified_and_hostile_endpoints_end_in_time(tmp_path):
    """CRLs may come over http as published; a slow-drip endpoint, a redirect off the host,
    and a huge one each end as a named 'NOT repaired' line within the step's deadline."""
    pki = PKI()
    cas = [pki.ca(f"Hostile Endpoint CA {n}") for n in range(4)]
    stale = {id(ca): pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
             for ca in cas}
    ca_dir = write_trust_dir(tmp_path / "certificates", cas, stale)
    hashes = [subject_hash(ca.cert) for ca in cas]
    with serve({}) as server:
        server.content.update({
            f"/{hashes[0]}.crl": pem(pki.crl(cas[0])),
            f"/{hashes[1]}.crl": Drip(pem(pki.crl(cas[1])), every=0.3),
            f"/{hashes[2]}.crl": Redirect("http://localhost:9/x.crl"),
            f"/{hashes[3]}.crl": Endless(),
        })
        point_crl_urls(ca_dir, cas, server.base)
        log = "\n".join(repair.refresh_crls(ca_dir, seconds=1.5, stamp="s"))
    assert f"{hashes[0]}.r0 <- " in log
    assert f"{hashes[1]}.r0 NOT repaired" in log and "timed out" in log
    assert f"{hashes[2]}.r0 NOT repaired" in log and "may not leave" in log
    assert f"{hashes[3]}.r0 NOT repaired" in log and "larger than 64 MiB" in log
    for h in hashes[1:]:
        assert (ca_dir / f"{h}.r0").read_bytes() == pem(stale[id(cas[hashes.index(h)])])


def test_a_crl_url_file_of_countless_long_urls_costs_a_few_tries(tmp_path):
    pki = PKI()
    ca = pki.ca("Many URLs CA")
    stale = {id(ca): pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)}
    ca_dir = write_trust_dir(tmp_path / "certificates", [ca], stale)
    with serve({}) as server:
        urls = [f"{server.base}/{n}/{'x' * 500}.crl" for n in range(100)]
        (ca_dir / f"{subject_hash(ca.cert)}.crl_url").write_text("\n".join(urls) + "\n")
        (line,) = repair.refresh_crls(ca_dir, seconds=2.0)
    assert len(server.hits) == 4 and "HTTP 404" in line and len(line) < 1200


def test_a_step_deadline_bounds_many_slow_endpoints(tmp_path):
    """Twenty slow CRL endpoints with two workers: each may take 1 s, the whole step 1.5 s;
    downloads not begun by then are not begun at all."""
    pki = PKI()
    cas = [pki.ca(f"Slow CA {n}") for n in range(20)]
    stale = {id(ca): pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
             for ca in cas}
    ca_dir = write_trust_dir(tmp_path / "certificates", cas, stale)
    with serve({}) as server:
        for ca, h in zip(cas, point_crl_urls(ca_dir, cas, server.base)):
            server.content[f"/{h}.crl"] = Drip(pem(pki.crl(ca)), every=0.5)
        log = repair.refresh_crls(ca_dir, seconds=1.0, step_seconds=1.5, workers=2)
        assert len(server.hits) <= 6  # two workers, at most three rounds each
    assert len(log) == 20 and all("NOT repaired" in ln for ln in log)
    assert sum("the whole step" in ln or "were used up" in ln for ln in log) >= 14


# ------------------------------------------------------------------ 8. a costly .p12

def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + \
        n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + body


def costly_p12(data: bytes, mac_iterations: int) -> bytes:
    """``data`` (a PFX) with its MAC's iteration count replaced: what a crafted export asks."""
    from mu3e_checks.knowledge.der import parse

    version, auth_safe, mac = parse(data).children()
    digest, salt = mac.children()[:2]
    count = _der(0x02, mac_iterations.to_bytes((mac_iterations.bit_length() + 8) // 8, "big"))
    return _der(0x30, version.raw + auth_safe.raw + _der(0x30, digest.raw + salt.raw + count))


def test_a_p12_with_absurd_mac_iterations_is_refused_before_any_work(tmp_path):
    """Issue 20, 8: 2·10⁹ MAC iterations (about 140 s of CPU per try): the plan refuses it,
    no pass phrase is asked for, nothing is written."""
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    pki = PKI()
    user = pki.user(pki.ca("P12 Test CA"))
    good = pkcs12.serialize_key_and_certificates(b"me", user.key, user.cert, None,
                                                 BestAvailableEncryption(b"pw"))
    p12 = tmp_path / "usercred.p12"
    p12.write_bytes(costly_p12(good, 2_000_000_000))
    globus = tmp_path / ".globus"
    action = commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action

    def no_prompt(_q: str) -> str:
        raise AssertionError("the pass phrase must not be asked for")

    ctx = _ctx(tmp_path, prompt_secret=no_prompt, environ={"MU3E_KEY_PASSPHRASE": "pw"})
    step = repair.build_plan([_failed("CERT-001", action)], ctx)[0]
    assert "the MAC asks for 2,000,000,000 iterations" in step.blocked
    with pytest.raises(repair.RepairError, match="2,000,000,000"):
        repair.apply_pkcs12(action, ctx)
    assert not globus.exists()
    # The same file with an honest count goes through the same check, and opens.
    p12.write_bytes(costly_p12(good, 2048))
    assert repair.build_plan([_failed("CERT-001", action)], ctx)[0].applicable


def test_p12_cost_reads_every_derivation_an_export_asks_for():
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        PrivateFormat,
        pkcs12,
    )

    from mu3e_checks.knowledge import pkcs12_cost

    pki = PKI()
    user = pki.user(pki.ca("P12 Cost CA"))
    costly = PrivateFormat.PKCS12.encryption_builder().kdf_rounds(
        pkcs12_cost.MAX_ITERATIONS + 1).build(b"pw")
    data = pkcs12.serialize_key_and_certificates(b"me", user.key, user.cert, None, costly)
    found = {(w.what, w.iterations) for w in pkcs12_cost.work(data)}
    assert ("the private key", pkcs12_cost.MAX_ITERATIONS + 1) in found
    assert "asks for 2,000,001 iterations" in pkcs12_cost.cost_problem(data)
    plain = pkcs12.serialize_key_and_certificates(b"me", user.key, user.cert, None,
                                                  BestAvailableEncryption(b"pw"))
    assert pkcs12_cost.cost_problem(plain) == ""
    for junk in (b"", b"\x30\x80" * 5000, b"\x30\x84\xff\xff\xff\xff", plain[:-3], b"\x04\x00"):
        assert "cannot be read as a PKCS#12 file" in pkcs12_cost.cost_problem(junk)


# ------------------------------------------------------------------ 8. the rc block

HOSTILE_VALUES = [
    "/opt/ca dir",
    "/x'" + repair.BLOCK_END + "'y",
    "/a\n" + repair.BLOCK_END + "\nexport EVIL=1\n" + repair.BLOCK_BEGIN,
    "/$(touch pwned)`touch pwned2`;'\"\\",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_the_rc_block_holds_any_value_exactly_and_a_second_fix_rewrites_it_exactly(
        tmp_path, value):
    """Issue 20, 8: a value holding the end mark, quotes, newlines or shell syntax: bash reads
    back exactly that value, nothing else runs, and a second run changes nothing."""
    rc = tmp_path / ".bashrc"
    original = "export BEFORE=1\nalias ll='ls -l'\n"
    once = repair.with_block(original, value)
    assert repair.with_block(once, value) == once
    assert repair.with_block(repair.with_block(once, "/other"), value) == once
    rc.write_text(once)
    out = subprocess.run(["bash", "-c", f"source {rc} && printf %s \"$X509_CERT_DIR\" && "
                                        "printf '|%s' \"${EVIL-unset}\""],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == value + "|unset"
    assert not list(tmp_path.glob("pwned*"))
    assert once.replace(once[len(original):], "") == original


def test_the_block_goes_before_debians_interactive_guard_so_bash_c_sees_it(tmp_path):
    skel = Path("/etc/skel/.bashrc")
    debian = skel.read_text() if skel.is_file() else (
        "# ~/.bashrc\n\n# If not running interactively, don't do anything\n"
        "case $- in\n    *i*) ;;\n      *) return;;\nesac\n\nalias ll='ls -l'\n")
    placed = repair.place_block(debian, "/opt/certs")
    assert "before the interactive-only guard (case $- in)" in placed.where
    assert placed.text.index(repair.BLOCK_END) < placed.text.index("case $- in")
    rc = tmp_path / ".bashrc"
    rc.write_text(placed.text)
    out = subprocess.run(["bash", "-c", f"source {rc}; printf %s \"$X509_CERT_DIR\""],
                         capture_output=True, text=True)
    assert out.stdout == "/opt/certs"
    # A block an older version appended after the guard is moved before it.
    old = debian + export_block_of("/opt/certs")
    assert repair.with_block(old, "/opt/certs") == placed.text


def export_block_of(value: str) -> str:
    from mu3e_checks.repair.rcblock import export_block

    return export_block(value)


@pytest.mark.parametrize("line", [
    "source ~/dirac_ui/diracos/diracosrc",
    ". \"$HOME/dirac_ui/diracos/diracosrc\"",
    "[ -f ~/dirac_ui/diracos/diracosrc ] && source ~/dirac_ui/diracos/diracosrc  # DIRAC",
])
def test_the_block_goes_right_after_the_users_diracosrc_line(line):
    text = ("case $- in\n  *i*) ;;\n  *) return;;\nesac\nexport A=1\n" + line
            + "\nalias x=y\n")
    placed = repair.place_block(text, "/c")
    assert "right after your line 6" in placed.where, placed.where
    lines = placed.text.splitlines()
    assert lines[5] == line and lines[6] == repair.BLOCK_BEGIN and lines[9] == "alias x=y"
    assert repair.with_block(placed.text, "/c") == placed.text
