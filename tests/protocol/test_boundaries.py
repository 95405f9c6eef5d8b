"""Boundaries of the pure parts, at the exact value and one past it: the receive fast path's size limit, how many parts
a message may arrive in, the send queue's bounds.

The same limits are tested end to end against real servers in tests/integration/test_boundaries.py. Here the fast
path is held to its own promise too: a simple frame within the limit is decoded without wsproto (``slow == b""``),
however the reads cut it. Handing such a frame to wsproto would still deliver the message (wsproto decides the same),
so only this level can tell a fast path that quietly stopped being fast.
"""

from __future__ import annotations

import itertools
import math
import struct
import sys
import zlib

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from wsdat_core.model.backoff import Backoff
from wsdat_core.model.events import EventKind
from wsdat_core.model.table import MessageTable, hex_bytes
from wsdat_core.net.connection import BoundedDeflate, _size_of, fragment_limit
from wsdat_core.protocol.framing import FrameSplitter, frame_extent
from wsdat_core.runtime.sendqueue import Receipt, SendQueue, settle

from ..integration.hostile import frame as raw

TEXT, BINARY = EventKind.TEXT, EventKind.BINARY


def split(splitter: FrameSplitter, *reads: bytes) -> tuple[list[tuple[EventKind, object]], bytes]:
    """Feed ``reads`` one at a time; the events decoded on the fast path and the bytes handed to wsproto."""
    events: list[tuple[EventKind, object]] = []
    slow = b""
    for data in reads:
        splitter.feed(data)
        while (chunk := splitter.next_slow(events.append)) is not None:
            slow += chunk
    return events, slow


# -- the fast path's size limit -------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [0, 1, 125, 126, 200, 65535, 65536, 70000])
def test_the_fast_path_decodes_a_frame_of_exactly_the_limit(limit: int) -> None:
    for opcode, kind, payload in ((1, TEXT, "t" * limit), (2, BINARY, b"b" * limit)):
        data = payload.encode() if isinstance(payload, str) else payload
        events, slow = split(FrameSplitter(limit), raw(opcode, data))
        assert (events, slow) == ([(kind, payload)], b""), (limit, kind)


@pytest.mark.parametrize("limit", [0, 1, 125, 126, 200, 65535, 65536])
def test_a_frame_one_byte_over_the_limit_goes_to_wsproto_whole(limit: int) -> None:
    for opcode in (1, 2):
        frame = raw(opcode, b"o" * (limit + 1))
        assert split(FrameSplitter(limit), frame) == ([], frame)


def test_over_the_limit_frame_then_a_small_one() -> None:
    frame = raw(2, b"o" * 201)
    events, slow = split(FrameSplitter(200), frame + raw(1, b"next"))
    assert slow == frame and events == [(TEXT, "next")]


@pytest.mark.parametrize("limit", [126, 200, 65536])
def test_a_frame_of_exactly_the_limit_arriving_in_pieces_is_held_then_decoded(limit: int) -> None:
    for opcode, kind in ((1, TEXT), (2, BINARY)):
        frame = raw(opcode, b"h" * limit)
        for cut in (1, 2, 3, 4, len(frame) // 2, len(frame) - 1):
            splitter = FrameSplitter(limit)
            events, slow = split(splitter, frame[:cut])
            assert (events, slow) == ([], b""), (cut, "held, nothing for wsproto yet")
            events, slow = split(splitter, frame[cut:])
            payload = "h" * limit if kind is TEXT else b"h" * limit
            assert (events, slow) == ([(kind, payload)], b""), cut


@pytest.mark.parametrize("limit", [100, 126, 200, 65536])
def test_a_frame_one_byte_over_the_limit_in_pieces_is_not_held(limit: int) -> None:
    frame = raw(2, b"h" * (limit + 1))
    header = 2 if limit + 1 < 126 else 4 if limit + 1 < 65536 else 10
    splitter = FrameSplitter(limit)
    events, slow = split(splitter, frame[: header + 5])
    assert events == [] and slow == frame[: header + 5]  # wsproto gets it as it comes
    events, slow = split(splitter, frame[header + 5:])
    assert events == [] and slow == frame[header + 5:]


simple_frames = st.one_of(
    st.text(max_size=300).map(lambda t: raw(1, t.encode("utf-8"))),
    st.binary(max_size=300).map(lambda b: raw(2, b)),
    st.just(raw(2, b"L" * 65536)),  # the first length in the 64-bit form
)


@settings(max_examples=60)
@given(frames=st.lists(simple_frames, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 66000), max_size=5))
def test_simple_frames_within_the_limit_never_reach_wsproto_however_the_reads_cut_them(frames: list[bytes],
                                                                                      cuts: list[int]) -> None:
    stream = b"".join(frames)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    reads = [stream[a:b] for a, b in itertools.pairwise(points) if b > a]
    events, slow = split(FrameSplitter(66000), *reads)
    assert slow == b""
    expected = []
    for frame in frames:
        header = 2 if frame[1] < 126 else 4 if frame[1] == 126 else 10
        payload = frame[header:]
        expected.append((TEXT, payload.decode()) if frame[0] == 0x81 else (BINARY, payload))
    assert events == expected
    assert all(type(payload) in (str, bytes) for _, payload in events)


