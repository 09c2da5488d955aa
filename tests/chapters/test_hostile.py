"""Issue 10's attacks, built independently and run against the real diagnosis.

Each attack is tried as another local account or a careless environment would try it: fixes
that run a command when pasted, private-key lines echoed through misdirected variables, a
report directory full of another user's symlinks, terminal escapes in a DN, FIFOs, devices and
quadratic inputs, user names that look like HTML or our own schema, and a PATH that shadows
system commands.  Every run must end within 60 s and harm nothing.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from mu3e_checks.render.json import SCHEMA_ID
from tests.support.diracos_trees import build_diracos, dirac_cfg_text
from tests.support.hostile import (
    BEGIN_CERT,
    HOSTILE_CN,
    HOSTILE_NAME,
    INJECTIONS,
    RAW_CONTROLS,
    PasteSandbox,
    hostile_subject,
    leaked,
    one_line,
    private_key_fragments,
    proxy_with_cn,
    syntax_error,
    tree_digest,
)
from tests.support.pki_factory import (
    crls_for,
    subject_hash,
    write_credentials,
    write_proxy,
    write_trust_dir,
)
from tests.support.runner import RunResult, parse_junit, run_checks, unprivileged_command
from tests.support.worlds import UKGrid, complete_setup

#: Issue 10: "Every run ends within 60 s."
LIMIT = 60


@pytest.fixture(scope="module")
def uk() -> UKGrid:
    return UKGrid()


def _run(home: Path, *args: str, **kw) -> RunResult:
    try:
        return run_checks(home, *args, timeout=LIMIT, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the diagnosis did not end within {LIMIT} s (args {args})")


def _outputs(r: RunResult, *files: Path) -> dict[str, str]:
    out = {"stdout": r.stdout, "stderr": r.stderr,
           "junit": r.junit.read_text("utf-8", "replace") if r.junit.exists() else "",
           "html": r.html.read_text("utf-8", "replace") if r.html else ""}
    for f in files:
        out[f.name] = f.read_text("utf-8", "replace") if f.is_file() else ""
    return out


def _no_crash(r: RunResult) -> None:
    assert r.returncode in (0, 1), (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    for marker in ("INTERNALERROR", "Traceback", "the check itself broke"):
        assert marker not in r.stdout + r.stderr, (marker, r.stdout[-3000:], r.stderr[-2000:])


# ------------------------------------------------------------------------- fix injection


def _hostile_world(uk: UKGrid, base: Path) -> tuple[Path, dict[str, str]]:
    """Every outside value the offline diagnosis reads carries an attack: the home path, the
    user's DN and its issuer's DN, a CA in the trust dir, the proxy's CN and path, DIRACOS's
    path, X509_CERT_DIR, dirac.cfg's Setup and Servers.  Files are also broken enough (modes,
    a missing CRL, an untrusted issuer) that many checks fail and print fixes with them."""
    pki = uk.pki
    home = base / one_line(HOSTILE_NAME).replace(" ", "\n", 1)
    evil_ca = pki.ca(subject=hostile_subject("Issuer "))
    named_ca = pki.ca(subject=hostile_subject("Trusted "), expired=True)
    user = pki.user(evil_ca, subject=hostile_subject("User "))
    write_credentials(home / ".globus", user, key_mode=0o644, cert_mode=0o666)
    os.chmod(home / ".globus", 0o777)
    prefix = home / ("dirac" + HOSTILE_CN.replace("/", "")) / "diracos"
    tree = build_diracos(home, prefix=prefix, cfg=dirac_cfg_text(
        setup="GridPP" + INJECTIONS["newline"] + INJECTIONS["dollar-paren"],
        servers=("dips://cs.example.org:9135/x" + INJECTIONS["backtick"]
                 + INJECTIONS["semicolon"],)))
    cadir = base / ("certificates" + one_line(HOSTILE_NAME))
    cas = [uk.root, uk.ca, named_ca]
    crls = crls_for(pki, [uk.root, uk.ca])  # named_ca has no CRL: CRL-001 fails naming it
    write_trust_dir(cadir, cas, crls, old_hash=True)
    proxy = write_proxy(base / ("x509up" + HOSTILE_CN) / "proxy",
                        proxy_with_cn(pki, user, HOSTILE_CN), mode=0o644)
    env = tree.env(X509_CERT_DIR=str(cadir), X509_USER_PROXY=str(proxy))
    return home, env


def _empty_hostile_home(base: Path) -> tuple[Path, dict[str, str]]:
    """A first run in a hostile home: only a .p12 export with a hostile name, and DIRACOS,
    X509_CERT_DIR and the proxy pointing at hostile paths that do not exist."""
    home = base / ("first" + one_line(HOSTILE_NAME))
    (home / ".globus").mkdir(parents=True)
    (home / ("grid" + one_line(HOSTILE_NAME) + ".p12")).write_bytes(b"0\x82")
    gone = base / ("gone" + one_line(HOSTILE_NAME))
    return home, {"DIRACOS": str(gone / "diracos"), "X509_CERT_DIR": str(gone / "certs"),
                  "X509_USER_PROXY": str(gone / "proxy")}


def _fixes(r: RunResult) -> dict[str, str]:
    return {cid: c.fix for cid, c in r.cases.items() if c.fix.strip()}


@pytest.mark.parametrize("world", ["broken-hostile-setup", "first-run-in-hostile-home"])
def test_pasting_every_printed_fix_runs_nothing_from_outside(uk, tmp_path, world):
    base = tmp_path / "w"
    home, env = (_hostile_world(uk, base) if world == "broken-hostile-setup"
                 else _empty_hostile_home(base))
    r = _run(home, env=env)
    _no_crash(r)
    fixes = _fixes(r)
    assert len(fixes) >= 4, (sorted(fixes), r.stdout[-3000:])
    problems = []
    for cid, fix in fixes.items():
        if re.search(r"(?<!\$)\{[a-z_]+\}", fix):
            problems.append(f"{cid}: unfilled placeholder in {fix!r}")
        err = syntax_error(fix)
        if err:
            problems.append(f"{cid}: bash -n rejects {fix!r}: {err.strip()}")
    sandbox = PasteSandbox()
    try:
        for cid, fix in fixes.items():
            sandbox.paste(fix)
            ran = sandbox.pwned(base)
            if ran:
                problems.append(f"{cid}: pasting {fix!r} ran {[Path(p).name for p in ran]}")
                for p in ran:
                    os.remove(p)
        # All fixes pasted in one go, as a user copies the list at the end of the run.
        sandbox.paste("\n".join(fixes.values()))
        ran = sandbox.pwned(base, tmp_path)
        if ran:
            problems.append(f"all fixes pasted together ran {[Path(p).name for p in ran]}")
    finally:
        sandbox.cleanup()
    assert problems == [], "\n".join(problems)


def test_a_fix_names_a_hostile_path_as_exactly_one_word(uk, tmp_path):
    """Quoting is exact: bash reads the key's path back byte for byte from the CERT-003 fix."""
    home, env = _hostile_world(uk, tmp_path / "w")
    r = _run(home, "--mu3e-select", "CERT", env=env)
    fix = r["CERT-003"].fix
    assert r.outcome("CERT-003") == "failed" and fix.startswith("chmod 600 "), fix
    sandbox = PasteSandbox()
    try:
        out = sandbox.dir / "argv"
        os.chmod(sandbox.dir, 0o777)
        shim = f"chmod() {{ printf '%s\\0' \"$@\" > {out}; }}\n"
        sandbox.paste(shim + fix)
        words = out.read_bytes().split(b"\0")[:-1]
    finally:
        sandbox.cleanup()
    assert words == [b"600", os.fsencode(home / ".globus" / "userkey.pem")], words


