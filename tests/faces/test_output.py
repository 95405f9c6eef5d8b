"""What the lines face writes: exact when piped, escaped on a terminal, pretty JSON, colour only when asked."""

from __future__ import annotations

import io
import json

import pytest

from wsdat_core.faces.output import MessageWriter, binary_preview, colour_wanted, pretty_json, shown_text

HOSTILE = "red\x1b[31mALERT\x1b[0m\x07 \u202eevil C:\\temp"


def written(form: str, *, terminal: bool, colour: bool = False, messages: tuple[str, ...] = ()) -> str:
    stream = io.StringIO()
    writer = MessageWriter(stream, form, terminal=terminal, colour=colour)
    for index, message in enumerate(messages, 1):
        writer.text(index, message)
    return stream.getvalue()


def test_plain_is_exact_when_piped_and_escapes_controls_only_on_a_terminal() -> None:
    assert written("plain", terminal=False, messages=(HOSTILE,)) == HOSTILE + "\n"
    assert written("plain", terminal=True, messages=(HOSTILE,)) == \
        "red\\x1b[31mALERT\\x1b[0m\\x07 \\u202eevil C:\\temp\n"  # the backslash of the data stays single


def test_json_pretty_prints_what_parses_and_keeps_the_rest() -> None:
    messages = ('{"b": [1, 2], "a": "\\u00e9\\\\"}', "not json", "42")
    assert written("json", terminal=False, messages=messages) == \
        '{\n  "b": [\n    1,\n    2\n  ],\n  "a": "\u00e9\\\\"\n}\nnot json\n42\n'


def test_pretty_json_on_a_terminal_stays_valid_json_with_controls_escaped() -> None:
    message = json.dumps({"text": "\u202eevil\x85"}, ensure_ascii=False)
    shown = pretty_json(message, terminal=True)
    assert shown == '{\n  "text": "\\u202eevil\\u0085"\n}'
    assert json.loads(shown) == {"text": "\u202eevil\x85"}
    assert pretty_json("{not json", terminal=True) is None


def test_colour_only_with_colour_on() -> None:
    coloured = written("json", terminal=True, colour=True, messages=('{"a": 1}',))
    plain = written("json", terminal=True, colour=False, messages=('{"a": 1}',))
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert plain == '{\n  "a": 1\n}\n'


def test_colour_wanted_follows_no_color_and_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour_wanted(Terminal()) and not colour_wanted(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Terminal())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_wanted(Terminal())


def test_binary_lines_and_jsonl_and_tsv() -> None:
    stream = io.StringIO()
    for form in ("plain", "jsonl", "tsv"):
        MessageWriter(stream, form, terminal=False).binary(bytes(range(40)))
    plain, jsonl, tsv = stream.getvalue().splitlines()
    assert plain == binary_preview(bytes(range(40))) == \
        "<binary 40 bytes: " + bytes(range(32)).hex(" ") + " ...>"
    assert json.loads(jsonl) == {"type": "binary", "size": 40, "hex": bytes(range(40)).hex()}
    assert tsv == "binary\t" + bytes(range(40)).hex(" ")
    assert written("tsv", terminal=False, messages=("a\tb\nc",)) == "1\ta\\tb\\nc\n"
    assert shown_text("a\tb", terminal=False) == "a\tb"


def test_an_unknown_form_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"^output: 'xml' is not allowed; expected one of plain, json, jsonl, tsv$"):
        MessageWriter(io.StringIO(), "xml")
