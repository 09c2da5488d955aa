"""Judgments over a scanned CA directory: which CAs matter to this user, and what is wrong.

Missing, expired or without a current CRL, in sentences a physicist can act on.  A problem of
a CA the user relies on (their chain, a required CA) is a failure; the same problem elsewhere
in an IGTF directory of 150 CAs is only a warning.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Optional

from cryptography import x509

from mu3e_checks.knowledge.pki import (
    dn_key,
    dn_slash,
    fmt_time,
    public_key,
    same_dn,
    unreadable_key,
    utcnow,
    validity,
)
from mu3e_checks.knowledge.pki import signed_by as pki_signed_by
from mu3e_checks.knowledge.trust.igtf import CERN_GRID_CA, CERN_ROOT_CA_2
from mu3e_checks.knowledge.trust.scan import (
    CA,
    CRLFile,
    TrustStore,
    signed_by,
    subject_hash,
    subject_hash_old,
)
from mu3e_checks.knowledge.trust.verify import openssl_refusal


@dataclass(frozen=True)
class ChainGap:
    """Where the walk up from a certificate stops: ``cert`` names ``issuer_dn`` as its issuer
    and no CA in the directory with that name *and key* signed it.

    ``same_name`` are the CAs installed under that name all the same: each is a look-alike of
    the one that signed ``cert`` (same DN, another key), or ``cert`` is.  ``holder`` is the CA
    file ``cert`` comes from (None for the user's own certificate).
    """

    cert: x509.Certificate
    issuer_dn: str
    same_name: tuple[CA, ...] = ()
    holder: Optional[CA] = None


@dataclass(frozen=True)
class UserChain:
    """The CAs above the user's certificate that the directory holds, nearest first."""

    cas: tuple[CA, ...] = ()
    missing_dn: Optional[str] = None  # the first issuer not found (by name and key)
    cern: bool = False  # the user certificate is CERN-issued
    gap: Optional[ChainGap] = None  # where and why the walk stopped short of a root


def gap_at(store: TrustStore, cert: x509.Certificate, holder: Optional[CA] = None) -> ChainGap:
    """The :class:`ChainGap` above ``cert``, whose issuer the directory does not hold."""
    issuer = dn_slash(cert.issuer)
    return ChainGap(cert, issuer, tuple(store.with_subject(issuer)), holder)


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
            return UserChain(tuple(out), dn_slash(current.issuer), cern,
                             gap_at(store, current, out[-1] if out else None))
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
    #: the DNs whose genuine bundles the fix installs (this CA, and its issuer when the two
    #: installed certificates do not belong together)
    reinstall: tuple[str, ...] = ()


def check_required(store: TrustStore, dns: Sequence[str]) -> list[RequiredCA]:
    """Each required CA, recognised by subject DN and by key, never by file name.

    A root must verify its own signature; an intermediate must be signed by a CA in the
    directory with its issuer's name (when that issuer is itself missing, the issuer's own
    entry reports it).  A file with the right DN but a foreign key is reported, not accepted.
    """
    out = []
    for dn in dns:
        candidates = store.with_subject(dn)
        elsewhere = store.misnamed(dn) or store.unusable(dn)  # CA-003's findings
        if not candidates and elsewhere:
            out.append(RequiredCA(dn, None, misnamed=tuple(p.name for p in elsewhere)))
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
        if good is not None:
            out.append(RequiredCA(dn, good))
            continue
        first = candidates[0]
        if first.cert.subject == first.cert.issuer:
            names = ", ".join(n for c in candidates for n in c.names)
            out.append(RequiredCA(dn, first, f"{names} carries the name {dn} but its "
                                  "self-signature does not verify with its own key: it is not "
                                  "the real CA certificate (damaged)", reinstall=(dn,)))
            continue
        finding = explain_gap(store, gap_at(store, first.cert, first))
        out.append(RequiredCA(dn, first, finding.message, reinstall=finding.reinstall))
    return out


def required_problem(store: TrustStore, required: Sequence[str], *dns: str) -> bool:
    """True when CA-004's judgment of the required CAs fails for one of ``dns``."""
    keys = {dn_key(d) for d in dns}
    return any(r.problem and dn_key(r.dn) in keys for r in check_required(store, required))


@dataclass(frozen=True)
class GapFinding:
    """A look-alike in words: the message, the CAs whose genuine bundles to install again,
    and whether the user's certificate itself is the one in doubt (then its CA must answer)."""

    message: str
    reinstall: tuple[str, ...] = ()
    ask_issuer: bool = False
    contact: Optional[str] = None  # the real CA's e-mail or web page, from its IGTF .info


def explain_gap(store: TrustStore, gap: ChainGap) -> GapFinding:
    """Why ``gap.cert`` does not verify with the CA(s) installed under its issuer's name.

    The directory alone cannot always tell which side is not genuine.  IGTF's ``.info`` files
    can: they list the SHA-1 fingerprint of the certificate the bundle ships, so a CA file that
    no longer matches it was replaced, and one that matches is the real CA, which makes the
    other certificate the look-alike.  Without ``.info`` files both readings are given.
    """
    issuer = gap.issuer_dn
    plural = len(gap.same_name) > 1
    theirs = "; ".join(", ".join(ca.names) for ca in gap.same_name)
    installed = (f"the CA certificate{'s' if plural else ''} installed under that name in "
                 f"{store.path} ({theirs})")
    if gap.holder is None:
        who = f"your certificate ({dn_slash(gap.cert.subject)})"
    else:
        who = f"{', '.join(gap.holder.names)} ({gap.holder.subject})"
    keyless = [ca for ca in gap.same_name if public_key(ca.cert) is None]
    if keyless and len(keyless) == len(gap.same_name):
        return GapFinding(f"{who} names {issuer} as its issuer, but {installed} "
                          f"{'have' if plural else 'has'} {unreadable_key(keyless[0].cert)}, so "
                          "no signature can be checked with it: that CA file is damaged",
                          reinstall=(issuer,))
    undecided = [ca for ca in gap.same_name if pki_signed_by(gap.cert, ca.cert) is None]
    if undecided and len(undecided) == len(gap.same_name):
        algo = gap.cert.signature_algorithm_oid.dotted_string
        return GapFinding(f"{who} names {issuer} as its issuer, but its signature uses an "
                          f"algorithm ({algo}) that cannot be checked here, so it does not "
                          f"verify with the key of {installed}",
                          reinstall=(gap.holder.subject,) if gap.holder else (),
                          ask_issuer=gap.holder is None)
    head = (f"{who} names {issuer} as its issuer, but its signature does not verify with the "
            f"key of {installed}")
    replaced = [ca for ca in gap.same_name if store.igtf_genuine(ca) is False]
    if replaced:
        files = "; ".join(", ".join(ca.names) for ca in replaced)
        return GapFinding(f"{head}: {files} is not the certificate its IGTF bundle ships (the "
                          "bundle's .info file lists another SHA-1 fingerprint), so that CA file "
                          "was replaced (by a look-alike with the same name, or a copy of "
                          "another generation of that CA)", reinstall=(issuer,))
    if gap.holder is not None and store.igtf_genuine(gap.holder) is False:
        return GapFinding(f"{head}: {', '.join(gap.holder.names)} is not the certificate its "
                          "IGTF bundle ships (the bundle's .info file lists another SHA-1 "
                          "fingerprint), so that CA file was replaced (by a look-alike with the "
                          "same name, or a copy of another generation of that CA)",
                          reinstall=(gap.holder.subject,))
    genuine = bool(gap.same_name) and all(store.igtf_genuine(ca) for ca in gap.same_name)
    contact = next((info.contact for info in (store.infos.get(dn_key(issuer)),) if info), None)
    if genuine and gap.holder is None:
        return GapFinding(f"{head}, and {'those are' if plural else 'that is'} the "
                          "certificate IGTF ships for that CA (the fingerprint in its .info file "
                          "matches): your certificate was issued by another CA that uses the "
                          f"same name (a look-alike), not by the real {issuer}",
                          ask_issuer=True, contact=contact)
    if gap.holder is None:
        return GapFinding(f"{head}: a different CA with the same name. Either "
                          f"{'they are' if plural else 'it is'} not the genuine {issuer} (a "
                          "look-alike, or another generation of that CA), or your certificate "
                          "was not issued by the real one; the directory alone cannot tell "
                          "which", reinstall=(issuer,), ask_issuer=True, contact=contact)
    return GapFinding(f"{head}: the two certificates do not belong together, and the "
                      "directory alone cannot tell which of them is not genuine (a look-alike, "
                      "or another generation of that CA)",
                      reinstall=(gap.holder.subject, issuer))


def relied_on(chain: UserChain, required: Sequence[str]) -> set[tuple[tuple[str, str], ...]]:
    """DN keys of the CAs the user relies on: the required ones and the user's chain, also the
    issuer the walk up the chain could not find (a CA whose file cannot be used, say)."""
    dns = [*required, *(ca.subject for ca in chain.cas)]
    if chain.missing_dn:
        dns.append(chain.missing_dn)
    return {dn_key(dn) for dn in dns}


def missing_issuer_hashes(chain: UserChain) -> set[str]:
    """The file-name hashes (new and old style) OpenSSL looks the missing issuer up under: a
    file there that cannot be read at all is most likely that CA, damaged."""
    if chain.gap is None:
        return set()
    cert = chain.gap.cert
    return {subject_hash(cert, issuer=True), subject_hash_old(cert, issuer=True)}


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


def bad_crls(store: TrustStore, relied_on: Mapping[bytes, str] = ()) -> list[CRLFile]:
    """The CRL files that cannot be used; for the CAs in ``relied_on`` (fingerprints, as
    :func:`focus` gives) also those OpenSSL refuses to load (see :func:`verify.openssl_refusal`)."""
    out = []
    for c in store.read_crls():
        if c.problem:
            out.append(c)
        elif c.ca is not None and c.ca.fingerprint in relied_on:
            refusal = openssl_refusal(store, c)
            if refusal:
                out.append(replace(c, problem=f"{c.name} {refusal}, so it cannot be used as "
                                   "a CRL"))
    return out


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
