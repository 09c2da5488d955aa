"""Writing the report files without ever following someone else's link.

Reports land in places other accounts may reach: a shared working directory, ``/tmp``.  A file
is therefore never opened by name for writing with ``O_TRUNC``: it is created new
(``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 600) inside a directory we hold open, and renamed into
place, which replaces a planted link instead of writing through it.  Directories we create are
ours, mode 700; a directory we did not create must not be a link, nor writable by other accounts
unless it is sticky.  Paths are made absolute lexically, never ``resolve()``d into a target
someone else chose.  When the safe way is impossible, :class:`OutputError` says why and nothing
is written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Optional

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NEW_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))


class OutputError(Exception):
    """A report cannot be written safely; the message says why, for the user."""


def absolute(path: os.PathLike[str] | str) -> Path:
    """``path`` made absolute without resolving any link (``os.path.abspath``)."""
    return Path(os.path.abspath(os.fspath(path)))


def directory_problem(st: os.stat_result, directory: Path) -> str:
    """Why an existing directory is unsafe to put a report in, or ''."""
    if stat.S_ISLNK(st.st_mode):
        return f"{directory} is a symbolic link; the report is never written through a link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if st.st_mode & stat.S_ISVTX:  # sticky: others may add files, never replace ours
        return ""
    mode = f"mode {stat.S_IMODE(st.st_mode):03o}, not sticky"
    if st.st_mode & stat.S_IWOTH:
        who = "every account"
    elif st.st_mode & stat.S_IWGRP and not group_is_only_you(st.st_gid):
        who = f"the members of group {_group_name(st.st_gid)}"
    else:
        return ""
    return (f"{directory} can be written by other accounts ({who}; {mode}): one of them could "
            "plant a link there for a report to be written through")


def _group_name(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def group_is_only_you(gid: int) -> bool:
    """True when no other account can be in group ``gid``: your own user-private group (your
    primary group, named as you, listing nobody else).  A CI or project group, or one the group
    database does not know, may have other members."""
    try:
        import grp
        import pwd

        group = grp.getgrgid(gid)
        me = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return False
    return gid == os.getgid() and group.gr_name == me and set(group.gr_mem) <= {me}


def ensure_directory(directory: Path) -> Path:
    """``directory``, created mode 700 where missing (parents too), or :class:`OutputError`."""
    directory = absolute(directory)
    missing = []
    probe = directory
    while True:
        try:
            os.lstat(probe)
            break
        except FileNotFoundError:
            missing.append(probe)
            if probe.parent == probe:
                raise OutputError(f"{directory} cannot be created") from None
            probe = probe.parent
        except OSError as exc:
            raise OutputError(f"{probe} cannot be used: {exc.strerror or exc}") from None
    if missing:  # an existing ancestor may be a link (/home -> /data/home); the report dir not
        for d in reversed(missing):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise OutputError(f"{d} cannot be created: {exc.strerror or exc}") from None
    try:
        st = os.lstat(directory)
    except OSError as exc:
        raise OutputError(f"{directory} cannot be used: {exc.strerror or exc}") from None
    problem = directory_problem(st, directory)
    if problem:
        raise OutputError(problem)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{directory} is not writable for you")
    return directory


def _open_dir(directory: Path) -> int:
    try:
        fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        raise OutputError(f"{directory} cannot be opened: {exc.strerror or exc}") from None
    problem = directory_problem(os.fstat(fd), directory)
    if problem:
        os.close(fd)
        raise OutputError(problem)
    return fd


def write_file(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Write ``data`` as a new file, then rename it to ``path`` (replacing, never following).

    The directory must already be safe (:func:`ensure_directory`).  The file is written once.
    """
    path = absolute(path)
    dfd = _open_dir(path.parent)
    tmp = f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        try:
            fd = os.open(tmp, _NEW_FLAGS, mode, dir_fd=dfd)
        except OSError as exc:
            raise OutputError(f"cannot create a file in {path.parent}: "
                              f"{exc.strerror or exc}") from None
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            os.unlink(tmp, dir_fd=dfd)
            raise OutputError(f"cannot put the report at {path}: {exc.strerror or exc}") from None
    finally:
        os.close(dfd)
    return path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def create_new(path: Path, data: bytes, mode: int) -> Path:
    """Create ``path`` new, for a file that must never replace anything (a key extracted by
    ``fix``): ``O_EXCL``, never through a link, exactly ``mode`` from the first byte whatever
    the umask, and synced.  Raises :class:`OSError` when it exists or cannot be made."""
    path = absolute(path)
    fd = os.open(path, _NEW_FLAGS, mode)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def unused_name(directory: Path, stem: str, suffix: str, limit: int = 100) -> str:
    """``stem + suffix``, or ``stem-2 + suffix``, ... : the first name not yet taken in
    ``directory``.  Default report names carry the time to the second, and two runs within one
    second (``mu3e-checks fix`` runs the diagnosis before and after) must not replace each
    other's report.  Bounded: after ``limit`` tries the last name is used."""
    name = f"{stem}{suffix}"
    for n in range(2, limit + 1):
        try:
            os.lstat(directory / name)
        except FileNotFoundError:
            return name
        except OSError:
            return name  # cannot tell: publishing will say what is wrong with the directory
        name = f"{stem}-{n}{suffix}"
    return name


def staging_directory(directory: Path) -> Path:
    """A fresh private directory (mode 700, ours) inside ``directory``, where another program
    (pytest-html) may write by name; :func:`publish` then moves its file into place."""
    return Path(tempfile.mkdtemp(prefix=".mu3e-report-", dir=directory))


def publish(staged: Path, final: Path, data: Optional[bytes] = None) -> Path:
    """Put a report another program wrote into a staging directory at ``final`` (same
    directory tree), mode 600, and remove the staging directory.  With ``data`` (the report
    rewritten), that is written as a new file instead of the staged one.  The rename replaces a
    planted link at ``final``; it never writes through one."""
    final = absolute(final)
    try:
        if data is not None:
            return write_file(final, data)
        _make_private(staged)
        dfd = _open_dir(final.parent)
        try:
            os.replace(staged, final.name, dst_dir_fd=dfd)
        except OSError as exc:
            raise OutputError(f"cannot put the report at {final}: "
                              f"{exc.strerror or exc}") from None
        finally:
            os.close(dfd)
        return final
    finally:
        for leftover in (staged, staged.parent):
            try:
                (os.rmdir if leftover == staged.parent else os.unlink)(leftover)
            except OSError:
                pass


def _make_private(path: Path) -> None:
    """Mode 600 for a file in our own staging directory (the program that wrote it used the
    umask's mode, 644 as a rule); never through a link."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise OutputError(f"the report at {path} cannot be opened: "
                          f"{exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def private_report_dir(user: str) -> Path:
    """``/tmp/mu3e-checks-<user>/reports``, ours and mode 700, or a fresh ``mkdtemp``: for when
    the current directory cannot take the report (a physicist may start from a shared dir)."""
    mine = Path(tempfile.gettempdir()) / f"mu3e-checks-{user}"
    try:
        os.mkdir(mine, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="mu3e-checks-")) / "reports"
    try:
        st = os.lstat(mine)
        if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
                and not st.st_mode & 0o077):
            return mine / "reports"
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="mu3e-checks-")) / "reports"
