"""``wsdat serve [HOST:]PORT``: listen for WebSocket clients, as ``wscat -l`` and ``websocat -s`` do, with a Web
Server DAT.

What clients send is printed as ``wsdat connect`` prints what a server sends (the live table on a terminal, one line
per message otherwise: ``--output plain|jsonl|tsv``; jsonl records carry a ``client`` key, tsv lines a last client
column); stdin lines go to every client (``--binary`` decodes them from hex or base64), and with ``--slash``
``/to CLIENT text``, ``/ping CLIENT [text]``, ``/close CLIENT [code [reason]]`` and ``/clients`` are commands (CLIENT
is its ``host:port`` or its number). ``--callbacks`` takes Web Server DAT callbacks files and plugins, ``--cert`` /
``--key`` turn TLS on, ``--static DIR`` answers plain HTTP GETs with files when no ``onHTTPRequest`` does; every
other server parameter is a flag with its name (``--maxclients``, ``--pinginterval`` ...).

Status lines (listening, clients connecting and leaving) go to stderr. Exit codes: 0 normal end (Ctrl-C,
``--count`` reached), 1 the port cannot be listened on (or ``--strict`` and a callback raised), 2 bad usage.
"""

from __future__ import annotations

import argparse
import binascii
import logging
import sys
from typing import Any

import trio

from ..http.address import parse_http_address
from ..model.errors import WsdatError
from ..model.sanitize import escape_control
from ..model.serverparams import SERVER_SPECS
from ..runtime.console import LOGGER_NAME
from ..runtime.webserver import WebServerDAT
from .options import (
    UsageError,
    WatchOptions,
    add_parameter_flags,
    add_watch_flags,
    parameters_from,
    plugin_settings_from,
    watch_options,
)
from .output import MessageWriter, utf8_stream
from .sending import decode_line, stdin_lines
from .signals import stop_on_signals
from .watch import EXIT_FAILED, EXIT_OK, save_table, start_view

__all__ = ["add_serve_parser", "run_serve", "serve_session"]

_log = logging.getLogger(LOGGER_NAME)
#: Parameters the command line sets another way (the address argument, --cert/--key).
_SET_OTHERWISE = ("address", "port", "active", "secure", "certificate", "privatekey")


class _ServerPrinter:
    """The command's own callbacks plugin: writes each message with its client and counts them, up to ``limit``."""

    def __init__(self, writer: MessageWriter | None, limit: int | None = None) -> None:
        self.writer = writer
        self.limit = limit
        self.text = 0
        self.binary = 0
        self.finished = trio.Event()

    @property
    def received(self) -> int:
        return self.text + self.binary

    def _count(self) -> bool:
        """False for the rest of a read that came with the last counted message."""
        return self.limit is None or self.received < self.limit

    def _counted(self) -> None:
        if self.limit is not None and self.received >= self.limit:
            self.finished.set()

    def onWebSocketReceiveText(self, webServerDAT: WebServerDAT, client: str, data: str) -> None:
        if self._count():
            self.text += 1
            if self.writer is not None:
                self.writer.text(webServerDAT.numRows - 1, data, client)  # the row it was appended as
            self._counted()

    def onWebSocketReceiveBinary(self, client: str, data: bytes) -> None:
        if self._count():
            self.binary += 1
            if self.writer is not None:
                self.writer.binary(data, client)
            self._counted()


def add_serve_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", parents=parents,
                                help="listen for WebSocket clients (like wscat -l / websocat -s): print what they "
                                "send, send them stdin lines")
    serve.add_argument("address", metavar="[HOST:]PORT",
                       help="where to listen: a port alone listens on 127.0.0.1 only; 0.0.0.0:PORT on every "
                       "interface; port 0: one the system picks")
    serve.add_argument("--cert", metavar="FILE", help="TLS: the server's PEM certificate chain (wss:// and https://)")
    serve.add_argument("--key", metavar="FILE", help="TLS: its private key (unless --cert holds it)")
    add_watch_flags(serve, demo=False, serve=True)
    add_parameter_flags(serve, skip=_SET_OTHERWISE, specs=SERVER_SPECS)


