"""Reading one CA directory once: its CA certificates, CRLs and the files OpenSSL cannot use.

Every file is read through :func:`mu3e_checks.knowledge.files.read_bytes` (non-blocking, regular
files only, bounded), so a FIFO, a device, a dangling link or a link loop planted in the
directory is a named :class:`FileProblem`, never a hang; and verification later builds OpenSSL's
store from what was read here, so OpenSSL never opens a directory entry itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import errno
import functools
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from mu3e_checks.knowledge import der as _der
from mu3e_checks.knowledge.files import Unreadable, read_bytes
from mu3e_checks.knowledge.pki import (
    DECODE_ERRORS,
    PemError,
    decode_place,
    dn_key,
    dn_slash,
    extension_name,
    first_line,
    load_certificate_any,
    public_key,
    unreadable_key,
)
from mu3e_checks.knowledge.pki import signed_by as pki_signed_by
from mu3e_checks.knowledge.trust.igtf import IgtfInfo, parse_info

CA_FILE_RE = re.compile(r"^([0-9a-f]{8})\.(\d+)$")
CRL_FILE_RE = re.compile(r"^([0-9a-f]{8})\.r(\d+)$")


class OpenSSLRefuses(ValueError):
    """OpenSSL cannot load a certificate or CRL that ``cryptography`` read; the message is
    OpenSSL's reason, for a sentence."""


def openssl_reason(exc: BaseException) -> str:
    """OpenSSL's reasons in a pyOpenSSL error (``decode error``, ``illegal object``...)."""
    errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(e[-1]) for e in errors if isinstance(e, tuple) and e and e[-1]]
    return ", ".join(dict.fromkeys(reasons)) or str(exc) or type(exc).__name__


@functools.lru_cache(maxsize=4096)
def openssl_x509(cert: x509.Certificate) -> Any:
    """pyOpenSSL's copy of ``cert``, made once per certificate: the scan hashes each CA's
    names with it, and every chain check hands the same CAs to OpenSSL again.

    :class:`OpenSSLRefuses` when OpenSSL cannot load it (a public key it cannot decode, a
    field it is stricter about than ``cryptography``): the one place that conversion happens.
    """
    from OpenSSL import crypto

    try:
        return crypto.X509.from_cryptography(cert)
    except crypto.Error as exc:
        raise OpenSSLRefuses(openssl_reason(exc)) from None


@functools.lru_cache(maxsize=4096)
def subject_hash(cert: x509.Certificate, *, issuer: bool = False) -> str:
    """OpenSSL's subject-name hash of ``cert`` (of its issuer with ``issuer=True``).

    This is ``X509_NAME_hash``, the name ``c_rehash``/``openssl rehash`` give CA files
    (``<hash>.0``) and CRLs (``<hash>.r0``), and the name OpenSSL looks a CA up under.
    Cached: a scan asks for the same CA's hash more than once.
    """
    import warnings

    x = openssl_x509(cert)
    if not issuer:
        return f"{x.subject_name_hash() & 0xffffffff:08x}"
    with warnings.catch_warnings():  # pyOpenSSL deprecates X509Name, but cryptography has
        warnings.simplefilter("ignore", DeprecationWarning)  # no X509_NAME_hash of its own
        return f"{x.get_issuer().hash() & 0xffffffff:08x}"


@functools.lru_cache(maxsize=4096)
def subject_hash_old(cert: x509.Certificate, *, issuer: bool = False) -> str:
    """The pre-OpenSSL-1.0 (MD5) subject hash (of the issuer with ``issuer=True``); IGTF
    ships a link under this name too.  Cached, as :func:`subject_hash`."""
    import hashlib
    import struct

    name = cert.issuer if issuer else cert.subject
    digest = hashlib.md5(name.public_bytes(), usedforsecurity=False).digest()
    return f"{struct.unpack('<I', digest[:4])[0]:08x}"


@dataclass(frozen=True)
class CA:
    """One distinct CA certificate in the directory, with every file name that holds it."""

    cert: x509.Certificate
    subject: str  # slash form
    hash: str  # OpenSSL's subject hash: what OpenSSL looks the CA up under
    hash_old: str
    names: tuple[str, ...]
    fingerprint: bytes
    alias: Optional[str] = None  # IGTF alias from a .info file, when there is one

    @property
    def crl_name(self) -> str:
        return f"{self.hash}.r0"

    def describe(self) -> str:
        return f"{self.subject} ({', '.join(self.names)})"


