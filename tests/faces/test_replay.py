"""wsdat replay: a wsdat-record recording read back strictly (every bad line one ReplayError naming file:line, before
anything of it is delivered) and fed through a running offline DAT with each wait capped."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import WebSocketDAT
from wsdat_core.faces.replay import MAX_WAIT, ReplayError, longest_line, read_recording, replay, replay_wait
from wsdat_core.model.errors import ParameterError, WsdatError


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write(path: Path, *records: dict[str, Any] | str | bytes) -> Path:
    """One line per record: a dict as JSON, a str or bytes as is."""
    out = bytearray()
    for record in records:
        if isinstance(record, dict):
            out += json.dumps(record, ensure_ascii=False).encode("utf-8")
        elif isinstance(record, str):
            out += record.encode("utf-8")
        else:
            out += record
        out += b"\n"
    path.write_bytes(bytes(out))
    return path


GOOD = [
    {"t": 1.0, "dat": "feed", "cook": 1, "event": "connect", "url": "ws://h:1/"},
    {"t": 1.0, "dat": "feed", "cook": 1, "event": "text", "row": 1, "message": "a"},
    {"t": 1.0, "dat": "feed", "cook": 1, "event": "text", "row": 2, "message": "b é"},
    {"t": 1.5, "dat": "feed", "cook": 2, "event": "binary", "base64": b64(b"\x00\xff")},
    {"t": 1.5, "dat": "feed", "cook": 2, "event": "ping", "base64": b64(b"p")},
    {"t": 1.5, "dat": "feed", "cook": 2, "event": "monitor", "message": "note"},
    {"t": 2, "dat": "feed", "cook": 3, "event": "pong", "base64": ""},
    {"t": 2.5, "dat": "feed", "cook": 4, "event": "text", "row": 3, "message": "c"},
    {"t": 3.0, "dat": "feed", "cook": 5, "event": "disconnect"},
]


class Seen:
    """Records what the hooks received (monitor lines only from the recording)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.times: list[float] = []

    def _add(self, kind: str, value: object) -> None:
        self.events.append((kind, value))
        self.times.append(trio.current_time())

    def onConnect(self, dat: WebSocketDAT) -> None:
        self._add("connect", None)

    def onReceiveText(self, dat: WebSocketDAT, rowIndex: int, message: str) -> None:
        self._add("text", (rowIndex, message))

    def onReceiveBinary(self, dat: WebSocketDAT, contents: bytes) -> None:
        self._add("binary", contents)

    def onReceivePing(self, dat: WebSocketDAT, contents: bytes) -> None:
        self._add("ping", contents)

    def onReceivePong(self, dat: WebSocketDAT, contents: bytes) -> None:
        self._add("pong", contents)

    def onMonitorMessage(self, dat: WebSocketDAT, message: str) -> None:
        if message == "note":
            self._add("monitor", message)

    def onDisconnect(self, dat: WebSocketDAT) -> None:
        self._add("disconnect", None)


# -- reading ---------------------------------------------------------------------------------------------------------


def test_a_good_recording_reads_back_one_group_per_recorded_cook(tmp_path: Path) -> None:
    path = write(tmp_path / "good.jsonl", *GOOD[:3], "", "  ", *GOOD[3:])
    assert list(read_recording(path)) == [
        (1.0, [("connect", "ws://h:1/")]),
        (1.0, [("text", "a"), ("text", "b é")]),
        (1.5, [("binary", b"\x00\xff"), ("ping", b"p")]),
        (1.5, [("monitor", "note")]),
        (2.0, [("pong", b"")]),
        (2.5, [("text", "c")]),
        (3.0, [("disconnect", None)]),
    ]
    assert list(read_recording(str(path))) == list(read_recording(path))


