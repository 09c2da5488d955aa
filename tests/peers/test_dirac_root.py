"""DIRAC's root and everything under it, computed by the diagnosis as DIRAC 8.0.74 computes it.

DIRAC takes its root from ``$DIRAC_ROOT_PATH``, else from ``sys.base_prefix`` of the Python that
runs it; the diagnosis reads that Python from the ``#!`` line of the ``dirac-*`` commands on PATH
and computes its prefixes from disk, running nothing.  Here the real DIRAC answers for itself
(``DIRAC.rootPath``, the layered local configuration of ``LocalConfiguration().loadUserData()``,
``getCAsLocation()``, the vomses default of ``VOMS().getVOMSESLocation()``), run by the very
interpreter its commands name, for DIRAC in a plain venv of the system Python, in a venv of a
Python in tmp, and in a DIRACOS-like prefix with a Python of its own, each with and without
``DIRAC_ROOT_PATH``, ``DIRACSYSCONFIG`` and ``~/.dirac.cfg``.  The real ``dirac-proxy-info``
and ``dirac-configure`` then show what CFG-001 says, and that its fix works, run as an
unprivileged user.  A missing DIRAC is a test failure (CI installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.knowledge import voms_env
from mu3e_checks.knowledge.dirac_cfg import computed_root, load_layered
from mu3e_checks.knowledge.diracos import find_dirac, inspect_diracos
from mu3e_checks.knowledge.trust import resolve_trust_dir
from tests.support.diracos_trees import (
    SYSTEM_PYTHON,
    PlainVenv,
    build_diracos,
    link_real_dirac,
    own_python_prefix,
    real_dirac_site,
    real_venv,
)
from tests.support.hostile import NOBODY, PasteSandbox
from tests.support.runner import audited_cli, run_checks

pytestmark = pytest.mark.peer

SYSTEM_CA = Path("/etc/grid-security/certificates")
OPTIONS = ("/DIRAC/Setup", "/DIRAC/A", "/DIRAC/B", "/DIRAC/C")

#: Run by the Python the dirac-* commands name: what DIRAC itself makes of this environment.
PROBE = r"""
import json, os, sys
sys.argv = ["probe"]
import DIRAC
from DIRAC.ConfigurationSystem.Client.LocalConfiguration import LocalConfiguration
loaded = LocalConfiguration().loadUserData()
from DIRAC.ConfigurationSystem.Client.ConfigurationData import gConfigurationData
from DIRAC.Core.Security.Locations import getCAsLocation
from DIRAC.Core.Security.VOMS import VOMS
unset = "X509_VOMSES" not in os.environ
VOMS().getVOMSESLocation()  # without X509_VOMSES, DIRAC sets its own default
print(json.dumps({
    "root": DIRAC.rootPath, "cfg": DIRAC.gConfig.diracConfigFilePath, "ok": loaded["OK"],
    "values": {o: gConfigurationData.extractOptionFromCFG(o)
               for o in json.loads(os.environ["PROBE_OPTIONS"])},
    "cas": getCAsLocation(), "vomses": os.environ["X509_VOMSES"] if unset else None,
}))
"""


def _no_network() -> list[str]:
    ok = shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"],
                                                    capture_output=True).returncode == 0
    return ["unshare", "-n"] if ok else []


def dirac_says(python: Path, env: dict[str, str], cwd: Path) -> dict:
    """DIRAC's own rootPath, cfg file, layered options, CA directory and vomses default."""
    proc = subprocess.run([*_no_network(), str(python), "-c", PROBE],
                          env={**env, "PROBE_OPTIONS": json.dumps(OPTIONS), "LANG": "C.UTF-8"},
                          cwd=cwd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def we_say(env: dict[str, str], home: Path) -> dict:
    """The same facts from the diagnosis's knowledge functions (no program run)."""
    tree = inspect_diracos(home / "dirac_ui" / "diracos", "guide default")
    install = find_dirac(tree, env, home)
    layered = load_layered(env, install.python_prefix, home, install.root_reason)
    choice = resolve_trust_dir(env, tree.prefix, None, SYSTEM_CA,
                               root=computed_root(install.python_prefix))
    _, vomses, _ = voms_env.location(env, "X509_VOMSES", layered.root, "vomses")
    return {"root": str(layered.root), "cfg": str(layered.default_file),
            "values": {o: layered.get(o) for o in OPTIONS}, "cas": str(choice.path),
            "vomses": str(vomses), "install": install}


def _cfg(path: Path, **options: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"  {k} = {v}\n" for k, v in options.items())
    path.write_text(f"DIRAC\n{{\n{body}}}\n")


def _setup(kind: str, tmp_path: Path, home: Path) -> tuple[Path, dict[str, str], Path]:
    """(the Python the dirac-* commands name, the shell's environment, its natural root)."""
    if kind == "system-venv":
        venv = real_venv(tmp_path / "venv", SYSTEM_PYTHON)
        return venv.python, {"PATH": f"{venv.bin}:/usr/bin:/bin"}, Path("/usr")
    if kind == "tmp-python-venv":
        base = own_python_prefix(tmp_path / "base")
        venv = real_venv(tmp_path / "venv", base)
        return venv.python, {"PATH": f"{venv.bin}:/usr/bin:/bin"}, tmp_path / "base"
    tree = build_diracos(home, dirac=None, setuptools=None, cfg="", vomses=False)
    python = own_python_prefix(tree.prefix)
    link_real_dirac(tree.site, tree.bin, python)
    return python, tree.env(X509_CERT_DIR=None, X509_VOMSES=None, X509_VOMS_DIR=None), \
        tree.prefix


@pytest.mark.parametrize("variant", ["plain", "root-path", "layers"])
@pytest.mark.parametrize("kind", ["system-venv", "tmp-python-venv", "diracos-like"])
def test_root_cfg_layers_ca_dir_and_vomses_are_diracs(kind, variant, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    python, env, natural = _setup(kind, tmp_path, home)
    env = {**env, "HOME": str(home)}
    root = natural
    if variant == "root-path" or (variant == "layers" and kind == "system-venv"):
        root = tmp_path / "dirac-root"  # never write under /usr: move the root instead
        env["DIRAC_ROOT_PATH"] = str(root)
    if variant != "plain":
        _cfg(root / "etc" / "dirac.cfg", Setup="FromRoot", A="root", B="root", C="root")
        (root / "etc" / "grid-security" / "certificates").mkdir(parents=True)
    if variant == "layers":
        _cfg(tmp_path / "s1.cfg", A="sys1", B="sys1")
        _cfg(tmp_path / "s2.cfg", A="sys2", B="sys2", C="sys2")
        env["DIRACSYSCONFIG"] = f"{tmp_path / 's1.cfg'}, {tmp_path / 's2.cfg'}"
        _cfg(home / ".dirac.cfg", A="home")
    theirs = dirac_says(python, env, tmp_path)
    ours = we_say(env, home)
    assert theirs["root"] == (str(root) if "DIRAC_ROOT_PATH" in env
                              else str(computed_root(natural)))
    for key in ("root", "cfg", "values", "vomses"):
        assert ours[key] == theirs[key], (key, ours[key], theirs[key])
    # getCAsLocation answers None when no directory exists; we then name the rootPath one.
    assert ours["cas"] == (theirs["cas"] or f"{theirs['root']}/etc/grid-security/certificates")
    if variant == "layers":
        assert theirs["values"] == {"/DIRAC/Setup": "FromRoot", "/DIRAC/A": "home",
                                    "/DIRAC/B": "sys1", "/DIRAC/C": "sys2"}
    runner = ours["install"].runner
    assert runner is not None and (runner.in_diracos == (kind == "diracos-like"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox():
    box = PasteSandbox()
    yield box
    box.cleanup()


def _hand_to_sandbox_user(venv: PlainVenv) -> None:
    """The user owns the venv they made (the linked DIRAC stays root's, read-only)."""
    if os.getuid() != 0:
        return
    for p in (venv.path, venv.bin, venv.activate):
        os.chown(p, NOBODY, NOBODY)


def test_system_venv_reads_usr_etc_and_the_cfg001_fix_makes_dirac_read_its_cfg(sandbox):
    """The issue's case with the real DIRAC: a venv of /usr/bin/python3.11 holding DIRAC 8.0.74.
    DIRAC reads /usr/etc/dirac.cfg ('Missing mandatory ... /DIRAC/Setup'); CFG-001 says so.
    dirac-configure alone cannot help (it writes where DIRAC reads: /usr/etc, not the user's);
    CFG-001's fix, pasted by an unprivileged user, makes DIRAC find its configuration, and the
    diagnosis then passes.  The diagnosis starts no program throughout."""
    assert not Path("/usr/etc/dirac.cfg").exists(), "this host has a /usr/etc/dirac.cfg"
    real_dirac_site()
    venv = real_venv(sandbox.dir / "venv", SYSTEM_PYTHON)
    _hand_to_sandbox_user(venv)
    home = sandbox.home
    cs = f"dips://localhost:{_free_port()}/Configuration/Server"
    before = sandbox.paste(f"source {venv.activate}\ndirac-proxy-info\n")
    assert "Missing mandatory local configuration option /DIRAC/Setup" in \
        before.stdout.decode() + before.stderr.decode()

    seen = sandbox.dir / "processes"
    r = run_checks(home, "--mu3e-select", "CFG", "--mu3e-cs-url", cs,
                   env=venv.sourced_env(home), command=audited_cli(seen))
    assert seen.read_text() == ""
    case = r["CFG-001"]
    assert case.outcome == "failed"
    assert f"DIRAC reads /usr/etc/dirac.cfg (rootPath from sys.base_prefix of {venv.python}" \
        in case.message
    assert f"(home = /usr/bin in {venv.path}/pyvenv.cfg), not the venv {venv.path})" \
        in case.message
    assert case.fix.splitlines() == [
        f"export DIRAC_ROOT_PATH={venv.path}   # DIRAC's root for this venv, instead of /usr",
        f"printf 'export DIRAC_ROOT_PATH=%q\\n' {venv.path} >> {venv.activate}   "
        "# every shell that activates the venv gets it",
        f"dirac-configure -F -S GridPP -C {cs} -I"]

    # Why not dirac-configure alone: it writes under the same root DIRAC reads, /usr/etc.
    alone = sandbox.paste(f"source {venv.activate}\n{case.fix.splitlines()[-1]}\n")
    said = alone.stdout.decode() + alone.stderr.decode()
    assert "Fail to create directory: /usr/etc/grid-security/certificates" in said, said[-2000:]
    assert not Path("/usr/etc/dirac.cfg").exists()

    pasted = sandbox.paste(f"source {venv.activate}\n{case.fix}\n")
    assert (venv.path / "etc" / "dirac.cfg").is_file(), pasted.stderr.decode()[-2000:]
    after = sandbox.paste(f"source {venv.activate}\ndirac-proxy-info\n")
    said = after.stdout.decode() + after.stderr.decode()
    assert "Missing mandatory local configuration option" not in said, said[-2000:]
    assert "proxy" in said.lower()  # DIRAC got past its configuration to the missing proxy

    r = run_checks(home, "--mu3e-select", "CFG", "--mu3e-cs-url", cs,
                   env=venv.sourced_env(home), command=audited_cli(seen))
    assert seen.read_text() == ""
    assert {c.id: c.outcome for c in r.cases.values()} == {
        f"CFG-00{n}": "passed" for n in range(1, 6)}
    assert f"DIRAC's rootPath is {venv.path} ($DIRAC_ROOT_PATH)" in \
        r["CFG-001"].properties["note"]
