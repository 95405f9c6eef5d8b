"""Bad input against the Web Server DAT: slow and silent clients time out without starving anyone, a client that
stops reading is closed without slowing the others or the hooks, oversize messages close with 1009, maxclients
answers 503, protocol errors fail the client's connection, HTTP abuse gets proper answers. Each failure is one line
and the server goes on."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import trio
import trio.testing

from wsdat_core import WebServerDAT
from wsdat_core.faces.testing import MonitorLines, wait_until
from wsdat_core.model.client import Client

from .hostile import CONTINUATION
from .test_webserver import copy
from .webclients import BINARY, CLOSE, PING, PONG, TEXT, RawClient, close_code, http, port_of, running_server


async def ended(stream: trio.SocketStream) -> bool:
    """True once the server closed ``stream`` (EOF, or a reset when it left bytes unread)."""
    try:
        return await stream.receive_some(1024) == b""
    except trio.BrokenResourceError:
        return True


async def test_slowloris_and_silent_connections_time_out_while_others_are_served(
        virtual_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    async with running_server(timeout=3000, callbacks=[copy("td_webserver_template.py", tmp_path)]) as server:
        port = port_of(server)
        slow = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(10)]
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(10)]
        for stream in slow:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")

        async def trickle(stream: trio.SocketStream) -> None:  # one more header byte a second, never done
            with contextlib.suppress(trio.BrokenResourceError):  # until the server drops it
                for _ in range(10):
                    await trio.sleep(1)
                    await stream.send_all(b"X")

        async with trio.open_nursery() as nursery:
            for stream in slow:
                nursery.start_soon(trickle, stream)
            client = await RawClient.connect(port)  # served meanwhile
            await client.send_text("hello")
            assert await client.recv_text() == "hello"
            started = trio.current_time()
            for stream in [*slow, *silent]:
                assert await ended(stream)  # dropped by the server
            assert 3 <= trio.current_time() - started <= 4
            nursery.cancel_scope.cancel()
        assert server.info.refused == 10  # the slow ones; silent ones sent nothing to refuse
        await client.send_text("still served")
        assert await client.recv_text() == "still served"
        for stream in [*slow, *silent]:
            await stream.aclose()
        await client.aclose()


async def test_a_client_that_stops_reading_is_closed_and_never_slows_the_others_or_the_hooks() -> None:
    monitor = MonitorLines()
    seen: list[str] = []

    class Echo:
        def onWebSocketReceiveText(self, webServerDAT: WebServerDAT, client: Client, data: str) -> None:
            seen.append(data)
            webServerDAT.webSocketSendText(client, data)

    async with running_server(sendqueuebytes=256 * 1024, callbacks=[monitor, Echo()]) as server:
        port = port_of(server)
        stuck = await RawClient.connect(port)  # never reads
        reader = await RawClient.connect(port)
        await wait_until(lambda: server.info.clients == 2)
        stuck_client = next(c for c in server.webSocketConnections if c == stuck.name)
        chunk = "x" * 65536
        received = 0

        async def read_all() -> None:
            nonlocal received
            while received < 400:
                opcode, payload = await reader.recv_frame()
                assert (opcode, len(payload)) == (TEXT, 65536)
                received += 1

        reached = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for _ in range(400):  # 25 MiB to each client: far beyond what socket buffers hold
                reached.append(server.broadcastText(chunk))
                await trio.sleep(0)
            await wait_until(lambda: received == 400)
        assert 2 in reached and reached == sorted(reached, reverse=True) and reached[-1] == 1
        assert stuck_client.close_code == 1008
        assert stuck_client not in server.webSocketConnections
        assert server.webSocketSendText(stuck_client, "late") == -1
        assert monitor.has(f"client {stuck_client} does not read: ")
        assert monitor.has("(sendqueuebytes 262144); closed with 1008, the connection dropped")
        assert server.info.refused == 1 and server.info.errors == 0
        await reader.send_text("hooks still run")  # the reader's echo comes back: hooks were never held up
        assert await reader.recv_text() == "hooks still run"
        assert seen == ["hooks still run"]
        await stuck.aclose()
        await reader.aclose()


async def test_oversize_messages_close_with_1009_whole_or_in_fragments() -> None:
    monitor = MonitorLines()
    async with running_server(maxmessagesize=1000, callbacks=[monitor]) as server:
        whole = await RawClient.connect(port_of(server))
        await whole.send_frame(BINARY, b"x" * 1001)
        frames = await whole.frames_until_close()
        assert frames[-1] == (CLOSE, struct.pack("!H", 1009) + b"message of at least 1001 bytes exceeds "
                                                              b"maxmessagesize 1000")
        assert await whole.recv_frame() == (-1, b"")  # and the server closed TCP
        fragments = await RawClient.connect(port_of(server))
        await fragments.send_frame(TEXT, b"a" * 600, fin=False)
        await fragments.send_frame(CONTINUATION, b"a" * 600)
        assert close_code((await fragments.frames_until_close())[-1][1]) == 1009
        await wait_until(lambda: server.info.disconnects == 2)
        assert monitor.has(f"client {whole.name} disconnected: message of at least 1001 bytes exceeds maxmessagesize "
                           "1000; closed with 1009")
        assert server.numRows == 1 and server.info.warnings == 2
        await whole.aclose()
        await fragments.aclose()


async def test_maxclients_answers_503_to_the_next_client() -> None:
    monitor = MonitorLines()
    async with running_server(maxclients=2, callbacks=[monitor]) as server:
        port = port_of(server)
        first, second = await RawClient.connect(port), await RawClient.connect(port)
        third = await RawClient.connect(port)
        assert third.status == 503
        assert b"\r\nRetry-After: 5" in third.response
        assert server.info.clients == 2 and server.info.refused == 1
        assert monitor.has("refused: 2 WebSocket clients are connected (maxclients); answered 503")
        await first.aclose()
        await wait_until(lambda: server.info.clients == 1)
        fourth = await RawClient.connect(port)
        assert fourth.status == 101
        for client in (second, third, fourth):
            await client.aclose()


async def test_protocol_errors_fail_only_that_client() -> None:
    monitor = MonitorLines()
    async with running_server(callbacks=[monitor]) as server:
        port = port_of(server)
        calm = await RawClient.connect(port)
        unmasked = await RawClient.connect(port)
        await unmasked.send_frame(TEXT, b"hi", masked=False)
        assert close_code((await unmasked.frames_until_close())[-1][1]) == 1002
        broken_text = await RawClient.connect(port)
        await broken_text.send_frame(TEXT, b"\xff\xfe")
        assert close_code((await broken_text.frames_until_close())[-1][1]) == 1007
        big_ping = await RawClient.connect(port)
        await big_ping.send_frame(PING, b"p" * 126)
        assert close_code((await big_ping.frames_until_close())[-1][1]) == 1002
        await wait_until(lambda: server.info.disconnects == 3)
        assert monitor.has(f"client {unmasked.name} disconnected: protocol error: ")
        await calm.send_frame(PING, b"ok?")
        assert await calm.recv_frame() == (PONG, b"ok?")
        for client in (calm, unmasked, broken_text, big_ping):
            await client.aclose()


async def test_keepalive_closes_a_client_that_does_not_answer_pings(virtual_clock: trio.testing.MockClock) -> None:
    monitor = MonitorLines()
    async with running_server(pinginterval=5, pingtimeout=3, callbacks=[monitor]) as server:
        quiet = await RawClient.connect(port_of(server))
        lively = await RawClient.connect(port_of(server))

        async def answer_pings() -> None:
            while True:
                opcode, payload = await lively.recv_frame()
                if opcode == PING:
                    await lively.send_frame(PONG, payload)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer_pings)
            started = trio.current_time()
            opcode, _ = await quiet.recv_frame()
            assert opcode == PING and 5 <= trio.current_time() - started < 6
            assert close_code((await quiet.frames_until_close())[-1][1]) == 1011
            assert 8 <= trio.current_time() - started < 9
            await trio.sleep(30)
            assert server.info.clients == 1  # the one answering stays
            nursery.cancel_scope.cancel()
        assert monitor.has(f"client {quiet.name} disconnected: no answer to a keepalive ping within 3 s "
                           "(pingtimeout); closed with 1011")
        await quiet.aclose()
        await lively.aclose()


async def test_http_abuse_gets_proper_answers() -> None:
    async with running_server(maxmessagesize=100) as server:
        port = port_of(server)
        too_large, = await http(port, "POST", "/", body=b"x" * 101)
        assert too_large.status == 413
        assert too_large.text == "413 Content Too Large: a request body is at most 100 bytes (maxmessagesize)\n"
        huge_head, = await http(port, "GET", "/", headers=[("X-Big", "y" * 20000)])
        assert huge_head.status == 431
        upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        no_version, = await http(port, "GET", "/", headers=upgrade)
        assert (no_version.status, no_version.headers["Sec-WebSocket-Version"]) == (426, "13")
        no_key, = await http(port, "GET", "/", headers=[*upgrade, ("Sec-WebSocket-Version", "13")])
        assert no_key.status == 400 and no_key.text == ("400 Bad Request: not a valid WebSocket handshake: "
                                                        "'Sec-WebSocket-Key' is missing or not 16 bytes in base64\n")
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(b"\x16\x03\x01 not http at all\r\n\r\n")
            answer = b""
            while chunk := await stream.receive_some(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 400 ")
        assert server.info.refused == 5 and server.listening