def test_a_recording_with_crlf_line_ends_and_no_final_newline_reads(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\r\n".join(json.dumps(r).encode() for r in GOOD[1:3]))
    assert list(read_recording(path)) == [(1.0, [("text", "a"), ("text", "b é")])]


TEXT = {"t": 5.0, "dat": "feed", "cook": 9, "event": "text", "row": 4, "message": "x"}
BINARY = {"t": 5.0, "dat": "feed", "cook": 9, "event": "binary", "base64": "AAEC"}

BAD_LINES: dict[str, tuple[dict[str, Any] | str, str]] = {
    "t infinite from 1e999": ('{"t": 1e999, "event": "disconnect"}', "finite"),
    "t NaN": ('{"t": NaN, "event": "disconnect"}', "finite"),
    "t Infinity": ('{"t": -Infinity, "event": "disconnect"}', "finite"),
    "t an int too large for a float": ('{"t": 1' + "0" * 400 + ', "event": "disconnect"}', "finite"),
    "t a string": ({**TEXT, "t": "5.0"}, "'t' must be a number, not str"),
    "t a bool": ({**TEXT, "t": True}, "'t' must be a number, not bool"),
    "t null": ({**TEXT, "t": None}, "'t' must be a number"),
    "t missing": ({k: v for k, v in TEXT.items() if k != "t"}, "no 't'"),
    "base64 with stray characters": ({**BINARY, "base64": "AA!C"}, "not valid base64"),
    "base64 with bad padding": ({**BINARY, "base64": "AAE"}, "not valid base64"),
    "base64 with a newline": ({**BINARY, "base64": "AAEC\nAAEC"}, "not valid base64"),
    "base64 url-safe alphabet": ({**BINARY, "base64": "-_8="}, "not valid base64"),
    "base64 not ASCII": ({**BINARY, "base64": "AAé="}, "not valid base64"),
    "base64 a number": ({**BINARY, "base64": 1234}, "'base64' must be a string, not int"),
    "base64 missing": ({**BINARY, "event": "ping", "base64": None}, "'base64' must be a string"),
    "message a number": ({**TEXT, "message": 5}, "'message' must be a string, not int"),
    "message an object": ({**TEXT, "message": {"a": 1}}, "'message' must be a string, not dict"),
    "message null": ({**TEXT, "message": None}, "'message' must be a string, not NoneType"),
    "monitor message a list": ({**TEXT, "event": "monitor", "message": ["x"]}, "'message' must be a string"),
    "message a lone surrogate": ('{"t": 5, "event": "text", "message": "a\\ud800"}', "not valid Unicode"),
    "message missing": ({k: v for k, v in TEXT.items() if k != "message"}, "no 'message'"),
    "url a number": ({"t": 5, "event": "connect", "url": 8}, "'url' must be a string"),
    "unknown event": ({**TEXT, "event": "close"}, "unknown event 'close'"),
    "event a number": ({**TEXT, "event": 3}, "unknown event 3"),
    "event missing": ({k: v for k, v in TEXT.items() if k != "event"}, "no 'event'"),
    "dat a number": ({**TEXT, "dat": 1}, "'dat' must be a string"),
    "cook a string": ({**TEXT, "cook": "9"}, "'cook' must be an integer"),
    "cook a bool": ({**TEXT, "cook": True}, "'cook' must be an integer"),
    "not JSON": ("{t: 1}", "not JSON"),
    "a JSON array": ("[1, 2]", "not a JSON object but list"),
    "JSON nested too deeply": ("[" * 200_000, "nested too deeply"),
}


@pytest.mark.parametrize("bad", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_a_bad_line_is_one_replay_error_naming_file_and_line(tmp_path: Path, bad: tuple[Any, str]) -> None:
    line, reason = bad
    path = write(tmp_path / "rec.jsonl", GOOD[1], "", line, GOOD[7])
    with pytest.raises(ReplayError) as raised:
        list(read_recording(path))
    message = str(raised.value)
    assert message.startswith(f"{path}:3: not a wsdat-record line (")
    assert reason in message
    assert "\n" not in message
    assert isinstance(raised.value, WsdatError) and isinstance(raised.value, ValueError)


def test_a_non_utf8_file_names_the_file_and_the_line_where_decoding_failed(tmp_path: Path) -> None:
    good = [{**TEXT, "cook": n, "message": f"message {n} " + "x" * 40} for n in range(400)]  # several read buffers
    prefix = b'{"t": 1, "event": "text", "message": "caf'
    path = write(tmp_path / "latin1.jsonl", *good, prefix + b'\xe9"}', *good[:2])
    with pytest.raises(ReplayError) as raised:
        list(read_recording(path))
    assert str(raised.value) == (f"{path}:401: not a wsdat-record line (not UTF-8 text (byte 0xe9 at byte "
                                 f"{len(prefix) + 1} of the line))")


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.jsonl"
    with pytest.raises(ReplayError, match="cannot read") as raised:
        list(read_recording(path))
    assert str(raised.value).startswith(f"{path}: ")


def test_nothing_of_a_bad_lines_cook_is_yielded(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.jsonl", {**TEXT, "cook": 1, "message": "one"}, {**TEXT, "cook": 2, "message": "two"},
                 {**TEXT, "cook": 2, "message": 3})
    groups: list[tuple[float, list[tuple[str, Any]]]] = []
    with pytest.raises(ReplayError, match=r":3: .*'message' must be a string"):
        groups.extend(read_recording(path))
    assert groups == [(5.0, [("text", "one")])]


# -- timing ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gap", "speed", "wait"), [
    (2.0, 1.0, 2.0),
    (2.0, 4.0, 0.5),
    (2.0, 0.5, 4.0),
    (MAX_WAIT, 1.0, MAX_WAIT),
    (MAX_WAIT + 1.0, 1.0, MAX_WAIT),
    (8 * 3600.0, 1.0, MAX_WAIT),  # a real overnight pause still replays, shortened
    (1e308, 1.0, MAX_WAIT),
    (float("inf"), 1.0, MAX_WAIT),  # 1e308 - -1e308 overflows to inf
    (1e308, 1e-300, MAX_WAIT),
    (MAX_WAIT, 0.5, MAX_WAIT),  # the cap is on real time, after speed
    (2 * MAX_WAIT, 2.0, MAX_WAIT),
    (-5.0, 1.0, 0.0),  # the clock was set back while recording
    (0.0, 1.0, 0.0),
    (2.0, 0.0, 0.0),
    (1e308, 0.0, 0.0),
    (2.0, -1.0, 0.0),
    (2.0, float("inf"), 0.0),
])
def test_each_wait_is_the_gap_over_speed_capped(gap: float, speed: float, wait: float) -> None:
    assert replay_wait(gap, speed) == wait


