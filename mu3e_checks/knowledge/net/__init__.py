"""Network knowledge: reaching the Configuration Server layer by layer.

DIRAC itself says only "Can't connect", after three retries.  The layers here (DNS, TCP, TLS,
DISET) each answer one question and name the layer that broke.  Every operation runs against a
:class:`Deadline`, so a layer finishes within the configured timeout even when a server stalls,
and every loop is bounded by that deadline and by a byte or item limit.
"""

from __future__ import annotations

import importlib
import ipaddress
import time
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import Optional
from urllib.parse import urlsplit

DIPS_DEFAULT_PORT = 9135  # the Configuration Server's port, used when a URL gives none


class UrlError(ValueError):
    """A service URL that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class ServiceUrl:
    """A ``dips://host:port/System/Component`` URL, taken apart."""

    url: str
    host: str
    port: int
    service: str  # "Configuration/Server"

    @property
    def ip_literal(self) -> bool:
        return is_ip(self.host)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def parse_service_url(url: str) -> ServiceUrl:
    """Split a DIRAC service URL; :class:`UrlError` says what is wrong with it."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"{text!r} is not a valid URL ({exc})") from None
    if parts.scheme != "dips":
        raise UrlError(f"{text!r} does not start with dips:// (the Configuration Server speaks "
                       "DISET on dips://host:9135/Configuration/Server)")
    if not parts.hostname:
        raise UrlError(f"{text!r} has no host name")
    service = parts.path.strip("/")
    if service.count("/") != 1:
        raise UrlError(f"{text!r} does not name a service as /System/Component "
                       "(e.g. /Configuration/Server)")
    return ServiceUrl(text, parts.hostname, port or DIPS_DEFAULT_PORT, service)


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[v6]:PORT`` or a bare IPv6 address → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise UrlError(f"{text!r} has no host")
    if port and not port.isdigit():
        raise UrlError(f"{text!r} has a port that is not a number")
    number = int(port) if port else default_port
    if not 0 < number < 65536:
        raise UrlError(f"{text!r} has an impossible port {number}")
    return host, number


class Deadline:
    """A point in time every step of one layer must finish by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, float(seconds))
        self.start = time.monotonic()
        self.end = self.start + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def describe_address(address: str, port: Optional[int] = None) -> str:
    """``1.2.3.4:9135`` or ``[2001:db8::1]:9135``."""
    shown = f"[{address}]" if ":" in address else address
    return f"{shown}:{port}" if port is not None else shown


class Level(str, Enum):
    """How a network verdict counts: the one scale of the chapter (version compatibility, the
    uploaded proxy, clock skew, a list of servers some of which are dead)."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


#: The layers, imported on first use (``net.dns``): an offline run collects the network
#: chapter but never runs it, and importing every layer (ssl, thread pools, two dozen record
#: classes) cost it a measurable part of its time.
LAYERS = frozenset({"compat", "dencode", "diset", "dns", "probe", "proxymgr", "registry",
                    "servers", "tcp", "tls", "voms"})


def __getattr__(name: str) -> ModuleType:
    """PEP 562: ``net.<layer>`` imports the layer the first time it is asked for."""
    if name in LAYERS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
