"""Receiving against a real in-process trio-websocket server: rows, hooks, ping/pong, info channels."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import trio

from wsdat_core import WebSocketDAT, open_dat
from wsdat_core.faces.testing import ScriptedServer, wait_for_calls, wait_for_rows, wait_until

DATA = Path(__file__).parent.parent / "data"


class Recorder:
    """A plugin that writes down every hook call with the arguments it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def onConnect(self, me: Any, dat: Any) -> None:
        self.calls.append(("onConnect", me, dat))

    def onDisconnect(self, me: Any, dat: Any) -> None:
        self.calls.append(("onDisconnect", me, dat))

    def onReceiveText(self, me: Any, dat: Any, rowIndex: int, message: str) -> None:
        self.calls.append(("onReceiveText", me, dat, rowIndex, message))

    def onReceiveBinary(self, me: Any, dat: Any, contents: bytes) -> None:
        self.calls.append(("onReceiveBinary", me, dat, contents))

    def onReceivePing(self, me: Any, dat: Any, contents: bytes) -> None:
        self.calls.append(("onReceivePing", me, dat, contents))

    def onReceivePong(self, me: Any, dat: Any, contents: bytes) -> None:
        self.calls.append(("onReceivePong", me, dat, contents))

    def onMonitorMessage(self, me: Any, dat: Any, message: str) -> None:
        self.calls.append(("onMonitorMessage", me, dat, message))

    def named(self, hook: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == hook]

    async def wait(self, hook: str, count: int = 1) -> None:
        await wait_until(lambda: len(self.named(hook)) >= count, what=f"{count} call(s) of {hook}")


async def test_text_messages_become_rows_in_order_with_row_index(ws_server: ScriptedServer, dat_factory) -> None:
    rec = Recorder()
    dat = await dat_factory(callbacks=[rec], maxlines=3)
    await ws_server.send_text("one", "two", "three", "four")
    await rec.wait("onReceiveText", 4)
    assert dat.col("message") == ["message", "two", "three", "four"]
    assert [(c[3], c[4]) for c in rec.named("onReceiveText")] == [(1, "one"), (2, "two"), (3, "three"), (3, "four")]
    assert dat[1, 0] == "two" and dat[-1, "message"] == "four"
    assert dat.numRows == 4 and dat.numCols == 1
    assert dat.info.messages_received == 4


async def test_binary_goes_to_its_hook_and_becomes_a_row_only_with_binaryrows(ws_server: ScriptedServer,
                                                                           dat_factory) -> None:
    rec = Recorder()
    dat = await dat_factory(callbacks=[rec], bytes=True)
    await ws_server.send_binary(b"\x00\xffhi")
    await rec.wait("onReceiveBinary", 1)
    assert rec.named("onReceiveBinary")[0][3] == b"\x00\xffhi"
    assert dat.numRows == 1
    dat.par.binaryrows = True
    await ws_server.send_binary(b"ok")
    await wait_for_rows(dat, 1)
    assert dat.row(1) == ["ok", "6f 6b"]


async def test_pings_are_answered_and_reach_the_hook_and_our_pings_get_pongs(ws_server: ScriptedServer,
                                                                              dat_factory) -> None:
    rec = Recorder()
    dat = await dat_factory(callbacks=[rec])
    with trio.fail_after(5):
        await ws_server.ping(b"are you there")  # returns only when our automatic pong arrived
    await rec.wait("onReceivePing", 1)
    assert rec.named("onReceivePing")[0][3] == b"are you there"
    assert dat.sendPing(b"hello") == 5
    await rec.wait("onReceivePong", 1)
    assert rec.named("onReceivePong")[0][3] == b"hello"


@pytest.mark.parametrize("executeloc", ["current", "callbacks", "op"])
async def test_all_seven_hooks_with_every_execute_from_mode(ws_server: ScriptedServer, nursery: trio.Nursery,
                                                           executeloc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    params: dict[str, Any] = {"executeloc": executeloc}
    context_module = types.ModuleType("wsdat_test_context")
    context_module.CONTEXT = CONTEXT  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wsdat_test_context", context_module)
    if executeloc == "op":
        params["fromop"] = "wsdat_test_context:CONTEXT"
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[rec], **params)
    await nursery.start(dat.run)
    await ws_server.send_text("t")
    await ws_server.send_binary(b"b")
    await ws_server.ping(b"p")
    dat.sendPing(b"q")
    await rec.wait("onReceivePong", 1)
    await ws_server.close(1000)
    await rec.wait("onDisconnect", 1)
    expected_me = {"current": dat, "callbacks": rec, "op": CONTEXT}[executeloc]
    hooks = {c[0] for c in rec.calls}
    assert hooks == {"onConnect", "onDisconnect", "onReceiveText", "onReceiveBinary", "onReceivePing",
                     "onReceivePong", "onMonitorMessage"}
    assert all(c[1] is expected_me and c[2] is dat for c in rec.calls)
    assert [c[0] for c in rec.calls if c[0] in ("onConnect", "onDisconnect")] == ["onConnect", "onDisconnect"]
    dat.stop()


CONTEXT = object()


