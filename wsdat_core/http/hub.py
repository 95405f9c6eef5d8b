"""What the HTTP side knows of a service's DATs, gathered without ever slowing a DAT down.

``dat.events()`` subscriptions apply backpressure by design, so browsers never hold one. Each DAT has exactly one
internal consumer (:meth:`Hub.consume`) whose loop does no I/O: it appends the event to its :class:`Panel` (two rings
of bounded length: the last rows and the last monitor lines, each entry numbered) and wakes the pages. Each page
(:class:`PageView`) keeps, per DAT, the number of the last row and line it was sent; when it wakes it sends what is
newer. A page that falls behind (a slow or stuck browser, whose writes block on its own socket) finds that rows it
never got have left the ring: it is told how many (``dropped``), and shows them as missing. Nothing a browser does
reaches a DAT.

Info channels and state are read from the DAT when a page is written to (at most a few times a second), not queued.
Pure apart from trio's parking lot: no sockets.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import trio

from ..model.events import BinaryReceived, Event, Monitor, TextReceived
from ..model.sanitize import clean_line
from ..model.secrets import mask_text
from ..model.servertable import tagged
from ..model.table import hex_bytes

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..runtime.dat import WebSocketDAT
    from ..runtime.webserver import WebServerDAT

    Operator: TypeAlias = WebSocketDAT | WebServerDAT

__all__ = ["Hub", "PageView", "Panel", "first_snapshot", "kind_of", "page_text"]

#: Events the consumer may hold before the DAT waits for it; it never awaits anything but the next event, so this is
#: only reached when the whole process is starved.
EVENT_BUFFER: Final = 10_000
#: The longest message text a page is sent (the rest is summarised): a 16 MB message must not reach a browser whole.
PAGE_TEXT_LIMIT: Final = 2000


def page_text(text: str, limit: int = PAGE_TEXT_LIMIT) -> str:
    """``text`` as the page shows it: control characters (escape sequences, BEL, bidi overrides) as visible escapes,
    line breaks kept, and at most ``limit`` characters."""
    more = len(text) - limit
    if more > 0:
        text = text[:limit]
    shown = "\n".join(clean_line(part) for part in text.split("\n"))
    return shown + f"\u2026 ({more} more characters)" if more > 0 else shown


def kind_of(dat: Operator) -> str:
    """``server`` for a Web Server DAT, ``dat`` for a WebSocket DAT."""
    return "server" if hasattr(dat, "broadcastText") else "dat"


@dataclass
class Panel:
    """One DAT as pages show it: its last rows and monitor lines, each numbered from 1 in arrival order."""

    dat: Operator
    rows: deque[tuple[int, str | bytes]]
    lines: deque[tuple[int, float, str]]
    row_seq: int = 0
    line_seq: int = 0
    #: Why the service stopped this DAT (an internal error in its run), while it waits to be restarted.
    failure: str | None = None

    @property
    def name(self) -> str:
        return self.dat.name

    def take(self, event: Event) -> None:
        """Record one event (called for every event of the DAT: constant time, no I/O)."""
        if isinstance(event, TextReceived):
            self.row_seq += 1
            self.rows.append((self.row_seq, _with_client(event, event.message)))
        elif isinstance(event, BinaryReceived):
            if event.rowIndex:  # a row of the table (binaryrows on), as the cook appended it
                self.row_seq += 1
                self.rows.append((self.row_seq, _with_client(event, event.contents)))
        elif isinstance(event, Monitor):
            self.line_seq += 1
            self.lines.append((self.line_seq, time.time(), mask_text(event.message)))

    # -- what pages and the API are sent --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        dat = self.dat
        last_error = self.failure or dat.last_error
        return {
            "kind": kind_of(dat),
            "url": dat.par.endpoint.url,
            "state": dat.info.state,
            # while reconnecting: the attempt that comes next and when it starts (UNIX time), else 0
            "retry_attempt": dat.info.retry_attempt,
            "retry_at": dat.info.retry_at,
            "active": bool(dat.par.active),
            "connected": dat.connected,
            "stalled": dat.stalled,
            "last_error": None if last_error is None else mask_text(last_error),
            "heading": list(dat.table.heading),
            "num_rows": dat.numRows,
        }

    def info(self) -> dict[str, Any]:
        return dict(self.dat.info)

    def row_cells(self, seq: int, message: str | bytes) -> list[object]:
        text = message if isinstance(message, str) else message.decode("utf-8", "backslashreplace")
        cells: list[object] = [seq, page_text(text)]
        if kind_of(self.dat) == "server":  # the server's table: message, client[, bytes]
            cells.append(str(getattr(message, "client", "")))
        if self.dat.table.bytes:
            cells.append(page_text(hex_bytes(message)))
        return cells

    def rows_after(self, seen: int) -> tuple[list[list[object]], int]:
        """Rows numbered above ``seen``, and how many of those already left the ring (dropped for that reader)."""
        if self.row_seq <= seen:
            return [], 0
        oldest = self.row_seq - len(self.rows) + 1
        dropped = max(0, oldest - 1 - seen)
        fresh = self.rows if seen < oldest else _tail(self.rows, self.row_seq - seen)
        return [self.row_cells(seq, message) for seq, message in fresh], dropped

    def lines_after(self, seen: int) -> tuple[list[list[object]], int]:
        if self.line_seq <= seen:
            return [], 0
        oldest = self.line_seq - len(self.lines) + 1
        dropped = max(0, oldest - 1 - seen)
        fresh = self.lines if seen < oldest else _tail(self.lines, self.line_seq - seen)
        return [[seq, stamp, page_text(line)] for seq, stamp, line in fresh], dropped


def _with_client(event: Event, message: str | bytes) -> str | bytes:
    """A server's message tagged with its client (a row as the server's table keeps it); others as they are."""
    client = getattr(event, "client", None)
    return message if client is None else tagged(client, message)


def _tail(ring: deque[Any], count: int) -> list[Any]:
    return list(ring)[-count:] if count < len(ring) else list(ring)


class Hub:
    """The DATs of a running service as the HTTP side sees them.

    The service runner calls :meth:`add` and :meth:`remove` as DATs come and go (start, reload) and runs
    :meth:`consume` beside each DAT's run. ``rows`` and ``lines`` bound what is kept per DAT for pages.
    """

    def __init__(self, name: str = "service", *, rows: int = 100, lines: int = 50, max_pages: int = 32) -> None:
        self.name = name
        self.keep_rows = rows
        self.keep_lines = lines
        self.max_pages = max_pages
        self.panels: dict[str, Panel] = {}
        #: Bumped whenever DATs are added or removed: pages then start over from a snapshot.
        self.generation = 0
        self.pages = 0
        #: Rows and monitor lines that some page never got because it fell behind (for /metrics).
        self.dropped = 0
        self.closing = False
        self._lot = trio.lowlevel.ParkingLot()

    # -- the service's side ---------------------------------------------------------------------------------------
    def add(self, dat: Operator) -> Panel:
        """A DAT joins (or replaces the DAT of the same name)."""
        panel = Panel(dat, deque(maxlen=self.keep_rows), deque(maxlen=self.keep_lines))
        self.panels[dat.name] = panel
        self.generation += 1
        self.wake()
        return panel

    def remove(self, name: str) -> None:
        if self.panels.pop(name, None) is not None:
            self.generation += 1
            self.wake()

    def rename(self, name: str) -> None:
        if name != self.name:
            self.name = name
            self.generation += 1
            self.wake()

    def set_failure(self, name: str, failure: str | None) -> None:
        panel = self.panels.get(name)
        if panel is not None:
            panel.failure = failure
            self.wake()

    async def consume(self, panel: Panel, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The one subscriber of ``panel``'s DAT: started before the DAT runs (``await nursery.start(...)``), ends
        with the DAT's run. Its loop only records and wakes, so it keeps up with any DAT."""
        async with panel.dat.events(buffer=EVENT_BUFFER) as events:
            task_status.started()
            async for event in events:
                panel.take(event)
                self.wake()

    def close(self) -> None:
        """The service is stopping: every page's stream ends."""
        self.closing = True
        self.wake()

    # -- the pages' side ------------------------------------------------------------------------------------------
    def wake(self) -> None:
        if self._lot:
            self._lot.unpark_all()

    async def wait(self, timeout: float) -> None:
        """Wait until something changed, at most ``timeout`` seconds."""
        with trio.move_on_after(timeout):
            await self._lot.park()

    def find(self, name: str) -> Panel | None:
        return self.panels.get(name)

    def names(self) -> Iterable[str]:
        return self.panels.keys()


