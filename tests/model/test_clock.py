"""The reconnect state machine, keepalive and the slow-cook warning on trio's virtual clock (``virtual_clock``).

Real servers on loopback, virtual time: a 30 s connection, an hour without a retry or a keepalive timeout take
milliseconds of real time, and durations are asserted to the virtual second. What a hook sees is stamped with
``trio.current_time()`` when it happens, so how often a test looks (``until``) never blurs a measured time. See
tests/conftest.py for how the clock and the time bound of these tests work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer
from wsdat_core.model.info import Clock

from ..integration.hostile import HostileServer, Request, handshake, parse_client_frames, text

HOUR = 3600.0
RECONNECTING = re.compile(r"reconnecting in ([0-9.]+) s \(attempt (\d+)\)")


class Stamped:
    """Hooks that stamp what they see with the virtual time."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self.connects: list[float] = []
        self.disconnects: list[float] = []
        self.pongs: list[float] = []

    def onMonitorMessage(self, message: str) -> None:
        self.lines.append((trio.current_time(), message))

    def onConnect(self) -> None:
        self.connects.append(trio.current_time())

    def onDisconnect(self) -> None:
        self.disconnects.append(trio.current_time())

    def onReceivePong(self, contents: bytes) -> None:
        self.pongs.append(trio.current_time())

    def matching(self, fragment: str) -> list[tuple[float, str]]:
        return [(t, line) for t, line in self.lines if fragment in line]


async def until(predicate: Callable[[], object], what: str, *, step: float = 0.5, limit: float = HOUR) -> None:
    """Wait (virtual time, in steps of ``step`` s) until ``predicate()``; fail after ``limit`` virtual seconds."""
    waited = 0.0
    while not predicate():
        if waited >= limit:
            raise AssertionError(f"no {what} within {limit:g} virtual seconds")
        await trio.sleep(step)
        waited += step


async def start(nursery: trio.Nursery, url: str, seen: Stamped, **params: Any) -> WebSocketDAT:
    dat = WebSocketDAT(netaddress=url, callbacks=[seen], **params)
    await nursery.start(dat.run)
    return dat


# -- reconnecting ---------------------------------------------------------------------------------------------------
async def test_a_stable_connection_resets_the_backoff(virtual_clock: trio.testing.MockClock,
                                                      nursery: trio.Nursery) -> None:
    lasts = {1: 0.0, 2: 3.0, 3: 30.0}  # seconds each connection stays up; the 4th stays

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep(lasts.get(server.connections, HOUR))  # then EOF: an unexpected disconnect

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, reconnectdelay=2.0, reconnectfactor=2.0, reconnectmaxdelay=60.0)
    await until(lambda: len(seen.connects) == 4, "fourth connection", step=5.0)
    # how long each connection lasted, to the virtual millisecond
    assert [round(down - up, 3) for up, down in zip(seen.connects, seen.disconnects, strict=False)] == [0.0, 3.0, 30.0]
    waits = [(t, float(m.group(1)), int(m.group(2))) for t, line in seen.lines if (m := RECONNECTING.search(line))]
    # 0 s and 3 s are shorter than the 10 s a connection must last to count as stable: the sequence goes on;
    # the 30 s connection starts it over: attempt 1 again, within the first window [0, reconnectdelay)
    assert [attempt for _, _, attempt in waits] == [1, 2, 1]
    assert waits[0][1] < 2.0 and 2.0 * 2 * 0.5 <= waits[1][1] <= 2.0 * 2 and waits[2][1] < 2.0
    # each wait started at the disconnect and lasted what its line announced
    for (announced_at, delay, _), down, up in zip(waits, seen.disconnects, seen.connects[1:], strict=True):
        assert announced_at == down
        assert up - down == pytest.approx(delay, abs=0.01)
    assert dat.info.reconnects == 3
    dat.stop()


