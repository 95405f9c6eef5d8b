"""Watching one DAT from the command line: the printer of received messages, the face in use (lines, the live
table, the conversation), sending, the session from connect to summary.

``wsdat connect``, ``wsdat demo``, ``wsdat replay`` and commands that plugins add (``wsdat work`` of the redis plugin)
build on these: :func:`add_watch_flags`, :func:`add_parameter_flags`, :func:`make_dat`, :func:`start_view`,
:func:`save_table`, :func:`summary` and :class:`UsageError` are their public seam (the flags live in
:mod:`.options`).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from .face import Face, LinesFace
from .options import (
    SAVE_FORMATS,
    Parser,
    UsageError,
    WatchOptions,
    add_parameter_flags,
    add_watch_flags,
    is_terminal,
    parameters_from,
    plugin_settings_from,
    watch_options,
)
from .output import MessageWriter, colour_wanted, utf8_stream
from .sending import ConnectMessages, PingTimer, Sender
from .signals import stop_on_signals

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Parser",
    "UsageError",
    "WatchOptions",
    "add_parameter_flags",
    "add_watch_flags",
    "make_dat",
    "parameters_from",
    "plugin_settings_from",
    "run_session",
    "save_table",
    "start_view",
    "summary",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# ------------------------------------------------------------------------------------------------- watching a DAT
class _Printer:
    """The CLI's own callbacks plugin: shows each message on the face in use and counts them, up to ``limit``."""

    def __init__(self, face: Face, limit: int | None = None, pings: PingTimer | None = None) -> None:
        self.face = face
        self.limit = limit
        self.pings = pings or PingTimer()
        #: Sends what the user gives (stdin, the input line, -x, --send-file); set by :func:`make_dat`.
        self.sender: Sender | None = None
        self.text = 0
        self.binary = 0
        #: The DAT's error count when it last connected, callbacks' errors aside: more since means the session ended
        #: in failure (a callback that raised does not: only --strict makes that exit 1).
        self.errors_when_open = 0
        self.finished = trio.Event()

    @property
    def received(self) -> int:
        return self.text + self.binary

    @property
    def done(self) -> bool:
        return self.limit is not None and self.received >= self.limit

    def bind(self, dat: Any) -> None:
        """The DAT exists now (it is made with this printer among its callbacks): the face and sender act on it."""
        self.face.dat = dat
        if self.sender is not None:
            self.sender.dat = dat

    def onConnect(self, dat: Any) -> None:
        self.errors_when_open = dat.info.errors - dat.info.hook_errors

    def onReceiveText(self, rowIndex: int, message: str) -> None:
        if self.done:  # the rest of a batch that arrived with the last counted message
            return
        self.text += 1
        self.face.text(rowIndex, message)
        if self.done:
            self.finished.set()

    def onReceiveBinary(self, contents: bytes) -> None:
        if self.done:
            return
        self.binary += 1
        self.face.binary(contents)
        if self.done:
            self.finished.set()

    def onReceivePing(self, contents: bytes) -> None:
        self.face.ping(bytes(contents))

    def onReceivePong(self, contents: bytes) -> None:
        self.face.pong(bytes(contents), self.pings.answered(bytes(contents)))


async def _first(*waits: Callable[[], Awaitable[object]]) -> int:
    """Run ``waits`` concurrently; return the index of the first to return (the others are cancelled)."""
    first: list[int] = []
    async with trio.open_nursery() as nursery:
        for index, wait in enumerate(waits):
            async def run(index: int = index, wait: Callable[[], Awaitable[object]] = wait) -> None:
                await wait()
                first.append(index)
                nursery.cancel_scope.cancel()
            nursery.start_soon(run)
    return first[0]


async def _outcome(dat: Any, printer: _Printer, options: WatchOptions) -> int:
    """Wait until the session is over (enough messages, the duration passed, or the DAT stopped connecting);
    returns the exit code."""
    duration = options.duration if options.duration else math.inf
    which = await _first(printer.finished.wait, functools.partial(trio.sleep, duration), dat.wait_stopped)
    if which < 2 or not dat.stalled:  # done, timed out, or stopped on purpose (stop(), Active off)
        return EXIT_OK
    # failed for good, or closed with reconnect off
    failed = dat.info.errors - dat.info.hook_errors > printer.errors_when_open
    return EXIT_FAILED if failed or not dat.info.connects else EXIT_OK


