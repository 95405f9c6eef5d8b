"""Sending from the command line: stdin lines, typed lines, wscat's slash commands, and what is sent on connect.

Every message waits for the connection and for room in the send queue (backpressure): none is dropped. A message
the connection could not take (it ended first) is sent again once the DAT has reconnected. What the user sent is
shown by the face (``> text`` in the conversation view) once it was written to the socket.

``-x/--execute TEXT`` and ``--send-file PATH`` are sent on every connection, in the order given, before any line
from stdin or the input line (as wscat's ``-x``; a subscription is sent again after a reconnect). A file is one
message: text when it is UTF-8, binary otherwise or with ``--binary``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from ..model.errors import ConnectionClosedError, WsdatError
from ..model.sanitize import clean_line
from ..runtime.console import LOGGER_NAME
from .face import Face

__all__ = ["ConnectMessages", "PingTimer", "Sender", "file_message", "stdin_lines"]

_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2}\s*)+")
SLASH_HELP: Final = "/ping [text], /pong [text], /close [code [reason]] or /file PATH"
log = logging.getLogger(LOGGER_NAME)


def decode_line(line: str, encoding: str) -> bytes:
    """A line as bytes: ``hex`` (spaces allowed), ``base64``, or ``auto`` (hex when it is hex, else base64)."""
    if encoding == "hex" or (encoding == "auto" and _HEX.fullmatch(line)):
        return bytes.fromhex(line)
    return base64.b64decode(line, validate=True)


def file_message(path: str | Path, binary: bool = False) -> str | bytes:
    """The content of the file at ``path`` as one message: text when it is UTF-8 and ``binary`` is off, else bytes.
    ``ValueError`` naming the path when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{str(path)!r}: {exc.strerror or exc}") from None
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


async def stdin_lines() -> AsyncIterator[tuple[int, bytes]]:
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


@dataclass
class PingTimer:
    """When each ``/ping`` payload went out, so its pong can be shown with the round-trip time."""

    waiting: dict[bytes, float] = field(default_factory=dict)

    def sent(self, payload: bytes) -> None:
        self.waiting[payload] = trio.current_time()

    def answered(self, payload: bytes) -> float | None:
        """Seconds since the ping with this payload was sent, or None when no ``/ping`` waits for it (a keepalive's
        pong, or one the server sent on its own)."""
        started = self.waiting.pop(payload, None)
        return None if started is None else trio.current_time() - started


class Sender:
    """Sends for the user: messages (shown by ``face`` once written), lines (stdin or typed) and slash commands."""

    def __init__(self, face: Face, *, dat: Any = None, binary: str | None = None, slash: bool = False,
                 files_binary: bool = False, pings: PingTimer | None = None) -> None:
        #: The DAT to send through (set after the DAT is made, when the sender is among its callbacks).
        self.dat = dat
        self.face = face
        self.binary = binary
        self.slash = slash
        self.files_binary = files_binary
        self.pings = pings or PingTimer()
        #: Set once the messages of the first connection (``-x``, ``--send-file``) went out: lines wait for it.
        self.ready = trio.Event()

    async def send(self, message: str | bytes, *, show: bool = True) -> bool:
        """Send one message, waiting for the connection (again after a reconnect when it ended first); False when
        the DAT gave up (its outcome says why). The face shows it as it goes out (before any answer to it), unless
        ``show`` is off (a line typed into the conversation view stays on screen as it was typed)."""
        while True:
            try:
                await self.dat.wait_connected()
            except WsdatError:
                return False
            if show:
                self.face.sent(message)
            try:
                if isinstance(message, str):
                    await self.dat.send_text(message)
                else:
                    await self.dat.send_binary(message)
            except ConnectionClosedError:  # not sent: again on the next connection
                log.warning("the connection ended before that message went out; it is sent again once reconnected")
                continue
            return True

    async def line(self, line: str, *, show: bool = True) -> bool:
        """A line the user gave: a slash command (with ``--slash``) or a message (decoded with ``--binary``).
        A line that cannot be sent is one warning; False when the DAT gave up."""
        await self.ready.wait()
        if self.slash and line.startswith("/"):
            try:
                await self.dat.wait_connected()
            except WsdatError:
                return False
            await self.command(line)
            return True
        try:
            message: str | bytes = line if self.binary is None else decode_line(line.strip(), self.binary)
        except (ValueError, binascii.Error):
            log.warning("not %s, not sent: %s", self.binary, clean_line(line[:40]))
            return True
        return await self.send(message, show=show)

    async def stdin(self) -> None:
        """Send each stdin line, in order; the end of stdin only ends sending."""
        async for number, raw in stdin_lines():
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                log.warning("stdin line %d: not UTF-8, not sent: %s", number,
                            clean_line(raw[:40].decode("utf-8", "backslashreplace")))
                continue
            if not await self.line(line):
                return

    async def command(self, line: str) -> None:
        """wscat's commands: ``/ping [text]``, ``/pong [text]``, ``/close [code [reason]]``; and ``/file PATH``."""
        command, _, rest = line.partition(" ")
        try:
            if command == "/ping":
                payload = rest.encode("utf-8")
                self.pings.sent(payload)
                self.dat.sendPing(payload)
            elif command == "/pong":
                self.dat.sendPong(rest)
            elif command == "/close":
                code_text, _, reason = rest.strip().partition(" ")
                code = int(code_text) if code_text else 1000
                answer = await self.dat.close(code, reason)
                self.face.note(f"closed; the server answered {answer}")
            elif command == "/file":
                if not rest.strip():
                    raise ValueError("/file: which file? /file PATH")
                await self.send(file_message(rest.strip(), self.files_binary))
            else:
                raise ValueError(f"{command}: unknown command; with --slash, lines starting with / are {SLASH_HELP}")
        except ValueError as exc:  # a bad command is one line, and nothing is sent
            log.warning("%s", clean_line(str(exc)))


class ConnectMessages:
    """A callbacks plugin sending ``messages`` on every connection (``-x``, ``--send-file``), then letting the
    sender's lines go (:attr:`Sender.ready`)."""

    def __init__(self, sender: Sender, messages: Sequence[str | bytes]) -> None:
        self.sender = sender
        self.messages = list(messages)

    async def onConnect(self, dat: Any) -> None:
        try:
            for message in self.messages:
                if not await self.sender.send(message):
                    return
        finally:
            self.sender.ready.set()
