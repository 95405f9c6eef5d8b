"""Turning received messages into lines for people and for programs.

Piped (stdout is not a terminal), ``plain`` output is the data itself: each text message exactly as received, UTF-8,
followed by one line break, so ``wsdat connect URL | jq`` reads what the server sent. A message that itself contains
a line break is the user's to frame (``--output jsonl`` frames every message as one JSON line).

On a terminal, remote text must not drive the terminal: control characters, escape sequences and bidirectional
overrides are shown escaped (``\\x1b``, ``\\n``, ``\\u202e``); backslashes stay as they are, so ``C:\\temp`` reads
as sent. ``jsonl`` stays exact everywhere (JSON escapes what it must; it is also the unambiguous form); ``tsv``
always escapes (a tab or a line break inside a cell would break the format). ``json`` pretty-prints each message
that parses as JSON (coloured on a terminal unless ``NO_COLOR`` is set), and shows the others as ``plain`` does.
"""

from __future__ import annotations

import io
import json
import os
from typing import Final, TextIO

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.text import Text

from ..model.sanitize import clean_line, escape_control

__all__ = ["FORMATS", "MessageWriter", "binary_preview", "colour_wanted", "escape_control", "highlight_json",
           "pretty_json", "shown_json", "shown_text", "utf8_stream"]

FORMATS: Final = ("plain", "json", "jsonl", "tsv")
#: Bytes of a binary message shown in its one-line preview.
PREVIEW_BYTES: Final = 32


def colour_wanted(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (https://no-color.org) or ``TERM=dumb``."""
    return _is_terminal(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def utf8_stream(stream: TextIO) -> TextIO:
    """``stream`` writing UTF-8 with ``\\n`` untranslated, whatever the locale says: piped output is the bytes the
    server sent. Streams that cannot be reconfigured (a test's StringIO) are returned as they are."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", newline="\n")
    return stream


def shown_text(message: str, terminal: bool) -> str:
    """A text message as plain output shows it: exact when piped, control characters escaped on a terminal."""
    return clean_line(message) if terminal else message


def binary_preview(contents: bytes) -> str:
    """``<binary N bytes: 00 ff ...>``: the size and the first bytes in hex."""
    preview = contents[:PREVIEW_BYTES].hex(" ") + (" ..." if len(contents) > PREVIEW_BYTES else "")
    return f"<binary {len(contents)} bytes: {preview}>"


#: Characters that act on a terminal (those :func:`clean_line` escapes) as JSON escapes: JSON's own output escapes
#: the C0 controls in strings but leaves DEL, C1 controls and bidi overrides as they are (only ever inside strings).
_JSON_ESCAPES: Final = {code: f"\\u{code:04x}" for code in range(0x7F, 0x2100) if clean_line(chr(code)) != chr(code)}


def pretty_json(message: str, terminal: bool) -> str | None:
    """``message`` indented, when it parses as JSON (else None). On a terminal, characters that act on a terminal
    are written as JSON escapes (``\\u202e``), so the text stays valid JSON."""
    try:
        value = json.loads(message)
    except ValueError:
        return None
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return text.translate(_JSON_ESCAPES) if terminal else text


def highlight_json(pretty: str) -> str:
    """``pretty`` (JSON text, already safe for a terminal) with ANSI colours for keys, strings, numbers, literals."""
    text = Text(pretty)
    JSONHighlighter().highlight(text)
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", soft_wrap=True,
                      highlight=False, emoji=False, markup=False)
    with console.capture() as captured:
        console.print(text, end="")
    return captured.get()


def shown_json(message: str, terminal: bool, colour: bool) -> str | None:
    """``message`` pretty-printed (and highlighted with ``colour``) when it parses as JSON, else None."""
    pretty = pretty_json(message, terminal)
    if pretty is None:
        return None
    return highlight_json(pretty) if colour else pretty


class MessageWriter:
    """Writes each received message in ``plain``, ``json``, ``jsonl`` or ``tsv`` form.

    ``terminal`` (default: whether ``stream`` is one) decides escaping; ``colour`` (default: :func:`colour_wanted`)
    whether ``json`` output is highlighted.
    """

    def __init__(self, stream: TextIO, form: str = "plain", with_bytes: bool = False, *,
                 terminal: bool | None = None, colour: bool | None = None) -> None:
        if form not in FORMATS:
            raise ValueError(f"output: {form!r} is not allowed; expected one of {', '.join(FORMATS)}")
        self.stream = stream
        self.form = form
        self.with_bytes = with_bytes
        self.terminal = _is_terminal(stream) if terminal is None else terminal
        self.colour = colour_wanted(stream) if colour is None else colour

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
        elif self.form == "json" and (shown := shown_json(message, self.terminal, self.colour)) is not None:
            self._line(shown)
        else:
            self._line(shown_text(message, self.terminal))

    def binary(self, contents: bytes, client: str | None = None) -> None:
        if self.form == "jsonl":
            record: dict[str, object] = {"type": "binary", "size": len(contents), "hex": contents.hex()}
            if client is not None:
                record["client"] = str(client)
            self._line(json.dumps(record))
        elif self.form == "tsv":
            self._line(f"binary\t{contents.hex(' ')}" + (f"\t{client}" if client is not None else ""))
        else:
            self._line(binary_preview(contents))

    def _line(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
