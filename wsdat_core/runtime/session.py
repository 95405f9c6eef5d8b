"""The session: the part of a DAT that runs under trio. It connects, serves a connection, reconnects, sends, reacts
to parameter changes, and starts and stops plugins.

:class:`~.dat.WebSocketDAT` is TouchDesigner's façade and owns one :class:`Session`. Everything the session
starts lives in the nursery of :meth:`Session.run`: the hook runner, the connection's reader and keepalive, the
sender, ``async`` hooks and tasks plugins start with ``dat.start_soon``. Cancelling it stops it all; the server is told
``1001 going away`` on the way out, and every plugin gets ``onExit``.

One connection, hop by hop: :mod:`~..net.connection` (socket -> batch) -> :mod:`~wsdat_core.runtime.cook` (batch ->
table, hooks, events) -> :mod:`~.eventbus` (events -> subscribers); the end of a connection comes back as
one :class:`~wsdat_core.model.closing.ConnectionEnd`, described by :mod:`~wsdat_core.model.closing`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import trio

from ..host.callbacks import PendingCall, Plugin
from ..model.backoff import Backoff
from ..model.closing import ABNORMAL, ClosedBy, ConnectionEnd, close_description, describe
from ..model.errors import ConnectError, ConnectionClosedError, WsdatError
from ..model.events import RECEIVED_KINDS, Connected, Disconnected, EventKind, Monitor
from ..model.params import SPECS, Effect
from ..model.proxy import proxy_for
from ..model.sanitize import clean_line
from ..net.connection import ConnectOptions, Link, make_ssl_context, open_link
from .console import log
from .cook import Cook
from .eventbus import EventBus
from .hookrunner import HookRunner
from .reloading import Reloader
from .sendqueue import Receipt, SendQueue, settle

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["ASYNC_HOOK_LIMIT", "CLOSE_TIMEOUT", "EXIT_TIMEOUT", "Session"]

#: How long a polite close (close frame, wait for the server's) may take before TCP is dropped.
CLOSE_TIMEOUT: Final = 2.0
#: Most ``async def`` hook calls running at once per DAT; beyond it the DAT stops reading (backpressure).
ASYNC_HOOK_LIMIT: Final = 16
#: How long ``onExit`` hooks (and ``onDisconnect`` when the DAT is stopped) may take on the way out.
EXIT_TIMEOUT: Final = 5.0

_SEND_BATCH_BYTES: Final = 256 * 1024  # queued messages are written together up to about this much
_DATA_KINDS: Final = frozenset({EventKind.TEXT, EventKind.BINARY})

# Outcomes of one connection, deciding what the supervisor does next.
_CHANGED: Final = "changed"  # parameters changed (or close() was called): act on them at once
_ENDED: Final = "ended"  # the connection ended or failed: the reconnect policy applies
_FATAL: Final = "fatal"  # failed in a way retrying cannot mend: wait for a parameter change


class _CloseRequest:
    """``await dat.close(code, reason)`` in flight: the code the server answered, once known."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        self.answer: int | None = None
        self.done = trio.Event()

    def finish(self, end: ConnectionEnd) -> None:
        """The connection is over: the answer is the server's close code (our close's answer, or the server's own
        close that crossed ours), else 1006."""
        if self.answer is None:
            self.answer = end.code if end.closed_by is ClosedBy.SERVER else ABNORMAL
        self.done.set()