@dataclass
class PageView:
    """What one page was sent; :meth:`next_message` is what it needs next: a snapshot first (and after DATs came or
    went), then updates with only what changed."""

    hub: Hub
    generation: int = -1
    rows_seen: dict[str, int] = field(default_factory=dict)
    lines_seen: dict[str, int] = field(default_factory=dict)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def next_message(self) -> tuple[str, dict[str, Any]] | None:
        """``("snapshot", data)``, ``("update", data)`` or None when nothing changed since the last call."""
        hub = self.hub
        if self.generation != hub.generation:
            return "snapshot", self._snapshot()
        changes: dict[str, dict[str, Any]] = {}
        for name, panel in hub.panels.items():
            change = self._changes(panel)
            if change:
                changes[name] = change
        return ("update", {"dats": changes}) if changes else None

    def snapshot(self) -> dict[str, Any]:
        """What a page starts from: every DAT's status, info channels, last rows and monitor lines (the page's
        next message is then an update from here)."""
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        hub = self.hub
        self.generation = hub.generation
        self.rows_seen.clear()
        self.lines_seen.clear()
        self.sent.clear()
        dats = []
        for name, panel in hub.panels.items():
            # A new page starts with what the ring holds (no drops counted), at most what the table still holds.
            in_table = max(0, panel.dat.numRows - 1)
            self.rows_seen[name] = panel.row_seq - min(len(panel.rows), in_table)
            self.lines_seen[name] = panel.line_seq - len(panel.lines)
            dats.append({"name": name, **self._changes(panel)})
        return {"service": hub.name, "keep_rows": hub.keep_rows, "keep_lines": hub.keep_lines, "dats": dats}

    def _changes(self, panel: Panel) -> dict[str, Any]:
        name = panel.name
        change: dict[str, Any] = {}
        rows, dropped_rows = panel.rows_after(self.rows_seen.get(name, 0))
        lines, dropped_lines = panel.lines_after(self.lines_seen.get(name, 0))
        self.rows_seen[name] = panel.row_seq
        self.lines_seen[name] = panel.line_seq
        if rows:
            change["rows"] = rows
        if lines:
            change["lines"] = lines
        if dropped_rows or dropped_lines:
            change["dropped"] = dropped_rows + dropped_lines
            self.hub.dropped += dropped_rows + dropped_lines
        sent = self.sent.setdefault(name, {})
        for key, value in (("status", panel.status()), ("info", panel.info())):
            if sent.get(key) != value:
                sent[key] = value
                change[key] = value
        return change


def first_snapshot(hub: Hub) -> str:
    """The snapshot a page is served with (``GET /``), as JSON safe inside an HTML ``<script>`` data block: the
    page shows every DAT's state and last rows before its event stream has said anything."""
    text = json.dumps(PageView(hub).snapshot(), separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
