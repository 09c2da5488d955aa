"""The DIRACOS / DIRAC / dirac.cfg knowledge, called directly (no diagnosis run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mu3e_checks import commands
from mu3e_checks.advice import diracos as adv
from mu3e_checks.knowledge import dirac_cfg as dc
from mu3e_checks.knowledge import diracos as dos
from mu3e_checks.knowledge import voms_env
from mu3e_checks.knowledge.pydists import find_dists, python_satisfies
from mu3e_checks.settings import Settings, resolve
from tests.support.diracos_trees import (
    GUIDE_CS,
    OTHER_GRIDPP_CS,
    build_diracos,
    dirac_cfg_text,
    install_release,
)


def test_find_dists_reads_real_metadata_whatever_the_name_case(tmp_path, dirac_releases):
    site = tmp_path / "site"
    install_release(dirac_releases["DIRAC==8.0.74"], site)
    (site / "dirac-8.0.74.dist-info").rename(site / "DIRAC-8.0.74.dist-info")
    [dist] = find_dists([site], "dirac")
    assert (dist.name, dist.version, dist.requires_python) == ("DIRAC", "8.0.74", ">=3.9")
    assert dist.problem is None
    assert find_dists([site], "setuptools") == []


def test_broken_metadata_still_gives_a_named_dist(tmp_path):
    meta = tmp_path / "DIRAC-9.0.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_bytes(b"\xff\xfe garbage without headers")
    [dist] = find_dists([tmp_path, tmp_path / "missing"], "DIRAC")
    assert dist.version == "9.0.0" and "does not state a Version" in dist.problem


def test_python_satisfies():
    assert python_satisfies(">=3.9", "3.11.7") is True
    assert python_satisfies(">=3.11", "3.9.18") is False
    assert python_satisfies(None, "3.6") is True
    assert python_satisfies("not a spec", "3.11") is None


@pytest.mark.parametrize("text,version,problem", [
    ("DIRACOS2 2.49\n", "2.49", None),
    ("DIRACOS 1.0.0\n", "1.0.0", "legacy DIRACOS 1"),
    ("", None, "is empty"),
    ("hello", None, "not 'DIRACOS2 <version>'"),
])
def test_read_diracos_version(tmp_path, text, version, problem):
    (tmp_path / ".diracos_version").write_text(text)
    got, _, why = dos.read_diracos_version(tmp_path)
    assert got == version
    assert (why is None) if problem is None else (problem in why)


def test_diracos_python_prefers_conda_meta_and_ignores_python_dateutil(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    (tmp_path / "conda-meta" / "python-dateutil-2.9.0-pyhd8ed1ab_0.json").write_text("{}")
    (tmp_path / "conda-meta" / "python-3.11.9-hab00c5b_0_cpython.json").write_text("{}")
    (tmp_path / "lib" / "python3.9").mkdir(parents=True)
    assert dos.diracos_python(tmp_path) == ("3.11.9", "conda-meta/python-3.11.9-*.json")
    (tmp_path / "conda-meta" / "python-3.11.9-hab00c5b_0_cpython.json").unlink()
    assert dos.diracos_python(tmp_path) == ("3.9", "lib/python3.9")


def test_activation_problem(tmp_path):
    prefix = tmp_path / "diracos"
    (prefix / "bin").mkdir(parents=True)
    ok = {"DIRACOS": str(prefix), "PATH": f"{prefix}/condabin:{prefix}/bin:/usr/bin"}
    assert dos.activation_problem(ok, prefix) is None
    assert "not set" in dos.activation_problem({"PATH": f"{prefix}/bin"}, prefix)
    late = {"DIRACOS": str(prefix), "PATH": f"/usr/bin:{prefix}/bin"}
    assert "after /usr/bin" in dos.activation_problem(late, prefix)
    assert "not on PATH" in dos.activation_problem({"DIRACOS": str(prefix), "PATH": "/bin"},
                                                   prefix)


def test_activation_ignores_only_the_given_interpreter_dirs(tmp_path):
    """A venv activated after ``source diracosrc`` comes first on PATH; that venv is the
    diagnosing Python's own and is excused, any other directory before DIRACOS is not."""
    prefix = tmp_path / "diracos"
    (prefix / "bin").mkdir(parents=True)
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    env = {"DIRACOS": str(prefix), "PATH": f"{venv}:{prefix}/bin:{prefix}/condabin:/usr/bin"}
    assert "after " + str(venv) in dos.activation_problem(env, prefix)
    assert dos.activation_problem(env, prefix, ignore=[venv]) is None
    assert dos.entries_before_bin(env, prefix) == [str(venv)]
    foreign = {**env, "PATH": f"{venv}:/opt/other/bin:{prefix}/bin"}
    problem = dos.activation_problem(foreign, prefix, ignore=[venv])
    assert "after /opt/other/bin" in problem and str(venv) not in problem
    # The interpreter living in DIRACOS itself: its bin is DIRACOS's, nothing to excuse.
    assert dos.activation_problem({"DIRACOS": str(prefix), "PATH": f"{prefix}/bin:/usr/bin"},
                                  prefix, ignore=[prefix / "bin"]) is None
    assert "not on PATH" in dos.activation_problem({"DIRACOS": str(prefix), "PATH": str(venv)},
                                                   prefix, ignore=[venv])


