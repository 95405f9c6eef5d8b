"""The live WebSocket DAT: parameters, table, info channels and callbacks tied to a connection under trio.

::

    dat = WebSocketDAT(netaddress="ws://localhost:8765/feed", maxlines=500, callbacks=["callbacks.py"])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)   # returns after the first connect attempt has finished, either way
        dat.sendText("hello")          # non-blocking, callable from sync hooks too

Everything the DAT starts lives in the nursery of :meth:`WebSocketDAT.run`: the connection's reader and sender, and
``async`` hooks. Cancelling that nursery stops it all; the connection is told ``1001 going away`` on the way out.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import outcome
import trio
from trio_websocket import ConnectionClosed

from .backoff import Backoff
from .callbacks import CallbackHost, PendingCall
from .connection import BINARY, PING, PONG, TEXT, ConnectOptions, Event, Link, make_ssl_context, open_link
from .console import enable_text_console_from_env, log
from .errors import ConnectError, ProtocolError, WsdatError
from .info import Clock, Info
from .params import SPECS, Parameters
from .sendqueue import SendQueue
from .table import MessageTable

__all__ = ["WebSocketDAT", "open_dat"]

T = TypeVar("T")

#: How long a polite close (close frame, wait for the server's) may take before TCP is dropped.
CLOSE_TIMEOUT: Final = 2.0
#: Most ``async def`` hook calls running at once per DAT; beyond it the DAT stops reading (backpressure).
ASYNC_HOOK_LIMIT: Final = 16
#: A cook longer than this (milliseconds) means a plain callback blocked the event loop: warn.
SLOW_COOK_MS: Final = 1000.0

_CONTROL_PAYLOAD_MAX: Final = 125
_SEND_BATCH_BYTES: Final = 256 * 1024  # queued messages are written together up to about this much
_NORMAL_CLOSE_CODES: Final = (1000, 1001)
_CONNECTION_PARAMS: Final = tuple(name for name, spec in SPECS.items() if spec.reconnects)
_HOST_PARAMS: Final = ("callbacks", "executeloc", "fromop")
_KEEPALIVE_PARAMS: Final = ("pinginterval", "pingtimeout")
_RECEIVED: Final = {"text": TEXT, "binary": BINARY, "ping": PING, "pong": PONG}
_names = itertools.count(1)

# Outcomes of one connection, deciding what the supervisor does next.
_CHANGED: Final = "changed"  # parameters changed: act on them at once
_ENDED: Final = "ended"  # the connection ended or failed: the reconnect policy applies
_FATAL: Final = "fatal"  # failed in a way retrying cannot mend: wait for a parameter change


async def _race(*functions: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    """Run ``functions`` concurrently; return ``(index, result)`` of the first to finish and cancel the others.

    An exception of the first finisher is raised as it is, not wrapped in an exception group.
    """
    first: list[tuple[int, outcome.Outcome[Any]]] = []
    async with trio.open_nursery() as nursery:
        for index, function in enumerate(functions):
            async def run(index: int = index, function: Callable[[], Awaitable[Any]] = function) -> None:
                result = await outcome.acapture(function)
                if not first:
                    first.append((index, result))
                    nursery.cancel_scope.cancel()
            nursery.start_soon(run)
    index, result = first[0]
    return index, result.unwrap()


def _close_description(code: int, reason: str | None) -> str:
    try:
        from wsproto.frame_protocol import CloseReason as Codes

        name = Codes(code).name
    except ValueError:
        name = "application code" if 3000 <= code <= 4999 else "unknown code"
    return f"{code} {name}" + (f": {reason}" if reason else "")


class WebSocketDAT:
    """TouchDesigner's WebSocket DAT: connects to a WebSocket server, keeps received messages in a FIFO table, runs
    callbacks for every event and exposes info channels.

    Parameters are keyword arguments with TD's names (see :mod:`wsdat_core.params`) and live in :attr:`par`.
    ``namespace`` maps names to objects ``fromop`` may name (a service passes its other DATs).
    """

    def __init__(self, name: str | None = None, *, clock: Clock | None = None,
                 namespace: Mapping[str, object] | None = None, async_hook_limit: int = ASYNC_HOOK_LIMIT,
                 **params: Any) -> None:
        enable_text_console_from_env()
        self.name = name or f"websocket{next(_names)}"
        self.par = Parameters(**params)
        self.table = MessageTable(maxlines=self.par.maxlines, clamp=self.par.clamp, bytes=self.par.bytes)
        self.info = Info(clock or Clock(), shape=lambda: (self.table.numRows, self.table.numCols))
        self.storage: dict[str, Any] = {}
        self.host = CallbackHost(self, self._hook_failed, namespace)
        self.host.configure(self.par.callbacks, self.par.executeloc, self.par.fromop)
        self.par.subscribe(self._on_par_change)
        self.par.add_check(self._load_callbacks)
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        self._keepalive_changed = trio.Event()
        self._active = self.par.active  # read per message: a plain attribute, kept in step by _on_par_change
        self._backoff = Backoff()
        self._link: Link | None = None
        self._send_queue: SendQueue | None = None
        self._async_hook_limit = async_hook_limit
        self._hook_slots = trio.Semaphore(async_hook_limit)
        self._received_before = 0  # bytes received on earlier connections
        self._in_monitor = False
        self._send_refused_warned = False
        self._send_full_warned = False
        self._slots_busy_warned = False
        self._slow_warned = False
        #: The last error line (a connect failure, a protocol error, a failing hook), for callers such as the CLI.
        self.last_error = ""
        #: True while the DAT waits for a parameter change before connecting again: after a failure retrying cannot
        #: mend (TLS verification, HTTP 4xx), or after a disconnect with ``reconnect`` off.
        self.stalled = False

    def __repr__(self) -> str:
        return f"<WebSocketDAT {self.name} {self.par.endpoint.url} state={self.info.state} rows={self.table.numRows}>"

    # -- parameters -------------------------------------------------------------------------------------------------
    def _load_callbacks(self, values: Mapping[str, Any], changed: frozenset[str]) -> None:
        # Runs before a change is committed: a bad plugin reference raises from the assignment and leaves both the
        # parameters and the running callbacks as they were.
        if changed.intersection(_HOST_PARAMS):
            self.host.configure(values["callbacks"], values["executeloc"], values["fromop"])

    def _on_par_change(self, name: str, old: Any, new: Any) -> None:
        if name == "maxlines":
            self.table.maxlines = new
        elif name == "clamp":
            self.table.clamp = new
        elif name == "bytes":
            self.table.bytes = new
        elif name == "clear":
            self.table.clear()
        elif name == "active" or name in _CONNECTION_PARAMS:
            self._active = self.par.active
            self._changed.set()
        elif name in _KEEPALIVE_PARAMS:
            self._keepalive_changed.set()

    # -- TouchDesigner's DAT API: table access ------------------------------------------------------------------------
    @property
    def numRows(self) -> int:
        return self.table.numRows

    @property
    def numCols(self) -> int:
        return self.table.numCols

    def __getitem__(self, key: tuple[int, int | str]) -> str:
        return self.table[key]

    def row(self, index: int) -> list[str]:
        return self.table.row(index)

    def col(self, name: int | str) -> list[str]:
        return self.table.col(name)

    def rows(self) -> list[list[str]]:
        return self.table.rows()

    def __iter__(self) -> Iterator[list[str]]:
        return iter(self.table)

    @property
    def text(self) -> str:
        return self.table.text

    def clear(self) -> None:
        """Delete all rows except the heading (the same as ``par.clear.pulse()``)."""
        self.par.clear.pulse()

    # -- operator storage -----------------------------------------------------------------------------------------
    def store(self, key: str, value: T) -> T:
        """Keep ``value`` under ``key`` (TD's operator storage); returns ``value``."""
        self.storage[key] = value
        return value

    def fetch(self, key: str, default: Any = ..., storeDefault: bool = False) -> Any:
        """The value stored under ``key``; ``default`` when missing (``KeyError`` without a default)."""
        try:
            return self.storage[key]
        except KeyError:
            if default is ...:
                raise KeyError(f"{self.name}: nothing stored under {key!r}") from None
            if storeDefault:
                self.storage[key] = default
            return default

    def unstore(self, key: str) -> None:
        self.storage.pop(key, None)

    # -- monitor messages -----------------------------------------------------------------------------------------
    def monitor(self, message: str, level: int = logging.INFO) -> None:
        """A status line: to the ``wsdat`` logger (the text console) and to ``onMonitorMessage``."""
        log.log(level, "%s: %s", self.name, message)
        self._deliver_monitor(message)

    def _deliver_monitor(self, message: str) -> None:
        if self._in_monitor:  # a monitor line raised inside onMonitorMessage is only logged
            return
        self._in_monitor = True
        try:
            pending = self.host.call("onMonitorMessage", message)
        finally:
            self._in_monitor = False
        for call in pending:
            self._spawn_nowait(call)

    def _error(self, message: str) -> None:
        self.info.errors += 1
        self.last_error = message
        self.monitor(message, logging.ERROR)

    def _warn(self, message: str) -> None:
        self.info.warnings += 1
        self.monitor(message, logging.WARNING)

    def _hook_failed(self, hook: str, plugin: str, exc: BaseException) -> None:
        self.info.errors += 1
        message = f"callback {hook} of {plugin} raised {type(exc).__name__}: {exc}"
        self.last_error = message
        log.error("%s: %s", self.name, message, exc_info=exc)
        if hook != "onMonitorMessage":
            self._deliver_monitor(message)

    # -- async hooks ----------------------------------------------------------------------------------------------
    async def _run_async_hook(self, call: PendingCall) -> None:
        try:
            await call.run()
        finally:
            self._hook_slots.release()

    async def _start_async(self, pending: Sequence[PendingCall]) -> None:
        nursery = self._nursery
        for call in pending:
            if nursery is None:
                log.warning("%s: %s of %s not run: the DAT is not running", self.name, call.hook, call.plugin_name)
                continue
            try:
                self._hook_slots.acquire_nowait()
                self._slots_busy_warned = False
            except trio.WouldBlock:
                if not self._slots_busy_warned:
                    self._slots_busy_warned = True
                    self._warn(f"all {self._async_hook_limit} async callback slots are busy: reading paused "
                               "until one finishes (backpressure)")
                await self._hook_slots.acquire()
            nursery.start_soon(self._run_async_hook, call)

    def _spawn_nowait(self, call: PendingCall) -> None:
        if self._nursery is None:
            log.debug("%s: async %s not run: the DAT is not running", self.name, call.hook)
            return
        try:
            self._hook_slots.acquire_nowait()
        except trio.WouldBlock:
            self.info.warnings += 1
            log.warning("%s: async %s of %s skipped: all %d hook slots busy", self.name, call.hook,
                        call.plugin_name, self._async_hook_limit)
            return
        self._nursery.start_soon(self._run_async_hook, call)

    async def _call_hook(self, hook: str) -> None:
        await self._start_async(self.host.call(hook))

    # -- receiving: one cook per network read ---------------------------------------------------------------------
    async def _cook(self, batch: list[Event]) -> None:
        """One cook: the events of one network read go to the table and the callbacks, in order."""
        info, table, call = self.info, self.table, self.host.call
        binary_rows = self.par.binaryrows
        started = info.begin_cook()
        waited = 0.0  # time spent waiting for async callback slots: backpressure, not blocking
        done = received = 0
        try:
            for kind, payload in batch:
                if not self._active:  # TD: while Active is off, data sent to the port is lost
                    done = len(batch)
                    break
                done += 1
                if kind == TEXT:
                    received += 1
                    pending = call("onReceiveText", table.append(payload), payload)
                elif kind == BINARY:
                    received += 1
                    if binary_rows:
                        table.append(payload)
                    pending = call("onReceiveBinary", payload)
                else:
                    pending = call("onReceivePing" if kind == PING else "onReceivePong", payload)
                if pending:
                    self._check_blocking(started, waited)
                    before = info.clock.now()
                    await self._start_async(pending)
                    waited += info.clock.now() - before
        finally:
            del batch[:done]
            info.messages_received += received
            if self._link is not None:
                info.bytes_received = self._received_before + self._link.bytes_received
            info.end_cook(started)
            self._check_blocking(started, waited)
        self._spawn_all(call("onCook"))

    def _check_blocking(self, started: float, waited: float) -> None:
        blocked_ms = (self.info.clock.now() - started - waited) * 1000.0
        if blocked_ms > SLOW_COOK_MS and not self._slow_warned:
            self._slow_warned = True
            self._warn(f"plain callbacks blocked the event loop for {blocked_ms:.0f} ms in one cook "
                       "(do slow work in an async def callback)")
        elif blocked_ms <= SLOW_COOK_MS:
            self._slow_warned = False

    # -- sending --------------------------------------------------------------------------------------------------
    def _enqueue(self, what: str, kind: int, payload: str | bytes, size: int) -> int:
        queue = self._send_queue
        if queue is None:
            if not self._send_refused_warned:
                self._send_refused_warned = True
                self._warn(f"{what}: not connected, nothing sent (further refusals until connected are not reported)")
            return -1
        if not queue.put((kind, payload, size)):
            if not self._send_full_warned:
                self._send_full_warned = True
                self._warn(f"{what}: send queue full ({queue.limit} messages waiting), message refused")
            return -1
        return size

    def sendText(self, *parts: Any) -> int:
        """Queue a text message made of ``parts`` joined without separator; returns its UTF-8 size, or -1."""
        if len(parts) == 1 and type(parts[0]) is str:
            text: str = parts[0]
        else:
            text = "".join(part if isinstance(part, str) else str(part) for part in parts)
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        return self._enqueue("sendText", TEXT, text, size)

    def sendBinary(self, contents: bytes | bytearray | memoryview) -> int:
        """Queue a binary message; returns its size in bytes, or -1."""
        data = _as_bytes("sendBinary", contents, allow_text=False)
        return self._enqueue("sendBinary", BINARY, data, len(data))

    def sendPing(self, contents: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue a ping (at most 125 bytes); its pong arrives at ``onReceivePong``. Returns the payload size, or -1."""
        data = _as_bytes("sendPing", contents, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._enqueue("sendPing", PING, data, len(data))

    def sendPong(self, contents: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue an unsolicited pong (at most 125 bytes). Returns the payload size, or -1."""
        data = _as_bytes("sendPong", contents, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._enqueue("sendPong", PONG, data, len(data))

    async def _send_loop(self, link: Link, queue: SendQueue) -> None:
        """Send what is queued, in order: whatever is waiting goes out encoded in one write (up to a bound)."""
        info = self.info
        while True:
            items = await queue.take(_SEND_BATCH_BYTES)
            try:
                await link.send_batch(items)
            except ConnectionClosed:
                queue.lost += len(items)  # reported with what is still queued when the connection ends
                return
            info.messages_sent += sum(1 for kind, _, _ in items if kind <= BINARY)
            info.bytes_sent += sum(size for _, _, size in items)
            if self._send_full_warned and not queue:
                self._send_full_warned = False

    # -- running --------------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.info.state == "open"

    def _set_state(self, state: str) -> None:
        self.info.state = state

    def _connect_options(self) -> ConnectOptions:
        par = self.par
        endpoint = par.endpoint
        context = None
        if endpoint.secure:
            context = make_ssl_context(par.cafile, par.certfile, par.keyfile, par.insecure)
        return ConnectOptions(endpoint, context, par.headers, par.subprotocols, par.maxmessagesize)

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[trio.Nursery]:
        """The DAT's nursery: connection tasks and ``async def`` hooks live in it and end with it."""
        if self._nursery is not None:
            raise RuntimeError(f"{self.name} is already running")
        self.info.clock.restart()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                yield nursery
        finally:
            self._nursery = None
            self._set_state("closed")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the DAT until cancelled: connect, receive, call hooks, send; reconnect when parameters change.

        Use as ``await nursery.start(dat.run)``, which returns after the first connect attempt finished (connected or
        failed), or at once while ``active`` is off.
        """
        async with self._running():
            await self._supervise(task_status)

    async def run_offline(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run without a network until cancelled: the nursery for ``async def`` hooks, and :meth:`deliver` feeds
        events (``wsdat replay`` uses it)."""
        async with self._running():
            task_status.started()
            await trio.sleep_forever()

    async def deliver(self, events: Sequence[tuple[str, Any]]) -> None:
        """Process events as if they had come from a server: ``("text", str)``, ``("binary", bytes)``,
        ``("ping", bytes)``, ``("pong", bytes)``, ``("connect", url)``, ``("disconnect", None)``,
        ``("monitor", str)``. Consecutive received events are cooked together, as one network read would be.
        """
        batch: list[Event] = []
        for kind, payload in events:
            if kind in _RECEIVED:
                batch.append((_RECEIVED[kind], payload))
                continue
            if batch:
                await self._cook(batch)
                batch = []
            if kind == "connect":
                self.info.connects += 1
                self._set_state("open")
                await self._call_hook("onConnect")
            elif kind == "disconnect":
                self.info.disconnects += 1
                self._set_state("closed")
                await self._call_hook("onDisconnect")
            elif kind == "monitor":
                self.monitor(str(payload))
            else:
                raise ValueError(f"deliver: unknown event kind {kind!r}; expected one of "
                                 f"{', '.join([*_RECEIVED, 'connect', 'disconnect', 'monitor'])}")
        if batch:
            await self._cook(batch)

    def stop(self) -> None:
        """Stop :meth:`run` (closes the connection with 1001 going away)."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> None:
        started = False

        def mark_started() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        while True:
            self._changed = changed = trio.Event()
            if not self.par.active:
                self._set_state("closed")
                self._backoff.reset()
                mark_started()
                await changed.wait()
                continue
            result = await self._connect_and_serve(mark_started)
            mark_started()
            if result == _CHANGED or changed.is_set():
                self._backoff.reset()
                continue
            if result == _FATAL or not self.par.reconnect:
                if result == _FATAL:
                    self.monitor("not reconnecting: change the parameters to try again", logging.WARNING)
                self.stalled = True
                try:
                    await changed.wait()
                finally:
                    self.stalled = False
                continue
            await self._wait_before_reconnect(changed)

    async def _wait_before_reconnect(self, changed: trio.Event) -> None:
        par, backoff = self.par, self._backoff
        backoff.first, backoff.factor, backoff.cap = par.reconnectdelay, par.reconnectfactor, par.reconnectmaxdelay
        delay = backoff.next_delay()
        self.monitor(f"reconnecting in {delay:.2f} s (attempt {backoff.attempt})")
        with trio.move_on_after(delay):
            await changed.wait()
        if not changed.is_set():
            self.info.reconnects += 1

    async def _connect_and_serve(self, mark_started: Callable[[], None]) -> str:
        changed = self._changed
        endpoint = self.par.endpoint
        timeout_ms = self.par.timeout
        self._set_state("connecting")
        self.monitor(f"connecting to {endpoint.url}")
        async with trio.open_nursery() as nursery:
            try:
                options = self._connect_options()
                with trio.fail_after(timeout_ms / 1000):
                    which, link = await _race(lambda: open_link(nursery, options, self._cook), changed.wait)
            except trio.TooSlowError:
                self._error(f"connect to {endpoint.url} timed out after {timeout_ms} ms")
                link, result = None, _ENDED
            except ConnectError as exc:
                self._error(f"cannot connect to {endpoint.url}: {exc}")
                link, result = None, _FATAL if exc.fatal else _ENDED
            except WsdatError as exc:  # never let a failure of one attempt take the DAT down
                self._error(f"cannot connect to {endpoint.url}: {exc}")
                link, result = None, _ENDED
            if link is None or which == 1:
                nursery.cancel_scope.cancel()
                self._set_state("closed")
                return _CHANGED if link is not None else result
            return await self._serve(nursery, link, options, mark_started)
        return _ENDED  # pragma: no cover - the nursery above always returns

    async def _serve(self, nursery: trio.Nursery, link: Link, options: ConnectOptions,
                     mark_started: Callable[[], None]) -> str:
        queue = SendQueue(self.par.sendqueuesize)
        self._link = link
        self._send_queue = queue
        self._send_refused_warned = False
        self.info.connects += 1
        self._set_state("open")
        protocol = f" (subprotocol {link.subprotocol})" if link.subprotocol else ""
        self.monitor(f"connected to {options.endpoint.url}{protocol}")
        if self.par.insecure and options.ssl_context is not None:
            self._warn("TLS certificate and host name checks are OFF (insecure)")
        nursery.start_soon(self._send_loop, link, queue)
        nursery.start_soon(self._keepalive, link)
        opened_at = trio.current_time()
        deliberate = stopped = False
        try:
            await self._call_hook("onConnect")
            link.delivering.set()
            mark_started()
            which, _ = await _race(link.finished.wait, self._changed.wait)
            deliberate = which == 1
            if deliberate:
                self._set_state("closing")
                with trio.move_on_after(CLOSE_TIMEOUT):
                    await link.aclose(1000, "closed by wsdat")
            if link.batch:  # events parsed after the last read (e.g. before an oversized message)
                await link.flush()
        finally:
            self._send_queue = None
            if queue.lost or len(queue):
                self._warn(f"{queue.lost + len(queue)} queued message(s) not sent: the connection closed")
            with trio.CancelScope(shield=True):
                if not link.finished.is_set():  # cancelled: the reader is gone, so say goodbye without waiting
                    stopped = True
                    with trio.move_on_after(CLOSE_TIMEOUT / 2):
                        await link.say_goodbye(1001, "going away")
                await link.abort()  # the client side must close its socket itself
            nursery.cancel_scope.cancel()
            self._received_before += link.bytes_received
            self.info.bytes_received = self._received_before
            self._link = None
            self._report_close(link, "stopped" if stopped else "closed" if deliberate else "ended")
            self._backoff.connection_lasted(trio.current_time() - opened_at)
            self.info.disconnects += 1
            self._set_state("closed")
            self._spawn_all(self.host.call("onDisconnect"))
        return _CHANGED if deliberate else _ENDED

    async def _keepalive(self, link: Link) -> None:
        """Ping every ``pinginterval`` s; a peer silent for ``pingtimeout`` s is dead: drop it (RFC 6455 5.5.2)."""
        while True:
            changed = self._keepalive_changed
            interval, timeout = self.par.pinginterval, self.par.pingtimeout
            with trio.move_on_after(interval if interval > 0 else math.inf):
                await changed.wait()
            if changed.is_set():  # new keepalive settings: start over with them
                self._keepalive_changed = trio.Event()
                continue
            try:
                if timeout <= 0:
                    await link.send_batch([(PING, b"", 0)])
                    continue
                with trio.move_on_after(timeout) as waiting:
                    await link.ping()
            except ConnectionClosed:
                return
            if waiting.cancelled_caught:
                link.fault = ProtocolError(f"keepalive: no pong within {timeout:g} s, the connection is dead")
                await link.abort()
                return

    def _spawn_all(self, pending: Sequence[PendingCall]) -> None:
        for call in pending:
            self._spawn_nowait(call)

    def _report_close(self, link: Link, how: str) -> None:
        """``how``: ``stopped`` (the DAT was cancelled), ``closed`` (we closed: Active off or new parameters) or
        ``ended`` (the server or the network ended it)."""
        reason = link.closed
        if link.fault is not None:
            self._error(f"disconnected: {link.fault}")
        elif how == "stopped":
            self.monitor("disconnected: the DAT was stopped (1001 going away)")
        elif how == "closed":
            why = "parameters changed" if self.par.active else "Active is off"
            self.monitor(f"disconnected: closed by wsdat ({why})")
        elif reason is None or reason.code in _NORMAL_CLOSE_CODES:
            detail = _close_description(reason.code, reason.reason) if reason else "no close code"
            self.monitor(f"disconnected: the server closed the connection ({detail})")
        elif reason.code == 1006:
            self._error("disconnected: connection lost without a close frame (1006 abnormal closure)")
        else:
            self._error("disconnected: the server closed the connection with "
                        f"{_close_description(reason.code, reason.reason)}")


def _as_bytes(what: str, contents: object, *, allow_text: bool, limit: float = math.inf) -> bytes:
    if isinstance(contents, str) and allow_text:
        data = contents.encode("utf-8")
    elif isinstance(contents, (bytes, bytearray, memoryview)):
        data = bytes(contents)
    else:
        kinds = "bytes, bytearray, memoryview or str" if allow_text else "bytes, bytearray or memoryview (use sendText)"
        raise TypeError(f"{what}: contents must be {kinds}, not {type(contents).__name__}")
    if len(data) > limit:
        raise ValueError(f"{what}: contents of {len(data)} bytes; control frames carry at most {int(limit)} bytes "
                         "(RFC 6455 5.5)")
    return data


@asynccontextmanager
async def open_dat(name: str | None = None, **params: Any) -> AsyncIterator[WebSocketDAT]:
    """A running DAT that owns its nursery: ``async with open_dat(netaddress=...) as dat:``.

    Entering returns after the first connect attempt finished; leaving stops the DAT.
    """
    dat = WebSocketDAT(name, **params)
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        try:
            yield dat
        finally:
            nursery.cancel_scope.cancel()
