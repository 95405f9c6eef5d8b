"""Replaying a recording (made by the ``wsdat-record`` plugin) through a DAT's hooks and table, without a network.

A plugin can so be tested and debugged offline against a real captured session: ``wsdat replay FILE --callbacks
myplugin``. Events keep their batches (one cook per recorded network read) and, unless ``speed`` is 0, their timing
scaled by ``speed``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .errors import WsdatError

if TYPE_CHECKING:
    from .dat import WebSocketDAT

__all__ = ["ReplayError", "read_recording", "replay"]

_BINARY_EVENTS = {"binary", "ping", "pong"}


class ReplayError(WsdatError, ValueError):
    """A recording cannot be read; the message names the file and the line."""


def _event(record: dict[str, Any]) -> tuple[str, Any]:
    kind = record["event"]
    if kind in _BINARY_EVENTS:
        return kind, base64.b64decode(record["base64"])
    if kind in ("text", "monitor"):
        return kind, record["message"]
    if kind == "connect":
        return kind, record.get("url")
    if kind == "disconnect":
        return kind, None
    raise KeyError(f"unknown event {kind!r}")


def read_recording(path: Path) -> Iterator[tuple[float, list[tuple[str, Any]]]]:
    """``(time, events)`` per recorded cook, in order."""
    group: list[tuple[str, Any]] = []
    key: tuple[Any, ...] | None = None
    started = 0.0
    try:
        lines = path.open(encoding="utf-8")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                event = _event(record)
                record_key = (record.get("dat"), record.get("cook"), event[0] in _BINARY_EVENTS | {"text"})
                moment = float(record["t"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ReplayError(f"{path}:{number}: not a wsdat-record line ({exc})") from None
            if group and record_key != key:
                yield started, group
                group = []
            if not group:
                started = moment
            key = record_key
            group.append(event)
    if group:
        yield started, group


async def replay(dat: WebSocketDAT, path: Path, speed: float = 1.0) -> int:
    """Feed the recording at ``path`` through ``dat`` (which must be running, e.g. ``dat.run_offline``); returns the
    number of events replayed. ``speed`` 2 plays twice as fast, 0 as fast as possible."""
    count = 0
    first: float | None = None
    clock_start = trio.current_time()
    for moment, events in read_recording(path):
        if first is None:
            first = moment
        if speed > 0:
            await trio.sleep_until(clock_start + (moment - first) / speed)
        await dat.deliver(events)
        count += len(events)
    return count
