"""The WebSocket client protocol as a state machine (RFC 6455, RFC 7692), in the style of wsproto and h11: bytes in,
runs of received frames and bytes out; no trio, no sockets, no clock.

    protocol = ClientProtocol(HandshakeRequest(host="example.com", resource="/feed"), max_message_size=1 << 24)
    write(protocol.connect())                      # the upgrade request
    batch = protocol.receive_data(read())          # runs of Received frames (the handshake answer first)
    write(protocol.data_to_send())                 # e.g. the answer to a close frame
    write(protocol.encode(EventKind.TEXT, "hi"))   # masked, compressed when permessage-deflate was agreed
    write(protocol.close(1000, "bye"))
    protocol.end                                   # how it ended: a frozen ConnectionEnd

**Two paths.** Whole simple frames (nearly all a server sends) are decoded by the fast loop
(:mod:`~wsdat_core.protocol.fastloop`) straight from the read buffer into the run of their kind. Everything else
(fragments, control frames, a frame arriving in pieces, anything invalid) is read frame by frame by the careful path
here, which streams payloads into the message being assembled: text is decoded as it arrives, so invalid UTF-8 fails
the connection as soon as it is seen, and a large message is copied once.

**Failing the connection** (RFC 6455 7.1.7): on a broken frame the protocol stops reading (what followed is void) and
remembers the close code; the frames parsed before the failure are still returned, and :meth:`close` then gives the
close frame carrying that code. The caller delivers, lets what the hooks sent go out, writes the close frame and drops
TCP. The codes: 1002 for protocol errors, 1007 for invalid UTF-8 or deflate data, 1009 for a message over
``maxmessagesize`` (after decompression) or in more frames than :func:`~.frames.fragment_limit` allows.
"""

from __future__ import annotations

import codecs
import enum
import os
from collections.abc import Callable
from typing import Any, Final

from ..model.closing import ABNORMAL, ClosedBy, ConnectionEnd
from ..model.errors import ConnectionClosedError
from ..model.events import Batch, EventKind
from .deflate import Deflater, Inflater
from .fastloop import FastLoop
from .frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    CONTROL_PAYLOAD_MAX,
    PING,
    PONG,
    TEXT,
    CloseProblem,
    KeySource,
    close_payload,
    encode_frame,
    fragment_limit,
    parse_close,
)
from .handshake import Accepted, ClientHandshake, HandshakeRequest
from .messages import Failure, MessageAssembler, add_payload

__all__ = ["ClientProtocol", "State"]

_TEXT: Final = EventKind.TEXT
_BINARY: Final = EventKind.BINARY
_PING: Final = EventKind.PING
_PONG: Final = EventKind.PONG
_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_DEFLATED_TEXT: Final = 0xC1
_DEFLATED_BINARY: Final = 0xC2
_Utf8Decoder: Final = codecs.getincrementaldecoder("utf-8")
_decode_utf8: Final = codecs.utf_8_decode
#: Text payloads from this size on are decoded from a memoryview of the read, without copying the slice first.
_LARGE: Final = 4096
_OPCODES: Final = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})
#: Bytes of a read that complete a frame start kept from the last one: the longest header and control frame.
_HEAD_ROOM: Final = 14 + CONTROL_PAYLOAD_MAX


class State(enum.Enum):
    CONNECTING = "connecting"  # the upgrade request is out, the answer is not complete
    OPEN = "open"
    CLOSING = "closing"  # our close frame is out, the server's is awaited
    CLOSED = "closed"  # the close handshake is over, the connection failed, or TCP ended


