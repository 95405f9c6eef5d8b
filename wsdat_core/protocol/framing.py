"""The receive fast path: server frames decoded straight from the read buffer, everything unusual left to wsproto.

Nearly every frame a server sends is *simple*: final (FIN), unmasked, no RSV bits, a text or binary opcode, a
minimally encoded length within ``maxmessagesize``, and (for text) valid UTF-8. :class:`FrameSplitter` decodes those
itself, a few slices per message, into the batch. Anything else (fragments, control frames, close, compressed or
masked frames, reserved opcodes, invalid UTF-8, non-minimal lengths, oversized frames) goes to wsproto, so wsproto
decides exactly as it would alone: the same events, the same failure, the same close code.

The two never disagree about where a frame starts, because wsproto is only ever given whole frames or the leading
part of one: the splitter parses the header of every frame it hands over and tracks how many bytes of it are still
due, and while a fragmented message is open in wsproto every frame goes there, until the final fragment. They never
disagree about *when* a frame fails either: a simple frame that arrives in pieces is held back until it is whole, and
meanwhile its text is checked as it comes, so invalid UTF-8 goes to wsproto (which fails it) as early as wsproto alone
would have seen it. (The handshake response is cut at its end by the caller, so wsproto holds no frame bytes of its
own.)

Use (sans-IO, as wsproto itself)::

    splitter.feed(data)
    while (chunk := splitter.next_slow(batch.append)) is not None:
        wsproto.receive_data(chunk)     # then handle wsproto's events
Pure: no trio, no sockets.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any, Final

from ..model.events import EventKind

__all__ = ["FrameSplitter", "frame_extent"]

TEXT: Final = EventKind.TEXT
BINARY: Final = EventKind.BINARY
_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_UNKNOWN: Final = -1
_LONGEST_HEADER: Final = 14
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_decode_utf8 = codecs.utf_8_decode
_LARGE: Final = 4096  # text payloads from this size on are decoded from a memoryview, without a copy first

Append = Callable[[tuple[EventKind, Any]], object]


def frame_extent(start: bytes | bytearray) -> int:
    """The size (header + payload) of the frame whose first bytes are ``start``; -1 while its header is incomplete."""
    available = len(start)
    if available < 2:
        return _UNKNOWN
    second = start[1]
    length = second & 0x7F
    size = 2 + (4 if second & 0x80 else 0)
    if length == 126:
        if available < 4:
            return _UNKNOWN
        length = int.from_bytes(start[2:4], "big")
        size += 2
    elif length == 127:
        if available < 10:
            return _UNKNOWN
        length = int.from_bytes(start[2:10], "big")
        size += 8
    return size + length


def _header_size(second: int) -> int:
    length = second & 0x7F
    return 2 if length < 126 else 4 if length == 126 else 10


class FrameSplitter:
    """Splits what the server sends into simple messages (decoded here) and bytes for wsproto.

    ``limit`` is the largest payload (bytes) the fast path takes; larger frames go to wsproto, whose message handler
    enforces ``maxmessagesize``. With :attr:`enabled` False everything goes to wsproto.
    """

    __slots__ = ("_buffer", "_chunks", "_due", "_header", "_held", "_in_message", "_needed", "_pending", "_release",
                 "_rest", "_rest_from", "_utf8", "enabled", "limit")

    def __init__(self, limit: int, *, enabled: bool = True) -> None:
        self.limit = limit
        self.enabled = enabled
        self._buffer: bytes = b""  # bytes not decided on yet start at _pending
        self._pending = 0
        self._rest: bytes | None = None  # after a held frame completed: the read it ended in, from _rest_from on
        self._rest_from = 0
        self._chunks: list[bytes] = []  # a simple frame arriving in pieces, held until whole
        self._held = 0  # bytes in _chunks
        self._needed = 0  # size of the held frame (0: its header is incomplete)
        self._utf8: codecs.IncrementalDecoder | None = None  # checks a held text frame's payload as it arrives
        self._release = False  # the frame at _pending turned out not simple while held: it goes to wsproto
        self._due = 0  # bytes still to come of the frame being handed to wsproto
        self._header = bytearray()  # start of a frame handed to wsproto whose header was incomplete
        self._in_message = False  # wsproto holds an unfinished fragmented message

    # -- input ----------------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Add bytes read from the network."""
        if self._rest is not None:  # the caller stopped early last time: keep what was left, in order
            self._buffer = self._buffer[self._pending:] + self._rest[self._rest_from:]
            self._pending, self._rest = 0, None
        if self._chunks:
            missing = self._needed - self._held
            if missing > 0 and not self._text_valid(data[:missing]):
                self._release = True  # invalid text: wsproto must see it now, as it would have alone
            elif missing > len(data):
                self._chunks.append(data)  # still not whole: keep holding, without joining (a large frame would
                self._held += len(data)  # be copied once per read)
                return
            elif missing > 0:  # whole now: join just this frame; the rest is read from ``data`` itself, uncopied
                self._chunks.append(data[:missing])
                self._buffer, self._pending = b"".join(self._chunks), 0
                self._rest = data
                self._rest_from = missing
                self._chunks = []
                self._held = self._needed = 0
                self._utf8 = None
                return
            self._chunks.append(data)
            data = b"".join(self._chunks)
            self._chunks = []
            self._held = self._needed = 0
            self._utf8 = None
        if self._pending < len(self._buffer):
            self._buffer = self._buffer[self._pending:] + data
        else:
            self._buffer = data
        self._pending = 0

    # -- output ---------------------------------------------------------------------------------------------------
    def next_slow(self, append: Append) -> bytes | None:
        """Decode simple frames into ``append`` up to the next bytes wsproto must see; return those bytes (feed them
        to wsproto, handle its events, then call again), or None when everything fed so far is decided."""
        buffer, position = self._buffer, self._pending
        end = len(buffer)
        if self._due:  # the rest of a frame wsproto is in the middle of
            return self._hand_over(min(self._due, end - position)) if position < end else None
        if self._header:  # a frame wsproto got the start of, while its header was incomplete
            return self._continue_header()
        if self.enabled and not self._in_message and not self._release:
            position = self._pending = self._decode(buffer, position, end, append)
        if position == end:
            if self._rest is None:
                return None
            self._buffer, self._pending = self._rest, self._rest_from  # go on with the read the held frame ended in
            self._rest = None
            return self.next_slow(append)
        start = buffer[position:position + _LONGEST_HEADER]
        size = frame_extent(start)
        if not self._release and self._may_be_simple(start, size) and (size == _UNKNOWN or size > end - position) \
                and self._hold(buffer[position:], size):
            return None
        self._release = False
        if size == _UNKNOWN:  # wsproto gets the start: every byte of it is header
            self._header[:] = start
            self._pending = end
            return start
        self._note_frame(buffer[position])
        self._due = size
        return self._hand_over(min(size, end - position))

    def _decode(self, buffer: bytes, position: int, end: int, append: Append) -> int:
        """Decode whole simple frames from ``position``; return where the first other one starts."""
        limit = self.limit
        view: memoryview | None = None
        while end - position >= 2:
            first = buffer[position]
            if first != _FIN_TEXT and first != _FIN_BINARY:
                break
            length = buffer[position + 1]
            if length < 126:
                start = position + 2
            elif length == 126:
                if end - position < 4:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                if length < 126:  # not the shortest encoding: wsproto refuses it
                    break
                start = position + 4
            elif length == 127:
                if end - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2:position + 10], "big")
                if length < 65536 or length >> 63:
                    break
                start = position + 10
            else:  # masked: a server must not mask (wsproto refuses it)
                break
            stop = start + length
            if stop > end or length > limit:
                break
            if first == _FIN_TEXT:
                try:
                    if length < _LARGE:
                        append((TEXT, str(buffer[start:stop], "utf-8")))
                    else:  # decoded in place: no copy of the payload first
                        view = view or memoryview(buffer)
                        append((TEXT, _decode_utf8(view[start:stop], "strict", True)[0]))
                except UnicodeDecodeError:  # wsproto fails it with 1007
                    break
            else:
                append((BINARY, buffer[start:stop]))
            position = stop
        return position

    # -- holding a simple frame until it is whole -------------------------------------------------------------------
    def _may_be_simple(self, start: bytes, size: int) -> bool:
        """Whether the frame beginning ``start`` (``size`` bytes in all, or -1) can still turn out simple."""
        if not self.enabled or self._in_message or start[0] not in (_FIN_TEXT, _FIN_BINARY):
            return False
        if len(start) < 2:
            return True
        second = start[1]
        if second & 0x80:
            return False
        if size == _UNKNOWN:
            return True
        length, payload = second & 0x7F, size - _header_size(second)
        if payload > self.limit or (length == 126 and payload < 126) or (length == 127 and payload < 65536):
            return False
        return not (length == 127 and payload >> 63)

    def _hold(self, part: bytes, size: int) -> bool:
        """Hold the start of a simple frame until it is whole; False (nothing held) when its text is invalid already."""
        self._utf8 = None
        if size != _UNKNOWN and part[0] == _FIN_TEXT:
            self._utf8 = _Utf8Decoder()
            if not self._text_valid(part[_header_size(part[1]):]):
                self._utf8 = None
                return False
        self._chunks = [part]
        self._held = len(part)
        self._needed = max(size, 0)
        self._buffer, self._pending = b"", 0
        return True

    def _text_valid(self, payload: bytes) -> bool:
        """Check more of a held text frame's payload (True for binary frames)."""
        if self._utf8 is None:
            return True
        try:
            self._utf8.decode(payload)
        except UnicodeDecodeError:
            return False
        return True

    # -- handing frames to wsproto --------------------------------------------------------------------------------
    def _note_frame(self, first: int) -> None:
        """Track fragmentation from a frame's first byte: while a fragmented message is open, all goes to wsproto."""
        opcode = first & 0x0F
        if opcode in (0x1, 0x2):
            self._in_message = not first & 0x80
        elif opcode == 0x0 and first & 0x80:
            self._in_message = False

    def _hand_over(self, count: int) -> bytes:
        start = self._pending
        self._pending = start + count
        self._due -= count
        return self._buffer[start:start + count]

    def _continue_header(self) -> bytes | None:
        buffer, position = self._buffer, self._pending
        if position == len(buffer):
            return None
        seen = len(self._header)
        more = buffer[position:position + _LONGEST_HEADER]
        size = frame_extent(bytes(self._header) + more)
        if size == _UNKNOWN:  # still incomplete: all of it is header
            self._header += more
            self._pending = position + len(more)
            return more
        self._note_frame(self._header[0])
        self._header.clear()
        self._due = size - seen
        return self._hand_over(min(self._due, len(buffer) - position))
