"""What happens to a Web Server DAT, as data: the WebSocket DAT's events (:mod:`.events`) with the client they
concern.

Each is a subclass of the WebSocket DAT's event of the same kind, so code written for those (the HTTP side, the
record plugin, ``match`` statements on :class:`~.events.TextReceived`) handles a server's events too::

    async with server.events() as events:
        async for event in events:
            match event:
                case ClientTextReceived(client=client, message=text):
                    await server.send_text(client, text)
                case WebSocketClosed(client=client, code=code):
                    print(client, "left with", code)

Pure: no trio, no sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .events import BinaryReceived, Connected, Disconnected, PingReceived, PongReceived, TextReceived

__all__ = ["ClientBinaryReceived", "ClientPingReceived", "ClientPongReceived", "ClientTextReceived",
           "WebSocketClosed", "WebSocketOpened"]


@dataclass(frozen=True, slots=True)
class WebSocketOpened(Connected):
    """A client connected; ``url`` is the path and query it asked for (``onWebSocketOpen``'s ``uri``)."""

    client: Any = None


@dataclass(frozen=True, slots=True)
class WebSocketClosed(Disconnected):
    """A client's connection ended: ``code`` and ``reason`` of the close (1006 without a close frame), ``error`` the
    error line when it was a failure."""

    client: Any = None


@dataclass(frozen=True, slots=True)
class ClientTextReceived(TextReceived):
    """A text message of ``client``, appended to the table at ``rowIndex``."""

    client: Any = None


@dataclass(frozen=True, slots=True)
class ClientBinaryReceived(BinaryReceived):
    """A binary message of ``client``."""

    client: Any = None


@dataclass(frozen=True, slots=True)
class ClientPingReceived(PingReceived):
    """A ping of ``client`` (answered with one pong)."""

    client: Any = None


@dataclass(frozen=True, slots=True)
class ClientPongReceived(PongReceived):
    """A pong of ``client``."""

    client: Any = None
