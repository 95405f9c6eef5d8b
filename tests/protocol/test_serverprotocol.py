"""The server role's protocol decides exactly as wsproto alone (the oracle, a test dependency only): the same
messages, pings, pongs and end (the client's close code, or the code the connection is failed with), however the
bytes are cut into reads (hypothesis: random frames, simple and not, at random cuts); permessage-deflate offers are
agreed as RFC 7692 says."""

from __future__ import annotations

import itertools
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage

from wsdat_core.protocol.deflate import DeflateParams
from wsdat_core.protocol.serverhandshake import HandshakeRefused, agree_deflate, check_upgrade
from wsdat_core.protocol.serverprotocol import ServerProtocol

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


def with_protocol(data: bytes, cuts: list[int], limit: int = 1 << 20) -> list[tuple[str, Any]]:
    protocol, items = ServerProtocol(limit), []
    for chunk in split(data, cuts):
        items += [(kind.label, payload) for kind, payload in protocol.receive_data(chunk)]
        if not protocol.reading:
            break
    if protocol.failure is not None:
        items.append(("close", protocol.failure.code))
    elif protocol.close_received is not None:
        items.append(("close", protocol.close_received[0]))
    return items


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
    assert with_protocol(data, cuts) == alone(data, cuts)


def test_oversize_messages_and_fragment_floods_fail_with_1009() -> None:
    big = masked(BINARY, b"b" * (LIMIT + 1))  # wsproto alone has no limit: the server's is its own
    assert with_protocol(big, [5, 600], LIMIT) == [("close", 1009)]
    assert with_protocol(big + masked(TEXT, b"ok"), [5, 600], LIMIT + 1) == [("binary", b"b" * (LIMIT + 1)),
                                                                            ("text", "ok")]
    flood = masked(TEXT, b"", fin=False) + masked(CONTINUATION, b"", fin=False) * 2000
    protocol = ServerProtocol(LIMIT)
    protocol.receive_data(flood)
    assert protocol.failure is not None and protocol.failure.code == 1009


def test_upgrade_requests_are_checked() -> None:
    good = [("connection", "keep-alive, Upgrade"), ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-extensions", "permessage-deflate")]
    assert check_upgrade("GET", good) == ("dGhlIHNhbXBsZSBub25jZQ==", ["permessage-deflate"])
    for method, headers, status in (("POST", good, 405), ("GET", good[1:], 400),
                                    ("GET", [good[0], ("sec-websocket-version", "8"), good[2]], 426),
                                    ("GET", [*good[:2], ("sec-websocket-key", "short")], 400)):
        try:
            check_upgrade(method, headers)
        except HandshakeRefused as refusal:
            assert refusal.status == status
        else:
            raise AssertionError(f"{method} {headers} was not refused")


def test_deflate_offers_are_agreed_as_rfc_7692_says() -> None:
    assert agree_deflate([]) is None
    assert agree_deflate(["x-webkit-deflate-frame"]) is None
    assert agree_deflate(["permessage-deflate; client_max_window_bits"]) == DeflateParams(agreed="permessage-deflate")
    both = agree_deflate(["permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                          "server_max_window_bits=10; client_max_window_bits=9"])
    assert both == DeflateParams(True, True, 10, 9, "permessage-deflate; server_no_context_takeover; "
                                 "client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
    # an offer the server cannot honour is declined, the next one taken
    assert agree_deflate(["permessage-deflate; server_max_window_bits=7, permessage-deflate; mystery",
                          "permessage-deflate; server_no_context_takeover"]) == \
        DeflateParams(True, False, 15, 15, "permessage-deflate; server_no_context_takeover")
