"""The bounded send queue between ``dat.sendText(...)`` (synchronous, called from callbacks) and the sender task.

A deque and an event instead of a trio memory channel: putting costs an append, and the sender takes everything that
is waiting at once, to write it with one ``send_all``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio

__all__ = ["SendQueue"]

Item = tuple[int, Any, int]  # (kind, payload, payload size in bytes)


class SendQueue:
    """At most ``limit`` items wait; :meth:`put` never blocks, :meth:`take` waits for at least one item."""

    __slots__ = ("_items", "_waiter", "limit", "lost")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Items taken for sending but not sent because the connection closed.
        self.lost = 0
        self._items: deque[Item] = deque()
        self._waiter: trio.Event | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> bool:
        """Queue ``item``; False (and nothing queued) when ``limit`` items are already waiting."""
        if len(self._items) >= self.limit:
            return False
        self._items.append(item)
        if self._waiter is not None:
            self._waiter.set()
        return True

    async def take(self, max_bytes: int) -> list[Item]:
        """Wait for items, then return the oldest ones, stopping once ``max_bytes`` of payload are reached."""
        while not self._items:
            self._waiter = trio.Event()
            try:
                await self._waiter.wait()
            finally:
                self._waiter = None
        items = self._items
        batch = [items.popleft()]
        size = batch[0][2]
        while items and size < max_bytes:
            item = items.popleft()
            batch.append(item)
            size += item[2]
        return batch
