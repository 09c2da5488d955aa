"""Catch a test that runs a real external program without the ``peer`` marker.

``-m "not peer"`` must give a run that needs none of the peers CI installs (openssl, grid
tools, VOMS clients, fetch-crl, Chromium, the DIRAC venv).  A process-wide audit hook sees
every ``subprocess.Popen``/``os.exec*``/``os.posix_spawn``; while an unmarked test runs, starting
a peer raises :class:`PeerNotMarked`, so the omission fails that very test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PEER_PROGRAMS = frozenset({
    "openssl", "fetch-crl", "chromium", "chromedriver", "grid-proxy-init", "grid-proxy-info",
    "grid-cert-diagnostics", "voms-proxy-init", "voms-proxy-fake", "voms-proxy-info",
    "mariadbd", "mysqld", "mariadb-install-db",
})
DIRAC_VENV = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))


class PeerNotMarked(RuntimeError):
    """A real external program was started by a test that is not marked ``peer``."""


_state = {"guarding": False, "test": ""}


def peer_program(argv0: object) -> str:
    """The peer ``argv0`` names, or '' for an ordinary program (python, bash, unshare...)."""
    text = os.fsdecode(argv0) if isinstance(argv0, (str, bytes, os.PathLike)) else ""
    if not text:
        return ""
    if text.startswith(str(DIRAC_VENV) + os.sep) or Path(text).name.startswith("dirac-"):
        return text
    return text if Path(text).name in PEER_PROGRAMS else ""


def _hook(event: str, args: tuple) -> None:
    if not _state["guarding"]:
        return
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        first = argv if isinstance(argv, (str, bytes)) else (argv[0] if argv else None)
        names = [executable, first]
    elif event in ("os.exec", "os.posix_spawn"):
        names = [args[0]]
    else:
        return
    for name in names:
        found = peer_program(name)
        if found:
            raise PeerNotMarked(f"{_state['test']} runs the real peer {found} but is not "
                                "marked 'peer' (put it under tests/peers/ or mark it)")


_installed = False


def install() -> None:
    """Add the audit hook once per process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def guard(test: str, enabled: bool) -> None:
    _state["guarding"] = enabled
    _state["test"] = test
