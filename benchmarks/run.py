"""wsdat's benchmark suite: every figure is a ratio against a baseline measured in the same run.

    make bench                     # or: python benchmarks/run.py [--repeat 5] [--quick]

The server (benchmarks/blast_server.py) runs in its own process and writes pre-encoded frames as fast as loopback
allows; each client runs in a fresh process (benchmarks/clients.py). Repetitions interleave the clients, so a noisy
machine disturbs all of them alike; the table gives min / median / max of each ratio over the repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 2**20


def run_client(client: str, url: str, n: int, *extra: str, source: str | None = None) -> dict[str, float]:
    """One client in a fresh process; ``source``: a checkout whose wsdat_core is imported instead (a baseline)."""
    env = {**os.environ, "WSDAT_BENCH_SOURCE": source} if source else None
    done = subprocess.run([sys.executable, str(HERE / "clients.py"), client, url, str(n), *extra],
                          capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{client} failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Row:
    name: str
    values: list[float]
    target: str = ""
    check: Callable[[float], bool] | None = None

    def line(self) -> str:
        low, mid, high = min(self.values), statistics.median(self.values), max(self.values)
        verdict = "" if self.check is None else ("ok" if self.check(mid) else "MISSED")
        return f"{self.name:<52} {low:>8.2f} {mid:>8.2f} {high:>8.2f}  {self.target:<10} {verdict}"


class Bench:
    def __init__(self, port: int, repeat: int, baseline: str | None = None) -> None:
        self.port = port
        self.repeat = repeat
        #: A checkout of an earlier wsdat, measured beside this one (``--baseline``).
        self.baseline = baseline
        self.rows: list[Row] = []

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def rates(self, clients: Sequence[str], path: str, n: int, *extra: str) -> dict[str, list[float]]:
        """Messages per second of each client, per repetition (clients interleaved)."""
        rates: dict[str, list[float]] = {client: [] for client in clients}
        for _ in range(self.repeat):
            for client in clients:
                name, _, source = client.partition("@")
                args = extra if name.startswith("wsdat") else ()
                result = run_client(name, self.url(path), n, *args, source=self.baseline if source else None)
                rates[client].append(n / result["seconds"])
        return rates

    def with_baseline(self, clients: Sequence[str]) -> list[str]:
        """``clients``, plus ``CLIENT@baseline`` for each wsdat client when a baseline checkout was given."""
        extra = [f"{c}@baseline" for c in clients if c.startswith("wsdat")] if self.baseline else []
        return [*clients, *extra]

    def against_baseline(self, label: str, rates: dict[str, list[float]], client: str = "wsdat",
                         tolerance: float = 0.95) -> None:
        """The ratio of this wsdat to the baseline's, when one was measured (target: no worse than ``tolerance``)."""
        if f"{client}@baseline" in rates:
            self.ratio(f"{label}: this wsdat / baseline wsdat", rates[client], rates[f"{client}@baseline"],
                       tolerance)

    def ratio(self, name: str, numerator: list[float], denominator: list[float], target: float | None = None,
              at_most: bool = False) -> None:
        values = [a / b for a, b in zip(numerator, denominator, strict=True)]
        if target is None:
            self.rows.append(Row(name, values))
        elif at_most:
            self.rows.append(Row(name, values, f"<= {target}", lambda v: v <= target))
        else:
            self.rows.append(Row(name, values, f">= {target}", lambda v: v >= target))

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def show(self, rows_before: int) -> None:
        for row in self.rows[rows_before:]:
            print(row.line(), flush=True)


def _available(client: str) -> bool:
    module = {"picows": "picows"}.get(client)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        print(f"   ({client} is not installed: its ratios are left out)")
        return False
    return True


