"""wsdat-mqtt: a DAT bridged to an MQTT broker, both ways.

Every received message (text as UTF-8, binary as is) is published to ``topic``; whatever is published on
``{topic}/send`` is sent through the DAT to the WebSocket server (a payload that is valid UTF-8 as a text message,
anything else as binary).

The client is paho-mqtt (Eclipse's, the maintained reference client for Python) with its socket driven from trio:
paho is used through its external-loop API (``loop_read``, ``loop_write``, ``loop_misc`` when trio says the socket is
readable, writable, or a second passed), so no thread runs the protocol; only the blocking TCP connect of paho runs in
a worker thread. aiomqtt and gmqtt are asyncio-only.

Nothing published while the broker is away is lost up to a bounded queue: messages wait in order (``queue``
messages, default 100,000) and go out once the client is connected again, reconnecting with the DAT's backoff
(``reconnectdelay``, ``reconnectfactor``, ``reconnectmaxdelay``). With ``qos`` 1 a message leaves the queue when the
broker acknowledged it (one not acknowledged when the connection dropped is published again, so the broker may see it
twice); with ``qos`` 0 when it was written to the socket. When the queue is full the DAT stops reading from the
WebSocket (backpressure) rather than drop. Monitor lines say when the broker went away and came back, and how many
messages waited.

Settings (``dat.pluginSettings("mqtt")``: a service file's ``[dat.NAME.plugins.mqtt]``, ``--set mqtt.KEY=VALUE``, or
``WSDAT_MQTT_<KEY>`` environment variables as defaults):

``url``        ``mqtt://127.0.0.1:1883`` (``mqtts://`` for TLS; ``mqtt://user:password@host:port``)
``topic``      ``wsdat/{dat}`` (``{dat}``: the DAT's name)
``qos``        0 or 1 (default 1), for publishing and for the ``/send`` subscription
``retain``     false: publish with the retain flag
``queue``      100,000: messages waiting for the broker before the DAT stops reading
``send``       true: subscribe to ``{topic}/send`` and send what arrives through the DAT
``client_id``  ``wsdat-{dat}-<random>``
``keepalive``  60 seconds
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections import deque
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import trio

from wsdat_core.model.backoff import Backoff
from wsdat_core.model.errors import ConnectError, ConnectionClosedError

__all__ = ["MqttBridge", "default_bridge"]

#: Messages handed to paho and not yet confirmed (acknowledged for QoS 1, written for QoS 0) at most.
INFLIGHT: Final = 1000
CONNECT_TIMEOUT: Final = 5.0
EXIT_FLUSH_SECONDS: Final = 4.0
_DEFAULTS: Final[dict[str, Any]] = {"url": "mqtt://127.0.0.1:1883", "topic": "wsdat/{dat}", "qos": 1,
                                    "retain": False, "queue": 100_000, "send": True, "keepalive": 60}


class _Lost(Exception):
    """The broker connection ended; the message says why."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "no answer to CONNECT in time"
    if isinstance(exc, trio.ClosedResourceError):
        return "connection closed"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _switch(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def _integer(settings: dict[str, Any], key: str, allowed: range) -> int:
    value = settings[key]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = allowed.start - 1
    if isinstance(value, bool) or number not in allowed:
        raise ValueError(f"mqtt: {key}: {value!r} is not allowed; expected an integer from {allowed.start}"
                         + (f" to {allowed.stop - 1}" if allowed.stop < 2**31 else ""))
    return number


class _Bridge:
    """One DAT's MQTT connection: the outgoing queue, the connection loop and what arrives on ``/send``."""

    def __init__(self, dat: Any, settings: dict[str, Any]) -> None:
        merged = {**_DEFAULTS, **settings}
        self.dat = dat
        self.url = str(merged["url"])
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError(f"mqtt: url: {self.url!r} is not allowed; expected mqtt://HOST[:PORT] or mqtts://...")
        self.tls = parts.scheme in ("mqtts", "ssl")
        self.host = parts.hostname
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.shown_url = f"{parts.scheme}://{self.host}:{self.port}"
        self.topic = str(merged["topic"]).replace("{dat}", dat.name)
        if not self.topic or any(c in self.topic for c in "+#"):
            raise ValueError(f"mqtt: topic: {self.topic!r} is not allowed; expected a topic without wildcards")
        self.send_topic = f"{self.topic}/send"
        self.qos = _integer(merged, "qos", range(0, 2))
        self.retain = _switch(merged["retain"])
        self.capacity = _integer(merged, "queue", range(1, 2**31))
        self.keepalive = _integer(merged, "keepalive", range(1, 65536))
        self.subscribe = _switch(merged["send"])
        self.client_id = str(merged.get("client_id") or f"wsdat-{dat.name}-{uuid.uuid4().hex[:8]}")
        self.outbox: deque[str | bytes] = deque()
        self.inflight: dict[int, str | bytes] = {}
        self.inbox: deque[bytes] = deque()
        self.published = 0
        self.received = 0
        self.connected = False
        self.closed = False
        self.changed = trio.Event()  # something to write, room in the queue, or something arrived
        self.down_since: float | None = time.monotonic()
        self.ever_connected = False
        par = dat.par
        self.backoff = Backoff(first=par.reconnectdelay, factor=par.reconnectfactor, cap=par.reconnectmaxdelay)

    # -- the queue ---------------------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self.outbox) + len(self.inflight)

    def notify(self) -> None:
        """Wake every task waiting in :meth:`wait_changed` (each re-checks what it waits for)."""
        self.changed.set()
        self.changed = trio.Event()

    async def wait_changed(self) -> None:
        await self.changed.wait()

    async def wait_room(self) -> None:
        self.notify()
        reported = False
        while self.pending >= self.capacity and not self.closed:
            if not reported:
                reported = True
                self.dat.monitor(f"mqtt: queue full ({self.pending} messages): reading paused until the broker "
                                 "takes messages (backpressure)", logging.WARNING)
            await self.wait_changed()
        if reported:
            self.notify()  # others waiting on the same event

    # -- one connection ----------------------------------------------------------------------------------------------
    def _client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311,
                             clean_session=True)
        client.max_inflight_messages_set(INFLIGHT)
        client.max_queued_messages_set(0)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_socket_register_write = lambda *_: None  # writes are driven by the writer task
        client.on_socket_close = lambda _client, _userdata, sock: trio.lowlevel.notify_closing(sock)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            raise _Lost(f"the broker refused the connection: {reason}")
        self.connected = True
        self._came_up()
        if self.subscribe:
            client.subscribe(self.send_topic, qos=self.qos)
        self.notify()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        if self.inflight.pop(mid, None) is not None:
            self.published += 1
            self.notify()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.send_topic:
            self.inbox.append(bytes(message.payload))
            self.received += 1
            self.notify()

    async def _reader(self, client: mqtt.Client, sock: Any) -> None:
        while True:
            while len(self.inbox) >= self.capacity:  # the DAT is not sending: stop reading from the broker
                await self.wait_changed()
            await trio.lowlevel.wait_readable(sock)
            code = client.loop_read()
            if code != mqtt.MQTT_ERR_SUCCESS:
                raise _Lost(mqtt.error_string(code))
            if client.want_write():  # an acknowledgement to write, or a confirmed publish freed room
                self.notify()

    async def _writer(self, client: mqtt.Client, sock: Any) -> None:
        while True:
            if self.connected:
                while self.outbox and len(self.inflight) < INFLIGHT:
                    payload = self.outbox[0]
                    info = client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        raise _Lost(mqtt.error_string(info.rc))
                    self.outbox.popleft()
                    self.inflight[info.mid] = payload
            if client.want_write():
                await trio.lowlevel.wait_writable(sock)
                code = client.loop_write()
                if code != mqtt.MQTT_ERR_SUCCESS:
                    raise _Lost(mqtt.error_string(code))
            else:
                await self.wait_changed()

    async def _keepalive(self, client: mqtt.Client) -> None:
        while True:
            await trio.sleep(1.0)
            if client.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                raise _Lost("the broker did not answer the keepalive ping")
            self.notify()  # a ping to write

    async def _serve(self, client: mqtt.Client) -> None:
        """Drive one connection until it ends; raises :class:`_Lost` saying why."""
        sock = client.socket()
        if sock is None:
            raise _Lost("no socket")
        why: list[str] = []

        async def guarded(function: Any, *args: Any) -> None:
            try:
                await function(*args)
            except (OSError, _Lost, trio.TooSlowError, trio.ClosedResourceError, ssl.SSLError) as exc:
                why.append(_describe(exc))
                nursery.cancel_scope.cancel()

        async def handshake() -> None:
            with trio.fail_after(CONNECT_TIMEOUT):
                while not self.connected:
                    await trio.sleep(0.005)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(guarded, self._reader, client, sock)
            nursery.start_soon(guarded, self._writer, client, sock)
            nursery.start_soon(guarded, self._keepalive, client)
            nursery.start_soon(guarded, handshake)
        raise _Lost(why[0] if why else "connection ended")

    def _came_up(self) -> None:
        if self.down_since is not None:
            if self.ever_connected:
                self.dat.monitor(f"mqtt: {self.shown_url} is back after {time.monotonic() - self.down_since:.1f} s; "
                                 f"{self.pending} messages waited in the queue")
            else:
                self.dat.monitor(f"mqtt: connected to {self.shown_url} (topic {self.topic})")
            self.down_since = None
            self.ever_connected = True
            self.backoff.reset()

    def _requeue(self) -> None:
        """Messages handed to paho and not confirmed go out again, first and in their order (with QoS 1 the broker
        may so see one twice)."""
        self.connected = False
        self.outbox.extendleft(reversed(list(self.inflight.values())))
        self.inflight.clear()

    def _lost(self, why: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.dat.monitor(f"mqtt: {self.shown_url} went away ({why}); messages wait in the queue (up to "
                             f"{self.capacity})", logging.WARNING)
        elif not self.ever_connected and self.backoff.attempt <= 1:
            self.dat.monitor(f"mqtt: cannot connect to {self.shown_url} ({why}); retrying", logging.WARNING)

    async def run(self) -> None:
        while True:
            client = self._client()
            try:
                await trio.to_thread.run_sync(client.connect, self.host, self.port, self.keepalive)
                await self._serve(client)
            except (OSError, _Lost, ssl.SSLError) as exc:
                self._lost(_describe(exc))
            finally:
                with trio.CancelScope(shield=True):
                    self._requeue()
                    self._close(client)
            await trio.sleep(self.backoff.next_delay())

    @staticmethod
    def _close(client: mqtt.Client) -> None:
        sock = client.socket()
        if sock is not None:
            trio.lowlevel.notify_closing(sock)
            sock.close()

    # -- messages from /send -----------------------------------------------------------------------------------------
    async def run_sender(self) -> None:
        while True:
            while not self.inbox:
                await self.wait_changed()
            payload = self.inbox[0]
            try:
                text: str | None = payload.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            while True:
                try:
                    await self.dat.wait_connected()
                    if text is not None:
                        await self.dat.send_text(text)
                    else:
                        await self.dat.send_binary(payload)
                    break
                except ConnectionClosedError:
                    continue
                except ConnectError:
                    await trio.sleep(0.5)
            self.inbox.popleft()
            self.notify()


class MqttBridge:
    """The callbacks plugin: one bridge per DAT it serves."""

    def __init__(self) -> None:
        self._bridges: dict[int, _Bridge] = {}
        self._nurseries: dict[int, trio.CancelScope] = {}

    def stats(self, dat: Any) -> dict[str, Any]:
        """``topic``, ``published``, ``pending``, ``received`` (from ``/send``), ``connected``: ``dat``'s bridge."""
        bridge = self._bridges.get(id(dat))
        if bridge is None:
            return {}
        return {"topic": bridge.topic, "published": bridge.published, "pending": bridge.pending,
                "received": bridge.received, "connected": bridge.connected}

    def onStart(self, dat: Any) -> None:
        bridge = _Bridge(dat, dat.pluginSettings("mqtt"))
        self._bridges[id(dat)] = bridge
        scope = self._nurseries[id(dat)] = trio.CancelScope()

        async def run() -> None:
            with scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(bridge.run_sender)
                    await bridge.run()

        dat.start_soon(run, name=f"{dat.name}: mqtt")

    async def onExit(self, dat: Any) -> None:
        bridge = self._bridges.pop(id(dat), None)
        scope = self._nurseries.pop(id(dat), None)
        if scope is not None:
            scope.cancel()
        if bridge is None:
            return
        if bridge.pending:  # the DAT's tasks are gone: publish what is left on a connection of our own
            with trio.move_on_after(EXIT_FLUSH_SECONDS):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(bridge.run)
                    while bridge.pending:
                        await bridge.wait_changed()
                    nursery.cancel_scope.cancel()
        bridge.closed = True
        if bridge.pending:
            dat.monitor(f"mqtt: {bridge.pending} messages not published: the DAT stopped while the broker was away",
                        logging.ERROR)

    def onReceiveText(self, dat: Any, message: str) -> None:
        bridge = self._bridges.get(id(dat))
        if bridge is not None:
            bridge.outbox.append(message)

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        bridge = self._bridges.get(id(dat))
        if bridge is not None:
            bridge.outbox.append(contents)

    async def onCook(self, dat: Any) -> None:
        bridge = self._bridges.get(id(dat))
        if bridge is not None:
            await bridge.wait_room()


#: The instance the ``mqtt`` entry point names; each DAT it serves reads its own settings in ``onStart``.
default_bridge = MqttBridge()
