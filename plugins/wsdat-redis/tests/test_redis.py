"""wsdat-redis and wsdat work against the real Redis on 127.0.0.1:6379 (skipped when it is not running, except under
CI=true or WSDAT_REQUIRE_SERVICES=1, where a missing Redis fails the run).

Every test uses its own stream (a uuid) and deletes its keys. "Redis away" is a TCP relay in the test between the
plugin and Redis that the test cuts and restores, so the shared Redis keeps running.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import trio
from wsdat_redis import RedisSink
from wsdat_redis.work import RedisUnavailable, WorkerDAT, WorkOptions, dead_key, run_worker, send_key

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import MonitorLines, TCPRelay, wait_until

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
ROOT = Path(__file__).resolve().parents[3]


def _require(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        reason = f"{what} is not reachable on {host}:{port} ({exc.strerror or exc})"
        if os.environ.get("CI") == "true" or os.environ.get("WSDAT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CI / WSDAT_REQUIRE_SERVICES=1 require it")
        pytest.skip(f"{reason}; start it to run this test")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    _require(REDIS_HOST, REDIS_PORT, "Redis")
    connection = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    yield connection
    connection.close()


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    name = f"wsdat-test:{uuid.uuid4().hex}"
    yield name
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)


def entries(client: redis.Redis, key: str) -> list[dict[str, Any]]:
    return [{k.decode(): v for k, v in fields.items()} | {"id": entry_id.decode()}
            for entry_id, fields in client.xrange(key)]


def check_in_order(found: list[dict[str, Any]], expected: list[str]) -> None:
    assert [e["message"].decode() for e in found] == expected
    seqs = [int(e["seq"]) for e in found]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq must increase and never repeat"


class Relay(TCPRelay):
    """A relay to Redis (see :class:`wsdat_core.faces.testing.TCPRelay`)."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
async def relay(nursery: trio.Nursery, client: redis.Redis) -> Relay:
    relay = Relay(REDIS_PORT)
    await relay.start(nursery)
    return relay





# ---------------------------------------------------------------------------------------------------------- ingest
async def test_every_message_one_entry_in_order_with_unique_seq(ws_server, dat_factory, client, stream) -> None:
    sink = RedisSink()
    dat = await dat_factory("feed", callbacks=[sink], maxlines=10,
                            settings={"redis": {"url": REDIS_URL, "stream": stream, "events": "text,binary,connect"}})
    messages = [f"m{i}" for i in range(3000)]
    await ws_server.send_text(*messages)
    await ws_server.send_binary(b"\x00\xffbin")
    await wait_until(lambda: sink.stats(dat).get("written") == 3002, what="3002 entries written")
    found = entries(client, stream)
    assert found[0]["event"] == b"connect" and found[0]["message"].decode() == ws_server.url
    check_in_order(found[1:-1], messages)
    assert {e["dat"] for e in found} == {b"feed"}
    assert [int(e["row"]) for e in found[1:4]] == [1, 2, 3] and int(found[-2]["row"]) == 10  # clamped table
    assert found[-1]["event"] == b"binary" and found[-1]["data"] == b"\x00\xffbin"
    assert all(float(e["t"]) > 1e9 for e in found)
    assert int(client.get(f"{stream}:seq")) == int(found[-1]["seq"]) == sink.stats(dat)["last_seq"]


async def test_seq_continues_across_restarts_and_a_lost_counter(ws_server, nursery, client, stream) -> None:
    """A new run (a new writer) goes on from the counter; a deleted counter is restored from the last entry."""
    settings = {"redis": {"url": REDIS_URL, "stream": stream}}
    for run, drop_counter in enumerate((False, False, True)):
        if drop_counter:
            client.delete(f"{stream}:seq")
        sink = RedisSink()
        dat = WebSocketDAT(f"run{run}", netaddress=ws_server.url, callbacks=[sink], settings=settings)
        await nursery.start(dat.run)
        await ws_server.send_text(*(f"r{run}-{i}" for i in range(50)))
        await wait_until(lambda s=sink, d=dat: s.stats(d).get("written") == 50)
        dat.stop()
        await dat.wait_stopped()
    found = entries(client, stream)
    check_in_order(found, [f"r{run}-{i}" for run in range(3) for i in range(50)])
    assert [int(e["seq"]) for e in found] == list(range(1, 151))


