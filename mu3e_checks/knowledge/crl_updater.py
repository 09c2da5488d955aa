"""Who keeps a site's CRLs fresh: fetch-crl, started by cron or by a systemd timer.

CRL-003 sees whether the CRLs are fresh *now*.  A site image must also keep them fresh: IGTF
CRLs expire days to weeks after they are fetched, and then every certificate of that CA is
refused ("CRL has expired").  This module finds the fetch-crl runs a machine has scheduled and
works out, from each command line, its configuration and its environment files, into which
directory it writes the CRLs, and whether it runs at all: the packaged cron entry of Debian and
EPEL runs only once its switch file exists (``[ ! -f /var/lock/fetch-crl-cron ] || ...``), and
a timer counts only when it is enabled.

Only what is written in files is read (the diagnosis starts no programs): cron tables, systemd
units and their ``*.wants`` links, fetch-crl's configuration and the files a cron line sources
or a unit names as ``EnvironmentFile``.  Shell is not evaluated; the forms the packages and the
fetch-crl documentation use are understood (``$VAR`` words from those files, the switch-file
guard, ``-l``/``--infodir``, ``-o``/``--out``, ``-c``/``--config``).  Every absolute path a file
names is looked up under ``root`` (``/`` in a diagnosis; a tree in the tests).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.knowledge.trust.choice import SYSTEM_CERT_DIR, same_dir

#: fetch-crl's own defaults (fetch-crl 3 man page).
DEFAULT_CONFIG = Path("/etc/fetch-crl.conf")
DEFAULT_CONFIG_DIR = Path("/etc/fetch-crl.d")
#: fetch-crl's default directory is the grid's standard one, which DIRAC also falls back to.
DEFAULT_INFODIR = SYSTEM_CERT_DIR
#: Cron tables with a user field, cron tables without one, and directories of cron scripts.
SYSTEM_CRONTABS = (Path("/etc/crontab"),)
SYSTEM_CRON_DIRS = (Path("/etc/cron.d"),)
USER_CRON_DIRS = (Path("/var/spool/cron/crontabs"), Path("/var/spool/cron"))
SCRIPT_DIRS = tuple(Path(f"/etc/cron.{p}") for p in ("hourly", "daily", "weekly", "monthly"))
#: Where systemd looks for units, in its order, and where ``enable`` puts the timer links.
UNIT_DIRS = (Path("/etc/systemd/system"), Path("/usr/lib/systemd/system"),
             Path("/lib/systemd/system"))
#: The package's switch for its cron entry, named by the fix when the entry is off.
MAX_FILE = 1 << 20  # a cron table, unit or config is a few KiB
MAX_ENTRIES = 512  # files looked at per directory: a hostile directory cannot stall the run
_FIELD = r"(?:[0-9*/,\-]+|[A-Za-z]{3}(?:[-,][A-Za-z]{3})*)"
_CRON_TIME = re.compile(rf"^(@[a-z]+|(?:{_FIELD}\s+){{4}}{_FIELD})\s")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VAR_WORD = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_SEPARATORS = {";", "&&", "||", "|", "&", ")", "(", "\n"}
_PREFIXES = {"then", "do", "else", "exec", "nice", "command", "time", "nohup"}


@dataclass(frozen=True)
class Run:
    """One scheduled fetch-crl command, as found in a file."""

    source: Path  # the cron table, unit or script that holds it
    how: str  # "cron" | "systemd timer <name>" | "script in /etc/cron.daily" | ...
    schedule: str  # the cron time fields, the timer's settings, or '' for a script
    command: str  # the fetch-crl command line as written (values made visible by the caller)
    output: Path  # where it writes the CRLs
    output_from: str  # what decided ``output``: an option, a config file, fetch-crl's default
    off: str = ""  # why it will never run ('' when it will)
    switch: Optional[Path] = None  # the missing switch file that keeps it from running
    config: Path = DEFAULT_CONFIG  # the fetch-crl configuration it reads


@dataclass(frozen=True)
class Survey:
    """Every fetch-crl run found, and the updaters that are there but cannot count."""

    runs: tuple[Run, ...] = ()
    looked_in: tuple[str, ...] = ()  # what was searched, for the message when nothing is found
    idle: tuple[str, ...] = field(default=())  # e.g. "fetch-crl.timer is installed, not enabled"
    problem: str = ""  # the named file (--mu3e-crl-updater) cannot be read or runs no fetch-crl

    def serving(self, directory: Path) -> list[Run]:
        """The runs that will refresh ``directory`` (enabled, writing there)."""
        return [r for r in self.runs if not r.off and same_dir(r.output, directory)]


def _under(root: Path, path: Path) -> Path:
    """``path`` as this machine (or a test tree at ``root``) holds it; a path already inside
    the tree (a file named with --mu3e-crl-updater) is taken as it is."""
    if not path.is_absolute() or path.is_relative_to(root):
        return path
    return root / str(path).lstrip("/")


def _text(path: Path) -> Optional[str]:
    try:
        return read_bytes(path, MAX_FILE).decode("utf-8", "replace")
    except Unreadable:
        return None


def _names(directory: Path) -> list[str]:
    """Entry names of a directory, sorted, at most :data:`MAX_ENTRIES`; [] if unreadable."""
    try:
        with os.scandir(directory) as it:
            return sorted(e.name for _, e in zip(range(MAX_ENTRIES), it))
    except OSError:
        return []


def _files(directory: Path) -> list[Path]:
    """Regular files of a directory (links followed), as :func:`_names` lists them; cron skips
    the hidden ones, and so does this."""
    return [directory / n for n in _names(directory)
            if not n.startswith(".") and (directory / n).is_file()]


# ----------------------------------------------------------------------------- shell and config


def assignments(text: str) -> dict[str, str]:
    """``NAME=value`` lines of an environment file (/etc/default/fetch-crl, a unit's
    EnvironmentFile): the value unquoted as the shell would, nothing expanded."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line)
        if not m:
            continue
        try:
            words = shlex.split(m.group(2), comments=True)
        except ValueError:
            continue
        out[m.group(1)] = " ".join(words)
    return out


