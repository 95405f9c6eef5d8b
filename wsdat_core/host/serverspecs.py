"""The hooks a Web Server DAT's callbacks can implement: TouchDesigner's Web Server DAT callbacks, by name.

Read this file first when you write a server plugin (``wsdat new-plugin --server NAME`` writes one). Every hook is
optional. A TouchDesigner Web Server DAT callbacks file works unchanged; it looks like this::

    def onWebSocketReceiveText(webServerDAT, client, data):
        webServerDAT.webSocketSendText(client, data)

    def onHTTPRequest(webServerDAT, request, response):
        response['statusCode'] = 200
        response['statusReason'] = 'OK'
        response['data'] = '<b>TouchDesigner: </b>' + webServerDAT.name
        return response

Hooks get their arguments as the WebSocket DAT's do (see :mod:`wsdat_core.host.hookspecs`): by name for ``@hookimpl``
functions and packaged plugins (any subset of the arguments listed here), by position for the hooks of ``.py``
callbacks files and plain objects, as TouchDesigner calls them (``def onWebSocketReceiveText(dat, c, message)`` works
too). ``me``, Execute from and the rules for ``async def`` hooks are the same.

Arguments every hook offers:

``me``
    The context object chosen by *Execute from* (``executeloc``): the server itself for ``current``; the plugin object
    whose hook runs for ``callbacks``; the object named by ``fromop`` for ``op``.
``webServerDAT``
    The :class:`~wsdat_core.runtime.webserver.WebServerDAT` the event happened on (TouchDesigner's name). wsdat's own
    hooks (:func:`onStart`, :func:`onExit`, :func:`onMonitorMessage`) call it ``dat``, as the WebSocket DAT's do, so
    one plugin object can serve both kinds of DAT.
``client``
    One WebSocket connection: a :class:`~wsdat_core.model.client.Client`, which is a ``str`` (``"127.0.0.1:52814"``,
    the peer's address and port), so it is hashable, printable and usable as a dict key or in a list, as TD files
    use it; ``client.id``, ``client.uri`` and ``client.address`` say more. Pass it to ``webSocketSendText`` & co.

Hooks of one client run in the order its events arrived; while a client's plain hooks run, the server reads nothing
more from that client (other clients are served meanwhile). A hook that raises is one error line naming the file and
line, counted in ``info.errors``; the server and its other clients go on (an HTTP request whose ``onHTTPRequest``
raised is answered 500).
"""

from __future__ import annotations

from typing import Any

from .hookspecs import hookspec

__all__ = ["HOOK_NAMES", "LIFECYCLE_HOOK_NAMES", "TD_HOOK_NAMES"]


@hookspec
def onServerStart(me: Any, webServerDAT: Any) -> None:
    """The server listens: its port is open (``webServerDAT.url`` says where). Called again after a restart (the
    ``restart`` pulse, or a change of ``port``, ``address``, ``secure`` ...)."""


@hookspec
def onServerStop(me: Any, webServerDAT: Any) -> None:
    """The server stopped listening and closed its clients (``active`` off, a restart, or the end of its run).
    Always paired with :func:`onServerStart`."""


@hookspec
def onHTTPRequest(me: Any, webServerDAT: Any, request: dict[str, Any], response: dict[str, Any]) -> Any:
    """A plain HTTP request (not a WebSocket upgrade) arrived; fill in ``response`` and return it.

    ``request`` is TouchDesigner's dict: ``method`` (``'GET'``), ``uri`` (the path, without the query string),
    ``pars`` (the query parameters: ``{'name': 'value'}``, the last value of a repeated name), ``clientAddress``
    (``'127.0.0.1:52814'``), ``serverAddress``, ``data`` (the body: ``str`` when it is UTF-8 text, else ``bytes``;
    ``''`` without a body), plus every request header under the name the client sent (``'Authorization'``,
    ``'Content-Type'``; looking one up in another case works too).

    ``response`` comes filled with ``statusCode`` 200, ``statusReason`` ``'OK'`` and ``data`` ``''``. Set
    ``statusCode``, ``statusReason`` and ``data`` (``str`` or ``bytes``), and any header as a key of its own
    (``response['Content-Type'] = 'application/json'``, any case). Without a content type, ``str`` data is sent as
    ``text/html; charset=utf-8`` and ``bytes`` as ``application/octet-stream``.

    Return the response (TouchDesigner's template does); returning None sends ``response`` as the hook left it. With
    several plugins, each gets the response the previous one returned. An ``async def`` onHTTPRequest is awaited. A
    hook that raises makes the answer ``500 Internal Server Error``.
    """


