"""Replaying a recording (made by the ``wsdat-record`` plugin) through a DAT's hooks and table, without a network.

A plugin can so be tested and debugged offline against a real captured session: ``wsdat replay FILE --callbacks
myplugin``. Events keep their batches (one cook per recorded network read) and, unless ``speed`` is 0, their timing
scaled by ``speed``.

Checking. Every line is checked as it is read, and a bad one raises :class:`ReplayError` with one line naming
``file:line`` (and the reason) before any event of that line's cook is delivered; the cooks before it have been
replayed. A line must be UTF-8 text holding one JSON object with a known ``event``; ``t`` a finite real number
(not a bool or a string); ``text`` and ``monitor`` a string ``message``; ``binary``, ``ping`` and ``pong`` a
``base64`` string in the standard alphabet with padding, decoded strictly (no whitespace or stray characters);
``connect`` a string ``url`` if any; ``dat`` a string and ``cook`` an integer if present. Strings must be valid
Unicode (no lone surrogates from ``\\ud800``-style escapes), as received WebSocket text always is.

Timing. Each wait is the gap between a cook's recorded time and the previous cook's, divided by ``speed``, and at
most :data:`MAX_WAIT` (one hour) of real time: a recording with an overnight pause, or a corrupt timestamp such as
``1e308``, still replays, with that pause shortened to one hour. Waits are scheduled from the previous cook's
planned time, so processing time does not add up as drift. A timestamp earlier than the previous one (the wall
clock was set back while recording) waits nothing, and the following gaps are measured from it. ``speed`` 0 (or
less) replays as fast as possible; NaN is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ..model.errors import ParameterError, WsdatError
from ..model.events import RECEIVED_KINDS, EventKind

if TYPE_CHECKING:
    from ..runtime.dat import WebSocketDAT

__all__ = ["MAX_WAIT", "ReplayError", "read_recording", "replay", "replay_wait"]

#: The longest real wait (seconds) between two replayed cooks, whatever the recorded gap and ``speed``.
MAX_WAIT = 3600.0

# Recordings name events by their kind's label (wsdat_core.model.events.EventKind).
_BINARY_EVENTS = frozenset(kind.label for kind in (EventKind.BINARY, EventKind.PING, EventKind.PONG))
_TEXT_EVENTS = frozenset(kind.label for kind in (EventKind.TEXT, EventKind.MONITOR))
_RECEIVED_EVENTS = frozenset(kind.label for kind in RECEIVED_KINDS)
_EVENTS = tuple(kind.label for kind in EventKind)


class ReplayError(WsdatError, ValueError):
    """A recording cannot be read; the message names the file and the line."""


class _BadLine(ValueError):
    """Why one line is not a wsdat-record line (turned into a :class:`ReplayError` naming ``file:line``)."""


def _text(record: dict[str, Any], key: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise _BadLine(f"{key!r} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _BadLine(f"{key!r} is not valid Unicode text ({exc.reason} at character {exc.start})") from None
    return value


def _moment(record: dict[str, Any]) -> float:
    value = record["t"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _BadLine(f"'t' must be a number, not {type(value).__name__}")
    try:
        moment = float(value)
    except OverflowError:
        moment = math.inf
    if not math.isfinite(moment):
        raise _BadLine(f"'t' must be a finite number, not {value!r}")
    return moment


def _event(record: dict[str, Any]) -> tuple[str, Any]:
    kind = record["event"]
    if not isinstance(kind, str) or kind not in _EVENTS:
        raise _BadLine(f"unknown event {kind!r}; expected one of {', '.join(_EVENTS)}")
    if kind in _BINARY_EVENTS:
        encoded = _text(record, "base64")
        try:
            return kind, base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _BadLine(f"'base64' is not valid base64 ({exc})") from None
    if kind in _TEXT_EVENTS:
        return kind, _text(record, "message")
    if kind == "connect":
        return kind, None if record.get("url") is None else _text(record, "url")
    return kind, None  # disconnect


def _parse(raw: bytes) -> tuple[float, tuple[Any, ...], tuple[str, Any]]:
    """``(time, cook key, event)`` of one non-blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)") from None
    try:
        record = json.loads(line)
    except RecursionError:
        raise _BadLine("JSON nested too deeply") from None
    except ValueError as exc:
        raise _BadLine(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise _BadLine(f"not a JSON object but {type(record).__name__}")
    try:
        event = _event(record)
        moment = _moment(record)
    except KeyError as exc:
        raise _BadLine(f"no {exc.args[0]!r}") from None
    dat, cook = record.get("dat"), record.get("cook")
    if dat is not None and not isinstance(dat, str):
        raise _BadLine(f"'dat' must be a string, not {type(dat).__name__}")
    if cook is not None and (isinstance(cook, bool) or not isinstance(cook, int)):
        raise _BadLine(f"'cook' must be an integer, not {type(cook).__name__}")
    return moment, (dat, cook, event[0] in _RECEIVED_EVENTS), event


def _recording(path: Path) -> Generator[tuple[float, list[tuple[str, Any]]], None, None]:
    group: list[tuple[str, Any]] = []
    key: tuple[Any, ...] | None = None
    started = 0.0
    try:
        lines = path.open("rb")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with lines:
        number = 0
        while True:
            try:
                raw = lines.readline()
            except OSError as exc:
                raise ReplayError(f"{path}:{number + 1}: cannot read: {exc.strerror or exc}") from None
            if not raw:
                break
            number += 1
            if not raw.strip():
                continue
            try:
                moment, record_key, event = _parse(raw)
            except _BadLine as exc:
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


def read_recording(path: Path | str) -> Iterator[tuple[float, list[tuple[str, Any]]]]:
    """``(time, events)`` per recorded cook, in order. Lines are checked as they are read; a bad one raises
    :class:`ReplayError` naming ``file:line`` before its cook is yielded."""
    return _recording(Path(path))


def replay_wait(gap: float, speed: float) -> float:
    """The real seconds to wait for a recorded ``gap`` (seconds) at ``speed``: ``gap / speed``, at most
    :data:`MAX_WAIT`; 0 for a gap that is not positive or a ``speed`` of 0 or less."""
    if not speed > 0 or not gap > 0:
        return 0.0
    return min(gap / speed, MAX_WAIT)


async def replay(dat: WebSocketDAT, path: Path | str, speed: float = 1.0) -> int:
    """Feed the recording at ``path`` through ``dat`` (which must be running, e.g. ``dat.run_offline``); returns the
    number of events replayed. ``speed`` 2 plays twice as fast, 0 as fast as possible; no single wait between two
    cooks is longer than :data:`MAX_WAIT`."""
    if math.isnan(speed):
        raise ParameterError("speed", speed, "a number >= 0 (0 = as fast as possible)")
    count = 0
    previous: float | None = None
    planned = trio.current_time()
    with closing(_recording(Path(path))) as recording:
        for moment, events in recording:
            if previous is not None and speed > 0:
                planned += replay_wait(moment - previous, speed)
                await trio.sleep_until(planned)
            previous = moment
            await dat.deliver(events)
            count += len(events)
    return count
