"""Fixes for dirac.cfg: the guide's ``dirac-configure``, or the file that overrides what it writes.

DIRAC reads several files and a later one wins option by option, so ``dirac-configure`` is the
fix only when its own file decides; otherwise the file that overrides it is named, since a
second ``dirac-configure`` would leave it overriding.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from mu3e_checks import commands
from mu3e_checks.advice.diracos import activation_prefix, configure_where_read
from mu3e_checks.knowledge.dirac_cfg import CfgFile, LayeredConfig
from mu3e_checks.knowledge.diracos import DiracInstall, DiracosTree, same_path
from mu3e_checks.remedy import Remedy, join, say


def configure_values(tree: DiracosTree, setup: str, cs: str) -> dict:
    """The values of :func:`commands.configure_in`: the guide's dirac-configure, inside DIRACOS
    when there is one (DIRAC in a plain venv has no diracosrc to source)."""
    return {"prefix": activation_prefix(tree), "setup": setup, "cs": cs}


def configure(tree: DiracosTree, setup: str, cs: str) -> Remedy:
    """The guide's dirac-configure, inside DIRACOS when there is one."""
    return commands.configure_in(**configure_values(tree, setup, cs))


def where_read(install: DiracInstall, tree: DiracosTree, environ: Mapping[str, str],
               setup: str, cs: str) -> Remedy:
    """dirac-configure so that it writes where DIRAC reads (a venv's DIRAC_ROOT_PATH first;
    :func:`advice.diracos.configure_where_read`)."""
    return configure_where_read(install, tree, environ, commands.configure(setup, cs))


def fix_where(layered: LayeredConfig, option: str, value: str, configured: Remedy) -> Remedy:
    """``configured`` (dirac-configure) when its own file decides ``option``; otherwise editing
    the file that overrides it (dirac-configure's file would stay overridden)."""
    origin = layered.source_of(option)
    if origin is None or origin == layered.default_file:
        return configured
    return join(say("{origin} overrides {option}: set '{name} = {value}' there, or remove the "
                    "line", origin=origin, option=option, name=option.rsplit("/", 1)[1],
                    value=value),
                commands.edit(origin))


def broken_fix(bad: CfgFile, default_file: Path, configured: Remedy) -> Remedy:
    """A file DIRAC cannot load: the line to correct; for dirac-configure's own file also
    writing it again, the broken one kept aside (dirac-configure is DIRAC too: it stops on
    the broken file before writing a line)."""
    fix = commands.correct_line(bad.path, bad.line)
    if bad.path == default_file:
        fix = join(fix, say("or write it again, the broken one kept aside:"),
                   commands.rename(bad.path, Path(f"{bad.path}.broken")), configured)
    return fix


def voms_fix(configured: Remedy, group: str, var: str, value: Optional[str], default: Path,
             *, ready: bool, have_proxy: bool) -> Remedy:
    """What makes ``var`` name a location that serves the VO: dirac-configure writes the
    default one from the Configuration Server (it needs a proxy for ``-I``, so the guide's local
    one comes first when there is none), and the export only when ``var`` names another place
    (exporting the value it already has changes nothing)."""
    steps = []
    if not ready:
        if not have_proxy:
            steps.append(commands.proxy_init_local(
                group, note="dirac-configure -I needs a proxy to read the CS"))
        steps.append(configured)
    if value is None or not same_path(value, default):
        steps.append(commands.export(var, default))
    return join(*steps)