class RepairKind(str, Enum):
    """What repairs a file of the CA directory (the advice layer words the command)."""

    REMOVE = "remove"  # not a CA file at all (a FIFO, a huge .info): remove it
    REINSTALL = "reinstall"  # a damaged CA file: remove it, then install the CA's bundle again
    RENAME = "rename"  # a CA under a name OpenSSL never opens: its subject hash name
    DER_TO_PEM = "der-to-pem"  # a DER certificate or CRL: convert it to PEM in place


@dataclass(frozen=True)
class FileRepair:
    """The repair of one file: its kind, the file, and what the kind needs (the new name; the
    ``openssl`` subcommand, ``x509`` or ``crl``, of a conversion)."""

    kind: RepairKind
    path: Path
    to: Optional[Path] = None
    what: str = ""

    @classmethod
    def remove(cls, path: Path) -> FileRepair:
        return cls(RepairKind.REMOVE, path)

    @classmethod
    def reinstall(cls, path: Path) -> FileRepair:
        return cls(RepairKind.REINSTALL, path)

    @classmethod
    def rename(cls, path: Path, to: Path) -> FileRepair:
        return cls(RepairKind.RENAME, path, to)

    @classmethod
    def der_to_pem(cls, what: str, path: Path) -> FileRepair:
        return cls(RepairKind.DER_TO_PEM, path, what=what)


@dataclass(frozen=True)
class FileProblem:
    """A CA file OpenSSL cannot use, the sentence saying why, and the repair that fixes it."""

    name: str
    message: str
    repair: Optional[FileRepair] = None
    harmless: bool = False  # the same CA is also installed under a name OpenSSL finds
    #: a CA file under a name that is not its subject hash: the CA's DN (its one root cause)
    misnamed_dn: Optional[str] = None
    #: the DN of the CA certificate in a file that cannot be used (damaged, a key that cannot
    #: be read), when its name can still be read: CA-003's finding for that CA, a failure only
    #: when the user relies on it
    dn: Optional[str] = None


@dataclass(frozen=True)
class CRLFile:
    """A ``<hash>.r0`` file: parsed, and judged against the CA it is named after."""

    name: str
    crl: Optional[x509.CertificateRevocationList] = None
    encoding: str = ""  # "PEM" | "DER"
    problem: str = ""  # why OpenSSL cannot use it ("" when fine)
    ca: Optional[CA] = None  # the CA whose subject hash names the file and who signed it
    next_update: Optional[_dt.datetime] = None
    last_update: Optional[_dt.datetime] = None
    repair: Optional[FileRepair] = None


