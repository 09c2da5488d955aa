"""``--mu3e-redact`` against what the Configuration Server tells about the user, per selection.

The server knows the user as a DIRAC nick (``jane``) and spells the DN its own way; NET-006
(whoami), NET-009 (the Registry nick) and NET-010 (the group) each learn them, in notes, the
environment table and JUnit properties.  Whichever of them runs, alone or together, the nick,
the DN (every spelling), the proxy's serial and the host's names appear in none of the HTML,
JSON and JUnit files: the identity is built from the run's typed facts before anything is
rendered, and the JUnit is redacted once, at the end, from that final identity.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
from cryptography import x509

from tests.support.dns_responder import DnsResponder
from tests.support.net_world import TEST_HOST
from tests.support.runner import run_checks

#: What the test CS's Registry calls the user (tests/support/net_world.py).
NICK = "jane"


@pytest.fixture(scope="module")
def responder(loopback_only):
    with DnsResponder({TEST_HOST: {"A": ["127.0.0.1"]}}) as r:
        yield r


def _secrets(net_world) -> list[re.Pattern[str]]:
    proxy = x509.load_pem_x509_certificate(net_world.proxy.read_bytes())
    serial = proxy.subject.rfc4514_string().split(",")[0].removeprefix("CN=")
    words = [net_world.user_dn, "CN=Jane Physicist,OU=Physics,O=Mu3e Test Grid,C=CH",
             "Jane Physicist", serial]
    out = [re.compile(re.escape(w)) for w in words]
    out.append(re.compile(rf"(?<![\w.-]){re.escape(NICK)}(?![\w-])"))
    host = socket.gethostname()
    out.append(re.compile(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", re.I))
    return out


@pytest.mark.parametrize("selection", ["NET-009", "NET-010", "NET-006", "NET-009,NET-010",
                                       "NET", "NET,GROUP,PROXY"])
def test_the_dirac_nick_and_the_servers_dn_are_redacted_whichever_checks_ran(
        net_world, responder, tmp_path, selection):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "r.json"
    with net_world.diset() as server:
        cs = f"dips://{TEST_HOST}:{server.port}/Configuration/Server"
        r = run_checks(home, "--mu3e-select", selection, "--mu3e-cs-url", cs,
                       "--mu3e-nameserver", responder.address, "--mu3e-timeout", "2",
                       "--mu3e-trust-dir", str(net_world.trust), "--mu3e-proxy",
                       str(net_world.proxy), "--mu3e-redact", "--mu3e-json", str(out),
                       offline=False)
    ran = {cid for cid in r.cases if r.outcome(cid) in ("passed", "warned")}
    assert ran & {"NET-006", "NET-009", "NET-010"}, (selection, r.stdout[-3000:])
    files = {"html": r.html.read_text(), "json": out.read_text(), "junit": r.junit.read_text()}
    for name, text in files.items():
        for pattern in _secrets(net_world):
            m = pattern.search(text)
            assert m is None, (selection, name, pattern.pattern,
                               text[max(0, m.start() - 150):m.end() + 150])
    # The server did tell the nick: it stands replaced wherever a check reported it.
    assert json.loads(files["json"])["redacted"] is True
    assert "[DIRAC user]" in files["html"] and "[DIRAC user]" in files["junit"]
