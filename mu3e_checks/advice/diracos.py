"""Fixes for DIRACOS and the DIRAC client: where the guide's commands run, and for which Python.

The knowledge (:mod:`mu3e_checks.knowledge.diracos`) says what is installed and which Python
runs DIRAC; this module says what to run about it: inside DIRACOS after ``source diracosrc``
when there is one, with the pip of the Python that runs DIRAC when that is a plain venv, and
``dirac-configure`` where DIRAC will read what it writes.  The commands themselves are the
builders of :mod:`mu3e_checks.commands`; the values they take come from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

from packaging.version import Version

from mu3e_checks import commands
from mu3e_checks.knowledge import files as _fs
from mu3e_checks.knowledge.dirac_cfg import computed_root
from mu3e_checks.knowledge.diracos import (
    CommandOrigin,
    DiracInstall,
    DiracosTree,
    can_create,
)
from mu3e_checks.knowledge.pydists import Dist
from mu3e_checks.remedy import Remedy, join, say

#: The release the guide installs; Mu3e's services speak DIRAC v8 (defined in commands).
GUIDE_DIRAC_VERSION = commands.GUIDE_DIRAC_VERSION


def diracosrc_line(prefix: Path) -> Remedy:
    """The guide's activation command for this prefix."""
    return commands.source_diracosrc(prefix)


def install_commands(prefix: Path) -> Remedy:
    """The guide's DIRACOS installation for this prefix."""
    return commands.install_diracos(prefix)


def aside(tree: DiracosTree) -> str:
    """Where a new DIRACOS2 moves what is at the prefix (``<prefix>.old``; nothing to move when
    the prefix is not a directory): the ``aside`` of :func:`commands.reinstall_diracos`."""
    return ".old" if tree.is_dir else ""


def reinstall(tree: DiracosTree) -> Remedy:
    """The guide's DIRACOS2 installation in place of what is at the prefix (moved aside, never
    deleted), activated, with the guide's DIRAC in it."""
    return commands.reinstall_diracos(tree.prefix, aside=aside(tree))


def inside(tree: DiracosTree, remedy: Remedy) -> Remedy:
    """``remedy`` run inside DIRACOS (after ``source diracosrc``) when there is one; without a
    DIRACOS, DIRAC lives in a plain venv and the bare command is the fix."""
    return commands.in_diracos(activation_prefix(tree), remedy)


def activation_prefix(tree: DiracosTree) -> Optional[Path]:
    """The DIRACOS prefix a fix activates before it runs (none without a DIRACOS)."""
    return tree.prefix if tree.present else None


def dirac_target(tree: DiracosTree,
                 install: Optional[DiracInstall] = None) -> dict[str, Optional[Path]]:
    """Where the guide's DIRAC goes: the values of :func:`commands.install_dirac` and
    :func:`commands.pin_setuptools`.  The pip of the Python that runs DIRAC when that is not
    DIRACOS's (``install``), else inside DIRACOS when there is one, else the bare pip."""
    interp = install.outside_diracos if install is not None else None
    if interp is not None:
        return {"prefix": None, "python": interp.executable}
    return {"prefix": activation_prefix(tree), "python": None}


def pip_dirac(tree: DiracosTree, *, force: bool = False,
              install: Optional[DiracInstall] = None) -> Remedy:
    """The guide's pinned ``pip install DIRAC==8.0.74``, inside DIRACOS when there is one; with
    the pip of the Python that runs DIRAC when that is not DIRACOS's (``install``)."""
    return commands.install_dirac(force=force, **dirac_target(tree, install))


def pip_setuptools(tree: DiracosTree, install: Optional[DiracInstall] = None) -> Remedy:
    """The setuptools pin DIRAC 8 needs, inside DIRACOS when there is one; with the pip of the
    Python that runs DIRAC when that is not DIRACOS's (``install``)."""
    return commands.pin_setuptools(**dirac_target(tree, install))


def uninstall_command(dist: Dist, label: str) -> Remedy:
    """How to remove one installation with the pip of the Python that owns it."""
    if label == "$PYTHONPATH":
        return say("take {site} off PYTHONPATH (it holds DIRAC {version})", site=dist.site,
                   version=dist.version)
    site = dist.site
    owner = site.parents[2] if len(site.parents) > 2 and site.name == "site-packages" else None
    minor = site.parent.name[len("python"):] if site.parent.name.startswith("python") else "3"
    if label == "user site" or owner is None or not _fs.exists(owner / "bin" / "python"):
        return commands.pip_uninstall_dirac(f"python{minor}", note="DIRAC {version} in {site}",
                                            version=dist.version, site=site)
    return commands.pip_uninstall_dirac(owner / "bin" / "python", note="DIRAC {version}",
                                        version=dist.version)


