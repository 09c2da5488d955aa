"""The one sanitiser for text that comes from outside (DNs, server replies, file content, env).

Such text reaches a terminal, JUnit XML, a JSON file and an HTML page.  Control characters
could repaint the terminal (``ESC[2J``), end a shell comment (a newline), or hide text (bidi
overrides), so every message is passed through :func:`visible` where it is made: the character
stays visible as an escape (``\\x1b``, ``\\u202e``) and the text stays on one line.  HTML and
shell quoting are separate, later steps (:mod:`html`, :mod:`mu3e_checks.shell`).
"""

from __future__ import annotations

import os

#: Bidi controls and invisible formatting characters that change how a line reads.
_FORMAT = (0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A, 0x202B,
           0x202C, 0x202D, 0x202E, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF)


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


_TABLE: dict[int, str] = {c: _escape(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0),
                                                   *_FORMAT)}
# Lone surrogates are what invalid UTF-8 becomes under surrogateescape (file names, env values).
_TABLE.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
_TABLE.update({c: _escape(c) for c in range(0xD800, 0xDC80)})
_TABLE.update({c: _escape(c) for c in range(0xDD00, 0xE000)})


def visible(text: object) -> str:
    """``text`` on one line with every control, bidi or undecodable character shown escaped.

    Linear in the length of the text; idempotent for text that is already visible.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    elif isinstance(text, os.PathLike):
        text = os.fsdecode(text)
    return str(text).translate(_TABLE)


def visible_lines(text: str) -> str:
    """Like :func:`visible` but keeps line breaks: for multi-line text we composed ourselves
    from visible pieces (a fix, a summary).  Carriage returns and the rest are still escaped."""
    return "\n".join(visible(line) for line in text.split("\n"))


def clip(text: str, limit: int = 200) -> str:
    """A bounded excerpt of outside text for a message (visible, at most ``limit`` chars)."""
    shown = visible(text[: limit + 1])
    return shown if len(text) <= limit else shown[:limit] + "…"
