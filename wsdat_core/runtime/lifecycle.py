"""The life of a DAT's plugins: ``onStart`` when the run begins (or a plugin is added), ``onExit`` when it ends (or a
plugin is removed), and live editing: ``.py`` callbacks files changed on disk are loaded again before the next cook,
and a broken edit keeps the previous callbacks (one error line).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ..host.callbacks import PendingCall, Plugin, file_stamp
from ..model.errors import WsdatError
from .hookrunner import HookRunner
from .reporter import Reporter

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["PluginLifecycle"]

_EDIT_CHECK_EVERY: Final = 0.1  # seconds between looks at the callbacks files' mtime and size
_EDIT_SETTLE_NS: Final = 500_000_000  # a file is reloaded once its last change is this old (editors write in steps)


class PluginLifecycle:
    """Starts and stops the plugins of one DAT and reloads its edited callbacks files."""

    def __init__(self, dat: WebSocketDAT, runner: HookRunner, reporter: Reporter) -> None:
        self.dat = dat
        self.runner = runner
        self.reporter = reporter
        #: True between the start of the DAT's run and its end (plugins added meanwhile are started at once).
        self.running = False
        self._started: list[Plugin] = []
        self._next_edit_check = 0.0
        self._reload_failed: dict[str, tuple[int, int]] = {}

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

    # -- live editing --------------------------------------------------------------------------------------------
    def check_edits(self) -> None:
        """Before a cook: reload ``.py`` callbacks files changed on disk at least 0.5 s ago (a stat per file, at most
        every 0.1 s)."""
        now = time.monotonic()
        if now < self._next_edit_check or not self.dat.par.value("reloadcallbacks"):
            return
        self._next_edit_check = now + _EDIT_CHECK_EVERY
        wall = time.time_ns()
        ready = []
        for path in self.dat.host.changed_files():
            stamp = file_stamp(path)
            if stamp is None or self._reload_failed.get(path) == stamp:
                continue  # gone, or this very version failed already: wait for the next edit
            if wall - stamp[0] >= _EDIT_SETTLE_NS:
                ready.append(path)
        if ready:
            self.reload(ready)

    def reload_all(self) -> None:
        """The ``reload`` pulse: load every ``.py`` callbacks file again now."""
        self.reload([plugin.path for plugin in self.dat.host.plugins if plugin.path is not None])

    def reload(self, paths: Sequence[str]) -> None:
        """Load the callbacks files ``paths`` again; on failure the previous callbacks go on (one error line)."""
        if not paths:
            return
        value = self.dat.par.value
        host = self.dat.host
        try:
            configuration = host.prepare(value("callbacks"), value("executeloc"), value("fromop"), reload=paths)
        except WsdatError as exc:
            for path in paths:
                stamp = file_stamp(path)
                if stamp is not None:
                    self._reload_failed[path] = stamp
            self.reporter.error(f"{exc}; the previous callbacks go on")
            return
        for path in paths:
            self._reload_failed.pop(path, None)
        self.exit_now(configuration.removed)
        added, removed = host.commit(configuration)
        self.changed(added, removed)
        self.reporter.monitor(f"callbacks reloaded: {', '.join(os.path.basename(path) for path in paths)}")
