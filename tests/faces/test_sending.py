"""Sending pieces: a file as one message, and round-trip times of /ping."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from wsdat_core.faces.sending import PingTimer, file_message


def test_a_file_is_one_message_text_when_utf8_binary_otherwise_or_when_asked(tmp_path: Path) -> None:
    text = tmp_path / "subscribe.json"
    text.write_text('{"subscribe": "prices"}\nsecond line\n', encoding="utf-8")
    blob = tmp_path / "frame.bin"
    blob.write_bytes(b"\x00\xff\xfe")
    assert file_message(text) == '{"subscribe": "prices"}\nsecond line\n'
    assert file_message(text, binary=True) == b'{"subscribe": "prices"}\nsecond line\n'
    assert file_message(blob) == b"\x00\xff\xfe"
    missing = tmp_path / "missing.txt"
    with pytest.raises(ValueError, match=rf"^'{missing}': No such file or directory$"):
        file_message(missing)


async def test_a_pong_answers_the_ping_with_its_payload_only(virtual_clock: trio.testing.MockClock) -> None:
    pings = PingTimer()
    pings.sent(b"abc")
    await trio.sleep(0.25)
    assert pings.answered(b"keepalive") is None  # not a /ping of the user's
    assert pings.answered(b"abc") == 0.25
    assert pings.answered(b"abc") is None  # answered once
