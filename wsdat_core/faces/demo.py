"""The embedded demo: a WebSocket server streaming a realistic feed, and a DAT watching it, in one nursery.

The feed, per connected client: JSON sensor readings a few times per second, chat lines now and then, a binary
frame (packed readings) every couple of seconds and a ping every few seconds. What the client sends comes back as a
chat line from ``server``. No external server is needed: ``wsdat demo`` (and ``make demo``) runs both.

:class:`DemoCallbacks` is a TouchDesigner-style callbacks object: it keeps the latest reading per sensor in the DAT's
storage and answers chat lines that mention ``wsdat``.
"""

from __future__ import annotations

import json
import random
import struct
import time
from typing import Any, Final

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

__all__ = ["DemoCallbacks", "DemoFeed"]

SENSORS: Final = (("temp-1", "C", 21.0, 0.4), ("temp-2", "C", 19.5, 0.3), ("humidity-1", "%", 41.0, 1.5),
                  ("co2-1", "ppm", 620.0, 25.0))
CHAT: Final = (
    ("alice", "anyone tried the new wsdat build?"),
    ("bob", "the table keeps the last 100 rows, like the TD operator"),
    ("carol", "info channels look right: total_cooks goes up per read"),
    ("alice", "binary frames go to onReceiveBinary only"),
    ("dave", "pings get answered automatically"),
    ("bob", "brb"),
)
PACKED: Final = struct.Struct("!4sf")  # 4-byte sensor tag, float value


class DemoFeed:
    """The demo server: ``await nursery.start(feed.run)`` listens on loopback and sets :attr:`port`."""

    def __init__(self, rate: float = 4.0, seed: int = 6455, host: str = "127.0.0.1") -> None:
        self.rate = rate
        self.seed = seed
        self.host = host
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/feed"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._serve, self.host, 0, None)
            self.port = server.port
            task_status.started()

    async def _serve(self, request: WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer, connection)
                await self._stream(connection)
        except ConnectionClosed:
            pass

    async def _answer(self, connection: WebSocketConnection) -> None:
        while True:
            message = await connection.get_message()
            shown = message if isinstance(message, str) else f"{len(message)} bytes"
            await connection.send_message(self._chat("server", f"got {shown!r}"))

    @staticmethod
    def _chat(user: str, text: str) -> str:
        return json.dumps({"type": "chat", "user": user, "text": text})

    async def _stream(self, connection: WebSocketConnection) -> None:
        rng = random.Random(self.seed)
        values = {name: base for name, _, base, _ in SENSORS}
        tick = 0
        while True:
            tick += 1
            name, unit, base, spread = SENSORS[tick % len(SENSORS)]
            values[name] += rng.uniform(-spread, spread) * 0.3 + (base - values[name]) * 0.05
            await connection.send_message(json.dumps(
                {"type": "reading", "sensor": name, "value": round(values[name], 2), "unit": unit,
                 "ts": round(time.time(), 3)}))
            if tick % 7 == 0:
                user, text = CHAT[(tick // 7) % len(CHAT)]
                await connection.send_message(self._chat(user, text))
            if tick % 9 == 0:
                await connection.send_message(b"".join(PACKED.pack(n[:4].encode(), v) for n, v in values.items()))
            if tick % 20 == 0:
                with trio.move_on_after(1):
                    await connection.ping(f"demo-{tick}".encode())
            await trio.sleep(1 / self.rate)


class DemoCallbacks:
    """TouchDesigner-style callbacks for the demo DAT (undecorated methods named like TD's callbacks)."""

    def onConnect(self, dat: Any) -> None:
        dat.sendText("hello from wsdat")

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return
        if data.get("type") == "reading":
            readings = dat.fetch("readings", {}, storeDefault=True)
            readings[data["sensor"]] = data["value"]
        elif data.get("type") == "chat" and "wsdat" in data.get("text", "") and data.get("user") != "server":
            dat.sendText(f"{data['user']}: thanks for trying wsdat")

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        dat.store("packed", [(tag.decode(), round(value, 2)) for tag, value in PACKED.iter_unpack(contents)])
