"""The server's receive fast path: client frames decoded straight from the read buffer, everything unusual left to
wsproto.

Nearly every frame a client sends is *simple*: final (FIN), masked (as RFC 6455 5.3 requires of clients), no RSV
bits (not compressed), a text or binary opcode, a minimally encoded length within ``limit``, and (for text) valid
UTF-8. :class:`ClientFrameReader` unmasks and decodes those itself, a few operations per message. Anything else
(control frames, fragments, compressed or unmasked frames, reserved opcodes, invalid UTF-8, non-minimal lengths,
frames above ``limit``) goes to wsproto whole, so wsproto decides exactly as it would alone: the same events, the
same failure, the same close code.

The two never disagree about where a frame starts: wsproto is only ever given whole frames, or the rest of a frame
it was given the start of (the reader tracks how many bytes of it are still due); while a fragmented message is open
in wsproto every frame goes there, until its final fragment. A simple frame that arrives in pieces is held until it
is whole (frames above :data:`HOLD_LIMIT` stream through wsproto instead).

Use (sans-I/O, as wsproto itself)::

    reader.feed(data)
    while (chunk := reader.next(batch.append)) is not None:
        wsproto_connection.receive_data(chunk)     # then handle wsproto's events, in order

The shape is the fast loop of :mod:`wsdat_core.protocol.client` in the server role (masked frames in); it lives here
until the protocol layer has a server role of its own. Pure: no trio, no sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..model.events import EventKind
from ..protocol.frames import mask as unmask

__all__ = ["HOLD_LIMIT", "ClientFrameReader", "frame_extent"]

TEXT: Final = EventKind.TEXT
BINARY: Final = EventKind.BINARY
#: A simple frame larger than this streams through wsproto rather than being held until whole.
HOLD_LIMIT: Final = 1024 * 1024
_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_LONGEST_HEADER: Final = 14

Append = Callable[[tuple[EventKind, Any]], object]


def frame_extent(start: bytes) -> int:
    """The size (header + payload) of the frame whose first bytes are ``start``; -1 while its header is incomplete."""
    available = len(start)
    if available < 2:
        return -1
    second = start[1]
    length = second & 0x7F
    size = 2 + (4 if second & 0x80 else 0)
    if length == 126:
        if available < 4:
            return -1
        length = int.from_bytes(start[2:4], "big")
        size += 2
    elif length == 127:
        if available < 10:
            return -1
        length = int.from_bytes(start[2:10], "big")
        size += 8
    return size + length


class ClientFrameReader:
    """Splits what a client sends into simple messages (decoded here) and bytes for wsproto."""

    __slots__ = ("_buffer", "_due", "_fragmented", "_position", "limit")

    def __init__(self, limit: int) -> None:
        #: The largest payload the fast path takes (``maxmessagesize``); larger frames go to wsproto.
        self.limit = limit
        self._buffer = b""
        self._position = 0
        self._due = 0  # bytes still to hand to wsproto of the frame it is in the middle of
        self._fragmented = False  # wsproto holds an unfinished fragmented message

    def feed(self, data: bytes) -> None:
        """Add bytes read from the network."""
        if self._position < len(self._buffer):
            self._buffer = self._buffer[self._position:] + data
        else:
            self._buffer = data
        self._position = 0

    def next(self, append: Append) -> bytes | None:
        """Decode simple frames into ``append`` up to the next bytes wsproto must see; return those (feed them to
        wsproto, handle its events, then call again), or None when everything fed so far is decided."""
        buffer, position = self._buffer, self._position
        end = len(buffer)
        if self._due:
            count = min(self._due, end - position)
            if not count:
                return None
            self._due -= count
            self._position = position + count
            return buffer[position:position + count]
        if not self._fragmented:
            position = self._position = self._decode(buffer, position, end, append)
        if end - position < 2:
            return None
        size = frame_extent(buffer[position:position + _LONGEST_HEADER])
        if size < 0 or (not self._fragmented and self._may_hold(buffer, position, size, end)):
            return None  # a header, or a simple frame, still incomplete: wait for more
        first = buffer[position]
        opcode = first & 0x0F
        if opcode in (0x1, 0x2):
            self._fragmented = not first & 0x80
        elif opcode == 0x0 and first & 0x80:
            self._fragmented = False
        self._due = size
        return self.next(append)

    def _may_hold(self, buffer: bytes, position: int, size: int, end: int) -> bool:
        """True when the frame at ``position`` is simple but not whole yet, and small enough to hold."""
        first, second = buffer[position], buffer[position + 1]
        return (first in (_FIN_TEXT, _FIN_BINARY) and bool(second & 0x80) and size > end - position
                and size <= HOLD_LIMIT and size - 14 <= self.limit)

    def _decode(self, buffer: bytes, position: int, end: int, append: Append) -> int:
        """Decode whole simple frames from ``position``; return where the first other one starts."""
        limit = self.limit
        while end - position >= 6:
            first = buffer[position]
            if first != _FIN_TEXT and first != _FIN_BINARY:
                break
            length = buffer[position + 1] ^ 0x80  # the mask bit must be set: anything else is not simple
            if length < 126:
                start = position + 6
            elif length == 126:
                if end - position < 8:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                if length < 126:  # not the shortest encoding: wsproto refuses it
                    break
                start = position + 8
            elif length == 127:
                if end - position < 14:
                    break
                length = int.from_bytes(buffer[position + 2:position + 10], "big")
                if length < 65536 or length >> 63:
                    break
                start = position + 14
            else:  # not masked
                break
            stop = start + length
            if stop > end or length > limit:
                break
            payload = unmask(buffer[start:stop], buffer[start - 4:start])
            if first == _FIN_TEXT:
                try:
                    append((TEXT, str(payload, "utf-8")))
                except UnicodeDecodeError:  # wsproto fails it with 1007
                    break
            else:
                append((BINARY, payload))
            position = stop
        return position
