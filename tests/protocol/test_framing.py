"""The receive fast path (wsdat_core.protocol.framing): unit laws, and a differential test against plain wsproto.

The differential test runs the real connection (``connection.Link``) twice over in-memory streams, with the fast path
on and off, feeding both the same random byte stream (valid and invalid frames, split at random read boundaries,
sometimes cut short). Both must deliver the same events, end the same way (who closed, code, reason, fault) and send
the server the same frames.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsdat_core.model.address import resolve_url
from wsdat_core.model.closing import ConnectionEnd
from wsdat_core.model.events import EventKind
from wsdat_core.net.connection import ConnectOptions, Link
from wsdat_core.protocol.framing import FrameSplitter, frame_extent

from ..integration.hostile import CLOSE, parse_client_frames, read_request
from ..integration.hostile import frame as raw_frame
from ..integration.hostile import handshake as handshake_answer

LIMIT = 200


# -- unit laws of the splitter -----------------------------------------------------------------------------------------
def split_all(splitter: FrameSplitter, data: bytes) -> tuple[list[tuple[EventKind, Any]], bytes]:
    events: list[tuple[EventKind, Any]] = []
    slow = b""
    splitter.feed(data)
    while (chunk := splitter.next_slow(events.append)) is not None:
        slow += chunk
    return events, slow


def test_simple_frames_are_decoded_without_wsproto() -> None:
    data = raw_frame(1, "héllo".encode()) + raw_frame(2, b"\x00\x01") + raw_frame(1, b"x" * 130)
    events, slow = split_all(FrameSplitter(LIMIT), data)
    assert events == [(EventKind.TEXT, "héllo"), (EventKind.BINARY, b"\x00\x01"), (EventKind.TEXT, "x" * 130)]
    assert slow == b""
    assert all(type(payload) in (str, bytes) for _, payload in events)


def test_everything_unusual_goes_to_wsproto_whole() -> None:
    unusual = [
        raw_frame(1, b"part", fin=False) + raw_frame(0, b"end"),  # fragments
        raw_frame(9, b"ping"), raw_frame(8, struct.pack("!H", 1000)),  # control frames
        raw_frame(1, b"x", rsv=4), raw_frame(1, b"x", masked=True), raw_frame(3, b"x"),  # rsv, masked, reserved
        raw_frame(1, b"\xff"),  # invalid UTF-8
        raw_frame(1, b"short", length_form="16"), raw_frame(2, b"x" * 200, length_form="64"),  # non-minimal
        raw_frame(2, b"y" * (LIMIT + 1)),  # over the limit
    ]
    for frames in unusual:
        events, slow = split_all(FrameSplitter(LIMIT), frames + raw_frame(1, b"after"))
        assert slow == frames, frames
        assert events == [(EventKind.TEXT, "after")]


def test_frames_after_an_open_fragmented_message_wait_for_its_end() -> None:
    splitter = FrameSplitter(LIMIT)
    first = raw_frame(1, b"a", fin=False)
    events, slow = split_all(splitter, first + raw_frame(9, b"p") + raw_frame(0, b"b"))
    assert events == [] and slow == first + raw_frame(9, b"p") + raw_frame(0, b"b")
    events, slow = split_all(splitter, raw_frame(1, b"next"))
    assert events == [(EventKind.TEXT, "next")] and slow == b""


def test_a_frame_in_pieces_is_held_until_whole_at_every_boundary() -> None:
    data = raw_frame(1, "ünïcode".encode() * 20) + raw_frame(9, b"p") + raw_frame(2, b"\x01" * 150)
    whole, whole_slow = split_all(FrameSplitter(LIMIT), data)
    for cut in range(1, len(data)):
        splitter = FrameSplitter(LIMIT)
        events, slow = split_all(splitter, data[:cut])
        more, more_slow = split_all(splitter, data[cut:])
        assert events + more == whole and slow + more_slow == whole_slow, cut


def test_invalid_text_is_released_to_wsproto_as_soon_as_it_is_seen() -> None:
    frame = raw_frame(1, b"ok" + b"\xff" + b"z" * 50)
    splitter = FrameSplitter(LIMIT)
    events, slow = split_all(splitter, frame[:6])  # header + "ok" + the invalid byte: not whole yet
    assert events == [] and slow == frame[:6]  # wsproto sees it now, as it would alone


def test_frame_extent() -> None:
    assert frame_extent(b"\x81") == -1
    assert frame_extent(b"\x81\x05") == 7
    assert frame_extent(b"\x81\x85") == 11
    assert frame_extent(b"\x81\x7e\x01") == -1
    assert frame_extent(b"\x81\x7e\x01\x00") == 4 + 256
    assert frame_extent(raw_frame(2, b"x" * 70000)[:10]) == 10 + 70000


# -- the differential test ---------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    events: list[tuple[EventKind, Any]]
    end: ConnectionEnd | None
    sent: list[tuple[int, bytes]]


async def run_link(stream: bytes, cuts: list[int], fast: bool) -> Outcome:
    client, server = trio.testing.memory_stream_pair()
    events: list[tuple[EventKind, Any]] = []

    async def sink(batch: list[tuple[EventKind, Any]]) -> None:
        events.extend(batch)
        batch.clear()

    options = ConnectOptions(resolve_url("ws://example.com/feed"), max_message_size=LIMIT, ping_interval=0,
                             fast_path=fast)
    link = Link(client, options, sink)
    link.start_delivery()
    sent = bytearray()

    async def collect() -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await server.receive_some(65536):
                sent.extend(data)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.serve)
            request = await read_request(server)
            nursery.start_soon(collect)
            whole = handshake_answer(request) + stream
            points = sorted({min(c, len(whole)) for c in cuts})
            for a, b in zip([0, *points], [*points, len(whole)], strict=True):
                if a == b:
                    continue
                try:
                    await server.send_all(whole[a:b])
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
                await trio.testing.wait_all_tasks_blocked()
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await server.send_stream.aclose()  # EOF
            end = await link.wait_finished()
            nursery.cancel_scope.cancel()
    return Outcome(events, end, parse_client_frames(bytes(sent)))


payloads = st.one_of(
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
    st.integers(LIMIT - 2, LIMIT + 2).map(lambda n: b"w" * n),  # around the limit
    st.sampled_from([b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"ok\xff", b"ok\xff" + b"z" * 60]),  # invalid
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["text", "text", "text", "binary", "binary", "fragments", "control", "close", "odd",
                                 "long-form"]))
    payload = draw(payloads)
    if kind == "text":
        return raw_frame(1, payload)
    if kind == "binary":
        return raw_frame(2, payload)
    if kind == "fragments":
        cut = draw(st.integers(0, len(payload)))
        opcode = draw(st.sampled_from([1, 2]))
        middle = raw_frame(9, b"mid") if draw(st.booleans()) else b""
        return raw_frame(opcode, payload[:cut], fin=False) + middle + raw_frame(0, payload[cut:])
    if kind == "control":
        return raw_frame(draw(st.sampled_from([9, 10])), payload[:draw(st.sampled_from([125, 126]))])
    if kind == "long-form":  # a length written in more bytes than needed
        return raw_frame(draw(st.sampled_from([1, 2])), payload, length_form=draw(st.sampled_from(["16", "64"])))
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1002, 1004, 1005, 1011, 3000, 4999, 5000]))
        return raw_frame(CLOSE, struct.pack("!H", code) + payload[:20])
    return raw_frame(draw(st.sampled_from([0, 1, 2, 3, 11])), payload[:40], fin=draw(st.booleans()),
                     rsv=draw(st.sampled_from([0, 0, 1, 2, 4])), masked=draw(st.booleans()),
                     length_form=draw(st.sampled_from(["minimal", "16", "64"])))


@settings(max_examples=int(os.environ.get("WSDAT_DIFFERENTIAL_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(parts=st.lists(frames(), max_size=8), cuts=st.lists(st.integers(1, 2000), max_size=6),
       truncate=st.sampled_from([0, 0, 1, 2, 3, 30, 61]))
def test_fast_path_and_plain_wsproto_agree(parts: list[bytes], cuts: list[int], truncate: int) -> None:
    stream = b"".join(parts)
    if truncate and stream:
        stream = stream[:-truncate]  # the server's stream ends in the middle of a frame
    fast = trio.run(run_link, stream, cuts, True)
    plain = trio.run(run_link, stream, cuts, False)
    assert fast.events == plain.events
    assert fast.end == plain.end
    assert fast.sent == plain.sent


def test_the_differential_harness_sees_a_difference_when_there_is_one() -> None:
    # A fast path that got a close code wrong must fail the comparison: here the plain path fails the connection
    # with 1007, which the outcome records.
    plain = trio.run(run_link, raw_frame(1, b"\xff"), [], False)
    assert plain.end is not None and plain.end.code == 1007 and plain.end.fault is not None
    assert (CLOSE, struct.pack("!H", 1007) + b"") == (plain.sent[0][0], plain.sent[0][1][:2])


def test_frames_for_wsproto_cut_at_every_byte_agree_with_plain_wsproto() -> None:
    # the frames the fast path hands to wsproto (fragments with a ping between them, a frame over the limit) among
    # simple ones with 16-bit lengths, the stream cut into single bytes: a header arriving in pieces, which random
    # cuts rarely reach
    stream = (raw_frame(1, b"a" * 130, fin=False) + raw_frame(9, b"mid") + raw_frame(0, "é".encode() * 3)
              + raw_frame(2, b"b" * 130) + raw_frame(1, b"ok") + raw_frame(2, b"w" * (LIMIT + 1)))
    every_byte = list(range(1, 4 * len(stream)))
    fast = trio.run(run_link, stream, every_byte, True)
    plain = trio.run(run_link, stream, every_byte, False)
    assert [kind for kind, _ in fast.events] == [EventKind.PING, EventKind.TEXT, EventKind.BINARY, EventKind.TEXT]
    assert fast.end is not None and fast.end.code == 1009
    assert fast.events == plain.events
    assert fast.end == plain.end
    assert fast.sent == plain.sent


@pytest.mark.parametrize("drain_between", [True, False], ids=["drained", "fed-again-first"])
def test_a_read_completing_a_held_frame_keeps_its_rest_in_order(drain_between: bool) -> None:
    # the read that completes a held frame also carries the next frames; a caller may feed again before asking for
    # them (feed only adds), and nothing may be lost or reordered
    held = raw_frame(1, b"a" * 50)
    splitter = FrameSplitter(limit=1000)
    first, slow = split_all(splitter, held[:10])
    assert (first, slow) == ([], b"")  # held until whole
    events: list[tuple[EventKind, Any]] = []
    splitter.feed(held[10:] + raw_frame(1, b"b") + raw_frame(2, b"c"))
    if drain_between:
        while splitter.next_slow(events.append) is not None:
            pass
    later, slow = split_all(splitter, raw_frame(1, b"d") + raw_frame(1, b"e")[:1])
    rest, more = split_all(splitter, raw_frame(1, b"e")[1:])
    assert events + later + rest == [(EventKind.TEXT, "a" * 50), (EventKind.TEXT, "b"), (EventKind.BINARY, b"c"),
                                     (EventKind.TEXT, "d"), (EventKind.TEXT, "e")]
    assert slow == more == b""
