"""Hostile files through the certificate, proxy, dirac.cfg and vomses readers: cost per MB.

Run:  python benchmarks/bench_hostile_read.py [--sizes 5,10,25,50] [--quick]

Issue 10 found ``_PEM_RE`` quadratic (1 MB of BEGIN lines as another user's proxy took minutes).
Every reader is timed on inputs built to hurt a backtracking or append-heavy parser: repeated
BEGIN lines, BEGIN/END markers that never pair, one huge base64 line, deeply nested and very
wide dirac.cfg sections, vomses lines that never close a quote.  For each input it prints the
seconds per MB at every size and the ratio of the per-MB cost at the largest size to the
smallest: linear reading keeps it near 1 (the check is < 2).

``knowledge.files.read_bytes`` caps every read at 64 MB; the vomses (1 MB) and dirac.cfg (2 MB)
readers cap lower, as no real file comes near.  A file over its reader's cap is refused after
one ``fstat``, so those readers are also timed at sizes under their cap, where the parser runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def _fill(unit: bytes, size: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    body = size - len(head) - len(tail)
    return head + unit * max(body // len(unit), 0) + tail


def _cert_inputs() -> dict[str, Callable[[int], bytes]]:
    return {
        "repeated BEGIN lines": lambda n: _fill(b"-----BEGIN CERTIFICATE-----\n", n),
        "BEGIN/END never pairing": lambda n: _fill(
            b"-----BEGIN CERTIFICATE-----\n-----END X509 CRL-----\n", n),
        "one huge base64 line": lambda n: _fill(
            b"A", n, b"-----BEGIN CERTIFICATE-----\n", b"\n-----END CERTIFICATE-----\n"),
    }


def _proxy_inputs() -> dict[str, Callable[[int], bytes]]:
    return {
        "repeated BEGIN lines": lambda n: _fill(b"-----BEGIN RSA PRIVATE KEY-----\n", n),
        "markers without labels": lambda n: _fill(b"-----BEGIN -----END -----", n),
        "one huge base64 line": lambda n: _fill(
            b"A", n, b"-----BEGIN CERTIFICATE-----\n", b"\n-----END CERTIFICATE-----\n"),
    }


def _deep_cfg(n: int) -> bytes:
    # Chains 58 sections deep, under 250 x 250 distinct parents (diraccfg refuses a section
    # name twice), as many as fit: every byte is parsed.
    chain = "".join(f"S{i}\n{{\n" for i in range(58)) + "X = 1\n" + "}\n" * 58
    out, size = [], 0
    for t in range(250):
        out.append(f"T{t}\n{{\n")
        for u in range(250):
            out.append(f"U{u}\n{{\n{chain}}}\n")
            size += len(chain) + 10
            if size >= n:
                break
        out.append("}\n")
        if size >= n:
            break
    return "".join(out).encode()


def _wide_cfg(n: int) -> bytes:
    # Sections of 250 options under 250 sections, as many top-level blocks as fit.
    inner = "".join(f"O{i} = {i}\n" for i in range(250))
    block = "".join(f"B{b}\n{{\n{inner}}}\n" for b in range(250))
    out, a = [], 0
    size = 0
    while size < n:
        part = f"A{a % 250}\n{{\n{block}}}\n"
        out.append(part)
        size += len(part)
        a += 1
    return "".join(out).encode()[:n].rsplit(b"\n}\n", 1)[0] + b"\n}\n}\n"


def _cfg_inputs() -> dict[str, Callable[[int], bytes]]:
    return {
        "deep nesting (60 levels, repeated)": _deep_cfg,
        "too deep (refused at level 65)": lambda n: _fill(b"S\n{\n", n),
        "wide sections (parsed)": _wide_cfg,
        "one huge value": lambda n: _fill(b"x", n, b"A = ", b"\n"),
    }


def _vomses_inputs() -> dict[str, Callable[[int], bytes]]:
    return {
        "lines never closing a quote": lambda n: _fill(b'"mu3e.org" "voms.example.org\n', n),
        "one huge line": lambda n: _fill(b"x", n, b'"', b"\n"),
    }


def _readers():
    from mu3e_checks.knowledge import dirac_cfg, pki, proxy, voms_env
    from mu3e_checks.knowledge.files import Unreadable, read_bytes

    def cert(path: Path) -> str:
        try:
            pki.pick_user_certificate(read_bytes(path), str(path))
        except (pki.PemError, Unreadable) as exc:
            return str(exc)
        return "read"

    def prx(path: Path) -> str:
        try:
            proxy.read_proxy(path)
        except (pki.PemError, Unreadable) as exc:
            return str(exc)
        return "read"

    def cfg(path: Path) -> str:
        entry = dirac_cfg.read_cfg_file(path, "$DIRACSYSCONFIG")
        return entry.error or f"{len(entry.options)} options"

    def vomses(path: Path) -> str:
        entries, problems = voms_env.read_vomses(path)
        return problems[0] if problems else f"{len(entries)} entries"

    return {"certificate": cert, "proxy": prx, "dirac.cfg": cfg, "vomses": vomses}


def _time(reader, path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    verdict = reader(path)
    return time.perf_counter() - start, verdict


def bench(name: str, reader, inputs, sizes_mb: list[float], tmp: Path) -> list[bool]:
    results = []
    for label, make in inputs.items():
        per_mb = []
        line = f"{name:12s} {label:36s}"
        for size in sizes_mb:
            path = tmp / "hostile"
            path.write_bytes(make(int(size * MB)))
            seconds, verdict = _time(reader, path)
            path.unlink()
            per_mb.append(seconds / size)
            line += f" {size:5g} MB {seconds / size:7.4f} s/MB |"
        ratio = per_mb[-1] / max(per_mb[0], 1e-6)
        # Below 50 ms per MB the timing is constant overhead and noise, not growth.
        ok = ratio < 2 or per_mb[-1] < 0.05
        results.append(ok)
        print(f"{line} ratio {ratio:4.2f} {'ok' if ok else 'NOT LINEAR'}  [{verdict[:60]}]")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="5,10,25,50", help="MB, comma separated")
    parser.add_argument("--quick", action="store_true", help="sizes / 10, for a smoke run")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    sizes = [float(s) * scale for s in args.sizes.split(",")]
    readers = _readers()
    ok: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        print(f"sizes {sizes} MB (read_bytes cap 64 MB)")
        ok += bench("certificate", readers["certificate"], _cert_inputs(), sizes, t)
        ok += bench("proxy", readers["proxy"], _proxy_inputs(), sizes, t)
        ok += bench("dirac.cfg", readers["dirac.cfg"], _cfg_inputs(), sizes, t)
        ok += bench("vomses", readers["vomses"], _vomses_inputs(), sizes, t)
        # Under the lower caps the parsers themselves run: same factor 10 between sizes.
        cfg_sizes = [s * scale for s in (0.19, 0.38, 0.95, 1.9)]
        vomses_sizes = [s * scale for s in (0.09, 0.18, 0.45, 0.9)]
        print(f"under the reader's own cap: dirac.cfg {cfg_sizes} MB, vomses {vomses_sizes} MB")
        ok += bench("dirac.cfg", readers["dirac.cfg"], _cfg_inputs(), cfg_sizes, t)
        ok += bench("vomses", readers["vomses"], _vomses_inputs(), vomses_sizes, t)
    print("linear" if all(ok) else "SOME READER IS NOT LINEAR")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
