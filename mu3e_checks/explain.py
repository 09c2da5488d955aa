"""``mu3e-checks explain``: DIRAC's, voms-proxy-init's and OpenSSL's error text mapped to causes,
and each cause confirmed or ruled out by running only the checks that decide it.

Users meet DIRAC through its messages, and several point the wrong way (an unreachable VOMS
server reads as "are you sure you are properly registered in the VO?") or alarm without harm
(``dirac-proxy-init --nocs`` without ``-N``).  :data:`CATALOGUE` holds one :class:`Entry` per
message family as data: its anchors (plain substrings of the real text, each tagged with the
program that prints it, so a guard test can find it in DIRAC's sources), an optional simple
regex that narrows a line further, whether it is harmful, and its candidate causes, each naming
the check IDs that decide it.  Matching is one pass over the lines, every entry tried on each
line: linear in the size of the log.  The first entry that matches a line claims it, so a
specific entry is listed before a generic one.

The runner is the one place the project starts a program it does not own: the user's own DIRAC
command after ``--``, whose exit code it passes through.  The checks themselves run in-process
through ``pytest.main`` exactly as the hermetic ``mu3e-checks`` command runs them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import commands
from mu3e_checks.model import CheckResult, Diagnosis
from mu3e_checks.plugin import ArgsBuilder, run_in_process
from mu3e_checks.redact import scrub_secrets
from mu3e_checks.registry import with_prerequisites
from mu3e_checks.text import visible

# Where an anchor's text comes from: the guard test greps DIRAC's installed sources for
# "DIRAC" anchors; the others are printed by the peer programs and libraries named.
DIRAC, VOMS, OPENSSL, PYTHON, SHELL = "DIRAC", "voms-proxy-init", "openssl", "python", "shell"
GLOBUS = "grid-proxy-init"  # the Globus tools users also run by hand
ORIGINS = (DIRAC, VOMS, OPENSSL, PYTHON, SHELL, GLOBUS)


@dataclass(frozen=True)
class Anchor:
    """A plain substring of the real message, and the program that prints it."""

    text: str
    origin: str = DIRAC


@dataclass(frozen=True)
class Cause:
    """One candidate cause, and the checks whose failure confirms it."""

    text: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One message family: how to recognise it and what can cause it."""

    key: str
    title: str
    anchors: tuple[Anchor, ...]
    causes: tuple[Cause, ...] = ()
    harmful: bool = True
    why: str = ""
    #: A simple regex (no nested quantifiers) a line must also match, after an anchor did.
    narrow: str = ""

    def matches(self, line: str) -> bool:
        """Any anchor occurs in ``line`` (and the narrowing regex, if any, finds a match)."""
        if not any(a.text in line for a in self.anchors):
            return False
        return not self.narrow or _compiled(self.narrow).search(line) is not None

    @property
    def check_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for cause in self.causes:
            seen.update(dict.fromkeys(cause.checks))
        return tuple(seen)


_REGEX: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _REGEX:
        _REGEX[pattern] = re.compile(pattern)
    return _REGEX[pattern]


def D(text: str) -> Anchor:  # noqa: N802 - short constructors keep the catalogue readable
    return Anchor(text, DIRAC)


def V(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, VOMS)


def O(text: str) -> Anchor:  # noqa: N802, E743
    return Anchor(text, OPENSSL)


def P(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, PYTHON)


_NOCS_WHY = ("'dirac-proxy-init --nocs' works without the Configuration Server, so its last "
             "step, uploading the proxy to the ProxyManager, cannot find that service; the "
             "local proxy is made all the same and the command exits 0. Add -N (--no-upload) "
             "and the message goes away: " + commands.PROXY_INIT_LOCAL.format(group="<group>"))

