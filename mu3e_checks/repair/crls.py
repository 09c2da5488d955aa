"""The CRLs (``FETCH_CRLS``): fetch-crl's job, limited to the CRLs that need it.

Only a CA whose CRL is missing, unusable or out of date (or expiring within
``--mu3e-crl-warn-hours``), as CRL-001..003 judge it, gets a new one: a current CRL is left
alone, byte for byte.  The apply fetches only what the plan listed.  Each CRL may come over http
or https from its ``.crl_url`` (:mod:`mu3e_checks.knowledge.trust.crl_urls`), under the transport
rules of :mod:`.download`, concurrently, within one deadline for the whole step; it is verified
against its CA (issuer, signature, dates, not older than the installed one) before it replaces
``<hash>.r0`` atomically, the old file kept in :data:`~.base.REPLACED_DIR`.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional

from mu3e_checks import outputs
from mu3e_checks.knowledge.trust.crl_urls import CrlSource, crl_sources
from mu3e_checks.remedy import Action
from mu3e_checks.repair import download
from mu3e_checks.repair.base import (
    DEFAULT_TIMEOUT,
    REPLACED_DIR,
    Context,
    RepairError,
    Step,
    ca_dir_problem,
    replaced_slot,
)
from mu3e_checks.text import clip, visible

#: How many CRLs are fetched at once, and the largest one accepted (big IGTF CRLs are a few MB).
CRL_WORKERS = 16
CRL_MAX_BYTES = 64 * 1024 * 1024
#: The most URLs of one ``.crl_url`` tried in turn (IGTF lists one or two).
MAX_URLS = 4
_CLOCK_SKEW = _dt.timedelta(minutes=5)


def needing_refresh(store: Any, warn_within: _dt.timedelta,
                    now: Optional[_dt.datetime] = None) -> set[str]:
    """The subject hashes of the CAs whose CRL a refresh should fetch: missing (CRL-001),
    unusable (CRL-002), or out of date or expiring within ``warn_within`` (CRL-003), by the
    diagnosis's own judgement; every other CRL is current and stays as it is."""
    from mu3e_checks.knowledge.trust import bad_crls, crl_freshness, missing_crls

    out = {ca.hash for ca in missing_crls(store)}
    out |= {c.ca.hash if c.ca is not None else c.name.split(".")[0] for c in bad_crls(store)}
    out |= {a.crl.ca.hash for a in crl_freshness(store, now, warn_within)
            if a.crl.ca is not None}
    return out


def verify_crl(data: bytes, source: CrlSource, now: Optional[_dt.datetime] = None) -> Any:
    """The CRL in ``data`` when it is issued and signed by the source's CA and current;
    else :class:`RepairError` saying why (the old file then stays)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.trust.scan import crl_damage, crl_signed_by

    now = now or _dt.datetime.now(_dt.timezone.utc)
    try:
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN" in data
               else x509.load_der_x509_crl(data))
    except x509.InvalidVersion as exc:
        raise RepairError(f"a CRL of an impossible version ({exc})") from None
    except ValueError:
        raise RepairError("not a CRL (neither PEM nor DER)") from None
    damage = crl_damage(crl, openssl=True)  # what the diagnosis would refuse is not installed
    if damage:
        raise RepairError(f"it {damage}")
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


def _fetch_one(source: CrlSource, step: download.Deadline, seconds: float,
               environ: Mapping[str, str]) -> tuple[Any, str]:
    """(verified CRL, URL) from the first URL that gives one; RepairError naming each try."""
    tried = []
    for url in source.urls[:MAX_URLS]:
        if step.at <= time.monotonic():
            tried.append(f"the refresh's {step.seconds:g} s were used up")
            break
        try:
            data = download.fetch(url, deadline=download.Deadline(seconds, step),
                                  max_bytes=CRL_MAX_BYTES, https_only=False, environ=environ)
            return verify_crl(data, source), url
        except RepairError as exc:
            tried.append(f"{clip(url, 120)}: {exc}")
    raise RepairError("; ".join(tried) or "no CRL URL")


def _existing_newer(old: Any, crl: Any) -> bool:
    """The CRL already installed (as the scan read it) is the same CA's and newer."""
    return old is not None and old.issuer == crl.issuer and \
        old.last_update_utc > crl.last_update_utc


def _install_crl(ca_dir: Path, name: str, pem: bytes, stamp: str) -> Optional[str]:
    """Atomically put ``pem`` at ``ca_dir/name``; the old file is hard-linked into
    :data:`REPLACED_DIR` first, so it is never lost.  None when the file already holds exactly
    these bytes (then nothing is written)."""
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    target = ca_dir / name
    kept = ""
    if os.path.lexists(target):
        try:
            if read_bytes(target, limit=CRL_MAX_BYTES, follow=False) == pem:
                return None
        except Unreadable:
            pass
        backup = replaced_slot(ca_dir, name, stamp)
        os.link(target, backup, follow_symlinks=False)
        kept = f", the old one kept as {REPLACED_DIR}/{backup.name}"
    outputs.write_file(target, pem, 0o644)
    return kept


