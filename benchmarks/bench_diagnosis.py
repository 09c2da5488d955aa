"""How long the whole offline diagnosis takes, against a bare one-test pytest run.

The target (DEVELOPERS.md): every local check over a full IGTF trust dir with a CRL per CA,
HTML written, in at most 1.5x the time of `pytest -q` running one trivial test in the same
environment.  Run:  python benchmarks/bench_diagnosis.py [--runs N]

It lays out a complete, good setup in a temp dir: credentials from a test CA, the IGTF classic
bundle (Debian's igtf-policy-classic) plus the test CA in the DIRACOS trust dir, a generated CRL
for every CA (signed by the test CA for the test CA; for IGTF CAs, whose keys we do not have,
the CRL is signed by a throwaway key, which is what a corrupt download would look like and still
has to be parsed and judged), a DIRACOS tree and a proxy.  Then it times both commands.
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
    from conftest import Grid
    from tests import pki as f

    grid = Grid()
    home = base / "home"
    f.write_credentials(home / ".globus", grid.user)
    trust = home / "dirac_ui/diracos/etc/grid-security/certificates"
    grid.trust_dir(trust)
    if IGTF.is_dir():
        from cryptography import x509

        stranger = grid.pki.ca("Throwaway signer")
        for pem in sorted(IGTF.glob("*.pem")):
            cert = x509.load_pem_x509_certificate(pem.read_bytes())
            h = f.subject_hash(cert)
            if (trust / f"{h}.0").exists():
                continue
            shutil.copy(pem, trust / f"{h}.0")
            fake_ca = f.Entity(cert, stranger.key)
            crl = grid.pki.crl(fake_ca, signer=stranger)
            from cryptography.hazmat.primitives import serialization

            (trust / f"{h}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    proxy = base / "x509up"
    proxy.write_bytes(grid.pki.proxy(grid.user, group="mu3e.org_user").proxy_file())
    os.chmod(proxy, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X509_", "DIRAC", "MU3E_"))}
    env.update(HOME=str(home), X509_CERT_DIR=str(trust), X509_USER_PROXY=str(proxy),
               PYTHONPATH=str(ROOT))
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        out.append(time.perf_counter() - t0)
    return out


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
        t_bare = timed([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"],
                       bare, env, args.runs)
        t_diag = timed([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
                        "mu3e_checks", "--mu3e-offline"], cwd, env, args.runs)
        n_cas = len(list((Path(env["X509_CERT_DIR"])).glob("*.0")))
    b, d = statistics.median(t_bare), statistics.median(t_diag)
    print(f"CAs in trust dir: {n_cas}, runs: {args.runs}")
    print(f"bare one-test pytest -q : median {b:.2f} s  (min {min(t_bare):.2f})")
    print(f"offline diagnosis + HTML: median {d:.2f} s  (min {min(t_diag):.2f})")
    print(f"ratio: {d / b:.2f}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
