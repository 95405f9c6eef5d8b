"""One WebSocket client of a Web Server DAT: reading and cooking what it sends, sending to it, keepalive, closing.

:class:`~.serverprotocol.ServerProtocol` speaks the protocol (sans-I/O); this module is the trio side, shaped like
the WebSocket DAT's connection: the reader hands the events of one network read to one *cook* (table rows, hooks, event
subscribers), and reads nothing more from this client until the cook is done, so a slow plain hook slows down only
its own client's reading (backpressure), never the other clients' sends. One sender task per client takes
everything queued for it (:class:`~.sendqueue.SendQueue`, bounded by ``sendqueuebytes``) and writes it with one
``send_all``; messages to clients without compression are encoded once per broadcast.

Endings, each one line:

* the client closes (its close frame is answered, then TCP closed: the server closes TCP first, RFC 6455 7.1.1);
* the server closes (``webSocketClose``, the server stopping or restarting): what was queued goes out, then the close
  frame; the client has :data:`CLOSE_TIMEOUT` to answer;
* the client breaks the protocol (1002, 1007) or sends a message above ``maxmessagesize`` (1009): the connection is
  failed (RFC 6455 7.1.7: close frame, then TCP closed without waiting);
* the client does not answer a keepalive ping within ``pingtimeout`` (1011), or does not read what is sent to it
  (its send queue is full: 1008; the close frame cannot reach a client that does not read, so TCP is dropped);
* TCP ends without a close frame (1006).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import trio

from ..model.closing import ABNORMAL, close_description
from ..model.errors import ConnectionClosedError
from ..model.events import EventKind, Outgoing
from ..model.serverevents import (
    ClientBinaryReceived,
    ClientPingReceived,
    ClientPongReceived,
    ClientTextReceived,
    WebSocketClosed,
    WebSocketOpened,
)
from ..protocol import frames
from ..protocol.serverprotocol import ServerProtocol
from .sendqueue import Receipt, SendQueue, settle

if TYPE_CHECKING:
    from ..model.client import Client
    from .serversession import ServerSession

__all__ = ["CLOSE_TIMEOUT", "ClientLink", "encode_plain"]

#: Bytes asked of the socket per read (64 KiB with compression: it bounds what one read can inflate to).
RECEIVE_BUFFER: Final = 256 * 1024
RECEIVE_BUFFER_DEFLATE: Final = 64 * 1024
#: Queued messages are written together up to about this much.
SEND_BATCH: Final = 256 * 1024
#: Seconds a client has to answer the server's close frame, and the server to write its own.
CLOSE_TIMEOUT: Final = 2.0
_QUEUE_ITEMS: Final = 1 << 20  # the queue is bounded by bytes (sendqueuebytes); this only keeps the count sane

TEXT: Final = EventKind.TEXT
BINARY: Final = EventKind.BINARY
PING: Final = EventKind.PING
PONG: Final = EventKind.PONG
_CLOSE: Final = EventKind.DISCONNECT  # a queued close frame (payload: its code and reason)
_OPCODES: Final = {TEXT: frames.TEXT, BINARY: frames.BINARY}


@dataclass(slots=True)
class _Encoded(Outgoing):
    """A message queued as its frame already (a broadcast: encoded once for every client without compression)."""


def encode_plain(kind: EventKind, payload: str | bytes) -> bytes:
    """The frame of a complete text or binary message of a server (not masked), without compression."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return frames.encode_frame(_OPCODES[kind], data, None)


def _none(*args: Any) -> tuple[()]:
    return ()