def test_lengths_not_in_their_shortest_form_are_left_to_wsproto_at_the_edges() -> None:
    # 125 in the 16-bit form, 65535 in the 64-bit form: wsproto refuses them; the shortest forms are decoded
    for frame in (b"\x82\x7e\x00\x7d" + b"x" * 125, b"\x82\x7f" + struct.pack("!Q", 65535) + b"x" * 65535):
        assert split(FrameSplitter(70000), frame) == ([], frame)
    for size in (126, 65536):
        assert split(FrameSplitter(70000), raw(2, b"x" * size)) == ([(BINARY, b"x" * size)], b"")


def test_frame_extent_at_the_length_encoding_edges() -> None:
    assert frame_extent(b"\x82\x7d") == 2 + 125
    assert frame_extent(b"\x82\x7e\x00") == -1
    assert frame_extent(b"\x82\x7e\x00\x7e") == 4 + 126
    assert frame_extent(b"\x82\x7f" + b"\x00" * 7) == -1
    assert frame_extent(b"\x82\x7f" + struct.pack("!Q", 65536)) == 10 + 65536
    assert frame_extent(b"\x82\xfd") == 2 + 4 + 125  # masked: the key counts


# -- how big, and in how many parts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("maxmessagesize", "parts"),
                         [(0, 1024), (1000, 1024), (16 * 1024, 1024), (16 * 1024 + 15, 1024), (16 * 1024 + 16, 1025),
                          (32 * 1024, 2048), (16 * 1024 * 1024, 1024 * 1024)])
def test_fragment_limit_is_one_part_per_16_bytes_and_never_below_1024(maxmessagesize: int, parts: int) -> None:
    assert fragment_limit(maxmessagesize) == parts


def test_message_size_counts_utf8_bytes() -> None:
    assert _size_of("abc") == 3
    assert _size_of("é") == 2
    assert _size_of("a€😀") == 1 + 3 + 4
    assert _size_of("\udc80") == 3  # a lone surrogate (wsproto never gives one, but it must not raise)
    assert _size_of(b"\xc3\xa9") == 2
    assert _size_of(bytearray(5)) == 5
    assert _size_of("") == 0


# -- the send queue's bounds ----------------------------------------------------------------------------------------
def item(size: int, receipt: Receipt | None = None) -> tuple[EventKind, bytes, int, Receipt | None]:
    return (BINARY, b"x" * size, size, receipt)


def test_the_queue_holds_exactly_its_limit() -> None:
    queue = SendQueue(3)
    assert [queue.put(item(1)) for _ in range(5)] == [True, True, True, False, False]
    assert len(queue) == 3 and queue.queued_bytes == 3
    assert queue.has_room(0) is False


def test_a_queue_of_one_holds_one() -> None:
    queue = SendQueue(1)
    assert queue.has_room(10)
    assert queue.put(item(10)) and not queue.put(item(0))


