"""The WebSocket DAT: TouchDesigner's operator as a Python object, and an awaitable API for trio services.

::

    dat = WebSocketDAT(netaddress="ws://localhost:8765/feed", maxlines=500, callbacks=["callbacks.py"])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)   # returns after the first connect attempt has finished, either way
        dat.sendText("hello")          # TouchDesigner's: non-blocking, callable from plain hooks
        await dat.send_text("hello")   # trio's: waits for room, returns once written
        async with dat.events() as events:
            async for event in events:
                ...

:class:`WebSocketDAT` is the façade: parameters (:attr:`par`), the table, info channels, operator storage, the send
methods and the awaitable calls. The part that runs under trio (connecting, cooking, async hooks, keepalive,
reconnecting) is its :class:`~wsdat_core.runtime.session.Session`.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import trio

from ..host.callbacks import CallbackHost
from ..host.tdoperator import TDOperator
from ..model.events import EventKind
from ..model.info import Clock, Info
from ..model.params import HOST_PARAMS, Parameters
from ..model.table import MessageTable
from .console import enable_text_console_from_env
from .eventbus import Subscription
from .processclock import PROCESS_START
from .session import ASYNC_HOOK_LIMIT, Session

__all__ = ["WebSocketDAT", "open_dat"]

T = TypeVar("T")

_CONTROL_PAYLOAD_MAX: Final = 125
_names = itertools.count(1)
_MISSING: Any = object()


class WebSocketDAT(TDOperator):
    """TouchDesigner's WebSocket DAT: connects to a WebSocket server, keeps received messages in a FIFO table, runs
    callbacks for every event and exposes info channels.

    Parameters are keyword arguments with TD's names (see :mod:`wsdat_core.model.params`) and live in :attr:`par`.
    ``namespace`` maps names to objects ``fromop`` may name (a service passes its other DATs). ``settings`` maps
    plugin names to their settings (see :meth:`pluginSettings`). TD's operator members (``path``, ``id``, ``op()``,
    and TDOnlyError for ``ext``, ``parent()``...) come from :class:`~wsdat_core.host.tdoperator.TDOperator`.
    """

    def __init__(self, name: str | None = None, *, clock: Clock | None = None,
                 namespace: Mapping[str, object] | None = None, async_hook_limit: int = ASYNC_HOOK_LIMIT,
                 settings: Mapping[str, Mapping[str, Any]] | None = None, **params: Any) -> None:
        enable_text_console_from_env()
        self.name = name or f"websocket{next(_names)}"
        self.par = Parameters(**params)
        value = self.par.value
        self.table = MessageTable(maxlines=value("maxlines"), clamp=value("clamp"), bytes=value("bytes"),
                                  maxtablebytes=value("maxtablebytes"))
        self.info = Info(clock or Clock(process_origin=PROCESS_START),
                         shape=lambda: (self.table.numRows, self.table.numCols))
        #: TouchDesigner's operator storage (see :meth:`store`, :meth:`fetch`, :meth:`unstore`).
        self.storage: dict[str, Any] = {}
        #: The last error line (a connect failure, a protocol error, a failing hook), for callers such as the CLI.
        self.last_error = ""
        self.namespace = namespace
        self._settings = {plugin: dict(values) for plugin, values in (settings or {}).items()}
        self._session = Session(self, async_hook_limit)
        self.host = CallbackHost(self, self._session.hook_failed, namespace,
                                 load_budget=lambda: self.par.value("reloadtimeout"))
        self.host.configure(value("callbacks"), value("executeloc"), value("fromop"))
        self.par.subscribe(self._session.on_par_change)
        self.par.add_check(self._load_callbacks)

    def __repr__(self) -> str:
        return f"<WebSocketDAT {self.name} {self.par.endpoint.url} state={self.info.state} rows={self.table.numRows}>"

    # -- parameters -------------------------------------------------------------------------------------------------
    def _load_callbacks(self, values: Mapping[str, Any], changed: frozenset[str]) -> None:
        # Runs before a change is committed: a bad plugin reference raises from the assignment and leaves both the
        # parameters and the running callbacks as they were.
        if changed & HOST_PARAMS:
            configuration = self.host.prepare(values["callbacks"], values["executeloc"], values["fromop"])
            self._session.plugins.exit_now(configuration.removed)
            added, removed = self.host.commit(configuration)
            self._session.plugins.changed(added, removed)

    def pluginSettings(self, plugin: str) -> dict[str, Any]:
        """The settings of ``plugin`` for this DAT: environment variables ``WSDAT_<PLUGIN>_<KEY>`` (as strings, keys
        lower-cased) overridden by the service file's ``[dat.NAME.plugins.PLUGIN]`` table or the CLI's
        ``--set PLUGIN.KEY=VALUE``.

        >>> WebSocketDAT(settings={"record": {"dir": "/tmp"}}).pluginSettings("record")["dir"]
        '/tmp'
        """
        prefix = f"WSDAT_{plugin.upper().replace('-', '_')}_"
        found: dict[str, Any] = {key[len(prefix):].lower(): value for key, value in os.environ.items()
                                 if key.startswith(prefix) and len(key) > len(prefix)}
        found.update(self._settings.get(plugin, {}))
        return found

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

    def fetch(self, key: str, default: Any = _MISSING, search: bool = True, storeDefault: bool = False) -> Any:
        """The value stored under ``key``, as TD's ``fetch``.

        Missing here and ``search`` on: the object of that name in the service's namespace, if any. Still missing:
        ``default`` (also stored when ``storeDefault``), or ``KeyError`` naming the key when no default was given.
        """
        try:
            return self.storage[key]
        except KeyError:
            pass
        if search and self.namespace is not None and key in self.namespace:
            return self.namespace[key]
        if default is _MISSING:
            raise KeyError(f"{self.name}: nothing stored under {key!r}")
        if storeDefault:
            self.storage[key] = default
        return default

    def unstore(self, *patterns: str) -> None:
        """Remove the keys matching any of ``patterns`` (``*`` and ``?`` wildcards, as TD); missing keys are fine."""
        for pattern in patterns:
            for key in [k for k in self.storage if fnmatch.fnmatchcase(k, pattern)]:
                del self.storage[key]

    # -- monitor messages -----------------------------------------------------------------------------------------
    def monitor(self, message: str, level: int = logging.INFO) -> None:
        """A status line: to the ``wsdat`` logger (the text console), ``onMonitorMessage`` and event subscribers."""
        self._session.monitor(message, level)

    # -- TouchDesigner's send methods ---------------------------------------------------------------------------
    def sendText(self, *parts: Any) -> int:
        """Queue a text message made of ``parts`` joined without separator; returns its UTF-8 size, or -1 (not
        connected, the send queue is full, or the text holds a lone surrogate UTF-8 cannot encode: one warning line
        names its position)."""
        text = _join(parts)
        try:
            size = _utf8_size("sendText", text)
        except ValueError as exc:  # TD's send methods answer a refusal with a negative number
            self._session.warn(str(exc))
            return -1
        return self._session.send("sendText", EventKind.TEXT, text, size)

    def sendBinary(self, contents: bytes | bytearray | memoryview) -> int:
        """Queue a binary message; returns its size in bytes, or -1."""
        data = _as_bytes("sendBinary", contents, allow_text=False)
        return self._session.send("sendBinary", EventKind.BINARY, data, len(data))

    def sendPing(self, contents: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue a ping (at most 125 bytes); its pong arrives at ``onReceivePong``. Returns the payload size, or -1."""
        data = _as_bytes("sendPing", contents, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._session.send("sendPing", EventKind.PING, data, len(data))

    def sendPong(self, contents: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue a pong (at most 125 bytes): inside ``onReceivePing`` with the ping's payload it is the answer to that
        ping (wsdat then sends no pong of its own). Returns the payload size, or -1."""
        data = _as_bytes("sendPong", contents, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._session.send("sendPong", EventKind.PONG, data, len(data))

    # -- the awaitable API --------------------------------------------------------------------------------------
    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the DAT is connected; returns at once if it is.

        Raises:
          ConnectError: if the DAT gave up for good (a failure retrying cannot mend, or reconnect is off and the
            connection failed or ended), or ``timeout`` seconds passed first; the message names the last failure.
            Without a timeout, a trio cancel scope bounds the wait too.
        """
        await self._session.wait_connected(timeout)

    async def wait_stopped(self) -> None:
        """Wait until the DAT stopped connecting: its run ended (after every plugin's ``onExit``), ``active`` is off
        and the connection closed, or it gave up for good (:attr:`stalled`). Returns at once if that is already so."""
        await self._session.wait_stopped()

    async def send_text(self, *parts: Any, written: bool = False) -> None:
        """Send a text message made of ``parts`` joined without separator (as :meth:`sendText`).

        Returns once the message is accepted into the send queue, a bounded write buffer (``sendqueuesize``
        messages, ``sendqueuebytes`` bytes): while it is full, waits for room (backpressure). Many small messages sent
        in a row go out together, in few writes. With ``written=True`` it returns only once the message was written
        to the socket (:meth:`wait_sent` waits for everything queued).

        Raises:
          ConnectionClosedError: if the DAT is not connected, or the connection ended before the message was
            accepted (with ``written=True``: before it was written); it was not sent.
          ValueError: if the text holds a lone surrogate (UTF-8 cannot encode it); the error names its position.
        """
        text = _join(parts)
        await self._session.send_wait(EventKind.TEXT, text, _utf8_size("send_text", text), written)

    async def send_binary(self, data: bytes | bytearray | memoryview, *, written: bool = False) -> None:
        """Send a binary message; waits and raises as :meth:`send_text`."""
        payload = _as_bytes("send_binary", data, allow_text=False)
        await self._session.send_wait(EventKind.BINARY, payload, len(payload), written)

    async def wait_sent(self) -> None:
        """Wait until everything queued so far (by either send API) was written to the socket.

        Raises:
          ConnectionClosedError: if the DAT is not connected, or the connection ended first.
        """
        await self._session.sender.wait_sent()

    async def close(self, code: int = 1000, reason: str = "") -> int:
        """Close the connection: send a close frame with ``code`` and ``reason``, wait (at most 2 s) for the server's
        answer, and leave the DAT inactive (as turning ``active`` off does).

        Returns:
          The close code the server answered with, or 1006 when it did not answer. When the connection had already
          ended (the server closed first, the network dropped it), the code that ended it (the server's 4001, or
          1006); 1006 when the DAT never connected.

        Raises:
          ValueError: for a code a client may not send (allowed: 1000, 3000-4999) or a reason longer than 123 UTF-8
            bytes.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
            raise ValueError(f"close: code {code!r} is not allowed; expected 1000 or an application code 3000-4999")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("close: reason is longer than 123 UTF-8 bytes (RFC 6455 5.5: control frames carry at "
                             "most 125 bytes)")
        return await self._session.close(code, reason)

    @asynccontextmanager
    async def events(self, buffer: int = 1000) -> AsyncIterator[Subscription]:
        """Every event of the DAT from now on, as frozen dataclasses of :mod:`wsdat_core.model.events`::

            async with dat.events() as events:
                async for event in events:
                    ...

        Up to ``buffer`` events wait for the subscriber; while more would, the DAT stops reading from the network
        (backpressure) rather than dropping any. Several subscribers may listen at once. Iteration ends when the
        DAT's run ends.
        """
        async with self._session.bus.subscribe(buffer) as subscription:
            yield subscription

    async def wait_hooks(self) -> None:
        """Wait until no ``async def`` callback runs or waits for a slot (at once when none does): the events given
        to the DAT so far have been fully handled (``wsdat work`` acknowledges an entry after this)."""
        await self._session.runner.wait_idle()

    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any, name: object = None) -> None:
        """Start ``function(*args)`` in the DAT's nursery (for plugins with background work, e.g. from ``onStart``);
        it is cancelled when the DAT's run ends. Raises ``RuntimeError`` when the DAT is not running."""
        self._session.start_soon(function, *args, name=name)

    # -- running --------------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def stalled(self) -> bool:
        """True while the DAT waits for a parameter change before connecting again: after a failure retrying cannot
        mend (TLS verification, HTTP 4xx), or after a disconnect with ``reconnect`` off."""
        return self._session.stalled

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the DAT until cancelled: start the plugins, connect, receive, call hooks, send; reconnect when
        parameters change or the reconnect policy says so.

        Use as ``await nursery.start(dat.run)``, which returns after the first connect attempt finished (connected or
        failed), or at once while ``active`` is off.
        """
        await self._session.run(task_status)

    async def run_offline(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run without a network until cancelled: the nursery for ``async def`` hooks, and :meth:`deliver` feeds
        events (``wsdat replay`` uses it)."""
        await self._session.run(task_status, offline=True)

    async def deliver(self, events: Sequence[tuple[str, Any]], *, each: Callable[[], object] | None = None) -> None:
        """Process events as if they had come from a server: ``("text", str)``, ``("binary", bytes)``,
        ``("ping", bytes)``, ``("pong", bytes)``, ``("connect", url)``, ``("disconnect", None)``,
        ``("monitor", str)``. Consecutive received events are cooked together, as one network read would be.

        ``each()``, when given, is called before the hooks of each received event run, in order: a caller feeding
        many events at once can tell which event's hooks raised or sent (``wsdat work`` does, for a batch of stream
        entries).
        """
        await self._session.deliver(events, each)

    def stop(self) -> None:
        """Stop :meth:`run`: cooking stops after the message in hand, the connection closes with 1001 going away and
        every plugin gets ``onExit``. Safe from hooks, other threads and signal handlers."""
        self._session.stop()


def _join(parts: Sequence[Any]) -> str:
    if len(parts) == 1 and type(parts[0]) is str:
        text: str = parts[0]
        return text
    return "".join(part if isinstance(part, str) else str(part) for part in parts)


def _utf8_size(what: str, text: str) -> int:
    """The UTF-8 size of a text to send; ``ValueError`` naming the position of a character UTF-8 cannot encode (a lone
    surrogate, e.g. from ``json.loads('"\\ud800"')``)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what}: the text holds {text[exc.start]!r} at position {exc.start}, a lone surrogate that "
                         "UTF-8 cannot encode; nothing was sent") from None


def _as_bytes(what: str, contents: object, *, allow_text: bool, limit: float | None = None) -> bytes:
    if isinstance(contents, str) and allow_text:
        data = contents.encode("utf-8")
    elif isinstance(contents, (bytes, bytearray, memoryview)):
        data = bytes(contents)
    else:
        kinds = "bytes, bytearray, memoryview or str" if allow_text else "bytes, bytearray or memoryview (use sendText)"
        raise TypeError(f"{what}: contents must be {kinds}, not {type(contents).__name__}")
    if limit is not None and len(data) > limit:
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
