"""The WebSocket protocol in the server role (RFC 6455, RFC 7692), sans-I/O: one client's frames in and out, once
:mod:`.serverhandshake` accepted its upgrade request. Built from the protocol layer's pieces (frames,
masking, close payloads, bounded inflating, the message assembler and failures the client role uses); no trio, no
sockets.

    protocol = ServerProtocol(max_message_size, deflate)  # deflate: what serverhandshake.agree_deflate agreed
    batch = protocol.receive_data(read())                 # [(EventKind, payload), ...] in order
    write(protocol.encode(EventKind.TEXT, "hi"))          # compressed when agreed
    protocol.close_received / .answer / .failure / .reading

**The fast loop.** Nearly every frame a client sends is *simple*: final, masked (as RFC 6455 5.3 requires), RSV1 only
when deflate was agreed, a text or binary opcode, a minimally encoded length within ``maxmessagesize``, whole in the
buffer. Those are unmasked (one big-integer XOR) and decoded straight from the read buffer. Everything else is read
frame by frame by the careful path, which streams payloads into the message being assembled (unmasked as they come),
so invalid UTF-8 fails the connection as soon as it is seen.

**Failing the connection** (RFC 6455 7.1.7): on a broken frame the protocol stops reading and keeps the failure (its
close code: 1002 protocol errors, 1007 invalid UTF-8 or deflate data, 1009 a message over ``maxmessagesize`` or in too
many fragments); the frames parsed before it are still returned, so what they answer goes out before the close frame.

This is the server role of :mod:`wsdat_core.protocol`; it lives here until the protocol layer has one of its own.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from ..model.events import EventKind
from .deflate import DeflateParams, Deflater, Inflater, TooBig
from .frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    CONTROL_PAYLOAD_MAX,
    PING,
    PONG,
    TEXT,
    CloseProblem,
    close_payload,
    encode_frame,
    fragment_limit,
    mask,
    parse_close,
)
from .messages import Failure
from .messages import MessageAssembler as Message

__all__ = ["Failure", "ServerProtocol"]

_TEXT: Final = EventKind.TEXT
_BINARY: Final = EventKind.BINARY
_PING: Final = EventKind.PING
_PONG: Final = EventKind.PONG
_OPCODES: Final = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})
_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_DEFLATED_TEXT: Final = 0xC1
_DEFLATED_BINARY: Final = 0xC2

Batch = list[tuple[EventKind, Any]]


def _as_receiver(params: DeflateParams) -> DeflateParams:
    """``params`` with the roles turned: the protocol layer's Inflater and Deflater are written for a client (it
    inflates what the server compressed, and compresses within the client's window)."""
    return DeflateParams(params.client_no_context_takeover, params.server_no_context_takeover,
                         params.client_max_window_bits, params.server_max_window_bits, params.agreed)


