"""The protocol against an oracle: plain wsproto, fed the same random byte streams (valid and invalid frames,
plain and compressed, split at random read boundaries, sometimes cut short), must deliver the same messages and end
the same way (who ended it, and the close code). wsproto does not bound message sizes itself; the oracle applies
wsdat's documented limits (``maxmessagesize`` in bytes, after inflating; :func:`fragment_limit` frames) to what
wsproto delivers.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

from wsdat_core.model.events import EventKind
from wsdat_core.protocol.frames import fragment_limit

from ..integration.hostile import CLOSE, CONTINUATION, PING, parse_client_frames
from ..integration.hostile import frame as raw
from .streams import feed, opened, pieces

LIMIT = 200
EXAMPLES = int(os.environ.get("WSDAT_DIFFERENTIAL_EXAMPLES", "150"))
_KINDS = {Opcode.TEXT: EventKind.TEXT, Opcode.BINARY: EventKind.BINARY}


@dataclass
class Outcome:
    events: list[tuple[EventKind, object]]
    end: tuple[str, int]  # who ended it, close code


def oracle(stream: bytes, cuts: list[int], deflate: str | None) -> Outcome:
    """What wsproto makes of ``stream`` read in ``cuts``, with wsdat's limits applied."""
    extensions = []
    if deflate is not None:
        extension = PerMessageDeflate()
        extension.finalize(deflate)
        extensions.append(extension)
    protocol = FrameProtocol(client=True, extensions=extensions)
    events: list[tuple[EventKind, object]] = []
    parts: list[object] = []
    size = frames = 0
    kind = EventKind.TEXT
    for data in pieces(stream, cuts):
        protocol.receive_bytes(data)
        try:
            for frame in protocol.received_frames():
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    if frame.opcode is not Opcode.CONTINUATION:
                        kind = _KINDS[frame.opcode]
                    payload = frame.payload
                    size += len(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
                    if size > LIMIT:
                        return Outcome(events, ("wsdat", 1009))
                    parts.append(payload)
                    if frame.message_finished:
                        joined = "".join(parts) if kind is EventKind.TEXT else b"".join(parts)  # type: ignore[arg-type]
                        events.append((kind, joined))
                        parts, size, frames = [], 0, 0
                    elif frame.frame_finished:
                        frames += 1
                        if frames > fragment_limit(LIMIT):
                            return Outcome(events, ("wsdat", 1009))
                elif frame.opcode is Opcode.PING:
                    events.append((EventKind.PING, bytes(frame.payload)))
                elif frame.opcode is Opcode.PONG:
                    events.append((EventKind.PONG, bytes(frame.payload)))
                else:
                    code, _ = frame.payload
                    return Outcome(events, ("server", int(code)))
        except ParseFailed as failed:
            return Outcome(events, ("wsdat", int(failed.code)))
    return Outcome(events, ("network", 1006))


def ours(stream: bytes, cuts: list[int], deflate: str | None) -> Outcome:
    protocol = opened(LIMIT, extensions=deflate or "")
    events = feed(protocol, pieces(stream, cuts))
    if protocol.end is None:
        protocol.receive_eof()
    end = protocol.end
    assert end is not None
    # what goes back to the server says the same: the failure's close frame, or the answer to the server's
    sent = parse_client_frames(protocol.close() + protocol.data_to_send() if protocol.failed
                               else protocol.data_to_send())
    if end.closed_by.value == "network":
        assert sent == []
    else:
        assert sent[0][0] == CLOSE
        code = struct.unpack("!H", sent[0][1][:2])[0] if sent[0][1] else 1005
        assert code == end.code
    return Outcome(events, (end.closed_by.value, end.code))


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
        return raw(1, payload)
    if kind == "binary":
        return raw(2, payload)
    if kind == "fragments":
        cut = draw(st.integers(0, len(payload)))
        opcode = draw(st.sampled_from([1, 2]))
        middle = raw(PING, b"mid") if draw(st.booleans()) else b""
        return raw(opcode, payload[:cut], fin=False) + middle + raw(CONTINUATION, payload[cut:])
    if kind == "control":
        return raw(draw(st.sampled_from([9, 10])), payload[:draw(st.sampled_from([125, 126]))])
    if kind == "long-form":  # a length written in more bytes than needed
        return raw(draw(st.sampled_from([1, 2])), payload, length_form=draw(st.sampled_from(["16", "64"])))
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1002, 1004, 1005, 1011, 1014, 3000, 4999, 5000]))
        return raw(CLOSE, struct.pack("!H", code) + payload[:20])
    return raw(draw(st.sampled_from([0, 1, 2, 3, 11])), payload[:40], fin=draw(st.booleans()),
               rsv=draw(st.sampled_from([0, 0, 1, 2, 4])), masked=draw(st.booleans()),
               length_form=draw(st.sampled_from(["minimal", "16", "64"])))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(parts=st.lists(frames(), max_size=8), cuts=st.lists(st.integers(1, 2000), max_size=6),
       truncate=st.sampled_from([0, 0, 1, 2, 3, 30, 61]))
