"""A Web Server DAT's info channels: the WebSocket DAT's (:mod:`.info`) plus the server's own.

``state`` is ``listening``, ``starting`` or ``closed`` (``retry_*`` stay 0); ``connects`` / ``disconnects``
count WebSocket clients that opened and closed, ``messages_*`` / ``bytes_*`` all clients together. The server's own
channels: ``clients`` (open WebSocket clients now), ``http_requests`` (plain HTTP requests answered) and ``refused``
(connections turned away: ``maxclients`` reached, handshakes that failed or timed out, clients closed for not
reading).
Pure: no trio, no sockets.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from .info import CHANNELS, Info

__all__ = ["SERVER_CHANNELS", "ServerInfo"]

_SERVER_OWN: Final = ("clients", "http_requests", "refused")
#: Every channel of a Web Server DAT, in order.
SERVER_CHANNELS: Final = CHANNELS + _SERVER_OWN


class ServerInfo(Info):
    """The info channels of a Web Server DAT (attributes and a mapping, as :class:`~.info.Info`)."""

    __slots__ = _SERVER_OWN
    channels: ClassVar[tuple[str, ...]] = SERVER_CHANNELS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clients = 0
        self.http_requests = 0
        self.refused = 0

