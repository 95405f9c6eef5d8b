"""The supervisor: connect, serve the connection, reconnect with backoff, stop when told.

One connection, in order: connect (bounded by ``timeout``) -> ``onConnect`` -> receive and cook batch after batch ->
let what the hooks sent go out -> close -> report how it ended -> ``onDisconnect``. The driver is pulled: it is asked
for each batch and told when to close; it never calls back. A parameter change (``active``, ``netaddress``, ...) or
``close()`` interrupts the wait for the next batch (never a cook in progress) and closes politely.

States (``dat.info.state``): ``connecting`` while an attempt runs, ``open``, ``closing``, ``reconnecting`` while
waiting to retry (``retry_attempt`` and ``retry_at`` say which attempt and when), ``closed`` when stopped for good.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import trio

from ..model.backoff import Backoff
from ..model.closing import ABNORMAL, ClosedBy, ConnectionEnd, close_description
from ..model.errors import ConnectError, WsdatError
from ..net.connect import ConnectOptions, connect
from ..net.driver import Link
from .cook import Cook
from .hookrunner import HookRunner
from .options import connect_options
from .reporter import Reporter
from .sender import Sender

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["CLOSE_TIMEOUT", "Supervisor"]

#: How long a polite close (what was sent goes out, close frame, the server's answer) may take before TCP is dropped.
CLOSE_TIMEOUT: Final = 2.0

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


class Supervisor:
    """Keeps one DAT connected as its parameters say."""

    def __init__(self, dat: WebSocketDAT, cook: Cook, sender: Sender, runner: HookRunner, reporter: Reporter) -> None:
        self.dat = dat
        self.cook = cook
        self.sender = sender
        self.runner = runner
        self.reporter = reporter
        self.backoff = Backoff()
        #: The error line that made the DAT stop reconnecting (None: it stopped without one, or did not stop).
        self.gave_up: str | None = None
        self.stalled = False
        #: How the last connection ended (None before the first one ended).
        self.last_end: ConnectionEnd | None = None
        #: Set by the session when it is told to stop: the run is ending.
        self.stopping = False
        self.running = False
        self._changed = trio.Event()
        self._state_changed = trio.Event()
        self._scope: trio.CancelScope | None = None  # the connect attempt or the wait for a batch
        self._link: Link | None = None
        self._received_before = 0  # bytes received on earlier connections
        self._close_request: _CloseRequest | None = None
        self._ending_error: str | None = None  # the error line of the last attempt or connection end, if any
        self._retry_after: float | None = None  # seconds the server asked to wait (Retry-After), for the next wait

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.dat.info.state == "open"

    def set_state(self, state: str) -> None:
        self.dat.info.state = state
        self.notify()

    def notify(self) -> None:
        """Wake whoever waits for the DAT's state."""
        self._state_changed.set()
        self._state_changed = trio.Event()

    def _set_stalled(self, stalled: bool, reason: str | None = None) -> None:
        self.stalled = stalled
        self.gave_up = reason if stalled else None
        self.notify()

    def wake(self) -> None:
        """``active`` or a parameter the connection depends on changed: act on it now."""
        self._changed.set()
        if self._scope is not None:
            self._scope.cancel()
        self.notify()

    def set_keepalive(self) -> None:
        if self._link is not None:
            self._link.set_keepalive(self.dat.par.value("pinginterval"), self.dat.par.value("pingtimeout"))

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

    # -- closing on request --------------------------------------------------------------------------------------
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

    # -- the loop ------------------------------------------------------------------------------------------------
    async def run(self, task_status: trio.TaskStatus[None]) -> None:
        started = False

        def mark_started() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        while True:
            self._changed = changed = trio.Event()
            if not self.dat.par.value("active"):
                self.set_state("closed")
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
                    self.reporter.monitor("not reconnecting: change the parameters to try again", logging.WARNING)
                reason = self._ending_error
                self._set_stalled(True, f"not reconnecting: {reason}" if reason else None)
                self.set_state("closed")
                try:
                    await changed.wait()
                finally:
                    self._set_stalled(False)
                continue
            await self._wait_before_reconnect(changed)

    async def _wait_before_reconnect(self, changed: trio.Event) -> None:
        par, backoff, info = self.dat.par, self.backoff, self.dat.info
        backoff.first, backoff.factor = par.value("reconnectdelay"), par.value("reconnectfactor")
        backoff.cap = par.value("reconnectmaxdelay")
        delay = backoff.next_delay()
        asked, self._retry_after = self._retry_after, None
        if asked is not None:  # 429/503 with Retry-After: honoured, bounded by reconnectmaxdelay
            delay = max(delay, min(asked, backoff.cap))
        because = f"; the server asked for {asked:g} s" if asked is not None else ""
        self.reporter.monitor(f"reconnecting in {delay:.2f} s (attempt {backoff.attempt}{because})")
        info.retry_attempt, info.retry_at = backoff.attempt, time.time() + delay
        self.set_state("reconnecting")
        try:
            with trio.move_on_after(delay):
                await changed.wait()
        finally:
            info.retry_attempt, info.retry_at = 0, 0.0
        if not changed.is_set():
            info.reconnects += 1

    async def _connect_and_serve(self, mark_started: Callable[[], None]) -> str:
        endpoint = self.dat.par.endpoint
        timeout_ms = self.dat.par.value("timeout")
        self.set_state("connecting")
        link: Link | None = None
        result = _ENDED
        with trio.CancelScope() as attempt:
            self._scope = attempt
            try:
                options = connect_options(self.dat.par)
                via = f" via proxy {options.proxy.url}" if options.proxy else ""
                self.reporter.monitor(f"connecting to {endpoint.url}{via}")
                with trio.fail_after(timeout_ms / 1000):
                    link = await connect(options, self.reporter.monitor)
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
            if link is not None:
                await link.abort()
            self.set_state("closed")
            return _CHANGED if attempt.cancelled_caught else result
        return await self._serve(link, options, mark_started)

    async def _serve(self, link: Link, options: ConnectOptions, mark_started: Callable[[], None]) -> str:
        dat, info, sender = self.dat, self.dat.info, self.sender
        queue = sender.attach(link)
        self._link = link
        received_before = self._received_before
        self.cook.bytes_received = lambda: received_before + link.bytes_received
        info.connects += 1
        self.set_state("open")
        self.reporter.connected(link.endpoint, link.subprotocol, link.extensions, options.proxy)
        opened_at = trio.current_time()
        deliberate = False
        why = ""
        end: ConnectionEnd | None = None
        try:
            async with trio.open_nursery() as tasks:
                tasks.start_soon(sender.run, link, queue)
                tasks.start_soon(link.keep_alive)
                await self.call_waiting("onConnect")
                mark_started()
                deliberate = await self._receive(link)
                request = self._close_request if deliberate else None
                if deliberate:
                    why = (f"close() with {close_description(request.code, request.reason)}" if request
                           else "parameters changed" if dat.par.value("active") else "Active is off")
                    self.set_state("closing")
                code, reason = (request.code, request.reason) if request else (1000, "closed by wsdat")
                if deliberate or link.failing:
                    with trio.move_on_after(CLOSE_TIMEOUT):  # what the hooks sent goes out before the close frame
                        await queue.wait_sent()
                end = await link.close(code, reason, CLOSE_TIMEOUT)
                if request is not None:
                    request.answer = link.answer
                tasks.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if end is None:  # cancelled: the DAT is stopping; say goodbye without waiting
                    why = "the DAT was stopped"
                    with trio.move_on_after(CLOSE_TIMEOUT / 2):
                        await link.say_goodbye(1001, "going away")
                    await link.abort()
                    end = link.end or ConnectionEnd(ClosedBy.WSDAT, 1001, "going away")
                self._connection_ended(link, end, why, opened_at)
        return _CHANGED if deliberate else _ENDED

    async def _receive(self, link: Link) -> bool:
        """Cook batch after batch until the connection ends (False) or a change or close() interrupts (True)."""
        cook = self.cook.cook
        while not self._changed.is_set():
            with trio.CancelScope() as waiting:
                self._scope = waiting
                batch = await link.receive()
            self._scope = None
            if waiting.cancelled_caught:
                return True
            if batch is None:
                return False
            await cook(batch)
        return True

    def _connection_ended(self, link: Link, end: ConnectionEnd, why: str, opened_at: float) -> None:
        info = self.dat.info
        self.sender.detach()
        self._received_before += link.bytes_received
        info.bytes_received = self._received_before
        self.cook.bytes_received = lambda: self._received_before
        self._link = None
        self.last_end = end
        line = self.reporter.ended(end, why)
        self._ending_error = line if end.is_error else None
        self.backoff.connection_lasted(trio.current_time() - opened_at)
        info.disconnects += 1
        self.set_state("closed")
        self.runner.submit(self.dat.host.call("onDisconnect"))
        if self._close_request is not None:
            self._close_request.finish(end)
            self._close_request = None

    def _attempt_failed(self, line: str) -> None:
        self._ending_error = line
        self.reporter.error(line)

    async def call_waiting(self, hook: str) -> None:
        """Call ``hook``; wait until its async calls have slots (e.g. ``onConnect`` before the first batch)."""
        pending = self.dat.host.call(hook)
        if pending:
            self.runner.submit(pending)
            await self.runner.wait_started()
