"""The Web Server DAT: TouchDesigner's operator for HTTP and WebSocket clients, as a Python object on trio.

::

    server = WebServerDAT(port=9980, callbacks=["webserver_callbacks.py"])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)            # returns once it listens (or failed to)
        server.broadcastText("hello everyone")      # TouchDesigner's: non-blocking, callable from plain hooks
        async with server.events() as events:      # trio's: every client's events, in order
            async for event in events:
                if isinstance(event, ClientTextReceived):
                    await server.send_text(event.client, "echo: ", event.message)

:class:`WebServerDAT` is the façade: parameters (:attr:`par`), the table of received messages with a client column,
info channels, operator storage, TouchDesigner's methods (``webSocketSendText(client, data)`` ...,
``webSocketConnections``, ``authenticateBasic``), ``broadcastText`` / ``broadcastBinary`` and the awaitable calls.
What runs under trio (listening, clients, hooks) is its :class:`~.serversession.ServerSession`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import trio

from ..host import serverspecs
from ..host.callbacks import CallbackHost
from ..model.client import Client
from ..model.events import EventKind
from ..model.info import Clock
from ..model.serverinfo import ServerInfo
from ..model.serverparams import ServerParameters
from ..model.servertable import ClientMessageTable
from ..model.webrequest import authenticate_basic
from .console import enable_text_console_from_env
from .dat import WebSocketDAT, _as_bytes, _join, _utf8_size
from .eventbus import Subscription
from .processclock import PROCESS_START
from .serversession import ServerSession
from .session import ASYNC_HOOK_LIMIT

__all__ = ["WebServerDAT", "open_server"]

_CONTROL_PAYLOAD_MAX: Final = 125
_names = itertools.count(1)
# Table access, operator storage and plugin settings are the WebSocket DAT's own members, which read the same
# attributes (table, storage, namespace, name, _settings): shared, not copied.
_DAT: Any = WebSocketDAT


class WebServerDAT:
    """TouchDesigner's Web Server DAT: answers HTTP requests and serves WebSocket clients, keeps their messages in a
    FIFO table with a client column, runs callbacks for every event and exposes info channels.

    Parameters are keyword arguments with TD's names (see :mod:`wsdat_core.model.serverparams`) and live in
    :attr:`par`; ``namespace`` maps names to objects ``fromop`` and ``op()`` may name; ``settings`` maps plugin names
    to their settings (see :meth:`pluginSettings`).
    """

    def __init__(self, name: str | None = None, *, clock: Clock | None = None,
                 namespace: Mapping[str, object] | None = None, async_hook_limit: int = ASYNC_HOOK_LIMIT,
                 settings: Mapping[str, Mapping[str, Any]] | None = None, **params: Any) -> None:
        enable_text_console_from_env()
        self.name = name or f"webserver{next(_names)}"
        self.par = ServerParameters(**params)
        value = self.par.value
        self.table = ClientMessageTable(maxlines=value("maxlines"), clamp=value("clamp"), bytes=value("bytes"),
                                        maxtablebytes=value("maxtablebytes"))
        self.info = ServerInfo(clock or Clock(process_origin=PROCESS_START),
                               shape=lambda: (self.table.numRows, self.table.numCols))
        #: TouchDesigner's operator storage (see :meth:`store`, :meth:`fetch`, :meth:`unstore`).
        self.storage: dict[str, Any] = {}
        #: The last error line (a failing hook, a port that cannot be listened on), for callers such as the CLI.
        self.last_error = ""
        self.namespace = namespace
        self._settings = {plugin: dict(values) for plugin, values in (settings or {}).items()}
        self._session = ServerSession(self, async_hook_limit)
        self.host = CallbackHost(self, self._session.hook_failed, namespace, specs=serverspecs,
                                 load_budget=lambda: self.par.value("reloadtimeout"))
        self.host.configure(value("callbacks"), value("executeloc"), value("fromop"))
        self.par.subscribe(self._session.on_par_change)
        self.par.add_check(self._load_callbacks)

    def __repr__(self) -> str:
        return (f"<WebServerDAT {self.name} {self.url} state={self.info.state} clients={self.info.clients} "
                f"rows={self.table.numRows}>")

    # -- shared with the WebSocket DAT: loading callbacks, table access, storage, settings ----------------------------
    _load_callbacks = _DAT._load_callbacks
    numRows = _DAT.numRows
    numCols = _DAT.numCols
    __getitem__ = _DAT.__getitem__
    row = _DAT.row
    col = _DAT.col
    rows = _DAT.rows
    __iter__ = _DAT.__iter__
    text = _DAT.text
    clear = _DAT.clear
    store = _DAT.store
    fetch = _DAT.fetch
    unstore = _DAT.unstore
    pluginSettings = _DAT.pluginSettings

    # -- where and how it runs ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where WebSocket clients reach the server (``ws://127.0.0.1:9980/``; ``wss`` while secure), with the port
        it listens on once it does (for ``port`` 0, the one the system picked)."""
        return self.par.endpoint.url

    @property
    def listening(self) -> bool:
        return self.info.state == "listening"

    @property
    def connected(self) -> bool:
        """True while listening (the name the service's health check asks every DAT)."""
        return self.listening

    @property
    def stalled(self) -> bool:
        """True while the server waits for a parameter change before listening again (the port was in use, the TLS
        files could not be loaded)."""
        return self._session.stalled

    def monitor(self, message: str, level: int = logging.INFO) -> None:
        """A status line: to the ``wsdat`` logger (the text console), ``onMonitorMessage`` and event subscribers."""
        self._session.monitor(message, level)

    # -- TouchDesigner's methods ------------------------------------------------------------------------------------
    @property
    def webSocketConnections(self) -> list[Client]:
        """The open WebSocket clients, in the order they connected."""
        return [link.client for link in self._session.links.values()]

    def webSocketSendText(self, client: Client | str, data: Any, *more: Any) -> int:
        """Queue a text message to ``client`` (several parts are joined without separator); returns its UTF-8 size,
        or -1 (no such open client, or a lone surrogate UTF-8 cannot encode: one warning line). A client whose send
        queue is full does not read: it is closed with 1008 (one line), and -1 returned."""
        text = _join((data, *more))
        try:
            size = _utf8_size("webSocketSendText", text)
        except ValueError as exc:
            self._session.warn(str(exc))
            return -1
        return self._session.send(client, "webSocketSendText", EventKind.TEXT, text, size)

    def webSocketSendBinary(self, client: Client | str, data: bytes | bytearray | memoryview) -> int:
        """Queue a binary message to ``client``; returns its size, or -1 (as :meth:`webSocketSendText`)."""
        payload = _as_bytes("webSocketSendBinary", data, allow_text=False)
        return self._session.send(client, "webSocketSendBinary", EventKind.BINARY, payload, len(payload))

    def webSocketSendPing(self, client: Client | str, data: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue a ping (at most 125 bytes) to ``client``; its pong arrives at ``onWebSocketReceivePong``."""
        payload = _as_bytes("webSocketSendPing", data, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._session.send(client, "webSocketSendPing", EventKind.PING, payload, len(payload))

    def webSocketSendPong(self, client: Client | str, data: bytes | bytearray | memoryview | str = b"") -> int:
        """Queue a pong to ``client``: inside ``onWebSocketReceivePing`` with the ping's payload it is the answer to
        that ping (the server then sends no pong of its own)."""
        payload = _as_bytes("webSocketSendPong", data, allow_text=True, limit=_CONTROL_PAYLOAD_MAX)
        return self._session.send(client, "webSocketSendPong", EventKind.PONG, payload, len(payload))

    def webSocketClose(self, client: Client | str, code: int = 1000, reason: str = "") -> None:
        """Close ``client``'s connection (what was queued to it goes out first); ``onWebSocketClose`` follows once
        it ended. Closing a client that is gone does nothing."""
        self._session.close_client(client, *_close_args(code, reason))

    def authenticateBasic(self, request: Mapping[str, Any], user: str, password: str) -> bool:
        """True when ``request`` (``onHTTPRequest``'s) carries HTTP Basic credentials for ``user`` and
        ``password`` in its ``Authorization`` header."""
        return authenticate_basic(request, user, password)

    def broadcastText(self, data: Any, *more: Any) -> int:
        """Queue a text message to every open client; returns how many clients it was queued to."""
        text = _join((data, *more))
        return self._session.broadcast(EventKind.TEXT, text, _utf8_size("broadcastText", text))

    def broadcastBinary(self, data: bytes | bytearray | memoryview) -> int:
        """Queue a binary message to every open client; returns how many clients it was queued to."""
        payload = _as_bytes("broadcastBinary", data, allow_text=False)
        return self._session.broadcast(EventKind.BINARY, payload, len(payload))

    # -- the awaitable API ------------------------------------------------------------------------------------------
    async def send_text(self, client: Client | str, *parts: Any) -> None:
        """Send a text message to ``client``: waits while its send queue is full (backpressure) and returns once
        the message was written to the socket.

        Raises:
          ConnectionClosedError: no such open client, or its connection ended before the message was written.
          ValueError: the text holds a lone surrogate (UTF-8 cannot encode it).
        """
        text = _join(parts)
        await self._session.send_wait(client, EventKind.TEXT, text, _utf8_size("send_text", text))

    async def send_binary(self, client: Client | str, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message to ``client``; waits and raises as :meth:`send_text`."""
        payload = _as_bytes("send_binary", data, allow_text=False)
        await self._session.send_wait(client, EventKind.BINARY, payload, len(payload))

    async def close(self, client: Client | str, code: int = 1000, reason: str = "") -> int:
        """Close ``client``'s connection and wait until it ended; returns the close code the client answered with
        (1006 when it did not answer within 2 s, or when it was gone already).

        Raises:
          ValueError: for a code a server may not send (allowed: 1000, 1001, 1008, 1011-1014, 3000-4999) or a
            reason longer than 123 UTF-8 bytes.
        """
        return await self._session.close_client_wait(client, *_close_args(code, reason))

    @asynccontextmanager
    async def events(self, buffer: int = 1000) -> AsyncIterator[Subscription]:
        """Every event of the server from now on, as frozen dataclasses of :mod:`wsdat_core.model.serverevents`
        (each client's) and :class:`~wsdat_core.model.events.Monitor` lines. Up to ``buffer`` events wait for the
        subscriber; while more would, the server stops reading from clients (backpressure) rather than dropping
        any. Iteration ends when the server's run ends."""
        async with self._session.bus.subscribe(buffer) as subscription:
            yield subscription

    async def wait_hooks(self) -> None:
        """Wait until no ``async def`` callback runs or waits for a slot."""
        await self._session.runner.wait_idle()

    async def wait_listening(self, timeout: float | None = None) -> None:
        """Wait until the server listens; returns at once if it does.

        Raises:
          ConnectError: the server cannot listen (the port is in use, TLS files unusable), or ``timeout`` passed.
        """
        await self._session.wait_listening(timeout)

    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any, name: object = None) -> None:
        """Start ``function(*args)`` in the server's nursery (cancelled when its run ends)."""
        self._session.start_soon(function, *args, name=name)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the server until cancelled or :meth:`stop`: start the plugins, listen, serve clients and HTTP
        requests; listen again when ``active``, ``restart``, ``port``, ``address`` or TLS parameters change.

        Use as ``await nursery.start(server.run)``, which returns once it listens (or failed to: see
        :attr:`stalled` and :attr:`last_error`), or at once while ``active`` is off.
        """
        await self._session.run(task_status)

    def stop(self) -> None:
        """Stop :meth:`run`: clients are closed with 1001 going away, ``onServerStop`` and every plugin's ``onExit``
        run. Safe from hooks, other threads and signal handlers."""
        self._session.stop()


def _close_args(code: int, reason: str) -> tuple[int, str]:
    if isinstance(code, bool) or not isinstance(code, int) or not (
            code in (1000, 1001, 1008) or 1011 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"close: code {code!r} is not allowed; expected 1000, 1001, 1008, 1011-1014 or an "
                         "application code 3000-4999")
    if not isinstance(reason, str) or len(reason.encode("utf-8")) > 123:
        raise ValueError("close: reason must be text of at most 123 UTF-8 bytes (RFC 6455 5.5: control frames "
                         "carry at most 125 bytes)")
    return code, reason


@asynccontextmanager
async def open_server(name: str | None = None, **params: Any) -> AsyncIterator[WebServerDAT]:
    """A running server that owns its nursery: ``async with open_server(port=0) as server:``; entering returns once
    it listens, leaving stops it."""
    server = WebServerDAT(name, **params)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        try:
            yield server
        finally:
            server.stop()
