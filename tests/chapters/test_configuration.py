"""dirac.cfg and the X509/VOMS environment, end to end, including a cfg the real dirac-configure
8.0.74 wrote."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mu3e_checks.shell import quote
from tests.support.diracos_trees import (
    GUIDE_CS,
    OTHER_GRIDPP_CS,
    build_diracos,
    dirac_cfg_text,
    fake_base_python,
    layout_venv,
)
from tests.support.runner import run_checks

REAL_DIRAC = Path(os.environ.get("MU3E_TEST_DIRAC", "/opt/mu3e-dirac-8.0.74"))


@pytest.fixture
def home(grid, tmp_path, dirac_releases):
    return grid.home(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.peer
def test_real_dirac_configure_output_is_what_the_trees_use_and_passes(home, tmp_path):
    """Run the real dirac-configure (loopback CS URLs only, no network namespace needed: with
    no Setups known it contacts nothing) and check the diagnosis reads its file."""
    configure = REAL_DIRAC / "bin" / "dirac-configure"
    assert configure.exists(), f"the real DIRAC peer is missing: {configure}"
    root = tmp_path / "dirac-root"
    (root / "etc").mkdir(parents=True)
    cs = f"dips://localhost:{_free_port()}/Configuration/Server"
    second = f"dips://127.0.0.1:{_free_port()}/Configuration/Server"
    env = {"PATH": f"{REAL_DIRAC}/bin:/usr/bin:/bin", "HOME": str(tmp_path / "cfg-home"),
           "DIRAC_ROOT_PATH": str(root), "X509_CERT_DIR": str(tmp_path / "scratch-ca")}
    argv = [str(configure), "-F", "-S", "GridPP", "-C", f"{cs},{second}", "--SkipCAChecks", "-M"]
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"]).returncode == 0:
        argv = ["unshare", "-rn"] + argv  # belt and braces: no network at all
    subprocess.run(argv, env=env, capture_output=True, timeout=120)
    written = (root / "etc" / "dirac.cfg").read_text()
    # The trees' cfg helper writes the same bytes for the same arguments.
    assert written == dirac_cfg_text(servers=(cs, second), local_extra=(
        ("SkipCAChecks", "True"), ("SkipVOMSDownload", "True")))
    assert f"Servers += {second}" in written
    tree = build_diracos(home, cfg=written)
    r = run_checks(home, "--mu3e-select", "CFG", "--mu3e-cs-url", cs, env=tree.env())
    assert {c.id: c.outcome for c in r.cases.values()} == {
        f"CFG-00{n}": "passed" for n in range(1, 6)}


def test_no_dirac_cfg_fails_with_dirac_configure(home):
    tree = build_diracos(home, cfg="")
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    case = r["CFG-001"]
    assert case.outcome == "failed"
    assert f"DIRAC reads {tree.cfg}" in case.message
    assert case.fix == (f"source {tree.prefix}/diracosrc\n"
                        f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I")
    assert r.failed() == ["CFG-001"]


def test_dirac_root_path_elsewhere_explains_the_unread_cfg(home, tmp_path):
    tree = build_diracos(home)
    root = tmp_path / "root"
    r = run_checks(home, "--mu3e-select", "CFG-001",
                   env=tree.env(DIRAC_ROOT_PATH=str(root)))
    case = r["CFG-001"]
    assert case.outcome == "failed"
    assert f"DIRAC reads {root}/etc/dirac.cfg (rootPath from $DIRAC_ROOT_PATH)" in case.message
    assert f"there is one at {tree.cfg}" in case.message


def test_unclosed_section_names_the_line(home):
    text = dirac_cfg_text().replace("  Security\n  {\n    UseServerCertificate = no\n  }\n",
                                    "  Security\n  {\n    UseServerCertificate = no\n")
    tree = build_diracos(home, cfg=text)
    line = text.splitlines().index("  Security") + 1
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    case = r["CFG-002"]
    assert case.outcome == "failed"
    assert f"{tree.cfg}: line {line + 1}: the section opened here is never closed" in case.message
    assert case.fix.startswith(f"# correct line {line + 1} of {tree.cfg}")
    assert "dirac-configure -F" in case.fix
    assert r.outcome("CFG-003") == "skipped"


def test_append_before_declare_names_the_line(home):
    text = dirac_cfg_text(servers=(GUIDE_CS, OTHER_GRIDPP_CS)).replace(
        f"    Servers = {GUIDE_CS}\n", "")
    tree = build_diracos(home, cfg=text)
    line = text.splitlines().index(f"    Servers += {OTHER_GRIDPP_CS}") + 1
    r = run_checks(home, "--mu3e-select", "CFG-001,CFG-002", env=tree.env())
    assert r.outcome("CFG-002") == "failed"
    assert f"line {line}: Option Servers has not been declared" in r["CFG-002"].message


def test_home_dirac_cfg_overriding_setup_is_named_with_its_file(home):
    tree = build_diracos(home)
    user_cfg = home / ".dirac.cfg"
    user_cfg.write_text("DIRAC\n{\n  Setup = LHCb-Certification\n}\n")
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    case = r["CFG-003"]
    assert case.outcome == "failed"
    assert f"'LHCb-Certification' (from {user_cfg})" in case.message
    assert f"{user_cfg} overrides /DIRAC/Setup" in case.fix
    assert r.failed() == ["CFG-003"]


def test_diracsysconfig_override_of_servers_is_layered(home, tmp_path):
    tree = build_diracos(home)
    site_cfg = tmp_path / "site.cfg"
    site_cfg.write_text(dirac_cfg_text(servers=("dips://cs.example.org:9135/Configuration/Server",
                                                )))
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env(DIRACSYSCONFIG=str(site_cfg)))
    assert r.outcome("CFG-004") == "failed"
    assert f"(from {site_cfg})" in r["CFG-004"].message
    assert f"{site_cfg} overrides /DIRAC/Configuration/Servers" in r["CFG-004"].fix


def test_use_server_certificate_fails_and_its_sed_fix_works(home):
    tree = build_diracos(home, cfg=dirac_cfg_text(use_server_certificate="yes"))
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    case = r["CFG-005"]
    assert case.outcome == "failed"
    assert "UseServerCertificate = yes" in case.message
    subprocess.run(["bash", "-c", case.fix], check=True)
    assert "UseServerCertificate = no" in tree.cfg.read_text()
    assert run_checks(home, "--mu3e-select", "CFG", env=tree.env()).failed() == []


def test_stray_line_warns(home):
    text = dirac_cfg_text().replace("  Setup = GridPP\n", "  Setup = GridPP\n  Mu3e rocks\n")
    tree = build_diracos(home, cfg=text)
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    assert r.outcome("CFG-002") == "warned"
    assert "'Mu3e rocks' is neither" in r["CFG-002"].message


def test_cert_dir_from_diracosrc_system_choice_warns(home, grid, tmp_path):
    """diracosrc prefers a non-empty system CA dir; the guide's export is the fix."""
    system = grid.trust_dir(tmp_path / "system-certificates")
    tree = build_diracos(home, system_ca=system)
    r = run_checks(home, "--mu3e-select", "ENV-001", env=tree.sourced_env(home))
    case = r["ENV-001"]
    assert case.outcome == "warned"
    assert f"X509_CERT_DIR is {system}, not the DIRACOS directory" in case.message
    assert case.fix == f"export X509_CERT_DIR={tree.cert_dir}"
    fixed = tree.sourced_env(home, case.fix)
    assert run_checks(home, "--mu3e-select", "ENV-001", env=fixed).outcome("ENV-001") == "passed"


