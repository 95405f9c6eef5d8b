"""wsdat-redis: every received message of a DAT to a Redis stream, for ``wsdat work`` (hook workers on other hosts).

Each message becomes one stream entry with the fields ``dat``, ``event`` (``text`` or ``binary``; ``connect`` and
``disconnect`` when asked for), ``row``, ``message`` (text) or ``data`` (binary bytes), ``t`` (UNIX time it was
cooked) and ``seq``: a number drawn from the counter ``STREAM:seq``, increasing in the order received and never
repeated for a stream, also across reconnects and restarts (a lost counter is restored from the stream's last entry).

Writing. The hooks only append to an in-memory spool; a background task of the DAT writes what waits in batches:
each batch is one call of a small Lua script that does the batch's XADDs (with ``MAXLEN ~``) and draws its ``seq``
block inside Redis, and the calls of several batches go out pipelined in one round trip. A script call is atomic and
carries the batch's number, which the script remembers per writer (``STREAM:writer:ID``, deleted when the DAT stops,
expiring after a week of silence): a batch retried after a lost answer is recognised and not written twice, and a
batch whose predecessor is missing is refused (retried later), so the stream keeps the order received.

Nothing is lost while Redis is away or slow: entries wait in the spool (``spool`` entries, default 100,000) and are
written in order once it is back, with the DAT's reconnect backoff between attempts. When the spool is full the DAT
stops reading from the WebSocket (an async ``onCook`` waits for room: backpressure to the server, as TCP does),
never dropping. Monitor lines say when Redis went away, when it came back and how many entries waited. Entries still
spooled when the DAT stops are written within ``onExit``'s bound (about 4 s), else reported as not written.

Answers from workers: what ``wsdat work``'s hooks send arrives in ``STREAM:send``; this plugin reads it (consumer group
``wsdat-ingest``, so several ingest DATs of one stream share it and a restart resumes where it was) and sends each
message through the DAT (``await dat.send_text`` / ``send_binary``), acknowledging it once written to the socket.

Settings (``dat.pluginSettings("redis")``: a service file's ``[dat.NAME.plugins.redis]``, the CLI's
``--set redis.KEY=VALUE``, or ``WSDAT_REDIS_<KEY>`` environment variables as defaults):

``url``      ``redis://127.0.0.1:6379/0`` (also ``rediss://``, ``unix://``)
``stream``   ``wsdat:{dat}`` (``{dat}``: the DAT's name)
``maxlen``   1,000,000: the stream is trimmed to about this many entries (``MAXLEN ~``); 0 keeps everything
``events``   ``text,binary`` (add ``connect``, ``disconnect``)
``spool``    100,000: entries held while Redis is away or slow, before the DAT stops reading
``batch``    1,000: entries per script call (each call holds Redis for about 10 microseconds per entry)
``answers``  true: send what workers put in ``STREAM:send``
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

import redis
import trio

from wsdat_core import ConnectError, ConnectionClosedError
from wsdat_core.model.backoff import Backoff

from .work import DEFAULT_URL, describe_redis_error, open_redis, send_key, seq_key, stream_name

__all__ = ["SCRIPT", "RedisSink", "default_sink"]

#: Batches of one write (one round trip).
PIPELINE_BATCHES: Final = 8
EXIT_FLUSH_SECONDS: Final = 4.0
SEND_GROUP: Final = "wsdat-ingest"
_EVENTS: Final = ("text", "binary", "connect", "disconnect")
_DEFAULTS: Final[dict[str, Any]] = {"url": DEFAULT_URL, "stream": "wsdat:{dat}", "maxlen": 1_000_000,
                                    "events": "text,binary", "spool": 100_000, "batch": 1000, "answers": True}

#: One batch: KEYS stream, seq counter, this writer's mark; ARGV batch number, maxlen, dat name, then four values per
#: entry (event, row, payload, t; the payload is ``data`` for binary, else ``message``). Returns the batch's last seq,
#: or -1 for a batch written before; a batch whose predecessor is missing is refused, so a retry keeps the order.
SCRIPT: Final = """
local batch = tonumber(ARGV[1])
local done = tonumber(redis.call('GET', KEYS[3]) or '0')
if batch <= done then return -1 end
if done > 0 and batch ~= done + 1 then
  return redis.error_reply('WSDATGAP batch ' .. batch .. ' of this writer follows batch ' .. done)
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local fields = last[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'seq' then redis.call('SET', KEYS[2], fields[i + 1]) end
    end
  end
end
local n = (#ARGV - 3) / 4
local seq = redis.call('INCRBY', KEYS[2], n) - n
local maxlen = tonumber(ARGV[2])
local dat = ARGV[3]
for i = 4, #ARGV, 4 do
  seq = seq + 1
  local field = 'message'
  if ARGV[i] == 'binary' then field = 'data' end
  if maxlen > 0 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'dat', dat, 'event', ARGV[i], 'row', ARGV[i + 1],
               field, ARGV[i + 2], 't', ARGV[i + 3], 'seq', seq)
  else
    redis.call('XADD', KEYS[1], '*', 'dat', dat, 'event', ARGV[i], 'row', ARGV[i + 1],
               field, ARGV[i + 2], 't', ARGV[i + 3], 'seq', seq)
  end
end
redis.call('SET', KEYS[3], batch, 'EX', 604800)
return seq
"""

_Entry = tuple[str, int, "str | bytes", float]


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


class _Channel:
    """One DAT's stream: the spool, the writer task and the reader of answers."""

    def __init__(self, dat: Any, settings: dict[str, Any]) -> None:
        merged = {**_DEFAULTS, **settings}
        self.dat = dat
        self.url = str(merged["url"])
        self.stream = stream_name(str(merged["stream"]), dat.name)
        self.maxlen = _integer(merged, "maxlen", 0)
        self.capacity = _integer(merged, "spool", 1)
        self.batch = _integer(merged, "batch", 1)
        self.events = _events(merged["events"])
        self.answers = _switch(merged["answers"])
        self.client = open_redis(self.url)
        self.writer_key = f"{self.stream}:writer:{uuid.uuid4().hex}"
        self.keys = (self.stream, seq_key(self.stream), self.writer_key)
        self.sha = ""
        self.spool: deque[_Entry] = deque()
        self.inflight: list[tuple[int, list[_Entry]]] = []
        self.numbers = 0
        self.written = 0
        self.last_seq = 0
        self.limiter = trio.CapacityLimiter(1)
        self.wake = trio.Event()
        self.room = trio.Event()
        self.down_since: float | None = None
        self.full_reported = False
        self.closed = False
        par = dat.par
        self.backoff = Backoff(first=min(par.reconnectdelay, 0.5), factor=par.reconnectfactor,
                               cap=min(par.reconnectmaxdelay, 10.0))

    # -- the spool ---------------------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self.spool) + sum(len(entries) for _, entries in self.inflight)

    def add(self, entry: _Entry) -> None:
        self.spool.append(entry)

    async def wait_room(self) -> None:
        if not self.wake.is_set():
            self.wake.set()
        while self.pending >= self.capacity and not self.closed:
            if not self.full_reported:
                self.full_reported = True
                self.dat.monitor(f"redis: spool full ({self.pending} entries): reading paused until Redis takes "
                                 "entries (backpressure)", logging.WARNING)
            self.room = trio.Event()
            await self.room.wait()

    # -- writing -----------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        self.sha = self.client.script_load(SCRIPT)

    def _write(self, batches: list[tuple[int, list[_Entry]]]) -> int:
        if not self.sha:
            self._load()
        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            for number, entries in batches:
                args: list[Any] = [number, self.maxlen, self.dat.name]
                for entry in entries:
                    args.extend(entry)
                pipe.evalsha(self.sha, 3, *self.keys, *args)
            try:
                results = pipe.execute()
            except redis.exceptions.NoScriptError:  # Redis restarted (or SCRIPT FLUSH): load it again
                if attempt == 2:
                    raise
                self._load()
                continue
            last = max((int(result) for result in results), default=-1)
            return last
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> None:
        spool, size = self.spool, self.batch
        while spool and len(self.inflight) < PIPELINE_BATCHES:
            count = min(size, len(spool))
            self.numbers += 1
            self.inflight.append((self.numbers, [spool.popleft() for _ in range(count)]))

    async def write_once(self) -> bool:
        """Write what is in flight (taking it from the spool first); False when Redis failed."""
        if not self.inflight:
            self._take()
        if not self.inflight:
            return True
        try:
            last = await trio.to_thread.run_sync(self._write, self.inflight, limiter=self.limiter)
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            self._went_away(exc)
            return False
        if self.down_since is not None:
            self._came_back()
        self.written += sum(len(entries) for _, entries in self.inflight)
        self.inflight = []
        self.last_seq = max(self.last_seq, last)
        if self.pending < self.capacity:
            self.room.set()
            if self.full_reported and not self.spool:
                self.full_reported = False
        return True

    def _went_away(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            what = "went away" if isinstance(exc, redis.ConnectionError | redis.TimeoutError) else "refused the entries"
            self.dat.monitor(f"redis: {what} ({describe_redis_error(exc)}); entries wait in the spool (up to "
                             f"{self.capacity})", logging.WARNING)

    def _came_back(self) -> None:
        assert self.down_since is not None
        self.dat.monitor(f"redis: back after {time.monotonic() - self.down_since:.1f} s; {self.pending} entries "
                         "waited in the spool and are being written")
        self.down_since = None
        self.backoff.reset()

    async def run_writer(self) -> None:
        while True:
            while not self.spool and not self.inflight:
                self.wake = trio.Event()
                await self.wake.wait()
            if not await self.write_once():
                await trio.sleep(self.backoff.next_delay())

    async def flush(self, seconds: float) -> None:
        """Write what is left, for at most ``seconds`` (the DAT is stopping)."""
        with trio.move_on_after(seconds):
            while self.spool or self.inflight:
                if not await self.write_once():
                    await trio.sleep(min(0.2, self.backoff.next_delay()))
        left = self.pending
        if left:
            self.dat.monitor(f"redis: {left} entries not written: the DAT stopped while Redis was away",
                             logging.ERROR)

    # -- answers from workers ----------------------------------------------------------------------------------------
    async def run_answers(self) -> None:
        reader = open_redis(self.url, timeout=30.0)
        limiter = trio.CapacityLimiter(1)
        key, name = send_key(self.stream), self.dat.name
        backoff = Backoff(first=0.2, cap=5.0)

        def create() -> None:
            try:
                reader.xgroup_create(key, SEND_GROUP, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        def read(start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
            answer = reader.xreadgroup(SEND_GROUP, name, {key: start}, count=100,
                                       block=1000 if start == ">" else None)
            return list(answer[0][1]) if answer else []

        try:
            start = "0"  # what this DAT took before and did not acknowledge (it stopped), first
            created = False
            while True:
                try:
                    if not created:
                        await trio.to_thread.run_sync(create, limiter=limiter)
                        created = True
                    entries = await trio.to_thread.run_sync(read, start, limiter=limiter, abandon_on_cancel=True)
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    await trio.sleep(backoff.next_delay())  # the writer reports Redis going away
                    continue
                backoff.reset()
                if start != ">" and not entries:
                    start = ">"
                    continue
                done = []
                for entry_id, fields in entries:
                    if fields:
                        await self._send(fields)
                    done.append(entry_id)
                    if start != ">":
                        start = entry_id.decode()
                while done:
                    try:
                        await trio.to_thread.run_sync(reader.xack, key, SEND_GROUP, *done, limiter=limiter)
                        break
                    except (redis.ConnectionError, redis.TimeoutError):
                        await trio.sleep(backoff.next_delay())
        finally:
            reader.close()

    async def _send(self, fields: dict[bytes, bytes]) -> None:
        binary = fields.get(b"event") == b"binary"
        payload: str | bytes = fields.get(b"data", b"") if binary else fields.get(b"message", b"").decode(
            "utf-8", "replace")
        while True:
            try:
                await self.dat.wait_connected()
                if isinstance(payload, bytes):
                    await self.dat.send_binary(payload, written=True)
                else:
                    await self.dat.send_text(payload, written=True)
                return
            except ConnectionClosedError:
                continue  # not sent: again on the next connection
            except ConnectError:
                await trio.sleep(0.5)  # the DAT waits for a parameter change before connecting again

    def close(self) -> None:
        if not self.pending:  # every batch is in: nothing can be retried, the writer's mark can go
            with contextlib.suppress(redis.RedisError):
                self.client.delete(self.writer_key)
        self.client.close()


class RedisSink:
    """The callbacks plugin: one :class:`_Channel` per DAT it serves."""

    def __init__(self) -> None:
        self._channels: dict[int, _Channel] = {}

    def channel(self, dat: Any) -> _Channel | None:
        return self._channels.get(id(dat))

    def stats(self, dat: Any) -> dict[str, Any]:
        """``written``, ``pending`` (spooled or in flight), ``last_seq``, ``stream``, ``away``: ``dat``'s stream."""
        channel = self._channels.get(id(dat))
        if channel is None:
            return {}
        return {"stream": channel.stream, "written": channel.written, "pending": channel.pending,
                "last_seq": channel.last_seq, "away": channel.down_since is not None}

    # -- hooks --------------------------------------------------------------------------------------------------------
    def onStart(self, dat: Any) -> None:
        channel = _Channel(dat, dat.pluginSettings("redis"))
        self._channels[id(dat)] = channel
        dat.start_soon(channel.run_writer, name=f"{dat.name}: redis writer")
        if channel.answers:
            dat.start_soon(channel.run_answers, name=f"{dat.name}: redis answers")

    async def onExit(self, dat: Any) -> None:
        channel = self._channels.pop(id(dat), None)
        if channel is None:
            return
        try:
            await channel.flush(EXIT_FLUSH_SECONDS)
        finally:
            channel.closed = True
            channel.room.set()
            await trio.to_thread.run_sync(channel.close)

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "text" in channel.events:
            channel.spool.append(("text", rowIndex, message, time.time()))

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "binary" in channel.events:
            row = dat.numRows - 1 if dat.par.binaryrows else 0
            channel.spool.append(("binary", row, contents, time.time()))

    def onConnect(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "connect" in channel.events:
            channel.spool.append(("connect", 0, dat.par.endpoint.url, time.time()))
            channel.wake.set()

    def onDisconnect(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "disconnect" in channel.events:
            channel.spool.append(("disconnect", 0, "", time.time()))
            channel.wake.set()

    async def onCook(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None:
            await channel.wait_room()


#: The instance the ``redis`` entry point names; each DAT it serves reads its own settings in ``onStart``.
default_sink = RedisSink()
