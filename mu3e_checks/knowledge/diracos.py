"""DIRACOS and the DIRAC client in it: the prefix, its activation, the DIRAC version, commands.

The guide installs DIRACOS2 into ``~/dirac_ui/diracos``, activates it with ``source
<prefix>/diracosrc`` and then runs ``pip install DIRAC==8.0.74`` *inside* it.  Most ways this goes
wrong are invisible until a command fails with an unrelated-looking error: the shell was never
activated (the system's tools run instead), ``pip install DIRAC`` pulled v9, a user-site install
shadows the DIRACOS one, or setuptools >= 82 took ``pkg_resources`` away.  Everything here is read
from the tree and the run's environment; nothing is imported or executed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from packaging.version import Version

from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.dirac_cfg import computed_root
from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.knowledge.interpreter import (
    Interpreter,
    Shebang,
    inspect_interpreter,
    read_shebang,
    site_packages,
    user_site_enabled,
)
from mu3e_checks.knowledge.pydists import Dist, dedupe_dirs, find_dists

#: setuptools 82 removed ``pkg_resources``, which DIRAC 8 imports at startup.
SETUPTOOLS_WITHOUT_PKG_RESOURCES = Version("82")
#: The commands the guide runs after installing DIRAC (console scripts of the DIRAC dist).
DIRAC_COMMANDS = ("dirac-proxy-init", "dirac-configure", "dirac-proxy-info")
#: ``dirac-proxy-init -M`` shells out to this one; DIRACOS ships it.
VOMS_PROXY_INIT = "voms-proxy-init"

# ---------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class DiracosTree:
    """What is at the DIRACOS prefix, read without running anything in it."""

    prefix: Path
    source: str  # where the prefix came from: --mu3e-diracos, $DIRACOS, guide default
    is_dir: bool
    has_diracosrc: bool
    version: Optional[str] = None  # "2.49" from .diracos_version
    version_line: Optional[str] = None
    version_problem: Optional[str] = None
    python_version: Optional[str] = None  # the Python DIRACOS ships, e.g. "3.11.7"
    python_source: str = ""
    site_packages: tuple[Path, ...] = ()

    @property
    def diracosrc(self) -> Path:
        return self.prefix / "diracosrc"

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"

    @property
    def present(self) -> bool:
        return self.is_dir and self.has_diracosrc

    @property
    def legacy(self) -> bool:
        """``.diracos_version`` names the old DIRACOS 1 ("DIRACOS <version>"), not DIRACOS2."""
        return bool(self.version_line and re.fullmatch(r"DIRACOS\s+\S+", self.version_line))


def read_diracos_version(prefix: Path) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """``(version, line, problem)`` from ``<prefix>/.diracos_version``.

    DIRACOS2's installer writes ``DIRACOS2 <version>`` there once, at install time
    (create_diracosrc.sh, its post-install step); sourcing diracosrc does not touch it, and
    neither DIRAC nor diracosrc reads it.  So it only names the release for the report.
    """
    path = prefix / ".diracos_version"
    try:
        text = read_bytes(path, limit=4096).decode("utf-8", "replace").strip()
    except Unreadable as exc:
        return None, None, str(exc)
    line = text.splitlines()[0].strip() if text else ""
    m = re.fullmatch(r"DIRACOS(2?)\s+(\S+)", line)
    if not m:
        return None, line or None, (f"{path} holds {line[:80]!r}, not 'DIRACOS2 <version>'"
                                    if line else f"{path} is empty")
    if m.group(1) != "2":
        return m.group(2), line, (f"{path} says {line!r}: this is the legacy DIRACOS 1, the "
                                  "guide installs DIRACOS2")
    return m.group(2), line, None


_CONDA_PYTHON = re.compile(r"^python-(\d+\.\d+(?:\.\d+)?)-[^-]+\.json$")
_LIB_PYTHON = re.compile(r"^python(\d+\.\d+)$")


def _sorted_versions(versions: Sequence[str]) -> list[str]:
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def diracos_python(prefix: Path) -> tuple[Optional[str], str]:
    """The Python version DIRACOS runs DIRAC under, and how it was found.

    DIRACOS2 is a conda environment: ``conda-meta/python-<X.Y.Z>-<build>.json`` names the exact
    interpreter.  Without it, ``lib/pythonX.Y/`` gives the minor version.  Reading the tree avoids
    running a binary that may be broken (wrong libcrypto, other architecture).
    """
    found: list[str] = []
    try:
        found = [m.group(1) for e in os.scandir(prefix / "conda-meta")
                 if (m := _CONDA_PYTHON.match(e.name))]
    except OSError:
        pass
    if found:
        version = _sorted_versions(found)[-1]
        return version, f"conda-meta/python-{version}-*.json"
    libs = _lib_pythons(prefix)
    if libs:
        return libs[-1], f"lib/python{libs[-1]}"
    return None, "no conda-meta/python-*.json and no lib/python3.* in the prefix"


def _lib_pythons(prefix: Path) -> list[str]:
    try:
        return _sorted_versions([m.group(1) for e in os.scandir(prefix / "lib")
                                 if (m := _LIB_PYTHON.match(e.name)) and _fs.is_dir(e)])
    except OSError:
        return []


def _minor(version: Optional[str]) -> Optional[str]:
    return ".".join(version.split(".")[:2]) if version else None


def inspect_diracos(prefix: Path, source: str) -> DiracosTree:
    """Everything the checks need to know about the DIRACOS prefix; never raises."""
    is_dir = _fs.is_dir(prefix)
    has_rc = _fs.is_file(prefix / "diracosrc")
    version, line, problem = read_diracos_version(prefix) if is_dir else (None, None, None)
    py, py_source = diracos_python(prefix) if is_dir else (None, "")
    minor = _minor(py)
    libs = [minor] if minor and _fs.is_dir(prefix / "lib" / f"python{minor}") else _lib_pythons(
        prefix)
    sites = tuple(prefix / "lib" / f"python{v}" / "site-packages" for v in reversed(libs))
    return DiracosTree(prefix, source, is_dir, has_rc, version, line, problem, py, py_source,
                       tuple(s for s in sites if _fs.is_dir(s)))


# ---------------------------------------------------------------------------------- activation


def _inside(path: str, prefix: Path) -> bool:
    try:
        real = os.path.realpath(path)
        root = os.path.realpath(prefix)
        return os.path.commonpath([real, root]) == root
    except ValueError:
        return False


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same place (after ``~``, symlinks and trailing slashes)."""
    return os.path.realpath(os.path.expanduser(str(a))) == os.path.realpath(
        os.path.expanduser(str(b)))


