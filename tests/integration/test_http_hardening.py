"""Issue 27 against a running ``wsdat run --http``: secrets on every face (1, 7), a lone surrogate over HTTP (3),
malformed requests (4), a public bind and what the API may change (9). Real parts: ``wsdat run`` as a process of its
own (its stderr is the log), the `websockets` echo server, the machine's Redis for the sink's settings."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from wsdat_core.faces.testing import ScriptedServer, wait_until
from wsdat_core.http.app import PROTECTED_PARAMS

from ..conftest import RunningServer
from .servicehttp import Answer, _request, get, post, running_service, service_process

WSDAT = [sys.executable, "-m", "wsdat_core"]
JSON = {"Content-Type": "application/json"}


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    return _request(method, url, body, headers or {})


def one_line_error(answer: Answer) -> str:
    """The ``error`` of a JSON refusal, checked to be one line."""
    error: str = answer.json()["error"]
    assert "\n" not in error and "Traceback" not in error
    return error


def poll(condition: Callable[[], object], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- 1 and 7: secrets ----------------------------------------------------------------------------------------------
SECRETS = ("URLSECRET", "AUTHSECRET", "KEYSECRET", "PROXYSECRET", "REDISSECRET", "PARSECRET")


def read_events(url: str, seconds: float = 1.5) -> str:
    """What the live page's event stream sends in ``seconds``."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as stream:
        stream.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stream.settimeout(seconds)
        received = b""
        try:
            while chunk := stream.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received.decode()


def test_secrets_never_show_on_any_face(tmp_path: Path, independent_server: RunningServer) -> None:
    port, closed = independent_server.port, free_port()
    stream = f"wsdat-test:secrets:{uuid.uuid4().hex}"
    service = f"""
[service]
name = "secrets"

[dat.feed]
netaddress = "ws://watcher:URLSECRET@127.0.0.1:{port}/"
headers = ["Authorization: Bearer AUTHSECRET", "X-Api-Key: KEYSECRET"]
secretheaders = ["x-api-key"]
callbacks = ["record", "redis"]

[dat.feed.plugins.record]
dir = "{tmp_path}"

[dat.feed.plugins.redis]
url = "redis://:REDISSECRET@127.0.0.1:6379/0"
stream = "{stream}"

[dat.proxied]
netaddress = "ws://127.0.0.1:{port}/"
proxy = "http://pu:PROXYSECRET@127.0.0.1:{closed}"
reconnectdelay = 0.1
"""
    faces: dict[str, str] = {}
    with service_process(tmp_path / "service.toml", service, "--http", "127.0.0.1:0", "-v") as running:
        base = running.url
        running.wait_line(r"feed: connected to")
        sent = call("POST", base + "/api/dats/feed/send", b'{"text": "hello"}', JSON)
        assert (sent.status, sent.json()) == (200, {"sent": 5})
        poll(lambda: call("GET", base + "/api/dats/feed").json()["rows"], "the echo of 'hello' as a row")
        running.wait_line(r"proxied: .*proxy")  # the proxied DAT failed at least once, naming its proxy
        for path in ("/api/dats", "/api/dats/feed", "/api/dats/proxied", "/metrics", "/healthz", "/",
                     "/static/live.js"):
            faces[path] = call("GET", base + path).body.decode()
        faces["/events"] = read_events(base)
        refused = call("POST", base + "/api/dats/feed/par", b'{"netaddress": "ws://u:PARSECRET@h:99999/"}', JSON)
        faces["refused netaddress"] = one_line_error(refused)
        protected = call("POST", base + "/api/dats/feed/par", b'{"proxy": "http://u:PARSECRET@h:1"}', JSON)
        faces["refused proxy"] = one_line_error(protected)
    faces["service stderr"] = running.stderr
    faces["record file"] = (tmp_path / "wsdat-feed.jsonl").read_text()

    connect = subprocess.run([*WSDAT, "connect", f"ws://watcher:URLSECRET@127.0.0.1:{port}/", "--headers",
                              "Authorization: Bearer AUTHSECRET", "--output", "jsonl", "--count", "1", "-v"],
                             input="hello\n", capture_output=True, text=True, timeout=30)
    faces["connect stdout (jsonl)"], faces["connect stderr"] = connect.stdout, connect.stderr
    for args in (["ws://u:PARSECRET@127.0.0.1:99999/"], [f"ws://127.0.0.1:{port}/", "--proxy",
                                                         f"http://pu:PROXYSECRET@127.0.0.1:{closed}"],
                 [f"ws://127.0.0.1:{port}/", "--headers", "Authorization Bearer AUTHSECRET"]):
        done = subprocess.run([*WSDAT, "connect", *args], capture_output=True, text=True, timeout=30)
        faces[f"connect {args[-1]}"] = done.stderr

    bad_file = tmp_path / "bad.toml"
    bad_file.write_text('[dat.feed]\nnetaddress = "ws://u:PARSECRET@127.0.0.1:99999/"\n')
    faces["a bad line of a service file"] = subprocess.run([*WSDAT, "run", str(bad_file)], capture_output=True,
                                                           text=True, timeout=30).stderr

    for face, text in faces.items():
        assert not [secret for secret in SECRETS if secret in text], (face, text[:3000])
    # ... and each face did show what it shows, masked.
    feed = json.loads(faces["/api/dats/feed"])
    assert feed["par"]["netaddress"] == f"ws://watcher:***@127.0.0.1:{port}/"
    assert feed["par"]["headers"] == [["Authorization", "Bearer ***"], ["X-Api-Key", "***"]]
    assert feed["rows"] == [["hello"]]
    assert json.loads(faces["/api/dats/proxied"])["par"]["proxy"] == f"http://pu:***@127.0.0.1:{closed}"
    assert f'url="ws://watcher:***@127.0.0.1:{port}/"' in faces["/metrics"]
    assert "pu:***@" in faces["/healthz"] and "pu:***@" in faces["/events"]
    assert faces["refused netaddress"] == ("netaddress: 'ws://u:***@h:99999/' is not allowed; expected a port from 1 "
                                           "to 65535 after the host ('99999' is not in 1-65535)")
    assert faces["refused proxy"] == "proxy: TLS, proxy and header parameters change only in the service file"
    assert f"connecting to ws://watcher:***@127.0.0.1:{port}/" in faces["service stderr"]
    assert '"message": "hello"' in faces["record file"] and "watcher:***@" in faces["record file"]
    assert json.loads(faces["connect stdout (jsonl)"]) == {"type": "text", "row": 1, "message": "hello"}
    assert faces["connect ws://u:PARSECRET@127.0.0.1:99999/"] == (
        "wsdat: error: netaddress: 'ws://u:***@127.0.0.1:99999/' is not allowed; expected a port from 1 to 65535 "
        "after the host ('99999' is not in 1-65535)\n")
    assert "pu:***@" in faces[f"connect http://pu:PROXYSECRET@127.0.0.1:{closed}"]
    assert "'Authorization Bearer ***' has no ':'" in faces["connect Authorization Bearer AUTHSECRET"]
    assert faces["a bad line of a service file"] == (
        f"wsdat: error: {bad_file}:2: dat.feed.netaddress: 'ws://u:***@127.0.0.1:99999/' is not allowed; expected a "
        "port from 1 to 65535 after the host ('99999' is not in 1-65535)\n")
    redis = pytest.importorskip("redis")
    with contextlib.suppress(redis.RedisError):
        redis.Redis(socket_connect_timeout=1).delete(stream)


