"""Real TouchDesigner callbacks files: called by position as TD calls them, every TD name answered, and error lines a
TD user can act on (file:line of their own file, what to use instead, which op() found nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from wsdat_core import PluginError, WebSocketDAT
from wsdat_core.faces.testing import DATFactory, MonitorLines, ScriptedServer, wait_until

HERE = Path(__file__).parent


def copy(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copy(HERE / name, target)
    return str(target)


def line_of(name: str, text: str) -> int:
    """The number of the line of ``tests/td/NAME`` holding ``text`` (so the tests say which line, not a number)."""
    [number] = [n for n, line in enumerate((HERE / name).read_text().splitlines(), 1) if text in line]
    return number


async def test_renamed_arguments_star_args_and_defaults_are_called_by_position(
        ws_server: ScriptedServer, dat_factory: DATFactory, tmp_path: Path) -> None:
    monitor = MonitorLines()
    dat = await dat_factory("feed", callbacks=[copy("td_renamed.py", tmp_path), monitor])
    await ws_server.send_text("hello")
    await ws_server.wait_received(1)
    assert ws_server.received == [f"row 1: hello at /feed (feed, id {dat.id})"]
    assert dat.fetch("opened") == "/feed"
    await ws_server.ping(b"are you there")  # returns once the pong came back
    assert dat.fetch("ping args") == (b"are you there",)
    dat.sendPing(b"mine")
    await wait_until(lambda: dat.storage.get("pong") is not None, what="onReceivePong")
    assert dat.fetch("pong") == (b"mine", "no note")
    assert (dat.info.errors, dat.info.hook_errors) == (0, 0)

    # onReceiveBinary(dat, rowIndex, contents) loaded; it fails when a binary message comes, as in TD
    await ws_server.send_binary(b"\x01\x02")
    await wait_until(lambda: dat.info.hook_errors == 1, what="the binary callback to fail")
    expected = (f"td_renamed.py:{line_of('td_renamed.py', 'def onReceiveBinary')} in onReceiveBinary: TypeError: "
                "onReceiveBinary(dat, rowIndex, contents) cannot take the 2 argument(s) it is called with "
                "(dat, contents): missing a required argument: 'contents'")
    assert dat.last_error == expected
    assert [line for line in monitor.lines if "onReceiveBinary" in line] == [expected]
    assert dat.info.errors == 1
    await ws_server.send_text("still here")  # the DAT goes on
    await ws_server.wait_received(2)
    assert ws_server.received[1] == f"row 2: still here at /feed (feed, id {dat.id})"


ONLY = "td_only.py"
TD_ONLY_LINES = [
    ("parent", "parent().par.x", "parent(): TouchDesigner's operator network does not exist in wsdat; use op(NAME) "
     "to reach another DAT of the service"),
    ("project", "project.name", "project.name: there is no TouchDesigner project in wsdat; keep state with "
     "dat.store()/dat.fetch() and settings in the service file"),
    ("ui", "ui.status", "ui.status = ...: wsdat has no TouchDesigner UI; report with debug(...) or dat.monitor(...)"),
    ("tdu", "tdu.split", "tdu.split: TouchDesigner's utility module does not exist in wsdat; use the Python standard "
     "library"),
    ("run", "run('print", "run(): TouchDesigner's run() (delayed scripts) does not exist in wsdat; use an async def "
     "callback or dat.start_soon(...)"),
    ("shortcut", "op.RS_LOG", "op.RS_LOG: TouchDesigner's global OP shortcuts do not exist in wsdat; use op('NAME') "
     "to reach another DAT of the service, or dat.fetch(KEY) for a shared object"),
    ("ext", "me.ext", "feed.ext.Logger: TouchDesigner's extensions do not exist in wsdat; keep state with "
     "dat.store()/dat.fetch(), or write a plugin class (docs/plugins.md)"),
    ("me.parent", "me.parent()", "feed.parent(): TouchDesigner's operator network does not exist in wsdat; use "
     "op(NAME) to reach another DAT of the service"),
    ("iop", "iop.settings", "iop.settings: TouchDesigner's internal operator shortcuts do not exist in wsdat; use "
     "op(NAME) to reach another DAT of the service"),
    ("ipar", "ipar.Settings", "ipar.Settings: TouchDesigner's custom parameters do not exist in wsdat; use dat.par "
     "for the DAT's parameters and dat.pluginSettings(NAME) for settings"),
    ("mod", "mod.helpers", "mod.helpers: TouchDesigner's module on demand does not exist in wsdat; put that DAT's "
     "code in a .py file and import it"),
    ("tdfunctions", "import TDFunctions", "import TDFunctions: TDFunctions is TouchDesigner's own module; "
     "TouchDesigner's helper functions need its operator network; use the Python standard library"),
]


@pytest.mark.parametrize(("message", "code", "line"), TD_ONLY_LINES, ids=[case[0] for case in TD_ONLY_LINES])
async def test_every_td_only_name_is_one_line_saying_what_to_use(message: str, code: str, line: str,
                                                                 ws_server: ScriptedServer, dat_factory: DATFactory,
                                                                 tmp_path: Path) -> None:
    monitor = MonitorLines()
    dat = await dat_factory("feed", callbacks=[copy(ONLY, tmp_path), monitor])
    await ws_server.send_text(message, "after")
    await wait_until(lambda: dat.numRows == 3, what="both rows")  # the DAT goes on
    expected = f"{ONLY}:{line_of(ONLY, code)} in onReceiveText: TDOnlyError: {line}"
    assert (dat.last_error, dat.info.hook_errors) == (expected, 1)
    assert [m for m in monitor.lines if " in onReceiveText: " in m] == [expected]


async def test_a_callback_failing_on_the_none_of_an_unknown_op_name_is_told_which(
        ws_server: ScriptedServer, dat_factory: DATFactory, tmp_path: Path) -> None:
    dat = await dat_factory("feed", callbacks=[copy(ONLY, tmp_path)])
    await ws_server.send_text("missing")
    await wait_until(lambda: dat.info.hook_errors == 1, what="the callback to fail")
    assert dat.last_error == (f"{ONLY}:{line_of(ONLY, 'appendRow')} in onReceiveText: AttributeError: 'NoneType' "
                              "object has no attribute 'appendRow' (op('table1') returned None: nothing of that name "
                              "in this service)")


async def test_a_raising_callback_names_the_line_of_its_own_file(ws_server: ScriptedServer, dat_factory: DATFactory,
                                                                 tmp_path: Path) -> None:
    monitor = MonitorLines()
    dat = await dat_factory(callbacks=[copy("td_raiser.py", tmp_path), monitor])
    await ws_server.send_text("{bad", '{"x": 1}', '{"id": 7}')
    await ws_server.wait_received(1)
    assert ws_server.received == ["ok 7"]
    assert [m for m in monitor.lines if " in onReceiveText: " in m] == [
        f"td_raiser.py:{line_of('td_raiser.py', 'json.loads')} in onReceiveText: JSONDecodeError: Expecting property "
        "name enclosed in double quotes: line 1 column 2 (char 1)",  # raised inside json: the line of the file
        f"td_raiser.py:{line_of('td_raiser.py', 'data[')} in onReceiveText: KeyError: 'id'",
    ]
    assert (dat.info.errors, dat.info.hook_errors) == (2, 2)


async def test_td_modules_guarded_import_loads_and_an_unguarded_one_says_what_to_use(
        ws_server: ScriptedServer, dat_factory: DATFactory, tmp_path: Path) -> None:
    dat = await dat_factory(callbacks=[copy("td_imports.py", tmp_path)])
    await ws_server.send_text("x", "json")
    await ws_server.wait_received(1)
    assert ws_server.received == ["td is None"]  # `except ImportError` caught it: a TDOnlyError is one too
    await wait_until(lambda: dat.info.hook_errors == 1, what="the import to fail")
    assert dat.last_error == (f"td_imports.py:{line_of('td_imports.py', 'import TDJSON')} in onReceiveText: "
                              "TDOnlyError: import TDJSON: TDJSON is TouchDesigner's own module; use the json module "
                              "(json.dumps, json.loads)")
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text("import os\nimport TDStoreTools\n")
    with pytest.raises(PluginError) as refused:
        WebSocketDAT(callbacks=[str(unguarded)], active=False)
    assert str(refused.value) == (f"callbacks: {unguarded}:2: failed to load: TDOnlyError: import TDStoreTools: "
                                  "TDStoreTools is TouchDesigner's own module; keep state with dat.store()/dat.fetch() "
                                  "(operator storage)")
    with pytest.raises(ModuleNotFoundError):  # outside callbacks files, imports are Python's own
        import TDJSON  # type: ignore[import-not-found]  # noqa: F401


def test_the_td_operator_members_that_mean_something_here() -> None:
    other = WebSocketDAT("other", active=False)
    dat = WebSocketDAT("feed", active=False, namespace={"other": other})
    assert (dat.path, dat.name, dat.valid, dat.type, dat.OPType, dat.family, dat.isDAT) == \
        ("/feed", "feed", True, "websocket", "websocketDAT", "DAT", True)
    assert dat.id == dat.id and dat.id != other.id
    assert dat.op("other") is other and dat.op("/project1/feed") is dat and dat.op("nothing") is None
    assert dat.ops("*") == [dat, other]
    with pytest.raises(Exception) as used:
        dat.cook(force=True)
    assert str(used.value) == ("feed.cook(): wsdat cooks when messages arrive; there is nothing to force (use "
                               "dat.par.reload.pulse() to load the callbacks again)")


async def test_debug_lines_print_without_asking_and_module_level_code_sees_the_globals(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "hello.py"
    path.write_text("debug('loading', me.name)\n\ndef onConnect(dat):\n    debug('connected')\n")
    monitor = MonitorLines()
    dat = WebSocketDAT("feed", callbacks=[str(path), monitor], active=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(dat.run_offline)
        await dat.deliver([("connect", "ws://x/")])
        nursery.cancel_scope.cancel()
    assert monitor.lines == ["debug: connected (hello.py:4)"]  # the load's line came before the monitor plugin
    assert [(r.levelname, r.getMessage()) for r in caplog.records if "debug:" in r.getMessage()] == [
        ("WARNING", "feed: debug: loading feed (hello.py:1)"), ("WARNING", "feed: debug: connected (hello.py:4)")]


def test_a_file_looping_at_load_is_refused_after_reloadtimeout(tmp_path: Path) -> None:
    path = tmp_path / "spins.py"
    path.write_text("ready = False\nwhile not ready: pass\n")
    with pytest.raises(PluginError) as refused:
        WebSocketDAT(callbacks=[str(path)], reloadtimeout=0.2, active=False)
    assert str(refused.value) == f"callbacks: {path}:2: failed to load: still running after 0.2 s (reloadtimeout)"
