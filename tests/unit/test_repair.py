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

from mu3e_checks import commands, repair
from mu3e_checks.model import CheckResult
from mu3e_checks.remedy import ActionKind
from tests.support.pki_factory import PKI


def _ctx(home: Path, **kw) -> repair.Context:
    opts = repair.Options(**{k: kw.pop(k) for k in ("yes", "dry_run", "unencrypted_key")
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