def test_the_byte_bound_admits_exactly_its_bytes() -> None:
    queue = SendQueue(100, byte_limit=10)
    assert queue.put(item(4)) and queue.put(item(6))  # 10 of 10
    assert not queue.has_room(1) and not queue.put(item(1))
    assert queue.queued_bytes == 10 and len(queue) == 2
    other = SendQueue(100, byte_limit=10)
    assert other.put(item(4)) and not other.put(item(7)) and other.put(item(6))


def test_one_item_always_fits_an_empty_queue_whatever_its_size() -> None:
    queue = SendQueue(2, byte_limit=10)
    assert queue.has_room(1000) and queue.put(item(1000))
    assert not queue.has_room(0)  # the byte bound is passed: nothing more, not even an empty message
    assert SendQueue(2).has_room(10**12)


def test_forced_puts_pass_both_bounds() -> None:
    queue = SendQueue(1, byte_limit=1)
    assert queue.put(item(1))
    assert not queue.put(item(1))
    assert queue.put(item(5), force=True)
    assert len(queue) == 2 and queue.queued_bytes == 6


async def test_take_returns_the_oldest_up_to_the_byte_budget() -> None:
    queue = SendQueue(10)
    for size in (3, 4, 5, 6):
        queue.put(item(size))
    batch = await queue.take(7)  # 3 + 4 reach 7: stop
    assert [size for _, _, size, _ in batch] == [3, 4]
    assert queue.queued_bytes == 11 and len(queue) == 2
    batch = await queue.take(1)  # at least one, even over the budget
    assert [size for _, _, size, _ in batch] == [5]
    batch = await queue.take(100)
    assert [size for _, _, size, _ in batch] == [6]
    assert queue.queued_bytes == 0 and len(queue) == 0


async def test_take_waits_for_a_put() -> None:
    queue = SendQueue(2)
    taken: list[list[object]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _take_into(queue, taken))
        await trio.testing.wait_all_tasks_blocked()
        assert taken == []
        queue.put(item(2))
    assert [[size for _, _, size, _ in batch] for batch in taken] == [[2]]


async def _take_into(queue: SendQueue, taken: list[list[object]]) -> None:
    taken.append(list(await queue.take(100)))


async def _put_wait_into(queue: SendQueue, done: list[bool]) -> None:
    done.append(await queue.put_wait(item(2)))


async def test_put_wait_waits_for_room_and_take_makes_it() -> None:
    queue = SendQueue(1)
    assert queue.put(item(1))
    done: list[bool] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_put_wait_into, queue, done)
        await trio.testing.wait_all_tasks_blocked()
        assert done == [] and len(queue) == 1  # full: waiting
        await queue.take(100)
        queue.written()
    assert done == [True] and len(queue) == 1 and queue.queued_bytes == 2


async def test_put_wait_gives_up_when_the_queue_closes() -> None:
    queue = SendQueue(1)
    queue.put(item(1))
    done: list[bool] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_put_wait_into, queue, done)
        await trio.testing.wait_all_tasks_blocked()
        left = queue.drain()
    assert done == [False] and [size for _, _, size, _ in left] == [1]
    assert len(queue) == 0 and queue.queued_bytes == 0 and queue.closed
    assert await queue.put_wait(item(1)) is False  # closed: never queued
    assert len(queue) == 0


async def _note_when_sent(queue: SendQueue, finished: list[str]) -> None:
    await queue.wait_sent()
    finished.append("sent")


async def test_wait_sent_returns_once_the_sender_reported_the_batch_written() -> None:
    queue = SendQueue(5)
    await queue.wait_sent()  # nothing queued: at once
    queue.put(item(1))
    queue.put(item(1))
    finished: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_note_when_sent, queue, finished)
        await trio.testing.wait_all_tasks_blocked()
        batch = await queue.take(100)
        assert len(batch) == 2
        await trio.testing.wait_all_tasks_blocked()
        assert finished == []  # taken, not yet written
        queue.written()
    assert finished == ["sent"]


