"""Web Server DATs in service files (``[server.NAME]``): beside WebSocket DATs in one nursery, named by op() and
fromop, reloaded, and shown by ``wsdat run --http`` in /api, /metrics, /healthz and the live page's stream."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wsdat_core import ServiceFileError
from wsdat_core.faces.config import load_service
from wsdat_core.faces.testing import ScriptedServer, wait_until

from .servicehttp import EventStream, get, post, rows_of, running_service
from .webclients import RawClient, port_of

TD = Path(__file__).parent.parent / "td"


async def test_a_server_beside_a_dat_in_api_metrics_health_and_the_live_page(tmp_path: Path,
                                                                           ws_server: ScriptedServer) -> None:
    (tmp_path / "relay.py").write_text(
        "def onWebSocketReceiveText(webServerDAT, client, data):\n"
        "    op('feed').sendText('from ' + str(client) + ': ' + data)\n")
    text = f"""
[service]
name = "studio"

[dat.feed]
netaddress = "{ws_server.url}"

[server.page]
port = 0
callbacks = ["relay.py"]
maxclients = 5
"""
    async with running_service(tmp_path / "service.toml", text) as runner:
        server = runner.dats["page"]
        base = runner.http_url
        assert base is not None
        stream = await EventStream(base + "events").open()
        client = await RawClient.connect(port_of(server))
        await client.send_text("hello")
        assert await ws_server.wait_received(1) == [f"from {client.name}: hello"]  # op('feed') is the DAT
        api = (await get(base + "api/dats/page")).json()
        assert (api["kind"], api["url"], api["state"], api["connected"]) == ("server", server.url, "listening", True)
        assert api["rows"] == [["hello", client.name]] and api["info"]["clients"] == 1
        assert api["par"]["maxclients"] == 5
        listing = (await get(base + "api/dats")).json()
        assert [(d["name"], d["kind"]) for d in listing["dats"]] == [("feed", "dat"), ("page", "server")]
        metrics = (await get(base + "metrics")).body.decode()
        assert 'wsdat_clients{dat="page"} 1.0' in metrics
        assert 'wsdat_state{dat="page",state="listening"} 1.0' in metrics
        assert re.search(r'wsdat_dat_info\{dat="page",url="ws://127\.0\.0\.1:\d+/"\} 1\.0', metrics)
        assert 'wsdat_clients{dat="feed"}' not in metrics
        health = await get(base + "healthz")
        assert health.status == 200 and health.json()["dats"] == {"feed": "open", "page": "listening"}
        sent = await post(base + "api/dats/page/send", {"text": "to all"}, headers={"Origin": base.rstrip("/")})
        assert sent.json() == {"sent": 6, "clients": 1}
        assert await client.recv_text() == "to all"
        events = await stream.until(lambda seen: rows_of(seen, "page"))
        assert rows_of(events, "page") == [[1, "hello", client.name]]
        snapshot = next(data for kind, data in events if kind == "snapshot")
        page = next(d for d in snapshot["dats"] if d["name"] == "page")
        assert page["status"]["heading"] == ["message", "client"]
        stream.close()
        origin = {"Origin": base.rstrip("/")}
        refused = await post(base + "api/dats/page/par", {"static": "/"}, headers=origin)
        assert (refused.status, refused.json()) == (403, {"error": "static: TLS, address and static folder "
                                                                   "parameters change only in the service file"})
        assert (await post(base + "api/dats/page/par", {"maxlines": 3}, headers=origin)).status == 200
        assert server.par.maxlines == 3
        server.par.active = False
        await wait_until(lambda: not server.listening)
        assert (await get(base + "healthz")).json()["dats"]["page"] == "inactive"
        await client.aclose()


async def test_reloading_changes_a_servers_parameters_and_adds_and_removes_servers(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    async with running_service(path, "[server.one]\nport = 0\n", http=None) as runner:
        one = runner.dats["one"]
        await one.wait_listening(5)
        first_url = one.url
        path.write_text("[server.one]\nport = 0\nmaxlines = 7\n\n[server.two]\nport = 0\n")
        assert runner.reload()
        assert one.par.maxlines == 7 and runner.dats["one"] is one and one.url == first_url
        await runner.dats["two"].wait_listening(5)
        path.write_text("[server.two]\nport = 0\n")
        assert runner.reload()
        await wait_until(lambda: not one.listening)
        assert list(runner.dats) == ["two"]


@pytest.mark.parametrize(("text", "message"), [
    ("[server.x]\nport = 'nine'\n", "service.toml:2: server.x.port: 'nine' is not allowed; expected an integer from "
                                    "0 to 65535"),
    ("[server.x]\nnetaddress = 'a'\n", "service.toml:2: server.x.netaddress: unknown parameter; parameters are: "),
    ("[server.x]\nsecure = true\n", "service.toml:2: server.x.secure: True is not allowed; expected on only with a "
                                    "certificate"),
    ("[dat.x]\n\n[server.x]\n", "service.toml:3: server.x: another DAT or server has this name; DATs and servers "
                                "share names (op() and fromop find them by name)"),
    ("[server.x.plugins.nobody]\n", "service.toml:1: server.x.plugins.nobody: no plugin named 'nobody'"),
])
def test_bad_server_tables_are_one_line_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "service.toml"
    path.write_text(text)
    with pytest.raises(ServiceFileError) as refused:
        load_service(path)
    assert str(refused.value).startswith(f"{path.parent}/{message}"), str(refused.value)
