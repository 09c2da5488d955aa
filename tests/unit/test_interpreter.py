"""Which Python runs DIRAC, and its prefixes, read from disk (knowledge/interpreter.py and the
runner in knowledge/diracos.py).  tests/peers/test_dirac_root.py compares these with DIRAC and
CPython themselves; here the layouts are built by hand, hostile ones included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mu3e_checks.advice import diracos as adv
from mu3e_checks.knowledge import diracos as dos
from mu3e_checks.knowledge.dirac_cfg import computed_root, root_path
from mu3e_checks.knowledge.interpreter import (
    inspect_interpreter,
    read_shebang,
    resolve_file_links,
    site_packages,
    user_site_enabled,
)
from tests.support.diracos_trees import fake_base_python


def _script(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(0o755)
    return path


def test_shebang_forms_pip_writes(tmp_path):
    s = _script(tmp_path / "a", "#!/opt/v/bin/python3\nimport sys\n")
    assert read_shebang(s, {}).interpreter == Path("/opt/v/bin/python3")
    s = _script(tmp_path / "b", "#! /opt/v/bin/python -sE\n")
    found = read_shebang(s, {})
    assert found.interpreter == Path("/opt/v/bin/python")
    assert found.flag("s") and found.flag("E") and not found.flag("I")
    # pip's form for a path too long for '#!', or holding a space
    s = _script(tmp_path / "c", "#!/bin/sh\n'''exec' \"/a b/bin/python\" \"$0\" \"$@\"\n' '''\n")
    assert read_shebang(s, {}).interpreter == Path("/a b/bin/python")
    py = _script(tmp_path / "bin" / "python3", "")
    s = _script(tmp_path / "d", "#!/usr/bin/env -S python3 -E\n")
    found = read_shebang(s, {"PATH": str(tmp_path / "bin")})
    assert found.interpreter == py and found.flag("E")


@pytest.mark.parametrize("content, words", [
    (b"", "no '#!' line"),
    (b"\x7fELF\x02\x01\x01" + bytes(64), "no '#!' line"),
    (b"#!\n", "empty '#!' line"),
    (b"#!/usr/bin/env\n", None),
    (b"#!/usr/bin/env nosuchpython\n", "not on PATH"),
    (b"#!/bin/sh\necho hi\n", "shell script"),
])
def test_shebangs_that_name_no_python(tmp_path, content, words):
    found = read_shebang(_script(tmp_path / "s", content), {"PATH": str(tmp_path)})
    if words is None:  # a bare env: the kernel runs env itself, which is not a Python
        assert found.interpreter == Path("/usr/bin/env")
    else:
        assert found.interpreter is None and words in found.problem


def test_hostile_command_files_are_named_not_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "named pipe" in read_shebang(fifo, {}).problem
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(b"#!/x/python\n")
        f.truncate(200 * 1024 * 1024)
    assert "larger than expected" in read_shebang(big, {}).problem
    assert "directory" in read_shebang(tmp_path, {}).problem
    nul = _script(tmp_path / "nul", b"#!/opt/v\x00/bin/python\n")
    interp = inspect_interpreter(read_shebang(nul, {}).interpreter, {})  # never raises
    assert interp.missing


def test_venv_base_prefix_comes_from_home_not_the_venv(tmp_path):
    base = tmp_path / "base"
    exe = fake_base_python(base)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(exe)
    (venv / "pyvenv.cfg").write_text(f"home = {exe.parent}\nversion = 3.11.4\n"
                                      "include-system-site-packages = false\n")
    (venv / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    interp = inspect_interpreter(venv / "bin" / "python", {})
    assert (interp.venv, interp.prefix, interp.base_prefix) == (True, venv, base)
    assert interp.version == "3.11.4" and interp.problem is None
    assert interp.how == f"home = {exe.parent} in {venv}/pyvenv.cfg"
    assert site_packages(interp) == [venv / "lib" / "python3.11" / "site-packages"]
    assert not user_site_enabled(interp, {})
    (venv / "pyvenv.cfg").write_text(f"home = {exe.parent}\n")  # site.py's default: true
    assert user_site_enabled(inspect_interpreter(venv / "bin" / "python", {}), {})
    # $PYTHONHOME overrides the venv's base, unless the #! line says -E
    other = tmp_path / "other"
    assert inspect_interpreter(venv / "bin" / "python",
                               {"PYTHONHOME": str(other)}).base_prefix == other
    assert inspect_interpreter(venv / "bin" / "python", {"PYTHONHOME": str(other)},
                               ignore_environment=True).base_prefix == base


def test_not_a_venv_prefix_from_the_resolved_file_not_linked_folders(tmp_path):
    prefix = tmp_path / "diracos"
    exe = fake_base_python(prefix)
    linked = tmp_path / "linked"
    linked.symlink_to(prefix)
    interp = inspect_interpreter(linked / "bin" / "python3.11", {})
    assert (interp.venv, interp.prefix, interp.base_prefix) == (False, linked, linked)
    assert computed_root(interp.base_prefix) == prefix  # DIRAC resolves the folder link
    alias = tmp_path / "bin" / "python3"
    alias.parent.mkdir()
    alias.symlink_to(exe)
    assert inspect_interpreter(alias, {}).base_prefix == prefix
    assert resolve_file_links(alias) == exe


@pytest.mark.parametrize("cfg", [
    "home = /nonexistent/bin\n",
    "home = bin\n",
    "home = /tmp/\x00bad\n",
    "no equals sign at all\n",
    "home\n" * 100_000,
])
def test_hostile_pyvenv_cfg_never_raises(tmp_path, cfg):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "pyvenv.cfg").write_text(cfg)
    interp = inspect_interpreter(venv / "bin" / "python", {})
    assert interp.prefix == venv
    computed_root(interp.base_prefix)
    site_packages(interp)


def test_link_loop_and_missing_interpreters(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert inspect_interpreter(loop, {}).missing
    gone = inspect_interpreter(tmp_path / "nope" / "python", {})
    assert gone.missing and "does not exist" in gone.problem


def test_dirac_root_follows_computeRootPath(tmp_path):
    server = tmp_path / "opt" / "dirac" / "versions" / "v8.0.74-1700000000" / "Linux-x86_64"
    server.mkdir(parents=True)
    assert computed_root(server) == tmp_path / "opt" / "dirac"
    odd = tmp_path / "versions" / "not-a-version" / "Linux-x86_64"
    odd.mkdir(parents=True)
    assert computed_root(odd) == odd
    assert root_path({"DIRAC_ROOT_PATH": ""}, server)[1].startswith("$DIRAC_ROOT_PATH, set but")
    assert root_path({"DIRAC_ROOT_PATH": "rel"}, server)[1].startswith("$DIRAC_ROOT_PATH, a rel")
    assert root_path({}, server, "why") == (tmp_path / "opt" / "dirac", "why")


def test_runner_is_the_python_of_the_first_dirac_command_on_path(tmp_path):
    tree = dos.inspect_diracos(tmp_path / "diracos", "test")
    assert dos.dirac_runner(tree, {"PATH": str(tmp_path / "empty")}) is None
    bin_dir = tmp_path / "venv" / "bin"
    _script(bin_dir / "dirac-proxy-init", f"#!{bin_dir}/python\n")
    _script(bin_dir / "dirac-configure", "#!/elsewhere/python\n")
    runner = dos.dirac_runner(tree, {"PATH": str(bin_dir)})
    assert runner.command == bin_dir / "dirac-proxy-init"
    assert runner.interpreter.executable == bin_dir / "python" and not runner.in_diracos
    # hostile command files: a FIFO, garbage, never an exception
    (bin_dir / "dirac-proxy-init").unlink()
    os.mkfifo(bin_dir / "dirac-proxy-init")
    (bin_dir / "dirac-proxy-init").chmod(0o755)
    runner = dos.dirac_runner(tree, {"PATH": str(bin_dir)})
    assert runner.interpreter is None and "named pipe" in runner.problem
    install = dos.find_dirac(tree, {"PATH": str(bin_dir)}, tmp_path)
    assert install.outside_diracos is None  # falls back to the usual notion


def _install_for(tmp_path: Path, venv: bool) -> tuple[dos.DiracInstall, dos.DiracosTree]:
    base = tmp_path / "base"
    exe = fake_base_python(base)
    bin_dir = tmp_path / "venv" / "bin"
    if venv:
        bin_dir.mkdir(parents=True)
        (bin_dir / "python").symlink_to(exe)
        (tmp_path / "venv" / "pyvenv.cfg").write_text(f"home = {exe.parent}\n")
    _script(bin_dir / "dirac-proxy-init", f"#!{bin_dir / 'python' if venv else exe}\n")
    tree = dos.inspect_diracos(tmp_path / "diracos", "test")
    return dos.find_dirac(tree, {"PATH": str(bin_dir)}, tmp_path), tree


def test_configure_where_read_for_each_python(tmp_path, monkeypatch):
    from mu3e_checks import commands

    configure = commands.configure("GridPP", "dips://cs:9135/Configuration/Server")
    install, tree = _install_for(tmp_path / "v", venv=True)
    venv = tmp_path / "v" / "venv"
    lines = adv.configure_where_read(install, tree, {}, configure).render().splitlines()
    assert lines[0].startswith(f"export DIRAC_ROOT_PATH={venv}   # DIRAC's root for this venv")
    assert lines[1].startswith(f"printf 'export DIRAC_ROOT_PATH=%q\\n' {venv} >> {venv}/bin/")
    assert lines[2] == configure.render()
    assert adv.configure_where_read(install, tree, {"DIRAC_ROOT_PATH": "/x"},
                                    configure) == configure
    assert dos.own_root(install, tree, {}) == venv
    # A Python that is not a venv: dirac-configure writes under its own prefix when it may...
    install, tree = _install_for(tmp_path / "p", venv=False)
    assert adv.configure_where_read(install, tree, {}, configure) == configure
    assert adv.configure_where_read(install, tree, {"DIRAC_ROOT_PATH": ""}, configure).render() \
        .splitlines()[0].startswith("unset DIRAC_ROOT_PATH")
    # ... and the guide's DIRACOS when it may not (root bypasses file modes: decided here).
    monkeypatch.setattr(adv, "can_create", lambda path: False)
    text = adv.configure_where_read(install, tree, {}, configure).render()
    assert "you cannot write: install DIRAC into DIRACOS" in text
    assert text.splitlines()[-1] == configure.render()