async def test_wait_sent_begun_while_the_sender_holds_a_batch_waits_for_it() -> None:
    # the queue is empty once the sender took the batch, but nothing was written yet: "sent" must still wait
    queue = SendQueue(5)
    queue.put(item(1))
    await queue.take(100)
    assert len(queue) == 0
    finished: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_note_when_sent, queue, finished)
        await trio.testing.wait_all_tasks_blocked()
        assert finished == []
        queue.written()
    assert finished == ["sent"]


async def test_wait_sent_works_again_for_the_next_batch() -> None:
    queue = SendQueue(5)
    assert (queue.lost, queue.closed, len(queue), queue.queued_bytes) == (0, False, 0, 0)
    for _ in range(2):
        queue.put(item(1))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(queue.wait_sent)
            await trio.testing.wait_all_tasks_blocked()
            await queue.take(100)
            queue.written()


async def test_wait_sent_returns_when_the_queue_is_drained() -> None:
    queue = SendQueue(5)
    queue.put(item(1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.wait_sent)
        await trio.testing.wait_all_tasks_blocked()
        queue.drain()


async def test_receipts_are_settled_with_the_outcome() -> None:
    sent, lost, none = Receipt(), Receipt(), None
    assert sent.sent is False  # not sent until the sender says so
    settle([item(1, sent), item(1, none)], True)
    settle([item(1, lost)], False)
    assert await sent.wait() is True and sent.sent
    assert await lost.wait() is False and not lost.sent


# -- the table's memory guard (clamp off, maxtablebytes) --------------------------------------------------------------
def row_size(message: str | bytes) -> int:
    return sys.getsizeof(message) + 8


def test_the_memory_guard_keeps_rows_up_to_exactly_maxtablebytes() -> None:
    messages = [f"m{i:03d}" for i in range(10)]
    each = row_size(messages[0])
    table = MessageTable(clamp=False, maxtablebytes=3 * each)
    for message in messages[:3]:
        table.append(message)
    assert table.numRows - 1 == 3 and table.size_evictions == 0  # exactly at the limit: all kept
    assert table.size_bytes == 3 * each
    assert table.append(messages[3]) == 3  # one byte-row past it: the oldest goes
    assert table.col(0)[1:] == messages[1:4] and table.size_evictions == 1
    for message in messages[4:]:
        table.append(message)
    assert table.col(0)[1:] == messages[7:] and table.size_evictions == 7
    assert table.size_bytes == 3 * each


def test_the_memory_guard_keeps_the_newest_row_even_when_it_alone_is_too_big() -> None:
    table = MessageTable(clamp=False, maxtablebytes=10)
    table.append("x" * 100)
    table.append("y" * 100)
    assert table.col(0)[1:] == ["y" * 100] and table.size_evictions == 1


def test_setting_maxtablebytes_evicts_at_once_and_zero_turns_the_guard_off() -> None:
    table = MessageTable(clamp=False)
    for i in range(5):
        table.append(f"r{i}")
    each = row_size("r0")
    table.maxtablebytes = 2 * each
    assert table.col(0)[1:] == ["r3", "r4"] and table.size_evictions == 3 and table.maxtablebytes == 2 * each
    table.maxtablebytes = 0
    for i in range(5, 9):
        table.append(f"r{i}")
    assert table.numRows - 1 == 6 and table.size_evictions == 3
    table.clamp = True  # clamp on: maxlines rules, the guard is off
    table.maxtablebytes = each
    assert table.numRows - 1 == 6
    table.clamp = False  # off again with a limit: the guard counts what is there and evicts
    assert table.col(0)[1:] == ["r8"] and table.size_evictions == 8


def test_the_table_describes_itself_and_refuses_bad_keys_exactly() -> None:
    table = MessageTable(maxlines=5, bytes=True)
    assert repr(table) == "<MessageTable rows=0 maxlines=5 columns=['message', 'bytes']>"
    assert repr(MessageTable(clamp=False)) == "<MessageTable rows=0 maxlines=unlimited columns=['message']>"
    table.append("hi")
    with pytest.raises(TypeError) as refused:
        table[1]  # type: ignore[index]
    assert str(refused.value) == "index the table with [row, column]"
    with pytest.raises(TypeError) as refused:
        table[1, 0, 0]  # type: ignore[index]
    assert str(refused.value) == "index the table with [row, column]"
    with pytest.raises(TypeError) as refused:
        table[1, 1.0]  # type: ignore[index]
    assert str(refused.value) == "column must be an index or a heading name, not float"
    with pytest.raises(TypeError) as refused:
        table[1, True]  # type: ignore[index]
    assert str(refused.value) == "column must be an index or a heading name, not bool"
    assert table[1, -1] == "68 69" and table[1, -2] == "hi" and table[1, "bytes"] == "68 69"
    for bad in (0, -3, True, 1.0):
        with pytest.raises(ValueError) as refused:
            MessageTable(maxlines=bad)  # type: ignore[arg-type]
        assert str(refused.value) == f"maxlines: {bad!r} is not allowed; expected an integer >= 1"


def test_hex_and_cells_of_odd_text_and_bytes() -> None:
    assert hex_bytes("\udc80") == "ed b2 80"  # a lone surrogate (from surrogateescape'd input) is shown, not lost
    assert hex_bytes(b"\x00\xff") == "00 ff"
    table = MessageTable(bytes=True)
    table.append(b"ok\xff")
    assert table[1, 0] == "ok\\xff" and table[1, 1] == "6f 6b ff"
    table.append("a,b\nc")
    assert table.to_csv() == 'message,bytes\nok\\xff,6f 6b ff\n"a,b\nc",61 2c 62 0a 63\n'  # \n, never \r\n
    assert table.to_tsv() == 'message\tbytes\nok\\xff\t6f 6b ff\n"a,b\nc"\t61 2c 62 0a 63\n'


# -- the splitter's contract, frame by frame --------------------------------------------------------------------------
LIMIT = 200

odd_frames = st.one_of(
    st.builds(lambda p, fin, rsv, masked, form, op: (raw(op, p, fin=fin, rsv=rsv, masked=masked, length_form=form),
                                                      (op, fin, rsv, masked, form, p)),
              st.one_of(st.binary(max_size=40), st.sampled_from([b"\xff", "é".encode(), b"y" * 199, b"y" * 200,
                                                                 b"y" * 201, b"z" * 130])),
              st.sampled_from([True, True, True, False]), st.sampled_from([0, 0, 0, 4]),
              st.sampled_from([False, False, False, True]),
              st.sampled_from(["minimal", "minimal", "minimal", "16", "64"]),
              st.sampled_from([1, 2, 1, 2, 0, 9, 10, 3])),
)


def expected_output(frames: list[tuple[bytes, tuple[int, bool, int, bool, str, bytes]]]) -> list[tuple[str, object]]:
    """What the splitter must produce for ``frames``: ("event", (kind, payload)) for each frame it decodes itself,
    ("slow", bytes) for what wsproto gets (consecutive slow bytes merged), in order."""
    out: list[tuple[str, object]] = []
    in_message = False
    for data, (opcode, fin, rsv, masked, form, payload) in frames:
        minimal = form == "minimal" or (form == "16" and 126 <= len(payload) < 65536)
        simple = (not in_message and fin and rsv == 0 and not masked and opcode in (1, 2) and minimal
                  and len(payload) <= LIMIT)
        if simple and opcode == 1:
            try:
                out.append(("event", (TEXT, payload.decode("utf-8"))))
            except UnicodeDecodeError:
                simple = False
        elif simple:
            out.append(("event", (BINARY, payload)))
        if not simple:
            if out and out[-1][0] == "slow":
                out[-1] = ("slow", out[-1][1] + data)  # type: ignore[operator]
            else:
                out.append(("slow", data))
        if opcode in (1, 2):
            in_message = not fin
        elif opcode == 0 and fin:
            in_message = False
    return out


@settings(max_examples=300)
@given(frames=st.lists(odd_frames, max_size=8), steps=st.lists(st.integers(1, 60), max_size=12),
       early=st.lists(st.booleans(), max_size=20))
def test_each_frame_is_decoded_or_handed_over_whole_in_order_however_the_reads_come(
        frames: list[tuple[bytes, tuple[int, bool, int, bool, str, bytes]]], steps: list[int],
        early: list[bool]) -> None:
    stream = b"".join(data for data, _ in frames)
    points = sorted({min(cut, len(stream)) for cut in itertools.accumulate(steps)} | {0, len(stream)})
    reads = [stream[a:b] for a, b in itertools.pairwise(points) if b > a]
    splitter = FrameSplitter(LIMIT)
    out: list[tuple[str, object]] = []

    def record(event: tuple[EventKind, object]) -> None:
        out.append(("event", event))

    def slow(chunk: bytes) -> None:
        if out and out[-1][0] == "slow":
            out[-1] = ("slow", out[-1][1] + chunk)  # type: ignore[operator]
        else:
            out.append(("slow", chunk))

    stops = iter(early)
    for data in reads:
        splitter.feed(data)
        while (chunk := splitter.next_slow(record)) is not None:
            slow(chunk)
            if next(stops, False):  # the caller stops early and feeds more first: nothing is lost or reordered
                break
    while (chunk := splitter.next_slow(record)) is not None:
        slow(chunk)
    assert out == expected_output(frames)


def test_clear_starts_the_memory_guards_count_over() -> None:
    each = row_size("r0")
    table = MessageTable(clamp=False, maxtablebytes=2 * each)
    table.append("r0")
    table.append("r1")
    table.clear()
    assert table.numRows == 1 and table.size_bytes == 0
    table.append("r2")
    table.append("r3")  # exactly the limit again: nothing evicted
    assert table.col(0)[1:] == ["r2", "r3"] and table.size_evictions == 0


def test_table_defaults_rows_and_json() -> None:
    table = MessageTable()
    assert (table.maxlines, table.clamp, table.maxtablebytes, table.heading) == (100, True, 0, ("message",))
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError) as refused:
            table[bad, 0]  # type: ignore[index]
        assert str(refused.value) == f"row must be an integer, not {type(bad).__name__}"
    table.append("é ü")
    assert table.to_json() == '[{"message": "é ü"}]'  # UTF-8 as it is, not \\u escapes


