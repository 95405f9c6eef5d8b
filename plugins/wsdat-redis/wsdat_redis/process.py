"""The worker DAT and what it does with a batch of stream entries: run the hooks, decide, acknowledge.

An entry is acknowledged (XACK) once its hooks returned without raising (a raising hook is counted in
``dat.info.errors``; the processor compares that count before and after each entry, and waits for the entry's
``async def`` hooks to finish first). A failing entry stays pending for a later delivery, and one delivered
``maxdeliveries`` times goes to ``STREAM:dead``. A batch is settled in one step: the acknowledgements with one XACK,
together with what the hooks sent (``STREAM:send``) and the dead letters, in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from wsdat_core import WebSocketDAT

from .connect import dead_key

__all__ = ["Batch", "Entry", "Processor", "Raw", "WorkStats", "WorkerDAT", "entry_event"]

#: A stream entry as read: its id and fields (None when it was trimmed away while pending).
Raw = tuple[bytes, "dict[bytes, bytes] | None"]


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


@dataclass(frozen=True)
class Entry:
    """The stream entry whose hooks are running (``dat.entry`` in a worker's hooks)."""

    id: str
    seq: int | None
    dat: str
    row: int | None
    t: float | None
    deliveries: int
    #: The stream the entry came from.
    stream: str = ""


class WorkerDAT(WebSocketDAT):
    """A DAT fed from a stream: its sends go to ``STREAM:send`` (the ingest DAT sends them), and it always counts as
    connected. ``entry`` describes the entry being processed (its ``seq`` makes idempotent processing easy)."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        #: What the hooks of the current entry sent, as ``(event, payload)``.
        self.outbox: list[tuple[str, str | bytes]] = []
        self._entry: Entry | None = None
        #: ``(stream, id, fields, deliveries)`` of the current entry: :attr:`entry` is made from it when asked for.
        self._current: tuple[str, bytes, Mapping[bytes, bytes], int] | None = None

    @property
    def entry(self) -> Entry | None:
        if self._entry is None and self._current is not None:
            stream, raw_id, fields, count = self._current
            self._entry = Entry(_text(raw_id), _maybe_int(fields.get(b"seq")), _text(fields.get(b"dat", b"")),
                                _maybe_int(fields.get(b"row")), _maybe_float(fields.get(b"t")), count, stream)
        return self._entry

    @entry.setter
    def entry(self, value: Entry | None) -> None:
        self._entry, self._current = value, None

    def _set_current(self, current: tuple[str, bytes, Mapping[bytes, bytes], int] | None) -> None:
        self._entry, self._current = None, current

    @property
    def connected(self) -> bool:
        return True

    async def wait_connected(self, timeout: float | None = None) -> None:
        """A worker can always send (through the stream): returns at once."""

    def sendText(self, *parts: Any) -> int:
        text = parts[0] if len(parts) == 1 and type(parts[0]) is str else "".join(
            p if isinstance(p, str) else str(p) for p in parts)
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:  # a lone surrogate: refused where it is given, as the DAT's sendText does
            self.monitor(f"sendText: the text cannot be sent: {exc.reason} at position {exc.start}",
                         logging.WARNING)
            return -1
        self.outbox.append(("text", text))
        return size

    def sendBinary(self, contents: bytes | bytearray | memoryview) -> int:
        if not isinstance(contents, bytes | bytearray | memoryview):
            raise TypeError(f"sendBinary: contents must be bytes, bytearray or memoryview (use sendText), "
                            f"not {type(contents).__name__}")
        data = bytes(contents)
        self.outbox.append(("binary", data))
        return len(data)

    async def send_text(self, *parts: Any, written: bool = False) -> None:
        if self.sendText(*parts) < 0:
            raise ValueError("send_text: the text holds a character UTF-8 cannot encode (a lone surrogate)")

    async def send_binary(self, data: bytes | bytearray | memoryview, *, written: bool = False) -> None:
        self.sendBinary(data)


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


@dataclass
class Batch:
    """Entries of one stream to process; ``deliveries`` counts each entry's deliveries (None: first delivery)."""

    stream: str
    entries: list[Raw]
    deliveries: Mapping[bytes, int] | None
    #: Set once the batch is settled in Redis (or had nothing to settle).
    done: trio.Event = field(default_factory=trio.Event)
    #: What processing decided, for Redis: entries to acknowledge, messages for ``STREAM:send``, dead letters.
    acks: list[bytes] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)

    @property
    def to_settle(self) -> bool:
        return bool(self.acks or self.sends or self.dead)


