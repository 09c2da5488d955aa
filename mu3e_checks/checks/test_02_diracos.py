"""Guide: "Install DIRAC Client Environment (DIRACOS)", "Active the environment" and "Install the
DIRAC Python client" (pip install DIRAC==8.0.74, never v9).

PYTEST_DONT_REWRITE (why: see mu3e_checks/checks/__init__.py)
"""

from __future__ import annotations

import os

from mu3e_checks import commands
from mu3e_checks.advice import diracos as adv
from mu3e_checks.knowledge import diracos as dos
from mu3e_checks.knowledge.pydists import python_satisfies
from mu3e_checks.outcome import fail, note, skip_for, warn
from mu3e_checks.registry import check


@check("DIRACOS-001", "DIRACOS is installed (the prefix and its diracosrc exist)",
       step="diracos", fix=commands.install_diracos)
def test_diracos_installed(diracos):
    """DIRACOS2 is the conda environment the guide installs DIRAC into: its Python, pip,
    OpenSSL and voms-proxy-init.  Fails when the prefix (--mu3e-diracos, $DIRACOS, else
    ~/dirac_ui/diracos) is missing or has no diracosrc, with the guide's installer commands.
    """
    if not diracos.is_dir:
        what = "is not a directory" if os.path.lexists(diracos.prefix) else "does not exist"
        fail(f"no DIRACOS at {diracos.prefix} ({diracos.source}): it {what}",
             prefix=diracos.prefix)
    if not diracos.has_diracosrc:
        fail(f"{diracos.prefix} exists but has no diracosrc: it is not a (complete) DIRACOS2 "
             "installation", prefix=diracos.prefix, aside=".broken")
    note(f"DIRACOS at {diracos.prefix} ({diracos.source})")


@check("DIRACOS-002", "DIRACOS reports its version (.diracos_version)", step="diracos",
       severity="warn", fix=commands.reinstall_diracos, requires=("DIRACOS-001",))
def test_diracos_version(diracos):
    """DIRACOS2's installer writes ``DIRACOS2 <version>`` to .diracos_version once, at install
    time; nothing reads it afterwards, so a missing or garbled file is only noted (the version
    is then unknown).  Warns when it names the legacy DIRACOS 1, with the guide's installation
    of DIRACOS2 (the old prefix moved aside).  Notes the version and the Python DIRACOS ships.
    """
    if diracos.legacy:
        fail(f"{diracos.version_problem}; DIRAC 8.0.74 needs DIRACOS2",
             prefix=diracos.prefix, aside=adv.aside(diracos))
    if diracos.version_problem:
        note(f"{diracos.version_problem}: the DIRACOS2 version is unknown (only the installer "
             "writes .diracos_version, and nothing reads it)")
        return
    note(f"{diracos.version_line}; Python {diracos.python_version or 'unknown'} "
         f"({diracos.python_source})")


@check("DIRACOS-003", "The DIRACOS environment is active in this shell", step="diracos",
       fix=commands.source_diracosrc, requires=("DIRACOS-001",))
def test_diracos_active(diracos, settings):
    """Active means $DIRACOS is the prefix and <prefix>/bin comes before every PATH entry
    outside it; otherwise pip, python and voms-proxy-init are the system's.  Fails when not
    active (fix: source <prefix>/diracosrc).  The bin directory of the Python running this
    diagnosis (the venv or pipx env it is installed in) may come first: it is only noted.
    """
    own = dos.interpreter_bin_dirs()
    problem = dos.activation_problem(settings.environ, diracos.prefix, ignore=own)
    if problem:
        fail(f"{problem}; DIRAC's commands, its Python and pip only work after sourcing "
             "diracosrc (in every new shell)", prefix=diracos.prefix)
    ahead = [e for e in dos.entries_before_bin(settings.environ, diracos.prefix) or []
             if any(dos.same_path(e, d) for d in own)]
    if ahead:
        note(f"{', '.join(ahead)} (the Python running this diagnosis) comes before "
             f"{diracos.bin} on PATH; not counted against the DIRACOS activation")


@check("DIRACOS-004", "voms-proxy-init is available (dirac-proxy-init -M needs it)",
       step="diracos", severity="warn", fix=commands.reinstall_diracos,
       requires=("DIRACOS-003",))
