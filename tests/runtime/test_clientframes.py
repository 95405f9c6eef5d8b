"""The server's receive fast path decides exactly as wsproto alone: the same messages, pings, pongs and failure
(close code), however the bytes are cut into reads (hypothesis: random frames, simple and not, at random cuts)."""

from __future__ import annotations

import itertools
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage

from wsdat_core.runtime.clientframes import HOLD_LIMIT, ClientFrameReader

from ..integration.hostile import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, frame

LIMIT = 1000


def server() -> WSConnection:
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert isinstance(next(ws.events()), Request)
    ws.send(AcceptConnection())
    return ws


class Collected:
    """wsproto's events as whole messages, in order, up to the first close."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.parts: list[Any] = []
        self.closed = False

    def take(self, ws: WSConnection) -> None:
        for event in ws.events():
            if self.closed:
                return
            if isinstance(event, (TextMessage, BytesMessage)):
                self.parts.append(event.data)
                if event.message_finished:
                    joined = "".join(self.parts) if isinstance(event, TextMessage) else bytes(b"".join(self.parts))
                    self.items.append(("text" if isinstance(event, TextMessage) else "binary", joined))
                    self.parts = []
            elif isinstance(event, (Ping, Pong)):
                self.items.append((type(event).__name__.lower(), bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self.items.append(("close", event.code))
                self.closed = True


def alone(data: bytes, cuts: list[int]) -> list[tuple[str, Any]]:
    ws, seen = server(), Collected()
    for chunk in split(data, cuts):
        if seen.closed:
            break
        ws.receive_data(chunk)
        seen.take(ws)
    return seen.items


def with_reader(data: bytes, cuts: list[int]) -> list[tuple[str, Any]]:
    ws, seen, reader = server(), Collected(), ClientFrameReader(LIMIT)

    def append(item: tuple[Any, Any]) -> None:
        assert not seen.parts, "a fast-path message inside a fragmented one"
        seen.items.append((item[0].label, item[1]))

    for chunk in split(data, cuts):
        if seen.closed:
            break
        reader.feed(chunk)
        while not seen.closed and (handed := reader.next(append)) is not None:
            ws.receive_data(handed)
            seen.take(ws)
    return seen.items


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def masked(opcode: int, payload: bytes, **kwargs: Any) -> bytes:
    return frame(opcode, payload, masked=True, **kwargs)


FRAMES = st.one_of(
    st.text(max_size=300).map(lambda t: masked(TEXT, t.encode())),
    st.binary(max_size=1200).map(lambda b: masked(BINARY, b)),
    st.binary(max_size=125).map(lambda b: masked(PING, b)),
    st.binary(max_size=125).map(lambda b: masked(PONG, b)),
    st.tuples(st.text(max_size=50), st.text(max_size=50)).map(
        lambda p: masked(TEXT, p[0].encode(), fin=False) + masked(PING, b"in between") + masked(CONTINUATION,
                                                                                              p[1].encode())),
    st.binary(min_size=1, max_size=40).map(lambda b: masked(TEXT, b"ok" + b"\xff" + b)),  # invalid UTF-8: 1007
    st.binary(max_size=40).map(lambda b: frame(TEXT, b)),  # not masked: 1002
    st.binary(max_size=40).map(lambda b: masked(BINARY, b, length_form="16")),  # not minimal: 1002
    st.binary(max_size=40).map(lambda b: masked(TEXT, b, rsv=4)),  # RSV1 without an extension: 1002
    st.just(masked(CLOSE, struct.pack("!H", 1000) + b"bye")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAMES, max_size=8), st.lists(st.integers(min_value=0, max_value=20000), max_size=12))
def test_the_fast_path_decides_as_wsproto_alone(frames: list[bytes], cuts: list[int]) -> None:
    data = b"".join(frames)
    assert with_reader(data, cuts) == alone(data, cuts)


def test_oversize_and_large_frames_go_to_wsproto_whole_or_streamed() -> None:
    big = masked(BINARY, b"b" * (LIMIT + 1))  # above the fast path's limit: wsproto decides (the link closes 1009)
    assert with_reader(big + masked(TEXT, b"after"), [5, 600]) == alone(big + masked(TEXT, b"after"), [5, 600])
    reader = ClientFrameReader(HOLD_LIMIT * 4)
    huge = masked(BINARY, b"h" * (HOLD_LIMIT + 10))
    reader.feed(huge[:1000])
    handed = reader.next(lambda item: None)
    assert handed == huge[:1000]  # not held: streamed through wsproto as it arrives
    reader.feed(huge[1000:])
    assert reader.next(lambda item: None) == huge[1000:]