async def test_td_callbacks_file_runs_unchanged_and_echoes_through_send_text(ws_server: ScriptedServer,
                                                                             dat_factory) -> None:
    dat = await dat_factory(callbacks=[str(DATA / "td_callbacks.py")])
    await ws_server.send_text("ping me")
    await ws_server.wait_received(1)
    assert ws_server.received == ["pinged you"]
    assert dat.fetch("last") == (1, "ping me")
    assert dat.fetch("connected") == 1
    assert any("connected to" in m for m in dat.fetch("monitor"))


async def test_installed_entry_point_plugin_runs(ws_server: ScriptedServer, dat_factory) -> None:
    await dat_factory(callbacks=["echo"])
    await ws_server.send_text("hello")
    await ws_server.wait_received(1)
    assert ws_server.received == ["echo: hello"]


async def test_info_channels_update_on_every_cook(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    assert dat.info.state == "open" and dat.info.connects == 1
    await ws_server.send_text("a")
    await wait_for_rows(dat, 1)
    cooks = dat.info.total_cooks
    assert cooks >= 1
    await ws_server.send_text("b")
    await wait_for_rows(dat, 2)
    info = dict(dat.info)
    assert info["total_cooks"] > cooks
    assert info["num_rows"] == 3 and info["num_cols"] == 1
    assert info["cook_time"] >= 0 and info["cook_end_time"] >= info["cook_start_time"]
    assert info["bytes_received"] > 0 and info["messages_received"] == 2
    assert info["errors"] == 0


async def test_async_hooks_run_in_the_nursery_with_bounded_concurrency(ws_server: ScriptedServer,
                                                                       nursery: trio.Nursery) -> None:
    running = 0
    peak = 0
    done: list[str] = []

    class Slow:
        async def onReceiveText(self, message: str) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await trio.sleep(0.05)
            running -= 1
            done.append(message)

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Slow()], async_hook_limit=2)
    await nursery.start(dat.run)
    await ws_server.send_text(*[f"m{i}" for i in range(6)])
    await wait_for_calls(done, 6)
    assert peak == 2
    assert sorted(done) == [f"m{i}" for i in range(6)]
    assert dat.numRows == 7
    dat.stop()


async def test_monitor_messages_reach_the_logger_and_the_hook(ws_server: ScriptedServer, dat_factory,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    caplog.set_level("INFO", logger="wsdat")
    dat = await dat_factory(callbacks=[rec])
    lines = [r.getMessage() for r in caplog.records if r.name == "wsdat"]
    assert f"{dat.name}: connected to {ws_server.url}" in lines
    assert ("onMonitorMessage", dat, dat, f"connected to {ws_server.url}") in rec.calls


async def test_a_raising_hook_is_counted_reported_and_harmless(ws_server: ScriptedServer, dat_factory) -> None:
    rec = Recorder()

    class Bad:
        def onReceiveText(self, message: str) -> None:
            raise RuntimeError(f"cannot handle {message}")

    dat = await dat_factory(callbacks=[Bad(), rec])
    await ws_server.send_text("x", "y")
    await rec.wait("onReceiveText", 2)
    assert dat.info.errors == 2
    assert dat.numRows == 3
    assert any(" in onReceiveText: RuntimeError: cannot handle x" in c[3] for c in rec.named("onMonitorMessage"))


async def test_storage_name_and_clear(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(name="feed")
    assert dat.name == "feed"
    assert dat.store("k", 1) == 1
    assert dat.fetch("k") == 1 and dat.fetch("missing", 7) == 7
    with pytest.raises(KeyError):
        dat.fetch("missing")
    await ws_server.send_text("a", "b")
    await wait_for_rows(dat, 2)
    dat.par.clear.pulse()
    assert dat.rows() == [["message"]]
    await ws_server.send_text("c")
    await wait_for_rows(dat, 1)
    dat.clear()
    assert dat.numRows == 1


async def test_open_dat_owns_its_nursery(ws_server: ScriptedServer) -> None:
    async with open_dat(netaddress=ws_server.url) as dat:
        assert dat.connected
        await ws_server.send_text("hi")
        await wait_for_rows(dat, 1)
    assert dat.info.state == "closed"
    connection = ws_server.connections[0]
    await wait_until(lambda: connection.closed is not None)
    assert connection.closed.code == 1001


async def test_cancelling_the_nursery_stops_everything_promptly(ws_server: ScriptedServer) -> None:
    class AsyncForever:
        async def onReceiveText(self, message: str) -> None:
            await trio.sleep_forever()

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[AsyncForever()])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            await ws_server.send_text("a", "b")
            await wait_for_rows(dat, 2)
            nursery.cancel_scope.cancel()
    assert dat.info.state == "closed"
    assert dat.info.disconnects == 1


async def test_parameter_changes_apply_to_the_next_message(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory(maxlines=5)
    await ws_server.send_text(*"abcde")
    await wait_for_rows(dat, 5)
    dat.par.maxlines = 2
    assert dat.col(0) == ["message", "d", "e"]
    dat.par.bytes = True
    dat.par.clamp = False
    await ws_server.send_text("f", "g", "h")
    await wait_for_rows(dat, 5)
    assert dat.row(0) == ["message", "bytes"]
    assert dat.row(-1) == ["h", "68"]
