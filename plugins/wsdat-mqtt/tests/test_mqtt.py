"""wsdat-mqtt against the real Mosquitto on 127.0.0.1:1883 (skipped when it is not running, except under CI=true or
WSDAT_REQUIRE_SERVICES=1, where a missing broker fails the run).

The other side of the bridge is an independent paho client with its own network thread. Topics are unique per test.
"Broker away" is a TCP relay in the test between the plugin and the broker that the test cuts and restores.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import trio
from wsdat_mqtt import MqttBridge, _Bridge

from wsdat_core import WebSocketDAT
from wsdat_core.faces.config import ServiceRunner, load_service
from wsdat_core.faces.testing import MonitorLines, TCPRelay, wait_until
from wsdat_core.model.errors import ParameterError

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


def test_bad_settings_are_one_clear_line_naming_the_setting() -> None:
    dat = WebSocketDAT("bad", active=False)
    for settings, expected in (
            ({"url": "http://x"}, "mqtt.url: 'http://x' is not allowed; expected mqtt://HOST[:PORT] or mqtts://..."),
            ({"url": "mqtt://h:0"}, "mqtt.url: 'mqtt://h:0' is not allowed; expected mqtt://HOST[:PORT] or "
                                    "mqtts://... (a port from 1 to 65535 after the host ('0' is not in 1-65535))"),
            ({"qos": 2}, "mqtt.qos: 2 is not allowed; expected an integer from 0 to 1"),
            ({"queue": "many"}, "mqtt.queue: 'many' is not allowed; expected an integer from 1"),
            ({"spoolbytes": 0}, "mqtt.spoolbytes: 0 is not allowed; expected an integer from 1")):
        with pytest.raises(ParameterError) as refused:
            _Bridge(dat, settings)
        assert str(refused.value) == expected


TOPIC = "mqtt.topic: {!r} is not allowed; expected a topic to publish to ({})"


@pytest.mark.parametrize(("topic", "send", "why"), [
    ("a\x00b", True, "no NUL character, which MQTT forbids; one is at position 1"),
    ("a\x1bb", True, "no control characters, which brokers refuse; '\\x1b' is at position 1"),
    ("a\ud800", True, "UTF-8 text; '\\ud800' at position 1 is a lone surrogate"),
    ("a/#", True, "no wildcards + and #, which only subscriptions use; '#' is at position 2"),
    ("a/+/b", False, "no wildcards + and #, which only subscriptions use; '+' is at position 2"),
    ("$SYS/x", True, "not starting with $: those topics are the broker's"),
    ("", True, "it is empty"),
    ("é" * 32_766, True, "at most 65,535 bytes of UTF-8 with /send appended; it has 65,537"),
    ("a" * 65_536, False, "at most 65,535 bytes of UTF-8; it has 65,536"),
])
def test_topics_that_cannot_work_are_refused_naming_why(topic: str, send: bool, why: str) -> None:
    with pytest.raises(ParameterError) as refused:
        _Bridge(WebSocketDAT("bad", active=False), {"topic": topic, "send": send})
    assert refused.value.name == "mqtt.topic"
    shown = repr(topic) if len(repr(topic)) <= 80 else None
    if shown is not None:
        assert str(refused.value) == TOPIC.format(topic, why)
    else:
        assert str(refused.value).endswith(f"is not allowed; expected a topic to publish to ({why})")
    assert _Bridge(WebSocketDAT("ok", active=False), {"topic": "a" * 65_530}).topic == "a" * 65_530  # fits, /send too


async def test_a_topic_that_cannot_work_ends_wsdat_connect_with_one_line_exit_2(ws_server) -> None:
    done = await trio.run_process([sys.executable, "-m", "wsdat_core", "connect", ws_server.url, "--callbacks",
                                   "mqtt", "--set", "mqtt.topic=" + "a" * 70_000], capture_stdout=True,
                                  capture_stderr=True, check=False, stdin=b"")
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert stderr.startswith("wsdat: error: mqtt.topic: 'aaaa") and stderr.count("\n") == 1, stderr
    assert stderr.endswith("(70002 characters) is not allowed; expected a topic to publish to (at most 65,535 bytes "
                           "of UTF-8 with /send appended; it has 70,005)\n")


async def test_a_topic_that_cannot_work_stops_only_its_dat_once_in_a_service(ws_server, tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text(f'[dat.bad]\nnetaddress = "{ws_server.url}"\ncallbacks = ["mqtt"]\n'
                    f'[dat.bad.plugins.mqtt]\ntopic = "x\\u0000y"\n'
                    f'[dat.good]\nnetaddress = "{ws_server.url}"\n')
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("wsdat").addHandler(handler)
    runner = ServiceRunner(load_service(path), signals=False)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.run)
            await wait_until(lambda: runner.running["bad"].done.is_set(), what="the bad DAT's run to end, once")
            await runner.dats["good"].wait_connected()
            assert runner.dats["good"].connected and not runner.running["good"].done.is_set()
            runner.stop()
    finally:
        logging.getLogger("wsdat").removeHandler(handler)
    stopped = [r for r in records if r.getMessage().startswith("bad: stopped")]
    assert [r.getMessage() for r in stopped] == [
        "bad: stopped: mqtt.topic: 'x\\x00y' is not allowed; expected a topic to publish to (no NUL character, which "
        f"MQTT forbids; one is at position 1); fix {path} (a reload starts it again)"]
    assert stopped[0].exc_info is None
    assert not [r for r in records if "internal error" in r.getMessage()]


async def test_spoolbytes_bounds_the_queue_to_the_broker(ws_server, dat_factory, nursery, topic: str,
                                                         peer: Peer) -> None:
    relay = Relay(BROKER_PORT)
    await relay.start(nursery)
    relay.cut()
    bridge, monitor = MqttBridge(), MonitorLines()
    limit, body, total = 200_000, "x" * 10_000, 100
    dat = await dat_factory(callbacks=[bridge, monitor], reconnectdelay=0.05, reconnectmaxdelay=0.2, maxlines=5,
                            settings={"mqtt": {"url": f"mqtt://127.0.0.1:{relay.port}", "topic": topic,
                                               "spoolbytes": limit, "send": False}})
    nursery.start_soon(lambda: ws_server.send_text(*(f"{i:03d}:{body}" for i in range(total))))
    await wait_until(lambda: monitor.has("queue full"), what="a 'queue full' monitor line")
    await trio.sleep(0.3)
    held = bridge.stats(dat)
    # the DAT stopped reading at the byte bound (plus the messages of the cook that crossed it), not at 100,000
    assert limit <= held["pending_bytes"] <= limit + 65_536 and held["pending"] < total / 2, held
    await relay.start(nursery)
    await wait_until(lambda: len(first_occurrences(peer.messages)) >= total and not bridge.stats(dat)["pending"],
                     timeout=20)
    assert [m.split(b":")[0] for m in first_occurrences(peer.messages)] == [f"{i:03d}".encode() for i in range(total)]
    assert bridge.stats(dat)["pending_bytes"] == 0


async def test_spoolbytes_bounds_what_waits_from_send_while_the_dat_cannot_send(
        ws_server, dat_factory, nursery, topic: str, peer: Peer) -> None:
    relay = Relay(ws_server.port)
    await relay.start(nursery)
    bridge = MqttBridge()
    limit, size, total = 100_000, 20_000, 30
    dat = await dat_factory(callbacks=[bridge], netaddress=f"ws://127.0.0.1:{relay.port}/", reconnectdelay=0.05,
                            reconnectmaxdelay=0.2, settings={"mqtt": {"topic": topic, "spoolbytes": limit}})
    await wait_until(lambda: bridge.stats(dat).get("connected"), what="the bridge connected")
    relay.cut()
    await wait_until(lambda: not dat.connected, what="the DAT to lose its server")
    largest = 0

    async def watch() -> None:
        nonlocal largest
        while True:
            largest = max(largest, bridge.stats(dat)["inbox_bytes"])
            await trio.sleep(0.005)

    nursery.start_soon(watch)
    payloads = [f"{i:03d}".encode() + b"y" * (size - 3) for i in range(total)]
    for payload in payloads:
        await trio.to_thread.run_sync(peer.publish, payload)
    await trio.sleep(0.5)
    # the bridge stopped reading from the broker at the byte bound, not at 100,000 messages
    assert bridge.stats(dat)["inbox"] < total / 2 and largest <= limit + size, (largest, bridge.stats(dat))
    await relay.start(nursery)
    await ws_server.wait_received(total, timeout=20)
    assert ws_server.received == [payload.decode() for payload in payloads]  # in order, none lost
    assert bridge.stats(dat)["inbox_bytes"] == 0
