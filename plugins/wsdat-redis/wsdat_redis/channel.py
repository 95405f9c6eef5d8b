"""One ingest DAT's stream: its settings, its spool and the writer task that empties it into Redis (the hooks of
:class:`wsdat_redis.RedisSink` feed it; see :mod:`wsdat_redis` for what is written and why)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable
from itertools import chain
from typing import Any, Final

import redis
import trio

from wsdat_core.model.backoff import Backoff

from .connect import (
    DEFAULT_STREAM,
    DEFAULT_URL,
    RedisTarget,
    RedisUnavailable,
    check_stream_slot,
    cluster_setting,
    describe_redis_error,
    is_transient,
    seq_key,
    stream_name,
)
from .script import SCRIPT
from .spool import Batch, DiskSpool, Spool, spool_path
from .wire import Pipe, Wire

__all__ = ["DEFAULT_SPOOL_BYTES", "EXIT_FLUSH_SECONDS", "ROUND_BATCHES", "Channel"]

#: Batches written in one round; a round is written while the previous one's answers are awaited.
ROUND_BATCHES: Final = 16
EXIT_FLUSH_SECONDS: Final = 4.0
DEFAULT_SPOOL_BYTES: Final = 64 * 1024 * 1024
_EVENTS: Final = ("text", "binary", "connect", "disconnect")
_DEFAULTS: Final[dict[str, Any]] = {"url": DEFAULT_URL, "stream": DEFAULT_STREAM, "maxlen": 1_000_000,
                                    "events": "text,binary", "spool": 100_000, "spoolbytes": DEFAULT_SPOOL_BYTES,
                                    "spooldir": "", "batch": 1000, "answers": True, "cluster": "auto"}

def _integer(settings: dict[str, Any], key: str, low: int) -> int:
    value = settings[key]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, bool) or number < low or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"redis: {key}: {value!r} is not allowed; expected an integer >= {low}")
    return number


def _events(value: Any) -> frozenset[str]:
    names = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, Iterable) else [value]
    events = frozenset(str(name).strip().lower() for name in names if str(name).strip())
    unknown = sorted(events.difference(_EVENTS))
    if unknown or not events:
        raise ValueError(f"redis: events: {value!r} is not allowed; expected some of {', '.join(_EVENTS)}")
    return events


def _switch(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def _open_disk(path: str) -> DiskSpool:
    try:
        return DiskSpool(path)
    except (OSError, sqlite3.Error) as exc:
        raise ValueError(f"redis: spooldir: cannot use the spool file {path}: {exc}") from None


def _now() -> str:
    return repr(time.time())


class Channel:
    """One DAT's stream: the spool, the writer task and the reader of answers."""

    def __init__(self, dat: Any, settings: dict[str, Any]) -> None:
        merged = {**_DEFAULTS, **settings}
        self.dat = dat
        self.stream = stream_name(str(merged["stream"]), dat.name)
        self.maxlen = _integer(merged, "maxlen", 0)
        self.capacity = _integer(merged, "spool", 1)
        self.capacity_bytes = _integer(merged, "spoolbytes", 1)
        self.events = _events(merged["events"])
        self.text, self.binary = "text" in self.events, "binary" in self.events
        self.answers = _switch(merged["answers"])
        cluster = cluster_setting(merged["cluster"])
        if cluster:
            check_stream_slot(self.stream, "redis: stream")
        self.target = RedisTarget(str(merged["url"]), cluster=cluster)
        self.wire = Wire(self.target)
        self.pipe = Pipe(self.target, self.stream)
        #: Batches at the head of the spool's in-flight list written on the pipe, their answers not read yet.
        self.sent = 0
        #: The last write failed: what is in flight goes again, in order, before overlapped rounds resume.
        self.resend = False
        #: The last failure was a refusal retrying does not mend (a wrong password, a key of another type).
        self.refused = False
        directory = str(merged["spooldir"] or "")
        disk = _open_disk(spool_path(directory, dat.name, self.stream)) if directory else None
        self.spool = Spool(_integer(merged, "batch", 1), disk)
        #: The hooks append through this (one attribute lookup per message).
        self.add = self.spool.add
        writer = disk.writer_id() if disk is not None else uuid.uuid4().hex
        self.keys = (self.stream, seq_key(self.stream), f"{self.stream}:writer:{writer}")
        self.slot_checked = False
        self.written = 0
        self.last_seq = 0
        #: The cook's time as text, shared by the entries of one cook (formatting a float per entry costs more than
        #: the rest of the hook); reset by ``onCook``.
        self.stamp: str | None = None
        self.limiter = trio.CapacityLimiter(1)
        self.save_lock = trio.Lock()
        self.wake = trio.Event()
        self.room = trio.Event()
        self.down_since: float | None = None
        self.full_reported = False
        self.closed = False
        par = dat.par
        self.backoff = Backoff(first=min(par.reconnectdelay, 0.5), factor=par.reconnectfactor,
                               cap=min(par.reconnectmaxdelay, 10.0))
        if self.spool.pending:
            dat.monitor(f"redis: {self.spool.pending} entries from the spool file {disk.path if disk else ''} are "
                        "written first")

    # -- the spool ---------------------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return self.spool.pending

    def restamp(self) -> str:
        self.stamp = _now()
        return self.stamp

    def add_now(self, event: str, row: int, payload: str) -> None:
        self.spool.add((event, row, payload, _now()))
        self.wake.set()

    def full(self) -> bool:
        return self.spool.pending >= self.capacity or self.spool.size >= self.capacity_bytes

    async def save(self) -> None:
        """Put what the last cook added into the spool file (with ``spooldir``)."""
        disk = self.spool.disk
        if disk is None:
            return
        async with self.save_lock:  # one save at a time, and the writer waits here for a save under way
            if not self.spool.unsaved:
                return
            first, entries = self.spool.take_unsaved()
            await trio.to_thread.run_sync(disk.save, first, entries)
            self.spool.saved(len(entries))

    async def end_of_cook(self) -> None:
        self.stamp = None
        await self.save()
        if not self.wake.is_set():
            self.wake.set()
        while self.full() and not self.closed:
            if not self.full_reported:
                self.full_reported = True
                self.dat.monitor(f"redis: spool full ({self.spool.pending} entries, {self.spool.size} bytes): "
                                 "reading paused until Redis takes entries (backpressure)", logging.WARNING)
            self.room = trio.Event()
            await self.room.wait()

    # -- writing -----------------------------------------------------------------------------------------------------
    def _commands(self, batches: list[Batch]) -> list[tuple[Any, ...]]:
        keys, head = self.keys, (self.maxlen, self.dat.name)
        return [("EVAL", SCRIPT, 3, *keys, batch.number, *head, *chain.from_iterable(batch.entries))
                for batch in batches]

    def _prepare(self) -> None:
        """Before a write (in the writer's thread): connect, check the stream's slot in a cluster, and put the batch
        numbers in the spool file before Redis can have seen them."""
        if not self.slot_checked:
            self.target.client()  # connects (and detects a cluster) or raises
            if self.target.cluster:
                check_stream_slot(self.stream, "redis: stream")
            self.slot_checked = True
        self.spool.assign()

    def _forget_on_disk(self, batches: list[Batch], replies: list[Any]) -> None:
        disk = self.spool.disk
        done = next((index for index, reply in enumerate(replies) if isinstance(reply, BaseException)), len(replies))
        if disk is not None and done:
            disk.done(batches[done - 1].last_id)

    def _round(self, unsent: list[Batch], sent: list[Batch]) -> list[Any]:
        self._prepare()
        replies = self.pipe.round(self._commands(unsent), len(sent))
        self._forget_on_disk(sent, replies)
        return replies

    def _resend(self, batches: list[Batch]) -> list[Any]:
        self._prepare()
        replies = self.wire.execute(self.stream, self._commands(batches))
        self._forget_on_disk(batches, replies)
        return replies

    def _confirm(self, replies: list[Any]) -> int:
        """Confirm the batches in flight answered by ``replies`` up to the first error; returns how many."""
        done = 0
        for reply in replies:
            if isinstance(reply, BaseException):
                if str(reply).startswith("WSDATGAP"):
                    self._new_writer(reply)
                else:
                    self._went_away(reply)
                break
            done += 1
            self.last_seq = max(self.last_seq, int(reply))
        self.written += self.spool.confirm(done)
        return done

    async def write_once(self) -> bool:
        """One round: write the next batches and read the answers of the previous round (overlapped, so Redis has
        the next round while this one is handled), or after a failure send everything in flight again, in order;
        False when Redis failed."""
        spool = self.spool
        waited = spool.pending
        spool.take(self.sent + ROUND_BATCHES)
        if not spool.inflight:
            return True
        try:
            if self.resend:
                batches = list(spool.inflight)
                replies = await trio.to_thread.run_sync(self._resend, batches, limiter=self.limiter)
                if self._confirm(replies) < len(batches):
                    return False
                self.resend = False
            else:
                sent, unsent = spool.inflight[:self.sent], spool.inflight[self.sent:]
                replies = await trio.to_thread.run_sync(self._round, unsent, sent, limiter=self.limiter)
                self.sent = len(unsent)
                if self._confirm(replies) < len(sent):
                    # what the round just wrote follows a refused batch: drop its answers, send it all again
                    self.pipe.close()
                    self.sent, self.resend = 0, True
                    return False
        except (redis.RedisError, RedisUnavailable, redis.exceptions.RedisClusterException) as exc:
            self.sent, self.resend = 0, True
            self._went_away(exc)
            return False
        if self.down_since is not None:
            self._came_back(waited)
        if not self.full():
            self.room.set()
            if self.full_reported and not spool.waiting:
                self.full_reported = False
        return True

    def _new_writer(self, exc: BaseException) -> None:
        """Redis' mark of this writer's last batch went back (a failover lost writes it had acknowledged): the
        batches still in flight could never follow it, so they go on under a new writer id, numbered from 1."""
        writer = self.spool.disk.new_writer() if self.spool.disk is not None else uuid.uuid4().hex
        self.keys = (self.stream, seq_key(self.stream), f"{self.stream}:writer:{writer}")
        self.spool.renumber()
        self.dat.monitor(f"redis: {describe_redis_error(exc)} (Redis lost writes it had acknowledged, e.g. in a "
                         "failover): the entries in flight are written under a new writer id", logging.WARNING)

    def _went_away(self, exc: BaseException) -> None:
        self.refused = not is_transient(exc)
        if self.down_since is None:
            self.down_since = time.monotonic()
            what = "went away" if is_transient(exc) else "refused the entries"
            self.dat.monitor(f"redis: {what} ({describe_redis_error(exc)}); entries wait in the spool (up to "
                             f"{self.capacity} entries, {self.capacity_bytes} bytes)", logging.WARNING)

    def _came_back(self, waited: int) -> None:
        assert self.down_since is not None
        self.dat.monitor(f"redis: back after {time.monotonic() - self.down_since:.1f} s; {waited} entries "
                         "waited in the spool and are being written")
        self.down_since = None
        self.refused = False
        self.backoff.reset()

    async def run_writer(self) -> None:
        while True:
            while not self.spool.waiting and not self.spool.inflight:
                self.wake = trio.Event()
                await self.wake.wait()
            if not await self.write_once():
                await trio.sleep(self.backoff.next_delay())
            elif self.spool.waiting and not self.spool.inflight and self.spool.disk is not None:
                await self.save()  # entries of a cook still saving: wait for them rather than spin

    async def flush(self, seconds: float) -> None:
        """Write what is left, for at most ``seconds`` (the DAT is stopping)."""
        await self.save()
        with trio.move_on_after(seconds):
            while self.spool.waiting or self.spool.inflight:
                if not await self.write_once():
                    if self.refused:  # Redis refuses: waiting out the bound would not change its mind
                        break
                    await trio.sleep(min(0.2, self.backoff.next_delay()))
        left = self.pending
        if left and self.spool.disk is not None:
            self.dat.monitor(f"redis: {left} entries not written yet: they stay in {self.spool.disk.path} and are "
                             "written first on the next start", logging.WARNING)
        elif left:
            self.dat.monitor(f"redis: {left} entries not written: the DAT stopped while Redis was away",
                             logging.ERROR)

    def close(self) -> None:
        if not self.pending:  # every batch is in: nothing can be retried, the writer's mark can go
            with contextlib.suppress(redis.RedisError, redis.exceptions.RedisClusterException):
                self.target.client().delete(self.keys[2])
        self.pipe.close()
        self.target.close()
        if self.spool.disk is not None:
            self.spool.disk.close()


