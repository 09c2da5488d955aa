"""``mu3e-checks fix``: apply the fixes a tool can prove safe, then run the diagnosis again.

The diagnosis never writes a user's file; this module is the one place that does, and only for
remedies that carry a machine-applicable :class:`~mu3e_checks.remedy.Action`.  Every repair is
planned first from facts read now (mode, owner, link or not), shown to the user, confirmed
once (a shell start-up file gets its own yes), verified again just before it is written, and
logged in the final diagnosis's reports (the "Repairs applied" section, the JSON
``repairs``).  Nothing is deleted: a file that is replaced is kept beside the new one under
``<name>.bak-<timestamp>``, which is never a CA hash name.  Files are created
``O_EXCL|O_NOFOLLOW`` (through :mod:`mu3e_checks.outputs`), a key with mode 600 from the start,
and no key material is ever printed.

The repairs: file modes (``CHMOD``, only files we own, never through a link), the PEM pair from
a ``.p12`` (``PKCS12_EXTRACT``), the CRLs (``FETCH_CRLS``: fetch-crl's job, concurrent and
verified), the guide's CA bundles (``INSTALL_CA_BUNDLES``: checked tarballs) and the
``X509_CERT_DIR`` export in a marked block of the shell's rc file (``EXPORT_CERT_DIR``).
Downloads are bounded (timeouts, sizes, a worker pool) and skipped under ``--mu3e-offline``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import io
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mu3e_checks import outputs
from mu3e_checks.model import CheckResult, Diagnosis
from mu3e_checks.plugin import ArgsBuilder, run_in_process
from mu3e_checks.registry import with_prerequisites
from mu3e_checks.remedy import Action, ActionKind, Safety
from mu3e_checks.shell import quote
from mu3e_checks.text import visible

USAGE = """usage: mu3e-checks fix [--yes | --dry-run] [--unencrypted-key] [mu3e/pytest options]
Runs the diagnosis, shows what it can repair itself (file modes, usercert.pem/userkey.pem
from your .p12, CRLs, the guide's CA bundles, the X509_CERT_DIR export in ~/.bashrc) and
what it cannot, asks once, applies, runs the affected checks again (before -> after), then
one full final diagnosis: its report lists the repairs, and its exit code is fix's.
  --yes              apply without asking (the ~/.bashrc edit included)
  --dry-run          only show the plan; nothing is written
  --unencrypted-key  write userkey.pem without a pass phrase (default: encrypted with the
                     .p12's pass phrase); pass phrase from MU3E_KEY_PASSPHRASE,
                     --mu3e-passphrase-file, or a prompt that does not echo
Options of the diagnosis that fix uses (see mu3e-checks --help):
  --mu3e-ca-repository URL   where the CA tarballs come from (default: the guide's EGI
                     repository; MU3E_CA_REPOSITORY in the environment)
  --mu3e-passphrase-file FILE  the .p12's pass phrase (MU3E_PASSPHRASE_FILE)
  --mu3e-offline     no downloads: CRLs and CA bundles are left as they are"""

#: The marks of the block we own in a shell start-up file; a second run finds and rewrites only
#: what lies between them.
BLOCK_BEGIN = "# >>> mu3e-checks: X509_CERT_DIR (added by 'mu3e-checks fix') >>>"
BLOCK_END = "# <<< mu3e-checks: X509_CERT_DIR <<<"

class RepairError(Exception):
    """A repair cannot be done safely; the message says why, and nothing was written."""


@dataclass(frozen=True)
class Options:
    """What the user asked ``fix`` for."""

    yes: bool = False
    dry_run: bool = False
    unencrypted_key: bool = False


@dataclass
class Step:
    """One planned repair: the finding, its action, what it will change, or why it cannot."""

    check_id: str
    title: str
    action: Optional[Action]
    safety: Safety
    changes: list[str] = field(default_factory=list)
    blocked: str = ""  # why it cannot be done by a tool ("" when it can)
    done: bool = False  # already as it should be: nothing to do
    fix: str = ""  # the printed fix, for what a person must do

    @property
    def applicable(self) -> bool:
        return self.action is not None and not self.blocked and not self.done


@dataclass
class Context:
    """What the repairs need besides their action: where home is, the pass phrase source."""

    home: Path
    environ: dict[str, str]
    passphrase_file: Optional[Path] = None
    offline: bool = False
    ca_repository: str = ""
    options: Options = field(default_factory=Options)
    ask: Callable[[str], bool] = lambda q: False
    prompt_secret: Callable[[str], str] = getpass.getpass
    stamp: str = field(default_factory=lambda: _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))


# ----------------------------------------------------------------------------- modes

def _target_mode(spec: str, old: int) -> int:
    """The mode ``chmod spec`` leaves (numeric, or ``go-w``)."""
    if re.fullmatch(r"[0-7]{3,4}", spec):
        return int(spec, 8)
    if spec == "go-w":
        return old & ~0o022
    raise RepairError(f"mode {visible(spec)} is not one this tool applies")


def _chmod_facts(path: Path) -> tuple[int, int]:
    """(old mode, new mode) checks: ours, not a link."""
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
    old, _ino = _chmod_facts(path)
    new = _target_mode(spec, old)
    if old == new:
        step.done = True
        step.changes.append(f"{visible(path)}: already mode {new:03o}")
        return
    step.changes.append(f"chmod {visible(path)}: mode {old:03o} -> {new:03o}")


def apply_chmod(action: Action, ctx: Context) -> list[str]:
    """Change the mode through a descriptor opened without following links, after checking
    again that the file is ours (the plan may be minutes old)."""
    path, spec = Path(action.param("path")), str(action.param("mode"))
    old, ino = _chmod_facts(path)
    new = _target_mode(spec, old)
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


# ----------------------------------------------------------------------------- .p12

def _backup_name(path: Path, stamp: str) -> Path:
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def plan_pkcs12(step: Step, action: Action, ctx: Context) -> None:
    p12, cert, key = (Path(action.param(n)) for n in ("p12", "cert", "key"))
    if not p12.is_file() or os.path.islink(p12):
        raise RepairError(f"{visible(p12)} is not a plain file")
    step.changes.append(f"read {visible(p12)} (pass phrase asked for without echo, or from "
                        "MU3E_KEY_PASSPHRASE / --mu3e-passphrase-file)")
    step.changes.append(f"write {visible(cert)} (mode 644)")
    how = "unencrypted" if ctx.options.unencrypted_key else "encrypted with the same pass phrase"
    step.changes.append(f"write {visible(key)} (mode 600 from the start, {how})")
    for p in (cert, key):
        if os.path.lexists(p):
            step.changes.append(f"keep the existing {visible(p)} as "
                                f"{visible(p.name)}.bak-<timestamp>")


def _passphrase(ctx: Context, p12: Path) -> bytes:
    if ctx.passphrase_file is not None:
        from mu3e_checks.knowledge.files import Unreadable
        from mu3e_checks.settings import read_passphrase_file

        try:
            return read_passphrase_file(ctx.passphrase_file)
        except Unreadable as exc:
            raise RepairError(f"the pass-phrase file cannot be used: {exc}") from None
    if "MU3E_KEY_PASSPHRASE" in ctx.environ:
        return ctx.environ["MU3E_KEY_PASSPHRASE"].encode("utf-8", "surrogateescape")
    if not sys.stdin.isatty():
        raise RepairError(f"the pass phrase of {visible(p12)} is needed: set "
                          "MU3E_KEY_PASSPHRASE or give --mu3e-passphrase-file (no terminal to "
                          "ask on)")
    return ctx.prompt_secret(f"pass phrase of {visible(p12)}: ").encode("utf-8",
                                                                      "surrogateescape")


def load_pkcs12(data: bytes, passphrase: bytes) -> tuple[Any, Any]:
    """(key, certificate) from a PKCS#12 export, modern or legacy (RC2-40, 3DES).

    An empty pass phrase is tried both as "empty" and as "none": exporters differ."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    tries = [passphrase] if passphrase else [b"", None]
    last: Optional[Exception] = None
    for pw in tries:
        try:
            key, cert, _extra = pkcs12.load_key_and_certificates(data, pw)
            break
        except (ValueError, TypeError) as exc:
            last = exc
    else:
        raise RepairError("the .p12 cannot be opened with this pass phrase (wrong pass phrase, "
                          f"or not a PKCS#12 file): {type(last).__name__}") from None
    if key is None or cert is None:
        raise RepairError("the .p12 does not hold both a certificate and its private key")
    return key, cert


def _same_public_key(key: Any, cert: Any) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def apply_pkcs12(action: Action, ctx: Context) -> list[str]:
    """Extract, verify the pair, then write: the key is created 600 in a fresh file and renamed
    into place; an existing file is moved aside first, never overwritten."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    p12, cert_path, key_path = (Path(action.param(n)) for n in ("p12", "cert", "key"))
    try:
        data = read_bytes(p12, limit=1024 * 1024)
    except Unreadable as exc:
        raise RepairError(str(exc)) from None
    pw = _passphrase(ctx, p12)
    key, cert = load_pkcs12(data, pw)
    if not _same_public_key(key, cert):
        raise RepairError(f"the key in {visible(p12)} does not belong to its certificate")
    encrypt = bool(pw) and not ctx.options.unencrypted_key
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                BestAvailableEncryption(pw) if encrypt else NoEncryption())
    cert_pem = cert.public_bytes(Encoding.PEM)
    # Verified before anything is written: the bytes we will write load back as the same pair.
    again = load_pem_private_key(key_pem, pw if encrypt else None)
    if not _same_public_key(again, x509.load_pem_x509_certificate(cert_pem)):
        raise RepairError("the extracted key and certificate do not match; nothing written")
    log = []
    for path in (cert_path, key_path):
        outputs.ensure_directory(path.parent)
    for path, payload, mode in ((cert_path, cert_pem, 0o644), (key_path, key_pem, 0o600)):
        if os.path.lexists(path):
            backup = _backup_name(path, ctx.stamp)
            os.rename(path, backup)  # renames a link itself, never its target
            log.append(f"moved the existing {visible(path)} aside to {visible(backup)}")
        _create_new(path, payload, mode)
        log.append(f"wrote {visible(path)} (mode {mode:03o})")
    # And once more from disk: the files hold the certificate of the .p12 and its key.
    disk_cert = x509.load_pem_x509_certificate(read_bytes(cert_path, limit=1024 * 1024))
    disk_key = load_pem_private_key(read_bytes(key_path, limit=1024 * 1024),
                                    pw if encrypt else None)
    if disk_cert != cert or not _same_public_key(disk_key, disk_cert):
        raise RepairError(f"{visible(cert_path)} and {visible(key_path)} do not read back as "
                          "the pair in the .p12")
    log.append(f"{visible(key_path)} is " + ("encrypted with the .p12's pass phrase" if encrypt
                                              else "NOT encrypted" + (
                                                  " (the .p12 has an empty pass phrase)"
                                                  if not pw else " (--unencrypted-key)")))
    return log


def _create_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` new (it must not exist), ``mode`` from the first byte
    (:func:`mu3e_checks.outputs.create_new`)."""
    try:
        outputs.create_new(path, data, mode)
    except OSError as exc:
        raise RepairError(f"cannot create {visible(outputs.absolute(path))}: "
                          f"{exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- X509_CERT_DIR

def rc_file(ctx: Context) -> Path:
    """The shell start-up file the export goes into (zsh users get ~/.zshrc)."""
    shell = os.path.basename(ctx.environ.get("SHELL", ""))
    return ctx.home / (".zshrc" if shell == "zsh" else ".bashrc")


def export_block(value: object) -> str:
    return f"{BLOCK_BEGIN}\nexport X509_CERT_DIR={quote(str(value))}\n{BLOCK_END}\n"


def with_block(text: str, value: object) -> str:
    """``text`` with our block set to ``value``: replaced in place when a previous run wrote
    it, else appended; nothing outside the block changes."""
    block = export_block(value)
    start = text.find(BLOCK_BEGIN)
    if start >= 0:
        end = text.find(BLOCK_END, start)
        if end < 0:
            raise RepairError("the mu3e-checks block in the rc file has no end mark; edit it "
                              "by hand")
        end += len(BLOCK_END)
        if text[end:end + 1] == "\n":
            end += 1
        return text[:start] + block + text[end:]
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + block


def _read_rc(path: Path) -> str:
    if not os.path.lexists(path):
        return ""
    if os.path.islink(path):
        raise RepairError(f"{visible(path)} is a symbolic link; add the line by hand")
    st = os.lstat(path)
    if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
        raise RepairError(f"{visible(path)} is not a plain file of yours; add the line by hand")
    from mu3e_checks.knowledge.files import read_bytes

    return read_bytes(path, limit=4 * 1024 * 1024).decode("utf-8", "surrogateescape")


def plan_export(step: Step, action: Action, ctx: Context) -> None:
    path = rc_file(ctx)
    text = _read_rc(path)
    new = with_block(text, action.param("value"))
    if new == text:
        step.done = True
        step.changes.append(f"{visible(path)}: the X509_CERT_DIR block is already there")
        return
    verb = "rewrite the mu3e-checks block in" if BLOCK_BEGIN in text else "append to"
    step.changes.append(f"{verb} {visible(path)}: export X509_CERT_DIR="
                        f"{visible(quote(str(action.param('value'))))} (a marked block; the "
                        "old file is kept as a .bak)")


def apply_export(action: Action, ctx: Context) -> list[str]:
    path = rc_file(ctx)
    text = _read_rc(path)
    new = with_block(text, action.param("value"))
    if new == text:
        return [f"{visible(path)}: the X509_CERT_DIR block is already there, unchanged"]
    log = []
    mode = stat.S_IMODE(os.lstat(path).st_mode) if text or os.path.lexists(path) else 0o644
    if os.path.lexists(path):
        backup = _backup_name(path, ctx.stamp)
        os.link(path, backup, follow_symlinks=False)  # the old content stays, under a new name
        log.append(f"kept the old {visible(path)} as {visible(backup)}")
    outputs.write_file(path, new.encode("utf-8", "surrogateescape"), mode)
    log.append(f"{visible(path)}: export X509_CERT_DIR={visible(quote(str(action.param('value'))))}"
               " in the mu3e-checks block (open a new shell, or source it)")
    return log


# ----------------------------------------------------------------------------- CRLs

#: How many CRLs are fetched at once, and how long one may take (connect, read).
CRL_WORKERS = 16
CRL_TIMEOUT = (5.0, 20.0)
CRL_MAX_BYTES = 64 * 1024 * 1024
#: Where replaced CRLs are kept: inside the trust dir, under a name OpenSSL never reads.
REPLACED_DIR = ".mu3e-checks-replaced"
_CLOCK_SKEW = _dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CrlSource:
    """One CA of the trust dir and where its CRL comes from."""

    ca_hash: str
    subject: str
    cert: Any
    urls: tuple[str, ...]
    names: tuple[str, ...]  # the .r0 names to write: <hash>.r0 (and the old hash's, if used)
    installed: tuple[tuple[str, Any], ...] = ()  # (name, the CRL the scan read there)


def _urls_in(path: Path) -> tuple[str, ...]:
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    try:
        text = read_bytes(path, limit=64 * 1024).decode("ascii", "replace")
    except Unreadable:
        return ()
    out = []
    for line in text.splitlines():
        line = line.strip()
        if re.fullmatch(r"https?://[!-~]+", line):
            out.append(line)
    return tuple(out)


def crl_sources(ca_dir: Path) -> list[CrlSource]:
    """Every CA in ``ca_dir`` with its CRL URLs, found as fetch-crl finds them: from
    ``<hash>.crl_url``, or ``<name>.crl_url`` beside the ``<name>.pem`` its hash name links to."""
    from mu3e_checks.knowledge.trust.scan import scan_trust_dir

    store = scan_trust_dir(ca_dir)
    out = []
    for ca in store.cas:
        candidates = [f"{ca.hash}.crl_url", f"{ca.hash_old}.crl_url"]
        for name in ca.names:
            target = ca_dir / name
            if os.path.islink(target):
                stem = Path(os.readlink(target)).name.rsplit(".", 1)[0]
                candidates.append(f"{stem}.crl_url")
        if ca.alias:
            candidates.append(f"{ca.alias}.crl_url")
        urls: tuple[str, ...] = ()
        for cand in dict.fromkeys(candidates):
            if (ca_dir / cand).is_file():
                urls = _urls_in(ca_dir / cand)
                if urls:
                    break
        names = [f"{ca.hash}.r0"]
        if ca.hash_old != ca.hash and f"{ca.hash_old}.0" in store.names:
            names.append(f"{ca.hash_old}.r0")
        installed = tuple((n, store.crls[n].crl) for n in names
                          if n in store.crls and store.crls[n].crl is not None)
        out.append(CrlSource(ca.hash, ca.subject, ca.cert, urls, tuple(names), installed))
    return out


def verify_crl(data: bytes, source: CrlSource, now: Optional[_dt.datetime] = None) -> Any:
    """The CRL in ``data`` when it is issued and signed by the source's CA and current;
    else :class:`RepairError` saying why (the old file then stays)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.trust.scan import crl_signed_by

    now = now or _dt.datetime.now(_dt.timezone.utc)
    try:
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN" in data
               else x509.load_der_x509_crl(data))
    except ValueError:
        raise RepairError("not a CRL (neither PEM nor DER)") from None
    if crl.issuer != source.cert.subject:
        raise RepairError("issued by another CA")
    der = crl.public_bytes(Encoding.DER) if b"-----BEGIN" in data else data
    if not crl_signed_by(crl, der, source.cert):  # fast on a 100k-entry CRL too
        raise RepairError("its signature is not the CA's")
    last, nxt = crl.last_update_utc, crl.next_update_utc
    if last > now + _CLOCK_SKEW:
        raise RepairError(f"not valid before {last:%Y-%m-%d %H:%M} UTC")
    if nxt is None or nxt < now:
        raise RepairError("expired" + (f" on {nxt:%Y-%m-%d %H:%M} UTC" if nxt else ""))
    return crl


def _download(session: Any, url: str, timeout: tuple[float, float]) -> bytes:
    import requests

    try:
        with session.get(url, timeout=timeout, stream=True, allow_redirects=True) as resp:
            if resp.status_code != 200:
                raise RepairError(f"HTTP {resp.status_code}")
            chunks, size = [], 0
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > CRL_MAX_BYTES:
                    raise RepairError("larger than 64 MiB")
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.Timeout:
        raise RepairError("timed out") from None
    except requests.exceptions.SSLError as exc:
        # requests verifies with certifi's bundle, or with REQUESTS_CA_BUNDLE when it is set
        # (a site's own CA for its mirror); nothing from a server we cannot verify is used.
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise RepairError("its TLS certificate is not trusted (certificate verify failed); "
                              "if this server is right, put its CA in the file "
                              "REQUESTS_CA_BUNDLE names") from None
        raise RepairError("the TLS handshake failed") from None
    except requests.RequestException as exc:
        raise RepairError(f"download failed ({type(exc).__name__})") from None


def _fetch_one(session: Any, source: CrlSource, timeout: tuple[float, float]) -> tuple[Any, str]:
    """(verified CRL, URL) from the first URL that gives one; RepairError naming each try."""
    tried = []
    for url in source.urls:
        try:
            return verify_crl(_download(session, url, timeout), source), url
        except RepairError as exc:
            tried.append(f"{visible(url)}: {exc}")
    raise RepairError("; ".join(tried) or "no CRL URL")


def _existing_newer(old: Any, crl: Any) -> bool:
    """The CRL already installed (as the scan read it) is the same CA's and newer."""
    return old is not None and old.issuer == crl.issuer and \
        old.last_update_utc > crl.last_update_utc


def _replaced_slot(ca_dir: Path, name: str, stamp: str) -> Path:
    """Where a replaced trust-dir file is kept: in :data:`REPLACED_DIR`, under a name OpenSSL
    never reads and that is not taken yet."""
    keep_dir = ca_dir / REPLACED_DIR
    try:
        os.mkdir(keep_dir, 0o755)
    except FileExistsError:
        pass
    return _backup_name(keep_dir / name, stamp)


def _install_crl(ca_dir: Path, name: str, pem: bytes, stamp: str) -> str:
    """Atomically put ``pem`` at ``ca_dir/name``; the old file is hard-linked into
    :data:`REPLACED_DIR` first, so it is never lost."""
    target = ca_dir / name
    kept = ""
    if os.path.lexists(target):
        backup = _replaced_slot(ca_dir, name, stamp)
        os.link(target, backup, follow_symlinks=False)
        kept = f", the old one kept as {REPLACED_DIR}/{backup.name}"
    outputs.write_file(target, pem, 0o644)
    return kept


def refresh_crls(ca_dir: Path, *, workers: int = CRL_WORKERS,
                 timeout: tuple[float, float] = CRL_TIMEOUT, stamp: str = "",
                 progress: Optional[Callable[[int, int], None]] = None) -> list[str]:
    """fetch-crl's job for one trust dir: every CA's CRL downloaded concurrently (bounded),
    verified against the CA and its dates, and only then put in place atomically.  A failed
    download or a CRL that does not verify keeps the old file; each outcome is one log line."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    import requests
    from cryptography.hazmat.primitives.serialization import Encoding

    ca_dir = Path(ca_dir)
    problem = crl_dir_problem(ca_dir)
    if problem:
        raise RepairError(problem)
    stamp = stamp or _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    sources = [s for s in crl_sources(ca_dir) if s.urls]
    log: list[str] = []
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_fetch_one, session, s, timeout): s for s in sources}
        for n, fut in enumerate(as_completed(futures), 1):
            s = futures[fut]
            if progress:
                progress(n, len(sources))
            try:
                crl, url = fut.result()
            except RepairError as exc:
                log.append(f"{s.ca_hash}.r0 kept ({visible(s.subject)}): {exc}")
                continue
            installed = dict(s.installed)
            for name in s.names:
                if _existing_newer(installed.get(name), crl):
                    log.append(f"{name} kept: it is newer than the one at {visible(url)}")
                    continue
                try:
                    kept = _install_crl(ca_dir, name, crl.public_bytes(Encoding.PEM), stamp)
                except (OSError, outputs.OutputError) as exc:
                    why = getattr(exc, "strerror", "") or exc
                    log.append(f"{name} NOT replaced: {visible(why)}")
                    continue
                log.append(f"{name} <- {visible(url)} (next update "
                           f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC{kept})")
    session.close()
    return sorted(log)


def crl_dir_problem(ca_dir: Path) -> str:
    """Why CRLs cannot be written into ``ca_dir`` by us, or ''."""
    try:
        st = os.lstat(ca_dir)
    except OSError as exc:
        return f"{visible(ca_dir)} cannot be used: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        ca_dir = Path(os.path.realpath(ca_dir))  # a site's link to its CA dir is normal
    if not os.access(ca_dir, os.W_OK | os.X_OK):
        return (f"the CA directory {visible(ca_dir)} is not writable by you (owner uid "
                f"{os.stat(ca_dir).st_uid}, mode {stat.S_IMODE(os.stat(ca_dir).st_mode):03o}): "
                "its administrator must refresh the CRLs (fetch-crl), or use your own CA "
                "directory (the guide's DIRACOS one) and export X509_CERT_DIR")
    return ""


def plan_crls(step: Step, action: Action, ctx: Context) -> None:
    ca_dir = Path(action.param("ca_dir"))
    if ctx.offline:
        raise RepairError("--mu3e-offline: the CRL downloads are skipped")
    problem = crl_dir_problem(ca_dir)
    if problem:
        raise RepairError(problem)
    sources = crl_sources(ca_dir)
    with_url = [s for s in sources if s.urls]
    if not with_url:
        raise RepairError(f"no CA in {visible(ca_dir)} has a .crl_url file (the IGTF bundles "
                          "bring them)")
    step.changes.append(f"fetch {len(with_url)} CRL(s) into {visible(ca_dir)}, each verified "
                        "with its CA before it replaces <hash>.r0 (old files kept in "
                        f"{REPLACED_DIR}/)")
    for s in with_url[:10]:
        step.changes.append(f"  {s.ca_hash}.r0 <- {visible(s.urls[0])}")
    if len(with_url) > 10:
        step.changes.append(f"  ... and {len(with_url) - 10} more")
    if len(with_url) < len(sources):
        step.changes.append(f"{len(sources) - len(with_url)} CA(s) have no .crl_url: skipped")


def apply_crls(action: Action, ctx: Context) -> list[str]:
    def bar(n: int, total: int) -> None:
        if sys.stderr.isatty():
            width = 30
            done = width * n // max(total, 1)
            print(f"\r  CRLs [{'#' * done}{'.' * (width - done)}] {n}/{total}", end="",
                  file=sys.stderr, flush=True)
            if n == total:
                print(file=sys.stderr)

    return refresh_crls(Path(action.param("ca_dir")), stamp=ctx.stamp, progress=bar)


# ----------------------------------------------------------------------------- CA bundles

#: The largest CA tarball accepted (IGTF ones are a few kB), and the most members in one.
TGZ_MAX_BYTES = 4 * 1024 * 1024
TGZ_MAX_MEMBERS = 64
_MEMBER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def repository(ctx: Context) -> str:
    """The base URL of the CA tarballs: ``--mu3e-ca-repository`` (whose default, in the options
    table, is the guide's EGI repository)."""
    from mu3e_checks import commands

    base = ctx.ca_repository or commands.IGTF_TGZ_URL
    return base if base.endswith("/") else base + "/"


@dataclass(frozen=True)
class Bundle:
    """A checked CA tarball: its files (name -> bytes) and links (name -> target), stripped
    of the top directory as ``tar --strip-components=1`` does."""

    alias: str
    files: dict[str, bytes]
    links: dict[str, str]


def check_bundle(data: bytes, alias: str) -> Bundle:
    """The tarball's content, when it is an IGTF bundle of ``alias``: one top directory,
    plain names, links only to a sibling, a ``<alias>.pem`` whose subject hash names a
    ``<hash>.0`` link, and (for a CA we know) the DN that was missing.  Else RepairError."""
    import io as _io
    import tarfile

    from cryptography import x509

    from mu3e_checks.knowledge.pki import same_dn
    from mu3e_checks.knowledge.trust import KNOWN_BUNDLES
    from mu3e_checks.knowledge.trust.scan import subject_hash

    try:
        tar = tarfile.open(fileobj=_io.BytesIO(data), mode="r:gz")
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError, ValueError):
        raise RepairError("not a readable .tar.gz") from None
    if len(members) > TGZ_MAX_MEMBERS:
        raise RepairError(f"{len(members)} entries: not an IGTF CA bundle")
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    tops = set()
    for m in members:
        parts = m.name.strip("/").split("/")
        tops.add(parts[0])
        if m.isdir() and len(parts) == 1:
            continue
        if len(parts) != 2 or not _MEMBER_NAME.fullmatch(parts[1]):
            raise RepairError(f"unexpected entry {visible(m.name)}")
        name = parts[1]
        if m.issym():
            if not _MEMBER_NAME.fullmatch(m.linkname):
                raise RepairError(f"{visible(name)} links outside the bundle")
            links[name] = m.linkname
        elif m.isfile():
            fh = tar.extractfile(m)
            files[name] = fh.read(TGZ_MAX_BYTES) if fh else b""
        else:
            raise RepairError(f"{visible(name)} is not a file or a link")
    if len(tops) != 1:
        raise RepairError("not one top directory, as IGTF bundles have")
    pem = files.get(f"{alias}.pem")
    if pem is None:
        raise RepairError(f"no {visible(alias)}.pem: not the bundle of {visible(alias)}")
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise RepairError(f"{visible(alias)}.pem is not a PEM certificate") from None
    h = subject_hash(cert)
    if links.get(f"{h}.0") != f"{alias}.pem" and f"{h}.0" not in files:
        raise RepairError(f"no {h}.0 (the subject hash name of {visible(alias)}.pem)")
    for name, target in links.items():
        if target not in files:
            raise RepairError(f"{visible(name)} links to {visible(target)}, not in the bundle")
    wanted = {a: dn for dn, a in KNOWN_BUNDLES.items()}.get(alias)
    if wanted and not same_dn(cert.subject, wanted):
        raise RepairError(f"it holds another CA ({visible(cert.subject.rfc4514_string())}), "
                          f"not {visible(wanted)}")
    return Bundle(alias, files, links)


def install_bundle(bundle: Bundle, ca_dir: Path, stamp: str) -> list[str]:
    """Put the bundle's files and links into ``ca_dir`` (``tar --strip-components=1``), each
    written new and renamed into place; a different existing file is kept in
    :data:`REPLACED_DIR` first, an identical one is left alone."""
    log = []
    outputs.ensure_directory(ca_dir)
    for name, data in sorted(bundle.files.items()):
        target = ca_dir / name
        if os.path.lexists(target):
            if not os.path.islink(target) and target.is_file() and target.read_bytes() == data:
                continue
            _keep_aside(ca_dir, name, stamp, log)
        outputs.write_file(target, data, 0o644)
        log.append(f"installed {visible(name)}")
    for name, link in sorted(bundle.links.items()):
        target = ca_dir / name
        if os.path.islink(target) and os.readlink(target) == link:
            continue
        if os.path.lexists(target):
            _keep_aside(ca_dir, name, stamp, log)
        os.symlink(link, target)
        log.append(f"linked {visible(name)} -> {visible(link)}")
    return log


def _keep_aside(ca_dir: Path, name: str, stamp: str, log: list[str]) -> None:
    backup = _replaced_slot(ca_dir, name, stamp)
    os.rename(ca_dir / name, backup)
    log.append(f"kept the old {visible(name)} as {REPLACED_DIR}/{visible(backup.name)}")


def plan_bundles(step: Step, action: Action, ctx: Context) -> None:
    from mu3e_checks import commands

    ca_dir = Path(action.param("ca_dir"))
    if ctx.offline:
        raise RepairError("--mu3e-offline: the CA bundle downloads are skipped")
    if os.path.lexists(ca_dir):
        problem = crl_dir_problem(ca_dir)
        if problem:
            raise RepairError(problem)
    base = repository(ctx)
    for alias in action.param("aliases") or ():
        step.changes.append(f"fetch {visible(base + commands.tarball(alias))}, check it holds "
                            f"the CA {visible(alias)}, untar into {visible(ca_dir)}")


def apply_bundles(action: Action, ctx: Context) -> list[str]:
    import requests

    from mu3e_checks import commands

    ca_dir = Path(action.param("ca_dir"))
    base = repository(ctx)
    checked = []
    with requests.Session() as session:
        for alias in action.param("aliases") or ():
            url = base + commands.tarball(alias)
            try:
                data = _download(session, url, CRL_TIMEOUT)
                if len(data) > TGZ_MAX_BYTES:
                    raise RepairError("larger than an IGTF bundle")
                checked.append(check_bundle(data, alias))
            except RepairError as exc:
                raise RepairError(f"{visible(url)}: {exc}; nothing installed") from None
    log = []
    for bundle in checked:
        log += [f"{bundle.alias}: {ln}" for ln in install_bundle(bundle, ca_dir, ctx.stamp)]
    return log or ["the bundles were already installed, unchanged"]


# ----------------------------------------------------------------------------- the plan

def safety_of(action: Action) -> Safety:
    return Safety.CONFIRM if action.kind == ActionKind.EXPORT_CERT_DIR else Safety.SAFE


def build_plan(results: Sequence[CheckResult], ctx: Context) -> list[Step]:
    """One step per failed or warned result: a repair when its remedy has an action this tool
    applies and the facts allow it, else the printed fix for a person."""
    steps: list[Step] = []
    seen: set[Action] = set()
    for r in results:
        if not r.problem:
            continue
        action = next(iter(r.actions), None)
        if action is not None and action in seen:
            continue
        step = Step(r.id, r.title, action, safety_of(action) if action else Safety.MANUAL,
                    fix=r.fix)
        if action is None:
            step.blocked = "needs a person"
        elif action.kind not in PLAN:
            step.blocked = f"'{action.kind.value}' is not applied by this version"
        else:
            try:
                PLAN[action.kind](step, action, ctx)
            except RepairError as exc:  # the facts do not allow it: say why, do nothing
                step.blocked = str(exc)
        if action is not None:
            seen.add(action)
        steps.append(step)
    return steps


#: How each repair is planned (filling the step, raising RepairError when the facts do not
#: allow it) and applied; an action kind missing here is printed for a person.
PLAN = {ActionKind.CHMOD: plan_chmod, ActionKind.PKCS12_EXTRACT: plan_pkcs12,
        ActionKind.EXPORT_CERT_DIR: plan_export, ActionKind.FETCH_CRLS: plan_crls,
        ActionKind.INSTALL_CA_BUNDLES: plan_bundles}
APPLY = {ActionKind.CHMOD: apply_chmod, ActionKind.PKCS12_EXTRACT: apply_pkcs12,
         ActionKind.EXPORT_CERT_DIR: apply_export, ActionKind.FETCH_CRLS: apply_crls,
         ActionKind.INSTALL_CA_BUNDLES: apply_bundles}


def render_plan(steps: Sequence[Step], dry_run: bool = False) -> str:
    todo = [s for s in steps if s.applicable]
    lines = []
    if todo:
        lines.append("Will repair:" if not dry_run else "Would repair (dry run, nothing is "
                     "written):")
        for s in todo:
            ask = "  [asks separately]" if s.safety == Safety.CONFIRM else ""
            lines.append(f"  {s.check_id} {s.title}{ask}")
            lines += [f"      {c}" for c in s.changes]
    done = [s for s in steps if s.done]
    if done:
        lines.append("Already repaired:")
        lines += [f"  {s.check_id}: {c}" for s in done for c in s.changes]
    manual = [s for s in steps if s.blocked]
    if manual:
        lines.append("Cannot repair (do it yourself):")
        for s in manual:
            lines.append(f"  {s.check_id} {s.title}: {s.blocked}")
            lines += [f"      {ln}" for ln in s.fix.splitlines()]
    if not lines:
        lines.append("Nothing to repair.")
    return "\n".join(lines)


def apply_plan(steps: Sequence[Step], ctx: Context) -> list[str]:
    """Apply every applicable step; a CONFIRM step only after its own yes.  The log says what
    changed (old modes, backup names) or why a step did nothing."""
    log: list[str] = []
    for s in steps:
        if not s.applicable or s.action is None:
            continue
        if s.safety == Safety.CONFIRM and not ctx.options.yes:
            if not ctx.ask(f"{s.check_id}: {'; '.join(s.changes)}. Edit it? [y/N] "):
                log.append(f"{s.check_id}: skipped (not confirmed)")
                continue
        try:
            lines = APPLY[s.action.kind](s.action, ctx)
        except (RepairError, outputs.OutputError) as exc:
            log.append(f"{s.check_id}: NOT repaired: {exc}")
            continue
        except OSError as exc:
            log.append(f"{s.check_id}: NOT repaired: {visible(exc.strerror or exc)}")
            continue
        log += [f"{s.check_id}: {ln}" for ln in lines]
        if s.action.kind == ActionKind.EXPORT_CERT_DIR:
            # What a new shell will have: the diagnosis that follows should see it too.
            os.environ["X509_CERT_DIR"] = str(s.action.param("value"))
            ctx.environ["X509_CERT_DIR"] = str(s.action.param("value"))
    return log


# ----------------------------------------------------------------------------- running

class _Catch:
    """Handed to ``pytest.main``: takes the run's own :class:`Diagnosis` and settings, and
    carries the repair log into the run, so its reports list the repairs (:func:`attach`; the
    same way ``explain`` hands in its "Error explained" section)."""

    def pytest_mu3e_report_sections(self, diagnosis: Diagnosis) -> dict[str, Any]:
        """The repair log for the run's model, when this run is the one ``fix`` started after
        repairing (:mod:`mu3e_checks.hooks`)."""
        return {"repairs": tuple(visible(line) for line in self.repairs)} if self.repairs else {}

    def __init__(self, repairs: Sequence[str] = ()) -> None:
        self.repairs = tuple(repairs)
        self.diagnosis: Optional[Diagnosis] = None
        self.settings: Any = None
        self.html_path: Optional[Path] = None
        self.json_path: Optional[Path] = None

    def pytest_sessionfinish(self, session: Any) -> None:
        from mu3e_checks.plugin import active_run

        run = active_run(session.config)
        if run is not None:
            self.diagnosis, self.settings = run.screen, run.settings
            self.html_path, self.json_path = run.html_path, run.json_path




def diagnose(extra: Sequence[str], pytest_args: ArgsBuilder, repairs: Sequence[str] = (),
             ) -> tuple[int, Optional[Diagnosis], Any, str, _Catch]:
    """Run the diagnosis in-process with the user's options; its terminal text is kept, not
    shown (the plan and the before/after table say what matters).  ``repairs`` go into its
    reports (the "Repairs applied" section, the JSON ``repairs``)."""
    catch = _Catch(repairs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run_in_process(pytest_args(list(extra)), [catch])
    return rc, catch.diagnosis, catch.settings, out.getvalue(), catch


def repair_lines(log: Sequence[str], first: Diagnosis) -> list[str]:
    """The report's repairs section: the verdict the repairs started from, then each change
    (old mode, files written, backup names) or why a repair was not done."""
    if not log:
        return []
    return [f"before the repairs: {first.verdict()}", *log]


def before_after(before: Diagnosis, after: Diagnosis, ids: Sequence[str],
                 title: str = "Before -> after:") -> str:
    """The repaired checks and every check whose outcome changed, one line each."""
    old = {r.id: r.outcome for r in before.results}
    new = {r.id: r.outcome for r in after.results}
    changed = [i for i in new if old.get(i) != new[i]]
    show = list(dict.fromkeys([*ids, *changed]))
    lines = [title]
    for i in show:
        lines.append(f"  {i:<10} {old.get(i, 'not run'):>8} -> {new.get(i, 'not run')}")
    return "\n".join(lines)


def _ask_stdin(question: str) -> bool:
    print(question, end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


#: The flags only ``fix`` understands; they change what is written, not what is diagnosed, so
#: they are not ``--mu3e-*`` options of the diagnosis (the USAGE and the README list them).
FIX_FLAGS = ("--yes", "-y", "--dry-run", "--unencrypted-key")


def parse(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """(our options, the diagnosis's own options).  Everything but :data:`FIX_FLAGS` goes to
    the diagnosis, ``--mu3e-ca-repository`` and ``--mu3e-passphrase-file`` included: they are
    options of the options table, typed there, and ``fix`` reads them from the run's
    ``Settings``."""
    argv = list(argv)
    rest = [a for a in argv if a not in FIX_FLAGS]
    opts = Options(yes="--yes" in argv or "-y" in argv, dry_run="--dry-run" in argv,
                   unencrypted_key="--unencrypted-key" in argv)
    return opts, rest


#: How often the plan is made again: a repair can let a later check run and find the next
#: thing (a .p12 extracted, then CA bundles installed, then their CRLs fetched).
ROUNDS = 3

#: The check that owns the fact a repair changes (the ``owner(...)`` declarations of
#: checks/conftest.py): every check that requires it reads that fact, so it is affected too.
#: A mode change affects only its own check and the checks that require it.
FACT_OWNER = {ActionKind.PKCS12_EXTRACT: "CERT-001", ActionKind.INSTALL_CA_BUNDLES: "CA-001",
              ActionKind.FETCH_CRLS: "CA-001", ActionKind.EXPORT_CERT_DIR: "CA-001"}


def affected(repaired: Iterable[tuple[str, Optional[Action]]], checks: Mapping[str, Any],
             ran: Sequence[str]) -> list[str]:
    """The checks to run again after ``repaired`` (check ID, action) pairs, in ``ran``'s order.

    The repaired checks and the owner of the fact each repair changed, everything that requires
    one of them (transitively, through the registry's ``requires`` graph), and the prerequisites
    of all these, so each check is gated as in a full run.  Only checks the first run ran: the
    user's ``--mu3e-select``/``-k``/``-m`` still hold."""
    roots: set[str] = set()
    for cid, action in repaired:
        roots.add(cid)
        if action is not None and action.kind in FACT_OWNER:
            roots.add(FACT_OWNER[action.kind])
    dependants: dict[str, list[str]] = {}
    for c in checks.values():
        for req in c.requires:
            dependants.setdefault(req, []).append(c.id)
    out: set[str] = set()
    todo = list(roots)
    while todo:
        cid = todo.pop()
        if cid not in out:
            out.add(cid)
            todo.extend(dependants.get(cid, ()))
    out.update(with_prerequisites(out, checks))
    return [cid for cid in ran if cid in out]


def merged(base: Diagnosis, rerun: Diagnosis) -> Diagnosis:
    """``base`` with the results of the checks ``rerun`` ran again put in their place."""
    from dataclasses import replace

    new = {r.id: r for r in rerun.results}
    return replace(base, results=tuple(new.get(r.id, r) for r in base.results))


_SELECTION = ("--mu3e-select",)
_REPORTS = ("--html", "--mu3e-json", "--junitxml", "--junit-xml")


def rerun_args(extra: Sequence[str], select: Sequence[str], private: Path, n: int) -> list[str]:
    """The user's options for a run of only ``select``: their own ``--mu3e-select`` replaced,
    and the reports of this partial run kept in ``private`` (a temporary directory), so the
    user's report paths get only the first and the final diagnosis."""
    out: list[str] = []
    skip = False
    for a in extra:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _SELECTION + _REPORTS:
            skip = "=" not in a
            continue
        out.append(a)
    return out + ["--mu3e-select", ",".join(select),
                  "--html", str(private / f"affected-{n}.html"),
                  "--mu3e-json", str(private / f"affected-{n}.json"),
                  "--junitxml", str(private / f"affected-{n}.xml")]


def main(argv: Sequence[str], pytest_args: ArgsBuilder) -> int:
    """``mu3e-checks fix ...``: exit code of the final diagnosis (2 for a usage error).

    After each round of repairs only the affected checks run again (:func:`affected`); they
    give the before/after table and the next round's plan.  The exit code and the reports are
    then those of one full final diagnosis with the user's own options: a repair can change a
    fact that checks outside the ``requires`` graph read too, and a verdict must never rest on
    a partial run."""
    import tempfile

    argv = list(argv)
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    opts, extra = parse(argv)
    if opts.yes and opts.dry_run:
        print("--yes and --dry-run exclude each other", file=sys.stderr)
        return 2
    rc, first, settings, text, _ = diagnose(extra, pytest_args)
    if first is None or settings is None:
        sys.stdout.write(text)
        return rc
    print(f"Diagnosis: {first.verdict()}")
    ctx = Context(home=settings.home, environ=dict(os.environ),
                  passphrase_file=settings.passphrase_file, offline=settings.offline,
                  ca_repository=settings.ca_repository, options=opts, ask=_ask_stdin)
    current, attempted, repaired = first, set(), []
    all_log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mu3e-fix-") as private:
        for n in range(ROUNDS):
            steps = build_plan(current.results, ctx)
            fresh = [s for s in steps if s.applicable and s.action not in attempted]
            if n == 0 or fresh:
                print(render_plan([s for s in steps if s.action not in attempted or not
                                   s.applicable], opts.dry_run))
            if opts.dry_run or not fresh:
                break
            if not opts.yes and not ctx.ask(f"Apply {len(fresh)} repair(s)? [y/N] "):
                print("Nothing changed.")
                break
            attempted.update(s.action for s in fresh)
            repaired += [s.check_id for s in fresh]
            log = apply_plan(fresh, ctx)
            all_log += log
            print("Repairs done:")
            print("\n".join(f"  {ln}" for ln in log) if log else "  none")
            from mu3e_checks import registry

            select = affected([(s.check_id, s.action) for s in fresh], registry.load_all(),
                              [r.id for r in current.results])
            _rc, after, _settings, text, _ = diagnose(
                rerun_args(extra, select, Path(private), n), pytest_args)
            if after is None:
                sys.stdout.write(text)
                return _rc
            current = merged(current, after)
    if current is first:
        return rc
    print(before_after(first, current, repaired, "Before -> after (the repaired checks and "
                       "those that depend on them, run again):"))
    rc, final, _settings, text, catch = diagnose(extra, pytest_args,
                                                 repair_lines(all_log, first))
    if final is None:
        sys.stdout.write(text)
        return rc
    old = {r.id: r.outcome for r in current.results}
    beyond = [r for r in final.results if old.get(r.id, "not run") != r.outcome]
    if beyond:
        print("The final diagnosis differs beyond them:")
        for r in beyond:
            print(f"  {r.id:<10} {old.get(r.id, 'not run'):>8} -> {r.outcome}")
    print("Final diagnosis (a full run of every check you selected; its exit code is ours):")
    print(f"Diagnosis now: {final.verdict()}")
    for cid, fix in final.fixes_in_order():
        print(f"  {cid}: " + fix.replace("\n", "\n      "))
    reports = [p for p in (catch.html_path, catch.json_path) if p is not None]
    if reports:
        print("The repairs are listed in the report (for a support ticket): "
              + ", ".join(visible(p) for p in reports))
    return rc
