"""The life of a DAT's plugins: ``onStart`` when the run begins (or a plugin is added), ``onExit`` when it ends (or a
plugin is removed). Live editing is :mod:`~wsdat_core.runtime.reloading`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import trio

from ..host.callbacks import PendingCall, Plugin
from .hookrunner import HookRunner
from .reporter import Reporter

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["EXIT_TIMEOUT", "PluginLifecycle"]

#: How long ``onExit`` hooks (and the other hooks of a DAT's way out) may take when its run ends.
EXIT_TIMEOUT: Final = 5.0



class PluginLifecycle:
    """Starts and stops the plugins of one DAT."""

    def __init__(self, dat: WebSocketDAT, runner: HookRunner, reporter: Reporter) -> None:
        self.dat = dat
        self.runner = runner
        self.reporter = reporter
        #: True between the start of the DAT's run and its end (plugins added meanwhile are started at once).
        self.running = False
        self._started: list[Plugin] = []

    # -- start and exit ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """``onStart`` of every plugin (async ones awaited: the DAT connects once they returned)."""
        plugins = self.dat.host.plugins
        self._started = plugins
        for call in self.dat.host.call_plugins("onStart", plugins):
            await call.run()

    async def exit(self) -> None:
        """``onExit`` of every started plugin, awaited."""
        plugins, self._started = self._started, []
        await self._run_now(self.dat.host.call_plugins("onExit", plugins))

    async def wind_down(self, who: str) -> None:
        """The run ended: ``onExit`` of every started plugin (shielded, at most :data:`EXIT_TIMEOUT`), then one
        warning for async hook calls that never got a slot (``who`` stopped)."""
        with trio.CancelScope(shield=True) as shield:
            shield.deadline = trio.current_time() + EXIT_TIMEOUT
            await self.exit()
        self.running = False
        left = self.runner.discard()
        if left:
            self.reporter.warn(f"{len(left)} async callback call(s) not run: {who} stopped "
                               f"({', '.join(sorted({call.hook for call in left}))})")

    @staticmethod
    async def _run_now(calls: Sequence[PendingCall]) -> None:
        for call in calls:
            await call.run()

    def changed(self, added: Sequence[Plugin], removed: Sequence[Plugin]) -> None:
        """``callbacks`` changed while running: stop the removed plugins (already out of the calls), start the new."""
        if not self.running:
            return
        started = [p for p in self._started if all(p.obj is not r.obj for r in removed)]
        self._started = [*started, *added]
        self.runner.submit(self.dat.host.call_plugins("onStart", added))

    def exit_now(self, removed: Sequence[Plugin]) -> None:
        """Call ``onExit`` of ``removed`` while their hooks are still in force (before a new configuration)."""
        if self.running:
            self.runner.submit(self.dat.host.call_plugins("onExit", removed))
