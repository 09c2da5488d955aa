"""Report files are created, never followed: the outputs module on its own."""

from __future__ import annotations

import os

import pytest

from mu3e_checks import outputs


def test_write_replaces_a_planted_link_instead_of_following_it(tmp_path):
    victim = tmp_path / "bashrc"
    victim.write_text("keep me\n")
    reports = outputs.ensure_directory(tmp_path / "reports")
    (reports / "out.json").symlink_to(victim)
    outputs.write_file(reports / "out.json", b"{}\n")
    assert victim.read_text() == "keep me\n"
    assert not (reports / "out.json").is_symlink()
    assert (reports / "out.json").read_bytes() == b"{}\n"
    assert oct((reports / "out.json").stat().st_mode & 0o777) == "0o600"


def test_directories_we_create_are_private(tmp_path):
    made = outputs.ensure_directory(tmp_path / "a" / "b")
    assert made.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700


def test_a_linked_or_shared_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(outputs.OutputError, match="symbolic link"):
        outputs.ensure_directory(tmp_path / "link")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(outputs.OutputError, match="other accounts"):
        outputs.ensure_directory(shared)
    os.chmod(shared, 0o1777)  # sticky, like /tmp: others cannot replace our files
    assert outputs.ensure_directory(shared) == shared


def test_publish_moves_a_staged_file_into_place_and_cleans_up(tmp_path):
    reports = outputs.ensure_directory(tmp_path / "reports")
    staging = outputs.staging_directory(reports)
    assert staging.stat().st_mode & 0o777 == 0o700
    (staging / "r.html").write_text("<html></html>")
    (reports / "r.html").symlink_to(tmp_path / "victim")
    outputs.publish(staging / "r.html", reports / "r.html")
    assert (reports / "r.html").read_text() == "<html></html>"
    assert not (tmp_path / "victim").exists() and not staging.exists()


def test_paths_are_made_absolute_without_resolving_links(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l").symlink_to("/etc")
    assert outputs.absolute("l/x") == tmp_path / "l" / "x"


def test_default_names_never_take_an_existing_report(tmp_path):
    """Two runs in one second (fix: before and after) keep both reports; a planted link or a
    directory under the name counts as taken too."""
    assert outputs.unused_name(tmp_path, "mu3e-diagnosis-1", ".html") == "mu3e-diagnosis-1.html"
    (tmp_path / "mu3e-diagnosis-1.html").write_text("first")
    (tmp_path / "mu3e-diagnosis-1-2.html").symlink_to("/nonexistent")
    (tmp_path / "mu3e-diagnosis-1-3.html").mkdir()
    assert outputs.unused_name(tmp_path, "mu3e-diagnosis-1", ".html") == \
        "mu3e-diagnosis-1-4.html"
