"""The run's own facts (account, software, settings) and the ones no check of this run read.

Check fixtures record the typed facts they found (:mod:`mu3e_checks.facts`).  Before the run
freezes its model, :func:`complete` adds what the report always shows: the account the run
runs as (every spelling of the user, home and host, for ``--mu3e-redact``), the software
versions, the settings, and, read-only, the user's DN, the proxy's certificates and the trust
dir when no check of this run read them.  Never included: key material, pass phrases, an
environment dump.  Nothing here starts a process: the OS comes from ``os.uname()`` and
``/etc/os-release``, the host's addresses from ``/proc``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mu3e_checks import __version__
from mu3e_checks.facts import (
    Account,
    Expected,
    Facts,
    Located,
    Paths,
    Proxy,
    ProxyChain,
    Software,
    UserCertificate,
)
from mu3e_checks.settings import Settings

#: The variables DIRAC reads to find credentials, CAs and its installation (paths only).
GRID_VARIABLES = ("X509_USER_CERT", "X509_USER_KEY", "X509_USER_PROXY", "GRID_PROXY_FILE",
                  "X509_CERT_DIR", "X509_VOMS_DIR", "DIRACOS", "DIRAC_ROOT_PATH",
                  "DIRACSYSCONFIG")

#: Options whose value must never be shown, only that they were given.
_SECRET_OPTIONS = ("mu3e_passphrase_file",)


def account(settings: Settings) -> Account:
    """The machine and account the diagnosis runs on, in every spelling a report may hold them
    (no DNS lookup, no process)."""
    from mu3e_checks.knowledge.host import login_name

    environ = settings.environ
    user = login_name()
    users = {user, environ.get("USER", ""), environ.get("LOGNAME", "")}
    try:
        import pwd

        users.add(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError):
        pass
    homes: set[str] = set()
    for home in (str(settings.home), environ.get("HOME", "")):
        if home:
            homes |= {home, os.path.realpath(home)}
    host = socket.gethostname()
    return Account(host=host, host_names=tuple(sorted({host.split(".", 1)[0],
                                                       os.uname().nodename} - {""})),
                   addresses=tuple(sorted(_local_addresses())), user=user,
                   user_names=tuple(sorted(users - {""})), uid=os.getuid(),
                   homes=tuple(sorted(homes)))


def software() -> Software:
    """The OS, Python, this tool and the OpenSSL builds in use."""
    from mu3e_checks.knowledge.host import host_facts

    try:
        system = host_facts().describe()
    except Exception as exc:  # the table must never break a run
        system = f"unknown: {_first_line(exc)}"
    return Software(os=system, python=sys.version.split()[0], python_executable=sys.executable,
                    tool=__version__, openssl=openssl_versions())


def openssl_versions() -> tuple[str, ...]:
    """The OpenSSL Python's ssl module uses, and the one cryptography (and so pyOpenSSL, which
    uses cryptography's bindings) uses: asked of cryptography, because importing pyOpenSSL
    only to read a version string would cost an offline run a visible part of its time."""
    parts = [f"{ssl.OPENSSL_VERSION} (Python ssl)"]
    try:
        from cryptography.hazmat.backends.openssl import backend

        parts.append(f"{backend.openssl_version_text()} (cryptography, pyOpenSSL)")
    except Exception:  # pragma: no cover - cryptography is a dependency; never fail the report
        pass
    return tuple(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def chain_of(certs: Sequence[Any]) -> ProxyChain:
    """The facts of a proxy file's certificates (never its key): every subject, the user DN
    it derives from, and the first certificate's kind and lifetime."""
    from mu3e_checks.knowledge.pki import dn_slash, not_after, not_before, proxy_kind

    first = certs[0]
    identity = next((c for c in certs if proxy_kind(c) is None), None)
    return ProxyChain(subjects=tuple(dn_slash(c.subject) for c in certs),
                      identity=dn_slash(identity.subject) if identity is not None else "",
                      kind=proxy_kind(first) or "not a proxy",
                      not_before=not_before(first), not_after=not_after(first))


