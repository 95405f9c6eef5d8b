"""What the user sees of one watched DAT: received messages, what was sent, pings and pongs, answers to commands.

Three faces share this shape: :class:`LinesFace` (one line per message on stdout, for pipes and ``--output``), the
live table (:mod:`.view`: the table shows the rows, so the face itself prints no messages) and the conversation view
(:mod:`.chat`: ``< received``, ``> sent``, dim status lines). The CLI's printer calls the face from the DAT's hooks,
the sending side (:mod:`.sending`) when a message went out.
"""

from __future__ import annotations

import sys
from typing import Any

from ..model.sanitize import clean_line
from .output import MessageWriter

__all__ = ["Face", "LinesFace", "payload_text"]


def payload_text(contents: bytes) -> str:
    """A ping's or pong's payload for a status line: quoted text when it is UTF-8, else hex."""
    try:
        return repr(contents.decode("utf-8"))
    except UnicodeDecodeError:
        return f"0x{contents.hex()}"


class Face:
    """The quiet face: messages are shown elsewhere (the live table); answers to the user's commands (a pong with
    its round-trip time) are one line on stderr."""

    #: The DAT shown (set once it exists; see ``bind`` of the CLI's printer).
    dat: Any = None

    def text(self, row_index: int, message: str) -> None:
        """A text message was received (row ``row_index``)."""

    def binary(self, contents: bytes) -> None:
        """A binary message was received."""

    def sent(self, message: str | bytes) -> None:
        """A message the user gave (typed, ``-x``, ``--send-file``, ``/file``) goes out now (on a connection)."""

    def ping(self, contents: bytes) -> None:
        """The server pinged (the DAT answers it)."""

    def pong(self, contents: bytes, round_trip: float | None) -> None:
        """A pong arrived; ``round_trip`` (seconds) when it answers the user's ``/ping``."""
        if round_trip is not None:
            self.note(f"pong {payload_text(contents)} after {round_trip * 1000:.1f} ms")

    def note(self, line: str) -> None:
        """A status line the user asked for (the answer to a command)."""
        sys.stderr.write(f"wsdat: {clean_line(line)}\n")
        sys.stderr.flush()


class LinesFace(Face):
    """One line (or one pretty JSON block) per received message on stdout, written by a :class:`MessageWriter`."""

    def __init__(self, writer: MessageWriter) -> None:
        self.writer = writer

    def text(self, row_index: int, message: str) -> None:
        self.writer.text(row_index, message)

    def binary(self, contents: bytes) -> None:
        self.writer.binary(contents)
