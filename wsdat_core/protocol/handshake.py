"""The opening handshake of a client (RFC 6455 section 4.1), sans-I/O: the upgrade request, and the checks of the
server's answer, with h11 parsing HTTP.

A ``101 Switching Protocols`` answer is accepted only with ``Upgrade: websocket``, a ``Connection`` that names
``upgrade``, the ``Sec-WebSocket-Accept`` that matches the key, a subprotocol that was offered (or none) and
extensions that pass :func:`~wsdat_core.protocol.deflate.negotiate`. Any other status is a refusal
(:class:`~wsdat_core.model.errors.HandshakeRejected`, with ``Location`` and ``Retry-After`` read at once from the
status line and headers: a refusal never waits for a body that may not come).

Pure: no trio, no sockets.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import h11

from ..model.errors import ConnectError, HandshakeRejected
from .deflate import OFFER, DeflateParams, NegotiationError, negotiate

__all__ = ["Accepted", "ClientHandshake", "HandshakeRequest", "accept_key"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: bytes) -> str:
    """The ``Sec-WebSocket-Accept`` a server answers the key ``key`` with."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    """What the client asks for: ``host`` (the Host header), the ``resource`` (path and query), extra ``headers``,
    the ``subprotocols`` it offers and whether it offers permessage-deflate."""

    host: str
    resource: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    compression: bool = True


@dataclass(frozen=True, slots=True)
class Accepted:
    """The server accepted: the subprotocol it picked (or None), the deflate parameters it agreed to (or None), and
    the bytes that followed its answer (the first frames)."""

    subprotocol: str | None
    deflate: DeflateParams | None
    rest: bytes
    headers: tuple[tuple[str, str], ...]


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number of seconds; an HTTP date is not honoured), or None."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


class ClientHandshake:
    """One opening handshake: :meth:`request` once, then :meth:`receive` what the server sends until it returns
    :class:`Accepted` (None: more data is needed)."""

    def __init__(self, request: HandshakeRequest, random: Callable[[int], bytes] = os.urandom) -> None:
        self._request = request
        self._key = base64.b64encode(random(16))
        self._http = h11.Connection(h11.CLIENT)

    def request(self) -> bytes:
        """The upgrade request's bytes."""
        request = self._request
        headers = [("Host", request.host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", self._key.decode("ascii")), ("Sec-WebSocket-Version", "13")]
        if request.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(request.subprotocols)))
        if request.compression:
            headers.append(("Sec-WebSocket-Extensions", OFFER))
        encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in (*headers, *request.headers)]
        return self._http.send(h11.Request(method="GET", target=request.resource.encode("latin-1"),
                                           headers=encoded)) or b""

    def receive(self, data: bytes) -> Accepted | None:
        """Take more of the server's answer. Raises :class:`HandshakeRejected` for any status but 101 and
        :class:`ConnectError` for an answer that is not a valid WebSocket acceptance."""
        if not data:
            raise ConnectError("the server closed the connection during the WebSocket handshake")
        http = self._http
        http.receive_data(data)
        try:
            event = http.next_event()
        except h11.RemoteProtocolError as exc:
            raise ConnectError(f"invalid handshake response from server: {exc}") from None
        if event is h11.NEED_DATA:
            return None
        if not isinstance(event, (h11.Response, h11.InformationalResponse)):  # pragma: no cover - h11 gives these
            raise ConnectError(f"invalid handshake response from server: {event!r}")
        headers = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers)
        if event.status_code != 101:
            raise self._refusal(event.status_code, headers)
        rest, _ = http.trailing_data
        return self._accept(headers, bytes(rest))

    def _refusal(self, status: int, headers: tuple[tuple[str, str], ...]) -> HandshakeRejected:
        found = {name.lower(): value for name, value in headers}
        location = found.get("location") if 300 <= status < 400 else None
        detail = f"; Location: {location}" if location else ""
        if status == 401:
            detail = ": check the credentials (user:password in the URL, or an Authorization header)"
        return HandshakeRejected(status, f"server refused the WebSocket upgrade with HTTP {status}{detail}",
                                 location=location, retry_after=_retry_after(found.get("retry-after")))

    def _accept(self, headers: tuple[tuple[str, str], ...], rest: bytes) -> Accepted:
        def invalid(why: str) -> ConnectError:
            return ConnectError(f"invalid handshake response from server: {why}")

        values: dict[str, list[str]] = {}
        for name, value in headers:
            values.setdefault(name.lower(), []).append(value)
        upgrade = ", ".join(values.get("upgrade", []))
        if _tokens(upgrade) != {"websocket"}:
            raise invalid(f"Upgrade is {upgrade!r}, not 'websocket'")
        connection = ", ".join(values.get("connection", []))
        if "upgrade" not in _tokens(connection):
            raise invalid(f"Connection is {connection!r}, without 'upgrade'")
        accept = values.get("sec-websocket-accept", [])
        if accept != [accept_key(self._key)]:
            raise invalid(f"Sec-WebSocket-Accept {', '.join(accept) or '(missing)'} does not match the key")
        protocols = values.get("sec-websocket-protocol", [])
        subprotocol = protocols[0].strip() if len(protocols) == 1 else None
        if len(protocols) > 1 or (subprotocol is not None and subprotocol not in self._request.subprotocols):
            raise invalid(f"the server picked the subprotocol {', '.join(protocols)!r}, which was not offered")
        extensions = values.get("sec-websocket-extensions", [])
        try:
            deflate = negotiate(extensions) if self._request.compression else None
        except NegotiationError as exc:
            raise ConnectError(f"{exc} (Sec-WebSocket-Extensions: {'; '.join(extensions)}); "
                               "the connection was failed as RFC 7692 says", fatal=True) from None
        if extensions and not self._request.compression:
            raise invalid(f"the server accepted extensions that were not offered: {', '.join(extensions)}")
        return Accepted(subprotocol, deflate, rest, headers)
