"""``dat.events()``: every subscriber gets every event of the DAT, in order, and a slow one slows the DAT down.

Each :class:`Subscription` holds up to ``buffer`` events. Events produced where nothing can wait (a monitor line from
a plain hook) are always accepted; the cook, which can wait, waits before going on while any subscriber holds
``buffer`` events or more. So a slow subscriber means the DAT stops reading from the network (backpressure, the same
rule as for busy async hooks), never that an event is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..model.events import Event

__all__ = ["EventBus", "Subscription"]


class Subscription:
    """An async iterator of events; iteration ends when the DAT's run ends (after the events already queued)."""

    __slots__ = ("_closed", "_events", "_ready", "_room", "buffer")

    def __init__(self, buffer: int) -> None:
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise ValueError(f"buffer: {buffer!r} is not allowed; expected an integer >= 1")
        self.buffer = buffer
        self._events: deque[Event] = deque()
        self._ready: trio.Event | None = None
        self._room: trio.Event | None = None
        self._closed = False

    def __len__(self) -> int:
        """Events waiting to be taken."""
        return len(self._events)

    @property
    def full(self) -> bool:
        return len(self._events) >= self.buffer

    def put(self, event: Event) -> None:
        self._events.append(event)
        if self._ready is not None:
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        if self._ready is not None:
            self._ready.set()

    async def wait_room(self) -> None:
        while self.full and not self._closed:
            if self._room is None:
                self._room = trio.Event()
            await self._room.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._closed:
                raise StopAsyncIteration
            self._ready = trio.Event()
            await self._ready.wait()
            self._ready = None
        event = self._events.popleft()
        if self._room is not None and len(self._events) < self.buffer:
            self._room.set()
            self._room = None
        return event


class EventBus:
    """The subscribers of one DAT."""

    __slots__ = ("subscribers",)

    def __init__(self) -> None:
        self.subscribers: list[Subscription] = []

    def publish(self, event: Event) -> None:
        for subscription in self.subscribers:
            subscription.put(event)

    @property
    def full(self) -> bool:
        """True when some subscriber holds its whole buffer."""
        return any(subscription.full for subscription in self.subscribers)

    async def wait_room(self) -> None:
        """Wait until no subscriber holds its whole buffer."""
        for subscription in list(self.subscribers):
            await subscription.wait_room()

    @asynccontextmanager
    async def subscribe(self, buffer: int) -> AsyncIterator[Subscription]:
        subscription = Subscription(buffer)
        self.subscribers.append(subscription)
        try:
            yield subscription
        finally:
            if subscription in self.subscribers:
                self.subscribers.remove(subscription)
            subscription.close()

    def close_all(self) -> None:
        """The DAT's run ended: every iteration ends once its queued events are taken."""
        for subscription in self.subscribers:
            subscription.close()
        self.subscribers.clear()
