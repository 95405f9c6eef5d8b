"""Fuzzing the frames a server sends: random valid and invalid sequences, randomly split into TCP writes.

Invariant: no crash, no hang, and the rows are exactly the valid text messages completed before the first protocol
error. The oracle below is written from RFC 6455 independently of wsproto.
"""

from __future__ import annotations

import struct

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import wait_until

from .hostile import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, HostileServer, drain, frame, handshake

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]

# A piece is (frames as bytes, the text message it completes or None, whether it is a protocol error, ends stream)
messages = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@st.composite
def text_message(draw):
    message = draw(messages)
    data = message.encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    frames = b"".join(frame(TEXT if i == 0 else CONTINUATION, part, fin=i == len(parts) - 1)
                      for i, part in enumerate(parts))
    return frames, message, False, False


valid_pieces = st.one_of(
    text_message(),
    st.binary(max_size=40).map(lambda b: (frame(BINARY, b), None, False, False)),
    st.binary(max_size=125).map(lambda b: (frame(PING, b), None, False, False)),
    st.binary(max_size=125).map(lambda b: (frame(PONG, b), None, False, False)),
)
invalid_pieces = st.sampled_from([
    (frame(TEXT, b"\xff\xfe"), None, True, True),
    (frame(TEXT, b"x", masked=True), None, True, True),
    (frame(TEXT, b"x", rsv=0b010), None, True, True),
    (frame(0xB, b"x"), None, True, True),
    (frame(PING, b"x" * 126), None, True, True),
    (frame(PONG, b"x", fin=False), None, True, True),
    (frame(CONTINUATION, b"x"), None, True, True),
    (frame(CLOSE, b"\x03"), None, True, True),
    (frame(CLOSE, struct.pack("!H", 1004)), None, True, True),
    (frame(TEXT, b"open", fin=False) + frame(TEXT, b"again"), None, True, True),
])
close_pieces = st.sampled_from(VALID_CLOSE_CODES).map(
    lambda code: (frame(CLOSE, struct.pack("!H", code) + b"bye"), None, False, True))
sequences = st.lists(st.one_of(valid_pieces, valid_pieces, invalid_pieces, close_pieces), max_size=8)


def expected_rows(pieces) -> list[str]:
    rows = []
    for _, message, _invalid, ends in pieces:
        if ends:
            break
        if message is not None:
            rows.append(message)
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=sequences, split_seed=st.randoms(use_true_random=False))
async def test_random_frame_sequences(pieces, split_seed) -> None:
    payload = b"".join(p[0] for p in pieces)
    cuts = sorted(split_seed.sample(range(1, max(2, len(payload))), k=min(3, max(0, len(payload) - 1))))
    chunks = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    rows_seen: list[str] = []

    class Seen:
        def onReceiveText(self, message: str) -> None:
            rows_seen.append(message)

    async def script(stream: trio.SocketStream, request) -> None:
        await stream.send_all(handshake(request))
        for chunk in chunks:
            await stream.send_all(chunk)
            await trio.sleep(0.001)
        await drain(stream, server, seconds=0.2)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await HostileServer(script).start(nursery)
            dat = WebSocketDAT(netaddress=server.url, callbacks=[Seen()], reconnect=False, maxlines=100,
                               pinginterval=0)
            await nursery.start(dat.run)
            await wait_until(lambda: dat.info.disconnects == 1 or dat.stalled)
            expected = expected_rows(pieces)
            assert dat.col(0)[1:] == expected
            assert rows_seen == expected
            invalid_first = next((p[2] for p in pieces if p[2] or p[3]), False)
            if invalid_first:
                assert dat.info.errors >= 1
            nursery.cancel_scope.cancel()
