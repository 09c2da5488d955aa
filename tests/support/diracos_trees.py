"""Fake DIRACOS trees holding real DIRAC/setuptools dists that pip installed, and real dirac.cfg.

The metadata the checks read is the metadata pip writes: each release is installed once with
``pip install --no-deps --target`` into a cache (``$MU3E_TEST_CACHE`` or
``~/.cache/mu3e-checks-tests``), and each test tree gets copies of its ``*.dist-info``, links to
its packages and copies of its console scripts.  Only the DIRACOS parts that cannot be installed
here (the conda Python, micromamba) are laid out by hand: ``conda-meta/python-*.json``,
``lib/pythonX.Y/site-packages`` and a ``diracosrc`` that does what DIRACOS2's does (export DIRACOS,
prepend its bin, pick X509_* variables) without micromamba; like DIRACOS2's installer,
``build_diracos`` writes ``.diracos_version`` once (sourcing diracosrc never does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from diraccfg import CFG

from tests.support.runner import clean_env

CACHE = Path(os.environ.get("MU3E_TEST_CACHE") or Path.home() / ".cache" / "mu3e-checks-tests")
GUIDE_CS = "dips://diracweb.grid.hep.ph.ic.ac.uk:9135/Configuration/Server"
#: A second server, as ``dirac-configure -I`` appends from the remote CS.
OTHER_GRIDPP_CS = "dips://dirac01.grid.hep.ph.ic.ac.uk:9135/Configuration/Server"
VOMS_HOST = "voms.gridpp.ac.uk"
VOMS_DN = "/C=UK/O=eScience/OU=Manchester/L=HEP/CN=voms.gridpp.ac.uk"
VOMS_CA = "/C=UK/O=eScienceCA/OU=Authority/CN=UK e-Science CA 2B"


def pip_release(name: str, version: str) -> Path:
    """A ``pip install --no-deps --target`` tree of ``name==version``, installed once."""
    dest = CACHE / f"{name}-{version}"
    if (dest / ".complete").exists():
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f".{name}-{version}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(tmp), f"{name}=={version}"],
                   check=True, timeout=600, stdin=subprocess.DEVNULL)
    (tmp / ".complete").touch()
    try:
        os.rename(tmp, dest)
    except OSError:  # another session finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def install_release(release: Path, site: Path, bin_dir: Optional[Path] = None) -> None:
    """Put a cached release into ``site`` as pip would have: metadata copied, packages linked,
    console scripts copied into ``bin_dir``."""
    site.mkdir(parents=True, exist_ok=True)
    for entry in release.iterdir():
        if entry.name in ("bin", ".complete"):
            continue
        target = site / entry.name
        if entry.name.endswith((".dist-info", ".egg-info")):
            shutil.copytree(entry, target)
        else:
            target.symlink_to(entry)
    if bin_dir is not None and (release / "bin").is_dir():
        bin_dir.mkdir(parents=True, exist_ok=True)
        for script in (release / "bin").iterdir():
            shutil.copy2(script, bin_dir / script.name)


def dirac_cfg_text(setup: Optional[str] = "GridPP", servers: tuple[str, ...] = (GUIDE_CS,),
                   use_server_certificate: str = "no",
                   local_extra: tuple[tuple[str, str], ...] = ()) -> str:
    """dirac.cfg exactly as ``dirac-configure -F -S <setup> -C <servers> -I`` writes it.

    dirac-configure builds a diraccfg CFG and serialises it; so does this (same option order),
    which is how ``Servers += ...`` lines appear.  ``setup=None`` leaves Setup out.
    """
    cfg = CFG()
    cfg.createNewSection("DIRAC")
    if setup is not None:
        cfg.setOption("DIRAC/Setup", setup)
    cfg.createNewSection("DIRAC/Configuration")
    cfg.setOption("DIRAC/Configuration/Servers", ", ".join(servers))
    cfg.createNewSection("DIRAC/Security")
    cfg.setOption("DIRAC/Security/UseServerCertificate", use_server_certificate)
    cfg.createNewSection("LocalInstallation")
    if setup is not None:
        cfg.setOption("LocalInstallation/Setup", setup)
    cfg.setOption("LocalInstallation/ConfigurationServer", ", ".join(servers))
    for key, value in local_extra:
        cfg.setOption(f"LocalInstallation/{key}", value)
    return str(cfg)


DIRACOSRC = """\
# diracosrc as DIRACOS2's create_diracosrc.sh writes it, minus micromamba activation
export DIRACOS={prefix}
export MAMBA_ROOT_PREFIX="$DIRACOS"
unset PYTHONPATH
export PATH="$DIRACOS/bin:$DIRACOS/condabin:$PATH"
_sys_ca={system_ca}
if [ -z "${{X509_CERT_DIR:-}}" ] || [ -z "$(ls -A "$X509_CERT_DIR" 2>/dev/null)" ]; then
  if [ -n "$(ls -A "$_sys_ca" 2>/dev/null)" ]; then export X509_CERT_DIR="$_sys_ca"
  else export X509_CERT_DIR="$DIRACOS/etc/grid-security/certificates"; fi
