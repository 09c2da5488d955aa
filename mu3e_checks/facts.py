"""What a diagnosis run learned about the machine, as typed values: one frozen :class:`Facts`.

Check fixtures record what they found (``run.record(proxy=Proxy(...))``); the run adds the
account it runs as when it starts, and before the model is frozen it completes, read-only, what
no check of this run looked at (:func:`mu3e_checks.environment.complete`).  Two readers, and
only these: the environment table (:mod:`mu3e_checks.render.environment`) and ``--mu3e-redact``
(:meth:`mu3e_checks.redact.Identity.of`).  The redactor takes every personal value from here,
so whatever a check learned (the DN as the server spells it, the DIRAC nick) is known before
anything is rendered, whichever checks ran.

Values are values: paths are :class:`~pathlib.Path`, times are datetimes, counts are ints.  A
``str`` field holds either one outside value (a DN, a host name) or a sentence made by the
knowledge layer to be shown as it is (how a file was found, a server's one-line verdict);
nothing ever parses one back.  Nothing here imports pytest or the knowledge layer.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import PurePath
from typing import Any, Callable, Optional, TypeVar


@dataclass(frozen=True)
class Account:
    """Who runs the diagnosis, and where: every spelling of each personal value."""

    host: str = ""  # the host name the report's title shows
    host_names: tuple[str, ...] = ()  # every other name of this host (short, uname)
    addresses: tuple[str, ...] = ()  # this host's own IP addresses
    user: str = ""  # the login name the report's title shows
    user_names: tuple[str, ...] = ()  # $USER, $LOGNAME, the password database's name
    uid: Optional[int] = None
    homes: tuple[str, ...] = ()  # $HOME and --mu3e-home, as given and with links resolved


@dataclass(frozen=True)
class Software:
    """The versions support asks for first."""

    os: str = ""
    python: str = ""
    python_executable: str = ""
    tool: str = ""
    openssl: tuple[str, ...] = ()  # one entry per library that links its own OpenSSL


@dataclass(frozen=True)
class Located:
    """A file or directory and how it was found (an option, a variable, a default)."""

    path: PurePath
    source: str = ""
    exists: Optional[bool] = None  # None: not looked at


@dataclass(frozen=True)
class Paths:
    """Where this run looks, from the settings: home, ~/.globus, the DIRACOS prefix."""

    home: PurePath
    globus: PurePath
    diracos: Located


@dataclass(frozen=True)
class Expected:
    """What the setup must name (the options' values): CS URL, group, VO, setup."""

    cs_url: str = ""
    group: str = ""
    vo: str = ""
    setup: str = ""


@dataclass(frozen=True)
class Credentials:
    """Where the user certificate and key are, and why there."""

    cert: Located
    key: Located


@dataclass(frozen=True)
class UserCertificate:
    """The user's certificate: its subject in both spellings and its issuer."""

    subject: str  # slash form, as VO admins register it
    subject_rfc2253: str
    issuer: str
    #: The proxy file it was read from, when usercert.pem could not be read (and why not).
    read_from: Optional[PurePath] = None
    usercert_problem: str = ""


@dataclass(frozen=True)
class ProxyChain:
    """The certificates of a proxy file (never its key): subjects, kind and lifetime."""

    subjects: tuple[str, ...]  # slash DNs, the proxy first (its serial CNs included)
    identity: str  # the user DN the chain derives from ('' when none is there)
    kind: str  # "rfc3820", "legacy", or "not a proxy"
    not_before: _dt.datetime
    not_after: _dt.datetime


@dataclass(frozen=True)
class Proxy:
    """The proxy file DIRAC reads, and what it holds."""

    location: Located
    chain: Optional[ProxyChain] = None
    problem: str = ""  # why its certificates could not be read


@dataclass(frozen=True)
class Diracos:
    """The DIRACOS tree: prefix, how it was found, its version and its Python's."""

    prefix: PurePath
    source: str
    version: Optional[str] = None
    python_version: Optional[str] = None


@dataclass(frozen=True)
class Dirac:
    """The DIRAC client DIRAC's Python imports: version and where (None: not installed)."""

    version: Optional[str] = None
    where: str = ""


@dataclass(frozen=True)
class Config:
    """The local dirac.cfg files, layered as DIRAC reads them."""

    files: tuple[PurePath, ...] = ()
    cs_url: Optional[str] = None  # the Configuration Server they name, None when none
    root: Optional[PurePath] = None
    root_source: str = ""


@dataclass(frozen=True)
class TrustStore:
    """How many CAs and CRL files the trust dir holds."""

    cas: int
    crls: int


@dataclass(frozen=True)
class Resolution:
    """A host name and the addresses it resolved to, and by whom (/etc/hosts, a resolver)."""

    host: str
    addresses: tuple[str, ...]
    resolver: str


@dataclass(frozen=True)
class ServerCertificate:
    """The TLS session with a server: its certificate, the protocol and cipher."""

    subject: str
    issuer: str
    not_after: _dt.datetime
    version: str
    cipher: str


@dataclass(frozen=True)
class Ping:
    """A DISET ping's answer."""

    service: str
    version: str
    round_trip: float


@dataclass(frozen=True)
class ServerLine:
    """One surveyed server (a URL or a host) and its one-line verdict."""

    name: str
    line: str


@dataclass(frozen=True)
class Versions:
    """The DIRAC client and server versions and how well they suit each other."""

    client: str
    server: str
    level: str  # ok | warn | fail


@dataclass(frozen=True)
class CsData:
    """The Configuration Server's data this run read: its size and the Registry's sizes, and
    the VOMS servers it lists for the VO (read by the VOMS survey: a fact, not a verdict)."""

    size: int
    users: int
    groups: int
    vos: int
    voms_servers: tuple[tuple[str, str, str], ...] = ()  # (host, port, DN)


@dataclass(frozen=True)
class RegistryGroup:
    """The group the proxy must carry, as the Registry defines it."""

    name: str
    users: int
    voms_role: str = ""


@dataclass(frozen=True)
class RegistryVoms:
    """The Registry's VOMS view of the group and VO: what ``dirac-proxy-init -M`` asks for."""

    group: str
    role: str
    voms_vo: str
    vo: str
    hosts: tuple[str, ...] = ()  # host:port of the VO's VOMS servers


@dataclass(frozen=True)
class Registry:
    """How the Configuration Server's Registry knows the user: the nick(s) of the user's DN
    and every DN it lists for them (in its own spelling), and what the checks read beside."""

    nicks: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    group: Optional[RegistryGroup] = None
    voms: Optional[RegistryVoms] = None

    @property
    def nick(self) -> str:
        """The nick DIRAC uses: the first."""
        return self.nicks[0] if self.nicks else ""


@dataclass(frozen=True)
class WhoAmI:
    """How the Configuration Server sees the proxy (DISET whoami)."""

    username: str
    group: str
    dn: str
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upload:
    """The proxy the ProxyManager holds for the user."""

    url: str
    expires: _dt.datetime
    hours_left: float


@dataclass(frozen=True)
class CrlRun:
    """A scheduled fetch-crl run that serves the trust dir (a site check's CRL updater)."""

    source: PurePath  # the cron table, unit or script that holds it
    how: str  # "cron", "systemd timer <name>", ...
    schedule: str
    output: PurePath  # where it writes the CRLs
    output_from: str  # what decided ``output``


@dataclass(frozen=True)
class Facts:
    """Everything the run learned that the report shows or ``--mu3e-redact`` must hide.

    ``None`` (or ``()``) means no check of this run looked; the renderer says so.
    """

    account: Account = Account()
    software: Optional[Software] = None
    paths: Optional[Paths] = None
    expected: Expected = Expected()
    grid_variables: tuple[tuple[str, str], ...] = ()  # (name, value) of those set
    options: tuple[tuple[str, Optional[str]], ...] = ()  # (flag, value; None: secret)
    foreign: tuple[str, ...] = ()  # pytest configuration from outside the package
    credentials: Optional[Credentials] = None
    user_cert: Optional[UserCertificate] = None
    user_cert_problem: str = ""  # why no user certificate could be read at all
    trust_dir: Optional[Located] = None
    trust_store: Optional[TrustStore] = None
    proxy: Optional[Proxy] = None
    diracos: Optional[Diracos] = None
    dirac: Optional[Dirac] = None
    config: Optional[Config] = None
    nameserver: Optional[str] = None
    cs_resolution: Optional[Resolution] = None
    cs_tcp: str = ""
    cs_tls: Optional[ServerCertificate] = None
    cs_ping: Optional[Ping] = None
    cs_clock_skew: Optional[float] = None  # seconds, server minus ours
    cs_servers: tuple[ServerLine, ...] = ()
    cs_versions: Optional[Versions] = None
    cs_data: Optional[CsData] = None
    cs_services: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (service, URLs)
    registry: Optional[Registry] = None
    whoami: Optional[WhoAmI] = None
    upload: Optional[Upload] = None
    voms_servers: tuple[ServerLine, ...] = ()
    crl_updater: tuple[CrlRun, ...] = ()  # the fetch-crl runs that keep the trust dir fresh

    def map_text(self, f: Callable[[str], str]) -> Facts:
        """The same facts with ``f`` applied to every text value (paths included): how
        redaction and the key scrub reach the environment table."""
        return map_strings(self, f)


T = TypeVar("T")


def map_strings(value: T, f: Callable[[str], str]) -> T:
    """``value`` with ``f`` applied to every string in it, through frozen dataclasses, tuples
    and paths; numbers, times and ``None`` stay as they are."""
    out: Any
    if isinstance(value, str):
        out = f(value)
    elif isinstance(value, PurePath):
        out = type(value)(f(os.fspath(value)))
    elif isinstance(value, tuple):
        out = tuple(map_strings(v, f) for v in value)
    elif is_dataclass(value) and not isinstance(value, type):
        out = replace(value, **{x.name: map_strings(getattr(value, x.name), f)
                                for x in fields(value)})
    else:
        out = value
    return out  # type: ignore[no-any-return]
