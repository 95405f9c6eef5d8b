"""What happens to a DAT, as data: one enum of event kinds and one frozen dataclass per kind.

The hooks, ``dat.events()`` subscribers, the HTTP side, the record plugin and replay all speak this vocabulary::

    async with dat.events() as events:
        async for event in events:
            match event:
                case TextReceived(rowIndex=row, message=text):
                    print(row, text)
                case Disconnected(code=code, error=error):
                    print("closed", code, error or "")

:class:`EventKind` numbers the kinds; its ``label`` (``"text"``, ``"binary"``, ...) is the name used in recordings.

Between the protocol and the cook, received frames travel in the compact form of this vocabulary: a *batch* (what
one network read brought) is a list of :class:`Received` runs, each holding the payloads of consecutive frames of one
kind. One object per run instead of one per message keeps the receive path fast; the cook turns a run into the
dataclasses above (with the row index it gave each text message) for whoever subscribed.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Final

__all__ = [
    "Batch",
    "BinaryReceived",
    "Connected",
    "Disconnected",
    "Event",
    "EventKind",
    "Monitor",
    "Outgoing",
    "PingReceived",
    "Received",
    "PongReceived",
    "RECEIVED_KINDS",
    "TextReceived",
]


class EventKind(enum.IntEnum):
    """The kinds of event. The first four are frames received from the server, the others what the DAT reports."""

    TEXT = 0
    BINARY = 1
    PING = 2
    PONG = 3
    CONNECT = 4
    DISCONNECT = 5
    MONITOR = 6

    @property
    def label(self) -> str:
        """The kind's name in recordings and ``dat.deliver``: ``"text"``, ``"binary"``, ``"connect"``, ..."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> EventKind:
        """The kind named ``label``; ``ValueError`` listing the labels when there is none."""
        try:
            return cls[label.upper()]
        except (KeyError, AttributeError):
            raise ValueError(f"unknown event kind {label!r}; expected one of "
                             f"{', '.join(kind.label for kind in cls)}") from None


#: Kinds of frame received from the server: the entries of a connection's batches.
RECEIVED_KINDS: Final = frozenset({EventKind.TEXT, EventKind.BINARY, EventKind.PING, EventKind.PONG})


@dataclass(frozen=True, slots=True)
class Connected:
    """The WebSocket handshake completed: ``url`` (password masked), the negotiated ``subprotocol`` (or None) and
    extensions (e.g. ``"permessage-deflate"``, or ``""``)."""

    kind: ClassVar[EventKind] = EventKind.CONNECT
    url: str
    subprotocol: str | None = None
    extensions: str = ""


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection announced by :class:`Connected` ended.

    ``code`` is the close code (the server's, or wsdat's when wsdat closed; 1005 when a close frame carried none;
    1006 when the connection ended without a close frame); ``reason`` the close reason; ``error`` the error line when
    the end was a failure (also counted in the ``errors`` info channel), else None.
    """

    kind: ClassVar[EventKind] = EventKind.DISCONNECT
    code: int
    reason: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TextReceived:
    """A text message, appended to the table at ``rowIndex``."""

    kind: ClassVar[EventKind] = EventKind.TEXT
    rowIndex: int
    message: str


@dataclass(frozen=True, slots=True)
class BinaryReceived:
    """A binary message; ``rowIndex`` is the row it was appended to while ``binaryrows`` is on, else 0."""

    kind: ClassVar[EventKind] = EventKind.BINARY
    contents: bytes
    rowIndex: int = 0


@dataclass(frozen=True, slots=True)
class PingReceived:
    """A ping from the server (answered with a pong unless ``autopong`` is off or a hook answered it)."""

    kind: ClassVar[EventKind] = EventKind.PING
    contents: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """A pong from the server."""

    kind: ClassVar[EventKind] = EventKind.PONG
    contents: bytes


@dataclass(frozen=True, slots=True)
class Monitor:
    """A status or error line, as ``onMonitorMessage`` gets it."""

    kind: ClassVar[EventKind] = EventKind.MONITOR
    message: str


@dataclass(slots=True)
class Received:
    """Frames of one kind received in a row: ``kind`` is TEXT, BINARY, PING or PONG, ``payloads`` their contents
    (``str`` for text, ``bytes`` otherwise), oldest first. A batch is a list of runs; the protocol that makes a run
    hands it over whole and keeps no reference to it."""

    kind: EventKind
    payloads: list[Any]

    def __len__(self) -> int:
        return len(self.payloads)


Batch = list[Received]
"""What one network read brought: runs of received frames, in the order they arrived."""


@dataclass(slots=True)
class Outgoing:
    """A message or control frame on its way out: ``kind`` TEXT (``str`` payload), BINARY, PING or PONG (``bytes``),
    its ``size`` in bytes (UTF-8 for text), and for an awaited send the ``receipt`` the sender settles once it was
    written (None for TouchDesigner's fire-and-forget sends)."""

    kind: EventKind
    payload: Any
    size: int
    receipt: Any = None

Event = Connected | Disconnected | TextReceived | BinaryReceived | PingReceived | PongReceived | Monitor
