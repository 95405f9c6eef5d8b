"""The ``wsdat`` command: watch a feed, send from stdin, run the demo, list plugins, run a service of DATs.

Exit codes: 0 normal end, 1 connection failed for good, 2 bad usage or parameters. Every message is one line on
stderr; received messages go to stdout (or the live view on a terminal).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import json
import logging
import math
import os
import re
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import trio

from . import __version__
from .callbacks import list_plugins, parse_setting_value, running_callback, settings_names
from .console import LOGGER_NAME
from .errors import ConnectionClosedError, PluginError, WsdatError
from .output import FORMATS, MessageWriter
from .params import SPECS
from .sanitize import clean_line, escape_control
from .signals import stop_on_signals

__all__ = ["main"]

_PREFIX = "wsdat: "
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SAVE_FORMATS = {".csv": "to_csv", ".tsv": "to_tsv", ".json": "to_json"}
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}\s*)+")
_LIST_PARAMS = {"callbacks", "headers", "subprotocols"}
# Short, familiar spellings kept beside the parameter names (websocat/wscat users type these).
_ALIASES = {"executeloc": ["--execute-from"], "headers": ["--header", "-H"], "subprotocols": ["--subprotocol"]}


class UsageError(Exception):
    """Bad command-line usage: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------------------------------------- console output
class _StderrHandler(logging.Handler):
    """One line per record on the *current* sys.stderr (the live view redirects it above the display)."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = clean_line(record.getMessage())
            # a DAT named "wsdat" (the default here) logs "wsdat: ...": its name is not printed twice
            line = message if message.startswith(_PREFIX) else _PREFIX + message
            if self.verbose and record.exc_info:
                line += "\n" + logging.Formatter().formatException(record.exc_info)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the tool down
            self.handleError(record)


def _setup_console(verbose: int) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_StderrHandler(verbose))
    logger.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    logger.propagate = False


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
    """The CLI's own callbacks plugin: writes each message and counts them, up to ``limit``."""

    def __init__(self, writer: MessageWriter | None, limit: int | None = None) -> None:
        self.writer = writer
        self.limit = limit
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

    def onConnect(self, dat: Any) -> None:
        self.errors_when_open = dat.info.errors

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
    return EXIT_FAILED if dat.info.errors > printer.errors_when_open or not dat.info.connects else EXIT_OK


async def watch(dat: Any, printer: _Printer, options: WatchOptions, nursery: trio.Nursery) -> int:
    """Run ``dat`` in ``nursery`` and watch it until the session ends; returns the exit code."""
    await nursery.start(dat.run)
    if not dat.connected and not options.wait:
        return EXIT_FAILED  # the monitor line already said why
    if options.send_stdin:
        nursery.start_soon(_send_stdin, dat, options.binary, options.slash)
    _start_view(dat, options, nursery)
    return await _outcome(dat, printer, options)


def _start_view(dat: Any, options: WatchOptions, nursery: trio.Nursery) -> None:
    if options.live:
        from .view import LiveView

        nursery.start_soon(LiveView(dat, wrap=options.wrap).run)


def _summary(dat: Any, printer: _Printer, seconds: float) -> str:
    info = dat.info
    return (f"{printer.received} message(s) received ({printer.text} text, {printer.binary} binary), "
            f"{info.messages_sent} sent, {info.connects} connection(s), {info.errors} error(s) "
            f"({info.hook_errors} in callbacks) in {seconds:.1f} s")


def _save(dat: Any, path: Path) -> None:
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
        sys.stderr.write(f"wsdat: {_summary(dat, printer, trio.current_time() - started)}\n")
    if options.strict and dat.info.hook_errors and code == EXIT_OK:
        code = EXIT_FAILED  # --strict: a callback that raised fails the run
    if options.save is not None:
        _save(dat, options.save)
    return code


# --------------------------------------------------------------------------------------------------------- commands
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


