"""Facts about the machine for the report, read without starting any program.

``platform.platform()`` runs ``uname`` found through ``$PATH``, so a ``uname`` planted in a
directory on the user's PATH would run inside a diagnosis that promises only to read.  The
kernel facts come from ``os.uname()`` (a system call) and the distribution from
``/etc/os-release`` (read through the one bounded read path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mu3e_checks.knowledge.files import Unreadable, read_bytes

OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


@dataclass(frozen=True)
class HostFacts:
    """The operating system a diagnosis ran on; '' for what could not be learnt."""

    system: str  # "Linux"
    release: str  # kernel release, "6.1.0-18-amd64"
    machine: str  # "x86_64"
    hostname: str
    pretty_name: str = ""  # "Debian GNU/Linux 12 (bookworm)"
    distro_id: str = ""  # "debian"
    version_id: str = ""  # "12"

    def describe(self) -> str:
        """One line for the report, like ``platform.platform()`` but with the distribution."""
        distro = self.pretty_name or " ".join(p for p in (self.distro_id, self.version_id) if p)
        kernel = "-".join(p for p in (self.system, self.release, self.machine) if p)
        return f"{distro} ({kernel})" if distro else kernel


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines of os-release(5); values unquoted, unknown syntax skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if raw.strip().partition("=")[2].strip().startswith('"'):
                for esc in ("\\\\", '\\"', "\\$", "\\`"):
                    value = value.replace(esc, esc[1])
        out[key.strip()] = value
    return out


def os_release(paths: tuple[Path, ...] = OS_RELEASE) -> dict[str, str]:
    """The first readable os-release file, parsed; {} when there is none."""
    for path in paths:
        try:
            data = read_bytes(path, limit=64 * 1024)
        except Unreadable:
            continue
        return parse_os_release(data.decode("utf-8", "replace"))
    return {}


def host_facts(paths: tuple[Path, ...] = OS_RELEASE) -> HostFacts:
    """Kernel facts from ``os.uname()`` and the distribution from os-release; never a process."""
    uts = os.uname()
    release = os_release(paths)
    return HostFacts(system=uts.sysname, release=uts.release, machine=uts.machine,
                     hostname=uts.nodename, pretty_name=release.get("PRETTY_NAME", ""),
                     distro_id=release.get("ID", ""), version_id=release.get("VERSION_ID", ""))


def pin_platform_uname() -> None:
    """Fill :func:`platform.uname`'s lazily computed ``processor`` without running ``uname -p``.

    pytest-metadata (which pytest-html brings) calls ``platform.platform()``, and on Linux that
    asks ``uname -p`` through ``PATH`` for the processor: a ``uname`` planted in ``.`` or an
    early PATH entry would run inside the diagnosis.  The kernel's machine name, from
    ``os.uname()``, is what ``uname -p`` prints on Linux anyway (or "unknown").
    """
    import platform

    result = platform.uname()  # os.uname() underneath; the processor is not computed yet
    if "processor" not in getattr(result, "__dict__", {"processor": ""}):
        result.__dict__["processor"] = os.uname().machine


def login_name() -> str:
    """This account's name, or its uid when there is neither a passwd entry nor ``$USER`` (a
    bare container): for the report's header and the private report directory's name."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
