"""The network: open a WebSocket client connection, hand what arrives to the session in batches, keep it alive,
and report how it ended.

This is the only module that touches trio-websocket and wsproto. :class:`Link` subclasses trio-websocket's
``WebSocketConnection`` (tested against the 0.12 series, pinned in ``pyproject.toml``; ``tests/test_link.py`` checks
every private name used here) to change what a DAT needs without forking it:

* complete messages, pings and pongs go to a batch instead of the library's memory channel, so they reach
  ``onReceivePing`` / ``onReceivePong`` and no task switch happens per message; pings are answered by the session
  after the hooks saw them (so a hook's own ``sendPong`` is the only pong), not by the reader;
* the batch is handed to the session once per network read (one *cook* per read): the reader cooks the events parsed
  from one read just before the next read, which also gives backpressure: while the DAT is busy, nothing more is
  read from the socket;
* protocol failures, oversized messages and rejected handshakes become :mod:`~wsdat_core.model.errors` with one clear
  line each, and a broken frame fails the connection as RFC 6455 7.1.7 says (close frame with the code, then TCP
  close);
* keepalive pings run beside the reader, and the end of the connection is one frozen
  :class:`~wsdat_core.model.closing.ConnectionEnd`.
"""

from __future__ import annotations

import contextlib
import io
import math
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import trio
import wsproto.utilities
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason as Codes
from wsproto.frame_protocol import Opcode, RsvBits

from .._version import __version__
from ..model.address import Endpoint, resolve_url
from ..model.closing import ABNORMAL, ClosedBy, ConnectionEnd
from ..model.errors import ConnectError, ConnectionClosedError, HandshakeRejected, ProtocolError, TLSError, WsdatError
from ..model.events import EventKind
from ..model.proxy import ProxySpec
from ..protocol.framing import FrameSplitter
from .transport import open_stream

__all__ = [
    "BINARY",
    "PING",
    "PONG",
    "TEXT",
    "ConnectOptions",
    "Link",
    "make_ssl_context",
    "open_link",
]

# Kinds of received event in a batch; a batch is a list of (kind, payload).
TEXT: Final = EventKind.TEXT
BINARY: Final = EventKind.BINARY
PING: Final = EventKind.PING
PONG: Final = EventKind.PONG

_CLOSE_RECEIVED: Final = frozenset({ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED})

Event = tuple[EventKind, Any]
Sink = Callable[[list[Event]], Awaitable[None]]
#: What the send path writes: ``(kind, payload, size in bytes, the sender's receipt)``.
Outgoing = tuple[EventKind, Any, int, Any]

#: Bytes asked of the socket per read: a read returns what is there, so small feeds get small reads, while a blast of
#: large messages gets few reads, few cooks and few scheduler rounds (measured: 64 KiB messages 1.5x faster than with
#: 64 KiB reads, small messages unchanged).
RECEIVE_BUFFER: Final = 1024 * 1024
USER_AGENT: Final = f"wsdat/{__version__}"
#: Seconds to wait for the server's TCP close after the WebSocket close handshake.
CLOSE_WAIT: Final = 2.0


