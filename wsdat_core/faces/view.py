"""The live terminal view: TD's node viewer in a terminal.

A table of the newest rows that scrolls as messages arrive, under a status line of the info channels. Remote text is
escaped (:func:`~.output.escape_control`) and shown as plain text, never as rich markup. The view redraws
from a trio task (no refresh thread reads the table while the DAT writes it).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal

import trio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..model.sanitize import escape_control
from ..model.table import hex_bytes

if TYPE_CHECKING:
    from ..runtime.dat import WebSocketDAT

__all__ = ["LiveView"]

_STATE_STYLE = {"open": "bold green", "connecting": "bold yellow", "closing": "yellow", "reconnecting": "bold yellow",
                "closed": "bold red"}


class LiveView:
    """Renders a DAT's newest rows and info channels; :meth:`run` keeps a ``rich.live.Live`` display up to date."""

    def __init__(self, dat: WebSocketDAT, console: Console | None = None, *, wrap: bool = False,
                 refresh_per_second: float = 8.0) -> None:
        self.dat = dat
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
        line = Text()
        line.append(f" {info.state} ", style=_STATE_STYLE.get(info.state, "bold"))
        line.append(f" {self.dat.par.endpoint.url}  ")
        line.append(f"rows {info.num_rows - 1}  {self.rate():.1f} msg/s  cooks {info.total_cooks}  "
                    f"cook {info.cook_time:.3f} ms  ")
        line.append(f"errors {info.errors}", style="bold red" if info.errors else "")
        line.append(f"  warnings {info.warnings}", style="yellow" if info.warnings else "")
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
        with Live(self.render(), console=self.console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    self.sample(trio.current_time())
                    live.update(self.render(), refresh=True)
                    await trio.sleep(1 / self.refresh_per_second)
            finally:  # leave the final state on screen
                live.update(self.render(), refresh=True)
