"""Watching one DAT from the command line: its flags, the printer of received messages, stdin sending, the session
from connect to summary.

``wsdat connect``, ``wsdat demo``, ``wsdat replay`` and commands that plugins add (``wsdat work`` of the redis plugin)
build on these: :func:`add_watch_flags`, :func:`add_parameter_flags`, :func:`make_dat`, :func:`start_view`,
:func:`save_table`, :func:`summary` and :class:`UsageError` are their public seam.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

import trio

from ..host.callbacks import parse_setting_value, settings_names
from ..model.params import SPECS
from .face import Face, LinesFace
from .output import FORMATS, MessageWriter, colour_wanted, utf8_stream
from .sending import SLASH_HELP, ConnectMessages, PingTimer, Sender, file_message
from .signals import stop_on_signals

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "WatchOptions",
    "add_parameter_flags",
    "add_watch_flags",
    "make_dat",
    "parameters_from",
    "run_session",
    "save_table",
    "start_view",
    "summary",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SAVE_FORMATS = {".csv": "to_csv", ".tsv": "to_tsv", ".json": "to_json"}
VIEWS = ("chat", "table")
_LIST_PARAMS = {"callbacks", "headers", "subprotocols"}
# Short, familiar spellings kept beside the parameter names (websocat/wscat/curl users type these).
_ALIASES = {"executeloc": ["--execute-from"], "headers": ["--header", "-H"], "subprotocols": ["--subprotocol", "-s"],
            "insecure": ["-k", "-n"]}


class UsageError(Exception):
    """Bad command-line usage: one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (one line, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------------------------------- parameters
def add_parameter_flags(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One flag per DAT parameter, named as the parameter (``--maxlines``, ``--bytes/--no-bytes``, ...)."""
    group = parser.add_argument_group("DAT parameters (TouchDesigner's names)")
    for name, spec in SPECS.items():
        if spec.is_pulse or name in skip:
            continue
        flags = [f"--{name}", *_ALIASES.get(name, [])]
        help_text = f"{spec.help} [{spec.page} page; default {spec.default!r}]"
        if spec.is_switch:
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        elif name == "callbacks":  # --callbacks a b c, as TD users list several
            group.add_argument(*flags, dest=name, action="extend", nargs="+", default=None, metavar=spec.metavar,
                               help=help_text + " (one or more; repeatable)")
        elif name in _LIST_PARAMS:
            group.add_argument(*flags, dest=name, action="append", default=None, metavar=spec.metavar,
                               help=help_text + " (repeatable)")
        else:
            group.add_argument(*flags, dest=name, default=None, metavar=spec.metavar, help=help_text)
        if name == "compression":  # wscat's and websocat's spelling
            group.add_argument("--no-compression", dest=name, action="store_const", const="off",
                               help="the same as --compression off")


def parameters_from(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters given on the command line (checked later, by the DAT)."""
    return {name: getattr(args, name) for name in SPECS if getattr(args, name, None) is not None}


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
        #: The DAT's error count when it last connected: more errors since means the session ended in failure.
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
        self.errors_when_open = dat.info.errors

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


@dataclass
class WatchOptions:
    count: int | None = None
    output: str = "plain"
    wrap: bool = False
    #: ``chat`` (the conversation view), ``table`` (the live table) or ``lines`` (one line per message on stdout).
    view: str = "lines"
    send_stdin: bool = True
    binary: str | None = None
    slash: bool = False
    strict: bool = False
    save: Path | None = None
    wait: bool = False
    duration: float | None = None
    #: Messages sent on every connection (``-x``, ``--send-file``), in the order given.
    on_connect: list[str | bytes] = field(default_factory=list)
    verbose: int = 0

    @property
    def live(self) -> bool:
        """Whether a view owns the terminal (the live table or the conversation view)."""
        return self.view != "lines"


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
    return EXIT_FAILED if dat.info.errors > printer.errors_when_open or not dat.info.connects else EXIT_OK


async def watch(dat: Any, printer: _Printer, options: WatchOptions, nursery: trio.Nursery) -> int:
    """Run ``dat`` in ``nursery`` and watch it until the session ends; returns the exit code."""
    await nursery.start(dat.run)
    if not dat.connected and not options.wait:
        return EXIT_FAILED  # the monitor line already said why
    sender = printer.sender
    if sender is not None and options.send_stdin:
        if options.view == "chat" and _is_terminal(sys.stdin):
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

        typing = options.send_stdin and _is_terminal(sys.stdin)
        nursery.start_soon(LiveView(dat, wrap=options.wrap, quiet_input=typing).run)


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


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


def _watch_options(args: argparse.Namespace, stdout: TextIO) -> WatchOptions:
    save = Path(args.save) if args.save else None
    if save is not None and save.suffix.lower() not in SAVE_FORMATS:
        raise UsageError(f"--save: {args.save!r} must end in {', '.join(SAVE_FORMATS)}")
    if save is not None and not save.resolve().parent.is_dir():
        raise UsageError(f"--save: {args.save!r}: the folder {str(save.parent)!r} does not exist")
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count: {args.count} is not allowed; expected an integer >= 1")
    if args.no_color:  # every library drawing on the terminal (rich, prompt_toolkit) reads the convention
        os.environ["NO_COLOR"] = "1"
    return WatchOptions(count=args.count, output=args.output or "plain", wrap=args.wrap, view=_view(args, stdout),
                        send_stdin=not args.no_stdin, binary=args.binary, slash=args.slash, strict=args.strict,
                        save=save, wait=getattr(args, "wait", False), duration=getattr(args, "duration", None),
                        on_connect=_connect_messages(args), verbose=getattr(args, "verbose", 0))


def _view(args: argparse.Namespace, stdout: TextIO) -> str:
    """``--view``, else: lines when stdout is not a terminal or ``--output`` was given; the conversation view when
    stdin is a terminal too (the live table for ``wsdat demo``); the live table otherwise."""
    if args.view is not None:
        return str(args.view)
    if args.output is not None or not _is_terminal(stdout):
        return "lines"
    if args.terminal_view == "chat" and not args.no_stdin and _is_terminal(sys.stdin):
        return "chat"
    return "table"


def _connect_messages(args: argparse.Namespace) -> list[str | bytes]:
    """The ``-x TEXT`` and ``--send-file PATH`` messages, in the order given; each file read once, here."""
    messages: list[str | bytes] = []
    for kind, value in getattr(args, "on_connect", None) or ():
        if kind == "text":
            messages.append(value)
            continue
        try:
            messages.append(file_message(value, binary=args.binary is not None))
        except ValueError as exc:
            raise UsageError(f"--send-file: {exc}") from None
    return messages


def plugin_settings_from(args: argparse.Namespace, refs: Sequence[object]) -> dict[str, dict[str, Any]]:
    """``--set PLUGIN.KEY=VALUE`` flags as ``{plugin: {key: value}}``; values read as TOML where they can."""
    settings: dict[str, dict[str, Any]] = {}
    for item in getattr(args, "set", None) or ():
        target, sep, raw = item.partition("=")
        plugin, dot, key = target.strip().partition(".")
        if not sep or not dot or not plugin or not key.strip():
            raise UsageError(f"--set: {item!r} is not allowed; expected PLUGIN.KEY=VALUE, e.g. record.dir=/tmp")
        known = settings_names(refs)
        if plugin not in known:
            raise UsageError(f"--set: no plugin named {plugin!r}; settings are for: {', '.join(known) or 'none'}")
        settings.setdefault(plugin, {})[key.strip()] = parse_setting_value(raw.strip())
    return settings


def make_dat(args: argparse.Namespace, params: dict[str, Any], *, extra_callbacks: Sequence[object] = (),
              offline: bool = False, factory: Callable[..., Any] | None = None) -> tuple[Any, _Printer, WatchOptions]:
    """The DAT a command watches (made by ``factory``, a WebSocketDAT by default), with the CLI's printer as its
    first callbacks plugin and the ``--set`` settings; ``offline``: fed from a recording or a stream, no stdin."""
    from ..runtime.dat import WebSocketDAT

    if offline:
        params["active"] = True
    options = _watch_options(args, sys.stdout)
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


def add_watch_flags(parser: argparse.ArgumentParser, *, demo: bool) -> None:
    watch = parser.add_argument_group("watching")
    watch.add_argument("--count", type=int, metavar="N", help="exit after N messages (text or binary) were received")
    watch.add_argument("--view", choices=VIEWS, default=None,
                       help="on a terminal: chat (received '< text', sent '> text', an input line with history; the "
                            "default when stdin is a terminal too) or table (the live table of rows)")
    watch.add_argument("--output", choices=FORMATS, default=None,
                       help="one line per message on stdout (default when stdout is not a terminal: plain). plain "
                            "writes each text message exactly as received plus a line break (control characters "
                            "are escaped only on a terminal), so a message that contains a line break is yours to "
                            "frame: --output jsonl frames each as one JSON line. json pretty-prints messages that "
                            "parse as JSON; tsv escapes tabs and line breaks")
    watch.add_argument("--wrap", action="store_true", help="wrap long messages in the live table (TD's word wrap)")
    watch.add_argument("--no-color", action="store_true", help="no colours on the terminal (as NO_COLOR=1 does)")
    watch.add_argument("--binary", nargs="?", const="auto", choices=("hex", "base64", "auto"),
                       help="send stdin lines as binary messages, decoded from hex or base64 (alone: whichever "
                            "fits); files of --send-file and /file are then sent as binary too")
    watch.add_argument("-x", "--execute", dest="on_connect", action=_OnConnect, metavar="TEXT",
                       help="send TEXT on every connection, before stdin lines (repeatable, in order; like wscat)")
    watch.add_argument("--send-file", dest="on_connect", action=_OnConnect, metavar="PATH",
                       help="send the file's content as one message on every connection: text when it is UTF-8, "
                            "else (or with --binary) binary (repeatable, in order with -x)")
    watch.add_argument("--no-stdin", action="store_true", help="do not send stdin lines")
    watch.add_argument("--strict", action="store_true",
                       help="exit 1 when any callback raised (they are counted and reported either way)")
    watch.add_argument("--slash", action="store_true",
                       help=f"lines starting with / are commands (wscat): {SLASH_HELP}; /ping prints the pong and "
                            "its round-trip time")
    watch.add_argument("--save", metavar="FILE", help="write the table on exit (.csv, .tsv or .json)")
    watch.add_argument("--name", default="wsdat" if not demo else "demo", help="the DAT's name in messages")
    watch.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE",
                       help="a plugin setting (as [dat.NAME.plugins.PLUGIN] in a service file; repeatable)")
    parser.set_defaults(terminal_view="table" if demo else "chat")
    if demo:
        watch.add_argument("--duration", type=float, default=30.0, metavar="S",
                           help="stop after S seconds (0: run until Ctrl-C; default 30)")
        watch.add_argument("--rate", type=float, default=4.0, metavar="R", help="feed messages per second")
    else:
        watch.add_argument("--wait", action="store_true",
                           help="if the first connection fails, keep retrying (reconnect policy) instead of exiting")


class _OnConnect(argparse.Action):
    """``-x TEXT`` and ``--send-file PATH`` into one ordered list of ``(kind, value)``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(("file" if option_string == "--send-file" else "text", values))
        setattr(namespace, self.dest, items)