def make_ssl_context(cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None,
                     insecure: bool = False) -> ssl.SSLContext:
    """A client TLS context: the system trust store (or ``cafile``), host name checks on, optional client certificate.

    ``insecure`` turns certificate and host name checks off. Raises :class:`TLSError` when a file cannot be used.
    """
    try:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load TLS files (cafile={cafile!r}, certfile={certfile!r}): {exc}") from exc
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything one connection attempt needs, taken from the parameters when the attempt starts."""

    endpoint: Endpoint
    #: Makes the TLS context, when the endpoint (or one redirected to) is ``wss``.
    tls: Callable[[], ssl.SSLContext] = make_ssl_context
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    max_message_size: int = 16 * 1024 * 1024
    #: Keepalive: seconds between pings (0: off) and seconds to wait for the pong (0: do not wait).
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    #: Decode simple frames without wsproto (:mod:`wsdat_core.protocol.framing`); off: wsproto parses everything.
    fast_path: bool = True
    #: Offer permessage-deflate (RFC 7692).
    compression: bool = True
    proxy: ProxySpec | None = None
    #: Redirects (301, 302, 303, 307, 308) followed at most.
    max_redirects: int = 10

    def handshake_headers(self) -> list[tuple[bytes, bytes]]:
        """The user's headers plus ``User-Agent``, ``Origin`` and (for credentials in the URL) ``Authorization``
        unless the user gave them."""
        given = {name.lower() for name, _ in self.headers}
        headers = list(self.headers)
        if "user-agent" not in given:
            headers.append(("User-Agent", USER_AGENT))
        if "origin" not in given:
            headers.append(("Origin", self.endpoint.origin))
        authorization = self.endpoint.authorization
        if authorization and "authorization" not in given:
            headers.append(("Authorization", authorization))
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class BoundedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate, offered as websockets offers it, with every message's *decompressed* size
    bounded by ``maxmessagesize``: a compression bomb fails the connection with 1009 once more than that was
    inflated, so memory stays bounded.

    Control frames pass untouched: RFC 6455 (5.4) lets a ping come between the fragments of a message and RFC 7692
    (6.1) never compresses it, but wsproto's extension takes the ping's FIN for the end of the compressed message
    (the fragments after it would not be inflated). The frame hooks below skip control frames altogether.
    """

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self._inflated = 0  # bytes inflated of the current message
        self._control = False  # the frame being read is a control frame

    def frame_inbound_header(self, proto: Any, opcode: Opcode, rsv: RsvBits,
                             payload_length: int) -> Codes | RsvBits:
        self._control = opcode.iscontrol()
        if self._control:
            return Codes.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(False, False, False)
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def offer(self) -> str:
        return "client_max_window_bits"

    def finalize(self, offer: str) -> None:
        #: What the server agreed to, e.g. ``permessage-deflate; server_no_context_takeover``.
        self.agreed = offer.strip()
        try:
            super().finalize(offer)
        except ValueError as exc:
            raise ConnectError(f"the server's permessage-deflate parameters cannot be used ({offer}): {exc}",
                               fatal=True) from exc

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | Codes:
        if (self._control or not self._inbound_compressed or not self._inbound_is_compressible
                or self._decompressor is None):
            return data
        room = self.max_size - self._inflated
        try:
            inflated = self._decompressor.decompress(bytes(data), room + 1)
        except zlib.error:
            return Codes.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        return Codes.MESSAGE_TOO_BIG if self._inflated > self.max_size else inflated

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | Codes | None:
        if self._control:
            return None
        result = super().frame_inbound_complete(proto, fin)
        if isinstance(result, bytes):
            self._inflated += len(result)
            if self._inflated > self.max_size:
                return Codes.MESSAGE_TOO_BIG
        if fin:
            self._inflated = 0
        return result


async def _nothing() -> None:
    pass