class ClientProtocol:
    """One WebSocket client connection, sans-I/O."""

    def __init__(self, request: HandshakeRequest, *, max_message_size: int = 16 * 1024 * 1024,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.state = State.CONNECTING
        self.max_message_size = max_message_size
        self._fragments = fragment_limit(max_message_size)
        self._handshake = ClientHandshake(request, random)
        self._keys = KeySource(random)
        #: What the server agreed to, once open.
        self.accepted: Accepted | None = None
        self._inflater: Inflater | None = None
        self._deflater: Deflater | None = None
        self._fast = FastLoop(max_message_size)
        self._buffer = b""  # unread bytes starting at a frame's first byte (an incomplete header or control frame)
        self._message: MessageAssembler | None = None  # a data message being assembled
        # the data frame being read: its opcode, RSV bits and FIN, payload bytes still to come, whether its first
        # payload byte was read
        self._frame_opcode = 0
        self._frame_rsv = 0
        self._frame_fin = False
        self._frame_left = 0
        self._frame_started = False
        self._reading = True  # False once the server's close frame came or the connection failed
        self._outgoing = bytearray()
        # how it ends
        self._closed_by: ClosedBy | None = None
        self._code = ABNORMAL
        self._reason = ""
        self._fault: str | None = None
        self._failure_close: bytes | None = None  # the close frame of a failure, until close() hands it over
        #: The code the server answered our close frame with.
        self.answer: int | None = None
        #: Frames read by the careful path so far (counted once each, however many reads they took): everything but
        #: whole simple frames, a measure of how far the fast loop reaches.
        self.careful_frames = 0

    # -- the handshake -------------------------------------------------------------------------------------------
    def connect(self) -> bytes:
        """The upgrade request."""
        return self._handshake.request()

    @property
    def subprotocol(self) -> str | None:
        return self.accepted.subprotocol if self.accepted else None

    @property
    def extensions(self) -> str:
        """The extensions agreed, as the server wrote them (``""`` for none)."""
        deflate = self.accepted.deflate if self.accepted else None
        return deflate.agreed if deflate else ""

    def _open(self, accepted: Accepted) -> None:
        self.accepted = accepted
        self.state = State.OPEN
        if accepted.deflate is not None:
            self._inflater = Inflater(accepted.deflate, self.max_message_size)
            self._fast = FastLoop(self.max_message_size, self._inflater)
            deflater = Deflater(accepted.deflate)
            self._deflater = deflater if deflater.enabled else None

    # -- receiving -----------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> Batch:
        """Take bytes from the server; return the runs of frames they completed, in order.

        While connecting, raises :class:`~wsdat_core.model.errors.HandshakeRejected` or
        :class:`~wsdat_core.model.errors.ConnectError` for an answer that is not an acceptance.
        """
        batch: Batch = []
        if self.state is State.CONNECTING:
            accepted = self._handshake.receive(data)
            if accepted is None:
                return batch
            self._open(accepted)
            data = accepted.rest
        if not self._reading or not data:
            return batch
        try:
            self._parse(data, batch)
        except Failure as failure:
            self._fail(failure)
        return batch

    def receive_eof(self) -> None:
        """TCP ended. Before a close frame that is an abnormal closure (1006)."""
        if self.state is State.CONNECTING:
            self._handshake.receive(b"")  # raises: the server left during the handshake
        if self.state is State.OPEN and self._closed_by is None:
            self._closed_by = ClosedBy.NETWORK
            self._code, self._reason = ABNORMAL, ""
        self._reading = False
        if self._failure_close is None:
            self.state = State.CLOSED

    def _parse(self, data: bytes, batch: Batch) -> None:
        # A read is parsed in place, from offsets into it, never copied whole: the rest of a frame cut by the last
        # read is taken from its start, and a header (or control frame) cut short is completed from its first bytes.
        position, end = 0, len(data)
        if self._buffer:
            kept, self._buffer = self._buffer, b""
            head = kept + data[:_HEAD_ROOM]
            position = self._frame(head, 0, len(head), batch) - len(kept)
            if self._buffer:  # still not whole: all of this read is kept with it
                return
        if self._frame_left and position < end and self._reading:
            position = self._rest_of_frame(data, position, batch)
        while position < end and self._reading:
            if self._message is None:
                position = self._fast.decode(data, position, end, batch)
                if position == end:
                    return
            position = self._frame(data, position, end, batch)

    def _frame(self, buffer: bytes, position: int, end: int, batch: Batch) -> int:
        """Read one frame at ``position`` (or keep its start until more comes); return where the next one starts.

        Each check is made as soon as the bytes it needs are there, in the order wsproto makes them: the opcode and
        a control frame's FIN and length from the first two bytes; the length's form, the RSV bits and the mask bit
        once the length is complete; whether the frame fits the message (a continuation needs one, a new message
        must not interrupt one) with its first payload byte.
        """
        available = end - position
        if available < 2:
            self._buffer = buffer[position:]
            return end
        first, second = buffer[position], buffer[position + 1]
        opcode, fin, rsv = first & 0x0F, bool(first & 0x80), first & 0x70
        if opcode not in _OPCODES:
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
                self._buffer = buffer[position:]
                return end
            length, header = (buffer[position + 2] << 8) | buffer[position + 3], 4
            if length < 126:
                raise Failure(1002, "a frame length not in its shortest form")
        elif length == 127:
            if available < 10:
                self._buffer = buffer[position:]
                return end
            length, header = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            if length < 65536 or length >> 63:
                raise Failure(1002, "a frame length not in its shortest form (or over 2^63)")
        self._check_bits(opcode, rsv)
        if second & 0x80:
            raise Failure(1002, "the server sent a masked frame")
        start = position + header
        if control:
            if end - start < length:
                self._buffer = buffer[position:]
                return end
            self.careful_frames += 1
            self._control(opcode, buffer[start:start + length], batch)
            return start + length
        self.careful_frames += 1
        self._frame_opcode, self._frame_rsv, self._frame_fin, self._frame_left = opcode, rsv, fin, length
        self._frame_started = False
        stop = min(start + length, end)
        return start + self._payload(buffer[start:stop], batch)

    def _check_bits(self, opcode: int, rsv: int) -> None:
        if rsv & 0x30:
            raise Failure(1002, "RSV2/RSV3 set without an extension")
        if rsv:
            if self._inflater is None:
                raise Failure(1002, "RSV1 set without permessage-deflate")
            if opcode >= CLOSE:
                raise Failure(1002, "RSV1 on a control frame")
            if opcode == CONTINUATION:
                raise Failure(1002, "RSV1 on a continuation frame")

    def _payload(self, piece: bytes, batch: Batch) -> int:
        """Payload of the data frame being read (at most what is left of it); returns the bytes taken."""
        if not self._frame_started:
            if not piece and self._frame_left:
                return 0  # whether the frame fits the message is decided with its first payload byte
            self._start_frame()
        take = len(piece)
        self._frame_left -= take
        done = not self._frame_left
        message = self._message
        assert message is not None
        message.feed(piece, self._frame_fin and done)
        if done:
            self._end_frame(batch)
        return take

    def _start_frame(self) -> None:
        """The data frame's first payload byte is here: it must fit the message being assembled."""
        self._frame_started = True
        opcode, message = self._frame_opcode, self._message
        if opcode == CONTINUATION:
            if message is None:
                raise Failure(1002, "a continuation frame without a message to continue")
        else:
            if message is not None:
                raise Failure(1002, "a new message before the fragmented one ended")
            message = self._message = MessageAssembler(_TEXT if opcode == TEXT else _BINARY,
                                               self._inflater if self._frame_rsv else None, self.max_message_size)
        if not self._frame_fin:
            message.frames += 1  # frames before the final one
            if message.frames > self._fragments:
                raise Failure.too_big(f"message of more than {self._fragments} fragments (a fragment flood)")

    def _rest_of_frame(self, data: bytes, position: int, batch: Batch) -> int:
        """More payload of the data frame being read, from ``position``; returns where in ``data`` the frame ended."""
        stop = min(position + self._frame_left, len(data))
        return position + self._payload(data if position == 0 and stop == len(data) else data[position:stop], batch)

    def _end_frame(self, batch: Batch) -> None:
        if self._frame_fin:
            message = self._message
            assert message is not None
            self._message = None
            add_payload(batch, message.kind, message.payload())

    def _control(self, opcode: int, payload: bytes, batch: Batch) -> None:
        if opcode == PING:
            add_payload(batch, _PING, payload)
        elif opcode == PONG:
            add_payload(batch, _PONG, payload)
        else:
            try:
                code, reason = parse_close(payload)
            except CloseProblem as problem:
                raise Failure(problem.code, str(problem)) from None
            self._reading = False
            if self.state is State.OPEN:
                self._closed_by, self._code, self._reason = ClosedBy.SERVER, code, reason
                self._outgoing += encode_frame(CLOSE, close_payload(code if code != 1005 else None, reason),
                                               self._keys.next())
            else:
                self.answer = code
            self.state = State.CLOSED

    def _fail(self, failure: Failure) -> None:
        """Fail the connection (RFC 6455 7.1.7): stop reading; :meth:`close` gives the close frame."""
        self._reading = False
        self._closed_by, self._code, self._reason, self._fault = ClosedBy.WSDAT, failure.code, failure.reason, \
            failure.message
        self._failure_close = self._close_frame(failure.code, failure.reason)

    # -- sending -------------------------------------------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Bytes the protocol wrote on its own (the answer to a close frame); empty when none."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def encode(self, kind: EventKind, payload: Any) -> bytes:
        """One message or control frame to send: ``kind`` TEXT (``str``), BINARY, PING or PONG (``bytes``).

        Raises :class:`~wsdat_core.model.errors.ConnectionClosedError` once a close frame was sent or received (a
        failed connection still sends until its close frame is taken: what the hooks answered goes out first).
        """
        if self.state is not State.OPEN:
            raise ConnectionClosedError(self._closed_line())
        key = self._keys.next()
        if kind is _TEXT or kind is _BINARY:
            opcode = TEXT if kind is _TEXT else BINARY
            data = payload.encode("utf-8") if kind is _TEXT else payload
            deflater = self._deflater
            if deflater is not None:
                return encode_frame(opcode, deflater.compress(data), key, rsv1=True)
            return encode_frame(opcode, data, key)
        return encode_frame(PING if kind is _PING else PONG, payload, key)

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """Our close frame (the state becomes CLOSING); after a failure, the failure's close frame whatever ``code``
        says (the state becomes CLOSED: a failed connection waits for no answer). Empty when a close frame was
        already sent."""
        failure_close = self._failure_close
        if failure_close is not None:
            self._failure_close = None
            self.state = State.CLOSED
            return failure_close
        if self.state is not State.OPEN:
            return b""
        self._closed_by, self._code, self._reason = ClosedBy.WSDAT, code, reason
        self.state = State.CLOSING
        return self._close_frame(code, reason)

    def _close_frame(self, code: int, reason: str) -> bytes:
        return encode_frame(CLOSE, close_payload(code, reason), self._keys.next())

    def _closed_line(self) -> str:
        return f"the connection is closed ({self._code})" if self._closed_by else "the connection is closed"

    # -- how it ended --------------------------------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        """The connection failed (its close frame may still be due: :meth:`close`)."""
        return self._fault is not None

    @property
    def reading(self) -> bool:
        """Frames are still read: no close frame came and the connection did not fail."""
        return self._reading

    @property
    def end(self) -> ConnectionEnd | None:
        """How the connection ended (or is ending); None while it is open."""
        if self._closed_by is None:
            return None
        return ConnectionEnd(self._closed_by, self._code, self._reason, self._fault)
