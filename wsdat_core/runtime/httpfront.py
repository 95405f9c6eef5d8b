"""The front door of every connection of a Web Server DAT: the TLS handshake, the HTTP request (h11), and where it
goes: a WebSocket upgrade becomes a :class:`~.clientlink.ClientLink` (:mod:`.serverhandshake` checks the request
and agrees on compression), anything else is answered by ``onHTTPRequest``, the ``static`` folder, or a proper HTTP
answer saying this is a WebSocket endpoint.

Bad clients cost little and starve no one: each connection is its own task; the TLS handshake and the request head
must arrive within ``timeout`` (slowloris clients and half-open floods are dropped when it passes, as is an idle
keep-alive connection); at most :data:`MAX_HANDSHAKES` connections may be in that phase at once (more are dropped at
once); a request head is at most :data:`MAX_HEAD` bytes (431), a body at most ``maxmessagesize`` (413); a WebSocket
client beyond ``maxclients`` is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Final, cast

import h11
import trio

from ..model.client import peer_text
from ..model.webrequest import ResponseError, ResponseParts, make_request, new_response, response_parts
from ..protocol.serverhandshake import HandshakeRefused, accept_headers, agree_deflate, check_upgrade
from ..protocol.serverprotocol import ServerProtocol
from .clientlink import ClientLink
from .staticfiles import static_response

if TYPE_CHECKING:
    from .serversession import ServerSession

__all__ = ["MAX_HANDSHAKES", "MAX_HEAD", "serve_connection"]

#: Most connections at once between accept and the end of their request head (more are dropped at once).
MAX_HANDSHAKES: Final = 512
#: Largest request head (request line and headers), as most servers allow.
MAX_HEAD: Final = 16 * 1024
#: Seconds a client answered 503 (maxclients) is asked to wait.
RETRY_AFTER: Final = 5
_READ: Final = 64 * 1024
_TEXT: Final = (("Content-Type", "text/plain; charset=utf-8"),)


class _Refused(Exception):
    """The request cannot be served: answered with this status and text, then the connection is closed."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.headers = headers


async def serve_connection(session: ServerSession, stream: trio.abc.Stream) -> None:
    """Serve one accepted connection until it is done (a WebSocket client's whole life included)."""
    info = session.dat.info
    if session.pending_handshakes >= MAX_HANDSHAKES:
        info.refused += 1
        await trio.aclose_forcefully(stream)
        return
    session.pending_handshakes += 1
    counted = True
    peer, local = _addresses(stream)
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    try:
        while True:  # one request per round (HTTP keep-alive)
            request: h11.Request | None = None
            with trio.move_on_after(session.dat.par.value("timeout") / 1000):
                request = await _read_request(stream, connection)
            if request is None:  # the client left, or was too slow: an idle keep-alive connection, or slowloris
                if connection.trailing_data[0]:
                    info.refused += 1
                return
            if _wants_websocket(request):
                session.pending_handshakes -= 1
                counted = False
                await _upgrade(session, stream, connection, request, peer)
                return
            if not await _answer(session, stream, connection, request, peer, local):
                return
            connection.start_next_cycle()
    except _Refused as refusal:
        info.refused += 1
        await _send_plain(stream, connection, refusal.status, str(refusal), refusal.headers)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        pass  # the client went away (or broke HTTP in a way that leaves nothing to answer)
    finally:
        if counted:
            session.pending_handshakes -= 1
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)


def _addresses(stream: trio.abc.Stream) -> tuple[tuple[str, int], tuple[str, int]]:
    """``((peer host, port), (local host, port))`` of a socket stream, TLS or not."""
    transport: Any = getattr(stream, "transport_stream", stream)
    sock = transport.socket
    return sock.getpeername()[:2], sock.getsockname()[:2]


async def _read_request(stream: trio.abc.Stream, connection: h11.Connection) -> h11.Request | None:
    """The next request's head as h11 parsed it; None when the client closed, or ``_Refused`` when what it sent is not
    HTTP (or too long)."""
    raw = bytearray(connection.trailing_data[0])
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            raise _Refused(status, f"{status} {'Request Header Fields Too Large' if status == 431 else 'Bad Request'}"
                           f": {exc}") from None
        if event is h11.NEED_DATA:
            data = await stream.receive_some(_READ)
            raw += data
            connection.receive_data(cast(bytes, data))
            continue
        if isinstance(event, h11.Request):
            if len(raw) - len(connection.trailing_data[0]) > MAX_HEAD:  # h11 bounds heads that arrive in pieces;
                raise _Refused(431, f"431 Request Header Fields Too Large: a request head is at most {MAX_HEAD} "
                               "bytes")  # this, one that came whole
            return event
        return None  # ConnectionClosed


def _wants_websocket(request: h11.Request) -> bool:
    return any(name == b"upgrade" and b"websocket" in value.lower() for name, value in request.headers)