# -- 3: a lone surrogate -------------------------------------------------------------------------------------------
async def test_a_lone_surrogate_sent_over_http_is_refused_and_the_dat_goes_on(
        tmp_path: Path, ws_server: ScriptedServer) -> None:
    async with running_service(tmp_path / "service.toml", f'[dat.feed]\nnetaddress = "{ws_server.url}"\n') as runner:
        feed = runner.dats["feed"]
        await feed.wait_connected()
        assert runner.http_url is not None
        url = runner.http_url + "api/dats/feed/send"
        refused = await post(url, body=b'{"text": "a\\ud800b"}', headers=JSON)
        assert refused.status == 400
        assert one_line_error(refused) == ("text: '\\ud800' at position 1 is a lone surrogate, which UTF-8 cannot "
                                           "encode; nothing was sent")
        accepted = await post(url, {"text": "after"})
        assert (accepted.status, accepted.json()) == (200, {"sent": 5})
        assert await ws_server.wait_received(1) == ["after"]
        assert (feed.connected, feed.info.connects, feed.info.errors) == (True, 1, 0)


# -- 4: malformed input --------------------------------------------------------------------------------------------
def test_malformed_requests_answer_one_line_4xx_and_leave_no_traceback(
        tmp_path: Path, independent_server: RunningServer) -> None:
    with service_process(tmp_path / "service.toml", f'[dat.feed]\nnetaddress = "{independent_server.url}"\n',
                         "--http", "127.0.0.1:0") as running:
        base = running.url
        deep = call("POST", base + "/api/dats/feed/par", b"[" * 200_000, JSON)
        assert (deep.status, one_line_error(deep)) == (400, "not valid JSON: nested too deeply")
        superscript = call("GET", base + "/api/dats/feed?rows=%C2%B2")
        assert (superscript.status, one_line_error(superscript)) == (
            400, "rows: '²' is not allowed; expected an integer from 0 to 10000")
        for method, path, body in [
                ("POST", "/api/dats/feed/send", b"[" * 200_000),
                ("GET", "/api/dats?rows=" + "1" * 5000, None),
                ("GET", "/api/dats/feed?rows=%ff", None),
                ("GET", "/api/dats/feed?rows=-1", None),
                ("POST", "/api/dats/feed/par", b"\xff\xfe\x00"),
                ("POST", "/api/dats/feed/par", b'{"maxlines": 1e999}'),
                ("POST", "/api/dats/feed/par", b'{"maxlines": ' + b"9" * 5000 + b"}"),
                ("POST", "/api/dats/feed/par", b'{"maxlines": NaN}'),
                ("POST", "/api/dats/feed/par", b"[1]"),
                ("POST", "/api/dats/feed/send", b'{"binary": "AAAAA"}'),
                ("GET", "/api/dats/%ff", None),
                ("GET", "/static/%00", None)]:
            answer = call(method, base + path, body, JSON if body is not None else {})
            assert 400 <= answer.status < 500, (path, answer)
            one_line_error(answer)
        huge_host = call("GET", base + "/api/dats", headers={"Host": "x" * 10_000})
        assert huge_host.status == 421 and len(one_line_error(huge_host)) < 400
        host, port = base.split("//")[1].split(":")
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=5) as stream:
                stream.sendall(raw)
                assert stream.recv(100).startswith(b"HTTP/1.1 400")
        assert call("GET", base + "/healthz").status == 200  # the service took it all in its stride
    assert running.stop() == 0
    assert "Traceback" not in running.stderr and "error" not in running.stderr.lower(), running.stderr


