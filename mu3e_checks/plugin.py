"""The pytest plugin (``pytest11`` entry point) that turns the check modules into a diagnosis.

It is loaded into every pytest run on the machine, so it does nothing unless the run targets
``mu3e_checks`` itself: other projects' test sessions only see the ``--mu3e-*`` options and the
``network`` marker.  Heavy imports (cryptography, OpenSSL, DNS) happen in the check modules and
knowledge functions, never here, so the plugin costs other projects next to nothing.
PYTEST_DONT_REWRITE: nothing here asserts; not rewriting it keeps the plugin cheap to load
in every pytest run on the machine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import pytest

from mu3e_checks import outputs
from mu3e_checks.settings import OPTIONS, Settings, SettingsError, resolve

if TYPE_CHECKING:  # the run hooks are imported only when a diagnosis runs
    from mu3e_checks.run import DiagnosisRun

PACKAGE_DIR = Path(__file__).resolve().parent
RUN_KEY = pytest.StashKey["DiagnosisRun"]()


def active_run(config: pytest.Config) -> Optional[DiagnosisRun]:
    """The diagnosis run, or None when this pytest session is not a mu3e diagnosis."""
    return config.stash.get(RUN_KEY, None)


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mu3e", "Mu3e DIRAC client diagnosis")
    for opt in OPTIONS:
        env = f" [env: {opt.env}]" if opt.env else ""
        if opt.kind == "bool":
            group.addoption(opt.flag, action="store_true", dest=opt.dest, default=None,
                            help=opt.help + env)
        elif opt.kind == "list":
            group.addoption(opt.flag, action="append", dest=opt.dest, default=None,
                            metavar=opt.metavar, help=opt.help + env)
        else:
            group.addoption(opt.flag, action="store", dest=opt.dest, default=None,
                            metavar=opt.metavar, help=opt.help + env)


def _targets_us(config: pytest.Config) -> bool:
    """True when the run's arguments point at the mu3e_checks package (module or path)."""
    for arg in config.args:
        base = str(arg).split("::", 1)[0]
        if config.option.pyargs and base.split(".", 1)[0] == "mu3e_checks":
            return True
        try:
            path = Path(base).resolve()
        except (OSError, RuntimeError):
            continue
        if path == PACKAGE_DIR or PACKAGE_DIR in path.parents:
            return True
    return False


#: The cyclic garbage collector's first-generation threshold in a diagnosis (CPython's is 700):
#: importing pytest, cryptography and the checks allocates some hundred thousand objects that
#: live until the process ends, and at 700 the collector walks them about 140 times, about 4%
#: of an offline run (benchmarks/bench_diagnosis.py).  The run is short and its inputs are
#: bounded, so the little cyclic garbage it makes can wait for a rarer collection.
GC_THRESHOLD = (100_000, 50, 100)


def spare_collector() -> None:
    """Raise the collector's thresholds for this process (see :data:`GC_THRESHOLD`); called
    first thing by ``mu3e-checks``, and here when a pytest run targets the checks."""
    import gc

    if gc.get_threshold()[0] < GC_THRESHOLD[0]:
        gc.set_threshold(*GC_THRESHOLD)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Optional[int]:
    if _targets_us(config):  # before any pytest_configure: pytest-metadata's (also tryfirst)
        from mu3e_checks.knowledge.host import pin_platform_uname  # asks platform.platform()

        spare_collector()
        pin_platform_uname()  # so no `uname` from PATH ever runs inside the diagnosis
    if config.getoption("mu3e_list", None):
        from mu3e_checks.listing import print_checks

        print_checks()
        return 0
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "network: the check talks to the network (deselect with -m 'not network')")
    if not _targets_us(config):
        return
    cli = {opt.dest: config.getoption(opt.dest, None) for opt in OPTIONS}
    try:
        values = resolve(cli, os.environ)
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    _plain_imports(config)
    from mu3e_checks.run import DiagnosisRun

    run = DiagnosisRun(config, Settings.build(values, os.environ))
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(run, "mu3e-diagnosis")
    run.note_foreign()
    if hasattr(config, "workerinput"):
        return
    # Every report's directory is judged before anything is created in any of them.
    junit, html = _junit_target(config), _html_target(config, run)
    if html is not None:
        run.html_path, run.html_staging = html, _staging(html, "--html")
        config.option.htmlpath = str(run.html_staging)
        config.option.self_contained_html = True
    if junit is not None:
        # pytest's junitxml reads the option in its own pytest_configure, after this one
        # (tryfirst): it writes into our staging directory, and the run publishes the file.
        run.junit_path, run.junit_staging = junit, _staging(junit, "--junitxml")
        config.option.xmlpath = str(run.junit_staging)