# -- the backoff where powers give way to logarithms, and numbers too large for a float ------------------------------
def test_the_backoff_below_the_cap_on_the_logarithm_path_is_still_exponential() -> None:
    # cap / first = 1e600 > e**700: past attempt 1727 the power is computed from logarithms, still exactly first *
    # factor ** n below the cap
    backoff = Backoff(first=1e-300, factor=1.5, cap=1e300, uniform=lambda low, high: high)
    backoff.attempt = 2000
    assert backoff.next_delay() == pytest.approx(math.exp(math.log(1e-300) + 2000 * math.log(1.5)), rel=1e-9)
    backoff.attempt = 3500  # past log(cap / first) / log(factor) (about 3407): the cap
    assert backoff.next_delay() == 1e300


def test_integers_too_large_for_a_float_count_as_the_largest_float_or_are_refused() -> None:
    huge = 10**400
    backoff = Backoff(first=huge, factor=huge, cap=huge, uniform=lambda low, high: high)
    assert backoff.next_delay() == sys.float_info.max  # the first retry: min(first, cap)
    assert backoff.next_delay() == sys.float_info.max
    for field in ("first", "cap"):
        with pytest.raises(ValueError) as refused:
            Backoff(**{field: -huge}).next_delay()
        assert str(refused.value).startswith(f"Backoff.{field}: -1000") and "expected a number > 0" in \
            str(refused.value)
    with pytest.raises(ValueError, match=r"^Backoff\.factor: -1000.* expected a number >= 1$"):
        Backoff(factor=-huge).next_delay()


