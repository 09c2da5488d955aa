"""The ``--mu3e-*`` options: one table drives pytest's parser, the env fallback and the README.

Every option can also be set through an environment variable, because CI admins configure site
images through the environment and physicists copy ``export`` lines from tickets.  Command line
wins over environment, environment over default.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

DEFAULT_CS_URL = "dips://diracweb.grid.hep.ph.ic.ac.uk:9135/Configuration/Server"
DEFAULT_GROUP = "mu3e.org_user"
DEFAULT_VO = "mu3e.org"
DEFAULT_SETUP = "GridPP"
#: Where the guide downloads the IGTF CA tarballs from.
DEFAULT_CA_REPOSITORY = "https://repository.egi.eu/sw/production/cas/1/current/tgz/"
#: Where the guide installs DIRACOS, under the home directory (when $DIRACOS is not set).
DEFAULT_DIRACOS = "dirac_ui/diracos"
DEFAULT_REQUIRED_CAS = (
    "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B",
    "/C=UK/O=eScienceRoot/OU=Authority/CN=UK e-Science Root",
)
#: --mu3e-profile's values, the default first (what each means: mu3e_checks.profile).
PROFILES = ("user", "site")


@dataclass(frozen=True)
class Option:
    """One ``--mu3e-*`` option and the environment variable that can set it."""

    flag: str
    env: str
    help: str
    default: Any = None
    kind: str = "str"  # str | path | int | float | bool | list
    metavar: Optional[str] = None
    choices: tuple[str, ...] = ()  # the only values allowed, when there is such a list
    #: False for an option that asks for something to be done instead of setting how the
    #: diagnosis runs (``--mu3e-list``): no field of :class:`Settings` holds it.
    setting: bool = True

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("--mu3e-home", "MU3E_HOME", "Home directory to diagnose (default: $HOME).", kind="path",
           metavar="DIR"),
    Option("--mu3e-globus", "MU3E_GLOBUS", "The .globus directory (default: HOME/.globus).",
           kind="path", metavar="DIR"),
    Option("--mu3e-diracos", "MU3E_DIRACOS",
           f"DIRACOS prefix (default: $DIRACOS, else HOME/{DEFAULT_DIRACOS}).", kind="path",
           metavar="DIR"),
    Option("--mu3e-trust-dir", "MU3E_TRUST_DIR",
           "CA directory to check instead of the one DIRAC would use.", kind="path",
           metavar="DIR"),
    Option("--mu3e-proxy", "MU3E_PROXY",
           "Proxy file to check instead of the one DIRAC would use.", kind="path",
           metavar="FILE"),
    Option("--mu3e-cs-url", "MU3E_CS_URL", "Configuration Server URL the setup must use.",
           default=DEFAULT_CS_URL, metavar="URL"),
    Option("--mu3e-group", "MU3E_GROUP", "DIRAC group the proxy must carry.",
           default=DEFAULT_GROUP, metavar="GROUP"),
    Option("--mu3e-vo", "MU3E_VO", "VOMS VO the proxy's attribute certificate must be for.",
           default=DEFAULT_VO, metavar="VO"),

    Option("--mu3e-setup", "MU3E_SETUP", "DIRAC setup dirac.cfg must name (/DIRAC/Setup).",
           default=DEFAULT_SETUP, metavar="SETUP"),
    Option("--mu3e-required-ca", "MU3E_REQUIRED_CA",
           "Subject DN (slash form) of a CA that must be trusted; repeatable. The environment "
           "variable takes several DNs separated by ';'.",
           default=DEFAULT_REQUIRED_CAS, kind="list", metavar="DN"),
    Option("--mu3e-system-cert-dir", "MU3E_SYSTEM_CERT_DIR",
           "The host's CA directory that diracosrc prefers when it is not empty.",
           default="/etc/grid-security/certificates", kind="path", metavar="DIR"),
    Option("--mu3e-crl-warn-hours", "MU3E_CRL_WARN_HOURS",
           "Warn when a CRL's nextUpdate comes within this many hours.", default=24.0,
           kind="float", metavar="HOURS"),
    Option("--mu3e-cert-warn-days", "MU3E_CERT_WARN_DAYS",
           "Warn when the user certificate expires within this many days.", default=30,
           kind="int", metavar="DAYS"),
    Option("--mu3e-proxy-warn-hours", "MU3E_PROXY_WARN_HOURS",
           "Warn when the proxy has less than this many hours left.", default=1.0,
           kind="float", metavar="HOURS"),
    Option("--mu3e-upload-warn-hours", "MU3E_UPLOAD_WARN_HOURS",
           "Warn when the proxy stored in the ProxyManager has less than this many hours left.",
           default=24.0, kind="float", metavar="HOURS"),
    Option("--mu3e-timeout", "MU3E_TIMEOUT", "Timeout in seconds for each network step.",
           default=10.0, kind="float", metavar="SECONDS"),
    Option("--mu3e-strict", "MU3E_STRICT", "Count warnings as failures (exit code 1).",
           default=False, kind="bool"),
    Option("--mu3e-offline", "MU3E_OFFLINE", "Skip every check that needs the network.",
           default=False, kind="bool"),
    Option("--mu3e-passphrase-file", "MU3E_PASSPHRASE_FILE",
           "File holding the pass phrase of an encrypted userkey.pem, so the key-match check "
           "can run; the checks never prompt. MU3E_KEY_PASSPHRASE also works.",
           kind="path", metavar="FILE"),
    Option("--mu3e-select", "MU3E_SELECT",
           "Run only these check IDs (comma-separated; prefixes like CERT- work).", default=(),
           kind="list", metavar="IDS"),
    Option("--mu3e-ignore", "MU3E_IGNORE",
           "Do not run these check IDs (comma-separated; prefixes like NET- work).", default=(),
           kind="list", metavar="IDS"),
    Option("--mu3e-list", "", "List every check (ID, step, title, fix) and exit.",
           default=False, kind="bool", setting=False),
    Option("--mu3e-redact", "MU3E_REDACT",
           "Replace your user name, home path, DN and host name in the HTML and JSON reports "
           "(for public tickets).", default=False, kind="bool"),
    Option("--mu3e-json", "MU3E_JSON",
           "Also write the report as JSON to this file (for scripts and ticket bots).",
           kind="path", metavar="FILE"),
    Option("--mu3e-ca-repository", "MU3E_CA_REPOSITORY",
           "Where the guide's CA bundles are downloaded from (a mirror, or a test server): "
           "the wget lines the fixes print, and 'mu3e-checks fix'.", default=DEFAULT_CA_REPOSITORY,
           metavar="URL"),
    Option("--mu3e-nameserver", "MU3E_NAMESERVER",
           "DNS server (IP address, optional port) for every name the network checks resolve, "
           "after /etc/hosts; the system resolver is then never used.", metavar="HOST[:PORT]"),
    Option("--mu3e-profile", "MU3E_PROFILE",
           "Whose setup: user (the default), or site for a site image. A site check covers "
           "DIRACOS, DIRAC, the CAs, the CRLs and their updater, dirac.cfg, and the CS up to "
           "TLS; a person's certificate and proxy are not part of it.", default=PROFILES[0],
           metavar="|".join(PROFILES), choices=PROFILES),
    Option("--mu3e-crl-updater", "MU3E_CRL_UPDATER",
           "The file that runs fetch-crl, when CRL-005 cannot find it in cron or systemd: a "
           "cron file, crontab, systemd timer or service, or script.",
           kind="path", metavar="FILE"),
)


def _parse_env(opt: Option, raw: str) -> Any:
    if opt.kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if opt.kind == "int":
        return int(raw)
    if opt.kind == "float":
        return float(raw)
    if opt.kind == "list":
        sep = ";" if opt.dest == "mu3e_required_ca" else ","
        return tuple(p.strip() for p in raw.split(sep) if p.strip())
    return raw


def resolve(cli: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Merge command line, environment and defaults into plain values, keyed by dest."""
    out: dict[str, Any] = {}
    for opt in OPTIONS:
        value = cli.get(opt.dest)
        if value in (None, [], ()) or value is False:
            raw = env.get(opt.env) if opt.env else None
            if raw not in (None, ""):
                try:
                    value = _parse_env(opt, raw)
                except ValueError as exc:
                    raise SettingsError(f"{opt.env}={raw!r}: {exc}") from None
            elif value is not False:
                value = opt.default
        if opt.kind == "list" and value is not None:
            items: list[str] = []
            for v in value:
                items.extend(s.strip() for s in (v.split(",") if opt.dest != "mu3e_required_ca"
                                                  else [v]) if s.strip())
            value = tuple(items)
        if opt.kind == "path" and value:
            value = Path(os.path.expanduser(str(value)))
        if opt.choices and value not in opt.choices:
            raise SettingsError(f"{opt.flag} (or {opt.env}) must be one of "
                                f"{', '.join(opt.choices)}, not {value!r}")
        out[opt.dest] = value
    return out