class Session:
    """Runs one DAT. Created by the DAT; use the DAT's methods, not these."""

    def __init__(self, dat: WebSocketDAT, async_hook_limit: int = ASYNC_HOOK_LIMIT) -> None:
        self.dat = dat
        self.runner = HookRunner(async_hook_limit, self._slots_busy)
        self.bus = EventBus()
        self.cook = Cook(dat, self.runner, self.bus, self._answer_ping, self.warn)
        self.cook.active = dat.par.value("active")
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop_requested = False
        self._running = False
        self.reloader = Reloader(self)
        self.cook.before_cook = self.reloader.before_cook
        self.backoff = Backoff()
        #: The error line that made the DAT stop reconnecting (None: it stopped without one, or did not stop).
        self.gave_up: str | None = None
        self.stalled = False
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        self._state_changed = trio.Event()
        self._scope: trio.CancelScope | None = None  # the connect attempt or the serving, cancelled on a change
        self._link: Link | None = None
        self._queue: SendQueue | None = None
        self._received_before = 0  # bytes received on earlier connections
        self._close_request: _CloseRequest | None = None
        self._ending_error: str | None = None  # the error line of the last attempt or connection end, if any
        self._retry_after: float | None = None  # seconds the server asked to wait (Retry-After), for the next wait
        self._in_monitor = False
        self._send_refused_warned = False
        self._send_full_warned = False
        self._plugins_started: list[Plugin] = []
        #: How the last connection ended (None before the first one ended): ``close()`` on a DAT whose server closed
        #: first returns its code.
        self.last_end: ConnectionEnd | None = None

    # -- reporting --------------------------------------------------------------------------------------------------
    def monitor(self, message: str, level: int = logging.INFO) -> None:
        """A status line: to the ``wsdat`` logger, to ``onMonitorMessage`` and to event subscribers. Lines carry peer
        text (close reasons, headers): control characters are escaped here, once, for every face."""
        message = clean_line(message)
        log.log(level, "%s: %s", self.dat.name, message)
        self._deliver_monitor(message)

    def _deliver_monitor(self, message: str) -> None:
        if self.bus.subscribers:
            self.bus.publish(Monitor(message))
        if self._in_monitor:  # a monitor line raised inside onMonitorMessage is only logged
            return
        self._in_monitor = True
        try:
            pending = self.dat.host.call("onMonitorMessage", message)
        finally:
            self._in_monitor = False
        self.runner.submit(pending)

    def error(self, message: str) -> None:
        self.dat.info.errors += 1
        self.dat.last_error = clean_line(message)
        self.monitor(message, logging.ERROR)

    def warn(self, message: str) -> None:
        self.dat.info.warnings += 1
        self.monitor(message, logging.WARNING)

    def hook_failed(self, hook: str, plugin: str, exc: BaseException) -> None:
        self.dat.info.errors += 1
        self.dat.info.hook_errors += 1
        message = clean_line(self.dat.host.error_line(hook, plugin, exc))
        self.dat.last_error = message
        log.error("%s: %s", self.dat.name, message, exc_info=exc)
        if hook != "onMonitorMessage":
            self._deliver_monitor(message)

    def _slots_busy(self) -> None:
        self.warn(f"all {self.runner.limit} async callback slots are busy: reading paused until one finishes "
                  "(backpressure)")

    # -- state ------------------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.dat.info.state == "open"

    @property
    def running(self) -> bool:
        """From the start of :meth:`run` until it returns (its plugins' ``onExit`` included)."""
        return self._running

    def _set_state(self, state: str) -> None:
        self.dat.info.state = state
        self._notify_state()

    def _notify_state(self) -> None:
        self._state_changed.set()
        self._state_changed = trio.Event()

    def _set_stalled(self, stalled: bool, reason: str | None = None) -> None:
        self.stalled = stalled
        self.gave_up = reason if stalled else None
        self._notify_state()

    async def wait_connected(self, timeout: float | None = None) -> None:
        with trio.move_on_after(math.inf if timeout is None else timeout):
            while not self.connected:
                if self.stalled:
                    raise ConnectError(self.gave_up or "not reconnecting: the server closed the connection and "
                                       "reconnect is off; change a parameter to connect again")
                await self._state_changed.wait()
            return
        last = f"; the last attempt: {self._ending_error}" if self._ending_error else ""
        raise ConnectError(f"{self.dat.name}: not connected after {timeout:g} s ({self.dat.info.state}){last}")

    async def wait_stopped(self) -> None:
        # Active off counts once the connection is closed (close() and Active off close politely first).
        while self.running and not self.stalled and (self.dat.par.value("active") or self.dat.info.state != "closed"):
            await self._state_changed.wait()

    # -- parameters -------------------------------------------------------------------------------------------------
    def on_par_change(self, name: str, old: Any, new: Any) -> None:
        effect = SPECS[name].effect
        if effect is Effect.TABLE:
            if SPECS[name].is_pulse:
                getattr(self.dat.table, name)()
            else:
                setattr(self.dat.table, name, new)
        elif effect is Effect.ACTIVE or effect is Effect.RECONNECT:
            self.cook.active = self.dat.par.value("active") and not self._stop_requested
            self._changed.set()
            if self._scope is not None:
                self._scope.cancel()
            self._notify_state()
        elif effect is Effect.KEEPALIVE and self._link is not None:
            self._link.set_keepalive(self.dat.par.value("pinginterval"), self.dat.par.value("pingtimeout"))
        elif effect is Effect.SEND and self._queue is not None:
            self._queue.limit = self.dat.par.value("sendqueuesize")
            self._queue.byte_limit = self.dat.par.value("sendqueuebytes")
        elif effect is Effect.RELOAD:
            self.reloader.reload([plugin.path for plugin in self.dat.host.plugins if plugin.path is not None])

    # -- plugins ----------------------------------------------------------------------------------------------------
    def plugins_changed(self, added: Sequence[Plugin], removed: Sequence[Plugin]) -> None:
        """``callbacks`` changed while running: stop the removed plugins (already out of the calls), start the new."""
        if not self.running:
            return
        started = [p for p in self._plugins_started if all(p.obj is not r.obj for r in removed)]
        self._plugins_started = [*started, *added]
        self.runner.submit(self.dat.host.call_plugins("onStart", added))

    def exit_plugins_now(self, removed: Sequence[Plugin]) -> None:
        """Call ``onExit`` of ``removed`` while their hooks are still in force (before a new configuration)."""
        if self.running:
            self.runner.submit(self.dat.host.call_plugins("onExit", removed))

    # -- sending ----------------------------------------------------------------------------------------------------
    def send(self, what: str, kind: EventKind, payload: Any, size: int) -> int:
        """TouchDesigner's send: queue without waiting; the size, or -1 (refused: not connected, or queue full)."""
        queue = self._queue
        if queue is None:
            if not self._send_refused_warned:
                self._send_refused_warned = True
                self.warn(f"{what}: not connected, nothing sent (further refusals until connected are not reported)")
            return -1
        if kind is EventKind.PONG:
            self.cook.pong_sent(payload)
        if not queue.put((kind, payload, size, None)):
            if not self._send_full_warned:
                self._send_full_warned = True
                self.warn(f"{what}: send queue full ({len(queue)} messages, {queue.queued_bytes} bytes waiting; "
                          "sendqueuesize/sendqueuebytes), message refused")
            return -1
        return size

    async def send_wait(self, kind: EventKind, payload: Any, size: int) -> None:
        """Queue (waiting for room) and wait until written; :class:`ConnectionClosedError` when it could not be."""
        queue = self._queue
        if queue is None:
            raise ConnectionClosedError(f"{self.dat.name}: not connected ({self.dat.info.state})")
        receipt = Receipt()
        if not await queue.put_wait((kind, payload, size, receipt)) or not await receipt.wait():
            raise ConnectionClosedError(f"{self.dat.name}: the connection ended before the message was sent")

    async def _answer_ping(self, payload: bytes) -> None:
        """wsdat's pong, written at once (RFC 6455 5.5.2), ahead of queued messages."""
        link = self._link
        if link is not None:
            with contextlib.suppress(ConnectionClosedError):  # the end of the connection is reported elsewhere
                await link.send_batch([(EventKind.PONG, payload, len(payload), None)])

    async def _send_loop(self, link: Link, queue: SendQueue) -> None:
        """Send what is queued, in order: whatever is waiting goes out encoded in one write (up to a bound)."""
        info = self.dat.info
        while True:
            items = await queue.take(_SEND_BATCH_BYTES)
            try:
                await link.send_batch(items)
            except ConnectionClosedError:
                queue.lost += len(items)  # reported with what is still queued when the connection ends
                settle(items, False)
                queue.written()
                return
            info.messages_sent += sum(1 for item in items if item[0] in _DATA_KINDS)
            info.bytes_sent += sum(item[2] for item in items)
            settle(items, True)
            queue.written()
            if self._send_full_warned and not queue:
                self._send_full_warned = False

    # -- closing ----------------------------------------------------------------------------------------------------
    async def close(self, code: int, reason: str) -> int:
        if self._close_request is not None:
            request = self._close_request
        else:
            request = _CloseRequest(code, reason)
            if not self.connected:
                self.dat.par.active = False
                end = self.last_end
                return end.code if end is not None else ABNORMAL
            self._close_request = request
            self.dat.par.active = False
        await request.done.wait()
        return request.answer if request.answer is not None else ABNORMAL

    # -- running ----------------------------------------------------------------------------------------------------
    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any, name: object = None) -> None:
        if self._nursery is None:
            raise RuntimeError(f"{self.dat.name} is not running: start_soon needs the DAT's run (await "
                               "nursery.start(dat.run))")
        self._nursery.start_soon(function, *args, name=name)

    async def run(self, task_status: trio.TaskStatus[None], *, offline: bool = False) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"{self.dat.name} is already running")
        self.dat.info.clock.restart()
        self._token = trio.lowlevel.current_trio_token()
        self._stop_requested = False
        self._running = True
        self.cook.active = self.dat.par.value("active")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.runner.run)
                self._notify_state()
                await self._start_plugins()
                if offline:
                    task_status.started()
                    await trio.sleep_forever()
                await self._supervise(task_status)
        finally:
            self._nursery = None
            self._set_state("closed")
            with trio.CancelScope(shield=True) as shield:
                shield.deadline = trio.current_time() + EXIT_TIMEOUT
                await self._exit_plugins()
            left = self.runner.discard()
            if left:
                self.warn(f"{len(left)} async callback call(s) not run: the DAT stopped "
                          f"({', '.join(sorted({call.hook for call in left}))})")
            self.bus.close_all()
            self._running = False
            self._notify_state()

    async def _start_plugins(self) -> None:
        plugins = self.dat.host.plugins
        self._plugins_started = plugins
        for call in self.dat.host.call_plugins("onStart", plugins):
            await call.run()

    async def _exit_plugins(self) -> None:
        plugins, self._plugins_started = self._plugins_started, []
        await self._run_now(self.dat.host.call_plugins("onExit", plugins))

    @staticmethod
    async def _run_now(calls: Sequence[PendingCall]) -> None:
        for call in calls:
            await call.run()

    def stop(self) -> None:
        """Stop the run: the cook stops after the message in hand, then the nursery is cancelled. Safe to call from
        a hook, another thread or a signal handler (it only sets flags and uses the trio token)."""
        nursery, token = self._nursery, self._token
        if nursery is None or token is None:
            return
        self._stop_requested = True
        self.cook.active = False
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(nursery.cancel_scope.cancel)

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> None:
        started = False

        def mark_started() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        while True:
            self._changed = changed = trio.Event()
            if not self.dat.par.value("active"):
                self._set_state("closed")
                self.backoff.reset()
                mark_started()
                await changed.wait()
                continue
            result = await self._connect_and_serve(mark_started)
            mark_started()
            if result == _CHANGED or changed.is_set():
                self.backoff.reset()
                continue
            if result == _FATAL or not self.dat.par.value("reconnect"):
                if result == _FATAL:
                    self.monitor("not reconnecting: change the parameters to try again", logging.WARNING)
                reason = self._ending_error
                self._set_stalled(True, f"not reconnecting: {reason}" if reason else None)
                try:
                    await changed.wait()
                finally:
                    self._set_stalled(False)
                continue
            await self._wait_before_reconnect(changed)

    async def _wait_before_reconnect(self, changed: trio.Event) -> None:
        par, backoff = self.dat.par, self.backoff
        backoff.first, backoff.factor = par.value("reconnectdelay"), par.value("reconnectfactor")
        backoff.cap = par.value("reconnectmaxdelay")
        delay = backoff.next_delay()
        asked, self._retry_after = self._retry_after, None
        if asked is not None:  # 429/503 with Retry-After: honoured, bounded by reconnectmaxdelay
            delay = max(delay, min(asked, backoff.cap))
        because = f"; the server asked for {asked:g} s" if asked is not None else ""
        self.monitor(f"reconnecting in {delay:.2f} s (attempt {backoff.attempt}{because})")
        info = self.dat.info
        info.retry_attempt, info.retry_at = backoff.attempt, time.time() + delay
        self._set_state("reconnecting")
        try:
            with trio.move_on_after(delay):
                await changed.wait()
        finally:
            info.retry_attempt, info.retry_at = 0, 0.0
        if not changed.is_set():
            info.reconnects += 1

    def _connect_options(self) -> ConnectOptions:
        par = self.dat.par
        value = par.value
        tls = functools.partial(make_ssl_context, value("cafile"), value("certfile"), value("keyfile"),
                                value("insecure"))
        return ConnectOptions(par.endpoint, tls, value("headers"), value("subprotocols"), value("maxmessagesize"),
                              value("pinginterval"), value("pingtimeout"),
                              compression=value("compression") == "deflate",
                              proxy=proxy_for(value("proxy"), par.endpoint), max_redirects=value("maxredirects"))

    async def _connect_and_serve(self, mark_started: Callable[[], None]) -> str:
        endpoint = self.dat.par.endpoint
        timeout_ms = self.dat.par.value("timeout")
        self._set_state("connecting")
        async with trio.open_nursery() as nursery:
            link: Link | None = None
            result = _ENDED
            with trio.CancelScope() as attempt:
                self._scope = attempt
                try:
                    options = self._connect_options()
                    via = f" via proxy {options.proxy.url}" if options.proxy else ""
                    self.monitor(f"connecting to {endpoint.url}{via}")
                    with trio.fail_after(timeout_ms / 1000):
                        link = await open_link(nursery, options, self.cook.cook, self.monitor)
                except trio.TooSlowError:
                    self._attempt_failed(f"connect to {endpoint.url} timed out after {timeout_ms} ms")
                except ConnectError as exc:
                    self._attempt_failed(f"cannot connect to {endpoint.url}: {exc}")
                    result = _FATAL if exc.fatal else _ENDED
                    self._retry_after = exc.retry_after
                except WsdatError as exc:  # never let a failure of one attempt take the DAT down
                    self._attempt_failed(f"cannot connect to {endpoint.url}: {exc}")
                finally:
                    self._scope = None
            if link is None or attempt.cancelled_caught:
                nursery.cancel_scope.cancel()
                self._set_state("closed")
                return _CHANGED if attempt.cancelled_caught else result
            return await self._serve(link, options, mark_started)
        raise AssertionError("unreachable")  # pragma: no cover - the nursery above always returns

    async def _serve(self, link: Link, options: ConnectOptions, mark_started: Callable[[], None]) -> str:
        dat, info = self.dat, self.dat.info
        queue = SendQueue(dat.par.value("sendqueuesize"), dat.par.value("sendqueuebytes"))
        self._link, self._queue = link, queue
        link.before_close = queue.wait_sent
        self._send_refused_warned = False
        received_before = self._received_before
        self.cook.bytes_received = lambda: received_before + link.bytes_received
        info.connects += 1
        self._set_state("open")
        details = [f"subprotocol {link.subprotocol}"] if link.subprotocol else []
        details += [link.extensions] if link.extensions else []
        details += [f"via proxy {options.proxy.url}"] if options.proxy else []
        self.monitor(f"connected to {link.endpoint.url}" + (f" ({'; '.join(details)})" if details else ""))
        if self.bus.subscribers:
            self.bus.publish(Connected(link.endpoint.url, link.subprotocol, link.extensions))
        if dat.par.value("insecure") and link.endpoint.secure:
            self.warn("TLS certificate and host name checks are OFF (insecure)")
        assert self._nursery is not None
        opened_at = trio.current_time()
        deliberate = False
        why = ""
        try:
            async with trio.open_nursery() as sender:
                sender.start_soon(self._send_loop, link, queue)
                await self._call_waiting("onConnect")
                link.start_delivery()
                mark_started()
                with trio.CancelScope() as serving:
                    self._scope = serving
                    if self._changed.is_set():
                        serving.cancel()
                    await link.wait_finished()
                self._scope = None
                if serving.cancelled_caught:
                    deliberate = True
                    request = self._close_request
                    why = (f"close() with {close_description(request.code, request.reason)}" if request
                           else "parameters changed" if dat.par.value("active") else "Active is off")
                    self._set_state("closing")
                    with trio.move_on_after(CLOSE_TIMEOUT):
                        await queue.wait_sent()  # what was sent before closing goes out before the close frame
                    code, reason = (request.code, request.reason) if request else (1000, "closed by wsdat")
                    answer = await link.close(code, reason, CLOSE_TIMEOUT)
                    if request is not None:
                        request.answer = answer
                    await link.wait_finished()
                sender.cancel_scope.cancel()
        finally:
            self._scope = None
            self._queue = None
            left = queue.drain()
            settle(left, False)
            if queue.lost or left:
                self.warn(f"{queue.lost + len(left)} queued message(s) not sent: the connection closed")
            with trio.CancelScope(shield=True):
                stopped = not link.finished
                if stopped:  # cancelled: the reader is gone, so say goodbye without waiting
                    why = "the DAT was stopped"
                    with trio.move_on_after(CLOSE_TIMEOUT / 2):
                        await link.say_goodbye(1001, "going away")
                await link.abort()
            self._received_before += link.bytes_received
            info.bytes_received = self._received_before
            self.cook.bytes_received = lambda: self._received_before
            self._link = None
            end = link.end or ConnectionEnd(ClosedBy.WSDAT, 1001, "going away")
            self.last_end = end
            self._report_end(end, why)
            self.backoff.connection_lasted(trio.current_time() - opened_at)
            info.disconnects += 1
            self._set_state("closed")
            self.runner.submit(dat.host.call("onDisconnect"))
            if self._close_request is not None:
                self._close_request.finish(end)
                self._close_request = None
        return _CHANGED if deliberate else _ENDED

    def _attempt_failed(self, line: str) -> None:
        self._ending_error = line
        self.error(line)

    def _report_end(self, end: ConnectionEnd, why: str) -> None:
        line = describe(end, why)
        self._ending_error = line if end.is_error else None
        if end.is_error:
            self.error(line)
        else:
            self.monitor(line)
        if self.bus.subscribers:
            self.bus.publish(Disconnected(end.code, end.reason, line if end.is_error else None))

    async def _call_waiting(self, hook: str) -> None:
        pending = self.dat.host.call(hook)
        if pending:
            self.runner.submit(pending)
            await self.runner.wait_started()

    # -- offline ----------------------------------------------------------------------------------------------------
    async def deliver(self, events: Sequence[tuple[str, Any]]) -> None:
        batch: list[tuple[EventKind, Any]] = []
        for label, payload in events:
            kind = EventKind.from_label(label)
            if kind in RECEIVED_KINDS:
                batch.append((kind, payload))
                continue
            if batch:
                await self.cook.cook(batch)
                batch = []
            info = self.dat.info
            if kind is EventKind.CONNECT:
                info.connects += 1
                self._set_state("open")
                if self.bus.subscribers:
                    self.bus.publish(Connected(str(payload or ""), None))
                await self._call_waiting("onConnect")
            elif kind is EventKind.DISCONNECT:
                info.disconnects += 1
                self._set_state("closed")
                if self.bus.subscribers:
                    self.bus.publish(Disconnected(ABNORMAL if payload is None else int(payload)))
                await self._call_waiting("onDisconnect")
            else:
                self.monitor(str(payload))
        if batch:
            await self.cook.cook(batch)

