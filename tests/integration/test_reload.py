"""wsdat run: SIGHUP and --watch reload the service file without dropping connections; SIGTERM and SIGINT stop every
DAT with 1001 and onExit; one DAT failing never takes the service down."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio

from wsdat_core.faces.testing import ScriptedServer, wait_for_rows, wait_until

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
