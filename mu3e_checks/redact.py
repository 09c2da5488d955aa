"""Keeping reports shareable: structured ``--mu3e-redact`` and the always-on secret scrub.

Users attach reports to public tickets.  The values that identify a person are collected as
an :class:`Identity` from the run's typed :class:`~mu3e_checks.facts.Facts` (the account, its
uid and home, the host's names and addresses, every DN in every spelling, the proxy's serial
CNs, the server's view of the user, the DIRAC nick), whichever checks ran, and a
:class:`Redactor` replaces them *in the data* — the :class:`~mu3e_checks.model.Diagnosis`,
and in a fix the outside values before they are shell-quoted — before anything is rendered.
Markup, schema strings, check IDs and the VO name are therefore never touched: a user called
``li`` cannot turn ``<li>`` into ``<[user]>``, and one called ``mu3e`` leaves ``mu3e.org`` and
the JSON ``schema`` alone.  The JUnit XML is redacted once, at the end of the run, from the
final identity (:func:`mu3e_checks.render.junit.rewrite`).

Independently of ``--mu3e-redact``, :func:`scrub_secrets` runs over every output channel as the
last line of defence: it removes PEM private-key blocks (also truncated ones, across lines) and
long base64 runs such as a key's body quoted line by line.  The terminal is not redacted (it is
the user's own screen), but it is scrubbed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mu3e_checks.text import visible

if TYPE_CHECKING:
    from mu3e_checks.facts import Facts

#: The placeholders, one per kind of personal value.  Plain text: safe in HTML, JSON and shells.
HOME = "[home]"
USER = "[user]"
UID = "[uid]"
HOST = "[host]"
ADDRESS = "[address]"
DN = "[user DN]"
CN = "[user CN]"
EMAIL = "[user e-mail]"
SERIAL = "[proxy serial]"
DIRAC_USER = "[DIRAC user]"

REMOVED_KEY = "[private key removed from the report]"
REMOVED_BASE64 = "[base64 removed]"

#: Not personal, and words our own messages use ("root cause", "Root CA").
_NOT_PERSONAL_USERS = frozenset({"root"})
#: DN attribute spellings that name the same thing (servers and tools differ).
_ALIASES = {
    "emailaddress": ("emailAddress", "Email", "E", "1.2.840.113549.1.9.1"),
    "uid": ("UID", "userid", "0.9.2342.19200300.100.1.1"),
    "dc": ("DC", "domainComponent", "0.9.2342.19200300.100.1.25"),
    "cn": ("CN", "commonName", "2.5.4.3"),
    "o": ("O", "organizationName", "2.5.4.10"),
    "ou": ("OU", "organizationalUnitName", "2.5.4.11"),
    "c": ("C", "countryName", "2.5.4.6"),
    "l": ("L", "localityName", "2.5.4.7"),
    "st": ("ST", "stateOrProvinceName", "2.5.4.8"),
}
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def _pairs_from_dn(dn: str) -> list[tuple[str, str]]:
    """(attribute, value) pairs from a slash or RFC 2253 DN, best effort and linear."""
    dn = dn.strip()
    if dn.startswith("/"):
        parts = [p for p in re.split(r"/(?=[A-Za-z0-9.]+=)", dn) if p]
        pairs = [tuple(p.split("=", 1)) for p in parts if "=" in p]
    else:
        parts = [p.strip() for p in re.split(r"(?<!\\),", dn) if p.strip()]
        pairs = [tuple(p.split("=", 1)) for p in reversed(parts) if "=" in p]
    return [(k.strip(), v.strip()) for k, v in pairs]  # type: ignore[misc]


def dn_spellings(dn: str) -> set[str]:
    """The forms one DN is written in: slash, RFC 2253 (with and without spaces) and with the
    attribute names tools and servers use instead of each other (OIDs, ``Email``)."""
    pairs = _pairs_from_dn(dn)
    if not pairs:
        return {dn} if dn else set()
    def spelled(choose) -> list[tuple[str, str]]:
        return [(choose(k), v) for k, v in pairs]

    def alias(k: str, n: int) -> str:
        names = _ALIASES.get(k.lower(), (k,))
        return names[min(n, len(names) - 1)]

    variants = [pairs, spelled(lambda k: alias(k, 0)), spelled(lambda k: alias(k, 1)),
                spelled(lambda k: alias(k, 3))]
    for names in _ALIASES.values():  # one attribute spelled another way, the rest as is
        if any(k.lower() in {n.lower() for n in names} for k, _ in pairs):
            for n in names:
                variants.append([(n if k.lower() in {x.lower() for x in names} else alias(k, 0),
                                  v) for k, v in pairs])
    out = {dn}
    for ps in variants:
        out.add("/" + "/".join(f"{k}={v}" for k, v in ps))
        out.add(",".join(f"{k}={v}" for k, v in reversed(ps)))
        out.add(", ".join(f"{k}={v}" for k, v in reversed(ps)))
    return out


@dataclass
class Identity:
    """Every value in this run that identifies the person or the machine."""

    users: set[str] = field(default_factory=set)
    uid: int | None = None
    homes: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    dns: set[str] = field(default_factory=set)
    dn_values: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    serials: set[str] = field(default_factory=set)
    dirac_users: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, facts: Facts) -> Identity:
        """Every personal value the run's facts hold: the account, the user certificate's and
        the proxy chain's DNs, the server's spelling of the DN and the DIRAC nick(s)."""
        a = facts.account
        ident = cls(users={u for u in (a.user, *a.user_names) if u}, uid=a.uid,
                    homes={h for h in a.homes if h},
                    hosts={h for h in (a.host, *a.host_names) if h},
                    addresses=set(a.addresses))
        dns: list[str] = []
        if facts.user_cert is not None:
            dns += [facts.user_cert.subject, facts.user_cert.subject_rfc2253]
        if facts.proxy is not None and facts.proxy.chain is not None:
            dns += [*facts.proxy.chain.subjects, facts.proxy.chain.identity]
        if facts.whoami is not None:
            dns.append(facts.whoami.dn)
            ident.dirac_users.add(facts.whoami.username)
        if facts.registry is not None:
            dns += facts.registry.dns
            ident.dirac_users |= set(facts.registry.nicks)
        for dn in dns:
            ident.add_dn(dn)
        ident.dirac_users.discard("")
        return ident

    def add_dn(self, dn: str) -> None:
        """A DN seen anywhere (the user's, the proxy's, the server's rendering of it), also as
        messages show it (made visible: a control character in a DN is written escaped)."""
        if not dn or len(dn) <= 3:
            return
        spellings = dn_spellings(dn)
        self.dns |= spellings | {visible(x) for x in spellings}
        for k, v in _pairs_from_dn(dn):
            key = k.lower()
            if key in ("cn", "commonname", "2.5.4.3"):
                (self.serials if v.isdigit() else self.dn_values).add(v)
            elif key in _ALIASES["uid"] or key == "uid":
                self.dn_values.add(v)
            elif key in {a.lower() for a in _ALIASES["emailaddress"]}:
                self.emails.add(v)


class Redactor:
    """Replaces an :class:`Identity`'s values by placeholders; an empty one changes nothing.

    One linear regex, longest value first, so a DN wins over the CN inside it and a home path
    over the user name in it.  User and host names are replaced only as whole words that are
    not part of a longer name (``mu3e`` in ``mu3e.org`` or ``mu3e-checks`` stays).
    """

    def __init__(self, identity: Identity | None = None) -> None:
        self.identity = identity or Identity()
        ident = self.identity
        table: dict[str, str] = {}
        alternatives: list[tuple[int, str]] = []

        def add(secret: str, placeholder: str, pattern: str = "{}") -> None:
            if secret and secret not in table:
                table[secret] = placeholder
                alternatives.append((len(secret), pattern.format(re.escape(secret))))

        for dn in ident.dns:
            add(dn, DN)
        for home in ident.homes:
            home = home.rstrip("/")
            if len(home) > 1:
                add(home, HOME)
        for v in ident.dn_values:
            if len(v) > 2:
                add(v, CN)
        for v in ident.emails:
            if len(v) > 2:
                add(v, EMAIL)
        for v in ident.serials:
            if len(v) > 3:
                add(v, SERIAL, r"(?<![0-9]){}(?![0-9])")
        word = r"(?<![\w.\-/@]){}(?![\w\-]|\.\w)"
        for u in ident.users:
            if len(u) > 1 and u not in _NOT_PERSONAL_USERS:
                add(u, USER, word)
                add(f"mu3e-checks-{u}", f"mu3e-checks-{USER}")
        for u in ident.dirac_users:
            if len(u) > 1 and u not in ("anonymous",):
                add(u, DIRAC_USER, word)
        for h in ident.hosts:
            if len(h) > 1 and h != "localhost":
                add(h, HOST, "(?i:" + word + ")")
        for a in ident.addresses:
            add(a, ADDRESS, r"(?<![\w.:]){}(?![\w:]|\.\d)")
        if ident.uid is not None and ident.uid >= 1000:
            add(f"x509up_u{ident.uid}", f"x509up_u{UID}")
            for form in (f"uid {ident.uid}", f"uid={ident.uid}"):
                add(form, form.replace(str(ident.uid), UID))
        self._table = table
        self._lower = {k.lower(): v for k, v in table.items()}
        alternatives.sort(key=lambda a: -a[0])
        self._re = re.compile("|".join(p for _, p in alternatives)) if alternatives else None

    @property
    def active(self) -> bool:
        return self._re is not None

    def text(self, value: str) -> str:
        """``value`` with every personal value replaced."""
        if self._re is None or not value:
            return value
        return self._re.sub(self._placeholder, value)

    def _placeholder(self, m: re.Match[str]) -> str:
        found = m.group(0)
        return self._table.get(found) or self._lower.get(found.lower(), found)

    def describe(self) -> str:
        """What was replaced, for the report itself (the placeholders, never the values)."""
        return ", ".join(sorted(set(self._table.values())))


def _private_key_blocks(text: str) -> str:
    """Remove PEM private-key blocks in one linear pass, a truncated one to its end."""
    out, pos = [], 0
    while True:
        start = text.find("-----BEGIN ", pos)
        if start < 0:
            out.append(text[pos:])
            return "".join(out)
        head_end = text.find("-----", start + 11)
        label = text[start + 11:head_end] if head_end >= 0 else ""
        if head_end < 0 or "PRIVATE KEY" not in label or len(label) > 64:
            out.append(text[pos:start + 11])
            pos = start + 11
            continue
        out.append(text[pos:start])
        out.append(REMOVED_KEY)
        end = text.find("-----END ", head_end + 5)
        if end >= 0:
            close = text.find("-----", end + 9)
            pos = close + 5 if close >= 0 else len(text)
        else:  # truncated: drop the base64 that follows
            m = re.compile(r"[A-Za-z0-9+/=\s:,\\-]*").match(text, head_end + 5)
            pos = m.end() if m else len(text)


def _base64_run(m: re.Match[str]) -> str:
    run = m.group(0)
    looks_encoded = (any(c.isupper() for c in run) and any(c.islower() for c in run)
                     and any(c.isdigit() for c in run) and run.count("/") * 12 < len(run))
    return REMOVED_BASE64 if looks_encoded else run


def scrub_secrets(text: str) -> str:
    """The last line of defence on every channel: no key block, no key body line survives.

    Sees several lines at once (a block quoted line by line is removed whole); linear time.
    """
    if not text:
        return text
    return _BASE64_RUN.sub(_base64_run, _private_key_blocks(text))
