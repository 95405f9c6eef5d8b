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

Limits. A replay applies the DAT's ``maxmessagesize`` as a live connection does: a text message of more UTF-8 bytes, or
a binary message (ping, pong) of more bytes, is refused with one warning line naming ``file:line`` and the replay goes
on with the next line. Memory stays bounded by the limit: a line is read whole only up to
:func:`longest_line` (what the largest allowed message takes as JSON, every character escaped); a longer line is
skipped in chunks without being read whole, and refused the same way.

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
import logging
import math
from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import trio

from ..model.errors import ParameterError, WsdatError
from ..model.events import RECEIVED_KINDS, EventKind

if TYPE_CHECKING:
    from ..runtime.dat import WebSocketDAT

__all__ = ["MAX_WAIT", "REFUSED", "ReplayError", "longest_line", "read_recording", "replay", "replay_wait"]

#: The longest real wait (seconds) between two replayed cooks, whatever the recorded gap and ``speed``.
MAX_WAIT = 3600.0
#: The event :func:`read_recording` yields in place of a message larger than the limit: ``(REFUSED, line)``.
REFUSED: Final = "refused"
#: JSON writes a byte of text as at most 6 (``\u001b``); the rest of a record (time, names, row) fits in this.
_ESCAPED_BYTES: Final = 6
_RECORD_OVERHEAD: Final = 64 * 1024
_SKIP_CHUNK: Final = 1024 * 1024

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


def longest_line(max_message_size: int) -> int:
    """The longest recording line a message of at most ``max_message_size`` bytes can take (every byte escaped as
    JSON's ``\\u00XX``, base64 being shorter): longer lines are refused without being read whole."""
    return _ESCAPED_BYTES * max_message_size + _RECORD_OVERHEAD


def _message_size(event: tuple[str, Any]) -> int:
    kind, payload = event
    if isinstance(payload, bytes):
        return len(payload)
    return len(payload.encode("utf-8")) if kind in _RECEIVED_EVENTS and isinstance(payload, str) else 0


def _read_line(lines: IO[bytes], limit: int | None) -> tuple[bytes | None, int]:
    """The next line (b"" at the end), or None and its length when it is longer than ``limit``: the rest of such a
    line is read in chunks and dropped, never held whole."""
    if limit is None:
        raw = lines.readline()
        return raw, len(raw)
    raw = lines.readline(limit + 1)
    if len(raw) <= limit or raw.endswith(b"\n"):
        return raw, len(raw)
    length = len(raw)
    while not raw.endswith(b"\n"):
        raw = lines.readline(_SKIP_CHUNK)
        if not raw:
            break
        length += len(raw)
    return None, length


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


def _recording(path: Path, max_message_size: int | None
               ) -> Generator[tuple[float, list[tuple[str, Any]]], None, None]:
    group: list[tuple[str, Any]] = []
    key: tuple[Any, ...] | None = None
    started = 0.0
    limit = None if max_message_size is None else longest_line(max_message_size)
    try:
        lines = path.open("rb")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with lines:
        number = 0
        while True:
            try:
                raw, length = _read_line(lines, limit)
            except OSError as exc:
                raise ReplayError(f"{path}:{number + 1}: cannot read: {exc.strerror or exc}") from None
            if raw == b"":
                break
            number += 1
            if raw is None:  # a message this long cannot be within the limit: refused where it stands, unread
                group.append((REFUSED, f"{path}:{number}: a message refused: its line has {length:,} bytes, more "
                                       f"than any message of at most maxmessagesize ({max_message_size:,} bytes) "
                                       "takes; skipped"))
                continue
            if not raw.strip():
                continue
            try:
                moment, record_key, event = _parse(raw)
            except _BadLine as exc:
                raise ReplayError(f"{path}:{number}: not a wsdat-record line ({exc})") from None
            if max_message_size is not None and _message_size(event) > max_message_size:
                event = (REFUSED, f"{path}:{number}: a {event[0]} message of {_message_size(event):,} bytes refused: "
                                  f"larger than maxmessagesize ({max_message_size:,} bytes); skipped")
            if key is not None and record_key != key:
                yield started, group
                group, key = [], None
            if key is None:  # the cook's first event (refused lines before it join it, untimed)
                started = moment
            key = record_key
            group.append(event)
    if group:
        yield started, group


def read_recording(path: Path | str, max_message_size: int | None = None
                   ) -> Iterator[tuple[float, list[tuple[str, Any]]]]:
    """``(time, events)`` per recorded cook, in order. Lines are checked as they are read; a bad one raises
    :class:`ReplayError` naming ``file:line`` before its cook is yielded. A message larger than ``max_message_size``
    bytes (None: no limit) is yielded as ``(REFUSED, line)`` in its place, and never read whole (see
    :func:`longest_line`)."""
    return _recording(Path(path), max_message_size)


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
    with closing(_recording(Path(path), dat.par.value("maxmessagesize"))) as recording:
        for moment, events in recording:
            if previous is not None and speed > 0:
                planned += replay_wait(moment - previous, speed)
                await trio.sleep_until(planned)
            previous = moment
            count += await _deliver(dat, events)
    return count


async def _deliver(dat: WebSocketDAT, events: list[tuple[str, Any]]) -> int:
    """One recorded cook through ``dat``; a refused message is one warning line where it stood. Returns the number
    of events delivered."""
    delivered = 0
    batch: list[tuple[str, Any]] = []
    for event in events:
        if event[0] != REFUSED:
            batch.append(event)
            continue
        if batch:
            await dat.deliver(batch)
            delivered, batch = delivered + len(batch), []
        dat.monitor(f"replay: {event[1]}", logging.WARNING)
    if batch:
        await dat.deliver(batch)
    return delivered + len(batch)