#: The operating system's own command directories.  A Python installed there (``/usr/bin/python3``)
#: is not an environment the user activated, so its directory is never excused (see below).
_SYSTEM_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


def interpreter_bin_dirs(prefix: Optional[str] = None,
                         executable: Optional[str] = None) -> tuple[Path, ...]:
    """The bin directories of the Python running this diagnosis: ``<sys.prefix>/bin`` and the
    directory of ``sys.executable`` (a venv or pipx env the tool is installed in).

    A user who sources diracosrc and then activates the venv that holds mu3e-checks has that
    venv's bin first on PATH; that is how the tool is run, not a broken DIRACOS activation.  The
    system's own directories are left out: ``/usr/bin`` ahead of DIRACOS is the real failure.
    Reads ``sys`` only (defaults), runs nothing.
    """
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    dirs = [Path(prefix) / "bin"] + ([Path(executable).parent] if executable else [])
    system = {os.path.realpath(d) for d in _SYSTEM_BIN_DIRS}
    out: list[Path] = []
    for d in dirs:
        if os.path.realpath(d) not in system and not any(same_path(d, o) for o in out):
            out.append(d)
    return tuple(out)


def entries_before_bin(environ: Mapping[str, str], prefix: Path) -> Optional[list[str]]:
    """The PATH entries outside ``prefix`` that come before ``<prefix>/bin``, in PATH order;
    None when ``<prefix>/bin`` is not on PATH at all."""
    bin_dir = prefix / "bin"
    entries = [p for p in environ.get("PATH", "").split(os.pathsep) if p]
    for i, entry in enumerate(entries):
        if same_path(entry, bin_dir):
            return [e for e in entries[:i] if not _inside(e, prefix)]
    return None


