"""The Configuration Server's own data, read as the client reads it, and its Registry.

DIRAC's client loads the whole configuration with DISET ``Configuration/Server``
``getCompressedData`` (no arguments): the answer is ``zlib.compress(str(cfg).encode(), 9)`` sent
as a raw DEncode string.  From its ``/Registry`` section the checks learn whether the server
knows the user's DN (under which nick) and whether the configured group lists that nick.

The CS answers an unregistered DN, or a proxy for a group the user is not in, with
``Unauthorized query`` (errno 1111) to the proposal; ping and whoami still answer.  The data is
kept in memory only, never written to the user's files.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from mu3e_checks.knowledge.dirac_cfg import (
    MAX_CFG_BYTES,
    CfgSyntaxError,
    parse_cfg,
    split_list,
)
from mu3e_checks.knowledge.net.diset import DisetError, DisetErrorKind

METHOD = "getCompressedData"
#: The configuration text is capped like a local dirac.cfg (and so is every DISET answer, the
#: compressed data included): diraccfg's parse costs about a second per MiB, so this keeps the
#: parse within a network check's timeout; a 480 KiB answer inflating to 63 MiB stops here.
MAX_CFG = MAX_CFG_BYTES
_CHUNK = 64 * 1024  # inflated per step, so a bomb never holds more than the cap in memory
UNAUTHORIZED = "Unauthorized query"


class CsDataProblem(str, Enum):
    """Why the CS's answer to getCompressedData is not configuration this check can read."""

    NOT_DATA = "not-data"  # not a string of bytes at all
    NOT_ZLIB = "not-zlib"
    TOO_BIG = "too-big"  # more than MAX_CFG once inflated (or as sent): not read, not judged
    NOT_TEXT = "not-text"  # not UTF-8
    NOT_CFG = "not-cfg"  # not CFG syntax, or a shape diraccfg would take minutes on


