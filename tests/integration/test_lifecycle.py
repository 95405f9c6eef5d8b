"""Plugin lifecycle (onStart/onExit, always paired) and plugin settings (service file, CLI, environment)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import ServiceFileError, WebSocketDAT
from wsdat_core.faces.config import build_dats, load_service
from wsdat_core.faces.testing import ScriptedServer, wait_until


class Life:
    """Writes down its lifecycle calls, per DAT."""

    def __init__(self, log: list[tuple[str, str]], tag: str) -> None:
        self.log = log
        self.tag = tag

    def onStart(self, dat: Any) -> None:
        self.log.append(("start", self.tag))

    def onExit(self, dat: Any) -> None:
        self.log.append(("exit", self.tag))

    def onConnect(self, dat: Any) -> None:
        self.log.append(("connect", self.tag))


def paired(log: list[tuple[str, str]], tag: str) -> bool:
    calls = [what for what, who in log if who == tag and what in ("start", "exit")]
    return calls == ["start", "exit"] * (len(calls) // 2) and len(calls) % 2 == 0


async def test_onstart_before_connecting_and_onexit_on_cancellation(ws_server: ScriptedServer) -> None:
    log: list[tuple[str, str]] = []
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Life(log, "a")])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        assert log == [("start", "a"), ("connect", "a")]
        nursery.cancel_scope.cancel()
    assert log[-1] == ("exit", "a") and paired(log, "a")


async def test_onexit_runs_when_the_run_ends_with_an_error(ws_server: ScriptedServer) -> None:
    log: list[tuple[str, str]] = []

    class Crashing(Life):
        def onStart(self, dat: Any) -> None:
            super().onStart(dat)

            async def crash() -> None:
                await trio.sleep(0.05)
                raise RuntimeError("background task failed")

            dat.start_soon(crash)

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Crashing(log, "c")])
    with pytest.raises(BaseExceptionGroup) as raised:
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            await trio.sleep_forever()
    assert raised.group_contains(RuntimeError, match="background task failed")
    assert log[0] == ("start", "c") and log[-1] == ("exit", "c")


async def test_changing_callbacks_starts_added_and_exits_removed_plugins_once(ws_server: ScriptedServer,
                                                                              dat_factory) -> None:
    log: list[tuple[str, str]] = []
    a, b = Life(log, "a"), Life(log, "b")
    dat = await dat_factory(callbacks=[a])
    dat.par.callbacks = [a, b]
    dat.par.callbacks = [b]
    await trio.testing.wait_all_tasks_blocked()
    lifecycle = [entry for entry in log if entry[0] != "connect"]
    assert lifecycle == [("start", "a"), ("start", "b"), ("exit", "a")]
    dat.stop()
    await wait_until(lambda: log[-1] == ("exit", "b"))
    assert paired(log, "a") and paired(log, "b")


async def test_a_raising_onstart_is_reported_and_still_gets_onexit(ws_server: ScriptedServer) -> None:
    log: list[tuple[str, str]] = []

    class Broken(Life):
        def onStart(self, dat: Any) -> None:
            super().onStart(dat)
            raise OSError("cannot open the file")

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Broken(log, "x")])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        assert dat.connected  # the DAT goes on
        assert dat.info.errors == 1 and "onStart" in dat.last_error and "cannot open the file" in dat.last_error
        nursery.cancel_scope.cancel()
    assert log[-1] == ("exit", "x")


async def test_async_onstart_is_awaited_before_connecting_and_async_onexit_on_cancellation(
        ws_server: ScriptedServer) -> None:
    log: list[str] = []

    class Async:
        async def onStart(self, dat: Any) -> None:
            await trio.sleep(0.05)
            log.append("started")

        def onConnect(self, dat: Any) -> None:
            log.append("connect")

        async def onExit(self, dat: Any) -> None:
            await trio.sleep(0.05)  # shielded: runs although the DAT was cancelled
            log.append("exited")

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Async()])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        nursery.cancel_scope.cancel()
    assert log == ["started", "connect", "exited"]


async def test_record_plugin_closes_its_file_on_exit(ws_server: ScriptedServer, tmp_path: Path) -> None:
    from wsdat_record import Recorder

    recorder = Recorder(directory=tmp_path)
    dat = WebSocketDAT("feed", netaddress=ws_server.url, callbacks=[recorder])
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run)
        writer = recorder.file_for(dat)
        nursery.cancel_scope.cancel()
    assert writer._file.closed
    assert "feed" not in recorder._files


def test_plugin_settings_merge_environment_defaults_and_given_values(monkeypatch) -> None:
    monkeypatch.setenv("WSDAT_RECORD_DIR", "/from/env")
    monkeypatch.setenv("WSDAT_RECORD_BACKUPS", "7")
    dat = WebSocketDAT(settings={"record": {"dir": "/from/service"}}, active=False)
    assert dat.pluginSettings("record") == {"dir": "/from/service", "backups": "7"}
    assert dat.pluginSettings("osc") == {}


def test_service_file_plugin_tables_reach_the_plugin(tmp_path: Path) -> None:
    service = tmp_path / "service.toml"
    service.write_text('[dat.feed]\nnetaddress = "ws://127.0.0.1:9/"\ncallbacks = ["record"]\n\n'
                       '[dat.feed.plugins.record]\ndir = "out"\nbackups = 2\n')
    [dat] = build_dats(load_service(service))
    assert dat.pluginSettings("record") == {"dir": "out", "backups": 2}


def test_service_file_unknown_plugin_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    service = tmp_path / "service.toml"
    service.write_text('[dat.feed]\nnetaddress = "ws://127.0.0.1:9/"\n\n[dat.feed.plugins.nosuch]\nx = 1\n')
    with pytest.raises(ServiceFileError) as raised:
        load_service(service)
    message = str(raised.value)
    assert message.startswith(f"{service}:4: dat.feed.plugins.nosuch: no plugin named 'nosuch'")
    assert "record" in message  # the names it knows


def test_cli_set_reaches_the_plugin(independent_server, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "connect", independent_server.url, "--count", "1",
                           "--callbacks", "record", "--set", f"record.dir={tmp_path}", "--name", "feed",
                           "--output", "jsonl"], input="hello\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "wsdat-feed.jsonl").read_text().splitlines()]
    assert [r["message"] for r in records if r["event"] == "text"] == ["hello"]
    bad = subprocess.run([sys.executable, "-m", "wsdat_core", "connect", independent_server.url, "--set", "nodot"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "PLUGIN.KEY=VALUE" in bad.stderr
