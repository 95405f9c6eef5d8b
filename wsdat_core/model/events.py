"""What happens to a DAT, as data: one enum of event kinds and one frozen dataclass per kind.

The connection's batches, the hooks, ``dat.events()`` subscribers, the record plugin and replay all speak this
vocabulary::

    async with dat.events() as events:
        async for event in events:
            match event:
                case TextReceived(rowIndex=row, message=text):
                    print(row, text)
                case Disconnected(code=code, error=error):
                    print("closed", code, error or "")

:class:`EventKind` numbers the kinds; its ``label`` (``"text"``, ``"binary"``, ...) is the name used in recordings.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "BinaryReceived",
    "Connected",
    "Disconnected",
    "Event",
    "EventKind",
    "Monitor",
    "PingReceived",
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
    """A binary message."""

    kind: ClassVar[EventKind] = EventKind.BINARY
    contents: bytes


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


Event = Connected | Disconnected | TextReceived | BinaryReceived | PingReceived | PongReceived | Monitor
