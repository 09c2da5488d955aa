"""The repairs of ``mu3e-checks fix`` called directly: plans, modes, the rc block, the .p12."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from mu3e_checks import commands, hooks, repair
from mu3e_checks.model import CheckResult
from mu3e_checks.remedy import ActionKind
from mu3e_checks.run import attach_sections
from tests.support.igtf_bundles import igtf_tarball
from tests.support.pki_factory import PKI

# The CRL and bundle tests talk to loopback servers: the module runs in a loopback-only
# network namespace (conftest.py's ``loopback_only``).
pytestmark = pytest.mark.usefixtures("loopback_only")


def _ctx(home: Path, **kw) -> repair.Context:
    opts = repair.Options(**{k: kw.pop(k) for k in ("yes", "dry_run", "unencrypted_key",
                                                     "allow_http", "ca_fingerprints")
                             if k in kw})
    return repair.Context(home=home, environ=kw.pop("environ", {}), options=opts,
                          stamp="20260101-000000", **kw)


def _result(cid: str, remedy, outcome: str = "failed") -> CheckResult:
    return CheckResult(id=cid, title=cid, step="certificate", step_title="", severity="fail",
                       requires=(), outcome=outcome, message="m", fix=remedy.render(),
                       actions=(remedy.action,) if remedy.action else ())


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_chmod_plan_apply_and_second_run_changes_nothing(tmp_path):
    key = tmp_path / "userkey.pem"
    key.write_bytes(b"k")
    key.chmod(0o644)
    steps = repair.build_plan([_result("CERT-003", commands.chmod("600", key))], _ctx(tmp_path))
    assert [s.applicable for s in steps] == [True]
    assert f"chmod {key}: mode 644 -> 600" in steps[0].changes
    log = repair.apply_plan(steps, _ctx(tmp_path))
    assert log == [f"CERT-003: chmod {key}: mode 644 -> 600"]
    assert _mode(key) == 0o600
    again = repair.build_plan([_result("CERT-003", commands.chmod("600", key))], _ctx(tmp_path))
    assert again[0].done and not again[0].applicable


def test_chmod_go_w_keeps_other_bits(tmp_path):
    d = tmp_path / ".globus"
    d.mkdir()
    d.chmod(0o777)
    repair.apply_chmod(commands.chmod("go-w", d).action, _ctx(tmp_path))
    assert _mode(d) == 0o755


def test_chmod_never_follows_a_link(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"x")
    target.chmod(0o644)
    link = tmp_path / "userkey.pem"
    link.symlink_to(target)
    steps = repair.build_plan([_result("CERT-003", commands.chmod("600", link))], _ctx(tmp_path))
    assert "symbolic link" in steps[0].blocked and not steps[0].applicable
    with pytest.raises(repair.RepairError):
        repair.apply_chmod(commands.chmod("600", link).action, _ctx(tmp_path))
    assert _mode(target) == 0o644


def test_result_without_action_is_listed_with_its_fix(tmp_path):
    r = _result("PROXY-001", commands.proxy_init("mu3e.org_user"))
    steps = repair.build_plan([r], _ctx(tmp_path))
    assert steps[0].blocked and "dirac-proxy-init -g mu3e.org_user -M -t" in repair.render_plan(
        steps)


def test_passed_results_are_not_planned(tmp_path):
    key = tmp_path / "k"
    key.write_bytes(b"")
    assert repair.build_plan([_result("CERT-003", commands.chmod("600", key), "passed")],
                             _ctx(tmp_path)) == []


# ------------------------------------------------------------------ rc block

def test_block_appended_once_and_nothing_outside_changes(tmp_path):
    rc = "alias ll='ls -l'\nexport PATH=$PATH:~/bin"  # no final newline
    once = repair.with_block(rc, "/opt/ca dir")
    assert once.startswith(rc + "\n")
    assert "export X509_CERT_DIR='/opt/ca dir'" in once
    assert repair.with_block(once, "/opt/ca dir") == once
    moved = repair.with_block(once + "echo after\n", "/new")
    assert moved.startswith(rc + "\n") and moved.endswith("echo after\n")
    assert moved.count(repair.BLOCK_BEGIN) == 1 and "X509_CERT_DIR=/new" in moved


def test_export_apply_keeps_a_backup_and_is_idempotent(tmp_path):
    bashrc = tmp_path / ".bashrc"
    bashrc.write_text("# mine\n")
    bashrc.chmod(0o640)
    action = commands.export("X509_CERT_DIR", tmp_path / "certs").action
    assert action.kind == ActionKind.EXPORT_CERT_DIR
    ctx = _ctx(tmp_path, yes=True)
    log = repair.apply_export(action, ctx)
    assert (tmp_path / ".bashrc.bak-20260101-000000").read_text() == "# mine\n"
    assert bashrc.read_text().startswith("# mine\n" + repair.BLOCK_BEGIN)
    assert _mode(bashrc) == 0o640
    assert any("kept the old" in ln for ln in log)
    assert "unchanged" in repair.apply_export(action, ctx)[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bashrc",
                                                          ".bashrc.bak-20260101-000000"]


def test_export_needs_its_own_yes(tmp_path):
    r = _result("ENV-001", commands.export("X509_CERT_DIR", tmp_path / "certs"), "warned")
    asked = []
    ctx = _ctx(tmp_path, ask=lambda q: asked.append(q) or False)
    steps = repair.build_plan([r], ctx)
    log = repair.apply_plan(steps, ctx)
    assert asked and "skipped" in log[0]
    assert not (tmp_path / ".bashrc").exists()


# ------------------------------------------------------------------ .p12

@pytest.fixture
def p12_world(tmp_path):
    pki = PKI()
    ca = pki.ca("Repair Test CA")
    user = pki.user(ca)
    data = pkcs12.serialize_key_and_certificates(b"me", user.key, user.cert, None,
                                                 BestAvailableEncryption(b"secret"))
    p12 = tmp_path / "usercred.p12"
    p12.write_bytes(data)
    globus = tmp_path / ".globus"
    return user, p12, globus


def test_p12_extract_writes_encrypted_key_600_and_backs_up(p12_world, tmp_path):
    user, p12, globus = p12_world
    globus.mkdir(mode=0o700)
    old = globus / "usercert.pem"
    old.write_bytes(b"old cert")
    action = commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action
    log = repair.apply_pkcs12(action, _ctx(tmp_path, environ={"MU3E_KEY_PASSPHRASE": "secret"}))
    key_bytes = (globus / "userkey.pem").read_bytes()
    assert b"ENCRYPTED" in key_bytes
    key = load_pem_private_key(key_bytes, b"secret")
    assert key.public_key().public_numbers() == user.cert.public_key().public_numbers()
    assert _mode(globus / "userkey.pem") == 0o600
    assert (globus / "usercert.pem.bak-20260101-000000").read_bytes() == b"old cert"
    assert any("moved the existing" in ln for ln in log)
    assert not any("PRIVATE KEY" in ln for ln in log)


def test_p12_unencrypted_key_on_request(p12_world, tmp_path):
    _user, p12, globus = p12_world
    action = commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action
    repair.apply_pkcs12(action, _ctx(tmp_path, unencrypted_key=True,
                                     environ={"MU3E_KEY_PASSPHRASE": "secret"}))
    assert load_pem_private_key((globus / "userkey.pem").read_bytes(), None)


def test_p12_wrong_pass_phrase_writes_nothing(p12_world, tmp_path):
    _user, p12, globus = p12_world
    action = commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action
    with pytest.raises(repair.RepairError, match="wrong pass phrase"):
        repair.apply_pkcs12(action, _ctx(tmp_path, environ={"MU3E_KEY_PASSPHRASE": "nope"}))
    assert not globus.exists()


def test_p12_pass_phrase_prompt_is_used_without_echo(p12_world, tmp_path, monkeypatch):
    # No terminal exists in a test run; the prompt function stands in for getpass.
    _user, p12, globus = p12_world
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    action = commands.pkcs12_extract(p12, globus / "usercert.pem", globus / "userkey.pem").action
    repair.apply_pkcs12(action, _ctx(tmp_path, prompt_secret=lambda q: "secret"))
    assert (globus / "userkey.pem").exists()


# ------------------------------------------------------------------ CRL refresh (loopback)

def _crl_dir(tmp_path, pki, cas, old_crls):
    from tests.support.pki_factory import write_trust_dir

    return write_trust_dir(tmp_path / "certificates", cas, old_crls)


def _pem_crl(crl) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return crl.public_bytes(Encoding.PEM)


def _next_update(path: Path):
    from cryptography import x509

    return x509.load_pem_x509_crl(path.read_bytes()).next_update_utc


def test_crl_refresh_good_404_stall_wrong_key_expired(tmp_path):
    import datetime as dt

    from tests.support.crl_server import STALL, serve
    from tests.support.pki_factory import DAY, NOW, subject_hash

    pki = PKI()
    good, missing, stall, forged, expired = (pki.ca(f"CRL Test CA {n}") for n in range(5))
    cas = [good, missing, stall, forged, expired]
    stale = {id(ca): pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
             for ca in cas}
    ca_dir = _crl_dir(tmp_path, pki, cas, stale)
    fresh = pki.crl(good)
    content = {
        f"/{subject_hash(good.cert)}.crl": _pem_crl(fresh),
        f"/{subject_hash(stall.cert)}.crl": STALL,
        f"/{subject_hash(forged.cert)}.crl": _pem_crl(pki.crl(forged, signer=good)),
        f"/{subject_hash(expired.cert)}.crl": _pem_crl(pki.crl(
            expired, last_update=NOW - 3 * DAY, next_update=NOW - 2 * DAY)),
    }
    with serve(content, stall_seconds=3) as server:
        for ca in cas:  # <hash>.crl_url; IGTF <name>.crl_url beside <name>.pem for one
            h = subject_hash(ca.cert)
            url = f"{server.base}/{h}.crl\n"
            if ca is good:
                (ca_dir / "GoodCA.pem").write_bytes(ca.cert_pem())
                (ca_dir / f"{h}.0").unlink()
                (ca_dir / f"{h}.0").symlink_to("GoodCA.pem")
                (ca_dir / "GoodCA.crl_url").write_text(url)
            else:
                (ca_dir / f"{h}.crl_url").write_text(url)
        before = {id(ca): (ca_dir / f"{subject_hash(ca.cert)}.r0").read_bytes() for ca in cas}
        log = repair.refresh_crls(ca_dir, seconds=1.0, stamp="s1")
    text = "\n".join(log)
    h = {id(ca): subject_hash(ca.cert) for ca in cas}
    assert _next_update(ca_dir / f"{h[id(good)]}.r0") == fresh.next_update_utc
    kept = ca_dir / repair.REPLACED_DIR / f"{h[id(good)]}.r0.bak-s1"
    assert kept.read_bytes() == before[id(good)]
    assert f"{h[id(missing)]}.r0 NOT repaired" in text and "HTTP 404" in text
    assert f"{h[id(stall)]}.r0 NOT repaired" in text and "timed out" in text
    assert f"{h[id(forged)]}.r0 NOT repaired" in text and "signature is not the CA's" in text
    assert f"{h[id(expired)]}.r0 NOT repaired" in text and "expired on" in text
    for ca in (missing, stall, forged, expired):
        assert (ca_dir / f"{h[id(ca)]}.r0").read_bytes() == before[id(ca)]
    assert dt.datetime.now(dt.timezone.utc) < _next_update(ca_dir / f"{h[id(good)]}.r0")


def test_crl_dir_not_writable_is_a_finding(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes any directory; tests/chapters run this without root's access")
    d = tmp_path / "certs"
    d.mkdir()
    d.chmod(0o555)
    try:
        step = repair.build_plan([_result("CRL-001", commands.fetch_crl(d))], _ctx(tmp_path))[0]
        assert "not writable by you" in step.blocked
    finally:
        d.chmod(0o755)


def test_crl_offline_is_skipped_and_said(tmp_path):
    step = repair.build_plan([_result("CRL-001", commands.fetch_crl(tmp_path))],
                             _ctx(tmp_path, offline=True))[0]
    assert "--mu3e-offline" in step.blocked


# ------------------------------------------------------------------ CA bundles

def _uk_keys(uk) -> repair.KnownKeys:
    """The known keys of the UK test doubles (a test points fix at these, as a mirror would)."""
    from mu3e_checks.repair.bundles import key_digest

    return repair.KnownKeys("test keys", {"UKeScienceCA-2B": frozenset({key_digest(uk.ca.cert)}),
                                          "UKeScienceRoot-2007": frozenset(
                                              {key_digest(uk.root.cert)})})


def test_bundle_content_checks():
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    keys = _uk_keys(uk)
    good = igtf_tarball(uk.ca, "UKeScienceCA-2B")
    bundle = repair.check_bundle(good, "UKeScienceCA-2B", keys)
    assert "UKeScienceCA-2B.pem" in bundle.files and any(
        t == "UKeScienceCA-2B.pem" for t in bundle.links.values())
    with pytest.raises(repair.RepairError, match="truncated"):
        repair.check_bundle(good[: len(good) // 2], "UKeScienceCA-2B", keys)
    with pytest.raises(repair.RepairError, match="holds another CA"):
        repair.check_bundle(igtf_tarball(uk.other, "UKeScienceCA-2B"), "UKeScienceCA-2B", keys)
    with pytest.raises(repair.RepairError, match="links outside"):
        repair.check_bundle(igtf_tarball(uk.ca, "UKeScienceCA-2B", extra=[
            ("evil.0", None, "../../../etc/passwd")]), "UKeScienceCA-2B", keys)
    with pytest.raises(repair.RepairError, match="no UKeScienceRoot-2007.pem"):
        repair.check_bundle(good, "UKeScienceRoot-2007", keys)


def test_bundle_install_strips_the_top_dir_and_keeps_what_it_replaces(tmp_path):
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    ca_dir = tmp_path / "certificates"
    ca_dir.mkdir()
    (ca_dir / "UKeScienceCA-2B.info").write_text("old\n")
    bundle = repair.check_bundle(igtf_tarball(uk.ca, "UKeScienceCA-2B"), "UKeScienceCA-2B",
                                 _uk_keys(uk))
    log = repair.install_bundle(bundle, ca_dir, "s")
    assert (ca_dir / "UKeScienceCA-2B.pem").read_bytes() == uk.ca.cert_pem()
    assert (ca_dir / repair.REPLACED_DIR / "UKeScienceCA-2B.info.bak-s").read_text() == "old\n"
    assert any(ln.startswith("linked ") for ln in log)
    assert repair.install_bundle(bundle, ca_dir, "t") == []  # the second time: nothing


def test_bundle_404_or_stall_installs_nothing(tmp_path):
    from tests.support.crl_server import STALL, serve
    from tests.support.worlds import UKGrid

    uk = UKGrid()
    ca_dir = tmp_path / "certificates"
    action = commands.install_ca_bundles(ca_dir, ["UKeScienceCA-2B", "UKeScienceRoot-2007"]
                                         ).action
    good = igtf_tarball(uk.ca, "UKeScienceCA-2B")
    keys = tmp_path / "keys.json"
    keys.write_text('{"spki_sha256": {}}')
    for second in (None, STALL):
        content = {"/ca_UKeScienceCA-2B-1.138.tar.gz": good}
        if second is not None:
            content["/ca_UKeScienceRoot-2007-1.138.tar.gz"] = second
        with serve(content, stall_seconds=3) as server:
            ctx = _ctx(tmp_path, ca_repository=server.base, allow_http=True, timeout=1.0,
                       ca_fingerprints=keys)
            with pytest.raises(repair.RepairError, match="nothing installed") as err:
                repair.apply_bundles(action, ctx)
        assert ("HTTP 404" if second is None else "timed out") in str(err.value)
        assert not ca_dir.exists()


def test_repairs_reach_every_report_redacted_and_visible():
    """The repair log is part of the final diagnosis: terminal, JSON (optional ``repairs``)
    and HTML show it; redaction and the key scrub reach it like every other text."""
    import json

    from mu3e_checks.redact import scrub_secrets
    from mu3e_checks.render import html
    from mu3e_checks.render import json as render_json
    from mu3e_checks.render.terminal import MARKS_ASCII, summary_lines

    log = ["CERT-003: chmod /home/jane/.globus/userkey.pem: mode 644 -> 600",
           "CERT-001: moved the existing /home/jane/.globus/usercert.pem aside to "
           "/home/jane/.globus/usercert.pem.bak-20260101-000000",
           "CA-004: linked evil\x1b[2J<script> -> x.pem"]
    catch = repair._Catch(repair.repair_lines(log, _diagnosis()))

    d = _diagnosis()
    assert attach_sections(hooks.relay(), d) is d  # an ordinary run: no section, no JSON key
    plain = json.loads(render_json.dumps(d))
    assert "repairs" not in plain and render_json.shape_errors(render_json.SHAPE, plain) == []
    got = attach_sections(hooks.relay(object(), catch), d).map_text(scrub_secrets)
    assert got.repairs[0] == "before the repairs: NOT READY: 1 check(s) failed; start with " \
                             "CERT-003 (CERT-003)."
    assert "\x1b" not in "".join(got.repairs) and "evil\\x1b[2J<script>" in got.repairs[3]
    data = json.loads(render_json.dumps(got))
    assert render_json.shape_errors(render_json.SHAPE, data) == []
    assert data["repairs"] == list(got.repairs)
    page = "".join(html.html_summary(got))
    assert page.index('id="mu3e-repairs"') < page.index("Guide chapters")
    assert "Repairs applied" in page and "mode 644 -&gt; 600" in page
    assert "<script>" not in page.split('id="mu3e-repairs"')[1].split("</pre>")[0]
    lines = [t for t, _ in summary_lines(got, MARKS_ASCII)]
    assert lines[0].startswith("Repairs applied")
    assert f"  {log[0]}" in lines
    redacted = got.map_text(lambda t: t.replace("/home/jane", "[home]"))
    assert all("jane" not in line for line in redacted.repairs)
    assert render_json.shape_errors(render_json.SHAPE, {**data, "repairs": "x"}) != []


def _diagnosis():
    import datetime as dt

    from mu3e_checks.model import Diagnosis

    return Diagnosis((_result("CERT-003", commands.chmod("600", "/k")),),
                     started=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))


def test_affected_follows_the_requires_graph_and_the_fact_owners():
    from mu3e_checks import registry
    from mu3e_checks.remedy import Action

    checks = registry.load_all()
    ran = [c.id for c in registry.ordered(checks.values())]
    mode = commands.chmod("600", "/k").action
    assert repair.affected([("CERT-003", mode)], checks, ran) == ["CERT-001", "CERT-003"]
    bundles = Action(ActionKind.INSTALL_CA_BUNDLES, (("ca_dir", "/c"), ("aliases", ("A",))))
    got = repair.affected([("CA-004", bundles)], checks, ran)
    # the trust store's owner and all that read it: the CRLs of the new CAs are checked again
    assert {"CA-001", "CA-004", "CA-006", "CRL-003", "CRL-004", "PROXY-006"} <= set(got)
    assert {"CERT-005", "CERT-008"} <= set(got)  # prerequisites of CA-006: gated as usual
    assert "CERT-003" not in got and "CFG-001" not in got and got == [c for c in ran if c in got]
    # the user's own selection holds: a check the first run did not run is not run now
    assert repair.affected([("CA-004", bundles)], checks, ["CA-001", "CA-004"]) == \
        ["CA-001", "CA-004"]


def test_the_registry_walks_its_requires_graph_both_ways():
    from mu3e_checks import registry

    checks = registry.load_all()
    assert {"CA-001", "CERT-005", "CRL-001"} <= set(registry.prerequisites(["CRL-004"], checks))
    assert "CRL-004" in registry.dependants(["CA-001"], checks)
    assert "CERT-003" not in registry.dependants(["CA-001"], checks)
    assert registry.prerequisites(["NOPE-001"], checks) == []
    assert registry.with_prerequisites(["CRL-004"], checks) == sorted(
        registry.prerequisites(["CRL-004"], checks))


def test_rerun_args_replace_the_selection_and_keep_partial_reports_private(tmp_path):
    extra = ["-v", "--mu3e-select", "CERT", "--html=r.html", "--mu3e-json", "r.json",
             "--mu3e-offline", "--junitxml", "j.xml"]
    got = repair.rerun_args(extra, ["CERT-001", "CERT-003"], tmp_path, 0)
    assert got == ["-v", "--mu3e-offline", "--mu3e-select", "CERT-001,CERT-003",
                   "--html", str(tmp_path / "affected-0.html"),
                   "--mu3e-json", str(tmp_path / "affected-0.json"),
                   "--junitxml", str(tmp_path / "affected-0.xml")]


def test_ca_repository_is_an_option_of_the_table_not_parsed_by_fix():
    from mu3e_checks.settings import OPTIONS, Settings, resolve

    opt = next(o for o in OPTIONS if o.flag == "--mu3e-ca-repository")
    assert opt.default == commands.IGTF_TGZ_URL and opt.env == "MU3E_CA_REPOSITORY"
    opts, rest = repair.parse(["--yes", "--mu3e-ca-repository", "http://m/", "--unencrypted-key",
                               "--mu3e-passphrase-file=p", "-v"])
    assert opts == repair.Options(yes=True, unencrypted_key=True)
    assert rest == ["--mu3e-ca-repository", "http://m/", "--mu3e-passphrase-file=p", "-v"]
    for argv in (["--ca-fingerprints", "k.json", "--allow-http-repository", "-v"],
                 ["--ca-fingerprints=k.json", "-v", "--allow-http-repository"]):
        opts, rest = repair.parse(argv)
        assert opts == repair.Options(allow_http=True, ca_fingerprints=Path("k.json"))
        assert rest == ["-v"]
    with pytest.raises(ValueError, match="needs a value"):
        repair.parse(["--ca-fingerprints"])
    env = {"HOME": "/h", "MU3E_CA_REPOSITORY": "http://mirror/tgz"}
    assert Settings.build(resolve({}, env), env).ca_repository == "http://mirror/tgz"
    cli = {"mu3e_ca_repository": "http://cli/"}
    assert Settings.build(resolve(cli, env), env).ca_repository == "http://cli/"
    assert Settings.build(resolve({}, {}), {"HOME": "/h"}).ca_repository == commands.IGTF_TGZ_URL
    assert repair.repository(_ctx(Path("/h"), ca_repository="http://m")) == "http://m/"


def test_a_damaged_crl_is_never_installed(grid):
    """A CRL from the CA's URL that the diagnosis would refuse (a duplicate or undecodable
    extension, a version 5, a date that cannot be read, an entry OpenSSL refuses) is a named
    "not repaired", never a file put in the trust dir; a sound one passes."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.trust.crl_urls import CrlSource
    from mu3e_checks.repair.base import RepairError
    from mu3e_checks.repair.crls import verify_crl
    from tests.support.malformed import crl_mutations

    ca = grid.ca
    source = CrlSource("h", ca.cert.subject.rfc4514_string(), ca.cert, ("http://x/",), ())
    good = grid.pki.crl(ca)
    assert verify_crl(good.public_bytes(Encoding.DER), source) is not None
    refused = {}
    for name, der in crl_mutations(good, ca.key).items():
        try:
            verify_crl(der, source)
        except RepairError as exc:
            refused[name] = str(exc)
    # what the scan calls damaged (crl_damage) is never installed, each with its reason
    assert "twice" in refused["crl-duplicate-number"]
    assert "cannot be decoded" in refused["crl-number-garbage"]
    assert "impossible version" in refused["crl-version-5"]
    assert "not valid text" in refused["crl-issuer-not-text"]
    assert "nextUpdate date that cannot be read" in refused["crl-next-update-year-0"]
    assert "cannot be loaded by OpenSSL" in refused["crl-entry-invalidity-date-garbage"]