def read_chain(path: Path) -> tuple[ProxyChain | None, str]:
    """The certificates of the proxy file at ``path`` (the key in it is never parsed), or why
    they cannot be read."""
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import load_certificates

    try:
        return chain_of(load_certificates(read_bytes(path), str(path))), ""
    except Exception as exc:  # any broken file: the proxy checks say why
        return None, _first_line(exc)


def run_options(settings: Settings) -> tuple[tuple[str, str | None], ...]:
    """The ``--mu3e-*`` settings that differ from the defaults: (flag, value); a boolean's
    value is '', a secret's is None (shown only as given)."""
    out: list[tuple[str, str | None]] = []
    for o, value in settings.changed():
        if o.dest in _SECRET_OPTIONS:
            out.append((o.flag, None))
        elif o.kind == "bool":
            out.append((o.flag, ""))
        elif isinstance(value, tuple):
            out.append((o.flag, ",".join(map(str, value))))
        else:
            out.append((o.flag, str(value)))
    return tuple(out)


def complete(facts: Facts, settings: Settings) -> Facts:
    """``facts`` with the account, software and settings, and, read-only, the user's DN, the
    proxy's certificates and the trust dir where no check of this run read them."""
    s = settings
    paths = Paths(home=s.home, globus=s.globus, diracos=Located(s.diracos, s.diracos_source))
    out = replace(facts, account=account(s), software=software(), paths=paths,
                  expected=Expected(cs_url=s.cs_url, group=s.group, vo=s.vo, setup=s.setup),
                  grid_variables=tuple((k, s.environ[k]) for k in GRID_VARIABLES
                                       if s.environ.get(k)),
                  options=run_options(s))
    proxy = out.proxy
    if proxy is None:
        from mu3e_checks.knowledge.proxy import locate_proxy

        loc = locate_proxy(s.environ, os.getuid(), s.proxy)
        proxy = Proxy(Located(loc.path, loc.source, loc.exists))
    if proxy.chain is None and not proxy.problem and proxy.location.exists:
        chain, problem = read_chain(Path(proxy.location.path))
        proxy = replace(proxy, chain=chain, problem=problem)
    out = replace(out, proxy=proxy)
    if out.user_cert is None:
        out = replace(out, **_user_cert(s, out))
    if out.trust_dir is None:
        try:
            from mu3e_checks.knowledge.trust import resolve_trust_dir

            choice = resolve_trust_dir(s.environ, s.diracos, s.trust_dir, s.system_cert_dir)
            out = replace(out, trust_dir=Located(choice.path, choice.why))
        except Exception:  # pragma: no cover - resolving only looks at paths
            pass
    return out


def _user_cert(settings: Settings, facts: Facts) -> dict[str, Any]:
    """The user certificate's DN from usercert.pem (unless a check of this run already found it
    unreadable) or, failing that, from the user certificate in the proxy's chain."""
    from mu3e_checks.knowledge.credentials import locate_credentials
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import pick_user_certificate

    why = facts.user_cert_problem
    candidates = [] if why else [locate_credentials(settings.environ, settings.globus).cert]
    if facts.proxy is not None and facts.proxy.location.exists:
        candidates.append(Path(facts.proxy.location.path))
    for n, path in enumerate(candidates):
        try:
            found = pick_user_certificate(read_bytes(path), str(path))
        except Exception as exc:  # any broken file: the certificate checks say why
            why = why or _first_line(exc)
            continue
        from_proxy = n > 0 or bool(facts.user_cert_problem)
        return {"user_cert": UserCertificate(
            found.subject_slash, found.subject_rfc2253, found.issuer_slash,
            read_from=path if from_proxy else None, usercert_problem=why if from_proxy else "")}
    return {"user_cert_problem": why or "no user certificate found"}


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
