"""Option resolution and the registry's pure helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mu3e_checks import registry
from mu3e_checks.settings import (
    DEFAULT_CS_URL,
    DEFAULT_REQUIRED_CAS,
    Settings,
    SettingsError,
    id_matches,
    resolve,
)


def build(cli=None, env=None) -> Settings:
    env = {"HOME": "/home/jane", **(env or {})}
    return Settings.build(resolve(cli or {}, env), env)


def test_defaults_follow_the_guide():
    s = build()
    assert s.home == Path("/home/jane")
    assert s.globus == Path("/home/jane/.globus")
    assert s.diracos == Path("/home/jane/dirac_ui/diracos")
    assert s.cs_url == DEFAULT_CS_URL and s.group == "mu3e.org_user"
    assert s.required_cas == DEFAULT_REQUIRED_CAS
    assert (s.cert_warn_days, s.proxy_warn_hours, s.timeout) == (30, 1.0, 10.0)
    assert s.upload_warn_hours == 24.0 and s.option("mu3e_upload_warn_hours") == 24.0
    assert not s.strict and not s.offline


def test_environment_sets_options_and_command_line_wins():
    env = {"MU3E_GROUP": "other_user", "MU3E_STRICT": "1", "MU3E_TIMEOUT": "3",
           "MU3E_REQUIRED_CA": "/CN=A, with comma;/CN=B", "DIRACOS": "/opt/diracos",
           "MU3E_IGNORE": "NET,CA-002"}
    s = build(env=env)
    assert s.group == "other_user" and s.strict and s.timeout == 3.0
    assert s.required_cas == ("/CN=A, with comma", "/CN=B")
    assert s.diracos == Path("/opt/diracos") and s.diracos_source == "$DIRACOS"
    assert s.ignore == ("NET", "CA-002")
    s = build(cli={"mu3e_group": "cli_group", "mu3e_diracos": "/x"}, env=env)
    assert s.group == "cli_group" and s.diracos == Path("/x")


def test_bad_environment_value_is_a_usage_error():
    with pytest.raises(SettingsError, match="MU3E_TIMEOUT"):
        build(env={"MU3E_TIMEOUT": "soon"})
    with pytest.raises(SettingsError, match="MU3E_UPLOAD_WARN_HOURS"):
        build(env={"MU3E_UPLOAD_WARN_HOURS": "a day"})


def test_upload_warn_hours_from_environment_and_command_line():
    assert build(env={"MU3E_UPLOAD_WARN_HOURS": "48"}).upload_warn_hours == 48.0
    assert build(cli={"mu3e_upload_warn_hours": 2.5},
                 env={"MU3E_UPLOAD_WARN_HOURS": "48"}).upload_warn_hours == 2.5


def test_passphrase_never_prompts(tmp_path):
    assert build().passphrase() is None
    assert build(env={"MU3E_KEY_PASSPHRASE": "pw"}).passphrase() == b"pw"
    f = tmp_path / "pw"
    f.write_text("secret\n")
    assert build(cli={"mu3e_passphrase_file": str(f)}).passphrase() == b"secret"


@pytest.mark.parametrize("pattern,hit", [("CERT-003", True), ("cert-", True), ("CERT", True),
                                         ("CERT-00", False), ("CA", False)])
def test_id_patterns(pattern, hit):
    assert id_matches("CERT-003", [pattern]) is hit


def test_a_fix_line_with_an_unfilled_field_becomes_a_comment_never_a_placeholder():
    text = registry.Remedy.parse("chmod 600 {key} {other}").render({"key": "/k"})
    assert text == "# chmod 600 /k <other>   (fill in other)"
    assert "{" not in text


def test_registry_rejects_bad_declarations():
    with pytest.raises(registry.RegistryError):
        registry.check("bad id", "t", step="certificate")
    with pytest.raises(registry.RegistryError):
        registry.check("ABC-001", "t", step="no-such-step")


def test_registry_is_consistent():
    checks = registry.load_all()
    for c in checks.values():
        assert c.title and c.step in registry.STEP_TITLES
        for req in c.requires:
            assert registry.STEP_ORDER[checks[req].step] <= registry.STEP_ORDER[c.step], (
                f"{c.id} requires {req}, which runs later in the guide")


def test_owners_and_prerequisites_are_validated_at_load_time():
    checks = registry.load_all()
    registry.validate(checks, registry.OWNER_REFS)
    with pytest.raises(registry.RegistryError, match="unknown check NOPE-001"):
        registry.validate(checks, ["NOPE-001"])
    a = registry.Check("A-001", "a", "certificate", registry.Remedy(), requires=("A-002",))
    b = registry.Check("A-002", "b", "certificate", registry.Remedy(), requires=("A-001",))
    with pytest.raises(registry.RegistryError, match="cycle"):
        registry.validate({"A-001": a, "A-002": b})


def test_every_skip_for_names_a_real_check():
    """The prerequisite a check body skips for (``skip_for("CA-004", ...)``) is an existing
    check, and no check module skips any other way (a bare skip could hide a finding)."""
    import re
    from pathlib import Path

    checks = registry.load_all()
    source = "\n".join(p.read_text() for p in
                       (Path(registry.__file__).parent / "checks").glob("*.py"))
    named = set(re.findall(r"skip_for\(\"([A-Z]+-\d{3})\"", source))
    assert named and named <= set(checks), named - set(checks)
    assert not re.search(r"(?<![\w.])skip\(", source)
    assert source.count("pytest.skip(") == 1  # the run fixture, outside a diagnosis only
