"""The fuzz corpus of issue 10: hundreds of malformed inputs, each ending in a named verdict.

Every file the diagnosis reads is mutated (usercert.pem, userkey.pem, a .p12, CA and CRL files
and their .info/.signing_policy/.crl_url/.namespaces, the proxy, dirac.cfg, vomses, vomsdir .lsc,
DIRAC's dist-info METADATA, .diracos_version) and so are the environment values that name
them; special files (FIFOs, /dev/zero and /dev/null links, link loops, dangling links,
directories) take a regular file's place.  For every run: exit code 0 or 1 within its timeout, no
INTERNALERROR, no traceback, no "the check itself broke", a ``check`` and a ``fix`` on every
failure, no private-key base64 in stdout, stderr, JUnit, JSON or HTML, no raw ESC/NUL/bidi
character in stdout or JUnit, and the user's files unchanged.

Budget: the corpus shares one warm interpreter (tests/support/hostile.py, ``DiagnosisPool``)
and runs two at a time.  Mutations of files no check compares with each other share one run
(row "A" mutates usercert.pem, the proxy and the CA directory together; row "B" userkey.pem,
dirac.cfg, .diracos_version, METADATA, vomses and .lsc files; row "E" one value of each
environment variable), so a failing row names every input it carried.  DIRACOS and
DIRAC_ROOT_PATH values share "D" rows; each pass-phrase file and each .p12 export gets a run
of its own.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ed25519
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    NoEncryption,
    pkcs12,
)

from tests.support import pki_factory
from tests.support.hostile import (
    INJECTIONS,
    SPECIALS,
    DiagnosisPool,
    Job,
    digest_changes,
    junk,
    make_special,
    pem_mutations,
    private_key_fragments,
    problems_of,
    tree_digest,
)
from tests.support.pki_factory import VOMS_AC_OID, new_key, pem, subject_hash
from tests.support.worlds import UKGrid, complete_setup

#: The whole corpus must finish in this many seconds on two cores (issue 10: "fast enough to
#: run in CI").
BUDGET = 120.0
#: A single run ends within this, or it counts as a hang.
RUN_TIMEOUT = 30.0

_DUMMY = b"-----BEGIN CERTIFICATE-----\nQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n-----END CERTIFICATE-----\n"
PEM_NAMES = list(pem_mutations(_DUMMY, label=b"CERTIFICATE", der=b"0", other=b"x"))


# ------------------------------------------------------------------------- the world


@dataclass
class Row:
    """One home and its environment, mutated by one or more inputs."""

    base: Path
    home: Path
    env: dict[str, str]
    ctx: Ctx

    @property
    def globus(self) -> Path:
        return self.home / ".globus"

    @property
    def prefix(self) -> Path:
        return self.home / "dirac_ui" / "diracos"

    @property
    def cadir(self) -> Path:
        return UKGrid.cadir(self.home)

    @property
    def proxy(self) -> Path:
        return Path(self.env["X509_USER_PROXY"])

    @property
    def metadata(self) -> Path:
        site = next(self.prefix.glob("lib/python*/site-packages"))
        return next(p for p in site.iterdir() if p.name.lower().startswith("dirac-")
                    and p.name.endswith(".dist-info")) / "METADATA"


class Ctx:
    """Objects built once for the whole corpus: the grid, odd keys and certificates."""

    def __init__(self) -> None:
        self.uk = UKGrid()
        pki, ca = self.uk.pki, self.uk.ca
        self.ec_user = pki.user(ca, "EC Physicist", key_kind="ec", key_size=256)
        self.ed_key = ed25519.Ed25519PrivateKey.generate()
        self.ed_user = pki.user(ca, "Ed Physicist", key=self.ed_key)
        self.dsa_key = dsa.generate_private_key(2048)
        self.user_key_pem = self.uk.user.key_pem()
        self.user_key_pkcs1 = self.uk.user.key_pem("pkcs1")
        self.encrypted_key = self.uk.user.key_pem(passphrase=b"secret pass phrase")
        self.encrypted_pkcs1 = self.uk.user.key_pem("pkcs1", passphrase=b"secret pass phrase")
        self.other_crl = pki.crl(self.uk.other)

    def fragments(self) -> frozenset[str]:
        """Base64 of every private key any home in the corpus holds (the test key cache)."""
        keys = [k for cached in pki_factory._KEYS.values() for k in cached]
        return private_key_fragments(keys + [self.ed_key, self.dsa_key], self.encrypted_key,
                                     self.encrypted_pkcs1)


def _special_or(fn: Callable[[Row], Path], kind: str) -> Callable[[Row], None]:
    return lambda row: make_special(fn(row), kind)


def _pem_family(target: Callable[[Row], Path], good: Callable[[Row], bytes], label: bytes,
                der: Callable[[Row], bytes], other: Callable[[Row], bytes]
                ) -> dict[str, Callable[[Row], None]]:
    def mutation(name: str) -> Callable[[Row], None]:
        def apply(row: Row) -> None:
            content = pem_mutations(good(row), label=label, der=der(row),
                                    other=other(row))[name]
            path = target(row)
            mode = path.stat().st_mode & 0o777
            path.write_bytes(content)
            os.chmod(path, mode)
        return apply

    family = {name: mutation(name) for name in PEM_NAMES}
    family.update({kind: _special_or(target, kind) for kind in SPECIALS})
    return family


def _write(target: Callable[[Row], Path], content: Callable[[Row], bytes]
           ) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        path = target(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
        path.write_bytes(content(row))
        os.chmod(path, mode)
    return apply


# ------------------------------------------------------------------------- families

def _cert(row: Row) -> Path:
    return row.globus / "usercert.pem"


def _key(row: Row) -> Path:
    return row.globus / "userkey.pem"


CERT = _pem_family(_cert, lambda r: _cert(r).read_bytes(), b"CERTIFICATE",
                   lambda r: r.ctx.uk.user.cert_der(), lambda r: r.ctx.user_key_pem)
CERT.update({
    "ec-p256-certificate": _write(_cert, lambda r: pem(r.ctx.ec_user)),
    "ed25519-certificate": _write(_cert, lambda r: pem(r.ctx.ed_user)),
    "proxy-file-as-usercert": _write(_cert, lambda r: r.proxy.read_bytes()),
    "ca-certificate-as-usercert": _write(_cert, lambda r: pem(r.ctx.uk.ca)),
    "crl-as-usercert": _write(_cert, lambda r: r.ctx.other_crl.public_bytes(
        serialization.Encoding.PEM)),
})

KEY = _pem_family(_key, lambda r: _key(r).read_bytes(), b"PRIVATE KEY",
                  lambda r: r.ctx.uk.user.key.private_bytes(
                      serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                      NoEncryption()),
                  lambda r: pem(r.ctx.uk.user))
KEY.update({
    "ec-key": _write(_key, lambda r: r.ctx.ec_user.key_pem()),
    "ed25519-key": _write(_key, lambda r: r.ctx.ed_user.key_pem()),
    "dsa-key": _write(_key, lambda r: r.ctx.dsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NoEncryption())),
    "encrypted-pkcs8-no-passphrase": _write(_key, lambda r: r.ctx.encrypted_key),
    "encrypted-pkcs1-no-passphrase": _write(_key, lambda r: r.ctx.encrypted_pkcs1),
    "rsa-1024-key": _write(_key, lambda r: new_key(1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NoEncryption())),
})


def _proxy_with(extensions) -> Callable[[Row], bytes]:
    def build(row: Row) -> bytes:
        uk = row.ctx.uk
        return uk.pki.proxy(uk.pki.proxy(uk.user, group="mu3e.org_user"),
                            extensions=extensions).proxy_file()
    return build


PROXY = _pem_family(lambda r: r.proxy, lambda r: r.proxy.read_bytes(), b"CERTIFICATE",
                    lambda r: r.ctx.uk.user.cert_der(), lambda r: r.ctx.user_key_pkcs1)
PROXY.update({
    "usercert-and-long-term-key": _write(lambda r: r.proxy, lambda r: pem(r.ctx.uk.user)
                                         + r.ctx.user_key_pem),
    "proxy-without-key": _write(lambda r: r.proxy, lambda r: b"".join(
        p for p in _blocks(r.proxy.read_bytes()) if b"PRIVATE" not in p)),
    "key-first": _write(lambda r: r.proxy, lambda r: b"".join(
        sorted(_blocks(r.proxy.read_bytes()), key=lambda p: b"PRIVATE" not in p))),
    "voms-extension-junk": _write(lambda r: r.proxy, _proxy_with(
        [(VOMS_AC_OID, b"\x30\x03\x02\x01")])),
    "voms-extension-truncated": _write(lambda r: r.proxy, _proxy_with(
        [(VOMS_AC_OID, b"\x30\x82\xff\xff\x30\x82\xff\xff\x30\x00")])),
    "voms-extension-deep-nesting": _write(lambda r: r.proxy, _proxy_with(
        [(VOMS_AC_OID, b"\x30\x80" * 2000 + b"\x00\x00" * 2000)])),
})


def _blocks(data: bytes) -> list[bytes]:
    out, cur = [], b""
    for line in data.splitlines(keepends=True):
        cur += line
        if line.startswith(b"-----END"):
            out.append(cur)
            cur = b""
    return out


def _cfg(row: Row) -> Path:
    return row.prefix / "etc" / "dirac.cfg"


_GOOD_CFG = "DIRAC\n{\n  Setup = GridPP\n  Configuration\n  {\n    Servers = " \
            "dips://diracweb.grid.hep.ph.ic.ac.uk:9135/Configuration/Server\n  }\n}\n"
CFG: dict[str, Callable[[Row], None]] = {
    name: _write(_cfg, content) for name, content in {
        "empty": lambda r: b"",
        "unclosed-section": lambda r: b"DIRAC\n{\n  Setup = GridPP\n  Configuration\n  {\n",
        "extra-closing-brace": lambda r: _cfg(r).read_bytes() + b"}\n}\n",
        "binary-junk": lambda r: junk(8192, 3),
        "nul-bytes": lambda r: _cfg(r).read_bytes().replace(b"GridPP", b"Grid\x00PP"),
        "invalid-utf8-value": lambda r: _cfg(r).read_bytes().replace(b"GridPP", b"Grid\xff\xfe"),
        "huge-4mb": lambda r: _GOOD_CFG.encode() + b"Junk\n{\n" + b"  Option = value\n"
                              * (4 << 16) + b"}\n",
        "deep-nesting-5000": lambda r: b"S\n{\n" * 5000 + b"}\n" * 5000,
        "deep-unclosed-100000": lambda r: b"S{\n" * 100000,
        "one-2mb-line": lambda r: b"DIRAC\n{\n  Setup = " + b"G" * (2 << 20) + b"\n}\n",
        "escapes-in-values": lambda r: _GOOD_CFG.replace(
            "GridPP", "Grid\x1b]0;PWNED\x07\x1b[2JPP\u202e").encode(),
        "injection-in-servers": lambda r: _GOOD_CFG.replace(
            "dips://diracweb", "dips://x$(touch PWNED)`touch PWNED`;touch PWNED;'\"diracweb"
        ).encode(),
        "private-key-as-cfg": lambda r: r.ctx.user_key_pem,
        "certificate-as-cfg": lambda r: pem(r.ctx.uk.user),
        "utf16": lambda r: _GOOD_CFG.encode("utf-16"),
        "crlf": lambda r: _GOOD_CFG.replace("\n", "\r\n").encode(),
        "options-outside-sections": lambda r: b"= = =\nSetup = GridPP\n{\n}\n" + _GOOD_CFG.encode(),
        "bidi-section-name": lambda r: _GOOD_CFG.replace("DIRAC\n", "DI\u202eRAC\n").encode(),
        "include-dev-zero": lambda r: b"@@include /dev/zero\n" + _GOOD_CFG.encode(),
        "equals-only-lines-x100000": lambda r: b"=\n" * 100000,
    }.items()}
CFG.update({kind: _special_or(_cfg, kind) for kind in SPECIALS})


def _dv(row: Row) -> Path:
    return row.prefix / ".diracos_version"


DIRACOS_VERSION: dict[str, Callable[[Row], None]] = {
    name: _write(_dv, content) for name, content in {
        "empty": lambda r: b"",
        "binary-junk": lambda r: junk(512, 4),
        "huge-4mb": lambda r: b"DIRACOS2 2.49\n" + b"x" * (4 << 20),
        "invalid-utf8": lambda r: b"DIRACOS2 \xff\xfe2.49\n",
        "escapes": lambda r: b"DIRACOS2 2.49\x1b]0;PWNED\x07\x1b[2J\xe2\x80\xae\n",
        "nul": lambda r: b"DIRACOS2 \x002.49\n",
        "private-key": lambda r: r.ctx.user_key_pem,
        "no-version": lambda r: b"DIRACOS2\n",
    }.items()}
DIRACOS_VERSION.update({kind: _special_or(_dv, kind) for kind in SPECIALS})


def _md(row: Row) -> Path:
    return row.metadata


METADATA: dict[str, Callable[[Row], None]] = {
    name: _write(_md, content) for name, content in {
        "empty": lambda r: b"",
        "binary-junk": lambda r: junk(4096, 5),
        "no-version": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\n",
        "escapes-in-version": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\n"
                                        b"Version: 8.0.74\x1b]0;PWNED\x07\x1b[2J\n",
        "nul-in-version": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\nVersion: 8.0\x0074\n",
        "huge-4mb-headers": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\nVersion: 8.0.74\n"
                                      + b"Classifier: x\n" * (300000),
        "invalid-utf8": lambda r: b"Metadata-Version: 2.1\nName: DI\xffRAC\nVersion: 8.0.\xfe\n",
        "nonsense-requires-python": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\n"
                                              b"Version: 8.0.74\nRequires-Python: >=(((;$(x)\n",
        "private-key": lambda r: r.ctx.user_key_pem,
        "version-injection": lambda r: b"Metadata-Version: 2.1\nName: DIRAC\n"
                                       b"Version: 8.0.74$(touch PWNED)\n",
    }.items()}
METADATA.update({kind: _special_or(_md, kind) for kind in SPECIALS})


def _vomses_dir(row: Row) -> Path:
    return row.prefix / "etc" / "grid-security" / "vomses"


def _vomses_contents(row: Row) -> None:
    d = _vomses_dir(row)
    for name, content in {
        "empty": b"", "binary": junk(2048, 6), "userkey.pem": row.ctx.user_key_pem,
        "long-line": b'"mu3e.org" "' + b"h" * (1 << 20) + b'"\n',
        "unbalanced": b'"mu3e.org "voms.gridpp.ac.uk" "15511\n',
        "escapes": b'"mu3e.org" "\x1b]0;PWNED\x07" "15511" "/CN=\x1b[2J\xe2\x80\xae" "mu3e"\n',
        "invalid-utf8": b'"mu3e.org" "\xff\xfe" "15511" "/CN=\xc3(" "mu3e.org"\n',
        "huge": b'"x" "y" "1" "/CN=z" "x"\n' * 100000, "utf16": '"mu3e.org"'.encode("utf-16"),
        "fields": b'"a" ' * 5000 + b"\n",
    }.items():
        (d / name).write_bytes(content)


VOMSES: dict[str, Callable[[Row], None]] = {"ten-broken-files": _vomses_contents}
VOMSES.update({kind: (lambda k: lambda r: make_special(_vomses_dir(r) / f"bad-{k}", k))(kind)
               for kind in SPECIALS if kind != "dev-null"})


def _lsc_dir(row: Row) -> Path:
    return row.prefix / "etc" / "grid-security" / "vomsdir" / "mu3e.org"


def _lsc_contents(row: Row) -> None:
    d = _lsc_dir(row)
    for name, content in {
        "empty": b"", "binary": junk(2048, 7), "key": row.ctx.user_key_pem,
        "escapes": b"/CN=\x1b]0;PWNED\x07\n/CN=\x1b[2J\xe2\x80\xae\n",
        "huge": b"/C=UK/CN=x\n" * 200000, "one-line": b"/C=UK/CN=only one\n",
        "invalid-utf8": b"/CN=\xff\xfe\n/CN=\xc3(\n", "long-line": b"/CN=" + b"a" * (1 << 20),
    }.items():
        (d / f"{name}.example.org.lsc").write_bytes(content)


LSC: dict[str, Callable[[Row], None]] = {
    "eight-broken-lsc": _lsc_contents,
    "fifo-lsc": lambda r: make_special(_lsc_dir(r) / "fifo.example.org.lsc", "fifo"),
    "dev-zero-lsc": lambda r: make_special(_lsc_dir(r) / "zero.example.org.lsc", "dev-zero"),
    "good-lsc-is-directory": lambda r: make_special(_lsc_dir(r) / "voms.gridpp.ac.uk.lsc",
                                                    "directory"),
}


def _ca_pem(row: Row) -> bytes:
    return pem(row.ctx.uk.other)


def _crl_pem(row: Row) -> bytes:
    return row.ctx.other_crl.public_bytes(serialization.Encoding.PEM)


def _many_broken(label: bytes, suffix: str, good: Callable[[Row], bytes],
                 der: Callable[[Row], bytes]) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        for n, (_, content) in enumerate(pem_mutations(good(row), label=label, der=der(row),
                                                       other=row.ctx.user_key_pem).items()):
            (row.cadir / f"{0xa0000000 + n:08x}.{suffix}").write_bytes(content)
    return apply


def _policy_files(row: Row) -> None:
    h2b = subject_hash(row.ctx.uk.ca.cert)
    hroot = subject_hash(row.ctx.uk.root.cert)
    files = {
        f"{h2b}.info": junk(4096, 8),
        f"{h2b}.signing_policy": b"access_id_CA X509 '/C=UK/CN=x'\n" * 70000,
        f"{h2b}.crl_url": ("http://crl.example.org/" + INJECTIONS["newline"]
                           + INJECTIONS["esc-title"]).encode(),
        f"{h2b}.namespaces": b"TO Issuer \"/C=UK/\xff\xfe\" PERMIT Subject \"\xc3(\"\n",
        f"{hroot}.info": row.ctx.user_key_pem,
        f"{hroot}.signing_policy": b"",
        f"{hroot}.crl_url": b"http://$(touch PWNED)/`touch PWNED`.crl\n" * 3,
        f"{hroot}.namespaces": b"\x1b]0;PWNED\x07\x1b[2J\n",
    }
    for name, content in files.items():
        (row.cadir / name).write_bytes(content)


def _real_crl(row: Row) -> Path:
    return row.cadir / f"{subject_hash(row.ctx.uk.ca.cert)}.r0"


def _real_ca(row: Row, suffix: str) -> Path:
    return row.cadir / f"{subject_hash(row.ctx.uk.ca.cert)}.{suffix}"


TRUST: dict[str, Callable[[Row], None]] = {
    "29-broken-ca-files": _many_broken(b"CERTIFICATE", "0", _ca_pem,
                                       lambda r: r.ctx.uk.other.cert_der()),
    "29-broken-crl-files": _many_broken(b"X509 CRL", "r0", _crl_pem,
                                        lambda r: r.ctx.other_crl.public_bytes(
                                            serialization.Encoding.DER)),
    "8-broken-policy-files": _policy_files,
}
for _name in ("empty", "binary-junk", "truncated-half", "begin-1mb", "utf16", "other-object",
              "der", "good-then-4mb-junk"):
    TRUST[f"real-crl-{_name}"] = (lambda n: lambda r: _real_crl(r).write_bytes(
        pem_mutations(_real_crl(r).read_bytes(), label=b"X509 CRL",
                      der=r.ctx.other_crl.public_bytes(serialization.Encoding.DER),
                      other=r.ctx.user_key_pem)[n]))(_name)
for _suffix, _kinds in (("0", ("link-loop", "dangling-link", "directory", "dev-zero")),
                        ("1", ("fifo",)), ("r0", ("fifo", "dev-null", "directory")),
                        ("info", ("fifo", "dev-zero")), ("signing_policy", ("fifo",))):
    for _kind in _kinds:
        if _suffix == "0" or _suffix == "1":
            TRUST[f"new-{_suffix}-{_kind}"] = (lambda s, k: lambda r: make_special(
                r.cadir / f"b0000000.{s}", k))(_suffix, _kind)
        else:
            TRUST[f"real-ca-{_suffix}-{_kind}"] = (lambda s, k: lambda r: make_special(
                _real_ca(r, s), k))(_suffix, _kind)

#: Inputs a grouped mutation carries (for the corpus size).
GROUPED = {"29-broken-ca-files": len(PEM_NAMES), "29-broken-crl-files": len(PEM_NAMES),
           "8-broken-policy-files": 8, "ten-broken-files": 10, "eight-broken-lsc": 8}


def _env(value: Callable[[Row], str], var: str) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        row.env[var] = value(row)
    return apply


def _fifo(row: Row, name: str = "env-fifo") -> str:
    path = row.base / name
    if not path.exists():
        os.mkfifo(path, 0o600)
    return str(path)


_INVALID = os.fsdecode(b"/tmp/\xff\xfe\xc3(-nowhere")
_LONG = "/tmp/" + "a" * 100_000
ENV: dict[str, Callable[[Row], None]] = {
    "X509_CERT_DIR=a regular file": _env(lambda r: str(_cert(r)), "X509_CERT_DIR"),
    "X509_CERT_DIR=fifo": _env(_fifo, "X509_CERT_DIR"),
    "X509_CERT_DIR=/dev/zero": _env(lambda r: "/dev/zero", "X509_CERT_DIR"),
    "X509_CERT_DIR=invalid utf-8": _env(lambda r: _INVALID, "X509_CERT_DIR"),
    "X509_CERT_DIR=100k chars": _env(lambda r: _LONG, "X509_CERT_DIR"),
    "X509_CERT_DIR=relative": _env(lambda r: "certificates", "X509_CERT_DIR"),
    "X509_CERT_DIR=injection": _env(lambda r: str(r.cadir) + INJECTIONS["newline"]
                                    + INJECTIONS["esc-title"], "X509_CERT_DIR"),
    "X509_CERT_DIR=~/.globus": _env(lambda r: str(r.globus), "X509_CERT_DIR"),
    "X509_USER_PROXY=directory": _env(lambda r: str(r.home), "X509_USER_PROXY"),
    "X509_USER_PROXY=fifo": _env(_fifo, "X509_USER_PROXY"),
    "X509_USER_PROXY=/dev/zero": _env(lambda r: "/dev/zero", "X509_USER_PROXY"),
    "X509_USER_PROXY=invalid utf-8": _env(lambda r: _INVALID, "X509_USER_PROXY"),
    "X509_USER_PROXY=100k chars": _env(lambda r: _LONG, "X509_USER_PROXY"),
    "X509_USER_PROXY=userkey.pem": _env(lambda r: str(_key(r)), "X509_USER_PROXY"),
    "X509_USER_CERT=/dev/zero": _env(lambda r: "/dev/zero", "X509_USER_CERT"),
    "X509_USER_CERT=directory": _env(lambda r: str(r.globus), "X509_USER_CERT"),
    "X509_USER_KEY=fifo": _env(_fifo, "X509_USER_KEY"),
    "X509_USER_KEY=/dev/urandom": _env(lambda r: "/dev/urandom", "X509_USER_KEY"),
    "X509_VOMSES=/dev/zero": _env(lambda r: "/dev/zero", "X509_VOMSES"),
    "X509_VOMSES=~/.globus": _env(lambda r: str(r.globus), "X509_VOMSES"),
    "X509_VOMSES=fifo": _env(_fifo, "X509_VOMSES"),
    "X509_VOMS_DIR=a regular file": _env(lambda r: str(_cert(r)), "X509_VOMS_DIR"),
    "X509_VOMS_DIR=~/.globus": _env(lambda r: str(r.globus), "X509_VOMS_DIR"),
    "DIRACOS=/dev/null": _env(lambda r: "/dev/null", "DIRACOS"),
    "DIRACOS=invalid utf-8": _env(lambda r: _INVALID, "DIRACOS"),
    "DIRACOS=100k chars": _env(lambda r: _LONG, "DIRACOS"),
    "DIRACSYSCONFIG=/dev/zero": _env(lambda r: "/dev/zero", "DIRACSYSCONFIG"),
    "DIRACSYSCONFIG=userkey.pem": _env(lambda r: str(_key(r)), "DIRACSYSCONFIG"),
    "DIRACSYSCONFIG=fifo": _env(_fifo, "DIRACSYSCONFIG"),
    "DIRACSYSCONFIG=list of broken": _env(lambda r: f"{_key(r)},/dev/zero,{r.home},,"
                                          + _INVALID, "DIRACSYSCONFIG"),
    "DIRAC_ROOT_PATH=a regular file": _env(lambda r: str(_cert(r)), "DIRAC_ROOT_PATH"),
    "MU3E_PASSPHRASE_FILE=fifo": _env(_fifo, "MU3E_PASSPHRASE_FILE"),
    "MU3E_PASSPHRASE_FILE=/dev/zero": _env(lambda r: "/dev/zero", "MU3E_PASSPHRASE_FILE"),
}


def _p12(content: Callable[[Row], bytes]) -> Callable[[Row], None]:
    def apply(row: Row) -> None:
        for f in (_cert(row), _key(row)):
            f.unlink()
        (row.home / "my_grid_cert.p12").write_bytes(content(row))
    return apply


def _good_p12(row: Row) -> bytes:
    uk = row.ctx.uk
    return pkcs12.serialize_key_and_certificates(b"me", uk.user.key, uk.user.cert, None,
                                                 BestAvailableEncryption(b"pw"))


P12: dict[str, Callable[[Row], None]] = {
    "p12-empty": _p12(lambda r: b""),
    "p12-junk": _p12(lambda r: junk(3000, 9)),
    "p12-truncated": _p12(lambda r: _good_p12(r)[:200]),
    "p12-is-pem": _p12(lambda r: pem(r.ctx.uk.user) + r.ctx.user_key_pem),
    "p12-no-certificate": _p12(lambda r: pkcs12.serialize_key_and_certificates(
        b"x", r.ctx.uk.user.key, None, None, NoEncryption())),
    "p12-fifo": lambda r: (_cert(r).unlink(), _key(r).unlink(),
                           make_special(r.home / "my_grid_cert.p12", "fifo")),
    "p12-dev-zero": lambda r: (_cert(r).unlink(), _key(r).unlink(),
                               make_special(r.globus / "zero.p12", "dev-zero")),
    "p12-directory": lambda r: (_cert(r).unlink(), _key(r).unlink(),
                                make_special(r.globus / "dir.p12", "directory")),
}


# ------------------------------------------------------------------------- rows


def _zip_rows(prefix: str, families: dict[str, dict[str, Callable[[Row], None]]]
              ) -> list[tuple[str, list[tuple[str, str]]]]:
    """Row i of ``prefix`` carries mutation i of each family (families do not interfere)."""
    names = {fam: list(muts) for fam, muts in families.items()}
    width = max(len(v) for v in names.values())
    return [(f"{prefix}{i:02d}", [(fam, names[fam][i]) for fam in families
                                  if i < len(names[fam])]) for i in range(width)]


FAMILIES = {"cert": CERT, "key": KEY, "proxy": PROXY, "cfg": CFG, "diracos_version":
            DIRACOS_VERSION, "metadata": METADATA, "vomses": VOMSES, "lsc": LSC,
            "trust": TRUST, "p12": P12}
#: One family per variable: different variables share a run, except the two that move DIRAC
#: itself (DIRACOS, DIRAC_ROOT_PATH), which would take the other variables' checks with them.
_BY_VARIABLE: dict[str, dict[str, Callable[[Row], None]]] = {}
for _label, _apply in ENV.items():
    _BY_VARIABLE.setdefault("env:" + _label.split("=", 1)[0], {})[_label] = _apply
FAMILIES.update(_BY_VARIABLE)
_MOVERS = ("env:DIRACOS", "env:DIRAC_ROOT_PATH")
#: Read only on the key's behalf; a hang there must not hide the other variables' findings.
_ALONE = ("env:MU3E_PASSPHRASE_FILE",)
ROWS = (_zip_rows("A", {f: FAMILIES[f] for f in ("cert", "proxy", "trust")})
        + _zip_rows("B", {f: FAMILIES[f] for f in ("key", "cfg", "diracos_version",
                                                     "metadata", "vomses", "lsc")})
        + _zip_rows("E", {f: m for f, m in _BY_VARIABLE.items()
                          if f not in _MOVERS + _ALONE})
        + _zip_rows("D", {f: FAMILIES[f] for f in _MOVERS})
        + [(f"K{i:02d}", [(f, n)]) for f in _ALONE for i, n in enumerate(FAMILIES[f])]
        + [(f"P{i:02d}", [("p12", n)]) for i, n in enumerate(P12)])
ROW_INPUTS = {rid: muts for rid, muts in ROWS}


def _input_count() -> int:
    return sum(GROUPED.get(name, 1) for _, muts in ROWS for _, name in muts)


@dataclass
class CorpusRun:
    outcomes: dict
    changed: dict[str, list[str]]
    fragments: frozenset[str]
    seconds: float


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> CorpusRun:
    ctx = Ctx()
    root = tmp_path_factory.mktemp("corpus")
    jobs, before, bases = [], {}, {}
    for rid, muts in ROWS:
        base = root / rid
        home, env = complete_setup(ctx.uk, base)
        # complete_setup leaves the proxy beside the home: it is part of the user's files.
        row = Row(base, home, dict(env), ctx)
        for fam, name in muts:
            FAMILIES[fam][name](row)
        bases[rid] = base
        before[rid] = tree_digest(base)
        jobs.append(Job(rid, home, [], row.env, timeout=RUN_TIMEOUT))
    started = time.monotonic()
    outcomes = DiagnosisPool(root / "pool", width=2).run(jobs, deadline=900)
    seconds = time.monotonic() - started
    changed = {rid: digest_changes(before[rid], tree_digest(bases[rid])) for rid in bases}
    run = CorpusRun(outcomes, changed, ctx.fragments(), seconds)
    yield run
    shutil.rmtree(root, ignore_errors=True)


def test_the_corpus_has_at_least_200_malformed_inputs_over_every_file_read():
    assert _input_count() >= 200, _input_count()
    touched = {fam for _, muts in ROWS for fam, _ in muts}
    assert touched == set(FAMILIES)
    for fam in ("cert", "key", "proxy", "cfg", "diracos_version", "metadata"):
        assert set(SPECIALS) <= set(FAMILIES[fam]), fam


@pytest.mark.parametrize("row", [rid for rid, _ in ROWS])
def test_malformed_input_ends_in_a_named_verdict(corpus, row):
    outcome = corpus.outcomes[row]
    problems = problems_of(outcome, fragments=corpus.fragments, changed=corpus.changed[row])
    inputs = ", ".join(name if fam.startswith("env:") else f"{fam}:{name}"
                       for fam, name in ROW_INPUTS[row])
    assert problems == [], (f"inputs [{inputs}] ({outcome.seconds:.1f} s):\n"
                            + "\n".join(problems) + "\n--- stdout tail ---\n"
                            + outcome.stdout[-1500:])


def test_the_corpus_runs_within_its_budget(corpus):
    hung = [rid for rid, o in corpus.outcomes.items() if o.timed_out]
    assert corpus.seconds < BUDGET + RUN_TIMEOUT * len(hung), (corpus.seconds, hung)
    assert corpus.seconds < BUDGET, (f"{len(ROWS)} runs took {corpus.seconds:.0f} s; "
                                     f"hangs: {hung}")