async def test_a_flushed_script_cache_is_reloaded(ws_server, dat_factory, client, stream) -> None:
    """After a Redis restart the script cache is empty (NOSCRIPT): the plugin loads its script again."""
    sink, monitor = RedisSink(), MonitorLines()
    dat = await dat_factory(callbacks=[sink, monitor], settings={"redis": {"url": REDIS_URL, "stream": stream}})
    await ws_server.send_text(*(f"a{i}" for i in range(100)))
    await wait_until(lambda: sink.stats(dat).get("written") == 100)
    client.script_flush()
    await ws_server.send_text(*(f"b{i}" for i in range(100)))
    await wait_until(lambda: sink.stats(dat).get("written") == 200)
    check_in_order(entries(client, stream), [f"a{i}" for i in range(100)] + [f"b{i}" for i in range(100)])
    assert not monitor.has("redis: refused")


async def test_redis_away_nothing_lost_in_order(ws_server, dat_factory, nursery, client, stream, relay) -> None:
    sink, monitor = RedisSink(), MonitorLines()
    dat = await dat_factory(callbacks=[sink, monitor], reconnectdelay=0.05, reconnectmaxdelay=0.2,
                            settings={"redis": {"url": relay.url, "stream": stream}})
    await ws_server.send_text(*(f"a{i}" for i in range(200)))
    await wait_until(lambda: sink.stats(dat).get("written") == 200)
    relay.cut()
    await ws_server.send_text(*(f"b{i}" for i in range(300)))
    await wait_until(lambda: monitor.has("redis: went away"), what="a 'went away' monitor line")
    await wait_until(lambda: dat.info.messages_received == 500)
    await trio.sleep(0.3)  # several failed attempts while away
    assert sink.stats(dat)["pending"] == 300 and sink.stats(dat)["away"]
    await relay.start(nursery)
    await wait_until(lambda: sink.stats(dat).get("written") == 500, what="the spool written")
    assert monitor.has("redis: back after") and monitor.has("300 entries waited")
    check_in_order(entries(client, stream), [f"a{i}" for i in range(200)] + [f"b{i}" for i in range(300)])


async def test_full_spool_stops_reading_and_drops_nothing(ws_server, dat_factory, nursery, client, stream,
                                                          relay) -> None:
    sink, monitor = RedisSink(), MonitorLines()
    dat = await dat_factory(callbacks=[sink, monitor], maxlines=5, reconnectdelay=0.05, reconnectmaxdelay=0.2,
                            settings={"redis": {"url": relay.url, "stream": stream, "spool": 100}})
    relay.cut()
    total, body = 1000, "x" * 10_000  # 10 MB: far more than one read and the spool
    messages = [f"{i}:{body}" for i in range(total)]
    nursery.start_soon(functools.partial(ws_server.send_text, *messages))
    await wait_until(lambda: monitor.has("spool full"), what="a 'spool full' monitor line")
    await trio.sleep(0.5)
    held = dat.info.messages_received
    assert held < total / 2, f"the DAT kept reading ({held} messages) with the spool full"
    assert sink.stats(dat)["pending"] == held  # nothing dropped
    await relay.start(nursery)
    await wait_until(lambda: sink.stats(dat).get("written") == total, timeout=20, what="every message written")
    check_in_order(entries(client, stream), messages)


async def test_entries_spooled_at_stop_are_written_by_on_exit(ws_server, nursery, client, stream, relay) -> None:
    sink, monitor = RedisSink(), MonitorLines()
    dat = WebSocketDAT("stopping", netaddress=ws_server.url, callbacks=[sink, monitor], reconnectdelay=5,
                       settings={"redis": {"url": relay.url, "stream": stream}})
    await nursery.start(dat.run)
    relay.cut()
    await ws_server.send_text(*(f"s{i}" for i in range(200)))
    await wait_until(lambda: dat.info.messages_received == 200 and monitor.has("went away"))
    assert sink.stats(dat)["pending"] == 200
    await relay.start(nursery)
    dat.stop()  # the writer waits out its backoff: onExit writes the spool
    await wait_until(lambda: client.xlen(stream) == 200, what="the spool written by onExit")
    check_in_order(entries(client, stream), [f"s{i}" for i in range(200)])
    assert not monitor.has("not written")