def _make_dat(args: argparse.Namespace, params: dict[str, Any], *, extra_callbacks: Sequence[object] = (),
              offline: bool = False, factory: Callable[..., Any] | None = None) -> tuple[Any, _Printer, WatchOptions]:
    """The DAT a command watches (made by ``factory``, a WebSocketDAT by default), with the CLI's printer as its
    first callbacks plugin and the ``--set`` settings; ``offline``: fed from a recording or a stream, no stdin."""
    from .dat import WebSocketDAT

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


def cmd_connect(args: argparse.Namespace) -> int:
    refs = args.callbacks or []
    if args.url is None and refs and refs[-1].startswith(("ws://", "wss://")):
        args.url = refs.pop()  # `--callbacks a b URL`: the URL was taken for a plugin reference
    params = parameters_from(args)
    if args.url is None and "netaddress" not in params:
        raise UsageError("connect needs a URL (or --netaddress)")
    if args.url is not None:
        params["netaddress"] = args.url
    dat, printer, options = _make_dat(args, params)
    return trio.run(run_session, dat, printer, options)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoCallbacks, DemoFeed

    params = parameters_from(args)
    params.setdefault("netaddress", "127.0.0.1")  # replaced by the feed's URL once it listens
    dat, printer, options = _make_dat(args, params, extra_callbacks=[DemoCallbacks()])
    return trio.run(run_session, dat, printer, options, DemoFeed(rate=args.rate))


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    dat, printer, options = _make_dat(args, parameters_from(args), offline=True)

    async def session() -> int:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            _start_view(dat, options, nursery)
            events = await replay(dat, Path(args.file), args.speed)
            nursery.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        sys.stderr.write(f"wsdat: replayed {events} event(s); {_summary(dat, printer, elapsed)}\n")
        if options.save is not None:
            _save(dat, options.save)
        return EXIT_FAILED if options.strict and dat.info.hook_errors else EXIT_OK

    return trio.run(session)


