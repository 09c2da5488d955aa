"""File modes (``CHMOD``): only files we own, never through a link, checked again at the
moment of the change (the plan may be minutes old)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from mu3e_checks.remedy import Action
from mu3e_checks.repair.base import Context, RepairError, Step
from mu3e_checks.text import visible


def target_mode(spec: str, old: int) -> int:
    """The mode ``chmod spec`` leaves (numeric, or ``go-w``)."""
    if re.fullmatch(r"[0-7]{3,4}", spec):
        return int(spec, 8)
    if spec == "go-w":
        return old & ~0o022
    raise RepairError(f"mode {visible(spec)} is not one this tool applies")


def _facts(path: Path) -> tuple[int, int]:
    """(old mode, inode), after checking the file is ours and not a link."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise RepairError(f"{visible(path)} cannot be examined: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise RepairError(f"{visible(path)} is a symbolic link; a link is never followed")
    if st.st_uid != os.geteuid():
        raise RepairError(f"{visible(path)} is owned by uid {st.st_uid}, not by you: only its "
                          "owner (or root) can change it; this tool never uses sudo or chown")
    return stat.S_IMODE(st.st_mode), st.st_ino


def plan_chmod(step: Step, action: Action, ctx: Context) -> None:
    path, spec = Path(action.param("path")), str(action.param("mode"))
    old, _ino = _facts(path)
    new = target_mode(spec, old)
    if old == new:
        step.done = True
        step.changes.append(f"{visible(path)}: already mode {new:03o}")
        return
    step.changes.append(f"chmod {visible(path)}: mode {old:03o} -> {new:03o}")


def apply_chmod(action: Action, ctx: Context) -> list[str]:
    """Change the mode through a descriptor opened without following links, after checking
    again that the file is ours."""
    path, spec = Path(action.param("path")), str(action.param("mode"))
    old, ino = _facts(path)
    new = target_mode(spec, old)
    if old == new:
        return [f"{visible(path)}: already mode {new:03o}, unchanged"]
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # no read permission for ourselves (mode 000): the path, not followed
        if not stat.S_ISLNK(os.lstat(path).st_mode) and os.lstat(path).st_ino == ino:
            os.chmod(path, new)
            return [f"chmod {visible(path)}: mode {old:03o} -> {new:03o}"]
        raise RepairError(f"{visible(path)} changed while it was repaired; nothing done") from None
    try:
        st = os.fstat(fd)
        if st.st_ino != ino or st.st_uid != os.geteuid():
            raise RepairError(f"{visible(path)} changed while it was repaired; nothing done")
        os.fchmod(fd, new)
    finally:
        os.close(fd)
    return [f"chmod {visible(path)}: mode {old:03o} -> {new:03o}"]