def test_plain_streams_agree_with_wsproto(parts: list[bytes], cuts: list[int], truncate: int) -> None:
    stream = b"".join(parts)
    if truncate and stream:
        stream = stream[:-truncate]  # the server's stream ends in the middle of a frame
    assert ours(stream, cuts, None) == oracle(stream, cuts, None)


# -- compressed streams ------------------------------------------------------------------------------------------------
compressed_messages = st.lists(st.tuples(
    st.sampled_from(["text", "binary"]),
    st.one_of(st.text(max_size=80).map(lambda t: t.encode()), st.binary(max_size=80),
              st.integers(LIMIT - 2, LIMIT + 2).map(lambda n: b"w" * n)),
    st.sampled_from(["deflated", "deflated", "deflated-fragments", "plain"]),
    st.integers(0, 3),
), max_size=8)


def compressed_stream(messages: list[tuple[str, bytes, str, int]], takeover: bool) -> bytes:
    """A server's stream for ``messages``: deflated with one compressor (context takeover) or one per message, whole
    or in fragments (RSV1 on the first only), or not compressed at all (allowed while deflate is agreed)."""
    compressor = zlib.compressobj(wbits=-15)
    out = b""
    for kind, payload, shape, split in messages:
        opcode = 1 if kind == "text" else 2
        if shape == "plain":
            out += raw(opcode, payload)
            continue
        if not takeover:
            compressor = zlib.compressobj(wbits=-15)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]
        if shape == "deflated":
            out += raw(opcode, data, rsv=4)
            continue
        cuts = sorted({len(data) * i // (split + 2) for i in range(1, split + 2)})
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for index, chunk in enumerate(chunks):
            out += raw(opcode if index == 0 else CONTINUATION, chunk, fin=index == len(chunks) - 1,
                       rsv=4 if index == 0 else 0)
    return out


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=compressed_messages, cuts=st.lists(st.integers(1, 2000), max_size=6), takeover=st.booleans(),
       truncate=st.sampled_from([0, 0, 1, 5]))
def test_compressed_streams_agree_with_wsproto(messages: list[tuple[str, bytes, str, int]], cuts: list[int],
                                               takeover: bool, truncate: int) -> None:
    answer = "permessage-deflate" + ("" if takeover else "; server_no_context_takeover")
    stream = compressed_stream(messages, takeover)
    if truncate and stream:
        stream = stream[:-truncate]
    assert ours(stream, cuts, answer) == oracle(stream, cuts, answer)


def test_the_differential_harness_sees_a_difference_when_there_is_one() -> None:
    # a protocol that got a close code wrong must fail the comparison: here both fail with 1007
    bad = raw(1, b"\xff")
    assert ours(bad, [], None) == oracle(bad, [], None) == Outcome([], ("wsdat", 1007))
    assert oracle(raw(1, b"ok"), [], None) != Outcome([], ("wsdat", 1007))


def test_every_byte_cut_agrees_with_wsproto_plain() -> None:
    # fragments with a ping between them, a frame over the limit among simple ones with 16-bit lengths, the stream
    # cut into single bytes: a header arriving in pieces, which random cuts rarely reach
    stream = (raw(1, b"a" * 130, fin=False) + raw(PING, b"mid") + raw(CONTINUATION, "é".encode() * 3)
              + raw(2, b"b" * 130) + raw(1, b"ok") + raw(2, b"w" * (LIMIT + 1)))
    every_byte = list(range(1, len(stream)))
    mine = ours(stream, every_byte, None)
    assert [kind for kind, _ in mine.events] == [EventKind.PING, EventKind.TEXT, EventKind.BINARY, EventKind.TEXT]
    assert mine.end == ("wsdat", 1009)
    assert mine == oracle(stream, every_byte, None)


def test_every_byte_cut_agrees_with_wsproto_compressed() -> None:
    messages = [("text", "ünïcode ".encode() * 8, "deflated", 0), ("binary", bytes(range(90)), "deflated-fragments", 2),
                ("text", b"plain", "plain", 0), ("text", b"again " * 10, "deflated", 0)]
    for takeover in (True, False):
        answer = "permessage-deflate" + ("" if takeover else "; server_no_context_takeover")
        stream = compressed_stream(messages, takeover)
        every_byte = list(range(1, len(stream)))
        mine = ours(stream, every_byte, answer)
        assert mine.events == [(EventKind.TEXT, "ünïcode " * 8), (EventKind.BINARY, bytes(range(90))),
                               (EventKind.TEXT, "plain"), (EventKind.TEXT, "again " * 10)]
        assert mine == oracle(stream, every_byte, answer)