async def watch(dat: Any, printer: _Printer, options: WatchOptions, nursery: trio.Nursery) -> int:
    """Run ``dat`` in ``nursery`` and watch it until the session ends; returns the exit code."""
    await nursery.start(dat.run)
    if not dat.connected and not options.wait:
        return EXIT_FAILED  # the monitor line already said why
    sender = printer.sender
    if sender is not None and options.send_stdin:
        if options.view == "chat" and is_terminal(sys.stdin):
            nursery.start_soon(_converse, dat, printer.face, sender)
        else:
            nursery.start_soon(sender.stdin)
    start_view(dat, options, nursery)
    return await _outcome(dat, printer, options)


async def _converse(dat: Any, view: Any, sender: Sender) -> None:
    """The conversation view's input line; the user quitting it (Ctrl-D, Ctrl-C) stops the DAT."""
    await view.run(sender)
    dat.stop()


def start_view(dat: Any, options: WatchOptions, nursery: trio.Nursery) -> None:
    """The live table, when it is the view in use (the conversation view prints from the hooks)."""
    if options.view == "table":
        from .view import LiveView

        typing = options.send_stdin and is_terminal(sys.stdin)
        nursery.start_soon(LiveView(dat, wrap=options.wrap, quiet_input=typing).run)


def summary(dat: Any, printer: _Printer, seconds: float) -> str:
    info = dat.info
    return (f"{printer.received} message(s) received ({printer.text} text, {printer.binary} binary), "
            f"{info.messages_sent} sent, {info.connects} connection(s), {info.errors} error(s) "
            f"({info.hook_errors} in callbacks) in {seconds:.1f} s")


def save_table(dat: Any, path: Path) -> None:
    method = SAVE_FORMATS[path.suffix.lower()]
    path.write_text(getattr(dat.table, method)(), encoding="utf-8")


async def run_session(dat: Any, printer: _Printer, options: WatchOptions, feed: Any = None) -> int:
    """The whole life of ``wsdat connect`` / ``wsdat demo``: returns the exit code, prints the summary, saves."""
    started = trio.current_time()
    code = EXIT_OK
    token = trio.lowlevel.current_trio_token()
    session = trio.CancelScope()

    def stop(signum: int) -> None:  # called from the signal handler: flags and the trio token only
        dat.stop()
        token.run_sync_soon(session.cancel)

    with stop_on_signals(stop), session:  # also while the DAT closes: a second signal ends it at once
        async with trio.open_nursery() as nursery:
            if feed is not None:
                await nursery.start(feed.run)
                dat.par.netaddress = feed.url
            code = await watch(dat, printer, options, nursery)
            nursery.cancel_scope.cancel()
    if dat.info.connects:
        sys.stderr.write(f"wsdat: {summary(dat, printer, trio.current_time() - started)}\n")
    if options.strict and dat.info.hook_errors and code == EXIT_OK:
        code = EXIT_FAILED  # --strict: a callback that raised fails the run
    if options.save is not None:
        save_table(dat, options.save)
    return code


def make_dat(args: argparse.Namespace, params: dict[str, Any], *, extra_callbacks: Sequence[object] = (),
              offline: bool = False, factory: Callable[..., Any] | None = None) -> tuple[Any, _Printer, WatchOptions]:
    """The DAT a command watches (made by ``factory``, a WebSocketDAT by default), with the CLI's printer as its
    first callbacks plugin and the ``--set`` settings; ``offline``: fed from a recording or a stream, no stdin."""
    from ..runtime.dat import WebSocketDAT

    if offline:
        params["active"] = True
    options = watch_options(args, sys.stdout)
    if offline and options.on_connect:
        raise UsageError("--execute/--send-file: this command does not connect, so it sends nothing")
    options.send_stdin = options.send_stdin and not offline
    if offline and options.view == "chat":
        options.view = "table"  # nothing to type into: the table shows what is fed
    settings = plugin_settings_from(args, params.get("callbacks", ()))
    printer = _Printer(_face(options, with_bytes=bool(params.get("bytes"))), options.count)
    plugins: list[object] = [printer]
    if not offline:
        printer.sender = Sender(printer.face, binary=options.binary, slash=options.slash,
                                files_binary=options.binary is not None, pings=printer.pings)
        if options.on_connect:
            plugins.append(ConnectMessages(printer.sender, options.on_connect))
        else:
            printer.sender.ready.set()
    params["callbacks"] = [*plugins, *extra_callbacks, *params.get("callbacks", ())]
    dat = (factory or WebSocketDAT)(args.name, settings=settings, **params)
    printer.bind(dat)
    return dat, printer, options


def _face(options: WatchOptions, *, with_bytes: bool) -> Face:
    if options.view == "table":
        return Face()
    if options.view == "chat":
        from .chat import ChatView

        return ChatView(colour=colour_wanted(sys.stdout), form=options.output, verbose=options.verbose)
    return LinesFace(MessageWriter(utf8_stream(sys.stdout), options.output, with_bytes=with_bytes))