fi
if [ -z "$(ls -A "${{X509_VOMS_DIR:-/nonexistent}}" 2>/dev/null)" ]; then
  export X509_VOMS_DIR="$DIRACOS/etc/grid-security/vomsdir"; fi
if [ -z "$(ls -A "${{X509_VOMSES:-/nonexistent}}" 2>/dev/null)" ]; then
  export X509_VOMSES="$DIRACOS/etc/grid-security/vomses"; fi
"""


@dataclass
class FakeDiracos:
    """A DIRACOS prefix in a test home."""

    prefix: Path
    python: str

    @property
    def minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    @property
    def site(self) -> Path:
        return self.prefix / "lib" / f"python{self.minor}" / "site-packages"

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"

    @property
    def cert_dir(self) -> Path:
        return self.prefix / "etc" / "grid-security" / "certificates"

    @property
    def cfg(self) -> Path:
        return self.prefix / "etc" / "dirac.cfg"

    def install(self, name: str, version: str, site: Optional[Path] = None) -> None:
        install_release(pip_release(name, version), site or self.site,
                        self.bin if site is None else None)

    def remove(self, name: str) -> None:
        for entry in self.site.iterdir():
            if entry.name.lower().startswith(name.lower() + "-") or entry.name == name:
                (entry.unlink() if entry.is_symlink() else shutil.rmtree(entry))

    def env(self, **extra: str) -> dict[str, str]:
        """What the shell holds after ``source diracosrc`` and the guide's X509_CERT_DIR export."""
        env = {
            "DIRACOS": str(self.prefix),
            "PATH": f"{self.bin}:{self.prefix}/condabin:/usr/local/bin:/usr/bin:/bin",
            "X509_CERT_DIR": str(self.cert_dir),
            "X509_VOMSES": str(self.prefix / "etc/grid-security/vomses"),
            "X509_VOMS_DIR": str(self.prefix / "etc/grid-security/vomsdir"),
        }
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def sourced_env(self, home: Path, commands: str = "") -> dict[str, str]:
        """The environment a real ``bash`` has after sourcing this tree's diracosrc (then
        ``commands``), starting from the test runner's clean environment."""
        return sourced_env(self.prefix / "diracosrc", home, commands)


def sourced_env(rc: Path, home: Path, commands: str = "") -> dict[str, str]:
    """The environment a real ``bash`` has after ``source <rc>`` (then ``commands``), starting
    from the test runner's clean environment."""
    script = f"source {rc}\n{commands}\nenv -0"
    base = clean_env(home, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    out = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], env=base,
                         capture_output=True, check=True, timeout=30).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k not in ("SHLVL", "_", "PWD", "OLDPWD")}


