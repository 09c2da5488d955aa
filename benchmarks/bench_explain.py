"""How long ``explain`` takes to match a DIRAC log against every catalogue entry.

Run:  python benchmarks/bench_explain.py [--runs N]

Builds logs of 1,000, 5,000 and 10,000 lines from the real lines DIRAC 8.0.74's
dirac-proxy-init prints on a refused port (its retry loop repeats them), mixed with lines no
entry matches (the worst case: every entry is tried on them), and one very long line without
spaces (the narrowing regexes must not backtrack on it).  It prints the best time of each size
and the cost per line; matching is linear when the per-line cost stays roughly constant.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Lines as DIRAC 8.0.74 prints them (tests/peers/test_explain_dirac.py makes them for real).
DIRAC_LINES = (
    "Generating proxy...",
    "Contacting CS...",
    "Issue getting socket: <DIRAC.Core.DISET.private.Transports.M2SSLTransport.SSLTransport "
    "object at 0x7fad6943a590> : ('dips', '127.0.0.1', 36699, 'Configuration/Server') : "
    "[Errno 111] Connection refused:ConnectionRefusedError(111, 'Connection refused')",
    "Non-responding URL temporarily banned dips://127.0.0.1:36699/Configuration/Server",
    "Retry connection : 1 to dips://127.0.0.1:36699/Configuration/Server",
    "Waiting 2.000000 seconds before retry all service(s)",
    "Cannot get URL for Framework/ProxyManager in setup Test: RuntimeError('Option "
    "/DIRAC/Setups/Test/Framework is not defined')",
    "2026-11-26 13:00:00 UTC Framework/ProxyInit INFO: an ordinary line that nothing matches",
    "Setups/" + "x" * 5000 + " is not defined",  # long, no '/' after: no backtracking blow-up
)


def log_of(lines: int) -> str:
    return "\n".join(DIRAC_LINES[i % len(DIRAC_LINES)] for i in range(lines))


def best(text: str, runs: int) -> float:
    from mu3e_checks.explain import match

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        match(text)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    from mu3e_checks.explain import CATALOGUE

    print(f"{len(CATALOGUE)} catalogue entries, best of {args.runs} runs")
    per_line = []
    for n in (1_000, 5_000, 10_000):
        t = best(log_of(n), args.runs)
        per_line.append(t / n)
        print(f"{n:>6} lines: {t * 1000:8.2f} ms  ({t / n * 1e6:6.2f} us/line)")
    ratio = max(per_line) / min(per_line)
    print(f"per-line cost, largest/smallest: {ratio:.2f} (about 1 when linear)")
    return 0 if ratio < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