@hookspec
def onWebSocketOpen(me: Any, webServerDAT: Any, client: Any, uri: str) -> None:
    """A WebSocket client connected: ``uri`` is the path it asked for, with its query string (``'/chat?room=1'``).

    Called once per client, before any of its messages."""


@hookspec
def onWebSocketClose(me: Any, webServerDAT: Any, client: Any) -> None:
    """The connection of ``client`` ended, for any reason (``client.close_code`` says how). Called once per client,
    after every message it sent was delivered; ``client`` is no longer in ``webSocketConnections``."""


@hookspec
def onWebSocketReceiveText(me: Any, webServerDAT: Any, client: Any, data: str) -> None:
    """A complete text message from ``client``; it was appended to the table (``webServerDAT.numRows - 1`` is its
    row while the table is not clamped away)."""


@hookspec
def onWebSocketReceiveBinary(me: Any, webServerDAT: Any, client: Any, data: bytes) -> None:
    """A complete binary message from ``client`` (rows of the table only while ``binaryrows`` is on)."""


@hookspec
def onWebSocketReceivePing(me: Any, webServerDAT: Any, client: Any, data: bytes) -> None:
    """``client`` sent a ping with payload ``data``.

    The server answers with one pong right after this hook ran, unless the hook answered it itself with
    ``webServerDAT.webSocketSendPong(client, data=data)`` (TouchDesigner's template does): the client gets exactly
    one pong either way."""


@hookspec
def onWebSocketReceivePong(me: Any, webServerDAT: Any, client: Any, data: bytes) -> None:
    """``client`` sent a pong (an answer to ``webSocketSendPing`` or a keepalive ping, or an unsolicited one)."""


@hookspec
def onMonitorMessage(me: Any, dat: Any, message: str) -> None:
    """wsdat's addition: a status or error line of the server (listening, clients opening and closing, refusals,
    failures). The same lines go to the ``wsdat`` logger. An exception raised here is logged but not reported
    through this hook again."""


@hookspec
def onStart(me: Any, dat: Any) -> None:
    """wsdat's addition: the plugin starts serving ``dat`` (the server's run began, or the plugin was added to
    ``callbacks``); open files and clients here. An ``async def`` onStart is awaited before the server listens.
    Always paired with :func:`onExit`."""


@hookspec
def onExit(me: Any, dat: Any) -> None:
    """wsdat's addition: the plugin stops serving ``dat`` (the run ended, or the plugin was removed from
    ``callbacks``). An ``async def`` onExit is awaited, shielded from cancellation, for at most 5 seconds."""


#: TouchDesigner's Web Server DAT callbacks.
TD_HOOK_NAMES = (
    "onServerStart", "onServerStop", "onHTTPRequest", "onWebSocketOpen", "onWebSocketClose",
    "onWebSocketReceiveText", "onWebSocketReceiveBinary", "onWebSocketReceivePing", "onWebSocketReceivePong",
)
#: The plugin lifecycle (TouchDesigner's Execute DAT names), as for the WebSocket DAT.
LIFECYCLE_HOOK_NAMES = ("onStart", "onExit")
HOOK_NAMES = (*TD_HOOK_NAMES, "onMonitorMessage", *LIFECYCLE_HOOK_NAMES)