def test_max_wait_is_one_hour() -> None:
    assert MAX_WAIT == 3600.0


def _timed_replay(path: Path, speed: float) -> tuple[Seen, float]:
    """Replay under a mock clock that jumps over every wait; returns the hooks' arrival times relative to the start
    and the total (virtual) duration."""
    seen = Seen()

    async def main() -> float:
        dat = WebSocketDAT(callbacks=[seen])
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            started = trio.current_time()
            await replay(dat, path, speed=speed)
            seen.times = [t - started for t in seen.times]
            dat.stop()
        return trio.current_time() - started

    duration = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return seen, duration


def test_replay_keeps_gaps_caps_a_huge_one_and_waits_nothing_when_time_goes_back(tmp_path: Path) -> None:
    path = write(tmp_path / "timed.jsonl",
                 {"t": 100.0, "cook": 1, "event": "text", "message": "start"},
                 {"t": 102.5, "cook": 2, "event": "text", "message": "+2.5 s"},
                 {"t": 1e308, "cook": 3, "event": "text", "message": "corrupt time, capped"},
                 {"t": 50.0, "cook": 4, "event": "text", "message": "clock set back: no wait"},
                 {"t": 53.0, "cook": 5, "event": "text", "message": "+3 s from there"},
                 {"t": 53.0 + 9 * 3600, "cook": 6, "event": "text", "message": "overnight, capped"})
    seen, duration = _timed_replay(path, speed=1.0)
    assert [m for _, (_, m) in seen.events] == ["start", "+2.5 s", "corrupt time, capped", "clock set back: no wait",
                                                "+3 s from there", "overnight, capped"]
    assert seen.times == [0.0, 2.5, 2.5 + MAX_WAIT, 2.5 + MAX_WAIT, 5.5 + MAX_WAIT, 5.5 + 2 * MAX_WAIT]
    assert duration == 5.5 + 2 * MAX_WAIT

    seen, duration = _timed_replay(path, speed=2.0)
    assert seen.times == [0.0, 1.25, 1.25 + MAX_WAIT, 1.25 + MAX_WAIT, 2.75 + MAX_WAIT, 2.75 + 2 * MAX_WAIT]


def test_speed_nan_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.jsonl", *GOOD)

    async def main() -> None:
        dat = WebSocketDAT()
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run_offline)
            with pytest.raises(ParameterError, match="^speed: nan is not allowed"):
                await replay(dat, path, speed=float("nan"))
            assert dat.numRows == 1
            dat.stop()

    trio.run(main)


# -- through a running DAT -------------------------------------------------------------------------------------------


async def test_replay_feeds_the_table_and_the_hooks(nursery: trio.Nursery, tmp_path: Path) -> None:
    path = write(tmp_path / "good.jsonl", *GOOD)
    seen = Seen()
    dat = WebSocketDAT(callbacks=[seen])
    await nursery.start(dat.run_offline)
    assert await replay(dat, path, speed=0) == len(GOOD)
    assert seen.events == [("connect", None), ("text", (1, "a")), ("text", (2, "b é")), ("binary", b"\x00\xff"),
                           ("ping", b"p"), ("monitor", "note"), ("pong", b""), ("text", (3, "c")),
                           ("disconnect", None)]
    assert dat.numRows == 4
    assert [dat[row, "message"] for row in (1, 2, 3)] == ["a", "b é", "c"]
    assert dat.info.connects == 1 and dat.info.disconnects == 1
    dat.stop()


