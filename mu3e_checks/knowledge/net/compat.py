"""Which DIRAC client versions work with which server versions: one table, first match wins.

A client and server too far apart fail in strange ways far from the cause (failure-modes.md,
round 2, item 9): ``Option /DIRAC/Setups/GridPP/Framework is not defined`` with a too-old client,
``illegal zero content`` at proxy upload with DIRAC 8.0, ``No diracx token in the proxy file``
with a v9 client.  The rule: same major.minor is fine, another v8 minor warns, a different
major fails; the known bad pairs come first so their symptoms can be named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from mu3e_checks.knowledge.net import Level


class Relation(str, Enum):
    """How the client's version stands to the server's."""

    ANY = "any"
    SAME_MINOR = "same major.minor"
    SAME_MAJOR = "same major, other minor"
    OTHER_MAJOR = "other major"


@dataclass(frozen=True)
class Version:
    major: int
    minor: Optional[int]
    patch: Optional[int]
    text: str

    @property
    def release(self) -> str:
        parts = [self.major, self.minor, self.patch]
        return ".".join(str(p) for p in parts if p is not None)


_VERSION = re.compile(r"^\s*v?(\d{1,4})(?:[.r](\d{1,4}))?(?:[.p](\d{1,4}))?")


def parse_version(text: str) -> Optional[Version]:
    """``8.0.74``, DIRAC's old ``v8r0p74`` (with any suffix) or ``9.0.0a12``; None if neither."""
    m = _VERSION.match(text or "")
    if not m:
        return None
    minor, patch = m.group(2), m.group(3)
    return Version(int(m.group(1)), int(minor) if minor is not None else None,
                   int(patch) if patch is not None else None, text)


@dataclass(frozen=True)
class Rule:
    """One row: client major (None = any), server major (None = any), relation, verdict."""

    client_major: Optional[int]
    server_major: Optional[int]
    relation: Relation
    level: Level
    why: str


#: THE compatibility table.  First matching row wins; the last rows are the general rule.
RULES: tuple[Rule, ...] = (
    Rule(9, 8, Relation.ANY, Level.FAIL,
         "a v9 client against a v8 server fails at proxy init: it looks for DiracX and says "
         "'Failed to access DiracX: No diracx token in the proxy file' (DIRAC#7580); the guide "
         "installs DIRAC 8.0.74, never v9"),
    Rule(8, 9, Relation.ANY, Level.FAIL,
         "the server runs DIRAC v9, which ignores /DIRAC/Setup and expects DiracX tokens a v8 "
         "client never makes"),
    Rule(None, 8, Relation.OTHER_MAJOR, Level.FAIL,
         "a client older than v8 cannot find the v8 server's setup and says "
         "\"Option /DIRAC/Setups/GridPP/Framework is not defined\" (ganga#1652)"),
    Rule(None, None, Relation.SAME_MINOR, Level.OK, "same major.minor release"),
    Rule(8, 8, Relation.SAME_MAJOR, Level.WARN,
         "another DIRAC 8 release: most calls work, but mismatched 8.x pairs are known to fail "
         "at proxy upload with 'M2Crypto.BIO.BIOError: illegal zero content' (DIRAC#7306) and "
         "with missing /DIRAC/Setups options"),
    Rule(None, None, Relation.SAME_MAJOR, Level.WARN, "same major, other minor release"),
    Rule(None, None, Relation.OTHER_MAJOR, Level.FAIL,
         "client and server are different major DIRAC releases: the protocol and the "
         "configuration layout differ"),
)


@dataclass(frozen=True)
class Compatibility:
    level: Level
    why: str
    client: str
    server: str


def relation(client: Version, server: Version) -> Relation:
    if client.major != server.major:
        return Relation.OTHER_MAJOR
    if client.minor is None or server.minor is None or client.minor != server.minor:
        return Relation.SAME_MAJOR
    return Relation.SAME_MINOR


def judge(client_text: str, server_text: str, rules: tuple[Rule, ...] = RULES
          ) -> Compatibility:
    """The first row of ``rules`` that matches; an unreadable version warns."""
    client, server = parse_version(client_text), parse_version(server_text)
    if client is None or server is None:
        which = "client" if client is None else "server"
        return Compatibility(Level.WARN, f"the {which}'s DIRAC version is not a version "
                             "number, so the pair cannot be judged", client_text, server_text)
    rel = relation(client, server)
    for rule in rules:
        if rule.client_major not in (None, client.major):
            continue
        if rule.server_major not in (None, server.major):
            continue
        if rule.relation not in (Relation.ANY, rel):
            continue
        return Compatibility(rule.level, rule.why, client.release, server.release)
    return Compatibility(Level.WARN, "no rule covers this pair", client.release, server.release)
