"""wsdat run: SIGHUP and --watch reload the service file without dropping connections; SIGTERM and SIGINT stop every
DAT with 1001 and onExit; one DAT failing never takes the service down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import MonitorLines, ScriptedServer, wait_for_rows, wait_until

from .servicehttp import get, running_service

EXITS = """
def onExit(dat):
    with open({log!r}, "a") as log:
        log.write(dat.name + "\\n")
"""


class Service:
    """``wsdat run FILE --http 127.0.0.1:0`` in a subprocess, its stderr collected line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process = subprocess.Popen([sys.executable, "-m", "wsdat_core", "run", str(path), "--http",
                                         "127.0.0.1:0"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    async def url(self) -> str:
        await wait_until(lambda: any(" on http://" in line for line in self.lines) or self.process.poll() is not None,
                         what="the HTTP side")
        found = [line for line in self.lines if " on http://" in line]
        assert found, self.lines
        return found[0].rsplit(" on ", 1)[1].rstrip("/")

    async def wait_line(self, text: str) -> str:
        await wait_until(lambda: any(text in line for line in self.lines), what=f"a line with {text!r}")
        return next(line for line in self.lines if text in line)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float) -> int:
        await wait_until(lambda: self.process.poll() is not None, timeout, "the service to exit")
        self.reader.join(5)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.reader.join(5)
        assert self.process.stderr is not None
        self.process.stderr.close()


async def dats(url: str) -> dict[str, dict[str, Any]]:
    answer = await get(url + "/api/dats?rows=10")
    assert answer.status == 200
    return {dat["name"]: dat for dat in answer.json()["dats"]}


def connection_to(server: ScriptedServer, path: str, nth: int = 0):  # type: ignore[no-untyped-def]
    return [c for c in server.connections if c.path == path][nth]


def service_file(server: ScriptedServer, callbacks: Path, *names: str, change: str = "") -> str:
    text = '[service]\nname = "reloading"\n'
    for name in names:
        text += f'\n[dat.{name}]\nnetaddress = "{server.url}{name}"\ncallbacks = ["{callbacks}"]\n'
        if name == "change":
            text += change
    return text


async def test_sighup_keeps_unchanged_dats_applies_changes_and_ignores_a_broken_file(
        tmp_path: Path, ws_server: ScriptedServer) -> None:
    exits = tmp_path / "exits.log"
    callbacks = tmp_path / "exits.py"
    callbacks.write_text(EXITS.format(log=str(exits)))
    path = tmp_path / "service.toml"
    path.write_text(service_file(ws_server, callbacks, "keep", "change"))
    service = Service(path)
    try:
        url = await service.url()
        await ws_server.wait_client(2)
        await connection_to(ws_server, "/keep").send_message("kept row")
        before = await dats(url)
        while before["keep"]["num_rows"] != 2:
            await trio.sleep(0.02)
            before = await dats(url)

        # changed: a header (the DAT reconnects, as a parameter change does); unchanged: keep, moved to the end
        path.write_text(service_file(ws_server, callbacks, "change", "keep", change='headers = ["X-Reload: 1"]\n'))
        service.signal(signal.SIGHUP)
        await ws_server.wait_client(3)
        await service.wait_line("reloaded: 1 unchanged; changed change (headers)")
        after = await dats(url)
        assert after["keep"]["info"]["connects"] == 1
        assert connection_to(ws_server, "/keep").closed is None  # the very same connection
        assert len(ws_server.connections) == 3
        assert after["keep"]["rows"] == [["kept row"]]
        assert after["change"]["info"]["connects"] == 2
        assert (b"x-reload", b"1") in [(k.lower(), v) for k, v in ws_server.requests[-1].headers]

        # broken files change nothing and say where, in one line each
        for broken, where in (("[dat.keep\n", f"{path}:1: not valid TOML"),
                              ('[dat.keep]\ncallbacks = 5\n', f"{path}:2: dat.keep.callbacks: 5 is not allowed"),
                              (service_file(ws_server, callbacks, "keep") + "maxlines = 0\n",
                               f"{path}:7: dat.keep.maxlines: 0 is not allowed")):
            path.write_text(broken)
            service.signal(signal.SIGHUP)
            line = await service.wait_line(where)
            assert line.startswith("wsdat: reloading: reload failed, the service runs on unchanged: ")
        unchanged = await dats(url)
        assert {name: d["info"]["connects"] for name, d in unchanged.items()} == {"keep": 1, "change": 2}
        assert len(ws_server.connections) == 3

        # removed: closes with 1001 and gets onExit; added: starts
        path.write_text(service_file(ws_server, callbacks, "keep", "added"))
        service.signal(signal.SIGHUP)
        await ws_server.wait_client(4)
        removed = connection_to(ws_server, "/change", 1)
        await wait_until(lambda: removed.closed is not None, what="the removed DAT to close")
        assert removed.closed.code == 1001
        now = await dats(url)
        assert list(now) == ["keep", "added"]
        assert now["keep"]["info"]["connects"] == 1
        assert exits.read_text().split() == ["change"]  # a parameter change keeps the plugins; removal ends them

        started = time.monotonic()
        service.signal(signal.SIGTERM)
        assert await service.wait_exit(5) == 0
        assert time.monotonic() - started < 5
        assert sorted(exits.read_text().split()) == ["added", "change", "keep"]
        await wait_until(lambda: all(c.closed is not None for c in ws_server.connections))
        assert {c.path: c.closed.code for c in ws_server.connections if c.path != "/change"} == \
            {"/keep": 1001, "/added": 1001}
        assert not [line for line in service.lines if "Traceback" in line or "internal error" in line]
    finally:
        service.kill()


async def test_sigint_stops_every_dat_with_1001(tmp_path: Path, ws_server: ScriptedServer) -> None:
    path = tmp_path / "service.toml"
    path.write_text(f'[dat.one]\nnetaddress = "{ws_server.url}"\n[dat.two]\nnetaddress = "{ws_server.url}"\n')
    service = Service(path)
    try:
        await service.url()
        await ws_server.wait_client(2)
        service.signal(signal.SIGINT)
        assert await service.wait_exit(5) == 0
        await wait_until(lambda: all(c.closed is not None for c in ws_server.connections))
        assert [c.closed.code for c in ws_server.connections] == [1001, 1001]
        assert "wsdat: service: SIGINT received, stopping" in service.lines
    finally:
        service.kill()


async def test_watch_reloads_when_the_file_changes(tmp_path: Path, ws_server: ScriptedServer) -> None:
    path = tmp_path / "service.toml"
    text = f'[dat.feed]\nnetaddress = "{ws_server.url}"\nmaxlines = 10\n'
    async with running_service(path, text, watch=True) as runner:
        feed = runner.dats["feed"]
        await feed.wait_connected()
        await ws_server.send_text("a", "b", "c")
        await wait_for_rows(feed, 3)
        path.write_text(text.replace("maxlines = 10", "maxlines = 2"))
        await wait_until(lambda: feed.par.maxlines == 2, 5, "the watcher to apply maxlines = 2")
        assert feed.rows() == [["message"], ["b"], ["c"]]  # as a parameter change: the table is clamped
        assert feed.info.connects == 1
        assert runner.dats["feed"] is feed


CRASHING = """
import trio

async def fail():
    await trio.sleep(0.05)
    raise RuntimeError("plugin task bug")

def onConnect(dat):
    dat.start_soon(fail)
"""


async def test_one_failing_dat_never_takes_the_service_down(tmp_path: Path, ws_server: ScriptedServer) -> None:
    crashing = tmp_path / "crashing.py"
    crashing.write_text(CRASHING)
    text = (f'[dat.bad]\nnetaddress = "{ws_server.url}bad"\ncallbacks = ["{crashing}"]\n'
            f'[dat.good]\nnetaddress = "{ws_server.url}good"\n')
    async with running_service(tmp_path / "service.toml", text) as runner:
        bad, good = runner.dats["bad"], runner.dats["good"]
        assert runner.http_url is not None
        await wait_until(lambda: "internal error" in bad.last_error, what="the bad DAT to fail")
        assert bad.last_error == ("stopped by an internal error (RuntimeError: plugin task bug); "
                                  "starting again in 1 s")
        health = await get(runner.http_url + "healthz")
        assert health.status == 503
        assert health.json()["failing"] == {"bad": {"state": "closed", "error": bad.last_error}}
        await good.wait_connected()
        await connection_to(ws_server, "/good").send_message("still here")
        await wait_for_rows(good, 1)
        await wait_until(lambda: bad.info.connects >= 2, 5, "the bad DAT to be started again")
        assert good.info.connects == 1


# -- live edits of a callbacks file: none may take a DAT or a service down ------------------------------------------
V1 = "def onReceiveText(dat, rowIndex, message):\n    dat.sendText('v1: ' + message)\n"


def saved(path: Path, source: str) -> None:
    """Write ``source`` as an edit that has settled (older than the 0.5 s wsdat waits for)."""
    path.write_text(source)
    stamp = time.time() - 1.0
    os.utime(path, (stamp, stamp))


async def edited_dats(nursery: trio.Nursery, server: ScriptedServer, path: Path, **params: Any
                      ) -> tuple[WebSocketDAT, WebSocketDAT, MonitorLines]:
    """A DAT running ``path`` (answering 'v1: ...') and a second DAT of the same trio run, both connected."""
    saved(path, V1)
    monitor = MonitorLines()
    edited = WebSocketDAT("edited", netaddress=server.url + "edited", callbacks=[str(path), monitor], **params)
    other = WebSocketDAT("other", netaddress=server.url + "other")
    await nursery.start(edited.run)
    await nursery.start(other.run)
    await connection_to(server, "/edited").send_message("a")
    await wait_until(lambda: server.received == ["v1: a"], what="the first answer")
    return edited, other, monitor


@pytest.mark.parametrize(("source", "failure"), [
    ("raise SystemExit(3)\n", "1: failed to load: SystemExit: 3"),
    ("import sys\nsys.exit('bye')\n", "2: failed to load: SystemExit: bye"),
    ("raise KeyboardInterrupt\n", "1: failed to load: KeyboardInterrupt"),
    ("raise ValueError('first\\n  second')\n", "1: failed to load: ValueError: first; second"),  # one line
    ("import TDJSON\n", "1: failed to load: TDOnlyError: import TDJSON: TDJSON is TouchDesigner's own module; use the "
                        "json module (json.dumps, json.loads)"),
])
async def test_any_exception_of_an_edit_is_a_failed_reload_and_the_previous_callbacks_go_on(
        source: str, failure: str, tmp_path: Path, ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    path = tmp_path / "live.py"
    edited, other, monitor = await edited_dats(nursery, ws_server, path)
    saved(path, source)
    await trio.sleep(0.15)  # past the 0.1 s between looks at the file
    await connection_to(ws_server, "/edited").send_message("b")
    await wait_until(lambda: len(ws_server.received) == 2, what="the second answer")
    assert ws_server.received == ["v1: a", "v1: b"]
    assert edited.last_error == f"callbacks: {path}:{failure}; the previous callbacks go on"
    assert [line for line in monitor.lines if "failed to load" in line] == [edited.last_error]
    await connection_to(ws_server, "/other").send_message("c")
    await wait_for_rows(other, 1)
    assert (other.info.errors, other.info.connects, edited.info.connects) == (0, 1, 1)


async def test_an_endless_loop_at_module_level_fails_after_reloadtimeout_and_other_dats_never_wait(
        tmp_path: Path, ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    path = tmp_path / "live.py"
    edited, other, monitor = await edited_dats(nursery, ws_server, path, reloadtimeout=1.5)
    saved(path, "debug('looping from here')\nwhile True: pass\n")
    await trio.sleep(0.15)
    started = time.monotonic()
    await connection_to(ws_server, "/edited").send_message("b")  # its cook waits for the reload
    await connection_to(ws_server, "/other").send_message("c")
    await wait_for_rows(other, 1)  # meanwhile the other DAT cooks on
    assert edited.numRows == 2 and time.monotonic() - started < 1.0  # "b" waits for the reload
    await wait_until(lambda: len(ws_server.received) == 2, what="the answer after the failed reload")
    assert ws_server.received == ["v1: a", "v1: b"]
    assert edited.last_error == (f"callbacks: {path}:2: failed to load: still running after 1.5 s (reloadtimeout); "
                                 "the previous callbacks go on")
    assert "debug: looping from here (live.py:1)" in monitor.lines  # from the worker thread, delivered in the DAT's
    saved(path, V1.replace("v1", "v2"))  # the next edit loads
    await trio.sleep(0.15)
    await connection_to(ws_server, "/edited").send_message("d")
    await wait_until(lambda: len(ws_server.received) == 3, what="the answer of the new version")
    assert ws_server.received[2] == "v2: d"


async def test_a_reload_blocked_outside_python_is_abandoned(tmp_path: Path, ws_server: ScriptedServer,
                                                            nursery: trio.Nursery) -> None:
    path = tmp_path / "live.py"
    edited, _, _ = await edited_dats(nursery, ws_server, path, reloadtimeout=0.2)
    saved(path, "import time\ntime.sleep(3)\n")  # inside C: no line of Python runs to be stopped at
    await trio.sleep(0.15)
    await connection_to(ws_server, "/edited").send_message("b")
    await wait_until(lambda: len(ws_server.received) == 2, what="the answer after the abandoned reload")
    assert ws_server.received == ["v1: a", "v1: b"]
    assert edited.last_error == (f"callbacks: {path}: still running after 0.2 s (reloadtimeout) and blocked outside "
                                 "Python code: abandoned; the previous callbacks go on")


def _delete(path: Path) -> None:
    path.unlink()


def _symlink_loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(("change", "problem"), [
    (_delete, "was deleted (no such file)"),
    (_symlink_loop, "is a symbolic link loop (too many levels of symbolic links)"),
    (_directory, "is a directory, not a file"),
])
async def test_a_file_that_cannot_be_loaded_any_more_is_one_line_naming_why(
        change: Any, problem: str, tmp_path: Path, ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    path = tmp_path / "live.py"
    edited, _, monitor = await edited_dats(nursery, ws_server, path)
    change(path)
    client = connection_to(ws_server, "/edited")
    for message in ("b", "c", "d"):  # looked at before each cook; said once it lasted 0.5 s, then never again
        await trio.sleep(0.3)
        await client.send_message(message)
    await wait_until(lambda: len(ws_server.received) == 4, what="the answers")
    assert ws_server.received == ["v1: a", "v1: b", "v1: c", "v1: d"]
    line = f"callbacks: {path} {problem}; the previous callbacks go on"
    assert [m for m in monitor.lines if m.startswith("callbacks: ")] == [line]
    assert (edited.last_error, edited.info.errors) == (line, 1)


async def test_a_service_survives_systemexit_and_an_endless_loop_in_an_edit_and_one_sigterm_stops_it(
        tmp_path: Path, ws_server: ScriptedServer) -> None:
    callbacks = tmp_path / "live.py"
    saved(callbacks, V1)
    path = tmp_path / "service.toml"
    path.write_text(service_file(ws_server, callbacks, "edited") + "reloadtimeout = 30\n"
                    f'[dat.other]\nnetaddress = "{ws_server.url}other"\n')
    service = Service(path)
    try:
        url = await service.url()
        await ws_server.wait_client(2)
        edited = connection_to(ws_server, "/edited")
        saved(callbacks, "raise SystemExit(3)\n")
        await trio.sleep(0.15)
        await edited.send_message("a")
        await wait_until(lambda: ws_server.received == ["v1: a"], what="the previous callbacks to answer")
        line = await service.wait_line("failed to load: SystemExit: 3")
        assert line == f"wsdat: edited: callbacks: {callbacks}:1: failed to load: SystemExit: 3; the previous " \
                       "callbacks go on"
        assert service.process.poll() is None

        saved(callbacks, "while True:\n    pass\n")
        await trio.sleep(0.15)
        await edited.send_message("b")  # the reload runs (for up to 30 s): this DAT waits, the service does not
        await connection_to(ws_server, "/other").send_message("c")
        with trio.fail_after(10):
            while (await dats(url))["other"]["rows"] != [["c"]]:
                await trio.sleep(0.05)
        started = time.monotonic()
        service.signal(signal.SIGTERM)
        assert await service.wait_exit(10) == 0
        assert time.monotonic() - started < 5
        assert not [line for line in service.lines if "Traceback" in line or "internal error" in line]
    finally:
        service.kill()
