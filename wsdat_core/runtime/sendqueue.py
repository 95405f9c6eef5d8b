"""The bounded send queue between the DAT's send calls and the sender task.

``dat.sendText(...)`` (TouchDesigner's, synchronous, callable from hooks) puts without waiting and is refused when the
queue is full; ``await dat.send_text(...)`` waits for room instead and then for its :class:`Receipt`, which the
sender settles once the message was written to the socket (or could not be). A deque and events instead of a trio
memory channel: putting costs an append, and the sender takes everything that is waiting at once, to write it with one
``send_all``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import trio

from ..model.events import Outgoing

__all__ = ["Receipt", "SendQueue", "settle"]


class Receipt:
    """Settled by the sender: :attr:`sent` is True once the message was written to the socket."""

    __slots__ = ("_done", "sent")

    def __init__(self) -> None:
        self._done = trio.Event()
        self.sent = False

    def settle(self, sent: bool) -> None:
        self.sent = sent
        self._done.set()

    async def wait(self) -> bool:
        """Wait until the sender settled this message; returns :attr:`sent`."""
        await self._done.wait()
        return self.sent


class SendQueue:
    """At most ``limit`` items (and about ``byte_limit`` payload bytes, when given) wait.

    :meth:`put` never blocks, :meth:`put_wait` waits for room, :meth:`take` waits for at least one item.
    ``force`` puts (automatic pongs) pass the bounds: a control frame must never be refused for data in the queue.
    """

    __slots__ = ("_bytes", "_drained", "_items", "_room", "_waiter", "_writing", "byte_limit", "closed", "limit",
                 "lost")

    def __init__(self, limit: int, byte_limit: int | None = None) -> None:
        self.limit = limit
        self.byte_limit = byte_limit
        #: Outgoings taken for sending but not sent because the connection closed.
        self.lost = 0
        self._items: deque[Outgoing] = deque()
        self._bytes = 0
        self._waiter: trio.Event | None = None
        self._room: trio.Event | None = None
        #: Set by :meth:`drain`: the connection this queue fed has ended.
        self.closed = False
        self._writing = False  # the sender holds a batch taken by take() and not yet reported written()
        self._drained: trio.Event | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def has_room(self, size: int) -> bool:
        """True when an item of ``size`` payload bytes may be put now (one item always fits an empty queue)."""
        if len(self._items) >= self.limit:
            return False
        limit = self.byte_limit
        return limit is None or not self._items or self._bytes + size <= limit

    def put(self, item: Outgoing, *, force: bool = False) -> bool:
        """Queue ``item``; False (and nothing queued) when the queue is full."""
        if not force and not self.has_room(item.size):
            return False
        self._items.append(item)
        self._bytes += item.size
        if self._waiter is not None:
            self._waiter.set()
        return True

    async def put_wait(self, item: Outgoing) -> bool:
        """Queue ``item``, waiting for room first; False (nothing queued) when the queue was closed meanwhile."""
        while not self.closed and not self.has_room(item.size):
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()
        return not self.closed and self.put(item)

    async def take(self, max_bytes: int) -> list[Outgoing]:
        """Wait for items, then return the oldest ones, stopping once ``max_bytes`` of payload are reached."""
        while not self._items:
            self._waiter = trio.Event()
            try:
                await self._waiter.wait()
            finally:
                self._waiter = None
        items = self._items
        batch = [items.popleft()]
        size = batch[0].size
        while items and size < max_bytes:
            item = items.popleft()
            batch.append(item)
            size += item.size
        self._bytes -= size
        self._writing = True
        if self._room is not None:
            self._room.set()
            self._room = None
        return batch

    def written(self) -> None:
        """The sender is done with the batch it took (written, or given up)."""
        self._writing = False
        if not self._items and self._drained is not None:
            self._drained.set()
            self._drained = None

    async def wait_sent(self) -> None:
        """Wait until everything queued so far was written (or the queue closed)."""
        while (self._items or self._writing) and not self.closed:
            if self._drained is None:
                self._drained = trio.Event()
            await self._drained.wait()

    def drain(self) -> list[Outgoing]:
        """Close the queue; remove and return everything still waiting (the connection ended)."""
        self.closed = True
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        if self._drained is not None:
            self._drained.set()
            self._drained = None
        if self._room is not None:
            self._room.set()
            self._room = None
        return items


def settle(items: Iterable[Outgoing], sent: bool) -> None:
    """Settle the receipts of ``items``."""
    for item in items:
        receipt = item.receipt
        if receipt is not None:
            receipt.settle(sent)
