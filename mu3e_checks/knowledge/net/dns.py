"""DNS: does the Configuration Server's name give addresses, and if not, why not.

getaddrinfo folds NXDOMAIN, "no address" and "the resolver did not answer" into one error; each
has a different fix (a typo or VPN, a broken record, broken DNS settings), so this layer asks with
dnspython, A and AAAA separately.  Like getaddrinfo it reads ``/etc/hosts`` first: a name the
hosts file answers is never queried over DNS.

With a given nameserver (``--mu3e-nameserver``) every query goes to that server only and the
system configuration is not read at all; the tests use this with a loopback responder, so they
never reach the machine's own resolver.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.net import Deadline, UrlError, host_port, is_ip

HOSTS_FILE = Path("/etc/hosts")
RESOLV_CONF = Path("/etc/resolv.conf")
_HOSTS_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Nameserver:
    """The DNS server every lookup goes to (``--mu3e-nameserver HOST[:PORT]``)."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:5353``; the host must be an IP address."""
    host, port = host_port(text, 53)
    if not is_ip(host):
        raise UrlError(f"nameserver {text!r} must be an IP address (a name would need a "
                       "resolver to find the resolver)")
    return Nameserver(host, port)


def hosts_lookup(name: str, hosts_path: Path = HOSTS_FILE) -> list[str]:
    """Addresses ``hosts_path`` gives for ``name`` (case-insensitive, aliases too), in file order.

    An unreadable hosts file counts as empty, as it does for the C library.
    """
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    try:  # the one bounded, non-blocking read path; a FIFO here must not hang the run
        text = read_bytes(hosts_path, _HOSTS_LIMIT).decode("utf-8", "replace")
    except Unreadable:
        return []
    wanted = name.rstrip(".").lower()
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not is_ip(fields[0].split("%", 1)[0]):
            continue
        if wanted in (f.rstrip(".").lower() for f in fields[1:]) and fields[0] not in found:
            found.append(fields[0])
    return found


class DnsProblem(str, Enum):
    """Why a name gave no address; each has its own fix (advice.net.dns).

    Whether a nameserver *answered* matters: silence (no network, a VPN down, a firewall) and
    an answer that is an error (the server is there but will not or cannot resolve) need
    different fixes, and a message must never claim an answer that never came.
    """

    NXDOMAIN = "nxdomain"  # the name does not exist: a typo, or a name only a VPN can see
    EMPTY = "empty"  # it exists but has no A/AAAA record
    TIMEOUT = "timeout"  # no nameserver answered in time
    UNREACHABLE = "unreachable"  # no nameserver could even be sent the query (no route...)
    SERVFAIL = "servfail"  # a nameserver answered SERVFAIL: it could not resolve the name
    REFUSED = "refused"  # a nameserver answered REFUSED: it does not answer this machine
    ERROR = "error"  # another error code, or an answer that is not valid DNS
    NO_RESOLVER = "no-resolver"  # no nameserver configured
    BAD_NAME = "bad-name"  # not a valid host name at all
    BAD_NAMESERVER = "bad-nameserver"  # --mu3e-nameserver cannot be used


#: What answered nameservers meant, most telling first; silence comes after any answer.
_ORDER = (DnsProblem.NXDOMAIN, DnsProblem.SERVFAIL, DnsProblem.REFUSED, DnsProblem.ERROR,
          DnsProblem.UNREACHABLE, DnsProblem.TIMEOUT, DnsProblem.EMPTY)


def _tried(errors: object, timeout: float) -> tuple[DnsProblem, str]:
    """What dnspython's per-server error list (``(server, tcp, port, error, response)``, the
    error an exception or the rcode's name) says happened, most telling first."""
    import dns.exception

    found: dict[DnsProblem, str] = {}
    for entry in errors if isinstance(errors, list) else []:
        error = entry[3] if isinstance(entry, tuple) and len(entry) > 3 else None
        if isinstance(error, str):  # the server answered with this rcode
            kind = {"SERVFAIL": DnsProblem.SERVFAIL, "REFUSED": DnsProblem.REFUSED}.get(
                error, DnsProblem.ERROR)
            text = {DnsProblem.SERVFAIL: "it answered SERVFAIL: it could not resolve the name",
                    DnsProblem.REFUSED: "it answered REFUSED: it does not answer queries from "
                                        "this machine"}.get(kind, f"it answered {error}")
        elif isinstance(error, dns.exception.Timeout):
            kind, text = DnsProblem.TIMEOUT, f"no answer within {timeout:g} s"
        elif isinstance(error, OSError):
            kind = DnsProblem.UNREACHABLE
            text = f"the query could not be sent ({error.strerror or error})"
        else:
            kind = DnsProblem.ERROR
            text = f"its answer is not valid DNS ({type(error).__name__}: {error})"
        found.setdefault(kind, text)
    for kind in _ORDER:
        if kind in found:
            return kind, found[kind]
    return DnsProblem.TIMEOUT, f"no answer within {timeout:g} s"


