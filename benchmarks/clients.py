"""Receive and send loops measured by the benchmarks, one per process:

    python benchmarks/clients.py CLIENT URL N [--maxlines M] [--clamp/--no-clamp]

prints one JSON line: {"client", "messages", "seconds", "cpu_seconds", "rss_growth"} ("cpu_seconds" covers the
whole process, setup included). Every client counts N complete messages from
the moment its handshake finished. Clients:

  wsproto            the ceiling: a bare wsproto parse loop over a blocking socket
  trio-websocket     a plain trio-websocket get_message() loop
  websocket-client   websocket-client's recv() loop (blocking)
  websockets         websockets' asyncio client (with its C speedups), compression off
  websockets-deflate the same, compression on (permessage-deflate, as websockets offers by default)
  websockets-json    websockets, compression on, json.loads of every message
  picows-json        picows, json.loads of every message
  websockets-trio    websockets' trio client
  picows             picows (a Cython client on asyncio), when installed: counts whole single-frame messages
  wsdat              a WebSocketDAT (maxlines M, one no-op plugin on onReceiveText, info channels on)
  wsdat-json         the same, the plugin doing json.loads of every message
  wsdat-send-await   N text messages through `await dat.send_text`, until the server's "done"
  websockets-send    N text messages through websockets' `await ws.send`, until the server's "done"
  wsproto-send       N text messages sent by a bare wsproto loop to /sink, until the server's "done"
  wsdat-send         the same through dat.sendText
  wsdat-latency      /paced messages: server-send to hook-call latency, p50/p99 in microseconds
  wsdat-many         N DATs in one process on a /tick feed: CPU % of one core and RSS
  rows               no network: N fresh 100 B strings appended to a deque of maxlen M (what keeping rows costs)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit


def use_source(source: str) -> None:
    """Import wsdat_core from the checkout ``source`` (a baseline) instead of the installed, editable one: its
    editable finder would otherwise answer first."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in type(finder).__module__.lower()
                        and "editable" not in getattr(finder, "__name__", "").lower()]
    sys.path.insert(0, source)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


# ------------------------------------------------------------------------------------------------------- baselines
def _wsproto_connect(url: str) -> tuple[socket.socket, object]:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=f"{parts.hostname}:{parts.port}", target=f"{parts.path}?{parts.query}")))
    while True:
        ws.receive_data(sock.recv(65536))
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return sock, ws


def wsproto_loop(url: str, n: int, **_: object) -> float:
    from wsproto.events import BytesMessage, CloseConnection, TextMessage

    sock, ws = _wsproto_connect(url)
    start = time.perf_counter()
    count = 0
    parts: list = []
    while count < n:
        data = sock.recv(65536)
        if not data:
            break
        ws.receive_data(data)  # type: ignore[attr-defined]
        for event in ws.events():  # type: ignore[attr-defined]
            if isinstance(event, (TextMessage, BytesMessage)):
                if event.message_finished:
                    message = (b"" if isinstance(event, BytesMessage) else "").join([*parts, event.data]) \
                        if parts else event.data
                    parts = []
                    count += 1
                    del message
                else:
                    parts.append(event.data)
            elif isinstance(event, CloseConnection):
                break
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed


def trio_websocket_loop(url: str, n: int, **_: object) -> float:
    import trio
    from trio_websocket import open_websocket_url

    async def run() -> float:
        async with open_websocket_url(url, max_message_size=1 << 24) as ws:
            start = time.perf_counter()
            for _ in range(n):
                await ws.get_message()
            return time.perf_counter() - start

    return trio.run(run)


def websocket_client_loop(url: str, n: int, **_: object) -> float:
    import websocket

    ws = websocket.create_connection(url)
    start = time.perf_counter()
    for _ in range(n):
        ws.recv()
    elapsed = time.perf_counter() - start
    ws.close()
    return elapsed


def websockets_loop(url: str, n: int, deflate: bool = False, parse: bool = False, **_: object) -> float:
    import asyncio
    import json

    from websockets.asyncio.client import connect

    async def run() -> float:
        async with connect(url, max_size=None, ping_interval=None,
                           compression="deflate" if deflate else None) as ws:
            start = time.perf_counter()
            if parse:
                loads = json.loads
                for _ in range(n):
                    loads(await ws.recv())
            else:
                for _ in range(n):
                    await ws.recv()
            return time.perf_counter() - start

    return asyncio.run(run())


