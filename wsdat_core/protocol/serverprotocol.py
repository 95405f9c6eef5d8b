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
frame by frame by the careful path both roles share (:mod:`.reader`), which streams payloads into the message being
assembled (unmasked as they come), so invalid UTF-8 fails the connection as soon as it is seen.

**Failing the connection** (RFC 6455 7.1.7): on a broken frame the protocol stops reading and keeps the failure (its
close code: 1002 protocol errors, 1007 invalid UTF-8 or deflate data, 1009 a message over ``maxmessagesize`` or in too
many fragments); the frames parsed before it are still returned, so what they answer goes out before the close frame.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from ..model.events import EventKind
from .deflate import DeflateParams, Deflater, Inflater, TooBig
from .frames import (
    BINARY,
    CLOSE,
    DEFLATED_BINARY,
    DEFLATED_TEXT,
    FIN_BINARY,
    FIN_TEXT,
    PING,
    PONG,
    TEXT,
    CloseProblem,
    close_payload,
    encode_frame,
    mask,
    parse_close,
)
from .messages import Failure
from .reader import FrameReader

__all__ = ["Failure", "ServerProtocol"]

_TEXT: Final = EventKind.TEXT
_BINARY: Final = EventKind.BINARY
_PING: Final = EventKind.PING
_PONG: Final = EventKind.PONG

Batch = list[tuple[EventKind, Any]]


def _emit(batch: Batch, kind: EventKind, payload: Any) -> None:
    batch.append((kind, payload))


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
        self._reader = FrameReader(max_message_size, masked=True, emit=_emit, control=self._control)
        self._inflater: Inflater | None = None
        self._deflater: Deflater | None = None
        if deflate is not None:
            turned = _as_receiver(deflate)
            self._inflater = self._reader.inflater = Inflater(turned, max_message_size)
            deflater = Deflater(turned)
            self._deflater = deflater if deflater.enabled else None
        self.state = "open"
        self.close_received: tuple[int, str] | None = None
        self.answer: int | None = None
        self.failure: Failure | None = None

    @property
    def reading(self) -> bool:
        """Frames are still read: no close frame came and the connection did not fail."""
        return self._reader.reading

    @reading.setter
    def reading(self, value: bool) -> None:
        self._reader.reading = value

    # -- receiving -----------------------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> Batch:
        """Take bytes from the client; return the messages and control frames they completed, in order."""
        batch: Batch = []
        if not self.reading or not data:
            return batch
        try:
            self._reader.parse(data, batch, self._fast)
        except Failure as failure:
            self.failure, self.reading = failure, False
        return batch

    def _fast(self, buffer: bytes, position: int, end: int, batch: Batch) -> int:
        """Decode whole simple frames from ``position``; return where the first other one starts."""
        limit, inflater, append = self.limit, self._inflater, batch.append
        while end - position >= 6:
            first = buffer[position]
            deflated = first in (DEFLATED_TEXT, DEFLATED_BINARY) and inflater is not None
            if first != FIN_TEXT and first != FIN_BINARY and not deflated:
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
                except (TooBig, zlib.error) as exc:
                    raise Failure.inflating(exc, limit) from None
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

    def _control(self, batch: Batch, opcode: int, payload: bytes) -> None:
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