@dataclass
class TrustStore:
    """Everything in one CA directory, read once per session.

    CA files are parsed once per target (IGTF links both hash names to one ``.pem``); CRLs
    are parsed and their signature checked once, without walking their entries, so a
    100k-entry CRL costs one signature check (see benchmarks/bench_trust.py).
    ``loaded`` holds what OpenSSL's hashed-directory lookup would load from each file name
    (a PEM certificate, or None when OpenSSL's load would fail there), so verification can
    build the same store from these bytes without OpenSSL ever opening the directory.
    """

    path: Path
    cas: list[CA] = field(default_factory=list)
    bad_files: list[FileProblem] = field(default_factory=list)
    crls: dict[str, CRLFile] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # subject DN -> IGTF alias
    infos: dict[tuple[tuple[str, str], ...], IgtfInfo] = field(default_factory=dict)  # by DN
    file_count: int = 0
    names: frozenset[str] = frozenset()
    loaded: dict[str, Optional[x509.Certificate]] = field(default_factory=dict)

    def with_subject(self, dn: str) -> list[CA]:
        """The CAs named ``dn``.  The checks ask this for every required CA of a directory
        that may hold all of IGTF, so the names are indexed once per store (and again only
        if the list grew) instead of compared one by one on every question."""
        cached = self.__dict__.get("_by_subject")
        if cached is None or cached[0] != len(self.cas):
            index: dict[tuple[tuple[str, str], ...], list[CA]] = {}
            for ca in self.cas:
                index.setdefault(dn_key(ca.subject), []).append(ca)
            cached = (len(self.cas), index)
            self.__dict__["_by_subject"] = cached
        return list(cached[1].get(dn_key(dn), ()))

    def issuers_of(self, cert: x509.Certificate) -> list[CA]:
        """CAs in the directory whose name and key issued ``cert``."""
        return [ca for ca in self.cas if ca.cert.subject == cert.issuer
                and signed_by(cert, ca.cert)]

    def read_crls(self) -> list[CRLFile]:
        """The CRL files OpenSSL reads: not the copies under a CA's old-style hash name.

        fetch-crl writes both names; judging both would count each CA twice.
        """
        new = {ca.hash for ca in self.cas}
        old_only = {ca.hash_old for ca in self.cas} - new
        return [c for c in self.crls.values() if c.name.split(".")[0] not in old_only]

    def crl_of(self, ca: CA) -> Optional[CRLFile]:
        """The CRL OpenSSL would use for ``ca``: ``<subject hash>.r0``."""
        return self.crls.get(ca.crl_name)

    def igtf_genuine(self, ca: CA) -> Optional[bool]:
        """Whether ``ca`` is the certificate its IGTF bundle's ``.info`` file describes (by
        SHA-1 fingerprint): None when no ``.info`` in the directory names its DN."""
        info = self.infos.get(dn_key(ca.subject))
        if info is None or not info.fingerprints:
            return None
        return ca.cert.fingerprint(hashes.SHA1()).hex().upper() in info.fingerprints

    def unusable(self, dn: str) -> list[FileProblem]:
        """The CA-003 findings of a CA with this DN installed only in a file that cannot be
        used (damaged, or a public key that cannot be read)."""
        return [p for p in self.bad_files if p.dn is not None and not p.harmless
                and dn_key(p.dn) == dn_key(dn)]

    def misnamed(self, dn: str) -> list[FileProblem]:
        """The CA-003 findings of a CA with this DN installed only under a wrong file name."""
        return [p for p in self.bad_files if p.misnamed_dn is not None and not p.harmless
                and dn_key(p.misnamed_dn) == dn_key(dn)]


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key made ``cert``'s signature (names must match too); a
    signature that cannot be checked here does not count (see :func:`pki.signed_by`)."""
    return pki_signed_by(cert, issuer) is True


def _problem_for_unreadable(entry: os.DirEntry, exc_text: str) -> str:
    try:
        if entry.is_symlink() and not os.path.exists(entry.path):
            target = os.readlink(entry.path)
            try:
                os.stat(entry.path)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return f"{entry.name} is a symbolic link loop, so OpenSSL cannot read it"
            return (f"{entry.name} is a broken symbolic link (to {target}), "
                    "so OpenSSL cannot read it")
    except OSError:
        pass
    return exc_text.replace(entry.path, entry.name)


def scan_trust_dir(path: Path) -> TrustStore:
    """Read every ``<hash>.N`` CA file and ``<hash>.rN`` CRL in ``path``; never raises.

    Files that cannot be used become :class:`FileProblem` entries (broken symlink, symlink
    loop, FIFO or device, unreadable, not a certificate, DER where OpenSSL reads only PEM, name
    that is neither the new nor the old OpenSSL subject hash); usable ones become :class:`CA`
    entries.
    """
    import warnings

    with warnings.catch_warnings():  # some IGTF CAs have serials cryptography frowns upon
        warnings.simplefilter("ignore")
        return _scan(Path(path))


#: An IGTF ``.info`` file is a few hundred bytes; anything far larger is not one.
_INFO_LIMIT = 64 * 1024


def _scan(path: Path) -> TrustStore:
    store = TrustStore(Path(path))
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return store
    store.file_count = len(entries)
    store.names = frozenset(e.name for e in entries)
    taken = set(store.names)
    mismatched: list[tuple[str, x509.Certificate, bytes, str, str]] = []
    parsed: dict[str, tuple[Optional[x509.Certificate], str, bool]] = {}
    by_fp: dict[bytes, list[str]] = {}
    certs: dict[bytes, x509.Certificate] = {}
    crl_entries: list[os.DirEntry] = []
    fingerprints: dict[str, bytes] = {}
    # realpath(dir/name) is realpath(dir)/name unless the entry itself is a link: resolving
    # the directory once saves a walk up every path component for each of IGTF's files.
    real_dir = os.path.realpath(path)
    for entry in entries:
        if entry.name.endswith(".info"):
            _scan_info(store, entry)
            continue
        if CRL_FILE_RE.match(entry.name):
            crl_entries.append(entry)
            continue
        m = CA_FILE_RE.match(entry.name)
        if not m:
            continue
        try:
            link = entry.is_symlink()
        except OSError:
            link = True
        real = _real_path(entry, real_dir) if link else os.path.join(real_dir, entry.name)
        if real not in parsed:  # messages name ``real``; each entry puts its own name in
            data = b""
            try:
                data = read_bytes(Path(real))
                is_pem = b"-----BEGIN" in data
                parsed[real] = (load_certificate_any(data, real), "", is_pem, None)
            except Unreadable as exc:
                parsed[real] = (None, str(exc), False, None)
            except PemError as exc:
                parsed[real] = (None, f"{exc}; OpenSSL skips it", False, _lenient_subject(data))
        cert, problem, is_pem, dn = parsed[real]
        if cert is None and not problem.endswith("OpenSSL skips it"):
            problem = _problem_for_unreadable(entry, problem)
        if cert is None or not is_pem:
            target = Path(path) / entry.name
        if cert is None:
            store.loaded[entry.name] = None
            store.bad_files.append(FileProblem(
                entry.name, problem.replace(real, entry.name),
                FileRepair.reinstall(target),
                dn=dn))
            continue
        if not is_pem:
            store.loaded[entry.name] = None
            store.bad_files.append(FileProblem(
                entry.name, f"{entry.name} is a DER (binary) certificate; OpenSSL reads only "
                "PEM files in a CA directory, so it never finds this CA",
                FileRepair.der_to_pem("x509", target)))
            continue
        try:
            new, old = subject_hash(cert), subject_hash_old(cert)
        except OpenSSLRefuses as exc:
            target = Path(path) / entry.name
            store.loaded[entry.name] = None
            store.bad_files.append(FileProblem(
                entry.name, f"{entry.name} holds a certificate ({dn_slash(cert.subject)}) that "
                f"OpenSSL cannot load ({exc}); OpenSSL skips it",
                FileRepair.reinstall(target),
                dn=dn_slash(cert.subject)))
            continue
        store.loaded[entry.name] = cert
        fp = fingerprints.get(real)  # IGTF links two names to each file: hash it once
        if fp is None:
            fp = fingerprints[real] = cert.fingerprint(hashes.SHA256())
        if m.group(1) not in (new, old):
            mismatched.append((entry.name, cert, fp, new, old))
            continue
        certs.setdefault(fp, cert)
        by_fp.setdefault(fp, []).append(entry.name)
    for name, cert, fp, new, old in mismatched:
        target = Path(path) / name
        dupe = fp in by_fp
        slot = 0
        while f"{new}.{slot}" in taken:
            slot += 1
        taken.add(f"{new}.{slot}")
        store.bad_files.append(FileProblem(
            name, f"{name} holds {dn_slash(cert.subject)}, whose subject hash is {new} "
            f"(old-style {old}); OpenSSL looks it up as {new}.0 and never opens {name}"
            + (f" (the same CA is also installed as {', '.join(by_fp[fp])})" if dupe else ""),
            FileRepair.remove(target) if dupe
            else FileRepair.rename(target, Path(path) / f"{new}.{slot}"),
            harmless=dupe, misnamed_dn=dn_slash(cert.subject)))
    for fp, names in by_fp.items():
        cert = certs[fp]
        subject = dn_slash(cert.subject)
        new = subject_hash(cert)
        if not any(n.startswith(f"{new}.") for n in names):  # only the pre-1.0 MD5 name
            slot = 0
            while f"{new}.{slot}" in taken:
                slot += 1
            taken.add(f"{new}.{slot}")
            store.bad_files.append(FileProblem(
                names[0], f"{names[0]} holds {subject} under its old-style (MD5) hash name "
                f"only; OpenSSL 1.0 and later look it up as {new}.0 and never open "
                f"{names[0]}",
                FileRepair.rename(Path(path) / names[0], Path(path) / f"{new}.{slot}"),
                misnamed_dn=subject))
        store.cas.append(CA(cert, subject, subject_hash(cert), subject_hash_old(cert),
                            tuple(names), fp, store.aliases.get(subject)))
        if public_key(cert) is None:
            store.bad_files.append(FileProblem(
                names[0], f"{', '.join(names)} ({subject}) has {unreadable_key(cert)}: OpenSSL "
                "can check no certificate or CRL this CA signed",
                FileRepair.reinstall(Path(path) / names[0]),
                dn=subject))
    by_hash: dict[str, list[CA]] = {}
    for ca in store.cas:
        by_hash.setdefault(ca.hash, []).append(ca)
        if ca.hash_old != ca.hash:
            by_hash.setdefault(ca.hash_old, []).append(ca)
    old_only = {ca.hash_old for ca in store.cas} - {ca.hash for ca in store.cas}
    # CRLs of a CA that sits only in a file CA-003 reports are not a CRL problem of their own.
    unusable = {p.name.split(".")[0] for p in store.bad_files if p.dn is not None}
    for entry in crl_entries:
        if entry.name.split(".")[0] in old_only:  # fetch-crl's copy OpenSSL never reads
            store.crls[entry.name] = CRLFile(entry.name)
            continue
        crl = _read_crl(entry, by_hash, unusable)
        if crl is None:  # not a file at all: CA-003 names it (see _special_problem)
            store.bad_files.append(_special_problem(entry))
            continue
        store.crls[entry.name] = crl
    return store


def _real_path(entry: os.DirEntry, real_dir: str) -> str:
    """``os.path.realpath`` of a link in the directory (``real_dir`` resolved already).

    IGTF and ``openssl rehash`` link ``<hash>.0`` to a file next to it by its bare name: that
    resolves to ``real_dir/<name>`` without walking every component of the path again, which
    for 150 links is a visible part of the scan.  Anything else (a path, a link to a link, a
    link that cannot be read) is left to ``realpath``.
    """
    try:
        target = os.readlink(entry.path)
        if target and "/" not in target and target not in (".", ".."):
            candidate = os.path.join(real_dir, target)
            if not os.path.islink(candidate):
                return candidate
    except OSError:
        pass
    return os.path.realpath(entry.path)


def _lenient_subject(data: bytes) -> Optional[str]:
    """The subject DN of the first certificate in ``data`` (PEM or DER), read with the strict
    DER walker alone: a certificate ``cryptography`` refuses may still say whose it is."""
    from mu3e_checks.knowledge.pki import pem_blocks

    blob = data
    for label, block in pem_blocks(data):
        if label in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            body = b"".join(ln for ln in block.splitlines() if not ln.startswith(b"-----"))
            try:
                blob = base64.b64decode(body, validate=False)
            except (binascii.Error, ValueError):
                return None
            break
    try:
        outer, _ = _der.read_tlv(blob, 0)
        tbs = _der.seq(outer, "Certificate")[0].raw
        return _der.lenient_dn(_der.tbs_names(tbs)[1]) or None
    except (_der.DerError, IndexError, ValueError):
        return None


def _special_problem(entry: os.DirEntry) -> FileProblem:
    """A FIFO, device or socket under a name OpenSSL or fetch-crl opens: both would block."""
    try:
        read_bytes(Path(entry.path))
        why = f"{entry.name} cannot be read"
    except Unreadable as exc:
        why = _problem_for_unreadable(entry, str(exc))
    return FileProblem(entry.name, f"{why}; OpenSSL and fetch-crl would block or fail on it",
                       FileRepair.remove(Path(entry.path)))


def _is_special(entry: os.DirEntry) -> bool:
    """True for a FIFO, device or socket (following links); a dangling link is not special."""
    import stat

    try:
        mode = os.stat(entry.path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _scan_info(store: TrustStore, entry: os.DirEntry) -> None:
    """Record an IGTF ``.info`` file's alias; one fetch-crl would block on is a finding."""
    try:
        data = read_bytes(Path(entry.path), _INFO_LIMIT)
    except Unreadable as exc:
        if _is_special(entry) or "larger than" in str(exc):
            store.bad_files.append(FileProblem(
                entry.name, f"{_problem_for_unreadable(entry, str(exc))}; fetch-crl reads "
                "every .info file and would block or run out of memory on it",
                FileRepair.remove(Path(entry.path))))
        return
    info = parse_info(data)
    if info.dn and info.alias:
        store.aliases[info.dn] = info.alias
    if info.dn:
        store.infos[dn_key(info.dn)] = info


