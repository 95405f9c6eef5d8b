"""The session: the part of a DAT that runs under trio, made of named parts.

:class:`~.dat.WebSocketDAT` is TouchDesigner's façade and owns one :class:`Session`, which owns:

* the :class:`~.supervisor.Supervisor`: connect, serve, reconnect with backoff;
* the :class:`~.sender.Sender`: the send queue, its task, automatic pongs;
* the :class:`~.cook.Cook`: batch -> table, hooks, events;
* the :class:`~.reporter.Reporter`: monitor lines, warnings, errors, hook errors;
* the :class:`~.lifecycle.PluginLifecycle`: ``onStart``/``onExit``; the :class:`~.reloading.Reloader`: live edits;
* the :class:`~.hookrunner.HookRunner` (async hooks) and the :class:`~.eventbus.EventBus` (``dat.events()``).

Everything the session starts lives in the nursery of :meth:`Session.run`: the hook runner, the connection's tasks
(sender, keepalive), ``async`` hooks and tasks plugins start with ``dat.start_soon``. Cancelling it stops it all; the
server is told ``1001 going away`` on the way out, and every plugin gets ``onExit``.

Parameter changes reach the session through one dispatcher, :meth:`Session.on_par_change`, which looks up each
parameter's declared :class:`~wsdat_core.model.params.Effect`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import trio

from ..model.closing import ABNORMAL
from ..model.events import Connected, Disconnected, EventKind, Received
from ..model.params import SPECS, Effect
from .cook import Cook
from .eventbus import EventBus
from .hookrunner import HookRunner
from .lifecycle import EXIT_TIMEOUT, PluginLifecycle
from .reloading import Reloader
from .reporter import Reporter
from .sender import Sender
from .supervisor import CLOSE_TIMEOUT, Supervisor

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["ASYNC_HOOK_LIMIT", "CLOSE_TIMEOUT", "EXIT_TIMEOUT", "Session"]

#: Most ``async def`` hook calls running at once per DAT; beyond it the DAT stops reading (backpressure).
ASYNC_HOOK_LIMIT: Final = 16
_RECEIVED_KINDS: Final = frozenset({EventKind.TEXT, EventKind.BINARY, EventKind.PING, EventKind.PONG})
_RECEIVED_LABELS: Final = {kind.label: kind for kind in (EventKind.TEXT, EventKind.BINARY, EventKind.PING,
                                                          EventKind.PONG)}


class Session:
    """Runs one DAT. Created by the DAT; use the DAT's methods, not these."""

    def __init__(self, dat: WebSocketDAT, async_hook_limit: int = ASYNC_HOOK_LIMIT) -> None:
        self.dat = dat
        self.bus = EventBus()
        self.runner = HookRunner(async_hook_limit, lambda: self.reporter.slots_busy())
        self.reporter = Reporter(dat, self.bus, self.runner)
        self.sender = Sender(dat, self.reporter)
        self.plugins = PluginLifecycle(dat, self.runner, self.reporter)
        self.cook = Cook(dat, self.runner, self.bus, self.sender.answer_ping, self.reporter.warn)
        self.reloader = Reloader(dat, self.reporter, self.plugins, self.start_soon)
        self.cook.before_cook = self.reloader.before_cook
        self.cook.active = dat.par.value("active")
        self.sender.on_pong = self.cook.pong_sent
        self.supervisor = Supervisor(dat, self.cook, self.sender, self.runner, self.reporter)
        self._effects: dict[Effect, Callable[[str, Any], None]] = {
            Effect.READ: lambda name, new: None,
            Effect.HOST: lambda name, new: None,  # loaded by the DAT's check, before the change is committed
            Effect.ACTIVE: self._reconnect,
            Effect.RECONNECT: self._reconnect,
            Effect.TABLE: self._table,
            Effect.KEEPALIVE: lambda name, new: self.supervisor.set_keepalive(),
            Effect.SEND: lambda name, new: self.sender.set_limits(),
            Effect.RELOAD: lambda name, new: self.reloader.reload_all(),
        }
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None

    # -- the parts' faces, as the DAT uses them ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.supervisor.connected

    @property
    def running(self) -> bool:
        """From the start of :meth:`run` until it returns (its plugins' ``onExit`` included)."""
        return self.supervisor.running

    @property
    def stalled(self) -> bool:
        return self.supervisor.stalled

    def monitor(self, message: str, level: int = logging.INFO) -> None:
        self.reporter.monitor(message, level)

    def warn(self, message: str) -> None:
        self.reporter.warn(message)

    def hook_failed(self, hook: str, plugin: str, exc: BaseException) -> None:
        self.reporter.hook_failed(hook, plugin, exc)

    def send(self, what: str, kind: EventKind, payload: Any, size: int) -> int:
        return self.sender.send(what, kind, payload, size)

    async def send_wait(self, kind: EventKind, payload: Any, size: int, written: bool = False) -> None:
        await self.sender.send_wait(kind, payload, size, written)

    async def close(self, code: int, reason: str) -> int:
        return await self.supervisor.close(code, reason)

    async def wait_connected(self, timeout: float | None = None) -> None:
        await self.supervisor.wait_connected(timeout)

    async def wait_stopped(self) -> None:
        await self.supervisor.wait_stopped()

    # -- parameters: the one dispatcher --------------------------------------------------------------------------
    def on_par_change(self, name: str, old: Any, new: Any) -> None:
        """Apply the declared effect of parameter ``name`` (see :class:`~wsdat_core.model.params.Effect`)."""
        self._effects[SPECS[name].effect](name, new)

    def _reconnect(self, name: str, new: Any) -> None:
        self.cook.active = self.dat.par.value("active") and not self.supervisor.stopping
        self.supervisor.wake()

    def _table(self, name: str, new: Any) -> None:
        if SPECS[name].is_pulse:
            getattr(self.dat.table, name)()
        else:
            setattr(self.dat.table, name, new)

    # -- running -------------------------------------------------------------------------------------------------
    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any, name: object = None) -> None:
        if self._nursery is None:
            raise RuntimeError(f"{self.dat.name} is not running: start_soon needs the DAT's run (await "
                               "nursery.start(dat.run))")
        self._nursery.start_soon(function, *args, name=name)

    async def run(self, task_status: trio.TaskStatus[None], *, offline: bool = False) -> None:
        if self._nursery is not None:
            raise RuntimeError(f"{self.dat.name} is already running")
        supervisor = self.supervisor
        self.dat.info.clock.restart()
        self._token = trio.lowlevel.current_trio_token()
        supervisor.stopping = False
        supervisor.running = self.plugins.running = True
        self.cook.active = self.dat.par.value("active")
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.runner.run)
                supervisor.notify()
                await self.plugins.start()
                if offline:
                    task_status.started()
                    await trio.sleep_forever()
                await supervisor.run(task_status)
        finally:
            self._nursery = None
            supervisor.set_state("closed")
            await self.plugins.wind_down("the DAT")
            self.bus.close_all()
            supervisor.running = False
            supervisor.notify()

    def stop(self) -> None:
        """Stop the run: the cook stops after the message in hand, then the nursery is cancelled. Safe to call from
        a hook, another thread or a signal handler (it only sets flags and uses the trio token)."""
        nursery, token = self._nursery, self._token
        if nursery is None or token is None:
            return
        self.supervisor.stopping = True
        self.cook.active = False
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(nursery.cancel_scope.cancel)

    # -- offline -------------------------------------------------------------------------------------------------
    async def deliver(self, events: Sequence[tuple[str, Any]], each: Callable[[], object] | None = None) -> None:
        """Process events as if a server had sent them (see :meth:`WebSocketDAT.deliver`): received frames in a row
        are cooked as one batch."""
        batch: list[Received] = []
        info, supervisor, bus = self.dat.info, self.supervisor, self.bus
        for label, payload in events:
            kind = _RECEIVED_LABELS.get(label)  # the common labels without a lookup (TEXT is 0: no `or` here)
            if kind is None:
                kind = EventKind.from_label(label)
            if kind in _RECEIVED_KINDS:
                if batch and batch[-1].kind is kind:
                    batch[-1].payloads.append(payload)
                else:
                    batch.append(Received(kind, [payload]))
                continue
            if batch:
                await self.cook.cook(batch, each)
                batch = []
            if kind is EventKind.CONNECT:
                info.connects += 1
                supervisor.set_state("open")
                if bus.subscribers:
                    bus.publish(Connected(str(payload or ""), None))
                await supervisor.call_waiting("onConnect")
            elif kind is EventKind.DISCONNECT:
                info.disconnects += 1
                supervisor.set_state("closed")
                if bus.subscribers:
                    bus.publish(Disconnected(ABNORMAL if payload is None else int(payload)))
                await supervisor.call_waiting("onDisconnect")
            else:
                self.reporter.monitor(str(payload))
        if batch:
            await self.cook.cook(batch, each)
