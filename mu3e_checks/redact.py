"""Keeping the report shareable: ``--mu3e-redact`` and the private-key scrub.

Users attach the HTML report to support tickets, which many people read.  With
``--mu3e-redact`` the user name, the home path, the DN (slash and RFC 2253 forms, and its CN and
e-mail values alone) and the host name are replaced by fixed placeholders, the same placeholder
everywhere, so a support engineer can still follow "[home]/.globus/userkey.pem" from the
environment table to the fix.

Where the replacing happens, and why there:

* The JSON report is redacted as data, string by string, before it is written.
* The HTML report is redacted in the file pytest-html wrote, by :func:`finish_html`.  pytest-html
  puts test data (result cells, long representations, captured output, the environment) into a
  JSON blob in a ``data-jsonblob`` attribute, HTML-escaped, and draws the tables from it with
  JavaScript.  Redacting the written file reaches all of that, and whatever another plugin adds,
  without depending on pytest-html's internals.  The blob is decoded, redacted as data and
  encoded again; ``<script>`` and ``<style>`` are left alone, so a user called ``root`` does not
  break the page's ``:root`` CSS.
* The terminal is not redacted: it is the user's own screen, and its fixes must paste as they are.

Independently of ``--mu3e-redact``, every report is scrubbed of PEM private-key blocks
(:func:`scrub_private_keys`): no check should ever print key material, and if one did, it must
not end up in a ticket.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The placeholders, one per kind of personal value.  Plain text: safe in HTML, JSON and shells.
HOME = "[home]"
USER = "[user]"
HOST = "[host]"
DN = "[user DN]"
CN = "[user CN]"
EMAIL = "[user e-mail]"

REMOVED_KEY = "[private key removed from the report]"

_PRIVATE_KEY_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----"
    r"(?:.*?-----END \1PRIVATE KEY-----|[A-Za-z0-9+/=\s:,\-\\]*)",
    re.DOTALL)
_CODE_RE = re.compile(r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>)",
                      re.DOTALL | re.IGNORECASE)
_BLOB_RE = re.compile(r'(data-jsonblob=")([^"]*)(")')
_WORD = r"[A-Za-z0-9_]"


def scrub_private_keys(text: str) -> str:
    """Remove every PEM private-key block (also a truncated one) from ``text``."""
    return _PRIVATE_KEY_RE.sub(REMOVED_KEY, text)


@dataclass
class Redactor:
    """Replaces personal values by placeholders; an empty redactor changes nothing.

    ``literals`` are replaced wherever they occur (DNs, paths, names from the certificate);
    ``words`` only where they stand as a whole word, so that the user name ``ann`` does not
    turn "annual" into "[user]ual".
    """

    literals: list[tuple[str, str]] = field(default_factory=list)
    words: list[tuple[str, str]] = field(default_factory=list)
    words_nocase: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        table: dict[str, str] = {}
        alternatives: list[tuple[int, str]] = []

        def add(secret: str, placeholder: str, pattern: str) -> None:
            for variant in {secret, html.escape(secret), html.escape(secret, quote=False)}:
                if variant in table:
                    continue
                table[variant] = placeholder
                alternatives.append((len(variant), pattern.format(re.escape(variant))))

        for secret, placeholder in self.literals:
            add(secret, placeholder, "{}")
        for secret, placeholder in self.words:
            add(secret, placeholder, f"(?<!{_WORD}){{}}(?!{_WORD})")
        for secret, placeholder in self.words_nocase:
            add(secret, placeholder, f"(?i:(?<!{_WORD}){{}}(?!{_WORD}))")
        self._table = table
        self._lower = {k.lower(): v for k, v in table.items()}
        # Longest first, so a DN wins over the CN inside it and a home path over the user name.
        alternatives.sort(key=lambda a: -a[0])
        self._re = re.compile("|".join(p for _, p in alternatives)) if alternatives else None

    @property
    def active(self) -> bool:
        return self._re is not None

    def text(self, value: str) -> str:
        """``value`` with every personal value replaced (HTML-escaped forms too)."""
        if self._re is None or not value:
            return value
        return self._re.sub(self._placeholder, value)

    def _placeholder(self, m: re.Match[str]) -> str:
        found = m.group(0)
        return self._table.get(found) or self._lower[found.lower()]

    def data(self, value: Any) -> Any:
        """A copy of a JSON-like structure with every string (keys too) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value

    def describe(self) -> str:
        """What was replaced, for the report itself (no values, only the placeholders)."""
        kinds = sorted(set(self._table.values()))
        return ", ".join(kinds)


def build_redactor(*, homes: Iterable[str], users: Iterable[str], hosts: Iterable[str],
                   dns: Iterable[str], dn_values: Iterable[str] = (),
                   emails: Iterable[str] = ()) -> Redactor:
    """A redactor for these personal values; trivial ones ("/", one letter) are ignored."""
    literals: list[tuple[str, str]] = []
    for dn in dns:
        if len(dn) > 3:
            literals.append((dn, DN))
    for home in homes:
        home = home.rstrip("/")
        if len(home) > 1:
            literals.append((home, HOME))
    for value in dn_values:
        if len(value) > 2:
            literals.append((value, CN))
    for value in emails:
        if len(value) > 2:
            literals.append((value, EMAIL))
    words = [(u, USER) for u in users if len(u) > 1]
    host_words = [(h, HOST) for h in hosts if len(h) > 1]
    return Redactor(literals=literals, words=words, words_nocase=host_words)


def redact_html(document: str, redactor: Redactor) -> str:
    """Scrub key material and, if ``redactor`` is active, personal values from an HTML page.

    Text and attributes are redacted in their HTML-escaped form; the ``data-jsonblob`` attribute
    is decoded, redacted as data and encoded again; scripts and styles are left untouched.
    """
    pieces = _CODE_RE.split(document)
    for n in range(0, len(pieces), 2):  # odd pieces are <script>/<style> elements: code
        parts = _BLOB_RE.split(pieces[n])  # text, 'data-jsonblob="', blob, '"', text, ...
        for i in range(0, len(parts), 4):
            parts[i] = redactor.text(scrub_private_keys(parts[i]))
        for i in range(2, len(parts), 4):
            parts[i] = _redact_blob(parts[i], redactor)
        pieces[n] = "".join(parts)
    return "".join(pieces)


def _redact_blob(escaped: str, redactor: Redactor) -> str:
    try:
        data = json.loads(html.unescape(escaped))
    except ValueError:
        return html.escape(redactor.text(scrub_private_keys(html.unescape(escaped))))
    data = scrub_data(redactor.data(data))
    return html.escape(json.dumps(data))


def scrub_data(value: Any) -> Any:
    """A copy of a JSON-like structure with private-key blocks removed from every string."""
    if isinstance(value, str):
        return scrub_private_keys(value)
    if isinstance(value, dict):
        return {k: scrub_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_data(v) for v in value]
    return value


def finish_html(path: Path, redactor: Redactor) -> None:
    """Rewrite the HTML report at ``path`` in place, scrubbed and redacted; silent if absent."""
    try:
        document = path.read_text(encoding="utf-8")
    except OSError:
        return
    cleaned = redact_html(document, redactor)
    if cleaned != document:
        path.write_text(cleaned, encoding="utf-8")
