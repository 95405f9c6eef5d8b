"""Sending: sendText/sendBinary/sendPing/sendPong, order, return values, the bounded queue."""

from __future__ import annotations

import pytest

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_until


async def test_send_text_joins_parts_and_returns_utf8_size(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    assert dat.sendText("a", "é", 3) == 4
    assert dat.sendBinary(b"\x00\x01") == 2
    assert dat.sendBinary(bytearray(b"xyz")) == 3
    await ws_server.wait_received(3)
    assert ws_server.received == ["aé3", b"\x00\x01", b"xyz"]
    await wait_until(lambda: dat.info.messages_sent == 3)
    assert dat.info.bytes_sent == 4 + 2 + 3


async def test_sends_keep_their_order(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(sendqueuesize=1000)
    for i in range(500):
        assert dat.sendText(f"m{i}") > 0
    await ws_server.wait_received(500)
    assert ws_server.received == [f"m{i}" for i in range(500)]


async def test_send_when_not_connected_returns_minus_one_with_a_monitor_message() -> None:
    seen: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            seen.append(message)

    dat = WebSocketDAT(callbacks=[Monitor()], active=False)
    assert dat.sendText("x") == -1
    assert dat.sendBinary(b"x") == -1
    assert dat.sendPing() == -1
    assert dat.sendPong(b"p") == -1
    assert any("sendText: not connected" in m for m in seen)
    assert dat.info.warnings == 1  # one warning per disconnected spell, not one per call


async def test_full_send_queue_refuses_and_warns_never_grows(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(sendqueuesize=3)
    # No checkpoint between the calls: the sender task cannot take anything from the queue meanwhile, so exactly
    # sendqueuesize messages are accepted (TD's sendText returns -1 from the first one past it).
    results = [dat.sendText(f"m{i}") for i in range(10)]
    assert results == [2] * 3 + [-1] * 7
    assert dat.info.warnings == 1
    await wait_until(lambda: dat.info.messages_sent == 3)
    # once drained, sending works again; what was refused never goes out: the next message follows the three
    assert dat.sendText("again") == 5
    await ws_server.wait_received(4)
    assert ws_server.received == ["m0", "m1", "m2", "again"]
    await wait_until(lambda: dat.info.messages_sent == 4)
    assert dat.info.warnings == 1


async def test_send_pong_and_ping_payload_limits(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    assert dat.sendPong("hi") == 2
    with pytest.raises(ValueError, match="at most 125 bytes"):
        dat.sendPing(b"x" * 126)
    with pytest.raises(TypeError, match="use sendText"):
        dat.sendBinary("text")  # type: ignore[arg-type]


async def test_hook_echo_through_send_text_from_inside_a_hook(ws_server: ScriptedServer, dat_factory) -> None:
    class Echo:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            dat.sendText("re: ", message)

    await dat_factory(callbacks=[Echo()])
    await ws_server.send_text("one", "two")
    await ws_server.wait_received(2)
    assert ws_server.received == ["re: one", "re: two"]


async def test_a_lone_surrogate_is_refused_where_it_is_given_and_nothing_else_stops(ws_server: ScriptedServer,
                                                                                   dat_factory) -> None:
    import json

    seen: list[str] = []

    class Echo:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            seen.append(str(dat.sendText(json.loads(message))))

        def onMonitorMessage(self, message: str) -> None:
            seen.append(message)

    dat = await dat_factory(callbacks=[Echo()])
    await ws_server.send_text('"a\\ud800b"', '"fine"')
    await ws_server.wait_received(1)
    assert ws_server.received == ["fine"]
    seen = [line for line in seen if not line.startswith(("connecting to", "connected to"))]
    assert seen[:3] == ["sendText: the text holds '\\ud800' at position 1, a lone surrogate that UTF-8 cannot "
                        "encode; nothing was sent", "-1", "4"]
    assert dat.connected and dat.info.warnings == 1 and dat.info.errors == 0
    with pytest.raises(ValueError, match=r"^send_text: the text holds '\\ud800' at position 2, a lone surrogate"):
        await dat.send_text("ok\ud800")
    await dat.send_text("still here")
    await ws_server.wait_received(2)
    assert ws_server.received == ["fine", "still here"]
    assert dat.info.connects == 1
