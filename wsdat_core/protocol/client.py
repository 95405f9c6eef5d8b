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
(:mod:`~wsdat_core.protocol.reader`, shared with the server role), which streams payloads into the message being
assembled: text is decoded as it arrives, so invalid UTF-8 fails the connection as soon as it is seen, and a large
message is copied once. This class decides what the frames mean: close frames, failures, how it ended, sending.

**Failing the connection** (RFC 6455 7.1.7): on a broken frame the protocol stops reading (what followed is void) and
remembers the close code; the frames parsed before the failure are still returned, and :meth:`close` then gives the
close frame carrying that code. The caller delivers, lets what the hooks sent go out, writes the close frame and drops
TCP. The codes: 1002 for protocol errors, 1007 for invalid UTF-8 or deflate data, 1009 for a message over
``maxmessagesize`` (after decompression) or in more frames than :func:`~.frames.fragment_limit` allows.
"""

from __future__ import annotations

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
    PING,
    PONG,
    TEXT,
    CloseProblem,
    KeySource,
    close_payload,
    encode_frame,
    parse_close,
)
from .handshake import Accepted, ClientHandshake, HandshakeRequest
from .messages import Failure, add_payload
from .reader import FrameReader

__all__ = ["ClientProtocol", "State"]

_TEXT: Final = EventKind.TEXT
_BINARY: Final = EventKind.BINARY
_PING: Final = EventKind.PING
_PONG: Final = EventKind.PONG


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
        self._handshake = ClientHandshake(request, random)
        self._keys = KeySource(random)
        #: What the server agreed to, once open.
        self.accepted: Accepted | None = None
        self._inflater: Inflater | None = None
        self._deflater: Deflater | None = None
        self._fast = FastLoop(max_message_size)
        self._reader = FrameReader(max_message_size, masked=False, emit=add_payload, control=self._control)
        self._outgoing = bytearray()
        # how it ends
        self._closed_by: ClosedBy | None = None
        self._code = ABNORMAL
        self._reason = ""
        self._fault: str | None = None
        self._failure_close: bytes | None = None  # the close frame of a failure, until close() hands it over
        #: The code the server answered our close frame with.
        self.answer: int | None = None

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
            self._inflater = self._reader.inflater = Inflater(accepted.deflate, self.max_message_size)
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
        if not self._reader.reading or not data:
            return batch
        try:
            self._reader.parse(data, batch, self._fast.decode)
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
        self._reader.reading = False
        if self._failure_close is None:
            self.state = State.CLOSED

    def _control(self, batch: Batch, opcode: int, payload: bytes) -> None:
        if opcode == PING:
            add_payload(batch, _PING, payload)
        elif opcode == PONG:
            add_payload(batch, _PONG, payload)
        else:
            try:
                code, reason = parse_close(payload)
            except CloseProblem as problem:
                raise Failure(problem.code, str(problem)) from None
            self._reader.reading = False
            if self.state is State.OPEN:
                self._closed_by, self._code, self._reason = ClosedBy.SERVER, code, reason
                self._outgoing += encode_frame(CLOSE, close_payload(code if code != 1005 else None, reason),
                                               self._keys.next())
            else:
                self.answer = code
            self.state = State.CLOSED

    def _fail(self, failure: Failure) -> None:
        """Fail the connection (RFC 6455 7.1.7): stop reading; :meth:`close` gives the close frame."""
        self._reader.reading = False
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
    def careful_frames(self) -> int:
        """Frames read by the careful path so far (:attr:`~.reader.FrameReader.careful_frames`)."""
        return self._reader.careful_frames

    @property
    def reading(self) -> bool:
        """Frames are still read: no close frame came and the connection did not fail."""
        return self._reader.reading

    @property
    def end(self) -> ConnectionEnd | None:
        """How the connection ended (or is ending); None while it is open."""
        if self._closed_by is None:
            return None
        return ConnectionEnd(self._closed_by, self._code, self._reason, self._fault)
