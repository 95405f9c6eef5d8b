"""wsdat run --http: every endpoint against a service connected to a real WebSocket server on loopback."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from wsdat_core.faces.config import ServiceRunner
from wsdat_core.faces.testing import ScriptedServer, wait_for_rows, wait_until
from wsdat_core.http.address import HttpAddress, parse_http_address
from wsdat_core.http.metrics import METRICS
from wsdat_core.model.errors import ParameterError
from wsdat_core.model.info import CHANNELS
from wsdat_core.model.params import Parameters

from .servicehttp import EventStream, get, post, rows_of, running_service


def two_dats(server: ScriptedServer) -> str:
    return f"""
[service]
name = "studio"

[dat.feed]
netaddress = "{server.url}feed"
maxlines = 50

[dat.control]
netaddress = "{server.url}control"
"""


@pytest.fixture
async def service(tmp_path: Path, ws_server: ScriptedServer) -> AsyncIterator[ServiceRunner]:
    async with running_service(tmp_path / "service.toml", two_dats(ws_server)) as runner:
        await ws_server.wait_client(2)
        for dat in runner.dats.values():
            await dat.wait_connected()
        yield runner


def base(runner: ServiceRunner) -> str:
    assert runner.http_url is not None
    return runner.http_url.rstrip("/")


async def feed_connection(server: ScriptedServer):  # type: ignore[no-untyped-def]
    """The server side of the DAT that asked for /feed."""
    for connection in server.connections:
        if connection.path == "/feed":
            return connection
    raise AssertionError("no /feed connection")


# ------------------------------------------------------------------------------------------------------ /metrics
async def test_metrics_are_prometheus_text_with_every_info_channel(service: ServiceRunner,
                                                                   ws_server: ScriptedServer) -> None:
    feed = service.dats["feed"]
    connection = await feed_connection(ws_server)
    for i in range(3):
        await connection.send_message(f"m{i}")
    await wait_for_rows(feed, 3)
    answer = await get(base(service) + "/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(answer.body.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

    assert set(METRICS) >= set(CHANNELS), "every info channel has a metric"
    for channel in CHANNELS:
        spec = METRICS[channel]
        family = families[f"wsdat_{spec.name}"]
        assert family.type == spec.kind
        for dat in ("feed", "control"):
            assert any(s.labels.get("dat") == dat for s in family.samples), (channel, dat)
        if spec.kind == "counter":
            assert all(s.name.endswith("_total") for s in family.samples if s.name.startswith("wsdat_"))
    assert samples[("wsdat_messages_received_total", (("dat", "feed"),))] == 3
    assert samples[("wsdat_num_rows", (("dat", "feed"),))] == 4
    assert samples[("wsdat_connects_total", (("dat", "control"),))] == 1
    assert samples[("wsdat_state", (("dat", "feed"), ("state", "open")))] == 1
    assert samples[("wsdat_state", (("dat", "feed"), ("state", "closed")))] == 0
    assert samples[("wsdat_dat_info", (("dat", "feed"), ("url", ws_server.url + "feed")))] == 1
    assert "process_cpu_seconds_total" in {s.name for f in families.values() for s in f.samples}
    assert "python_info" in families


# ------------------------------------------------------------------------------------------------------ /healthz
async def test_healthz_is_200_while_connected_and_503_naming_the_dat_when_the_server_goes(
        service: ServiceRunner, ws_server: ScriptedServer) -> None:
    url = base(service) + "/healthz"
    answer = await get(url)
    assert (answer.status, answer.json()) == (200, {"status": "ok", "service": "studio",
                                                    "dats": {"feed": "open", "control": "open"}})
    service.dats["control"].par.active = False  # an inactive DAT does not count
    ws_server.stop()
    feed = service.dats["feed"]
    await wait_until(lambda: not feed.connected and feed.last_error, what="feed to notice the server is gone")
    answer = await get(url)
    assert answer.status == 503
    body = answer.json()
    assert body["status"] == "failing"
    assert set(body["failing"]) == {"feed"}
    assert body["failing"]["feed"]["error"] == feed.last_error
    assert body["dats"]["control"] == "inactive"


# ---------------------------------------------------------------------------------------------------- /api/dats
async def test_api_lists_parameters_info_channels_and_the_last_rows(service: ServiceRunner,
                                                                    ws_server: ScriptedServer) -> None:
    connection = await feed_connection(ws_server)
    for i in range(5):
        await connection.send_message(f"row {i}")
    await wait_for_rows(service.dats["feed"], 5)

    listing = (await get(base(service) + "/api/dats")).json()
    assert listing["service"] == "studio"
    assert [d["name"] for d in listing["dats"]] == ["feed", "control"]
    one = (await get(base(service) + "/api/dats/feed?rows=2")).json()
    assert one["rows"] == [["row 3"], ["row 4"]]
    assert one["first_row"] == 4
    assert one["par"]["maxlines"] == 50
    assert one["par"]["netaddress"] == ws_server.url + "feed"
    assert one["info"]["messages_received"] == 5
    assert (one["state"], one["connected"], one["heading"]) == ("open", True, ["message"])

    missing = await get(base(service) + "/api/dats/nope")
    assert (missing.status, missing.json()) == (404, {"error": "no DAT named 'nope'; DATs are: feed, control"})
    bad = await get(base(service) + "/api/dats/feed?rows=lots")
    assert bad.status == 400
    assert bad.json()["error"].startswith("rows: 'lots' is not allowed")


async def test_send_text_and_base64_binary_through_a_dat(service: ServiceRunner, ws_server: ScriptedServer) -> None:
    url = base(service) + "/api/dats/control/send"
    answer = await post(url, {"text": "héllo"})
    assert (answer.status, answer.json()) == (200, {"sent": 6})
    answer = await post(url, {"binary": base64.b64encode(b"\x00\xffraw").decode()})
    assert (answer.status, answer.json()) == (200, {"sent": 5})
    assert await ws_server.wait_received(2) == ["héllo", b"\x00\xffraw"]

    assert (await post(url, {"binary": "not base64!"})).json() == {"error": "binary: not valid base64"}
    assert (await post(url, {"text": 5})).status == 400
    plain = await post(url, body=b"hello", headers={"Content-Type": "text/plain"})
    assert plain.status == 415  # a cross-site form cannot send JSON without asking first
    other = await post(url, {"text": "x"}, headers={"Origin": "http://evil.example"})
    assert (other.status, other.json()) == (403, {"error": "cross-origin requests are refused"})
    service.dats["control"].par.active = False
    await wait_until(lambda: not service.dats["control"].connected)
    closed = await post(url, {"text": "too late"})
    assert closed.status == 409
    assert "not connected" in closed.json()["error"]
    assert ws_server.received == ["héllo", b"\x00\xffraw"]


async def test_par_changes_with_the_same_validation(service: ServiceRunner, ws_server: ScriptedServer) -> None:
    feed = service.dats["feed"]
    url = base(service) + "/api/dats/feed/par"
    answer = await post(url, {"maxlines": 3, "bytes": "on"})
    assert (answer.status, answer.json()) == (200, {"par": {"maxlines": 3, "bytes": True}, "pulsed": []})
    assert (feed.par.maxlines, feed.table.maxlines, feed.numCols) == (3, 3, 2)

    bad = await post(url, {"maxlines": 0, "bytes": False})
    with pytest.raises(ParameterError) as same:  # the line any other face gives
        Parameters(maxlines=0)
    assert (bad.status, bad.json()) == (400, {"error": str(same.value)})
    assert feed.par.as_dict()["bytes"] is True  # all or nothing
    unknown = await post(url, {"colour": "red"})
    assert unknown.status == 400
    assert unknown.json()["error"].startswith("colour: 'red' is not allowed; expected a known parameter")
    code = await post(url, {"callbacks": ["/tmp/x.py"]})
    assert (code.status, code.json()["error"]) == (403, "callbacks: load code, so they change only in the service "
                                                        "file")

    connection = await feed_connection(ws_server)
    await connection.send_message("a row")
    await wait_for_rows(feed, 1)
    cleared = await post(url, {"clear": True})
    assert cleared.json() == {"par": {}, "pulsed": ["clear"]}
    assert feed.numRows == 1


async def test_a_host_other_than_this_machine_is_refused_on_loopback(service: ServiceRunner) -> None:
    answer = await get(base(service) + "/healthz", headers={"Host": "attacker.example:80"})
    assert answer.status == 421  # DNS rebinding: a page of attacker.example resolved to 127.0.0.1
    assert (await get(base(service) + "/healthz", headers={"Host": "localhost"})).status == 200


# ------------------------------------------------------------------------------------------------------- the page
async def test_the_page_and_its_assets_are_served_with_a_strict_policy(service: ServiceRunner) -> None:
    page = await get(base(service) + "/")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert b'src="static/live.js"' in page.body
    script = await get(base(service) + "/static/live.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"innerHTML" not in script.body  # what a DAT sends reaches the page as text only
    assert (await get(base(service) + "/static/../config.py")).status == 404


async def test_events_push_rows_as_text_and_a_stuck_page_never_slows_a_dat(
        service: ServiceRunner, ws_server: ScriptedServer) -> None:
    feed = service.dats["feed"]
    feed.par.maxlines = 10_000
    connection = await feed_connection(ws_server)
    stream = await EventStream(base(service) + "/events").open()
    kind, first = await stream.next()
    assert kind == "snapshot"
    assert [d["name"] for d in first["dats"]] == ["feed", "control"]

    hostile = "\x1b[2J\x07<script>alert(1)</script>"
    await connection.send_message(hostile)
    events = await stream.until(lambda seen: rows_of(seen, "feed"))
    assert rows_of(events, "feed") == [[1, "\\x1b[2J\\x07<script>alert(1)</script>"]]

    # A page that never reads: its socket fills up and its writes block; the DAT goes on at full speed.
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", int(base(service).rsplit(":", 1)[1])))
    stuck.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await wait_until(lambda: service.hub is not None and service.hub.pages == 2, what="the stuck page")
    count, size = 3000, 2000
    started = trio.current_time()
    for i in range(count):
        await connection.send_message(f"{i:05d}" + "x" * size)
    await wait_for_rows(feed, count + 1, timeout=10)
    elapsed = trio.current_time() - started
    assert feed.info.messages_received == count + 1
    assert (await get(base(service) + "/healthz")).status == 200  # the server answers meanwhile

    later = await stream.until(lambda seen: rows_of(seen, "feed") and rows_of(seen, "feed")[-1][0] == count + 1)
    rows = rows_of(later, "feed")
    assert rows[-1][1].startswith(f"{count - 1:05d}")  # the newest row, numbered in arrival order
    dropped = sum(data["dats"].get("feed", {}).get("dropped", 0) for kind, data in later if kind == "update")
    assert dropped > 0  # rows came faster than this page was read: the newest are shown, the rest counted
    assert dropped + len(rows) == count  # every row the page did not get is counted as dropped
    metrics = (await get(base(service) + "/metrics")).body.decode()
    assert "wsdat_http_pages 2.0" in metrics
    stuck.close()
    stream.close()
    await wait_until(lambda: service.hub is not None and service.hub.pages == 0, what="pages to be let go")
    print(f"{count} x {size} B received in {elapsed:.2f} s with a stuck page")


# ------------------------------------------------------------------------------------------------- the command
def test_http_addresses() -> None:
    assert parse_http_address("9090") == HttpAddress("127.0.0.1", 9090)
    assert parse_http_address(":9090") == HttpAddress("127.0.0.1", 9090)
    assert parse_http_address("[::1]:0") == HttpAddress("::1", 0)
    assert parse_http_address("0.0.0.0:80").loopback is False
    assert parse_http_address("localhost:80").loopback is True
    for bad in ("", "http", "1.2.3.4", "::1:80", "x:99999", "a b:80", True):
        with pytest.raises(ValueError, match="is not allowed"):
            parse_http_address(bad)


def test_bad_http_values_are_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text('[service]\nname = "x"\nhttp = "everywhere"\n[dat.a]\nnetaddress = "ws://127.0.0.1:9/"\n')
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "run", str(path)], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 2
    assert done.stderr.startswith(f"wsdat: error: {path}:3: service.http: 'everywhere' is not allowed; expected")
    assert done.stderr.count("\n") == 1

    path.write_text('[dat.a]\nnetaddress = "ws://127.0.0.1:9/"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "wsdat_core", "run", str(path), "--http", f"127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert done.stderr == f"wsdat: error: http: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_the_operations_page_names_every_metric() -> None:
    page = (Path(__file__).parent.parent.parent / "docs" / "operations.md").read_text()
    for channel, spec in METRICS.items():
        name = f"wsdat_{spec.name}" + ("_total" if spec.kind == "counter" else "")
        assert f"`{channel}`" in page and name in page, channel