# -- 9: a public bind ----------------------------------------------------------------------------------------------
def test_a_public_bind_without_a_token_is_refused_unless_open(tmp_path: Path) -> None:
    service = '[dat.feed]\nnetaddress = "ws://127.0.0.1:9/"\nactive = false\n'
    environment = {key: value for key, value in os.environ.items() if key != "WSDAT_HTTP_TOKEN"}
    (tmp_path / "service.toml").write_text(service)
    refused = subprocess.run([*WSDAT, "run", str(tmp_path / "service.toml"), "--http", "0.0.0.0:0"],
                             capture_output=True, text=True, timeout=30, env=environment)
    assert (refused.returncode, refused.stderr) == (2, (
        "wsdat: error: http: 0.0.0.0:0 is reachable from other machines, so it needs a token: --http-token TOKEN, "
        "[service] http_token or WSDAT_HTTP_TOKEN; or --http-open to serve it without one\n"))
    short = subprocess.run([*WSDAT, "run", str(tmp_path / "service.toml"), "--http", "0.0.0.0:0", "--http-token",
                            "short"], capture_output=True, text=True, timeout=30, env=environment)
    assert (short.returncode, short.stderr) == (2, (
        "wsdat: error: --http-token: a token of 5 characters is not allowed; expected 16 to 256 letters, digits and "
        ". _ ~ - (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')\n"))
    with service_process(tmp_path / "service.toml", service, "--http", "0.0.0.0:0", "--http-open") as running:
        running.wait_line(r"http: 0\.0\.0\.0:0 is reachable from other machines; it is served WITHOUT a token")
        port = running.url.rsplit(":", 1)[1]
        assert call("GET", f"http://127.0.0.1:{port}/api/dats").status == 200