def fragment_limit(max_message_size: int) -> int:
    """How many parts a message may arrive in: one per 16 bytes of ``maxmessagesize``, at least 1024. Beyond it the
    sender is flooding (empty continuation frames cost no bytes but cost time), and the connection fails with
    1009."""
    return max(1024, max_message_size // 16)


def _size_of(data: str | bytes | bytearray) -> int:
    """A message part's size in bytes (UTF-8 for text): ``maxmessagesize`` counts bytes."""
    if isinstance(data, str) and not data.isascii():
        return len(data.encode("utf-8", "surrogatepass"))
    return len(data)


class _ClientProtocol(WSConnection):
    """wsproto's client, with an invalid handshake answer raised as :class:`ConnectError`.

    trio-websocket answers a wsproto handshake error by sending the error's event hint, which a client cannot send;
    raising our own error first keeps the real reason (bad ``Sec-WebSocket-Accept``, missing ``Upgrade``, not HTTP).
    """

    def __init__(self) -> None:
        super().__init__(ConnectionType.CLIENT)

    def receive_data(self, data: bytes | None) -> None:
        try:
            super().receive_data(data)
        except wsproto.utilities.RemoteProtocolError as exc:
            if self.connection is None:
                raise ConnectError(f"invalid handshake response from server: {exc}") from exc
            raise


class Link(WebSocketConnection):
    """A trio-websocket client connection that delivers messages, pings and pongs to a sink in batches.

    The session runs :meth:`serve` in a nursery, announces the connection, then calls :meth:`start_delivery`;
    :meth:`wait_finished` returns once the connection ended and everything received was delivered, and :attr:`end`
    says how it ended.
    """

    def __init__(self, stream: trio.abc.Stream, options: ConnectOptions, sink: Sink) -> None:
        self.batch: list[Event] = []
        self._sink = sink
        self._fault: WsdatError | None = None
        self._closed_by: ClosedBy | None = None
        self._answer: int | None = None  # the close code the server answered ours with
        self._ready = trio.Event()
        self._finished = trio.Event()
        self._delivering = trio.Event()
        self._keepalive = (options.ping_interval, options.ping_timeout)
        self._keepalive_changed = trio.Event()
        self._pong = trio.Event()  # set by any pong: the peer is alive
        #: Awaited before a failure's close frame, after the last batch was cooked (the session lets what the hooks
        #: sent go out first).
        self.before_close: Callable[[], Awaitable[None]] = _nothing
        self._cooking = False  # the session is cooking a batch: nothing is read meanwhile
        self._cooked = trio.Event()  # set (and renewed) whenever a cook ends
        #: Bytes read from the network, WebSocket framing included.
        self.bytes_received = 0
        #: How the connection ended; set once :meth:`wait_finished` returns.
        self.end: ConnectionEnd | None = None
        endpoint = options.endpoint
        super().__init__(
            stream,
            _ClientProtocol(),
            host=endpoint.host_header,
            path=endpoint.resource,
            client_subprotocols=list(options.subprotocols),
            client_extra_headers=options.handshake_headers(),
            max_message_size=options.max_message_size,
            receive_buffer_size=RECEIVE_BUFFER,
        )
        #: Where this connection goes (after redirects), and the extensions the server accepted (e.g.
        #: ``"permessage-deflate; client_max_window_bits=15"``, or ``""``).
        self.endpoint = endpoint
        self.extensions = ""
        if options.compression:
            self._initial_request = Request(host=endpoint.host_header, target=endpoint.resource,
                                            subprotocols=list(options.subprotocols),
                                            extensions=[BoundedDeflate(options.max_message_size)],
                                            extra_headers=options.handshake_headers())
        self._splitter = FrameSplitter(options.max_message_size) if options.fast_path else None
        self._partial: io.StringIO | bytearray | None = None  # the message being gathered from its parts
        self._parts = 0
        self._part_limit = fragment_limit(options.max_message_size)
        self._handshake_tail = b""
        self._handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            AcceptConnection: self._handle_accept_connection_event,
            BytesMessage: self._handle_message_event,
            CloseConnection: self._handle_close_connection_event,
            Ping: self._handle_ping_event,
            Pong: self._handle_pong_event,
            RejectConnection: self._handle_reject_connection_event,
            RejectData: self._handle_reject_data_event,
            TextMessage: self._handle_message_event,
        }

    # -- delivery ---------------------------------------------------------------------------------------------------
    def start_delivery(self) -> None:
        """The session announced the connection: from now on batches are cooked (nothing is before)."""
        self._delivering.set()

    async def flush(self) -> None:
        """Cook the pending batch; whatever the sink did not get to (cancellation) stays pending."""
        await self._delivering.wait()
        batch, self.batch = self.batch, []
        self._cooking = True
        try:
            await self._sink(batch)
        finally:
            self._cooking = False
            self._cooked.set()
            self._cooked = trio.Event()
            if batch:
                self.batch[:0] = batch

    async def wait_finished(self) -> ConnectionEnd:
        """Wait until the connection ended and everything received on it was delivered; returns :attr:`end`."""
        await self._finished.wait()
        assert self.end is not None
        return self.end

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    # -- the reader -------------------------------------------------------------------------------------------------
    async def _reader_task(self) -> None:
        """trio-websocket's reader loop, specialised for a DAT.

        After the handshake, what is read goes through the :class:`FrameSplitter`: simple frames
        (nearly all of them) are decoded straight into the batch; the rest is fed to wsproto, whose events take the
        handlers below. The batch is cooked once per read, just before the next read.
        """
        if self._initial_request:
            try:
                await self._send(self._initial_request)
            except ConnectionClosed:
                self._reader_running = False
        protocol = self._wsproto
        splitter = self._splitter
        async with self._send_channel:
            while self._reader_running:
                if self.batch:
                    await self.flush()
                try:
                    data = await self._read()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._abort_web_socket()
                    break
                if not data:  # TCP closed; before a close frame it is an abnormal closure (1006)
                    if protocol.state is not ConnectionState.CLOSED:
                        await self._abort_web_socket()
                    break
                self.bytes_received += len(data)
                if protocol.state is ConnectionState.CLOSED:
                    continue  # the close handshake is over: wait for the server to drop TCP
                if not self._open_handshake.is_set():
                    data = await self._receive_handshake(data)
                    if not data:
                        continue
                if splitter is None:  # the plain path: wsproto parses everything
                    protocol.receive_data(data)
                    await self._handle_events()
                    continue
                if protocol.state is not ConnectionState.OPEN:
                    splitter.enabled = False
                splitter.feed(data)
                append = self.batch.append
                while (chunk := splitter.next_slow(append)) is not None:
                    protocol.receive_data(chunk)
                    await self._handle_events()
                    if not self._reader_running or protocol.state in _CLOSE_RECEIVED:
                        break  # the server's close frame (or a failure) came: what follows it is void
                    if protocol.state is not ConnectionState.OPEN:
                        splitter.enabled = False  # we are closing: wsproto sees the rest (the server's close)

    async def _receive_handshake(self, data: bytes) -> bytes:
        """Feed wsproto the handshake response, up to its end only (so that it holds no frame bytes of its own);
        returns what followed it, for the frame path (or b"" when the response is not complete yet)."""
        seen = self._handshake_tail + data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self._handshake_tail = seen[-3:]
            head, rest = data, b""
        else:
            cut = end + 4 - len(self._handshake_tail)
            head, rest = data[:cut], data[cut:]
        self._wsproto.receive_data(head)
        await self._handle_events()
        if rest and not self._open_handshake.is_set():  # refused: the body goes to wsproto too
            self._wsproto.receive_data(rest)
            await self._handle_events()
            return b""
        return rest

    async def _handle_events(self) -> None:
        """Hand wsproto's events to the handlers; after a close or a failure, later events are void."""
        handlers = self._handlers
        limit = self._max_message_size
        append = self.batch.append
        event: Any
        for event in self._wsproto.events():
            event_type = type(event)
            if event_type is TextMessage and event.message_finished and self._partial is None \
                    and _size_of(event.data) <= limit:
                append((TEXT, event.data))
                continue
            handler = handlers.get(event_type)
            if handler is None:
                continue
            try:
                await handler(event)
            except ConnectionClosed:
                self._reader_running = False
            if not self._reader_running or event_type is CloseConnection:
                break

    async def _read(self) -> bytes:
        """One network read (as ``bytes``: TLS streams return a bytearray); ``b""`` at EOF. After the close handshake
        the server should drop TCP (RFC 6455 7.1.1): wait for that a little, not forever."""
        data: bytes | bytearray = b""
        if not self._close_handshake.is_set():
            data = await self._stream.receive_some(self._receive_buffer_size)
        else:
            with trio.move_on_after(CLOSE_WAIT):
                data = await self._stream.receive_some(self._receive_buffer_size)
        return data if type(data) is bytes else bytes(data)

    # -- trio-websocket event handlers ------------------------------------------------------------------------------
    async def _handle_accept_connection_event(self, event: AcceptConnection) -> None:
        await super()._handle_accept_connection_event(event)
        self.extensions = ", ".join(getattr(extension, "agreed", extension.name) for extension in event.extensions)
        self._ready.set()

    async def _handle_reject_connection_event(self, event: RejectConnection) -> None:
        # Fail at once on the status line: waiting for a body that may never end would turn a clear refusal into a
        # connect timeout.
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers}
        status = event.status_code
        location = headers.get("location") if 300 <= status < 400 else None
        detail = f"; Location: {location}" if location else ""
        if status == 401:
            detail = ": check the credentials (user:password in the URL, or an Authorization header)"
        raise HandshakeRejected(status, f"server refused the WebSocket upgrade with HTTP {status}{detail}",
                                location=location, retry_after=_retry_after(headers.get("retry-after")))

    async def _handle_message_event(self, event: TextMessage | BytesMessage) -> None:
        """A message, or a part of one (fragments, or a frame arriving in pieces). Parts are gathered in one growing
        buffer (memory stays about the size of the message however small the parts) and counted: a message of more
        than ``maxmessagesize`` bytes, or of more parts than :func:`fragment_limit` allows, fails with 1009."""
        if not self._reader_running:  # failed or refused already: later events of the same read are void
            return
        data: Any = event.data
        size = self._message_size + _size_of(data)
        if size > self._max_message_size:
            await self._refuse_message(f"message of at least {size} bytes exceeds maxmessagesize "
                                       f"{self._max_message_size}")
            return
        partial = self._partial
        if not event.message_finished:
            if partial is None:
                partial = self._partial = io.StringIO() if isinstance(event, TextMessage) else bytearray()
            if isinstance(partial, io.StringIO):
                partial.write(data)
            else:
                partial += data
            self._message_size = size
            self._parts += 1
            if self._parts > self._part_limit:
                await self._refuse_message(f"message of more than {self._part_limit} fragments (a fragment flood)")
            return
        kind = TEXT if isinstance(event, TextMessage) else BINARY
        if partial is not None:
            if isinstance(partial, io.StringIO):
                partial.write(data)
                data = partial.getvalue()
            else:
                partial += data
                data = bytes(partial)
            self._partial = None
            self._message_size = self._parts = 0
        elif kind is BINARY and not isinstance(data, bytes):
            data = bytes(data)
        self.batch.append((kind, data))

    async def _refuse_message(self, reason: str) -> None:
        await self._fail(ProtocolError(f"{reason}; closed with 1009"), 1009, reason[:123])
        self._partial = None
        self._message_size = self._parts = 0

    async def _fail(self, fault: WsdatError, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): remember why, send a close frame with ``code``, stop reading.

        What arrived before the fault is delivered first, and what the hooks sent on it goes out before the close
        frame (bounded), as a strict peer does: a valid message followed by a broken frame still gets its answer.
        """
        if self.batch and self._open_handshake.is_set():
            with trio.move_on_after(CLOSE_WAIT):
                await self.flush()  # waits for the session to announce the connection, when it has not yet
                await self.before_close()
        self._fault = fault
        self._closed_by = ClosedBy.WSDAT
        self._close_reason = CloseReason(code, reason)
        self._reader_running = False
        with contextlib.suppress(ConnectionClosed):
            await self._send(CloseConnection(code=code, reason=reason))

    async def _handle_ping_event(self, event: Ping) -> None:
        # Not answered here: the session answers after the hooks saw the ping (a hook may answer it itself).
        if self._reader_running:
            self.batch.append((PING, bytes(event.payload)))

    async def _handle_pong_event(self, event: Pong) -> None:
        self.batch.append((PONG, bytes(event.payload)))
        self._pong.set()  # any pong shows the peer is alive

    async def _handle_close_connection_event(self, event: CloseConnection) -> None:
        state = self._wsproto.state
        if state is ConnectionState.OPEN:
            # A close event while still OPEN did not come from a close frame: wsproto reports a frame it could not
            # parse this way. Fail the connection: tell the peer why, then drop TCP (RFC 6455 7.1.7).
            if event.code == 1009:  # from the deflate extension: a message inflated past the limit
                message = (f"message exceeds maxmessagesize {self._max_message_size} bytes once decompressed; "
                           "closed with 1009")
            else:
                message = f"protocol error: {event.reason} (closed with {event.code})"
            await self._fail(ProtocolError(message), event.code, event.reason or "")
            await self._close_stream()
            self._close_handshake.set()
            return
        if state is ConnectionState.REMOTE_CLOSING and self._closed_by is None:
            self._closed_by = ClosedBy.SERVER
        elif self._closed_by is ClosedBy.WSDAT:
            self._answer = event.code
        await super()._handle_close_connection_event(event)

    async def _send(self, event: Any) -> None:
        try:
            await super()._send(event)
        except wsproto.utilities.LocalProtocolError:
            # wsproto refuses to send in this state (closing or closed): the same as a closed connection for callers.
            raise ConnectionClosed(self._close_reason) from None

    # -- sending ----------------------------------------------------------------------------------------------------
    async def send_batch(self, items: list[Outgoing]) -> None:
        """Encode queued ``(kind, payload, size, receipt)`` items into one buffer and write it with one ``send_all``.

        Raises :class:`ConnectionClosedError` when the connection is closing or closed; nothing of the batch is sent
        then.
        """
        if self._close_reason:
            raise ConnectionClosedError(self._closed_message())
        send = self._wsproto.send
        buffer = bytearray()
        try:
            for kind, payload, _, _ in items:
                if kind is TEXT:
                    buffer += send(TextMessage(data=payload))
                elif kind is BINARY:
                    buffer += send(BytesMessage(data=payload))
                elif kind is PING:
                    buffer += send(Ping(payload=payload))
                else:
                    buffer += send(Pong(payload=payload))
        except wsproto.utilities.LocalProtocolError:
            raise ConnectionClosedError(self._closed_message()) from None
        async with self._stream_lock:
            try:
                await self._stream.send_all(buffer)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self._abort_web_socket()
                raise ConnectionClosedError(self._closed_message()) from None

    def _closed_message(self) -> str:
        reason = self._close_reason
        return f"the connection is closed ({reason.code})" if reason else "the connection is closed"

    # -- keepalive --------------------------------------------------------------------------------------------------
    def set_keepalive(self, interval: float, timeout: float) -> None:
        """New keepalive settings (seconds; 0 turns pings off / does not wait for the pong), applied at once."""
        self._keepalive = (interval, timeout)
        self._keepalive_changed.set()

    async def _keep_alive(self) -> None:
        """Ping every ``interval`` s; a peer that sends no pong within ``timeout`` s is dead: drop it (RFC 6455 5.5.2).

        While the DAT itself is busy cooking (slow async callbacks, a subscriber behind), the pong may be sitting
        unread in the socket: that is not the peer's fault, so the wait goes on once the DAT reads again.
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
                await self.send_batch([(PING, b"wsdat", 5, None)])
            except ConnectionClosedError:
                return
            if timeout > 0 and not await self._wait_for_pong(timeout):
                self._fault = ProtocolError(f"keepalive: no pong within {timeout:g} s, the connection is dead")
                self._closed_by = ClosedBy.WSDAT
                await self.abort()
                return

    async def _wait_for_pong(self, timeout: float) -> bool:
        while True:
            with trio.move_on_after(timeout):
                await self._pong.wait()
                return True
            if not self._cooking:
                return False
            await self._cooked.wait()  # the DAT was not reading: look again once it has read

    # -- running ----------------------------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Run the reader (and keepalive once connected) until the connection ends; deliver what arrived; set
        :attr:`end`. Any failure becomes part of :attr:`end`, never an exception in the nursery."""
        async with trio.open_nursery() as nursery:
            try:
                nursery.start_soon(self._keep_alive_when_open)
                await self._reader_task()
                if self.batch:  # events parsed after the last read (e.g. before an oversized message)
                    await self.flush()
            except WsdatError as exc:
                self._fault = exc
            except wsproto.utilities.RemoteProtocolError as exc:
                self._fault = ConnectError(f"invalid handshake response from server: {exc}")
            except Exception as exc:
                self._fault = ConnectError(f"connection failed: {type(exc).__name__}: {exc}")
            finally:
                self._reader_running = False
                nursery.cancel_scope.cancel()
                self.end = self._ending()
                self._ready.set()
                self._finished.set()

    async def _keep_alive_when_open(self) -> None:
        await self._open_handshake.wait()
        await self._keep_alive()

    def _ending(self) -> ConnectionEnd:
        reason = self._close_reason
        fault = str(self._fault) if self._fault is not None else None
        closed_by = self._closed_by
        if closed_by is None:
            closed_by = ClosedBy.NETWORK if reason is None or reason.code == ABNORMAL else ClosedBy.SERVER
        code = reason.code if reason is not None else ABNORMAL
        return ConnectionEnd(closed_by, code, (reason.reason or "") if reason is not None else "", fault)

    async def wait_ready(self) -> None:
        """Wait until the handshake completed or the connection attempt ended."""
        await self._ready.wait()

    @property
    def handshake_done(self) -> bool:
        """The WebSocket handshake completed (the connection may have ended since)."""
        return self._open_handshake.is_set()

    @property
    def fault(self) -> WsdatError | None:
        """Why the connection failed, if it did."""
        return self._fault

    async def close(self, code: int = 1000, reason: str = "", timeout: float = CLOSE_WAIT) -> int:
        """Close politely: send a close frame with ``code`` and ``reason`` and wait (at most ``timeout`` s) for the
        server's; returns the code the server answered with, or 1006 when it did not answer."""
        if self._closed_by is None and not self._finished.is_set():
            self._closed_by = ClosedBy.WSDAT
        with trio.move_on_after(timeout):
            await self.aclose(code, reason or None)
        await self.abort()
        return self._answer if self._answer is not None else ABNORMAL

    async def say_goodbye(self, code: int, reason: str) -> None:
        """Send a close frame without waiting for the answer (used when the DAT is being cancelled)."""
        if self._close_reason is None:
            self._closed_by = self._closed_by or ClosedBy.WSDAT
            self._close_reason = CloseReason(code, reason)
            with contextlib.suppress(ConnectionClosed):
                await self._send(CloseConnection(code=code, reason=reason))

    async def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        await self._close_stream()