def _words(command: str) -> list[str]:
    """Shell words with the control operators as words of their own; [] when unbalanced."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return []


def _expand(words: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``$NAME`` and ``${NAME}`` words replaced by their value's words (unset: nothing)."""
    out: list[str] = []
    for w in words:
        m = _VAR_WORD.match(w)
        if m is None:
            out.append(w)
            continue
        value = env.get(m.group(1) or m.group(2) or "", "")
        try:
            out.extend(shlex.split(value))
        except ValueError:
            out.append(value)
    return out


def config_values(root: Path, config: Path) -> dict[str, str]:
    """``key = value`` settings of fetch-crl's main section: the config file, then the files
    of its ``cfgdir`` (default /etc/fetch-crl.d), later ones winning, as fetch-crl collates."""
    values: dict[str, str] = {}

    def read(path: Path) -> None:
        text = _text(_under(root, path))
        section = ""
        for raw in (text or "").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("["):
                section = line
                continue
            if section or "=" not in line:
                continue
            key, value = (p.strip() for p in line.split("=", 1))
            values[key.lower()] = value

    read(config)
    cfgdir = Path(values.get("cfgdir") or DEFAULT_CONFIG_DIR)
    for extra in _files(_under(root, cfgdir)):
        read(cfgdir / extra.name)
    return values


def option(args: Sequence[str], short: str, long: Sequence[str]) -> Optional[str]:
    """The value of a fetch-crl option (last one wins): ``-l X``, ``--infodir X``,
    ``--infodir=X``."""
    found = None
    for i, a in enumerate(args):
        for name in (short, *long):
            if a == name and i + 1 < len(args):
                found = args[i + 1]
            elif name.startswith("--") and a.startswith(name + "="):
                found = a.split("=", 1)[1]
    return found


def output_of(args: Sequence[str], root: Path) -> tuple[Path, str]:
    """Where fetch-crl with these arguments writes its CRLs, and what said so:
    ``-o``, else the config's ``output``, else ``-l``, else the config's ``infodir``, else
    fetch-crl's default /etc/grid-security/certificates."""
    config = Path(option(args, "-c", ("--config",)) or DEFAULT_CONFIG)
    conf = config_values(root, config)
    for value, said in ((option(args, "-o", ("--out", "--output")), "its -o option"),
                        (conf.get("output"), f"output = in {config}"),
                        (option(args, "-l", ("--infodir",)), "its -l option"),
                        (conf.get("infodir"), f"infodir = in {config}")):
        if value:
            return Path(value), said
    return DEFAULT_INFODIR, "fetch-crl's default"


