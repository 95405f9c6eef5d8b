"""Ingest into Redis Streams, workers and end-to-end latency, against the local Redis (127.0.0.1:6379 by default).

    python benchmarks/redis_ingest.py [--n 200000] [--size 100] [--repeat 3] [--url redis://127.0.0.1:6379/0]

Every figure comes with a baseline measured in the same run, on the same Redis, with the same client:

  bare XADD pipeline      redis-py, one XADD per entry with the plugin's six fields, 1000 per round trip
  bare XADD (coredis)     the same loop with coredis on trio (through anyio), when coredis is installed: the
                          measurement behind choosing redis-py (docs/scaling.md)
  bare script batches     redis-py, the plugin's Lua script (1000 XADDs per call, 8 calls per round trip)
  DAT -> Redis            a WebSocketDAT with the redis plugin reading /blast from benchmarks/blast_server.py (its own
                          process) until every message is in the stream; ratio against the bare XADD pipeline
  DAT alone               the same DAT and feed without the plugin (the ceiling of the DAT itself)
  worker                  one worker DAT (``wsdat work`` in process, a no-op hook) through N entries, until acked
  end to end              /paced messages at --rate: server send -> ingest DAT -> Redis -> worker hook, p50/p99

Stream keys are named bench:<uuid> and deleted afterwards. The target of the issue is >= 50,000 msg/s into Redis
from one DAT.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
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

TARGET = 50_000.0


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
    name = f"bench:{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)


def fields(i: int, message: str) -> dict[str, Any]:
    return {"dat": "bench", "event": "text", "row": i % 100 + 1, "message": message, "t": time.time(), "seq": i}


# ------------------------------------------------------------------------------------------------------ baselines
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
        message = "x" * size
        for first in range(0, n, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(first, min(n, first + 1000)):
                pipe.xadd(stream, fields(i, message))
            pipe.execute()
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
    args = parser.parse_args()
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
            add("bare XADD pipeline (redis-py)", lambda: bare_xadd(client, args.n, args.size))
            add("bare XADD pipeline (coredis)", lambda: bare_coredis(args.url, args.n, args.size))
            add("bare script batches (redis-py)", lambda: bare_script(client, args.n, args.size))
            add("DAT -> Redis (wsdat-redis)", lambda: trio.run(dat_ingest, args.url, port, args.n, args.size, True))
            add("DAT alone (no plugin)", lambda: trio.run(dat_ingest, args.url, port, args.n, args.size, False))
            add("worker, one process (no-op hook)", lambda: trio.run(worker_rate, args.url, args.n // 2, args.size))
        print(f"{'msg/s':<40} {'min':>10} {'median':>10} {'max':>10}")
        for name, values in rates.items():
            print(f"{name:<40} {spread(values)}")
        ingest = statistics.median(rates["DAT -> Redis (wsdat-redis)"])
        baseline = statistics.median(rates["bare XADD pipeline (redis-py)"])
        verdict = "ok" if ingest >= TARGET else "MISSED"
        print(f"DAT -> Redis / bare XADD pipeline: {ingest / baseline:.2f}x; target >= {TARGET:,.0f} msg/s: {verdict}")
        if "bare XADD pipeline (coredis)" in rates:
            ratio = baseline / statistics.median(rates["bare XADD pipeline (coredis)"])
            print(f"redis-py / coredis, bare XADD pipeline: {ratio:.2f}x")
        n = int(args.rate * 4)
        p50, p99 = trio.run(end_to_end, args.url, port, n, args.rate)
        print(f"end to end at {args.rate:,.0f} msg/s ({n:,} messages): p50 {p50 / 1000:.2f} ms, "
              f"p99 {p99 / 1000:.2f} ms")
    client.close()
    return 0 if ingest >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