def throughput(bench: Bench, quick: bool) -> None:
    n = 50_000 if quick else 200_000
    bench.section(f"1. throughput, {n} text messages of 100 B, DAT maxlines=100 with a no-op onReceiveText plugin")
    start = len(bench.rows)
    clients = ["wsproto", "trio-websocket", "websocket-client", "websockets", "websockets-trio", "picows", "wsdat"]
    clients = [client for client in clients if _available(client)]
    r = bench.rates(bench.with_baseline(clients), f"/blast?n={n}&size=100", n)
    bench.ratio("wsdat / websockets (asyncio, C speedups)", r["wsdat"], r["websockets"], 2.0)
    bench.ratio("wsdat / websockets' trio client", r["wsdat"], r["websockets-trio"])
    bench.ratio("wsdat / bare wsproto loop (reference)", r["wsdat"], r["wsproto"])
    bench.ratio("wsdat / trio-websocket get_message() loop", r["wsdat"], r["trio-websocket"], 1.7)
    bench.ratio("wsdat / websocket-client", r["wsdat"], r["websocket-client"], 2.0)
    if "picows" in r:
        bench.ratio("wsdat / picows (Cython, asyncio)", r["wsdat"], r["picows"], 1.0)
    bench.against_baseline("100 B text", r)
    bench.show(start)
    print("   (median msg/s: " + ", ".join(f"{c} {statistics.median(v):,.0f}" for c, v in r.items()) + ")")

    start = len(bench.rows)
    for label, size, count, kind, target in [("16 B text", 16, n, "text", 1.0),
                                             ("1 KiB binary", 1024, n // 2, "binary", 1.0),
                                             ("64 KiB text", 65536, max(500, n // 60), "text", 1.0),
                                             ("1 KiB text", 1024, n // 2, "text", None),
                                             ("100 B binary", 100, n, "binary", None)]:
        r = bench.rates(bench.with_baseline(["wsproto", "websockets", "wsdat"]),
                        f"/blast?n={count}&size={size}&kind={kind}", count)
        bench.ratio(f"{label}: wsdat / websockets (asyncio)", r["wsdat"], r["websockets"], target)
        bench.ratio(f"{label}: wsdat / bare wsproto loop", r["wsdat"], r["wsproto"])
        bench.against_baseline(label, r)
    bench.show(start)


def compressed(bench: Bench, quick: bool) -> None:
    n = 50_000 if quick else 200_000
    bench.section(f"7. permessage-deflate: {n} JSON messages of about 100 B, compressed by the server")
    start = len(bench.rows)
    clients = bench.with_baseline(["websockets-deflate", "wsdat"])
    r = bench.rates(clients, f"/blast?n={n}&kind=json&deflate=1", n)
    bench.ratio("context takeover: wsdat / websockets (asyncio, compression on)", r["wsdat"],
                r["websockets-deflate"], 2.0)
    bench.against_baseline("deflate stream", r)
    r = bench.rates(["websockets-deflate", "wsdat"], f"/blast?n={n}&kind=json&deflate=1&takeover=0", n)
    bench.ratio("no context takeover: wsdat / websockets (asyncio, compression on)", r["wsdat"],
                r["websockets-deflate"])
    bench.show(start)


def parsing(bench: Bench, quick: bool) -> None:
    n = 50_000 if quick else 200_000
    bench.section(f"8. a hook doing real work: json.loads of each of {n} JSON messages of about 100 B")
    start = len(bench.rows)
    clients = [c for c in ("picows-json", "websockets-json", "wsdat-json") if _available(c.split("-")[0])]
    r = bench.rates(bench.with_baseline(clients), f"/blast?n={n}&kind=json", n)
    if "picows-json" in r:
        bench.ratio("json.loads hook: wsdat / picows", r["wsdat-json"], r["picows-json"], 1.0)
    bench.ratio("json.loads hook: wsdat / websockets (asyncio)", r["wsdat-json"], r["websockets-json"], 2.5)
    bench.against_baseline("json.loads hook", r, "wsdat-json")
    bench.show(start)


def flat_cost(bench: Bench, quick: bool) -> None:
    """Per-message time with a table of 1M rows against one of 100. Holding a million strings costs memory traffic
    (allocation, page faults, cache misses) whoever holds them: a bare deque of the same strings, timed in the same
    run, measures that part, and the target is on what wsdat adds beyond it, relative to its per-message time."""
    n = 300_000 if quick else 1_200_000
    bench.section(f"2. flat cost in table size: {n} messages, maxlines=1,000,000 vs maxlines=100 (per-message time)")
    start = len(bench.rows)
    small, large, held, extra = [], [], [], []
    for _ in range(bench.repeat):
        url = bench.url(f"/blast?n={n}&size=100")
        small.append(run_client("wsdat", url, n, "--maxlines", "100")["seconds"])
        large.append(run_client("wsdat", url, n, "--maxlines", "1000000")["seconds"])
        held.append(run_client("rows", url, n, "--maxlines", "1000000")["seconds"]
                    - run_client("rows", url, n, "--maxlines", "100")["seconds"])
        extra.append((large[-1] - held[-1]) / small[-1])
    bench.ratio("time per message, maxlines 1M / maxlines 100", large, small)
    bench.ratio("... less what a bare deque of the rows costs more", extra, [1.0] * len(extra), 1.1, at_most=True)
    bench.show(start)
    print(f"   (a bare deque of 1M rows costs {statistics.median(held) / n * 1e9:.0f} ns "
          f"more per message than one of 100; wsdat at maxlines 100: {statistics.median(small) / n * 1e9:.0f} ns)")


def memory(bench: Bench, quick: bool) -> None:
    n = 200_000 if quick else 1_000_000
    bench.section(f"3. memory: {n} rows of 100 B, clamp off: RSS growth while receiving; "
                  "limit 1.5 x payload + 120 B per row")
    start = len(bench.rows)
    growth = [run_client("wsdat", bench.url(f"/blast?n={n}&size=100"), n, "--no-clamp")["table_rss_growth"]
              for _ in range(max(1, bench.repeat // 2))]
    limit = 1.5 * 100 * n + 120 * n
    bench.ratio("RSS growth / limit", growth, [limit] * len(growth), 1.0, at_most=True)
    bench.show(start)
    print(f"   (median RSS growth {statistics.median(growth) / MIB:.1f} MiB = "
          f"{statistics.median(growth) / n:.0f} B per row of 100 B)")


def many(bench: Bench, quick: bool) -> None:
    n = 1000
    window = 10 if quick else 20
    bench.section(f"4. many connections: {n} DATs in one process, 1 message/s each, {window} s window")
    start = len(bench.rows)
    results = [run_client("wsdat-many", bench.url("/tick?interval=1"), n) for _ in range(1 if quick else 2)]
    bench.ratio("RSS / 200 MB", [r["rss_mib"] * MIB / 200e6 for r in results], [1.0] * len(results), 1.0, True)
    bench.ratio("CPU / 50% of one core", [r["cpu_percent"] / 50 for r in results], [1.0] * len(results), 1.0, True)
    bench.show(start)
    print("   (" + "; ".join(f"RSS {r['rss_mib']:.0f} MiB, CPU {r['cpu_percent']:.1f}%, "
                           f"{r['messages_per_second']:.0f} msg/s" for r in results) + ")")


def latency(bench: Bench, quick: bool) -> None:
    n = 20_000 if quick else 50_000
    bench.section(f"5. latency at 10k msg/s ({n} messages): server send -> hook call")
    start = len(bench.rows)
    results = [run_client("wsdat-latency", bench.url(f"/paced?n={n}&rate=10000"), n) for _ in range(bench.repeat)]
    bench.ratio("p99 / 2 ms", [r["p99_us"] / 2000 for r in results], [1.0] * len(results), 1.0, True)
    bench.show(start)
    print("   (p50 " + ", ".join(f"{r['p50_us']:.0f}" for r in results) + " us; p99 "
          + ", ".join(f"{r['p99_us']:.0f}" for r in results) + " us)")


def sending(bench: Bench, quick: bool) -> None:
    n = 50_000 if quick else 200_000
    bench.section(f"6. sending {n} text messages of 100 B until the server confirms")
    start = len(bench.rows)
    r = bench.rates(bench.with_baseline(["wsproto-send", "wsdat-send", "websockets-send", "wsdat-send-await"]),
                    f"/sink?n={n}", n)
    bench.ratio("wsdat sendText / bare wsproto send loop", r["wsdat-send"], r["wsproto-send"], 0.75)
    bench.ratio("await send_text / websockets (asyncio) await send", r["wsdat-send-await"], r["websockets-send"],
                2.0)
    bench.against_baseline("sendText", r, "wsdat-send")
    bench.against_baseline("await send_text", r, "wsdat-send-await")
    bench.show(start)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in
                         ("trio", "trio-websocket", "wsproto", "websocket-client", "websockets"))
    with contextlib.suppress(metadata.PackageNotFoundError):
        versions += f", picows {metadata.version('picows')}"
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; {versions}")


SCENARIOS = {"throughput": throughput, "flat": flat_cost, "memory": memory, "many": many, "latency": latency,
             "sending": sending, "deflate": compressed, "json": parsing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer messages and repetitions (about 3 minutes)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these scenarios")
    parser.add_argument("--baseline", metavar="DIR",
                        help="a checkout of an earlier wsdat (e.g. git worktree add /tmp/base v0.1): its wsdat is "
                             "measured beside this one, interleaved, and the ratios of this one to it are shown")
    args = parser.parse_args()
    repeat = 3 if args.quick and args.repeat == 5 else args.repeat
    server = subprocess.Popen([sys.executable, str(HERE / "blast_server.py")], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    bench = Bench(port, repeat, args.baseline)
    print(f"machine: {machine()}")
    print(f"repetitions: {repeat}; ratios > 1 mean wsdat is faster, except where the target says <=")
    print(f"{'':<52} {'min':>8} {'median':>8} {'max':>8}  {'target':<10}")
    try:
        for name in args.only or SCENARIOS:
            SCENARIOS[name](bench, args.quick)
    finally:
        server.terminate()
        server.wait(5)
        server.stdout.close()
    missed = [row.name for row in bench.rows if row.check is not None and not row.check(statistics.median(row.values))]
    print("\nall targets met" if not missed else f"\ntargets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