def test_a_public_bind_wants_the_token_everywhere_but_health_and_metrics(tmp_path: Path) -> None:
    token = "t0ken-" + uuid.uuid4().hex
    service = ('[service]\nhttp_hosts = ["wsdat.example.test"]\n'
               '[dat.feed]\nnetaddress = "ws://127.0.0.1:9/"\nactive = false\n')
    with service_process(tmp_path / "service.toml", service, "--http", "0.0.0.0:0",
                         env={"WSDAT_HTTP_TOKEN": token}) as running:
        running.wait_line(r"http: 0\.0\.0\.0:0 is reachable from other machines; every endpoint but /healthz and "
                          r"/metrics wants the token")
        base = "http://127.0.0.1:" + running.url.rsplit(":", 1)[1]
        bearer = {"Authorization": f"Bearer {token}"}
        for path in ("/healthz", "/metrics"):
            assert call("GET", base + path).status == 200
        for method, path in (("GET", "/"), ("GET", "/api/dats"), ("GET", "/events"), ("GET", "/static/live.js"),
                             ("POST", "/api/dats/feed/par")):
            missing = call(method, base + path, b"{}" if method == "POST" else None, JSON)
            assert (missing.status, one_line_error(missing)) == (401, (
                "this server wants its token: send Authorization: Bearer TOKEN (open the live page as "
                "/?token=TOKEN)")), path
            assert missing.headers["www-authenticate"] == 'Bearer realm="wsdat"'
            wrong = call(method, base + path, b"{}" if method == "POST" else None,
                         {**JSON, "Authorization": f"Bearer {token[:-1]}x"})
            assert (wrong.status, one_line_error(wrong)) == (401, "the token is wrong"), path
        assert call("GET", base + "/api/dats", headers=bearer).status == 200
        changed = call("POST", base + "/api/dats/feed/par", b'{"maxlines": 7}', {**JSON, **bearer})
        assert (changed.status, changed.json()) == (200, {"par": {"maxlines": 7}, "pulsed": []})
        # A browser: the page's link carries the token once, then an HttpOnly, SameSite=Strict cookie does (GET only)
        page = call("GET", f"{base}/?token={token}")
        assert page.status == 200
        cookie = page.headers["set-cookie"]
        assert cookie == f"wsdat_token={token}; Path=/; HttpOnly; SameSite=Strict"
        jar = {"Cookie": cookie.split(";")[0]}
        assert call("GET", base + "/static/live.js", headers=jar).status == 200
        assert call("POST", base + "/api/dats/feed/par", b'{"maxlines": 8}', {**JSON, **jar}).status == 401
        # Host allow-list: this machine's names, the names given, IP addresses; never another name
        for host, status in (("attacker.example", 421), ("wsdat.example.test:80", 200), ("192.0.2.7:80", 200),
                             (socket.gethostname(), 200)):
            assert call("GET", base + "/healthz", headers={"Host": host}).status == status, host


async def test_tls_proxy_and_header_parameters_never_change_over_http(
        tmp_path: Path, ws_server: ScriptedServer) -> None:
    service = (f'[dat.feed]\nnetaddress = "{ws_server.url}"\nheaders = ["Authorization: Bearer AUTHSECRET"]\n'
               f'[dat.plain]\nnetaddress = "{ws_server.url}"\n')
    async with running_service(tmp_path / "service.toml", service) as runner:
        base = (runner.http_url or "").rstrip("/")
        assert {"cafile", "certfile", "keyfile", "insecure", "proxy", "headers", "secretheaders"} == PROTECTED_PARAMS
        values = {"cafile": str(tmp_path / "service.toml"), "certfile": str(tmp_path / "service.toml"),
                  "keyfile": str(tmp_path / "service.toml"), "insecure": True, "proxy": "off",
                  "headers": ["X-Other: 1"], "secretheaders": []}
        for name, value in values.items():
            answer = await post(f"{base}/api/dats/plain/par", {name: value, "maxlines": 3})
            assert (answer.status, one_line_error(answer)) == (
                403, f"{name}: TLS, proxy and header parameters change only in the service file")
        assert runner.dats["plain"].par.maxlines == 100  # all or nothing
        elsewhere = await post(f"{base}/api/dats/feed/par", {"port": 1, "netaddress": "127.0.0.2"})
        assert (elsewhere.status, one_line_error(elsewhere)) == (
            403, "netaddress: the DAT sends Authorization; it moves to another server only in the service file")
        assert runner.dats["feed"].par.netaddress == ws_server.url
        same_server = await post(f"{base}/api/dats/feed/par", {"netaddress": ws_server.url + "other"})
        assert same_server.status == 200  # another path on the same server: the credentials stay where they were
        moved = await post(f"{base}/api/dats/plain/par", {"netaddress": "ws://127.0.0.2:1/"})
        assert moved.status == 200  # a DAT without credential headers may move
        await wait_until(lambda: runner.dats["plain"].par.endpoint.host == "127.0.0.2")


async def test_a_failure_no_check_foresaw_is_one_500_line_and_one_log_line(
        tmp_path: Path, ws_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:  # a bug in a route, injected
        raise RuntimeError("boom at ws://u:SECRET@h/")

    monkeypatch.setattr("wsdat_core.http.app.describe", broken)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("wsdat")
    logger.addHandler(handler)
    service = f'[dat.feed]\nnetaddress = "{ws_server.url}"\n'
    try:
        async with running_service(tmp_path / "service.toml", service) as runner:
            answer = await get((runner.http_url or "") + "api/dats/feed")
    finally:
        logger.removeHandler(handler)
    assert (answer.status, one_line_error(answer)) == (500, "internal error: RuntimeError: boom at ws://u:***@h/")
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["http: GET /api/dats/feed failed: RuntimeError: boom at ws://u:***@h/"]
    assert errors[0].exc_info is None  # the traceback goes only to debug (-vv)
