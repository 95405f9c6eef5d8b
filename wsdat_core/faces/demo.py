"""The embedded demo server, and the callbacks of the DAT ``wsdat demo`` runs beside it.

``wsdat demo`` runs the server and a DAT watching its feed in one nursery; ``wsdat demo --serve [HOST:]PORT`` runs the
server alone, for the examples of the documentation (they connect to ``ws://localhost:8765/...``) and for trying
``wsdat connect`` against something real. On every path the server answers text commands and echoes everything
else exactly (text and binary):

======================  ==========================================================================================
``!help``               these commands, one text message each
``!burst N PREFIX``     N text messages ``PREFIX-0`` ... ``PREFIX-<N-1>``
``!binary HEX``         a binary message of these bytes (``!binary 00ff10``)
``!ping [TEXT]``        a ping with TEXT as its payload
``!close CODE [REASON]``  closes the connection with this code and reason
``!big N``              one text message of N ``x``
``!headers``            the request's headers as one JSON object (names in lower case)
======================  ==========================================================================================

On ``/sensors`` it also streams a feed (``?rate=R`` messages per second, default 4): JSON sensor readings, chat lines
now and then, a binary frame (packed readings) every couple of readings and a ping every few seconds; what the client
sends there (other than commands) comes back as a chat line from ``server``.

:class:`DemoCallbacks` is a TouchDesigner-style callbacks object: it keeps the latest reading per sensor in the DAT's
storage and answers chat lines that mention ``wsdat``.
"""

from __future__ import annotations

import json
import random
import struct
import time
import urllib.parse
from typing import Any, Final

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

__all__ = ["COMMANDS", "DemoCallbacks", "DemoFeed", "FEED_PATH"]

#: The path that streams the feed; every path answers commands.
FEED_PATH: Final = "/sensors"
COMMANDS: Final = {
    "!help": "these commands",
    "!burst N PREFIX": "N text messages PREFIX-0 ... PREFIX-<N-1>",
    "!binary HEX": "a binary message of these bytes",
    "!ping [TEXT]": "a ping with TEXT as its payload",
    "!close CODE [REASON]": "close the connection with this code and reason",
    "!big N": "one text message of N x",
    "!headers": "the request's headers as JSON (names in lower case)",
}
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
#: The most messages one ``!burst`` or characters one ``!big`` may ask for.
LARGEST: Final = 10_000_000


class DemoFeed:
    """The demo server: ``await nursery.start(feed.run)`` listens (``port`` 0: the OS chooses) and sets :attr:`port`."""

    def __init__(self, rate: float = 4.0, seed: int = 6455, host: str = "127.0.0.1", port: int = 0) -> None:
        self.rate = rate
        self.seed = seed
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The feed's URL (what ``wsdat demo``'s DAT watches)."""
        return self.base_url + FEED_PATH

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._serve, self.host, self.port, None)
            self.port = server.port
            task_status.started()

    async def _serve(self, request: WebSocketRequest) -> None:
        path, _, query = request.path.partition("?")
        feed = path == FEED_PATH
        rate = _rate(query, self.rate)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        connection = await request.accept()
        try:
            async with trio.open_nursery() as nursery:
                if feed:
                    nursery.start_soon(self._stream, connection, rate)
                await self._answer(connection, nursery, feed, headers)
        except* ConnectionClosed:  # the client went away (or !close): this connection is over, the server goes on
            pass

    async def _answer(self, connection: WebSocketConnection, nursery: trio.Nursery, feed: bool,
                      headers: dict[str, str]) -> None:
        while True:
            message = await connection.get_message()
            if isinstance(message, str) and message.startswith("!"):
                await self._command(connection, nursery, message, headers)
            elif feed:
                shown = message if isinstance(message, str) else f"{len(message)} bytes"
                await connection.send_message(_chat("server", f"got {shown!r}"))
            else:
                await connection.send_message(message)

    @staticmethod
    async def _command(connection: WebSocketConnection, nursery: trio.Nursery, line: str,
                       headers: dict[str, str]) -> None:
        command, *args = line.split(" ")
        try:
            if command == "!help":  # one message per command: a terminal shows each on its own line
                for usage, what in COMMANDS.items():
                    await connection.send_message(f"{usage:<21} {what}")
            elif command == "!burst" and len(args) == 2:
                for index in range(_count(args[0])):
                    await connection.send_message(f"{args[1]}-{index}")
            elif command == "!binary":
                await connection.send_message(bytes.fromhex("".join(args)))
            elif command == "!ping":
                nursery.start_soon(connection.ping, " ".join(args).encode("utf-8"))
            elif command == "!close" and args:
                await connection.aclose(int(args[0]), " ".join(args[1:]))
            elif command == "!big" and len(args) == 1:
                await connection.send_message("x" * _count(args[0]))
            elif command == "!headers":
                await connection.send_message(json.dumps(headers))
            else:
                await connection.send_message(f"unknown command {line!r}; try !help")
        except ValueError as exc:
            await connection.send_message(f"{command}: {exc}; try !help")

    async def _stream(self, connection: WebSocketConnection, rate: float) -> None:
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
                await connection.send_message(_chat(user, text))
            if tick % 9 == 0:
                await connection.send_message(b"".join(PACKED.pack(n[:4].encode(), v) for n, v in values.items()))
            if tick % 20 == 0:
                with trio.move_on_after(1):
                    await connection.ping(f"demo-{tick}".encode())
            await trio.sleep(1 / rate)


def _chat(user: str, text: str) -> str:
    return json.dumps({"type": "chat", "user": user, "text": text})


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > LARGEST:
        raise ValueError(f"{text!r} is not allowed; expected an integer from 0 to {LARGEST}")
    return int(text)


def _rate(query: str, default: float) -> float:
    """``?rate=R`` of a feed URL (messages per second, 0.1 to 10000), else ``default``."""
    for value in urllib.parse.parse_qs(query).get("rate", []):
        try:
            return min(10_000.0, max(0.1, float(value)))
        except ValueError:
            pass
    return default


class DemoCallbacks:
    """TouchDesigner-style callbacks for the demo DAT (undecorated methods named like TD's callbacks)."""

    def onConnect(self, dat: Any) -> None:
        dat.sendText("hello from wsdat")

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "reading":
            readings = dat.fetch("readings", {}, storeDefault=True)
            readings[data["sensor"]] = data["value"]
        elif data.get("type") == "chat" and "wsdat" in data.get("text", "") and data.get("user") != "server":
            dat.sendText(f"{data['user']}: thanks for trying wsdat")

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        dat.store("packed", [(tag.decode(), round(value, 2)) for tag, value in PACKED.iter_unpack(contents)])


async def serve_demo(feed: DemoFeed, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """``wsdat demo --serve``: the server alone, until cancelled; says where it listens on stdout."""
    async with trio.open_nursery() as nursery:
        await nursery.start(feed.run)
        print(f"wsdat demo: serving {feed.base_url}/ (every path answers !help; {FEED_PATH} streams a feed); "
              "Ctrl-C stops", flush=True)
        task_status.started()