def test_cert_dir_differs_from_the_dir_being_checked_fails(home, tmp_path):
    tree = build_diracos(home)
    other = tmp_path / "other-cas"
    r = run_checks(home, "--mu3e-select", "ENV-001", "--mu3e-trust-dir", str(other),
                   env=tree.env())
    assert r.outcome("ENV-001") == "failed"
    assert r["ENV-001"].fix == f"export X509_CERT_DIR={other}"


def test_vomses_unset_and_without_mu3e_warn(home):
    tree = build_diracos(home)
    r = run_checks(home, "--mu3e-select", "ENV", env=tree.env(X509_VOMSES=None))
    assert r.outcome("ENV-002") == "warned"
    assert r["ENV-002"].fix == f"export X509_VOMSES={tree.prefix}/etc/grid-security/vomses"
    (tree.prefix / "etc/grid-security/vomses/mu3e.org").write_text(
        '"lhcb" "voms2.cern.ch" "15003" "/DC=ch/DC=cern/OU=computers/CN=voms2.cern.ch" "lhcb"\n')
    r = run_checks(home, "--mu3e-select", "ENV", env=tree.env())
    assert r.outcome("ENV-002") == "warned"
    assert "no vomses entry for mu3e.org" in r["ENV-002"].message
    assert "dirac-configure -F" in r["ENV-002"].fix
    assert r.outcome("ENV-003") == "passed"


