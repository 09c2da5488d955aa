"""``mu3e-checks explain``: DIRAC's, voms-proxy-init's and OpenSSL's error text mapped to causes,
and each cause confirmed or ruled out by running only the checks that decide it.

Users meet DIRAC through its messages, and several point the wrong way (an unreachable VOMS
server reads as "are you sure you are properly registered in the VO?") or alarm without harm
(``dirac-proxy-init --nocs`` without ``-N``).  :data:`CATALOGUE` holds one :class:`Entry` per
message family as data: its anchors (plain substrings of the real text, each tagged with the
program that prints it, so a guard test can find it in DIRAC's sources), the context it needs
(:class:`Context`: the command that printed the text, other lines of the text, where in the
line the anchor sits), whether it is harmful, and its candidate causes, each naming the check
IDs that decide it.  The programs' ordinary output (progress lines, proxy fields, the command
line, a traceback's frames) has entries too, so that what matches nothing is worth showing:
those lines are listed as "not explained".

Matching is one pass over the lines with plain substring tests, no regular expression of the
catalogue's own (a prefilter is the alternation of the anchors, escaped): linear in the size of
the text, which is read up to :data:`MAX_TEXT`.  The first entry that matches a line claims it,
so a specific entry is listed before a generic one.  Confirmed causes are put in root-cause
order: a cause whose check others depend on (the registry's prerequisite graph) comes first,
and its fix is the headline.

The runner is the one place the project starts a program it does not own: the user's own DIRAC
command after ``--``, whose exit code it passes through.  The checks themselves run in-process
through ``pytest.main`` exactly as the hermetic ``mu3e-checks`` command runs them.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import commands
from mu3e_checks.model import CheckResult, Diagnosis, Explained
from mu3e_checks.plugin import ArgsBuilder, run_in_process
from mu3e_checks.redact import scrub_secrets
from mu3e_checks.registry import Check, graph_ordered, ordered, with_prerequisites
from mu3e_checks.render.explained import HEADING, section_lines
from mu3e_checks.text import clip

# Where an anchor's text comes from: the guard test greps DIRAC 8.0.74's installed sources for
# "DIRAC" anchors and DIRAC 9's for "DIRAC 9" ones; "DIRAC output" is text DIRAC assembles when
# it prints (padded proxy fields), found in the real programs' output by the peer tests; the
# others are printed by the peer programs and libraries named.
DIRAC, DIRAC9, PRINTED = "DIRAC", "DIRAC 9", "DIRAC output"
VOMS, OPENSSL, PYTHON, SHELL = "voms-proxy-init", "openssl", "python", "shell"
GLOBUS = "grid-proxy-init"  # the Globus tools users also run by hand
ORIGINS = (DIRAC, DIRAC9, PRINTED, VOMS, OPENSSL, PYTHON, SHELL, GLOBUS)

#: The most text ``explain`` reads from stdin or ``--file`` (and the part of a command's
#: output it looks at: the end, where the error is).
MAX_TEXT = 1024 * 1024
#: What it echoes: each line clipped to this many characters, at most this many lines of one
#: message, and the last this many lines that matched nothing.
LINE_CHARS, LINES_PER_ENTRY, UNEXPLAINED_SHOWN = 300, 20, 40


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


#: A --nocs run: the command says so (``--nocs``/``-x``), or, with no command in sight, the
#: text shows dirac-proxy-init making a proxy without ever contacting the CS.
NOCS, CONTACTING_CS = "nocs", "Contacting CS..."
_MADE_PROXY = ("Generating proxy...", "Proxy generated:")


@dataclass(frozen=True)
class Context:
    """What around a line an entry needs; every field given must hold (plain substrings).

    ``line``: the line also holds one of these.  ``starts``: the stripped line starts with one
    of these, and with ``only`` set, the rest of it consists only of those characters (with no
    ``starts``, the whole stripped line does: a row of ``=``).  ``text``/``not_text``: the
    whole text holds one / none of these.  ``run``: ``"nocs"``, the line was printed by a
    ``--nocs`` run.  ``role``: the line is the user's command line (``"command"``) or part of
    a Python traceback (``"frame"``), as :func:`scene` finds them.
    """

    line: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    only: str = ""
    text: tuple[str, ...] = ()
    not_text: tuple[str, ...] = ()
    run: str = ""
    role: str = ""

    def holds(self, scene: Scene, index: int, line: str) -> bool:
        if self.role and scene.roles[index] != self.role:
            return False
        if self.run == NOCS and scene.nocs[index] is not True:
            return False
        if self.line and not any(s in line for s in self.line):
            return False
        body = line.strip()
        if self.starts:
            start = next((s for s in self.starts if body.startswith(s)), None)
            if start is None:
                return False
            body = body[len(start):]
            if self.only and not set(body) <= set(self.only):
                return False
        elif self.only and (not body or not set(body) <= set(self.only)):
            return False
        if self.text and not any(s in scene.present for s in self.text):
            return False
        return not any(s in scene.present for s in self.not_text)

    def describe(self) -> str:
        parts = []
        if self.role:
            parts.append({"command": "the line is the user's command (typed after a prompt)",
                          "frame": "the line is part of a Python traceback"}[self.role])
        if self.run:
            parts.append("printed by a --nocs run (the command says --nocs, or the text shows a "
                         "proxy made without contacting the CS)")
        if self.line:
            parts.append("the line also holds " + " or ".join(f"`{s}`" for s in self.line))
        if self.starts:
            parts.append("the line starts with " + " or ".join(f"`{s}`" for s in self.starts)
                         + (f" followed only by `{self.only}`" if self.only else ""))
        elif self.only:
            parts.append(f"the line consists only of `{self.only}`")
        if self.text:
            parts.append("the text holds " + " or ".join(f"`{s}`" for s in self.text))
        if self.not_text:
            parts.append("the text holds none of " + ", ".join(f"`{s}`" for s in self.not_text))
        return ", ".join(parts)


@dataclass(frozen=True)
class Entry:
    """One message family: how to recognise it, in which context, and what can cause it.

    A line is the entry's when it holds one of the ``anchors`` (if there are any) and one of
    the ``when`` contexts holds (if there are any).  ``ordinary`` marks a program's ordinary
    output: recognised, never a problem, not shown as a message.
    """

    key: str
    title: str
    anchors: tuple[Anchor, ...] = ()
    causes: tuple[Cause, ...] = ()
    harmful: bool = True
    why: str = ""
    when: tuple[Context, ...] = ()
    ordinary: bool = False

    def matches(self, scene: Scene, index: int, line: str) -> bool:
        if self.anchors and not any(a.text in line for a in self.anchors):
            return False
        return not self.when or any(c.holds(scene, index, line) for c in self.when)

    @property
    def check_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for cause in self.causes:
            seen.update(dict.fromkeys(cause.checks))
        return tuple(seen)


def D(text: str) -> Anchor:  # noqa: N802 - short constructors keep the catalogue readable
    return Anchor(text, DIRAC)


def D9(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, DIRAC9)


def V(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, VOMS)


def O(text: str) -> Anchor:  # noqa: N802, E743
    return Anchor(text, OPENSSL)


def P(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, PYTHON)


def S(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, SHELL)


def G(text: str) -> Anchor:  # noqa: N802
    return Anchor(text, GLOBUS)


def starting(origin: Callable[[str], Anchor], *texts: str, only: str = "",
             line: tuple[str, ...] = ()) -> tuple[tuple[Anchor, ...], Context]:
    """Anchors that must start the line (ordinary output is only ever a whole line's start)."""
    return tuple(origin(t) for t in texts), Context(starts=texts, only=only, line=line)


_NOCS_WHY = ("'dirac-proxy-init --nocs' works without the Configuration Server, so its last "
             "step, uploading the proxy to the ProxyManager, cannot find that service (after "
             "dirac-configure the lines name your setup, GridPP; a DIRAC 9 client says 'URL "
             "for service Framework/ProxyManager not found'); the local proxy is made all the "
             "same and the command exits 0. Add -N (--no-upload) and the message goes away: "
             + commands.PROXY_INIT_LOCAL.format(group="<group>"))

#: Lines only a DIRAC 9 client prints: in their company, DIRAC 8 messages mean the client.
_V9_MARKERS = ("DiracX", "someone with a working proxy can check your registration",
               "Ignoring Setup option as it is not used for DIRAC v9")
_V9_CAUSE = Cause("the DIRAC client is v9 or newer: it looks services and the Registry up "
                  "without the setup the Mu3e (DIRAC 8) server serves them under; the guide "
                  "installs 8.0.74", ("DIRAC-002",))
_VERSIONS_CAUSE = Cause("your DIRAC client's version does not suit the Configuration Server's",
                        ("NET-008",))
_CS_TEXTS = ("Can't update from server", "Can't contact DIRAC CS", "Cannot contact CS",
             "Non-responding URL temporarily banned")

_PROGRESS, _PROGRESS_AT = starting(
    D, "Generating proxy...", "Proxy generated:", "Uploading proxy..", "Loading user proxy",
    "Uploading proxy on-the-fly", "Loading cert and key", "User credentials loaded",
    "Uploading...", CONTACTING_CS, "Checking DN ", "Username is ", "Creating proxy for ",
    "Running without remote configuration", "Retry connection", "Checking DIRAC installation",
    "Will update ", "Current hash for bundle", "Reason(s):", "Added VOMS attribute",
    "Proxies uploaded:", "Proxy lifetime will be", "User cert is", "User key  is",
    "Proxy will be written to", "DIRAC Group will be set to", "No DIRAC Group will be set",
    "Proxy strength will be", "Default discovered group is", "Cert file ", "Key file ",
    "Creating dir ", "Synchronizing dir with remote bundle", "Dir has been synchronized",
    "Created vomsdir file", "Created vomses file", "Configuration is not completed",
    "Enter Certificate password:", "Proxy uploaded", "== Proxies uploaded ==")
_FIELDS, _FIELDS_AT = starting(
    lambda t: Anchor(t, PRINTED), "subject      : ", "issuer       : ", "identity     : ",
    "subproxyUser : ", "timeleft     : ", "DIRAC group  : ", "rfc          : ",
    "path         : ", "username     : ", "properties   : ", "VOMS         : ",
    "VOMS fqan    : ")
_VOMS_PROGRESS, _VOMS_PROGRESS_AT = starting(
    V, "Your identity:", "Your proxy is valid until", "Contacting ",
    "Remote VOMS server contacted succesfully", "Created proxy in",
    "Use --debug for further information", "Enter GRID pass phrase")

#: The catalogue, most specific first: the first entry that matches a line claims it.
CATALOGUE: tuple[Entry, ...] = (
    # ------------------------------------------------------------- the text's own structure
    Entry("command-line", "The command that printed the text", (),
          when=(Context(role="command"),), harmful=False, ordinary=True,
          why="the user's own command line, after a shell prompt"),
    Entry("traceback", "A Python traceback's frames", (),
          when=(Context(role="frame"),), harmful=False, ordinary=True,
          why="where the program was when it stopped; its last line, the exception, is "
              "explained on its own"),
    # ------------------------------------------------------------- context decides first
    Entry("nocs-upload", "The --nocs proxy was not uploaded (no Configuration Server)",
          (D("Could not select DISET or Tornado client"), D("Cannot get URL for"),
           D("URL for service"), D("is not defined")), harmful=False, why=_NOCS_WHY,
          when=(Context(run=NOCS, line=("ProxyManager",
                                         "Could not select DISET or Tornado client")),
                Context(line=("/Setups/None/Framework is not defined",
                              "/Setups/Test/Framework is not defined")))),
    Entry("v9-client", "A DIRAC 9 client's own messages",
          (D9("DiracX will not work"), D9("Ignoring Setup option as it is not used for DIRAC v9"),
           D9("Failed to access DiracX"), D9("No diracx token"),
           D9("someone with a working proxy can check your registration"),
           D9("Your certificate subject (DN) is:"), D9("and its issuer (CA) is:"),
           D9("dirac-admin-debug-user --ca"), Anchor("DiracX       : ", PRINTED)),
          (_V9_CAUSE, _VERSIONS_CAUSE)),
    Entry("v9-registry", "A DIRAC 9 client cannot read the Mu3e server's Registry",
          (D("is not registered"), D("does not exist or it's not a section")),
          (_V9_CAUSE, _VERSIONS_CAUSE), when=(Context(text=_V9_MARKERS),)),
    Entry("service-url", "DIRAC finds no URL for a service",
          (D("URL for service"),),
          (_V9_CAUSE, _VERSIONS_CAUSE,
           Cause("the Configuration Server does not name this service for your setup",
                 ("NET-012",))),
          when=(Context(line=("not found",)),)),
    Entry("setup-mismatch", "The server does not know this client's setup or service",
          (D("Cannot get URL for"), D("is not defined")),
          (Cause("DIRAC could not download the configuration from the Configuration "
                 "Server, so it knows no services of the setup",
                 ("NET-001", "NET-002", "NET-003", "NET-004")),
           Cause("the DIRAC client is not the release the Mu3e server speaks (8.0.74)",
                 ("DIRAC-002",)),
           Cause("dirac.cfg names the wrong setup", ("CFG-003",)),
           Cause("the Configuration Server does not name this service for your setup",
                 ("NET-012",))),
          when=(Context(line=("/DIRAC/Setups/",)),)),
    Entry("no-cfg-notice", "DIRAC started without a local dirac.cfg",
          (D("No CFG file loaded"),), harmful=False,
          why="DIRAC prints this whenever it starts without reading a local dirac.cfg: also "
              "with --nocs, which needs none, and at times even when dirac.cfg loads "
              "(DIRAC#7088). It matters only together with another message that DIRAC lacks "
              "its configuration; that message is explained on its own."),
    Entry("diracosrc-realpath", "diracosrc's realpath warning",
          (S("realpath: '': No such file or directory"),), harmful=False,
          why="diracosrc passes an empty variable to realpath while it sets up the "
              "environment (DIRAC#6744, DIRACOS2#103); the environment is still complete."),
    Entry("no-cfg", "DIRAC read no dirac.cfg",
          (D("Missing mandatory local configuration option"),
           D("does not exist or it's not a section"),
           D("There were errors when loading configuration")),
          (Cause("no dirac.cfg where DIRAC reads it (dirac-configure never ran, or ran with "
                 "another Python)", ("CFG-001",)),
           Cause("dirac.cfg cannot be parsed", ("CFG-002",)),
           Cause("dirac.cfg has no /DIRAC/Setup", ("CFG-003",)))),
    Entry("cs-refused-dn", "The Configuration Server refuses your DN or group",
          (D("Unauthorized query"), D("User possibly not registered"),
           *(D(t) for t in _CS_TEXTS)),
          (Cause("the Configuration Server refuses your proxy: it does not know your DN (the "
                 "Mu3e VO admins must register it exactly), or not in the group your proxy "
                 "carries", ("NET-009", "NET-006", "NET-010")),
           Cause("your proxy carries another DIRAC group than the Mu3e one: make it again "
                 "with -g", ("GROUP-002",))),
          when=(Context(text=("Unauthorized query",)),)),
    Entry("peer-closed", "The server closed the connection after the TLS handshake",
          (D("Peer closed connection"), P("Transport endpoint is not connected"),
           *(D(t) for t in _CS_TEXTS)),
          (Cause("the server does not accept your certificate: it does not trust your "
                 "certificate's CA, or your proxy's chain is broken, and closes the connection "
                 "after the handshake", ("NET-003",)),
           Cause("your proxy's chain does not validate here either", ("PROXY-006",)),
           Cause("your proxy has expired", ("PROXY-008",)),
           Cause("your certificate has expired or is revoked", ("CERT-008", "CRL-004"))),
          when=(Context(text=("Peer closed connection", "Transport endpoint is not connected"),
                        not_text=("Unauthorized query",)),)),
    Entry("proxymanager-unreachable", "The ProxyManager did not take the upload",
          (P("Connection refused"), P("timed out"), P("Transport endpoint is not connected"),
           D("Non-responding URL temporarily banned")),
          (Cause("the ProxyManager the Configuration Server names does not answer: the proxy "
                 "was made but not uploaded, so jobs cannot get it", ("NET-013",)),
           Cause("the Configuration Server names no (or another) ProxyManager for your setup",
                 ("NET-012",))),
          # the service's own lines, and the upload's last word once the upload had begun
          when=(Context(line=("Framework/ProxyManager",)),
                Context(text=("proxy to ProxyManager...",),
                        line=("ConnectionRefusedError", "SSLTimeoutError", "OSError(107")))),
    Entry("no-proxy", "No proxy where DIRAC looks",
          (D("No proxy found"), D("no user proxy is available"),
           D("Create one using dirac-proxy-init")),
          (Cause("there is no proxy file, or X509_USER_PROXY points elsewhere",
                 ("PROXY-001",)),
           Cause("the proxy has expired", ("PROXY-008",)))),
    Entry("cs-refused", "The Configuration Server's port refused the connection",
          (P("Connection refused"),),
          (Cause("nothing accepts connections on the Configuration Server's port, or a "
                 "firewall rejects it", ("NET-002",)),
           Cause("dirac.cfg points at the wrong Configuration Server", ("CFG-004",))),
          when=(Context(line=("ConnectionRefusedError", "dips://")),)),
    Entry("cs-dns", "The Configuration Server's name does not resolve",
          (D("DNS lookup failed"), P("Name or service not known"),
           P("Temporary failure in name resolution")),
          (Cause("the server's host name does not resolve (DNS)", ("NET-001",)),
           Cause("dirac.cfg names a wrong or misspelt server", ("CFG-004",))),
          when=(Context(line=("gaierror", "dips://", "DNS lookup failed")),)),
    Entry("cs-timeout", "The connection to the Configuration Server timed out",
          (P("SSLTimeoutError"), P("timed out")),
          (Cause("a firewall drops outgoing connections to the server's port (9130-9200)",
                 ("NET-002",)),
           Cause("the server accepts the connection but never completes TLS: the service "
                 "hangs, or a firewall or proxy interferes", ("NET-003",)),
           Cause("the name resolves to an address that does not answer", ("NET-001",))),
          when=(Context(line=("SSLTimeoutError", "dips://", "Configuration/Server")),)),
    Entry("tls-verify", "TLS: a certificate could not be verified",
          (P("certificate verify failed"), P("CERTIFICATE_VERIFY_FAILED")),
          (Cause("the server's CA (UK e-Science) is not in your trust directory",
                 ("NET-003", "CA-004")),
           Cause("the trust directory DIRAC uses is missing or empty", ("CA-001", "ENV-001")),
           Cause("the CRLs are out of date", ("CRL-003", "CRL-001")))),
    Entry("cert-expiring", "Your certificate has expired, or expires soon",
          (D("Your certificate will expire in"), V("Your certificate expired"),
           G("Your certificate has expired")),
          (Cause("your user certificate has expired or expires soon: renew it with your CA, "
                 "then put the new one in ~/.globus as the guide shows", ("CERT-008",)),)),
    Entry("upload-expired", "The proxy DIRAC was to upload had already expired",
          (D("has expired"),),
          (Cause("your user certificate has expired, so every proxy made from it is expired "
                 "too", ("CERT-008",)),
           Cause("your proxy has expired", ("PROXY-008",))),
          when=(Context(starts=("Proxy ",)),)),
    Entry("cert-expired", "A certificate or proxy has expired",
          (O("certificate has expired"), D("Proxy is expired"), V("proxy is expired"),
           V("Credentials have expired"), D("PEM file has expired"),
           D("has expired, not valid after"), O("alert certificate expired"),
           Anchor("timeleft     : 00:00:00", PRINTED)),
          (Cause("your proxy has expired", ("PROXY-008",)),
           Cause("your user certificate has expired", ("CERT-008",)),
           Cause("a CA certificate in the trust directory has expired", ("CA-005",)))),
    Entry("cs-unreachable", "DIRAC could not reach any Configuration Server",
          tuple(D(t) for t in _CS_TEXTS),
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
          (S("voms-proxy-init: not found"),),
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
    Entry("voms-credentials", "voms-proxy-init found no usable certificate and key",
          (V("Couldn't find valid credentials to generate a proxy"),
           V("Unable to find user certificate or key")),
          (Cause("userkey.pem can be read by others: voms-proxy-init ignores such a key and "
                 "says why only with --debug", ("CERT-003",)),
           Cause("usercert.pem or userkey.pem is missing where the grid tools look "
                 "(~/.globus, or X509_USER_CERT and X509_USER_KEY)", ("CERT-001",)),
           Cause("userkey.pem holds no readable private key", ("CERT-006",)))),
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
          when=(Context(line=("DN ", "User", "user")),)),
    Entry("proxy-no-group", "dirac-proxy-info stopped on a proxy without a DIRAC group",
          (P("KeyError: 'group'"),),
          (Cause("the proxy carries no DIRAC group: voms-proxy-init made it, or a "
                 "dirac-proxy-init that failed left it; make it with dirac-proxy-init -g",
                 ("GROUP-001",)),)),
    Entry("proxy-invalid", "dirac-proxy-info finds the proxy invalid",
          (D("The proxy is not valid"),),
          (Cause("the proxy was signed with a key that does not belong to usercert.pem "
                 "(dirac-proxy-init --nocs signs with whatever userkey.pem holds)",
                 ("CERT-007", "PROXY-007")),
           Cause("the proxy file holds no valid proxy chain",
                 ("PROXY-004", "PROXY-005", "PROXY-006")))),
    Entry("key-permissions", "A private key or proxy is readable by others",
          (V("bad file system permissions on private key"), V("Wrong permissions on file"),
           G("File has bad permissions")),
          (Cause("userkey.pem is group- or world-readable", ("CERT-003",)),
           Cause("the proxy file is not private", ("PROXY-002",)))),
    Entry("key-mismatch", "The private key does not belong to the certificate",
          (O("key values mismatch"), V("key and certificate don't match"),
           G("non-matching user key and cert"),
           G("Could not verify the signature of the generated proxy certificate")),
          (Cause("usercert.pem and userkey.pem come from different exports", ("CERT-007",)),)),
    Entry("bad-passphrase", "The private key could not be decrypted",
          (D("Bad passphrase"), O("bad decrypt"), G("Couldn't read user key")),
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
          when=(Context(line=("CA ", "certificates", "grid-security", "X509_CERT_DIR")),)),
    Entry("configure-mkdir", "dirac-configure cannot create DIRAC's CA directory",
          (D("Fail to create directory"), P("Permission denied"), P("Read-only file system")),
          (Cause("dirac-configure is not DIRACOS's: a DIRAC from another Python (a venv, pip "
                 "--user) takes that Python's prefix (e.g. /usr) as its root, where you cannot "
                 "write", ("DIRACOS-003", "DIRAC-006")),
           Cause("DIRAC's root directory is not yours to write ($DIRAC_ROOT_PATH, or a DIRACOS "
                 "another account installed): dirac-configure writes <root>/etc",
                 ("CFG-001",))),
          when=(Context(text=("Fail to create directory",)),)),
    Entry("configure-permissions", "dirac-configure cannot update the CA directory",
          (D("does not have the permissions to update"), P("Read-only file system")),
          (Cause("the CA directory DIRAC uses is not yours to write: X509_CERT_DIR (or "
                 "diracosrc) points at a site-managed directory such as "
                 "/etc/grid-security/certificates instead of DIRACOS's", ("ENV-001", "CA-002")),),
          when=(Context(line=("does not have the permissions", "certificates",
                              "grid-security")),)),
    Entry("pkg-resources", "DIRAC 8 cannot import pkg_resources",
          (P("No module named 'pkg_resources'"),),
          (Cause("setuptools >= 82 dropped pkg_resources, which DIRAC 8 needs",
                 ("DIRAC-004",)),)),
    Entry("crl-tools", "fetch-crl (or the module command) is not available",
          (S("fetch-crl: command not found"), S("module: command not found"),
           S("command not found: fetch-crl"), S("command not found: module")),
          (Cause("fetch-crl is not available in this shell (the guide's 'module load "
                 "fetch-crl' exists only on Merlin7; elsewhere install fetch-crl, or let "
                 "mu3e-checks fix fetch the CRLs), so the CRLs were never fetched",
                 ("CRL-001",)),
           Cause("fetch-crl is not available in this shell, so the CRLs are out of date",
                 ("CRL-003",)))),
    Entry("command-not-found", "DIRAC's commands are not on PATH",
          (S("command not found"), S(": not found")),
          (Cause("the DIRACOS environment is not active in this shell", ("DIRACOS-003",)),
           Cause("DIRAC is not installed in DIRACOS", ("DIRAC-001", "DIRAC-006"))),
          when=(Context(line=("dirac-", "voms-")),)),
    Entry("pkcs12-legacy", "OpenSSL 3 cannot read an old .p12 export",
          (O("RC2-40-CBC"),),
          (Cause("usercert.pem/userkey.pem were never extracted from the RC2-40 export",
                 ("CERT-001",)),)),
    # ------------------------------------------------------------- ordinary output, last
    Entry("dirac-progress", "DIRAC's progress lines",
          _PROGRESS + (D("proxy to ProxyManager..."), D("before retry all service(s)"),
                       D("Executing: "), D("was already in sync"), D(" | ")),
          harmful=False, ordinary=True, why="what DIRAC is doing; nothing wrong",
          when=(_PROGRESS_AT,
                Context(starts=("Uploading ",), line=("proxy to ProxyManager...",)),
                Context(starts=("Waiting ",), line=("before retry all service(s)",)),
                Context(starts=("Executing: ",), line=("dirac-",)),
                Context(starts=("Dir ",), line=("was already in sync",)),
                # the uploaded proxies' table: its head, and one row per DN
                Context(starts=("DN ",), line=("| Until (GMT)",)),
                Context(starts=("/",), line=(" | ",)))),
    Entry("proxy-fields", "The proxy's fields, as DIRAC prints them", _FIELDS,
          harmful=False, ordinary=True, why="the proxy DIRAC made or found",
          when=(_FIELDS_AT,)),
    Entry("grid-progress", "voms-proxy-init's and grid-proxy-init's progress lines",
          _VOMS_PROGRESS + (V("Creating proxy"), V("Done"), V("Cannot open file"),
                            V("Function:"), G("Use -debug for further information")),
          harmful=False, ordinary=True,
          why="what the grid tools are doing; their random-seed file (~/.rnd) is optional",
          when=(_VOMS_PROGRESS_AT,
                Context(starts=("Creating proxy",), only=". Done"),
                Context(starts=("Done",), only=" "),
                Context(starts=("Cannot open file",), line=(".rnd",)),
                Context(starts=("Function:",), only=" "),
                Context(starts=("Use -debug for further information",), only=". "))),
    Entry("shell-noise", "An interactive shell's job-control notices",
          (S("cannot set terminal process group"), S("no job control in this shell")),
          harmful=False, ordinary=True, why="bash started without a terminal"),
    Entry("separator", "A separator line", (), when=(Context(only="=-*"),), harmful=False,
          ordinary=True, why="a row of = or -"),
)


# ------------------------------------------------------------------------------------ reading

#: Programs whose name starts a command line (after a shell prompt, or at column 0), besides
#: DIRAC's own ``dirac-*`` commands.
PROGRAMS = ("voms-proxy-init", "voms-proxy-info", "voms-proxy-fake", "grid-proxy-init",
            "grid-proxy-info", "openssl", "fetch-crl", "module", "source", "pip", "pip3",
            "python", "python3", "mu3e-checks", "bash", "export")
_PROMPT_ENDS = ("$", "#", "%", ">")
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct")


def command_words(line: str) -> Optional[list[str]]:
    """The words of ``line`` from the program on, when the line is a command the user typed:
    a known program first, or after a shell prompt (``$``, ``#``, ``%``, ``>``)."""
    words = line.split(maxsplit=8)
    for k, word in enumerate(words[:8]):
        name = word.rsplit("/", 1)[-1]
        if len(name) <= 40 and (name in PROGRAMS or name.startswith("dirac-")
                                and name.replace("-", "").replace("_", "").isalnum()):
            if k == 0 and not line[:1].isspace():
                return line.split()
            if k and words[k - 1].endswith(_PROMPT_ENDS):
                return line.split()[k:]
            return None
    return None


def nocs_of(words: Sequence[str]) -> Optional[bool]:
    """Whether these command words run dirac-proxy-init/-info with ``--nocs`` (``-x``); None
    when they run neither."""
    for k, word in enumerate(words):
        if word.rsplit("/", 1)[-1] in ("dirac-proxy-init", "dirac-proxy-info"):
            rest = words[k + 1:]
            return any(w == "--nocs" or (w[:1] == "-" and w[1:2] != "-" and w[1:].isalpha()
                                         and "x" in w[1:]) for w in rest)
    return None


@dataclass(frozen=True)
class Scene:
    """What the whole text says about each line: which context strings the text holds, each
    line's role (``command``, ``frame`` or ``""``) and whether a ``--nocs`` run printed it."""

    present: frozenset[str]
    roles: tuple[str, ...]
    nocs: tuple[Optional[bool], ...]


def _context_strings(catalogue: Sequence[Entry]) -> set[str]:
    found = {CONTACTING_CS, *_MADE_PROXY}
    for entry in catalogue:
        for c in entry.when:
            found.update(c.text, c.not_text)
    return found


def scene(text: str, lines: Sequence[str], command: Sequence[str] = (),
          catalogue: Sequence[Entry] = ()) -> Scene:
    """One linear pass: command lines and traceback frames, and the --nocs state each line
    was printed under (the last command line before it, else ``command``, else what the text
    shows: a proxy made without "Contacting CS...")."""
    present = frozenset(s for s in _index(catalogue or CATALOGUE).context if s in text)
    fallback: Optional[bool] = None
    if CONTACTING_CS in present:
        fallback = False
    elif any(s in present for s in _MADE_PROXY):
        fallback = True
    words = [w for arg in command for w in str(arg).split()]
    state = nocs_of(words) if words else None
    roles: list[str] = []
    nocs: list[Optional[bool]] = []
    in_traceback = False
    for line in lines:
        stripped = line.strip()
        role = ""
        if stripped == _TRACEBACK or stripped.startswith(_CHAINED):
            role, in_traceback = "frame", True
        elif in_traceback and line[:1] in (" ", "\t"):
            role = "frame"
        else:
            in_traceback = False
            typed = command_words(line)
            if typed is not None:
                role, state = "command", nocs_of(typed)
        roles.append(role)
        nocs.append(state if state is not None else fallback)
    return Scene(present, tuple(roles), tuple(nocs))


@dataclass(frozen=True)
class Match:
    """One line of the text, and the entry that claimed it."""

    entry: Entry
    line_no: int
    line: str


@dataclass(frozen=True)
class Reading:
    """The text, line by line: what each entry claimed, and the lines nothing matched."""

    matches: tuple[Match, ...] = ()
    unexplained: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class _Index:
    """The catalogue prepared for one pass: one pattern that finds, at every position of a
    line, the longest anchor starting there (a lookahead over the escaped anchors: literals
    only, no quantifier, so it cannot backtrack), and for each anchor the entries to offer a
    line holding it (those of the anchor and of every shorter anchor it starts with); and
    the context strings its entries (and the --nocs rule) look for around a line."""

    pattern: re.Pattern[str]
    offer: dict[str, frozenset[int]]
    anchorless: frozenset[int]
    context: frozenset[str]


#: Each catalogue's index, by identity; the catalogue is kept beside it, so that its id cannot
#: be reused by another object while the entry exists.
_INDEXES: dict[int, tuple[Sequence[Entry], _Index]] = {}


def _index(catalogue: Sequence[Entry]) -> _Index:
    key = id(catalogue)
    if key not in _INDEXES:
        owners: dict[str, set[int]] = {}
        for i, e in enumerate(catalogue):
            for a in e.anchors:
                owners.setdefault(a.text, set()).add(i)
        texts = sorted(owners, key=lambda t: (-len(t), t))
        offer = {t: frozenset(i for u in texts if t.startswith(u) for i in owners[u])
                 for t in texts}
        pattern = re.compile("(?=(" + "|".join(map(re.escape, texts)) + "))")
        _INDEXES[key] = (catalogue, _Index(pattern, offer, frozenset(
            i for i, e in enumerate(catalogue) if not e.anchors),
            frozenset(_context_strings(catalogue))))
    return _INDEXES[key][1]


def read(text: str, command: Sequence[str] = (),
         catalogue: Sequence[Entry] = CATALOGUE) -> Reading:
    """Every non-blank line, claimed by the first entry that matches it, or left unexplained.
    Linear: a line is searched once for all anchors, and only the entries whose anchors it
    holds (and those without anchors) are tried on it."""
    lines = text.splitlines()
    where = scene(text, lines, command, catalogue)
    index = _index(catalogue)
    found, unexplained = [], []
    # A line's entry depends only on the line, its role and its --nocs state (the rest of the
    # scene is the same for every line), so a repeated line is judged once.
    judged: dict[tuple[str, str, Optional[bool]], Optional[Entry]] = {}
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        key = (line, where.roles[n], where.nocs[n])
        if key not in judged:
            offered = set(index.anchorless)
            for hit in index.pattern.finditer(line):
                offered |= index.offer[hit.group(1)]
            judged[key] = next((catalogue[i] for i in sorted(offered)
                                if catalogue[i].matches(where, n, line)), None)
        entry = judged[key]
        if entry is None:
            unexplained.append((n + 1, line))
        else:
            found.append(Match(entry, n + 1, line))
    return Reading(tuple(found), tuple(unexplained))


def match(text: str, catalogue: Sequence[Entry] = CATALOGUE,
          command: Sequence[str] = ()) -> list[Match]:
    """The lines some entry recognises (ordinary output included)."""
    return list(read(text, command, catalogue).matches)


def entries(matches: Iterable[Match] | Reading, *, ordinary: bool = False) -> list[Entry]:
    """The matched entries, once each, in catalogue order (most specific first); the
    programs' ordinary output only when asked for."""
    if isinstance(matches, Reading):
        matches = matches.matches
    keys = {m.entry.key for m in matches}
    return [e for e in CATALOGUE if e.key in keys and (ordinary or not e.ordinary)]


HARMFUL, HARMLESS, NOT_RECOGNISED = "harmful", "harmless", "not recognised"


def verdict(reading: Reading) -> str:
    """harmful when a harmful message matched; harmless when every line is a harmless message
    or ordinary output; otherwise not recognised (the full diagnosis runs)."""
    found = entries(reading, ordinary=True)
    if any(e.harmful for e in found):
        return HARMFUL
    if found and not reading.unexplained:
        return HARMLESS
    return NOT_RECOGNISED


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


def judge(matches: Iterable[Match] | Reading, results: Mapping[str, CheckResult]) -> list[Judged]:
    out = []
    for entry in entries(matches):
        for cause in entry.causes:
            status, evidence = judge_cause(cause, results)
            out.append(Judged(entry, cause, status, evidence))
    return out


def graph_rank(checks: Mapping[str, Check]) -> dict[str, int]:
    """Each check's place in a topological order of the registry's prerequisite graph, ties
    broken by guide order: a check others depend on always ranks before them."""
    guide = [c.id for c in ordered(checks.values())]
    at = {cid: n for n, cid in enumerate(guide)}
    rank = graph_ordered(guide, lambda cid: [at[r] for r in checks[cid].requires])
    return {cid: n for n, cid in enumerate(rank)}


def root_first(judged: Sequence[Judged], checks: Mapping[str, Check]) -> list[Judged]:
    """The confirmed causes, root cause first: those a failed check confirms before those only
    a warning does, then in the prerequisite graph's order (a cause whose check others depend
    on first); a cause whose checks an earlier one already showed is left out."""
    rank = graph_rank(checks)

    def key(j: Judged) -> tuple[bool, int]:
        hard = any(r.outcome != "warned" for r in j.evidence)
        return (not hard, min((rank.get(r.id, len(rank)) for r in j.evidence),
                              default=len(rank)))

    out, shown = [], set()
    for j in sorted((j for j in judged if j.status == CONFIRMED), key=key):
        ids = {r.id for r in j.evidence}
        if ids <= shown:
            continue
        shown |= ids
        out.append(j)
    return out


# ------------------------------------------------------------------------------------ the data

def echoed(line: str) -> str:
    """A line of outside text as it is shown anywhere: visible, and clipped."""
    return clip(line.strip(), LINE_CHARS)


@dataclass
class Explanation:
    """What the text was, and what the checks made of it."""

    reading: Reading
    judged: list[Judged] = field(default_factory=list)
    ran: bool = False
    offline: bool = False
    note: str = ""  # e.g. that only the end of a longer output was read

    @functools.cached_property
    def verdict(self) -> str:
        """Read by every part of the section: worked out once, from the reading alone."""
        return verdict(self.reading)

    @property
    def harmless_only(self) -> bool:
        return self.verdict == HARMLESS

    def items(self, checks: Optional[Mapping[str, Check]] = None) -> tuple[Explained, ...]:
        """The section as data (:class:`~mu3e_checks.model.Explained`), in the order it reads:
        what matched, the verdict, the causes root first, what was ruled out or left
        undecided, and the lines that matched nothing."""
        from mu3e_checks import registry

        out: list[Explained] = []
        lines_of: dict[str, list[str]] = {}
        for m in self.reading.matches:
            lines_of.setdefault(m.entry.key, []).append(m.line)
        for entry in entries(self.reading, ordinary=True):
            lines = lines_of.get(entry.key, [])
            out.append(Explained("ordinary" if entry.ordinary else "entry", key=entry.key,
                                 title=entry.title, harmful=entry.harmful,
                                 why="" if entry.harmful else entry.why,
                                 lines=tuple(echoed(t) for t in lines[:LINES_PER_ENTRY])))
        out.append(Explained("verdict", key=self.verdict, title=self._sentence(),
                             why="; ".join(filter(None, (
                                 self.note, "network checks were skipped: --mu3e-offline"
                                 if self.offline and self.verdict != HARMLESS else "")))))
        if self.verdict == HARMFUL:
            hits = root_first(self.judged, checks or registry.load_all())
            for j in hits:
                out.append(Explained("cause", title=j.cause.text, checks=j.cause.checks,
                                     results=j.evidence))
            said: set[tuple[str, ...]] = set()
            for j in self.judged:
                if j.status == RULED_OUT and j.cause.checks not in said:
                    said.add(j.cause.checks)
                    out.append(Explained("ruled out", title=j.cause.text,
                                         checks=j.cause.checks, results=j.evidence))
            for j in self.judged:
                if j.status == UNDECIDED and not hits:
                    out.append(Explained("undecided", title=j.cause.text,
                                         checks=j.cause.checks, results=j.evidence))
        if self.reading.unexplained:
            shown = self.reading.unexplained[-UNEXPLAINED_SHOWN:]
            out.append(Explained("unexplained", key=str(len(self.reading.unexplained)),
                                 lines=tuple(echoed(t) for _, t in shown)))
        return tuple(out)

    def _sentence(self) -> str:
        if self.verdict == HARMLESS:
            return ("harmless, every message recognised here is expected; nothing to fix"
                    if entries(self.reading) else
                    "harmless, this is the programs' ordinary output; nothing in it reports a "
                    "problem")
        if self.verdict == HARMFUL:
            return ("harmful: the causes below were decided by running the checks that decide "
                    "them" if self.ran else "harmful")
        if not self.reading.matches and not self.reading.unexplained:
            return "not recognised: there is no text to explain"
        return ("not recognised: no entry of the catalogue explains this text"
                + ("; the full diagnosis ran instead. Send this text with the report to "
                   "support" if self.ran else ""))


# ------------------------------------------------------------------------------------ rendering

def render_text(items: Sequence[Explained]) -> str:
    """The terminal's "Error explained" section, from the same data as the reports'."""
    return "\n".join(["", "=" * 30 + f" {HEADING} " + "=" * 30, *section_lines(items)])


DOCS_PATH = Path("docs") / "explain.md"
GENERATE = "python -m mu3e_checks.explain --write-docs"


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table, from the same data the matcher uses."""
    rows = ["| entry | message (anchors) and context | harmful | candidate causes → deciding "
            "checks |", "|---|---|---|---|"]
    for e in CATALOGUE:
        anchors = "<br>".join(f"`{a.text}` ({a.origin})" for a in e.anchors)
        if e.when:
            anchors += ("<br>" if anchors else "") + "when " + "; or ".join(
                c.describe() for c in e.when)
        causes = ("<br>".join(f"{c.text} → {', '.join(c.checks)}" for c in e.causes)
                  or e.why)
        kind = "yes" if e.harmful else ("ordinary output" if e.ordinary else "no")
        cells = [e.key, anchors, kind, causes]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def docs_page() -> str:
    """docs/explain.md: how to use ``explain`` and the catalogue, generated from the data."""
    return "\n\n".join([
        "# mu3e-checks explain: DIRAC's messages, explained",
        f"<!-- generated by `{GENERATE}` from mu3e_checks/explain.py; do not edit -->",
        "```\n" + USAGE + "\n```",
        "Each entry below is one message family. Its anchors are plain substrings of the real "
        "text (tagged with the program that prints it); its context says what else must hold: "
        "what the line also says or starts with, what the rest of the text says (an "
        "`Unauthorized query` makes `Cannot contact CS` a refusal, not an unreachable server), "
        "or that a `--nocs` run printed it (the command after `--`, a command line in the "
        "pasted text, or a proxy made without `Contacting CS...`). The first entry that "
        "matches a line claims it, so specific entries come first; entries marked *ordinary "
        "output* recognise the programs' progress lines, so that what matches nothing is "
        "worth reading: those lines are listed as **not explained**, in the terminal and in "
        "the reports.",
        "A cause is confirmed when one of its deciding checks fails (or, failing none, warns), "
        "and ruled out when all of them pass. Several confirmed causes are put in root-cause "
        "order: a cause confirmed by a failure before one confirmed only by a warning, then "
        "in the order of the registry's prerequisite graph (a check others depend on first, "
        "guide order between checks that do not depend on each other). The root cause's fix "
        "is the headline; what else was confirmed is listed under it.",
        "The verdict: **harmful** when a harmful message matched (exit 1); **harmless** when "
        "every line is a harmless message or ordinary output (exit 0, no check runs); **not "
        "recognised** otherwise: unknown text is never forced onto a cause, the full "
        "diagnosis runs, and the lines are listed for support (exit 1). With a command after "
        "`--`, its own exit code is passed through. The JSON report carries all of it as "
        "data (`explained`: verdict, entries, causes with their checks, ruled out, not "
        "explained).",
        f"Bounds: at most {MAX_TEXT} bytes (1 MiB) are read from stdin or `--file` (more is "
        "refused, never read); of a command's output, the last 1 MiB is explained. Matching "
        "uses fixed substrings only, so it is linear in the text. Every line shown is made "
        f"visible and clipped to {LINE_CHARS} characters; at most {LINES_PER_ENTRY} lines "
        f"per message and the last {UNEXPLAINED_SHOWN} lines that matched nothing are shown.",
        "To add a message: add an `Entry` to `CATALOGUE`, a test that makes a real program "
        "print it (tests/peers/test_explain_dirac.py, test_explain_voms.py, "
        "test_explain_real.py, test_explain_v9.py), and regenerate this page.",
        catalogue_markdown(),
    ]) + "\n"


# ------------------------------------------------------------------------------------ reports

class ReportPlugin:
    """Handed to ``pytest.main`` by the runner: carries the text's reading into the run, so the
    HTML and JSON reports get their "Error explained" section from the run's own results, and
    the terminal prints the very same items."""

    def __init__(self, reading: Reading, offline: bool, note: str = "") -> None:
        self.reading, self.offline, self.note = reading, offline, note
        #: The run's results by check ID (key material scrubbed), and the section built from
        #: them.
        self.results: dict[str, Any] = {}
        self.items: tuple[Explained, ...] = ()
        self.explained: Optional[Explanation] = None

    def pytest_mu3e_report_sections(self, diagnosis: Diagnosis) -> dict[str, Any]:
        """The "Error explained" items for the run's model (:mod:`mu3e_checks.hooks`)."""
        self.results = {r.id: r for r in diagnosis.map_text(scrub_secrets).results}
        self.explained = self.explanation()
        self.items = self.explained.items()
        return {"explained": self.items}

    def explanation(self) -> Explanation:
        return Explanation(self.reading, judge(self.reading, self.results), ran=True,
                           offline=self.offline, note=self.note)


# ------------------------------------------------------------------------------------ running

USAGE = f"""usage: mu3e-checks explain [--file F] [mu3e/pytest options] [-- command ...]
Reads DIRAC's error text from stdin (or --file F), or runs the command after -- and reads its
output; names the message, runs only the checks that decide its causes (network checks too,
unless --mu3e-offline) and prints the root cause with its fix. Unknown text runs the full
diagnosis and is listed for support. With a command, its exit code is passed through.
Reads at most {MAX_TEXT} bytes (1 MiB) from stdin or --file, and the last 1 MiB of a
command's output; each line it shows is clipped to {LINE_CHARS} characters."""


def run_checks(select: Sequence[str], extra: Sequence[str], pytest_args: ArgsBuilder,
               plugin: ReportPlugin) -> int:
    """Run the diagnosis in-process, as ``mu3e-checks`` does, with the user's own options
    (reports included); :class:`ReportPlugin` sees the same :class:`Diagnosis` the reports are
    rendered from, so no private report file is written (a temporary JSON file would be
    announced on the terminal and then vanish) and a ``--mu3e-json`` or ``MU3E_JSON`` of the
    user's is left as it is."""
    args = list(extra)
    if select:
        args += ["--mu3e-select", ",".join(select)]
    return run_in_process(pytest_args(args), [plugin])


def explain(text: str, extra: Sequence[str], pytest_args: ArgsBuilder,
            command: Sequence[str] = (), note: str = "") -> tuple[Explanation,
                                                                    tuple[Explained, ...]]:
    """Read ``text``; run the deciding checks (or, for unknown text, all of them); return the
    explanation and its section as data."""
    from mu3e_checks import registry

    reading = read(scrub_secrets(text), command)
    offline = "--mu3e-offline" in extra
    ex = Explanation(reading, offline=offline, note=note)
    if ex.verdict == HARMLESS:
        return ex, ex.items()
    plugin = ReportPlugin(reading, offline, note)
    if ex.verdict == NOT_RECOGNISED:
        run_checks((), extra, pytest_args, plugin)
    else:
        ids = [c for e in entries(reading) for c in e.check_ids]
        run_checks(with_prerequisites(ids, registry.load_all()), extra, pytest_args, plugin)
    ex = plugin.explained or plugin.explanation()
    return ex, plugin.items or ex.items()


#: Runs the user's own command and returns (exit code, output): ``cli.run_user_command``, passed
#: in by the command line, so this module (imported by every diagnosis run) starts no process.
CommandRunner = Callable[[Sequence[str]], "tuple[int, str]"]


def _read_stdin() -> Optional[str]:
    """At most MAX_TEXT bytes of stdin, or None when there is more (never read further)."""
    if sys.stdin.isatty():
        print("paste the error text, then press Ctrl-D", file=sys.stderr)
    raw = getattr(sys.stdin, "buffer", None)
    data = raw.read(MAX_TEXT + 1) if raw is not None else sys.stdin.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:
        return None
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def main(argv: Sequence[str], pytest_args: ArgsBuilder,
         run_command: Optional[CommandRunner] = None) -> int:
    """``mu3e-checks explain ...``: 0 when the text is harmless, else 1 (a harmful or unknown
    message), 2 for text it will not read; with a command, that command's exit code."""
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
    note = ""
    too_big = (f"mu3e-checks explain: more than {MAX_TEXT} bytes (1 MiB) of text: explain "
               "reads at most that; pass only the failing command's output (e.g. the last "
               "lines: tail -n 200 FILE | mu3e-checks explain)")
    if command:
        if run_command is None:
            print("mu3e-checks explain: running a command needs the mu3e-checks command",
                  file=sys.stderr)
            return 2
        code, text = run_command(command)
        if len(text) > MAX_TEXT:
            text = text[-MAX_TEXT:].split("\n", 1)[-1]
            note = "only the last 1 MiB of the command's output was read"
    elif source is not None:
        from mu3e_checks.knowledge.files import TooLarge, Unreadable, read_bytes

        try:  # the bounded, non-blocking read path: a FIFO or a huge file must not hang it
            code, text = None, read_bytes(source, MAX_TEXT).decode("utf-8", "replace")
        except Unreadable as exc:
            print(f"mu3e-checks explain: {exc}", file=sys.stderr)
            if isinstance(exc, TooLarge):
                print(too_big, file=sys.stderr)
            return 2
    else:
        code, read_text = None, _read_stdin()
        if read_text is None:
            print(too_big, file=sys.stderr)
            return 2
        text = read_text
    ex, items = explain(text, argv, pytest_args, command, note)
    print(render_text(items))
    if code is not None:
        return code
    return 0 if ex.verdict == HARMLESS else 1


if __name__ == "__main__":  # pragma: no cover - the docs generator
    if sys.argv[1:2] in (["--write-docs"], ["--check-docs"]):
        from mu3e_checks.listing import docs_command

        sys.exit(docs_command(sys.argv[1:], DOCS_PATH, docs_page, GENERATE))
    print(f"usage: {GENERATE} | --check-docs", file=sys.stderr)
    sys.exit(2)
