"""wsdat run: several DATs from a service file in one nursery."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from wsdat_core import ServiceFileError
from wsdat_core.faces.config import build_dats, load_service
from wsdat_core.faces.testing import ScriptedServer, wait_for_rows, wait_until
from wsdat_core.http.address import HttpAddress
from wsdat_core.model.errors import ParameterError
from wsdat_core.model.params import SPECS

EXAMPLES = Path(__file__).parent.parent.parent / "docs" / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(text)
    return path


def test_service_keys_http_and_watch(tmp_path: Path) -> None:
    service = load_service(write(tmp_path, "[service]\nhttp = 9090\nwatch = true\n[dat.a]\n"))
    assert (service.http, service.watch) == (HttpAddress("127.0.0.1", 9090), True)
    assert load_service(write(tmp_path, "[dat.a]\n")).http is None


def test_the_example_file_loads() -> None:
    service = load_service(EXAMPLES / "service.toml")
    assert service.name == "studio"
    assert [d.name for d in service.dats] == ["feed", "control"]
    control = service.dats[1].params
    assert control["callbacks"] == (str((EXAMPLES / "callbacks.py").resolve()),)
    assert (control["executeloc"], control["fromop"]) == ("op", "feed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[dat.a]\nnetaddress = 'ws://x'\nmaxlines = 0\n", "service.toml:3: dat.a.maxlines: 0 is not allowed"),
        ("[dat.a]\nnetaddress = 'ws://x'\n\nmaxline = 5\n", "service.toml:4: dat.a.maxline: unknown parameter"),
        ("[service]\nname = 'x'\ncolour = 'red'\n[dat.a]\n", "service.toml:3: service.colour: unknown key"),
        ("[dat.a]\nport = 'http'\n", "service.toml:2: dat.a.port: 'http' is not allowed"),
        ("[dat.a\n", "service.toml:1: not valid TOML"),
        ("[dat.a]\nport = 1\nport = 2\n", "service.toml:3: not valid TOML"),
        ("[dat.a]\ncallbacks = 5\n", "service.toml:2: dat.a.callbacks: 5 is not allowed; expected a plugin reference"),
        ("[dat.a]\ncallbacks = ['echo', 1]\n", "service.toml:2: dat.a.callbacks: ['echo', 1] is not allowed"),
        ("[service]\nhttp = 'anywhere'\n[dat.a]\n", "service.toml:2: service.http: 'anywhere' is not allowed"),
        ("[service]\nwatch = 'yes'\n[dat.a]\n", "service.toml:2: service.watch: 'yes' is not allowed"),
        ("[service]\nname = 'x'\n", "no DATs"),
        ("[dats.a]\nport = 1\n", "service.toml:1: dats: unknown table"),
        ("[dat.a]\nnetaddress = 'http://x'\n", "service.toml:2: dat.a.netaddress:"),
    ],
)
def test_bad_files_name_the_key_and_the_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ServiceFileError) as info:
        load_service(write(tmp_path, text))
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


async def test_fromop_names_another_dat_of_the_service(tmp_path: Path, ws_server: ScriptedServer,
                                                       nursery: trio.Nursery) -> None:
    shutil.copy(EXAMPLES / "callbacks.py", tmp_path / "callbacks.py")
    path = write(tmp_path, f"""
[dat.control]
netaddress = "{ws_server.url}control"
callbacks = ["callbacks.py"]
executeloc = "op"
fromop = "feed"

[dat.feed]
netaddress = "{ws_server.url}feed"
maxlines = 50
""")
    control, feed = build_dats(load_service(path))
    await nursery.start(control.run)
    await nursery.start(feed.run)
    await ws_server.wait_client(2)
    by_path = {connection.path: connection for connection in ws_server.connections}  # accepted in any order
    await by_path["/feed"].send_message("row")
    await wait_for_rows(feed, 1)
    await by_path["/control"].send_message("maxlines 7")
    await wait_until(lambda: feed.par.maxlines == 7)
    await by_path["/control"].send_message("clear")
    await wait_until(lambda: feed.numRows == 1)
    control.stop()
    feed.stop()


def test_wsdat_run_starts_every_dat_and_stops_on_sigterm(tmp_path: Path, independent_server) -> None:
    path = write(tmp_path, f"""
[service]
name = "svc"
[dat.one]
netaddress = "{independent_server.url}"
[dat.two]
netaddress = "{independent_server.url}"
callbacks = ["echo"]
""")
    process = subprocess.Popen([sys.executable, "-m", "wsdat_core", "run", str(path)], stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines: list[str] = []
    while sum("connected to" in line for line in lines) < 2:
        line = process.stderr.readline()
        assert line, f"wsdat run ended early: {lines}"
        lines.append(line)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "SIGTERM received, stopping" in err
    assert "Traceback" not in err


def test_wsdat_run_bad_file_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[dat.a]\nmaxlines = -1\n")
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "run", str(path)], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 2
    allowed = SPECS["maxlines"].check  # the parameter's own rule words the line
    with pytest.raises(ParameterError) as rule:
        allowed("maxlines", -1)
    assert done.stderr == f"wsdat: error: {path}:2: dat.a.maxlines: -1 is not allowed; expected {rule.value.allowed}\n"
