"""The careful path of both roles: frames read one by one, in either direction's masking rule.

A protocol (:class:`~.client.ClientProtocol`, :class:`~.serverprotocol.ServerProtocol`) hands every read to
:meth:`FrameReader.parse` with its fast loop: whole simple frames go through the fast loop, everything else is read
here frame by frame, each check made as soon as the bytes it needs are there, in the order wsproto makes them (the
opcode and a control frame's FIN and length from the first two bytes; the length's form, the RSV bits and the mask
bit once the length is complete; whether the frame fits the message, a continuation needing one and a new message
not interrupting one, with its first payload byte). Payloads stream into the message being assembled, unmasked as
they come in the server role, so invalid UTF-8 fails as soon as it is read and a large message is copied once. A read
is parsed in place, from offsets: the rest of a frame cut by the last read is taken from its start, and a header (or
a control frame) cut short is completed from the first bytes of the next read, never by copying a read whole.

What a frame means is the protocol's: messages go to its ``emit(batch, kind, payload)``, control frames to its
``control(batch, opcode, payload)``; a broken frame raises :class:`~.messages.Failure`.

Pure: no trio, no sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..model.events import EventKind
from .deflate import Inflater
from .frames import CLOSE, CONTINUATION, CONTROL_PAYLOAD_MAX, OPCODES, TEXT, fragment_limit, mask
from .messages import Failure, MessageAssembler

__all__ = ["FastDecode", "FrameReader"]

#: Bytes of a read that complete a frame start kept from the last one: the longest header (mask key included) and
#: control frame.
_HEAD_ROOM: Final = 14 + CONTROL_PAYLOAD_MAX

FastDecode = Callable[[bytes, int, int, Any], int]
"""``fast(buffer, position, end, batch)``: decodes whole simple frames from ``position``, returns where it stopped."""
Emit = Callable[[Any, EventKind, Any], None]
Control = Callable[[Any, int, bytes], None]


class FrameReader:
    """Reads the frames of one connection: a server's (unmasked) when ``masked`` is False, a client's (masked)
    when True. ``limit`` is ``maxmessagesize``; :attr:`inflater` is set once permessage-deflate was agreed."""

    def __init__(self, limit: int, *, masked: bool, emit: Emit, control: Control) -> None:
        self.limit = limit
        self.masked = masked
        self.inflater: Inflater | None = None
        self._emit = emit
        self._control = control
        self._fragments = fragment_limit(limit)
        #: False once a close frame came or the connection failed: nothing more is read.
        self.reading = True
        #: Frames read here so far (counted once each, however many reads they took): everything but whole simple
        #: frames, a measure of how far a fast loop reaches.
        self.careful_frames = 0
        self._buffer = b""  # unread bytes starting at a frame's first byte (an incomplete header or control frame)
        self.message: MessageAssembler | None = None  # a data message being assembled
        # the data frame being read: its opcode, RSV bits and FIN, payload bytes still to come, whether its first
        # payload byte was read, and (a client's) its masking key and how far into the payload
        self._opcode = 0
        self._rsv = 0
        self._fin = False
        self._left = 0
        self._started = False
        self._key = b""
        self._offset = 0

    def parse(self, data: bytes, batch: Any, fast: FastDecode) -> None:
        """Read ``data`` into ``batch``: ``fast`` for whole simple frames while no message is being assembled, this
        reader for the rest."""
        position, end = 0, len(data)
        if self._buffer:
            kept, self._buffer = self._buffer, b""
            head = kept + data[:_HEAD_ROOM]
            position = self._frame(head, 0, len(head), batch) - len(kept)
            if self._buffer:  # still not whole: all of this read is kept with it
                return
        if self._left and position < end and self.reading:
            stop = min(position + self._left, end)
            position += self._payload(data if position == 0 and stop == end else data[position:stop], batch)
        while position < end and self.reading:
            if self.message is None:
                position = fast(data, position, end, batch)
                if position == end:
                    return
            position = self._frame(data, position, end, batch)

    def _keep(self, buffer: bytes, position: int, end: int) -> int:
        self._buffer = buffer[position:end]
        return end

    def _frame(self, buffer: bytes, position: int, end: int, batch: Any) -> int:
        """Read one frame at ``position`` (or keep its start until more comes); return where the next one starts."""
        available = end - position
        if available < 2:
            return self._keep(buffer, position, end)
        first, second = buffer[position], buffer[position + 1]
        opcode, fin, rsv = first & 0x0F, bool(first & 0x80), first & 0x70
        if opcode not in OPCODES:
            raise Failure(1002, f"reserved opcode {opcode:#x}")
        control = opcode >= CLOSE
        if control and not fin:
            raise Failure(1002, "a fragmented control frame")
        length = second & 0x7F
        if control and length > CONTROL_PAYLOAD_MAX:
            raise Failure(1002, "a control frame of more than 125 bytes")
        header = 2
        if length == 126:
            if available < 4:
                return self._keep(buffer, position, end)
            length, header = (buffer[position + 2] << 8) | buffer[position + 3], 4
            if length < 126:
                raise Failure(1002, "a frame length not in its shortest form")
        elif length == 127:
            if available < 10:
                return self._keep(buffer, position, end)
            length, header = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            if length < 65536 or length >> 63:
                raise Failure(1002, "a frame length not in its shortest form (or over 2^63)")
        self._check_bits(opcode, rsv)
        if bool(second & 0x80) is not self.masked:
            raise Failure(1002, "the client sent an unmasked frame" if self.masked else
                          "the server sent a masked frame")
        key = b""
        if self.masked:
            if available < header + 4:
                return self._keep(buffer, position, end)
            key, header = buffer[position + header:position + header + 4], header + 4
        start = position + header
        if control:
            if end - start < length:
                return self._keep(buffer, position, end)
            self.careful_frames += 1
            payload = buffer[start:start + length]
            self._control(batch, opcode, mask(payload, key) if key else payload)
            return start + length
        self.careful_frames += 1
        self._opcode, self._rsv, self._fin, self._left, self._started = opcode, rsv, fin, length, False
        self._key, self._offset = key, 0
        stop = min(start + length, end)
        return start + self._payload(buffer[start:stop], batch)

    def _check_bits(self, opcode: int, rsv: int) -> None:
        if rsv & 0x30:
            raise Failure(1002, "RSV2/RSV3 set without an extension")
        if rsv:
            if self.inflater is None:
                raise Failure(1002, "RSV1 set without permessage-deflate")
            if opcode >= CLOSE:
                raise Failure(1002, "RSV1 on a control frame")
            if opcode == CONTINUATION:
                raise Failure(1002, "RSV1 on a continuation frame")

    def _payload(self, piece: bytes, batch: Any) -> int:
        """Payload of the data frame being read (at most what is left of it); returns the bytes taken."""
        if not self._started:
            if not piece and self._left:
                return 0  # whether the frame fits the message is decided with its first payload byte
            self._start_frame()
        take = len(piece)
        if self._key:
            turn = self._offset % 4
            piece = mask(piece, self._key[turn:] + self._key[:turn])
            self._offset += take
        self._left -= take
        done = not self._left
        message = self.message
        assert message is not None
        message.feed(piece, self._fin and done)
        if done and self._fin:
            self.message = None
            self._emit(batch, message.kind, message.payload())
        return take

    def _start_frame(self) -> None:
        """The data frame's first payload byte is here: it must fit the message being assembled."""
        self._started = True
        opcode, message = self._opcode, self.message
        if opcode == CONTINUATION:
            if message is None:
                raise Failure(1002, "a continuation frame without a message to continue")
        else:
            if message is not None:
                raise Failure(1002, "a new message before the fragmented one ended")
            message = self.message = MessageAssembler(EventKind.TEXT if opcode == TEXT else EventKind.BINARY,
                                                      self.inflater if self._rsv else None, self.limit)
        if not self._fin:
            message.frames += 1  # frames before the final one
            if message.frames > self._fragments:
                raise Failure.too_big(f"message of more than {self._fragments} fragments (a fragment flood)")