class ClientLink:
    """The connection of one client; :meth:`run` serves it until it ended (in the session's nursery)."""

    def __init__(self, session: ServerSession, client: Client, stream: trio.abc.Stream, protocol: ServerProtocol,
                 extensions: str, leftover: bytes = b"") -> None:
        self.session = session
        self.dat = session.dat
        self.client = client
        self.stream = stream
        self.protocol = protocol
        self.extensions = extensions
        self.compressed = "permessage-deflate" in extensions
        self.queue = SendQueue(_QUEUE_ITEMS, self.dat.par.value("sendqueuebytes"))
        self._leftover = leftover  # frames a client sent right behind its handshake
        #: Set once the connection is over and every hook about it was called.
        self.finished = trio.Event()
        #: True once the server decided to close (or answered the client's close): sends are refused.
        self.closing = False
        self._unread = 0  # bytes read and not yet counted in the bytes_received channel
        self._scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._close_written = False  # the server's close frame (or answer) went out
        self._partial_write = False  # a write was interrupted: the stream may end in the middle of a frame
        self._answer: int | None = None  # the close code the client answered the server's close with
        self._end: tuple[str, int, str] | None = None  # (who ended it, code, reason)
        self._fault: str | None = None
        self._ping_payload: bytes | None = None  # the ping whose hooks run, and whether one of them answered it
        self._ping_answered = False
        self._keepalive_payload: bytes | None = None
        self._keepalive_pong = trio.Event()
        self._keepalive_wake = trio.Event()

    # -- sending (called by the server's methods) ---------------------------------------------------------------------
    def send(self, kind: EventKind, payload: Any, size: int) -> int:
        """Queue without waiting; the size, or -1 (closing, or the queue is full: then the client is closed)."""
        if self.closing:
            return -1
        if kind is PING or kind is PONG:
            if kind is PONG and payload == self._ping_payload:
                self._ping_answered = True
            self.queue.put(Outgoing(kind, payload, size), force=True)  # control frames pass the bound
            return size
        if not self.queue.put(Outgoing(kind, payload, size)):
            self._overflow()
            return -1
        return size

    def send_encoded(self, kind: EventKind, payload: Any, size: int, frame: bytes) -> int:
        """Queue a broadcast message, encoded already unless this client compresses; 1 when queued, else 0."""
        if self.closing:
            return 0
        item = Outgoing(kind, payload, size) if self.compressed else _Encoded(kind, frame, size)
        if not self.queue.put(item):
            self._overflow()
            return 0
        return 1

    async def send_wait(self, kind: EventKind, payload: Any, size: int) -> None:
        receipt = Receipt()
        if self.closing or not await self.queue.put_wait(Outgoing(kind, payload, size, receipt)) or \
                not await receipt.wait():
            raise ConnectionClosedError(f"{self.dat.name}: the connection of {self.client} ended before the message "
                                        "was sent")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely: what was queued goes first, then the close frame; the client has :data:`CLOSE_TIMEOUT`
        to answer."""
        if self.closing:
            return
        self.closing = True
        self._end = self._end or ("server", code, reason)
        self.queue.put(Outgoing(_CLOSE, (code, reason), 0), force=True)
        if self._nursery is not None:
            self._nursery.start_soon(self._close_watchdog)

    async def close_wait(self, code: int, reason: str) -> int:
        self.close(code, reason)
        await self.finished.wait()
        return self._answer if self._answer is not None else ABNORMAL

    def keepalive_changed(self) -> None:
        self._keepalive_wake.set()
        self._keepalive_wake = trio.Event()

    def _fail(self, code: int, reason: str, fault: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): the close frame goes after what is queued, then TCP is closed
        without waiting for an answer."""
        self._fault = self._fault or fault
        if not self.closing:
            self.closing = True
            self._end = self._end or ("server", code, reason)
            self.queue.put(Outgoing(_CLOSE, (code, reason), 0), force=True)

    def _overflow(self) -> None:
        """The send queue is full: the client does not read. It is closed (1008) at once, without slowing anyone
        down; a close frame cannot reach it through a full socket, so the connection is dropped."""
        if self.closing:
            return
        self.closing = True
        self._end = ("server", 1008, "send queue full: the client does not read")
        self.dat.info.refused += 1
        self.session.warn(f"client {self.client} does not read: {self.queue.queued_bytes} bytes wait for it "
                          f"(sendqueuebytes {self.queue.byte_limit}); closed with 1008, the connection dropped")
        if self._scope is not None:
            self._scope.cancel()

    async def _close_watchdog(self) -> None:
        await trio.sleep(CLOSE_TIMEOUT)
        if self._scope is not None:
            self._scope.cancel()

    # -- running ------------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        session, client, info = self.session, self.client, self.dat.info
        session.links[client] = self
        info.clients += 1
        info.connects += 1
        try:
            async with trio.open_nursery() as nursery:
                self._scope, self._nursery = nursery.cancel_scope, nursery
                nursery.start_soon(self._send_loop)
                nursery.start_soon(self._keepalive)
                await self._opened()
                await self._read_loop()
                with trio.move_on_after(CLOSE_TIMEOUT):
                    await self.queue.wait_sent()  # the close frame (and what came before it) goes out
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                await self._goodbye()
                await trio.aclose_forcefully(self.stream)
                self._ended()

    async def _goodbye(self) -> None:
        """Ended from outside (the server stops, the client is dropped): send the close frame the server decided on
        (``1001 going away`` when it decided nothing), unless a write was cut in the middle of a frame."""
        if self._close_written or self._partial_write or self.protocol.state != "open":
            return
        self._end = self._end or ("server", 1001, "going away")
        _who, code, reason = self._end
        with trio.move_on_after(CLOSE_TIMEOUT / 2):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(self.protocol.close(code, reason))

    async def _opened(self) -> None:
        session, client = self.session, self.client
        details = f"; {self.extensions}" if self.extensions else ""
        session.monitor(f"client {client} connected ({client.uri}{details})")
        if session.bus.subscribers:
            session.bus.publish(WebSocketOpened(client.uri, None, self.extensions, client))
        pending = self.dat.host.call("onWebSocketOpen", client, client.uri)
        if pending:
            session.runner.submit(pending)
            await session.runner.wait_started()

    def _ended(self) -> None:
        """Everything about the end: the client's attributes, counts, one line, the event and onWebSocketClose."""
        session, client, info = self.session, self.client, self.dat.info
        session.links.pop(client, None)
        info.clients -= 1
        info.disconnects += 1
        left = self.queue.drain()
        settle(left, False)
        who, code, reason = self._end or ("network", ABNORMAL, "")
        client.close_code, client.close_reason = code, reason
        detail = close_description(code, "" if close_description(code).endswith(f" {reason}") else reason)
        if self._fault:
            line = f"client {client} disconnected: {self._fault}"
            session.warn(line)
        else:
            line = {"client": f"client {client} disconnected ({detail})",
                    "server": f"client {client} closed by the server ({detail})",
                    "network": f"client {client} disconnected: the connection ended without a close frame "
                               f"({detail})"}[who]
            session.monitor(line)
        if left or self.queue.lost:
            session.warn(f"{len(left) + self.queue.lost} message(s) queued to {client} not sent: the connection "
                         "ended")
        if session.bus.subscribers:
            session.bus.publish(WebSocketClosed(code, reason, line if self._fault else None, client))
        session.runner.submit(self.dat.host.call("onWebSocketClose", client))
        self.finished.set()

    # -- reading ------------------------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        receive, protocol, value = self.stream.receive_some, self.protocol, self.dat.par.value
        size = RECEIVE_BUFFER_DEFLATE if self.compressed else RECEIVE_BUFFER
        data, self._leftover = self._leftover, b""  # frames that came with the handshake first, then each read's
        while True:
            protocol.limit = value("maxmessagesize")
            batch = protocol.receive_data(data)
            if batch:
                await self._cook(batch)
            if not protocol.reading:  # after the messages that came before the close or the bad frame
                self._stopped_reading()
                return
            try:
                data = cast(bytes, await receive(size))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""  # reset, or a broken TLS stream: the same as an end without a close frame
            if not data:
                self._end = self._end or ("network", ABNORMAL, "")
                return
            self._unread += len(data)

    def _stopped_reading(self) -> None:
        """The protocol read a close frame or failed the connection: answer the client's close, take the answer
        to the server's, or fail (RFC 6455 7.1.7: the close frame after what is queued, no wait for an answer)."""
        protocol = self.protocol
        if protocol.failure is not None:
            failure = protocol.failure
            self._fail(failure.code, failure.reason, failure.message)
        elif protocol.close_received is not None:  # the client closes: the answer repeats its code and reason
            code, reason = protocol.close_received
            self._end = ("client", code, reason)
            self._answer = code
            self.closing = True
            self.queue.put(Outgoing(_CLOSE, (code, reason), 0), force=True)
        else:  # the answer to the server's close
            self._answer = protocol.answer

    async def _cook(self, batch: list[tuple[EventKind, Any]]) -> None:
        """The events of one read through the table, the hooks and the subscribers, in order."""
        session, dat, client = self.session, self.dat, self.client
        await session.before_event()
        info, table, host, runner, bus = dat.info, dat.table, dat.host, session.runner, session.bus
        on_text = host.dispatcher("onWebSocketReceiveText") or _none
        on_binary = host.dispatcher("onWebSocketReceiveBinary") or _none
        subscribers = bus.subscribers
        binary_rows = dat.par.value("binaryrows")
        started = info.begin_cook()
        received = 0
        try:
            for kind, payload in batch:
                if kind is TEXT:
                    received += 1
                    row = table.add(client, payload)
                    pending = on_text(client, payload)
                    if subscribers:
                        bus.publish(ClientTextReceived(row, payload, client))
                elif kind is BINARY:
                    received += 1
                    row = table.add(client, payload) if binary_rows else 0
                    pending = on_binary(client, payload)
                    if subscribers:
                        bus.publish(ClientBinaryReceived(payload, row, client=client))
                elif kind is PING:
                    pending = self._ping(payload)
                    if subscribers:
                        bus.publish(ClientPingReceived(payload, client))
                else:
                    pending = host.call("onWebSocketReceivePong", client, payload)
                    if payload == self._keepalive_payload:
                        self._keepalive_pong.set()
                    if subscribers:
                        bus.publish(ClientPongReceived(payload, client))
                if pending or subscribers:  # the client's reading waits while async hooks or subscribers are behind
                    runner.submit(pending)
                    if runner.waiting or (subscribers and bus.full):
                        await runner.wait_started()
                        await bus.wait_room()
        finally:
            info.messages_received += received
            info.bytes_received += self._unread
            self._unread = 0
            info.end_cook(started)

    def _ping(self, payload: bytes) -> Any:
        """The ping hooks, then one pong: the hook's own (``webSocketSendPong(client, data)``) or the server's."""
        self._ping_payload, self._ping_answered = payload, False
        try:
            pending = self.dat.host.call("onWebSocketReceivePing", self.client, payload)
        finally:
            self._ping_payload = None
        if not self._ping_answered and not self.closing:
            self.queue.put(Outgoing(PONG, payload, len(payload)), force=True)
        return pending

    # -- writing ------------------------------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        queue, protocol, stream, info = self.queue, self.protocol, self.stream, self.dat.info
        encode = protocol.encode if self.compressed else encode_plain
        while True:
            items = await queue.take(SEND_BATCH)
            chunks: list[bytes] = []
            sent: list[Outgoing] = []
            dropped: list[Outgoing] = []
            messages = size = 0
            for item in items:
                kind, payload = item.kind, item.payload
                if protocol.state != "open":  # the server's close frame is out: nothing may follow it
                    dropped.append(item)
                    continue
                if kind is _CLOSE:
                    chunks.append(protocol.close(*payload))
                    self._close_written = True
                elif type(item) is _Encoded:
                    chunks.append(payload)
                elif kind is TEXT or kind is BINARY:
                    chunks.append(encode(kind, payload))
                else:
                    chunks.append(protocol.encode(kind, payload))
                sent.append(item)
                if kind is not PING and kind is not PONG and kind is not _CLOSE:
                    messages += 1
                    size += item.size
            try:
                if chunks:
                    self._partial_write = True
                    await stream.send_all(b"".join(chunks))
                    self._partial_write = False
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._partial_write = False
                self.queue.lost += len(sent)
                settle(items, False)
                queue.written()
                return  # the reader sees the end
            settle(sent, True)
            settle(dropped, False)
            queue.written()
            info.messages_sent += messages
            info.bytes_sent += size

    async def _keepalive(self) -> None:
        """Ping after ``pinginterval`` seconds; a client that does not answer within ``pingtimeout`` is closed
        (1011). A change of either parameter starts the wait over."""
        value = self.dat.par.value
        while True:
            wake = self._keepalive_wake
            interval = value("pinginterval")
            with trio.move_on_after(interval if interval else float("inf")):
                await wake.wait()
                continue
            payload = os.urandom(4)
            self._keepalive_payload, self._keepalive_pong = payload, trio.Event()
            self.send(PING, payload, len(payload))
            timeout = value("pingtimeout")
            if not timeout:
                continue
            with trio.move_on_after(timeout):
                await self._keepalive_pong.wait()
                continue
            self._fail(1011, "keepalive ping timeout", f"no answer to a keepalive ping within {timeout:g} s "
                       "(pingtimeout); closed with 1011")
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self.queue.wait_sent()
            if self._scope is not None:  # the reader waits for a client that says nothing: end it now
                self._scope.cancel()
            return
