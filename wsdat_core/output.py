"""Turning received messages into lines for people and for programs.

Remote text must not drive the user's terminal: every human-facing output (plain lines, the live table) shows
control characters, escape sequences and bidirectional-override characters escaped (``\\x1b``, ``\\n``, ``\\u202e``).
``jsonl`` output stays exact (JSON escapes what it must).
"""

from __future__ import annotations

import json
from typing import Final, TextIO

__all__ = ["FORMATS", "MessageWriter", "escape_control"]

FORMATS: Final = ("plain", "jsonl", "tsv")

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# C0 controls, DEL, C1 controls, and the characters that reorder text on display (bidi embeddings, overrides,
# isolates) or hide it (zero-width joiners are harmless; these are not).
_UNSAFE: Final = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                  0x200E, 0x200F, 0x061C]


def _escape_of(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE: Final = {code: _escape_of(code) for code in _UNSAFE} | {ord("\\"): "\\\\"}
_TABLE_KEEP_TABS: Final = {code: escape for code, escape in _TABLE.items() if code != ord("\t")}


def escape_control(text: str, *, keep_tabs: bool = False) -> str:
    """``text`` with every character that could act on a terminal written as a visible escape.

    Backslashes are doubled so the result is unambiguous. ``keep_tabs`` leaves tabs alone (for wrapped table cells).
    """
    return text.translate(_TABLE_KEEP_TABS if keep_tabs else _TABLE)


class MessageWriter:
    """Writes one line per received message in ``plain``, ``jsonl`` or ``tsv`` form."""

    def __init__(self, stream: TextIO, form: str = "plain", with_bytes: bool = False) -> None:
        if form not in FORMATS:
            raise ValueError(f"output: {form!r} is not allowed; expected one of {', '.join(FORMATS)}")
        self.stream = stream
        self.form = form
        self.with_bytes = with_bytes

    def text(self, row_index: int, message: str) -> None:
        if self.form == "jsonl":
            record: dict[str, object] = {"type": "text", "row": row_index, "message": message}
            if self.with_bytes:
                record["bytes"] = message.encode("utf-8").hex(" ")
            self._line(json.dumps(record, ensure_ascii=False))
        elif self.form == "tsv":
            cells = [str(row_index), escape_control(message)]
            if self.with_bytes:
                cells.append(message.encode("utf-8").hex(" "))
            self._line("\t".join(cells))
        else:
            self._line(escape_control(message))

    def binary(self, contents: bytes) -> None:
        if self.form == "jsonl":
            self._line(json.dumps({"type": "binary", "size": len(contents), "hex": contents.hex()}))
        elif self.form == "tsv":
            self._line(f"binary\t{contents.hex(' ')}")
        else:
            preview = contents[:32].hex(" ") + (" ..." if len(contents) > 32 else "")
            self._line(f"<binary {len(contents)} bytes: {preview}>")

    def _line(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
