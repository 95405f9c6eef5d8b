"""Ingest into Redis Streams, workers and end-to-end latency, against the local Redis (127.0.0.1:6379 by default).

    python benchmarks/redis_ingest.py [--n 200000] [--size 100] [--repeat 3] [--url redis://127.0.0.1:6379/0]

Every figure comes with a baseline measured in the same run, on the same Redis, with the same client:

  bare XADD pipeline      redis-py, one XADD per entry with the plugin's six fields, 1000 per round trip
  bare XADD (coredis)     the same loop with coredis on trio (through anyio), when coredis is installed: the
                          measurement behind choosing redis-py (docs/scaling.md)
  redis-benchmark         the machine's redis-benchmark, pipelined XADD (-P 1000) of the same entries: the
                          issue's baseline (one DAT ingests at >= 0.6x of it)
  bare script batches     redis-py, the plugin's Lua script (1000 XADDs per call, 8 calls per round trip)
  DAT -> Redis            a WebSocketDAT with the redis plugin reading /blast from benchmarks/blast_server.py (its own
                          process) until every message is in the stream; ratio against the bare XADD pipeline
  DAT alone               the same DAT and feed without the plugin (the ceiling of the DAT itself)
  worker                  one worker DAT (``wsdat work`` in process, a no-op hook) through N entries, until acked;
                          then two worker processes of one group on one stream (entries/s of both together)
  end to end              /paced messages at --rate: server send -> ingest DAT -> Redis -> worker hook, p50/p99

Stream keys are named bench:{<uuid>} and deleted afterwards. Targets (issue 26): one DAT ingests at >= 0.6x the
redis-benchmark rate, one worker process handles >= 100,000 entries/s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis
import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins" / "wsdat-redis"))

from wsdat_redis import SCRIPT, RedisSink  # noqa: E402
from wsdat_redis.work import WorkerDAT, WorkOptions, run_worker  # noqa: E402

from wsdat_core import WebSocketDAT  # noqa: E402

TARGET_RATIO = 0.6
WORKER_TARGET = 100_000.0


@contextlib.contextmanager
def blast_server() -> Iterator[int]:
    process = subprocess.Popen([sys.executable, "-u", str(HERE / "blast_server.py")], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield int(line.split()[1])
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


@contextlib.contextmanager
def fresh_stream(client: redis.Redis) -> Iterator[str]:
    name = f"bench:{{{uuid.uuid4().hex}}}"
    try:
        yield name
    finally:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)


def fields(i: int, message: str) -> dict[str, Any]:
    return {"dat": "bench", "event": "text", "row": i % 100 + 1, "message": message, "t": time.time(), "seq": i}


# ------------------------------------------------------------------------------------------------------ baselines
def redis_benchmark(url: str, n: int, size: int) -> float:
    """redis-benchmark's pipelined XADD of entries like the plugin's (six fields, MAXLEN ~)."""
    parts = redis.connection.parse_url(url)
    key = f"bench:{{{uuid.uuid4().hex}}}"
    done = subprocess.run(["redis-benchmark", "-h", str(parts.get("host", "127.0.0.1")),
                           "-p", str(parts.get("port", 6379)), "-n", str(n), "-P", "1000", "-q", "XADD", key,
                           "MAXLEN", "~", "1000000", "*", "dat", "bench", "event", "text", "row", "1", "message",
                           "x" * size, "t", "1700000000.123456", "seq", "12345"],
                          capture_output=True, text=True, check=True)
    redis.Redis.from_url(url).delete(key)
    return float(re.findall(r"([\d.]+) requests per second", done.stdout)[-1])



def bare_xadd(client: redis.Redis, n: int, size: int) -> float:
    message = "x" * size
    with fresh_stream(client) as stream:
        started = time.perf_counter()
        for first in range(0, n, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(first, min(n, first + 1000)):
                pipe.xadd(stream, fields(i, message), maxlen=1_000_000, approximate=True)
            pipe.execute()
        return n / (time.perf_counter() - started)


def bare_coredis(url: str, n: int, size: int) -> float | None:
    try:
        import coredis
        from coredis.tokens import PureToken
    except ImportError:
        return None
    coredis.Config.optimized = True
    message = "x" * size

    async def main() -> float:
        client = coredis.Redis.from_url(url)
        async with client:
            stream = f"bench:{uuid.uuid4().hex}"
            started = time.perf_counter()
            for first in range(0, n, 1000):
                async with client.pipeline(transaction=False) as pipe:
                    for i in range(first, min(n, first + 1000)):
                        pipe.xadd(stream, fields(i, message), trim_strategy=PureToken.MAXLEN,
                                  trim_operator=PureToken.APPROXIMATELY, threshold=1_000_000)
            rate = n / (time.perf_counter() - started)
            await client.delete([stream])
            return rate

    return trio.run(main)


def bare_script(client: redis.Redis, n: int, size: int) -> float:
    message = "x" * size
    sha = client.script_load(SCRIPT)
    with fresh_stream(client) as stream:
        keys = (stream, f"{stream}:seq", f"{stream}:writer:bench")
        number = 0
        started = time.perf_counter()
        for first in range(0, n, 8000):
            pipe = client.pipeline(transaction=False)
            for start in range(first, min(n, first + 8000), 1000):
                number += 1
                args: list[Any] = [number, 1_000_000, "bench"]
                for i in range(start, min(n, start + 1000)):
                    args += ["text", i % 100 + 1, message, time.time()]
                pipe.evalsha(sha, 3, *keys, *args)
            pipe.execute()
        return n / (time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------------------- DAT
async def dat_ingest(url: str, port: int, n: int, size: int, with_redis: bool) -> float:
    client = redis.Redis.from_url(url)
    with fresh_stream(client) as stream:
        sink = RedisSink()
        callbacks: list[object] = [sink] if with_redis else []
        dat = WebSocketDAT("bench", netaddress=f"ws://127.0.0.1:{port}/blast?n={n}&size={size}", maxlines=100,
                           reconnect=False, callbacks=callbacks, settings={"redis": {"url": url, "stream": stream}})
        async with trio.open_nursery() as nursery:
            started = time.perf_counter()
            await nursery.start(dat.run)
            while (sink.stats(dat).get("written", 0) if with_redis else dat.info.messages_received) < n:
                await trio.sleep(0.002)
            elapsed = time.perf_counter() - started
            nursery.cancel_scope.cancel()
        if with_redis:
            assert client.xlen(stream) == n, "entries missing"
    client.close()
    return n / elapsed


class Noop:
    def __init__(self) -> None:
        self.count = 0

    def onReceiveText(self, message: str) -> None:
        self.count += 1


async def worker_rate(url: str, n: int, size: int) -> float:
    client = redis.Redis.from_url(url)
    with fresh_stream(client) as stream:
        fill(client, stream, n, size)
        noop = Noop()
        dat = WorkerDAT("worker", callbacks=[noop], maxlines=100)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            started = time.perf_counter()
            nursery.start_soon(run_worker, dat, WorkOptions(url=url, stream=stream, group="bench", consumer="w",
                                                            batch=500, block=100), stop)
            while noop.count < n:
                await trio.sleep(0.002)
            while client.xpending(stream, "bench")["pending"]:
                await trio.sleep(0.002)
            elapsed = time.perf_counter() - started
            stop.set()
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    client.close()
    return n / elapsed


def fill(client: redis.Redis, stream: str, n: int, size: int) -> None:
    message = "x" * size
    for first in range(0, n, 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(n, first + 1000)):
            pipe.xadd(stream, fields(i, message))
        pipe.execute()


def worker_child(url: str, stream: str, consumer: str) -> None:
    """One worker process (``--child``): processes until the group has nothing left, prints first/last time."""
    async def main() -> None:
        client = redis.Redis.from_url(url)
        noop = Noop()
        dat = WorkerDAT(consumer, callbacks=[noop], maxlines=100)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            started = time.time()
            nursery.start_soon(run_worker, dat, WorkOptions(url=url, stream=stream, group="bench", consumer=consumer,
                                                            batch=500, block=100), stop)
            while True:
                await trio.sleep(0.01)
                groups = client.xinfo_groups(stream)
                if groups and groups[0]["lag"] == 0 and groups[0]["pending"] == 0:
                    break
            print(f"{started} {time.time()} {noop.count}", flush=True)
            stop.set()
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    trio.run(main)


def workers_rate(url: str, n: int, size: int, processes: int) -> float:
    client = redis.Redis.from_url(url)
    with fresh_stream(client) as stream:
        fill(client, stream, n, size)
        client.xgroup_create(stream, "bench", id="0")
        children = [subprocess.Popen([sys.executable, __file__, "--child", url, stream, f"w{index}"],
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(HERE.parent)})
                    for index in range(processes)]
        lines = [child.communicate(timeout=600)[0].split() for child in children]
    client.close()
    started, ended = min(float(line[0]) for line in lines), max(float(line[1]) for line in lines)
    assert sum(int(line[2]) for line in lines) >= n, "entries missing"
    return n / (ended - started)


class Latency:
    def __init__(self) -> None:
        self.samples: list[float] = []

    def onReceiveText(self, message: str) -> None:
        stamp = message.split(" ", 1)[0]
        self.samples.append((time.monotonic_ns() - int(stamp)) / 1000.0)


async def end_to_end(url: str, port: int, n: int, rate: float) -> tuple[float, float]:
    client = redis.Redis.from_url(url)
    with fresh_stream(client) as stream:
        latency = Latency()
        worker = WorkerDAT("worker", callbacks=[latency])
        ingest = WebSocketDAT("ingest", netaddress=f"ws://127.0.0.1:{port}/paced?n={n}&rate={rate}&size=100",
                              reconnect=False, callbacks=[RedisSink()], settings={"redis": {"url": url,
                                                                                             "stream": stream}})
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run_offline)
            nursery.start_soon(run_worker, worker, WorkOptions(url=url, stream=stream, group="bench", consumer="w",
                                                               start="$", block=1000), stop)
            await trio.sleep(0.3)  # the group exists before the first entry
            await nursery.start(ingest.run)
            with trio.move_on_after(n / rate + 20):
                while len(latency.samples) < n:
                    await trio.sleep(0.01)
            stop.set()
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    client.close()
    samples = sorted(latency.samples[n // 10:])  # the first tenth warms up
    if not samples:
        raise RuntimeError("no latency samples")
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


# ----------------------------------------------------------------------------------------------------------- report
def spread(values: list[float]) -> str:
    return f"{min(values):>10,.0f} {statistics.median(values):>10,.0f} {max(values):>10,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--n", type=int, default=200_000, help="messages per measurement")
    parser.add_argument("--size", type=int, default=100, help="message size in bytes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5000.0, help="messages per second for the latency run")
    parser.add_argument("--child", nargs=3, metavar=("URL", "STREAM", "CONSUMER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        worker_child(*args.child)
        return 0
    client = redis.Redis.from_url(args.url)
    try:
        server = client.info("server")
    except redis.ConnectionError as exc:
        print(f"redis_ingest: Redis is not reachable at {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"# {platform.python_implementation()} {platform.python_version()}, redis-py {redis.__version__}, "
          f"Redis {server['redis_version']}, {args.n:,} messages of {args.size} bytes, {args.repeat} repetitions")
    rates: dict[str, list[float]] = {}

    def add(name: str, run: Callable[[], float | None]) -> None:
        value = run()
        if value is not None:
            rates.setdefault(name, []).append(value)

    with blast_server() as port:
        for _ in range(args.repeat):  # interleaved, so a noisy machine disturbs all alike
            add("redis-benchmark XADD -P 1000", lambda: redis_benchmark(args.url, args.n, args.size))
            add("bare XADD pipeline (redis-py)", lambda: bare_xadd(client, args.n, args.size))
            add("bare XADD pipeline (coredis)", lambda: bare_coredis(args.url, args.n, args.size))
            add("bare script batches (redis-py)", lambda: bare_script(client, args.n, args.size))
            add("DAT -> Redis (wsdat-redis)", lambda: trio.run(dat_ingest, args.url, port, args.n, args.size, True))
            add("DAT alone (no plugin)", lambda: trio.run(dat_ingest, args.url, port, args.n, args.size, False))
            add("worker, one process (no-op hook)", lambda: trio.run(worker_rate, args.url, args.n // 2, args.size))
            add("workers, two processes (no-op hook)", lambda: workers_rate(args.url, args.n, args.size, 2))
        print(f"{'msg/s':<40} {'min':>10} {'median':>10} {'max':>10}")
        for name, values in rates.items():
            print(f"{name:<40} {spread(values)}")
        ingest = statistics.median(rates["DAT -> Redis (wsdat-redis)"])
        baseline = statistics.median(rates["redis-benchmark XADD -P 1000"])
        ratio = ingest / baseline
        print(f"DAT -> Redis / redis-benchmark: {ratio:.2f}x; target >= {TARGET_RATIO}x: "
              f"{'ok' if ratio >= TARGET_RATIO else 'MISSED'}")
        worker = statistics.median(rates["worker, one process (no-op hook)"])
        print(f"worker, one process: {worker:,.0f} entries/s; target >= {WORKER_TARGET:,.0f}: "
              f"{'ok' if worker >= WORKER_TARGET else 'MISSED'}")
        if "bare XADD pipeline (coredis)" in rates:
            ratio = baseline / statistics.median(rates["bare XADD pipeline (coredis)"])
            print(f"redis-py / coredis, bare XADD pipeline: {ratio:.2f}x")
        n = int(args.rate * 4)
        p50, p99 = trio.run(end_to_end, args.url, port, n, args.rate)
        print(f"end to end at {args.rate:,.0f} msg/s ({n:,} messages): p50 {p50 / 1000:.2f} ms, "
              f"p99 {p99 / 1000:.2f} ms")
    client.close()
    return 0 if ratio >= TARGET_RATIO and worker >= WORKER_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
