"""Network advice: what a broken layer means for the user, and what to run.

The layers of :mod:`mu3e_checks.knowledge.net` name what broke as typed values (a
``DnsProblem``, a ``TcpProblem``, a ``TlsFailureKind``, a ``DisetErrorKind``, a
``RegistryProblem``, an ``UploadProblem``); the modules here, one per layer, word each kind and
give its fix.  :class:`Advice` holds the user's settings the fixes are made from.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.knowledge.net import UrlError, parse_service_url
from mu3e_checks.remedy import Remedy
from mu3e_checks.settings import Settings


@dataclass(frozen=True)
class Advice:
    """The user's settings the network fixes are made from.

    The explanation functions of each layer take this instead of :class:`Settings`, so they
    stay plain functions of facts; the domain defaults (setup, URL, group) come from the options
    table through :meth:`from_settings`, never from literals here.
    """

    setup: str  # /DIRAC/Setup for dirac-configure (--mu3e-setup)
    cs_url: str  # the Configuration Server URL the setup should use
    group: str  # the DIRAC group a proxy must ask for (--mu3e-group)
    required_cas: tuple[str, ...] = ()
    trust_dir: Optional[Path] = None  # the trust dir the server is verified against
    ca_repository: str = ""  # where the printed wget lines fetch CA bundles from

    @classmethod
    def from_settings(cls, settings: Settings, trust_dir: Optional[Path] = None) -> Advice:
        """Advice from the run's settings.  A ``--mu3e-cs-url`` that is itself broken is no
        URL to configure, so the options table's default stands in for it."""
        url = settings.cs_url
        try:
            parse_service_url(url)
        except UrlError:
            from mu3e_checks.settings import default

            url = default("mu3e_cs_url")
        return cls(setup=settings.setup, cs_url=url, group=settings.group,
                   required_cas=tuple(settings.required_cas), trust_dir=trust_dir,
                   ca_repository=settings.ca_repository)

    def configure(self, *, note: str = "") -> Remedy:
        """The guide's dirac-configure with the expected setup and URL."""
        return commands.configure(self.setup, self.cs_url, note=note)

    def proxy_init(self, *, note: str = "") -> Remedy:
        """A fresh proxy for the expected group, with VOMS."""
        return commands.proxy_init(self.group, note=note)


def explain_url(exc: UrlError, advice: Advice) -> tuple[str, Remedy]:
    """A service URL that cannot be used: configure the expected one."""
    return f"the Configuration Server URL is unusable: {exc}", advice.configure()


#: The layers' advice, imported on first use (``advice.net.tls``), as the knowledge layers are:
#: an offline run never loads them.
LAYERS = frozenset({"diset", "dns", "proxymgr", "registry", "servers", "tcp", "tls", "voms"})


def __getattr__(name: str) -> ModuleType:
    """PEP 562: ``net.<layer>`` imports the layer's advice the first time it is asked for."""
    if name in LAYERS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
