"""Helpers for the protocol's tests: an open :class:`ClientProtocol` without a network, and feeding it in pieces."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable

from wsdat_core.model.events import Batch, EventKind
from wsdat_core.protocol.client import ClientProtocol
from wsdat_core.protocol.handshake import HandshakeRequest, accept_key

RANDOM = b"k"


def fixed_random(size: int) -> bytes:
    return RANDOM * size


def answer(extensions: str = "", key: bytes = base64.b64encode(RANDOM * 16)) -> bytes:
    """The server's 101 answer to a request made with :func:`fixed_random`."""
    extra = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n" + extra.encode() + b"\r\n")


def opened(limit: int = 16 * 1024 * 1024, extensions: str = "") -> ClientProtocol:
    """A protocol past its handshake (permessage-deflate agreed when ``extensions`` names it)."""
    protocol = ClientProtocol(HandshakeRequest("example.com", "/feed", compression=bool(extensions)),
                              max_message_size=limit, random=fixed_random)
    protocol.connect()
    assert protocol.receive_data(answer(extensions)) == []
    return protocol


def flatten(batches: Iterable[Batch]) -> list[tuple[EventKind, object]]:
    return [(run.kind, payload) for batch in batches for run in batch for payload in run.payloads]


def pieces(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``stream`` cut at ``cuts`` (clamped, deduplicated): the reads a server's writes become."""
    points = sorted({min(max(cut, 0), len(stream)) for cut in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points) if b > a]


def feed(protocol: ClientProtocol, reads: Iterable[bytes]) -> list[tuple[EventKind, object]]:
    return flatten(protocol.receive_data(data) for data in reads)