def test_voms_proxy_init(diracos, settings):
    """dirac-proxy-init -M runs voms-proxy-init to add the VOMS attributes; DIRACOS ships it.
    Warns when it is not on PATH; notes when a system build is used instead of DIRACOS's
    (it can clash with DIRACOS's libraries).
    """
    found = dos.command_origin(dos.VOMS_PROXY_INIT, settings.environ, diracos.prefix)
    if found.path is None:
        # DIRACOS is active (DIRACOS-003), so its bin is searched first: the tool is not there,
        # and sourcing diracosrc again cannot bring it back; a fresh DIRACOS2 does.
        fail(f"{found.describe()}: 'dirac-proxy-init -M' cannot add the mu3e.org VOMS "
             f"attributes (it says 'voms-proxy-init: not found'); DIRACOS2 ships it in "
             f"{diracos.bin}, and this installation lacks it", prefix=diracos.prefix,
             aside=adv.aside(diracos))
    if not found.in_prefix:
        note(f"{found.describe()}, not DIRACOS's: a system build can clash with DIRACOS's "
             "libraries ('libcrypto ... version not found')")
    else:
        note(found.describe())


@check("DIRAC-001", "The DIRAC Python client is installed", step="dirac",
       fix=commands.install_dirac, also=(commands.reinstall_venv,))
def test_dirac_installed(dirac_install, diracos):
    """DIRAC versions are read from *.dist-info/METADATA in the order the Python that runs
    DIRAC imports: $PYTHONPATH, the user site, then its site-packages.  That Python is the one
    on the #! line of the dirac-* commands on PATH (a plain venv), else DIRACOS's.  Fails when
    none holds DIRAC (fix: pip install DIRAC==8.0.74 inside DIRACOS), or when that Python is
    gone; warns when its metadata is unreadable.
    """
    gone = dos.runner_cannot_start(dirac_install)
    venv = dirac_install.outside_diracos
    if gone and venv is not None and venv.venv:
        fail(gone, fix=commands.reinstall_venv, venv=venv.prefix)
    if gone:
        fail(gone, **adv.dirac_target(diracos))
    dist = dirac_install.in_use
    if dist is None:
        if not diracos.present:
            skip_for("DIRACOS-001", "install DIRACOS first, then DIRAC inside it")
        where = ", ".join(str(d.path) for d in dirac_install.search_path) or "nowhere"
        fail(f"DIRAC is not installed for {dirac_install.python} (looked in {where})",
             **adv.dirac_target(diracos, dirac_install))
    if dist.problem:
        warn(f"{dist.problem}: the installation may be broken", force=True,
             **adv.dirac_target(diracos, dirac_install))
    note(f"{dist.name} {dist.version} from {dirac_install.where(dist)}")


@check("DIRAC-002", "DIRAC is 8.0.74, as the guide installs (never v9)", step="dirac",
       fix=commands.install_dirac, requires=("DIRAC-001",))
def test_dirac_version(dirac_install, diracos):
    """Mu3e's services speak DIRAC v8; the guide installs 8.0.74.  v9 or newer (no Setup,
    DiracX tokens) and anything older than v8 fail; another 8.x warns.  A copy in the user
    site or $PYTHONPATH that shadows DIRACOS's own is named, with the pip uninstall for it.
    """
    dist = dirac_install.in_use
    level, sentence = adv.version_verdict(dist.version)
    values = adv.dirac_target(diracos, dirac_install)
    shadow = None
    label = dirac_install.label(dist)
    if level != "ok" and diracos.present and label != "DIRACOS" \
            and dirac_install.outside_diracos is None:
        # A copy outside DIRACOS shadows DIRACOS's own: remove it, then install the pin.
        shadow, values = adv.replace_shadowing(diracos, dist, label), {}
        sentence += f"; this copy is in the {label}, ahead of DIRACOS's own site-packages"
    if level == "fail":
        fail(f"{sentence} (from {dirac_install.where(dist)}); do not run a bare "
             "'pip install DIRAC', it installs the newest release", fix=shadow, **values)
    if level == "warn":
        warn(f"{sentence} (from {dirac_install.where(dist)})", fix=shadow, **values)


@check("DIRAC-003", "Only one DIRAC installation is visible", step="dirac", severity="warn",
       fix=commands.pip_uninstall_dirac, requires=("DIRAC-001",))
