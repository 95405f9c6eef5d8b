"""The Web Server DAT with real clients on loopback: the `websockets` client, raw WebSocket clients written for the
tests, and plain HTTP (h11): TD's callbacks called as TD calls them, its methods, the table with a client column,
info channels, the awaitable API, broadcast, restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio
import websockets.sync.client

from wsdat_core import WebServerDAT, hookimpl
from wsdat_core.faces.testing import MonitorLines, wait_until
from wsdat_core.model.client import Client
from wsdat_core.model.events import Monitor
from wsdat_core.model.serverevents import ClientTextReceived, WebSocketClosed, WebSocketOpened

from .webclients import BINARY, CLOSE, PING, PONG, TEXT, RawClient, close_code, http, port_of, running_server

TD = Path(__file__).parent.parent / "td"


def copy(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copy(TD / name, target)
    return str(target)


async def test_tds_default_callbacks_file_works_as_is_with_the_websockets_client(tmp_path: Path) -> None:
    async with running_server(callbacks=[copy("td_webserver_template.py", tmp_path)]) as server:
        def talk() -> tuple[Any, ...]:
            with websockets.sync.client.connect(server.url) as ws:
                ws.send("hello")
                text = ws.recv(timeout=5)
                ws.send(b"\x00\x01\xff")
                binary = ws.recv(timeout=5)
                ws.ping(b"are you there").wait(5)  # the pong came back
            return text, binary

        text, binary = await trio.to_thread.run_sync(talk)
        assert (text, binary) == ("hello", b"\x00\x01\xff")
        [answer] = await http(port_of(server), "GET", "/")
        assert (answer.status, answer.reason, answer.text) == (200, "OK", f"<b>TouchDesigner: </b>{server.name}")
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        await wait_until(lambda: server.info.disconnects == 1)
        assert server.info.errors == 0 and server.info.hook_errors == 0, server.last_error
        assert server.rows()[1] == ["hello", server.rows()[1][1]]


async def test_one_pong_per_ping_whether_the_file_answers_or_not(tmp_path: Path) -> None:
    for name in ("td_webserver_template.py", "td_webserver_chat.py"):  # the template answers itself, chat does not
        async with running_server(callbacks=[copy(name, tmp_path)]) as server:
            client = await RawClient.connect(port_of(server))
            await client.send_frame(PING, b"one")
            await client.send_frame(PING, b"two")
            await client.send_text("who")
            frames = []
            while not frames or frames[-1][0] != TEXT:
                frames.append(await client.recv_frame())
            assert frames[:2] == [(PONG, b"one"), (PONG, b"two")], (name, frames)
            assert [f for f in frames if f[0] == PONG] == [(PONG, b"one"), (PONG, b"two")]
            await client.aclose()


async def test_a_chat_file_with_td_globals_client_lists_and_basic_auth(tmp_path: Path) -> None:
    monitor = MonitorLines()
    async with running_server(callbacks=[copy("td_webserver_chat.py", tmp_path), monitor]) as server:
        port = port_of(server)
        alice = await RawClient.connect(port, "/chat?who=alice")
        bob = await RawClient.connect(port, "/chat?who=bob")
        await wait_until(lambda: server.fetch("opened", 0) == 2)
        await alice.send_text("hi bob")
        assert await alice.recv_text() == "you said: hi bob"
        alice_client = server.webSocketConnections[0]
        assert await bob.recv_text() == f"{alice_client}: hi bob"
        await bob.send_text("who")
        assert await bob.recv_text() == " ".join(sorted(str(c) for c in server.webSocketConnections))
        assert monitor.has(f"debug: open {alice_client} /chat?who=alice True (td_webserver_chat.py:")
        denied, = await http(port, "GET", "/secret")
        assert (denied.status, denied.reason, denied.text) == (401, "Unauthorized", "who are you?")
        assert denied.headers["WWW-Authenticate"] == 'Basic realm="wsdat"'
        allowed, = await http(port, "GET", "/secret", headers=[("Authorization", "Basic dGQ6ZGVzaWduZXI=")])
        assert (allowed.status, allowed.text) == (200, "the secret")
        await alice.aclose()
        await wait_until(lambda: len(server.webSocketConnections) == 1)
        api, = await http(port, "POST", "/api?room=1&room=2&x=", headers=[("User-Agent", "tests/1")],
                          body=b'{"a": 1}')
        await bob.aclose()
        assert api.headers["content-type"] == "application/json"
        assert json.loads(api.body) == {"method": "POST", "pars": {"room": "2", "x": ""}, "body": '{"a": 1}',
                                        "agent": "tests/1", "clients": 1}
        assert server.info.hook_errors == 0, server.last_error


async def test_clients_are_stable_hashable_printable_and_the_table_has_a_client_column() -> None:
    opened: list[tuple[Client, str]] = []
    closed: list[Client] = []

    class Callbacks:
        def onWebSocketOpen(self, client: Client, uri: str) -> None:
            opened.append((client, uri))

        def onWebSocketReceiveText(self, webServerDAT: WebServerDAT, client: Client, data: str) -> None:
            webServerDAT.store(client, webServerDAT.fetch(client, 0) + 1)  # a client is a dict key

        def onWebSocketClose(self, client: Client) -> None:
            closed.append(client)

    async with running_server(callbacks=[Callbacks()], maxlines=3, bytes=True) as server:
        first = await RawClient.connect(port_of(server), "/a?x=1")
        second = await RawClient.connect(port_of(server), "/b")
        for text in ("1", "2"):
            await first.send_text(text)
        await second.send_text("é")
        await wait_until(lambda: server.numRows == 4)
        a, b = server.webSocketConnections
        assert opened == [(a, "/a?x=1"), (b, "/b")]
        assert (a.id, b.id, a.uri) == (1, 2, "/a?x=1")
        assert str(a) == f"127.0.0.1:{a.port}" and repr(a) == repr(str(a)) and hash(a) == hash(str(a))
        assert server.storage == {a: 2, b: 1}
        assert server.rows() == [["message", "client", "bytes"], ["1", a, "31"], ["2", a, "32"], ["é", b, "c3 a9"]]
        assert server[3, "client"] == b and server.col("client")[1:] == [a, a, b]
        await first.send_text("3")
        await wait_until(lambda: server[3, "message"] == "3")  # clamped to maxlines 3: the oldest went
        await first.send_close(4000, b"bye")
        assert await first.frames_until_close() == [(CLOSE, b"\x0f\xa0bye")]
        await wait_until(lambda: closed == [a])
        assert (a.close_code, a.close_reason) == (4000, "bye")
        info = server.info
        assert (info.clients, info.connects, info.disconnects, info.messages_received) == (1, 2, 1, 4)
        await first.aclose()
        await second.aclose()
        assert dict(info)["clients"] == 1 and info["state"] == "listening"


async def test_the_awaitable_api_events_send_and_close() -> None:
    async with running_server() as server:
        seen: list[Any] = []
        async with server.events() as events:
            client = await RawClient.connect(port_of(server), "/feed")
            await client.send_text("ping me")
            async for event in events:
                if isinstance(event, Monitor):
                    continue
                seen.append(event)
                if isinstance(event, ClientTextReceived):
                    await server.send_text(event.client, "pong: ", event.message)
                    break
            assert await client.recv_text() == "pong: ping me"
            who = seen[0].client
            assert seen == [WebSocketOpened("/feed", None, "", who), ClientTextReceived(1, "ping me", who)]
            async with trio.open_nursery() as nursery:
                async def answer() -> None:
                    frames = await client.frames_until_close()
                    assert close_code(frames[-1][1]) == 4001
                    await client.send_close(4001, b"ok")

                nursery.start_soon(answer)
                assert await server.close(who, 4001, "done") == 4001
            async for event in events:
                if isinstance(event, WebSocketClosed):
                    assert (event.code, event.reason, event.error, event.client) == (4001, "done", None, who)
                    break
            await client.aclose()
        with pytest.raises(ValueError, match="close: code 1005 is not allowed"):
            await server.close(who, 1005)


async def test_broadcast_reaches_every_client_and_counts_them() -> None:
    monitor = MonitorLines()
    async with running_server(callbacks=[monitor]) as server:
        clients = [await RawClient.connect(port_of(server)) for _ in range(3)]
        await wait_until(lambda: len(server.webSocketConnections) == 3)
        assert server.broadcastText("to ", "all") == 3
        assert server.broadcastBinary(b"\x01\x02") == 3
        for client in clients:
            assert await client.recv_frame() == (TEXT, b"to all")
            assert await client.recv_frame() == (BINARY, b"\x01\x02")
        assert server.info.messages_sent == 6
        assert server.webSocketSendText("127.0.0.1:1", "nobody") == -1
        assert server.webSocketSendText("127.0.0.1:2", "nobody") == -1
        assert server.info.warnings == 1
        assert monitor.lines[-1] == ("webSocketSendText: no open WebSocket client '127.0.0.1:1' (further refusals are "
                                     "not reported until a send succeeds)")
        assert server.webSocketSendText(clients[0].name, "x") == 1
        assert await clients[0].recv_frame() == (TEXT, b"x")
        for client in clients:
            await client.aclose()


async def test_http_without_callbacks_says_this_is_a_websocket_endpoint_and_keeps_alive() -> None:
    async with running_server() as server:
        answers = await http(port_of(server), "GET", "/", requests=2)
        assert [a.status for a in answers] == [426, 426]
        assert answers[0].headers["Upgrade"] == "websocket"
        assert answers[0].text == (f"426 Upgrade Required: this is the WebSocket server {server.name}; connect a "
                                   f"WebSocket client to {server.url}\n")
        assert server.info.http_requests == 2


async def test_a_raising_callback_is_one_line_with_file_and_line_and_the_server_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "raiser.py"
    path.write_text("def onWebSocketReceiveText(webServerDAT, client, data):\n"
                    "    if data == 'boom':\n"
                    "        raise ValueError('no ' + data)\n"
                    "    webServerDAT.webSocketSendText(client, data)\n\n"
                    "def onHTTPRequest(webServerDAT, request, response):\n"
                    "    return 1 / 0\n")
    monitor = MonitorLines()
    async with running_server(callbacks=[str(path), monitor]) as server:
        client = await RawClient.connect(port_of(server))
        await client.send_text("boom")
        await client.send_text("still here")
        assert await client.recv_text() == "still here"
        assert monitor.lines.count("raiser.py:3 in onWebSocketReceiveText: ValueError: no boom") == 1
        answer, = await http(port_of(server))
        assert (answer.status, answer.reason) == (500, "Internal Server Error")
        assert server.last_error == "raiser.py:7 in onHTTPRequest: ZeroDivisionError: division by zero"
        assert (server.info.hook_errors, server.info.errors) == (2, 2)
        assert server.listening
        await client.aclose()


async def test_http_callbacks_answer_status_headers_bytes_and_plugins_chain() -> None:
    class First:
        @hookimpl
        def onHTTPRequest(self, request: dict[str, Any], response: dict[str, Any]) -> None:
            response["X-First"] = request["method"]  # returns None: the response it changed goes on

    class Second:
        async def onHTTPRequest(self, webServerDAT: WebServerDAT, request: dict[str, Any],
                                response: dict[str, Any]) -> dict[str, Any]:
            await trio.sleep(0)
            if request["uri"] == "/png":
                return {"statusCode": 201, "data": b"\x89PNG", "content-type": "image/png"}
            response.update(statusCode=404, statusReason="Nope", data="missing " + request["uri"])
            return response

    async with running_server(callbacks=[First(), Second()]) as server:
        created, = await http(port_of(server), "PUT", "/png")
        assert (created.status, created.reason, created.body) == (201, "Created", b"\x89PNG")
        assert created.headers["content-type"] == "image/png" and "X-First" not in created.headers
        head, get = await http(port_of(server), "HEAD", "/x", requests=2)
        assert (head.status, head.reason, head.body, head.headers["X-First"]) == (404, "Nope", b"", "HEAD")
        assert head.headers["Content-Length"] == str(len("missing /x"))
        assert (get.status, get.body) == (404, b"")  # the same connection: a HEAD answer leaves it usable


async def test_restart_port_change_and_active_off_close_clients_and_pair_start_and_stop() -> None:
    calls: list[str] = []

    class Lifecycle:
        def onServerStart(self, webServerDAT: WebServerDAT) -> None:
            calls.append(f"start {port_of(webServerDAT) > 0}")

        def onServerStop(self) -> None:
            calls.append("stop")

    async with running_server(callbacks=[Lifecycle()]) as server:
        client = await RawClient.connect(port_of(server))
        await wait_until(lambda: server.info.clients == 1)
        server.par.restart.pulse()
        assert close_code((await client.frames_until_close())[-1][1]) == 1012
        await client.aclose()
        await wait_until(lambda: calls == ["start True", "stop", "start True"])
        client = await RawClient.connect(port_of(server))
        await wait_until(lambda: server.info.clients == 1)
        server.par.active = False
        assert close_code((await client.frames_until_close())[-1][1]) == 1001
        await client.aclose()
        await wait_until(lambda: server.info.state == "closed")
        assert calls == ["start True", "stop", "start True", "stop"]
        server.par.active = True
        await server.wait_listening(5)
    assert calls == ["start True", "stop", "start True", "stop", "start True", "stop"]


async def test_a_port_in_use_is_one_error_line_and_the_server_waits_for_a_change() -> None:
    async with running_server() as first, running_server(port=port_of(first)) as second:
        assert second.stalled and second.info.state == "closed"
        assert second.last_error.startswith(f"cannot listen on 127.0.0.1:{port_of(first)}: ")
        assert second.last_error.endswith("; change a parameter to try again")
        second.par.port = 0
        await second.wait_listening(5)
        assert not second.stalled


async def test_execute_from_decides_me_in_a_callbacks_file(tmp_path: Path) -> None:
    path = tmp_path / "who.py"
    path.write_text("def onWebSocketReceiveText(webServerDAT, client, data):\n"
                    "    webServerDAT.webSocketSendText(client, type(me).__name__)\n")

    class Elsewhere:
        pass

    namespace: dict[str, object] = {"elsewhere": Elsewhere()}
    async with running_server(callbacks=[str(path)], namespace=namespace) as server:
        client = await RawClient.connect(port_of(server))
        answers = []
        for executeloc in ("current", "callbacks", "op"):
            server.par.update(executeloc=executeloc, fromop="elsewhere")
            await client.send_text("who is me?")
            answers.append(await client.recv_text())
        assert answers == ["WebServerDAT", "module", "Elsewhere"]
        await client.aclose()


async def test_a_file_is_called_by_position_whatever_its_arguments_are_called(tmp_path: Path) -> None:
    path = tmp_path / "renamed.py"
    path.write_text("def onWebSocketReceiveText(dat, c, message, *rest):\n"
                    "    dat.webSocketSendText(c, 'got ' + message)\n\n"
                    "def onWebSocketOpen(server, who):  # one argument short: TD fails it only when called\n"
                    "    pass\n")
    monitor = MonitorLines()
    async with running_server(callbacks=[str(path), monitor]) as server:
        client = await RawClient.connect(port_of(server))
        await client.send_text("hi")
        assert await client.recv_text() == "got hi"
        assert monitor.has("renamed.py:4 in onWebSocketOpen: TypeError: ")
        await client.aclose()
