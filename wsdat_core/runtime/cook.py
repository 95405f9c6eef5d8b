"""A cook: the events of one network read go through the table, the hooks and the event subscribers, in order.

This is the hop between the connection (which hands over a batch of ``(kind, payload)`` per read) and everything a
user sees. Per message it appends the row, calls the hooks, publishes the event; per cook it updates the info
channels once. While ``active`` is off the rest of the batch is dropped (TD: data sent to the port is lost).

Pings are answered here, right after the ``onReceivePing`` hooks ran: a hook that answered with
``dat.sendPong(contents)`` (TouchDesigner's template does) sends the only pong; otherwise, with ``autopong`` on,
wsdat sends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from ..model.events import BinaryReceived, EventKind, PingReceived, PongReceived, TextReceived
from .eventbus import EventBus
from .hookrunner import HookRunner

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["SLOW_COOK_MS", "Cook"]

#: A cook longer than this (milliseconds, not counting waits for async hooks or subscribers) means a plain callback
#: blocked the event loop: warn.
SLOW_COOK_MS: Final = 1000.0

TEXT: Final = EventKind.TEXT
BINARY: Final = EventKind.BINARY
PING: Final = EventKind.PING


def _none(*args: Any) -> tuple[()]:
    return ()


class Cook:
    """Cooks the batches of one DAT. ``await answer_ping(payload)`` writes wsdat's own pong."""

    def __init__(self, dat: WebSocketDAT, runner: HookRunner, bus: EventBus,
                 answer_ping: Callable[[bytes], Awaitable[None]], warn: Callable[[str], None]) -> None:
        self.dat = dat
        self.runner = runner
        self.bus = bus
        self.answer_ping = answer_ping
        self.warn = warn
        #: False while Active is off: received data is dropped.
        self.active = True
        #: Bytes received in all; read into the ``bytes_received`` info channel at the end of each cook.
        self.bytes_received: Callable[[], int] = lambda: dat.info.bytes_received
        #: The payload of the ping whose hooks are running, and whether one of them answered it.
        self.ping_payload: bytes | None = None
        self.ping_answered = False
        #: Called as each cook starts (the session checks for edited callbacks files there); what it returns, if
        #: anything, is awaited first (a reload in flight).
        self.before_cook: Callable[[], Awaitable[None] | None] = lambda: None
        self._slow_warned = False
        self._size_evictions_seen = 0

    def pong_sent(self, payload: bytes) -> None:
        """A hook sent a pong: if it answers the ping being cooked, wsdat does not answer it again."""
        if payload == self.ping_payload:
            self.ping_answered = True

    async def cook(self, batch: list[tuple[EventKind, Any]]) -> None:
        """Cook ``batch``; the events cooked are removed from it (on cancellation the rest stays).

        The hooks are looked up once per cook: a change of ``callbacks`` made by a hook applies from the next cook.
        """
        waiting = self.before_cook()
        if waiting is not None:
            await waiting
        dat = self.dat
        info, table, host, runner, bus = dat.info, dat.table, dat.host, self.runner, self.bus
        on_text, on_binary = host.dispatcher("onReceiveText") or _none, host.dispatcher("onReceiveBinary") or _none
        subscribers = bus.subscribers
        binary_rows = dat.par.value("binaryrows")
        append = table.append
        clock = info.clock
        started = info.begin_cook()
        waited = 0.0  # time spent waiting for async hook slots or subscribers: backpressure, not blocking
        done = received = 0
        try:
            for kind, payload in batch:
                if not self.active:  # TD: while Active is off, data sent to the port is lost
                    done = len(batch)
                    break
                done += 1
                if kind is TEXT:
                    received += 1
                    row = append(payload)
                    pending = on_text(row, payload)
                    if subscribers:
                        bus.publish(TextReceived(row, payload))
                elif kind is BINARY:
                    received += 1
                    if binary_rows:
                        append(payload)
                    pending = on_binary(payload)
                    if subscribers:
                        bus.publish(BinaryReceived(payload))
                elif kind is PING:
                    pending = self._ping(payload)
                    if dat.par.value("autopong") and not self.ping_answered:
                        before = clock.now()
                        await self.answer_ping(payload)
                        waited += clock.now() - before
                    if subscribers:
                        bus.publish(PingReceived(payload))
                else:
                    pending = host.call("onReceivePong", payload)
                    if subscribers:
                        bus.publish(PongReceived(payload))
                if pending or subscribers:  # the cook waits while async hooks or subscribers are behind
                    runner.submit(pending)
                    if runner.waiting or (subscribers and bus.full):
                        self._check_blocking(started, waited)
                        before = clock.now()
                        await runner.wait_started()
                        await bus.wait_room()
                        waited += clock.now() - before
        finally:
            del batch[:done]
            info.messages_received += received
            info.bytes_received = self.bytes_received()
            info.end_cook(started)
            self._check_blocking(started, waited)
            if table.size_evictions != self._size_evictions_seen:
                self._over_budget(table.size_evictions)
        for call in host.call("onCook"):  # an async onCook is awaited here: reading resumes once it returned
            await call.run()

    def _ping(self, payload: bytes) -> Any:
        """Call the ping hooks, noting whether one answered with ``sendPong`` of the same payload."""
        self.ping_payload, self.ping_answered = payload, False
        try:
            return self.dat.host.call("onReceivePing", payload)
        finally:
            self.ping_payload = None

    def _over_budget(self, evictions: int) -> None:
        """The table passed ``maxtablebytes`` with clamp off: one warning (``table.size_evictions`` keeps counting)."""
        first = not self._size_evictions_seen
        self._size_evictions_seen = evictions
        if first:
            limit = self.dat.par.value("maxtablebytes")
            self.warn(f"the table passed maxtablebytes ({limit} bytes) with clamp off: from now on the oldest rows "
                      "are removed as a clamp would (dat.table.size_evictions counts them)")

    def _check_blocking(self, started: float, waited: float) -> None:
        blocked_ms = (self.dat.info.clock.now() - started - waited) * 1000.0
        if blocked_ms > SLOW_COOK_MS and not self._slow_warned:
            self._slow_warned = True
            self.warn(f"plain callbacks blocked the event loop for {blocked_ms:.0f} ms in one cook "
                      "(do slow work in an async def callback)")
        elif blocked_ms <= SLOW_COOK_MS:
            self._slow_warned = False

