"""``wsdat serve``, driven as a subprocess with real clients (the `websockets` client, plain HTTP): output modes with
the client, stdin to every client, /to one client, --static, --callbacks, --cert/--key, bad usage, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from .test_cli import WSDAT, PipeLines, wsdat

TD = Path(__file__).parent.parent / "td"


class Serving:
    """A running ``wsdat serve``: its URL, stdin, and its stdout and stderr lines as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None and process.stderr is not None
        self.out = PipeLines(process.stdout)
        self.err = PipeLines(process.stderr)
        self.err.wait_for(lambda lines: any("listening on " in line for line in lines))
        found = next(re.search(r"listening on (wss?://\S+)", line) for line in self.err.lines if "listening" in line)
        assert found is not None
        self.url = found.group(1)

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 15) -> int:
        return self.process.wait(timeout)


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[Serving]:
    process = subprocess.Popen([*WSDAT, "serve", "0", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        yield Serving(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def local_name(ws: websockets.sync.client.ClientConnection) -> str:
    host, port = ws.local_address[:2]
    return f"{host}:{port}"


def test_jsonl_records_carry_the_client_and_stdin_lines_go_to_every_client() -> None:
    with serving("--output", "jsonl", "--count", "2") as server:
        with websockets.sync.client.connect(server.url + "a") as first, \
                websockets.sync.client.connect(server.url + "b") as second:
            server.err.wait_for(lambda lines: sum("connected (/" in line for line in lines) == 2)
            names = local_name(first), local_name(second)
            server.send("hello all")
            assert first.recv(timeout=5) == "hello all" and second.recv(timeout=5) == "hello all"
            first.send("from first")
            server.out.wait_for(lambda lines: len(lines) == 1)
            second.send(b"\x01\x02")
            assert server.finish() == 0
        records = [json.loads(line) for line in server.out.all()]
        assert records == [{"type": "text", "row": 1, "message": "from first", "client": names[0]},
                           {"type": "binary", "size": 2, "hex": "0102", "client": names[1]}]
        summary = server.err.all()[-1]
        assert summary.startswith("wsdat: 2 message(s) received (1 text, 1 binary) from 2 client(s), 2 sent, "
                                  "0 HTTP request(s), 0 error(s) (0 in callbacks) in ")


def test_slash_commands_talk_to_one_client() -> None:
    with serving("--slash", "--output", "tsv") as server:
        with websockets.sync.client.connect(server.url) as first, websockets.sync.client.connect(server.url) as second:
            server.err.wait_for(lambda lines: sum("connected (/" in line for line in lines) == 2)
            server.send(f"/to {local_name(second)} just you")
            assert second.recv(timeout=5) == "just you"
            server.send("/to #1 number one")
            assert first.recv(timeout=5) == "number one"
            server.send("/clients")
            server.err.wait_for(lambda lines: any(line.startswith("wsdat: 2 client(s): #1 ") for line in lines))
            server.send("/to 10.0.0.1:1 nobody")
            server.err.wait_for(lambda lines: any("stdin: no open client '10.0.0.1:1'; open clients: #1 " in line
                                                  for line in lines))
            first.send("row text")
            server.out.wait_for(lambda lines: lines == [f"1\trow text\t{local_name(first)}"])
            server.send("/close #2 4000 bye")
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=5)
            assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye")
        server.process.send_signal(signal.SIGINT)
        assert server.finish() == 0


def test_static_files_and_callbacks_files(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("<h1>static</h1>")
    with serving("--static", str(tmp_path / "www"), "--output", "plain") as server:
        http_url = server.url.replace("ws://", "http://")
        with urllib.request.urlopen(http_url) as answer:
            assert (answer.status, answer.read(), answer.headers["Content-Type"]) == \
                (200, b"<h1>static</h1>", "text/html; charset=utf-8")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(http_url + "../../etc/passwd")
        assert missing.value.code == 404
        missing.value.close()
        server.process.send_signal(signal.SIGTERM)
        assert server.finish() == 0
    with serving("--callbacks", str(TD / "td_webserver_template.py"), "--static", str(tmp_path / "www")) as server:
        with websockets.sync.client.connect(server.url) as ws:
            ws.send("echo me")
            assert ws.recv(timeout=5) == "echo me"
        with urllib.request.urlopen(server.url.replace("ws://", "http://")) as answer:  # the callback answers first
            assert answer.read() == b"<b>TouchDesigner: </b>wsdat"
        server.out.wait_for(lambda lines: lines == ["echo me"])  # plain: the message as sent


def test_cert_and_key_serve_wss(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(key)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with serving("--cert", str(cert), "--key", str(key), "--callbacks", str(TD / "td_webserver_template.py")) as server:
        assert server.url.startswith("wss://")
        with websockets.sync.client.connect(server.url.replace("127.0.0.1", "localhost"), ssl=context) as ws:
            ws.send("over tls")
            assert ws.recv(timeout=5) == "over tls"


@pytest.mark.parametrize(("args", "line"), [
    (["serve", "nowhere"], "wsdat: error: serve: 'nowhere' is not allowed; expected [HOST:]PORT, e.g. 9090, "
                           "127.0.0.1:9090, [::1]:9090 or 0.0.0.0:9090 (port 0-65535; 0: any free port)"),
    (["serve", "0", "--key", "k.pem"], "wsdat: error: --key goes with --cert (the certificate it belongs to)"),
    (["serve", "0", "--maxclients", "0"], "wsdat: error: maxclients: '0' is not allowed; expected an integer >= 1 "
                                          "(at most 2147483647) (WebSocket clients at once)"),
])
def test_bad_usage_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    done = wsdat(*args)
    assert (done.returncode, done.stderr.splitlines()) == (2, [line])


def test_a_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = wsdat("serve", str(port), "--no-stdin")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"wsdat: cannot listen on 127.0.0.1:{port}: Address already in use; change a "
                                        "parameter to try again"]