def run_serve(args: argparse.Namespace) -> int:
    """``wsdat serve``: build the server from the command line and run it; returns the exit code."""
    try:
        address = parse_http_address(args.address)
    except ValueError as exc:
        raise UsageError(f"serve: {exc}") from None
    params = parameters_from(args, SERVER_SPECS)
    params.update(address=address.host, port=address.port)
    if args.cert:
        params.update(secure=True, certificate=args.cert, privatekey=args.key)
    elif args.key:
        raise UsageError("--key goes with --cert (the certificate it belongs to)")
    options = watch_options(args, sys.stdout)
    if options.view == "chat":
        raise UsageError("serve: --view chat is wsdat connect's; serve shows the live table (--view table) or one "
                         "line per message (--output)")
    settings = plugin_settings_from(args, params.get("callbacks", ()))
    writer = None if options.live else MessageWriter(utf8_stream(sys.stdout), options.output,
                                                     with_bytes=bool(params.get("bytes")))
    printer = _ServerPrinter(writer, options.count)
    params["callbacks"] = [printer, *params.get("callbacks", ())]
    server = WebServerDAT(args.name, settings=settings, **params)
    return trio.run(serve_session, server, printer, options)


async def serve_session(server: WebServerDAT, printer: _ServerPrinter, options: WatchOptions) -> int:
    """The whole life of ``wsdat serve``: listen until Ctrl-C (or ``--count`` messages), then the summary."""
    started = trio.current_time()
    token = trio.lowlevel.current_trio_token()
    session = trio.CancelScope()

    def stop(signum: int) -> None:  # from the signal handler: flags and the trio token only
        server.stop()
        token.run_sync_soon(session.cancel)

    code = EXIT_OK
    with stop_on_signals(stop), session:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            if not server.listening:  # the error line said why
                nursery.cancel_scope.cancel()
                return EXIT_FAILED
            if options.send_stdin:
                nursery.start_soon(_send_stdin, server, options)
            start_view(server, options, nursery)
            await printer.finished.wait()
            nursery.cancel_scope.cancel()
    info = server.info
    sys.stderr.write(f"wsdat: {printer.received} message(s) received ({printer.text} text, {printer.binary} binary) "
                     f"from {info.connects} client(s), {info.messages_sent} sent, {info.http_requests} HTTP "
                     f"request(s), {info.errors} error(s) ({info.hook_errors} in callbacks) in "
                     f"{trio.current_time() - started:.1f} s\n")
    if options.strict and info.hook_errors:
        code = EXIT_FAILED
    if options.save is not None:
        save_table(server, options.save)
    return code


async def _send_stdin(server: WebServerDAT, options: WatchOptions) -> None:
    """Each stdin line to every client (text, or binary decoded from hex/base64); with ``--slash`` the commands."""
    async for number, raw in stdin_lines():
        try:
            line = raw.decode("utf-8")
            if options.slash and line.startswith("/"):
                await _slash_command(server, line)
                continue
            message: str | bytes = line if options.binary is None else decode_line(line.strip(), options.binary)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            _log.warning("stdin line %d: not %s, not sent: %s", number,
                         "UTF-8" if options.binary is None else options.binary,
                         escape_control(raw[:40].decode("utf-8", "backslashreplace")))
            continue
        sent = server.broadcastText(message) if isinstance(message, str) else server.broadcastBinary(message)
        if not sent:
            _log.warning("stdin line %d: no client connected, not sent", number)


def _find_client(server: WebServerDAT, name: str) -> str:
    """The open client named ``host:port`` or by its number; ValueError naming the open ones."""
    for client in server.webSocketConnections:
        if name in (str(client), str(client.id), f"#{client.id}"):
            return client
    open_ones = ", ".join(f"#{c.id} {c}" for c in server.webSocketConnections) or "none"
    raise ValueError(f"no open client {name!r}; open clients: {open_ones}")


async def _slash_command(server: WebServerDAT, line: str) -> None:
    """``/to CLIENT text``, ``/ping CLIENT [text]``, ``/close CLIENT [code [reason]]``, ``/clients``."""
    command, _, rest = line.partition(" ")
    target, _, argument = rest.strip().partition(" ")
    try:
        if command == "/clients":
            clients = server.webSocketConnections
            _log.info("%d client(s): %s", len(clients),
                         ", ".join(f"#{c.id} {c} {c.uri}" for c in clients) or "none")
        elif command in ("/to", "/ping", "/close") and target:
            client = _find_client(server, target)
            if command == "/to":
                server.webSocketSendText(client, argument)
            elif command == "/ping":
                server.webSocketSendPing(client, argument)
            else:
                code_text, _, reason = argument.strip().partition(" ")
                answer = await server.close(client, int(code_text) if code_text else 1000, reason)
                _log.info("%s: closed; the client answered %d", client, answer)
        else:
            raise ValueError(f"{command}: unknown command or no CLIENT; with --slash, lines starting with / are "
                             "/to CLIENT text, /ping CLIENT [text], /close CLIENT [code [reason]] or /clients")
    except (ValueError, WsdatError) as exc:  # a bad command is one line, and nothing is sent
        _log.warning("stdin: %s", escape_control(str(exc)))