# ----------------------------------------------------------------------------- command lines


def _switch_off(words: Sequence[str], upto: int, root: Path) -> Optional[Path]:
    """The switch file whose absence keeps the command at ``upto`` from running: one tested
    with ``[ ! -f F ] ||`` anywhere before it (the packages' form) or ``[ -f F ] &&`` right
    before it, when F does not exist; None when nothing holds it back."""
    for i in range(upto):
        w = words[i:i + 6]
        if w[:1] == ["["] and len(w) == 6 and w[1] == "!" and w[2] in ("-f", "-e") \
                and w[4] == "]" and w[5] == "||":
            guard = Path(w[3])
        elif w[:1] == ["test"] and len(w) >= 5 and w[1] == "!" and w[2] in ("-f", "-e") \
                and w[4] == "||":
            guard = Path(w[3])
        elif w[:1] == ["["] and len(w) >= 5 and w[1] in ("-f", "-e") and w[3] == "]" \
                and w[4] == "&&" and ";" not in words[i + 5:upto]:
            guard = Path(w[2])
        else:
            continue
        if not _under(root, guard).exists():
            return guard
    return None


def _command_position(words: Sequence[str], i: int) -> bool:
    """Whether ``words[i]`` is where a command name stands (not a file a test or ``.`` names):
    first, after a control operator or a prefix command, or after the user field of a system
    cron table."""
    if i == 0 or words[i - 1] in _SEPARATORS or words[i - 1] in _PREFIXES:
        return True
    return i == 1 and re.fullmatch(r"[a-z_][a-z0-9_.-]*", words[0]) is not None


def runs_in(command: str, *, source: Path, how: str, schedule: str, root: Path,
            env: Mapping[str, str]) -> list[Run]:
    """The fetch-crl commands in one shell command line, with where each writes."""
    words = _words(command)
    env = dict(env)
    for i, w in enumerate(words):  # files the line sources itself (". /etc/default/fetch-crl")
        if w in (".", "source") and i + 1 < len(words):
            env.update(assignments(_text(_under(root, Path(words[i + 1]))) or ""))
    out = []
    for i, w in enumerate(words):
        if os.path.basename(w) != "fetch-crl" or not _command_position(words, i):
            continue
        end = next((j for j in range(i + 1, len(words)) if words[j] in _SEPARATORS),
                   len(words))
        args = _expand(words[i + 1:end], env)
        output, said = output_of(args, root)
        switch = _switch_off(words, i, root)
        off = f"it runs only when {switch} exists, and it does not" if switch else ""
        out.append(Run(source, how, schedule, command.strip(), output, said, off, switch,
                       Path(option(args, "-c", ("--config",)) or DEFAULT_CONFIG)))
    return out


def cron_runs(path: Path, root: Path, *, how: str = "cron", script: bool = False) -> list[Run]:
    """fetch-crl runs in a cron table (system or user form) or, with ``script``, a script that
    cron starts (whose lines have no time fields)."""
    text = _text(_under(root, path))
    if text is None:
        return []
    env: dict[str, str] = {}
    out: list[Run] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _ASSIGN.match(stripped):
            env.update(assignments(stripped))
            continue
        if "fetch-crl" not in stripped:
            continue
        t = None if script else _CRON_TIME.match(stripped)
        schedule = t.group(1) if t else ""
        out.extend(runs_in(stripped[t.end():] if t else stripped, source=path, how=how,
                           schedule=schedule, root=root, env=env))
    return out


def _unit(root: Path, name: str) -> Optional[Path]:
    for d in UNIT_DIRS:
        if (_under(root, d) / name).is_file():
            return d / name
    return None


def _unit_settings(root: Path, unit: Path) -> dict[str, list[str]]:
    """A unit file's ``Key=value`` settings (all sections; repeated keys kept in order)."""
    out: dict[str, list[str]] = {}
    for raw in (_text(_under(root, unit)) or "").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def timer_runs(timer: Path, root: Path) -> list[Run]:
    """fetch-crl runs of the service a timer starts (Unit=, else the timer's own name)."""
    settings = _unit_settings(root, timer)
    schedule = ", ".join(f"{k}={v[-1]}" for k, v in settings.items()
                         if k.startswith("On") and v)
    service_name = (settings.get("Unit") or [timer.name[:-len(".timer")] + ".service"])[-1]
    service = (timer.parent / service_name if (_under(root, timer.parent) / service_name)
               .is_file() else _unit(root, service_name))
    if service is None:
        return []
    return service_runs(service, root, how=f"systemd timer {timer.name}", schedule=schedule)


