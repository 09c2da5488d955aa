"""The report's environment section: what a support engineer asks first, and nothing secret.

Versions (OS, Python, DIRAC, DIRACOS, OpenSSL, mu3e-checks), the resolved paths (home, trust
dir, proxy, dirac.cfg), the user's DN, a proxy summary and the CS URL.  Check fixtures record
what they found with ``run.record_environment(key, value)``; the conventional keys are listed in
:data:`ORDER`.  Where no check of this run recorded a fact, it is worked out here read-only
(the DN from ``usercert.pem``, the trust dir and proxy the way DIRAC picks them), or said to be
"not checked in this run".  Never included: key material, pass phrases, an environment dump.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from mu3e_checks import __version__
from mu3e_checks.redact import Redactor, build_redactor

if TYPE_CHECKING:
    from mu3e_checks.run import DiagnosisRun

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


def identity() -> tuple[str, str]:
    """(host name, user name) of the machine and account the diagnosis ran on."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER: a bare container
        user = str(os.getuid())
    return socket.gethostname(), user


def os_description() -> str:
    """The OS name from /etc/os-release (where there is one) and the kernel platform string."""
    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    plat = platform.platform()
    return f"{pretty} ({plat})" if pretty else plat


def openssl_versions() -> str:
    """The OpenSSL Python's ssl module uses, and the one pyOpenSSL/cryptography use."""
    parts = [f"{ssl.OPENSSL_VERSION} (Python ssl)"]
    try:
        from OpenSSL import SSL

        parts.append(f"{SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()} (pyOpenSSL)")
    except Exception:  # pragma: no cover - pyOpenSSL is a dependency; never fail the report
        pass
    return "; ".join(parts)


def _user_dn(run: DiagnosisRun) -> dict[str, str]:
    """The DN lines, as recorded by the certificate fixtures or read from usercert.pem.

    When usercert.pem cannot be read, the user certificate in the proxy's chain is used (so
    ``--mu3e-redact`` still knows the DN the proxy summary shows).
    """
    keys = ("User DN (slash form)", "User DN (RFC 2253)", "User certificate issuer")
    if all(k in run.environment for k in keys[:2]):
        return {k: run.environment[k] for k in keys if k in run.environment}
    from mu3e_checks.knowledge.credentials import locate_credentials
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import pick_user_certificate

    creds = locate_credentials(run.settings.environ, run.settings.globus)
    why = ""
    for n, path in enumerate((creds.cert, _proxy_path(run)[0])):
        try:
            found = pick_user_certificate(read_bytes(path), str(path))
        except Exception as exc:  # any broken file: the certificate checks say why
            why = why or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            continue
        out = {keys[0]: found.subject_slash, keys[1]: found.subject_rfc2253,
               keys[2]: found.issuer_slash}
        if n:
            out["User DN read from"] = f"the proxy {path} ({why})"
        return out
    return {keys[0]: f"unknown: {why}"}


def _trust_dir(run: DiagnosisRun) -> str:
    from mu3e_checks.knowledge.trust import resolve_trust_dir

    s = run.settings
    return resolve_trust_dir(s.environ, s.diracos, s.trust_dir).describe()


def _proxy_path(run: DiagnosisRun) -> tuple[Path, str]:
    from mu3e_checks.knowledge.proxy import locate_proxy

    loc = locate_proxy(run.settings.environ, os.getuid(), run.settings.proxy)
    return loc.path, f"{loc.path} ({loc.source}{'' if loc.exists else ', missing'})"


def proxy_summary(path: Path) -> str:
    """Identity and lifetime of the proxy at ``path``, from its certificates only.

    The proxy file also holds the proxy's private key; only CERTIFICATE blocks are parsed and
    nothing of the key is read into the report.  Used only when the proxy chapter did not run
    (otherwise its fixture has recorded the same summary).
    """
    from mu3e_checks.knowledge.files import read_bytes
    from mu3e_checks.knowledge.pki import load_certificates
    from mu3e_checks.knowledge.proxy import summarize_proxy

    try:
        certs = load_certificates(read_bytes(path), str(path))
    except Exception as exc:
        return f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return summarize_proxy(certs)


def _grid_variables(environ: dict[str, str]) -> str:
    found = [f"{k}={environ[k]}" for k in GRID_VARIABLES if environ.get(k)]
    return "; ".join(found) if found else "none set"


