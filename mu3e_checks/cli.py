"""``mu3e-checks``: the diagnosis as one hermetic command, with a help that fits one screen.

``pytest --pyargs mu3e_checks`` reads the ini file and conftest of the directory it starts in;
a physicist's analysis project may well have its own.  This command pins pytest to the packaged
ini, loads exactly the plugins the diagnosis needs, and writes no ``.pytest_cache``.  Any extra
arguments go to pytest unchanged.  ``--help`` shows what a physicist needs (pytest's own help is
400 lines, the Mu3e options deep inside it); ``--help-pytest`` shows all of it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parent
WIDTH = 100

#: The pytest options a diagnosis user needs, and why each one (shown in ``--help``).
#: -x is left out on purpose: it stops at the first failure and hides every later finding.
PYTEST_OPTIONS = (
    ("-k EXPR", "run only checks whose ID or name matches, e.g. -k 'CERT or CA-003'"),
    ("-m 'not network'", "deselect every check that talks to the network"),
    ("-v", "one line per check, with its ID and verdict, instead of one dot"),
    ("--html FILE", "write the HTML report for a support ticket here, not in ./reports"),
    ("--junitxml FILE", "also write JUnit XML (each check's ID and fix as properties)"),
)


def _clip(text: str, width: int) -> str:
    """The help's first sentence, cut at a word to fit one line."""
    first = text.split(". ")[0].rstrip(".")
    if len(first) <= width:
        return first
    return first[: width - 1].rsplit(" ", 1)[0] + "…"


def short_help() -> str:
    """``mu3e-checks --help``: what it does, the Mu3e options, five pytest options (< 40 lines)."""
    from mu3e_checks import __version__
    from mu3e_checks.settings import OPTIONS

    lines = [
        f"mu3e-checks {__version__}: is this machine ready for the Mu3e DIRAC grid client?",
        "Checks the guide's steps in order (certificate, DIRACOS, DIRAC 8.0.74, CAs, CRLs, "
        "dirac.cfg,",
        "proxy, servers), prints each failure's fix, writes an HTML report. Exit code 0: ready; "
        "1: not.",
        "usage: mu3e-checks [--list] [options] | explain [--file F] [-- command] | fix "
        "[--yes|--dry-run]",
        "Mu3e options (MU3E_<NAME> in the environment sets --mu3e-<name>; the command line wins):",
    ]
    flags = [f"{opt.flag} {opt.metavar}" if opt.metavar else opt.flag for opt in OPTIONS]
    column = max(30, *(len(f) + 1 for f in flags))
    for opt, flag in zip(OPTIONS, flags):
        lines.append(f"  {flag:<{column}}" + _clip(opt.help, WIDTH - column - 3))
    lines.append("pytest options (not -x: it hides every finding after the first; all of them: "
                 "--help-pytest):")
    for flag, why in PYTEST_OPTIONS:
        lines.append(f"  {flag:<{column}}{why}")
    return "\n".join(lines)


#: pytest's built-in plugins a diagnosis never uses, left unimported (about 9% of the CPU time
#: of an offline run, measured): doctests, py.path fixtures, pastebin, --setup-only/-plan,
#: subtests, unittest classes, --stepwise, and the unraisable-/thread-exception hooks, whose
#: cleanup runs two full garbage collections at exit to find __del__ errors of a test suite.
UNUSED_BUILTINS = ("doctest", "legacypath", "pastebin", "setuponly", "setupplan", "subtests",
                   "unittest", "stepwise", "unraisableexception", "threadexception")


#: How a diagnosis prints unless the user picks a verbosity (-q, -v): the progress as one line
#: of marks, without file names (from the .pyz they are 150 characters of cache path), no
#: FAILURES block (each failure is in the summary below it, with its fix), and pytest's short
#: summary only for errors (a check module that could not load).  Later arguments override.
COMPACT = ("-q", "--tb=no", "-rE")
_VERBOSITY = re.compile(r"-[qv]+|--(quiet|verbose|verbosity(=.*)?)")


def output_args(argv: Sequence[str]) -> list[str]:
    """:data:`COMPACT`, unless ``argv`` sets the verbosity itself."""
    return [] if any(_VERBOSITY.fullmatch(a) for a in argv) else list(COMPACT)


def pytest_args(argv: Sequence[str]) -> list[str]:
    """The pytest command line the diagnosis runs with."""
    args = list(argv)
    if "--list" in args:
        args = [a if a != "--list" else "--mu3e-list" for a in args]
    unused = [x for name in UNUSED_BUILTINS for x in ("-p", f"no:{name}")]
    return [
        "-c", str(PACKAGE_DIR / "pytest.ini"),
        "--rootdir", str(PACKAGE_DIR),
        "-p", "no:cacheprovider",
        *unused,
        "-p", "mu3e_checks.plugin",
        "-p", "pytest_metadata.plugin",
        "-p", "pytest_html.plugin",
        "--confcutdir", str(PACKAGE_DIR),
        # The package path rather than --pyargs: with --pyargs pytest also loads a conftest.py
        # from the current directory, which is the user's, not ours.
        str(PACKAGE_DIR / "checks"),
        *args,
    ]


def run_user_command(argv: Sequence[str]) -> tuple[int, str]:
    """``mu3e-checks explain -- <command>``: run the user's own DIRAC command, show its output as
    it would be shown, and keep a copy.  The only process this package ever starts, and only
    here, in the command line: the diagnosis itself (every check, the reports) only reads."""
    import subprocess

    try:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
    except OSError as exc:
        text = f"{argv[0]}: command not found ({exc.strerror})"
        print(text)
        return 127, text
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    return proc.returncode, proc.stdout


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``mu3e-checks`` console script."""
    from mu3e_checks.plugin import spare_collector

    spare_collector()
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    if argv[:1] == ["explain"]:
        from mu3e_checks import explain

        return explain.main(argv[1:], pytest_args, run_user_command)
    if argv[:1] == ["fix"]:
        from mu3e_checks import repair

        return repair.main(argv[1:], pytest_args)
    if "-h" in argv or "--help" in argv:
        print(short_help())
        return 0
    if "--help-pytest" in argv:
        argv = [a if a != "--help-pytest" else "--help" for a in argv]
    from mu3e_checks.plugin import run_in_process

    return run_in_process(pytest_args([*output_args(argv), *argv]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
