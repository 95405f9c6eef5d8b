"""permessage-deflate: the strict check of the server's answer (RFC 7692 section 5), the compressed fast path, the
inflated size bound across fragments (a ping between them included), and what the client sends compressed."""

from __future__ import annotations

import zlib

import pytest

from wsdat_core.model.events import EventKind
from wsdat_core.protocol.deflate import DeflateParams, Deflater, Inflater, NegotiationError, TooBig, negotiate

from ..integration.hostile import CONTINUATION, PING, parse_client_frames
from ..integration.hostile import frame as raw
from .streams import feed, opened

TEXT, BINARY = EventKind.TEXT, EventKind.BINARY


def deflated(compressor: zlib._Compress, payload: bytes) -> bytes:
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


# -- negotiation ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "params"), [
    ([], None),
    (["permessage-deflate"], DeflateParams()),
    (["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
     DeflateParams(True, True, agreed="permessage-deflate; server_no_context_takeover; client_no_context_takeover")),
    (['permessage-deflate; server_max_window_bits="10"; client_max_window_bits=9'],
     DeflateParams(server_max_window_bits=10, client_max_window_bits=9,
                   agreed='permessage-deflate; server_max_window_bits="10"; client_max_window_bits=9')),
    (["PerMessage-Deflate;Server_No_Context_Takeover"],
     DeflateParams(server_no_context_takeover=True, agreed="PerMessage-Deflate;Server_No_Context_Takeover")),
])
def test_valid_answers(values: list[str], params: DeflateParams | None) -> None:
    assert negotiate(values) == params