def cmd_work(args: argparse.Namespace) -> int:
    from .work import WorkerDAT, WorkOptions, run_worker, watch_signals

    work = WorkOptions(url=args.url, stream=args.stream, group=args.group, maxdeliveries=args.maxdeliveries,
                       claimidle=args.claimidle, batch=args.batch, block=args.block, start=args.start)
    if args.consumer:
        work.consumer = args.consumer
    try:
        work.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    dat, printer, options = _make_dat(args, parameters_from(args), offline=True, factory=WorkerDAT)

    async def session() -> int:
        started = trio.current_time()
        stop = trio.Event()

        async def stop_when_counted() -> None:
            await printer.finished.wait()
            stop.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, stop, nursery.cancel_scope)
            nursery.start_soon(stop_when_counted)
            await nursery.start(dat.run_offline)
            _start_view(dat, options, nursery)
            stats = await run_worker(dat, work, stop)
            nursery.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        sys.stderr.write(f"wsdat: {work.consumer} in group {work.group} of {work.stream}: {stats.line()} in "
                         f"{elapsed:.1f} s\n")
        if options.save is not None:
            _save(dat, options.save)
        return EXIT_OK

    return trio.run(session)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir))
    print(f"created {root}: pip install -e {root} && pytest {root}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = list_plugins()
    if args.json:
        print(json.dumps([p.as_dict() for p in plugins], indent=2))
        return EXIT_OK
    if not plugins:
        print("no plugins installed (entry-point group 'wsdat')")
        return EXIT_OK
    width = max(len(p.name) for p in plugins)
    for p in plugins:
        hooks = ", ".join(p.hooks) if not p.error else f"BROKEN: {p.error}"
        print(f"{p.name:<{width}}  {p.distribution} {p.version}  {hooks}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_service, run_service
    from .http.address import parse_http_address

    http = None
    if args.http is not None:
        try:
            http = parse_http_address(args.http)
        except ValueError as exc:
            raise UsageError(f"--http: {exc}") from None
    service = load_service(Path(args.file))
    _setup_console(max(1, args.verbose))  # a service reports its status lines
    return trio.run(functools.partial(run_service, service, http=http, watch=args.watch))


# ----------------------------------------------------------------------------------------------------------- parser
def _add_watch_flags(parser: argparse.ArgumentParser, *, demo: bool) -> None:
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
                       help="stdin lines /ping [text], /pong [text] and /close [code [reason]] are commands (wscat)")
    watch.add_argument("--save", metavar="FILE", help="write the table on exit (.csv, .tsv or .json)")
    watch.add_argument("--name", default="wsdat" if not demo else "demo", help="the DAT's name in messages")
    watch.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE",
                       help="a plugin setting (as [dat.NAME.plugins.PLUGIN] in a service file; repeatable)")
    if demo:
        watch.add_argument("--duration", type=float, default=30.0, metavar="S",
                           help="stop after S seconds (0: run until Ctrl-C; default 30)")
        watch.add_argument("--rate", type=float, default=4.0, metavar="R", help="feed messages per second")
    else:
        watch.add_argument("--wait", action="store_true",
                           help="if the first connection fails, keep retrying (reconnect policy) instead of exiting")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wsdat", description="TouchDesigner's WebSocket DAT as a command-line tool.")
    parser.add_argument("--version", action="version", version=f"wsdat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show the text console (status lines) on stderr; -vv for debug")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # -v also after the command (`wsdat connect URL -v`), as people type it
    verbose = _Parser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="show the text console (status lines) on stderr; -vv for debug")

    connect = commands.add_parser("connect", parents=[verbose],
                                  help="connect to a WebSocket server and watch what arrives")
    connect.add_argument("url", nargs="?", help="ws:// or wss:// URL, or host[:port] (netaddress)")
    _add_watch_flags(connect, demo=False)
    add_parameter_flags(connect)
    connect.set_defaults(handler=cmd_connect)

    demo = commands.add_parser("demo", parents=[verbose], help="run an embedded feed server and a DAT watching it")
    _add_watch_flags(demo, demo=True)
    add_parameter_flags(demo, skip=("netaddress", "port", "active"))
    demo.set_defaults(handler=cmd_demo)

    replay = commands.add_parser("replay", parents=[verbose],
                                 help="feed a wsdat-record recording through the hooks and the table")
    replay.add_argument("file", help="a JSONL file written by the wsdat-record plugin")
    replay.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help="2 plays twice as fast, 0 as fast as possible (default 1)")
    _add_watch_flags(replay, demo=False)
    add_parameter_flags(replay, skip=("netaddress", "port", "active", "timeout"))
    replay.set_defaults(handler=cmd_replay)

    work = commands.add_parser("work", parents=[verbose],
                               help="run the hooks on entries of a Redis stream (written by the redis plugin)")
    work.add_argument("url", nargs="?", default="redis://127.0.0.1:6379/0",
                      help="the Redis server (default redis://127.0.0.1:6379/0)")
    work.add_argument("--stream", required=True, help="the stream the ingest DAT writes, e.g. wsdat:feed")
    work.add_argument("--group", required=True, help="the consumer group: workers of one group share the entries")
    work.add_argument("--consumer", help="this worker's name in the group (default HOST-PID)")
    work.add_argument("--maxdeliveries", type=int, default=5, metavar="N",
                      help="an entry whose hooks raised N times goes to STREAM:dead (default 5)")
    work.add_argument("--claimidle", type=int, default=30000, metavar="MS",
                      help="claim entries pending this long on any worker (a dead one, or failed; default 30000)")
    work.add_argument("--batch", type=int, default=100, metavar="N", help="entries read at once (default 100)")
    work.add_argument("--block", type=int, default=1000, metavar="MS",
                      help="longest wait for new entries in one read (default 1000)")
    work.add_argument("--start", default="0", metavar="ID",
                      help="where a new group starts: 0 = the whole stream (default), $ = new entries only")
    _add_watch_flags(work, demo=False)
    add_parameter_flags(work, skip=("netaddress", "port", "active", "timeout"))
    work.set_defaults(handler=cmd_work)

    plugins = commands.add_parser("plugins", parents=[verbose],
                                  help="list installed plugins (entry points in group 'wsdat')")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(handler=cmd_plugins)

    scaffold = commands.add_parser("new-plugin", parents=[verbose], help="write a ready plugin package wsdat-NAME")
    scaffold.add_argument("name", help="the plugin's name (its entry point), e.g. shout")
    scaffold.add_argument("--dir", default=".", help="where to create wsdat-NAME/ (default: here)")
    scaffold.set_defaults(handler=cmd_new_plugin)

    run = commands.add_parser("run", parents=[verbose], help="run the DATs of a service file (TOML) in one nursery")
    run.add_argument("file", help="the service file, e.g. service.toml")
    run.add_argument("--http", metavar="[HOST:]PORT",
                     help="serve /metrics, /healthz, /api/dats and a live page (a port alone: on 127.0.0.1 only)")
    run.add_argument("--watch", action="store_true", help="reload the service file when it changes (as SIGHUP does)")
    run.set_defaults(handler=cmd_run)
    return parser