#: ASCII whitespace, as ``bytes.split()`` knows it: base64 lines may be wrapped by any of it.
_WHITESPACE = b" \t\n\r\x0b\x0c"


def _without_whitespace(body: bytes) -> bytes:
    """``b"".join(body.split())``, fast on a large CRL: the line breaks go by ``replace`` (a
    memchr-speed pass), and only a text that also holds other whitespace gets the per-byte
    ``translate``; splitting a 10 MB CRL into lines took longer than decoding it."""
    text = body.replace(b"\n", b"")
    if any(c in text for c in (b"\r", b" ", b"\t", b"\x0b", b"\x0c")):
        text = text.translate(None, _WHITESPACE)
    return text


def _pem_crl_body(data: bytes) -> Optional[bytes]:
    """The base64 text of the first PEM CRL block (plain ``find``: a regex is slow on 10 MB)."""
    begin, end = b"-----BEGIN X509 CRL-----", b"-----END X509 CRL-----"
    start = data.find(begin)
    stop = data.find(end, start + len(begin)) if start >= 0 else -1
    return data[start + len(begin):stop] if stop >= 0 else None


def _der_tbs(der: bytes) -> Optional[memoryview]:
    """The tbsCertList bytes of a DER CRL, sliced out as they are (None if malformed).

    ``CertificateList ::= SEQUENCE { tbsCertList SEQUENCE, signatureAlgorithm, signature }``.
    Slicing a memoryview costs nothing (a 100k-entry CRL is 3.5 MB, and no copy is made);
    cryptography's ``is_signature_valid`` re-encodes every revoked entry first, which is
    most of the time spent on a 100k-entry CRL.
    """
    try:
        outer, _ = _der.read_tlv(memoryview(der), 0)  # type: ignore[arg-type]
        _der.expect(outer, _der.SEQUENCE, "CRL")
        inner, _ = _der.read_tlv(outer.content, 0)
        return _der.expect(inner, _der.SEQUENCE, "tbsCertList").raw
    except _der.DerError:
        return None


