"""Every limit at its exact value and one past it, against real servers on loopback: ``maxmessagesize`` (text and
binary; one frame, fragments, a frame in pieces, compressed), the parts a message may come in, 125-byte control
frames, the send queue; and how each way a server can end a connection is reported (error count, monitor line).

The exact frames come from the raw-socket :class:`HostileServer` (tests/integration/hostile.py).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
import trio

from wsdat_core import ConnectError, WebSocketDAT
from wsdat_core.faces.testing import MonitorLines, ScriptedServer, wait_until

from .hostile import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    HostileServer,
    Request,
    drain,
    frame,
    handshake,
    parse_client_frames,
    text,
)

LIMIT = 100


class Seen(MonitorLines):
    """What the hooks were given."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str | bytes] = []
        self.pings: list[bytes] = []
        self.pongs: list[bytes] = []

    def onReceiveText(self, message: str) -> None:
        self.messages.append(message)

    def onReceiveBinary(self, contents: bytes) -> None:
        self.messages.append(contents)

    def onReceivePing(self, contents: bytes) -> None:
        self.pings.append(contents)

    def onReceivePong(self, contents: bytes) -> None:
        self.pongs.append(contents)

    def disconnects(self) -> list[str]:
        return [line for line in self.lines if line.startswith("disconnected")]


async def start(nursery: trio.Nursery, url: str, **params: Any) -> tuple[WebSocketDAT, Seen]:
    seen = Seen()
    params.setdefault("reconnect", False)
    dat = WebSocketDAT(netaddress=url, callbacks=[seen], **params)
    await nursery.start(dat.run)
    return dat, seen


def serving(*parts: bytes, extra: bytes = b""):
    """A server script: the handshake, then ``parts`` (each its own write, a moment apart), then it reads what the
    client sends until the client closes (kept in ``server.received``)."""

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request, extra=extra) + parts[0])
        for part in parts[1:]:
            await trio.sleep(0.05)  # its own read on the client's side
            await stream.send_all(part)
        await drain(stream, servers[script])

    servers: dict[Any, HostileServer] = {}
    script.servers = servers  # type: ignore[attr-defined]
    return script


async def run_server(nursery: trio.Nursery, script: Any) -> HostileServer:
    server = await HostileServer(script).start(nursery)
    script.servers[script] = server
    return server


def close_frames(server: HostileServer) -> list[tuple[int, bytes]]:
    """(code, reason) of every close frame the client sent."""
    return [(struct.unpack("!H", payload[:2])[0], payload[2:]) for data in server.received
            for opcode, payload in parse_client_frames(data) if opcode == CLOSE]