def _sole_exception(error: BaseException) -> BaseException:
    """The one exception inside nested exception groups (trio wraps errors raised in a nursery), else ``error``."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _asked_to_exit(error: BaseException) -> SystemExit | KeyboardInterrupt | None:
    """A SystemExit or KeyboardInterrupt anywhere in ``error`` (nested exception groups: a callback that called
    ``sys.exit()`` ends up beside the cancellations it caused)."""
    if isinstance(error, (SystemExit, KeyboardInterrupt)):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _asked_to_exit(inner)
            if found is not None:
                return found
    return None


def _callback_of(error: BaseException) -> str | None:
    """The callback ``error`` was raised in (``onReceiveText (callbacks.py:12)``), if any."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    return running_callback(frames[-1]) if frames else None


def _exit_asked(asked: SystemExit | KeyboardInterrupt) -> int:
    """sys.exit(code) keeps its code; a KeyboardInterrupt is 130, as for Ctrl-C in a shell. One line when a callback
    asked."""
    callback = _callback_of(asked)
    if isinstance(asked, KeyboardInterrupt):
        if callback:
            sys.stderr.write(f"wsdat: interrupted: KeyboardInterrupt in the callback {callback}\n")
        return 130
    code = asked.code
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"wsdat: {clean_line(str(code))}\n")
        code = EXIT_FAILED
    if callback:
        sys.stderr.write(f"wsdat: the callback {callback} called sys.exit({code or 0})\n")
    return code or 0


def _exit_code(error: BaseException) -> int | None:
    """Exit code and one line on stderr for the errors a user can cause; None for anything else."""
    if isinstance(error, (UsageError, ValueError, PluginError)):  # ParameterError, ServiceFileError, ReplayError
        code = EXIT_USAGE
    elif isinstance(error, WsdatError):
        code = EXIT_FAILED
    else:
        return None
    sys.stderr.write(f"wsdat: error: {clean_line(str(error))}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if getattr(args, "duration", None) == 0:
            args.duration = None
        _setup_console(args.verbose)
        code: int = args.handler(args)
        return code
    except BaseException as raised:
        asked = _asked_to_exit(raised)
        if asked is not None:
            return _exit_asked(asked)
        error = _sole_exception(raised)
        known = _exit_code(error)
        if known is not None:
            return known
        if args is not None and args.verbose:
            raise
        sys.stderr.write(f"wsdat: internal error: {type(error).__name__}: {error} (-v shows the traceback)\n")
        return EXIT_FAILED
