"""Raw-socket WebSocket servers that misbehave on purpose, written for the tests (no WebSocket library involved).

A server runs a *script*: an async function given the accepted stream and the parsed request. Helpers build
handshake answers and frames byte by byte, so any violation of RFC 6455 can be produced.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = False,
          length_form: str = "minimal") -> bytes:
    """One frame as a server would send it (unmasked unless ``masked``), any field settable; ``length_form`` "7",
    "16" or "64" writes the length in that form where it fits ("minimal": the shortest, as RFC 6455 requires)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length_form == "minimal":
        length_form = "7" if length < 126 else "16" if length < 65536 else "64"
    if length_form == "7" and length < 126:
        head += bytes([mask_bit | length])
    elif length_form in ("7", "16") and length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if masked:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def text(message: str) -> bytes:
    return frame(TEXT, message.encode())


def close(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


@dataclass
class Request:
    raw: bytes
    headers: dict[str, str]

    @property
    def key(self) -> bytes:
        return self.headers.get("sec-websocket-key", "").encode()


def handshake(request: Request, *, accept: bytes | None = None, extra: bytes = b"") -> bytes:
    accept = accept if accept is not None else accept_key(request.key)
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n")


async def read_request(stream: trio.abc.Stream) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    headers = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(data, headers)


def parse_client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of every complete client frame in ``data``."""
    frames = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        masked = data[1] & 0x80
        key = data[offset:offset + 4] if masked else b"\0\0\0\0"
        offset += 4 if masked else 0
        if len(data) < offset + length:
            break
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[offset:offset + length]))
        frames.append((opcode, payload))
        data = data[offset + length:]
    return frames


Script = Callable[[trio.SocketStream, Request], Awaitable[None]]


@dataclass
class HostileServer:
    """Runs ``script`` for every connection; keeps what clients sent after the handshake."""

    script: Script
    port: int = 0
    connections: int = 0
    received: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self, nursery: trio.Nursery) -> HostileServer:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]
        return self

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream:
            request = await read_request(stream)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.script(stream, request)

    def client_close_codes(self) -> list[int]:
        codes = []
        for data in self.received:
            for opcode, payload in parse_client_frames(data):
                if opcode == CLOSE and len(payload) >= 2:
                    codes.append(struct.unpack("!H", payload[:2])[0])
        return codes


async def drain(stream: trio.abc.Stream, server: HostileServer, seconds: float = 5.0) -> None:
    """Read what the client sends until it closes (or ``seconds`` pass), into ``server.received``."""
    data = b""
    with trio.move_on_after(seconds):
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
    server.received.append(data)
