"""The network knowledge, unit by unit, against real loopback servers and a loopback DNS."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from mu3e_checks.advice.net import diset as diset_advice
from mu3e_checks.advice.net import dns as dns_advice
from mu3e_checks.advice.net import tcp as tcp_advice
from mu3e_checks.advice.net import tls as tls_advice
from mu3e_checks.knowledge.net import Deadline, UrlError, diset, dns, parse_service_url, tcp, tls
from mu3e_checks.knowledge.net.dencode import DecodeError, decode, encode
from tests.support.diset_server import (
    BlackholePort,
    DisetServer,
    GarbageServer,
    StallServer,
    closed_port,
)
from tests.support.dns_responder import DnsResponder
from tests.support.net_world import GROUP, TEST_HOST

# Servers and diagnosis runs live in a loopback-only namespace (tests/netns.py).
pytestmark = pytest.mark.usefixtures("loopback_only")


# ----------------------------------------------------------------------------- DEncode


def test_proposal_encodes_exactly_as_dirac_does():
    # The bytes DIRAC 8.0.74's client sends for a ping (dirac-v8-facts.md).
    expected = (b"ds2:OKb1s5:Valuells20:Configuration/Servers6:GridPPs7:unknownels3:RPCs4:ping"
                b"es0:s6:8.0.74ee")
    ping = diset.proposal("Configuration/Server", "ping", setup="GridPP", vo=diset.NO_VO)
    assert encode(ping) == expected
    assert diset.frame(ping).startswith(
        str(len(expected)).encode() + b":ds2:OK")


def test_dencode_round_trip_of_every_type():
    value = {"i": -3, "big": 2**70, "f": 1.5, "t": True, "n": None, "s": "häh",
             "l": [1, (2, "x")], "when": dt.datetime(2025, 1, 2, 3, 4, 5, 6),
             "day": dt.date(2024, 2, 29)}
    assert decode(encode(value)) == value


def test_dencode_reads_dirac_forms():
    assert decode(b"za" + b"ti2025ei11ei25ei18ei38ei0ei123en" + b"e") == \
        dt.datetime(2025, 11, 25, 18, 38, 0, 123)
    assert decode(b"f2e+20e") == 2e20
    assert decode(b"I12345678901234567890e") == 12345678901234567890
    assert decode(b'{"OK": true}') == {"OK": True}  # DIRAC's decoder falls back to JSON


@pytest.mark.parametrize("garbage", [b"l" * 5000, b"s999999:abc", b"x", b"i12", b"d", b"b7",
                                     b"s3:abcEXTRA", b"zaze", b"dli1eei2ee", b"\xff\x00",
                                     b"f1_0e", b"f 1e", b"f0x1p3e", b"1" * 5000])
def test_dencode_garbage_is_a_decode_error(garbage):
    with pytest.raises(DecodeError):
        decode(garbage)


@pytest.mark.parametrize("wire", [b"finfe", b"f-infe", b"fnane", b"fInfinitye", b"f1e+400e",
                                  encode({"secondsLeft": float("inf")}),
                                  encode([float("nan")]), b"[1e999]", b'{"a": NaN}',
                                  b"[-Infinity]"])
def test_a_number_that_is_not_finite_is_named(wire):
    # float() takes all of these; a check that does arithmetic with them breaks.
    with pytest.raises(DecodeError, match="not finite"):
        decode(wire)


def test_dencode_reads_every_finite_float_repr_writes():
    for value in (0.0, -0.0, 1.5, 1e-05, 2e20, 1.7976931348623157e308, 5e-324, -3.25):
        assert decode(encode(value)) == value


# ----------------------------------------------------------------------------- URLs


def test_service_url_parsing():
    u = parse_service_url("dips://diracweb.grid.hep.ph.ic.ac.uk:9135/Configuration/Server")
    assert (u.host, u.port, u.service) == ("diracweb.grid.hep.ph.ic.ac.uk", 9135,
                                          "Configuration/Server")
    assert parse_service_url("dips://h/Configuration/Server").port == 9135
    assert parse_service_url("dips://[::1]:1234/Configuration/Server").host == "::1"
    for bad in ("https://h:9135/Configuration/Server", "dips://:9135/Configuration/Server",
                "dips://h:99999/Configuration/Server", "dips://h:9135/Server", ""):
        with pytest.raises(UrlError):
            parse_service_url(bad)


def test_nameserver_parsing():
    assert dns.parse_nameserver("127.0.0.1:5353") == dns.Nameserver("127.0.0.1", 5353)
    assert dns.parse_nameserver("127.0.0.1") == dns.Nameserver("127.0.0.1", 53)
    assert dns.parse_nameserver("[::1]:53") == dns.Nameserver("::1", 53)
    assert dns.parse_nameserver("::1") == dns.Nameserver("::1", 53)
    for bad in ("dns.example.org", "127.0.0.1:x", "1.2.3.4:0"):
        with pytest.raises(UrlError):
            dns.parse_nameserver(bad)


# ----------------------------------------------------------------------------- DNS


@pytest.fixture(scope="module")
def responder(loopback_only):
    records = {TEST_HOST: {"A": ["127.0.0.1"], "AAAA": ["::1"]},
               "v4only.mu3e.test": {"A": ["127.0.0.2"]},
               "norecords.mu3e.test": {}}
    with DnsResponder(records, stall=["stall.mu3e.test"],
                      servfail=["broken.mu3e.test"], refused=["private.mu3e.test"]) as r:
        yield r


def _ns(responder) -> dns.Nameserver:
    return dns.parse_nameserver(responder.address)


def test_resolve_gives_a_and_aaaa(responder, tmp_path):
    r = dns.resolve(TEST_HOST, timeout=2, nameserver=_ns(responder),
                    hosts_path=tmp_path / "none")
    assert (r.problem, r.source, r.ipv4, r.ipv6) == (None, "dns", ("127.0.0.1",), ("::1",))
    assert r.addresses == ("127.0.0.1", "::1")
    assert "--mu3e-nameserver" in r.resolver


@pytest.mark.parametrize("name, problem, words", [
    ("nowhere.mu3e.test", "nxdomain", "NXDOMAIN"),
    ("norecords.mu3e.test", "empty", "no A or AAAA record"),
    ("stall.mu3e.test", "timeout", "no answer within 1 s"),
    ("broken.mu3e.test", "servfail", "answered SERVFAIL"),
    ("private.mu3e.test", "refused", "answered REFUSED"),
])
def test_resolve_names_each_failure(responder, tmp_path, name, problem, words):
    r = dns.resolve(name, timeout=1, nameserver=_ns(responder), hosts_path=tmp_path / "none")
    assert r.problem == problem, r
    assert words in r.detail and r.addresses == ()


def test_unreachable_nameserver_is_no_answer(loopback_only, tmp_path):
    # In the loopback-only namespace there is no route to 192.0.2.53 (TEST-NET-1): the query
    # cannot even be sent.  Before, that read "the nameserver answered with an error".
    if not loopback_only:
        pytest.skip("needs the loopback-only namespace: outside it this would send a packet")
    r = dns.resolve(TEST_HOST, timeout=1, nameserver=dns.Nameserver("192.0.2.53", 53),
                    hosts_path=tmp_path / "none")
    assert r.problem == "unreachable" and "could not be sent" in r.detail, r
    message, _ = dns_advice.explain(r, _TARGET, _advice(tmp_path))
    assert message.startswith("no DNS server could be reached") and "answered" not in message


@pytest.mark.parametrize("problem, words", [
    ("timeout", "no DNS server answered in time"),
    ("unreachable", "no DNS server could be reached"),
    ("servfail", "the DNS server failed to resolve the name (SERVFAIL)"),
    ("refused", "the DNS server refused to answer (REFUSED)"),
    ("error", "the DNS server answered with an error"),
])
def test_dns_explanations_say_whether_a_server_answered(problem, words, tmp_path):
    r = dns.Resolution("cs.mu3e.test", "dns", "nameserver 127.0.0.1:53",
                       problem=dns.DnsProblem(problem), detail="why")
    message, _ = dns_advice.explain(r, _TARGET, _advice(tmp_path))
    assert message.startswith(words), message
    if problem in ("timeout", "unreachable"):
        assert "the DNS server" not in message and "error" not in message  # no answer came


def test_dead_nameserver_is_a_timeout(tmp_path):
    r = dns.resolve(TEST_HOST, timeout=1,
                    nameserver=dns.Nameserver("127.0.0.1", closed_port()),
                    hosts_path=tmp_path / "none")
    assert r.problem == "timeout"


def test_hosts_file_answers_first_and_dns_is_not_asked(responder, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# comment\n127.0.0.9  CS.Mu3e.Test  alias # trailing\n::2 cs.mu3e.test\n"
                     "garbage line\n")
    before = list(responder.queries)
    r = dns.resolve(TEST_HOST, timeout=2, nameserver=_ns(responder), hosts_path=hosts)
    assert (r.source, r.ipv4, r.ipv6, r.resolver) == ("hosts", ("127.0.0.9",), ("::2",),
                                                       str(hosts))
    assert responder.queries == before
    assert dns.hosts_lookup("alias", hosts) == ["127.0.0.9"]
    assert dns.hosts_lookup("cs", hosts) == []
    assert dns.hosts_lookup("x", tmp_path / "missing") == []


def test_ip_literal_needs_no_lookup(tmp_path):
    r = dns.resolve("::1", timeout=1, hosts_path=tmp_path / "none",
                    resolv_conf=tmp_path / "none")
    assert (r.source, r.ipv6) == ("literal", ("::1",))


def test_system_mode_without_nameservers_says_so(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# no nameserver lines\n")
    r = dns.resolve(TEST_HOST, timeout=1, hosts_path=tmp_path / "none", resolv_conf=conf)
    assert r.problem == "no-resolver"


# ----------------------------------------------------------------------------- TCP


def test_tcp_open_refused_and_timeout():
    with StallServer() as open_server, BlackholePort() as hole:
        attempts = tcp.probe(["127.0.0.1"], open_server.port, 1)
        assert [a.outcome for a in attempts] == ["open"]
        assert tcp.connect_once("127.0.0.1", closed_port(), 1).outcome == "refused"
        assert tcp.connect_once("127.0.0.1", hole.port, 0.5).outcome == "timeout"


def test_tcp_judge():
    ok4 = tcp.TcpAttempt("127.0.0.1", 1, "open", "connected", 0)
    bad6 = tcp.TcpAttempt("::1", 1, "refused", "connection refused", 0)
    late = tcp.TcpAttempt("127.0.0.1", 1, "timeout", "no answer", 1)
    j = tcp.judge([ok4, bad6])
    assert j.ok and j.ipv6_broken and j.open_address == "127.0.0.1"
    assert tcp.judge([bad6]).problem == "refused"
    assert tcp.judge([late]).problem == "timeout"
    assert tcp.judge([late, bad6]).problem == "mixed"
    assert not tcp.judge([ok4]).ipv6_broken


# ----------------------------------------------------------------------------- TLS


def test_proxy_credential(net_world, tmp_path):
    good = tls.proxy_credential(net_world.proxy)
    assert good.usable and good.group == GROUP and good.identity == net_world.user_dn
    old = net_world.grid.pki.proxy(net_world.grid.user, expired=True)
    expired = net_world.write_proxy("old.pem", old)
    assert "expired" in tls.proxy_credential(expired).reason
    longterm = tls.proxy_credential(net_world.write_cert_only("long.pem"))
    assert not longterm.usable and "never send a long-term key" in longterm.reason
    assert not tls.proxy_credential(tmp_path / "missing").usable
    assert not tls.proxy_credential(None).usable


def _session(net_world, server, host="localhost", proxy=None):
    cred = tls.proxy_credential(proxy or net_world.proxy)
    return tls.open_session("127.0.0.1", server.port, host, net_world.trust, cred, Deadline(2))


def test_tls_verifies_server_and_presents_proxy(net_world):
    with net_world.diset(net_world.localhost) as server:
        s = _session(net_world, server)
        try:
            assert s.server.subject.endswith("/CN=localhost")
            assert s.server.issuer.endswith("/CN=Mu3e Test Host CA")
            assert s.client_cert_sent and s.version.startswith("TLS")
            ch = diset.Channel(s.sock, Deadline(2))
            assert diset.propose(ch, "Configuration/Server", "whoami", setup="GridPP",
                                 vo=diset.NO_VO) is None
            who = diset.whoami_info(diset.finish_call(ch, []))
        finally:
            s.sock.close()
    assert who.dn == net_world.user_dn and who.group == GROUP and who.is_proxy


@pytest.mark.parametrize("which, host, kind", [("rogue", "localhost", "unknown-ca"),
                                               ("expired", "localhost", "expired"),
                                               ("localhost", "cs.mu3e.test",
                                                "hostname-mismatch")])
def test_tls_failures_are_named(net_world, which, host, kind):
    with DisetServer(getattr(net_world, which), net_world.client_cas) as server:
        with pytest.raises(tls.TlsFailure) as info:
            _session(net_world, server, host)
    assert info.value.kind == kind
    assert info.value.server is not None  # fetched again without verification, to explain


def test_tls_against_stall_and_garbage(net_world):
    with StallServer() as stall, GarbageServer() as garbage:
        with pytest.raises(tls.TlsFailure) as info:
            _session(net_world, stall)
        assert info.value.kind == "timeout"
        with pytest.raises(tls.TlsFailure) as info:
            _session(net_world, garbage)
        assert info.value.kind == "not-tls"


def test_tls13_rejection_shows_on_first_read(net_world):
    # The server trusts only a CA that did not issue our proxy: TLS 1.3 completes the client's
    # handshake and reports the rejection as an alert on the first read.
    with DisetServer(net_world.localhost, [net_world.rogue_ca]) as server:
        s = _session(net_world, server)
        ch = diset.Channel(s.sock, Deadline(2))
        with pytest.raises(diset.DisetError) as info:
            diset.propose(ch, "Configuration/Server", "ping", setup="GridPP", vo=diset.NO_VO)
        s.sock.close()
    assert info.value.kind == "tls"
    failure = tls.classify(info.value.cause)
    assert failure.kind == "client-cert-rejected" and "CA" in failure.detail


def _refused_by(net_world, server, host="localhost"):
    """Open a session to ``server``, send the ping proposal, and read its verdict on our
    proxy as the TLS layer does (probe.refusal)."""
    from mu3e_checks.knowledge.net.probe import refusal

    cred = tls.proxy_credential(net_world.proxy)
    s = tls.open_session("127.0.0.1", server.port, host, net_world.trust, cred, Deadline(1))
    try:
        diset.propose(diset.Channel(s.sock, Deadline(1)), "Configuration/Server", "ping",
                      setup="GridPP", vo=diset.NO_VO)
    except diset.DisetError as exc:
        return refusal(exc, s, cred)
    finally:
        s.sock.close()
    return None


def test_a_close_right_after_the_handshake_is_a_refused_certificate(net_world):
    # The server does not trust our CA and closes without a word (the alert never reaches
    # us, as with a real DIRAC server): TLS 1.3 let our handshake finish, so only the missing
    # session ticket and the close tell that the certificate was turned down.
    with DisetServer(net_world.localhost, [net_world.rogue_ca], refuse_by="close") as server:
        failure = _refused_by(net_world, server)
    assert failure is not None and failure.kind == "client-cert-rejected"
    assert failure.refusal is tls.Refusal.CLOSED
    assert failure.credential.issuer == "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA"


def test_an_accepted_certificate_is_proven_by_the_session_ticket(net_world):
    # A server that accepts the proxy, then stalls or talks garbage: its ticket proves the
    # acceptance, so the failure is DISET's (NET-004), not the certificate's.
    for mode in ("stall", "garbage"):
        with DisetServer(net_world.localhost, net_world.client_cas, mode=mode) as server:
            assert _refused_by(net_world, server) is None, mode


def test_silence_without_a_ticket_is_no_verdict(net_world):
    with DisetServer(net_world.localhost, net_world.client_cas, mode="stall",
                     tickets=0) as server:
        failure = _refused_by(net_world, server)
    assert failure is not None and failure.kind == "no-verdict"


@pytest.mark.parametrize("refusal", [tls.Refusal.UNKNOWN_CA, tls.Refusal.CLOSED])
def test_a_refused_certificate_names_its_issuer_and_asks_the_vo_admins(net_world, refusal,
                                                                     tmp_path):
    cred = tls.proxy_credential(net_world.proxy)
    failure = tls.TlsFailure(tls.TlsFailureKind.CLIENT_CERT_REJECTED, "why", refusal=refusal,
                             credential=cred)
    message, fix = tls_advice.explain(failure, _TARGET, _advice(tmp_path))
    assert message.startswith("the server does not accept your certificate")
    assert "'/C=CH/O=Mu3e Test Grid/CN=Mu3e Test User CA'" in message
    text = fix.render()
    assert "ask the Mu3e VO admins whether cs.mu3e.test accepts certificates issued by" in text
    assert text.splitlines()[-1] == "# " + net_world.user_dn
    assert "dirac-proxy-init" not in text  # a new proxy does not help


# ----------------------------------------------------------------------------- DISET


@pytest.mark.parametrize("sent, kind", [
    (b"not a frame at all, definitely not", "garbage"),
    (b"99999999999:", "too-big"),
    (b"10:ds2:OK", "timeout"),  # announces more than it sends, then stalls
    (b"5:zzzzz", "garbage"),
])
def test_channel_rejects_garbage_and_bounds_reads(sent, kind):
    a, b = socket.socketpair()
    with a, b:
        b.sendall(sent)
        with pytest.raises(diset.DisetError) as info:
            diset.Channel(a, Deadline(0.5)).receive()
    assert info.value.kind == kind


@pytest.mark.parametrize("left", [float("inf"), float("-inf"), float("nan")])
def test_whoami_with_a_non_finite_seconds_left_is_named(left):
    # What a JSON or DEncode reader that let them through would hand over: int() raises on it.
    with pytest.raises(diset.DisetError, match="not a finite number") as info:
        diset.whoami_info({"username": "jane", "group": GROUP, "secondsLeft": left})
    assert info.value.kind == "garbage"
    assert diset.whoami_info({"secondsLeft": 12.5}).seconds_left == 12


def test_unwrap_s_error():
    with pytest.raises(diset.DisetError) as info:
        diset.unwrap({"OK": False, "Message": "X is not up in this server"}, "proposal")
    assert info.value.kind == "refused" and "not up" in info.value.detail


def test_ping_skew_and_levels():
    sent = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    info = diset.ping_info({"version": "v8r0p74", "time": dt.datetime(2025, 1, 1, 12, 2, 1)},
                           sent, sent + dt.timedelta(seconds=2))
    assert info.skew == 120 and info.version == "v8r0p74"
    assert [diset.skew_level(s) for s in (5, -61, 299, -301)] == ["ok", "warn", "warn", "fail"]
    assert diset.ping_info({"version": "x"}, sent, sent).skew is None


def test_identity_problems():
    dn = "/C=CH/CN=Jane"
    ok = diset.WhoAmI("jane", GROUP, dn)
    anon = diset.WhoAmI("anonymous", "visitor", dn)
    assert diset.identity_problem(ok, GROUP, GROUP, dn) is None
    assert diset.identity_problem(anon, GROUP, GROUP, dn).kind == "unregistered"
    assert dn in diset.identity_problem(anon, GROUP, GROUP, dn).message
    assert diset.identity_problem(anon, GROUP, "mu3e.org_admin", dn).kind == "wrong-group"
    assert diset.identity_problem(anon, GROUP, None, dn).kind == "wrong-group"
    other = diset.WhoAmI("jane", "gridpp_user", dn)
    assert diset.identity_problem(other, GROUP, None, dn).kind == "wrong-group"


# ----------------------------------------------------------------------------- explanations
# Each layer's table: every enum member has a message and a fix, and outside text (host names,
# DNs, server names) reaches a fix only as a quoted or visible value.

HOSTILE = "x\n$(touch pwned-1)`touch pwned-2`;touch pwned-3;\x1b[2J"
_TARGET = parse_service_url("dips://cs.mu3e.test:9135/Configuration/Server")


def _advice(tmp_path, **kw):
    from mu3e_checks.advice.net import Advice

    values = dict(setup="GridPP", cs_url=_TARGET.url, group=GROUP,
                  required_cas=("/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B",),
                  trust_dir=tmp_path / "trust")
    values.update(kw)
    return Advice(**values)


def _hostile_target():
    # What urlsplit would not give us, a test can: the explanations must not trust the URL.
    from mu3e_checks.knowledge.net import ServiceUrl

    return ServiceUrl(f"dips://{HOSTILE}:9135/Configuration/Server", HOSTILE, 9135,
                      "Configuration/Server")


def _inert(fix_text: str, tmp_path) -> None:
    """``bash -n`` accepts the fix, and running it with only bash/timeout/touch on PATH (so an
    injected touch really runs) creates nothing."""
    import shutil
    import subprocess

    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for tool in ("bash", "timeout", "touch"):
        if not (bindir / tool).exists():
            (bindir / tool).symlink_to(shutil.which(tool))
    cwd = tmp_path / "paste"
    cwd.mkdir(exist_ok=True)
    env = {"PATH": str(bindir), "HOME": str(cwd), "LC_ALL": "C"}
    assert subprocess.run(["bash", "-n"], input=fix_text, text=True, env=env,
                          capture_output=True, timeout=30).returncode == 0, fix_text
    subprocess.run([str(bindir / "bash"), "--noprofile", "--norc"], input=fix_text, text=True,
                   env=env, cwd=cwd, capture_output=True, timeout=60)
    assert [p.name for p in cwd.iterdir()] == [], fix_text


@pytest.mark.parametrize("problem", list(dns.DnsProblem))
def test_every_dns_problem_is_explained(problem, tmp_path):
    r = dns.Resolution(HOSTILE, "dns", "nameserver 127.0.0.1:53", problem=problem,
                       detail="why")
    message, fix = dns_advice.explain(r, _hostile_target(), _advice(tmp_path))
    assert message and fix and "{" not in fix.render()
    _inert(fix.render(), tmp_path)


def test_dns_explanations_keep_their_commands(tmp_path):
    nx = dns.Resolution("cs.mu3e.test", "dns", "ns", problem=dns.DnsProblem.NXDOMAIN)
    other = parse_service_url("dips://typo.mu3e.test:9135/Configuration/Server")
    _, fix = dns_advice.explain(nx, other, _advice(tmp_path))
    assert fix.render().splitlines() == [
        f"# check the host name in {other.url}",
        f"dirac-configure -F -S GridPP -C {_TARGET.url} -I   # the guide's URL",
        "# if the name is right, connect to your institute's VPN or ask your network admin why"
        " it does not resolve:",
        "dig typo.mu3e.test"]
    _, same = dns_advice.explain(nx, _TARGET, _advice(tmp_path))
    assert "dirac-configure" not in same.render()  # the URL already is the expected one


@pytest.mark.parametrize("problem", list(tcp.TcpProblem))
def test_every_tcp_problem_is_explained(problem, tmp_path):
    attempts = [tcp.TcpAttempt("127.0.0.1", 9135, "refused", "connection refused", 0)]
    verdict = tcp.TcpJudgement(False, problem, "127.0.0.1:9135 connection refused")
    message, fix = tcp_advice.explain(verdict, attempts, _hostile_target(), 2.0)
    assert message and "timeout 10 bash -c" in fix.render()
    _inert(fix.render(), tmp_path)
    _, v6 = tcp_advice.explain_ipv6(attempts, _hostile_target())
    _inert(v6.render(), tmp_path)


def test_port_test_is_unchanged_for_plain_hosts_and_an_argument_otherwise(tmp_path):
    from mu3e_checks import commands

    assert commands.port_test("cs.mu3e.test", 9135).render() == (
        "timeout 10 bash -c 'cat </dev/null >/dev/tcp/cs.mu3e.test/9135' && echo open"
        "   # test the port again")
    odd = commands.port_test("a'b;touch pwned-4", 9135).render()
    assert "_ 'a'\"'\"'b;touch pwned-4' 9135" in odd
    _inert(odd, tmp_path)


@pytest.mark.parametrize("kind", list(tls.TlsFailureKind))
def test_every_tls_failure_is_explained(kind, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    server = tls.ServerCert("/CN=" + HOSTILE, "/CN=Evil" + HOSTILE, now - dt.timedelta(days=2),
                            now - dt.timedelta(days=1), (HOSTILE,))
    failure = tls.TlsFailure(kind, "detail " + HOSTILE, server)
    message, fix = tls_advice.explain(failure, _hostile_target(), _advice(tmp_path))
    assert message and fix and "{" not in fix.render()
    assert "\n$(" not in fix.render()
    _inert(fix.render(), tmp_path)


def test_mismatch_proposes_the_servers_name_as_one_quoted_url(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    server = tls.ServerCert("/CN=x", "/CN=y", now, now, ("elsewhere.mu3e.test",))
    failure = tls.TlsFailure(tls.TlsFailureKind.HOSTNAME_MISMATCH, "mismatch", server)
    _, fix = tls_advice.explain(failure, _TARGET, _advice(tmp_path))
    assert fix.render() == ("dirac-configure -F -S GridPP -C dips://elsewhere.mu3e.test:9135/"
                            "Configuration/Server -I   # if that is the right server")


@pytest.mark.parametrize("kind", list(diset.DisetErrorKind))
def test_every_diset_error_is_explained(kind, tmp_path):
    message, fix = diset_advice.explain(diset.DisetError(kind, "not up " + HOSTILE),
                                 _hostile_target(), "ping", _advice(tmp_path))
    assert message and fix
    _inert(fix.render(), tmp_path)


@pytest.mark.parametrize("kind", list(diset.IdentityKind))
def test_identity_explanations_show_the_dn_only_as_a_comment(kind, tmp_path):
    dn = "/C=CH/CN=Jane" + HOSTILE
    message, fix = diset_advice.explain_identity(diset.IdentityProblem(kind, "why"), dn,
                                          _advice(tmp_path))
    text = fix.render()
    if kind is diset.IdentityKind.UNREGISTERED:
        assert text.splitlines()[-1] == "# /C=CH/CN=Janex\\x0a$(touch pwned-1)`touch " \
                                        "pwned-2`;touch pwned-3;\\x1b[2J"
    else:
        assert text == f"dirac-proxy-init -g {GROUP} -M -t"
    _inert(text, tmp_path)


def test_advice_takes_its_defaults_from_the_options_table():
    from mu3e_checks.advice.net import Advice
    from mu3e_checks.settings import DEFAULT_CS_URL, Settings, resolve

    settings = Settings.build(resolve({}, {}), {"HOME": "/nonexistent"})
    advice = Advice.from_settings(settings)
    assert (advice.setup, advice.cs_url, advice.group) == ("GridPP", DEFAULT_CS_URL,
                                                           "mu3e.org_user")
    custom = Settings.build(resolve({"mu3e_setup": "Other", "mu3e_group": "g",
                                     "mu3e_cs_url": "dips://h:1/A/B"}, {}), {"HOME": "/x"})
    assert Advice.from_settings(custom).configure().render() == \
        "dirac-configure -F -S Other -C dips://h:1/A/B -I"
    broken = Settings.build(resolve({"mu3e_cs_url": "https://h/A/B"}, {}), {"HOME": "/x"})
    assert Advice.from_settings(broken).cs_url == DEFAULT_CS_URL  # a broken URL is no advice


def test_a_server_certificate_that_cannot_be_decoded_never_breaks_the_check(grid):
    """What the report shows of a server's certificate is read from its DER: a duplicate
    extension, version 5, garbage names or unreadable dates never raise (the TLS verdict stands
    on its own); what cannot be read is left out, and a sound certificate gives its names."""
    from tests.support import malformed as M

    good = tls.ServerCert.from_der(M.cert_der(grid.user.cert))
    assert good is not None and good.subject.endswith("CN=Jane Physicist")
    names = [n for n in M.CERTIFICATE_MUTATIONS if n != "valid"]
    assert len(names) > 5
    for name in names:
        bad = M.CERTIFICATE_MUTATIONS[name](grid.user.cert, grid.ca.key)
        got = tls.ServerCert.from_der(M.cert_der(bad))
        assert got is None or isinstance(got, tls.ServerCert), name
