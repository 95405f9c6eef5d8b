"""Clients for the Web Server DAT's tests, written for the tests: a raw WebSocket client over a trio stream (every
frame built and read byte by byte, so pongs can be counted and the protocol broken on purpose) and a plain HTTP
client (h11), plus a fixture-like helper that runs a server for a test."""

from __future__ import annotations

import base64
import os
import ssl
import struct
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import h11
import trio

from wsdat_core import WebServerDAT, open_server

from .hostile import BINARY, CLOSE, PING, PONG, TEXT, frame

__all__ = ["BINARY", "CLOSE", "PING", "PONG", "TEXT", "HTTPAnswer", "RawClient", "http", "running_server"]


@asynccontextmanager
async def running_server(**params: Any) -> AsyncIterator[WebServerDAT]:
    """A :class:`WebServerDAT` on a free loopback port, listening for the block and stopped after it."""
    async with open_server(**{"port": 0, **params}) as server:
        yield server


def port_of(server: WebServerDAT) -> int:
    return int(server.url.rstrip("/").rsplit(":", 1)[1])


class RawClient:
    """A WebSocket client on a raw stream: sends masked frames as given, reads the server's frames one by one."""

    def __init__(self, stream: trio.abc.Stream, response: bytes) -> None:
        self.stream = stream
        self.response = response
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, port: int, path: str = "/", *, headers: Sequence[str] = (), deflate: bool = False,
                      tls: ssl.SSLContext | None = None) -> RawClient:
        stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
        if tls is not None:
            stream = trio.SSLStream(stream, tls, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16))
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13", *headers]
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate")
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        client = cls(stream, b"")
        client.response = await client._read_head()
        return client

    async def _read_head(self) -> bytes:
        while b"\r\n\r\n" not in self._buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                break
            self._buffer += chunk
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        self._buffer = bytearray(rest)
        return head

    @property
    def name(self) -> str:
        """How the server names this client: its address and port (``Client``'s text)."""
        transport: Any = getattr(self.stream, "transport_stream", self.stream)
        host, port = transport.socket.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1]) if self.response else 0

    async def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True) -> None:
        await self.stream.send_all(frame(opcode, payload, fin=fin, masked=masked))

    async def send_text(self, message: str) -> None:
        await self.send_frame(TEXT, message.encode())

    async def send_close(self, code: int = 1000, reason: bytes = b"") -> None:
        await self.send_frame(CLOSE, struct.pack("!H", code) + reason)

    async def recv_frame(self) -> tuple[int, bytes]:
        """The next frame of the server: ``(opcode, payload)``; ``(-1, b"")`` when the connection ended."""
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            try:
                chunk = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                return -1, b""
            self._buffer += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        data = self._buffer
        if len(data) < 2:
            return None
        assert not data[1] & 0x80, "a server frame must not be masked"
        length, offset = data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < offset + length:
            return None
        opcode, payload = data[0] & 0x0F, bytes(data[offset:offset + length])
        del data[:offset + length]
        return opcode, payload

    async def recv_text(self) -> str:
        opcode, payload = await self.recv_frame()
        assert opcode == TEXT, (opcode, payload)
        return payload.decode()

    async def frames_until_close(self) -> list[tuple[int, bytes]]:
        """Every frame up to and including the server's close frame (or the end of the connection)."""
        frames = []
        while True:
            opcode, payload = await self.recv_frame()
            frames.append((opcode, payload))
            if opcode in (CLOSE, -1):
                return frames

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005


@dataclass
class HTTPAnswer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


async def http(port: int, method: str = "GET", target: str = "/", *, headers: Sequence[tuple[str, str]] = (),
               body: bytes = b"", tls: ssl.SSLContext | None = None, requests: int = 1) -> list[HTTPAnswer]:
    """Send ``requests`` identical requests on one keep-alive connection; every answer, in order."""
    stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
    if tls is not None:
        stream = trio.SSLStream(stream, tls, server_hostname="localhost")
    connection = h11.Connection(h11.CLIENT)
    answers = []
    async with stream:
        for _ in range(requests):
            all_headers = [("Host", f"localhost:{port}"), *headers]
            if body:
                all_headers.append(("Content-Length", str(len(body))))
            data = connection.send(h11.Request(method=method, target=target, headers=all_headers))
            if body:
                data += connection.send(h11.Data(data=body))
            data += connection.send(h11.EndOfMessage())
            await stream.send_all(data)
            response: Any = None
            content = bytearray()
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    content += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            answers.append(HTTPAnswer(response.status_code, response.reason.decode(),
                                      {k.decode(): v.decode() for k, v in response.headers.raw_items()},
                                      bytes(content)))
            if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                break
            connection.start_next_cycle()
    return answers
