"""How long the DIRAC-client facts take: DIRACOS tree, DIRAC dists, layered dirac.cfg, and
locating a syntax error in a large cfg.  Run: python benchmarks/dirac_facts.py"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mu3e_checks.knowledge.dirac_cfg import CfgSyntaxError, load_layered, parse_cfg  # noqa: E402
from mu3e_checks.knowledge.diracos import find_dirac, inspect_diracos  # noqa: E402
from tests.support.diracos_trees import build_diracos  # noqa: E402


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        tree = build_diracos(home)
        env = tree.env()

        def facts() -> None:
            t = inspect_diracos(tree.prefix, "$DIRACOS")
            install = find_dirac(t, env, home)
            load_layered(env, install.python_prefix, home)

        print(f"DIRACOS + DIRAC dists + layered dirac.cfg: {best_of(20, facts) * 1000:.1f} ms")
    sections = "".join(f"S{i}\n{{\n  A = {i}\n  A += x\n}}\n" for i in range(2000))
    broken = sections + "Bad\n{\n  B += 1\n}\n" + sections

    def locate() -> None:
        try:
            parse_cfg(broken)
        except CfgSyntaxError:
            pass

    print(f"locate the bad line in a {broken.count(chr(10))}-line cfg: "
          f"{best_of(3, locate) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
