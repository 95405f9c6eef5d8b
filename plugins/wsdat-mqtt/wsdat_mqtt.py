"""wsdat-mqtt: a DAT bridged to an MQTT broker, both ways.

Every received message (text as UTF-8, binary as is) is published to ``topic``; whatever is published on
``{topic}/send`` is sent through the DAT to the WebSocket server (a payload that is valid UTF-8 as a text message,
anything else as binary).

The client is paho-mqtt (Eclipse's, the maintained reference client for Python) with its socket driven from trio:
paho is used through its external-loop API (``loop_read``, ``loop_write``, ``loop_misc`` when trio says the socket is
readable, writable, or a second passed), so no thread runs the protocol; only the blocking TCP connect of paho runs in
a worker thread. aiomqtt and gmqtt are asyncio-only.

Nothing published while the broker is away is lost up to a bounded queue: messages wait in order (``queue``
messages, default 100,000, and ``spoolbytes`` bytes, default 64 MiB) and go out once the client is connected again,
reconnecting with the DAT's backoff (``reconnectdelay``, ``reconnectfactor``, ``reconnectmaxdelay``). With ``qos`` 1 a
message leaves the queue when the broker acknowledged it (one not acknowledged when the connection dropped is
published again, so the broker may see it twice); with ``qos`` 0 when it was written to the socket. When the queue is
full the DAT stops reading from the WebSocket (backpressure) rather than drop. Monitor lines say when the broker went
away and came back, and how many messages waited. The other way, messages from ``{topic}/send`` wait for the DAT
within the same bounds (a message always fits an empty queue): while the DAT cannot send (it is not connected), the
bridge stops reading from the broker, which keeps them (QoS 1).

Settings are checked when the plugin starts: a bad one stops the DAT with one line naming it
(``mqtt.topic: ... is not allowed; expected ...``), a ParameterError: ``wsdat connect`` exits 2, ``wsdat run`` leaves
that DAT stopped until the service file is fixed. A topic must be UTF-8 text without NUL or control characters, at
most 65,535 bytes with ``/send`` appended when ``send`` is on (MQTT's limit), without the wildcards ``+`` and ``#``
and not starting with ``$`` (the broker's own topics).

Settings (``dat.pluginSettings("mqtt")``: a service file's ``[dat.NAME.plugins.mqtt]``, ``--set mqtt.KEY=VALUE``, or
``WSDAT_MQTT_<KEY>`` environment variables as defaults):

``url``        ``mqtt://127.0.0.1:1883`` (``mqtts://`` for TLS; ``mqtt://user:password@host:port``)
``topic``      ``wsdat/{dat}`` (``{dat}``: the DAT's name)
``qos``        0 or 1 (default 1), for publishing and for the ``/send`` subscription
``retain``     false: publish with the retain flag
``queue``      100,000: messages waiting for the broker before the DAT stops reading
``spoolbytes`` 67,108,864 (64 MiB): the same bound in bytes (and both bound what waits from ``/send``)
``send``       true: subscribe to ``{topic}/send`` and send what arrives through the DAT
``client_id``  ``wsdat-{dat}-<random>``
``keepalive``  60 seconds
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
import uuid
from collections import deque
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import trio

from wsdat_core.model.address import port_in
from wsdat_core.model.backoff import Backoff
from wsdat_core.model.errors import ConnectError, ConnectionClosedError, ParameterError

__all__ = ["MqttBridge", "default_bridge"]

#: Messages handed to paho and not yet confirmed (acknowledged for QoS 1, written for QoS 0) at most.
INFLIGHT: Final = 1000
CONNECT_TIMEOUT: Final = 5.0
EXIT_FLUSH_SECONDS: Final = 4.0
_DEFAULTS: Final[dict[str, Any]] = {"url": "mqtt://127.0.0.1:1883", "topic": "wsdat/{dat}", "qos": 1,
                                    "retain": False, "queue": 100_000, "spoolbytes": 64 * 1024 * 1024, "send": True,
                                    "keepalive": 60}
#: MQTT writes a topic's length in two bytes.
MAX_TOPIC_BYTES: Final = 65_535
_SEND_SUFFIX: Final = "/send"
_CONTROL: Final = frozenset((*range(0x00, 0x20), *range(0x7F, 0xA0)))


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
        raise ParameterError(f"mqtt.{key}", value, f"an integer from {allowed.start}"
                             + (f" to {allowed.stop - 1}" if allowed.stop < 2**31 else ""))
    return number


def _topic(value: str, send: bool) -> str:
    """``value`` as a topic to publish to (and, when ``send``, to subscribe to with ``/send`` appended); a
    ParameterError naming ``mqtt.topic`` and what is wrong, so that a topic that cannot work never reaches the broker
    (which would drop the connection, again and again)."""
    def refuse(why: str) -> ParameterError:
        return ParameterError("mqtt.topic", value, f"a topic to publish to ({why})")

    if not value:
        raise refuse("it is empty")
    try:
        size = len(value.encode("utf-8")) + (len(_SEND_SUFFIX) if send else 0)
    except UnicodeEncodeError as exc:
        raise refuse(f"UTF-8 text; {value[exc.start]!r} at position {exc.start} is a lone surrogate") from None
    if "\x00" in value:
        raise refuse(f"no NUL character, which MQTT forbids; one is at position {value.index(chr(0))}")
    control = next((index for index, char in enumerate(value) if ord(char) in _CONTROL), None)
    if control is not None:
        raise refuse(f"no control characters, which brokers refuse; {value[control]!r} is at position {control}")
    wildcard = next((index for index, char in enumerate(value) if char in "+#"), None)
    if wildcard is not None:
        raise refuse(f"no wildcards + and #, which only subscriptions use; {value[wildcard]!r} is at position "
                     f"{wildcard}")
    if value.startswith("$"):
        raise refuse("not starting with $: those topics are the broker's")
    if size > MAX_TOPIC_BYTES:
        raise refuse(f"at most {MAX_TOPIC_BYTES:,} bytes of UTF-8{' with /send appended' if send else ''}; it has "
                     f"{size:,}")
    return value


def _size(payload: str | bytes) -> int:
    if isinstance(payload, bytes):
        return len(payload)
    return len(payload) if payload.isascii() else len(payload.encode("utf-8", "surrogatepass"))


def _closing(sock: Any) -> None:
    """paho closing its socket: trio forgets it first. paho may close from ``__del__`` (a client dropped outside the
    trio run), where there is nothing to tell."""
    with contextlib.suppress(RuntimeError):
        trio.lowlevel.notify_closing(sock)


async def _refuse(error: ParameterError) -> None:
    raise error


class _Bridge:
    """One DAT's MQTT connection: the outgoing queue, the connection loop and what arrives on ``/send``."""

    def __init__(self, dat: Any, settings: dict[str, Any]) -> None:
        merged = {**_DEFAULTS, **settings}
        self.dat = dat
        self.url = str(merged["url"])
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ParameterError("mqtt.url", self.url, "mqtt://HOST[:PORT] or mqtts://...")
        self.tls = parts.scheme in ("mqtts", "ssl")
        self.host = parts.hostname
        try:
            self.port = port_in(parts) or (8883 if self.tls else 1883)
        except ValueError as exc:
            raise ParameterError("mqtt.url", self.url, f"mqtt://HOST[:PORT] or mqtts://... ({exc})") from None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.shown_url = f"{parts.scheme}://{self.host}:{self.port}"
        self.subscribe = _switch(merged["send"])
        self.topic = _topic(str(merged["topic"]).replace("{dat}", dat.name), self.subscribe)
        self.send_topic = f"{self.topic}{_SEND_SUFFIX}"
        self.qos = _integer(merged, "qos", range(0, 2))
        self.retain = _switch(merged["retain"])
        self.capacity = _integer(merged, "queue", range(1, 2**31))
        self.spool_limit = _integer(merged, "spoolbytes", range(1, 2**63))
        self.keepalive = _integer(merged, "keepalive", range(1, 65536))
        self.client_id = str(merged.get("client_id") or f"wsdat-{dat.name}-{uuid.uuid4().hex[:8]}")
        self.outbox: deque[str | bytes] = deque()
        self.inflight: dict[int, str | bytes] = {}
        #: Bytes of the messages in ``outbox`` and ``inflight`` (waiting for the broker).
        self.pending_bytes = 0
        self.inbox: deque[bytes] = deque()
        #: Bytes of the messages in ``inbox`` (waiting for the DAT).
        self.inbox_bytes = 0
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

    def full(self, count: int, size: int) -> bool:
        """Whether a queue holding ``count`` messages of ``size`` bytes takes no more (one always fits when empty)."""
        return count >= self.capacity or (count > 0 and size >= self.spool_limit)

    def queue(self, payload: str | bytes) -> None:
        """A received message, to be published."""
        self.outbox.append(payload)
        self.pending_bytes += _size(payload)

    def notify(self) -> None:
        """Wake every task waiting in :meth:`wait_changed` (each re-checks what it waits for)."""
        self.changed.set()
        self.changed = trio.Event()

    async def wait_changed(self) -> None:
        await self.changed.wait()

    async def wait_room(self) -> None:
        self.notify()
        reported = False
        while self.full(self.pending, self.pending_bytes) and not self.closed:
            if not reported:
                reported = True
                self.dat.monitor(f"mqtt: queue full ({self.pending} messages, {self.pending_bytes} bytes): reading "
                                 "paused until the broker takes messages (backpressure)", logging.WARNING)
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
        client.on_socket_close = lambda _client, _userdata, sock: _closing(sock)
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
        payload = self.inflight.pop(mid, None)
        if payload is not None:
            self.published += 1
            self.pending_bytes -= _size(payload)
            self.notify()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.send_topic:
            payload = bytes(message.payload)
            self.inbox.append(payload)
            self.inbox_bytes += len(payload)
            self.received += 1
            self.notify()

    async def _reader(self, client: mqtt.Client, sock: Any) -> None:
        while True:
            # The DAT is not sending: stop reading from the broker, which holds what is published meanwhile. One
            # loop_read takes what the socket has buffered, so the bounds are passed by that much at most.
            while self.full(len(self.inbox), self.inbox_bytes):
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
                        await self.dat.send_text(text, written=True)
                    else:
                        await self.dat.send_binary(payload, written=True)
                    break
                except ConnectionClosedError:
                    continue
                except ConnectError:
                    await trio.sleep(0.5)
            self.inbox.popleft()
            self.inbox_bytes -= len(payload)
            self.notify()


