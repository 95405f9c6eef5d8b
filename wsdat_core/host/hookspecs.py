"""The hooks a callbacks plugin can implement: TouchDesigner's WebSocket DAT callbacks, by name and argument name.

Read this file first when you write a plugin. Every hook is optional; implement any of them. A hook gets its
arguments one of two ways:

* **by name**, taking any subset of the arguments listed: functions marked ``@hookimpl``, the hooks of packaged
  plugins, and any hook whose every parameter is named like an argument (``onReceiveText(dat, message)``);
* **by position**, as TouchDesigner calls callbacks (every argument after ``me``, in order, whatever the parameters are
  called): the other hooks of ``.py`` callbacks files and plain objects, so a TouchDesigner callbacks file works
  unchanged, renamed arguments, ``*args`` and defaults included::

    def onReceiveText(dat, rowIndex, data):
        dat.sendText("echo: ", data)

  A hook whose arity cannot take those arguments loads anyway and fails when it is called, as in TouchDesigner (one
  error line naming its ``def``).

Arguments every hook offers:

``me``
    The context object chosen by the DAT's *Execute from* parameter (``executeloc``): the DAT itself for
    ``current``; the plugin object whose hook runs (its module or instance) for ``callbacks``; the object named by
    ``fromop`` for ``op``.
``dat``
    The :class:`~wsdat_core.runtime.dat.WebSocketDAT` that received the event. Use it to send (``dat.sendText``,
    ``dat.sendBinary``, ``dat.sendPing``, ``dat.sendPong``), read the table (``dat[r, c]``, ``dat.numRows``), read
    ``dat.par`` and ``dat.info``, and keep state with ``dat.store(key, value)`` / ``dat.fetch(key, default)``.

Hooks may be plain functions or ``async def``. Plain hooks run in order, in the DAT's task, while the batch of received
messages is being cooked: keep them short. ``async`` hooks are started in the DAT's nursery, at most
``async_hook_limit`` (16) at once per DAT. **The one rule for busy slots:** every async hook call waits for a slot, in
the order the calls were made, and is then run; none is ever skipped. While calls wait, the DAT stops reading from the
network (backpressure) rather than piling up tasks; calls made where the DAT cannot wait (``onMonitorMessage``,
``onDisconnect``) queue and start as slots free up. Three hooks are awaited in place instead: an async
``onStart`` (the DAT connects once it returned), an async ``onCook`` (the DAT reads on once it returned: the way a
sink plugin slows the DAT down while its buffer is full) and an async ``onExit`` (bounded, see :func:`onExit`).
Return values are ignored. A hook that raises is one line, ``file.py:LINE in onReceiveText: ValueError: ...`` (the
line of the hook's own file), logged with its traceback (``wsdat -v`` shows it), counted in ``dat.info.errors`` and
``dat.info.hook_errors`` and reported through :func:`onMonitorMessage`; the other hooks and the DAT go on.

Packaged plugins mark their hooks with :data:`wsdat_core.hookimpl` (which also takes pluggy's ``tryfirst`` and
``trylast``); undecorated functions named like a hook are taken too.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["HOOK_NAMES", "LIFECYCLE_HOOK_NAMES", "PROJECT", "TD_ARGUMENTS", "TD_HOOK_NAMES", "hookimpl", "hookspec"]

PROJECT = "wsdat"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def onStart(me: Any, dat: Any) -> None:
    """The plugin starts serving ``dat`` (TouchDesigner's Execute DAT name): the DAT's run began, or the plugin was
    added by changing ``callbacks`` while it runs.

    Open files, sockets and clients here; read settings with ``dat.pluginSettings(NAME)``. An ``async def`` onStart
    is awaited before the DAT connects; start long-running work with ``dat.start_soon(...)``. Always paired with
    :func:`onExit`.
    """


@hookspec
def onExit(me: Any, dat: Any) -> None:
    """The plugin stops serving ``dat``: the DAT's run ended (normally, by cancellation or by an error), or the plugin
    was removed from ``callbacks``. Always called once after :func:`onStart`, so a plugin can close what it opened.

    An ``async def`` onExit is awaited, shielded from cancellation, for at most 5 seconds.
    """


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
def onReceiveBinary(me: Any, dat: Any, contents: bytes, rowIndex: int) -> None:
    """A complete binary message arrived; ``contents`` holds its bytes.

    Binary messages become table rows only while the ``binaryrows`` parameter is on: ``rowIndex`` is then the row it
    was appended to, else 0. TouchDesigner passes only ``(dat, contents)``, and so are callbacks files and unmarked
    hooks called; a hook marked with ``@hookimpl`` that names ``rowIndex`` gets it too.
    """


@hookspec
def onReceivePing(me: Any, dat: Any, contents: bytes) -> None:
    """The server sent a ping with payload ``contents``.

    wsdat answers every ping with a pong right after this hook ran (RFC 6455 5.5.2), unless the hook answered it
    itself with ``dat.sendPong(contents)`` (as TouchDesigner's template does): the server gets exactly one pong.
    With the ``autopong`` parameter off, only the hooks' pongs are sent.
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
    An ``async def`` onCook is awaited before the DAT reads from the network again: a plugin whose buffer is full
    (a sink whose destination is slow or away) waits here, and the DAT stops reading (backpressure), losing nothing.
    """


#: TouchDesigner's seven callbacks.
TD_HOOK_NAMES = (
    "onConnect", "onDisconnect", "onReceiveText", "onReceiveBinary", "onReceivePing", "onReceivePong",
    "onMonitorMessage",
)
#: The plugin lifecycle (TouchDesigner's Execute DAT names).
LIFECYCLE_HOOK_NAMES = ("onStart", "onExit")
HOOK_NAMES = (*TD_HOOK_NAMES, "onCook", *LIFECYCLE_HOOK_NAMES)
#: Hooks whose spec offers more than TouchDesigner passes: the arguments (after ``me``) TD calls them with, which is
#: how a callbacks file called by position is called.
TD_ARGUMENTS = {"onReceiveBinary": ("dat", "contents")}
