"""The conversation view: ``wsdat connect`` when stdin and stdout are terminals (or ``--view chat``).

Received messages print as ``< text`` (binary as ``< <binary N bytes: ..>``), what the user sent as ``> text`` (a
typed line as Enter is pressed, ``-x``, ``--send-file`` and ``/file`` messages as they go out), pings, pongs and
connection changes as dim ``-- status`` lines, all above an input line with editing and history (prompt_toolkit) and
a toolbar holding the DAT's state (``reconnecting: attempt 3 in 2.4 s``). Control characters in remote text are
escaped (:func:`~.output.shown_text`); colours are off with ``NO_COLOR`` or on a dumb terminal.

prompt_toolkit runs on asyncio, so the input line lives in a worker thread of its own; what trio prints goes through
prompt_toolkit's stdout proxy (``patch_stdout``), which draws it above the input line from any thread. Ctrl-D on an
empty line or Ctrl-C ends the session (as a first Ctrl-C does elsewhere: the DAT closes with 1001).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any, Final

import trio
from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from ..model.sanitize import clean_line
from ..runtime.console import LOGGER_NAME
from .face import Face, payload_text
from .output import binary_preview, shown_json, shown_text
from .sending import Sender
from .status import state_text

__all__ = ["ChatView"]

_RESET: Final = "\x1b[0m"
_STYLES: Final = {"received": "\x1b[1;32m", "sent": "\x1b[1;36m", "status": "\x1b[2m", "warning": "\x1b[33m",
                  "error": "\x1b[31m"}
#: How long the end of the session waits for the input line to give the terminal back.
_RESTORE_TIMEOUT: Final = 2.0


class ChatView(Face):
    """Prints the conversation and reads the input line; :meth:`run` until the user quits."""

    def __init__(self, dat: Any = None, *, colour: bool, form: str = "plain", verbose: int = 0) -> None:
        self.dat = dat
        self.colour = colour
        self.form = form
        self.verbose = verbose
        self._app: Application[Any] | None = None
        self._closing = threading.Event()

    # -- what is printed ------------------------------------------------------------------------------------------
    def _paint(self, style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self.colour else text

    def _print(self, line: str) -> None:
        stream = sys.stdout  # the proxy above the input line while it runs
        stream.write(line + "\n")
        stream.flush()

    def text(self, row_index: int, message: str) -> None:
        shown = shown_json(message, True, self.colour) if self.form == "json" else None
        body = shown_text(message, terminal=True) if shown is None else shown
        self._print(self._paint("received", "<") + " " + body)

    def binary(self, contents: bytes) -> None:
        self._print(self._paint("received", "<") + " " + binary_preview(contents))

    def sent(self, message: str | bytes) -> None:
        body = shown_text(message, terminal=True) if isinstance(message, str) else binary_preview(message)
        self._print(self._paint("sent", ">") + " " + body)

    def ping(self, contents: bytes) -> None:
        self.note(f"ping {payload_text(contents)} from the server")

    def pong(self, contents: bytes, round_trip: float | None) -> None:
        after = f" after {round_trip * 1000:.1f} ms" if round_trip is not None else ""
        self.note(f"pong {payload_text(contents)}{after}")

    def note(self, line: str, style: str = "status") -> None:
        self._print(self._paint(style, f"-- {clean_line(line)}"))

    def toolbar(self) -> ANSI:
        """The status line under the input line: state, URL and counters."""
        info = self.dat.info
        # the counters first: what does not fit the terminal's width is cut at the end (the URL can be long)
        return ANSI(f" {state_text(info)}  received {info.messages_received}  sent {info.messages_sent}  "
                    f"errors {info.errors}  Ctrl-D quits  {self.dat.par.endpoint.url}")

    # -- the input line -------------------------------------------------------------------------------------------
    async def run(self, sender: Sender) -> None:
        """Read the input line and send each line through ``sender`` (slash commands included) until the user quits
        (Ctrl-D, Ctrl-C) or the session is cancelled; the terminal is restored either way."""
        lines_in, lines_out = trio.open_memory_channel[str](256)
        returned = threading.Event()
        token = trio.lowlevel.current_trio_token()
        logger = logging.getLogger(LOGGER_NAME)
        handlers, level = logger.handlers[:], logger.level
        logger.handlers = [_StatusLines(self)]  # monitor lines become status lines above the input line
        logger.setLevel(logging.DEBUG if self.verbose > 1 else logging.INFO)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_lines, lines_out, sender)
                await trio.to_thread.run_sync(self._read_lines, token, lines_in, returned, abandon_on_cancel=True)
                nursery.cancel_scope.cancel()
        finally:
            self._closing.set()
            self._exit_prompt()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(returned.wait, _RESTORE_TIMEOUT)
            logger.handlers, logger.level = handlers, level

    async def _send_lines(self, lines: trio.MemoryReceiveChannel[str], sender: Sender) -> None:
        async for line in lines:
            if not await sender.line(line, show=False):  # the typed line stays on screen as "> text"
                return

    def _read_lines(self, token: trio.lowlevel.TrioToken, lines: trio.MemorySendChannel[str],
                    returned: threading.Event) -> None:
        """The worker thread: one input line that stays up (the terminal never falls back to echoing typed keys
        between two lines) until Ctrl-D, Ctrl-C or :meth:`_exit_prompt`. Enter hands the line to trio, prints it as
        ``> text`` above the input line and keeps it in the history."""

        def accept(buffer: Buffer) -> bool:
            self.sent(buffer.text)  # before it is sent, so before any answer to it
            try:
                trio.from_thread.run_sync(lines.send_nowait, buffer.text, trio_token=token)
            except (trio.RunFinishedError, trio.BrokenResourceError, trio.WouldBlock):
                _exit_app(session.app)
            return False  # clear the input line (the history already has it)

        try:
            session: PromptSession[str] = PromptSession(history=InMemoryHistory(), bottom_toolbar=self.toolbar,
                                                        refresh_interval=0.5)
            session.default_buffer.accept_handler = accept
            self._app = session.app
            with patch_stdout(raw=True), contextlib.suppress(EOFError, KeyboardInterrupt):
                session.prompt(ANSI(self._paint("sent", "> ")), pre_run=self._started)
        finally:
            returned.set()

    def _started(self) -> None:
        """The input line has just started: say so (keys typed from now on are the input line's, never echoed by
        the terminal), unless the session ended while it was starting."""
        if self._closing.is_set() and self._app is not None:
            _exit_app(self._app)
        elif self.dat.connected:  # the line of this connection went out before the view took the logger
            self.note(f"connected to {self.dat.par.endpoint.url}")

    def _exit_prompt(self) -> None:
        """Ask a running input line to end (from the trio thread)."""
        app = self._app
        if app is not None and app.is_running and app.loop is not None:
            app.loop.call_soon_threadsafe(_exit_app, app)


def _exit_app(app: Application[Any]) -> None:
    if app.is_running and app.future is not None and not app.future.done():
        app.exit(exception=EOFError())


class _StatusLines(logging.Handler):
    """The ``wsdat`` logger's lines as the conversation's status lines (warnings yellow, errors red)."""

    def __init__(self, view: ChatView) -> None:
        super().__init__()
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        try:
            style = "error" if record.levelno >= logging.ERROR else \
                "warning" if record.levelno >= logging.WARNING else "status"
            self.view.note(_without_name(record.getMessage(), self.view.dat.name), style)
            if self.view.verbose and record.exc_info:
                for line in logging.Formatter().formatException(record.exc_info).splitlines():
                    self.view.note(line, style)
        except Exception:  # logging must never take the tool down
            self.handleError(record)


def _without_name(message: str, name: str) -> str:
    """A monitor line without the ``NAME: `` of the one DAT in view."""
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message