class MqttBridge:
    """The callbacks plugin: one bridge per DAT it serves."""

    def __init__(self) -> None:
        self._bridges: dict[int, _Bridge] = {}
        self._nurseries: dict[int, trio.CancelScope] = {}

    def stats(self, dat: Any) -> dict[str, Any]:
        """``topic``, ``published``, ``pending`` (and ``pending_bytes``), ``received`` (from ``/send``), ``inbox``
        (and ``inbox_bytes``: from ``/send``, not sent yet), ``connected``: ``dat``'s bridge."""
        bridge = self._bridges.get(id(dat))
        if bridge is None:
            return {}
        return {"topic": bridge.topic, "published": bridge.published, "pending": bridge.pending,
                "pending_bytes": bridge.pending_bytes, "received": bridge.received, "inbox": len(bridge.inbox),
                "inbox_bytes": bridge.inbox_bytes, "connected": bridge.connected}

    def onStart(self, dat: Any) -> None:
        try:
            bridge = _Bridge(dat, dat.pluginSettings("mqtt"))
        except ParameterError as refused:
            # A hook's exception is only reported and the DAT would go on, not bridging; a task's ends the DAT's run
            # with this one line (wsdat connect: exit 2; wsdat run: that DAT stops until the file is fixed).
            dat.start_soon(_refuse, refused, name=f"{dat.name}: mqtt settings")
            return
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
            bridge.queue(message)

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        bridge = self._bridges.get(id(dat))
        if bridge is not None:
            bridge.queue(contents)

    async def onCook(self, dat: Any) -> None:
        bridge = self._bridges.get(id(dat))
        if bridge is not None:
            await bridge.wait_room()


#: The instance the ``mqtt`` entry point names; each DAT it serves reads its own settings in ``onStart``.
default_bridge = MqttBridge()
