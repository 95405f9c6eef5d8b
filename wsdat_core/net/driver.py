"""The trio driver of one WebSocket client connection: a read loop, one write lock, keepalive, the close handshake
with its timeout, abort. The protocol decides everything (:class:`~wsdat_core.protocol.client.ClientProtocol`); the
driver only moves bytes.

It is *pulled*: the caller (the DAT's session) asks for what arrived and tells it what to send, and the driver never
calls back::

    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.keep_alive)
        async for batch in link.batches():         # one batch per network read
            ...                                    # cook it
        end = await link.close(1000, "bye")        # how it ended: a ConnectionEnd

While the caller is busy with a batch nothing is read from the socket: that is the DAT's backpressure.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Final

import trio

from ..model.address import Endpoint
from ..model.closing import ABNORMAL, ClosedBy, ConnectionEnd
from ..model.errors import ConnectionClosedError
from ..model.events import Batch, EventKind, Outgoing
from ..protocol.client import ClientProtocol, State

__all__ = ["CLOSE_WAIT", "RECEIVE_BUFFER", "Batches", "Link"]

#: Bytes asked of the socket per read: a read returns what is there, so small feeds get small reads, while a blast of
#: large messages gets few reads, few cooks and few scheduler rounds (measured: 64 KiB messages 1.5x faster than with
#: 64 KiB reads, small messages unchanged).
RECEIVE_BUFFER: Final = 1024 * 1024
#: Seconds to wait for the server's close frame after ours, and for its TCP close after the close handshake.
CLOSE_WAIT: Final = 2.0
_PONG: Final = EventKind.PONG
_BROKEN: Final = (trio.BrokenResourceError, trio.ClosedResourceError)
#: The keepalive ping's payload.
KEEPALIVE_PAYLOAD: Final = b"wsdat"


class Batches:
    """``async for batch in link.batches()``: what each network read brought, until the connection ends."""

    __slots__ = ("_link",)

    def __init__(self, link: Link) -> None:
        self._link = link

    def __aiter__(self) -> Batches:
        return self

    async def __anext__(self) -> Batch:
        batch = await self._link.receive()
        if batch is None:
            raise StopAsyncIteration
        return batch


class Link:
    """An open connection: made by :func:`~wsdat_core.net.connect.connect`, after the handshake succeeded."""

    def __init__(self, stream: trio.abc.Stream, protocol: ClientProtocol, endpoint: Endpoint, *,
                 first: Batch | None = None, received: int = 0, keepalive: tuple[float, float] = (20.0, 20.0)
                 ) -> None:
        self._stream = stream
        self._protocol = protocol
        #: Where this connection goes (after redirects).
        self.endpoint = endpoint
        #: Bytes read from the network, WebSocket framing and the handshake answer included.
        self.bytes_received = received
        self._first = first or None  # frames that came with the handshake answer
        self._lock = trio.StrictFIFOLock()
        self._eof = False
        self._aborted = False
        self._fault: str | None = None  # found by the driver itself: keepalive declared the peer dead
        self._reading = False  # a read is in progress (else the caller is busy with a batch)
        self._read_ended = trio.Event()  # set (and renewed) when a read ends
        self._pong = trio.Event()  # set by any pong: the peer is alive
        self._keepalive = keepalive
        self._keepalive_changed = trio.Event()

    @property
    def subprotocol(self) -> str | None:
        return self._protocol.subprotocol

    @property
    def extensions(self) -> str:
        """The extensions the server agreed to, e.g. ``permessage-deflate; server_no_context_takeover`` (or "")."""
        return self._protocol.extensions

    # -- receiving -------------------------------------------------------------------------------------------------
    def batches(self) -> Batches:
        return Batches(self)

    async def receive(self) -> Batch | None:
        """What the next network read brought (never an empty batch); None once nothing more will come (the server
        closed, TCP ended, the connection failed). Cancelling it loses nothing."""
        first = self._first
        if first is not None:
            self._first = None
            return first
        protocol = self._protocol
        while protocol.reading and not self._eof:
            self._reading = True
            try:
                data: bytes | bytearray = await self._stream.receive_some(RECEIVE_BUFFER)
            except _BROKEN:
                data = b""
            finally:
                self._reading = False
                self._read_ended.set()
                self._read_ended = trio.Event()
            if not data:
                self._eof = True
                protocol.receive_eof()
                return None
            self.bytes_received += len(data)
            batch = protocol.receive_data(data if type(data) is bytes else bytes(data))
            reply = protocol.data_to_send()
            if reply:
                with contextlib.suppress(ConnectionClosedError):
                    await self._write(reply)
            if batch:
                for run in batch:
                    if run.kind is _PONG:
                        self._pong.set()
                return batch
        return None

    # -- sending ---------------------------------------------------------------------------------------------------
    async def send_batch(self, items: Sequence[Outgoing]) -> None:
        """Write ``items`` (messages and control frames) in one write.

        Raises :class:`ConnectionClosedError` when a close frame was sent or received, or the connection broke;
        nothing of the batch was sent then.
        """
        encode = self._protocol.encode
        await self._write(b"".join([encode(item.kind, item.payload) for item in items]))

    async def send_pong(self, payload: bytes) -> None:
        """Answer a ping at once (RFC 6455 5.5.2); raises :class:`ConnectionClosedError` when it cannot."""
        await self._write(self._protocol.encode(_PONG, payload))

    async def _write(self, data: bytes) -> None:
        async with self._lock:
            if self._aborted:
                raise ConnectionClosedError(self._closed_line())
            try:
                await self._stream.send_all(data)
            except _BROKEN:
                await self.abort()
                raise ConnectionClosedError(self._closed_line()) from None

    def _closed_line(self) -> str:
        end = self.end
        return f"the connection is closed ({end.code})" if end else "the connection is closed"

    # -- keepalive -------------------------------------------------------------------------------------------------
    def set_keepalive(self, interval: float, timeout: float) -> None:
        """New keepalive settings (seconds; 0 turns pings off / does not wait for the pong), applied at once."""
        self._keepalive = (interval, timeout)
        self._keepalive_changed.set()

    async def keep_alive(self) -> None:
        """Ping every ``interval`` s; a peer that sends no pong within ``timeout`` s is dead: drop it (RFC 6455 5.5.2).
        Run it beside the reading, in the caller's nursery; it returns when the connection ends.

        While the caller is busy with a batch (slow async callbacks, a subscriber behind), the pong may be sitting
        unread in the socket: that is not the peer's fault, so the wait goes on once the driver reads again.
        """
        while True:
            changed = self._keepalive_changed
            interval, timeout = self._keepalive
            with trio.move_on_after(interval if interval > 0 else math.inf):
                await changed.wait()
            if changed.is_set():  # new keepalive settings: start over with them
                self._keepalive_changed = trio.Event()
                continue
            self._pong = trio.Event()
            try:
                await self._write(self._protocol.encode(EventKind.PING, KEEPALIVE_PAYLOAD))
            except ConnectionClosedError:
                return
            if timeout > 0 and not await self._wait_for_pong(timeout):
                self._fault = f"keepalive: no pong within {timeout:g} s, the connection is dead"
                await self.abort()
                return

    async def _wait_for_pong(self, timeout: float) -> bool:
        while True:
            with trio.move_on_after(timeout):
                await self._pong.wait()
                return True
            if self._reading or self._aborted:
                return False
            await self._read_ended.wait()  # the caller was not reading: look again once a read ended

    # -- closing ---------------------------------------------------------------------------------------------------
    async def close(self, code: int = 1000, reason: str = "", timeout: float = CLOSE_WAIT) -> ConnectionEnd:
        """End the connection and say how it ended.

        Open: send a close frame with ``code`` and ``reason`` and wait (at most ``timeout`` s) for the server's; what
        arrives meanwhile is dropped. Failed: send the failure's close frame. Then wait for the server's TCP close
        (it closes first, RFC 6455 7.1.1; at most ``timeout`` s) and drop the connection.
        """
        protocol = self._protocol
        frame = protocol.close(code, reason)
        if frame:
            with contextlib.suppress(ConnectionClosedError):
                await self._write(frame)
        with trio.move_on_after(timeout):
            if protocol.state is State.CLOSING:
                while await self.receive() is not None:
                    pass  # the close handshake is under way: messages now are lost
            if protocol.state is State.CLOSED and not protocol.failed:
                await self._wait_for_eof()
        await self.abort()
        end = self.end
        assert end is not None
        return end

    async def _wait_for_eof(self) -> None:
        with contextlib.suppress(*_BROKEN):
            while not self._eof and not self._aborted and await self._stream.receive_some(RECEIVE_BUFFER):
                pass
        self._eof = True

    async def say_goodbye(self, code: int, reason: str) -> None:
        """Send a close frame without waiting for the answer (the caller is being cancelled)."""
        frame = self._protocol.close(code, reason)
        if frame:
            with contextlib.suppress(ConnectionClosedError):
                await self._write(frame)

    async def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        if not self._aborted:
            self._aborted = True
            if not self._eof and self._protocol.end is None:
                self._protocol.receive_eof()
            await trio.aclose_forcefully(self._stream)

    # -- how it ended ----------------------------------------------------------------------------------------------
    @property
    def answer(self) -> int | None:
        """The close code the server answered our close frame with (None: it did not)."""
        return self._protocol.answer

    @property
    def failing(self) -> bool:
        """The protocol failed the connection (RFC 6455 7.1.7); :meth:`close` sends the close frame saying why."""
        return self._protocol.failed

    @property
    def end(self) -> ConnectionEnd | None:
        """How the connection ended (None while open). A peer found dead by keepalive is a fault of its own."""
        if self._fault is not None:
            return ConnectionEnd(ClosedBy.WSDAT, ABNORMAL, "", self._fault)
        return self._protocol.end
