"""Reading the user's files safely, and judging their ownership and modes.

Every read goes through :func:`read_bytes` so that a directory where a file should be, a symlink
loop, an unreadable file or a 2 GB mistake each give one sentence a physicist understands,
instead of an exception.  Nothing here ever writes.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Credentials, proxies, CRLs and configs are small; anything larger is not what we expect.
MAX_READ = 64 * 1024 * 1024


class Unreadable(Exception):
    """A file could not be read; the message is meant for the user."""


def describe_os_error(path: Path, exc: OSError) -> str:
    """One sentence for an OSError, naming the path."""
    code = exc.errno
    if code == errno.ENOENT:
        return f"{path} does not exist"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path} cannot be read: permission denied"
    if code == errno.ELOOP:
        return f"{path} is a symbolic link loop"
    if code == errno.EISDIR:
        return f"{path} is a directory, not a file"
    if code == errno.ENOTDIR:
        return f"{path}: a part of this path is not a directory"
    return f"{path} cannot be read: {exc.strerror or exc}"


def read_bytes(path: Path, limit: int = MAX_READ) -> bytes:
    """The file's bytes, or :class:`Unreadable` with a sentence saying why not."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise Unreadable(f"{path} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{path} is not a regular file")
        if st.st_size > limit:
            raise Unreadable(f"{path} is {st.st_size} bytes, far larger than expected")
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise Unreadable(describe_os_error(path, exc)) from None


def is_file(path: Optional[Path]) -> bool:
    """True for an existing regular file (following links); never raises."""
    if path is None:
        return False
    try:
        return path.is_file()
    except OSError:
        return False


@dataclass(frozen=True)
class FileMode:
    """Ownership and permission bits of one path, as the checks need them."""

    path: Path
    mode: int
    uid: int
    is_dir: bool

    @property
    def octal(self) -> str:
        return f"{self.mode & 0o777:03o}"

    def group_or_world(self, bits: int) -> bool:
        return bool(self.mode & bits)


def file_mode(path: Path) -> FileMode:
    """Mode and owner of ``path`` (following symlinks), or :class:`Unreadable`."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise Unreadable(describe_os_error(path, exc)) from None
    return FileMode(path, stat.S_IMODE(st.st_mode), st.st_uid, stat.S_ISDIR(st.st_mode))


def private_key_problem(path: Path, uid: int) -> Optional[str]:
    """Why a private key file (user key or proxy) is not private enough, or None.

    Grid tools refuse a key that anyone but its owner can read: mode 600 or 400, owned by us.
    """
    fm = file_mode(path)
    if fm.uid != uid:
        return f"{path} is owned by uid {fm.uid}, not by you (uid {uid})"
    if fm.mode & 0o077:
        return (f"{path} has mode {fm.octal}: others can read it, and grid tools refuse a key "
                "that is not private (mode 600 or 400 needed)")
    if not fm.mode & 0o400:
        return f"{path} has mode {fm.octal}: you cannot read it yourself"
    return None


def not_writable_by_others_problem(path: Path, uid: int) -> Optional[str]:
    """Why a file or directory others could modify is a risk, or None."""
    fm = file_mode(path)
    kind = "directory" if fm.is_dir else "file"
    if fm.uid != uid:
        return f"the {kind} {path} is owned by uid {fm.uid}, not by you (uid {uid})"
    if fm.mode & 0o022:
        return (f"the {kind} {path} has mode {fm.octal}: other users can change what is in it")
    return None


def find_files(directories: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files in ``directories`` (not recursive) whose name ends with one of ``suffixes``."""
    found: list[Path] = []
    for d in directories:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            try:
                if e.name.lower().endswith(suffixes) and e.is_file():
                    found.append(Path(e.path))
            except OSError:
                continue
    return found
