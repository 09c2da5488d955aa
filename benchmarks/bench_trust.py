"""How long the trust-store checks take over the real IGTF bundle with a CRL per CA.

Run:  python benchmarks/bench_trust.py [--runs N] [--big N] [--entries N]

Lays out a DIRACOS trust dir from Debian's igtf-policy-classic (both hash names, as the
package links them) plus a test root and user CA, and writes a generated CRL for every CA under
both hash names, as fetch-crl does.  ``--big`` CRLs hold ``--entries`` revoked serials (default
3 CRLs x 100k entries, one of them the user's CA, so OpenSSL's chain check reads it too).  We
do not have the IGTF CAs' keys, so their CRLs are signed by a throwaway key: they still have to
be parsed and their signature checked, which is the cost being measured.

It prints the time of: the one-per-session scan (``scan_trust_dir``), the judgments the CA and
CRL checks make on it, OpenSSL's chain check with CRLs (``verify_chain``: the first of a run,
which loads the CRLs of the user's chain into OpenSSL, and a later one), how many CRLs OpenSSL
was handed, and a whole ``pytest --pyargs mu3e_checks --mu3e-select CA,CRL`` run in a
subprocess.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IGTF = Path("/usr/share/igtf-policy/classic")


def big_crl(pki, ca, entries: int, signer=None):
    """A CRL with ``entries`` revoked serials, built with one builder pass."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from tests.support.pki_factory import DAY

    revoked = [x509.RevokedCertificateBuilder().serial_number(10**12 + n)
               .revocation_date(pki.now - DAY).build() for n in range(entries)]
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(pki.now - DAY).next_update(pki.now + 7 * DAY))
    for r in revoked:
        b = b.add_revoked_certificate(r)
    return b.sign((signer or ca).key, hashes.SHA256())


def build(base: Path, big: int, entries: int) -> tuple[Path, Path, object]:
    from cryptography.hazmat.primitives.serialization import Encoding

    from mu3e_checks.knowledge.pki import load_certificate_any
    from mu3e_checks.knowledge.trust import CA_FILE_RE, subject_hash, subject_hash_old
    from tests.support.pki_factory import Entity, new_key, write_credentials, write_trust_dir
    from tests.support.worlds import Grid

    assert IGTF.is_dir(), "igtf-policy-classic is not installed"
    grid = Grid()
    home = base / "home"
    write_credentials(home / ".globus", grid.user)
    cadir = home / "dirac_ui/diracos/etc/grid-security/certificates"
    cadir.mkdir(parents=True)
    for entry in os.scandir(IGTF):
        os.symlink(os.path.realpath(entry.path), cadir / entry.name)
    throwaway = Entity(grid.root.cert, new_key(slot=99))
    pki = grid.pki
    big_left = big - 1  # the user's CA gets one of the big CRLs below
    seen = set()
    for name in sorted(os.listdir(cadir)):
        if not CA_FILE_RE.match(name):
            continue
        cert = load_certificate_any((cadir / name).read_bytes())
        if cert.subject in seen:
            continue
        seen.add(cert.subject)
        ca = Entity(cert, None)
        n = entries if big_left > 0 else 0
        big_left -= 1 if n else 0
        crl = big_crl(pki, ca, n, signer=throwaway)
        for h in {subject_hash(cert), subject_hash_old(cert)}:
            (cadir / f"{h}.r0").write_bytes(crl.public_bytes(Encoding.PEM))
    crls = {id(grid.root): pki.crl(grid.root), id(grid.ca): big_crl(pki, grid.ca, entries)}
    write_trust_dir(cadir, grid.cas, crls, old_hash=True)
    return home, cadir, grid


def forget_certificates() -> None:
    """Empty the per-certificate caches (OpenSSL copies, name hashes), as a new run starts."""
    from mu3e_checks.knowledge.trust import scan

    for cached in (scan.openssl_x509, scan.subject_hash, scan.subject_hash_old):
        cached.cache_clear()


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big", type=int, default=3, help="how many CRLs get --entries serials")
    ap.add_argument("--entries", type=int, default=100_000)
    args = ap.parse_args()

    from mu3e_checks.knowledge import trust
    from mu3e_checks.settings import DEFAULT_REQUIRED_CAS
    from tests.support.runner import run_checks

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # one IGTF CA has a serial cryptography frowns upon
            warnings.simplefilter("ignore")
            home, cadir, grid = build(base, args.big, args.entries)
        size = sum(f.stat().st_size for f in cadir.glob("*.r0"))
        print(f"built {cadir}: {len(list(cadir.glob('*.0')))} CA files, "
              f"{len(list(cadir.glob('*.r0')))} CRL files ({size / 1e6:.1f} MB), "
              f"{args.big} CRLs x {args.entries} entries, in {time.perf_counter() - t0:.1f} s")

        def scan():
            forget_certificates()
            return trust.scan_trust_dir(cadir)

        scan_t, store = timed(scan, args.runs)
        print(f"scan_trust_dir (once per session):        {scan_t * 1000:8.1f} ms "
              f"({len(store.cas)} CAs, {len(store.crls)} CRLs)")

        def judge():
            chain = trust.user_chain(store, grid.user.cert)
            dns = trust.required_dns(DEFAULT_REQUIRED_CAS, chain)
            trust.check_required(store, dns)
            trust.focus(store, chain, dns)
            trust.expired_cas(store)
            trust.missing_crls(store)
            trust.bad_crls(store)
            trust.crl_freshness(store)

        judge_t, _ = timed(judge, args.runs)
        print(f"judgments of CA-003..005, CRL-001..003:   {judge_t * 1000:8.1f} ms")
        # OpenSSL gets the parsed CAs and only the CRLs the user's chain can need (never the
        # directory): the first chain check of a run loads them (the user's CA's 100k-entry
        # CRL among them), every later one reuses what is loaded.
        fresh = [scan() for _ in range(args.runs)]
        first_t = statistics.median(
            timed(lambda s=s: trust.verify_chain(grid.user.cert, [], s), 1)[0] for s in fresh)
        print(f"verify_chain with CRLs, first of a run:   {first_t * 1000:8.1f} ms "
              "(loads the user's CA's CRL into OpenSSL)")
        verify_t, verdict = timed(lambda: trust.verify_chain(grid.user.cert, [], store),
                                  args.runs)
        print(f"verify_chain with CRLs, again:            {verify_t * 1000:8.1f} ms "
              f"(ok={verdict.ok})")
        loaded = sum(len(x.refused) for x in store.__dict__["_openssl_stores"].values())
        print(f"CRLs handed to OpenSSL:                   {loaded:8d} of "
              f"{len(store.read_crls())} in the directory")
        sysdir = base / "system"
        sysdir.mkdir()
        runs = []
        for _ in range(max(1, args.runs // 2)):
            t = time.perf_counter()
            r = run_checks(home, "--mu3e-select", "CA,CRL", "--mu3e-system-cert-dir",
                           str(sysdir), "--mu3e-required-ca",
                           "/C=CH/O=Mu3e Test Grid/CN=Mu3e Test Root CA")
            runs.append(time.perf_counter() - t)
        outcomes = {c.id: c.outcome for c in r.cases.values()}
        print(f"pytest --mu3e-select CA,CRL (subprocess): {statistics.median(runs) * 1000:8.1f}"
              f" ms ({outcomes})")


if __name__ == "__main__":
    main()
