"""Testing support for plugin authors (and wsdat's own tests), registered as a pytest plugin.

Fixtures (they need ``pytest-trio``; with ``trio_mode = true`` write plain ``async def`` tests):

``ws_server``
    A :class:`ScriptedServer` on loopback (trio-websocket, port chosen by the OS): the test tells it what to send
    (``send_text``, ``send_binary``, ``ping``), how to end (``close(code)``, ``drop()``) and reads what it received.
``dat_factory``
    ``await dat_factory(callbacks=[...], **params)`` returns a running :class:`~wsdat_core.runtime.dat.WebSocketDAT`
    connected to ``ws_server`` (or to ``netaddress=`` if given), stopped when the test ends.

Helpers: :func:`wait_until`, :func:`wait_for_rows`, :func:`wait_for_calls`.

Example::

    async def test_my_plugin(ws_server, dat_factory):
        dat = await dat_factory(callbacks=["myplugin"])
        await ws_server.send_text("hello")
        await wait_for_rows(dat, 1)
        assert dat[1, "message"] == "hello"
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, wrap_server_stream

from ..runtime.dat import WebSocketDAT

__all__ = [
    "MonitorLines",
    "ScriptedServer",
    "TCPRelay",
    "dat_factory",
    "wait_for_calls",
    "wait_for_rows",
    "wait_until",
    "ws_server",
]

DEFAULT_WAIT = 10.0
_POLL = 0.005


async def wait_until(predicate: Callable[[], object], timeout: float = DEFAULT_WAIT, what: str = "condition") -> None:
    """Wait until ``predicate()`` is true; ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(_POLL)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def wait_for_rows(dat: WebSocketDAT, count: int, timeout: float = DEFAULT_WAIT) -> None:
    """Wait until ``dat`` holds at least ``count`` message rows (heading not counted)."""
    await wait_until(lambda: dat.numRows - 1 >= count, timeout, f"{count} rows in {dat.name} (has {dat.numRows - 1})")


async def wait_for_calls(calls: Sequence[object], count: int, timeout: float = DEFAULT_WAIT) -> None:
    """Wait until the list ``calls`` (filled by a hook) has at least ``count`` items."""
    await wait_until(lambda: len(calls) >= count, timeout, f"{count} hook calls (have {len(calls)})")


class MonitorLines:
    """A plugin that keeps every monitor line of the DATs it is given to (``lines``); ``has(text)`` looks for one."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def onMonitorMessage(self, message: str) -> None:
        self.lines.append(message)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


class TCPRelay:
    """A TCP relay on loopback to ``127.0.0.1:target`` that a test can cut (connections dropped, the port refusing)
    and restore, to take a broker or a server away from a plugin and bring it back::

        relay = TCPRelay(6379)
        await relay.start(nursery)      # listens on relay.port (the same port again after a cut)
        relay.cut()
        await relay.start(nursery)
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._scope: trio.CancelScope | None = None
        self._swallow = False

    async def _pipe(self, source: trio.abc.Stream, sink: trio.abc.Stream, *, answers: bool = False) -> None:
        while data := await source.receive_some(65536):
            if not (answers and self._swallow):
                await sink.send_all(data)

    async def _handle(self, downstream: trio.SocketStream) -> None:
        async with (downstream, await trio.open_tcp_stream("127.0.0.1", self.target) as upstream,
                    trio.open_nursery() as nursery):
            nursery.start_soon(self._pipe, downstream, upstream)
            await self._pipe(upstream, downstream, answers=True)
            nursery.cancel_scope.cancel()

    async def _serve(self, *, task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED
                     ) -> None:
        with trio.CancelScope() as self._scope:
            listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
            self.port = listeners[0].socket.getsockname()[1]
            await trio.serve_listeners(self._handle, listeners, task_status=task_status)

    async def start(self, nursery: trio.Nursery) -> None:
        """Listen (again): on a new port the first time, on the same one after :meth:`cut`."""
        await nursery.start(self._serve)

    def cut(self) -> None:
        """Drop every relayed connection and stop listening (answers flow again after the next :meth:`start`)."""
        assert self._scope is not None
        self._scope.cancel()
        self._swallow = False

    def swallow_answers(self) -> None:
        """From now on requests still reach the server but its answers are dropped: a connection lost between the two,
        as a client sees it."""
        self._swallow = True