def service_runs(service: Path, root: Path, *, how: str, schedule: str = "") -> list[Run]:
    """fetch-crl runs in a service's ExecStart lines, with its EnvironmentFile/Environment."""
    unit = _unit_settings(root, service)
    env: dict[str, str] = {}
    for name in unit.get("EnvironmentFile", []):
        env.update(assignments(_text(_under(root, Path(name.lstrip("-")))) or ""))
    for value in unit.get("Environment", []):
        env.update(assignments("\n".join(_words(value))))
    out = []
    for command in unit.get("ExecStart", []):
        out.extend(runs_in(command.lstrip("-@:+!"), source=service, how=how,
                           schedule=schedule, root=root, env=env))
    return out


def _enabled_timers(root: Path) -> tuple[list[Path], list[str]]:
    """Timers linked into a ``*.wants`` directory, and installed fetch-crl timers that are
    not (``systemctl enable`` was never run)."""
    enabled: list[Path] = []
    etc = UNIT_DIRS[0]
    for wants in _names(_under(root, etc)):
        if not wants.endswith(".wants"):
            continue
        for name in _names(_under(root, etc / wants)):  # links to units, looked up by name
            if name.endswith(".timer") and name not in {t.name for t in enabled}:
                unit = _unit(root, name)
                if unit is not None:
                    enabled.append(unit)
    names = {t.name for t in enabled}
    idle = [f"{d / n} is installed but not enabled (systemctl enable --now {n})"
            for d in UNIT_DIRS for n in ("fetch-crl.timer",)
            if n not in names and (_under(root, d) / n).is_file()]
    return enabled, idle[:1]


def survey(root: Path = Path("/"), named: Optional[Path] = None) -> Survey:
    """Every fetch-crl run this machine schedules, or only those in ``named``
    (``--mu3e-crl-updater``) when the site says where its updater is."""
    if named is not None:
        return _survey_named(named, root)
    runs: list[Run] = []
    for path in SYSTEM_CRONTABS:
        runs.extend(cron_runs(path, root))
    for d in (*SYSTEM_CRON_DIRS, *USER_CRON_DIRS):
        for f in _files(_under(root, d)):
            runs.extend(cron_runs(d / f.name, root))
    for d in SCRIPT_DIRS:
        for f in _files(_under(root, d)):
            runs.extend(cron_runs(d / f.name, root, how=f"script in {d}", script=True))
    timers, idle = _enabled_timers(root)
    for timer in timers:
        runs.extend(timer_runs(timer, root))
    looked = ("/etc/crontab", "/etc/cron.d", "/var/spool/cron", "/etc/cron.{hourly,daily,"
              "weekly,monthly}", "enabled systemd timers")
    return Survey(tuple(runs), looked, tuple(idle))


def _survey_named(named: Path, root: Path) -> Survey:
    try:
        read_bytes(named, MAX_FILE)
    except Unreadable as exc:
        return Survey(looked_in=(str(named),), problem=f"--mu3e-crl-updater: {exc}")
    if named.name.endswith(".timer"):
        runs = timer_runs(named, root)
    elif named.name.endswith(".service"):
        runs = service_runs(named, root, how=f"systemd service {named.name}, started by the "
                            "site")
    else:
        runs = cron_runs(named, root, how=f"--mu3e-crl-updater {named}")
    if not runs:
        return Survey(looked_in=(str(named),),
                      problem=f"--mu3e-crl-updater: {named} runs no fetch-crl command")
    return Survey(tuple(runs), (str(named),))


def describe(runs: Iterable[Run]) -> str:
    """'<source> (<how>, <schedule>) writes to <dir>' for each run, joined."""
    parts = []
    for r in runs:
        when = f", {r.schedule}" if r.schedule else ""
        parts.append(f"{r.source} ({r.how}{when}) writes to {r.output} ({r.output_from})")
    return "; ".join(parts)