#: The catalogue, most specific first: the first entry that matches a line claims it.
CATALOGUE: tuple[Entry, ...] = (
    Entry("nocs-upload", "The --nocs proxy was not uploaded (no Configuration Server)",
          (D("is not defined"), D("Cannot get URL for")), harmful=False, why=_NOCS_WHY,
          narrow=r"Setups/(?:None|Test)/Framework is not defined"),
    Entry("setup-mismatch", "The server does not know this client's setup or service",
          (D("Cannot get URL for"), D("is not defined")),
          (Cause("DIRAC could not download the configuration from the Configuration "
                 "Server, so it knows no services of the setup",
                 ("NET-001", "NET-002", "NET-003", "NET-004")),
           Cause("the DIRAC client is not the release the Mu3e server speaks (8.0.74)",
                 ("DIRAC-002",)),
           Cause("dirac.cfg names the wrong setup", ("CFG-003",))),
          narrow=r"Setups/[^/\s]+/\w+ is not defined"),
    Entry("no-cfg-notice", "DIRAC started without a local dirac.cfg",
          (D("No CFG file loaded"),), harmful=False,
          why="DIRAC prints this whenever it starts without reading a local dirac.cfg: also "
              "with --nocs, which needs none, and at times even when dirac.cfg loads "
              "(DIRAC#7088). It matters only together with another message that DIRAC lacks "
              "its configuration; that message is explained on its own."),
    Entry("diracosrc-realpath", "diracosrc's realpath warning",
          (Anchor("realpath: '': No such file or directory", SHELL),), harmful=False,
          why="diracosrc passes an empty variable to realpath while it sets up the "
              "environment (DIRAC#6744, DIRACOS2#103); the environment is still complete."),
    Entry("no-cfg", "DIRAC read no dirac.cfg",
          (D("Missing mandatory local configuration option"),
           D("does not exist or it's not a section")),
          (Cause("no dirac.cfg where DIRAC reads it (dirac-configure never ran, or ran with "
                 "another Python)", ("CFG-001",)),
           Cause("dirac.cfg cannot be parsed", ("CFG-002",)),
           Cause("dirac.cfg has no /DIRAC/Setup", ("CFG-003",)))),
    Entry("cs-refused", "The Configuration Server's port refused the connection",
          (P("Connection refused"),),
          (Cause("nothing accepts connections on the Configuration Server's port, or a "
                 "firewall rejects it", ("NET-002",)),
           Cause("dirac.cfg points at the wrong Configuration Server", ("CFG-004",))),
          narrow=r"ConnectionRefusedError|dips://"),
    Entry("cs-dns", "The Configuration Server's name does not resolve",
          (D("DNS lookup failed"), P("Name or service not known"),
           P("Temporary failure in name resolution")),
          (Cause("the server's host name does not resolve (DNS)", ("NET-001",)),
           Cause("dirac.cfg names a wrong or misspelt server", ("CFG-004",))),
          narrow=r"gaierror|dips://|DNS lookup failed"),
    Entry("cs-timeout", "The connection to the Configuration Server timed out",
          (P("SSLTimeoutError"), P("timed out")),
          (Cause("a firewall drops outgoing connections to the server's port (9130-9200)",
                 ("NET-002",)),
           Cause("the server accepts the connection but never completes TLS: the service "
                 "hangs, or a firewall or proxy interferes", ("NET-003",)),
           Cause("the name resolves to an address that does not answer", ("NET-001",))),
          narrow=r"SSLTimeoutError|dips://|Configuration/Server"),
    Entry("tls-verify", "TLS: a certificate could not be verified",
          (P("certificate verify failed"), P("CERTIFICATE_VERIFY_FAILED")),
          (Cause("the server's CA (UK e-Science) is not in your trust directory",
                 ("NET-003", "CA-004")),
           Cause("the trust directory DIRAC uses is missing or empty", ("CA-001", "ENV-001")),
           Cause("the CRLs are out of date", ("CRL-003", "CRL-001")))),
    Entry("peer-closed", "The server closed the connection during the handshake",
          (D("Peer closed connection"), P("Transport endpoint is not connected")),
          (Cause("the server does not accept your proxy or its chain", ("NET-003", "PROXY-006")),
           Cause("your proxy has expired", ("PROXY-008",)),
           Cause("your certificate has expired or is revoked", ("CERT-008", "CRL-004")))),
    Entry("cert-expired", "A certificate or proxy has expired",
          (O("certificate has expired"), D("Proxy is expired"), V("proxy is expired"),
           V("Credentials have expired"), D("PEM file has expired"),
           D("has expired, not valid after")),
          (Cause("your proxy has expired", ("PROXY-008",)),
           Cause("your user certificate has expired", ("CERT-008",)),
           Cause("a CA certificate in the trust directory has expired", ("CA-005",)))),
    Entry("cs-unreachable", "DIRAC could not reach any Configuration Server",
          (D("Can't contact DIRAC CS"), D("Can't update from server"),
           D("Non-responding URL temporarily banned")),
          (Cause("the server's name does not resolve", ("NET-001",)),
           Cause("the server's port is closed or filtered", ("NET-002",)),
           Cause("TLS with the server fails", ("NET-003",)),
           Cause("the server does not answer DIRAC requests", ("NET-004",)),
           Cause("dirac.cfg points at the wrong server", ("CFG-004",)))),
    Entry("crl-missing", "The trust directory has no CRLs",
          (D("No CRL files found"), O("unable to get certificate CRL")),
          (Cause("CAs are installed but their CRLs were never fetched", ("CRL-001",)),
           Cause("the CRLs are out of date", ("CRL-003",)))),
    Entry("crl-outdated", "The CRLs have expired",
          (D("Your CRLs appear to be outdated"), O("CRL has expired"),
           V("outdated CRL found")),
          (Cause("a CRL's nextUpdate has passed: fetch-crl has not run recently",
                 ("CRL-003",)),
           Cause("a CA has no CRL at all", ("CRL-001",)))),
    Entry("cert-revoked", "A certificate is revoked",
          (O("certificate revoked"),),
          (Cause("your user certificate is revoked by its CA", ("CRL-004",)),)),
    Entry("unknown-ca", "A certificate's issuing CA is unknown",
          (O("unable to get local issuer certificate"), O("unable to get issuer certificate"),
           O("self-signed certificate in certificate chain"),
           O("self signed certificate in certificate chain"), O("alert unknown ca")),
          (Cause("your certificate's CA chain is not in the trust directory", ("CA-006",)),
           Cause("a required Mu3e or server CA is missing", ("CA-004", "NET-003")))),
    Entry("voms-unreachable", "No VOMS server returned attributes",
          (D("returning a valid AC"), V("returning a valid AC"),
           D("Are you sure you are properly registered in the VO?")),
          (Cause("the VOMS servers cannot be reached: a network problem, not a membership "
                 "one", ("NET-014",)),
           Cause("a VOMS server presents another DN than your vomses or .lsc file expects",
                 ("NET-015",)),
           Cause("X509_VOMSES has no (or an outdated) entry for mu3e.org", ("ENV-002",)),
           Cause("the proxy has no VOMS attributes: not a VO member, or membership/AUP "
                 "expired (the VO admins decide)", ("VOMS-001",)))),
    Entry("vomses-missing", "voms-proxy-init does not know the VOMS server",
          (V("Cannot find file or dir"), V("VOMS Server for")),
          (Cause("X509_VOMSES is unset or has no entry for mu3e.org", ("ENV-002",)),)),
    Entry("voms-no-role", "DIRAC knows no VOMS role for the group",
          (D("Requested adding a VOMS extension but no VOMS attribute defined"),),
          (Cause("DIRAC read no configuration (--nocs, or no dirac.cfg), so it cannot know "
                 "the group's VOMS role and the proxy gets no VOMS attributes",
                 ("CFG-001",)),
           Cause("the proxy has no VOMS attributes; when DIRAC did read the Configuration "
                 "Server, the GridPP admins must set the group's VOMSRole", ("VOMS-001",)))),
    Entry("voms-ac-unverifiable", "The VOMS attributes cannot be verified",
          (V("Cannot verify AC signature"),),
          (Cause("X509_VOMS_DIR lacks the mu3e.org .lsc file of the VOMS server",
                 ("ENV-003",)),
           Cause("the VOMS attributes are expired or not signed by their server",
                 ("VOMS-003",)))),
    Entry("voms-binary", "No voms-proxy-init for the VOMS step",
          # DIRAC runs voms-proxy-init through /bin/sh, which says "not found" (DIRAC 8.0.74
          # has "no standard grid interface available" in its sources, but only behind a check
          # it never calls, so that text is not an anchor: no real run prints it).
          (Anchor("voms-proxy-init: not found", SHELL),),
          (Cause("voms-proxy-init is not on PATH (DIRACOS not active)",
                 ("DIRACOS-004", "DIRACOS-003")),)),
    Entry("voms-failed", "dirac-proxy-init could not add VOMS attributes",
          (D("Could not add VOMS extensions"), D("Failed adding VOMS attribute"),
           D("Failed to set VOMS attributes")),
          (Cause("voms-proxy-init is not available", ("DIRACOS-004",)),
           Cause("the VOMS servers cannot be reached: a network problem, not a membership "
                 "one", ("NET-014",)),
           Cause("X509_VOMSES has no entry for mu3e.org", ("ENV-002",)),
           Cause("X509_VOMS_DIR lacks the mu3e.org .lsc files", ("ENV-003",)),
           Cause("the proxy carries no VOMS attributes", ("VOMS-001",)))),
    Entry("wrong-group", "The requested DIRAC group is not yours",
          (D("is not valid for DN"),),
          (Cause("-g asked for a group the server does not give your DN (Mu3e's is "
                 "mu3e.org_user); dirac-proxy-init stopped and left a proxy without that "
                 "group", ("GROUP-001", "GROUP-002")),
           Cause("the server does not give you this group", ("NET-006",)))),
    Entry("dn-unregistered", "The server does not know your certificate's DN",
          (D("is not registered"), D("has no groups defined"),
           D("User possibly not registered")),
          (Cause("DIRAC read no dirac.cfg, so it knows no users", ("CFG-001",)),
           Cause("your DN is not registered with the Mu3e DIRAC server (the VO admins must "
                 "register the exact DN)", ("NET-006",))),
          narrow=r"DN |[Uu]ser"),
    Entry("no-proxy", "No proxy where DIRAC looks",
          (D("No proxy found"), D("no user proxy is available")),
          (Cause("there is no proxy file, or X509_USER_PROXY points elsewhere",
                 ("PROXY-001",)),
           Cause("the proxy has expired", ("PROXY-008",)))),
    Entry("key-permissions", "A private key or proxy is readable by others",
          (V("bad file system permissions on private key"), V("Wrong permissions on file"),
           Anchor("File has bad permissions", GLOBUS)),
          (Cause("userkey.pem is group- or world-readable", ("CERT-003",)),
           Cause("the proxy file is not private", ("PROXY-002",)))),
    Entry("key-mismatch", "The private key does not belong to the certificate",
          (O("key values mismatch"), V("key and certificate don't match")),
          (Cause("usercert.pem and userkey.pem come from different exports", ("CERT-007",)),),
          narrow=r"[Kk]ey"),
    Entry("bad-passphrase", "The private key could not be decrypted",
          (D("Bad passphrase"), O("bad decrypt"),
           Anchor("Couldn't read user key", GLOBUS)),
          (Cause("the pass phrase is wrong, or userkey.pem is damaged (CERT-006 decides "
                 "when the checks are given the pass phrase: MU3E_KEY_PASSPHRASE or "
                 "--mu3e-passphrase-file)", ("CERT-006",)),)),
    Entry("weak-key", "A key is too small for OpenSSL's security level",
          (O("ee key too small"), O("key too small")),
          (Cause("your certificate's key is weaker than 2048 bits", ("CERT-009",)),
           Cause("the proxy key is weaker than 2048 bits", ("PROXY-009",)))),
    Entry("ca-dir", "DIRAC finds no CA directory",
          (D("No valid CA dir found"), D("is not a valid directory")),
          (Cause("X509_CERT_DIR points at a missing or empty directory", ("ENV-001", "CA-001")),
           Cause("diracosrc switches to a site-managed CA directory", ("CA-002",))),
          # "is not a valid directory" is said of any path: only a line about the CA
          # directory is this entry's.
          narrow=r"\bCA\b|certificates|grid-security|X509_CERT_DIR"),
    Entry("pkg-resources", "DIRAC 8 cannot import pkg_resources",
          (P("No module named 'pkg_resources'"),),
          (Cause("setuptools >= 82 dropped pkg_resources, which DIRAC 8 needs",
                 ("DIRAC-004",)),)),
    Entry("command-not-found", "DIRAC's commands are not on PATH",
          (Anchor("command not found", SHELL),),
          (Cause("the DIRACOS environment is not active in this shell", ("DIRACOS-003",)),
           Cause("DIRAC is not installed in DIRACOS", ("DIRAC-001", "DIRAC-006"))),
          narrow=r"(?:dirac|voms)-[\w-]+: command not found"),
    Entry("pkcs12-legacy", "OpenSSL 3 cannot read an old .p12 export",
          (O("RC2-40-CBC"),),
          (Cause("usercert.pem/userkey.pem were never extracted from the RC2-40 export",
                 ("CERT-001",)),)),
)


