"""Hostile inputs and a fast way to run the diagnosis over hundreds of them (issue 10).

Three parts:

* values and file contents an attacker controls: shell metacharacters, terminal escapes, bidi
  overrides, malformed PEM/DER/cfg bytes, special files (FIFOs, devices, link loops);
* the observations every hostile run must survive: the user's tree unchanged
  (:func:`tree_digest`, which never opens a FIFO or device), no private-key base64 in any output
  (:func:`key_fragments`), no raw control characters (:data:`RAW_CONTROLS`), every failure with a
  ``check`` and a ``fix`` (:func:`broken_cases`);
* :class:`DiagnosisPool`: ``pytest --pyargs mu3e_checks`` run as a user runs it, but forked from a
  warm interpreter.  Starting Python and importing pytest, cryptography and pytest-html costs
  about 1.5 s per run on the CI machine, which puts a 200-input corpus far over its budget; a
  forked child runs exactly ``pytest.main([...])`` (the same entry point, option parsing, exit
  code and output as ``python -m pytest``) with its own environment, working directory and
  stdout/stderr files, and is killed when it exceeds its timeout.  ``mu3e_checks`` itself is
  never imported before the fork, so each run imports the package fresh under its own HOME.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import random
import re
import select
import signal
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests.support.runner import ROOT, clean_env

# ------------------------------------------------------------------------- hostile values

#: Pieces that would run a command, end a line or a quote, or paint the terminal if a value
#: reached a shell, a terminal or a comment line unquoted.  Each creates a file named PWNED*
#: when it runs, so a sandboxed bash run shows whether anything ran.
INJECTIONS: dict[str, str] = {
    "newline": "x\ntouch PWNED_newline\n#",
    "semicolon": "x; touch PWNED_semicolon;",
    "dollar-paren": "x$(touch PWNED_dollar)y",
    "backtick": "x`touch PWNED_backtick`y",
    "single-quote": "x'; touch PWNED_squote; echo '",
    "double-quote": 'x"; touch PWNED_dquote; echo "',
    "esc-title": "x\x1b]0;PWNED title\x07\x1b[2Jall checks passed",
    "bidi": "x\u202etxt.exe\u202c; touch PWNED_bidi",
    "cr": "x\rREADY: every check passed\r",
}

#: Raw bytes that must never reach the terminal or the JUnit file unescaped.
RAW_CONTROLS = ("\x1b", "\x00", "\u202e", "\u202d", "\u2066", "\u2067")

#: Text a broken diagnosis prints; none of it may appear in any hostile run.
CRASH_MARKERS = ("INTERNALERROR", "Traceback", "the check itself broke")

BEGIN_CERT = b"-----BEGIN CERTIFICATE-----\n"


def one_line(value: str) -> str:
    """``value`` with every newline-like character replaced, for places (a CN, a file name)
    that cannot hold a line break but must still hold the rest of the attack."""
    return value.replace("\n", " ").replace("\r", " ")


# ------------------------------------------------------------------------- file contents


def pem_body(pem: bytes) -> list[bytes]:
    return [ln for ln in pem.splitlines() if ln and not ln.startswith(b"-----")]


def key_fragments(*pems: bytes, public: Iterable[bytes] = ()) -> frozenset[str]:
    """Every 20-character piece (at every offset) of every base64 line of the given keys,
    less the pieces that encode public values.

    A line of ``userkey.pem`` quoted whole, cut to 80 characters or wrapped differently still
    contains one of these; no 20 characters of a random key appear anywhere by chance.  A
    private key file also holds its public key (an RSA modulus, an EC point), which the
    certificate shows in the open; ``public`` lists DER blobs (SubjectPublicKeyInfo and the
    like) whose base64, at each of the three byte alignments, is not secret.
    """
    out: set[str] = set()
    for pem in pems:
        for line in pem_body(pem):
            text = line.decode("ascii", "replace")
            if ":" in text:  # Proc-Type / DEK-Info headers of an encrypted key: public
                continue
            out.update(_windows(text))
    for blob in public:
        for shift in range(3):
            out.difference_update(_windows(base64.b64encode(b"\0" * shift + blob).decode()))
    return frozenset(out)


def private_key_fragments(keys: Iterable[object], *extra_pems: bytes) -> frozenset[str]:
    """:func:`key_fragments` of ``keys`` in PKCS#8 and traditional PEM (and of ``extra_pems``,
    e.g. encrypted forms), excluding their public halves."""
    from cryptography.hazmat.primitives import serialization as ser

    pems, public = list(extra_pems), []
    for key in keys:
        for fmt in (ser.PrivateFormat.PKCS8, ser.PrivateFormat.TraditionalOpenSSL):
            try:
                pems.append(key.private_bytes(ser.Encoding.PEM, fmt,  # type: ignore[attr-defined]
                                              ser.NoEncryption()))
            except ValueError:  # Ed25519 has no traditional form
                pass
        pub = key.public_key()  # type: ignore[attr-defined]
        public.append(pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo))
        try:
            public.append(pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.PKCS1))
        except ValueError:  # only RSA has a PKCS#1 public form
            pass
    return key_fragments(*pems, public=public)


def _windows(text: str) -> set[str]:
    return {text[i:i + _PIECE] for i in range(len(text) - _PIECE + 1)}


_PIECE = 20
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{" + str(_PIECE) + ",}")


def leaked(text: str, fragments: frozenset[str] | set[str]) -> list[str]:
    """The key pieces found in ``text``: every run of base64 characters is cut into windows
    and looked up, so the cost is linear in the text, whatever the number of keys."""
    hits: set[str] = set()
    for m in _BASE64_RUN.finditer(text):
        run = m.group()
        hits.update(w for w in (run[i:i + _PIECE] for i in range(len(run) - _PIECE + 1))
                    if w in fragments)
    return sorted(hits)


@functools.lru_cache(maxsize=32)
def junk(n: int, seed: int = 10) -> bytes:
    """``n`` reproducible random bytes (cached: the corpus asks for the same megabytes often)."""
    return random.Random(seed).randbytes(n)


@functools.lru_cache(maxsize=8)
def junk_base64(n: int, seed: int) -> bytes:
    return base64.encodebytes(junk(n, seed))


def pem_mutations(good: bytes, *, label: bytes, der: bytes, other: bytes) -> dict[str, bytes]:
    """Malformed variants of one PEM file (``good``), each a separate input.

    ``label`` is the PEM label (``CERTIFICATE``), ``der`` the same object in DER, ``other`` a
    PEM of a different kind to put where ``good`` is expected (a key for a cert and so on).
    """
    begin = b"-----BEGIN " + label + b"-----"
    end = b"-----END " + label + b"-----"
    lines = good.splitlines(keepends=True)
    body = b"".join(pem_body(good))
    mid = len(lines) // 2
    return {
        "empty": b"",
        "whitespace-only": b" \n\t\n\n",
        "truncated-half": good[: len(good) // 2],
        "truncated-no-end": good.split(end)[0],
        "begin-line-only": begin + b"\n",
        "bad-base64-chars": good.replace(body[10:20], b"!!@@##$$%%", 1),
        "bad-base64-padding": b"".join(lines[:mid]) + b"====\n" + b"".join(lines[mid:]),
        "duplicated-begin": begin + b"\n" + good,
        "begin-x2000": (begin + b"\n") * 2000 + good,
        "begin-1mb": BEGIN_CERT * ((1 << 20) // len(BEGIN_CERT)),
        "der": der,
        "binary-junk": junk(4096),
        "nul-in-body": b"".join(lines[:mid]) + b"AAAA\x00\x00AAAA\n" + b"".join(lines[mid:]),
        "crlf": good.replace(b"\n", b"\r\n"),
        "utf16": good.decode("ascii").encode("utf-16"),
        "bom": b"\xef\xbb\xbf" + good,
        "bag-attributes-with-escapes": (b"Bag Attributes\n    friendlyName: \x1b]0;PWNED\x07"
                                        b"\x1b[2J\xe2\x80\xae me\n" + good),
        "invalid-utf8-preamble": b"\xff\xfe\xc3(garbage\x80\n" + good,
        "wrong-label": good.replace(label, b"X509 CRL"),
        "mismatched-end": good.replace(end, b"-----END SOMETHING ELSE-----"),
        "nested-begin": b"".join(lines[:mid]) + begin + b"\n" + b"".join(lines[mid:]),
        "one-2mb-line": begin + b"\n" + b"QUFB" * (1 << 19) + b"\n" + end + b"\n",
        "good-then-4mb-junk": good + junk_base64(3 << 20, 11),
        "twice": good + good,
        "other-object": other,
        "good-then-other": good + other,
        "escape-lines-in-body": (b"".join(lines[:mid]) + b"\x1b]0;PWNED\x07\x1b[2J\n"
                                 + b"".join(lines[mid:])),
        "encrypted-headers-on-plain-body": (lines[0] + b"Proc-Type: 4,ENCRYPTED\n"
                                            b"DEK-Info: AES-256-CBC,00\n\n"
                                            + b"".join(lines[1:])),
        "huge-8mb-base64": begin + b"\n" + junk_base64(6 << 20, 12) + end + b"\n",
    }


#: Special files put where a regular file is expected.
SPECIALS = ("fifo", "dev-zero", "dev-null", "link-loop", "dangling-link", "directory")


def make_special(path: Path, kind: str) -> None:
    """Replace ``path`` with a special file of ``kind`` (one of :data:`SPECIALS`)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        import shutil

        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dev-null":
        path.symlink_to("/dev/null")
    elif kind == "link-loop":
        loop = path.with_name(path.name + ".loop")
        path.symlink_to(loop.name)
        loop.symlink_to(path.name)
    elif kind == "dangling-link":
        path.symlink_to(path.name + ".nowhere")
    elif kind == "directory":
        path.mkdir()
        (path / "inside").write_bytes(b"x")
    else:
        raise ValueError(kind)


