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

One CRL holds ``--big-entries`` revoked serials (100,000 by default, as large national and CERN
CRLs can): with ``--big-crl other`` (the default, issue 23's workload) the CERN Grid CA's, a CA
the user does not rely on; with ``--big-crl chain`` the user's own issuing CA's, which the chain
checks must then hand to OpenSSL and look the user's serial up in.  ``--keep DIR`` lays the
workload out in DIR and leaves it there (with the clean venv), for profiling.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
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
#: The CA whose CRL is the large one with ``--big-crl other``: CERN's CRLs are among the largest.
BIG_OTHER = "CERN-GridCA.pem"


def build_setup(base: Path, big_entries: int = 0, big_crl: str = "other",
                cas: int = 0) -> dict[str, str]:
    """A complete, correct setup (tests/worlds.py) whose trust dir also holds all of IGTF,
    topped up with test CAs (our keys, each with its own CRL) to ``cas`` CAs; one CRL holds
    ``big_entries`` revoked serials: of the CERN Grid CA (``other``) or of the user's issuing
    CA (``chain``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.support import pki_factory as f
    from tests.support.worlds import UKGrid, complete_setup

    uk = UKGrid()
    crls = None
    if big_crl == "chain" and big_entries:
        crls = f.crls_for(uk.pki, uk.cas)
        crls[id(uk.ca)] = uk.pki.crl(uk.ca, filler=big_entries)
    home, env = complete_setup(uk, base, crls=crls)
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
        big = big_entries if big_crl == "other" and pem.name == BIG_OTHER else 0
        crl = uk.pki.crl(f.Entity(cert, stranger.key), signer=stranger, filler=big)
        (trust / f"{h}.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    # This machine's IGTF classic bundle holds about 75 CAs; a host with all IGTF profiles
    # (and the trust dir) about 150: the rest are test CAs laid out the same way.
    n = len(list(trust.glob("*.r0")))
    while n < cas:
        ca = uk.pki.ca(f"Bench Grid CA {n}")
        h = f.subject_hash(ca.cert)
        (trust / f"{h}.0").write_bytes(ca.cert_pem())
        os.symlink(f"{h}.0", trust / f"{f.subject_hash_old(ca.cert)}.0")
        (trust / f"{h}.r0").write_bytes(uk.pki.crl(ca).public_bytes(serialization.Encoding.PEM))
        n += 1
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


def _big_crl_line(trust: Path) -> str:
    """Which CRL file is the large one, and how large (the workload, said in the output)."""
    big = max(trust.glob("*.r0"), key=lambda p: p.stat().st_size)
    return f"largest CRL: {big.name}, {big.stat().st_size / 1e6:.1f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--big-entries", type=int, default=100_000,
                    help="revoked serials in the one large CRL (0: none)")
    ap.add_argument("--big-crl", choices=("other", "chain"), default="other",
                    help="whose CRL is the large one: a CA the user does not rely on (CERN "
                    "Grid CA) or the user's issuing CA")
    ap.add_argument("--cas", type=int, default=152,
                    help="CAs in the trust dir, each with a CRL (IGTF classic, then test CAs)")
    ap.add_argument("--keep", type=Path, help="lay the workload out here and keep it")
    args = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.keep:
            base = args.keep.resolve()
            base.mkdir(parents=True)
        env = build_setup(base, args.big_entries, args.big_crl, args.cas)
        bin_dir = clean_venv(base)
        py = str(bin_dir / "python")
        freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True,
                                env=env, check=True).stdout.splitlines()
        bare = base / "bare"
        bare.mkdir()
        (bare / "test_one.py").write_text("def test_one():\n    pass\n")
        cwd = base / "cwd"
        cwd.mkdir()
        if args.keep:
            with open(base / "env.sh", "w") as out:
                out.writelines(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
            print(f"workload kept in {base} (env -i bash, then . {base / 'env.sh'}; venv "
                  f"{bin_dir})")
        t_bare, t_cli, t_pyargs = timed_rounds([
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_one.py"], bare),
            ([str(bin_dir / "mu3e-checks"), "-q", "--mu3e-offline"], cwd),
            ([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "mu3e_checks",
              "--mu3e-offline"], cwd),
        ], env, args.runs)
        trust = Path(env["X509_CERT_DIR"])
        n_cas = len(list(trust.glob("*.r0")))
        n_files = len(list(trust.glob("*.0")))
        n_html = len(list((cwd / "reports").glob("*.html")))
        big = _big_crl_line(trust)
    print(f"clean venv: {len(freeze)} distributions ({', '.join(freeze)})")
    print(f"trust dir: {n_cas} CAs with a CRL each, {n_files} CA files (both hash names); {big} "
          f"({args.big_entries} entries, CRL of "
          f"{'the user' + chr(39) + 's issuing CA' if args.big_crl == 'chain' else BIG_OTHER})")
    print(f"runs: {args.runs} interleaved rounds; HTML reports written: {n_html}")
    print(f"load average before/after: {load0[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    bw, bc = _median(t_bare, 0), _median(t_bare, 1)
    print(f"{'floor: bare one-test pytest -q':<43} wall median {bw:.2f} s, "
          f"CPU median {bc:.2f} s")
    for label, t in (("mu3e-checks --mu3e-offline", t_cli),
                     ("pytest --pyargs mu3e_checks --mu3e-offline", t_pyargs)):
        dw, dc = _median(t, 0), _median(t, 1)
        # Each round times the floor and this command back to back: the median of those
        # pairs' ratios moves less with the machine's load than a ratio of two medians.
        pw = statistics.median(d[0] / f[0] for d, f in zip(t, t_bare))
        pc = statistics.median(d[1] / f[1] for d, f in zip(t, t_bare))
        print(f"{label:<43} wall median {dw:.2f} s ({dw / bw:.2f}x), "
              f"CPU median {dc:.2f} s ({dc / bc:.2f}x); median of paired ratios: wall "
              f"{pw:.2f}x, CPU {pc:.2f}x")
    print("goal: ratio <= 2x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