def crl_signed_by(crl: x509.CertificateRevocationList, der: bytes,
                  issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``crl`` (``der`` is the CRL's own DER encoding)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    pub = public_key(issuer)
    if pub is None:
        return False
    tbs = _der_tbs(der)
    try:
        if tbs is not None and isinstance(pub, rsa.RSAPublicKey):
            pub.verify(crl.signature, tbs, crl.signature_algorithm_parameters,  # type: ignore
                       crl.signature_hash_algorithm)  # type: ignore[arg-type]
        elif tbs is not None and isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(crl.signature, tbs, crl.signature_algorithm_parameters)  # type: ignore
        else:
            return crl.is_signature_valid(pub)  # type: ignore[arg-type]
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        return False
    return True


def crl_damage(crl: x509.CertificateRevocationList, openssl: bool = False) -> Optional[str]:
    """What in a CRL cannot be decoded, or (``openssl``) what makes OpenSSL refuse it, or None.

    ``cryptography`` decodes the issuer name, the dates and the extensions only when they are
    touched; checking them once, where the file is read, keeps every later use from breaking
    on them.  The revoked entries OpenSSL decodes when it loads the CRL for a chain check: that
    costs as much as the check itself on a large CRL, so the scan leaves it to
    :func:`.verify.openssl_refusal`, asked only about the CRLs the user relies on.
    """
    try:
        _ = crl.issuer.rfc4514_string()
    except DECODE_ERRORS:
        return "has an issuer name that is not valid text"
    for which, attr in (("thisUpdate", "last_update_utc"), ("nextUpdate", "next_update_utc")):
        try:
            getattr(crl, attr)
        except DECODE_ERRORS as exc:
            return f"has a {which} date that cannot be read ({first_line(exc)[:80]})"
    try:
        _ = crl.extensions
    except x509.DuplicateExtension as exc:
        return f"has the extension {extension_name(exc.oid)} twice"
    except DECODE_ERRORS:
        return "has an extension that cannot be decoded"
    if not openssl:
        return None
    from OpenSSL import crypto

    try:
        crypto.X509Store().add_crl(crl)
    except crypto.Error as exc:
        return f"cannot be loaded by {openssl_name()} ({openssl_reason(exc)})"
    return None


@functools.lru_cache(maxsize=1)
def openssl_name() -> str:
    """The OpenSSL that judges chains here (pyOpenSSL's), by version: newer ones refuse some
    malformed CRLs an older ``openssl`` command still loads."""
    from cryptography.hazmat.backends.openssl import backend

    return " ".join(backend.openssl_version_text().split()[:2]) or "OpenSSL"


def _read_crl(entry: os.DirEntry, by_hash: dict[str, list[CA]],
              unusable: frozenset[str] | set[str] = frozenset()) -> Optional[CRLFile]:
    """Parse one CRL file (PEM or DER) and check it against the CA its name points at.

    None when the entry is a FIFO, device or socket: that is a file problem, not a CRL.
    """
    name = entry.name
    try:
        data = read_bytes(Path(entry.path))
    except Unreadable as exc:
        if _is_special(entry):
            return None
        return CRLFile(name, problem=_problem_for_unreadable(entry, str(exc)))
    try:
        if b"-----BEGIN" in data:
            body = _pem_crl_body(data)
            if body is None:
                if b"-----BEGIN X509 CRL-----" in data:
                    raise ValueError("truncated")
                return CRLFile(name, problem=f"{name} is a PEM file but holds no X509 CRL")
            der, enc = base64.b64decode(_without_whitespace(body), validate=True), "PEM"
        else:
            der, enc = data, "DER"
        crl = x509.load_der_x509_crl(der)
    except x509.InvalidVersion as exc:
        return CRLFile(name, problem=f"{name} claims CRL version {exc.parsed_version + 1}, "
                       "which does not exist (only versions 1 and 2 do): it is not a readable "
                       "CRL")
    except (ValueError, binascii.Error) as exc:
        what = "empty" if not data.strip() else "damaged or truncated"
        place = decode_place(exc)
        return CRLFile(name, problem=f"{name} is {what}: it is not a readable CRL (PEM or DER)"
                       + (f"; its {place} cannot be decoded" if place else ""))
    damage = crl_damage(crl)
    if damage:
        return CRLFile(name, None, enc, f"{name} {damage}, so it cannot be used as a CRL")
    nxt, last = crl.next_update_utc, crl.last_update_utc
    cas = by_hash.get(name.split(".")[0], [])
    named = [ca for ca in cas if ca.cert.subject == crl.issuer]
    if not named and name.split(".")[0] in unusable:  # CA-003 reports that CA's file
        return CRLFile(name, crl, enc, "", None, nxt, last)
    if not named:
        owner = cas[0].subject if cas else "no CA in this directory"
        return CRLFile(name, crl, enc, f"{name} is the CRL of {dn_slash(crl.issuer)}, but its "
                       f"name belongs to {owner}", None, nxt, last)
    # A CA re-keyed under the same DN leaves two CAs with this name (<hash>.0, <hash>.1):
    # OpenSSL takes the CRL for whichever of them signed it.
    # Each signature is checked once (hashing a 100k-entry CRL is most of its cost here).
    signer = next((c for c in named if crl_signed_by(crl, der, c.cert)), None)
    ca = signer or named[0]
    if public_key(ca.cert) is None:  # no signature can be checked: CA-003 reports the CA
        return CRLFile(name, crl, enc, "", ca, nxt, last)
    if signer is None:
        return CRLFile(name, crl, enc, f"{name} claims to be the CRL of {ca.subject} but is "
                       "not signed by that CA's key (damaged, or from an impostor)", ca, nxt,
                       last)
    if enc == "DER":
        return CRLFile(name, crl, enc, f"{name} (the CRL of {ca.subject}) is in DER (binary) "
                       "form; OpenSSL reads only PEM CRLs in a CA directory, so it never finds "
                       "it", ca, nxt, last, FileRepair.der_to_pem("crl", Path(entry.path)))
    return CRLFile(name, crl, enc, "", ca, nxt, last)
