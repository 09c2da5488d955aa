"""``mu3e-checks``: the diagnosis as one hermetic command.

``pytest --pyargs mu3e_checks`` reads the ini file and conftest of the directory it starts in;
a physicist's analysis project may well have its own.  This command pins pytest to the packaged
ini, loads exactly the plugins the diagnosis needs, and writes no ``.pytest_cache``.  Any extra
arguments go to pytest unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent


def pytest_args(argv: Sequence[str]) -> list[str]:
    """The pytest command line the diagnosis runs with."""
    args = list(argv)
    if "--list" in args:
        args = [a if a != "--list" else "--mu3e-list" for a in args]
    return [
        "-c", str(PACKAGE_DIR / "pytest.ini"),
        "--rootdir", str(PACKAGE_DIR),
        "-p", "no:cacheprovider",
        "-p", "mu3e_checks.plugin",
        "-p", "pytest_metadata.plugin",
        "-p", "pytest_html.plugin",
        "--confcutdir", str(PACKAGE_DIR),
        # The package path rather than --pyargs: with --pyargs pytest also loads a conftest.py
        # from the current directory, which is the user's, not ours.
        str(PACKAGE_DIR / "checks"),
        *args,
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``mu3e-checks`` console script."""
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\nUsage: mu3e-checks [--list] [pytest options] [--mu3e-* options]\n")
    # Other installed pytest plugins must not change the diagnosis; load ours explicitly.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(pytest_args(argv)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
