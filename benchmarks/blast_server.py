"""A WebSocket server for benchmarks: plain sockets and threads, frames encoded by hand once and then written as fast
as loopback allows. It runs in its own process, so it does not share the client's core.

    python benchmarks/blast_server.py        # prints "PORT <n>", serves until killed

The request path picks what each connection gets:

  /blast?n=N&size=S&kind=text|binary   N pre-encoded messages of S bytes, then a close frame
  /blast?n=N&kind=json[&deflate=1&takeover=0|1]
                                       N different JSON messages of about 100 B (prices, as exchanges send them);
                                       with deflate=1 and a client that offers permessage-deflate, compressed with
                                       one compressor (context takeover, as most servers) or one per message
  /paced?n=N&rate=R&size=S             N text messages at R per second, each starting with time.monotonic_ns()
  /tick?interval=I                     one small text message every I seconds, until the client leaves
  /sink?n=N                            reads client frames; after N messages answers "done" and closes
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK = 1 << 20


def encode(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    first = 0x80 | opcode | (0x40 if rsv1 else 0)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 126, length)
    else:
        head = struct.pack("!BBQ", first, 127, length)
    return head + payload


def json_message(i: int) -> bytes:
    """About 100 B of JSON, different each time (as a price feed sends)."""
    return (f'{{"type":"trade","seq":{i},"symbol":"BTC-USD","price":{43000 + (i * 37) % 1000}.{i % 100:02d},'
            f'"qty":0.{(i * 7919) % 10000:04d},"side":"{"buy" if i % 3 else "sell"}","venue":"ex1"}}').encode()


def json_frames(n: int, deflate: bool, takeover: bool) -> bytes:
    """``n`` JSON messages as frames, compressed when ``deflate``, encoded before the clock starts."""
    frames = []
    compressor = zlib.compressobj(wbits=-15)
    for i in range(n):
        payload = json_message(i)
        if deflate:
            if not takeover:
                compressor = zlib.compressobj(wbits=-15)
            payload = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        frames.append(encode(0x1, payload, rsv1=deflate))
    return b"".join(frames)


def blast_json(conn: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        conn.sendall(view[start:start + CHUNK])
    finish(conn)


def handshake(conn: socket.socket, prepare: Callable[[str], None] = lambda target: None) -> str:
    """Answer the upgrade (agreeing to permessage-deflate when the target asks for it and the client offered it),
    after ``prepare(target)`` made what the connection will send: the client's clock starts with the answer.
    Returns the request target (with ``&negotiated=1`` when deflate was agreed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client left during the handshake")
        data += chunk
    lines = data.split(b"\r\n")
    target = lines[0].split()[1].decode()
    key = next(line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"sec-websocket-key"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    offered = any(line.lower().startswith(b"sec-websocket-extensions") and b"permessage-deflate" in line
                  for line in lines)
    wants = "deflate=1" in target
    extension = b""
    if offered and wants:
        takeover = "takeover=0" not in target
        extension = (b"Sec-WebSocket-Extensions: permessage-deflate"
                     + (b"" if takeover else b"; server_no_context_takeover") + b"\r\n")
    target += "&negotiated=1" if extension else ""
    prepare(target)
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extension + b"\r\n")
    return target


def finish(conn: socket.socket) -> None:
    """Close frame, wait for the client's close frame (or EOF), then close TCP first, as a server should."""
    conn.sendall(encode(0x8, struct.pack("!H", 1000)))
    conn.settimeout(10)
    with contextlib.suppress(OSError):
        conn.recv(65536)


def blast(conn: socket.socket, n: int, size: int, kind: str) -> None:
    frame = encode(0x1 if kind == "text" else 0x2, b"x" * size)
    per_chunk = max(1, CHUNK // len(frame))
    chunk = frame * per_chunk
    left = n
    while left >= per_chunk:
        conn.sendall(chunk)
        left -= per_chunk
    conn.sendall(frame * left)
    finish(conn)


def paced(conn: socket.socket, n: int, rate: float, size: int) -> None:
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0.0005:
            time.sleep(delay)
        stamp = str(time.monotonic_ns()).encode()
        conn.sendall(encode(0x1, stamp + b" " + b"x" * max(0, size - len(stamp) - 1)))
    finish(conn)


def tick(conn: socket.socket, interval: float) -> None:
    frame = encode(0x1, b"tick")
    try:
        while True:
            time.sleep(interval)
            conn.sendall(frame)
    except OSError:
        pass


def sink(conn: socket.socket, n: int) -> None:
    buffer = b""
    count = 0
    while count < n:
        data = conn.recv(1 << 20)
        if not data:
            return
        buffer += data
        offset = 0
        while len(buffer) - offset >= 6:  # client frames are masked: 2 + 4 bytes at least
            length = buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length, head = struct.unpack_from("!H", buffer, offset + 2)[0], 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length, head = struct.unpack_from("!Q", buffer, offset + 2)[0], 10
            total = head + 4 + length
            if len(buffer) - offset < total:
                break
            if buffer[offset] & 0x0F in (0x1, 0x2):
                count += 1
            offset += total
        buffer = buffer[offset:]
    conn.sendall(encode(0x1, b"done"))
    finish(conn)


def serve(conn: socket.socket) -> None:
    with conn:
        try:
            prepared: list[bytes] = []

            def prepare(raw: str) -> None:  # JSON frames are encoded (and compressed) before the clock starts
                parts = urlsplit(raw)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/blast" and query.get("kind") == "json":
                    prepared.append(json_frames(int(query["n"]), query.get("negotiated") == "1",
                                                query.get("takeover") != "0"))

            target = urlsplit(handshake(conn, prepare))
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            if target.path == "/blast" and query.get("kind") == "json":
                blast_json(conn, prepared[0])
            elif target.path == "/blast":
                blast(conn, int(query["n"]), int(query.get("size", 100)), query.get("kind", "text"))
            elif target.path == "/paced":
                paced(conn, int(query["n"]), float(query["rate"]), int(query.get("size", 100)))
            elif target.path == "/tick":
                tick(conn, float(query.get("interval", 1)))
            elif target.path == "/sink":
                sink(conn, int(query["n"]))
        except (OSError, ConnectionError):
            pass


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
