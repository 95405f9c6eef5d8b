"""Text from the peer must not drive a terminal: control characters made visible.

Message cells (plain output, the live table) use :func:`escape_control`, which also doubles backslashes so the result
reads back unambiguously. Status lines (monitor lines, errors, logs), which carry peer-controlled text such as close
reasons, ``Location`` headers, subprotocol names or lines from a replayed file, use :func:`clean_line`: the same
escapes, backslashes left alone. Escapes cover C0 and C1 controls (ESC, BEL, CSI...), DEL, and the characters that
reorder or hide text on display (bidi embeddings, overrides, isolates, marks).
Pure: no trio, no sockets.
"""

from __future__ import annotations

from typing import Final

__all__ = ["clean_line", "escape_control"]

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_UNSAFE: Final = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
                  0x200E, 0x200F, 0x061C]


def _escape_of(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_LINE: Final = {code: _escape_of(code) for code in _UNSAFE}
_CELL: Final = _LINE | {ord("\\"): "\\\\"}
_CELL_KEEP_TABS: Final = {code: escape for code, escape in _CELL.items() if code != ord("\t")}


def escape_control(text: str, *, keep_tabs: bool = False) -> str:
    """``text`` with every character that could act on a terminal written as a visible escape.

    Backslashes are doubled so the result is unambiguous. ``keep_tabs`` leaves tabs alone (for wrapped table cells).
    """
    return text.translate(_CELL_KEEP_TABS if keep_tabs else _CELL)


def clean_line(text: str) -> str:
    """A status line safe for a terminal: control characters escaped (``\\x1b``), backslashes kept as they are."""
    return text.translate(_LINE)