class SettingsError(Exception):
    """A setting the user gave cannot be understood."""


def default(dest: str) -> Any:
    """The default of one option, from the options table (its only home)."""
    return _BY_DEST[dest].default


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one diagnosis run, every option a typed field.

    Built once per session.  ``environ`` is a snapshot of the environment the run was started
    with; knowledge functions take it as an argument rather than reading ``os.environ``, so they
    can be unit-tested and so a check can never see a variable another check changed.  Defaults
    live only in :data:`OPTIONS`; :meth:`build` never restates one.
    """

    home: Path
    globus: Path
    diracos: Path
    diracos_source: str
    trust_dir: Optional[Path]
    proxy: Optional[Path]
    cs_url: str
    group: str
    vo: str
    setup: str
    required_cas: tuple[str, ...]
    system_cert_dir: Path
    crl_warn_hours: float
    cert_warn_days: int
    proxy_warn_hours: float
    upload_warn_hours: float
    timeout: float
    strict: bool
    offline: bool
    passphrase_file: Optional[Path]
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    redact: bool = False
    json_path: Optional[Path] = None
    nameserver: Optional[str] = None
    ca_repository: str = ""  # the printed wget lines and `mu3e-checks fix`; default in OPTIONS
    profile: str = PROFILES[0]
    crl_updater: Optional[Path] = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: The settings given on the command line or in the environment that differ from their
    #: defaults, by dest (for the report's "Run options").
    given: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, values: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        """Typed settings from :func:`resolve`'s values (defaults already applied there)."""
        env = dict(environ)
        v = {o.dest: values.get(o.dest, o.default) for o in OPTIONS}
        home = v["mu3e_home"] or Path(env.get("HOME") or os.path.expanduser("~"))
        globus = v["mu3e_globus"] or Path(home) / ".globus"
        if v["mu3e_diracos"]:
            diracos, source = v["mu3e_diracos"], "--mu3e-diracos"
        elif env.get("DIRACOS"):
            diracos, source = Path(env["DIRACOS"]), "$DIRACOS"
        else:
            diracos, source = Path(home) / DEFAULT_DIRACOS, f"guide default ~/{DEFAULT_DIRACOS}"
        return cls(
            home=Path(home), globus=Path(globus), diracos=Path(diracos), diracos_source=source,
            trust_dir=v["mu3e_trust_dir"], proxy=v["mu3e_proxy"], cs_url=str(v["mu3e_cs_url"]),
            group=str(v["mu3e_group"]), vo=str(v["mu3e_vo"]), setup=str(v["mu3e_setup"]),
            required_cas=tuple(v["mu3e_required_ca"] or ()),
            system_cert_dir=Path(v["mu3e_system_cert_dir"]),
            crl_warn_hours=float(v["mu3e_crl_warn_hours"]),
            cert_warn_days=int(v["mu3e_cert_warn_days"]),
            proxy_warn_hours=float(v["mu3e_proxy_warn_hours"]),
            upload_warn_hours=float(v["mu3e_upload_warn_hours"]),
            timeout=float(v["mu3e_timeout"]), strict=bool(v["mu3e_strict"]),
            offline=bool(v["mu3e_offline"]), passphrase_file=v["mu3e_passphrase_file"],
            select=tuple(v["mu3e_select"] or ()), ignore=tuple(v["mu3e_ignore"] or ()),
            redact=bool(v["mu3e_redact"]), json_path=v["mu3e_json"],
            nameserver=v["mu3e_nameserver"] or None,
            ca_repository=str(v["mu3e_ca_repository"] or ""), profile=str(v["mu3e_profile"]),
            crl_updater=v["mu3e_crl_updater"], environ=env,
            given={o.dest: v[o.dest] for o in OPTIONS if o.setting
                   and v[o.dest] not in (None, False, (), "") and v[o.dest] != o.default},
        )

    def option(self, dest: str) -> Any:
        """The value of one ``--mu3e-*`` option by its dest, as a typed field holds it.  An
        option that is not a setting (:attr:`Option.setting`) has none: :class:`KeyError`."""
        if not _BY_DEST[dest].setting:
            raise KeyError(f"{_BY_DEST[dest].flag} is not a setting of the run")
        return getattr(self, _FIELD.get(dest, dest.removeprefix("mu3e_")))

    def changed(self) -> tuple[tuple[Option, Any], ...]:
        """The settings this run was given that differ from their defaults, in table order,
        as given (a field such as ``home`` holds the resolved value even when none was)."""
        return tuple((o, self.given[o.dest]) for o in OPTIONS if o.dest in self.given)

    @functools.cached_property
    def _passphrase_read(self) -> tuple[Optional[bytes], str]:
        """The pass-phrase file read once per run: (its pass phrase, why it cannot be read)."""
        if self.passphrase_file is None:
            return None, ""
        from mu3e_checks.knowledge.files import Unreadable

        try:
            return read_passphrase_file(self.passphrase_file), ""
        except Unreadable as exc:
            return None, str(exc)

    def passphrase(self) -> Optional[bytes]:
        """The key pass phrase if the user supplied one; never prompted for."""
        if self.passphrase_file is not None:
            return self._passphrase_read[0]
        raw = self.environ.get("MU3E_KEY_PASSPHRASE")
        return raw.encode("utf-8", "surrogateescape") if raw else None

    def passphrase_problem(self) -> str:
        """Why the given pass-phrase file cannot be read (a FIFO, a directory, ...), or ''."""
        return self._passphrase_read[1]