@pytest.mark.parametrize(("values", "why"), [
    (["permessage-deflate", "permessage-deflate"], "the server named permessage-deflate 2 times"),
    (["permessage-deflate, permessage-deflate; server_no_context_takeover"], "named permessage-deflate 2 times"),
    (["permessage-deflate; x_evil=1"], "the unknown parameter 'x_evil'"),
    (["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
     "parameter server_no_context_takeover twice"),
    (["permessage-deflate; server_max_window_bits=16"], "server_max_window_bits must be 8-15, the server gave '16'"),
    (["permessage-deflate; server_max_window_bits=7"], "must be 8-15, the server gave '7'"),
    (["permessage-deflate; client_max_window_bits"], "client_max_window_bits must be 8-15, the server gave None"),
    (["permessage-deflate; server_max_window_bits=ten"], "must be 8-15, the server gave 'ten'"),
    (["permessage-deflate; server_no_context_takeover=1"], "server_no_context_takeover takes no value"),
    (["x-webkit-deflate-frame"], "an extension that was not offered: x-webkit-deflate-frame"),
])
def test_answers_that_fail_the_connection(values: list[str], why: str) -> None:
    with pytest.raises(NegotiationError, match=why.replace("(", r"\(")):
        negotiate(values)


# -- inflating ------------------------------------------------------------------------------------------------------
def test_the_compressed_fast_path_with_context_takeover() -> None:
    protocol = opened(extensions="permessage-deflate")
    compressor = zlib.compressobj(wbits=-15)
    messages = [f'{{"price": {i}.25, "symbol": "BTC-USD"}}' for i in range(50)]
    stream = b"".join(raw(1, deflated(compressor, m.encode()), rsv=4) for m in messages)
    stream += raw(2, deflated(compressor, b"\x00\x01" * 40), rsv=4) + raw(1, b"plain too")
    assert feed(protocol, [stream]) == [(TEXT, m) for m in messages] + [(BINARY, b"\x00\x01" * 40),
                                                                       (TEXT, "plain too")]
    assert protocol.careful_frames == 0


def test_no_context_takeover_resets_the_inflater_per_message() -> None:
    protocol = opened(extensions="permessage-deflate; server_no_context_takeover")
    stream = b"".join(raw(1, deflated(zlib.compressobj(wbits=-15), b"same words " * 5), rsv=4) for _ in range(3))
    assert feed(protocol, [stream]) == [(TEXT, "same words " * 5)] * 3


@pytest.mark.parametrize("ping", [False, True], ids=["fragments", "a-ping-between"])
@pytest.mark.parametrize(("size", "refused"), [(100, False), (101, True)])
def test_the_inflated_size_is_bounded_across_fragments(size: int, refused: bool, ping: bool) -> None:
    # each fragment inflates to well under the limit; together they are exactly the limit, or one byte more
    data = deflated(zlib.compressobj(wbits=-15), bytes(range(size)))
    third = len(data) // 3
    stream = (raw(2, data[:third], fin=False, rsv=4) + (raw(PING, b"mid") if ping else b"")
              + raw(CONTINUATION, data[third:2 * third], fin=False) + raw(CONTINUATION, data[2 * third:]))
    protocol = opened(100, extensions="permessage-deflate")
    events = feed(protocol, [stream])
    pings = [(EventKind.PING, b"mid")] if ping else []
    if refused:
        assert events == pings
        assert protocol.end is not None and protocol.end.code == 1009
        assert protocol.end.fault == "message exceeds maxmessagesize 100 bytes once decompressed; closed with 1009"
    else:
        assert events == [*pings, (BINARY, bytes(range(size)))]


def test_a_bomb_stops_inflating_past_the_bound() -> None:
    inflater = Inflater(DeflateParams(), limit=1000)
    bomb = deflated(zlib.compressobj(wbits=-15), b"\x00" * 10_000_000)
    with pytest.raises(TooBig):
        inflater.whole(bomb)
    protocol = opened(1000, extensions="permessage-deflate")
    assert feed(protocol, [raw(2, bomb, rsv=4)]) == []
    assert protocol.end is not None and protocol.end.code == 1009


@pytest.mark.parametrize(("frame", "fault"), [
    (raw(1, b"a", fin=False, rsv=4) + raw(CONTINUATION, b"b", rsv=4), "RSV1 on a continuation frame"),
    (raw(PING, b"p", rsv=4), "RSV1 on a control frame"),
    (raw(1, b"a", rsv=2), "RSV2/RSV3 set without an extension"),
])
def test_rsv1_belongs_on_the_first_frame_of_a_data_message_only(frame: bytes, fault: str) -> None:
    protocol = opened(extensions="permessage-deflate")
    assert feed(protocol, [frame]) == []
    assert protocol.end is not None and (protocol.end.code, protocol.end.reason) == (1002, fault)


def test_data_that_is_not_deflate_fails_with_1007() -> None:
    protocol = opened(extensions="permessage-deflate")
    assert feed(protocol, [raw(1, b"\xff\xff\xff\xff", rsv=4)]) == []
    assert protocol.end is not None and protocol.end.code == 1007
    assert protocol.end.fault is not None and protocol.end.fault.startswith(
        "protocol error: invalid permessage-deflate data: ")


def test_compressed_invalid_utf8_fails_with_1007() -> None:
    protocol = opened(extensions="permessage-deflate")
    assert feed(protocol, [raw(1, deflated(zlib.compressobj(wbits=-15), b"ok\xff"), rsv=4)]) == []
    assert protocol.end is not None and protocol.end.code == 1007


# -- deflating ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("takeover", [True, False])
def test_sent_messages_are_compressed_and_inflate_back(takeover: bool) -> None:
    answer = "permessage-deflate" + ("" if takeover else "; client_no_context_takeover")
    protocol = opened(extensions=answer)
    inflater = zlib.decompressobj(wbits=-15)
    for text in ["hello " * 20, "hello " * 20, "é"]:
        frame = protocol.encode(TEXT, text)
        assert frame[0] == 0xC1  # FIN, RSV1, text
        ((_, payload),) = parse_client_frames(frame)
        if not takeover:
            inflater = zlib.decompressobj(wbits=-15)
        assert inflater.decompress(payload + b"\x00\x00\xff\xff").decode() == text
    assert protocol.encode(EventKind.PING, b"p")[0] == 0x89  # control frames never


def test_a_256_byte_window_sends_uncompressed() -> None:
    assert not Deflater(DeflateParams(client_max_window_bits=8)).enabled
    protocol = opened(extensions="permessage-deflate; client_max_window_bits=8")
    assert protocol.encode(TEXT, "x")[0] == 0x81
    assert Deflater(DeflateParams(client_max_window_bits=9)).enabled
