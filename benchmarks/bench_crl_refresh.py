"""Our CRL refresh against ``fetch-crl`` on the same IGTF-size trust dir, side by side.

The goal (issue 13): refreshing the CRLs of the full IGTF classic set (about 150 CAs) from a
loopback server is faster with ``mu3e-checks fix`` than with ``fetch-crl`` on the same data.
The real IGTF CAs' keys are not ours, so each CA of /usr/share/igtf-policy/classic is mirrored
by a test CA with the same subject DN (our key; 73 CAs, topped up with test CAs to --cas),
laid out as IGTF does (``<name>.pem``, ``<name>.crl_url``, ``<hash>.0`` links), with an
expired CRL; a loopback HTTP server serves a
fresh CRL per CA.  Each run starts from a fresh copy of that directory; runs are interleaved.
Run:  python benchmarks/bench_crl_refresh.py [--runs N] [--cas N]

Measured 2026-11-26 (2 shared cores, 150 CAs, 2 runs): ours median 1.42s, fetch-crl 12.08s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IGTF = Path("/usr/share/igtf-policy/classic")


def igtf_subjects(limit: int) -> list[tuple[str, object]]:
    """(IGTF alias, subject Name) of every CA in the classic bundle (or ``limit`` test names)."""
    import warnings

    from cryptography import x509

    out = []
    if IGTF.is_dir():
        for pem in sorted(IGTF.glob("*.pem")):
            with warnings.catch_warnings():  # one IGTF CA has a non-positive serial number
                warnings.simplefilter("ignore")
                cert = x509.load_pem_x509_certificate(pem.read_bytes())
            out.append((pem.stem, cert.subject))
    while len(out) < limit:
        out.append((f"BenchCA-{len(out)}", None))
    return out[:limit]


def build(base: Path, count: int) -> tuple[Path, dict[str, bytes]]:
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.support.pki_factory import DAY, NOW, PKI, subject_hash

    pki = PKI()
    template = base / "template"
    template.mkdir(parents=True)
    served: dict[str, bytes] = {}
    seen: set[str] = set()
    for alias, subject in igtf_subjects(count):
        ca = pki.ca(alias) if subject is None else pki.ca(subject=subject)
        h = subject_hash(ca.cert)
        if h in seen:
            continue
        seen.add(h)
        (template / f"{alias}.pem").write_bytes(ca.cert_pem())
        (template / f"{alias}.crl_url").write_text(f"@BASE@/{h}.crl\n")
        (template / f"{h}.0").symlink_to(f"{alias}.pem")
        old = pki.crl(ca, last_update=NOW - 10 * DAY, next_update=NOW - DAY)
        (template / f"{h}.r0").write_bytes(old.public_bytes(Encoding.PEM))
        served[f"/{h}.crl"] = pki.crl(ca, filler=200).public_bytes(Encoding.PEM)
    return template, served


def fresh_copy(template: Path, target: Path, base_url: str) -> Path:
    shutil.copytree(template, target, symlinks=True)
    for url_file in target.glob("*.crl_url"):
        url_file.write_text(url_file.read_text().replace("@BASE@", base_url))
    return target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cas", type=int, default=150)
    args = parser.parse_args()
    if not shutil.which("fetch-crl"):
        print("fetch-crl is not installed", file=sys.stderr)
        return 2
    from mu3e_checks.repair import refresh_crls
    from tests.support.crl_server import serve

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        template, served = build(base, args.cas)
        print(f"{len(served)} CAs (IGTF classic subjects), one CRL each, loopback server")
        ours, theirs = [], []
        with serve(served) as server:
            for run in range(args.runs):
                d = fresh_copy(template, base / f"ours-{run}", server.base)
                t0 = time.perf_counter()
                log = refresh_crls(d)
                ours.append(time.perf_counter() - t0)
                ok = sum(" <- " in ln for ln in log)
                assert ok == len(served), [ln for ln in log if " <- " not in ln][:5]
                d = fresh_copy(template, base / f"theirs-{run}", server.base)
                t0 = time.perf_counter()
                proc = subprocess.run(["fetch-crl", "-l", str(d), "-o", str(d)],
                                      capture_output=True, text=True)
                theirs.append(time.perf_counter() - t0)
                assert proc.returncode == 0, proc.stderr[-2000:]
        med_ours, med_theirs = statistics.median(ours), statistics.median(theirs)
        print(f"mu3e-checks refresh: median {med_ours:.2f}s  runs {[round(x, 2) for x in ours]}")
        print(f"fetch-crl:           median {med_theirs:.2f}s  runs "
              f"{[round(x, 2) for x in theirs]}")
        print(f"speed-up: {med_theirs / med_ours:.1f}x")
        return 0 if med_ours < med_theirs else 1


if __name__ == "__main__":
    sys.exit(main())
