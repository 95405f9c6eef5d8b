"""The hooks a callbacks plugin can implement: TouchDesigner's WebSocket DAT callbacks, by name and argument name.

Read this file first when you write a plugin. Every hook is optional; implement any of them, taking **any subset** of
the arguments listed (matched by name), so a TouchDesigner callbacks file works unchanged::

    def onReceiveText(dat, rowIndex, message):
        dat.sendText("echo: ", message)

Arguments every hook offers:

``me``
    The context object chosen by the DAT's *Execute from* parameter (``executeloc``): the DAT itself for
    ``current``; the plugin object whose hook runs (its module or instance) for ``callbacks``; the object named by
    ``fromop`` for ``op``.
``dat``
    The :class:`~wsdat_core.dat.WebSocketDAT` that received the event. Use it to send (``dat.sendText``,
    ``dat.sendBinary``, ``dat.sendPing``, ``dat.sendPong``), read the table (``dat[r, c]``, ``dat.numRows``), read
    ``dat.par`` and ``dat.info``, and keep state with ``dat.store(key, value)`` / ``dat.fetch(key, default)``.

Hooks may be plain functions or ``async def``. Plain hooks run in order, in the DAT's task, while the batch of received
messages is being cooked: keep them short. ``async`` hooks are started in the DAT's nursery with bounded concurrency;
while all slots are busy the DAT stops reading from the network (backpressure) rather than piling up tasks.
Return values are ignored. A hook that raises is logged with its traceback, counted in ``dat.info.errors`` and reported
through :func:`onMonitorMessage`; the other hooks and the DAT go on.

Packaged plugins mark their hooks with :data:`wsdat_core.hookimpl` (which also takes pluggy's ``tryfirst`` and
``trylast``); undecorated functions named like a hook are taken too.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["HOOK_NAMES", "PROJECT", "TD_HOOK_NAMES", "hookimpl", "hookspec"]

PROJECT = "wsdat"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def onConnect(me: Any, dat: Any) -> None:
    """The WebSocket handshake completed and the DAT is connected.

    Called once per connection, before any message of that connection is delivered.
    """


@hookspec
def onDisconnect(me: Any, dat: Any) -> None:
    """The connection that :func:`onConnect` announced has ended, for any reason.

    Called once per connection, after every message received on it was delivered. A failed connection attempt
    produces a monitor message but no ``onDisconnect``, since there was no ``onConnect``.
    """


@hookspec
def onReceiveText(me: Any, dat: Any, rowIndex: int, message: str) -> None:
    """A complete text message arrived and was appended to the table.

    ``rowIndex`` is the row the message was placed into (1 is the first message row; with a full clamped table it is
    ``maxlines``). ``message`` is the decoded text.
    """


@hookspec
def onReceiveBinary(me: Any, dat: Any, contents: bytes) -> None:
    """A complete binary message arrived; ``contents`` holds its bytes.

    Binary messages become table rows only while the ``binaryrows`` parameter is on.
    """


@hookspec
def onReceivePing(me: Any, dat: Any, contents: bytes) -> None:
    """The server sent a ping with payload ``contents``.

    wsdat answers every ping with a pong automatically (RFC 6455 5.5.2); the hook is told, and need not reply.
    """


@hookspec
def onReceivePong(me: Any, dat: Any, contents: bytes) -> None:
    """The server sent a pong with payload ``contents`` (an answer to ``dat.sendPing`` or a keepalive ping, or an
    unsolicited pong)."""


@hookspec
def onMonitorMessage(me: Any, dat: Any, message: str) -> None:
    """A status or error line from the DAT: connecting, connected, disconnected and why, failures, warnings.

    The same lines go to the ``wsdat`` logger (the text console). An exception raised here is logged but not
    reported through this hook again.
    """


@hookspec
def onCook(me: Any, dat: Any) -> None:
    """wsdat's addition, not a TouchDesigner callback: a cook finished.

    Called once after the events of one network read went through the table and the other hooks (``dat.info`` is
    already updated). Plugins that buffer, such as a recorder, flush here, so nothing received is lost on a crash.
    """


#: TouchDesigner's seven callbacks.
TD_HOOK_NAMES = (
    "onConnect", "onDisconnect", "onReceiveText", "onReceiveBinary", "onReceivePing", "onReceivePong",
    "onMonitorMessage",
)
HOOK_NAMES = (*TD_HOOK_NAMES, "onCook")