def _plain_imports(config: pytest.Config) -> None:
    """Take pytest's assertion-rewriting importer out of a diagnosis run: it has no assert to
    rewrite (checks state verdicts with fail()/warn(), see checks/__init__.py), yet pytest
    routes every module of a plugin's distribution through that importer, which reads and
    hashes each source again and unmarshals its code one object at a time: about 8% of an
    offline ``pytest --pyargs mu3e_checks`` run (benchmarks/bench_diagnosis.py), and on a
    read-only installation a parse and compile of every module on every run.  Without it the
    run imports as ``--assert=plain`` would; pytest's own cleanup copes with its absence."""
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    if hook is not None and hook in sys.meta_path:
        sys.meta_path.remove(hook)


def _staging(final: Path, what: str) -> Path:
    """Where another program (pytest-html, pytest's junitxml) writes a report of ours by name,
    following any link there: a fresh private directory beside ``final``.  The finished file
    is then published into place (:func:`mu3e_checks.outputs.publish`), mode 600."""
    try:
        return outputs.staging_directory(final.parent) / final.name
    except OSError as exc:
        raise pytest.UsageError(f"{what}: cannot write into {final.parent}: "
                                f"{exc.strerror or exc}") from None


def _safe_directory(final: Path, what: str) -> Path:
    try:
        outputs.ensure_directory(final.parent)
    except outputs.OutputError as exc:
        raise pytest.UsageError(f"{what}: cannot write the report safely: {exc}") from None
    return final


def _html_target(config: pytest.Config, run: DiagnosisRun) -> Optional[Path]:
    """The HTML report: ``--html``'s path, or ./reports (a private dir when that is unsafe)."""
    if getattr(config.option, "htmlpath", "missing") is None:
        directory = _default_report_dir()
        stem = f"mu3e-diagnosis-{run.started.strftime('%Y%m%d-%H%M%S')}"
        return directory / outputs.unused_name(directory, stem, ".html")
    if getattr(config.option, "htmlpath", None):
        return _safe_directory(outputs.absolute(config.option.htmlpath), "--html")
    return None


def _junit_target(config: pytest.Config) -> Optional[Path]:
    """``--junitxml``'s path (as pytest expands it), in a directory no other account can
    plant a link in."""
    given = getattr(config.option, "xmlpath", None)
    if not given:
        return None
    final = outputs.absolute(os.path.expanduser(os.path.expandvars(str(given))))
    return _safe_directory(final, "--junitxml")


def _default_report_dir() -> Path:
    """``./reports``, or a private temp dir when the current directory cannot take it safely
    (read-only, a link, or writable by other accounts: a physicist may start anywhere)."""
    from mu3e_checks.knowledge.host import login_name

    for candidate in (Path.cwd() / "reports", outputs.private_report_dir(login_name())):
        try:
            return outputs.ensure_directory(candidate)
        except outputs.OutputError:
            continue
    import tempfile

    return Path(tempfile.mkdtemp(prefix="mu3e-checks-"))


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict, config: pytest.Config) -> None:
    """pytest-metadata's table (packages, plugins, CI variables) is not what support needs,
    and a diagnosis report has its own environment table, rendered from the run's facts:
    left empty for a diagnosis, through pytest-metadata's own hook for changing it."""
    if _targets_us(config):
        metadata.clear()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The hooks a subcommand implements to add its section to a run's report."""
    from mu3e_checks import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """Leave check modules none of whose checks are selected unimported (mu3e_checks.prune)."""
    run = active_run(config)
    if run is None or collection_path.parent != PACKAGE_DIR / "checks":
        return None
    from mu3e_checks.prune import can_skip

    return True if can_skip(collection_path, run.settings.select, run.settings.ignore) else None


#: Builds the pytest command line of a diagnosis from the user's arguments (:func:`pytest_args`;
#: the subcommands take it as a parameter, so tests can give their own).
ArgsBuilder = Callable[[Sequence[str]], list[str]]


def run_in_process(args: list[str], plugins: Sequence[object] = ()) -> int:
    """Run a diagnosis in this process, as the hermetic command does: other installed pytest
    plugins must not change it, so only the ones ``args`` names load.  ``plugins`` are handed
    to pytest (explain's and fix's carriers of their report sections)."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(args, plugins=list(plugins)))
