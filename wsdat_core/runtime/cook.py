"""A cook: the events of one network read go through the table, the hooks and the event subscribers, in order.

This is the hop between the connection (which hands over a batch of :class:`~wsdat_core.model.events.Received` runs
per read) and everything a user sees. Per message it appends the row, calls the hooks, publishes the event; per cook
it updates the info channels once. While ``active`` is off the rest of the batch is dropped (TD: data sent to the
port is lost).

Pings are answered here, right after the ``onReceivePing`` hooks ran: a hook that answered with
``dat.sendPong(contents)`` (TouchDesigner's template does) sends the only pong; otherwise, with ``autopong`` on,
wsdat sends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..host.calling import Dispatch, PendingCall
from ..model.events import Batch, BinaryReceived, EventKind, PingReceived, PongReceived, TextReceived
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


_NOTHING: Final[tuple[PendingCall, ...]] = ()


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
        self._waited = 0.0  # time the cook in progress waited for async hook slots or subscribers

    def pong_sent(self, payload: bytes) -> None:
        """A hook sent a pong: if it answers the ping being cooked, wsdat does not answer it again."""
        if payload == self.ping_payload:
            self.ping_answered = True

    async def cook(self, batch: Batch, each: Callable[[], object] | None = None) -> None:
        """Cook ``batch`` (what one read brought), run by run, message by message, in order.

        The hooks are looked up once per cook: a change of ``callbacks`` made by a hook applies from the next cook.
        A run of text messages that no hook and no subscriber waits for goes into the table in one step. With
        ``each``, every message is taken one by one and ``each()`` is called before its hooks run (a caller that
        attributes what the hooks did to each message: ``wsdat work``).
        """
        waiting = self.before_cook()
        if waiting is not None:
            await waiting
        dat = self.dat
        info, table, host, bus = dat.info, dat.table, dat.host, self.bus
        on_text, on_binary = host.dispatcher("onReceiveText"), host.dispatcher("onReceiveBinary")
        subscribers = bus.subscribers
        binary_rows = dat.par.value("binaryrows")
        started = info.begin_cook()
        self._waited = 0.0
        received = 0
        try:
            for run in batch:
                if not self.active:  # TD: while Active is off, data sent to the port is lost
                    break
                kind, payloads = run.kind, run.payloads
                if kind is TEXT and each is None:
                    if on_text is None and not subscribers:
                        table.extend(payloads)
                        received += len(payloads)
                        continue
                    rows = table.plain_rows() if not subscribers else None
                    run_dispatch = host.run_dispatcher("onReceiveText") if rows is not None else None
                    if run_dispatch is not None:  # plain hooks only: the whole run in one call, no frame between
                        received += run_dispatch(payloads, rows, self)
                        continue
                    received += await self._messages(TEXT, payloads, on_text, True, started)
                elif kind is TEXT:
                    received += await self._messages(TEXT, payloads, on_text, True, started, each)
                elif kind is BINARY:
                    received += await self._messages(BINARY, payloads, on_binary, binary_rows, started, each)
                elif kind is PING:
                    for payload in payloads:
                        if each is not None:
                            each()
                        pending = self._ping(payload)
                        if dat.par.value("autopong") and not self.ping_answered:
                            before = info.clock.now()
                            await self.answer_ping(payload)
                            self._waited += info.clock.now() - before
                        if subscribers:
                            bus.publish(PingReceived(payload))
                        if pending or subscribers:
                            await self._behind(pending, started)
                else:
                    for payload in payloads:
                        if each is not None:
                            each()
                        pending = host.call("onReceivePong", payload)
                        if subscribers:
                            bus.publish(PongReceived(payload))
                        if pending or subscribers:
                            await self._behind(pending, started)
        finally:
            info.messages_received += received
            info.bytes_received = self.bytes_received()
            info.end_cook(started)
            self._check_blocking(started, self._waited)
            if table.size_evictions != self._size_evictions_seen:
                self._over_budget(table.size_evictions)
        for call in host.call("onCook"):  # an async onCook is awaited here: reading resumes once it returned
            await call.run()

    async def _messages(self, kind: EventKind, payloads: list[Any], hook: Dispatch | None, rows: bool,
                        started: float, each: Callable[[], object] | None = None) -> int:
        """Text or binary messages one by one: the row (when ``rows``), the hook (text: ``(rowIndex, message)``,
        binary: ``(contents, rowIndex)``, 0 for a message that got no row), the event for subscribers, the wait while
        hooks or subscribers are behind; returns how many were taken (the rest is dropped once ``active`` went off)."""
        table, bus = self.dat.table, self.bus
        subscribers = bus.subscribers
        text = kind is TEXT
        taken = 0
        for payload in payloads:
            if not self.active:
                break
            taken += 1
            if each is not None:
                each()
            row = table.append(payload) if rows else 0
            if hook is None:
                pending: Sequence[PendingCall] = _NOTHING
            else:
                pending = hook(row, payload) if text else hook(payload, row)
            if subscribers:
                bus.publish(TextReceived(row, payload) if text else BinaryReceived(payload, row))
            if pending or subscribers:
                await self._behind(pending, started)
        return taken

    async def _behind(self, pending: Sequence[PendingCall], started: float) -> None:
        """Async hooks were called, or events published: wait while hooks wait for slots or a subscriber is full
        (backpressure; the time waited is not counted as blocking)."""
        runner, bus = self.runner, self.bus
        runner.submit(pending)
        if runner.waiting or (bus.subscribers and bus.full):
            self._check_blocking(started, self._waited)
            clock = self.dat.info.clock
            before = clock.now()
            await runner.wait_started()
            await bus.wait_room()
            self._waited += clock.now() - before

    def _ping(self, payload: bytes) -> Sequence[PendingCall]:
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

