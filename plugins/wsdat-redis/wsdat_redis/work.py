"""Scaled-out hook workers: ``wsdat work`` runs a DAT's hooks on the entries of a Redis stream.

An ingest DAT with the ``wsdat-redis`` plugin writes every received message to a stream; any number of workers, on any
number of hosts, read it through one consumer group and run the same hooks (``onReceiveText(dat, rowIndex, message)``,
``onReceiveBinary``, ...) on a *worker DAT* fed without a network, as ``wsdat replay`` feeds an offline DAT::

    wsdat work redis://127.0.0.1:6379/0 --stream wsdat:feed --group parsers --callbacks myplugin

Processing is at least once. An entry is acknowledged (XACK) once its hooks returned without raising (a raising hook
is counted in ``dat.info.errors``; the worker compares that count before and after each entry, and waits for the
entry's ``async def`` hooks to finish first). A failing entry stays pending: after ``claimidle`` milliseconds any worker
of the group claims it again (XAUTOCLAIM), and once it was delivered ``maxdeliveries`` times it goes to
``STREAM:dead`` with the error. Entries pending on a worker that died are claimed the same way, so a SIGKILL loses
nothing. A worker runs its own pending entries at once when it starts (restarted under the same consumer name) and
after a read whose answer was lost with the connection. What a worker's hooks send (``dat.sendText``,
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
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlsplit

import redis
import trio
from redis.backoff import NoBackoff
from redis.retry import Retry

from wsdat_core import WebSocketDAT, WsdatError
from wsdat_core.model.backoff import Backoff
from wsdat_core.runtime.console import LOGGER_NAME

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
    "open_redis",
    "run_worker",
    "send_key",
    "seq_key",
    "stream_name",
]

T = TypeVar("T")
log = logging.getLogger(LOGGER_NAME)

DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
#: How long one Redis call may take before it counts as a failure (seconds).
CALL_TIMEOUT: Final = 10.0
CONNECT_TIMEOUT: Final = 2.0
#: Messages a worker sends are kept in ``STREAM:send`` up to about this many entries.
SEND_MAXLEN: Final = 100_000
_SCHEMES: Final = ("redis", "rediss", "unix")


# ------------------------------------------------------------------------------------------------- stream conventions
def stream_name(template: str, dat_name: str) -> str:
    """The stream a DAT writes: ``template`` with ``{dat}`` replaced by the DAT's name (other braces stay, so a Redis
    Cluster hash tag such as ``{wsdat:{dat}}`` works)."""
    return template.replace("{dat}", dat_name)


def seq_key(stream: str) -> str:
    return f"{stream}:seq"


def send_key(stream: str) -> str:
    return f"{stream}:send"


def dead_key(stream: str) -> str:
    return f"{stream}:dead"


class RedisUnavailable(WsdatError):
    """Redis cannot be used (a bad URL, or a key of the wrong type); the message says why in one line."""


def open_redis(url: str, *, timeout: float = CALL_TIMEOUT) -> redis.Redis:
    """A redis-py client for ``url`` (``redis://``, ``rediss://``, ``unix://``) that does not retry by itself: the
    caller's backoff decides. Raises :class:`RedisUnavailable` for a URL that is not a Redis URL."""
    scheme = urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise RedisUnavailable(f"{url!r} is not a Redis URL; expected redis://HOST:PORT/DB (or rediss://, unix://)")
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=timeout,
                                    retry=Retry(NoBackoff(), 0), health_check_interval=0)
    except ValueError as exc:
        raise RedisUnavailable(f"{url!r} is not a usable Redis URL: {exc}") from None


def describe_redis_error(exc: BaseException) -> str:
    """One line for a Redis failure (no traceback)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if isinstance(exc, redis.ConnectionError | redis.TimeoutError) else text


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def entry_event(fields: Mapping[bytes, bytes]) -> tuple[str, Any]:
    """The DAT event an entry written by ``wsdat-redis`` stands for, as :meth:`WebSocketDAT.deliver` takes it.

    Raises:
      ValueError: the entry is not one (no or an unknown ``event``, or text that is not UTF-8).
    """
    event = fields.get(b"event")
    if event == b"text":
        return "text", fields.get(b"message", b"").decode("utf-8")
    if event == b"binary":
        return "binary", bytes(fields.get(b"data", b""))
    if event == b"connect":
        return "connect", _text(fields.get(b"message", b"")) or None
    if event == b"disconnect":
        return "disconnect", None
    raise ValueError(f"not a wsdat entry: event {_text(event) if event is not None else 'missing'}")


async def _call(limiter: trio.CapacityLimiter, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker thread: redis-py is blocking; each call is bounded by the socket timeout."""
    return await trio.to_thread.run_sync(function, *args, limiter=limiter)