def test_vomsdir_without_lsc_warns(home):
    tree = build_diracos(home)
    shutil.rmtree(tree.prefix / "etc/grid-security/vomsdir/mu3e.org")
    r = run_checks(home, "--mu3e-select", "ENV-003", env=tree.env())
    assert r.outcome("ENV-003") == "warned"
    assert "has no .lsc file" in r["ENV-003"].message


def test_hostile_cfg_files_get_a_sentence_not_a_traceback(home, tmp_path):
    tree = build_diracos(home, cfg="")
    tree.cfg.symlink_to(tree.cfg)  # a symlink loop
    (home / ".dirac.cfg").write_bytes(bytes(range(256)) * 64)  # binary garbage
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env())
    case = r["CFG-002"]
    assert case.outcome == "failed"
    assert f"DIRAC cannot load {tree.cfg}: {tree.cfg} is a symbolic link loop" in case.message
    assert "Traceback" not in r.stdout and "INTERNALERROR" not in r.stdout
    assert r.failed() == ["CFG-002"]


def test_fixes_for_a_hostile_prefix_cfg_and_cs_url_run_nothing_when_pasted(home, tmp_path):
    """A DIRACOS prefix, a dirac.cfg path and a CS URL carrying shell syntax reach the fixes
    as data: every fix the run prints passes `bash -n`, and pasted into bash (the commands it
    names stubbed out) runs none of the values' payload."""
    evil = tmp_path / "d $(touch PWNED) `touch PWNED`;'x\"" / "diracos"
    tree = build_diracos(home, prefix=evil, cfg="")
    user_cfg = home / "cfg`touch${IFS}PWNED`;$(touch${IFS}PWNED).cfg"  # DIRAC drops spaces
    user_cfg.write_text("DIRAC\n{\n  Setup = Other\n  Mu3e rocks\n}\n")
    cs = "dips://cs.example.org:9135/Configuration/Server;touch${IFS}PWNED"
    r = run_checks(home, "--mu3e-select", "DIRACOS,DIRAC,CFG,ENV-002,ENV-003",
                   "--mu3e-cs-url", cs,
                   env=tree.env(PATH="/usr/bin:/bin", DIRACSYSCONFIG=str(user_cfg),
                                X509_VOMSES=str(tmp_path / "no $(touch PWNED)")))
    fixes = {c.id: c.fix for c in r.cases.values() if c.fix}
    assert {"DIRACOS-003", "CFG-002", "CFG-003", "ENV-002"} <= set(fixes), fixes
    assert fixes["DIRACOS-003"] == f"source {quote(str(evil / 'diracosrc'))}"
    stubs = ("source() { :; }; pip() { :; }; dirac-configure() { :; }; export() { :; }; "
             "sed() { :; }; nano() { :; }; python3.11() { :; }\n")
    for cid, text in fixes.items():
        subprocess.run(["bash", "-n", "-c", text], check=True)
        subprocess.run(["bash", "-c", stubs + text], cwd=tmp_path, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "EDITOR": "true"}, timeout=30)
        assert not (tmp_path / "PWNED").exists(), (cid, text)
    assert f"{user_cfg} overrides /DIRAC/Setup" in fixes["CFG-003"]


# ------------------------------------------------- DIRAC's root, from the Python that runs DIRAC
# A plain venv's DIRAC takes sys.base_prefix (the Python the venv was made from) as its root,
# not the venv: tests/peers/test_dirac_root.py proves each computation below with DIRAC itself.

#: dirac-configure as a bash function, for fixes pasted here: it writes what the real one writes
#: (tests/peers/test_dirac_root.py runs the real one) where the real one writes it.
CONFIGURE_STUB = ('dirac-configure() { mkdir -p "${DIRAC_ROOT_PATH:?}/etc" && printf %s "$CFG" '
                  '> "$DIRAC_ROOT_PATH/etc/dirac.cfg"; }\n')


def _venv(tmp_path):
    base = tmp_path / "base-python"
    return base, layout_venv(tmp_path / "venv", fake_base_python(base))


