"""The reporter: how a DAT tells what happens, in one place. Status lines go to the ``wsdat`` logger (the text
console), to ``onMonitorMessage`` hooks and to event subscribers; errors and warnings are counted in the ``errors``
and ``warnings`` info channels; a raising hook is one error line.

Lines carry peer text (close reasons, headers) and user text (URLs): control characters are escaped and URL
passwords masked here, once, for every face.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..model.address import Endpoint
from ..model.closing import ConnectionEnd, describe
from ..model.events import Connected, Disconnected, Monitor
from ..model.proxy import ProxySpec
from ..model.sanitize import clean_line
from ..model.secrets import mask_text
from .console import log
from .eventbus import EventBus
from .hookrunner import HookRunner

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["Reporter"]


class Reporter:
    """The status lines, warnings and errors of one DAT."""

    def __init__(self, dat: WebSocketDAT, bus: EventBus, runner: HookRunner) -> None:
        self.dat = dat
        self.bus = bus
        self.runner = runner
        self._in_monitor = False

    def monitor(self, message: str, level: int = logging.INFO) -> None:
        """A status line: to the ``wsdat`` logger, to ``onMonitorMessage`` and to event subscribers."""
        message = clean_line(mask_text(message))
        log.log(level, "%s: %s", self.dat.name, message)
        self._deliver(message)

    def _deliver(self, message: str) -> None:
        if self.bus.subscribers:
            self.bus.publish(Monitor(message))
        if self._in_monitor:  # a monitor line raised inside onMonitorMessage is only logged
            return
        self._in_monitor = True
        try:
            pending = self.dat.host.call("onMonitorMessage", message)
        finally:
            self._in_monitor = False
        self.runner.submit(pending)

    def error(self, message: str) -> None:
        """An error line, counted in the ``errors`` channel and kept as ``dat.last_error``."""
        self.dat.info.errors += 1
        self.dat.last_error = clean_line(mask_text(message))
        self.monitor(message, logging.ERROR)

    def warn(self, message: str) -> None:
        """A warning line, counted in the ``warnings`` channel."""
        self.dat.info.warnings += 1
        self.monitor(message, logging.WARNING)

    def hook_failed(self, hook: str, plugin: str, exc: BaseException) -> None:
        """A hook raised: one error line (the traceback goes to the logger, shown with ``-v``)."""
        info = self.dat.info
        info.errors += 1
        info.hook_errors += 1
        message = clean_line(mask_text(self.dat.host.error_line(hook, plugin, exc)))
        self.dat.last_error = message
        log.error("%s: %s", self.dat.name, message, exc_info=exc)
        if hook != "onMonitorMessage":
            self._deliver(message)

    def connected(self, endpoint: Endpoint, subprotocol: str | None, extensions: str, proxy: ProxySpec | None
                  ) -> None:
        """The connect line (with what was negotiated), the :class:`Connected` event, the insecure-TLS warning."""
        details = [f"subprotocol {subprotocol}"] if subprotocol else []
        details += [extensions] if extensions else []
        details += [f"via proxy {proxy.url}"] if proxy else []
        self.monitor(f"connected to {endpoint.url}" + (f" ({'; '.join(details)})" if details else ""))
        if self.bus.subscribers:
            self.bus.publish(Connected(endpoint.url, subprotocol, extensions))
        if self.dat.par.value("insecure") and endpoint.secure:
            self.warn("TLS certificate and host name checks are OFF (insecure)")

    def ended(self, end: ConnectionEnd, why: str) -> str:
        """How the connection ended: one line (an error when :attr:`ConnectionEnd.is_error`), the
        :class:`Disconnected` event; returns the line."""
        line = describe(end, why)
        if end.is_error:
            self.error(line)
        else:
            self.monitor(line)
        if self.bus.subscribers:
            self.bus.publish(Disconnected(end.code, end.reason, line if end.is_error else None))
        return line

    def slots_busy(self) -> None:
        self.warn(f"all {self.runner.limit} async callback slots are busy: reading paused until one finishes "
                  "(backpressure)")