# ------------------------------------------------------------------------------------ matching

@dataclass(frozen=True)
class Match:
    """One line of the text, and the entry that claimed it."""

    entry: Entry
    line_no: int
    line: str


def match(text: str, catalogue: Sequence[Entry] = CATALOGUE) -> list[Match]:
    """Every line that some entry recognises, claimed by the first such entry."""
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        for entry in catalogue:
            if entry.matches(line):
                found.append(Match(entry, no, line))
                break
    return found


def entries(matches: Iterable[Match]) -> list[Entry]:
    """The matched entries, once each, in catalogue order (most specific first)."""
    keys = {m.entry.key for m in matches}
    return [e for e in CATALOGUE if e.key in keys]


# ------------------------------------------------------------------------------------ judging

CONFIRMED, RULED_OUT, UNDECIDED = "confirmed", "ruled out", "undecided"


@dataclass(frozen=True)
class Judged:
    """One candidate cause of a matched entry, and what the checks made of it."""

    entry: Entry
    cause: Cause
    status: str
    evidence: tuple[CheckResult, ...]


def judge_cause(cause: Cause, results: Mapping[str, Any]) -> tuple[str, tuple]:
    """Confirmed when a deciding check failed (or warned: the message itself shows the problem
    is real, and a failed cause is still preferred); ruled out when all of them passed."""
    got = tuple(results[c] for c in cause.checks if c in results)
    failed = tuple(r for r in got if r.outcome in ("failed", "error", "warned"))
    if failed:
        return CONFIRMED, failed
    if got and len(got) == len(cause.checks) and all(r.outcome == "passed" for r in got):
        return RULED_OUT, got
    return UNDECIDED, got


