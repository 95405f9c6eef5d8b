"""wsdat-mqtt against the real Mosquitto on 127.0.0.1:1883 (skipped when it is not running, except under CI=true or
WSDAT_REQUIRE_SERVICES=1, where a missing broker fails the run).

The other side of the bridge is an independent paho client with its own network thread. Topics are unique per test.
"Broker away" is a TCP relay in the test between the plugin and the broker that the test cuts and restores.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
import trio
from wsdat_mqtt import MqttBridge, _Bridge

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import MonitorLines, TCPRelay, wait_until

BROKER_HOST, BROKER_PORT = "127.0.0.1", 1883


def _require(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        reason = f"{what} is not reachable on {host}:{port} ({exc.strerror or exc})"
        if os.environ.get("CI") == "true" or os.environ.get("WSDAT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CI / WSDAT_REQUIRE_SERVICES=1 require it")
        pytest.skip(f"{reason}; start it to run this test")


class Peer:
    """An independent MQTT client (paho's own network thread) on the other side of the bridge."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.messages: list[bytes] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peer-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda _c, _u, message: self.messages.append(bytes(message.payload))
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)

    def start(self) -> None:
        self.client.connect(BROKER_HOST, BROKER_PORT)
        self.client.loop_start()
        assert self._subscribed.wait(5), "the peer could not subscribe"

    def publish(self, payload: str | bytes) -> None:
        self.client.publish(f"{self.topic}/send", payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def topic() -> Iterator[str]:
    _require(BROKER_HOST, BROKER_PORT, "Mosquitto (MQTT)")
    yield f"wsdat-test/{uuid.uuid4().hex}"


@pytest.fixture
def peer(topic: str) -> Iterator[Peer]:
    peer = Peer(topic)
    peer.start()
    yield peer
    peer.stop()


Relay = TCPRelay





def first_occurrences(items: list[bytes]) -> list[bytes]:
    seen: set[bytes] = set()
    return [item for item in items if not (item in seen or seen.add(item))]


async def test_both_directions(ws_server, dat_factory, topic: str, peer: Peer) -> None:
    bridge, monitor = MqttBridge(), MonitorLines()
    dat = await dat_factory("bridged", callbacks=[bridge, monitor], settings={"mqtt": {"topic": topic, "qos": 1}})
    await wait_until(lambda: bridge.stats(dat)["connected"], what="the bridge connected")
    assert monitor.has(f"mqtt: connected to mqtt://127.0.0.1:1883 (topic {topic})")
    messages = [f"m{i}" for i in range(500)]
    await ws_server.send_text(*messages)
    await ws_server.send_binary(b"\x00\xff")
    await wait_until(lambda: len(peer.messages) >= 501 and bridge.stats(dat)["published"] == 501,
                     what="501 messages at the peer, acknowledged")
    assert peer.messages == [m.encode() for m in messages] + [b"\x00\xff"]
    assert bridge.stats(dat)["pending"] == 0
    await trio.to_thread.run_sync(peer.publish, "hello from mqtt")
    await trio.to_thread.run_sync(peer.publish, b"\xff\xfe binary")
    assert await ws_server.wait_received(2) == ["hello from mqtt", b"\xff\xfe binary"]


async def test_broker_away_nothing_lost(ws_server, dat_factory, nursery, topic: str, peer: Peer) -> None:
    relay = Relay(BROKER_PORT)
    await relay.start(nursery)
    bridge, monitor = MqttBridge(), MonitorLines()
    dat = await dat_factory(callbacks=[bridge, monitor], reconnectdelay=0.05, reconnectmaxdelay=0.2,
                            settings={"mqtt": {"url": f"mqtt://127.0.0.1:{relay.port}", "topic": topic,
                                               "send": False}})
    await ws_server.send_text(*(f"a{i}" for i in range(100)))
    await wait_until(lambda: len(peer.messages) >= 100)
    relay.cut()
    await ws_server.send_text(*(f"b{i}" for i in range(300)))
    await wait_until(lambda: monitor.has("went away"), what="a 'went away' monitor line")
    await wait_until(lambda: dat.info.messages_received == 400)
    await trio.sleep(0.3)  # several failed attempts
    # every message received since the cut waits, and those the broker had not acknowledged yet (QoS 1)
    waiting = bridge.stats(dat)["pending"]
    assert 300 <= waiting <= 400 and not bridge.stats(dat)["connected"]
    await relay.start(nursery)
    expected = [f"a{i}".encode() for i in range(100)] + [f"b{i}".encode() for i in range(300)]
    await wait_until(lambda: len(first_occurrences(peer.messages)) >= 400 and not bridge.stats(dat)["pending"],
                     what="every message at the peer, acknowledged")
    assert first_occurrences(peer.messages) == expected
    assert monitor.has("is back after") and monitor.has(f"{waiting} messages waited")


async def test_full_queue_stops_reading(ws_server, dat_factory, nursery, topic: str, peer: Peer) -> None:
    relay = Relay(BROKER_PORT)
    await relay.start(nursery)
    relay.cut()
    bridge, monitor = MqttBridge(), MonitorLines()
    dat = await dat_factory(callbacks=[bridge, monitor], reconnectdelay=0.05, reconnectmaxdelay=0.2, maxlines=5,
                            settings={"mqtt": {"url": f"mqtt://127.0.0.1:{relay.port}", "topic": topic,
                                               "queue": 100, "send": False}})
    total, body = 1000, "x" * 10_000
    nursery.start_soon(lambda: ws_server.send_text(*(f"{i}:{body}" for i in range(total))))
    await wait_until(lambda: monitor.has("queue full"), what="a 'queue full' monitor line")
    await trio.sleep(0.5)
    held = dat.info.messages_received
    assert held < total / 2 and bridge.stats(dat)["pending"] == held
    await relay.start(nursery)
    await wait_until(lambda: len(first_occurrences(peer.messages)) >= total and not bridge.stats(dat)["pending"],
                     timeout=20)
    assert [m.split(b":")[0] for m in first_occurrences(peer.messages)] == [str(i).encode() for i in range(total)]


def test_bad_settings_are_one_clear_line() -> None:
    dat = WebSocketDAT("bad", active=False)
    for settings, expected in (({"url": "http://x"}, "mqtt: url: 'http://x' is not allowed"),
                               ({"qos": 2}, "mqtt: qos: 2 is not allowed; expected an integer from 0 to 1"),
                               ({"topic": "a/#"}, "mqtt: topic: 'a/#' is not allowed"),
                               ({"queue": "many"}, "mqtt: queue: 'many' is not allowed")):
        with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
            _Bridge(dat, settings)
