"""Where the user's long-term credentials are, the way DIRAC looks for them.

DIRAC takes ``$X509_USER_CERT``/``$X509_USER_KEY`` only when the file exists, and otherwise
``$HOME/.globus/usercert.pem`` and ``userkey.pem``.  The checks must look at the same files DIRAC
will use, or their verdict is about the wrong thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mu3e_checks import commands
from mu3e_checks.knowledge.files import find_files, is_file
from mu3e_checks.remedy import Remedy


@dataclass(frozen=True)
class Credentials:
    cert: Path
    key: Path
    cert_source: str
    key_source: str


def locate_credentials(environ: Mapping[str, str], globus: Path) -> Credentials:
    """The certificate and key paths DIRAC would use, and why."""
    def pick(var: str, default: Path) -> tuple[Path, str]:
        value = environ.get(var)
        if value and is_file(Path(value)):
            return Path(value), f"${var}"
        if value:
            return default, f"default (${var}={value} is not a file, so DIRAC ignores it)"
        return default, "default"

    cert, cert_src = pick("X509_USER_CERT", globus / "usercert.pem")
    key, key_src = pick("X509_USER_KEY", globus / "userkey.pem")
    return Credentials(cert, key, cert_src, key_src)


def find_pkcs12(globus: Path, home: Path) -> list[Path]:
    """``.p12``/``.pfx`` exports lying in ``~/.globus`` or the home directory."""
    return find_files([globus, home], (".p12", ".pfx"))


def pkcs12_fix(p12: Path, creds: Credentials) -> Remedy:
    """The guide's two ``openssl pkcs12`` commands, filled in, plus the permission step.

    The paths stay data: they are quoted when the fix is shown, whatever characters they hold.
    """
    return commands.pkcs12_extract(Path(p12), creds.cert, creds.key)
