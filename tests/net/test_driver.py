"""The trio driver over in-memory streams: one batch per network read, every byte boundary, the close handshake, and
that nothing in the package leans on private names of trio-websocket or wsproto."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import trio
import trio.testing

from wsdat_core.model.address import resolve_url
from wsdat_core.model.closing import ClosedBy, ConnectionEnd
from wsdat_core.model.events import Batch, EventKind, Outgoing, Received
from wsdat_core.net.connect import ConnectOptions, connect
from wsdat_core.net.driver import Link

from ..integration.hostile import CLOSE, CONTINUATION, frame, handshake, parse_client_frames, read_request, text
from ..integration.hostile import PING as PING_OP

STREAM = (text("hello") + frame(0x1, b"frag", fin=False) + frame(CONTINUATION, b"ment")
          + frame(0x2, b"\x00\x01") + frame(PING_OP, b"p") + text("end \u00e9"))
EXPECTED = [(EventKind.TEXT, "hello"), (EventKind.TEXT, "fragment"), (EventKind.BINARY, b"\x00\x01"),
            (EventKind.PING, b"p"), (EventKind.TEXT, "end \u00e9")]
ROOT = Path(__file__).parent.parent.parent


async def open_in_memory(nursery: trio.Nursery) -> tuple[Link, trio.testing.MemoryStapledStream]:
    """A link over an in-memory stream pair, the server side scripted by the test."""
    client, server = trio.testing.memory_stream_pair()

    async def in_memory(*_: object) -> trio.abc.Stream:
        return client

    async def answer() -> None:
        request = await read_request(server)
        await server.send_all(handshake(request))

    nursery.start_soon(answer)
    link = await connect(ConnectOptions(resolve_url("ws://example.com/feed"), ping_interval=0, compression=False,
                                        transport=in_memory))
    return link, server


def flat(batches: list[Batch]) -> list[tuple[EventKind, object]]:
    return [(run.kind, payload) for batch in batches for run in batch for payload in run.payloads]


async def read_all(chunks: list[bytes]) -> list[Batch]:
    """Feed ``chunks`` one read at a time (then EOF); return the batches the link gave."""
    batches: list[Batch] = []
    async with trio.open_nursery() as nursery:
        link, server = await open_in_memory(nursery)
        for chunk in chunks:
            await server.send_all(chunk)
            await trio.testing.wait_all_tasks_blocked()
            batch = await link.receive()
            assert batch, "every read that completed something gives a batch"
            batches.append(batch)
        await server.send_stream.aclose()
        assert await link.receive() is None
        assert link.end == ConnectionEnd(ClosedBy.NETWORK, 1006, "")
    return batches


async def test_one_batch_per_network_read() -> None:
    batches = await read_all([STREAM])
    assert len(batches) == 1 and flat(batches) == EXPECTED
    assert batches[0][0] == Received(EventKind.TEXT, ["hello", "fragment"])


async def test_every_byte_boundary_gives_the_same_messages() -> None:
    for split in range(1, len(STREAM)):
        first, rest = STREAM[:split], STREAM[split:]
        async with trio.open_nursery() as nursery:
            link, server = await open_in_memory(nursery)
            await server.send_all(first)
            await trio.testing.wait_all_tasks_blocked()
            await server.send_all(rest)
            await server.send_stream.aclose()
            batches = [batch async for batch in link.batches()]
        assert flat(batches) == EXPECTED, f"split at byte {split}"


async def test_the_close_handshake_sends_ours_waits_for_theirs_and_returns_the_end() -> None:
    async with trio.open_nursery() as nursery:
        link, server = await open_in_memory(nursery)
        await link.send_batch([Outgoing(EventKind.TEXT, "bye soon", 8)])

        async def server_side() -> None:
            data = b""
            while CLOSE not in [opcode for opcode, _ in parse_client_frames(data)]:
                data += await server.receive_some(65536)
            assert parse_client_frames(data) == [(1, b"bye soon"), (CLOSE, struct.pack("!H", 4000) + b"done")]
            await server.send_all(text("late") + frame(CLOSE, struct.pack("!H", 4000)))
            await server.send_stream.aclose()

        nursery.start_soon(server_side)
        end = await link.close(4000, "done")
    assert end == ConnectionEnd(ClosedBy.WSDAT, 4000, "done") and link.answer == 4000


async def test_keepalive_declares_a_silent_peer_dead(virtual_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        link, _server = await open_in_memory(nursery)
        link.set_keepalive(1.0, 2.0)
        nursery.start_soon(link.keep_alive)
        assert await link.receive() is None  # the keepalive dropped the connection: the read ends
    assert link.end == ConnectionEnd(ClosedBy.WSDAT, 1006, "",
                                     "keepalive: no pong within 2 s, the connection is dead")


# -- no private names of trio-websocket or wsproto ------------------------------------------------------------------
def _python_files() -> list[Path]:
    files = [*ROOT.joinpath("wsdat_core").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]
    return [path for path in files if "__pycache__" not in path.parts]


def test_no_private_name_of_trio_websocket_or_wsproto_is_used() -> None:
    checked = 0
    for path in _python_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                    "trio_websocket", "wsproto"):
                checked += 1
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private and "._" not in node.module, f"{path}: imports {node.module} {private}"
        source = path.read_text()
        for name in ("._close_stream", "._reader_running", "._close_reason", "._inbound_compressed", "._wsproto",
                     "._abort_web_socket", "._decompressor", "._inbound_is_compressible"):
            assert name not in source, f"{path} uses {name}"
    assert checked, "the check saw the imports it should"


def test_the_package_does_not_import_wsproto() -> None:
    for path in ROOT.joinpath("wsdat_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert "wsproto" not in imported, path
    assert "trio-websocket>=0.12.2\"" in ROOT.joinpath("pyproject.toml").read_text()  # no upper pin
    assert "PING" in EventKind.__members__ and PING_OP == 0x9