def build_diracos(home: Path, grid=None, *, dirac: Optional[str] = "8.0.74",
                  setuptools: Optional[str] = "81.0.0", python: str = "3.11.7",
                  diracos_version: str = "2.49", cfg: Optional[str] = None,
                  vomses: bool = True, system_ca: Optional[Path] = None,
                  prefix: Optional[Path] = None) -> FakeDiracos:
    """A complete, correct DIRACOS at ``~/dirac_ui/diracos`` unless told otherwise.

    ``cfg=None`` writes the dirac.cfg the guide's dirac-configure writes; ``cfg=""`` writes none.
    """
    prefix = prefix or home / "dirac_ui" / "diracos"
    tree = FakeDiracos(prefix, python)
    for d in ("bin", "condabin", "conda-meta", "etc"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    tree.site.mkdir(parents=True, exist_ok=True)
    (prefix / "conda-meta" / f"python-{python}-h2755cc3_0_cpython.json").write_text(
        f'{{"name": "python", "version": "{python}"}}\n')
    os.symlink(sys.executable, prefix / "bin" / f"python{tree.minor}")
    (prefix / "diracosrc").write_text(DIRACOSRC.format(
        prefix=prefix, version=diracos_version,
        system_ca=system_ca or home / "no-system-ca"))
    (prefix / ".diracos_version").write_text(f"DIRACOS2 {diracos_version}\n")
    voms = shutil.which("voms-proxy-init")
    assert voms, "voms-proxy-init (apt: voms-clients) is a required peer"
    os.symlink(voms, prefix / "bin" / "voms-proxy-init")
    if dirac:
        tree.install("DIRAC", dirac)
    if setuptools:
        tree.install("setuptools", setuptools)
    if cfg is None:
        cfg = dirac_cfg_text()
    if cfg:
        tree.cfg.write_text(cfg)
    if vomses:
        gs = prefix / "etc" / "grid-security"
        (gs / "vomses").mkdir(parents=True, exist_ok=True)
        (gs / "vomses" / "mu3e.org").write_text(
            f'"mu3e.org" "{VOMS_HOST}" "15511" "{VOMS_DN}" "mu3e.org" "24"\n')
        (gs / "vomsdir" / "mu3e.org").mkdir(parents=True, exist_ok=True)
        (gs / "vomsdir" / "mu3e.org" / f"{VOMS_HOST}.lsc").write_text(f"{VOMS_DN}\n{VOMS_CA}\n")
    if grid is not None:
        grid.trust_dir(tree.cert_dir)
    return tree


# ---------------------------------------------------------------------- DIRAC outside DIRACOS

#: The real DIRAC 8.0.74 client CI installs (a venv of pyenv's Python 3.11.7).
REAL_DIRAC = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))
#: The operating system's own Python: a venv of it takes /usr as DIRAC's root.
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
#: DIRAC's console scripts the trees carry (the guide's three).
DIRAC_SCRIPTS = ("dirac-proxy-init", "dirac-configure", "dirac-proxy-info")


def real_dirac_site() -> Path:
    sites = sorted((REAL_DIRAC / "lib").glob("python3.*/site-packages"))
    assert sites, f"the real DIRAC peer is missing: {REAL_DIRAC} (run .ci/install-dirac)"
    return sites[0]


def set_shebang(script: Path, python: Path) -> None:
    """Point a console script at ``python``, as pip writes it when it installs there."""
    lines = script.read_bytes().split(b"\n", 1)
    script.write_bytes(b"#!" + os.fsencode(python) + b"\n" + (lines[1] if len(lines) > 1 else b""))
    script.chmod(0o755)


def link_real_dirac(site: Path, bin_dir: Path, python: Path) -> None:
    """The real DIRAC 8.0.74 and its dependencies in ``site`` (each entry linked to the real
    venv's, as a pip install would have put them there), and its console scripts in
    ``bin_dir`` naming ``python``, as pip writes them."""
    site.mkdir(parents=True, exist_ok=True)
    for entry in real_dirac_site().iterdir():
        if not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in DIRAC_SCRIPTS:
        shutil.copy2(REAL_DIRAC / "bin" / name, bin_dir / name)
        set_shebang(bin_dir / name, python)


ACTIVATE = """\
# bin/activate as 'python -m venv' writes it, reduced to what a shell keeps
VIRTUAL_ENV={venv}
export VIRTUAL_ENV
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
"""