def replace_shadowing(tree: DiracosTree, dist: Dist, label: str) -> Remedy:
    """A copy outside DIRACOS shadows DIRACOS's own: remove it, then install the pin."""
    return join(diracosrc_line(tree.prefix), uninstall_command(dist, label),
                commands.pip_install_dirac())


def keep_one(tree: DiracosTree, install: DiracInstall, keep: Dist,
             others: Sequence[Dist]) -> Remedy:
    """Several DIRAC copies: which one to keep, and the uninstall of each other one."""
    lines = [diracosrc_line(tree.prefix)] if tree.present else []
    lines.append(say("keep DIRAC {version} ({where}); remove the others:", version=keep.version,
                     where=install.where(keep)))
    lines += [uninstall_command(d, install.label(d)) for d in others]
    return join(*lines)


def foreign_commands(tree: DiracosTree, foreign: Sequence[CommandOrigin]) -> Remedy:
    """dirac-* commands from another installation ahead of DIRACOS's on PATH."""
    return join(diracosrc_line(tree.prefix),
                *[say("remove or rename {path}, or take its directory off PATH", path=o.path)
                  for o in foreign])


def version_verdict(version: str) -> tuple[str, str]:
    """``(level, sentence)`` for an installed DIRAC version: level is ok, warn or fail."""
    try:
        v = Version(version)
    except ValueError:
        return "fail", f"DIRAC reports the version {version!r}, which is not a release number"
    if v.major >= 9:
        return "fail", (f"DIRAC {version} is installed; the guide marks DIRAC v9 and newer as "
                        "incompatible with Mu3e (v9 drops the Setup and needs DiracX tokens the "
                        f"GridPP v8 services do not issue): install {GUIDE_DIRAC_VERSION}")
    if v.major < 8:
        return "fail", (f"DIRAC {version} is installed; it is older than the v8 the Mu3e "
                        f"services speak: install {GUIDE_DIRAC_VERSION}")
    if v != Version(GUIDE_DIRAC_VERSION):
        return "warn", (f"DIRAC {version} is installed; the guide installs {GUIDE_DIRAC_VERSION}, "
                        "the release Mu3e's setup was tested with")
    return "ok", f"DIRAC {version}, as the guide installs"


def configure_where_read(install: DiracInstall, tree: DiracosTree, environ: Mapping[str, str],
                         configure: Remedy) -> Remedy:
    """The fix that makes ``dirac-configure`` write the dirac.cfg where DIRAC reads it.

    ``dirac-configure`` writes ``<rootPath>/etc/dirac.cfg`` and the CAs and vomses under
    ``<rootPath>/etc/grid-security``, with the same rootPath as every other command.  In DIRACOS
    that is the DIRACOS folder.  In a plain venv it is the *base* Python's prefix: ``/usr`` for
    a venv of the system Python, where a user cannot write (dirac-configure stops with
    "Fail to create directory: /usr/etc/grid-security/certificates"), and a folder other venvs
    share otherwise.  So a venv gets ``DIRAC_ROOT_PATH`` pointing at itself, in this shell and
    in its ``bin/activate`` (every shell that activates it), before dirac-configure.  A plain
    Python whose root this user cannot write gets the guide's DIRACOS instead.
    """
    interp = install.outside_diracos
    if interp is None:
        return inside(tree, configure)
    value = environ.get("DIRAC_ROOT_PATH")
    if value and os.path.isabs(value):
        return configure
    if interp.venv:
        return join(
            commands.export("DIRAC_ROOT_PATH", interp.prefix,
                            note="DIRAC's root for this venv, instead of {base}",
                            base=computed_root(interp.base_prefix)),
            commands.export_into("DIRAC_ROOT_PATH", interp.prefix,
                                 interp.prefix / "bin" / "activate",
                                 note="every shell that activates the venv gets it"),
            configure)
    root = computed_root(interp.base_prefix)
    unset = (commands.unset("DIRAC_ROOT_PATH", note="DIRAC then uses {root}", root=root)
             if value is not None else None)
    if can_create(root / "etc"):
        return join(unset, configure)
    return join(say("DIRAC runs under {python}, whose root {root} you cannot write: install "
                    "DIRAC into DIRACOS, as the guide does", python=interp.executable, root=root),
                install_commands(tree.prefix), diracosrc_line(tree.prefix),
                commands.pip_install_dirac(), configure)


def restart_runner(install: DiracInstall, tree: DiracosTree) -> Remedy:
    """Make the commands startable again: a venv made anew (from a Python that exists) with
    DIRAC installed into it; otherwise the guide's DIRAC inside DIRACOS."""
    interp = install.outside_diracos
    if interp is not None and interp.venv:
        return commands.reinstall_venv(interp.prefix)
    return pip_dirac(tree)