# ------------------------------------------------------------------------- observations


def tree_digest(*roots: Path, exclude: Sequence[Path] = ()) -> dict[str, str]:
    """Every entry under ``roots`` → a digest of its type, mode, size, mtime and content.

    Links are not followed and only regular files are opened, so a FIFO, a device or a link
    loop in the tree is recorded, never read.
    """
    skip = {str(p) for p in exclude}
    out: dict[str, str] = {}

    def visit(p: Path) -> None:
        if str(p) in skip:
            return
        st = os.lstat(p)
        desc = f"{stat.S_IFMT(st.st_mode):o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}"
        if stat.S_ISLNK(st.st_mode):
            desc += " -> " + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                desc += f" {st.st_size} {st.st_mtime_ns} {hashlib.sha256(f.read()).hexdigest()}"
        elif stat.S_ISDIR(st.st_mode):
            for child in sorted(os.listdir(p)):
                visit(p / child)
        out[str(p)] = desc

    for r in roots:
        if os.path.lexists(r):
            visit(r)
    return out


def digest_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


def broken_cases(junit_xml: str) -> list[str]:
    """Failed or errored JUnit cases that lack a ``check`` property or a fix (a ``fix``
    property, or a fix named in the message): a user would be left without a next step."""
    problems = []
    try:
        root = ET.fromstring(junit_xml)
    except ET.ParseError as exc:
        return [f"JUnit XML does not parse: {exc}"]
    for tc in root.iter("testcase"):
        bad = [el for el in (tc.find("failure"), tc.find("error")) if el is not None]
        if not bad:
            continue
        props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
        message = " ".join((el.get("message") or "") + (el.text or "") for el in bad)
        name = tc.get("name", "?")
        if not props.get("check"):
            problems.append(f"{name}: failed without a check property")
        if not props.get("fix", "").strip() and "fix" not in message.lower():
            problems.append(f"{props.get('check', name)}: failed without a fix")
    return problems


