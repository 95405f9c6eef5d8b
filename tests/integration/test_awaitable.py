"""The awaitable API for trio services: wait_connected, send_text/send_binary, close, events(), against real servers."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import ConnectError, ConnectionClosedError, WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_until
from wsdat_core.model.events import (
    BinaryReceived,
    Connected,
    Disconnected,
    Monitor,
    PingReceived,
    TextReceived,
)

from .hostile import HostileServer, Request, drain, handshake


async def test_wait_connected_returns_once_connected_and_at_once_when_it_is(ws_server: ScriptedServer,
                                                                           nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url, active=False)
    await nursery.start(dat.run)
    waiting = trio.Event()

    async def waiter() -> None:
        await dat.wait_connected()
        waiting.set()

    nursery.start_soon(waiter)
    await trio.testing.wait_all_tasks_blocked()
    assert not waiting.is_set()  # inactive: still waiting
    dat.par.active = True
    with trio.fail_after(5):
        await waiting.wait()
    assert dat.connected
    with trio.fail_after(0.5):
        await dat.wait_connected()  # connected: returns at once
    dat.stop()


async def test_wait_connected_raises_when_the_dat_gives_up_for_good(nursery: trio.Nursery) -> None:
    async def forbidden(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    server = await HostileServer(forbidden).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, reconnect=True)
    nursery.start_soon(dat.run)
    with pytest.raises(ConnectError, match="HTTP 403"):
        await dat.wait_connected()
    dat.stop()


async def test_wait_connected_raises_when_reconnect_is_off_and_the_attempt_failed(nursery: trio.Nursery) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: connection refused
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{port}/", reconnect=False)
    nursery.start_soon(dat.run)
    with pytest.raises(ConnectError, match="refused"):
        await dat.wait_connected()
    dat.stop()


async def test_wait_connected_can_be_cancelled(nursery: trio.Nursery, silent_server: int) -> None:
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{silent_server}/", timeout=60_000)
    nursery.start_soon(dat.run)
    with trio.move_on_after(0.2) as scope:
        await dat.wait_connected()
    assert scope.cancelled_caught
    dat.stop()


async def test_send_text_returns_once_written_when_asked_and_wait_sent_waits_for_all(ws_server: ScriptedServer,
                                                                                      dat_factory) -> None:
    dat = await dat_factory()
    await dat.send_text("a", "é", 3, written=True)
    assert dat.info.messages_sent == 1 and dat.info.bytes_sent == 4  # counted: it was written
    await dat.send_binary(b"\x00\x01", written=True)
    assert dat.info.messages_sent == 2
    for i in range(100):
        await dat.send_text(f"queued {i}")  # accepted into the send queue: returns before the write
    assert dat.info.messages_sent < 102
    await dat.wait_sent()
    assert dat.info.messages_sent == 102
    await ws_server.wait_received(102)
    assert ws_server.received == ["aé3", b"\x00\x01", *(f"queued {i}" for i in range(100))]


async def test_send_text_waits_for_room_instead_of_refusing(nursery: trio.Nursery) -> None:
    # A server that reads nothing until told: the socket buffers fill, then the send queue; TD's sendText is
    # refused (-1) while the awaitable send_text waits, and completes once the server reads again.
    listening = trio.Event()

    async def deaf(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await listening.wait()
        await drain(stream, server, seconds=5)

    server = await HostileServer(deaf).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, sendqueuesize=2, pinginterval=0)
    await nursery.start(dat.run)
    big = "x" * 65536
    with trio.fail_after(5):
        while dat.sendText(big) != -1:
            await trio.sleep(0.01)  # let the sender write into the socket until it blocks
    for _ in range(1000):  # the socket's buffers may still take some: send until there is no room at all
        with trio.move_on_after(0.5) as waited:
            await dat.send_text(big)
        if waited.cancelled_caught:
            break
    assert waited.cancelled_caught  # no room: it waited rather than failing
    assert dat.sendText(big) == -1
    done = trio.Event()

    async def send_last() -> None:
        await dat.send_text("last")
        done.set()

    nursery.start_soon(send_last)
    listening.set()
    with trio.fail_after(10):
        await done.wait()
    assert dat.info.messages_sent >= 3
    dat.stop()


async def test_send_text_raises_when_not_connected_or_when_the_connection_ends_first(nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(active=False)
    with pytest.raises(ConnectionClosedError, match="not connected"):
        await dat.send_text("x")

    async def deaf_then_drop(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep(0.5)  # long enough for the client's buffers to fill

    server = await HostileServer(deaf_then_drop).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, sendqueuesize=1, pinginterval=0, reconnect=False)
    await nursery.start(dat.run)
    with pytest.raises(ConnectionClosedError, match="ended before the message was sent"):
        while True:
            await dat.send_text("x" * 1_000_000)
    dat.stop()


async def test_close_sends_the_code_and_reason_returns_the_answer_and_leaves_the_dat_inactive(
        ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    connection = await ws_server.wait_client()
    answer = await dat.close(4001, "bye now")
    assert answer == 4001  # trio-websocket's server answers with the client's code
    await wait_until(lambda: connection.closed is not None)
    assert (connection.closed.code, connection.closed.reason) == (4001, "bye now")
    assert not dat.par.active and dat.info.state == "closed"
    assert dat.info.errors == 0
    assert dat.sendText("x") == -1  # inactive: not reconnecting


async def test_close_against_an_independent_server(start_server, nursery: trio.Nursery) -> None:
    server = start_server()
    dat = WebSocketDAT(netaddress=server.url)
    await nursery.start(dat.run)
    assert await dat.close(1000, "done") == 1000
    assert server.process.stdout is not None
    line = await trio.to_thread.run_sync(server.process.stdout.readline)
    assert line.strip() == "CLOSED 1000 done"
    assert not dat.par.active


async def test_close_rejects_codes_a_client_may_not_send(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    for code in (1005, 1006, 999, 2000, 5000):
        with pytest.raises(ValueError, match="3000-4999"):
            await dat.close(code)
    with pytest.raises(ValueError, match="123"):
        await dat.close(1000, "r" * 124)
    assert dat.connected


async def test_close_of_a_server_that_never_answers_returns_1006(nursery: trio.Nursery) -> None:
    async def mute(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep_forever()

    server = await HostileServer(mute).start(nursery)
    dat = WebSocketDAT(netaddress=server.url)
    await nursery.start(dat.run)
    with trio.fail_after(5):
        assert await dat.close() == 1006
    assert dat.info.state == "closed"


async def test_events_arrive_in_order_with_row_index(ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url, maxlines=2)
    got: list[Any] = []
    subscribed = trio.Event()

    async def listen() -> None:
        async with dat.events() as events:
            subscribed.set()
            async for event in events:
                got.append(event)

    nursery.start_soon(listen)
    await subscribed.wait()
    await nursery.start(dat.run)
    await ws_server.send_text("one", "two", "three")
    await ws_server.send_binary(b"\x01")
    await ws_server.ping(b"hi")
    await ws_server.close(1000, "bye")
    await wait_until(lambda: any(isinstance(e, Disconnected) for e in got))
    dat.stop()
    kinds = [e for e in got if not isinstance(e, Monitor)]
    assert kinds[0] == Connected(ws_server.url)
    assert kinds[1:6] == [TextReceived(1, "one"), TextReceived(2, "two"), TextReceived(2, "three"),
                          BinaryReceived(b"\x01"), PingReceived(b"hi")]
    assert kinds[6] == Disconnected(1000, "bye", None)
    monitor = [e.message for e in got if isinstance(e, Monitor)]
    assert any(m.startswith("connected to") for m in monitor)
    assert any("the server closed the connection (1000 normal closure: bye)" in m for m in monitor)


async def test_several_subscribers_each_get_everything_and_iteration_ends_with_the_run(
        ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url)
    results: list[list[str]] = [[], []]
    ready = [trio.Event(), trio.Event()]
    ended = [trio.Event(), trio.Event()]

    async def listen(index: int) -> None:
        async with dat.events(buffer=5) as events:
            ready[index].set()
            async for event in events:
                if isinstance(event, TextReceived):
                    results[index].append(event.message)
        ended[index].set()

    for index in (0, 1):
        nursery.start_soon(listen, index)
        await ready[index].wait()
    run_scope = trio.CancelScope()

    async def run() -> None:
        with run_scope:
            await dat.run()

    nursery.start_soon(run)
    await dat.wait_connected()
    await ws_server.send_text(*[f"m{i}" for i in range(50)])
    await wait_until(lambda: len(results[0]) == 50 and len(results[1]) == 50)
    run_scope.cancel()
    with trio.fail_after(5):
        await ended[0].wait()
        await ended[1].wait()
    assert results[0] == results[1] == [f"m{i}" for i in range(50)]


async def test_a_slow_subscriber_slows_the_dat_down_and_loses_nothing(ws_server: ScriptedServer,
                                                                      nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url, clamp=False)
    buffer = 4
    taken: list[int] = []
    ahead: list[int] = []  # how far the DAT got ahead of the subscriber, seen at each event taken
    ready = trio.Event()

    async def slow() -> None:
        async with dat.events(buffer=buffer) as events:
            ready.set()
            async for event in events:
                if isinstance(event, TextReceived):
                    taken.append(int(event.message))
                    ahead.append(dat.info.messages_received - len(taken))
                    await trio.sleep(0.002)

    nursery.start_soon(slow)
    await ready.wait()
    await nursery.start(dat.run)
    count = 300
    nursery.start_soon(functools.partial(ws_server.send_text, *[str(i) for i in range(count)]))
    await wait_until(lambda: len(taken) == count, timeout=20)
    assert taken == list(range(count))
    # backpressure: the DAT never cooked more than the subscriber's buffer (+ the event being taken) ahead
    assert max(ahead) <= buffer + 1
    assert dat.numRows - 1 == count
    dat.stop()


async def test_deaf_server_close_frame_from_stop_is_1001(nursery: trio.Nursery) -> None:
    async def listen(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await drain(stream, server, seconds=3)

    server = await HostileServer(listen).start(nursery)
    dat = WebSocketDAT(netaddress=server.url)
    await nursery.start(dat.run)
    dat.stop()
    await wait_until(lambda: server.received)
    assert server.client_close_codes() == [1001]


async def test_an_async_oncook_holds_the_reading_until_it_returns(ws_server: ScriptedServer,
                                                                 nursery: trio.Nursery) -> None:
    gate = trio.Event()
    cooks: list[int] = []

    class Sink:
        async def onCook(self, dat: WebSocketDAT) -> None:
            cooks.append(dat.info.messages_received)
            await gate.wait()

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Sink()], clamp=False)
    await nursery.start(dat.run)
    await ws_server.send_text("first")
    await wait_until(lambda: cooks == [1])
    await ws_server.send_text(*[f"m{i}" for i in range(20)])
    await trio.testing.wait_all_tasks_blocked()
    assert dat.info.messages_received == 1  # the cook waits in onCook: nothing more was read
    gate.set()
    await wait_until(lambda: dat.info.messages_received == 21)
    dat.stop()


async def test_close_after_the_server_closed_first_returns_the_servers_code(ws_server: ScriptedServer,
                                                                            dat_factory) -> None:
    dat = await dat_factory(reconnect=False)
    await ws_server.wait_client()
    await ws_server.close(4001, "go away")
    await wait_until(lambda: not dat.connected)
    assert await dat.close(1000) == 4001
    assert not dat.par.active


async def test_close_of_a_dat_that_never_connected_returns_1006(nursery: trio.Nursery, silent_server: int) -> None:
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{silent_server}/", timeout=60_000)
    nursery.start_soon(dat.run)
    assert await dat.close() == 1006


async def test_wait_connected_with_a_timeout_names_the_last_failure(nursery: trio.Nursery,
                                                                     virtual_clock: trio.testing.MockClock) -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # connection refused, again and again
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{port}/", reconnectdelay=0.5)
    nursery.start_soon(dat.run)
    with pytest.raises(ConnectError) as raised:
        await dat.wait_connected(timeout=3)
    assert str(raised.value).startswith(f"{dat.name}: not connected after 3 s (")
    assert str(raised.value).endswith(f"; the last attempt: cannot connect to ws://127.0.0.1:{port}/: "
                                      f"connection refused by 127.0.0.1:{port}")
    dat.stop()


async def test_a_dat_waiting_to_retry_is_reconnecting_with_the_attempt_and_the_time(
        nursery: trio.Nursery, virtual_clock: trio.testing.MockClock) -> None:
    import time

    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    dat = WebSocketDAT(netaddress=f"ws://127.0.0.1:{port}/", reconnectdelay=30, reconnectmaxdelay=30)
    states: list[str] = []
    nursery.start_soon(dat.run)
    await wait_until(lambda: dat.info.state == "reconnecting")
    states.append(dat.info.state)
    assert dat.info.retry_attempt == 1
    assert time.time() - 1 <= dat.info.retry_at <= time.time() + 31
    assert dict(dat.info)["retry_attempt"] == 1
    dat.par.active = False
    await wait_until(lambda: dat.info.state == "closed")
    assert (dat.info.retry_attempt, dat.info.retry_at) == (0, 0.0)
    dat.stop()