class Processor:
    """Runs the hooks of a worker DAT on batches and decides what settles each (:meth:`process`); the caller writes
    that to Redis and then calls :meth:`settled`."""

    def __init__(self, dat: WorkerDAT, group: str, consumer: str, maxdeliveries: int, claimidle: int) -> None:
        self.dat = dat
        self.group = group
        self.consumer = consumer
        self.maxdeliveries = maxdeliveries
        self.claimidle = claimidle
        self.stats = WorkStats()

    def settled(self, batch: Batch) -> None:
        self.stats.acked += len(batch.acks) - len(batch.dead)
        self.stats.dead += len(batch.dead)
        self.stats.sent += len(batch.sends)

    async def process(self, batch: Batch) -> None:
        """Run the hooks of each entry; fills ``batch.acks``, ``batch.sends`` and ``batch.dead``.

        Received messages in a row go to the DAT in one delivery when every hook is plain (no ``async def``): the
        DAT calls back before each message's hooks run, which tells which entry a raising hook or a send belongs
        to, at the cost of one call instead of a whole cook per entry. With async hooks each entry is delivered
        and waited for on its own (an async hook's error is known only once it finished).
        """
        dat, stream, deliveries = self.dat, batch.stream, batch.deliveries
        ready: list[_Ready] = []
        try:
            for raw_id, fields in batch.entries:
                count = deliveries.get(raw_id, 1) if deliveries else 1
                if fields is None:  # trimmed away while pending: nothing left to process
                    batch.acks.append(raw_id)
                    continue
                if count > self.maxdeliveries:  # the workers it was given to never acknowledged it (they died)
                    self._dead(stream, batch.dead, batch.acks, raw_id, fields, count, f"not acknowledged after "
                               f"{count - 1} deliveries (the workers it was given to stopped while processing it)")
                    continue
                try:
                    event = entry_event(fields)
                except (ValueError, UnicodeDecodeError) as exc:
                    self._dead(stream, batch.dead, batch.acks, raw_id, fields, count, str(exc))
                    continue
                ready.append(_Ready(raw_id, fields, count, event))
            if dat.host.all_plain():
                await self._together(batch, ready)
            else:
                for entry in ready:
                    await self._alone(batch, entry)
        finally:
            dat._set_current(None)
            dat.outbox.clear()

    async def _alone(self, batch: Batch, entry: _Ready) -> None:
        """One entry: delivered, its async hooks waited for, then settled."""
        dat = self.dat
        self._start(batch, entry)
        await dat.deliver((entry.event,))
        await dat.wait_hooks()
        self._finish(batch, entry)

    async def _together(self, batch: Batch, ready: list[_Ready]) -> None:
        """Entries whose events are received messages, in one delivery each run (see :meth:`process`)."""
        dat = self.dat
        position = 0
        while position < len(ready):
            run_end = position
            while run_end < len(ready) and ready[run_end].event[0] in _MESSAGES:
                run_end += 1
            if run_end == position:  # connect or disconnect: on its own
                await self._alone(batch, ready[position])
                position += 1
                continue
            run = ready[position:run_end]
            current = -1

            def each(run: list[_Ready] = run) -> None:
                nonlocal current
                if current >= 0:
                    self._finish(batch, run[current])
                current += 1
                self._start(batch, run[current])

            await dat.deliver([entry.event for entry in run], each=each)
            if current >= 0:
                self._finish(batch, run[current])
            position = run_end

    def _start(self, batch: Batch, entry: _Ready) -> None:
        self.dat._set_current((batch.stream, entry.raw_id, entry.fields, entry.count))
        self.dat.outbox.clear()
        entry.errors = self.dat.info.errors

    def _finish(self, batch: Batch, entry: _Ready) -> None:
        """Its hooks ran: acknowledge it (with what it sent), or count the failure (dead-lettered at the last try)."""
        dat = self.dat
        self.stats.processed += 1
        if dat.info.errors == entry.errors:
            batch.acks.append(entry.raw_id)
            if dat.outbox:
                current = dat.entry
                batch.sends.extend(_send_entry(kind, payload, current) for kind, payload in dat.outbox)
            return
        self.stats.failed += 1
        error = dat.last_error or "a hook raised"
        if entry.count >= self.maxdeliveries:
            self._dead(batch.stream, batch.dead, batch.acks, entry.raw_id, entry.fields, entry.count, error)
        else:
            dat.monitor(f"entry {_text(entry.raw_id)} failed (delivery {entry.count} of {self.maxdeliveries}; "
                        f"retried after {self.claimidle} ms): {error}", logging.WARNING)

    def _dead(self, stream: str, dead: list[dict[str, Any]], acks: list[bytes], raw_id: bytes,
              fields: Mapping[bytes, bytes], count: int, error: str) -> None:
        letter: dict[Any, Any] = dict(fields)
        letter.update({"id": raw_id, "error": error, "deliveries": count, "group": self.group,
                       "consumer": self.consumer, "failed_at": f"{time.time():.6f}"})
        dead.append(letter)
        acks.append(raw_id)
        self.dat.monitor(f"entry {_text(raw_id)} dead-lettered to {dead_key(stream)} after {count} "
                         f"deliver{'y' if count == 1 else 'ies'}: {error}", logging.WARNING)


_MESSAGES = frozenset({"text", "binary"})


@dataclass(slots=True)
class _Ready:
    """An entry to run: its id, fields, delivery count and event; ``errors``: the DAT's error count as it started."""

    raw_id: bytes
    fields: Mapping[bytes, bytes]
    count: int
    event: tuple[str, Any]
    errors: int = 0


def _send_entry(kind: str, payload: str | bytes, entry: Entry | None) -> dict[str, Any]:
    message: dict[str, Any] = {"event": kind, "message" if kind == "text" else "data": payload,
                               "t": f"{time.time():.6f}"}
    if entry is not None:
        message["dat"] = entry.dat
        message["id"] = entry.id
    return message