#: Answers to the upgrade request that send the client elsewhere.
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number of seconds; an HTTP date is not honoured), or None."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def redirect_target(endpoint: Endpoint, location: str) -> Endpoint:
    """Where a ``Location`` answer sends a connection to ``endpoint``: relative references resolve against it,
    ``http``/``https`` mean ``ws``/``wss`` (as websockets and browsers take them). Credentials go along only to the
    same host. Raises :class:`ConnectError` for a location that is not a WebSocket address."""
    base = urlunsplit(("https" if endpoint.secure else "http", endpoint.netloc, endpoint.resource, "", ""))
    absolute = urljoin(base, location.strip())
    parts = urlsplit(absolute)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    try:
        target = resolve_url(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")))
    except WsdatError as exc:
        raise ConnectError(f"redirected to {location!r}, which is not a WebSocket address: {exc}", fatal=True) \
            from None
    if target.host.lower() == endpoint.host.lower() and not (target.username or target.password):
        target = replace(target, username=endpoint.username, password=endpoint.password)
    return target


async def open_link(nursery: trio.Nursery, options: ConnectOptions, sink: Sink,
                    report: Callable[[str], None] = lambda line: None) -> Link:
    """Connect (TCP or proxy, TLS, WebSocket handshake; redirects followed) and return an open :class:`Link` whose
    reader runs in ``nursery``. ``report`` gets one line per redirect.

    The caller bounds the time (``trio.fail_after``). Raises :class:`ConnectError` (or a subclass) on failure.
    """
    endpoint = options.endpoint
    for hop in range(options.max_redirects + 1):
        try:
            return await _open_once(nursery, replace(options, endpoint=endpoint), sink)
        except HandshakeRejected as exc:
            if exc.status not in REDIRECTS or not exc.location or not options.max_redirects:
                raise
            target = redirect_target(endpoint, exc.location)
            if endpoint.secure and not target.secure:
                raise ConnectError(f"refused to follow a redirect from {endpoint.url} to {target.url}: wss to ws "
                                   "would drop TLS (downgrade)", fatal=True) from None
            if hop == options.max_redirects:
                raise ConnectError(f"too many redirects (maxredirects {options.max_redirects}); the last one was to "
                                   f"{target.url}", fatal=True) from None
            report(f"redirected with HTTP {exc.status} from {endpoint.url} to {target.url}")
            endpoint = target
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def _open_once(nursery: trio.Nursery, options: ConnectOptions, sink: Sink) -> Link:
    endpoint = options.endpoint
    stream = await open_stream(endpoint, options.tls, options.proxy)
    try:
        link = Link(stream, options, sink)
        nursery.start_soon(link.serve)
        await link.wait_ready()
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
        raise
    if not link.handshake_done:
        await link.abort()
        raise link.fault or ConnectError("the server closed the connection during the WebSocket handshake")
    # Connected, even if the server already closed again: what arrived with the handshake is still delivered.
    return link