@dataclass(frozen=True)
class Resolution:
    """What a name resolved to, where the answer came from, or why it did not resolve.

    ``problem`` is None when there is at least one address, else the :class:`DnsProblem`.
    """

    name: str
    source: str  # "literal" | "hosts" | "dns"
    resolver: str  # which server answered, or the hosts file
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    problem: Optional[DnsProblem] = None
    detail: str = ""
    per_type: dict[str, str] = field(default_factory=dict)

    @property
    def addresses(self) -> tuple[str, ...]:
        """IPv4 first: a broken IPv6 path is the common case, and IPv4 is what most sites use."""
        return self.ipv4 + self.ipv6


def _split(addresses: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    v4 = tuple(a for a in addresses if ipaddress.ip_address(a.split("%", 1)[0]).version == 4)
    v6 = tuple(a for a in addresses if a not in v4)
    return v4, v6


def resolve(name: str, *, timeout: float, nameserver: Optional[Nameserver] = None,
            hosts_path: Path = HOSTS_FILE, resolv_conf: Path = RESOLV_CONF) -> Resolution:
    """Resolve ``name`` the way getaddrinfo would, but say exactly what went wrong.

    Order: an IP literal is used as is; then ``hosts_path``; then DNS (A and AAAA in parallel,
    together within ``timeout``) through ``nameserver`` or the servers in ``resolv_conf``.
    """
    if is_ip(name):
        v4, v6 = _split([name])
        return Resolution(name, "literal", "none needed (IP address)", v4, v6)
    from_hosts = hosts_lookup(name, hosts_path)
    if from_hosts:
        v4, v6 = _split(from_hosts)
        return Resolution(name, "hosts", str(hosts_path), v4, v6)

    import dns.exception
    import dns.name
    import dns.resolver

    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        return Resolution(name, "dns", "-", problem=DnsProblem.BAD_NAME,
                          detail=f"{name!r} is not a valid host name ({exc})")
    if nameserver is not None:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [nameserver.host]
        res.port = nameserver.port
        where = f"nameserver {nameserver} (--mu3e-nameserver)"
    else:
        try:
            res = dns.resolver.Resolver(filename=str(resolv_conf))
        except (dns.resolver.NoResolverConfiguration, OSError) as exc:
            return Resolution(name, "dns", str(resolv_conf), problem=DnsProblem.NO_RESOLVER,
                              detail=f"no usable nameserver in {resolv_conf} ({exc})")
        where = f"nameserver {', '.join(str(s) for s in res.nameservers)} (from {resolv_conf})"
    deadline = Deadline(timeout)
    res.lifetime = max(0.1, timeout)
    res.timeout = max(0.1, min(2.0, timeout / 2))
    res.cache = None

    def ask(rdtype: str) -> tuple[Optional[DnsProblem], list[str], str]:
        try:
            answer = res.resolve(name, rdtype, lifetime=max(0.1, deadline.remaining()),
                                 raise_on_no_answer=True)
            return None, [r.to_text() for r in answer], ""
        except dns.resolver.NXDOMAIN:
            return DnsProblem.NXDOMAIN, [], "the name does not exist (NXDOMAIN)"
        except dns.resolver.NoAnswer:
            return DnsProblem.EMPTY, [], f"no {rdtype} record"
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            # Every server failed, each in its own way: say which way, from the typed list.
            kind, text = _tried(getattr(exc, "kwargs", {}).get("errors"), timeout)
            return kind, [], text
        except dns.exception.DNSException as exc:
            return DnsProblem.ERROR, [], f"{type(exc).__name__}: {exc}"
        except OSError as exc:  # the query could not even be sent
            return (DnsProblem.UNREACHABLE, [],
                    f"the query could not be sent ({exc.strerror or exc})")

    # dnspython checks its lifetime between tries, so a query can overrun it a little; the
    # wait below is the hard bound, and a query still running then counts as a timeout.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    futures = {t: pool.submit(ask, t) for t in ("A", "AAAA")}
    concurrent.futures.wait(list(futures.values()), timeout=deadline.remaining())
    pool.shutdown(wait=False)
    late = (DnsProblem.TIMEOUT, [], f"no answer within {timeout:g} s")
    outcomes = {t: f.result() if f.done() else late for t, f in futures.items()}
    per_type = {t: (o[2] or ", ".join(o[1])) for t, o in outcomes.items()}
    v4 = tuple(outcomes["A"][1])
    v6 = tuple(outcomes["AAAA"][1])
    kinds = {o[0] for o in outcomes.values()}
    if v4 or v6:
        return Resolution(name, "dns", where, v4, v6, per_type=per_type)
    for kind in _ORDER:
        if kind in kinds:
            detail = next(o[2] for o in outcomes.values() if o[0] == kind)
            if kind is DnsProblem.EMPTY:
                detail = "the name exists but has no A or AAAA record"
            return Resolution(name, "dns", where, problem=kind, detail=detail,
                              per_type=per_type)
    return Resolution(name, "dns", where, problem=DnsProblem.ERROR,
                      detail="no usable answer", per_type=per_type)