def test_dirac_in_a_plain_venv_reads_its_base_pythons_cfg_and_the_fix_moves_its_root(home,
                                                                                    tmp_path):
    """The issue's case: a DIRACOS tree with a good dirac.cfg, but the dirac-* commands on PATH
    come from a plain venv.  DIRAC reads <base>/etc/dirac.cfg, which does not exist."""
    tree = build_diracos(home)
    base, venv = _venv(tmp_path)
    r = run_checks(home, "--mu3e-select", "CFG", env=venv.env())
    case = r["CFG-001"]
    assert case.outcome == "failed"
    assert (f"DIRAC reads {base}/etc/dirac.cfg (rootPath from sys.base_prefix of {venv.python}, "
            "the Python dirac-proxy-init runs under: a venv") in case.message
    assert f"home = {base}/bin in {venv.path}/pyvenv.cfg), not the venv {venv.path}" \
        in case.message
    assert f"there is one at {tree.cfg}, but DIRAC does not read it" in case.message
    assert case.fix == (
        f"export DIRAC_ROOT_PATH={venv.path}   # DIRAC's root for this venv, instead of {base}\n"
        f"printf 'export DIRAC_ROOT_PATH=%q\\n' {venv.path} >> {venv.activate}   "
        "# every shell that activates the venv gets it\n"
        f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I")
    assert r.failed() == ["CFG-001"]
    # The fix, pasted into the shell that activated the venv; then a new shell activates it.
    subprocess.run(["bash", "--noprofile", "--norc", "-c",
                    f"source {venv.activate}\n{CONFIGURE_STUB}{case.fix}"], check=True,
                   env={"PATH": "/usr/bin:/bin", "CFG": dirac_cfg_text()}, timeout=30)
    assert (venv.path / "etc" / "dirac.cfg").is_file()
    fixed = venv.sourced_env(home)
    assert fixed["DIRAC_ROOT_PATH"] == str(venv.path)
    r = run_checks(home, "--mu3e-select", "CFG", env=fixed)
    assert {c.id: c.outcome for c in r.cases.values()} == {
        f"CFG-00{n}": "passed" for n in range(1, 6)}
    assert f"DIRAC's rootPath is {venv.path} ($DIRAC_ROOT_PATH)" in \
        r["CFG-001"].properties["note"]


def test_dirac_in_a_venv_whose_base_python_holds_the_cfg_passes(home, tmp_path):
    base, venv = _venv(tmp_path)
    (venv.path / "etc").mkdir()
    (venv.path / "etc" / "dirac.cfg").write_text(dirac_cfg_text())
    r = run_checks(home, "--mu3e-select", "CFG-001", env=venv.env())
    assert r.outcome("CFG-001") == "failed"
    assert f"there is one at {venv.path}/etc/dirac.cfg, but DIRAC does not read it" in \
        r["CFG-001"].message
    (base / "etc").mkdir()
    (venv.path / "etc" / "dirac.cfg").rename(base / "etc" / "dirac.cfg")
    r = run_checks(home, "--mu3e-select", "CFG", env=venv.env())
    assert r.failed() == [], {c.id: c.message for c in r.cases.values()}
    note = r["CFG-001"].properties["note"]
    assert f"DIRAC's rootPath is {base} (sys.base_prefix of {venv.python}" in note
    assert f"<rootPath>/etc/dirac.cfg: {base}/etc/dirac.cfg (" in note


def test_empty_dirac_root_path_warns(home, tmp_path):
    """DIRAC takes an empty DIRAC_ROOT_PATH as set: it reads etc/dirac.cfg relative to
    wherever a command starts."""
    tree = build_diracos(home, cfg="")
    (home / ".dirac.cfg").write_text(dirac_cfg_text())
    r = run_checks(home, "--mu3e-select", "CFG", env=tree.env(DIRAC_ROOT_PATH=""))
    case = r["CFG-001"]
    assert case.outcome == "warned"
    assert "set but empty" in case.message
    assert case.fix == "unset DIRAC_ROOT_PATH"
    assert run_checks(home, "--mu3e-select", "CFG", env=tree.env()).outcome("CFG-001") == \
        "passed"


def test_venv_ca_dir_and_vomses_are_under_diracs_root(home, grid, tmp_path):
    """With X509_CERT_DIR unset, DIRAC looks for CAs under its rootPath: the base Python's
    prefix for a venv; dirac-configure's vomses are there too."""
    base, venv = _venv(tmp_path)
    (base / "etc").mkdir()
    (base / "etc" / "dirac.cfg").write_text(dirac_cfg_text())
    env = venv.env()
    r = run_checks(home, "--mu3e-select", "CA-001", env=env)
    assert r.outcome("CA-001") == "failed"
    certs = base / "etc" / "grid-security" / "certificates"
    assert f"CA directory: {certs} (under DIRAC's rootPath" in r["CA-001"].properties["note"]
    grid.trust_dir(certs)
    r = run_checks(home, "--mu3e-select", "CA-001,ENV-002", env=env)
    assert r.outcome("CA-001") == "passed"
    assert f"CA directory: {certs} (under DIRAC's rootPath" in r["CA-001"].properties["note"]
    vomses = base / "etc" / "grid-security" / "vomses"
    assert r.outcome("ENV-002") == "warned"
    assert str(vomses) in r["ENV-002"].fix


def test_hostile_dirac_commands_on_path_are_named_not_crashes(home, tmp_path):
    """A FIFO, a binary and a #! line naming a link loop where dirac-proxy-init should be:
    each is a sentence in the report, and the run keeps its promises (no error, no hang)."""
    tree = build_diracos(home)
    hostile = tmp_path / "hostile-bin"
    hostile.mkdir()
    os.mkfifo(hostile / "dirac-proxy-init")
    (hostile / "dirac-configure").write_bytes(b"\x7fELF" + bytes(100))
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    (hostile / "dirac-proxy-info").write_text(f"#!{loop}\n")
    for f in hostile.iterdir():
        f.chmod(0o755)
    r = run_checks(home, "--mu3e-select", "DIRAC,CFG",
                   env=tree.env(PATH=f"{hostile}:{tree.bin}:/usr/bin:/bin"))
    assert "named pipe" in r["CFG-001"].properties["note"]
    assert r.outcome("CFG-001") == "passed"  # DIRACOS's DIRAC and cfg, as before
    (hostile / "dirac-proxy-init").unlink()
    (hostile / "dirac-proxy-info").rename(hostile / "dirac-proxy-init")
    r = run_checks(home, "--mu3e-select", "DIRAC-001",
                   env=tree.env(PATH=f"{hostile}:{tree.bin}:/usr/bin:/bin"))
    case = r["DIRAC-001"]
    assert case.outcome == "failed" and "bad interpreter" in case.message
    assert f"{loop} does not exist" in case.message


def test_venv_cert_dir_export_names_the_venvs_own_directory(home, grid, tmp_path):
    """ENV-001's export for DIRAC in a venv: the directory under the root CFG-001's fix gives
    it (the venv), where dirac-configure puts the CAs, not ~/dirac_ui/diracos's."""
    _, venv = _venv(tmp_path)
    r = run_checks(home, "--mu3e-select", "ENV-001", env=venv.env())
    case = r["ENV-001"]
    own = venv.path / "etc" / "grid-security" / "certificates"
    assert case.outcome == "warned"
    assert case.fix == f"export X509_CERT_DIR={own}"
    grid.trust_dir(own)
    fixed = venv.env(X509_CERT_DIR=str(own), DIRAC_ROOT_PATH=str(venv.path))
    assert run_checks(home, "--mu3e-select", "ENV-001",
                      env=fixed).outcome("ENV-001") == "passed"


def test_missing_vomses_and_vomsdir_get_dirac_configure_not_an_export_of_the_same_value(home):
    """diracosrc already points X509_VOMSES/X509_VOMS_DIR at DIRACOS's folders; what is missing
    is the folders, which dirac-configure writes from the CS (issue 19: the export of the value
    the variable already has was printed instead).  Without a proxy, the guide's local one
    comes first: dirac-configure -I needs it."""
    tree = build_diracos(home, vomses=False)
    r = run_checks(home, "--mu3e-select", "ENV-002,ENV-003",
                   env=tree.env(X509_USER_PROXY=str(home / "no-proxy")))
    configure = (f"source {tree.prefix}/diracosrc\n"
                 f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I")
    for cid in ("ENV-002", "ENV-003"):
        case = r[cid]
        assert case.outcome == "warned" and "which does not exist" in case.message
        assert case.fix == ("dirac-proxy-init --nocs -N -g mu3e.org_user   # dirac-configure -I "
                            "needs a proxy to read the CS\n" + configure), case.fix
        assert "export" not in case.fix
