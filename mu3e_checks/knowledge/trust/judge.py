"""Judgments over a scanned CA directory: which CAs matter to this user, and what is wrong.

Missing, expired or without a current CRL, in sentences a physicist can act on.  A problem of
a CA the user relies on (their chain, a required CA) is a failure; the same problem elsewhere
in an IGTF directory of 150 CAs is only a warning.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from cryptography import x509

from mu3e_checks.knowledge.pki import dn_slash, fmt_time, same_dn, utcnow, validity
from mu3e_checks.knowledge.trust.igtf import CERN_GRID_CA, CERN_ROOT_CA_2
from mu3e_checks.knowledge.trust.scan import CA, CRLFile, TrustStore, signed_by


@dataclass(frozen=True)
class UserChain:
    """The CAs above the user's certificate that the directory holds, nearest first."""

    cas: tuple[CA, ...] = ()
    missing_dn: Optional[str] = None  # the first issuer not found (by name and key)
    cern: bool = False  # the user certificate is CERN-issued


def user_chain(store: TrustStore, cert: Optional[x509.Certificate]) -> UserChain:
    """Walk from the user's certificate to a self-signed root through the directory's CAs."""

    if cert is None:
        return UserChain()
    cern = same_dn(cert.issuer, CERN_GRID_CA)
    out: list[CA] = []
    current = cert
    for _ in range(16):  # chains are 1-3 CAs deep; a loop of cross-signed CAs stops here
        found = store.issuers_of(current)
        if not found:
            return UserChain(tuple(out), dn_slash(current.issuer), cern)
        ca = found[0]
        if ca in out:
            break
        out.append(ca)
        if ca.cert.subject == ca.cert.issuer:
            break
        current = ca.cert
    return UserChain(tuple(out), None, cern)


def required_dns(configured: Sequence[str], chain: UserChain) -> list[str]:
    """The configured CAs, plus the two CERN CAs when the user's certificate is CERN-issued."""
    dns = list(configured)
    if chain.cern:
        dns += [dn for dn in (CERN_ROOT_CA_2, CERN_GRID_CA) if dn not in dns]
    return dns


@dataclass(frozen=True)
class RequiredCA:
    """One required CA: the copy found, or why it cannot be used.

    ``misnamed`` lists the files holding this CA under a name OpenSSL never opens: that is
    CA-003's finding (one root cause, one failure), so ``problem`` stays empty for it.
    """

    dn: str
    found: Optional[CA]
    problem: str = ""  # "" when present and recognised, or present under a wrong name only
    misnamed: tuple[str, ...] = ()


def check_required(store: TrustStore, dns: Sequence[str]) -> list[RequiredCA]:
    """Each required CA, recognised by subject DN and by key, never by file name.

    A root must verify its own signature; an intermediate must be signed by a CA in the
    directory with its issuer's name (when that issuer is itself missing, the issuer's own
    entry reports it).  A file with the right DN but a foreign key is reported, not accepted.
    """
    out = []
    for dn in dns:
        candidates = store.with_subject(dn)
        if not candidates and store.misnamed(dn):
            out.append(RequiredCA(dn, None, misnamed=tuple(p.name for p in store.misnamed(dn))))
            continue
        if not candidates:
            out.append(RequiredCA(dn, None, f"{dn} is not installed in {store.path}"))
            continue
        good = None
        for ca in candidates:
            issuers = ([ca] if ca.cert.subject == ca.cert.issuer
                       else [c for c in store.cas if c.cert.subject == ca.cert.issuer])
            if not issuers or any(signed_by(ca.cert, i.cert) for i in issuers):
                good = ca
                break
        if good is None:
            names = ", ".join(n for c in candidates for n in c.names)
            out.append(RequiredCA(dn, candidates[0], f"{names} carries the name {dn} but its "
                                  "signature does not verify with that CA's key: it is not "
                                  "the real CA certificate (damaged or replaced)"))
        else:
            out.append(RequiredCA(dn, good))
    return out


def focus(store: TrustStore, chain: UserChain, required: Sequence[str]) -> dict[bytes, str]:
    """Fingerprints of the CAs whose problems are failures, with why they matter."""
    why: dict[bytes, str] = {}
    for ca in chain.cas:
        why[ca.fingerprint] = "in your certificate's chain"
    for dn in required:
        for ca in store.with_subject(dn):
            why.setdefault(ca.fingerprint, "a required CA")
    return why


def expired_cas(store: TrustStore, now: Optional[_dt.datetime] = None) -> list[tuple[CA, str]]:
    """(CA, sentence) for every CA certificate outside its validity window."""

    out = []
    for ca in store.cas:
        v = validity(ca.cert, now)
        if v.state == "expired":
            out.append((ca, f"{ca.subject} expired on {fmt_time(v.not_after)}"))
        elif v.state == "not-yet-valid":
            out.append((ca, f"{ca.subject} is valid only from {fmt_time(v.not_before)}"))
    return out


def missing_crls(store: TrustStore) -> list[CA]:
    """CAs without ``<subject hash>.r0`` (the only name OpenSSL looks a CRL up under)."""
    return [ca for ca in store.cas if ca.crl_name not in store.crls]


def bad_crls(store: TrustStore) -> list[CRLFile]:
    return [c for c in store.read_crls() if c.problem]


@dataclass(frozen=True)
class CRLAge:
    crl: CRLFile
    state: str  # "stale" | "expiring" | "not-yet-valid" | "no-next-update"
    message: str


def crl_freshness(store: TrustStore, now: Optional[_dt.datetime] = None,
                  warn_within: _dt.timedelta = _dt.timedelta(hours=24)) -> list[CRLAge]:
    """CRLs whose nextUpdate has passed or comes within ``warn_within``, and other oddities.

    nextUpdate, not the file's mtime (which is all dirac-proxy-init looks at), is what OpenSSL
    and VOMS judge: past it, every certificate of that CA is rejected ("CRL has expired").
    """

    now = now or utcnow()
    out = []
    for crl in store.read_crls():
        if crl.problem or crl.ca is None:
            continue
        who = f"the CRL of {crl.ca.subject} ({crl.name})"
        if crl.last_update is not None and crl.last_update > now + _dt.timedelta(minutes=5):
            out.append(CRLAge(crl, "not-yet-valid", f"{who} is issued in the future "
                              f"({fmt_time(crl.last_update)}); check this machine's clock"))
        elif crl.next_update is None:
            out.append(CRLAge(crl, "no-next-update", f"{who} has no nextUpdate"))
        elif crl.next_update <= now:
            out.append(CRLAge(crl, "stale", f"{who} expired on {fmt_time(crl.next_update)}"))
        elif crl.next_update - now < warn_within:
            hours = (crl.next_update - now).total_seconds() / 3600
            out.append(CRLAge(crl, "expiring", f"{who} expires in {hours:.0f} h, on "
                              f"{fmt_time(crl.next_update)}"))
    return out


def split_by_focus(items: Sequence[tuple[Optional[CA], str]], why: Mapping[bytes, str]
                   ) -> tuple[list[str], list[str]]:
    """(failures, warnings): problems of CAs that matter fail, the others only warn."""
    fails, warns = [], []
    for ca, text in items:
        if ca is not None and ca.fingerprint in why:
            fails.append(f"{text} ({why[ca.fingerprint]})")
        else:
            warns.append(text)
    return fails, warns


def summarize(items: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` items and how many more, for a warning about many CAs."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