# ------------------------------------------------------------------------- the warm pool

_PRELOAD = ("pytest", "_pytest.junitxml", "_pytest.terminal", "cryptography.x509",
            "cryptography.hazmat.primitives.serialization", "cryptography.hazmat.primitives."
            "serialization.pkcs12", "OpenSSL.crypto", "pytest_html", "pytest_html.plugin",
            "jinja2", "diraccfg", "dns.resolver", "packaging.version", "html.parser",
            "ssl", "socket", "json", "email.parser", "hypothesis",
            "_hypothesis_pytestplugin")


def _zygote() -> None:
    """The pool's server: read all jobs from stdin, fork up to N at a time, report each."""
    import importlib

    for mod in _PRELOAD:
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    assert "mu3e_checks" not in sys.modules, "the package must be imported fresh per run"
    jobs = json.loads(sys.stdin.read())
    width = int(os.environ.get("MU3E_POOL_WIDTH", "2"))
    pending = list(jobs)
    running: dict[int, tuple[dict, float]] = {}
    out = sys.stdout
    sys.stdout.flush()
    while pending or running:
        while pending and len(running) < width:
            job = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job, time.monotonic())
        time.sleep(0.005)
        for pid, (job, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            took = time.monotonic() - started
            if done == 0 and took > job["timeout"]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                out.write(json.dumps({"id": job["id"], "rc": None, "timed_out": True,
                                      "seconds": took}) + "\n")
                out.flush()
                del running[pid]
            elif done:
                out.write(json.dumps({"id": job["id"], "rc": os.waitstatus_to_exitcode(status),
                                      "timed_out": False, "seconds": took}) + "\n")
                out.flush()
                del running[pid]


def _child(job: dict) -> None:
    try:
        os.setsid()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            f = os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(f, fd)
            os.close(f)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        import pytest

        rc = pytest.main(job["argv"])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(rc))
    except BaseException:  # noqa: B036 - the child must never return into the server loop
        # What the interpreter does with an uncaught exception: the traceback, exit code 1.
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


