"""Watching one DAT from the command line: its flags, the printer of received messages, stdin sending, the session
from connect to summary.

``wsdat connect``, ``wsdat demo``, ``wsdat replay`` and commands that plugins add (``wsdat work`` of the redis plugin)
build on these: :func:`add_watch_flags`, :func:`add_parameter_flags`, :func:`make_dat`, :func:`start_view`,
:func:`save_table`, :func:`summary` and :class:`UsageError` are their public seam.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import logging
import math
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import trio

from ..host.callbacks import parse_setting_value, settings_names
from ..model.errors import ConnectionClosedError, WsdatError
from ..model.params import SPECS, ParSpec
from ..model.sanitize import escape_control
from ..runtime.console import LOGGER_NAME
from .output import FORMATS, MessageWriter
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
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}\s*)+")
_LIST_PARAMS = {"callbacks", "headers", "secretheaders", "subprotocols"}
# Short, familiar spellings kept beside the parameter names (websocat/wscat users type these).
_ALIASES = {"executeloc": ["--execute-from"], "headers": ["--header", "-H"], "subprotocols": ["--subprotocol"]}


class UsageError(Exception):
    """Bad command-line usage: one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`UsageError` (one line, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------------------------------- parameters
def add_parameter_flags(parser: argparse.ArgumentParser, skip: Sequence[str] = (),
                        specs: Mapping[str, ParSpec] = SPECS) -> None:
    """One flag per DAT parameter of ``specs`` (the WebSocket DAT's by default), named as the parameter
    (``--maxlines``, ``--bytes/--no-bytes``, ...)."""
    group = parser.add_argument_group("DAT parameters (TouchDesigner's names)")
    for name, spec in specs.items():
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


def parameters_from(args: argparse.Namespace, specs: Mapping[str, ParSpec] = SPECS) -> dict[str, Any]:
    """The parameters given on the command line (checked later, by the DAT)."""
    return {name: getattr(args, name) for name in specs if getattr(args, name, None) is not None}


# ------------------------------------------------------------------------------------------------- watching a DAT
class _Printer:
    """The CLI's own callbacks plugin: writes each message and counts them, up to ``limit``."""

    def __init__(self, writer: MessageWriter | None, limit: int | None = None) -> None:
        self.writer = writer
        self.limit = limit
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

    def onConnect(self, dat: Any) -> None:
        self.errors_when_open = dat.info.errors - dat.info.hook_errors

    def onReceiveText(self, rowIndex: int, message: str) -> None:
        if self.done:  # the rest of a batch that arrived with the last counted message
            return
        self.text += 1
        if self.writer is not None:
            self.writer.text(rowIndex, message)
        if self.done:
            self.finished.set()

    def onReceiveBinary(self, contents: bytes) -> None:
        if self.done:
            return
        self.binary += 1
        if self.writer is not None:
            self.writer.binary(contents)
        if self.done:
            self.finished.set()


@dataclass
class WatchOptions:
    count: int | None = None
    output: str = "plain"
    wrap: bool = False
    live: bool = False
    send_stdin: bool = True
    binary: str | None = None
    slash: bool = False
    strict: bool = False
    save: Path | None = None
    wait: bool = False
    duration: float | None = None


def _decode_line(line: str, encoding: str) -> bytes:
    """A stdin line as bytes: ``hex`` (spaces allowed), ``base64``, or ``auto`` (hex when it is hex, else base64)."""
    if encoding == "hex" or (encoding == "auto" and _HEX.fullmatch(line)):
        return bytes.fromhex(line)
    return base64.b64decode(line, validate=True)


async def _stdin_lines() -> AsyncIterator[tuple[int, bytes]]:
    """``(number, line)`` of each stdin line, without its line break; reads what is there (a pipe in large chunks,
    a terminal line by line) in a worker thread."""
    if sys.stdin is None:  # started without a standard input at all
        return
    try:
        descriptor = sys.stdin.fileno()
    except (OSError, ValueError):  # not a real file (a test's replacement): nothing to read
        return
    pending = b""
    number = 0
    while True:
        # os.read in a worker thread: it returns what is there (a pipe in large chunks, a terminal a line at a time)
        # and holds no lock of Python's buffered stdin, so an abandoned read cannot block the interpreter's exit.
        chunk = await trio.to_thread.run_sync(os.read, descriptor, 65536, abandon_on_cancel=True)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            number += 1
            yield number, line.rstrip(b"\r")
    if pending:
        yield number + 1, pending.rstrip(b"\r")


async def _slash_command(dat: Any, line: str) -> None:
    """wscat's commands: ``/ping [text]``, ``/pong [text]``, ``/close [code [reason]]``."""
    command, _, rest = line.partition(" ")
    try:
        if command == "/ping":
            dat.sendPing(rest)
        elif command == "/pong":
            dat.sendPong(rest)
        elif command == "/close":
            code_text, _, reason = rest.strip().partition(" ")
            code = int(code_text) if code_text else 1000
            answer = await dat.close(code, reason)
            logging.getLogger(LOGGER_NAME).info("%s: closed; the server answered %d", dat.name, answer)
        else:
            raise ValueError(f"{command}: unknown command; with --slash, lines starting with / are /ping [text], "
                             "/pong [text] or /close [code [reason]]")
    except ValueError as exc:  # a bad command is one line, and nothing is sent
        logging.getLogger(LOGGER_NAME).warning("stdin: %s", escape_control(str(exc)))


async def _send_stdin(dat: Any, binary: str | None, slash: bool = False) -> None:
    """Send each stdin line (text, or binary decoded from hex/base64), in order; the end of stdin only ends sending.

    Each line waits for the connection and for room in the send queue (backpressure): none is dropped. A line the
    connection could not take (it ended first) is sent again once the DAT has reconnected. With ``slash``, lines
    starting with ``/`` are wscat's commands (:func:`_slash_command`).
    """
    log = logging.getLogger(LOGGER_NAME)
    async for number, raw in _stdin_lines():
        try:
            line = raw.decode("utf-8")
            if slash and line.startswith("/"):
                await dat.wait_connected()
                await _slash_command(dat, line)
                continue
            message: str | bytes = line if binary is None else _decode_line(line.strip(), binary)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            log.warning("stdin line %d: not %s, not sent: %s", number, "UTF-8" if binary is None else binary,
                        escape_control(raw[:40].decode("utf-8", "backslashreplace")))
            continue
        except WsdatError:
            return  # the DAT gave up; the outcome says why
        while True:
            try:
                await dat.wait_connected()
            except WsdatError:
                return  # the DAT gave up; the outcome says why
            try:
                if isinstance(message, str):
                    await dat.send_text(message)
                else:
                    await dat.send_binary(message)
                break
            except ConnectionClosedError:
                continue  # not sent: wait for the next connection


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
    if options.send_stdin:
        nursery.start_soon(_send_stdin, dat, options.binary, options.slash)
    start_view(dat, options, nursery)
    return await _outcome(dat, printer, options)


def start_view(dat: Any, options: WatchOptions, nursery: trio.Nursery) -> None:
    if options.live:
        from .view import LiveView

        nursery.start_soon(LiveView(dat, wrap=options.wrap).run)


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
    live = args.output is None and stdout.isatty()
    return WatchOptions(count=args.count, output=args.output or "plain", wrap=args.wrap, live=live,
                        send_stdin=not args.no_stdin, binary=args.binary, slash=args.slash, strict=args.strict,
                        save=save,
                        wait=getattr(args, "wait", False), duration=getattr(args, "duration", None))


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
    options.send_stdin = options.send_stdin and not offline
    settings = plugin_settings_from(args, params.get("callbacks", ()))
    writer = None if options.live else MessageWriter(sys.stdout, options.output,
                                                     with_bytes=bool(params.get("bytes")))
    printer = _Printer(writer, options.count)
    params["callbacks"] = [printer, *extra_callbacks, *params.get("callbacks", ())]
    return (factory or WebSocketDAT)(args.name, settings=settings, **params), printer, options


def add_watch_flags(parser: argparse.ArgumentParser, *, demo: bool, serve: bool = False) -> None:
    """The flags of watching one DAT; ``serve``: those of ``wsdat serve`` (stdin lines go to every client)."""
    watch = parser.add_argument_group("watching")
    watch.add_argument("--count", type=int, metavar="N", help="exit after N messages (text or binary) were received")
    watch.add_argument("--output", choices=FORMATS, default=None,
                       help="one line per message (default: the live table on a terminal, plain otherwise)")
    watch.add_argument("--wrap", action="store_true", help="wrap long messages in the live table (TD's word wrap)")
    watch.add_argument("--binary", nargs="?", const="auto", choices=("hex", "base64", "auto"),
                       help="send stdin lines as binary messages, decoded from hex or base64 (alone: whichever fits)")
    watch.add_argument("--no-stdin", action="store_true", help="do not send stdin lines")
    watch.add_argument("--strict", action="store_true",
                       help="exit 1 when any callback raised (they are counted and reported either way)")
    watch.add_argument("--slash", action="store_true",
                       help="stdin lines /to CLIENT text, /ping CLIENT [text], /close CLIENT [code [reason]] and "
                       "/clients are commands" if serve else
                       "stdin lines /ping [text], /pong [text] and /close [code [reason]] are commands (wscat)")
    watch.add_argument("--save", metavar="FILE", help="write the table on exit (.csv, .tsv or .json)")
    watch.add_argument("--name", default="wsdat" if not demo else "demo", help="the DAT's name in messages")
    watch.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE",
                       help="a plugin setting (as [dat.NAME.plugins.PLUGIN] in a service file; repeatable)")
    if demo:
        watch.add_argument("--duration", type=float, default=30.0, metavar="S",
                           help="stop after S seconds (0: run until Ctrl-C; default 30)")
        watch.add_argument("--rate", type=float, default=4.0, metavar="R", help="feed messages per second")
    elif not serve:
        watch.add_argument("--wait", action="store_true",
                           help="if the first connection fails, keep retrying (reconnect policy) instead of exiting")

