"""How long each network layer takes to reach its verdict, healthy and against hostile peers.

Run from the checkout root:  python -m benchmarks.bench_network [--timeout 2] [--repeat 3]

Every case runs inside a loopback-only network namespace where the kernel allows it, against
the loopback servers of the test suite.  The point: a stalled peer costs about one timeout per
layer, never more, and a healthy server answers in milliseconds; the survey of every listed
server (NET-007) costs about one timeout for 1, 3 or 6 dead servers, and so does finding the
server the layer checks judge when the dead ones are listed first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mu3e_checks.knowledge.net import dns  # noqa: E402
from mu3e_checks.knowledge.net.probe import CsProbe  # noqa: E402
from mu3e_checks.knowledge.net.servers import ServerSurvey  # noqa: E402
from tests.support.diset_server import BlackholePort, DisetServer, StallServer  # noqa: E402
from tests.support.dns_responder import DnsResponder  # noqa: E402
from tests.support.net_world import TEST_HOST, NetWorld  # noqa: E402
from tests.support.netns import loopback_namespace  # noqa: E402
from tests.support.worlds import Grid  # noqa: E402


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t = args.timeout
    world = NetWorld(Grid(), Path(tempfile.mkdtemp(prefix="bench-net-")))
    rows: list[tuple[str, list[float]]] = []
    with loopback_namespace() as isolated, DnsResponder(
            {TEST_HOST: {"A": ["127.0.0.1"]}}, stall=["stall.mu3e.test"]) as responder:
        ns = dns.parse_nameserver(responder.address)

        def probe(port: int, host: str = TEST_HOST) -> CsProbe:
            return CsProbe(f"dips://{host}:{port}/Configuration/Server", timeout=t,
                           capath=world.trust, proxy=world.proxy, nameserver=ns,
                           hosts_path=Path("/nonexistent"))

        def probe_url(url: str) -> CsProbe:
            return CsProbe(url, timeout=t, capath=world.trust, proxy=world.proxy,
                           nameserver=ns, hosts_path=Path("/nonexistent"))

        def case(name: str, make, layer: str) -> None:
            times = []
            for _ in range(args.repeat):
                p = make()
                for before in {"dns": [], "tcp": ["resolution"], "tls": ["resolution", "tcp"],
                               "ping": ["resolution", "tcp", "tls"]}[layer]:
                    getattr(p, before)()
                method = {"dns": "resolution"}.get(layer, layer)
                times.append(timed(getattr(p, method)))
            rows.append((name, times))

        with DisetServer(world.named, world.client_cas, registry=world.registry()) as healthy:
            case("DNS, healthy responder", lambda: probe(healthy.port), "dns")
            case("TCP, healthy server", lambda: probe(healthy.port), "tcp")
            case("TLS + proposal, healthy server", lambda: probe(healthy.port), "tls")
            case("DISET ping, healthy server", lambda: probe(healthy.port), "ping")
        case("DNS, responder never answers", lambda: probe(9135, "stall.mu3e.test"), "dns")
        with BlackholePort() as hole:
            case("TCP, SYNs dropped (full queue)", lambda: probe(hole.port), "tcp")
        with StallServer() as stall:
            case("TLS, server accepts TCP and stalls", lambda: probe(stall.port), "tls")
        with DisetServer(world.named, world.client_cas, mode="stall") as quiet:
            case("DISET, server stalls after TLS", lambda: probe(quiet.port), "tls")

        # The network phase against N dead servers (NET-007's survey): one healthy server
        # first, then N that stall a layer each (TLS stall, dropped SYNs, silent DNS), probed
        # concurrently.  The time must stay about one timeout, whatever N.
        with DisetServer(world.named, world.client_cas, registry=world.registry()) as healthy, \
                StallServer() as stall, BlackholePort() as hole:
            dead = [f"dips://{TEST_HOST}:{stall.port}/Configuration/Server",
                    f"dips://{TEST_HOST}:{hole.port}/Configuration/Server",
                    "dips://stall.mu3e.test:9135/Configuration/Server"]
            good = f"dips://{TEST_HOST}:{healthy.port}/Configuration/Server"
            for n in (1, 3, 6):
                # Distinct URLs (the survey probes each URL once): the component name varies.
                urls = [good] + [f"{dead[i % 3]}{i}" for i in range(n)]
                times = []
                for _ in range(args.repeat):
                    survey = ServerSurvey(urls, probe_url)
                    times.append(timed(survey.verdicts))
                rows.append((f"survey: 1 healthy + {n} dead servers", times))
                # The server the layer checks judge, with the dead ones listed first: DIRAC
                # falls over to the healthy one; finding it must cost about one timeout too.
                first_dead = urls[1:] + [good]
                times = []
                for _ in range(args.repeat):
                    survey = ServerSurvey(first_dead, probe_url)
                    times.append(timed(survey.serving))
                rows.append((f"serving: {n} dead servers, then healthy", times))
    print(f"timeout {t:g} s, {args.repeat} runs each, loopback-only namespace: {isolated}")
    print(f"{'case':40} {'median s':>9} {'max s':>7}")
    for name, times in rows:
        print(f"{name:40} {statistics.median(times):9.3f} {max(times):7.3f}")


if __name__ == "__main__":
    main()
