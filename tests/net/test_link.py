"""The receive path over in-memory streams: every byte boundary, one cook per read, ping/pong events."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
from pathlib import Path

import trio
import trio.testing
from trio_websocket import WebSocketConnection
from wsproto import ConnectionType, WSConnection

from wsdat_core.model.address import resolve_url
from wsdat_core.net.connection import BINARY, PING, TEXT, ConnectOptions, Event, Link

from ..integration.hostile import CONTINUATION, frame, handshake, read_request, text
from ..integration.hostile import PING as PING_OP

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


# -- the private surface of trio-websocket that connection.Link depends on ------------------------------------------
# Link subclasses trio-websocket's WebSocketConnection (pinned to the 0.12 series). These tests fail, naming the
# installed trio-websocket version, when a private name Link overrides or reads disappears or changes its signature.
OVERRIDDEN = {
    "_reader_task", "_handle_accept_connection_event", "_handle_reject_connection_event", "_handle_message_event",
    "_handle_ping_event", "_handle_pong_event", "_handle_close_connection_event", "_send",
}
OWN_HELPERS = {"_read", "_refuse_message", "_fail", "_closed_message", "_keep_alive", "_keep_alive_when_open",
               "_handle_events", "_receive_handshake", "_wait_for_pong",
               "_ending"}


def _link_source_tree() -> ast.ClassDef:
    import wsdat_core.net.connection as module

    tree = ast.parse(Path(module.__file__).read_text())
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Link")


def _base_instance() -> WebSocketConnection:
    client, _ = trio.testing.memory_stream_pair()
    return WebSocketConnection(client, WSConnection(ConnectionType.CLIENT), host="example.com", path="/")


def _version() -> str:
    return f"trio-websocket {importlib.metadata.version('trio-websocket')}"


def test_every_private_method_of_link_is_a_known_override_or_its_own() -> None:
    methods = {node.name for node in _link_source_tree().body
               if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
               and node.name.startswith("_") and not node.name.startswith("__")}
    assert methods <= OVERRIDDEN | OWN_HELPERS, f"list new private methods here: {methods - OVERRIDDEN - OWN_HELPERS}"


async def test_overridden_trio_websocket_methods_exist_with_the_same_signature() -> None:
    for name in sorted(OVERRIDDEN):
        base = getattr(WebSocketConnection, name, None)
        assert base is not None, f"{_version()} no longer has WebSocketConnection.{name}, which Link overrides"
        ours = getattr(Link, name)
        assert list(inspect.signature(base).parameters) == list(inspect.signature(ours).parameters), (
            f"{_version()} changed the signature of WebSocketConnection.{name}: "
            f"{inspect.signature(base)} (Link has {inspect.signature(ours)})")


async def test_private_names_link_reads_exist_in_trio_websocket() -> None:
    tree = _link_source_tree()
    own = OVERRIDDEN | OWN_HELPERS
    init = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    own |= {target.attr for node in ast.walk(init) if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"}
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr.startswith("_")
            and not node.attr.startswith("__") and isinstance(node.value, ast.Name | ast.Call)
            and (getattr(node.value, "id", None) == "self" or isinstance(node.value, ast.Call))}
    borrowed = used - (own - OVERRIDDEN)
    assert "_wsproto" in borrowed and "_close_reason" in borrowed  # the check sees what it should
    instance = _base_instance()
    for name in sorted(borrowed):
        assert hasattr(instance, name), f"{_version()} no longer has WebSocketConnection.{name}, which Link uses"
    # methods Link calls on the base: still callable with the arguments Link passes
    assert list(inspect.signature(WebSocketConnection._close_stream).parameters) == ["self"], _version()
    assert list(inspect.signature(WebSocketConnection._abort_web_socket).parameters) == ["self"], _version()