def option_values(run: DiagnosisRun) -> dict[str, Any]:
    """Every ``--mu3e-*`` option's value (command line, then environment, then default).

    Resolved here from the options table, so options without a typed ``Settings`` field (such
    as ``--mu3e-json``) are read the same way as the others.
    """
    from mu3e_checks.settings import OPTIONS, resolve

    cli = {o.dest: run.config.getoption(o.dest, None) for o in OPTIONS}
    try:
        values = resolve(cli, run.settings.environ)
    except Exception:  # already reported as a usage error at start-up
        values = {}
    values.update(run.settings.extra)
    return values


def _run_options(run: DiagnosisRun) -> str:
    """The ``--mu3e-*`` settings that differ from the defaults (values of secrets hidden)."""
    from mu3e_checks.settings import OPTIONS

    values = option_values(run)
    if not values:
        return "unknown"
    out = []
    for o in OPTIONS:
        value = values.get(o.dest)
        if value in (None, False, (), "") or value == o.default:
            continue
        if o.dest in _SECRET_OPTIONS:
            out.append(f"{o.flag} (given)")
        elif o.kind == "bool":
            out.append(o.flag)
        elif isinstance(value, tuple):
            out.append(f"{o.flag} {','.join(value)}")
        else:
            out.append(f"{o.flag} {value}")
    return " ".join(out) if out else "defaults"


def collect(run: DiagnosisRun) -> dict[str, str]:
    """The environment table, in :data:`ORDER`, then whatever else checks recorded."""
    s = run.settings
    recorded = run.environment
    env: dict[str, str] = {
        "OS": os_description(),
        "Python": f"{platform.python_version()} ({sys.executable})",
        "mu3e-checks": __version__,
        "DIRAC version": recorded.get("DIRAC version", NOT_CHECKED),
        "DIRACOS version": recorded.get("DIRACOS version", NOT_CHECKED),
        "OpenSSL": openssl_versions(),
        "Home": str(s.home),
        ".globus": str(s.globus),
        "DIRACOS": f"{s.diracos} ({s.diracos_source})",
        "dirac.cfg": recorded.get("dirac.cfg", NOT_CHECKED),
        "CS URL": recorded.get("CS URL", f"{s.cs_url} (expected)"),
        "DIRAC group (expected)": s.group,
        "Grid variables": _grid_variables(dict(s.environ)),
        "Run options": _run_options(run),
    }
    env.update(_user_dn(run))
    env["Trust dir"] = recorded.get("Trust dir") or _safe(lambda: _trust_dir(run))
    proxy_path: Optional[Path] = None
    if "Proxy" in recorded:
        env["Proxy"] = recorded["Proxy"]
    else:
        try:
            proxy_path, env["Proxy"] = _proxy_path(run)
        except Exception as exc:  # pragma: no cover - locate_proxy does not raise
            env["Proxy"] = f"unknown: {exc}"
    if "Proxy summary" in recorded:
        env["Proxy summary"] = recorded["Proxy summary"]
    else:
        if proxy_path is None:
            proxy_path = Path(recorded["Proxy"].split(" (", 1)[0])
        env["Proxy summary"] = (proxy_summary(proxy_path) if proxy_path.is_file()
                                else "no proxy file")
    merged = {**recorded, **env}
    ordered = {k: merged[k] for k in ORDER if k in merged}
    for k, v in recorded.items():
        ordered.setdefault(k, v)
    return ordered


def _safe(func: Callable[[], object]) -> str:
    """``str(func())``, or what went wrong: the environment table must never break a run."""
    try:
        return str(func())
    except Exception as exc:
        return f"unknown: {exc}"


def redactor_for(run: DiagnosisRun, env: dict[str, str]) -> Redactor:
    """The redactor for ``--mu3e-redact``: this user's name, home, DN and host name."""
    from mu3e_checks.knowledge.pki import parse_slash_dn

    host, user = identity()
    environ = run.settings.environ
    homes = {str(run.settings.home), os.path.realpath(run.settings.home)}
    if environ.get("HOME"):
        homes |= {environ["HOME"], os.path.realpath(environ["HOME"])}
    users = {user, environ.get("USER", ""), environ.get("LOGNAME", "")}
    try:
        import pwd

        users.add(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError):
        pass
    hosts = {host, host.split(".", 1)[0], platform.node()}
    slash = env.get("User DN (slash form)", "")
    dns = [d for d in (slash, env.get("User DN (RFC 2253)", "")) if d and
           not d.startswith("unknown")]
    pairs = parse_slash_dn(slash) if slash.startswith("/") else []
    return build_redactor(
        homes=homes, users={u for u in users if u}, hosts={h for h in hosts if h}, dns=dns,
        dn_values=[v for k, v in pairs if k.upper() in ("CN", "UID")],
        emails=[v for k, v in pairs if k.lower() in ("emailaddress", "email", "e")])
