"""Renderers and redaction on a model built in the test, without pytest: the environment table
from typed facts, the identity from the same facts, and the JUnit file rewritten from the final
(redacted) model."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from mu3e_checks import commands
from mu3e_checks.facts import (
    Account,
    Credentials,
    Expected,
    Facts,
    Located,
    Paths,
    Proxy,
    ProxyChain,
    Registry,
    RegistryGroup,
    Software,
    UserCertificate,
    WhoAmI,
)
from mu3e_checks.model import CheckResult, Diagnosis, SkipKind
from mu3e_checks.redact import Identity, Redactor
from mu3e_checks.render import counts_line, junit
from mu3e_checks.render.environment import NOT_CHECKED, rows

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
HOME = Path("/home/o'brien")
DN = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane Physicist"
PROXY_DN = DN + "/CN=1234567890"


def facts() -> Facts:
    chain = ProxyChain(subjects=(PROXY_DN, DN), identity=DN, kind="rfc3820",
                       not_before=T0 - dt.timedelta(hours=1),
                       not_after=T0 + dt.timedelta(hours=11, minutes=30))
    return Facts(
        account=Account(host="pc17.lab.example", host_names=("pc17",),
                        addresses=("192.0.2.17",), user="obrien",
                        user_names=("obrien", "jane"), uid=2001, homes=(str(HOME),)),
        software=Software("Debian 12 (Linux)", "3.11.2", str(HOME / ".local/v/bin/python"),
                          "0.1.0", ("OpenSSL 3.0 (Python ssl)",)),
        paths=Paths(HOME, HOME / ".globus", Located(HOME / "dirac_ui/diracos", "$DIRACOS")),
        expected=Expected(cs_url="dips://cs.example:9135/Configuration/Server",
                          group="mu3e.org_user", vo="mu3e.org", setup="GridPP"),
        options=(("--mu3e-redact", ""), ("--mu3e-passphrase-file", None)),
        credentials=Credentials(Located(HOME / ".globus/usercert.pem", "default"),
                                Located(HOME / ".globus/userkey.pem", "default")),
        user_cert=UserCertificate(DN, "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid,C=CH",
                                  "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA"),
        proxy=Proxy(Located(Path("/tmp/x509up_u2001"), "default", True), chain),
        registry=Registry(nicks=("jphys",), dns=(DN.replace("/", ", ").lstrip(", "),),
                          group=RegistryGroup("mu3e.org_user", 12, "/mu3e.org")),
        whoami=WhoAmI("jphys", "mu3e.org_user", DN + "/Email=jane@lab.example"))


def result(cid: str, outcome: str, message: str = "", **kw) -> CheckResult:
    return CheckResult(id=cid, title=f"title of {cid}", step="certificate",
                       step_title="Install User Certificates", severity="fail", requires=(),
                       outcome=outcome, message=message, **kw)


def test_the_environment_table_is_rendered_from_typed_facts():
    d = Diagnosis((), started=T0, finished=T0, facts=facts())
    table = dict(rows(d))
    assert table["Home"] == str(HOME) and table["User DN (slash form)"] == DN
    assert table["Proxy"] == "/tmp/x509up_u2001 (default)"
    assert table["Proxy summary"] == (f"{PROXY_DN}; rfc3820; valid until 2026-11-26 23:30 UTC "
                                      "(11.5 h left)")
    assert table["DIRAC version"] == table["dirac.cfg"] == NOT_CHECKED
    assert table["CS URL"] == "dips://cs.example:9135/Configuration/Server (expected)"
    assert table["Run options"] == "--mu3e-redact --mu3e-passphrase-file"  # a secret: no value
    assert table["CS Registry nick"].startswith("jphys (") and "CS sees you as" in table
    assert table["CS Registry group"] == "mu3e.org_user: 12 users, VOMSRole /mu3e.org"


def test_the_identity_holds_every_personal_value_the_facts_hold():
    ident = Identity.of(facts())
    assert {"obrien", "jane"} <= ident.users and ident.uid == 2001
    assert {"jphys"} == ident.dirac_users  # the nick, from the Registry and from whoami
    assert "1234567890" in ident.serials and "pc17" in ident.hosts
    red = Redactor(ident)
    table = dict(rows(Diagnosis((), started=T0, finished=T0,
                                facts=facts().map_text(red.text))))
    text = repr(table)
    for secret in ("o'brien", "Jane Physicist", "jphys", "1234567890", "x509up_u2001",
                   "jane@lab.example", "pc17"):
        assert secret not in text, secret
    assert table["User DN (slash form)"] == "[user DN]" and table["Home"] == "[home]"


def test_a_fix_is_redacted_before_it_is_quoted():
    remedy = commands.chmod("600", HOME / ".globus" / "userkey.pem")
    r = result("CERT-003", "failed", message=f"{HOME}/.globus/userkey.pem has mode 644",
               fix=remedy.render(), remedy=remedy)
    assert "'\"'\"'" in r.fix  # the quoted form of o'brien, which no pattern for it matches
    shown = r.map_text(Redactor(Identity(homes={str(HOME)})).text)
    assert shown.fix == "chmod 600 '[home]/.globus/userkey.pem'"
    assert shown.message == "[home]/.globus/userkey.pem has mode 644"


_PYTEST_JUNIT = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite '
    'name="pytest" errors="0" failures="1" skipped="1" tests="3" hostname="pc17.lab.example">'
    '<testcase classname="checks.test_01" name="test_a"><properties><property name="check" '
    'value="CERT-001" /></properties></testcase>'
    '<testcase classname="checks.test_01" name="test_b"><properties><property name="check" '
    'value="CERT-003" /></properties><failure message="old /home/o\'brien">old text'
    '</failure></testcase>'
    '<testcase classname="checks.test_01" name="test_c"><properties><property name="check" '
    'value="CERT-008" /></properties><skipped type="pytest.skip" message="m">/home/o\'brien/'
    '.local/v/lib/mu3e_checks/run.py:216: m</skipped></testcase></testsuite></testsuites>')


def test_junit_is_rendered_from_the_final_model_and_redacted_once():
    remedy = commands.chmod("600", HOME / ".globus" / "userkey.pem")
    d = Diagnosis((result("CERT-001", "passed", notes=(f"your DN is {DN}",)),
                   result("CERT-003", "failed", message=f"{HOME}/.globus/userkey.pem: 644",
                          fix=remedy.render(), remedy=remedy),
                   result("CERT-008", "skipped", message="needs CERT-005: no certificate",
                          skip_kind=SkipKind.PREREQUISITE, skipped_by="CERT-005")),
                  started=T0, facts=facts())
    red = Redactor(Identity.of(d.facts))
    out = junit.rewrite(_PYTEST_JUNIT.encode(), d.map_text(red.text), red.text)
    text = out.decode()
    for secret in ("o'brien", "o&apos;brien", "Jane Physicist", "pc17"):
        assert secret not in text, secret
    root = ET.fromstring(out)
    assert root.find("testsuite").get("hostname") == "[host]"
    cases = {c.find("properties/property").get("value"): c for c in root.iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["CERT-003"].iter("property")}
    assert props == {"check": "CERT-003", "fix": "chmod 600 '[home]/.globus/userkey.pem'"}
    assert cases["CERT-003"].find("failure").text == (
        "CERT-003 title of CERT-003\n  [home]/.globus/userkey.pem: 644\n"
        "  fix: chmod 600 '[home]/.globus/userkey.pem'")
    skipped = cases["CERT-008"].find("skipped")
    assert skipped.get("message") == skipped.text == "needs CERT-005: no certificate"
    assert {p.get("name"): p.get("value") for p in cases["CERT-008"].iter("property")} == {
        "check": "CERT-008", "skip": "prerequisite", "skipped_by": "CERT-005"}
    assert cases["CERT-001"].find("properties/property[@name='note']").get("value") == \
        "your DN is [user DN]"
    assert counts_line(d) == "3 checks: 1 passed, 0 warned, 1 failed, 1 skipped"