@dataclass
class Explanation:
    """What the text was, and what the checks made of it (renderers take only this)."""

    matches: list[Match]
    judged: list[Judged] = field(default_factory=list)
    ran: bool = False
    offline: bool = False
    text: str = ""

    @property
    def recognised(self) -> bool:
        return bool(self.matches)

    @property
    def harmless_only(self) -> bool:
        return self.recognised and not any(e.harmful for e in entries(self.matches))

    @property
    def confirmed(self) -> Optional[Judged]:
        """The first confirmed cause, one that a failed check confirms before a warned one."""
        hits = [j for j in self.judged if j.status == CONFIRMED]
        hard = [j for j in hits if any(r.outcome != "warned" for r in j.evidence)]
        return (hard or hits or [None])[0]


def judge(matches: list[Match], results: Mapping[str, CheckResult]) -> list[Judged]:
    out = []
    for entry in entries(matches):
        for cause in entry.causes:
            status, evidence = judge_cause(cause, results)
            out.append(Judged(entry, cause, status, evidence))
    return out


# ------------------------------------------------------------------------------------ rendering

def render_text(ex: Explanation) -> str:
    """The terminal's "Error explained" section."""
    return "\n".join(["", "=" * 30 + " Error explained " + "=" * 30, *section(ex)])