def websockets_send_loop(url: str, n: int, **_: object) -> float:
    import asyncio

    from websockets.asyncio.client import connect

    async def run() -> float:
        async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
            message = "x" * 100
            start = time.perf_counter()
            for _ in range(n):
                await ws.send(message)
            await ws.recv()  # the server's "done": it has them all
            return time.perf_counter() - start

    return asyncio.run(run())


def websockets_trio_loop(url: str, n: int, **_: object) -> float:
    import trio
    from websockets.trio.client import connect

    async def run() -> float:
        async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
            start = time.perf_counter()
            for _ in range(n):
                await ws.recv()
            return time.perf_counter() - start

    return trio.run(run)


def picows_loop(url: str, n: int, parse: bool = False, **_: object) -> float:
    import asyncio
    import json

    from picows import WSListener, WSMsgType, ws_connect

    class Counter(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.count = 0
            self.start = 0.0
            self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def on_ws_frame(self, transport: object, frame: object) -> None:
            kind = frame.msg_type  # type: ignore[attr-defined]
            if kind == WSMsgType.TEXT:
                text = frame.get_payload_as_utf8_text()  # type: ignore[attr-defined]  # as the others, decode
                if parse:
                    json.loads(text)
            elif kind != WSMsgType.BINARY:
                return
            self.count += 1
            if self.count == n and not self.done.done():
                self.done.set_result(time.perf_counter() - self.start)

    async def run() -> float:
        transport, client = await ws_connect(Counter, url, max_frame_size=1 << 30)
        client.start = time.perf_counter()
        elapsed: float = await client.done
        transport.disconnect()
        return elapsed

    return asyncio.run(run())


# ---------------------------------------------------------------------------------------------------------- wsdat
def wsdat_loop(url: str, n: int, maxlines: int = 100, clamp: bool = True, parse: bool = False,
               **_: object) -> dict[str, float]:
    import json

    import trio

    from wsdat_core import WebSocketDAT

    result: list[float] = []
    table_growth: list[int] = []
    start = 0.0
    table_before = 0

    async def run() -> None:
        nonlocal start, table_before

        class NoOp:
            def onReceiveText(self, message: str) -> None:
                pass

        loads = json.loads

        class Parse:
            def onReceiveText(self, message: str) -> None:
                loads(message)

        class Finish:  # not on the per-message path: the DAT says when the connection ends
            def onDisconnect(self) -> None:
                result.append(time.perf_counter() - start)
                table_growth.append(rss_bytes() - table_before)
                nursery.cancel_scope.cancel()

        hook = Parse() if parse else NoOp()
        dat = WebSocketDAT(netaddress=url, maxlines=maxlines, clamp=clamp, callbacks=[hook, Finish()],
                           reconnect=False, pinginterval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            start = time.perf_counter()
            table_before = rss_bytes()
        assert dat.info.messages_received == n, dat.info

    trio.run(run)
    return {"seconds": result[0], "table_rss_growth": table_growth[0]}


def rows_loop(url: str, n: int, maxlines: int = 100, clamp: bool = True, **_: object) -> float:
    """The cost of keeping rows alone: each message a fresh str decoded from bytes, as the DAT's are, held in a
    deque bounded as its table is (the URL is not used)."""
    from collections import deque

    payload = b"x" * 100
    rows: deque[str] = deque(maxlen=maxlines if clamp else None)
    append = rows.append
    start = time.perf_counter()
    for _ in range(n):
        append(str(payload, "utf-8"))
    return time.perf_counter() - start


def wsproto_send_loop(url: str, n: int, **_: object) -> float:
    from wsproto.events import TextMessage

    sock, ws = _wsproto_connect(url)
    message = "x" * 100
    start = time.perf_counter()
    for _ in range(n):
        sock.sendall(ws.send(TextMessage(data=message)))  # type: ignore[attr-defined]
    while b"done" not in sock.recv(65536):
        pass
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed


def wsdat_send_loop(url: str, n: int, **_: object) -> float:
    import trio

    from wsdat_core import WebSocketDAT

    result: list[float] = []

    async def run() -> None:
        message = "x" * 100
        # the whole run fits the queue (by count and by bytes): the loop measures sending, not refusals
        dat = WebSocketDAT(netaddress=url, sendqueuesize=n + 1, sendqueuebytes=2 * n * len(message) + 1024,
                           reconnect=False, pinginterval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            start = time.perf_counter()
            for _ in range(n):
                if dat.sendText(message) < 0:
                    raise SystemExit(f"sendText refused a message: {dat.last_error}")
            while dat.numRows < 2 and dat.info.state == "open":
                await trio.sleep(0.0005)
            result.append(time.perf_counter() - start)
            nursery.cancel_scope.cancel()

    trio.run(run)
    return result[0]


def wsdat_send_await_loop(url: str, n: int, **_: object) -> float:
    import trio

    from wsdat_core import WebSocketDAT

    result: list[float] = []

    async def run() -> None:
        message = "x" * 100
        dat = WebSocketDAT(netaddress=url, reconnect=False, pinginterval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            start = time.perf_counter()
            for _ in range(n):
                await dat.send_text(message)
            while dat.numRows < 2 and dat.info.state == "open":  # the server's "done"
                await trio.sleep(0.0005)
            result.append(time.perf_counter() - start)
            nursery.cancel_scope.cancel()

    trio.run(run)
    return result[0]


def wsdat_latency(url: str, n: int, **_: object) -> dict[str, float]:
    import trio

    from wsdat_core import WebSocketDAT

    samples: list[int] = []

    class Stamp:
        def onReceiveText(self, message: str) -> None:
            samples.append(time.monotonic_ns() - int(message[: message.index(" ")]))

    async def run() -> None:
        dat = WebSocketDAT(netaddress=url, callbacks=[Stamp()], reconnect=False, pinginterval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            while len(samples) < n and dat.info.state == "open":
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(run)
    ordered = sorted(samples[len(samples) // 10:])  # the first tenth warms up
    return {"p50_us": ordered[len(ordered) // 2] / 1000, "p99_us": ordered[int(len(ordered) * 0.99)] / 1000,
            "max_us": ordered[-1] / 1000}


def wsdat_many(url: str, n: int, window: float = 20.0, **_: object) -> dict[str, float]:
    """``n`` DATs in one process, each on its own connection to ``url`` (a /tick feed); CPU and RSS over ``window``."""
    import trio

    from wsdat_core import WebSocketDAT

    outcome: dict[str, float] = {}

    async def run() -> None:
        dats = [WebSocketDAT(f"dat{i}", netaddress=url, maxlines=100, reconnect=False) for i in range(n)]
        async with trio.open_nursery() as nursery:
            for dat in dats:
                await nursery.start(dat.run)
            assert all(dat.connected for dat in dats), "not every DAT connected"
            await trio.sleep(2)  # settle
            received = sum(dat.info.messages_received for dat in dats)
            cpu, wall = time.process_time(), time.perf_counter()
            await trio.sleep(window)
            outcome["cpu_percent"] = 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
            outcome["messages_per_second"] = (sum(d.info.messages_received for d in dats) - received) / window
            outcome["rss_mib"] = rss_bytes() / 2**20
            outcome["connected"] = sum(dat.connected for dat in dats)
            nursery.cancel_scope.cancel()

    trio.run(run)
    return outcome


CLIENTS: dict[str, Callable[..., object]] = {
    "wsproto": wsproto_loop,
    "trio-websocket": trio_websocket_loop,
    "websocket-client": websocket_client_loop,
    "websockets": websockets_loop,
    "websockets-deflate": functools.partial(websockets_loop, deflate=True),
    "websockets-json": functools.partial(websockets_loop, deflate=True, parse=True),
    "websockets-send": websockets_send_loop,
    "websockets-trio": websockets_trio_loop,
    "picows": picows_loop,
    "picows-json": functools.partial(picows_loop, parse=True),
    "wsdat": wsdat_loop,
    "wsdat-json": functools.partial(wsdat_loop, parse=True),
    "wsdat-send-await": wsdat_send_await_loop,
    "wsproto-send": wsproto_send_loop,
    "wsdat-send": wsdat_send_loop,
    "wsdat-latency": wsdat_latency,
    "wsdat-many": wsdat_many,
    "rows": rows_loop,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("--maxlines", type=int, default=100)
    parser.add_argument("--clamp", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if os.environ.get("WSDAT_BENCH_SOURCE"):
        use_source(os.environ["WSDAT_BENCH_SOURCE"])
    before = rss_bytes()
    cpu = time.process_time()
    outcome = CLIENTS[args.client](args.url, args.n, maxlines=args.maxlines, clamp=args.clamp)
    record = {"client": args.client, "messages": args.n, "rss_growth": rss_bytes() - before,
              "cpu_seconds": time.process_time() - cpu}
    record.update(outcome if isinstance(outcome, dict) else {"seconds": outcome})
    print(json.dumps(record))


if __name__ == "__main__":
    sys.exit(main())
