"""Scaled-out hook workers: ``wsdat work`` runs a DAT's hooks on the entries of Redis streams.

An ingest DAT with the ``wsdat-redis`` plugin writes every received message to a stream; any number of workers, on any
number of hosts, read it through one consumer group and run the same hooks (``onReceiveText(dat, rowIndex, message)``,
``onReceiveBinary``, ...) on a *worker DAT* fed without a network, as ``wsdat replay`` feeds an offline DAT::

    wsdat work redis://127.0.0.1:6379/0 --stream 'wsdat:{feed}' --group parsers --callbacks myplugin
    wsdat work redis://10.0.0.5:7000 --stream 'wsdat:*' --group parsers     # every stream, on every shard

A worker reads several streams (``--stream`` repeated) or every stream matching a pattern (the ``:send`` and ``:dead``
streams are not inputs; new matches are picked up every few seconds), in one consumer group per stream, on one Redis
or across the shards of a Redis Cluster. Each stream has its own reader (a blocking ``XREADGROUP COUNT --batch``,
packed by hiredis); one processor runs the hooks on one batch after the other, a settler acknowledges each batch
with one XACK while the next is processed, and the readers fetch further batches meanwhile.

Processing is at least once (:mod:`wsdat_redis.process`). A failing entry stays pending: after ``claimidle``
milliseconds any worker of the group claims it again (XAUTOCLAIM), and once it was delivered ``maxdeliveries`` times it
goes to ``STREAM:dead`` with the error. Entries pending on a worker that died are claimed the same way, so a SIGKILL
loses nothing. A worker runs its own pending entries at once when it starts (restarted under the same consumer name)
and after a read whose answer was lost with the connection. What a worker's hooks send (``dat.sendText``,
``dat.sendBinary``, ``await dat.send_text``) is added to ``STREAM:send`` together with the acknowledgement, and the
ingest DAT sends it to the WebSocket server.

The keys of one stream (the ``wsdat-redis`` plugin writes the first two, reads the third):

``STREAM``
    one entry per received message: ``dat``, ``event`` (``text``, ``binary``, ``connect``, ``disconnect``), ``row``,
    ``message`` (text) or ``data`` (binary), ``t`` (UNIX time), ``seq``
``STREAM:seq``
    the counter ``seq`` is drawn from (never repeats for a stream, also across restarts)
``STREAM:send``
    messages for the ingest DAT to send: ``event`` (``text`` or ``binary``), ``message`` or ``data``, ``dat``,
    ``id`` (the entry whose hooks sent it), ``t``
``STREAM:dead``
    entries that failed ``maxdeliveries`` times: their fields, plus ``id``, ``error``, ``deliveries``, ``group``,
    ``consumer``, ``failed_at``
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import redis
import trio

from wsdat_core.model.backoff import Backoff
from wsdat_core.runtime.console import LOGGER_NAME

from .connect import (
    CALL_TIMEOUT,
    DEFAULT_URL,
    RedisTarget,
    RedisUnavailable,
    check_stream_slot,
    dead_key,
    describe_redis_error,
    is_transient,
    send_key,
    seq_key,
    stream_name,
)
from .options import WorkOptions, is_pattern, watch_signals
from .process import Batch, Entry, Processor, WorkerDAT, WorkStats, entry_event
from .queries import GroupQueries

__all__ = [
    "DEFAULT_URL",
    "Entry",
    "RedisUnavailable",
    "WorkOptions",
    "WorkStats",
    "WorkerDAT",
    "dead_key",
    "describe_redis_error",
    "entry_event",
    "run_worker",
    "send_key",
    "seq_key",
    "stream_name",
    "watch_signals",
]

T = TypeVar("T")
log = logging.getLogger(LOGGER_NAME)

#: Batches processed and waiting for their XACK while the next ones are processed.
SETTLE_AHEAD: Final = 2
#: How often a pattern (``--stream 'wsdat:*'``) is looked up again for new streams (seconds).
RESCAN_SECONDS: Final = 5.0


class _Stopped(Exception):
    """The worker was told to stop while Redis was away."""


@dataclass
class _Stream:
    """One stream being read: where its reader stands."""

    name: str
    #: Redis calls of this stream that failed (each retried): a read that failed may have lost delivered entries.
    failures: int = 0
    next_claim: float = 0.0
    #: The newest entry id a ``>`` read gave this consumer.
    last_read: bytes | None = None
    #: Take up this consumer's own pending entries newer than ``recover_after`` before reading new ones: at start
    #: (a restarted worker keeps its consumer name) and after a read failed, when Redis may have delivered entries
    #: whose answer never arrived.
    recover: bool = True
    recover_after: bytes | None = None
    #: The last batch handed to the processor: a recovery or a claim waits until it is settled (else it would find
    #: its entries still pending and run them again).
    handed: Batch | None = None




class _Worker:
    def __init__(self, dat: WorkerDAT, options: WorkOptions, stop: trio.Event) -> None:
        self.dat = dat
        self.options = options
        self.stop = stop
        self.target = RedisTarget(options.url, cluster=options.cluster,
                                  timeout=CALL_TIMEOUT + options.block / 1000)  # reads block that long
        self.queries = GroupQueries(self.target, options)
        self.processor = Processor(dat, options.group, options.consumer, options.maxdeliveries, options.claimidle)
        self.backoff = Backoff(first=0.2, cap=10.0)
        self.down_since: float | None = None
        self.streams: dict[str, _Stream] = {}
        self.skipped: set[str] = set()

    @property
    def stats(self) -> WorkStats:
        return self.processor.stats

    # -- talking to Redis, with backoff -------------------------------------------------------------------------------
    async def call(self, stream: _Stream | None, what: str, function: Callable[..., T], *args: Any) -> T:
        """A Redis call in a worker thread, retried with backoff while Redis is unreachable (or a cluster is in a
        failover or a resharding); monitor lines say when it went away and came back. Errors that retrying cannot
        mend raise :class:`RedisUnavailable`."""
        while True:
            try:
                result = await trio.to_thread.run_sync(function, *args)
            except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
                if not is_transient(exc):
                    name = f" ({stream.name})" if stream is not None else ""
                    raise RedisUnavailable(f"{self.target.shown}: {what}{name} failed: "
                                           f"{describe_redis_error(exc)}") from None
                if stream is not None:
                    stream.failures += 1
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    self.dat.monitor(f"redis: went away ({describe_redis_error(exc)}); retrying", logging.WARNING)
                with trio.move_on_after(self.backoff.next_delay()):
                    await self.stop.wait()
                if self.stop.is_set() and what != "acknowledge":  # what is in hand is acknowledged first
                    raise _Stopped from None
                continue
            if self.down_since is not None:
                self.dat.monitor(f"redis: back after {time.monotonic() - self.down_since:.1f} s")
                self.down_since = None
            self.backoff.reset()
            return result

    async def settle(self, batches: trio.MemoryReceiveChannel[Batch]) -> None:
        """Write what processing decided, batch after batch in order, while the next batches are processed."""
        async with batches:
            async for batch in batches:
                await self.call(None, "acknowledge", self.queries.settle, batch.stream, batch.acks, batch.sends,
                                batch.dead)
                self.processor.settled(batch)
                batch.done.set()

    # -- the readers --------------------------------------------------------------------------------------------------
    async def _hand(self, state: _Stream, channel: trio.MemorySendChannel[Batch], batch: Batch) -> None:
        state.handed = batch
        await channel.send(batch)

    async def _settled(self, state: _Stream) -> None:
        """Wait until what this stream's reader handed over is settled (before asking Redis what is pending)."""
        if state.handed is not None:
            await state.handed.done.wait()

    async def claim_round(self, state: _Stream, channel: trio.MemorySendChannel[Batch]) -> None:
        """Claim entries idle ``claimidle`` ms on any consumer (a dead worker's, or failed ones) and process them."""
        cursor = "0-0"
        while not self.stop.is_set():
            await self._settled(state)
            cursor, claimed = await self.call(state, "claim", self.queries.claim, state.name, cursor)
            if claimed:
                counts = await self.call(state, "pending", self.queries.deliveries, state.name, [i for i, _ in claimed])
                self.stats.claimed += len(claimed)
                await self._hand(state, channel, Batch(state.name, claimed, counts))
            if cursor == "0-0" or not claimed:
                break
        state.next_claim = trio.current_time() + self.options.claimidle / 2000

    async def recover_lost(self, state: _Stream, channel: trio.MemorySendChannel[Batch]) -> None:
        """Process what Redis delivered to this consumer but the worker never received (an answer lost with the
        connection, or a worker restarted under the same name): without this it would wait ``claimidle`` ms."""
        state.recover = False
        while not self.stop.is_set():
            await self._settled(state)
            # a retried call finds what the failed one claimed
            lost = await self.call(state, "recover", self.queries.lost, state.name, state.recover_after)
            if not lost:
                return
            state.recover_after = lost[-1][0]
            counts = await self.call(state, "pending", self.queries.deliveries, state.name, [i for i, _ in lost])
            await self._hand(state, channel, Batch(state.name, lost, counts))

    async def read_stream(self, state: _Stream, channel: trio.MemorySendChannel[Batch]) -> None:
        async with channel:
            try:
                await self.call(state, "create group", self.queries.create_group, state.name)
                while not self.stop.is_set():
                    if state.recover:
                        await self.recover_lost(state, channel)
                        continue
                    now = trio.current_time()
                    if now >= state.next_claim:  # first at once: what a stopped worker (or this one) left
                        await self.claim_round(state, channel)
                        continue
                    failures, last_read = state.failures, state.last_read
                    entries = await self.call(state, "read", self.queries.read, state.name)
                    if state.failures != failures:  # Redis may have given entries whose answer was lost
                        state.recover, state.recover_after = True, last_read
                    if entries:
                        state.last_read = entries[-1][0]
                        await self._hand(state, channel, Batch(state.name, entries, None))
            except _Stopped:
                return

    # -- finding the streams ------------------------------------------------------------------------------------------
    async def discover(self, nursery: trio.Nursery, channel: trio.MemorySendChannel[Batch]) -> None:
        """Start a reader for every stream named, and for every stream a pattern matches, now and every
        ``RESCAN_SECONDS``."""
        async with channel:
            try:
                patterns = [name for name in self.options.names if is_pattern(name)]
                names = [name for name in self.options.names if not is_pattern(name)]
                while not self.stop.is_set():
                    for pattern in patterns:
                        names += await self.call(None, "scan", self.queries.scan, pattern)
                    for name in names:
                        if name not in self.streams and name not in self.skipped and self._readable(name):
                            self.streams[name] = _Stream(name)
                            nursery.start_soon(self.read_stream, self.streams[name], channel.clone())
                    if not patterns:
                        return
                    names = []
                    with trio.move_on_after(RESCAN_SECONDS):
                        await self.stop.wait()
            except _Stopped:
                return

    def _readable(self, name: str) -> bool:
        if not self.target.cluster:
            return True
        try:
            check_stream_slot(name, "--stream")
        except RedisUnavailable as exc:
            if name in self.options.names:  # named on the command line: an error; found by a pattern: skipped
                raise
            self.skipped.add(name)
            self.dat.monitor(f"redis: not read: {exc}", logging.WARNING)
            return False
        return True

    async def run(self) -> None:
        send, receive = trio.open_memory_channel[Batch](1)  # a reader reads on while a batch waits
        to_settle, settling = trio.open_memory_channel[Batch](SETTLE_AHEAD)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.discover, nursery, send)
            nursery.start_soon(self.settle, settling)
            async with receive, to_settle:
                async for batch in receive:  # ends when every reader stopped (each finishes its read first)
                    await self.processor.process(batch)
                    if batch.to_settle:
                        await to_settle.send(batch)
                    else:
                        batch.done.set()
            # the settler writes what is left, then the nursery ends

    def close(self) -> None:
        self.target.close()






async def run_worker(dat: WorkerDAT, options: WorkOptions, stop: trio.Event) -> WorkStats:
    """Process entries of the streams of ``options`` through ``dat`` (running with
    :meth:`WebSocketDAT.run_offline`) until ``stop`` is set; returns what was done. Redis being away is waited out
    with backoff."""
    options.check()
    worker = _Worker(dat, options, stop)
    try:
        await worker.run()
    finally:
        worker.close()
    return worker.stats