async def test_a_failing_server_is_retried_with_growing_delays_up_to_the_cap(virtual_clock: trio.testing.MockClock,
                                                                              nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, reconnectdelay=1.0, reconnectfactor=3.0, reconnectmaxdelay=20.0)
    await until(lambda: server.connections >= 7, "seventh attempt", step=5.0)
    waits = [float(m.group(1)) for _, line in seen.lines if (m := RECONNECTING.search(line))][:6]
    # attempt 1 within [0, 1); then 1 * 3 ** n scaled by the jitter [0.5, 1], capped at 20
    assert waits[0] < 1.0
    for n, wait in enumerate(waits[1:], 1):
        base = min(20.0, 3.0**n)
        assert base * 0.5 - 0.01 <= wait <= base + 0.01, (n, waits)
    assert not dat.connected and dat.info.errors == server.connections
    dat.stop()


async def test_a_parameter_change_after_a_fatal_failure_reconnects_at_once(virtual_clock: trio.testing.MockClock,
                                                                          nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        if request.headers.get("authorization") != "Bearer fixed":
            await stream.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        await stream.send_all(handshake(request) + text("welcome"))
        await trio.sleep(HOUR * 24)

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, reconnectdelay=0.5)
    assert dat.stalled and "HTTP 403" in dat.last_error
    assert seen.matching("not reconnecting: change the parameters to try again")
    # fatal: an hour passes without a single retry (on this clock every timer the DAT set would have fired)
    await trio.sleep(HOUR)
    assert server.connections == 1 and dat.info.reconnects == 0 and dat.stalled and not dat.connected
    changed_at = trio.current_time()
    dat.par.headers = {"Authorization": "Bearer fixed"}
    await until(lambda: dat.connected, "connection after the change", step=0.01, limit=5.0)
    assert seen.connects == [changed_at]  # at once: no backoff wait after a parameter change
    assert server.connections == 2 and not dat.stalled
    assert dat.info.reconnects == 0  # a change is not a retry
    dat.stop()


async def test_a_parameter_change_while_waiting_to_retry_connects_at_once(virtual_clock: trio.testing.MockClock,
                                                                         nursery: trio.Nursery) -> None:
    open_after = {"count": 1}

    async def script(stream: trio.SocketStream, request: Request) -> None:
        if server.connections <= open_after["count"]:
            return  # closes before the handshake: not fatal, retried
        await stream.send_all(handshake(request))
        await trio.sleep(HOUR * 24)

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, reconnectdelay=50.0, reconnectmaxdelay=50.0)
    await until(lambda: seen.matching("reconnecting in"), "a retry being planned", step=0.01, limit=1.0)
    changed_at = trio.current_time()
    dat.par.timeout = 4000
    await until(lambda: dat.connected, "connection after the change", step=0.01, limit=5.0)
    assert seen.connects == [changed_at]
    assert dat.info.reconnects == 0


# -- keepalive ------------------------------------------------------------------------------------------------------
async def test_keepalive_turned_on_while_connected_finds_a_silent_peer_dead(virtual_clock: trio.testing.MockClock,
                                                                            nursery: trio.Nursery) -> None:
    frames: list[tuple[float, int]] = []

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        while chunk := await stream.receive_some(65536):  # reads, never answers
            frames.extend((trio.current_time(), opcode) for opcode, _ in parse_client_frames(chunk))

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, pinginterval=0, pingtimeout=2, reconnect=False)
    await trio.sleep(HOUR)  # keepalive off: no ping for an hour, the silent peer stays connected
    assert frames == [] and dat.connected
    changed_at = trio.current_time()
    dat.par.pinginterval = 5
    await until(lambda: not dat.connected, "keepalive's verdict", step=1.0, limit=60.0)
    assert frames == [(changed_at + 5, 0x9)]  # one ping, 5 s after the change
    assert seen.disconnects[0] - changed_at == pytest.approx(5 + 2)  # dead 2 s (pingtimeout) after it
    assert "keepalive: no pong within 2 s" in dat.last_error and dat.info.errors == 1
    assert server.connections == 1