class ScriptedServer:
    """A WebSocket server on loopback whose every move the test scripts.

    ``received`` holds every message clients sent, in order; ``connections`` every accepted connection.
    """

    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None,
                 subprotocols: Sequence[str] = ()) -> None:
        self.host = host
        self.port = 0
        self.ssl_context = ssl_context
        self.subprotocols = tuple(subprotocols)
        self.received: list[str | bytes] = []
        self.connections: list[WebSocketConnection] = []
        self.requests: list[WebSocketRequest] = []
        self._streams: dict[int, trio.abc.Stream] = {}  # id(connection) -> its TCP (or TLS) stream, for drop()
        self._scope: trio.CancelScope | None = None

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``await nursery.start(server.run)`` returns once the port is known."""
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                serve: Callable[..., Awaitable[object]]
                if self.ssl_context is None:
                    serve = functools.partial(trio.serve_tcp, self._serve_stream, 0, host=self.host)
                else:
                    serve = functools.partial(trio.serve_ssl_over_tcp, self._serve_stream, 0, self.ssl_context,
                                              host=self.host)
                listeners = await nursery.start(serve)
                self.port = listeners[0].socket.getsockname()[1] if hasattr(listeners[0], "socket") else \
                    listeners[0].transport_listener.socket.getsockname()[1]
                task_status.started()

    def stop(self) -> None:
        """Stop listening and drop every client."""
        if self._scope is not None:
            self._scope.cancel()

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        """One client: the WebSocket upgrade through trio-websocket's public server API, then its messages."""
        async with trio.open_nursery() as nursery:
            try:
                request = await wrap_server_stream(nursery, stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed):
                return
            self.requests.append(request)
            offered = [p for p in request.proposed_subprotocols if p in self.subprotocols]
            connection = await request.accept(subprotocol=offered[0] if offered else None)
            self._streams[id(connection)] = stream
            self.connections.append(connection)
            with contextlib.suppress(ConnectionClosed):
                while True:
                    self.received.append(await connection.get_message())
            # the connection's reader finishes the close handshake and ends with the TCP connection

    # -- waiting --------------------------------------------------------------------------------------------------
    async def wait_client(self, count: int = 1, timeout: float = DEFAULT_WAIT) -> WebSocketConnection:
        """Wait until ``count`` clients have connected; returns the latest."""
        await wait_until(lambda: len(self.connections) >= count, timeout, f"{count} client connection(s)")
        return self.connections[-1]

    async def wait_received(self, count: int, timeout: float = DEFAULT_WAIT) -> list[str | bytes]:
        """Wait until clients have sent ``count`` messages in all; returns them."""
        await wait_until(lambda: len(self.received) >= count, timeout, f"{count} received message(s)")
        return self.received

    async def _client(self) -> WebSocketConnection:
        """The latest client connection that is still open (a client that just reconnected may already see its
        handshake done before the server's side of it is listed: wait for it)."""
        await wait_until(lambda: self.connections and self.connections[-1].closed is None, DEFAULT_WAIT,
                         "an open client connection")
        return self.connections[-1]

    # -- scripting ------------------------------------------------------------------------------------------------
    async def send_text(self, *messages: str) -> None:
        connection = await self._client()
        for message in messages:
            await connection.send_message(message)

    async def send_binary(self, *messages: bytes) -> None:
        connection = await self._client()
        for message in messages:
            await connection.send_message(message)

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for the client's pong."""
        connection = await self._client()
        await connection.ping(payload)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the latest client connection with a close frame."""
        connection = await self._client()
        await connection.aclose(code, reason)

    async def drop(self) -> None:
        """Drop the latest client's TCP connection without a close frame (the client sees 1006)."""
        connection = await self._client()
        await trio.aclose_forcefully(self._streams[id(connection)])


@pytest.fixture
async def ws_server(nursery: trio.Nursery) -> AsyncIterator[ScriptedServer]:
    """A :class:`ScriptedServer` on 127.0.0.1, running for the test."""
    server = ScriptedServer()
    await nursery.start(server.run)
    yield server
    server.stop()


DATFactory = Callable[..., Awaitable[WebSocketDAT]]


@pytest.fixture
async def dat_factory(nursery: trio.Nursery, ws_server: ScriptedServer) -> AsyncIterator[DATFactory]:
    """``await dat_factory(**params)``: a running DAT connected to ``ws_server`` unless ``netaddress`` is given."""
    dats: list[WebSocketDAT] = []

    async def make(name: str | None = None, **params: Any) -> WebSocketDAT:
        params.setdefault("netaddress", ws_server.url)
        dat = WebSocketDAT(name, **params)
        await nursery.start(dat.run)
        dats.append(dat)
        return dat

    yield make
    for dat in dats:
        dat.stop()
