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


class TooLarge(Unreadable):
    """The file is larger than the reader's limit (a caller may say what the limit is for)."""


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


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str:
    """'a named pipe (FIFO)', 'a device', ... for a mode that is not a regular file, else ''."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "" if stat.S_ISREG(mode) else "not a regular file"


def read_bytes(path: Path, limit: int = MAX_READ, *, follow: bool = True) -> bytes:
    """The file's bytes, or :class:`Unreadable` with a sentence saying why not.

    The one read path for everything the diagnosis reads.  It opens without blocking (a FIFO
    planted where a file should be cannot hang the run), then judges the *opened* file with
    ``fstat`` (no swap between a check and the open), refuses anything but a regular file, and
    never reads more than ``limit + 1`` bytes (``/dev/zero`` or a huge file cannot eat memory).
    ``follow=False`` refuses a symbolic link at the last path component.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:
            raise Unreadable(f"{path} is a symbolic link, where a plain file is expected") from None
        raise Unreadable(describe_os_error(path, exc)) from None
    try:
        st = os.fstat(fd)
        kind = special_kind(st.st_mode)
        if kind:
            raise Unreadable(f"{path} is {kind}, not a file")
        if st.st_size > limit:
            raise TooLarge(f"{path} is {st.st_size} bytes, far larger than expected")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLarge(f"{path} is larger than {limit} bytes, far larger than expected")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(describe_os_error(path, exc)) from None
    finally:
        os.close(fd)


def _never_raises(path: Optional[Path], test: str) -> bool:
    """``path.<test>()`` (``is_file``, ``is_dir``, ``exists``), False where it would raise: a
    name too long for the file system or a path through a file comes from hostile values."""
    if path is None:
        return False
    try:
        return bool(getattr(path, test)())
    except (OSError, ValueError):
        return False


def is_file(path: Optional[Path]) -> bool:
    """True for an existing regular file (following links); never raises."""
    return _never_raises(path, "is_file")


def is_dir(path: Optional[Path]) -> bool:
    """True for an existing directory (following links); never raises."""
    return _never_raises(path, "is_dir")


def exists(path: Optional[Path]) -> bool:
    """True when ``path`` exists (following links); never raises."""
    return _never_raises(path, "exists")


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


#: Markers of key material: a PEM block, an unencrypted or encrypted private key.
_SECRET_MARKERS = (b"-----BEGIN", b"PRIVATE KEY", b"ENCRYPTED")


def secret_kind(data: bytes) -> str:
    """Why ``data`` must never be quoted into a message, or '' for plain text.

    A misdirected variable (``X509_VOMSES=~/.globus``, ``DIRACSYSCONFIG=~/.globus/userkey.pem``)
    hands a key file to a text parser, whose "bad line" messages would then print key bytes.
    Such content is named, never quoted: a PEM/key block, or binary data (a .p12 export, DER)
    whose bytes could be key material too.
    """
    if any(marker in data for marker in _SECRET_MARKERS):
        return "a PEM/key block"
    if b"\0" in data:
        return "binary data"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return ""
