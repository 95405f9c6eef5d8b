"""The sender: everything a DAT sends goes through one bounded queue per connection, written by one task.

* ``dat.sendText(...)`` & co. (TouchDesigner's, synchronous, callable from hooks) queue without waiting and are
  refused (-1) while not connected or when the queue is full, with one warning until the situation changes;
* ``await dat.send_text(...)`` waits for room, then for the message to be written;
* wsdat's own pongs (after ``onReceivePing``) are written at once, ahead of queued messages (RFC 6455 5.5.2).

Whatever is waiting when the sender task wakes goes out encoded in one write (up to about 256 KiB).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import trio

from ..model.errors import ConnectionClosedError
from ..model.events import EventKind, Outgoing
from ..net.driver import Link
from .reporter import Reporter
from .sendqueue import Receipt, SendQueue, settle

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["SEND_BATCH_BYTES", "Sender"]

#: Queued messages are written together up to about this many bytes.
SEND_BATCH_BYTES: Final = 256 * 1024
_DATA_KINDS: Final = frozenset({EventKind.TEXT, EventKind.BINARY})


class Sender:
    """The sending side of one DAT across its connections."""

    def __init__(self, dat: WebSocketDAT, reporter: Reporter) -> None:
        self.dat = dat
        self.reporter = reporter
        #: Told the payload of every pong a hook sends (the cook's way to know a ping was answered).
        self.on_pong: Callable[[bytes], None] = lambda payload: None
        self._link: Link | None = None
        self.queue: SendQueue | None = None
        self._refused_warned = False
        self._full_warned = False

    # -- a connection ----------------------------------------------------------------------------------------------
    def attach(self, link: Link) -> SendQueue:
        """A connection opened: sends go to a new queue for it."""
        par = self.dat.par
        self._link = link
        self.queue = SendQueue(par.value("sendqueuesize"), par.value("sendqueuebytes"))
        self._refused_warned = False
        return self.queue

    def detach(self) -> None:
        """The connection ended: settle and report what was not sent."""
        queue = self.queue
        self._link = self.queue = None
        if queue is None:
            return
        left = queue.drain()
        settle(left, False)
        if queue.lost or left:
            self.reporter.warn(f"{queue.lost + len(left)} queued message(s) not sent: the connection closed")

    def set_limits(self) -> None:
        """``sendqueuesize`` / ``sendqueuebytes`` changed: the queue's bounds follow at once."""
        if self.queue is not None:
            self.queue.limit = self.dat.par.value("sendqueuesize")
            self.queue.byte_limit = self.dat.par.value("sendqueuebytes")

    # -- sending -------------------------------------------------------------------------------------------------
    def send(self, what: str, kind: EventKind, payload: Any, size: int) -> int:
        """TouchDesigner's send: queue without waiting; the size, or -1 (refused: not connected, or queue full)."""
        queue = self.queue
        if queue is None:
            if not self._refused_warned:
                self._refused_warned = True
                self.reporter.warn(f"{what}: not connected, nothing sent (further refusals until connected are not "
                                   "reported)")
            return -1
        if kind is EventKind.PONG:
            self.on_pong(payload)
        if not queue.put(Outgoing(kind, payload, size)):
            if not self._full_warned:
                self._full_warned = True
                self.reporter.warn(f"{what}: send queue full ({len(queue)} messages, {queue.queued_bytes} bytes "
                                   "waiting; sendqueuesize/sendqueuebytes), message refused")
            return -1
        return size

    async def send_wait(self, kind: EventKind, payload: Any, size: int, written: bool = False) -> None:
        """Queue, waiting for room; with ``written``, wait until written too. :class:`ConnectionClosedError` when the
        connection ended first (or there is none)."""
        queue = self.queue
        if queue is None:
            raise ConnectionClosedError(f"{self.dat.name}: not connected ({self.dat.info.state})")
        await trio.lowlevel.checkpoint_if_cancelled()
        receipt = Receipt() if written else None
        if not await queue.put_wait(Outgoing(kind, payload, size, receipt)) or (
                receipt is not None and not await receipt.wait()):
            raise ConnectionClosedError(f"{self.dat.name}: the connection ended before the message was sent")

    async def wait_sent(self) -> None:
        """Wait until everything queued so far was written; :class:`ConnectionClosedError` when it could not be."""
        queue = self.queue
        if queue is None:
            raise ConnectionClosedError(f"{self.dat.name}: not connected ({self.dat.info.state})")
        await queue.wait_sent()
        if queue.closed:
            raise ConnectionClosedError(f"{self.dat.name}: the connection ended before everything queued was sent")

    async def answer_ping(self, payload: bytes) -> None:
        """wsdat's pong, written at once (RFC 6455 5.5.2), ahead of queued messages."""
        link = self._link
        if link is not None:
            with contextlib.suppress(ConnectionClosedError):  # the end of the connection is reported elsewhere
                await link.send_pong(payload)

    async def run(self, link: Link, queue: SendQueue) -> None:
        """Write what is queued, in order, until the connection cannot take more."""
        info = self.dat.info
        while True:
            items = await queue.take(SEND_BATCH_BYTES)
            written = False
            try:
                await link.send_batch(items)
                written = True
            except ConnectionClosedError:
                return
            finally:
                if not written:  # refused, broken, or cancelled in the middle: whoever waits learns it was not sent
                    queue.lost += len(items)  # reported with what is still queued when the connection ends
                    settle(items, False)
                    queue.written()
            info.messages_sent += sum(1 for item in items if item.kind in _DATA_KINDS)
            info.bytes_sent += sum(item.size for item in items)
            settle(items, True)
            queue.written()
            if self._full_warned and not queue:
                self._full_warned = False
