"""The Web Server DAT against a `websockets` (asyncio) server doing the same, ratios measured in the same run.

    python benchmarks/server_bench.py [--repeat 5] [--quick]

* **receive**: 10 clients each send N text messages of 100 B as fast as loopback allows; the server counts them (ours:
  a ``WebServerDAT`` with its table, info channels and one plain ``onWebSocketReceiveText`` callback; theirs: an
  ``async for message in websocket`` loop). Measured in the server, from the first message to the last.
* **broadcast**: 100 clients connected; the server sends N messages of 100 B to all of them (ours: ``broadcastText``;
  theirs: ``websockets.broadcast``), yielding to the event loop every 16 messages. Measured in the clients' process,
  from the first byte to the last.

Servers and clients run in processes of their own; clients are raw sockets sending pre-encoded frames and counting
received bytes, so they cost the same against both servers. Repetitions interleave the servers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MESSAGE = "x" * 100
FRAME_SIZE = 2 + len(MESSAGE)  # an unmasked server frame of 100 B
YIELD_EVERY = 16


# ------------------------------------------------------------------------------------------------------ the clients
def handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(mask * (len(payload) // 4 + 1), "little")
              ).to_bytes(len(payload) + 4, "little")[:len(payload)]
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def blast_clients(port: int, n: int, clients: int) -> None:
    """``clients`` connections each sending ``n`` messages at once (every frame encoded before the clock)."""
    socks = [handshake(port) for _ in range(clients)]
    blob = masked_frame(MESSAGE.encode()) * n
    threads = [threading.Thread(target=sock.sendall, args=(blob,)) for sock in socks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(1.0)  # the server reads the rest before the sockets close
    for sock in socks:
        sock.close()


def read_clients(port: int, n: int, clients: int) -> None:
    """``clients`` connections reading ``n`` frames of 100 B each; prints the seconds from first byte to last."""
    socks = [handshake(port) for _ in range(clients)]
    expected = n * FRAME_SIZE
    left = dict.fromkeys(socks, expected)
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    print("READY", flush=True)
    buffer = bytearray(1 << 20)
    first = None
    while left:
        for key, _ in selector.select(timeout=30):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            count = sock.recv_into(buffer)
            if first is None:
                first = time.perf_counter()
            left[sock] -= count
            if left[sock] <= 0:
                selector.unregister(sock)
                del left[sock]
    assert first is not None
    print(json.dumps({"seconds": time.perf_counter() - first}), flush=True)
    for sock in socks:
        sock.close()


# ------------------------------------------------------------------------------------------------------ the servers
def serve_wsdat(mode: str, n: int, clients: int) -> None:
    import trio

    from wsdat_core import WebServerDAT

    total = n * clients
    done = trio.Event()
    stamps: list[float] = []

    class Count:
        def __init__(self) -> None:
            self.count = 0

        def onWebSocketReceiveText(self, client: Any, data: str) -> None:
            self.count += 1
            if self.count == 1:
                stamps.append(time.perf_counter())
            if self.count == total:
                stamps.append(time.perf_counter())
                done.set()

    async def main() -> None:
        server = WebServerDAT(port=0, callbacks=[Count()], pinginterval=0, compression="off", maxclients=clients)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            print("PORT", server.url.rstrip("/").rsplit(":", 1)[1], flush=True)
            if mode == "receive":
                await done.wait()
                print(json.dumps({"seconds": stamps[1] - stamps[0]}), flush=True)
            else:
                while server.info.clients < clients:
                    await trio.sleep(0.01)
                await trio.sleep(0.2)
                for index in range(n):
                    server.broadcastText(MESSAGE)
                    if index % YIELD_EVERY == YIELD_EVERY - 1:
                        await trio.sleep(0)
                while server.info.clients:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)


def serve_websockets(mode: str, n: int, clients: int) -> None:
    import asyncio

    import websockets
    from websockets.asyncio.server import serve

    total = n * clients
    stamps: list[float] = []
    count = 0

    async def main() -> None:
        done = asyncio.Event()
        gone = asyncio.Event()

        async def receive(websocket: Any) -> None:
            nonlocal count
            with contextlib.suppress(websockets.ConnectionClosed):  # the clients leave without a close frame
                async for _ in websocket:
                    count += 1
                    if count == 1:
                        stamps.append(time.perf_counter())
                    if count == total:
                        stamps.append(time.perf_counter())
                        done.set()

        async def hold(websocket: Any) -> None:
            await websocket.wait_closed()
            if not server.connections - {websocket}:
                gone.set()

        async with serve(receive if mode == "receive" else hold, "127.0.0.1", 0, ping_interval=None,
                         compression=None, max_queue=None) as server:
            print("PORT", server.sockets[0].getsockname()[1], flush=True)
            if mode == "receive":
                await done.wait()
                print(json.dumps({"seconds": stamps[1] - stamps[0]}), flush=True)
                return
            while len(server.connections) < clients:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            for index in range(n):
                websockets.broadcast(server.connections, MESSAGE)
                if index % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)
            await gone.wait()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------------ one run
def one_run(server: str, mode: str, n: int, clients: int) -> float:
    process = subprocess.Popen([sys.executable, __file__, f"serve-{server}", mode, str(n), str(clients)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        port = int(process.stdout.readline().split()[1])
        if mode == "receive":
            blast_clients(port, n, clients)
            result = json.loads(process.stdout.readline())
        else:
            reader = subprocess.run([sys.executable, __file__, "read-clients", str(port), str(n), str(clients)],
                                    capture_output=True, text=True, timeout=300)
            result = json.loads(reader.stdout.strip().splitlines()[-1])
        return float(result["seconds"])
    finally:
        process.wait(30)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1].startswith(("serve-", "read-clients")):
        role, *rest = sys.argv[1:]
        if role == "read-clients":
            read_clients(int(rest[0]), int(rest[1]), int(rest[2]))
        elif role == "serve-wsdat":
            serve_wsdat(rest[0], int(rest[1]), int(rest[2]))
        else:
            serve_websockets(rest[0], int(rest[1]), int(rest[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer messages and 3 repetitions")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    cases = [("receive", 2_000 if args.quick else 10_000, 10, "messages received per second from 10 clients"),
             ("broadcast", 500 if args.quick else 2_000, 100, "broadcast of 100 B messages to 100 clients")]
    print(f"{'case':<50} {'wsdat/s':>10} {'websockets/s':>13} {'ratio min':>9} {'median':>7} {'max':>6}")
    for mode, n, clients, title in cases:
        ours, theirs, ratios = [], [], []
        for _ in range(repeat):
            wsdat_rate = n * (clients if mode == "receive" else 1) / one_run("wsdat", mode, n, clients)
            websockets_rate = n * (clients if mode == "receive" else 1) / one_run("websockets", mode, n, clients)
            ours.append(wsdat_rate)
            theirs.append(websockets_rate)
            ratios.append(wsdat_rate / websockets_rate)
        unit = "msg/s" if mode == "receive" else "broadcasts/s"
        print(f"{title:<50} {statistics.median(ours):>10.0f} {statistics.median(theirs):>13.0f} "
              f"{min(ratios):>9.2f} {statistics.median(ratios):>7.2f} {max(ratios):>6.2f}  ({unit}; target >= 1.0: "
              f"{'ok' if statistics.median(ratios) >= 1.0 else 'MISSED'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
