"""Turning received messages into lines for people and for programs.

Remote text must not drive the user's terminal: every human-facing output (plain lines, the live table) shows
control characters, escape sequences and bidirectional-override characters escaped (``\\x1b``, ``\\n``, ``\\u202e``).
``jsonl`` output stays exact (JSON escapes what it must).
"""

from __future__ import annotations

import json
from typing import Final, TextIO

from ..model.sanitize import escape_control

__all__ = ["FORMATS", "MessageWriter", "escape_control"]

FORMATS: Final = ("plain", "jsonl", "tsv")

class MessageWriter:
    """Writes one line per received message in ``plain``, ``jsonl`` or ``tsv`` form."""

    def __init__(self, stream: TextIO, form: str = "plain", with_bytes: bool = False) -> None:
        if form not in FORMATS:
            raise ValueError(f"output: {form!r} is not allowed; expected one of {', '.join(FORMATS)}")
        self.stream = stream
        self.form = form
        self.with_bytes = with_bytes

    def text(self, row_index: int, message: str, client: str | None = None) -> None:
        """One received text message; ``client`` (``wsdat serve``): who sent it, a ``client`` key / last column."""
        if self.form == "jsonl":
            record: dict[str, object] = {"type": "text", "row": row_index, "message": message}
            if self.with_bytes:
                record["bytes"] = message.encode("utf-8").hex(" ")
            if client is not None:
                record["client"] = str(client)
            self._line(json.dumps(record, ensure_ascii=False))
        elif self.form == "tsv":
            cells = [str(row_index), escape_control(message)]
            if self.with_bytes:
                cells.append(message.encode("utf-8").hex(" "))
            if client is not None:
                cells.append(str(client))
            self._line("\t".join(cells))
        else:
            self._line(escape_control(message))

    def binary(self, contents: bytes, client: str | None = None) -> None:
        if self.form == "jsonl":
            record: dict[str, object] = {"type": "binary", "size": len(contents), "hex": contents.hex()}
            if client is not None:
                record["client"] = str(client)
            self._line(json.dumps(record))
        elif self.form == "tsv":
            self._line(f"binary\t{contents.hex(' ')}" + (f"\t{client}" if client is not None else ""))
        else:
            preview = contents[:32].hex(" ") + (" ..." if len(contents) > 32 else "")
            self._line(f"<binary {len(contents)} bytes: {preview}>")

    def _line(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
