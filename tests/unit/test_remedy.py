"""Fixes as data: quoting, comments and rendering, checked by pasting into a real bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mu3e_checks import commands
from mu3e_checks.remedy import Remedy, Safety, cmd, join, say
from mu3e_checks.shell import quote
from mu3e_checks.text import visible

HOSTILE = [
    "plain", "with space", "semi;colon", "$(touch PWNED)", "`touch PWNED`", "it's", 'dq"uote',
    "new\nline $(touch PWNED)", "esc\x1b]0;title\x07", "nul\x00byte", "bidi\u202eevil",
    "back\\slash", "*glob?", "-dash", "tab\there", "\udcff-undecodable", "ünïcödé", "",
]


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\x00" not in v])
def test_quote_is_one_exact_word_for_bash(value, tmp_path):
    script = f"printf '%s' {quote(value)}"
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True)
    assert out.stdout == value.encode("utf-8", "surrogateescape")
    assert not (tmp_path / "PWNED").exists()
    assert "\n" not in quote(value) and "\x1b" not in quote(value)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_rendered_fix_runs_nothing_from_its_values(value, tmp_path):
    fix = join(cmd("printf '%s\\n' {v}", note="about {v}", v=value), say("advice on {v}", v=value),
               commands.chmod("600", Path(tmp_path) / value.replace("/", "_")))
    text = fix.render()
    assert all(visible(line) == line for line in text.split("\n"))
    assert len(text.split("\n")) == 3
    subprocess.run(["bash", "-n", "-c", text], check=True)
    subprocess.run(["bash", "-c", text], cwd=tmp_path, capture_output=True)
    assert not (tmp_path / "PWNED").exists()


def test_nul_is_shown_escaped_never_raw():
    """No shell word (no argv at all) can hold NUL, so it cannot be pasted; it is shown."""
    assert quote("nul\x00byte") == "$'nul\\x00byte'"


def test_visible_escapes_controls_bidi_and_undecodable_bytes():
    assert visible("a\x1b[2Jb\nc\u202e\udcff") == "a\\x1b[2Jb\\x0ac\\u202e\\xff"
    assert visible(b"\xff\xfe") == "\\xff\\xfe"
    assert visible("ordinary DN /C=UK/O=eScience/CN=Jöe") == "ordinary DN /C=UK/O=eScience/CN=Jöe"


def test_remedies_compose_and_keep_the_least_safe_class():
    both = commands.chmod("600", Path("/k")) + commands.proxy_init("mu3e.org_user")
    assert both.render() == "chmod 600 /k\ndirac-proxy-init -g mu3e.org_user -M -t"
    assert both.safety is Safety.MANUAL
    assert commands.chmod("600", Path("/k")).safety is Safety.SAFE
    assert commands.chmod("600", Path("/k")).action.param("mode") == "600"
    assert join(both, both).render() == both.render()


def test_parsed_registry_template_fills_from_values_and_lists_as_written():
    r = Remedy.parse("chmod 600 {key}\n# renew into {globus}\nfoo {x}   # see {x}")
    assert r.render({"key": "/a b", "globus": "/g\n$(x)", "x": "1"}) == (
        "chmod 600 '/a b'\n# renew into /g\\x0a$(x)\nfoo 1   # see 1")
    assert r.template_text() == "chmod 600 {key}\n# renew into {globus}\nfoo {x}   # see {x}"


def test_a_string_fix_is_refused_it_may_carry_outside_text_into_a_shell_line():
    from mu3e_checks import outcome
    from mu3e_checks.model import Result
    from mu3e_checks.registry import Check

    outcome._set_current(Result(Check("X-001", "t", "certificate", Remedy())))
    try:
        with pytest.raises(TypeError, match="Remedy"):
            outcome.fail("m", fix="rm -rf $(evil)")  # type: ignore[arg-type]
    finally:
        outcome._set_current(None)


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\x00" not in v])
def test_write_lsc_writes_the_dns_exactly_and_runs_nothing(value, tmp_path):
    """NET-015's fix: a server DN (sent by the server, so outside text) becomes an .lsc line."""
    lsc = tmp_path / f"{value.replace('/', '_')}.lsc"
    fix = commands.write_lsc(lsc, value, "/C=UK/CN=CA " + value, note="a note")
    text = fix.render()
    assert len(text.split("\n")) == 1
    subprocess.run(["bash", "-c", text], cwd=tmp_path, capture_output=True, check=True)
    assert not (tmp_path / "PWNED").exists()
    raw = value.encode("utf-8", "surrogateescape")
    assert lsc.read_bytes() == raw + b"\n/C=UK/CN=CA " + raw + b"\n"


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\x00" not in v and v])
def test_crl_updater_fixes_touch_only_the_switch_and_run_nothing_else(value, tmp_path):
    """CRL-005's fixes carry paths from cron files and fetch-crl.conf: the switch's ``touch``
    creates exactly that file, and the advice lines are comments."""
    name = value.replace("/", "_")
    switch = commands.crl_updater(tmp_path / "certs", switch=Path(tmp_path) / name)
    advice = join(commands.crl_updater(tmp_path / value, source=Path("/etc/cron.d") / value),
                  commands.crl_updater(tmp_path / value))
    assert all(line.startswith("#") for line in advice.render().split("\n"))
    for fix in (switch, advice):
        text = fix.render()
        assert all(visible(line) == line for line in text.split("\n"))
        subprocess.run(["bash", "-c", text], cwd=tmp_path, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
