"""The report's environment facts and the run's identity: what support asks first, nothing secret.

Versions (OS, Python, DIRAC, DIRACOS, OpenSSL, mu3e-checks), the resolved paths (home, trust
dir, proxy, dirac.cfg), the user's DN, a proxy summary and the CS URL.  Check fixtures record
what they found with ``run.record_environment(key, value, fact=...)``: the display text, and the
typed value where later code needs it (never parsed back out of the text).  Where no check of
this run recorded a fact, it is worked out here read-only, or said to be "not checked in this
run".  Never included: key material, pass phrases, an environment dump.  Nothing here starts a
process: the OS comes from ``os.uname()`` and ``/etc/os-release``.

The same facts give the run's :class:`~mu3e_checks.redact.Identity` for ``--mu3e-redact``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from mu3e_checks import __version__
from mu3e_checks.redact import Identity
from mu3e_checks.settings import OPTIONS, Settings
from mu3e_checks.text import visible

NOT_CHECKED = "not checked in this run"

#: Display order of the environment table; keys recorded by checks that are not listed here
#: follow in the order they were recorded.
ORDER = (
    "OS", "Python", "mu3e-checks", "DIRAC version", "DIRACOS version", "OpenSSL",
    "Home", ".globus", "User certificate", "User key",
    "User DN (slash form)", "User DN (RFC 2253)", "User certificate issuer", "User DN read from",
    "DIRACOS", "dirac.cfg", "Trust dir", "Proxy", "Proxy summary",
    "CS URL", "DIRAC group (expected)", "Grid variables", "Run options",
)

#: The variables DIRAC reads to find credentials, CAs and its installation (paths only).
GRID_VARIABLES = ("X509_USER_CERT", "X509_USER_KEY", "X509_USER_PROXY", "GRID_PROXY_FILE",
                  "X509_CERT_DIR", "X509_VOMS_DIR", "DIRACOS", "DIRAC_ROOT_PATH",
                  "DIRACSYSCONFIG")

#: Options whose value must never be shown, only that they were given.
_SECRET_OPTIONS = ("mu3e_passphrase_file",)


@dataclass(frozen=True)
class Account:
    """Who and where the diagnosis ran: host name and user name."""

    host: str
    user: str


def account() -> Account:
    """The machine and account the diagnosis runs on (no DNS lookup, no process)."""
    from mu3e_checks.knowledge.host import login_name

    return Account(socket.gethostname(), login_name())


def os_description() -> str:
    """The OS and kernel, from ``/etc/os-release`` and ``os.uname()`` (no process started)."""
    from mu3e_checks.knowledge.host import host_facts

    return host_facts().describe()


def openssl_versions() -> str:
    """The OpenSSL Python's ssl module uses, and the one cryptography (and so pyOpenSSL, which
    uses cryptography's bindings) uses: asked of cryptography, because importing pyOpenSSL
    only to read a version string would cost an offline run a visible part of its time."""
    parts = [f"{ssl.OPENSSL_VERSION} (Python ssl)"]
    try:
        from cryptography.hazmat.backends.openssl import backend

        parts.append(f"{backend.openssl_version_text()} (cryptography, pyOpenSSL)")
    except Exception:  # pragma: no cover - cryptography is a dependency; never fail the report
        pass
    return "; ".join(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _proxy_location(settings: Settings, facts: Mapping[str, Any]):
    loc = facts.get("proxy_location")
    if loc is None:
        from mu3e_checks.knowledge.proxy import locate_proxy

        loc = locate_proxy(settings.environ, os.getuid(), settings.proxy)
    return loc


def user_dn(settings: Settings, recorded: Mapping[str, str],
            facts: Mapping[str, Any]) -> dict[str, str]:
    """The DN lines, as recorded by the certificate fixtures or read from usercert.pem (or,
    when that is unreadable, from the user certificate in the proxy's chain)."""
    keys = ("User DN (slash form)", "User DN (RFC 2253)", "User certificate issuer")
    if all(k in recorded for k in keys[:2]):
        return {k: recorded[k] for k in keys if k in recorded}
    from mu3e_checks.knowledge.credentials import locate_credentials
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import pick_user_certificate

    creds = locate_credentials(settings.environ, settings.globus)
    why = ""
    for n, path in enumerate((creds.cert, _proxy_location(settings, facts).path)):
        try:
            found = pick_user_certificate(read_bytes(path), str(path))
        except Exception as exc:  # any broken file: the certificate checks say why
            why = why or _first_line(exc)
            continue
        out = {keys[0]: found.subject_slash, keys[1]: found.subject_rfc2253,
               keys[2]: found.issuer_slash}
        if n:
            out["User DN read from"] = f"the proxy {path} ({why})"
        return out
    return {keys[0]: f"unknown: {why}"}


def proxy_summary(path: Path) -> str:
    """Identity and lifetime of the proxy at ``path``, from its certificates only (the key in
    the same file is never parsed into the report)."""
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import load_certificates
    from mu3e_checks.knowledge.proxy import summarize_proxy

    try:
        certs = load_certificates(read_bytes(path), str(path))
    except Exception as exc:
        return f"unreadable: {_first_line(exc)}"
    return summarize_proxy(certs)


def _grid_variables(environ: Mapping[str, str]) -> str:
    found = [f"{k}={environ[k]}" for k in GRID_VARIABLES if environ.get(k)]
    return "; ".join(found) if found else "none set"


def run_options(settings: Settings) -> str:
    """The ``--mu3e-*`` settings that differ from the defaults (values of secrets hidden)."""
    out = []
    for o in OPTIONS:
        value = settings.option(o.dest)
        if value in (None, False, (), "") or value == o.default:
            continue
        if o.dest in _SECRET_OPTIONS:
            out.append(f"{o.flag} (given)")
        elif o.kind == "bool":
            out.append(o.flag)
        elif isinstance(value, tuple):
            out.append(f"{o.flag} {','.join(map(str, value))}")
        else:
            out.append(f"{o.flag} {value}")
    return " ".join(out) if out else "defaults"


def _safe(func: Callable[[], object]) -> str:
    """``str(func())``, or what went wrong: the environment table must never break a run."""
    try:
        return str(func())
    except Exception as exc:
        return f"unknown: {_first_line(exc)}"


def collect(settings: Settings, recorded: Mapping[str, str],
            facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The environment table, in :data:`ORDER`, then whatever else checks recorded; every
    value made visible (it may hold outside text)."""
    env: dict[str, str] = {
        "OS": _safe(os_description),
        "Python": f"{sys.version.split()[0]} ({sys.executable})",
        "mu3e-checks": __version__,
        "DIRAC version": recorded.get("DIRAC version", NOT_CHECKED),
        "DIRACOS version": recorded.get("DIRACOS version", NOT_CHECKED),
        "OpenSSL": openssl_versions(),
        "Home": str(settings.home),
        ".globus": str(settings.globus),
        "DIRACOS": f"{settings.diracos} ({settings.diracos_source})",
        "dirac.cfg": recorded.get("dirac.cfg", NOT_CHECKED),
        "CS URL": recorded.get("CS URL", f"{settings.cs_url} (expected)"),
        "DIRAC group (expected)": settings.group,
        "Grid variables": _grid_variables(settings.environ),
        "Run options": _safe(lambda: run_options(settings)),
    }
    try:
        env.update(user_dn(settings, recorded, facts))
    except Exception as exc:  # never break the report
        env["User DN (slash form)"] = f"unknown: {_first_line(exc)}"
    if "Trust dir" in recorded:
        env["Trust dir"] = recorded["Trust dir"]
    else:
        def trust() -> str:
            from mu3e_checks.knowledge.trust import resolve_trust_dir

            return resolve_trust_dir(settings.environ, settings.diracos,
                                     settings.trust_dir).describe()
        env["Trust dir"] = _safe(trust)
    loc = None
    try:
        loc = _proxy_location(settings, facts)
    except Exception as exc:  # pragma: no cover - locate_proxy does not raise
        env["Proxy"] = f"unknown: {_first_line(exc)}"
    if loc is not None:
        env["Proxy"] = recorded.get("Proxy") or (
            f"{loc.path} ({loc.source}{'' if loc.exists else ', missing'})")
        env["Proxy summary"] = recorded.get("Proxy summary") or (
            proxy_summary(loc.path) if loc.exists else "no proxy file")
    merged = {**recorded, **env}
    ordered = {k: merged[k] for k in ORDER if k in merged}
    for k, v in recorded.items():
        ordered.setdefault(k, v)
    return [(visible(k), visible(v)) for k, v in ordered.items()]


def _local_addresses() -> set[str]:
    """This host's own IP addresses, read from /proc (no DNS lookup): for redaction only."""
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    found: set[str] = set()
    try:
        lines = read_bytes(Path("/proc/net/fib_trie"), 4 << 20).decode("ascii", "replace")
        last = ""
        for line in lines.splitlines():
            s = line.strip()
            if s.startswith(("|--", "+--")):
                last = s[3:].strip().split()[0]
            elif "/32 host LOCAL" in s and last and not last.startswith("127."):
                found.add(last)
    except (Unreadable, IndexError):
        pass
    try:
        for line in read_bytes(Path("/proc/net/if_inet6"), 1 << 20).decode(
                "ascii", "replace").splitlines():
            raw = line.split()[0] if line.split() else ""
            if len(raw) == 32 and raw != "0" * 31 + "1":
                found.add(str(ipaddress.IPv6Address(int(raw, 16))))
    except (Unreadable, ValueError):
        pass
    return found


def identity(settings: Settings, facts: Mapping[str, Any],
             recorded: Mapping[str, str]) -> Identity:
    """Every value that identifies the person or machine, as far as this run knows them."""
    acct = account()
    ident = Identity(uid=os.getuid())
    environ = settings.environ
    ident.users |= {u for u in (acct.user, environ.get("USER", ""), environ.get("LOGNAME", ""))
                    if u}
    try:
        import pwd

        ident.users.add(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError):
        pass
    for home in (str(settings.home), environ.get("HOME", "")):
        if home:
            ident.homes |= {home, os.path.realpath(home)}
    uname = os.uname().nodename
    ident.hosts |= {h for h in (acct.host, acct.host.split(".", 1)[0], uname) if h}
    ident.addresses |= _local_addresses()
    try:
        dn = user_dn(settings, recorded, facts)
    except Exception:  # never break the report
        dn = {}
    for key in ("User DN (slash form)", "User DN (RFC 2253)"):
        value = dn.get(key, "")
        if value and not value.startswith("unknown"):
            ident.add_dn(value)
    for value in facts.get("proxy_dns", ()):
        ident.add_dn(value)
    ident.dirac_users |= set(facts.get("dirac_users", ()))
    for value in facts.get("server_dns", ()):
        ident.add_dn(value)
    return ident


def proxy_identity(path: Optional[Path]) -> list[str]:
    """Every subject DN in a proxy chain (serial CNs included), certificates only."""
    if path is None:
        return []
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import dn_slash, load_certificates

    try:
        certs = load_certificates(read_bytes(path), str(path))
    except Exception:
        return []
    return [dn_slash(c.subject) for c in certs]
