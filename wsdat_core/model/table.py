"""The WebSocket DAT's FIFO message table.

Row 0 is the heading (``message``, plus ``bytes`` while the bytes column is on); the first message lands in row 1.
With ``clamp`` on at most ``maxlines`` message rows are kept and the oldest goes first; with ``clamp`` off the table
grows without limit. Each row is stored as the message object itself (``str``, or ``bytes`` for binary rows) in a
:class:`collections.deque`, so append and eviction are O(1) and a row costs no more than its message. The ``bytes``
cell is derived from the message when read (the UTF-8 bytes of a text message, as lowercase hex pairs).

Access follows TouchDesigner's DAT class: ``numRows`` (heading included), ``numCols``, ``table[r, c]`` with ``c`` an
index or a heading name, ``row(i)``, ``col(name)``, ``rows()``, ``text``, ``clear()``.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Final

__all__ = ["BYTES", "MESSAGE", "Cell", "MessageTable", "hex_bytes"]

MESSAGE: Final = "message"
BYTES: Final = "bytes"
Message = str | bytes


def _row_size(message: Message) -> int:
    """The bytes a row takes: the message object and its deque slot."""
    return sys.getsizeof(message) + 8


class Cell(str):
    """A cell's text, as ``table[r, c]`` returns it: a ``str``, with TouchDesigner's ``.val``, ``.row`` and ``.col``
    so ported code such as ``dat[1, 0].val`` keeps working."""

    row: int
    col: int

    @property
    def val(self) -> str:
        return str(self)


def hex_bytes(message: Message) -> str:
    """The ``bytes`` cell: raw bytes as two-digit lowercase hex separated by spaces (``"hi"`` -> ``"68 69"``)."""
    raw = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
    return raw.hex(" ")


def _message_cell(message: Message) -> str:
    if isinstance(message, str):
        return message
    # A binary row (binaryrows on) shows its bytes as text where they are UTF-8, escaped where not.
    return message.decode("utf-8", "backslashreplace")


class MessageTable:
    """A FIFO table of received messages with a heading row.

    >>> t = MessageTable(maxlines=2)
    >>> [t.append(m) for m in ("a", "b", "c")]
    [1, 2, 2]
    >>> t.rows()
    [['message'], ['b'], ['c']]
    """

    __slots__ = ("_rows", "_maxlines", "_clamp", "_bytes", "_maxtablebytes", "_size", "size_evictions", "append")

    def __init__(self, *, maxlines: int = 100, clamp: bool = True, bytes: bool = False,  # noqa: A002
                 maxtablebytes: int = 0) -> None:
        if isinstance(maxlines, bool) or not isinstance(maxlines, int) or maxlines < 1:
            raise ValueError(f"maxlines: {maxlines!r} is not allowed; expected an integer >= 1")
        self._maxlines = maxlines
        self._clamp = bool(clamp)
        self._bytes = bool(bytes)
        self._maxtablebytes = maxtablebytes
        self._size = 0  # bytes the rows take, counted while the memory guard is on
        #: Rows removed because the table passed ``maxtablebytes`` with clamp off.
        self.size_evictions = 0
        self._rows: deque[Message] = deque(maxlen=self._limit())
        self.append: Callable[[Message], int] = self._append
        self._guard()

    # -- shape ----------------------------------------------------------------------------------------------------
    def _limit(self) -> int | None:
        return self._maxlines if self._clamp else None

    def _reshape(self) -> None:
        limit = self._limit()
        if limit != self._rows.maxlen:
            # Keeping the newest rows: a deque built with maxlen drops from the left while it is filled.
            self._rows = deque(self._rows, maxlen=limit)
        self._guard()

    def _guard(self) -> None:
        """The memory guard: with clamp off and ``maxtablebytes`` set, appending counts bytes and evicts the oldest
        rows once the table passes the limit; otherwise appending is a bare deque append."""
        if self._clamp or not self._maxtablebytes:
            self.append = self._append
            return
        self._size = sum(_row_size(message) for message in self._rows)
        self.append = self._append_guarded
        self._evict()

    @property
    def maxtablebytes(self) -> int:
        """With clamp off, the most bytes the rows may take (0: no limit); past it the oldest rows go."""
        return self._maxtablebytes

    @maxtablebytes.setter
    def maxtablebytes(self, value: int) -> None:
        self._maxtablebytes = value
        self._guard()

    @property
    def size_bytes(self) -> int:
        """About how many bytes the rows take (message objects and their deque slots)."""
        return sum(_row_size(message) for message in self._rows)

    @property
    def maxlines(self) -> int:
        return self._maxlines

    @maxlines.setter
    def maxlines(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"maxlines: {value!r} is not allowed; expected an integer >= 1")
        self._maxlines = value
        self._reshape()

    @property
    def clamp(self) -> bool:
        return self._clamp

    @clamp.setter
    def clamp(self, value: bool) -> None:
        self._clamp = bool(value)
        self._reshape()

    @property
    def bytes(self) -> bool:
        """Whether the ``bytes`` column is shown."""
        return self._bytes

    @bytes.setter
    def bytes(self, value: bool) -> None:
        self._bytes = bool(value)

    @property
    def heading(self) -> tuple[str, ...]:
        return (MESSAGE, BYTES) if self._bytes else (MESSAGE,)

    @property
    def numRows(self) -> int:
        """Rows including the heading."""
        return len(self._rows) + 1

    @property
    def numCols(self) -> int:
        return 2 if self._bytes else 1

    @property
    def messages(self) -> deque[Message]:
        """The stored messages, oldest first (row 1 is ``messages[0]``). Read-only by convention."""
        return self._rows

    def __len__(self) -> int:
        """Message rows (heading not counted)."""
        return len(self._rows)

    # -- changing -------------------------------------------------------------------------------------------------
    def _append(self, message: Message) -> int:
        """Add a message as the last row and return its row index (TD's ``rowIndex``), as ``table.append(m)``.

        With a full clamped table the oldest row is removed first, so the index is ``maxlines``.
        """
        rows = self._rows
        rows.append(message)
        return len(rows)

    def plain_rows(self) -> deque[Message] | None:
        """The rows themselves while appending needs no bookkeeping (no memory guard): appending to this deque is
        :meth:`append`, and its length the row index (the cook's per-run fast path). None while the guard counts."""
        return self._rows if self._clamp or not self._maxtablebytes else None

    def extend(self, messages: Iterable[Message]) -> int:
        """Append ``messages`` in order (as many :meth:`append` calls would, in one step); returns the last row's
        index."""
        if self._clamp or not self._maxtablebytes:  # no memory guard (see _guard)
            self._rows.extend(messages)
        else:
            for message in messages:
                self._append_guarded(message)
        return len(self._rows)

    def _append_guarded(self, message: Message) -> int:
        self._rows.append(message)
        self._size += _row_size(message)
        if self._size > self._maxtablebytes:
            self._evict()
        return len(self._rows)

    def _evict(self) -> None:
        rows = self._rows
        while self._size > self._maxtablebytes and len(rows) > 1:
            self._size -= _row_size(rows.popleft())
            self.size_evictions += 1

    def clear(self) -> None:
        """Delete every row except the heading."""
        self._rows.clear()
        self._size = 0

    # -- reading --------------------------------------------------------------------------------------------------
    def _col_index(self, col: int | str) -> int:
        heading = self.heading
        if isinstance(col, str):
            try:
                return heading.index(col)
            except ValueError:
                raise KeyError(f"no column named {col!r}; columns are {list(heading)}") from None
        if isinstance(col, bool) or not isinstance(col, int):
            raise TypeError(f"column must be an index or a heading name, not {type(col).__name__}")
        index = col + len(heading) if col < 0 else col
        if not 0 <= index < len(heading):
            raise IndexError(f"column {col} out of range: the table has {len(heading)} column(s)")
        return index

    def _row_index(self, row: int) -> int:
        if isinstance(row, bool) or not isinstance(row, int):
            raise TypeError(f"row must be an integer, not {type(row).__name__}")
        size = len(self._rows) + 1
        index = row + size if row < 0 else row
        if not 0 <= index < size:
            raise IndexError(f"row {row} out of range: the table has {size} row(s) including the heading")
        return index

    def _row_cells(self, index: int) -> list[str]:
        if index == 0:
            return list(self.heading)
        message = self._rows[index - 1]
        cell = _message_cell(message)
        return [cell, hex_bytes(message)] if self._bytes else [cell]

    def __getitem__(self, key: tuple[int, int | str]) -> str:
        """``table[r, c]``: the cell at row ``r`` (0 is the heading, negative counts from the end) and column ``c``."""
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError("index the table with [row, column]")
        row, col = key
        row_index, col_index = self._row_index(row), self._col_index(col)
        cell = Cell(self._row_cells(row_index)[col_index])
        cell.row, cell.col = row_index, col_index
        return cell

    def row(self, index: int) -> list[str]:
        """The cells of one row (0 is the heading)."""
        return self._row_cells(self._row_index(index))

    def col(self, name: int | str) -> list[str]:
        """The cells of one column, heading first."""
        index = self._col_index(name)
        return [self._row_cells(r)[index] for r in range(len(self._rows) + 1)]

    def rows(self) -> list[list[str]]:
        """Every row, heading first."""
        return [self._row_cells(r) for r in range(len(self._rows) + 1)]

    def __iter__(self) -> Iterator[list[str]]:
        return (self._row_cells(r) for r in range(len(self._rows) + 1))

    @property
    def text(self) -> str:
        """The table as TD shows it: cells separated by tabs, rows by newlines."""
        return "\n".join("\t".join(cells) for cells in self)

    def records(self) -> list[dict[str, str]]:
        """Message rows as dicts keyed by heading."""
        heading = self.heading
        return [dict(zip(heading, self._row_cells(r), strict=True)) for r in range(1, len(self._rows) + 1)]

    # -- export ---------------------------------------------------------------------------------------------------
    def _delimited(self, delimiter: str) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(self)
        return out.getvalue()

    def to_csv(self) -> str:
        """Heading and rows as CSV (RFC 4180 quoting)."""
        return self._delimited(",")

    def to_tsv(self) -> str:
        """Heading and rows separated by tabs; cells holding tabs, newlines or quotes are quoted."""
        return self._delimited("\t")

    def to_json(self) -> str:
        """Message rows as a JSON list of objects keyed by heading."""
        return json.dumps(self.records(), ensure_ascii=False)

    def __repr__(self) -> str:
        limit = self._maxlines if self._clamp else "unlimited"
        return f"<MessageTable rows={len(self._rows)} maxlines={limit} columns={list(self.heading)}>"