def test_small_simple_frames_cut_anywhere_are_held_then_decoded() -> None:
    for payload in (b"", b"x", b"0123456789", "\u00e9\u20ac".encode() * 3):
        for opcode, kind in ((1, TEXT), (2, BINARY)):
            frame = raw(opcode, payload)
            decoded = payload.decode() if kind is TEXT else payload
            for cut in range(1, len(frame)):
                splitter = FrameSplitter(200)
                assert split(splitter, frame[:cut]) == ([], b""), (payload, cut)
                assert split(splitter, frame[cut:]) == ([(kind, decoded)], b""), (payload, cut)


def test_frames_that_cannot_be_simple_are_handed_over_at_once_even_when_cut_short() -> None:
    # wsproto must see them as soon as they arrive (it fails a non-minimal length at once, as it would alone)
    for frame in (raw(2, b"x" * 10, length_form="16"), raw(2, b"x" * 200, length_form="64"),
                  raw(1, b"x" * 10, length_form="64"),
                  raw(2, b"x" * 10, masked=True), raw(2, b"x" * 10, rsv=4), raw(2, b"x" * 300)):
        part = frame[: len(frame) - 3]
        assert split(FrameSplitter(200), part) == ([], part), frame[:4]


def test_large_text_frames_are_checked_as_strictly_as_small_ones() -> None:
    limit = 20_000
    good = "\u20ac" * 2000  # 6000 bytes: decoded from a memoryview, without a copy
    assert split(FrameSplitter(limit), raw(1, good.encode())) == ([(TEXT, good)], b"")
    for bad in (b"a" * 5000 + b"\xff" + b"b" * 10, b"a" * 5000 + "\u20ac".encode()[:2]):  # invalid, cut short
        frame = raw(1, bad)
        assert split(FrameSplitter(limit), frame) == ([], frame)  # to wsproto, which fails it with 1007