def refresh_crls(ca_dir: Path, *, seconds: float = DEFAULT_TIMEOUT,
                 step_seconds: Optional[float] = None, workers: int = CRL_WORKERS,
                 stamp: str = "", only: Optional[set[str]] = None,
                 warn_within: _dt.timedelta = _dt.timedelta(hours=24),
                 environ: Optional[Mapping[str, str]] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> list[str]:
    """fetch-crl's job for one trust dir, for the CAs that need it (``only``: these subject
    hashes, and only if they still need it).  Downloads run concurrently (bounded), each within
    ``seconds`` and all within ``step_seconds``; each CRL is verified against its CA and its
    dates, and only then put in place atomically.  A failed download or a CRL that does not
    verify changes nothing; each outcome is one log line."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.trust.scan import scan_trust_dir

    ca_dir = Path(ca_dir)
    problem = ca_dir_problem(ca_dir)
    if problem:
        raise RepairError(problem)
    stamp = stamp or _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    environ = os.environ if environ is None else environ
    store = scan_trust_dir(ca_dir)
    wanted = needing_refresh(store, warn_within)
    if only is not None:
        wanted &= only
    sources = [s for s in crl_sources(store) if s.urls and s.ca_hash in wanted]
    step = download.Deadline(step_seconds or 1.5 * seconds)
    log: list[str] = []

    def one(s: CrlSource) -> tuple[Any, str]:
        if step.at <= time.monotonic():  # the step's time is up: not begun at all
            raise RepairError(f"not tried: the refresh's {step.seconds:g} s were used up")
        return _fetch_one(s, step, seconds, environ)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, s): s for s in sources}
        for n, fut in enumerate(as_completed(futures), 1):
            s = futures[fut]
            if progress:
                progress(n, len(sources))
            try:
                crl, url = fut.result()
            except RepairError as exc:
                log.append(f"{s.ca_hash}.r0 NOT repaired ({visible(s.subject)}): {exc}; "
                           "nothing written for it")
                continue
            installed = dict(s.installed)
            for name in s.names:
                if _existing_newer(installed.get(name), crl):
                    log.append(f"{name} kept: it is newer than the one at {clip(url, 120)}")
                    continue
                try:
                    kept = _install_crl(ca_dir, name, crl.public_bytes(Encoding.PEM), stamp)
                except (OSError, outputs.OutputError) as exc:
                    why = getattr(exc, "strerror", "") or exc
                    log.append(f"{name} NOT repaired: {visible(why)}")
                    continue
                if kept is None:
                    log.append(f"{name} unchanged: {clip(url, 120)} still serves the installed "
                               "CRL")
                    continue
                log.append(f"{name} <- {clip(url, 120)} (next update "
                           f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC{kept})")
    return sorted(log)


def plan_crls(step: Step, action: Action, ctx: Context) -> None:
    from mu3e_checks.knowledge.trust.scan import scan_trust_dir

    ca_dir = Path(action.param("ca_dir"))
    if ctx.offline:
        raise RepairError("--mu3e-offline: the CRL downloads are skipped")
    problem = ca_dir_problem(ca_dir)
    if problem:
        raise RepairError(problem)
    store = scan_trust_dir(ca_dir)
    sources = crl_sources(store)
    wanted = needing_refresh(store, _dt.timedelta(hours=ctx.crl_warn_hours))
    if not wanted:
        step.done = True
        step.changes.append(f"{visible(ca_dir)}: every CA's CRL is current; nothing to fetch")
        return
    fetch = [s for s in sources if s.ca_hash in wanted and s.urls]
    no_url = [s for s in sources if s.ca_hash in wanted and not s.urls]
    if not fetch:
        raise RepairError(f"no CA whose CRL is missing or out of date in {visible(ca_dir)} has "
                          "a .crl_url file (the IGTF bundles bring them)")
    ctx.planned[action] = frozenset(s.ca_hash for s in fetch)
    current = len(sources) - len(fetch) - len(no_url)
    step.changes.append(f"fetch {len(fetch)} CRL(s) into {visible(ca_dir)}: only the CAs whose "
                        f"CRL is missing, unusable or out of date; the {current} current one(s) "
                        "stay as they are. Each is verified with its CA before it replaces "
                        f"<hash>.r0 (old files kept in {REPLACED_DIR}/)")
    for s in fetch[:10]:
        step.changes.append(f"  {s.ca_hash}.r0 <- {clip(s.urls[0], 120)}")
    if len(fetch) > 10:
        step.changes.append(f"  ... and {len(fetch) - 10} more")
    if no_url:
        step.changes.append(f"{len(no_url)} CA(s) needing a CRL have no .crl_url: skipped")


def apply_crls(action: Action, ctx: Context) -> list[str]:
    def bar(n: int, total: int) -> None:
        if sys.stderr.isatty():
            width = 30
            done = width * n // max(total, 1)
            print(f"\r  CRLs [{'#' * done}{'.' * (width - done)}] {n}/{total}", end="",
                  file=sys.stderr, flush=True)
            if n == total:
                print(file=sys.stderr)

    planned = ctx.planned.get(action)
    return refresh_crls(Path(action.param("ca_dir")), seconds=ctx.download_seconds,
                        step_seconds=ctx.step_seconds, stamp=ctx.stamp,
                        only=set(planned) if planned is not None else None,
                        warn_within=_dt.timedelta(hours=ctx.crl_warn_hours),
                        environ=ctx.environ, progress=bar) or \
        ["every CRL planned is current now; nothing fetched"]
