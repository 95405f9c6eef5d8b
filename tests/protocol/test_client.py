"""The client protocol's laws, frame by frame: what the fast loop decodes, what the careful path reads, runs, limits,
close frames and failures (RFC 6455 7.1.7). No network: bytes in, runs out.

The fast loop is held to its promise here, because only this level can tell a fast path that quietly stopped being
fast (the careful path would deliver the same messages): a whole simple frame within the limit never reaches the
careful path, and a frame cut by a read costs at most that one frame.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsdat_core.model.closing import ClosedBy, ConnectionEnd
from wsdat_core.model.errors import ConnectionClosedError
from wsdat_core.model.events import EventKind, Received
from wsdat_core.protocol.client import State
from wsdat_core.protocol.frames import fragment_limit

from ..integration.hostile import CLOSE, CONTINUATION, PING, PONG, parse_client_frames
from ..integration.hostile import frame as raw
from .streams import feed, opened, pieces

TEXT, BINARY = EventKind.TEXT, EventKind.BINARY


# -- the fast loop ----------------------------------------------------------------------------------------------------
def test_simple_frames_are_decoded_in_runs_of_their_kind() -> None:
    protocol = opened()
    batch = protocol.receive_data(raw(1, "héllo".encode()) + raw(1, b"x" * 130) + raw(2, b"\x00\x01")
                                  + raw(PING, b"p") + raw(1, b"end"))
    assert batch == [Received(TEXT, ["héllo", "x" * 130]), Received(BINARY, [b"\x00\x01"]),
                     Received(EventKind.PING, [b"p"]), Received(TEXT, ["end"])]
    assert all(type(payload) in (str, bytes) for run in batch for payload in run.payloads)
    assert protocol.careful_frames == 1  # the ping


@pytest.mark.parametrize("limit", [0, 1, 125, 126, 200, 65535, 65536, 70000])
def test_a_frame_of_exactly_the_limit_is_decoded_on_the_fast_loop(limit: int) -> None:
    for opcode, kind, payload in ((1, TEXT, "t" * limit), (2, BINARY, b"b" * limit)):
        protocol = opened(limit)
        data = payload.encode() if isinstance(payload, str) else payload
        assert feed(protocol, [raw(opcode, data)]) == [(kind, payload)]
        assert protocol.careful_frames == 0, (limit, kind)


@pytest.mark.parametrize("limit", [0, 1, 125, 126, 200, 65535, 65536])
def test_a_frame_one_byte_over_the_limit_fails_with_1009(limit: int) -> None:
    for opcode in (1, 2):
        protocol = opened(limit)
        assert feed(protocol, [raw(opcode, b"o" * (limit + 1)) + raw(1, b"never")]) == []
        assert protocol.end == ConnectionEnd(
            ClosedBy.WSDAT, 1009, f"message of at least {limit + 1} bytes exceeds maxmessagesize {limit}",
            f"message of at least {limit + 1} bytes exceeds maxmessagesize {limit}; closed with 1009")
        assert parse_client_frames(protocol.close()) == [
            (CLOSE, struct.pack("!H", 1009) + protocol.end.reason.encode())]
        assert protocol.state is State.CLOSED


simple_frames = st.one_of(
    st.text(max_size=300).map(lambda t: raw(1, t.encode("utf-8"))),
    st.binary(max_size=300).map(lambda b: raw(2, b)),
    st.just(raw(2, b"L" * 65536)),  # the first length in the 64-bit form
)


@settings(max_examples=60)
@given(frames=st.lists(simple_frames, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 66000), max_size=5))
def test_a_read_boundary_sends_at_most_one_frame_the_careful_way(frames: list[bytes], cuts: list[int]) -> None:
    reads = pieces(b"".join(frames), cuts)
    protocol = opened(66000)
    events = feed(protocol, reads)
    assert protocol.careful_frames <= len(reads) - 1
    expected = []
    for frame in frames:
        header = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
        payload = frame[header:]
        expected.append((TEXT, payload.decode()) if frame[0] == 0x81 else (BINARY, payload))
    assert events == expected


def test_a_frame_in_pieces_is_the_same_message_at_every_boundary() -> None:
    data = raw(1, "ünïcode".encode() * 20) + raw(PING, b"p") + raw(2, b"\x01" * 150)
    whole = feed(opened(200), [data])
    for cut in range(1, len(data)):
        assert feed(opened(200), [data[:cut], data[cut:]]) == whole, cut


def test_byte_by_byte_reads_still_give_whole_messages() -> None:
    stream = (raw(1, b"hello") + raw(1, b"frag", fin=False) + raw(CONTINUATION, b"ment") + raw(2, b"\x00\x01")
              + raw(PING, b"p") + raw(1, "end \u00e9".encode()))
    protocol = opened()
    batches = [protocol.receive_data(bytes([byte])) for byte in stream]
    assert [batch for batch in batches if batch] == [
        [Received(TEXT, ["hello"])], [Received(TEXT, ["fragment"])], [Received(BINARY, [b"\x00\x01"])],
        [Received(EventKind.PING, [b"p"])], [Received(TEXT, ["end \u00e9"])]]


def test_invalid_utf8_fails_as_soon_as_it_is_read() -> None:
    frame = raw(1, b"ok" + b"\xff" + b"z" * 50)
    protocol = opened()
    assert protocol.receive_data(frame[:5]) == []  # the header, "ok" and the bad byte: the rest has not come
    assert protocol.end is not None and protocol.end.code == 1007 and not protocol.reading


def test_large_text_frames_are_checked_as_strictly_as_small_ones() -> None:
    good = "\u20ac" * 2000  # 6000 bytes: decoded from a memoryview, without a copy
    assert feed(opened(20_000), [raw(1, good.encode())]) == [(TEXT, good)]
    for bad in (b"a" * 5000 + b"\xff" + b"b" * 10, b"a" * 5000 + "\u20ac".encode()[:2]):  # invalid, cut short
        protocol = opened(20_000)
        assert feed(protocol, [raw(1, bad)]) == []
        assert protocol.end is not None and protocol.end.code == 1007


def test_lengths_not_in_their_shortest_form_fail_with_1002() -> None:
    for frame in (b"\x82\x7e\x00\x7d" + b"x" * 125, b"\x82\x7f" + struct.pack("!Q", 65535) + b"x" * 65535):
        protocol = opened(70000)
        assert feed(protocol, [frame]) == []
        assert protocol.end is not None and protocol.end.code == 1002
    for size in (126, 65536):
        assert feed(opened(70000), [raw(2, b"x" * size)]) == [(BINARY, b"x" * size)]


def test_absurd_64_bit_lengths_fail_or_wait_but_never_read_what_is_not_there() -> None:
    protocol = opened(2**31)
    assert feed(protocol, [b"\x82\x7f" + (2**63 + 3).to_bytes(8, "big") + b"abc"]) == []
    assert protocol.end is not None and protocol.end.code == 1002
    protocol = opened(2**31)
    assert feed(protocol, [b"\x82\x7f" + (2**40).to_bytes(8, "big") + b"abc"]) == []
    assert protocol.end is None and protocol.reading  # waiting for 2**40 bytes, of which 1009 fails past 2**31


@pytest.mark.parametrize(("frame", "code", "fault"), [
    (raw(1, b"x", masked=True), 1002, "the server sent a masked frame"),
    (raw(1, b"x", rsv=4), 1002, "RSV1 set without permessage-deflate"),
    (raw(1, b"x", rsv=2), 1002, "RSV2/RSV3 set without an extension"),
    (raw(3, b"x"), 1002, "reserved opcode 0x3"),
    (raw(11, b"x"), 1002, "reserved opcode 0xb"),
    (raw(PING, b"x" * 126), 1002, "a control frame of more than 125 bytes"),
    (raw(PING, b"x", fin=False), 1002, "a fragmented control frame"),
    (raw(PING, b"x", rsv=4), 1002, "RSV1 set without permessage-deflate"),
    (raw(CONTINUATION, b"x"), 1002, "a continuation frame without a message to continue"),
    (raw(1, b"a", fin=False) + raw(1, b"b"), 1002, "a new message before the fragmented one ended"),
    (raw(1, b"a", fin=False) + raw(CONTINUATION, b"b", rsv=4), 1002, "RSV1 set without permessage-deflate"),
    (raw(1, b"\xff"), 1007, "invalid UTF-8 in a text message"),
    (raw(CLOSE, b"\x03"), 1002, "close frame with a 1-byte payload"),
    (raw(CLOSE, struct.pack("!H", 1005)), 1002, "close frame with code 1005, which a peer may not send"),
    (raw(CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007, "close frame whose reason is not valid UTF-8"),
])
def test_faults_fail_the_connection_with_their_code_and_keep_what_came_before(frame: bytes, code: int,
                                                                              fault: str) -> None:
    protocol = opened()
    assert feed(protocol, [raw(1, b"before") + frame + raw(1, b"void")]) == [(TEXT, "before")]
    assert protocol.end == ConnectionEnd(ClosedBy.WSDAT, code, fault, f"protocol error: {fault} (closed with {code})")
    assert protocol.failed and not protocol.reading
    assert protocol.encode(TEXT, "the hooks' answer still goes out") != b""  # before the close frame
    closing = protocol.close(4000, "ignored: the failure's code is sent")
    assert parse_client_frames(closing) == [(CLOSE, struct.pack("!H", code) + fault.encode())]
    assert protocol.close() == b"" and protocol.state is State.CLOSED
    with pytest.raises(ConnectionClosedError):
        protocol.encode(TEXT, "after the close frame")


# -- fragments ------------------------------------------------------------------------------------------------------
def fragments(count: int) -> bytes:
    """A binary message in ``count`` one-byte non-final frames and a final one."""
    return raw(2, b"a", fin=False) + raw(CONTINUATION, b"b", fin=False) * (count - 1) + raw(CONTINUATION, b"z")


@pytest.mark.parametrize(("maxmessagesize", "parts"),
                         [(0, 1024), (1000, 1024), (16 * 1024, 1024), (16 * 1024 + 15, 1024), (16 * 1024 + 16, 1025),
                          (32 * 1024, 2048), (16 * 1024 * 1024, 1024 * 1024)])
def test_fragment_limit_is_one_part_per_16_bytes_and_never_below_1024(maxmessagesize: int, parts: int) -> None:
    assert fragment_limit(maxmessagesize) == parts


def test_a_message_may_come_in_exactly_fragment_limit_parts_and_not_one_more() -> None:
    exact = fragment_limit(10_000)
    assert feed(opened(10_000), [fragments(exact)]) == [(BINARY, b"a" + b"b" * (exact - 1) + b"z")]
    protocol = opened(10_000)
    assert feed(protocol, [fragments(exact + 1)]) == []
    assert protocol.end is not None and protocol.end.code == 1009
    assert protocol.end.reason == f"message of more than {exact} fragments (a fragment flood)"


def test_a_ping_between_fragments_comes_before_the_message() -> None:
    data = raw(1, "é".encode()[:1], fin=False) + raw(PING, b"mid") + raw(CONTINUATION, "é".encode()[1:])
    assert feed(opened(), [data]) == [(EventKind.PING, b"mid"), (TEXT, "é")]


def test_a_message_over_the_limit_in_fragments_fails_when_it_passes_the_limit() -> None:
    protocol = opened(100)
    events = feed(protocol, [raw(2, b"x" * 60, fin=False), raw(PING, b"p"), raw(CONTINUATION, b"y" * 41)])
    assert events == [(EventKind.PING, b"p")]
    assert protocol.end is not None and protocol.end.reason == (
        "message of at least 101 bytes exceeds maxmessagesize 100")


# -- closing --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("payload", "code", "reason", "answer"), [
    (struct.pack("!H", 1000) + b"bye", 1000, "bye", struct.pack("!H", 1000) + b"bye"),
    (struct.pack("!H", 4001) + "é".encode(), 4001, "é", struct.pack("!H", 4001) + "é".encode()),
    (b"", 1005, "", b""),  # no code: the answer carries none either
])
def test_the_servers_close_is_answered_and_ends_reading(payload: bytes, code: int, reason: str, answer: bytes) -> None:
    protocol = opened()
    assert feed(protocol, [raw(1, b"last") + raw(CLOSE, payload) + raw(1, b"void")]) == [(TEXT, "last")]
    assert protocol.end == ConnectionEnd(ClosedBy.SERVER, code, reason)
    assert parse_client_frames(protocol.data_to_send()) == [(CLOSE, answer)]
    assert protocol.data_to_send() == b""
    assert protocol.state is State.CLOSED and not protocol.reading
    assert protocol.close() == b""  # answered already
    with pytest.raises(ConnectionClosedError, match=rf"^the connection is closed \({code}\)$"):
        protocol.encode(TEXT, "late")


def test_our_close_waits_for_the_answer_and_records_its_code() -> None:
    protocol = opened()
    assert parse_client_frames(protocol.close(4000, "done")) == [(CLOSE, struct.pack("!H", 4000) + b"done")]
    assert protocol.state is State.CLOSING and protocol.reading
    assert feed(protocol, [raw(1, b"still arriving") + raw(CLOSE, struct.pack("!H", 4000))]) == [
        (TEXT, "still arriving")]
    assert protocol.answer == 4000 and protocol.state is State.CLOSED
    assert protocol.end == ConnectionEnd(ClosedBy.WSDAT, 4000, "done")
    assert protocol.data_to_send() == b""  # an answer is not answered


def test_eof_before_a_close_frame_is_1006_and_after_ours_keeps_ours() -> None:
    protocol = opened()
    protocol.receive_eof()
    assert protocol.end == ConnectionEnd(ClosedBy.NETWORK, 1006, "")
    protocol = opened()
    protocol.close(1000, "bye")
    protocol.receive_eof()
    assert protocol.end == ConnectionEnd(ClosedBy.WSDAT, 1000, "bye") and protocol.answer is None


def test_sending_masks_every_frame_with_a_fresh_key() -> None:
    protocol = opened()
    protocol._keys._random = lambda size: bytes(range(256)) * (size // 256)  # type: ignore[attr-defined]
    protocol._keys._block = b""  # type: ignore[attr-defined]
    frames = [protocol.encode(TEXT, "héllo"), protocol.encode(BINARY, b"\x00" * 200),
              protocol.encode(EventKind.PING, b"p"), protocol.encode(EventKind.PONG, b"")]
    assert [parse_client_frames(f) for f in frames] == [[(1, "héllo".encode())], [(2, b"\x00" * 200)],
                                                        [(PING, b"p")], [(PONG, b"")]]
    keys = [f[2:6] if f[1] & 0x7F < 126 else f[4:8] for f in frames]
    assert len(set(keys)) == 4 and all(f[1] & 0x80 for f in frames)


def test_runs_never_merge_across_kinds_and_pongs_are_kept_in_order() -> None:
    data = b"".join(itertools.chain.from_iterable(
        (raw(1, b"t"), raw(PONG, b"a"), raw(PONG, b"b"), raw(2, b"x")) for _ in range(2)))
    batch = opened().receive_data(data)
    assert [(run.kind, len(run)) for run in batch] == [(TEXT, 1), (EventKind.PONG, 2), (BINARY, 1)] * 2
