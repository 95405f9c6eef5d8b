"""The demo server (``wsdat demo --serve``): every path echoes and answers commands; /sensors streams a feed."""

from __future__ import annotations

import json
from collections.abc import Callable

import trio

from wsdat_core import WebSocketDAT
from wsdat_core.faces.demo import COMMANDS, FEED_PATH, DemoFeed
from wsdat_core.faces.testing import wait_until
from wsdat_core.model.events import BinaryReceived, Disconnected, PingReceived, TextReceived


async def conversation(feed: DemoFeed, path: str, *sent: str | bytes, until: int | Callable[[list[object]], bool],
                       **params: object) -> list[object]:
    """The events a DAT on ``path`` gets after sending ``sent``, once ``until`` messages or pings came back (or
    ``until(events)`` holds, or it was disconnected)."""
    enough = until if callable(until) else lambda seen: len(seen) >= until
    dat = WebSocketDAT(netaddress=feed.base_url + path, reconnect=False, **params)
    seen: list[object] = []
    async with trio.open_nursery() as nursery:
        async def record(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with dat.events() as events:
                task_status.started()
                async for event in events:
                    if isinstance(event, (TextReceived, BinaryReceived, PingReceived, Disconnected)):
                        seen.append(event)

        await nursery.start(record)
        await nursery.start(dat.run)
        for message in sent:
            await (dat.send_text(message) if isinstance(message, str) else dat.send_binary(message))
        await wait_until(lambda: enough(seen) or any(isinstance(e, Disconnected) for e in seen))
        nursery.cancel_scope.cancel()
    return seen


async def test_every_path_echoes_exactly_and_answers_commands(nursery: trio.Nursery) -> None:
    feed = DemoFeed()
    await nursery.start(feed.run)
    seen = await conversation(feed, "/echo", "C:\\temp \"quoted\"\t\u00e9", b"\x00\xff", "!burst 3 tick",
                              "!binary 00ff10", "!ping are you there", "!big 5", "!nonsense", "!burst x y",
                              until=10)
    assert PingReceived(b"are you there") in seen  # sent as the command is read; the answers around it go on
    assert [event for event in seen if not isinstance(event, PingReceived)] == [
        TextReceived(1, "C:\\temp \"quoted\"\t\u00e9"), BinaryReceived(b"\x00\xff"),
        TextReceived(2, "tick-0"), TextReceived(3, "tick-1"), TextReceived(4, "tick-2"),
        BinaryReceived(b"\x00\xff\x10"), TextReceived(5, "xxxxx"),
        TextReceived(6, "unknown command '!nonsense'; try !help"),
        TextReceived(7, "!burst: 'x' is not allowed; expected an integer from 0 to 10000000; try !help")]


async def test_help_headers_and_close(nursery: trio.Nursery) -> None:
    feed = DemoFeed()
    await nursery.start(feed.run)
    helped = await conversation(feed, "/", "!help", "!headers", until=len(COMMANDS) + 1, headers=["X-Test: 42"])
    texts = [event.message for event in helped if isinstance(event, TextReceived)]
    assert [line.split("  ")[0] for line in texts[:-1]] == list(COMMANDS)
    assert json.loads(texts[-1])["x-test"] == "42"
    closed = await conversation(feed, "/", "!close 4001 bye", until=1)
    assert closed == [Disconnected(4001, "bye", closed[0].error)]  # type: ignore[union-attr]


async def test_the_sensors_path_streams_readings_binary_frames_and_pings(nursery: trio.Nursery) -> None:
    feed = DemoFeed()
    await nursery.start(feed.run)
    assert feed.url == feed.base_url + FEED_PATH
    seen = await conversation(feed, f"{FEED_PATH}?rate=500", "hello",
                              until=lambda seen: PingReceived(b"demo-20") in seen and any(
                                  isinstance(e, TextReceived) and '"server"' in e.message for e in seen))
    texts = [json.loads(event.message) for event in seen if isinstance(event, TextReceived)]
    assert {"type": "chat", "user": "server", "text": "got 'hello'"} in texts
    assert {text["type"] for text in texts} == {"reading", "chat"}
    assert any(isinstance(event, BinaryReceived) and len(event.contents) == 32 for event in seen)
    assert PingReceived(b"demo-20") in seen