async def test_a_writer_mark_gone_back_goes_on_as_a_new_writer(ws_server, dat_factory, client, stream) -> None:
    """Redis lost the writer's last marks (a failover that lost acknowledged writes): the next batches would never
    follow the mark, so the DAT goes on under a new writer id; nothing waits forever, seq goes on."""
    sink, monitor = RedisSink(), MonitorLines()
    dat = await dat_factory(callbacks=[sink, monitor], reconnectdelay=0.05, reconnectmaxdelay=0.2,
                            settings={"redis": {"url": REDIS_URL, "stream": stream}})
    for round_ in range(3):
        await ws_server.send_text(*(f"r{round_}-{i}" for i in range(10)))
        await wait_until(lambda r=round_: sink.stats(dat).get("written") == 10 * (r + 1))
    channel = sink.channel(dat)
    assert channel is not None and channel.spool.numbers >= 3
    client.set(channel.keys[2], 1)  # the mark went back
    await ws_server.send_text(*(f"after{i}" for i in range(10)))
    await wait_until(lambda: sink.stats(dat).get("written") == 40, what="the entries after the gap written")
    assert monitor.has("WSDATGAP") and monitor.has("written under a new writer id")
    check_in_order(entries(client, stream), [f"r{r}-{i}" for r in range(3) for i in range(10)] +
                   [f"after{i}" for i in range(10)])


def test_bad_settings_are_one_clear_line() -> None:
    from wsdat_redis import _Channel

    dat = WebSocketDAT("bad", active=False)
    for settings, expected in (({"maxlen": "lots"}, "redis: maxlen: 'lots' is not allowed"),
                               ({"events": "text,ping"}, "redis: events: 'text,ping' is not allowed"),
                               ({"spool": 0}, "redis: spool: 0 is not allowed"),
                               ({"url": "http://x"}, "'http://x' is not a Redis URL")):
        with pytest.raises((ValueError, RedisUnavailable), match=expected):
            _Channel(dat, settings)


