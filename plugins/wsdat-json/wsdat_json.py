"""wsdat-json: JSON messages become rows of a second table with one column per key, like a WebSocket DAT feeding a
JSON-to-table chain in TouchDesigner.

Nested objects flatten to dotted paths (``{"a": {"b": 1}}`` gives column ``a.b``), list items to their index
(``items.0``); a message that is not an object lands in column ``value``. Columns appear as new keys arrive, in the
order first seen; a row lacks the keys its message did not have (empty cell). The table follows the DAT's ``maxlines``
and ``clamp``. A message that is not JSON is counted (``invalid``), reported through the DAT's monitor (first one,
then at 10, 100, 1000, ...), and never stops anything.

    wsdat connect ws://localhost:8765/feed --callbacks json

From Python, the table of a DAT is ``wsdat_json.table_of(dat)``: ``numRows``, ``numCols``, ``table[r, c]`` with ``c``
an index or a column name, ``col(name)``, ``rows()``, ``invalid``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

__all__ = ["JSONRows", "JSONTable", "flatten", "table_of"]

STORE_KEY = "wsdat_json.table"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "l": [2]}`` -> ``{"a.b": 1, "l.0": 2}``; a scalar becomes ``{"value": scalar}``."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return {prefix or "value": value}
    flat: dict[str, Any] = {}
    for key, item in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, (dict, list)) and item:
            flat.update(flatten(item, path))
        else:
            flat[path] = item
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class JSONRows:
    """The second table: a heading of column names, then one row per JSON message (FIFO, like the DAT's)."""

    def __init__(self, maxlines: int | None = 100) -> None:
        self.columns: list[str] = []
        self._index: dict[str, int] = {}
        self.rows_: deque[dict[str, str]] = deque(maxlen=maxlines)
        self.invalid = 0

    def resize(self, maxlines: int | None) -> None:
        if maxlines != self.rows_.maxlen:
            self.rows_ = deque(self.rows_, maxlen=maxlines)

    def add(self, flat: dict[str, Any]) -> int:
        for key in flat:
            if key not in self._index:
                self._index[key] = len(self.columns)
                self.columns.append(key)
        self.rows_.append({key: _cell(value) for key, value in flat.items()})
        return len(self.rows_)

    @property
    def numRows(self) -> int:
        return len(self.rows_) + 1

    @property
    def numCols(self) -> int:
        return len(self.columns)

    def row(self, index: int) -> list[str]:
        if index == 0:
            return list(self.columns)
        if not 1 <= index <= len(self.rows_):
            raise IndexError(f"row {index} out of range: the JSON table has {self.numRows} row(s)")
        cells = self.rows_[index - 1]
        return [cells.get(column, "") for column in self.columns]

    def __getitem__(self, key: tuple[int, int | str]) -> str:
        row, col = key
        index = self._index[col] if isinstance(col, str) else col
        return self.row(row)[index]

    def col(self, name: str) -> list[str]:
        return [name, *(cells.get(name, "") for cells in self.rows_)]

    def rows(self) -> list[list[str]]:
        return [self.row(index) for index in range(self.numRows)]


def table_of(dat: Any) -> JSONRows:
    """The JSON table of ``dat`` (created empty if the plugin has not seen a message yet)."""
    table: JSONRows = dat.fetch(STORE_KEY, None) or dat.store(STORE_KEY, JSONRows(dat.par.maxlines.eval()))
    return table


class JSONTable:
    """The callbacks plugin (entry point ``json``)."""

    def onReceiveText(self, dat: Any, message: str) -> None:
        table = table_of(dat)
        table.resize(dat.par.maxlines.eval() if dat.par.clamp else None)
        try:
            parsed = json.loads(message)
        except ValueError as exc:
            table.invalid += 1
            if _is_reported(table.invalid):
                dat.monitor(f"wsdat-json: {table.invalid} message(s) were not JSON so far; latest: {exc}",
                            logging.WARNING)
            return
        table.add(flatten(parsed))


def _is_reported(count: int) -> bool:
    """1, 10, 100, 1000, ...: enough to notice, never a flood."""
    while count % 10 == 0:
        count //= 10
    return count == 1
