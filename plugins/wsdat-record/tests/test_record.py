"""wsdat-record: every event to JSONL, flushed per cook, rotating by size; wsdat replay plays it back."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import trio
from wsdat_record import Recorder

from wsdat_core import WebSocketDAT
from wsdat_core.faces.replay import replay
from wsdat_core.faces.testing import wait_for_rows, wait_until


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_records_every_event_and_flushes_per_cook(ws_server, dat_factory, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    recorder = Recorder(path)
    dat = await dat_factory("feed", callbacks=[recorder])
    await ws_server.send_text("one", "two")
    await ws_server.send_binary(b"\x00\x01")
    await ws_server.ping(b"p")
    await wait_for_rows(dat, 2)
    # flushed by onCook: readable while the DAT runs, no close needed
    await wait_until(lambda: path.exists() and sum(r["event"] == "ping" for r in lines(path)) == 1)
    records = lines(path)
    events = [r["event"] for r in records]
    # every event that is not a monitor line, once and in the order it happened: the connect first
    assert [event for event in events if event != "monitor"] == ["connect", "text", "text", "binary", "ping"]
    assert [r["url"] for r in records if r["event"] == "connect"] == [ws_server.url]
    assert [(r["row"], r["message"]) for r in records if r["event"] == "text"] == [(1, "one"), (2, "two")]
    assert [base64.b64decode(r["base64"]) for r in records if r["event"] == "binary"] == [b"\x00\x01"]
    assert any(r["event"] == "monitor" and "connected to" in r["message"] for r in records)
    assert all(r["dat"] == "feed" and isinstance(r["t"], float) for r in records)
    await ws_server.close()
    await wait_until(lambda: any(r["event"] == "disconnect" for r in lines(path)))
    dat.stop()
    recorder.close()


def test_rotates_by_size(tmp_path: Path) -> None:
    dat = WebSocketDAT("d", active=False)
    recorder = Recorder(tmp_path / "r.jsonl", max_bytes=2000, backups=2)
    for i in range(100):
        recorder.onReceiveText(dat, i + 1, f"message number {i}")
    recorder.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    newest = lines(tmp_path / "r.jsonl")
    assert newest[-1]["message"] == "message number 99"


async def test_replay_feeds_hooks_and_table_offline(ws_server, dat_factory, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    recorder = Recorder(path)
    recorded = await dat_factory("feed", callbacks=[recorder])
    await ws_server.send_text("a", "b", "c")
    await ws_server.send_binary(b"bin")
    await wait_for_rows(recorded, 3)
    await ws_server.close()
    await wait_until(lambda: any(r["event"] == "disconnect" for r in lines(path)))
    recorded.stop()
    recorder.close()

    seen: list[tuple[str, object]] = []

    class Seen:
        def onConnect(self) -> None:
            seen.append(("connect", None))

        def onReceiveText(self, rowIndex: int, message: str) -> None:
            seen.append(("text", (rowIndex, message)))

        def onReceiveBinary(self, contents: bytes) -> None:
            seen.append(("binary", contents))

        def onDisconnect(self) -> None:
            seen.append(("disconnect", None))

    offline = WebSocketDAT("replayed", callbacks=[Seen()], maxlines=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(offline.run_offline)
        count = await replay(offline, path, speed=0)
        nursery.cancel_scope.cancel()
    assert seen == [("connect", None), ("text", (1, "a")), ("text", (2, "b")), ("text", (2, "c")),
                    ("binary", b"bin"), ("disconnect", None)]
    assert offline.col(0) == ["message", "b", "c"]
    assert count >= 6


def test_wsdat_replay_command(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    records = [
        {"t": 1.0, "dat": "x", "cook": 1, "event": "connect", "url": "ws://h:1/"},
        {"t": 1.0, "dat": "x", "cook": 1, "event": "text", "row": 1, "message": "hello"},
        {"t": 1.1, "dat": "x", "cook": 2, "event": "text", "row": 2, "message": "world"},
        {"t": 1.2, "dat": "x", "cook": 3, "event": "disconnect"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "replay", str(path), "--speed", "0", "--callbacks",
                           "echo", "--output", "jsonl"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["message"] for line in done.stdout.splitlines()] == ["hello", "world"]
    assert "replayed 4 event(s)" in done.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1, "event": "text"}\n')
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "replay", str(bad)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith(f"wsdat: error: {bad}:1: not a wsdat-record line")
