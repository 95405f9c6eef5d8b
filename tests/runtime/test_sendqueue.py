"""The send queue's bounds at the exact value and one past it, taking, waiting for room and for what was sent,
receipts."""

from __future__ import annotations

import trio
import trio.testing

from wsdat_core.model.events import EventKind, Outgoing
from wsdat_core.runtime.sendqueue import Receipt, SendQueue, settle


def item(size: int, receipt: Receipt | None = None) -> Outgoing:
    return Outgoing(EventKind.BINARY, b"x" * size, size, receipt)


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
    assert [outgoing.size for outgoing in batch] == [3, 4]
    assert queue.queued_bytes == 11 and len(queue) == 2
    batch = await queue.take(1)  # at least one, even over the budget
    assert [outgoing.size for outgoing in batch] == [5]
    batch = await queue.take(100)
    assert [outgoing.size for outgoing in batch] == [6]
    assert queue.queued_bytes == 0 and len(queue) == 0


async def test_take_waits_for_a_put() -> None:
    queue = SendQueue(2)
    taken: list[list[object]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _take_into(queue, taken))
        await trio.testing.wait_all_tasks_blocked()
        assert taken == []
        queue.put(item(2))
    assert [[outgoing.size for outgoing in batch] for batch in taken] == [[2]]


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
    assert done == [False] and [outgoing.size for outgoing in left] == [1]
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


