"""The receive path over in-memory streams: every byte boundary, one cook per read, ping/pong events."""

from __future__ import annotations

import trio
import trio.testing

from wsdat_core.address import resolve_url
from wsdat_core.connection import BINARY, PING, TEXT, ConnectOptions, Event, Link

from .integration.hostile import CONTINUATION, frame, handshake, read_request, text
from .integration.hostile import PING as PING_OP

OPTIONS = ConnectOptions(resolve_url("ws://example.com/feed"))
STREAM = (text("hello") + frame(0x1, b"frag", fin=False) + frame(CONTINUATION, b"ment")
          + frame(0x2, b"\x00\x01") + frame(PING_OP, b"p") + text("end \u00e9"))
EXPECTED: list[Event] = [(TEXT, "hello"), (TEXT, "fragment"), (BINARY, b"\x00\x01"), (PING, b"p"),
                         (TEXT, "end \u00e9")]


async def run_link(chunks: list[bytes]) -> list[list[Event]]:
    """Feed ``chunks`` (after the handshake) one read at a time; return the batches the sink was given."""
    client, server = trio.testing.memory_stream_pair()
    batches: list[list[Event]] = []

    async def sink(batch: list[Event]) -> None:
        batches.append(list(batch))
        batch.clear()

    link = Link(client, OPTIONS, sink)
    link.start_delivery()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.serve)
        request = await read_request(server)
        await server.send_all(handshake(request))
        await link.wait_ready()
        assert link.handshake_done
        for chunk in chunks:
            await server.send_all(chunk)
            await trio.testing.wait_all_tasks_blocked()  # the reader took this chunk as one read
        await server.send_all(b"")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    if link.batch:
        batches.append(link.batch)
    return batches


async def test_every_byte_boundary_gives_the_same_messages() -> None:
    for split in range(1, len(STREAM)):
        batches = await run_link([STREAM[:split], STREAM[split:]])
        events = [event for batch in batches for event in batch]
        assert events == EXPECTED, f"split at byte {split}"


async def test_one_cook_per_network_read() -> None:
    batches = await run_link([STREAM])
    assert batches == [EXPECTED]


async def test_byte_by_byte_reads_still_give_whole_messages() -> None:
    batches = await run_link([bytes([b]) for b in STREAM])
    assert [event for batch in batches for event in batch] == EXPECTED
    assert all(len(batch) == 1 for batch in batches)  # a cook only when a read completed something