@dataclass
class Job:
    """One diagnosis run: ``pytest --pyargs mu3e_checks <args>`` against ``home``."""

    id: str
    home: Path
    args: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    json_report: bool = True


@dataclass
class Outcome:
    """What one run left: exit code (None on timeout), outputs as text, its files."""

    job: Job
    rc: Optional[int]
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str
    junit: str
    json_text: str
    html: str

    def outputs(self) -> dict[str, str]:
        return {"stdout": self.stdout, "stderr": self.stderr, "junit": self.junit,
                "json": self.json_text, "html": self.html}


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return ""


class DiagnosisPool:
    """Run many :class:`Job` s through one warm interpreter, ``width`` at a time."""

    def __init__(self, workdir: Path, width: int = 2) -> None:
        self.workdir = workdir
        self.width = width

    def _paths(self, job: Job) -> dict[str, Path]:
        d = self.workdir / job.id
        return {"cwd": d, "stdout": d / "stdout.txt", "stderr": d / "stderr.txt",
                "junit": d / "junit.xml", "json": d / "report.json", "reports": d / "reports"}

    def run(self, jobs: Sequence[Job], deadline: float = 600.0) -> dict[str, Outcome]:
        wire = []
        for job in jobs:
            p = self._paths(job)
            p["cwd"].mkdir(parents=True, exist_ok=True)
            argv = ["--pyargs", "mu3e_checks", "-p", "no:cacheprovider", "-q",
                    f"--junitxml={p['junit']}", "--mu3e-offline", "-W",
                    "ignore::pytest.PytestAssertRewriteWarning", *job.args]
            if job.json_report:
                argv += ["--mu3e-json", str(p["json"])]
            env = clean_env(job.home, job.env)
            env.setdefault("MU3E_SYSTEM_CERT_DIR", str(p["cwd"] / "no-system-cert-dir"))
            wire.append({"id": job.id, "argv": argv, "env": env, "cwd": str(p["cwd"]),
                         "stdout": str(p["stdout"]), "stderr": str(p["stderr"]),
                         "timeout": job.timeout})
        server_env = clean_env(self.workdir, {"MU3E_POOL_WIDTH": str(self.width)})
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.support.hostile import _zygote; _zygote()"],
            cwd=ROOT, env=server_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(wire).encode("utf-8", "surrogatepass"))
        proc.stdin.close()
        results: dict[str, dict] = {}
        end = time.monotonic() + deadline
        buf = b""
        try:
            while len(results) < len(jobs):
                left = end - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 5))
                if not ready:
                    continue
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    item = json.loads(line)
                    results[item["id"]] = item
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        out: dict[str, Outcome] = {}
        for job in jobs:
            item = results.get(job.id, {"rc": None, "timed_out": True, "seconds": deadline})
            p = self._paths(job)
            htmls = sorted(p["reports"].glob("*.html")) if p["reports"].is_dir() else []
            out[job.id] = Outcome(
                job, item["rc"], item["timed_out"], item["seconds"], _read(p["stdout"]),
                _read(p["stderr"]) + (err if job.id not in results else ""),
                _read(p["junit"]), _read(p["json"]), _read(htmls[-1]) if htmls else "")
        return out


