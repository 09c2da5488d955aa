"""The CPython interpreters the claimed versions are tested with, found the same way everywhere.

pyproject.toml's ``Programming Language :: Python :: 3.X`` classifiers are the versions
mu3e-checks claims; .ci/run tests the oldest in a venv of its own and the .pyz tests run under
each.  An interpreter is taken from ``$MU3E_PYTHON_3_X`` (a path), else the newest pyenv build of
that version (``$PYENV_ROOT``, default ~/.pyenv), else ``python3.X`` on PATH.

``python -m tests.support.pythons 3.9`` (or ``oldest``: the oldest claimed) prints the path, or
says what is missing and exits 1 (.ci/run calls it, so CI and the tests agree on the
interpreter and CI fails loudly).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from tests.support.runner import ROOT


def claimed_versions() -> list[str]:
    """The '3.X' versions pyproject.toml claims, oldest first."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def _patch(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.parent.name))


def find_python(version: str) -> Optional[Path]:
    """A working CPython ``version`` ('3.9'), or None."""
    env = os.environ.get(f"MU3E_PYTHON_{version.replace('.', '_')}")
    candidates: list[Path] = [Path(env)] if env else []
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted(pyenv.glob(f"{version}.*/bin/python{version}"), key=_patch,
                         reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        try:
            out = subprocess.run([str(c), "-c", "import sys, ssl, venv; "
                                  "print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=60)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return c
    return None


def missing_message(version: str) -> str:
    return (f"no CPython {version} (with ssl and venv) found: set MU3E_PYTHON_"
            f"{version.replace('.', '_')} to its path, or install it with "
            f"'pyenv install {version}'")


if __name__ == "__main__":
    wanted = sys.argv[1] if len(sys.argv) > 1 else "oldest"
    if wanted == "oldest":
        wanted = claimed_versions()[0]
    found = find_python(wanted)
    if found is None:
        print(missing_message(wanted), file=sys.stderr)
        sys.exit(1)
    print(found)