# ------------------------------------------------------------------------------------------------------- the frames
class ServerProtocol:
    """One client's connection once the upgrade was accepted, sans-I/O.

    ``state``: ``open``, ``closing`` (the server's close frame is out, the client's answer awaited) or ``closed``.
    After :meth:`receive_data`: :attr:`close_received` holds the client's close (code, reason) when it closed first,
    :attr:`answer` the code it answered the server's close with, :attr:`failure` what failed the connection; reading
    stops with any of them (:attr:`reading`).
    """

    def __init__(self, max_message_size: int, deflate: DeflateParams | None = None) -> None:
        self.limit = max_message_size
        self._fragments = fragment_limit(max_message_size)
        self._inflater: Inflater | None = None
        self._deflater: Deflater | None = None
        if deflate is not None:
            turned = _as_receiver(deflate)
            self._inflater = Inflater(turned, max_message_size)
            deflater = Deflater(turned)
            self._deflater = deflater if deflater.enabled else None
        self.state = "open"
        self.reading = True
        self.close_received: tuple[int, str] | None = None
        self.answer: int | None = None
        self.failure: Failure | None = None
        self._buffer = b""  # unread bytes starting at a frame's first byte
        self._message: Message | None = None
        # the data frame being read: FIN, payload bytes still to come, its masking key and how far into it
        self._frame_fin = False
        self._frame_left = 0
        self._frame_key = b""
        self._frame_offset = 0

    # -- receiving -----------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> Batch:
        """Take bytes from the client; return the messages and control frames they completed, in order."""
        batch: Batch = []
        if not self.reading or not data:
            return batch
        try:
            self._parse(data, batch)
        except Failure as failure:
            self.failure, self.reading = failure, False
        return batch

    def _parse(self, data: bytes, batch: Batch) -> None:
        if self._frame_left:
            data = self._rest_of_frame(data, batch)
            if not data:
                return
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        position, end = 0, len(data)
        while position < end and self.reading:
            if self._message is None:
                position = self._fast(data, position, end, batch)
                if position == end:
                    return
            position = self._frame(data, position, end, batch)

    def _fast(self, buffer: bytes, position: int, end: int, batch: Batch) -> int:
        """Decode whole simple frames from ``position``; return where the first other one starts."""
        limit, inflater, append = self.limit, self._inflater, batch.append
        while end - position >= 6:
            first = buffer[position]
            deflated = first in (_DEFLATED_TEXT, _DEFLATED_BINARY) and inflater is not None
            if first != _FIN_TEXT and first != _FIN_BINARY and not deflated:
                break
            length = buffer[position + 1] ^ 0x80  # the mask bit must be set: anything else is not simple
            if length < 126:
                start = position + 6
            elif length == 126:
                if end - position < 8:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                if length < 126:  # not the shortest encoding: the careful path refuses it
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
            payload = mask(buffer[start:stop], buffer[start - 4:start])
            text = first & 0x0F == TEXT
            if deflated:
                assert inflater is not None
                try:
                    payload = inflater.whole(payload)
                except TooBig:
                    raise Failure.too_big(f"message exceeds maxmessagesize {limit} bytes once decompressed") from None
                except zlib.error as exc:
                    raise Failure(1007, f"invalid permessage-deflate data: {exc}") from None
            if text:
                try:
                    append((_TEXT, payload.decode()))
                except UnicodeDecodeError:
                    if deflated:
                        raise Failure(1007, "invalid UTF-8 in a text message") from None
                    break  # the careful path fails it where the bad byte is
            else:
                append((_BINARY, payload))
            position = stop
        return position

    def _frame(self, buffer: bytes, position: int, end: int, batch: Batch) -> int:
        """Read one frame at ``position`` (or keep its start until more comes); return where the next one starts."""
        available = end - position
        if available < 2:
            return self._hold(buffer, position, end)
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
                return self._hold(buffer, position, end)
            length, header = (buffer[position + 2] << 8) | buffer[position + 3], 4
            if length < 126:
                raise Failure(1002, "a frame length not in its shortest form")
        elif length == 127:
            if available < 10:
                return self._hold(buffer, position, end)
            length, header = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            if length < 65536 or length >> 63:
                raise Failure(1002, "a frame length not in its shortest form (or over 2^63)")
        self._check_bits(opcode, rsv)
        if not second & 0x80:
            raise Failure(1002, "the client sent an unmasked frame")
        if available < header + 4:
            return self._hold(buffer, position, end)
        key, start = buffer[position + header:position + header + 4], position + header + 4
        if control:
            if end - start < length:
                return self._hold(buffer, position, end)
            self._control(opcode, mask(buffer[start:start + length], key), batch)
            return start + length
        self._start_message(opcode, bool(rsv), fin)
        self._frame_fin, self._frame_left, self._frame_key, self._frame_offset = fin, length, key, 0
        if not length:  # an empty frame: the message still hears of it (a final one completes it)
            self._payload(b"", batch)
            return start
        stop = min(start + length, end)
        self._payload(buffer[start:stop], batch)
        return stop

    def _hold(self, buffer: bytes, position: int, end: int) -> int:
        self._buffer = buffer[position:end]
        return end

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

    def _start_message(self, opcode: int, deflated: bool, fin: bool) -> None:
        message = self._message
        if opcode == CONTINUATION:
            if message is None:
                raise Failure(1002, "a continuation frame without a message to continue")
        else:
            if message is not None:
                raise Failure(1002, "a new message before the fragmented one ended")
            message = self._message = Message(_TEXT if opcode == TEXT else _BINARY,
                                              self._inflater if deflated else None, self.limit)
        if not fin:
            message.frames += 1
            if message.frames > self._fragments:
                raise Failure.too_big(f"message of more than {self._fragments} fragments (a fragment flood)")

    def _payload(self, piece: bytes, batch: Batch) -> None:
        """Payload of the data frame being read, unmasked from where it got to."""
        turn = self._frame_offset % 4
        key = self._frame_key[turn:] + self._frame_key[:turn]
        self._frame_offset += len(piece)
        self._frame_left -= len(piece)
        message = self._message
        assert message is not None
        message.feed(mask(piece, key), self._frame_fin and not self._frame_left)
        if not self._frame_left:
            self._end_frame(batch)

    def _rest_of_frame(self, data: bytes, batch: Batch) -> bytes:
        take = min(self._frame_left, len(data))
        self._payload(data[:take], batch)
        return data[take:]

    def _end_frame(self, batch: Batch) -> None:
        if self._frame_fin:
            message = self._message
            assert message is not None
            self._message = None
            batch.append((message.kind, message.payload()))

    def _control(self, opcode: int, payload: bytes, batch: Batch) -> None:
        if opcode == PING:
            batch.append((_PING, payload))
        elif opcode == PONG:
            batch.append((_PONG, payload))
        else:
            try:
                code, reason = parse_close(payload)
            except CloseProblem as problem:
                raise Failure(problem.code, str(problem)) from None
            self.reading = False
            if self.state == "open":
                self.close_received = (code, reason)
            else:
                self.answer = code
                self.state = "closed"

    # -- sending -------------------------------------------------------------------------------------------------
    def encode(self, kind: EventKind, payload: Any) -> bytes:
        """One message (``str`` text, ``bytes`` binary; compressed when agreed) or control frame (PING, PONG)."""
        if kind is _TEXT or kind is _BINARY:
            opcode = TEXT if kind is _TEXT else BINARY
            data = payload.encode("utf-8") if kind is _TEXT else payload
            deflater = self._deflater
            if deflater is not None:
                return encode_frame(opcode, deflater.compress(data), None, rsv1=True)
            return encode_frame(opcode, data, None)
        return encode_frame(PING if kind is _PING else PONG, payload, None)

    def close(self, code: int, reason: str = "") -> bytes:
        """The server's close frame: its own close, the answer to the client's (the same code and reason) or a
        failure's. Empty when one was sent already."""
        if self.state != "open":
            return b""
        self.state = "closing" if self.reading else "closed"
        return encode_frame(CLOSE, close_payload(code if code != 1005 else None, reason), None)

