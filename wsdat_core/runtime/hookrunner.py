"""Running ``async def`` hooks: in the DAT's nursery, at most ``limit`` at once, in the order they were called.

The one rule (also in :mod:`wsdat_core.host.hookspecs`): every async hook call gets a slot, in order; none is skipped.
A call made while every slot is busy waits in a queue. The cook waits until the calls of its messages have slots before
it goes on (so while async hooks are slow, the DAT stops reading: backpressure); calls made where nothing can wait (a
monitor line, ``onDisconnect``, ``onCook``) queue and start as slots free up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import trio

from ..host.callbacks import PendingCall

__all__ = ["HookRunner"]


class HookRunner:
    """Async hook calls of one DAT; :meth:`run` must be running (in the DAT's nursery) for them to start."""

    def __init__(self, limit: int, on_busy: Callable[[], None] = lambda: None) -> None:
        if limit < 1:
            raise ValueError(f"async_hook_limit: {limit!r} is not allowed; expected an integer >= 1")
        self.limit = limit
        self._on_busy = on_busy  # told once each time every slot becomes busy with calls waiting
        self._slots = trio.Semaphore(limit)
        self._queue: deque[PendingCall] = deque()
        self._nursery: trio.Nursery | None = None
        self._wake: trio.Event | None = None
        self._drained: trio.Event | None = None
        self._idle: trio.Event | None = None
        self._busy_told = False

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot."""
        return len(self._queue)

    @property
    def running(self) -> int:
        """Calls holding a slot."""
        return self.limit - self._slots.value

    def submit(self, calls: Sequence[PendingCall]) -> None:
        """Start ``calls`` now where slots are free and nothing waits before them; queue the rest, in order."""
        nursery = self._nursery
        for call in calls:
            if nursery is not None and not self._queue:
                try:
                    self._slots.acquire_nowait()
                except trio.WouldBlock:
                    pass
                else:
                    self._busy_told = False
                    nursery.start_soon(self._run_one, call)
                    continue
            self._queue.append(call)
            if not self._busy_told and nursery is not None:
                self._busy_told = True
                self._on_busy()
        if self._queue and self._wake is not None:
            self._wake.set()

    async def wait_idle(self) -> None:
        """Wait until no async hook call runs or waits (returns at once when none does)."""
        while self._queue or self.running:
            if self._idle is None:
                self._idle = trio.Event()
            await self._idle.wait()

    async def wait_started(self) -> None:
        """Wait until every submitted call has a slot (returns at once when none waits)."""
        while self._queue:
            if self._drained is None:
                self._drained = trio.Event()
            await self._drained.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start queued calls as slots free up, until cancelled; the calls run in this task's nursery."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                while True:
                    while not self._queue:
                        self._wake = trio.Event()
                        await self._wake.wait()
                    await self._slots.acquire()
                    nursery.start_soon(self._run_one, self._queue.popleft())
                    if not self._queue and self._drained is not None:
                        self._drained.set()
                        self._drained = None
            finally:
                self._nursery = None
                self._wake = None

    def discard(self) -> list[PendingCall]:
        """Remove and return the calls still waiting (the DAT stops); wakes :meth:`wait_started`."""
        left = list(self._queue)
        self._queue.clear()
        if self._drained is not None:
            self._drained.set()
            self._drained = None
        return left

    async def _run_one(self, call: PendingCall) -> None:
        try:
            await call.run()
        finally:
            self._slots.release()
            if self._idle is not None and not self._queue and not self.running:
                self._idle.set()
                self._idle = None
