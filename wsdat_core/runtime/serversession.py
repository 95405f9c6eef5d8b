"""The part of a Web Server DAT that runs under trio: listening, its clients, plugins, parameter changes.

:class:`~.webserver.WebServerDAT` is the façade and owns one :class:`ServerSession`. Everything the session starts
lives in the nursery of :meth:`ServerSession.run`: the hook runner, the listening task, one task per connection (its
front door, :mod:`.httpfront`, and once upgraded its :class:`~.clientlink.ClientLink`), ``async`` hooks and tasks
plugins start. Cancelling it stops it all: clients are told ``1001 going away``, then ``onServerStop`` and every
plugin's ``onExit`` run.

While listening, a change of ``active``, ``restart``, ``address``, ``port``, ``secure``, ``certificate`` or
``privatekey`` closes the clients (``1012 service restart``, or ``1001`` when ``active`` went off), stops listening
and listens again with the new values. A port that cannot be listened on is one error line; the server then waits
for a parameter change (:attr:`stalled`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast

import trio

from ..model.client import Client
from ..model.errors import ConnectError, ConnectionClosedError, TLSError
from ..model.events import EventKind
from ..model.params import Effect
from .clientlink import ClientLink, encode_plain
from .eventbus import EventBus
from .hookrunner import HookRunner
from .httpfront import serve_connection
from .lifecycle import EXIT_TIMEOUT, PluginLifecycle
from .reloading import Reloader
from .reporter import Reporter
from .session import ASYNC_HOOK_LIMIT

if TYPE_CHECKING:
    from .dat import WebSocketDAT
    from .webserver import WebServerDAT

__all__ = ["ServerSession"]

#: How long clients get to answer the close when the server stops or restarts.
CLOSE_TIMEOUT: Final = 2.0
_RESTART: Final = (1012, "service restart")
_GOING_AWAY: Final = (1001, "going away")


class ServerSession:
    """Runs one Web Server DAT. Created by it; use the server's methods, not these.

    The WebSocket DAT's parts report (:class:`~.reporter.Reporter`), run the plugins' lives
    (:class:`~.lifecycle.PluginLifecycle`: ``onStart``/``onExit``) and reload edited callbacks files
    (:class:`~.reloading.Reloader`).
    """

    def __init__(self, dat: WebServerDAT, async_hook_limit: int = ASYNC_HOOK_LIMIT) -> None:
        self.dat = dat
        self.bus = EventBus()
        self.runner = HookRunner(async_hook_limit, lambda: self.reporter.slots_busy())
        shared = cast("WebSocketDAT", dat)  # the parts read what both kinds of DAT have (name, info, host, par ...)
        self.reporter = Reporter(shared, self.bus, self.runner)
        self.plugins = PluginLifecycle(shared, self.runner, self.reporter)
        self.reloader = Reloader(shared, self.reporter, self.plugins, self.start_soon)
        self.monitor, self.warn, self.error = self.reporter.monitor, self.reporter.warn, self.reporter.error
        self.hook_failed = self.reporter.hook_failed
        #: The open WebSocket clients, in the order they connected.
        self.links: dict[str, ClientLink] = {}
        #: Connections between accept and the end of their HTTP request or WebSocket handshake.
        self.pending_handshakes = 0
        self.stalled = False
        self._next_id = 0
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._changed = trio.Event()
        self._state_changed = trio.Event()
        self._serving: trio.CancelScope | None = None
        self._unknown_warned = False
        self._stop_requested = False

    # -- state ------------------------------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.dat.info.state = state
        self._state_changed.set()
        self._state_changed = trio.Event()

    async def wait_listening(self, timeout: float | None = None) -> None:
        with trio.move_on_after(math.inf if timeout is None else timeout):
            while self.dat.info.state != "listening":
                if self.stalled:
                    raise ConnectError(self.dat.last_error or f"{self.dat.name}: not listening")
                await self._state_changed.wait()
            return
        raise ConnectError(f"{self.dat.name}: not listening after {timeout:g} s ({self.dat.info.state})")

    # -- parameters -------------------------------------------------------------------------------------------------
    def on_par_change(self, name: str, old: Any, new: Any) -> None:
        effect = self.dat.par.specs[name].effect
        if effect is Effect.TABLE:
            if self.dat.par.specs[name].is_pulse:
                getattr(self.dat.table, name)()
            else:
                setattr(self.dat.table, name, new)
        elif effect is Effect.ACTIVE or effect is Effect.RECONNECT:
            self.stalled = False  # a change: the next attempt is under way
            self._changed.set()
            if self._serving is not None:
                self._serving.cancel()
        elif effect is Effect.KEEPALIVE:
            for link in self.links.values():
                link.keepalive_changed()
        elif effect is Effect.SEND:
            for link in self.links.values():
                link.queue.byte_limit = new
        elif effect is Effect.RELOAD:
            self.reloader.reload_all()

    async def before_event(self) -> None:
        """Before a client's read or an HTTP request is handled: edited callbacks files are loaded again (and a
        reload in flight waited for), so the first event after an edit runs the new code."""
        waiting = self.reloader.before_cook()
        if waiting is not None:
            await waiting

    # -- clients ----------------------------------------------------------------------------------------------------
    def new_client(self, host: str, port: int, uri: str) -> Client:
        self._next_id += 1
        return Client(host, port, self._next_id, uri)

    def find(self, client: Client | str, what: str) -> ClientLink | None:
        """The open link of ``client``; None (one warning line, once until a client is found again) when there is
        none, as TD's methods answer a missing client."""
        link = self.links.get(client)
        if link is None and not self._unknown_warned:
            self._unknown_warned = True
            self.warn(f"{what}: no open WebSocket client {str(client)!r} (further refusals are not reported until a "
                      "send succeeds)")
        elif link is not None:
            self._unknown_warned = False
        return link

    def send(self, client: Client | str, what: str, kind: EventKind, payload: Any, size: int) -> int:
        link = self.find(client, what)
        return -1 if link is None else link.send(kind, payload, size)

    async def send_wait(self, client: Client | str, kind: EventKind, payload: Any, size: int) -> None:
        link = self.links.get(client)
        if link is None:
            raise ConnectionClosedError(f"{self.dat.name}: no open WebSocket client {str(client)!r}")
        await link.send_wait(kind, payload, size)

    def broadcast(self, kind: EventKind, payload: Any, size: int) -> int:
        """Queue one message to every open client; the frame is encoded once for every client without
        compression. Returns the number of clients it was queued to."""
        links = list(self.links.values())
        frame = encode_plain(kind, payload) if any(not link.compressed for link in links) else b""
        return sum(link.send_encoded(kind, payload, size, frame) for link in links)

    def close_client(self, client: Client | str, code: int, reason: str) -> None:
        link = self.links.get(client)
        if link is not None:
            link.close(code, reason)

    async def close_client_wait(self, client: Client | str, code: int, reason: str) -> int:
        link = self.links.get(client)
        if link is None:
            return 1006
        return await link.close_wait(code, reason)

    # -- running ----------------------------------------------------------------------------------------------------
    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any, name: object = None) -> None:
        if self._nursery is None:
            raise RuntimeError(f"{self.dat.name} is not running: start_soon needs its run (await "
                               "nursery.start(server.run))")
        self._nursery.start_soon(function, *args, name=name)

    async def run(self, task_status: trio.TaskStatus[None]) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"{self.dat.name} is already running")
        self.dat.info.clock.restart()
        self._token = trio.lowlevel.current_trio_token()
        self._stop_requested = False
        self.plugins.running = True
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.runner.run)
                await self.plugins.start()
                await self._supervise(task_status)
        finally:
            self._nursery = None
            self._set_state("closed")
            await self.plugins.wind_down("the server")
            self.bus.close_all()

    def stop(self) -> None:
        """Stop the run (safe from hooks, other threads and signal handlers: flags and the trio token only)."""
        nursery, token = self._nursery, self._token
        if nursery is not None and token is not None:
            self._stop_requested = True
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(nursery.cancel_scope.cancel)

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> None:
        started = False
        while True:
            self._changed = changed = trio.Event()
            if self.dat.par.value("active"):
                await self._listen_and_serve(task_status if not started else trio.TASK_STATUS_IGNORED)
            else:
                self._set_state("closed")
                if not started:
                    task_status.started()
            started = True
            if not changed.is_set():
                await changed.wait()

    async def _listen_and_serve(self, task_status: trio.TaskStatus[None]) -> None:
        """Listen until a parameter change; report a failure to listen and wait for a change."""
        self._set_state("starting")
        try:
            listening = await self._open_listeners()
        except (OSError, TLSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.stalled = True
            self.error(f"cannot listen on {self.dat.par.endpoint.netloc}: {why}; change a parameter to try again")
            self._set_state("closed")
            task_status.started()
            try:
                await self._changed.wait()
            finally:
                self.stalled = False
            return
        listeners, port = listening
        self.dat.par.bind(port)
        url = self.dat.par.endpoint.url
        started = False
        try:
            async with trio.open_nursery() as connections:  # front doors and clients: they outlive the accepting
                try:
                    async with trio.open_nursery() as accepting:
                        await accepting.start(functools.partial(trio.serve_listeners, self._accepted, listeners,
                                                                handler_nursery=connections))
                        self._set_state("listening")
                        self.monitor(f"listening on {url}")
                        started = True
                        await self._call_waiting("onServerStart")
                        task_status.started()
                        with trio.CancelScope() as serving:
                            self._serving = serving
                            if self._changed.is_set():
                                serving.cancel()
                            await trio.sleep_forever()
                        accepting.cancel_scope.cancel()  # stop accepting, then close the clients
                finally:
                    self._serving = None
                    with trio.CancelScope(shield=True):
                        await self._close_all(*(_RESTART if self._why_stopping() == "restarting" else _GOING_AWAY))
                    connections.cancel_scope.cancel()
        finally:
            self._set_state("closed")
            if started:
                self.monitor(f"stopped listening on {url} ({self._why_stopping()})")
                with trio.CancelScope(shield=True) as shield:
                    shield.deadline = trio.current_time() + EXIT_TIMEOUT
                    for call in self.dat.host.call("onServerStop"):
                        await call.run()

    def _why_stopping(self) -> str:
        if self._stop_requested or not self._changed.is_set():  # stop(), or its run was cancelled
            return "the server stopped"
        return "restarting" if self.dat.par.value("active") else "Active is off"

    async def _open_listeners(self) -> tuple[list[trio.abc.Listener[Any]], int]:
        """The listeners (TLS ones while secure) and the port they listen on."""
        par = self.dat.par
        tls = _server_tls(par.value("certificate"), par.value("privatekey")) if par.value("secure") else None
        tcp = await trio.open_tcp_listeners(par.value("port"), host=par.value("address"))
        port: int = tcp[0].socket.getsockname()[1]
        if tls is None:
            return list(tcp), port
        return [trio.SSLListener(listener, tls, https_compatible=True) for listener in tcp], port

    async def _accepted(self, stream: trio.abc.Stream) -> None:
        await serve_connection(self, stream)

    async def _close_all(self, code: int, reason: str) -> None:
        """Close every client (at most :data:`CLOSE_TIMEOUT` for all), e.g. when the server stops or restarts."""
        links = list(self.links.values())
        if not links:
            return
        with trio.move_on_after(CLOSE_TIMEOUT):
            for link in links:
                link.close(code, reason)
            for link in links:
                await link.finished.wait()

    async def _call_waiting(self, hook: str) -> None:
        pending = self.dat.host.call(hook)
        if pending:
            self.runner.submit(pending)
            await self.runner.wait_started()


def _server_tls(certificate: str | None, privatekey: str | None) -> ssl.SSLContext:
    """A server TLS context with the certificate (and key); :class:`TLSError` when the files cannot be used."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate or "", privatekey or None)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the certificate {certificate!r} / private key {privatekey!r}: {exc}") from exc
    context.set_alpn_protocols(["http/1.1"])
    return context
