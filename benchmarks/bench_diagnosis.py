"""How long the whole offline diagnosis takes, against a bare one-test pytest run, in a clean venv.

The goal (issue 14): every local check over a full IGTF trust dir with a CRL per CA, HTML
written, within 2x the time of `pytest -q` running one trivial test in the same environment.
Run:  python benchmarks/bench_diagnosis.py [--runs N]

The floor must be honest: measured on this machine's global Python, a bare pytest run also
loads whatever plugins happen to be installed there (hypothesis, pytest-benchmark, ...), which
inflates it.  So the benchmark builds a fresh venv holding only this project and its
dependencies (pip, from this machine's package index), and times both commands with that
venv's Python, interleaved.

It lays out the tests' complete, correct setup (credentials, DIRACOS with DIRAC 8.0.74 and the
guide's dirac.cfg, the test UK e-Science CAs with CRLs, a Mu3e proxy with group and VOMS AC),
adds the whole IGTF classic bundle (Debian's igtf-policy-classic) under both hash names with a
generated CRL per CA, and times the floor, `mu3e-checks --mu3e-offline` and
`pytest --pyargs mu3e_checks --mu3e-offline`.
"""

from __future__ import annotations

import argparse
import os
import resource
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
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("X509_", "DIRAC", "MU3E_", "PYTHON", "PYTEST_", "VIRTUAL_ENV"))}
    full.update(env, HOME=str(home), MU3E_SYSTEM_CERT_DIR=str(base / "no-system-dir"))
    return full


def clean_venv(base: Path) -> Path:
    """A new venv holding only this project (a non-editable install, as a user gets it) and its
    dependencies; returns its bin directory."""
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    src = base / "src"
    shutil.copytree(ROOT / "mu3e_checks", src / "mu3e_checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(src)],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return venv / "bin"


def _once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``argv``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def timed_rounds(commands: list[tuple[list[str], Path]], env: dict[str, str],
                 runs: int) -> list[list[tuple[float, float]]]:
    """(wall, CPU) times of every command, interleaved (a, b, c, a, b, c, ...) so that drift in
    the machine's load hits all alike, after one untimed warm-up each (bytecode, page cache).
    CPU time is reported too: on a shared machine it moves far less with other jobs' load."""
    for argv, cwd in commands:
        _once(argv, cwd, env)
    times: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for i, (argv, cwd) in enumerate(commands):
            times[i].append(_once(argv, cwd, env))
    return times


def _median(times: list[tuple[float, float]], which: int) -> float:
    return statistics.median(t[which] for t in times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = build_setup(base)
        bin_dir = clean_venv(base)
        py = str(bin_dir / "python")
        freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True,
                                env=env, check=True).stdout.splitlines()
        bare = base / "bare"
        bare.mkdir()
        (bare / "test_one.py").write_text("def test_one():\n    pass\n")
        cwd = base / "cwd"
        cwd.mkdir()
        t_bare, t_cli, t_pyargs = timed_rounds([
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"], bare),
            ([str(bin_dir / "mu3e-checks"), "-q", "--mu3e-offline"], cwd),
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "mu3e_checks",
              "--mu3e-offline"], cwd),
        ], env, args.runs)
        n_cas = len(list((Path(env["X509_CERT_DIR"])).glob("*.r0")))
        n_files = len(list((Path(env["X509_CERT_DIR"])).glob("*.0")))
        n_html = len(list((cwd / "reports").glob("*.html")))
    print(f"clean venv: {len(freeze)} distributions ({', '.join(freeze)})")
    print(f"trust dir: {n_cas} CAs with a CRL each, {n_files} CA files (both hash names); "
          f"runs: {args.runs}; HTML reports written: {n_html}")
    print(f"load average before/after: {load0[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    bw, bc = _median(t_bare, 0), _median(t_bare, 1)
    print(f"{'floor: bare one-test pytest -q':<43} wall median {bw:.2f} s, "
          f"CPU median {bc:.2f} s")
    for label, t in (("mu3e-checks --mu3e-offline", t_cli),
                     ("pytest --pyargs mu3e_checks --mu3e-offline", t_pyargs)):
        dw, dc = _median(t, 0), _median(t, 1)
        print(f"{label:<43} wall median {dw:.2f} s ({dw / bw:.2f}x), "
              f"CPU median {dc:.2f} s ({dc / bc:.2f}x)")
    print("goal: ratio <= 2x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
