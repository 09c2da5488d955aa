"""Where the user's long-term credentials are, the way DIRAC looks for them.

DIRAC takes ``$X509_USER_CERT``/``$X509_USER_KEY`` only when the file exists, and otherwise
``$HOME/.globus/usercert.pem`` and ``userkey.pem``.  The checks must look at the same files DIRAC
will use, or their verdict is about the wrong thing.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mu3e_checks.knowledge.files import find_files, is_file


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


def q(path: Path | str) -> str:
    """A path quoted for a shell command the user will paste."""
    return shlex.quote(str(path))


def pkcs12_fix(p12: Path, creds: Credentials) -> str:
    """The guide's two ``openssl pkcs12`` commands, filled in, plus the permission step."""
    lines = [
        "mkdir -p " + " ".join(q(d) for d in sorted({creds.cert.parent, creds.key.parent})),
        f"openssl pkcs12 -in {q(p12)} -clcerts -nokeys -out {q(creds.cert)}",
        f"openssl pkcs12 -in {q(p12)} -nocerts -nodes -out {q(creds.key)}",
        f"chmod 600 {q(creds.key)}",
        "# OpenSSL 3 with an old RC2-40 export ('unsupported ... RC2-40-CBC'): add -legacy "
        "to both openssl pkcs12 commands",
    ]
    return "\n".join(lines)