def activation_problem(environ: Mapping[str, str], prefix: Path,
                       ignore: Sequence[Path] = ()) -> Optional[str]:
    """Why this shell does not have DIRACOS at ``prefix`` active, or None.

    Active means what ``source diracosrc`` leaves behind: ``$DIRACOS`` is the prefix and
    ``<prefix>/bin`` is on PATH ahead of every directory outside the prefix (DIRACOS's own
    ``condabin`` may come first).  Otherwise ``python``, ``pip``, ``openssl`` and
    ``voms-proxy-init`` are the system's, and ``pip install DIRAC`` lands in the wrong Python.
    Directories in ``ignore`` (the diagnosing Python's own, :func:`interpreter_bin_dirs`) may
    come first without counting against the activation.
    """
    value = environ.get("DIRACOS")
    if not value:
        return "DIRACOS is not set in this shell: the DIRACOS environment is not active"
    if not same_path(value, prefix):
        return (f"DIRACOS is {value} in this shell, not {prefix}: another installation is "
                "active")
    bin_dir = prefix / "bin"
    before = entries_before_bin(environ, prefix)
    if before is None:
        return f"DIRACOS is set, but {bin_dir} is not on PATH"
    before = [e for e in before if not any(same_path(e, d) for d in ignore)]
    if before:
        return (f"{bin_dir} is on PATH, but after {', '.join(before[:3])}: commands there "
                "win over DIRACOS's own")
    return None


@dataclass(frozen=True)
class CommandOrigin:
    """Where a command resolves on the run's PATH."""

    name: str
    path: Optional[Path]  # as found on PATH (not resolved), None when absent
    in_prefix: bool

    def describe(self) -> str:
        if self.path is None:
            return f"{self.name} is not on PATH"
        real = os.path.realpath(self.path)
        extra = f" (-> {real})" if real != str(self.path) else ""
        return f"{self.name} is {self.path}{extra}"


def which(command: str, environ: Mapping[str, str]) -> Optional[Path]:
    """``command`` on the run's PATH (not this process's), executable; None when absent."""
    found = shutil.which(command, path=environ.get("PATH", ""))
    return Path(found) if found else None


def command_origin(command: str, environ: Mapping[str, str], prefix: Path) -> CommandOrigin:
    """Where ``command`` comes from; ``in_prefix`` compares the PATH directory, not the target,
    so DIRACOS's symlinked tools count as DIRACOS's."""
    path = which(command, environ)
    return CommandOrigin(command, path, bool(path) and _inside(str(path.parent), prefix))


# ---------------------------------------------------------------------------------- DIRAC


@dataclass(frozen=True)
class SiteDir:
    path: Path
    label: str  # "DIRACOS", "user site", "$PYTHONPATH", "the Python running these checks"


@dataclass(frozen=True)
class DiracRunner:
    """The Python the user's ``dirac-*`` commands run under, read from the first one on PATH.

    pip writes the interpreter of the environment it installs into on each console script's
    ``#!`` line, so the script says which Python, hence which ``sys.base_prefix`` and which
    DIRAC root, every command of that installation uses.
    """

    command: Path  # the dirac-* command PATH finds (not resolved)
    shebang: Shebang
    interpreter: Optional[Interpreter]  # None when the #! line names no usable Python
    in_diracos: bool  # the command or its interpreter lies in the DIRACOS tree

    @property
    def problem(self) -> Optional[str]:
        """Why the command cannot start, or why its Python's prefix is a guess."""
        if self.shebang.problem:
            return self.shebang.problem
        return self.interpreter.problem if self.interpreter is not None else None


