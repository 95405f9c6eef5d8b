"""One WebSocket client of a Web Server DAT, as callbacks see it.

TouchDesigner files keep ``client`` in lists and dicts (``if client not in clients: clients.append(client)``), print
it and pass it back to ``webSocketSendText(client, data)``. So a :class:`Client` is a ``str``: the peer's address and
port (``"127.0.0.1:52814"``, ``"[::1]:52814"``), which no other open connection of the same server can have. It is
hashable, printable, JSON-serialisable and equal to its text, so ``/to 127.0.0.1:52814 hi`` on the command line names
it. It carries more as attributes: :attr:`~Client.id` (1, 2, ... per server), :attr:`~Client.uri`,
:attr:`~Client.host` / :attr:`~Client.port`, and once the connection ended :attr:`~Client.close_code` and
:attr:`~Client.close_reason`.
Pure: no trio, no sockets.
"""

from __future__ import annotations

__all__ = ["Client", "peer_text"]


def peer_text(host: str, port: int) -> str:
    """``host:port`` with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Client(str):
    """A WebSocket connection of a Web Server DAT: the text ``host:port`` of its peer, plus attributes.

    >>> client = Client("127.0.0.1", 52814, 3, "/chat")
    >>> client, client.id, client.uri, client in ["127.0.0.1:52814"]
    ('127.0.0.1:52814', 3, '/chat', True)
    """

    host: str
    port: int
    #: The server's number for this connection: 1 for its first client, then 2, 3, ...
    id: int
    #: The path and query string the client asked for (``/chat?room=1``).
    uri: str
    #: How the connection ended: the close code (1000, 1001, ..., 1006 without a close frame) and reason; None while
    #: it is open.
    close_code: int | None
    close_reason: str

    def __new__(cls, host: str, port: int, id: int = 0, uri: str = "/") -> Client:  # noqa: A002 - TD's word
        client = super().__new__(cls, peer_text(host, port))
        client.host, client.port, client.id, client.uri = host, port, id, uri
        client.close_code, client.close_reason = None, ""
        return client

    def __reduce__(self) -> tuple[type[Client], tuple[str, int, int, str]]:
        return Client, (self.host, self.port, self.id, self.uri)