def test_single_dirac(dirac_install, diracos):
    """Several DIRAC copies (DIRACOS, user site, $PYTHONPATH, the checker's own Python) make
    which one a command runs depend on the shell.  Warns listing them all, with the copy to
    keep (DIRACOS's own) and the pip uninstall for each other one.
    """
    everything = list(dirac_install.visible) + list(dirac_install.elsewhere)
    if len(everything) < 2:
        return
    keep = dos.preferred(dirac_install)
    others = [d for d in everything if d is not keep]
    used = dirac_install.in_use
    listing = "; ".join(f"{d.version} at {dirac_install.where(d)}" for d in everything)
    fail(f"{len(everything)} DIRAC installations are visible: {listing}. DIRAC's Python "
         f"imports {used.version} from {dirac_install.label(used)}; which one a command runs "
         "depends on the shell, PYTHONPATH and the user site",
         fix=adv.keep_one(diracos, dirac_install, keep, others))


@check("DIRAC-004", "setuptools still provides pkg_resources (< 82) for DIRAC 8",
       step="dirac", fix=commands.pin_setuptools, requires=("DIRAC-001",))
def test_setuptools_pin(dirac_install, diracos):
    """DIRAC 8 imports pkg_resources, which setuptools 82 removed; DIRACOS2 pins
    setuptools<82, but a later pip install -U undoes the pin.  Fails for DIRAC 8 with
    setuptools >= 82 or without setuptools (every dirac-* command would stop on ImportError).
    """
    dist = dirac_install.in_use
    problem = dos.setuptools_problem(dist, dirac_install.setuptools)
    if problem:
        fail(problem, **adv.dirac_target(diracos, dirac_install))
    tools = dirac_install.setuptools
    if tools is not None:
        note(f"setuptools {tools.version} ({tools.site})")


@check("DIRAC-005", "DIRAC's Python is a version DIRAC supports (Requires-Python)",
       step="dirac", fix=commands.current_diracos, requires=("DIRAC-001",))
def test_python_version(dirac_install, diracos):
    """DIRAC's Requires-Python is compared with the Python DIRACOS ships, read from the tree
    (conda-meta, else lib/pythonX.Y) rather than by running a binary that may be broken.
    Fails when DIRAC will not start under it (fix: a current DIRACOS2); warns when the
    version cannot be told from the tree (a DIRACOS that lost its Python's metadata).
    """
    dist = dirac_install.in_use
    version = dirac_install.python_version
    new = {"prefix": diracos.prefix, "aside": adv.aside(diracos)}
    if version is None:
        warn(f"cannot tell which Python version {dirac_install.python} has "
             f"({diracos.python_source}): the DIRACOS tree lacks its Python's metadata", **new)
        return
    ok = python_satisfies(dist.requires_python, version)
    if ok is None:
        note(f"cannot compare Python {version} with Requires-Python {dist.requires_python!r}")
        return
    if not ok:
        fail(f"DIRAC {dist.version} requires Python {dist.requires_python}, but "
             f"{dirac_install.python} has Python {version}: DIRAC will not start", **new)
    note(f"Python {version} satisfies Requires-Python {dist.requires_python or '(none)'}")


@check("DIRAC-006", "dirac-proxy-init, dirac-configure and dirac-proxy-info come from DIRACOS",
       step="dirac", severity="warn", fix=commands.install_dirac,
       requires=("DIRAC-001", "DIRACOS-003"))
def test_dirac_commands(diracos, settings):
    """dirac-proxy-init, dirac-configure and dirac-proxy-info must be DIRACOS's: another copy
    on PATH runs another DIRAC and another Python.  Warns when they are missing from
    <prefix>/bin (fix: reinstall DIRAC) or when PATH finds them elsewhere (named).
    """
    origins = [dos.command_origin(c, settings.environ, diracos.prefix)
               for c in dos.DIRAC_COMMANDS]
    missing = [o.name for o in origins if o.path is None]
    foreign = [o for o in origins if o.path is not None and not o.in_prefix]
    if missing:
        fail(f"{', '.join(missing)} not on PATH although DIRAC is installed: the DIRAC install "
             f"did not create its commands in {diracos.bin}", prefix=diracos.prefix,
             force=True)
    if foreign:
        fail("; ".join(o.describe() for o in foreign) + f", not from {diracos.bin}: these "
             "run another DIRAC (and another Python)", fix=adv.foreign_commands(diracos, foreign))
    note("; ".join(o.describe() for o in origins))
