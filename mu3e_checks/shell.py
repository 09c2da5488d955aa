"""Shell quoting for the fixes a user pastes into bash: one home for it.

Every value that comes from outside (a path, a DN, a host name, a group) becomes exactly one
shell word, whatever it contains.  Printable values use POSIX single quotes
(:func:`shlex.quote`); a value with a control character, a bidi override or bytes that are not
UTF-8 uses bash's ``$'...'`` form with every such character escaped, so the word is still exact,
stays on one line and shows nothing the terminal would interpret.
"""

from __future__ import annotations

import os
import shlex
from pathlib import PurePath

from mu3e_checks.text import visible


def quote(value: object) -> str:
    """``value`` as one shell word that means exactly ``value``."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "surrogateescape")
    elif isinstance(value, (PurePath, os.PathLike)):
        text = os.fsdecode(value)
    else:
        text = str(value)
    if visible(text) == text:
        return shlex.quote(text)
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\\'":
            out.append("\\" + ch)
        elif 0xDC80 <= code < 0xDD00:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif visible(ch) != ch:
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def comment(text: object) -> str:
    """A shell comment that can never end early: no newline or control character survives."""
    return "# " + visible(text)