# -- maxmessagesize ---------------------------------------------------------------------------------------------------
def _deflate(compressor: Any, payload: bytes) -> bytes:
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def message(opcode: int, payload: bytes, shape: str, compressor: Any = None) -> list[bytes]:
    """``payload`` as the server sends it: its writes (a frame in pieces is two writes)."""
    if shape == "single":
        return [frame(opcode, payload)]
    if shape == "pieces":
        whole = frame(opcode, payload)
        return [whole[: len(whole) // 2], whole[len(whole) // 2:]]
    if shape == "fragmented":  # three fragments, cut at byte 33 and 66 (inside a two-byte character for text)
        cuts = [payload[:33], payload[33:66], payload[66:]]
        return [frame(opcode, cuts[0], fin=False) + frame(CONTINUATION, cuts[1], fin=False)
                + frame(CONTINUATION, cuts[2])]
    if shape == "compressed":
        return [frame(opcode, _deflate(compressor, payload), rsv=0b100)]
    # compressed and fragmented: RSV1 on the first frame only
    assert shape in ("compressed-fragmented", "compressed-fragmented-ping")
    deflated = _deflate(compressor, payload)
    third = len(deflated) // 3
    ping = frame(PING, b"mid") if shape.endswith("ping") else b""  # a control frame between the fragments
    return [frame(opcode, deflated[:third], fin=False, rsv=0b100) + ping
            + frame(CONTINUATION, deflated[third:2 * third], fin=False) + frame(CONTINUATION, deflated[2 * third:])]


@pytest.mark.parametrize("shape", [
    "single", "fragmented", "pieces", "compressed", "compressed-fragmented",
    # RFC 6455 5.4 allows control frames between the fragments of a message, and RFC 7692 leaves them uncompressed:
    # the ping must not end the inflation nor restart the size count (wsproto's own extension takes the ping's FIN
    # for the end of the compressed message; connection.BoundedDeflate skips control frames)
    "compressed-fragmented-ping",
])
@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_exactly_maxmessagesize_is_accepted_one_byte_more_refused(nursery: trio.Nursery, kind: str,
                                                                        shape: str) -> None:
    # text counts UTF-8 bytes: 50 two-byte characters are exactly 100 bytes
    exact: str | bytes = "é" * (LIMIT // 2) if kind == "text" else bytes(range(LIMIT))
    over: str | bytes = exact + ("x" if kind == "text" else b"x")  # type: ignore[operator]
    opcode = TEXT if kind == "text" else BINARY
    encode = (lambda m: m.encode()) if kind == "text" else (lambda m: m)
    compressor = zlib.compressobj(wbits=-15)
    compressed = shape.startswith("compressed")
    extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if compressed else b""
    # two at the limit: what the first one counted must not be held against the second
    # "between" in two uncompressed fragments: wsproto (and with compression, the extension) sees it
    between = frame(TEXT, b"betw", fin=False) + frame(CONTINUATION, b"een")
    writes = [*message(opcode, encode(exact), shape, compressor), *message(opcode, encode(exact), shape, compressor),
              between, *message(opcode, encode(over), shape, compressor), text("never")]
    script = serving(*writes, extra=extra)
    server = await run_server(nursery, script)
    dat, seen = await start(nursery, server.url, maxmessagesize=LIMIT, compression="deflate" if compressed else "off")
    await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.messages == [exact, exact, "between"]
    assert seen.pings == ([b"mid"] * 3 if shape.endswith("ping") else [])
    assert dat.info.errors == 1
    what = "once decompressed" if compressed else f"of at least {LIMIT + 1} bytes"
    assert what in dat.last_error and f"maxmessagesize {LIMIT}" in dat.last_error, dat.last_error
    assert dat.last_error.endswith("closed with 1009")
    await wait_until(lambda: server.received)
    # the close frame's reason: the error line's cause
    reason = dat.last_error.removeprefix("disconnected: ").removesuffix("; closed with 1009").encode()
    assert close_frames(server) == [(1009, reason)]


def fragments(count: int) -> bytes:
    """A binary message in ``count`` one-byte non-final frames and a final one."""
    return frame(BINARY, b"a", fin=False) + frame(CONTINUATION, b"b", fin=False) * (count - 1) \
        + frame(CONTINUATION, b"z")


@pytest.mark.parametrize(("maxmessagesize", "parts"), [(10_000, 1024), (32 * 1024, 2048)])
async def test_a_message_may_come_in_exactly_fragment_limit_parts_and_not_one_more(nursery: trio.Nursery,
                                                                                   maxmessagesize: int,
                                                                                   parts: int) -> None:
    script = serving(fragments(parts) + fragments(parts + 1) + text("never"))
    server = await run_server(nursery, script)
    dat, seen = await start(nursery, server.url, maxmessagesize=maxmessagesize)
    await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.messages == [b"a" + b"b" * (parts - 1) + b"z"]
    reason = f"message of more than {parts} fragments (a fragment flood)"
    assert dat.last_error == f"disconnected: {reason}; closed with 1009"
    await wait_until(lambda: server.received)
    assert close_frames(server) == [(1009, reason.encode())]


# -- control frames: 125 bytes at most --------------------------------------------------------------------------------
async def test_control_payloads_of_125_bytes_pass_and_126_are_refused(nursery: trio.Nursery) -> None:
    got: list[tuple[int, bytes]] = []

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + frame(PING, b"s" * 125))
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
            frames = parse_client_frames(data)
            for opcode, payload in frames[len(got):]:
                got.append((opcode, payload))
                if opcode == PING:
                    await stream.send_all(frame(PONG, payload))

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server.url, pinginterval=0)
    await wait_until(lambda: got)  # wsdat's answer to the server's 125-byte ping
    assert seen.pings == [b"s" * 125] and got == [(PONG, b"s" * 125)]
    two_byte = "é" * 62 + "x"  # 125 UTF-8 bytes in 63 characters
    assert dat.sendPing(b"p" * 125) == 125
    assert dat.sendPong(two_byte) == 125
    assert dat.sendPing(bytearray(b"q" * 125)) == 125
    for send, payload in ((dat.sendPing, b"p" * 126), (dat.sendPong, "é" * 63), (dat.sendPing, "x" * 126),
                          (dat.sendPong, memoryview(b"y" * 126))):
        with pytest.raises(ValueError, match=r"contents of 126 bytes; control frames carry at most 125 bytes"):
            send(payload)
    await wait_until(lambda: len(got) == 4)
    assert got[1:] == [(PING, b"p" * 125), (PONG, two_byte.encode()), (PING, b"q" * 125)]
    await wait_until(lambda: len(seen.pongs) == 2)  # the server's answers reached onReceivePong
    assert seen.pongs == [b"p" * 125, b"q" * 125]
    assert dat.connected and dat.info.errors == 0
    dat.stop()


# -- the send queue -----------------------------------------------------------------------------------------------
async def test_send_queue_at_exactly_its_limit(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(sendqueuesize=3)
    # no checkpoint between the calls: the sender cannot take anything meanwhile
    assert [dat.sendText(f"m{i}") for i in range(5)] == [2, 2, 2, -1, -1]
    await ws_server.wait_received(3)
    assert ws_server.received == ["m0", "m1", "m2"]
    await wait_until(lambda: dat.info.messages_sent == 3)
    dat.par.sendqueuesize = 1  # applies to the open connection at once
    assert [dat.sendBinary(b"b"), dat.sendBinary(b"c")] == [1, -1]
    await ws_server.wait_received(4)
    await wait_until(lambda: dat.info.messages_sent == 4)
    # the byte bound: exactly sendqueuebytes pass, one byte more waits its turn
    dat.par.sendqueuesize = 100
    dat.par.sendqueuebytes = 10
    assert [dat.sendText("aaaa"), dat.sendText("bbbbbb"), dat.sendText("c")] == [4, 6, -1]
    await ws_server.wait_received(6)
    await wait_until(lambda: dat.info.messages_sent == 6)
    # one message always fits an empty queue, however big
    assert [dat.sendText("x" * 50), dat.sendText("")] == [50, -1]
    await ws_server.wait_received(7)
    assert ws_server.received[3:] == [b"b", "aaaa", "bbbbbb", "x" * 50]
    assert dat.info.warnings == 4  # one warning per full spell: the queue emptied between the four
    dat.stop()


async def test_awaitable_sends_wait_for_room_at_the_limit(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(sendqueuesize=2)
    assert [dat.sendText("a"), dat.sendText("b")] == [1, 1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dat.send_text, "c")  # full: waits for room instead of refusing
        await ws_server.wait_received(3)
    assert ws_server.received == ["a", "b", "c"]
    dat.stop()


# -- how a connection ended ----------------------------------------------------------------------------------------
def ends_with(close_payload: bytes | None):
    """A server script: one message, then a close frame with ``close_payload`` (None: TCP closes without one); it
    waits for the client's close frame before dropping TCP, as RFC 6455 asks."""

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text("hello"))
        await trio.sleep(0.05)
        if close_payload is None:
            return  # EOF: the connection is lost without a close frame
        await stream.send_all(frame(CLOSE, close_payload))
        data = b""
        with trio.move_on_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
                if any(opcode == CLOSE for opcode, _ in parse_client_frames(data)):
                    break
        answers.extend(payload for opcode, payload in parse_client_frames(data) if opcode == CLOSE)

    answers: list[bytes] = []
    script.answers = answers  # type: ignore[attr-defined]
    return script


SERVER_CLOSED = "disconnected: the server closed the connection"


@pytest.mark.parametrize(
    ("close_payload", "errors", "line"),
    [
        (struct.pack("!H", 1000), 0, f"{SERVER_CLOSED} (1000 normal closure)"),
        (struct.pack("!H", 1000) + b"bye", 0, f"{SERVER_CLOSED} (1000 normal closure: bye)"),
        (struct.pack("!H", 1001), 0, f"{SERVER_CLOSED} (1001 going away)"),
        (struct.pack("!H", 1001) + b"restarting", 0, f"{SERVER_CLOSED} (1001 going away: restarting)"),
        (struct.pack("!H", 1011) + b"oops", 1, f"{SERVER_CLOSED} with 1011 internal error: oops"),
        (struct.pack("!H", 4001), 1, f"{SERVER_CLOSED} with 4001 application code"),
        (struct.pack("!H", 4001) + b"kicked", 1, f"{SERVER_CLOSED} with 4001 application code: kicked"),
        (b"", 0, f"{SERVER_CLOSED} (1005 no status received)"),
        (None, 1, "disconnected: connection lost without a close frame (1006 abnormal closure)"),
    ],
    ids=["1000", "1000-reason", "1001-going-away", "1001-reason", "1011", "4001", "4001-reason", "no-code",
         "tcp-drop"],
)
async def test_close_classification(nursery: trio.Nursery, close_payload: bytes | None, errors: int,
                                    line: str) -> None:
    script = ends_with(close_payload)
    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server.url)
    await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.messages == ["hello"]
    assert seen.disconnects() == [line]
    assert dat.info.errors == errors
    assert dat.last_error == (line if errors else "")
    if close_payload is not None:  # wsdat answered the close frame, echoing it (no code for no code)
        await wait_until(lambda: script.answers)
        assert script.answers == [close_payload]
    # reconnect is off: the DAT waits for a parameter change, and says why when the end was an error
    await wait_until(lambda: dat.stalled)
    with pytest.raises(ConnectError) as stalled:
        await dat.wait_connected()
    because = line if errors else "the server closed the connection and reconnect is off"
    assert str(stalled.value).startswith(f"not reconnecting: {because}")
    dat.stop()


async def test_close_classification_from_a_websocket_library_server(ws_server: ScriptedServer, dat_factory) -> None:
    # the same lines when trio-websocket closes (its close handshake, its TCP close)
    seen = Seen()
    dat = await dat_factory(callbacks=[seen])
    await ws_server.close(1001, "maintenance")
    await wait_until(lambda: dat.info.disconnects == 1)
    await wait_until(lambda: dat.connected)  # reconnect is on: a normal close is followed by a reconnect
    await ws_server.close(4001)
    await wait_until(lambda: dat.info.disconnects == 2)
    await wait_until(lambda: dat.connected)
    await ws_server.drop()
    await wait_until(lambda: dat.info.disconnects == 3)
    assert seen.disconnects() == [f"{SERVER_CLOSED} (1001 going away: maintenance)",
                                  f"{SERVER_CLOSED} with 4001 application code",
                                  "disconnected: connection lost without a close frame (1006 abnormal closure)"]
    assert dat.info.errors == 2
    dat.stop()
