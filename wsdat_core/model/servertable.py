"""The Web Server DAT's FIFO table: the WebSocket DAT's :class:`~.table.MessageTable` with a ``client`` column.

Heading ``message``, ``client`` (and ``bytes`` while the bytes column is on); ``maxlines``, ``clamp``,
``maxtablebytes`` and ``clear`` work as on the WebSocket DAT. Each row is stored as the message itself, tagged with
the client that sent it (:class:`ClientText` is a ``str``, :class:`ClientBytes` a ``bytes``, each with a ``client``
attribute), so everything that reads a MessageTable's rows (exports, the live view, the memory guard) reads these too.
Pure: no trio, no sockets.
"""

from __future__ import annotations

from typing import Final

from .table import BYTES, MESSAGE, MessageTable

__all__ = ["CLIENT", "ClientBytes", "ClientMessageTable", "ClientText", "tagged"]

CLIENT: Final = "client"


class ClientText(str):
    """A text row: the message, and the client that sent it."""

    client: str


class ClientBytes(bytes):
    """A binary row (``binaryrows`` on): the message, and the client that sent it."""

    client: str


def tagged(client: str, message: str | bytes) -> ClientText | ClientBytes:
    """``message`` as a row of ``client``."""
    row = ClientText(message) if isinstance(message, str) else ClientBytes(message)
    row.client = client
    return row


class ClientMessageTable(MessageTable):
    """A FIFO table of received messages with the client of each.

    >>> table = ClientMessageTable(maxlines=2)
    >>> [table.add("127.0.0.1:5000", m) for m in ("a", "b", "c")]
    [1, 2, 2]
    >>> table.rows()
    [['message', 'client'], ['b', '127.0.0.1:5000'], ['c', '127.0.0.1:5000']]
    """

    __slots__ = ()

    def add(self, client: str, message: str | bytes) -> int:
        """Append ``message`` of ``client`` as the last row; returns its row index (as :meth:`append`)."""
        return self.append(tagged(client, message))

    @property
    def heading(self) -> tuple[str, ...]:
        return (MESSAGE, CLIENT, BYTES) if self.bytes else (MESSAGE, CLIENT)

    @property
    def numCols(self) -> int:
        return len(self.heading)

    def _row_cells(self, index: int) -> list[str]:
        cells = super()._row_cells(index)
        if index:
            cells.insert(1, str(getattr(self.messages[index - 1], CLIENT, "")))
        return cells