def section(ex: Explanation) -> list[str]:
    """The lines of the "Error explained" section, for the terminal and the reports."""
    lines: list[str] = []
    if not ex.recognised:
        lines.append("not recognised: no entry of the catalogue matches this text; the full "
                     "diagnosis ran instead. Send this text with the report to support:")
        shown = "\n".join(ex.text.splitlines()[-40:])
        lines += ["  | " + visible(t) for t in scrub_secrets(shown).splitlines()]
        return lines
    for entry in entries(ex.matches):
        first = next(m for m in ex.matches if m.entry.key == entry.key)
        kind = "harmful" if entry.harmful else "harmless"
        lines.append(f"[{entry.key}] {entry.title} ({kind})")
        lines.append(f"  line {first.line_no}: "
                     f"{visible(scrub_secrets(first.line.strip()))[:200]}")
        if not entry.harmful:
            lines.append(f"  harmless: {entry.why}")
    if ex.harmless_only:
        lines.append("verdict: harmless, every message recognised here is expected; "
                     "nothing to fix")
        return lines
    best = ex.confirmed
    if best is not None:
        lines.append(f"confirmed cause: {best.cause.text}")
        for r in best.evidence:
            lines.append(f"  {r.id} {r.outcome}: {visible(r.message)[:300]}")
            if r.fix:
                lines.append("  fix:")
                lines += ["    " + f for f in r.fix.splitlines()]
        shown = {r.id for r in best.evidence}
        for j in ex.judged:
            if j.status != CONFIRMED or {r.id for r in j.evidence} <= shown:
                continue
            shown |= {r.id for r in j.evidence}
            lines.append(f"also confirmed: {j.cause.text} ({', '.join(r.id for r in j.evidence)})")
    else:
        lines.append("none confirmed: no check that decides these causes failed"
                     + (" (network checks were skipped: --mu3e-offline)" if ex.offline else ""))
    said: set[tuple[str, ...]] = set()
    for j in ex.judged:
        if j.status == RULED_OUT and j.cause.checks not in said:
            said.add(j.cause.checks)
            lines.append(f"ruled out: {j.cause.text} ({', '.join(j.cause.checks)} passed)")
    for j in ex.judged:
        if j.status == UNDECIDED and best is None:
            how = ", ".join(f"{r.id} {r.outcome}" for r in j.evidence) or "not run"
            lines.append(f"undecided: {j.cause.text} ({how})")
    return lines