async def test_replay_stops_at_a_bad_line_before_delivering_anything_of_its_cook(nursery: trio.Nursery,
                                                                                 tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", {**TEXT, "cook": 1, "message": "one"}, {**TEXT, "cook": 2, "message": "two"},
                 {**BINARY, "cook": 2, "base64": "not base64!"}, {**TEXT, "cook": 3, "message": "three"})
    seen = Seen()
    dat = WebSocketDAT(callbacks=[seen])
    await nursery.start(dat.run_offline)
    with pytest.raises(ReplayError) as raised:
        await replay(dat, path, speed=0)
    assert str(raised.value).startswith(f"{path}:3: not a wsdat-record line ('base64' is not valid base64")
    assert seen.events == [("text", (1, "one"))]
    assert dat.numRows == 2
    assert dat[1, "message"] == "one"
    dat.stop()


# -- maxmessagesize, as a live connection applies it -----------------------------------------------------------------
async def test_replay_refuses_a_message_over_maxmessagesize_with_a_line_and_goes_on(nursery: trio.Nursery,
                                                                                 tmp_path: Path) -> None:
    limit = 1000
    unread = {**TEXT, "cook": 2, "message": "\x1b" * 20_000}  # a line longer than the limit allows: never parsed
    assert len(json.dumps(unread)) + 1 == 120_079 > longest_line(limit)
    path = write(tmp_path / "big.jsonl", {**TEXT, "cook": 1, "message": "é" * 500},  # 1000 bytes: fits exactly
                 {**TEXT, "cook": 1, "message": "x" * 1001},
                 {**BINARY, "cook": 2, "base64": b64(b"\x00" * 1001)}, unread,
                 {**TEXT, "cook": 3, "message": "after"})
    seen, lines = Seen(), []

    class Warnings:
        def onMonitorMessage(self, message: str) -> None:
            lines.append(message)

    dat = WebSocketDAT(callbacks=[seen, Warnings()], maxmessagesize=limit)
    await nursery.start(dat.run_offline)
    assert await replay(dat, path, speed=0) == 2
    assert [event for event in seen.events if event[0] != "monitor"] == [("text", (1, "é" * 500)),
                                                                         ("text", (2, "after"))]
    assert lines == [
        f"replay: {path}:2: a text message of 1,001 bytes refused: larger than maxmessagesize (1,000 bytes); skipped",
        f"replay: {path}:3: a binary message of 1,001 bytes refused: larger than maxmessagesize (1,000 bytes); "
        "skipped",
        f"replay: {path}:4: a message refused: its line has 120,079 bytes, more than any message of at most "
        "maxmessagesize (1,000 bytes) takes; skipped"]
    dat.stop()


def test_a_recorded_message_of_100_mb_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    """``wsdat replay`` as a process of its own, its peak memory (VmHWM, which starts afresh at exec, unlike ru_maxrss)
    beside a replay of a small file."""
    small = write(tmp_path / "small.jsonl", {**TEXT, "cook": 1, "message": "before"})
    big = tmp_path / "big.jsonl"
    with big.open("w") as out:
        out.write(json.dumps({**TEXT, "cook": 1, "message": "before"}) + "\n")
        head = json.dumps({**TEXT, "cook": 2, "message": ""})[:-2]
        out.write(head)
        for _ in range(100):
            out.write("x" * 1_000_000)
        out.write('"}\n')
        out.write(json.dumps({**TEXT, "cook": 3, "message": "after"}) + "\n")
    line = len(head) + 100_000_000 + 3
    measure = ("import re, sys\nfrom wsdat_core.faces.cli import main\ncode = main(sys.argv[1:])\n"
               "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
               "sys.stderr.write(f'MAXRSS {peak}\\n')\nsys.exit(code)")
    peaks, outputs = {}, {}
    for path in (small, big):
        done = subprocess.run([sys.executable, "-c", measure, "replay", str(path), "--speed", "0", "--maxmessagesize",
                               "100000", "--output", "jsonl"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        peaks[path], outputs[path] = int(done.stderr.rsplit("MAXRSS ", 1)[1]), done
    assert [json.loads(line)["message"] for line in outputs[big].stdout.splitlines()] == ["before", "after"]
    assert outputs[big].stderr.startswith(
        f"wsdat: replay: {big}:2: a message refused: its line has {line:,} bytes, more than any message of at most "
        "maxmessagesize (100,000 bytes) takes; skipped\n")
    assert peaks[big] - peaks[small] < 30 * 1024, peaks  # KiB: the 100 MB line was never held