def dirac_runner(tree: DiracosTree, environ: Mapping[str, str]) -> Optional[DiracRunner]:
    """Which Python runs DIRAC in this shell: that of the first of :data:`DIRAC_COMMANDS` on
    the run's PATH; None when none is on PATH.  Reads the script, runs nothing."""
    for name in DIRAC_COMMANDS:
        path = which(name, environ)
        if path is not None:
            break
    else:
        return None
    if tree.is_dir and _inside(str(path.parent), tree.prefix):
        return DiracRunner(path, Shebang(None), None, True)
    shebang = read_shebang(path, environ)
    if shebang.interpreter is None:
        return DiracRunner(path, shebang, None, False)
    if tree.is_dir and _inside(str(shebang.interpreter.parent), tree.prefix):
        return DiracRunner(path, shebang, None, True)
    interp = inspect_interpreter(shebang.interpreter, environ,
                                 ignore_environment=shebang.ignores_environment)
    return DiracRunner(path, shebang, interp, False)


@dataclass(frozen=True)
class DiracInstall:
    """The DIRAC distributions DIRAC's Python would see, the first being the one it imports."""

    visible: tuple[Dist, ...]
    elsewhere: tuple[Dist, ...]  # DIRAC dists of the checker's own Python, not on DIRAC's path
    python: str  # which interpreter: "DIRACOS", a venv or Python named, or the running one
    python_version: Optional[str]
    python_prefix: Path  # its sys.base_prefix: DIRAC's default rootPath
    search_path: tuple[SiteDir, ...]
    setuptools: Optional[Dist]
    labels: Mapping[str, str] = field(default_factory=dict)
    #: The first dirac-* command on PATH and the Python it names; None when none is on PATH.
    runner: Optional[DiracRunner] = None
    #: Why python_prefix is DIRAC's root, in a sentence for the report.
    root_reason: str = "sys.base_prefix of DIRAC's Python"

    @property
    def in_use(self) -> Optional[Dist]:
        return self.visible[0] if self.visible else None

    @property
    def outside_diracos(self) -> Optional[Interpreter]:
        """The Python that runs DIRAC when it is not DIRACOS's (read from a command on PATH)."""
        return self.runner.interpreter if self.runner is not None else None

    def label(self, dist: Dist) -> str:
        return self.labels.get(os.path.realpath(dist.site), "the Python running these checks")

    def where(self, dist: Dist) -> str:
        return f"{dist.meta} ({self.label(dist)})"


def user_site(home: Path, environ: Mapping[str, str], minor: Optional[str]) -> list[Path]:
    """The user site-packages Python adds ahead of its own (``pip install --user`` lands there).

    Python computes it from ``$PYTHONUSERBASE`` or ``~/.local``; ``$PYTHONNOUSERSITE`` turns it off.
    """
    if environ.get("PYTHONNOUSERSITE"):
        return []
    base = Path(environ.get("PYTHONUSERBASE") or home / ".local")
    if minor:
        return [base / "lib" / f"python{minor}" / "site-packages"]
    return [base / "lib" / f"python{v}" / "site-packages" for v in reversed(_lib_pythons(base))]


