"""The spool's bounds and its file: Redis away (a relay cut), a spool bounded in bytes, an ingest process killed with
SIGKILL and restarted, and no password in any line. Uses the machine's Redis on 127.0.0.1:6379 (see test_redis.py)."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trio
from test_redis import REDIS_PORT, ROOT, Relay, _require, check_in_order, entries
from wsdat_redis import RedisSink

from wsdat_core.faces.testing import MonitorLines, wait_until


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    _require("127.0.0.1", REDIS_PORT, "Redis")
    connection = redis.Redis(port=REDIS_PORT)
    yield connection
    connection.close()


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    name = f"wsdat-test:{{{uuid.uuid4().hex}}}"
    yield name
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
async def relay(nursery: trio.Nursery, client: redis.Redis) -> Relay:
    relay = Relay(REDIS_PORT)
    await relay.start(nursery)
    return relay


async def test_spool_bounded_in_bytes_backpressure_nothing_lost(ws_server, dat_factory, nursery, client, stream,
                                                               relay) -> None:
    """Large messages while Redis is away: the spool stops at ``spoolbytes`` (plus the read in hand), the DAT stops
    reading, and every message is written in order once Redis is back."""
    sink, monitor = RedisSink(), MonitorLines()
    limit, size, total = 2 * 1024 * 1024, 256 * 1024, 48  # 12 MiB sent, 2 MiB allowed
    dat = await dat_factory(callbacks=[sink, monitor], maxlines=5, reconnectdelay=0.05, reconnectmaxdelay=0.2,
                            settings={"redis": {"url": relay.url, "stream": stream, "spoolbytes": limit}})
    relay.cut()
    messages = [f"{i}:" + "y" * size for i in range(total)]
    nursery.start_soon(functools.partial(ws_server.send_text, *messages))
    await wait_until(lambda: monitor.has("spool full"), what="a 'spool full' monitor line")
    await trio.sleep(0.5)
    stats = sink.stats(dat)
    assert stats["pending_bytes"] <= limit + 1024 * 1024 + size, stats  # one network read may pass the bound
    assert dat.info.messages_received < total / 2, "the DAT kept reading with the spool full"
    assert stats["pending"] == dat.info.messages_received  # nothing dropped
    await relay.start(nursery)
    await wait_until(lambda: sink.stats(dat).get("written") == total, timeout=20, what="every message written")
    check_in_order(entries(client, stream), messages)
    assert sink.stats(dat)["pending_bytes"] == 0


def _ingest(url: str, server: str, spooldir: Path, stream: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "wsdat_core", "connect", server, "--name", "crashy",
                             "--callbacks", "redis", "--set", f"redis.url={url}", "--set", f"redis.stream={stream}",
                             "--set", f"redis.spooldir={spooldir}", "--set", "redis.answers=false",
                             "--reconnectdelay", "0.05", "--reconnectmaxdelay", "0.2", "--output", "jsonl"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _spooled(spooldir: Path) -> int:
    files = list(spooldir.glob("*.sqlite"))
    if not files:
        return 0
    with sqlite3.connect(files[0]) as db:
        try:
            return int(db.execute("SELECT count(*) FROM entry").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not made yet
            return 0


async def test_sigkill_while_redis_is_away_loses_nothing(ws_server, nursery, client, stream, relay,
                                                         tmp_path: Path) -> None:
    """Redis away, N messages cooked, SIGKILL; Redis back, restart: all N in the stream once each, in order."""
    relay.cut()
    spooldir = tmp_path / "spool"
    process = _ingest(relay.url, ws_server.url, spooldir, stream)
    try:
        await ws_server.wait_client(timeout=20)
        messages = [f"k{i}" for i in range(500)]
        await ws_server.send_text(*messages)
        await wait_until(lambda: _spooled(spooldir) == 500, timeout=20, what="500 entries in the spool file")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        assert client.xlen(stream) == 0
        await relay.start(nursery)
        process = _ingest(relay.url, ws_server.url, spooldir, stream)
        await wait_until(lambda: client.xlen(stream) >= 500, timeout=20, what="the spool drained after the restart")
        await ws_server.wait_client(2, timeout=20)
        await ws_server.send_text("after")
        await wait_until(lambda: client.xlen(stream) == 501, timeout=20, what="a new message after the spool")
        found = entries(client, stream)
        check_in_order(found, [*messages, "after"])
        assert [int(entry["seq"]) for entry in found] == list(range(1, 502))
        await wait_until(lambda: _spooled(spooldir) == 0, what="the spool file emptied")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


def test_no_password_in_lines_of_wsdat_work() -> None:
    """Redis refuses the login: the one error line names the URL with its password masked."""
    _require("127.0.0.1", REDIS_PORT, "Redis")
    secret = "PASSWORD-" + uuid.uuid4().hex
    url = f"redis://someone:{secret}@127.0.0.1:{REDIS_PORT}/0"
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "work", url, "--stream", "s", "--group", "g"],
                          capture_output=True, text=True, timeout=30, cwd=ROOT,
                          env={**os.environ, "WSDAT_REDIS_URL": url})
    assert secret not in done.stderr and secret not in done.stdout, done.stderr
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"wsdat: error: redis://someone:***@127.0.0.1:{REDIS_PORT}/0: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    bad = subprocess.run([sys.executable, "-m", "wsdat_core", "work", f"http://u:{secret}@x/", "--stream", "s",
                          "--group", "g"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert secret not in bad.stderr and "http://u:***@x/" in bad.stderr, bad.stderr


async def test_no_password_in_the_sinks_lines(ws_server, dat_factory, stream) -> None:
    _require("127.0.0.1", REDIS_PORT, "Redis")
    secret = "PASSWORD-" + uuid.uuid4().hex
    monitor = MonitorLines()
    await dat_factory(callbacks=[RedisSink(), monitor], settings={
        "redis": {"url": f"redis://someone:{secret}@127.0.0.1:{REDIS_PORT}/0", "stream": stream}})
    await ws_server.send_text("hello")
    await wait_until(lambda: monitor.has("redis: refused the entries"), what="the refused login's line")
    assert not any(secret in line for line in monitor.lines), monitor.lines


async def test_a_batch_redis_took_before_the_crash_is_not_written_again(dat_factory, client, stream,
                                                                        tmp_path: Path) -> None:
    """A spool file whose first two batches reached Redis before the process died (their answers never came back):
    on restart they are sent again under the same writer id and numbers, recognised, and not written twice."""
    from itertools import chain

    from test_redis import REDIS_URL
    from wsdat_redis import SCRIPT
    from wsdat_redis.spool import DiskSpool, Spool, spool_path

    disk = DiskSpool(spool_path(str(tmp_path), "feed", stream))
    spool = Spool(10, disk)
    for i in range(25):
        spool.add(("text", i + 1, f"m{i}", "1700000000.5"))
    first, saved = spool.take_unsaved()
    disk.save(first, saved)
    spool.saved(len(saved))
    batches = spool.take(8)
    spool.assign()
    assert [len(batch.entries) for batch in batches] == [10, 10, 5]
    keys = (stream, f"{stream}:seq", f"{stream}:writer:{disk.writer_id()}")
    for batch in batches[:2]:
        client.eval(SCRIPT, 3, *keys, batch.number, 0, "feed", *chain.from_iterable(batch.entries))
    disk.close()
    assert client.xlen(stream) == 20
    sink, monitor = RedisSink(), MonitorLines()
    await dat_factory("feed", callbacks=[sink, monitor],
                      settings={"redis": {"url": REDIS_URL, "stream": stream, "spooldir": str(tmp_path)}})
    await wait_until(lambda: client.xlen(stream) >= 25, what="the spool file written")
    await trio.sleep(0.2)
    found = entries(client, stream)
    check_in_order(found, [f"m{i}" for i in range(25)])
    assert [int(entry["seq"]) for entry in found] == list(range(1, 26))
    assert monitor.has("redis: 25 entries from the spool file")


def test_a_spooldir_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    from wsdat_redis import Channel

    from wsdat_core import WebSocketDAT

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"^redis: spooldir: cannot use the spool file .*file/"):
        Channel(WebSocketDAT("feed", active=False), {"spooldir": str(blocker)})
