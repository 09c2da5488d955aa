"""How long the whole offline diagnosis takes, against a bare one-test pytest run.

The target (DEVELOPERS.md): every local check over a full IGTF trust dir with a CRL per CA,
HTML written, in at most 1.5x the time of `pytest -q` running one trivial test in the same
environment.  Run:  python benchmarks/bench_diagnosis.py [--runs N]

It lays out the tests' complete, correct setup (credentials, DIRACOS with DIRAC 8.0.74 and the
guide's dirac.cfg, the test UK e-Science CAs with CRLs, a Mu3e proxy with group and VOMS AC),
adds the whole IGTF classic bundle (Debian's igtf-policy-classic) under both hash names with a
generated CRL per CA, and times both commands.
"""

from __future__ import annotations

import argparse
import os
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


def build_setup(base: Path) -> dict[str, str]:
    """A complete, correct setup (tests/worlds.py) whose trust dir also holds all of IGTF."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.support import pki_factory as f
    from tests.support.worlds import UKGrid, complete_setup

    uk = UKGrid()
    home, env = complete_setup(uk, base)
    trust = uk.cadir(home)
    stranger = uk.pki.ca("Throwaway CRL signer")
    for pem in sorted(IGTF.glob("*.pem")):
        cert = x509.load_pem_x509_certificate(pem.read_bytes())
        h = f.subject_hash(cert)
        if (trust / f"{h}.0").exists():
            continue
        shutil.copy(pem, trust / f"{h}.0")
        os.symlink(f"{h}.0", trust / f"{f.subject_hash_old(cert)}.0")
        # We do not hold the IGTF CAs' keys: their CRLs are signed by a throwaway key, which
        # costs the same to parse and judge as a real one (and shows up as a warning).
        crl = uk.pki.crl(f.Entity(cert, stranger.key), signer=stranger)
        (trust / f"{h}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    full = {k: v for k, v in os.environ.items() if not k.startswith(("X509_", "DIRAC", "MU3E_"))}
    # Run an installed-like copy of the package: a checkout's root conftest.py (test fixtures)
    # would otherwise be collected too, which a user's installation does not have.
    site = base / "site-packages"
    shutil.copytree(ROOT / "mu3e_checks", site / "mu3e_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    full.update(env, HOME=str(home), PYTHONPATH=str(site),
                MU3E_SYSTEM_CERT_DIR=str(base / "no-system-dir"))
    # An installed package has its bytecode compiled (pip does it); let both commands cache it.
    full.pop("PYTHONDONTWRITEBYTECODE", None)
    return full


def _once(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - t0


def timed_pairs(a: tuple[list[str], Path], b: tuple[list[str], Path], env: dict[str, str],
                runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock times of both commands, interleaved (a, b, a, b, ...) so that drift in the
    machine's load hits both alike, after one untimed warm-up each (bytecode, page cache)."""
    _once(*a, env)
    _once(*b, env)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(_once(*a, env))
        tb.append(_once(*b, env))
    return ta, tb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = build_setup(base)
        bare = base / "bare"
        bare.mkdir()
        (bare / "test_one.py").write_text("def test_one():\n    pass\n")
        cwd = base / "cwd"
        cwd.mkdir()
        py = sys.executable
        t_bare, t_diag = timed_pairs(
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"], bare),
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "mu3e_checks",
              "--mu3e-offline"], cwd), env, args.runs)
        n_cas = len(list((Path(env["X509_CERT_DIR"])).glob("*.0")))
    b, d = statistics.median(t_bare), statistics.median(t_diag)
    print(f"CAs in trust dir: {n_cas}, runs: {args.runs}")
    print(f"bare one-test pytest -q : median {b:.2f} s  (min {min(t_bare):.2f})")
    print(f"offline diagnosis + HTML: median {d:.2f} s  (min {min(t_diag):.2f})")
    print(f"ratio: {d / b:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