def diracos_search_path(tree: DiracosTree, environ: Mapping[str, str],
                        home: Path) -> list[SiteDir]:
    """Where DIRACOS's Python looks for DIRAC, in import order: ``$PYTHONPATH``, the user site,
    then DIRACOS's site-packages."""
    dirs = [SiteDir(Path(p), "$PYTHONPATH")
            for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    dirs += [SiteDir(p, "user site") for p in user_site(home, environ,
                                                       _minor(tree.python_version))]
    dirs += [SiteDir(p, "DIRACOS") for p in tree.site_packages]
    return dirs


def running_search_path(label: str = "the Python running these checks") -> list[SiteDir]:
    """The checker's own ``sys.path`` directories."""
    return [SiteDir(Path(p), label) for p in sys.path if p and os.path.isdir(p)]


def _unique(dirs: Sequence[SiteDir]) -> list[SiteDir]:
    keep = {str(p) for p in dedupe_dirs([d.path for d in dirs])}
    seen: set[str] = set()
    out = []
    for d in dirs:
        if str(d.path) in keep and str(d.path) not in seen:
            seen.add(str(d.path))
            out.append(d)
    return out


def runner_search_path(runner: DiracRunner, environ: Mapping[str, str],
                       home: Path) -> list[SiteDir]:
    """Where the Python of a ``dirac-*`` command outside DIRACOS looks for DIRAC, in import
    order: ``$PYTHONPATH`` (unless ``-E``), the user site (not in a venv of its own), then its
    site directories."""
    interp = runner.interpreter
    assert interp is not None
    ignore_env = runner.shebang.ignores_environment
    label = f"venv at {interp.prefix}" if interp.venv else f"Python at {interp.prefix}"
    dirs = [] if ignore_env else [SiteDir(Path(p), "$PYTHONPATH")
                                  for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if user_site_enabled(interp, environ, runner.shebang):
        dirs += [SiteDir(p, "user site") for p in user_site(home, environ, interp.minor)]
    dirs += [SiteDir(p, label) for p in site_packages(interp)]
    return dirs


def _runner_reason(runner: DiracRunner) -> str:
    interp = runner.interpreter
    assert interp is not None
    if interp.venv:
        return (f"sys.base_prefix of {interp.executable}, the Python {runner.command.name} runs "
                f"under: a venv, whose base prefix is the Python it was made from "
                f"({interp.how}), not the venv {interp.prefix}")
    return (f"sys.base_prefix of {interp.executable}, the Python {runner.command.name} runs "
            f"under ({interp.how})")


def find_dirac(tree: DiracosTree, environ: Mapping[str, str], home: Path,
               running: Optional[Sequence[SiteDir]] = None,
               running_version: Optional[str] = None,
               running_prefix: Optional[Path] = None) -> DiracInstall:
    """The DIRAC installations that matter for this user, under the Python that runs DIRAC.

    That Python is the one the ``dirac-*`` commands on PATH name on their ``#!`` line: when it
    is not DIRACOS's (a plain venv), its search path decides, and its ``sys.base_prefix`` is
    DIRAC's root.  Without such a command: with a DIRACOS tree, DIRACOS's Python; without one,
    the checker's Python.  DIRAC dists of the checker's own Python are listed separately.
    """
    running = list(running if running is not None else running_search_path())
    running_version = running_version or ".".join(str(v) for v in sys.version_info[:3])
    running_prefix = running_prefix or Path(sys.base_prefix)
    runner = dirac_runner(tree, environ)
    outside = runner if runner is not None and runner.interpreter is not None \
        and not runner.in_diracos else None
    if outside is not None:
        interp = outside.interpreter
        path = _unique(runner_search_path(outside, environ, home))
        python = f"{interp.executable} ({interp.describe()})"
        version, prefix, reason = interp.version, interp.base_prefix, _runner_reason(outside)
    elif tree.is_dir:
        path = _unique(diracos_search_path(tree, environ, home))
        python, version, prefix = "DIRACOS", tree.python_version, tree.prefix
        reason = "sys.base_prefix of DIRACOS's Python: the DIRACOS folder"
    else:
        path = _unique(running)
        python, version, prefix = "the Python running these checks", running_version, \
            running_prefix
        reason = "sys.base_prefix of the Python running these checks"
    labels = {os.path.realpath(d.path): d.label for d in path}
    visible = find_dists([d.path for d in path], "DIRAC")
    if outside is None and not tree.is_dir and not visible:
        prefix = tree.prefix  # nothing installed yet: DIRAC will live in the guide's DIRACOS
        reason = "the guide's DIRACOS folder (no DIRAC is installed yet)"
    metas = {os.path.realpath(d.meta) for d in visible}
    elsewhere = [d for d in find_dists([d.path for d in _unique(running)], "DIRAC")
                 if os.path.realpath(d.meta) not in metas]
    tools = find_dists([d.path for d in path], "setuptools")
    return DiracInstall(tuple(visible), tuple(elsewhere), python, version, prefix, tuple(path),
                        tools[0] if tools else None, labels, runner, reason)


def preferred(install: DiracInstall) -> Optional[Dist]:
    """The installation to keep: DIRACOS's own if there is one, else the one imported."""
    own = [d for d in install.visible if install.label(d) == "DIRACOS"]
    return own[0] if own else install.in_use


def setuptools_problem(dirac: Dist, setuptools: Optional[Dist]) -> Optional[str]:
    """Why ``import DIRAC`` (v8) would break on ``pkg_resources``, or None.

    DIRAC 8 imports ``pkg_resources``; setuptools 82 removed it, and without setuptools there is
    none at all.  DIRACOS2 pins ``setuptools<82`` for this reason, but a later ``pip install -U``
    undoes the pin.
    """
    dv = dirac.parsed_version
    if dv is None or dv.major != 8:
        return None
    if setuptools is None:
        return ("setuptools is not installed where DIRAC is, so 'import DIRAC' fails: "
                "DIRAC 8 imports pkg_resources, which comes with setuptools")
    sv = setuptools.parsed_version
    if sv is not None and sv >= SETUPTOOLS_WITHOUT_PKG_RESOURCES:
        return (f"setuptools {setuptools.version} ({setuptools.site}) has no pkg_resources any "
                f"more (removed in 82), and DIRAC {dirac.version} imports it: every dirac-* "
                "command fails with ImportError")
    return None


# ---------------------------------------------------------------------------------- DIRAC's root


def can_create(path: Path) -> bool:
    """Whether this user could create ``path`` (its nearest existing ancestor is writable)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return os.access(candidate, os.W_OK | os.X_OK)
    return False


def unread_cfgs(install: DiracInstall, tree: DiracosTree, read: Path) -> list[Path]:
    """dirac.cfg files a user may believe DIRAC reads, that exist and are not ``read`` (DIRAC's
    own): DIRACOS's, and the venv's ``etc/dirac.cfg`` when DIRAC runs from a venv (whose
    rootPath is the base Python's, not the venv)."""
    out = [tree.prefix / "etc" / "dirac.cfg"] if tree.is_dir else []
    interp = install.outside_diracos
    if interp is not None:
        out.append(interp.prefix / "etc" / "dirac.cfg")
    kept: list[Path] = []
    for p in out:
        if _fs.is_file(p) and not same_path(p, read) and not any(same_path(p, k) for k in kept):
            kept.append(p)
    return kept


def own_root(install: DiracInstall, tree: DiracosTree, environ: Mapping[str, str]) -> Path:
    """The root the guide's files belong under (CAs, vomses, dirac.cfg): the DIRACOS folder when
    DIRAC runs in DIRACOS; for DIRAC in a plain venv, the root :func:`configure_where_read` gives
    it (an absolute ``$DIRAC_ROOT_PATH``, else the venv itself), where dirac-configure puts
    them; for another Python, its own root."""
    interp = install.outside_diracos
    if interp is None:
        return tree.prefix
    value = environ.get("DIRAC_ROOT_PATH")
    if value and os.path.isabs(value):
        return Path(value)
    return interp.prefix if interp.venv else computed_root(interp.base_prefix)


def runner_cannot_start(install: DiracInstall) -> Optional[str]:
    """Why the dirac-* commands on PATH cannot start at all, or None: the Python their ``#!``
    line names is gone (a venv whose base Python was removed or upgraded away)."""
    runner = install.runner
    interp = runner.interpreter if runner is not None else None
    if runner is None or interp is None or not interp.missing:
        return None
    return (f"{runner.command} runs under {runner.shebang.interpreter} (its #! line), and "
            f"{interp.problem}: every dirac-* command there stops with 'bad interpreter: No "
            "such file or directory'")