async def test_keepalive_interval_changes_while_connected_take_effect_at_once(virtual_clock: trio.testing.MockClock,
                                                                              nursery: trio.Nursery) -> None:
    server = ScriptedServer()  # trio-websocket answers every ping
    await nursery.start(server.run)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, pinginterval=0, pingtimeout=1)
    await trio.sleep(HOUR)
    assert seen.pongs == []
    on_at = trio.current_time()
    dat.par.pinginterval = 4
    await trio.sleep(10)
    assert [round(t - on_at, 3) for t in seen.pongs] == [4.0, 8.0]
    faster_at = trio.current_time()  # 10 s: 2 s into the third interval, which the change starts over
    dat.par.pinginterval = 1.5
    await trio.sleep(4)
    assert [round(t - faster_at, 3) for t in seen.pongs[2:]] == [1.5, 3.0]
    dat.par.pinginterval = 0
    count = len(seen.pongs)
    await trio.sleep(HOUR)
    assert len(seen.pongs) == count and dat.connected  # off again: not one ping in an hour
    assert dat.info.errors == 0 and len(server.connections) == 1
    dat.stop()
    server.stop()


async def test_a_pong_timeout_change_while_connected_applies_to_the_next_ping(virtual_clock: trio.testing.MockClock,
                                                                              nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep(HOUR * 24)  # never reads, never answers

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = await start(nursery, server.url, seen, pinginterval=10, pingtimeout=600, reconnect=False)
    changed_at = trio.current_time()
    dat.par.pingtimeout = 3
    await until(lambda: not dat.connected, "keepalive's verdict", step=1.0, limit=60.0)
    assert seen.disconnects[0] - changed_at == pytest.approx(10 + 3)
    assert "keepalive: no pong within 3 s" in dat.last_error


# -- the slow-cook warning -----------------------------------------------------------------------------------------
async def test_waiting_for_async_hook_slots_is_not_a_slow_cook(virtual_clock: trio.testing.MockClock,
                                                               nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        # one write: the three messages arrive in one read, so one cook waits twice for the single slot
        await stream.send_all(handshake(request) + text("a") + text("b") + text("c"))
        await trio.sleep(30)
        await stream.send_all(text("block"))
        await trio.sleep(HOUR)

    done: list[tuple[float, str]] = []

    class Hooks:
        async def onReceiveText(self, message: str) -> None:
            if message != "block":
                await trio.sleep(2)  # each call holds the only slot for 2 s
            done.append((trio.current_time(), message))

    class Blocks:
        def onReceiveText(self, message: str) -> None:
            if message == "block":
                virtual_clock.jump(1.5)  # a plain callback that blocks for 1.5 s, as the DAT's clock sees it

    server = await HostileServer(script).start(nursery)
    seen = Stamped()
    dat = WebSocketDAT(netaddress=server.url, callbacks=[seen, Hooks(), Blocks()], async_hook_limit=1,
                       clock=Clock(now=trio.current_time))
    await nursery.start(dat.run)
    await until(lambda: len(done) == 3, "the three async calls", step=2.0)
    started = done[0][0] - 2
    assert [(round(t - started, 3), m) for t, m in done] == [(2.0, "a"), (4.0, "b"), (6.0, "c")]
    assert seen.matching("all 1 async callback slots are busy")
    # the cook waited 4 s for the slot: backpressure, not a callback blocking the loop
    assert not seen.matching("blocked the event loop")
    # the warning itself works on this clock: a plain callback blocking for 1.5 s is reported
    await until(lambda: len(done) == 4, "the blocking message", step=10.0)
    [(_, line)] = seen.matching("blocked the event loop")
    assert line.startswith("plain callbacks blocked the event loop for 1500 ms in one cook")
    dat.stop()


# -- the harness itself -----------------------------------------------------------------------------------------------
async def test_a_test_on_the_virtual_clock_is_still_bounded_in_real_time(
        virtual_clock: trio.testing.MockClock) -> None:
    import time

    from ..conftest import _within_real_time

    started = time.monotonic()
    with pytest.raises(trio.TooSlowError, match="more than 0.2 s of real time"):
        await _within_real_time(0.2, trio.sleep_forever())  # no deadline to jump to: only real time ends it
    assert 0.15 < time.monotonic() - started < 5
    assert await _within_real_time(5, trio.sleep(3600)) is None  # an hour of virtual time is not a real hour