def problems_of(outcome: Outcome, *, fragments: frozenset[str] | set[str],
                changed: Sequence[str] = ()) -> list[str]:
    """Everything issue 10 forbids that happened in one run, as readable lines."""
    found: list[str] = []
    if outcome.timed_out:
        found.append(f"did not end within {outcome.job.timeout:.0f} s (a hang)")
    elif outcome.rc not in (0, 1):
        found.append(f"exit code {outcome.rc} (want 0 or 1)")
    for marker in CRASH_MARKERS:
        for where in ("stdout", "stderr", "junit"):
            if marker in outcome.outputs()[where]:
                text = outcome.outputs()[where]
                i = text.index(marker)
                found.append(f"{marker!r} in {where}: {text[max(0, i - 200):i + 300]!r}")
    if not outcome.timed_out and not outcome.junit:
        found.append("no JUnit XML written")
    found += broken_cases(outcome.junit) if outcome.junit else []
    for where, text in outcome.outputs().items():
        hit = leaked(text, fragments)
        if hit:
            found.append(f"private-key base64 in {where}: {hit[:2]}")
    for where in ("stdout", "junit"):
        text = outcome.outputs()[where]
        raw = [c for c in RAW_CONTROLS if c in text]
        if raw:
            found.append(f"raw control characters {raw!r} in {where}")
    if changed:
        found.append(f"the user's files changed: {list(changed)[:5]}")
    return found




# ------------------------------------------------------------------------- hostile identities

#: A DN component or file name carrying every injection that fits in one (no "/"): a newline
#: that ends a comment, command substitution both ways, a statement separator, quotes, a
#: terminal title and clear-screen sequence, and a bidi override.  Each piece that runs makes
#: a PWNED_* file.
HOSTILE_NAME = ("j\ntouch PWNED_nl\n;touch PWNED_semi;$(touch PWNED_dollar)`touch PWNED_bt`"
                "'\"x\x1b]0;t\x07\x1b[2J\u202e")
#: The same, short enough for a certificate's CN (at most 64 characters).
HOSTILE_CN = "j\n$(touch PWNED_cn)`touch PWNED_cn2`;'\"\x1b]0;t\x07\x1b[2J\u202e"


