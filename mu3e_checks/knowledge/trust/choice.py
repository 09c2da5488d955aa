"""Which CA directory DIRAC uses, and why: DIRAC 8.0.74's own lookup order, and diracosrc's.

DIRAC's ``getCAsLocation`` returns ``$X509_CERT_DIR`` even when it does not exist; without it,
``<rootPath>/etc/grid-security/certificates`` when that is a directory (rootPath is
``$DIRAC_ROOT_PATH``, else ``sys.base_prefix`` of the Python that runs DIRAC: the DIRACOS prefix
in DIRACOS, the base Python's prefix for a plain venv), then ``/etc/grid-security/certificates``.
diracosrc, when sourced, exports X509_CERT_DIR itself and prefers a *populated* system
directory.  The first thing a user needs to know is which directory is in play, and why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography import x509

from mu3e_checks.knowledge.files import describe_os_error
from mu3e_checks.knowledge.trust.judge import check_required
from mu3e_checks.knowledge.trust.scan import CA_FILE_RE, TrustStore, scan_trust_dir
from mu3e_checks.knowledge.trust.verify import verify_chain

SYSTEM_CERT_DIR = Path("/etc/grid-security/certificates")


def diracos_cert_dir(diracos: Path) -> Path:
    """Where the guide installs the CAs: ``<DIRACOS>/etc/grid-security/certificates``."""
    return diracos / "etc" / "grid-security" / "certificates"


def non_empty_dir(path: Path) -> bool:
    """True for a directory with at least one entry; never raises."""
    try:
        with os.scandir(path) as it:
            return any(True for _ in it)
    except OSError:
        return False


def has_ca_files(path: Path) -> bool:
    """True when ``path`` holds at least one ``<hash>.N`` file; never raises."""
    try:
        with os.scandir(path) as it:
            return any(CA_FILE_RE.match(e.name) for e in it)
    except OSError:
        return False


@dataclass(frozen=True)
class TrustDirChoice:
    """The CA directory DIRAC will use and the reason, as the report states it."""

    path: Path
    #: "--mu3e-trust-dir" | "$X509_CERT_DIR" | "DIRACOS" | "$DIRAC_ROOT_PATH" | "rootPath" |
    #: "system"
    source: str
    exported: Optional[str]  # the value of $X509_CERT_DIR, or None when it is not set

    @property
    def why(self) -> str:
        """Why DIRAC uses this directory, in words."""
        return {
            "--mu3e-trust-dir": "given with --mu3e-trust-dir",
            "$X509_CERT_DIR": "from $X509_CERT_DIR",
            "DIRACOS": "DIRACOS default (X509_CERT_DIR is not set)",
            "$DIRAC_ROOT_PATH": "under $DIRAC_ROOT_PATH (X509_CERT_DIR is not set)",
            "rootPath": "under DIRAC's rootPath, the base prefix of the Python that runs DIRAC "
                        "(X509_CERT_DIR is not set)",
            "system": "system directory (X509_CERT_DIR is not set)",
        }[self.source]

    def describe(self) -> str:
        return f"{self.path} ({self.why})"


def dirac_root_cert_dir(environ: Mapping[str, str], diracos: Path,
                        root: Optional[Path] = None) -> tuple[Path, str]:
    """``<rootPath>/etc/grid-security/certificates`` as DIRAC spells it, and its source.

    ``root`` is DIRAC's rootPath without ``$DIRAC_ROOT_PATH`` (``dirac_cfg.computed_root`` of its
    Python's base prefix); None or the DIRACOS prefix itself means DIRAC runs in DIRACOS.
    """
    value = environ.get("DIRAC_ROOT_PATH")
    if value is not None:  # DIRAC takes it as set even when empty ("" + "/etc/...")
        return Path(f"{value}/etc/grid-security/certificates"), "$DIRAC_ROOT_PATH"
    if root is not None and not same_dir(root, diracos):
        return diracos_cert_dir(root), "rootPath"
    return diracos_cert_dir(diracos), "DIRACOS"


def resolve_trust_dir(environ: Mapping[str, str], diracos: Path,
                      override: Optional[Path] = None,
                      system_dir: Path = SYSTEM_CERT_DIR, *,
                      root: Optional[Path] = None) -> TrustDirChoice:
    """The CA directory in play, in DIRAC 8.0.74's order (``Locations.getCAsLocation``).

    ``$X509_CERT_DIR`` wins even when it is missing or empty (DIRAC returns it unchecked);
    without it DIRAC uses ``<rootPath>/etc/grid-security/certificates`` when it is a directory,
    even an empty one, then ``/etc/grid-security/certificates``.  When neither exists DIRAC
    finds none; the report names the rootPath one, where the guide installs the CAs.
    ``root``: see :func:`dirac_root_cert_dir`.
    """
    exported = environ.get("X509_CERT_DIR") or None
    if override is not None:
        return TrustDirChoice(Path(override), "--mu3e-trust-dir", exported)
    if exported:
        return TrustDirChoice(Path(exported), "$X509_CERT_DIR", exported)
    own, source = dirac_root_cert_dir(environ, diracos, root)
    if os.path.isdir(own) or not os.path.isdir(system_dir):
        return TrustDirChoice(own, source, None)
    return TrustDirChoice(Path(system_dir), "system", None)


def ca_dir_problem(choice: TrustDirChoice) -> Optional[str]:
    """Why the chosen CA directory cannot serve as one, in a sentence, or None.

    DIRAC returns ``$X509_CERT_DIR`` unchecked, so a missing or empty directory only shows up
    later as "No valid CA dir found" or a TLS failure; this says it up front.
    """
    path = choice.path
    where = (f"X509_CERT_DIR={choice.exported}" if choice.source == "$X509_CERT_DIR"
             else f"the CA directory {path} ({choice.describe().split(' (', 1)[1]}")
    try:
        with os.scandir(path) as it:
            names = [e.name for e in it]
    except FileNotFoundError:
        return f"{where} does not exist"
    except NotADirectoryError:
        return f"{where} is a file, not a directory"
    except PermissionError:
        return f"{where} cannot be read: permission denied"
    except OSError as exc:
        return describe_os_error(path, exc)
    if not names:
        return f"{where} is empty: no CA certificates are installed there"
    if not any(CA_FILE_RE.match(n) for n in names):
        return (f"{where} holds {len(names)} files but no CA certificate named <hash>.0, "
                "which is the only name OpenSSL and DIRAC look for")
    return None


def same_dir(a: Path, b: Path) -> bool:
    """Whether two paths name one directory (links resolved when both exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


@dataclass(frozen=True)
class _Verdicts:
    """What one directory says about the things the user relies on."""

    chain: Optional[tuple[bool, int, str]]  # (ok, OpenSSL code, reason) for the user's cert
    missing: frozenset[str]  # required CAs this directory cannot serve

    def same_as(self, other: _Verdicts) -> bool:
        """The same verdict (the wording may name another directory)."""
        return ((self.chain or ())[:2] == (other.chain or ())[:2]
                and self.missing == other.missing)


def _verdicts(store: TrustStore, cert: Optional[x509.Certificate],
              required: Sequence[str]) -> _Verdicts:
    chain = None
    if cert is not None:
        v = verify_chain(cert, [], store)
        chain = (v.ok, v.code, v.reason)
    missing = frozenset(r.dn for r in check_required(store, required)
                        if r.problem or r.misnamed)
    return _Verdicts(chain, missing)


def _difference(a: Path, va: _Verdicts, b: Path, vb: _Verdicts) -> str:
    """The first way the two directories disagree, in a sentence."""
    if va.chain and vb.chain and (va.chain[0], va.chain[1]) != (vb.chain[0], vb.chain[1]):
        good, bad, why = (a, b, vb.chain[2]) if va.chain[0] else (b, a, va.chain[2])
        if va.chain[0] == vb.chain[0]:  # both fail, differently
            return f"your certificate fails differently in each: {va.chain[2]}; {vb.chain[2]}"
        return f"your certificate verifies against {good} but not against {bad}: {why}"
    for here, v_here, there, v_there in ((a, va, b, vb), (b, vb, a, va)):
        lost = sorted(v_there.missing - v_here.missing)
        if lost:
            return (f"{there} lacks the required CA(s) {', '.join(lost)} that {here} holds")
    return "they give different verdicts"


def two_dirs_problem(environ: Mapping[str, str], diracos: Path,
                     system_dir: Path = SYSTEM_CERT_DIR, *,
                     cert: Optional[x509.Certificate] = None, required: Sequence[str] = (),
                     stores: Optional[Mapping[Path, TrustStore]] = None) -> Optional[str]:
    """When the DIRACOS and the system CA directory would judge the user differently, say so.

    diracosrc keeps ``$X509_CERT_DIR`` only if it is a non-empty directory; otherwise it prefers
    a non-empty ``/etc/grid-security/certificates`` over ``$DIRACOS/etc/grid-security/
    certificates``, while DIRAC itself, with X509_CERT_DIR unset, prefers the DIRACOS one.  With
    both populated, shells disagree about which directory is in use.  That only matters when
    the two would give a different verdict for the user's own certificate (``cert``, verified
    with CRLs) or for the ``required`` CAs: on an IGTF host with a good setup both directories
    serve the user equally, and there is nothing to warn about.  ``stores`` are directories
    already scanned, by path.
    """
    own = diracos_cert_dir(diracos)
    if not (has_ca_files(own) and has_ca_files(system_dir)):
        return None
    try:
        if os.path.samefile(own, system_dir):
            return None
    except OSError:
        pass
    if cert is None and not required:
        return None
    known = dict(stores or {})

    def store_of(path: Path) -> TrustStore:
        for p, s in known.items():
            if same_dir(p, path):
                return s
        return scan_trust_dir(path)

    v_own = _verdicts(store_of(own), cert, required)
    v_sys = _verdicts(store_of(system_dir), cert, required)
    if v_own.same_as(v_sys):
        return None
    choice = resolve_trust_dir(environ, diracos, None, system_dir)
    if choice.source == "$X509_CERT_DIR" and not same_dir(choice.path, system_dir):
        now = f"this shell exports X509_CERT_DIR={choice.exported}, but"
    elif same_dir(choice.path, system_dir):
        now = "in this shell DIRAC uses the system directory, and"
    else:
        now = (f"in this shell DIRAC uses {choice.path} (X509_CERT_DIR is not set), but")
    return (f"both {system_dir} and {own} hold CA certificates: {now} any shell that sources "
            f"diracosrc without X509_CERT_DIR exported first switches to {system_dir}, so "
            f"DIRAC tools disagree about which CAs and CRLs they trust; and the two differ: "
            f"{_difference(own, v_own, Path(system_dir), v_sys)}")
