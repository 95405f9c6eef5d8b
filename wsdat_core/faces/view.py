"""The live terminal view: TD's node viewer in a terminal.

A table of the newest rows that scrolls as messages arrive, under a status line of the info channels. Remote text is
escaped (:func:`~.output.escape_control`) and shown as plain text, never as rich markup. The view redraws
from a trio task (no refresh thread reads the table while the DAT writes it).

Lines typed on the terminal are still sent, but the terminal does not echo them while the table is up: an echoed
line would scroll the display and leave a copy of its header behind at each Enter (the conversation view,
``--view chat``, is the one for typing).
"""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, TextIO

import trio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..model.sanitize import escape_control
from ..model.table import hex_bytes
from .status import STATE_STYLES, state_text

if TYPE_CHECKING:
    from ..runtime.dat import WebSocketDAT

__all__ = ["LiveView"]


class LiveView:
    """Renders a DAT's newest rows and info channels; :meth:`run` keeps a ``rich.live.Live`` display up to date."""

    def __init__(self, dat: WebSocketDAT, console: Console | None = None, *, wrap: bool = False,
                 refresh_per_second: float = 8.0, quiet_input: bool = False) -> None:
        self.dat = dat
        #: Whether to turn the terminal's echo off on stdin while the table is up (lines typed are sent).
        self.quiet_input = quiet_input
        self.console = console or Console()
        self.wrap = wrap
        self.refresh_per_second = refresh_per_second
        self._samples: deque[tuple[float, int]] = deque(maxlen=int(refresh_per_second * 2) + 2)

    def rate(self) -> float:
        """Messages per second over the last couple of seconds of samples."""
        if len(self._samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def sample(self, now: float) -> None:
        self._samples.append((now, self.dat.info.messages_received))

    def status(self) -> Text:
        info = self.dat.info
        # one line, cut at the terminal's width: the state and counters first, the URL (which can be long) last
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {state_text(info)} ", style=STATE_STYLES.get(info.state, "bold"))
        line.append(f"  rows {info.num_rows - 1}  {self.rate():.1f} msg/s  sent {info.messages_sent}  ")
        line.append(f"errors {info.errors}", style="bold red" if info.errors else "")
        line.append(f"  warnings {info.warnings}", style="yellow" if info.warnings else "")
        line.append(f"  cooks {info.total_cooks}  cook {info.cook_time:.3f} ms  {self.dat.par.endpoint.url}")
        return line

    def table(self, height: int) -> Table:
        dat = self.dat
        with_bytes = dat.table.bytes
        grid = Table(expand=True, show_edge=False, pad_edge=False, header_style="bold")
        overflow: Literal["fold", "ellipsis"] = "fold" if self.wrap else "ellipsis"
        grid.add_column("row", justify="right", no_wrap=True, style="dim")
        grid.add_column("message", overflow=overflow, no_wrap=not self.wrap, ratio=3)
        if with_bytes:
            grid.add_column("bytes", overflow=overflow, no_wrap=not self.wrap, ratio=2, style="cyan")
        messages = dat.table.messages
        shown = max(1, height)
        first = len(messages) - min(shown, len(messages))
        for index in range(first, len(messages)):  # deque indexing is cheap near the end
            message = messages[index]
            text = message if isinstance(message, str) else message.decode("utf-8", "backslashreplace")
            cells = [Text(str(index + 1)), Text(escape_control(text))]
            if with_bytes:
                cells.append(Text(hex_bytes(message)))
            grid.add_row(*cells)
        return grid

    def render(self) -> RenderableType:
        height = self.console.size.height - 4
        return Group(self.table(height), self.status())

    async def run(self) -> None:
        """Redraw until cancelled."""
        with _echo_off(sys.stdin if self.quiet_input else None), \
                Live(self.render(), console=self.console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    self.sample(trio.current_time())
                    live.update(self.render(), refresh=True)
                    await trio.sleep(1 / self.refresh_per_second)
            finally:  # leave the final state on screen
                live.update(self.render(), refresh=True)


@contextlib.contextmanager
def _echo_off(stream: TextIO | None) -> Iterator[None]:
    """The terminal behind ``stream`` does not echo while inside (lines are still read whole); restored after."""
    try:
        import termios
    except ImportError:  # not a POSIX system: nothing to change
        yield
        return
    try:
        descriptor = stream.fileno() if stream is not None else -1
        saved = termios.tcgetattr(descriptor)
    except (termios.error, OSError, ValueError, AttributeError):  # not a terminal: nothing to change
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSANOW, saved)