# ------------------------------------------------------------------------------------------------------- WebSocket
async def _upgrade(session: ServerSession, stream: trio.abc.Stream, connection: h11.Connection, request: h11.Request,
                   peer: tuple[str, int]) -> None:
    dat = session.dat
    limit = dat.par.value("maxclients")
    if len(session.links) >= limit:
        dat.info.refused += 1
        session.warn(f"client {peer_text(*peer)} refused: {limit} WebSocket clients are connected (maxclients); "
                     "answered 503")
        await _send_plain(stream, connection, 503, f"503 Service Unavailable: the server has {limit} WebSocket "
                          "clients (maxclients); try again later", (("Retry-After", str(RETRY_AFTER)),))
        return
    try:
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        key, offers = check_upgrade(request.method.decode("ascii", "replace"), headers)
        if not isinstance(connection.next_event(), h11.EndOfMessage):  # a GET: its end is in hand already
            raise HandshakeRefused(400, "400 Bad Request: not a valid WebSocket handshake: a body came with it")
    except HandshakeRefused as refusal:
        dat.info.refused += 1
        await _send_plain(stream, connection, refusal.status, str(refusal), refusal.headers)
        return
    deflate = agree_deflate(offers) if dat.par.value("compression") == "deflate" else None
    answer = h11.InformationalResponse(status_code=101, reason=b"Switching Protocols",
                                       headers=accept_headers(key, deflate))
    await stream.send_all(connection.send(answer) or b"")
    client = session.new_client(peer[0], peer[1], request.target.decode("utf-8", "replace"))
    leftover = connection.trailing_data[0]  # frames a client sent right behind its request
    protocol = ServerProtocol(dat.par.value("maxmessagesize"), deflate)
    await ClientLink(session, client, stream, protocol, deflate.agreed if deflate else "", leftover).run()


# ------------------------------------------------------------------------------------------------------------ HTTP
async def _answer(session: ServerSession, stream: trio.abc.Stream, connection: h11.Connection, request: h11.Request,
                  peer: tuple[str, int], local: tuple[str, int]) -> bool:
    """Answer one plain HTTP request; True when the connection may carry another one (keep-alive)."""
    dat = session.dat
    body = await _read_body(stream, connection, dat.par.value("maxmessagesize"))
    method = request.method.decode("ascii", "replace")
    target = request.target.decode("utf-8", "replace")
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw_items()]
    parts = await _respond(session, make_request(method, target, headers, body, peer_text(*peer), peer_text(*local)))
    await _send(stream, connection, parts, head_only=method == "HEAD")
    dat.info.http_requests += 1
    return connection.our_state is h11.DONE and connection.their_state is h11.DONE


async def _read_body(stream: trio.abc.Stream, connection: h11.Connection, limit: int) -> bytes:
    if connection.they_are_waiting_for_100_continue:
        await stream.send_all(connection.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(_READ)
            connection.receive_data(cast(bytes, data))
            continue
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > limit:
                raise _Refused(413, f"413 Content Too Large: a request body is at most {limit} bytes "
                               "(maxmessagesize)")
            continue
        if isinstance(event, h11.ConnectionClosed):
            raise trio.BrokenResourceError("the client closed during the request body")
        return bytes(body)  # EndOfMessage


async def _respond(session: ServerSession, request: dict[str, object]) -> ResponseParts:
    """``onHTTPRequest`` callbacks in order (each gets the response the previous one returned), else the static
    folder, else 426: this is a WebSocket endpoint."""
    dat = session.dat
    callables = dat.host.callables("onHTTPRequest")
    if callables:
        await session.before_event()
        response: object = new_response()
        for plugin, function in callables:
            try:
                result = function(request, response)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:  # reported from the callback's own frame on (as a dispatched hook is)
                tb = exc.__traceback__
                session.hook_failed("onHTTPRequest", plugin, exc.with_traceback(tb.tb_next if tb else None))
                return _internal_error()
            if result is not None:
                response = result
        try:
            return response_parts(response)
        except ResponseError as exc:
            session.error(f"onHTTPRequest of {request['method']} {request['uri']}: {exc}; answered 500")
            return _internal_error()
    folder = dat.par.value("static")
    if folder:
        return await static_response(folder, str(request["method"]), str(request["uri"]))
    return ResponseParts(426, "Upgrade Required", (*_TEXT, ("Upgrade", "websocket")),
                         f"426 Upgrade Required: this is the WebSocket server {dat.name}; connect a WebSocket client "
                         f"to {dat.url}\n".encode())


def _internal_error() -> ResponseParts:
    return ResponseParts(500, "Internal Server Error", _TEXT,
                         b"500 Internal Server Error: the server's onHTTPRequest callback failed (its monitor says "
                         b"where)\n")


async def _send(stream: trio.abc.Stream, connection: h11.Connection, parts: ResponseParts, *,
                head_only: bool = False) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in parts.headers]
    headers.append((b"Content-Length", str(len(parts.body)).encode()))
    data = connection.send(h11.Response(status_code=parts.status, reason=parts.reason.encode("latin-1"),
                                        headers=headers)) or b""
    if parts.body and not head_only:
        data += connection.send(h11.Data(data=parts.body)) or b""
    data += connection.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _send_plain(stream: trio.abc.Stream, connection: h11.Connection, status: int, text: str,
                      headers: tuple[tuple[str, str], ...] = ()) -> None:
    """An error answer (the connection closes after it); nothing when the connection cannot take one any more."""
    if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # h11 lets a server answer a broken request
        return
    reason = text.split(":", 1)[0].split(" ", 1)[-1]
    parts = ResponseParts(status, reason, (*_TEXT, ("Connection", "close"), *headers), (text + "\n").encode())
    try:
        with trio.move_on_after(1.0):
            await _send(stream, connection, parts)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        pass
