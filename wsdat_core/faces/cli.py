"""The ``wsdat`` command: watch a feed, send from stdin, run the demo, list plugins, run a service of DATs.

Exit codes: 0 normal end, 1 connection failed for good, 2 bad usage or parameters. Every message is one line on
stderr; received messages go to stdout (or the live view on a terminal).
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import trio

from .._version import __version__
from ..host.callbacks import list_plugins, running_callback
from ..model.errors import PluginError, WsdatError
from ..model.sanitize import clean_line
from ..model.secrets import mask_text
from ..runtime.console import LOGGER_NAME
from .watch import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Parser,
    UsageError,
    add_parameter_flags,
    add_watch_flags,
    make_dat,
    parameters_from,
    run_session,
    save_table,
    start_view,
    summary,
)

__all__ = ["COMMANDS_GROUP", "main"]

_PREFIX = "wsdat: "
#: The entry-point group through which plugins add subcommands: ``NAME = "module:add_command"``, where
#: ``add_command(commands, parents)`` adds a parser to ``commands`` (argparse's sub-parsers) with ``parents`` and sets
#: its ``handler(args) -> int`` default, building on :mod:`wsdat_core.faces.watch`.
COMMANDS_GROUP: Final = "wsdat.commands"
#: Subcommands of first-party plugins, and the package that brings each (named when it is not installed).
PLUGIN_COMMANDS: Final = {"work": "wsdat-redis"}


# ----------------------------------------------------------------------------------------------------- console output
class _StderrHandler(logging.Handler):
    """One line per record on the *current* sys.stderr (the live view redirects it above the display)."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose
        self._told_verbose = False  # the first line with a traceback left out says that -v shows it

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = clean_line(mask_text(record.getMessage()))
            # a DAT named "wsdat" (the default here) logs "wsdat: ...": its name is not printed twice
            line = message if message.startswith(_PREFIX) else _PREFIX + message
            if self.verbose and record.exc_info:
                line += "\n" + mask_text(logging.Formatter().formatException(record.exc_info))
            elif record.exc_info and not self._told_verbose:
                self._told_verbose = True
                line += " (-v shows the traceback)"
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the tool down
            self.handleError(record)