def test_interpreter_bin_dirs_never_excuse_the_system_dirs(tmp_path):
    venv = tmp_path / "venv"
    assert dos.interpreter_bin_dirs(str(venv), str(venv / "bin" / "python")) == (venv / "bin",)
    pyenv = tmp_path / "pyenv" / "versions" / "3.11.7"
    assert dos.interpreter_bin_dirs(str(venv), str(pyenv / "bin" / "python3")) == (
        venv / "bin", pyenv / "bin")
    assert dos.interpreter_bin_dirs("/usr", "/usr/bin/python3") == ()
    assert dos.interpreter_bin_dirs("/usr/local", "/usr/local/bin/python3") == ()


@pytest.mark.parametrize("version,level", [
    ("8.0.74", "ok"), ("8.0.86", "warn"), ("9.0.0", "fail"), ("10.1", "fail"), ("7.3.38", "fail"),
    ("banana", "fail")])
def test_version_verdict(version, level):
    assert adv.version_verdict(version)[0] == level


def test_cfg_from_dirac_configure_format_reads_back_plus_equals_lists():
    cfg = dc.parse_cfg(dirac_cfg_text(servers=(GUIDE_CS, OTHER_GRIDPP_CS)))
    options = dict(dc.flatten(cfg))
    assert dc.split_list(options[dc.SERVERS_PATH]) == [GUIDE_CS, OTHER_GRIDPP_CS]
    assert options[dc.SETUP_PATH] == "GridPP"


@pytest.mark.parametrize("text,line,words", [
    ("DIRAC\n{\n  Setup = GridPP\n}\n}\n", 5, "never opened"),
    ("DIRAC\n{\n  Setup = GridPP\n", 2, "never closed"),
    ("DIRAC\n{\n  Setup = a\n  Servers += b\n}\n", 4, "has not been declared"),
    ("DIRAC\n{\n}\nDIRAC\n{\n}\n", 5, "already exists"),
])
def test_parse_errors_name_the_line(text, line, words):
    with pytest.raises(dc.CfgSyntaxError) as err:
        dc.parse_cfg(text)
    assert err.value.line == line and words in str(err.value)


def test_stray_lines():
    text = "DIRAC\n{\n  Setup GridPP\n  Configuration\n  {\n  }\n}\n"
    assert dc.stray_lines(text) == [(3, "Setup GridPP")]


def test_layering_follows_dirac_order(tmp_path):
    root, home = tmp_path / "root", tmp_path / "home"
    (root / "etc").mkdir(parents=True)
    home.mkdir()
    (root / "etc" / "dirac.cfg").write_text(dirac_cfg_text())
    first, second = tmp_path / "first.cfg", tmp_path / "second.cfg"
    first.write_text("DIRAC\n{\n  Setup = First\n}\n")
    second.write_text("DIRAC\n{\n  Setup = Second\n  Extra = 1\n}\n")
    env = {"DIRACSYSCONFIG": f"{first}, {second}"}
    layered = dc.load_layered(env, root, home)
    # DIRAC loads DIRACSYSCONFIG from the last to the first: the first listed wins.
    assert layered.get(dc.SETUP_PATH) == "First"
    assert layered.source_of("/DIRAC/Extra") == second
    assert [o.previous for o in layered.overrides if o.option == dc.SETUP_PATH] == \
        ["GridPP", "Second"]
    (home / ".dirac.cfg").write_text("DIRAC\n{\n  Setup = Home\n}\n")
    assert dc.load_layered(env, root, home).get(dc.SETUP_PATH) == "Home"
    assert dc.load_layered({"DIRAC_ROOT_PATH": str(tmp_path)}, root, home).root == tmp_path


def test_is_true_is_diracs_reading():
    assert all(dc.is_true(v) for v in ("yes", "Y", "true", "1", " True "))
    assert not any(dc.is_true(v) for v in ("no", "false", "0", "", None, "on"))


def test_vomses_parsing(tmp_path):
    f = tmp_path / "vomses"
    f.write_text('# comment\n"mu3e.org" "voms.gridpp.ac.uk" "15511" "/C=UK/CN=v" "mu3e.org" '
                 '"24"\nbroken line\n')
    entries, problems = voms_env.read_vomses(f)
    assert [e.host for e in voms_env.entries_for(entries, "mu3e.org")] == ["voms.gridpp.ac.uk"]
    assert len(problems) == 1 and "line 3" in problems[0]
    assert voms_env.read_vomses(tmp_path) == (entries, problems)  # a directory of files