DOCS_PATH = Path("docs") / "explain.md"
GENERATE = "python -m mu3e_checks.explain --write-docs"


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table, from the same data the matcher uses."""
    rows = ["| entry | message (anchors) | harmful | candidate causes → deciding checks |",
            "|---|---|---|---|"]
    for e in CATALOGUE:
        anchors = "<br>".join(f"`{a.text}` ({a.origin})" for a in e.anchors)
        if e.narrow:
            anchors += f"<br>and the line matches `{e.narrow}`"
        causes = ("<br>".join(f"{c.text} → {', '.join(c.checks)}" for c in e.causes)
                  or e.why)
        cells = [e.key, anchors, "yes" if e.harmful else "no", causes]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def docs_page() -> str:
    """docs/explain.md: how to use ``explain`` and the catalogue, generated from the data."""
    return "\n\n".join([
        "# mu3e-checks explain: DIRAC's messages, explained",
        f"<!-- generated by `{GENERATE}` from mu3e_checks/explain.py; do not edit -->",
        "```\n" + USAGE + "\n```",
        "Each entry below is one message family. Its anchors are plain substrings of the real "
        "text (tagged with the program that prints it); the first entry that matches a line "
        "claims it, so specific entries come first. A cause is confirmed when one of its "
        "deciding checks fails (or, failing none, warns), and ruled out when all of them pass. "
        "To add a message: add an `Entry` to `CATALOGUE`, a test that makes a real program "
        "print it (tests/peers/test_explain_dirac.py, test_explain_voms.py, "
        "test_explain_real.py), and regenerate this page.",
        catalogue_markdown(),
    ]) + "\n"


# ------------------------------------------------------------------------------------ reports

class ReportPlugin:
    """Handed to ``pytest.main`` by the runner: carries the matched text into the run, so the
    HTML and JSON reports get their "Error explained" section from the run's own results."""

    def __init__(self, matches: list[Match], text: str, offline: bool) -> None:
        self.matches, self.text, self.offline = matches, text, offline
        #: The run's results by check ID (key material scrubbed), for the terminal section.
        self.results: dict[str, Any] = {}

    def pytest_mu3e_report_sections(self, diagnosis: Diagnosis) -> dict[str, Any]:
        """The "Error explained" lines for the run's model (:mod:`mu3e_checks.hooks`)."""
        return {"explained": tuple(self.section(diagnosis))}

    def section(self, d: Diagnosis) -> list[str]:
        results = {r.id: r for r in d.map_text(scrub_secrets).results}
        self.results = results
        ex = Explanation(self.matches, judge(self.matches, results) if self.matches else [],
                         ran=True, offline=self.offline, text=self.text)
        return section(ex)


# ------------------------------------------------------------------------------------ running

