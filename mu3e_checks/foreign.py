"""Finds pytest configuration that is not ours but bends a diagnosis run started with pytest.

``pytest --pyargs mu3e_checks`` reads the inifile and conftest.py of the directory it starts in
and ``PYTEST_ADDOPTS``; a physicist's analysis project may hold ``addopts = -x`` (the run stops
at the first failure and most checks never run) or ``--tb=no``.  Nothing in pytest's own output
says why.  These records let the summary name the file and the options it added, and recommend
``mu3e-checks``, which pins pytest to the packaged ini.
"""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_INI = PACKAGE_DIR / "pytest.ini"

#: Ini keys besides addopts that change which checks are collected or how they run.
BENDING_KEYS = ("python_files", "python_functions", "python_classes", "testpaths",
                "norecursedirs", "required_plugins", "usefixtures", "filterwarnings",
                "xfail_strict", "timeout", "log_cli")


@dataclass(frozen=True)
class ForeignConfig:
    """One piece of pytest configuration from outside the package that applied to the run.

    ``source`` is a file path, or ``PYTEST_ADDOPTS`` for the environment variable; ``kind`` is
    ``inifile``, ``environment`` or ``conftest``; ``options`` are what it added (addopts tokens
    and ``key = value`` for other ini settings that bend the run; empty for a conftest.py, whose
    hooks and fixtures cannot be listed as options).
    """

    source: str
    kind: str
    options: tuple[str, ...] = ()

    def describe(self) -> str:
        """``/x/pytest.ini (-x --tb=no)``: the file and what it added, for one summary line."""
        return f"{self.source} ({' '.join(self.options)})" if self.options else self.source


def _split(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError:
            return (value,)
    return tuple(str(v) for v in value)


def find_foreign(inipath: Optional[Path], ini_values: Mapping[str, Any],
                 environ: Mapping[str, str], conftests: Iterable[Path],
                 package_dir: Path = PACKAGE_DIR,
                 own: Iterable[Path] = ()) -> list[ForeignConfig]:
    """Every configuration source of the run that is not the packaged ini or inside the package.

    ``ini_values`` holds the inifile's raw values (``addopts`` and any of :data:`BENDING_KEYS`
    it sets); ``conftests`` the files of the conftest.py modules pytest loaded; ``own`` further
    files that belong to the project (a source checkout's root conftest.py).
    """
    found: list[ForeignConfig] = []
    package_dir = package_dir.resolve()
    ours = {Path(p).resolve() for p in own}
    if inipath is not None and Path(inipath).resolve() != package_dir / "pytest.ini":
        options = list(_split(ini_values.get("addopts")))
        for key in BENDING_KEYS:
            value = ini_values.get(key)
            if value not in (None, "", [], ()):
                shown = value if isinstance(value, str) else " ".join(map(str, value))
                options.append(f"{key} = {shown}")
        found.append(ForeignConfig(str(inipath), "inifile", tuple(options)))
    env_opts = _split(environ.get("PYTEST_ADDOPTS") or None)
    if env_opts:
        found.append(ForeignConfig("PYTEST_ADDOPTS", "environment", env_opts))
    for path in sorted({Path(p).resolve() for p in conftests}):
        if package_dir not in path.parents and path not in ours:
            found.append(ForeignConfig(str(path), "conftest"))
    return found


def _raw_ini(config: Any) -> dict[str, Any]:
    """The inifile's own values (not pytest's defaults) for addopts and the bending keys."""
    # pytest 9.2 deprecates Config.inicfg in favour of getini(), which cannot tell a value the
    # inifile set from pytest's default; the proxy it returns still holds only the file's own
    # values, so read it with the warning silenced (a user must not see pytest's deprecation).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inicfg = getattr(config, "inicfg", {}) or {}
    out: dict[str, Any] = {}
    for key in ("addopts", *BENDING_KEYS):
        if key in inicfg:
            value = inicfg[key]
            out[key] = getattr(value, "value", value)  # pytest 9 wraps values in ConfigValue
    return out


def foreign_of(config: Any, environ: Mapping[str, str]) -> list[ForeignConfig]:
    """:func:`find_foreign` for a live ``pytest.Config``: reads what pytest loaded."""
    conftests: list[Path] = []
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).name == "conftest.py":
            conftests.append(Path(path))
    return find_foreign(getattr(config, "inipath", None), _raw_ini(config), environ, conftests,
                        own=_checkout_files())


def _checkout_files() -> list[Path]:
    """The root conftest.py of a mu3e-checks source checkout (the project's own test fixtures,
    which pytest loads next to the package when it runs from the checkout); none when installed."""
    root = PACKAGE_DIR.parent
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [root / "conftest.py"] if 'name = "mu3e-checks"' in pyproject else []


def summary_line(found: Sequence[ForeignConfig]) -> str:
    """The one warning line of the terminal summary."""
    return ("WARNING: pytest configuration from outside mu3e-checks changed this run: "
            + "; ".join(f.describe() for f in found)
            + ". It can stop the diagnosis early or hide checks; run `mu3e-checks` instead, "
            "which ignores it.")
