"""A DAT waiting to retry says so everywhere: ``reconnecting``, the attempt that comes next and when, in
``/api/dats``, ``/healthz``, ``/metrics`` and the live page's first response; ``closed`` only when stopped for good."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from wsdat_core.faces.testing import wait_until

from .servicehttp import get, running_service


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_retrying_dat_is_reconnecting_in_the_api_health_metrics_and_page(tmp_path: Path) -> None:
    port = dead_port()
    text = f"""
[service]
name = "studio"

[dat.feed]
netaddress = "ws://127.0.0.1:{port}/feed"
reconnectdelay = 0.01
reconnectfactor = 4000
reconnectmaxdelay = 60
"""
    async with running_service(tmp_path / "service.toml", text) as runner:
        feed = runner.dats["feed"]
        # the first retry comes at once (within reconnectdelay); the second one 20 to 40 s later
        await wait_until(lambda: feed.info.state == "reconnecting" and feed.info.retry_attempt == 2,
                         what="the second retry being planned")
        assert runner.http_url is not None
        base = runner.http_url.rstrip("/")
        refused = f"cannot connect to ws://127.0.0.1:{port}/feed: connection refused by 127.0.0.1:{port}"

        [listed] = (await get(base + "/api/dats")).json()["dats"]
        assert (listed["state"], listed["connected"], listed["retry_attempt"]) == ("reconnecting", False, 2)
        assert time.time() < listed["retry_at"] <= time.time() + 60
        assert (listed["info"]["state"], listed["info"]["retry_attempt"]) == ("reconnecting", 2)
        assert listed["last_error"] == refused

        health = await get(base + "/healthz")
        assert health.status == 503
        assert health.json() == {"status": "failing", "service": "studio", "dats": {"feed": "reconnecting"},
                                 "failing": {"feed": {"state": "reconnecting", "error": refused, "retry_attempt": 2,
                                                      "retry_at": listed["retry_at"]}}}

        metrics = (await get(base + "/metrics")).body.decode()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(metrics) for s in family.samples}
        assert samples[("wsdat_state", (("dat", "feed"), ("state", "reconnecting")))] == 1
        assert samples[("wsdat_state", (("dat", "feed"), ("state", "closed")))] == 0
        assert samples[("wsdat_retry_attempt", (("dat", "feed"),))] == 2

        page = (await get(base + "/")).body.decode()
        found = re.search(r'<script id="snapshot" type="application/json">(.*?)</script>', page, re.DOTALL)
        assert found is not None
        [panel] = json.loads(found.group(1))["dats"]
        assert (panel["name"], panel["status"]["state"], panel["status"]["retry_attempt"]) == \
            ("feed", "reconnecting", 2)

        feed.par.active = False  # stopped for good: closed
        await wait_until(lambda: feed.info.state == "closed", what="the DAT to stop")
        [listed] = (await get(base + "/api/dats")).json()["dats"]
        assert (listed["state"], listed["retry_attempt"], listed["retry_at"]) == ("closed", 0, 0.0)
        assert (await get(base + "/healthz")).json()["dats"] == {"feed": "inactive"}


async def test_the_first_response_holds_every_dat_and_its_last_rows_as_inert_json(tmp_path: Path, ws_server) -> None:
    text = f"""
[service]
name = "studio"

[dat.feed]
netaddress = "{ws_server.url}feed"
"""
    async with running_service(tmp_path / "service.toml", text) as runner:
        feed = runner.dats["feed"]
        await feed.wait_connected()
        client = await ws_server.wait_client()
        hostile = "</script><script>alert(1)</script> & <!--"
        for message in ("one", hostile):
            await client.send_message(message)
        await wait_until(lambda: feed.numRows == 3, what="both rows")
        await wait_until(lambda: runner.hub is not None and runner.hub.panels["feed"].row_seq == 2, what="the hub")
        assert runner.http_url is not None
        page = (await get(runner.http_url)).body.decode()
        found = re.search(r'<script id="snapshot" type="application/json">(.*?)</script>', page, re.DOTALL)
        assert found is not None and "<" not in found.group(1)  # nothing in it can end the data block
        [panel] = json.loads(found.group(1))["dats"]
        assert panel["rows"] == [[1, "one"], [2, hostile]]
        assert (panel["status"]["state"], panel["status"]["url"]) == ("open", f"{ws_server.url}feed")