def test_cs_url_follows_the_cfg(grid, tmp_path, dirac_releases):
    from mu3e_checks.knowledge.dirac_cfg import load_layered, target_cs_url
    from mu3e_checks.knowledge.diracos import find_dirac, inspect_diracos

    home = grid.home(tmp_path)
    tree = build_diracos(home, cfg=dirac_cfg_text(servers=(OTHER_GRIDPP_CS, GUIDE_CS)))
    settings = Settings.build(resolve({}, {}), {"HOME": str(home), **tree.env()})
    install = find_dirac(inspect_diracos(settings.diracos, settings.diracos_source),
                         settings.environ, settings.home)
    layered = load_layered(settings.environ, install.python_prefix, settings.home)
    assert target_cs_url(layered, "dips://expected:9135/x") == OTHER_GRIDPP_CS
    empty = load_layered({}, tmp_path / "nowhere", tmp_path)
    assert target_cs_url(empty, "dips://expected:9135/x") == "dips://expected:9135/x"
    assert not Path(settings.home / ".dirac.cfg").exists()


HOSTILE_PATH = "/tmp/a b/$(touch PWNED)/`touch PWNED`;x\n'q"


def _pasted_runs_nothing(text: str, tmp_path: Path, stubs: str = "") -> None:
    """Paste a fix into bash with its commands stubbed out: the values' payload never runs."""
    subprocess.run(["bash", "-n", "-c", text], check=True)
    subprocess.run(["bash", "-c", stubs + text], cwd=tmp_path, capture_output=True)
    assert not (tmp_path / "PWNED").exists()


def test_dirac_fix_producers_render_the_guide_lines(tmp_path):
    prefix = tmp_path / "dirac_ui" / "diracos"
    prefix.mkdir(parents=True)
    (prefix / "diracosrc").write_text("export DIRACOS=...\n")
    inspected = dos.inspect_diracos(prefix, "test")
    assert adv.diracosrc_line(prefix).render() == f"source {prefix}/diracosrc"
    assert adv.pip_dirac(inspected).render() == (f"source {prefix}/diracosrc\n"
                                                 "pip install DIRAC==8.0.74")
    assert adv.pip_setuptools(inspected).render() == (f"source {prefix}/diracosrc\n"
                                                      'pip install "setuptools<82"')
    missing = dos.inspect_diracos(tmp_path / "none" / "diracos", "test")
    assert adv.pip_dirac(missing, force=True).render() == (
        "pip install --force-reinstall --no-deps DIRAC==8.0.74")
    assert adv.install_commands(prefix).render().splitlines()[:2] == [
        f"mkdir -p {prefix.parent}", f"cd {prefix.parent}"]
    assert commands.configure("GridPP", GUIDE_CS).render() == (
        f"dirac-configure -F -S GridPP -C {GUIDE_CS} -I")


def test_dirac_fix_producers_keep_hostile_values_as_data(tmp_path):
    prefix = Path(HOSTILE_PATH) / "diracos"
    stubs = ("source() { :; }; pip() { :; }; curl() { :; }; mkdir() { :; }; cd() { :; }; "
             "dirac-configure() { :; }; mv() { :; }; rm() { :; }; bash() { :; }\n")
    for fix in (adv.diracosrc_line(prefix), adv.install_commands(prefix),
                commands.configure("Grid$(touch PWNED)", "dips://h`touch PWNED`:9135/x")):
        text = fix.render()
        assert "\n'q" not in text  # the newline in the value stays escaped, on its line
        _pasted_runs_nothing(text, tmp_path, stubs)


def test_uninstall_command_names_the_owning_python(tmp_path):
    from mu3e_checks.knowledge.pydists import Dist

    user_site = tmp_path / ".local" / "lib" / "python3.11" / "site-packages"
    dist = Dist("DIRAC", "9.1.22", user_site, user_site / "dirac-9.1.22.dist-info")
    assert adv.uninstall_command(dist, "user site").render() == (
        f"python3.11 -m pip uninstall DIRAC   # DIRAC 9.1.22 in {user_site}")
    assert adv.uninstall_command(dist, "$PYTHONPATH").render() == (
        f"# take {user_site} off PYTHONPATH (it holds DIRAC 9.1.22)")
    venv_site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    other = Dist("DIRAC", "8.0.86", venv_site, venv_site / "dirac-8.0.86.dist-info")
    assert adv.uninstall_command(other, "the Python running these checks").render() == (
        f"{tmp_path}/venv/bin/python -m pip uninstall DIRAC   # DIRAC 8.0.86")


def test_every_check_of_these_chapters_explains_itself():
    """docs/checks.md is generated from the docstrings: each check of the certificate,
    DIRACOS/DIRAC, local proxy and configuration chapters says why it exists in 2-6 lines."""
    from mu3e_checks.registry import load_all

    modules = ("test_01_certificate", "test_02_diracos", "test_05_local_proxy",
               "test_06_configuration")
    ours = [c for c in load_all().values() if c.function.split(".")[-2] in modules
            and c.id != "ENV-001"]  # ENV-001's body and text belong to the trust-store work
    assert len(ours) >= 30
    bad = {c.id: c.doc for c in ours if not 2 <= len(c.doc.splitlines()) <= 6}
    assert bad == {}