# ---------------------------------------------------------------------------------------------------------- workers
class Hooks:
    """A worker's plugin: records what it processed, answers "ok:<message>", raises for "bad" ones."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None]] = []

    def onReceiveText(self, dat: WorkerDAT, message: str) -> None:
        assert dat.entry is not None
        self.seen.append((message, dat.entry.seq))
        if message.startswith("bad"):
            raise RuntimeError(f"cannot handle {message}")
        dat.sendText("ok:", message)


async def test_worker_acks_answers_through_the_ingest_dat(ws_server, dat_factory, nursery, client, stream) -> None:
    ingest = await dat_factory("ingest", callbacks=["redis"], settings={"redis": {"url": REDIS_URL,
                                                                                   "stream": stream}})
    hooks = Hooks()

    class Awaiting:  # the awaitable API works in a worker too
        async def onReceiveText(self, dat: WorkerDAT, message: str) -> None:
            await dat.wait_connected()
            await dat.send_binary(message.encode())

    worker = WorkerDAT("worker", callbacks=[hooks, Awaiting()])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    options = WorkOptions(url=REDIS_URL, stream=stream, group="g", consumer="w1", block=50)
    nursery.start_soon(run_worker, worker, options, stop)
    await ws_server.send_text("one", "two", "three")
    answers = await ws_server.wait_received(6)
    assert answers == ["ok:one", b"one", "ok:two", b"two", "ok:three", b"three"]
    assert [seq for _, seq in hooks.seen] == [1, 2, 3]
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0)
    assert client.xinfo_groups(stream)[0]["lag"] == 0
    sent = entries(client, send_key(stream))
    assert [(e["event"], e["dat"]) for e in sent] == [(b"text", b"ingest"), (b"binary", b"ingest")] * 3
    stop.set()
    assert ingest.info.messages_sent == 6


async def test_raising_hook_dead_letters_after_maxdeliveries(nursery, client, stream) -> None:
    for message in ("good1", "bad1", "good2"):
        client.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": message, "t": 1.0, "seq": 1})
    client.xadd(stream, {"event": "nonsense"})
    hooks, monitor = Hooks(), MonitorLines()
    worker = WorkerDAT("worker", callbacks=[hooks, monitor])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    options = WorkOptions(url=REDIS_URL, stream=stream, group="g", consumer="w1", maxdeliveries=3, claimidle=100,
                          block=20)
    done = trio.Event()

    async def work() -> None:
        stats = await run_worker(worker, options, stop)
        assert (stats.acked, stats.dead, stats.failed) == (2, 2, 3)
        done.set()

    nursery.start_soon(work)
    await wait_until(lambda: client.xlen(dead_key(stream)) == 2, what="two dead letters")
    stop.set()
    await done.wait()
    assert [m for m, _ in hooks.seen].count("bad1") == 3
    assert [m for m, _ in hooks.seen].count("good1") == 1
    letters = entries(client, dead_key(stream))
    nonsense = next(letter for letter in letters if letter["event"] == b"nonsense")
    assert nonsense["error"] == b"not a wsdat entry: event nonsense" and nonsense["deliveries"] == b"1"
    bad = next(letter for letter in letters if letter.get("message") == b"bad1")
    assert b"RuntimeError: cannot handle bad1" in bad["error"] and bad["deliveries"] == b"3"
    assert bad["group"] == b"g" and bad["consumer"] == b"w1"
    assert client.xpending(stream, "g")["pending"] == 0
    assert monitor.has("(delivery 1 of 3; retried after 100 ms)") and monitor.has("dead-lettered")


async def test_worker_waits_out_redis_going_away(nursery, client, stream, relay) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(300):
        pipe.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": f"e{i}", "t": 1.0, "seq": i + 1})
    pipe.execute()
    seen: list[str] = []

    class Slow:
        def onReceiveText(self, message: str) -> None:
            seen.append(message)

        async def onCook(self) -> None:
            await trio.sleep(0.002)

    monitor = MonitorLines()
    worker = WorkerDAT("worker", callbacks=[Slow(), monitor])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    nursery.start_soon(run_worker, worker, WorkOptions(url=relay.url, stream=stream, group="g", consumer="w1",
                                                       batch=10, block=20), stop)
    await wait_until(lambda: len(seen) >= 50)
    relay.cut()
    await wait_until(lambda: monitor.has("redis: went away"), what="a 'went away' monitor line")
    await relay.start(nursery)
    def all_acked() -> bool:
        return client.xinfo_groups(stream)[0]["lag"] == 0 and client.xpending(stream, "g")["pending"] == 0

    await wait_until(all_acked, what="every entry acknowledged")
    assert set(seen) == {f"e{i}" for i in range(300)} and monitor.has("redis: back after")
    stop.set()


async def test_worker_takes_up_a_read_whose_answer_was_lost(nursery, client, stream, relay) -> None:
    """Redis delivered entries (they are pending on the worker) but the connection died before the answer arrived:
    once Redis is back the worker processes them at once, not after ``claimidle`` (an hour here)."""
    seen: list[str] = []

    class Seen:
        def onReceiveText(self, message: str) -> None:
            seen.append(message)

    monitor = MonitorLines()
    worker = WorkerDAT("worker", callbacks=[Seen(), monitor])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    client.xgroup_create(stream, "g", id="0", mkstream=True)
    nursery.start_soon(run_worker, worker, WorkOptions(url=relay.url, stream=stream, group="g", consumer="w1",
                                                       claimidle=3_600_000, block=5000), stop)
    client.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": "before", "t": 1.0, "seq": 1})
    await wait_until(lambda: seen == ["before"])

    def reading() -> bool:  # the worker waits in XREADGROUP BLOCK: what arrives now is delivered to it
        return any(c["cmd"] == "xreadgroup" and "b" in c["flags"] for c in client.client_list())

    await wait_until(reading, what="the worker blocked in a read")
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0, what="'before' acknowledged")
    relay.swallow_answers()
    pipe = client.pipeline(transaction=True)  # one transaction: the blocked read is answered with all five
    for i in range(5):
        pipe.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": f"lost{i}", "t": 1.0, "seq": i + 2})
    pipe.execute()
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 5, what="the entries delivered to w1")
    relay.cut()
    await wait_until(lambda: monitor.has("redis: went away"), what="a 'went away' monitor line")
    assert seen == ["before"], "the answer delivering the five reached the worker"
    client.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": "after", "t": 1.0, "seq": 7})
    await relay.start(nursery)
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0 and len(seen) == 7,
                     what="the lost entries processed")
    assert sorted(seen) == sorted(["before", "after"] + [f"lost{i}" for i in range(5)])
    stop.set()


async def test_restarted_worker_takes_up_its_own_pending_entries(nursery, client, stream) -> None:
    """A worker restarted under the same consumer name processes what its previous run held, before new entries."""
    client.xgroup_create(stream, "g", id="0", mkstream=True)
    for message in ("held1", "held2", "new"):
        client.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": message, "t": 1.0, "seq": 1})
        if message == "held2":  # the previous run read these two and stopped before acknowledging them
            client.xreadgroup("g", "w1", {stream: ">"}, count=2)
    seen: list[tuple[str, int]] = []

    class Deliveries:
        def onReceiveText(self, dat: WorkerDAT, message: str) -> None:
            assert dat.entry is not None
            seen.append((message, dat.entry.deliveries))

    worker = WorkerDAT("worker", callbacks=[Deliveries()])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    nursery.start_soon(run_worker, worker, WorkOptions(url=REDIS_URL, stream=stream, group="g", consumer="w1",
                                                       claimidle=3_600_000, block=20), stop)
    await wait_until(lambda: len(seen) == 3, what="three entries processed")
    assert seen == [("held1", 2), ("held2", 2), ("new", 1)]
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0)
    stop.set()


async def test_async_hook_failure_is_seen_before_the_ack(nursery, client, stream) -> None:
    """An async hook that raises after an await still fails its entry: the worker waits for it before deciding."""
    finished: list[str] = []

    class Slow:
        async def onReceiveText(self, message: str) -> None:
            await trio.sleep(0.02)
            if message == "bad":
                raise ValueError("late failure")
            finished.append(message)

    for message in ("ok", "bad"):
        client.xadd(stream, {"dat": "feed", "event": "text", "row": 1, "message": message, "t": 1.0, "seq": 1})
    worker = WorkerDAT("worker", callbacks=[Slow()])
    await nursery.start(worker.run_offline)
    stop = trio.Event()
    options = WorkOptions(url=REDIS_URL, stream=stream, group="g", consumer="w1", maxdeliveries=1, block=20)
    nursery.start_soon(run_worker, worker, options, stop)
    await wait_until(lambda: client.xlen(dead_key(stream)) == 1, what="the late failure dead-lettered")
    assert finished == ["ok"]
    [letter] = entries(client, dead_key(stream))
    assert letter["message"] == b"bad" and b"ValueError: late failure" in letter["error"]
    await wait_until(lambda: client.xpending(stream, "g")["pending"] == 0)
    stop.set()


HOOKS_FILE = '''
import os, time

def onReceiveText(dat, message):
    time.sleep(0.002)
    with open(os.path.join(os.environ["WSDAT_TEST_OUT"], f"{os.getpid()}.txt"), "a") as out:
        out.write(message + "\\n")
'''


def _worker(tmp_path: Path, stream: str, name: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WSDAT_TEST_OUT": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-m", "wsdat_core", "work", REDIS_URL, "--stream", stream, "--group", "g",
                             "--consumer", name, "--claimidle", "300", "--block", "50", "--batch", "20",
                             "--callbacks", str(tmp_path / "hooks.py"), "--output", "jsonl"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def test_two_workers_sigkill_of_one_loses_nothing(client, stream, tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(textwrap.dedent(HOOKS_FILE))
    total = 1000
    pipe = client.pipeline(transaction=False)
    for i in range(total):
        pipe.xadd(stream, {"dat": "feed", "event": "text", "row": i + 1, "message": f"e{i}", "t": 1.0, "seq": i + 1})
    pipe.execute()
    first, second = _worker(tmp_path, stream, "first"), _worker(tmp_path, stream, "second")
    try:
        def processed() -> int:
            return sum(len(p.read_text().splitlines()) for p in tmp_path.glob("*.txt"))

        await wait_until(lambda: (tmp_path / f"{first.pid}.txt").exists() and processed() > 200, timeout=20,
                         what="both workers busy")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=5)
        held = client.xpending_range(stream, "g", "-", "+", 1000, "first")
        assert held, "the killed worker held no entries: nothing to claim"

        def all_acked() -> bool:
            groups = client.xinfo_groups(stream)
            return bool(groups) and groups[0]["lag"] == 0 and client.xpending(stream, "g")["pending"] == 0

        await wait_until(all_acked, timeout=20, what="every entry acknowledged")
        seen = set()
        for path in tmp_path.glob("*.txt"):
            seen.update(path.read_text().splitlines())
        assert seen == {f"e{i}" for i in range(total)}
        assert (tmp_path / f"{second.pid}.txt").exists()
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=10)
        assert second.returncode == 0, err
        claimed = int(re.search(r"(\d+) claimed from other consumers", err).group(1))
        assert claimed >= len(held) and " 0 failed" in err, err
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
            process.communicate()


def test_wsdat_work_usage_errors_are_one_line() -> None:
    for argv, expected in (
        (["work", "http://x", "--stream", "s", "--group", "g"], "wsdat: error: 'http://x' is not a Redis URL"),
        (["work", "--stream", "s", "--group", "g", "--maxdeliveries", "0"],
         "wsdat: error: --maxdeliveries: 0 is not allowed"),
        (["work", "--group", "g"], "wsdat: error: the following arguments are required: --stream"),
    ):
        done = subprocess.run([sys.executable, "-m", "wsdat_core", *argv], capture_output=True, text=True, timeout=30,
                              cwd=ROOT)
        assert done.stderr.startswith(expected), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert done.returncode in (1, 2)


async def test_one_worker_reads_several_streams_and_a_pattern(nursery, client) -> None:
    """``--stream`` repeated and a pattern: every stream is read in the one group; ``:send`` and ``:dead`` streams
    matching the pattern are not inputs. The default stream name carries the DAT's name as a hash tag."""
    from wsdat_redis.connect import DEFAULT_STREAM, stream_name

    assert stream_name(DEFAULT_STREAM, "feed") == "wsdat:{feed}"
    prefix = f"wsdat-test:{uuid.uuid4().hex}"
    names = [f"{prefix}:{{a}}", f"{prefix}:{{b}}", f"{prefix}:{{c}}"]
    try:
        for name in names:
            for i in range(3):
                client.xadd(name, {"dat": "feed", "event": "text", "row": 1, "message": f"{name}/{i}", "t": 1.0,
                                   "seq": i + 1})
        client.xadd(send_key(names[2]), {"event": "text", "message": "an answer, not an input"})
        client.xadd(dead_key(names[2]), {"event": "text", "message": "a dead letter, not an input"})
        seen: list[str] = []

        class Seen:
            def onReceiveText(self, dat: WorkerDAT, message: str) -> None:
                assert dat.entry is not None and message.startswith(dat.entry.stream)
                seen.append(message)

        worker = WorkerDAT("worker", callbacks=[Seen()])
        await nursery.start(worker.run_offline)
        stop = trio.Event()
        options = WorkOptions(url=REDIS_URL, streams=[names[0], names[1], f"{prefix}:{{c*"], group="g",
                              consumer="w1", block=20)
        assert options.names == [names[0], names[1], f"{prefix}:{{c*"]
        nursery.start_soon(run_worker, worker, options, stop)
        await wait_until(lambda: len(seen) == 9, what="nine entries of three streams")
        assert sorted(seen) == sorted(f"{name}/{i}" for name in names for i in range(3))
        for name in names:
            await wait_until(lambda n=name: client.xpending(n, "g")["pending"] == 0)
        assert not client.exists(f"{send_key(names[2])}") or not client.xinfo_groups(send_key(names[2]))
        stop.set()
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def test_wsdat_work_takes_several_streams_and_the_cluster_flag(client) -> None:
    prefix = f"wsdat-test:{uuid.uuid4().hex}"
    names = [f"{prefix}:{{x}}", f"{prefix}:{{y}}"]
    try:
        for name in names:
            for i in range(3):
                client.xadd(name, {"dat": "feed", "event": "text", "row": 1, "message": f"{name}/{i}", "t": 1.0,
                                   "seq": i + 1})
        done = subprocess.run([sys.executable, "-m", "wsdat_core", "work", REDIS_URL, "--stream", names[0],
                               "--stream", names[1], "--group", "g", "--no-cluster", "--block", "50", "--count", "6",
                               "--output", "jsonl"], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        received = [json.loads(line) for line in done.stdout.splitlines()]
        assert sorted(row["message"] for row in received if row["type"] == "text") == sorted(
            f"{name}/{i}" for name in names for i in range(3))
        assert f"in group g of {names[0]}, {names[1]}: 6 entries processed: 6 acknowledged" in done.stderr
    finally:
        client.delete(*names)