def read_passphrase_file(path: Path) -> bytes:
    """A pass phrase from a file, through the one bounded, non-blocking read path (a FIFO or
    device given as the file must not hang anything; a pass phrase is short).  Raises
    :class:`~mu3e_checks.knowledge.files.Unreadable`."""
    from mu3e_checks.knowledge.files import read_bytes

    return read_bytes(path, limit=64 * 1024).rstrip(b"\r\n")


_BY_DEST = {o.dest: o for o in OPTIONS}
#: Options whose field is not their dest without ``mu3e_`` (every other one is).
_FIELD = {"mu3e_required_ca": "required_cas", "mu3e_json": "json_path"}


def id_matches(check_id: str, patterns: Sequence[str]) -> bool:
    """``CERT-003`` matches ``CERT-003``, ``CERT-`` and ``CERT``; case does not matter."""
    cid = check_id.upper()
    for p in patterns:
        p = p.upper()
        if cid == p or (p.endswith("-") and cid.startswith(p)) or cid.split("-")[0] == p:
            return True
    return False


def options_markdown() -> str:
    """The option table for the README, generated so it cannot drift from the parser."""
    rows = ["| option | environment | default | meaning |", "|---|---|---|---|"]
    for o in OPTIONS:
        default = o.default
        if isinstance(default, tuple):
            default = "; ".join(default) or "—"
        if default in (None, False):
            default = "—"
        rows.append(f"| `{o.flag}` | {('`' + o.env + '`') if o.env else '—'} | {default} | "
                    f"{o.help} |")
    return "\n".join(rows)
