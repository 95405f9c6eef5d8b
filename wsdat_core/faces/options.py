"""The flags of the commands that watch one DAT, and what they mean for a session (:class:`WatchOptions`).

``wsdat connect``, ``wsdat demo``, ``wsdat replay`` and commands that plugins add build their parsers from
:func:`add_watch_flags` and :func:`add_parameter_flags` (every DAT parameter a flag with its TouchDesigner name); bad
usage is a :class:`UsageError` (one line, exit code 2). :mod:`.watch` re-exports these names.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ..host.callbacks import parse_setting_value, settings_names
from ..model.params import SPECS, ParSpec
from .output import FORMATS
from .sending import SLASH_HELP, file_message

__all__ = ["SAVE_FORMATS", "VIEWS", "Parser", "UsageError", "WatchOptions", "add_parameter_flags", "add_watch_flags",
           "is_terminal", "parameters_from", "plugin_settings_from", "watch_options"]

SAVE_FORMATS = {".csv": "to_csv", ".tsv": "to_tsv", ".json": "to_json"}
#: The views on a terminal (else: lines, see ``--output``).
VIEWS = ("chat", "table")
_LIST_PARAMS = {"callbacks", "headers", "secretheaders", "subprotocols"}
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
def add_parameter_flags(parser: argparse.ArgumentParser, skip: Sequence[str] = (),
                        specs: Mapping[str, ParSpec] = SPECS) -> None:
    """One flag per DAT parameter of ``specs`` (the WebSocket DAT's by default; a Web Server DAT's for ``wsdat
    serve``), named as the parameter (``--maxlines``, ``--bytes/--no-bytes``, ...)."""
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


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def watch_options(args: argparse.Namespace, stdout: TextIO) -> WatchOptions:
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
    if args.output is not None or not is_terminal(stdout):
        return "lines"
    if args.terminal_view == "chat" and not args.no_stdin and is_terminal(sys.stdin):
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


def add_watch_flags(parser: argparse.ArgumentParser, *, demo: bool, serve: bool = False) -> None:
    """The flags of watching one DAT; ``serve``: those of ``wsdat serve`` (the live table on a terminal, stdin lines
    to every client, its own slash commands; nothing is sent on connecting)."""
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
    if not serve:
        watch.add_argument("-x", "--execute", dest="on_connect", action=_OnConnect, metavar="TEXT",
                           help="send TEXT on every connection, before stdin lines (repeatable, in order; like wscat)")
        watch.add_argument("--send-file", dest="on_connect", action=_OnConnect, metavar="PATH",
                           help="send the file's content as one message on every connection: text when it is UTF-8, "
                                "else (or with --binary) binary (repeatable, in order with -x)")
    watch.add_argument("--no-stdin", action="store_true", help="do not send stdin lines")
    watch.add_argument("--strict", action="store_true",
                       help="exit 1 when any callback raised (they are counted and reported either way)")
    watch.add_argument("--slash", action="store_true",
                       help="stdin lines /to CLIENT text, /ping CLIENT [text], /close CLIENT [code [reason]] and "
                            "/clients are commands" if serve else
                            f"lines starting with / are commands (wscat): {SLASH_HELP}; /ping prints the pong and "
                            "its round-trip time")
    watch.add_argument("--save", metavar="FILE", help="write the table on exit (.csv, .tsv or .json)")
    watch.add_argument("--name", default="wsdat" if not demo else "demo", help="the DAT's name in messages")
    watch.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE",
                       help="a plugin setting (as [dat.NAME.plugins.PLUGIN] in a service file; repeatable)")
    parser.set_defaults(terminal_view="table" if demo or serve else "chat")
    if demo:
        watch.add_argument("--duration", type=float, default=30.0, metavar="S",
                           help="stop after S seconds (0: run until Ctrl-C; default 30)")
        watch.add_argument("--rate", type=float, default=4.0, metavar="R", help="feed messages per second")
    elif not serve:
        watch.add_argument("--wait", action="store_true",
                           help="if the first connection fails, keep retrying (reconnect policy) instead of exiting")


class _OnConnect(argparse.Action):
    """``-x TEXT`` and ``--send-file PATH`` into one ordered list of ``(kind, value)``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(("file" if option_string == "--send-file" else "text", values))
        setattr(namespace, self.dest, items)