USAGE = """usage: mu3e-checks explain [--file F] [mu3e/pytest options] [-- command ...]
Reads DIRAC's error text from stdin (or --file F), or runs the command after -- and reads its
output; names the message, runs only the checks that decide its causes (network checks too,
unless --mu3e-offline) and prints the confirmed cause with its fix. Unknown text runs the full
diagnosis. With a command, its exit code is passed through."""


#: How the checks' pytest command line is built: ``cli.pytest_args`` (passed in by the CLI,
#: which imports this module, so that the two do not import each other).


def run_checks(select: Sequence[str], extra: Sequence[str], pytest_args: ArgsBuilder,
               plugin: ReportPlugin) -> tuple[int, dict[str, Any]]:
    """Run the diagnosis in-process, as ``mu3e-checks`` does, with the user's own options
    (reports included), and take the results from the model the run built.

    The results come from :class:`ReportPlugin`, which sees the same :class:`Diagnosis` the
    reports are rendered from, so no private report file is written (a temporary JSON file
    would be announced on the terminal and then vanish) and a ``--mu3e-json`` or
    ``MU3E_JSON`` of the user's is left as it is.
    """
    args = list(extra)
    if select:
        args += ["--mu3e-select", ",".join(select)]
    rc = run_in_process(pytest_args(args), [plugin])
    return rc, dict(plugin.results)


def explain(text: str, extra: Sequence[str], pytest_args: ArgsBuilder) -> Explanation:
    """Match ``text``; run the deciding checks (or, for unknown text, all of them)."""
    from mu3e_checks import registry

    matches = match(text)
    offline = "--mu3e-offline" in extra
    ex = Explanation(matches, text=text, offline=offline)
    if ex.harmless_only:
        return ex
    plugin = ReportPlugin(matches, text, offline)
    if not matches:
        run_checks((), extra, pytest_args, plugin)
        ex.ran = True
        return ex
    ids = [c for e in entries(matches) for c in e.check_ids]
    select = with_prerequisites(ids, registry.load_all())
    _, results = run_checks(select, extra, pytest_args, plugin)
    ex.judged = judge(matches, results)
    ex.ran = True
    return ex


#: Runs the user's own command and returns (exit code, output): ``cli.run_user_command``, passed
#: in by the command line, so this module (imported by every diagnosis run) starts no process.
CommandRunner = Callable[[Sequence[str]], "tuple[int, str]"]


def main(argv: Sequence[str], pytest_args: ArgsBuilder,
         run_command: Optional[CommandRunner] = None) -> int:
    """``mu3e-checks explain ...``: 0 when every message recognised is harmless, else 1 (a
    harmful or unknown message); with a command, that command's exit code."""
    argv = list(argv)
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    source: Optional[Path] = None
    if "--file" in argv:
        at = argv.index("--file")
        if at + 1 >= len(argv):
            print(USAGE, file=sys.stderr)
            return 2
        source = Path(argv[at + 1])
        del argv[at:at + 2]
    if command:
        if run_command is None:
            print("mu3e-checks explain: running a command needs the mu3e-checks command",
                  file=sys.stderr)
            return 2
        code, text = run_command(command)
    elif source is not None:
        from mu3e_checks.knowledge.files import Unreadable, read_bytes

        try:  # the bounded, non-blocking read path: a FIFO or a huge file must not hang it
            code, text = None, read_bytes(source).decode("utf-8", "replace")
        except Unreadable as exc:
            print(f"mu3e-checks explain: {exc}", file=sys.stderr)
            return 2
    else:
        if sys.stdin.isatty():
            print("paste the error text, then press Ctrl-D", file=sys.stderr)
        code, text = None, sys.stdin.read()
    ex = explain(text, argv, pytest_args)
    print(render_text(ex))
    if code is not None:
        return code
    return 0 if ex.harmless_only else 1


if __name__ == "__main__":  # pragma: no cover - the docs generator
    if sys.argv[1:2] in (["--write-docs"], ["--check-docs"]):
        from mu3e_checks.listing import docs_command

        sys.exit(docs_command(sys.argv[1:], DOCS_PATH, docs_page, GENERATE))
    print(f"usage: {GENERATE} | --check-docs", file=sys.stderr)
    sys.exit(2)