# ------------------------------------------------------------------------- key echo


@pytest.mark.parametrize("variable", ["X509_VOMSES", "DIRACSYSCONFIG", "X509_CERT_DIR"])
def test_misdirected_variables_never_echo_the_private_key(uk, tmp_path, variable):
    home, env = complete_setup(uk, tmp_path)
    globus = home / ".globus"
    key = globus / "userkey.pem"
    env[variable] = str(key if variable == "DIRACSYSCONFIG" else globus)
    out = tmp_path / "report.json"
    r = _run(home, "--mu3e-json", str(out), env=env)
    _no_crash(r)
    fragments = private_key_fragments([uk.user.key])
    assert leaked(key.read_text(), fragments)  # the probe finds the key where it is
    assert len(fragments) > 50
    for where, text in _outputs(r, out).items():
        assert leaked(text, fragments) == [], (variable, where)
    # The misdirection is still a named finding, not silence.
    assert r.failed() or any(c.outcome == "warned" for c in r.cases.values()), r.stdout[-2000:]


# ------------------------------------------------------------------------- report symlink farm

OTHER_UID = 2001


def _victim(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "victim-home"
    home.mkdir()
    bashrc = home / ".bashrc"
    bashrc.write_text("# the victim's shell setup\nexport PATH=$HOME/bin:$PATH\n")
    return bashrc, tree_digest(bashrc)


def test_another_users_report_directory_full_of_links_is_not_followed(grid, tmp_path):
    bashrc, before = _victim(tmp_path)
    home = grid.home(tmp_path / "user", key_mode=0o644)
    cwd = tmp_path / "shared-workdir"
    reports = cwd / "reports"
    reports.mkdir(parents=True)
    now = dt.datetime.now()
    for second in range(-5, 120):
        stamp = (now + dt.timedelta(seconds=second)).strftime("%Y%m%d-%H%M%S")
        link = reports / f"mu3e-diagnosis-{stamp}.html"
        link.symlink_to(bashrc)
        os.lchown(link, OTHER_UID, OTHER_UID)
    os.chown(reports, OTHER_UID, OTHER_UID)
    os.chmod(reports, 0o777)  # another account's, writable by all, not sticky
    json_link = cwd / "out.json"
    json_link.symlink_to(bashrc)
    try:
        r = run_checks(home, "--mu3e-select", "CERT", "--mu3e-json", str(json_link),
                       cwd=cwd, command=unprivileged_command(), timeout=LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not end within {LIMIT} s")
    assert tree_digest(bashrc) == before, bashrc.read_text()[:300]
    assert r.returncode in (0, 1, 4), (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    if r.returncode == 4:
        said = r.stdout + r.stderr
        assert "Traceback" not in said
        assert "out.json" in said or "reports" in said, said[-2000:]
        return
    _no_crash(r)
    m = re.search(r"Report for your support ticket: (.+)", r.stdout)
    assert m, r.stdout[-2000:]
    report = Path(m.group(1).strip())
    assert report.parent != reports and not report.is_symlink() and report.is_file(), report
    assert json_link.is_symlink() is False or os.readlink(json_link) == str(bashrc)


def test_a_dangling_link_at_the_html_path_is_never_followed(grid, tmp_path):
    home = grid.home(tmp_path / "user")
    target = tmp_path / "victim-home" / ".profile"
    target.parent.mkdir()
    link = tmp_path / "cwd" / "report.html"
    link.parent.mkdir()
    link.symlink_to(target)
    try:
        r = run_checks(home, "--mu3e-select", "CERT", f"--html={link}", cwd=link.parent,
                       command=unprivileged_command(), timeout=LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not end within {LIMIT} s")
    assert not os.path.lexists(target), "the report was written through the link"
    assert r.returncode in (0, 1, 4), (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stdout + r.stderr


# ------------------------------------------------------------------------- terminal escapes


def test_escape_sequences_in_a_dn_reach_the_terminal_visible_never_raw(uk, tmp_path):
    pki = uk.pki
    esc_ca = pki.ca(subject=x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Esc Grid"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Evil\x1b]0;PWNED\x07\x1b[2J CA")]))
    user = pki.user(esc_ca, "jane\x1b[2J\x1b]0;all checks passed\x07\u202e")
    home = uk.home(tmp_path, user=user)
    r = _run(home, "--mu3e-select", "CERT,CA", "--mu3e-proxy", str(tmp_path / "none"))
    _no_crash(r)
    junit = r.junit.read_text("utf-8", "replace")
    for raw in RAW_CONTROLS:
        assert raw not in r.stdout, (raw, r.stdout[-2000:])
        assert raw not in junit, raw
    assert "\\x1b" in r.stdout, "the DN with its escapes is shown (visibly) in the terminal"
    assert r.outcome("CA-006") == "failed"


# ------------------------------------------------------------------------- FIFOs, devices, size


def _named(r: RunResult, name: str) -> bool:
    """Some failed or warned check names ``name`` in its message or notes."""
    for c in r.cases.values():
        text = c.message + c.properties.get("warning", "") + c.properties.get("note", "")
        if c.outcome in ("failed", "warned") and name in text:
            return True
    return False


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path, 0o600)
    return path


def _ca_special(uk, tmp_path, suffix: str, kind: str):
    home = uk.home(tmp_path)
    h = subject_hash(uk.ca.cert)
    path = UKGrid.cadir(home) / f"{h}.{suffix}"
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        _fifo(path)
    else:
        path.symlink_to("/dev/zero")
    return home, path.name, ("--mu3e-select", "CA,CRL", "--mu3e-proxy", str(tmp_path / "x"))


def _proxy_fifo(uk, tmp_path):
    home = uk.home(tmp_path)
    proxy = _fifo(tmp_path / "tmp" / f"x509up_u{os.getuid()}")
    return home, proxy.name, ("--mu3e-select", "PROXY", "--mu3e-proxy", str(proxy))


def _passphrase_fifo(uk, tmp_path):
    home = tmp_path / "home"
    write_credentials(home / ".globus", uk.user, passphrase=b"secret")
    fifo = _fifo(tmp_path / "passphrase")
    return home, fifo.name, ("--mu3e-select", "CERT", "--mu3e-passphrase-file", str(fifo))


def _quadratic_proxy(uk, tmp_path):
    home = uk.home(tmp_path)
    proxy = tmp_path / f"x509up_u{os.getuid()}"
    proxy.write_bytes(BEGIN_CERT * ((1 << 20) // len(BEGIN_CERT)))
    os.chmod(proxy, 0o600)
    return home, proxy.name, ("--mu3e-select", "PROXY", "--mu3e-proxy", str(proxy))


SPECIAL_FILES = {
    "fifo-as-proxy": _proxy_fifo,
    "fifo-as-passphrase-file": _passphrase_fifo,
    "fifo-as-hash.info": lambda uk, t: _ca_special(uk, t, "info", "fifo"),
    "fifo-as-hash.1": lambda uk, t: _ca_special(uk, t, "1", "fifo"),
    "fifo-as-hash.r0": lambda uk, t: _ca_special(uk, t, "r0", "fifo"),
    "dev-zero-as-hash.info": lambda uk, t: _ca_special(uk, t, "info", "dev-zero"),
    "1mb-of-begin-lines-as-proxy": _quadratic_proxy,
}


@pytest.mark.parametrize("case", sorted(SPECIAL_FILES))
def test_fifos_devices_and_quadratic_input_end_in_a_named_verdict(uk, tmp_path, case):
    home, name, args = SPECIAL_FILES[case](uk, tmp_path)
    r = _run(home, *args)
    _no_crash(r)
    assert r.returncode == 1, r.stdout[-2000:]
    assert _named(r, name), {c.id: (c.outcome, c.message) for c in r.cases.values()}


# ------------------------------------------------------------------------- redaction


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1


def _tags(page: str) -> Counter[str]:
    p = _Tags()
    p.feed(page)
    p.close()
    return p.tags


@pytest.mark.parametrize("name", ["li", "mu3e", "root", "span", "html"])
def test_redaction_of_a_hostile_user_name_keeps_the_report_intact(grid, tmp_path, name):
    home = tmp_path / "home" / name
    write_credentials(home / ".globus", grid.user, key_mode=0o644)
    grid.trust_dir(home / "dirac_ui/diracos/etc/grid-security/certificates")
    proxy_entity = grid.pki.proxy(grid.user, group="mu3e.org_user")
    proxy = write_proxy(home / f"x509up_u{os.getuid()}", proxy_entity)
    env = {"USER": name, "LOGNAME": name, "X509_USER_PROXY": str(proxy)}
    runs = {}
    for mode in ("plain", "redacted"):
        out = tmp_path / f"{mode}.json"
        args = ["--mu3e-select", "CERT,PROXY,CA", "--mu3e-json", str(out)]
        args += ["--mu3e-redact"] if mode == "redacted" else []
        r = _run(home, *args, env=env, cwd=tmp_path / f"cwd-{mode}")
        _no_crash(r)
        runs[mode] = (r, json.loads(out.read_text()), _outputs(r, out))
    (plain, pdata, _), (red, rdata, routs) = runs["plain"], runs["redacted"]
    # The same markup as without redaction, plus the one paragraph that says it is redacted.
    assert "Redacted (--mu3e-redact)" in routs["html"]
    assert _tags(routs["html"]) == _tags(_outputs(plain)["html"]) + Counter({"p": 1})
    assert rdata["schema"] == pdata["schema"] == SCHEMA_ID
    assert [c["id"] for c in rdata["checks"]] == [c["id"] for c in pdata["checks"]]
    assert set(red.cases) == set(plain.cases)
    pouts = _outputs(plain, tmp_path / "plain.json")
    serial_cn = proxy_entity.cert.subject.rfc4514_string().split(",")[0]  # CN=<serial>
    for where, plain_where in (("html", "html"), ("junit", "junit"),
                               ("redacted.json", "plain.json")):
        text = routs[where]
        assert text.count("mu3e.org") == pouts[plain_where].count("mu3e.org"), where
        assert "Jane Physicist" not in text, where
        assert str(home) not in text, where
        assert serial_cn not in text, (where, serial_cn)
    # Redacted in the value, then quoted: the placeholder is one shell word.
    assert "chmod 600 '[home]/.globus/userkey.pem'" in routs["redacted.json"]


# ------------------------------------------------------------------------- PATH shadowing

SHADOWED = ("uname", "openssl", "id", "hostname", "lsb_release", "whoami", "getent", "ls")


def test_commands_shadowed_on_path_never_run(uk, tmp_path):
    home, env = complete_setup(uk, tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    shadow = tmp_path / "shadow-bin"
    cwd = tmp_path / "cwd"
    for d in (shadow, cwd):
        d.mkdir(exist_ok=True)
        for cmd in SHADOWED:
            script = d / cmd
            script.write_text(f"#!/bin/sh\ntouch {markers}/{cmd}-$$\necho 'x86_64'\n")
            os.chmod(script, 0o755)
    env["PATH"] = f"{shadow}:.:{env['PATH']}"
    r = _run(home, env=env, cwd=cwd)
    _no_crash(r)
    assert sorted(os.listdir(markers)) == [], "the diagnosis ran commands found on PATH"


def test_hostile_values_survive_into_the_report_as_text(uk, tmp_path):
    """Not only the terminal: the JSON keeps the hostile DN as data (visible, not executed)
    and the HTML never holds a raw ESC or bidi override."""
    home, env = _hostile_world(uk, tmp_path / "w")
    out = tmp_path / "r.json"
    r = _run(home, "--mu3e-json", str(out), env=env)
    _no_crash(r)
    outs = _outputs(r, out)
    for where in ("stdout", "junit", "html", "r.json"):
        lines = [ln for ln in outs[where].splitlines() if any(c in ln for c in RAW_CONTROLS)]
        assert lines == [], (where, lines[:5])
    shutil.rmtree(tmp_path / "w", ignore_errors=True)


def test_the_hostile_proxy_world_really_is_hostile(uk, tmp_path):
    """Guard against a vacuous pass: the values the attacks rely on reach the run."""
    home, env = _hostile_world(uk, tmp_path / "w")
    assert "\n" in str(home) and "$(touch" in env["X509_CERT_DIR"]
    proxy = Path(env["X509_USER_PROXY"])
    assert b"BEGIN CERTIFICATE" in proxy.read_bytes()
    r = _run(home, env=env)
    assert parse_junit(r.junit)  # the run produced cases
    assert r.outcome("CERT-003") == "failed" and r.outcome("CERT-002") == "failed"
