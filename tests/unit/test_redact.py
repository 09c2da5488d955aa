"""Structured redaction and the secret scrub, as plain functions on text."""

from __future__ import annotations

import pytest

from mu3e_checks import redact
from mu3e_checks.redact import Identity, Redactor, dn_spellings, scrub_secrets

DN = "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane O'Physicist/emailAddress=jane@lab.example"


def _redactor(user: str = "jphys") -> Redactor:
    ident = Identity(users={user}, uid=2001, homes={f"/home/{user}"}, hosts={"pc17.lab"},
                     addresses={"192.0.2.17"})
    ident.add_dn(DN)
    ident.add_dn(DN.rsplit("/", 1)[0] + "/CN=123456789")  # the proxy's serial CN
    ident.dirac_users.add("jphysicist")
    return Redactor(ident)


def test_every_kind_of_personal_value_is_replaced_consistently():
    out = _redactor().text(
        f"chmod 600 /home/jphys/.globus/userkey.pem; {DN}; user jphys on PC17.lab "
        "(192.0.2.17); proxy /tmp/x509up_u2001 serial 123456789; DIRAC user jphysicist")
    assert out == ("chmod 600 [home]/.globus/userkey.pem; [user DN]; user [user] on [host] "
                   "([address]); proxy /tmp/x509up_u[uid] serial [proxy serial]; "
                   "DIRAC user [DIRAC user]")


@pytest.mark.parametrize("spelling", [
    "emailAddress=jane@lab.example,CN=Jane O'Physicist,OU=Physics,O=Mu3e Test Grid,C=CH",
    "1.2.840.113549.1.9.1=jane@lab.example,CN=Jane O'Physicist,OU=Physics,O=Mu3e Test Grid,C=CH",
    "E=jane@lab.example, CN=Jane O'Physicist, OU=Physics, O=Mu3e Test Grid, C=CH",
    "/C=CH/O=Mu3e Test Grid/OU=Physics/CN=Jane O'Physicist/Email=jane@lab.example",
])
def test_a_dn_is_found_in_the_spellings_servers_and_tools_use(spelling):
    assert spelling in dn_spellings(DN)
    assert _redactor().text(f"server says {spelling}.") == "server says [user DN]."


@pytest.mark.parametrize("user", ["li", "mu3e", "span", "html"])
def test_user_names_that_are_words_of_ours_leave_ids_vo_and_tool_names_alone(user):
    r = _redactor(user)
    text = ("CERT-001 passed; VO mu3e.org, group mu3e.org_user, tool mu3e-checks, "
            "module mu3e_checks, MU3E_HOME; schema mu3e-checks/report/1")
    assert r.text(text) == text
    assert r.text(f"owned by {user}.") == "owned by [user]."
    assert r.text(f"/tmp/mu3e-checks-{user}/reports") == "/tmp/mu3e-checks-[user]/reports"


def test_root_is_not_personal_and_root_cause_stays():
    assert _redactor("root").text("root cause: UK e-Science Root") == \
        "root cause: UK e-Science Root"


def test_an_empty_identity_changes_nothing():
    r = Redactor(Identity(users={"a"}, homes={"/"}))
    assert not r.active and r.text("/a/b a") == "/a/b a"


def test_key_blocks_and_key_lines_are_scrubbed_but_certificates_and_paths_are_not():
    key = ("a -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkq\n"
           "-----END ENCRYPTED PRIVATE KEY----- b -----BEGIN RSA PRIVATE KEY-----\n"
           "Proc-Type: 4,ENCRYPTED\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMx")
    out = scrub_secrets(key)
    assert "MII" not in out and out.startswith("a [private") and " b [private" in out
    quoted = "bad line 3: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'"
    assert "MIIEvQ" not in scrub_secrets(quoted)
    cert = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----"
    assert scrub_secrets(cert) == cert
    path = "/usr/share/igtf-policy/classic/ca_UKeScienceCA-2B-1.138.tar.gz 5a3f9e0c7b1d2e4f"
    assert scrub_secrets(path) == path
    assert redact.REMOVED_BASE64 in scrub_secrets("x" * 10 + "Ab1" * 20)