@dataclass
class PlainVenv:
    """A plain venv holding DIRAC: ``python -m venv`` and ``pip install DIRAC==8.0.74``."""

    path: Path
    minor: str

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def site(self) -> Path:
        return self.path / "lib" / f"python{self.minor}" / "site-packages"

    @property
    def activate(self) -> Path:
        return self.bin / "activate"

    def env(self, **extra: Optional[str]) -> dict[str, str]:
        """What the shell holds after ``source <venv>/bin/activate``."""
        env = {"VIRTUAL_ENV": str(self.path), "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin"}
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def sourced_env(self, home: Path, commands: str = "") -> dict[str, str]:
        """The environment a real ``bash`` has after sourcing this venv's activate script."""
        return sourced_env(self.activate, home, commands)


def fake_base_python(prefix: Path, minor: str = "3.11") -> Path:
    """A Python installation's layout at ``prefix`` as CPython recognises one (its
    ``lib/pythonX.Y/os.py`` landmark), for the diagnosis only: nothing here is ever run."""
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    (prefix / "lib" / f"python{minor}").mkdir(parents=True, exist_ok=True)
    (prefix / "lib" / f"python{minor}" / "os.py").write_text("# landmark\n")
    exe = prefix / "bin" / f"python{minor}"
    if not exe.exists():
        exe.write_text("#!/bin/false\n")  # a placeholder: a symbolic link would be followed
        exe.chmod(0o755)
    return exe


def layout_venv(path: Path, base_python: Path, *, dirac: Optional[str] = "8.0.74",
                minor: str = "3.11", version: str = "3.11.7") -> PlainVenv:
    """A venv laid out as ``<base_python> -m venv <path>`` makes it (pyvenv.cfg naming the base
    Python's folder as ``home``), with DIRAC pip-installed from the release cache: for the
    diagnosis, which only reads it."""
    venv = PlainVenv(path, minor)
    venv.bin.mkdir(parents=True, exist_ok=True)
    venv.site.mkdir(parents=True, exist_ok=True)
    (path / "pyvenv.cfg").write_text(
        f"home = {base_python.parent}\ninclude-system-site-packages = false\n"
        f"version = {version}\nexecutable = {base_python}\n")
    for name in ("python", "python3", f"python{minor}"):
        (venv.bin / name).symlink_to(base_python)
    venv.activate.write_text(ACTIVATE.format(venv=path))
    if dirac:
        install_release(pip_release("DIRAC", dirac), venv.site, venv.bin)
        install_release(pip_release("setuptools", "81.0.0"), venv.site)
        for name in DIRAC_SCRIPTS:
            set_shebang(venv.bin / name, venv.python)
    return venv


def real_venv(path: Path, base_python: Path = SYSTEM_PYTHON) -> PlainVenv:
    """A real venv made by ``<base_python> -m venv``, holding the real DIRAC 8.0.74."""
    assert base_python.exists(), f"{base_python} is needed as the venv's base Python"
    subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=120, env={"PATH": "/usr/bin:/bin"})
    minor = next((path / "lib").glob("python3.*")).name[len("python"):]
    venv = PlainVenv(path, minor)
    link_real_dirac(venv.site, venv.bin, venv.python)
    return venv


def own_python_prefix(prefix: Path) -> Path:
    """A Python installation of its own at ``prefix``, as DIRACOS (conda) has one: the real
    DIRAC venv's base interpreter copied to ``<prefix>/bin``, its standard library linked
    into ``<prefix>/lib/python3.Y`` (a real folder, so ``site-packages`` is the tree's own).
    Its ``sys.base_prefix`` is ``prefix``."""
    home = Path(_pyvenv_home(REAL_DIRAC))
    real = Path(os.path.realpath(home / "python3"))
    minor = real.name[len("python"):]
    stdlib = real.parent.parent / "lib" / f"python{minor}"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    lib = prefix / "lib" / f"python{minor}"
    lib.mkdir(parents=True, exist_ok=True)
    for entry in stdlib.iterdir():
        if entry.name != "site-packages" and not (lib / entry.name).exists():
            (lib / entry.name).symlink_to(entry)
    exe = prefix / "bin" / f"python{minor}"
    if exe.is_symlink():
        exe.unlink()
    shutil.copy2(real, exe)
    return exe


def _pyvenv_home(venv: Path) -> str:
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return value.strip()
    raise AssertionError(f"{venv}/pyvenv.cfg names no home")