# ---------------------------------------------------------------------------------------------------------- worker DAT
@dataclass(frozen=True)
class Entry:
    """The stream entry whose hooks are running (``dat.entry`` in a worker's hooks)."""

    id: str
    seq: int | None
    dat: str
    row: int | None
    t: float | None
    deliveries: int


def _maybe_int(value: bytes | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _maybe_float(value: bytes | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class WorkerDAT(WebSocketDAT):
    """A DAT fed from a stream: its sends go to ``STREAM:send`` (the ingest DAT sends them), and it always counts as
    connected. ``entry`` describes the entry being processed (its ``seq`` makes idempotent processing easy)."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        #: What the hooks of the current entry sent, as ``(event, payload)``.
        self.outbox: list[tuple[str, str | bytes]] = []
        self.entry: Entry | None = None

    @property
    def connected(self) -> bool:
        return True

    async def wait_connected(self) -> None:
        """A worker can always send (through the stream): returns at once."""

    def sendText(self, *parts: Any) -> int:
        text = parts[0] if len(parts) == 1 and type(parts[0]) is str else "".join(
            p if isinstance(p, str) else str(p) for p in parts)
        self.outbox.append(("text", text))
        return len(text.encode("utf-8", "surrogatepass"))

    def sendBinary(self, contents: bytes | bytearray | memoryview) -> int:
        if not isinstance(contents, bytes | bytearray | memoryview):
            raise TypeError(f"sendBinary: contents must be bytes, bytearray or memoryview (use sendText), "
                            f"not {type(contents).__name__}")
        data = bytes(contents)
        self.outbox.append(("binary", data))
        return len(data)

    async def send_text(self, *parts: Any) -> None:
        self.sendText(*parts)

    async def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        self.sendBinary(data)


# -------------------------------------------------------------------------------------------------------------- worker
@dataclass
class WorkOptions:
    """What ``wsdat work`` was told (see its ``--help``)."""

    url: str = DEFAULT_URL
    stream: str = "wsdat:wsdat"
    group: str = "wsdat"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    maxdeliveries: int = 5
    claimidle: int = 30_000
    batch: int = 100
    block: int = 1000
    start: str = "0"

    def check(self) -> None:
        for name in ("maxdeliveries", "claimidle", "batch", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name}: {value!r} is not allowed; expected an integer >= 1")
        for name in ("stream", "group", "consumer"):
            if not getattr(self, name):
                raise ValueError(f"--{name}: must not be empty")


@dataclass
class WorkStats:
    processed: int = 0
    acked: int = 0
    failed: int = 0
    dead: int = 0
    claimed: int = 0
    sent: int = 0

    def line(self) -> str:
        return (f"{self.processed} entr{'y' if self.processed == 1 else 'ies'} processed: {self.acked} acknowledged, "
                f"{self.failed} failed, {self.dead} dead-lettered, {self.claimed} claimed from other consumers, "
                f"{self.sent} message(s) sent back")


_Raw = tuple[bytes, dict[bytes, bytes] | None]


class _Worker:
    def __init__(self, dat: WorkerDAT, options: WorkOptions, stop: trio.Event) -> None:
        self.dat = dat
        self.options = options
        self.stop = stop
        self.stats = WorkStats()
        self.client = open_redis(options.url, timeout=CALL_TIMEOUT + options.block / 1000)  # reads block that long
        self.limiter = trio.CapacityLimiter(1)
        self.backoff = Backoff(first=0.2, cap=10.0)
        self.down_since: float | None = None
        #: Redis calls that failed (each retried): a read that failed may have lost entries Redis gave this consumer.
        self.failures = 0
        self.next_claim = 0.0
        #: The newest entry id a ``>`` read gave this consumer.
        self.last_read: bytes | None = None
        #: Take up this consumer's own pending entries newer than ``recover_after`` before reading new ones: at start
        #: (a restarted worker keeps its consumer name) and after a read failed, when Redis may have delivered entries
        #: whose answer never arrived.
        self.recover = True
        self.recover_after: bytes | None = None

    # -- talking to Redis, with backoff -------------------------------------------------------------------------------
    async def call(self, what: str, function: Callable[..., T], *args: Any) -> T:
        """A Redis call, retried with backoff while Redis is unreachable; monitor lines say when it went away and
        came back. Errors that retrying cannot mend raise :class:`RedisUnavailable`."""
        while True:
            try:
                result = await _call(self.limiter, function, *args)
            except redis.AuthenticationError as exc:  # retrying cannot mend a wrong password
                raise RedisUnavailable(f"{self.options.url}: {describe_redis_error(exc)}") from None
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.failures += 1
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    self.dat.monitor(f"redis: went away ({describe_redis_error(exc)}); retrying", logging.WARNING)
                delay = self.backoff.next_delay()
                with trio.move_on_after(delay):
                    await self.stop.wait()
                if self.stop.is_set() and what != "acknowledge":  # what is in hand is acknowledged first
                    raise _Stopped from None
                continue
            except redis.ResponseError as exc:
                raise RedisUnavailable(f"{self.options.url}: {what} failed: {describe_redis_error(exc)}") from None
            if self.down_since is not None:
                self.dat.monitor(f"redis: back after {time.monotonic() - self.down_since:.1f} s")
                self.down_since = None
            self.backoff.reset()
            return result

    def _create_group(self) -> None:
        try:
            self.client.xgroup_create(self.options.stream, self.options.group, id=self.options.start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block: int) -> list[_Raw]:
        answer: Any = self.client.xreadgroup(self.options.group, self.options.consumer,
                                             {self.options.stream: start}, count=self.options.batch, block=block)
        if not answer:
            return []
        entries: list[_Raw] = answer[0][1]
        return entries

    def _lost(self) -> list[_Raw]:
        """This consumer's pending entries newer than the last read it received, claimed again (a new delivery)."""
        options = self.options
        start = b"(" + self.recover_after if self.recover_after is not None else "-"
        rows: Any = self.client.xpending_range(options.stream, options.group, min=start, max="+", count=options.batch,
                                               consumername=options.consumer)
        if not rows:
            return []
        answer: Any = self.client.xclaim(options.stream, options.group, options.consumer, 0,
                                         [row["message_id"] for row in rows])
        claimed: list[_Raw] = [entry for entry in answer if entry[0] is not None]
        return claimed

    def _claim(self, cursor: str) -> tuple[str, list[_Raw]]:
        answer: Any = self.client.xautoclaim(self.options.stream, self.options.group, self.options.consumer,
                                        self.options.claimidle, cursor, count=self.options.batch)
        next_cursor = _text(answer[0])
        claimed: list[_Raw] = [entry for entry in answer[1] if entry[0] is not None]
        return next_cursor, claimed

    def _deliveries(self, ids: Sequence[bytes]) -> dict[bytes, int]:
        pipe = self.client.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self.options.stream, self.options.group, entry_id, entry_id, 1)
        counts: dict[bytes, int] = {}
        for entry_id, rows in zip(ids, pipe.execute(), strict=True):
            counts[entry_id] = int(rows[0]["times_delivered"]) if rows else 1
        return counts

    def _settle(self, acks: list[bytes], sends: list[dict[str, Any]], dead: list[dict[str, Any]]) -> None:
        pipe = self.client.pipeline(transaction=True)
        stream = self.options.stream
        for message in sends:
            pipe.xadd(send_key(stream), cast(Any, message), maxlen=SEND_MAXLEN, approximate=True)
        for letter in dead:
            pipe.xadd(dead_key(stream), cast(Any, letter))
        if acks:
            pipe.xack(stream, self.options.group, *acks)
        pipe.execute()

    # -- processing ---------------------------------------------------------------------------------------------------
    async def process(self, entries: list[_Raw], deliveries: Mapping[bytes, int] | None = None) -> None:
        dat, options = self.dat, self.options
        acks: list[bytes] = []
        sends: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        for raw_id, fields in entries:
            entry_id = _text(raw_id)
            count = deliveries.get(raw_id, 1) if deliveries else 1
            if fields is None:  # trimmed away while pending: nothing left to process
                acks.append(raw_id)
                continue
            if count > options.maxdeliveries:  # the workers it was given to never acknowledged it (they died)
                self._dead(dead, acks, raw_id, fields, count, f"not acknowledged after {count - 1} deliveries "
                           "(the workers it was given to stopped while processing it)")
                continue
            try:
                event = entry_event(fields)
            except (ValueError, UnicodeDecodeError) as exc:
                self._dead(dead, acks, raw_id, fields, count, str(exc))
                continue
            dat.entry = Entry(entry_id, _maybe_int(fields.get(b"seq")), _text(fields.get(b"dat", b"")),
                              _maybe_int(fields.get(b"row")), _maybe_float(fields.get(b"t")), count)
            dat.outbox.clear()
            errors = dat.info.errors
            await dat.deliver([event])
            await dat.wait_hooks()
            self.stats.processed += 1
            if dat.info.errors == errors:
                acks.append(raw_id)
                sends.extend(_send_entry(kind, payload, dat.entry) for kind, payload in dat.outbox)
                continue
            self.stats.failed += 1
            error = dat.last_error or "a hook raised"
            if count >= options.maxdeliveries:
                self._dead(dead, acks, raw_id, fields, count, error)
            else:
                dat.monitor(f"entry {entry_id} failed (delivery {count} of {options.maxdeliveries}; retried after "
                            f"{options.claimidle} ms): {error}", logging.WARNING)
        dat.entry = None
        dat.outbox.clear()
        if acks or sends or dead:
            await self.call("acknowledge", self._settle, acks, sends, dead)
            self.stats.acked += len(acks) - len(dead)
            self.stats.dead += len(dead)
            self.stats.sent += len(sends)

    def _dead(self, dead: list[dict[str, Any]], acks: list[bytes], raw_id: bytes, fields: Mapping[bytes, bytes],
              count: int, error: str) -> None:
        letter: dict[Any, Any] = dict(fields)
        letter.update({"id": raw_id, "error": error, "deliveries": count, "group": self.options.group,
                       "consumer": self.options.consumer, "failed_at": f"{time.time():.6f}"})
        dead.append(letter)
        acks.append(raw_id)
        self.dat.monitor(f"entry {_text(raw_id)} dead-lettered to {dead_key(self.options.stream)} after {count} "
                         f"deliver{'y' if count == 1 else 'ies'}: {error}", logging.WARNING)

    async def claim_round(self) -> None:
        """Claim entries idle ``claimidle`` ms on any consumer (a dead worker's, or failed ones) and process them."""
        cursor = "0-0"
        while not self.stop.is_set():
            cursor, claimed = await self.call("claim", self._claim, cursor)
            if claimed:
                counts = await self.call("pending", self._deliveries, [raw_id for raw_id, _ in claimed])
                self.stats.claimed += len(claimed)
                await self.process(claimed, counts)
            if cursor == "0-0" or not claimed:
                break
        self.next_claim = trio.current_time() + self.options.claimidle / 2000

    async def recover_lost(self) -> None:
        """Process what Redis delivered to this consumer but the worker never received (an answer lost with the
        connection, or a worker restarted under the same name): without this it would wait ``claimidle`` ms."""
        self.recover = False
        while not self.stop.is_set():
            lost = await self.call("recover", self._lost)  # a retried call finds what a lost answer claimed
            if not lost:
                return
            self.recover_after = lost[-1][0]
            counts = await self.call("pending", self._deliveries, [raw_id for raw_id, _ in lost])
            await self.process(lost, counts)

    async def run(self) -> None:
        try:
            await self.call("create group", self._create_group)
            while not self.stop.is_set():
                if self.recover:
                    await self.recover_lost()
                    continue
                now = trio.current_time()
                if now >= self.next_claim:  # first at once: what a stopped worker (or this one, restarted) left
                    await self.claim_round()
                    continue
                block = max(1, min(self.options.block, int((self.next_claim - now) * 1000)))
                failures, last_read = self.failures, self.last_read
                entries = await self.call("read", self._read, ">", block)
                if self.failures != failures:  # Redis may have given entries whose answer was lost
                    self.recover, self.recover_after = True, last_read
                if entries:
                    self.last_read = entries[-1][0]
                    await self.process(entries)
        except _Stopped:
            return

    def close(self) -> None:
        self.client.close()


class _Stopped(Exception):
    """The worker was told to stop while Redis was away."""


def _send_entry(kind: str, payload: str | bytes, entry: Entry | None) -> dict[str, Any]:
    message: dict[str, Any] = {"event": kind, "message" if kind == "text" else "data": payload,
                               "t": f"{time.time():.6f}"}
    if entry is not None:
        message["dat"] = entry.dat
        message["id"] = entry.id
    return message


async def watch_signals(stop: trio.Event, cancel_scope: trio.CancelScope) -> None:
    """SIGINT or SIGTERM: finish the entries in hand, acknowledge them, stop. A second signal stops at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                cancel_scope.cancel()
                return
            stop.set()


async def run_worker(dat: WorkerDAT, options: WorkOptions, stop: trio.Event) -> WorkStats:
    """Process entries of ``options.stream`` through ``dat`` (running with :meth:`WebSocketDAT.run_offline`) until
    ``stop`` is set; returns what was done. Redis being away is waited out with backoff."""
    options.check()
    worker = _Worker(dat, options, stop)
    try:
        await worker.run()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(worker.close)
    return worker.stats
