"""Where the CA and CRL fixes write: the CA directory in use, or one the user owns.

On a host whose own ``/etc/grid-security/certificates`` is populated, diracosrc picks that
directory, and it belongs to root: ``fetch-crl -l`` or ``tar -C`` into it fail with "Permission
denied" (and ``dirac-configure`` with "Read-only file system").  There the first fix is the
guide's ``export X509_CERT_DIR=<DIRACOS>/etc/grid-security/certificates``, and every fix after
it fills that directory, which the user owns, with what it still lacks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mu3e_checks.knowledge.trust.choice import TrustDirChoice, has_ca_files
from mu3e_checks.knowledge.trust.judge import (
    UserChain,
    check_required,
    missing_crls,
    required_dns,
)
from mu3e_checks.knowledge.trust.scan import TrustStore, scan_trust_dir


def writable_dir(path: Path) -> bool:
    """Whether the user running the diagnosis can create files in ``path``, or, when it does not
    exist yet, create it (``mkdir -p``) under its nearest existing parent; never raises.

    ``os.access`` asks the kernel with the real uid, so the answer is the user's, not a guess
    from mode bits (ACLs, read-only mounts and root-squash included)."""
    p = Path(os.path.abspath(path))
    try:
        while not os.path.lexists(p) and p != p.parent:
            p = p.parent
        return os.path.isdir(p) and os.access(p, os.W_OK | os.X_OK)
    except (OSError, ValueError):
        return False


def needs_own_dir(choice: TrustDirChoice, own: Path) -> bool:
    """True when the fixes must move the user to ``own``: the CA directory in use (not one given
    with --mu3e-trust-dir, which the user chose to check) is not the user's to write, and
    ``own`` is."""
    if choice.source == "--mu3e-trust-dir" or writable_dir(choice.path):
        return False
    try:
        if os.path.samefile(choice.path, own):
            return False
    except OSError:
        pass
    return writable_dir(own)


@dataclass(frozen=True)
class OwnDir:
    """The CA directory the fixes must fill instead of the one in use: ``own`` (the user's
    DIRACOS one), what it still lacks (``missing``: subject DNs, judged by DN and key as CA-004
    judges them) and whether it needs fetch-crl even without a CRL finding (bundles to add, no
    CA files yet, or CRLs missing)."""

    own: Path
    current: Path  # the directory in use, which the user cannot write
    missing: tuple[str, ...] = ()
    fetch: bool = False


def own_dir(choice: TrustDirChoice, own: Path, needed: Sequence[str]) -> Optional[OwnDir]:
    """The directory the CA and CRL fixes must fill (:class:`OwnDir`), or None when the
    directory in use is writable (then the usual fixes stand).  ``needed`` are the subject DNs
    a CA directory must hold for this user (:func:`needed_dns`)."""
    if not needs_own_dir(choice, own):
        return None
    store: Optional[TrustStore] = scan_trust_dir(own) if has_ca_files(own) else None
    dns = list(dict.fromkeys(needed))
    missing = dns if store is None else [r.dn for r in check_required(store, dns)
                                         if r.problem or r.misnamed]
    fetch = bool(missing) or store is None or not store.crls or bool(missing_crls(store))
    return OwnDir(own, choice.path, tuple(missing), fetch)


def needed_dns(required: Sequence[str], chain: UserChain) -> list[str]:
    """The CAs a CA directory must hold for this user: the required ones (CERN's too for a
    CERN certificate) and those of the user's chain, including the first missing issuer."""
    dns = required_dns(required, chain) + [ca.subject for ca in chain.cas]
    if chain.missing_dn:
        dns.append(chain.missing_dn)
    return list(dict.fromkeys(dns))
