"""Live reloads of a DAT's ``.py`` callbacks files, made so that no edit can take a service down.

A reload runs the file in a worker thread for at most ``reloadtimeout`` seconds: the host's loader raises inside its
Python code once the budget is spent (:func:`wsdat_core.host.loading.run_within`), and a thread blocked inside C is
abandoned shortly after. Anything the file raises, ``SystemExit`` included, is a failed reload: one error line, the
previous callbacks go on. The DAT's cook waits for a reload in flight (the first message after an edit runs the new
code); other DATs never wait, and cancelling the DAT (SIGTERM) stops the wait at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import trio

from ..host.callbacks import Plugin
from ..model.errors import WsdatError
from .lifecycle import PluginLifecycle
from .reporter import Reporter

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["ABANDON_GRACE", "Reloader"]

#: Seconds past ``reloadtimeout`` before a load still running (blocked outside Python) is abandoned.
ABANDON_GRACE: Final = 1.0


class Reloader:
    """The reloads of one DAT; ``start_soon`` runs a reload in the DAT's nursery (RuntimeError when not running)."""

    def __init__(self, dat: WebSocketDAT, reporter: Reporter, plugins: PluginLifecycle,
                 start_soon: Callable[..., Any]) -> None:
        self.dat = dat
        self.reporter = reporter
        self.plugins = plugins
        self.start_soon = start_soon
        self._done: trio.Event | None = None  # set when the reload in flight has finished
        self._queued: list[str] = []  # asked for while one was in flight

    def before_cook(self) -> Awaitable[None] | None:
        """Before a cook: report problems of the files and start reloading edited ones (see
        :meth:`~wsdat_core.host.callbacks.CallbackHost.check_edits`); the wait for a reload in flight, if any."""
        if self._done is not None:
            return self._done.wait()
        dat = self.dat
        if not dat.host.edits.due() or not dat.par.value("reloadcallbacks"):
            return None  # the files are looked at every 0.1 s: per cook, this costs one clock reading
        check = dat.host.check_edits()
        for line in check.problems:
            self.reporter.error(line)
        self.reload(check.ready)
        return self._done.wait() if self._done is not None else None

    def reload_all(self) -> None:
        """The ``reload`` pulse: load every ``.py`` callbacks file again now."""
        self.reload([plugin.path for plugin in self.dat.host.plugins if plugin.path is not None])

    def reload(self, paths: Sequence[str]) -> None:
        """Load the callbacks files ``paths`` again: in a worker thread while the DAT runs (cooks wait for it), at
        once in this thread otherwise."""
        if not paths:
            return
        if self._done is not None:
            self._queued += [path for path in paths if path not in self._queued]
            return
        try:
            self.start_soon(self._reload_all, list(paths))
        except RuntimeError:  # not running: nothing else to keep going
            self._apply(paths, None)
            return
        self._done = trio.Event()

    async def _reload_all(self, paths: list[str]) -> None:
        try:
            while paths:
                await self._reload(paths)
                paths, self._queued = self._queued, []
        finally:
            done, self._done = self._done, None
            if done is not None:
                done.set()

    async def _reload(self, paths: Sequence[str]) -> None:
        dat = self.dat
        value = dat.par.value
        budget: float = value("reloadtimeout")
        token = trio.lowlevel.current_trio_token()

        def debug(line: str) -> None:  # the file's module-level debug(), from the worker thread
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(dat.monitor, f"debug: {line}", logging.WARNING)

        files: Mapping[object, Plugin] | None = None
        with trio.move_on_after(budget + ABANDON_GRACE):
            try:
                files = await trio.to_thread.run_sync(dat.host.load_files, paths, value("executeloc"),
                                                      value("fromop"), budget, debug, abandon_on_cancel=True)
            except Exception as exc:  # a reload never takes the DAT down
                self._failed(paths, str(exc) if isinstance(exc, WsdatError) else f"{type(exc).__name__}: {exc}")
                return
        if files is None:
            self._failed(paths, f"callbacks: {', '.join(paths)}: still running after {budget:g} s (reloadtimeout) "
                                "and blocked outside Python code: abandoned")
            return
        self._apply(paths, files)

    def _apply(self, paths: Sequence[str], files: Mapping[object, Plugin] | None) -> None:
        """Make the loaded files (or, without ``files``, the files loaded here) the running callbacks."""
        host, value = self.dat.host, self.dat.par.value
        try:
            configuration = host.prepare(value("callbacks"), value("executeloc"), value("fromop"), reload=paths,
                                         preloaded=files)
        except WsdatError as exc:
            self._failed(paths, str(exc))
            return
        host.edits.loaded(paths)
        self.plugins.exit_now(configuration.removed)
        added, removed = host.commit(configuration)
        self.plugins.changed(added, removed)
        self.reporter.monitor(f"callbacks reloaded: {', '.join(os.path.basename(path) for path in paths)}")

    def _failed(self, paths: Sequence[str], line: str) -> None:
        self.dat.host.edits.failed(paths)
        self.reporter.error(f"{line}; the previous callbacks go on")