def _setup_console(verbose: int, status_lines: bool = False) -> None:
    """The console on stderr: warnings and errors, status lines with ``-v`` (or ``status_lines``), tracebacks with
    ``-v``, debug with ``-vv``."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_StderrHandler(verbose))
    level = max(verbose, 1) if status_lines else verbose
    logger.setLevel(logging.WARNING if level == 0 else logging.INFO if level == 1 else logging.DEBUG)
    logger.propagate = False


# --------------------------------------------------------------------------------------------------------- commands
def cmd_connect(args: argparse.Namespace) -> int:
    refs = args.callbacks or []
    if args.url is None and refs and refs[-1].startswith(("ws://", "wss://")):
        args.url = refs.pop()  # `--callbacks a b URL`: the URL was taken for a plugin reference
    params = parameters_from(args)
    if args.url is None and "netaddress" not in params:
        raise UsageError("connect needs a URL (or --netaddress)")
    if args.url is not None:
        params["netaddress"] = args.url
    dat, printer, options = make_dat(args, params)
    return trio.run(run_session, dat, printer, options)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoCallbacks, DemoFeed

    if args.serve is not None:
        return _serve_demo(args.serve, args.rate)
    params = parameters_from(args)
    params.setdefault("netaddress", "127.0.0.1")  # replaced by the feed's URL once it listens
    dat, printer, options = make_dat(args, params, extra_callbacks=[DemoCallbacks()])
    return trio.run(run_session, dat, printer, options, DemoFeed(rate=args.rate))


def _serve_demo(address: str, rate: float) -> int:
    from ..http.address import parse_http_address
    from .demo import DemoFeed, serve_demo
    from .signals import stop_on_signals

    try:
        where = parse_http_address(address)
    except ValueError as exc:
        raise UsageError(f"--serve: {exc}") from None

    async def serve() -> None:
        token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope, stop_on_signals(lambda _signum: token.run_sync_soon(scope.cancel)):
            await serve_demo(DemoFeed(rate=rate, host=where.host, port=where.port))

    trio.run(serve)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    dat, printer, options = make_dat(args, parameters_from(args), offline=True)

    async def session() -> int:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            start_view(dat, options, nursery)
            events = await replay(dat, Path(args.file), args.speed)
            nursery.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        sys.stderr.write(f"wsdat: replayed {events} event(s); {summary(dat, printer, elapsed)}\n")
        if options.save is not None:
            save_table(dat, options.save)
        return EXIT_FAILED if options.strict and dat.info.hook_errors else EXIT_OK

    return trio.run(session)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import new_plugin

    root = new_plugin(args.name, Path(args.dir), server=args.server)
    print(f"created {root}: pip install -e {root} && pytest {root}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = list_plugins()
    if args.names:  # for shell completion: one name a line, nothing else
        print("\n".join(p.name for p in plugins if not p.error))
        return EXIT_OK
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


def cmd_completion(args: argparse.Namespace) -> int:
    from .completion import completion_script

    sys.stdout.write(completion_script(args.shell, build_parser()))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import run_serve

    _setup_console(max(1, args.verbose))  # listening, clients connecting and leaving: as wscat -l says them
    return run_serve(args)


def cmd_run(args: argparse.Namespace) -> int:
    from ..http.address import TOKEN_ENV, HttpAccess, check_token, parse_http_address
    from .config import load_service, run_service

    http = None
    if args.http is not None:
        try:
            http = parse_http_address(args.http)
        except ValueError as exc:
            raise UsageError(f"--http: {exc}") from None
    token = args.http_token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        try:
            check_token(token, "--http-token" if args.http_token else TOKEN_ENV)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    service = load_service(Path(args.file))
    access = HttpAccess(token or service.access.token, args.http_open or service.access.open,
                        (*service.access.hosts, *args.http_host))
    _setup_console(args.verbose, status_lines=True)  # a service reports its status lines
    return trio.run(functools.partial(run_service, service, http=http, watch=args.watch, access=access))


# ----------------------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wsdat", description="TouchDesigner's WebSocket DAT as a command-line tool.")
    parser.add_argument("--version", action="version", version=f"wsdat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show the text console (status lines) on stderr; -vv for debug")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    # -v also after the command (`wsdat connect URL -v`), as people type it
    verbose = Parser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="show the text console (status lines) on stderr; -vv for debug")

    connect = commands.add_parser("connect", parents=[verbose],
                                  help="connect to a WebSocket server and watch what arrives")
    connect.add_argument("url", nargs="?", help="ws:// or wss:// URL, or host[:port] (netaddress)")
    add_watch_flags(connect, demo=False)
    add_parameter_flags(connect)
    connect.set_defaults(handler=cmd_connect)

    demo = commands.add_parser("demo", parents=[verbose], help="run an embedded feed server and a DAT watching it")
    demo.add_argument("--serve", metavar="[HOST:]PORT",
                      help="run the demo server alone (a port alone: on 127.0.0.1): the server the documentation's "
                           "examples connect to; !help lists its commands")
    add_watch_flags(demo, demo=True)
    add_parameter_flags(demo, skip=("netaddress", "port", "active"))
    demo.set_defaults(handler=cmd_demo)

    replay = commands.add_parser("replay", parents=[verbose],
                                 help="feed a wsdat-record recording through the hooks and the table")
    replay.add_argument("file", help="a JSONL file written by the wsdat-record plugin")
    replay.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help="2 plays twice as fast, 0 as fast as possible (default 1)")
    add_watch_flags(replay, demo=False)
    add_parameter_flags(replay, skip=("netaddress", "port", "active", "timeout"))
    replay.set_defaults(handler=cmd_replay)

    plugins = commands.add_parser("plugins", parents=[verbose],
                                  help="list installed plugins (entry points in group 'wsdat')")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.add_argument("--names", action="store_true", help="only the names, one a line (for shell completion)")
    plugins.set_defaults(handler=cmd_plugins)

    scaffold = commands.add_parser("new-plugin", parents=[verbose], help="write a ready plugin package wsdat-NAME")
    scaffold.add_argument("name", help="the plugin's name (its entry point), e.g. shout")
    scaffold.add_argument("--dir", default=".", help="where to create wsdat-NAME/ (default: here)")
    scaffold.add_argument("--server", action="store_true",
                          help="a plugin for the Web Server DAT (wsdat serve, [server.NAME]), not the WebSocket DAT")
    scaffold.set_defaults(handler=cmd_new_plugin)

    from .serve import add_serve_parser

    add_serve_parser(commands, [verbose])
    commands.choices["serve"].set_defaults(handler=cmd_serve)

    run = commands.add_parser("run", parents=[verbose], help="run the DATs of a service file (TOML) in one nursery")
    run.add_argument("file", help="the service file, e.g. service.toml")
    run.add_argument("--http", metavar="[HOST:]PORT",
                     help="serve /metrics, /healthz, /api/dats and a live page (a port alone: on 127.0.0.1 only)")
    run.add_argument("--http-token", metavar="TOKEN",
                     help="the token every HTTP endpoint but /healthz and /metrics wants (Authorization: Bearer "
                          "TOKEN); required off loopback; better in the environment variable WSDAT_HTTP_TOKEN")
    run.add_argument("--http-open", action="store_true",
                     help="serve an interface other than loopback without a token")
    run.add_argument("--http-host", metavar="NAME", action="append", default=[],
                     help="a Host name the HTTP side answers to besides this machine's own (repeatable)")
    run.add_argument("--watch", action="store_true", help="reload the service file when it changes (as SIGHUP does)")
    run.set_defaults(handler=cmd_run)
    _add_plugin_commands(commands, [verbose])
    completion = commands.add_parser("completion", parents=[verbose],
                                     help="print the shell completion script for bash, zsh or fish")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"),
                            help="e.g. eval \"$(wsdat completion bash)\" in ~/.bashrc (docs/cli.md: zsh, fish)")
    completion.set_defaults(handler=cmd_completion)
    return parser


def _add_plugin_commands(commands: argparse._SubParsersAction[Parser], parents: list[Parser]
                         ) -> None:
    """Subcommands brought by installed plugins (entry-point group ``wsdat.commands``); one that fails to load is
    reported when it is used, not here (``wsdat --help`` must work whatever is installed)."""
    for entry_point in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        if entry_point.name in commands.choices:
            continue
        try:
            add_command = entry_point.load()
            add_command(commands, parents)
        except Exception as exc:  # a broken plugin must not break the command
            broken = commands.add_parser(entry_point.name, parents=parents,
                                         help=f"(broken: {type(exc).__name__}: {exc})")
            broken.set_defaults(handler=functools.partial(_broken_command, entry_point.name, exc))


def _broken_command(name: str, exc: Exception, args: argparse.Namespace) -> int:
    raise UsageError(f"the command {name!r} of an installed plugin failed to load: {type(exc).__name__}: {exc}")


def _missing_command(argv: Sequence[str]) -> str | None:
    """A one-line answer when ``argv`` names a first-party plugin's command that is not installed."""
    words = [word for word in argv if not word.startswith("-")]
    installed = {entry_point.name for entry_point in importlib.metadata.entry_points(group=COMMANDS_GROUP)}
    if words and words[0] in PLUGIN_COMMANDS and words[0] not in installed:
        package = PLUGIN_COMMANDS[words[0]]
        return (f"'wsdat {words[0]}' comes with the {package} plugin, which is not installed: "
                f"pip install {package}")
    return None


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
        sys.stderr.write(f"wsdat: {clean_line(mask_text(str(code)))}\n")
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
    sys.stderr.write(f"wsdat: error: {clean_line(mask_text(str(error)))}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = None
    try:
        missing = _missing_command(sys.argv[1:] if argv is None else argv)
        if missing is not None:
            raise UsageError(missing)
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
        shown = clean_line(mask_text(f"{type(error).__name__}: {error}"))
        sys.stderr.write(f"wsdat: internal error: {shown} (-v shows the traceback)\n")
        return EXIT_FAILED