def hostile_subject(prefix: str = "") -> object:
    """An X.509 name whose O, OU and CN each carry shell and terminal attacks."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, prefix + one_line(HOSTILE_NAME)),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, INJECTIONS["newline"]
                           + INJECTIONS["double-quote"] + INJECTIONS["bidi"]),
        x509.NameAttribute(NameOID.COMMON_NAME, (prefix + HOSTILE_CN)[:64]),
    ])


def proxy_with_cn(pki, issuer, cn: str, group: Optional[str] = "mu3e.org_user"):
    """An RFC 3820 proxy of ``issuer`` whose own CN is ``cn`` instead of a serial number."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from tests.support import pki_factory as pf

    key = pf.new_key(slot=pf._next_slot())
    nb = pki.now - pf.HOUR
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name(list(issuer.subject)
                                 + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(issuer.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(nb + 12 * pf.HOUR)
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                      False), critical=True)
         .add_extension(x509.UnrecognizedExtension(
             pf.PROXY_CERT_INFO_OID, pf.proxy_cert_info_der(pf.INHERIT_ALL)), critical=True))
    if group is not None:
        b = b.add_extension(x509.UnrecognizedExtension(pf.DIRAC_GROUP_OID, pf.ia5(group)),
                            critical=False)
    return pf.Entity(b.sign(issuer.key, hashes.SHA256()), key, issuer=issuer)


# ------------------------------------------------------------------------- the paste sandbox

NOBODY = 65534


def sandbox_command() -> list[str]:
    """bash as an unprivileged uid (nobody), without network when the kernel allows: where a
    pasted fix runs to see whether it does only what it says."""
    import shutil

    assert shutil.which("setpriv"), "setpriv (util-linux) is needed for the paste sandbox"
    bash = ["bash", "--noprofile", "--norc", "-s"]
    if os.getuid() != 0:  # already unprivileged: only the network can still be taken away
        prefix = ["unshare", "-r", "-n"] if _can_unshare(("unshare", "-r", "-n")) else []
        return prefix + bash
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    prefix = ["unshare", "-n"] if _can_unshare(("unshare", "-n")) else []
    return prefix + drop + bash


@functools.lru_cache(maxsize=4)
def _can_unshare(argv: tuple[str, ...]) -> bool:
    try:
        return subprocess.run([*argv, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class PasteSandbox:
    """A scratch directory owned by the sandbox uid, with its own HOME, where fixes are run."""

    def __init__(self) -> None:
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="mu3e-paste-"))
        self.home = self.dir / "home"
        self.home.mkdir()
        if os.getuid() == 0:
            for p in (self.dir, self.home):
                os.chown(p, NOBODY, NOBODY)
        os.chmod(self.dir, 0o755)

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8", "EDITOR": "true", "VISUAL": "true", "PIP_NO_INPUT": "1",
                "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "TERM": "dumb"}

    def paste(self, text: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """``text`` fed to bash as if pasted into a terminal, in this sandbox."""
        argv = sandbox_command()
        argv = ["timeout", "-s", "KILL", str(int(timeout)), *argv]
        return subprocess.run(argv, input=text.encode("utf-8", "surrogateescape"),
                              cwd=self.dir, env=self.env(), capture_output=True,
                              timeout=timeout + 10, start_new_session=True)

    def pwned(self, *more: Path) -> list[str]:
        """PWNED* files anywhere under the sandbox or ``more`` (none must exist)."""
        found = []
        for root in (self.dir, *more):
            for dirpath, dirnames, filenames in os.walk(root):
                found += [os.path.join(dirpath, n) for n in filenames + dirnames
                          if n.startswith("PWNED")]
        return found

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def syntax_error(text: str) -> str:
    """bash -n's complaint about ``text``, or '' when it parses (nothing is run)."""
    proc = subprocess.run(["bash", "-n"], input=text.encode("utf-8", "surrogateescape"),
                          capture_output=True, timeout=30)
    return "" if proc.returncode == 0 else proc.stderr.decode("utf-8", "replace")