class CsDataError(ValueError):
    """The CS's answer to getCompressedData cannot be read as configuration."""

    def __init__(self, problem: CsDataProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def too_big(what: str) -> CsDataError:
    """Data over the cap (``what``: "inflates to more", "is larger as sent"): named, never
    read further."""
    return CsDataError(CsDataProblem.TOO_BIG, f"the configuration data {what} than the "
                       f"{MAX_CFG >> 20} MiB this check reads (the cap of a local dirac.cfg)")


def decompress(value: Any) -> str:
    """The CFG text from the RPC's value (a surrogateescape str or bytes), inflated step by step
    and stopped as soon as it exceeds :data:`MAX_CFG`."""
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raise CsDataError(CsDataProblem.NOT_DATA,
                          f"getCompressedData returned {type(value).__name__}, not data")
    inflater = zlib.decompressobj()
    out = bytearray()
    pending = raw
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break  # the input is used up and the stream has not ended
            out += chunk
            if len(out) > MAX_CFG:
                raise too_big("inflates to more")
    except zlib.error as exc:
        raise CsDataError(CsDataProblem.NOT_ZLIB, "the configuration data is not "
                          f"zlib-compressed ({exc})") from None
    if not inflater.eof:
        raise CsDataError(CsDataProblem.NOT_ZLIB, "the configuration data is cut short (the "
                          "zlib stream does not end)")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsDataError(CsDataProblem.NOT_TEXT, "the configuration data is not UTF-8 text "
                          f"({exc.reason} at byte {exc.start})") from None


def parse_cs_data(value: Any):
    """The diraccfg CFG of the server's data; :class:`CsDataError` says why not.

    Its cost is bounded before diraccfg starts (the size cap, and the name comparisons its
    sections would cost, :func:`parse_cfg`), so it ends within about a second: a server's
    Registry lists every user, so no per-section cap applies as for a local dirac.cfg.
    """
    text = decompress(value)
    try:
        return parse_cfg(text, max_entries=None)
    except CfgSyntaxError as exc:
        raise CsDataError(CsDataProblem.NOT_CFG,
                          f"the configuration data does not parse: {exc}") from None


# ----------------------------------------------------------------------------- Registry


@dataclass(frozen=True)
class Group:
    name: str
    users: tuple[str, ...]
    voms_role: Optional[str] = None  # as configured (no fallback)
    voms_vo: Optional[str] = None
    properties: tuple[str, ...] = ()
    vo: Optional[str] = None


@dataclass(frozen=True)
class VomsServer:
    host: str
    dn: str = ""
    ca: str = ""
    port: str = ""


@dataclass(frozen=True)
class Vo:
    name: str
    voms_name: Optional[str] = None
    servers: tuple[VomsServer, ...] = ()


@dataclass(frozen=True)
class Registry:
    """``/Registry`` as DIRAC reads it: lists are comma lists, DNs compared as exact strings."""

    users: dict[str, tuple[str, ...]] = field(default_factory=dict)  # nick -> DNs
    groups: dict[str, Group] = field(default_factory=dict)
    vos: dict[str, Vo] = field(default_factory=dict)
    default_group: Optional[str] = None
    default_voms_attribute: Optional[str] = None

    def nicks_for(self, dn: str) -> list[str]:
        """Every nick whose ``DN`` list holds ``dn`` exactly (DIRAC uses the first)."""
        return [nick for nick, dns in self.users.items() if dn in dns]

    def groups_of(self, nick: str) -> list[str]:
        return [g.name for g in self.groups.values() if nick in g.users]

    def voms_role(self, group: str) -> Optional[str]:
        """The group's VOMSRole, falling back to ``/Registry/DefaultVOMSAttribute`` as DIRAC
        does."""
        g = self.groups.get(group)
        own = g.voms_role if g is not None else None
        return own or self.default_voms_attribute


def _section(cfg: Any, name: str) -> Any:
    return cfg[name] if cfg is not None and cfg.isSection(name) else None


def _option(cfg: Any, name: str) -> Optional[str]:
    if cfg is None or name not in cfg.listOptions():
        return None
    value = cfg[name]
    return value if isinstance(value, str) else None


def _sections(cfg: Any) -> list[str]:
    return list(cfg.listSections()) if cfg is not None else []


def read_registry(cfg: Any) -> Registry:
    """The ``/Registry`` section of a diraccfg CFG; a missing section gives an empty one."""
    reg = _section(cfg, "Registry")
    users_cfg, groups_cfg, vo_cfg = (_section(reg, n) for n in ("Users", "Groups", "VO"))
    users = {nick: tuple(split_list(_option(users_cfg[nick], "DN")))
             for nick in _sections(users_cfg)}
    groups = {}
    for name in _sections(groups_cfg):
        g = groups_cfg[name]
        groups[name] = Group(name, tuple(split_list(_option(g, "Users"))),
                             _option(g, "VOMSRole"), _option(g, "VOMSVO"),
                             tuple(split_list(_option(g, "Properties"))), _option(g, "VO"))
    vos = {}
    for name in _sections(vo_cfg):
        v = vo_cfg[name]
        servers_cfg = _section(v, "VOMSServers")
        servers = tuple(VomsServer(host, _option(servers_cfg[host], "DN") or "",
                                   _option(servers_cfg[host], "CA") or "",
                                   _option(servers_cfg[host], "Port") or "")
                        for host in _sections(servers_cfg))
        vos[name] = Vo(name, _option(v, "VOMSName"), servers)
    return Registry(users, groups, vos, _option(reg, "DefaultGroup"),
                    _option(reg, "DefaultVOMSAttribute"))


@dataclass(frozen=True)
class VomsView:
    """What the CS says ``dirac-proxy-init -M`` should ask for, against the local vomses."""

    group: str
    role: Optional[str]  # VOMSRole, or /Registry/DefaultVOMSAttribute
    voms_vo: str  # VOMSVO, or the VO's VOMSName, or the VO's name
    vo: str
    servers: tuple[VomsServer, ...]  # the VO's VOMSServers in the CS
    missing: tuple[VomsServer, ...]  # in the CS, but no vomses line for that host
    dn_mismatch: tuple[tuple[VomsServer, str], ...]  # (CS server, the vomses line's DN)


def voms_view(reg: Registry, group: str, default_vo: str, vomses: Sequence[Any]) -> VomsView:
    """Compare the CS's VOMS data for ``group`` with vomses entries (``host``, ``dn``, ``vo``,
    ``alias`` attributes, as :class:`knowledge.voms_env.VomsesEntry`)."""
    g = reg.groups.get(group)
    vo_name = (g.vo if g is not None and g.vo else None) or default_vo
    vo = reg.vos.get(vo_name)
    voms_vo = (g.voms_vo if g is not None and g.voms_vo else None) or \
        (vo.voms_name if vo is not None and vo.voms_name else None) or vo_name
    servers = vo.servers if vo is not None else ()
    mine = [e for e in vomses if voms_vo in (e.vo, e.alias) or vo_name in (e.vo, e.alias)]
    by_host: dict[str, list[str]] = {}
    for e in mine:
        by_host.setdefault(e.host.lower(), []).append(e.dn)
    missing = tuple(s for s in servers if s.host.lower() not in by_host)
    mismatch = tuple((s, by_host[s.host.lower()][0]) for s in servers
                     if s.host.lower() in by_host and s.dn
                     and s.dn not in by_host[s.host.lower()])
    return VomsView(group, reg.voms_role(group), voms_vo, vo_name, servers, missing, mismatch)


# ----------------------------------------------------------------------------- verdicts


class RegistryProblem(str, Enum):
    """Why the Registry does not show "you, in the expected group"; each has its own fix."""

    REFUSED_NO_GROUP = "refused-no-group"  # group-less proxy refused
    REFUSED_OTHER_GROUP = "refused-other-group"  # proxy for another group refused
    REFUSED_UNREGISTERED = "refused-unregistered"  # proxy for the right group refused
    DN_UNKNOWN = "dn-unknown"  # the data was read but holds no such DN (not expected)
    NO_GROUP = "no-group"  # the configured group is not in /Registry/Groups
    NOT_IN_GROUP = "not-in-group"  # the group does not list the nick


def is_unauthorized(exc: DisetError) -> bool:
    return exc.kind is DisetErrorKind.REFUSED and UNAUTHORIZED in exc.detail


def refusal(proxy_group: Optional[str], expected_group: str) -> RegistryProblem:
    """What a ``Unauthorized query`` tells, given the group the proxy asked for.

    The server refuses both an unknown DN and a group the user is not in, with the same words,
    so only the proxy's own group narrows it down.
    """
    if not proxy_group:
        return RegistryProblem.REFUSED_NO_GROUP
    if proxy_group != expected_group:
        return RegistryProblem.REFUSED_OTHER_GROUP
    return RegistryProblem.REFUSED_UNREGISTERED


# ----------------------------------------------------------------------------- service URLs


@dataclass(frozen=True)
class ServiceLookup:
    """Where DIRAC's client finds a service's URL in the CS data, and what it found."""

    service: str  # "Framework/ProxyManager"
    setup_option: str  # /DIRAC/Setups/<setup>/<system>
    instance: Optional[str]
    option: Optional[str]  # /Systems/<system>/<instance>/URLs/<name>
    urls: tuple[str, ...] = ()
    setups: tuple[str, ...] = ()  # the setups the server's data defines (/DIRAC/Setups/*)

    @property
    def problem(self) -> str:
        """DIRAC's own words when the lookup breaks, or empty."""
        if self.instance is None:
            return f"Option {self.setup_option} is not defined"
        if not self.urls:
            return f"Option {self.option} is not defined"
        return ""


def _value(cfg: Any, path: str) -> Optional[str]:
    node = cfg
    parts = [p for p in path.split("/") if p]
    for name in parts[:-1]:
        node = _section(node, name)
        if node is None:
            return None
    return _option(node, parts[-1]) if parts else None


def service_urls(cfg: Any, setup: str, service: str) -> ServiceLookup:
    """``System/Name`` → its URLs as DIRAC v8 resolves them: the setup's instance of the system
    (``/DIRAC/Setups/<setup>/<system>``), then ``/Systems/<system>/<instance>/URLs/<name>``."""
    system, _, name = service.partition("/")
    setup_option = f"/DIRAC/Setups/{setup}/{system}"
    instance = _value(cfg, setup_option)
    setups = tuple(_sections(_section(_section(cfg, "DIRAC"), "Setups")))
    if not instance:
        return ServiceLookup(service, setup_option, None, None, setups=setups)
    option = f"/Systems/{system}/{instance}/URLs/{name}"
    return ServiceLookup(service, setup_option, instance, option,
                         tuple(split_list(_value(cfg, option))), setups)