def test_absurd_64_bit_lengths_are_never_decoded_from_what_is_there() -> None:
    for length in (2**56 + 3, 2**63 + 3):
        frame = b"\x82\x7f" + length.to_bytes(8, "big") + b"abc"
        assert frame_extent(frame) == 10 + length
        assert split(FrameSplitter(2**31), frame) == ([], frame)


# -- the inflated size, counted across a message's fragments -------------------------------------------------------
def _compressed_fragments(payload: bytes, parts: int, ping: bool) -> bytes:
    """``payload`` deflated (RFC 7692) and sent as ``parts`` fragments: the first with RSV1, the last final; with
    ``ping``, a ping after the first fragment (RFC 6455 5.4)."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4]  # the 00 00 ff ff tail is implied
    cut = [len(data) * i // parts for i in range(parts + 1)]
    frames = b""
    for i in range(parts):
        first = (0x80 if i == parts - 1 else 0) | (0x40 | 0x2 if i == 0 else 0x0)
        chunk = data[cut[i]:cut[i + 1]]
        frames += bytes([first, len(chunk)]) + chunk  # every chunk is < 126 bytes here
        if ping and i == 0:
            frames += b"\x89\x03mid"
    return frames


@pytest.mark.parametrize("ping", [False, True], ids=["fragments", "a-ping-between"])
@pytest.mark.parametrize(("size", "refused"), [(100, False), (101, True)])
def test_the_deflate_extension_bounds_the_inflated_size_across_fragments(size: int, refused: bool,
                                                                           ping: bool) -> None:
    # each fragment inflates to well under the limit; together they are exactly the limit, or one byte more: the
    # extension itself counts the whole message (memory stays bounded whatever the rest of the stack does)
    extension = BoundedDeflate(100)
    extension.finalize("permessage-deflate")  # as the server agreed it
    protocol = FrameProtocol(client=True, extensions=[extension])
    protocol.receive_bytes(_compressed_fragments(bytes(range(size)), 4, ping))
    if refused:
        with pytest.raises(ParseFailed) as failed:
            list(protocol.received_frames())
        assert failed.value.code == CloseReason.MESSAGE_TOO_BIG
    else:
        frames = list(protocol.received_frames())
        data = [frame for frame in frames if frame.opcode != Opcode.PING]
        assert b"".join(frame.payload for frame in data) == bytes(range(size))
        assert data[-1].message_finished
        assert [frame.payload for frame in frames if frame.opcode == Opcode.PING] == ([b"mid"] if ping else [])
