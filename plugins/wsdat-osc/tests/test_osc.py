"""wsdat-osc: messages forwarded as OSC to a real UDP socket on loopback."""

from __future__ import annotations

import socket

import trio
from pythonosc.osc_message import OscMessage
from wsdat_osc import OSCForwarder, numbers

from wsdat_core.faces.testing import wait_for_rows, wait_until


def test_numbers_of_json() -> None:
    assert numbers({"a": 1, "b": {"c": 2.5, "d": "x", "e": True}}) == {"a": 1, "b.c": 2.5}


async def test_forwards_text_numbers_binary_and_connection_state(ws_server, dat_factory) -> None:
    receiver = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    forwarder = OSCForwarder("127.0.0.1", port, prefix="/td")
    dat = await dat_factory("feed", callbacks=[forwarder])
    await ws_server.send_text('{"sensor": {"temp": 21.5}, "name": "t1"}')
    await ws_server.send_binary(b"\x01\x02")
    await wait_for_rows(dat, 1)
    got: list[tuple[str, list[object]]] = []
    with trio.fail_after(5):
        while len(got) < 4:
            data = await receiver.recv(65536)
            message = OscMessage(data)
            got.append((message.address, list(message.params)))
    receiver.close()
    dat.stop()
    await wait_until(lambda: dat.info.state == "closed" and dat.info.disconnects == 1)
    forwarder.close()
    assert got == [("/td/feed/connected", [1]), ("/td/feed/text", ['{"sensor": {"temp": 21.5}, "name": "t1"}']),
                   ("/td/feed/sensor.temp", [21.5]), ("/td/feed/binary", [b"\x01\x02"])]
