"""Callbacks files written as TouchDesigner users write them run unchanged against real servers; TD-only names fail
with one clear line; one pong per ping; live editing."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import trio

from wsdat_core import TDOnlyError, WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_until

from ..integration.hostile import PING, PONG, HostileServer, Request, frame, handshake, parse_client_frames, text

HERE = Path(__file__).parent


class Monitor:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def onMonitorMessage(self, message: str) -> None:
        self.lines.append(message)


def copy(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copy(HERE / name, target)
    return str(target)


async def test_tds_default_template_runs_unchanged(ws_server: ScriptedServer, nursery: trio.Nursery,
                                                   tmp_path: Path) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[copy("td_template.py", tmp_path)])
    await nursery.start(dat.run)
    await ws_server.send_text("hello")
    await ws_server.send_binary(b"\x01")
    await ws_server.ping(b"are you there")  # returns once the pong came back
    await wait_until(lambda: dat.numRows == 2)
    assert dat.info.errors == 0 and dat.info.hook_errors == 0
    dat.stop()


async def test_a_file_using_op_debug_abstime_me_storage_and_par_runs_unchanged(
        ws_server: ScriptedServer, nursery: trio.Nursery, tmp_path: Path) -> None:
    mirror_server = ScriptedServer()
    await nursery.start(mirror_server.run)
    namespace: dict[str, object] = {}
    monitor = Monitor()
    feed = WebSocketDAT("feed", netaddress=ws_server.url, callbacks=[copy("td_globals.py", tmp_path), monitor],
                        namespace=namespace, maxlines=50)
    mirror = WebSocketDAT("mirror", netaddress=mirror_server.url, namespace=namespace)
    namespace.update(feed=feed, mirror=mirror)
    await nursery.start(mirror.run)
    await nursery.start(feed.run)
    assert any(line.startswith("debug: connected feed frame ") and line.endswith("(td_globals.py:5)")
               for line in monitor.lines)
    assert feed.fetch("connected_at") > 0  # me is the DAT (Execute from: current)
    await ws_server.send_text("one", "status?")
    await ws_server.wait_received(1)
    assert ws_server.received == ["rows 2/50 count 2 clamped"]
    await mirror_server.wait_received(2)
    assert mirror_server.received == ["mirror: one", "mirror: status?"]
    await ws_server.send_binary(b"1234")
    await wait_until(lambda: any(line.startswith("debug: binary of 4 bytes") for line in monitor.lines))
    await ws_server.send_text("forget")
    await wait_until(lambda: "count" not in feed.storage)
    assert feed.info.hook_errors == 0, feed.last_error
    feed.stop()
    mirror.stop()


async def test_module_level_op_lookups_load_and_work(ws_server: ScriptedServer, nursery: trio.Nursery,
                                                     tmp_path: Path) -> None:
    dat = WebSocketDAT("feed", netaddress=ws_server.url, callbacks=[copy("td_module_level.py", tmp_path)])
    await nursery.start(dat.run)
    await ws_server.send_text("x")
    await ws_server.wait_received(1)
    assert ws_server.received == ["module-level ok: 1"]
    dat.stop()


def test_td_only_error_is_a_wsdat_error() -> None:
    from wsdat_core import WsdatError
    from wsdat_core.host.tdglobals import TDOnly

    with pytest.raises(WsdatError):
        TDOnly("parent")()
    assert issubclass(TDOnlyError, WsdatError)


# -- one pong per ping -----------------------------------------------------------------------------------------------
def pinging_server(pings: int) -> tuple[HostileServer, list[bytes]]:
    received: list[bytes] = []

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + b"".join(frame(PING, b"p%d" % i) for i in range(pings))
                              + text("done"))
        with trio.move_on_after(1.0):
            while data := await stream.receive_some(65536):
                received.append(data)

    return HostileServer(script), received


@pytest.mark.parametrize(("callbacks", "autopong", "expected"), [
    (["td_template.py"], True, 1),  # TD's template answers, wsdat does not add its own
    ([], True, 1),  # no hook: wsdat answers, at once
    (["td_template.py"], False, 1),  # autopong off: the template's own
    ([], False, 0),  # autopong off and nobody answers
])
async def test_exactly_one_pong_per_ping(callbacks: list[str], autopong: bool, expected: int,
                                         nursery: trio.Nursery, tmp_path: Path) -> None:
    server, received = pinging_server(5)
    await server.start(nursery)
    dat = WebSocketDAT(netaddress=server.url, callbacks=[copy(name, tmp_path) for name in callbacks],
                       autopong=autopong, pinginterval=0)
    await nursery.start(dat.run)
    await wait_until(lambda: dat.numRows == 2)
    await trio.sleep(0.2)  # pongs, if any, are written right after the pings' cook
    dat.stop()
    await wait_until(lambda: received)
    pongs = [payload for opcode, payload in parse_client_frames(b"".join(received)) if opcode == PONG]
    assert pongs == [b"p%d" % i for i in range(5) for _ in range(expected)]


# -- live editing ----------------------------------------------------------------------------------------------------
def write(path: Path, source: str) -> None:
    path.write_text(source)
    stamp = time.time() - 1.0  # the edit settled: older than the 0.5 s wsdat waits for
    os.utime(path, (stamp, stamp))


async def test_an_edited_file_is_reloaded_and_a_broken_edit_keeps_the_old_code(
        ws_server: ScriptedServer, nursery: trio.Nursery, tmp_path: Path) -> None:
    path = tmp_path / "live.py"
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText('v1: ' + message)\n")
    monitor = Monitor()
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[str(path), monitor])
    await nursery.start(dat.run)
    await ws_server.send_text("a")
    await ws_server.wait_received(1)
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText('v2: ' + message)\n# longer now\n")
    await trio.sleep(0.15)  # past the 0.1 s between looks at the file
    await ws_server.send_text("b")
    await ws_server.wait_received(2)
    assert ws_server.received == ["v1: a", "v2: b"]  # the first message after the change ran the new code
    assert any(m == "callbacks reloaded: live.py" for m in monitor.lines)
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText('v3: ' + message\n")  # a syntax error
    await trio.sleep(0.15)
    errors = dat.info.errors
    await ws_server.send_text("c")
    await ws_server.wait_received(3)
    assert ws_server.received[2] == "v2: c"  # the previous callbacks go on
    assert dat.info.errors == errors + 1
    assert any(f"{path}:2: failed to load: SyntaxError" in m and "the previous callbacks go on" in m
               for m in monitor.lines)
    await ws_server.send_text("d")  # the same broken version is not tried again
    await ws_server.wait_received(4)
    assert dat.info.errors == errors + 1
    dat.stop()


async def test_reloadcallbacks_off_and_the_reload_pulse(ws_server: ScriptedServer, nursery: trio.Nursery,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "live.py"
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText('v1')\n")
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[str(path)], reloadcallbacks=False)
    await nursery.start(dat.run)
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText('v2 longer')\n")
    await trio.sleep(0.15)
    await ws_server.send_text("a")
    await ws_server.wait_received(1)
    assert ws_server.received == ["v1"]  # not watched
    dat.par.reload.pulse()
    await ws_server.send_text("b")
    await ws_server.wait_received(2)
    assert ws_server.received == ["v1", "v2 longer"]
    dat.stop()


async def test_me_global_follows_execute_from(ws_server: ScriptedServer, nursery: trio.Nursery,
                                              tmp_path: Path) -> None:
    path = tmp_path / "whoami.py"
    write(path, "def onReceiveText(dat, message):\n\tdat.sendText(type(me).__name__)\n")
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[str(path)])
    await nursery.start(dat.run)
    await ws_server.send_text("a")
    await ws_server.wait_received(1)
    dat.par.executeloc = "callbacks"
    await ws_server.send_text("b")
    await ws_server.wait_received(2)
    assert ws_server.received == ["WebSocketDAT", "module"]
    dat.stop()

