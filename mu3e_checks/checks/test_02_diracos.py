"""Guide: "Install DIRAC Client Environment (DIRACOS)", "Active the environment" and "Install the
DIRAC Python client" (pip install DIRAC==8.0.74, never v9).

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

import os

from mu3e_checks.knowledge import diracos as dos
from mu3e_checks.knowledge.credentials import q
from mu3e_checks.knowledge.pydists import python_satisfies
from mu3e_checks.outcome import fail, note, skip, warn
from mu3e_checks.registry import check

GUIDE_PIN = f"DIRAC=={dos.GUIDE_DIRAC_VERSION}"


def _inside(diracos, template: str) -> dict:
    """Values for a fix run inside DIRACOS; without a DIRACOS, the bare command (a plain venv)."""
    if diracos.present:
        return {"prefix": q(diracos.prefix)}
    return {"fix": template.split("\n", 1)[1]}


@check("DIRACOS-001", "DIRACOS is installed (the prefix and its diracosrc exist)",
       step="diracos", fix=dos.INSTALL_TEMPLATE)
def test_diracos_installed(diracos):
    install = dos.install_commands(diracos.prefix)
    if not diracos.is_dir:
        what = "is not a directory" if os.path.lexists(diracos.prefix) else "does not exist"
        fail(f"no DIRACOS at {diracos.prefix} ({diracos.source}): it {what}", fix=install)
    if not diracos.has_diracosrc:
        fail(f"{diracos.prefix} exists but has no diracosrc: it is not a (complete) DIRACOS2 "
             "installation", fix=f"mv {q(diracos.prefix)} {q(diracos.prefix)}.broken\n{install}")
    note(f"DIRACOS at {diracos.prefix} ({diracos.source})")


@check("DIRACOS-002", "DIRACOS reports its version (.diracos_version)", step="diracos",
       severity="warn", fix=dos.ACTIVATE_TEMPLATE, requires=("DIRACOS-001",))
def test_diracos_version(diracos):
    if diracos.version_problem:
        fail(f"{diracos.version_problem}; diracosrc writes 'DIRACOS2 <version>' there each time "
             "it is sourced", prefix=q(diracos.prefix))
    note(f"{diracos.version_line}; Python {diracos.python_version or 'unknown'} "
         f"({diracos.python_source})")


@check("DIRACOS-003", "The DIRACOS environment is active in this shell", step="diracos",
       fix=dos.ACTIVATE_TEMPLATE, requires=("DIRACOS-001",))
def test_diracos_active(diracos, settings):
    problem = dos.activation_problem(settings.environ, diracos.prefix)
    if problem:
        fail(f"{problem}; DIRAC's commands, its Python and pip only work after sourcing "
             "diracosrc (in every new shell)", prefix=q(diracos.prefix))


@check("DIRACOS-004", "voms-proxy-init is available (dirac-proxy-init -M needs it)",
       step="diracos", severity="warn", fix=dos.ACTIVATE_TEMPLATE, requires=("DIRACOS-003",))
def test_voms_proxy_init(diracos, settings):
    found = dos.command_origin(dos.VOMS_PROXY_INIT, settings.environ, diracos.prefix)
    if found.path is None:
        fail(f"{found.describe()}: 'dirac-proxy-init -M' cannot add the mu3e.org VOMS "
             f"attributes ('no standard grid interface available'); DIRACOS ships it in "
             f"{diracos.bin}", prefix=q(diracos.prefix))
    if not found.in_prefix:
        note(f"{found.describe()}, not DIRACOS's: a system build can clash with DIRACOS's "
             "libraries ('libcrypto ... version not found')")
    else:
        note(found.describe())


@check("DIRAC-001", "The DIRAC Python client is installed", step="dirac",
       fix=dos.PIP_DIRAC_TEMPLATE)
def test_dirac_installed(dirac_install, diracos):
    dist = dirac_install.in_use
    if dist is None:
        if not diracos.present:
            skip("needs DIRACOS-001: install DIRACOS first, then DIRAC inside it")
        where = ", ".join(str(d.path) for d in dirac_install.search_path) or "nowhere"
        fail(f"DIRAC is not installed for {dirac_install.python} (looked in {where})",
             **_inside(diracos, dos.PIP_DIRAC_TEMPLATE))
    if dist.problem:
        reinstall = f"pip install --force-reinstall --no-deps {GUIDE_PIN}"
        warn(f"{dist.problem}: the installation may be broken",
             fix=f"{dos.diracosrc_line(diracos.prefix)}\n{reinstall}" if diracos.present
             else reinstall)
    note(f"{dist.name} {dist.version} from {dirac_install.where(dist)}")


@check("DIRAC-002", "DIRAC is 8.0.74, as the guide installs (never v9)", step="dirac",
       fix=dos.PIP_DIRAC_TEMPLATE, requires=("DIRAC-001",))
def test_dirac_version(dirac_install, diracos):
    dist = dirac_install.in_use
    level, sentence = dos.version_verdict(dist.version)
    pip = _inside(diracos, dos.PIP_DIRAC_TEMPLATE)
    label = dirac_install.label(dist)
    if level != "ok" and diracos.present and label != "DIRACOS":
        # A copy outside DIRACOS shadows DIRACOS's own: remove it, then install the pin.
        pip = {"fix": "\n".join([dos.diracosrc_line(diracos.prefix),
                                 dos.uninstall_command(dist, label),
                                 f"pip install {GUIDE_PIN}"])}
        sentence += f"; this copy is in the {label}, ahead of DIRACOS's own site-packages"
    if level == "fail":
        fail(f"{sentence} (from {dirac_install.where(dist)}); do not run a bare "
             "'pip install DIRAC', it installs the newest release", **pip)
    if level == "warn":
        warn(f"{sentence} (from {dirac_install.where(dist)})", **pip)


@check("DIRAC-003", "Only one DIRAC installation is visible", step="dirac", severity="warn",
       fix="pip uninstall DIRAC   # with the pip of each extra installation's Python",
       requires=("DIRAC-001",))
def test_single_dirac(dirac_install, diracos):
    everything = list(dirac_install.visible) + list(dirac_install.elsewhere)
    if len(everything) < 2:
        return
    keep = dos.preferred(dirac_install)
    others = [d for d in everything if d is not keep]
    used = dirac_install.in_use
    listing = "; ".join(f"{d.version} at {dirac_install.where(d)}" for d in everything)
    lines = ([dos.diracosrc_line(diracos.prefix)] if diracos.present else []) + [
        f"# keep DIRAC {keep.version} ({dirac_install.where(keep)}); remove the others:"]
    lines += [dos.uninstall_command(d, dirac_install.label(d)) for d in others]
    fail(f"{len(everything)} DIRAC installations are visible: {listing}. DIRAC's Python "
         f"imports {used.version} from {dirac_install.label(used)}; which one a command runs "
         "depends on the shell, PYTHONPATH and the user site", fix="\n".join(lines))


@check("DIRAC-004", "setuptools still provides pkg_resources (< 82) for DIRAC 8",
       step="dirac", fix=dos.PIP_SETUPTOOLS_TEMPLATE, requires=("DIRAC-001",))
def test_setuptools_pin(dirac_install, diracos):
    dist = dirac_install.in_use
    problem = dos.setuptools_problem(dist, dirac_install.setuptools)
    if problem:
        fail(problem, **_inside(diracos, dos.PIP_SETUPTOOLS_TEMPLATE))
    tools = dirac_install.setuptools
    if tools is not None:
        note(f"setuptools {tools.version} ({tools.site})")


@check("DIRAC-005", "DIRAC's Python is a version DIRAC supports (Requires-Python)",
       step="dirac", fix="# install a current DIRACOS2 (it brings a supported Python), then "
                          f"pip install {GUIDE_PIN} inside it", requires=("DIRAC-001",))
def test_python_version(dirac_install, diracos):
    dist = dirac_install.in_use
    version = dirac_install.python_version
    if version is None:
        skip(f"cannot tell which Python version {dirac_install.python} has "
             f"({diracos.python_source})")
    ok = python_satisfies(dist.requires_python, version)
    if ok is None:
        note(f"cannot compare Python {version} with Requires-Python {dist.requires_python!r}")
        return
    if not ok:
        lines = ["# install a current DIRACOS2: it brings a Python that DIRAC supports"]
        if diracos.is_dir:
            lines.append(f"mv {q(diracos.prefix)} {q(diracos.prefix)}.old")
        lines += [dos.install_commands(diracos.prefix),
                  dos.PIP_DIRAC_TEMPLATE.format(prefix=q(diracos.prefix))]
        fail(f"DIRAC {dist.version} requires Python {dist.requires_python}, but "
             f"{dirac_install.python} has Python {version}: DIRAC will not start",
             fix="\n".join(lines))
    note(f"Python {version} satisfies Requires-Python {dist.requires_python or '(none)'}")


@check("DIRAC-006", "dirac-proxy-init, dirac-configure and dirac-proxy-info come from DIRACOS",
       step="dirac", severity="warn", fix=dos.ACTIVATE_TEMPLATE,
       requires=("DIRAC-001", "DIRACOS-003"))
def test_dirac_commands(diracos, settings):
    origins = [dos.command_origin(c, settings.environ, diracos.prefix)
               for c in dos.DIRAC_COMMANDS]
    missing = [o.name for o in origins if o.path is None]
    foreign = [o for o in origins if o.path is not None and not o.in_prefix]
    if missing:
        fail(f"{', '.join(missing)} not on PATH although DIRAC is installed: the DIRAC install "
             f"did not create its commands in {diracos.bin}",
             fix=f"{dos.diracosrc_line(diracos.prefix)}\n"
                 f"pip install --force-reinstall --no-deps {GUIDE_PIN}")
    if foreign:
        fail("; ".join(o.describe() for o in foreign) + f", not from {diracos.bin}: these "
             "run another DIRAC (and another Python)",
             fix="\n".join([dos.diracosrc_line(diracos.prefix)]
                           + [f"# remove or rename {q(o.path)}, or take its directory off PATH"
                              for o in foreign]))
    note("; ".join(o.describe() for o in origins))
