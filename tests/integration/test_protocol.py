"""Protocol reach: permessage-deflate, HTTP and SOCKS proxies (a real proxy, pproxy, in a subprocess), redirects,
credentials in the URL. Every server and proxy runs on loopback, started by the test."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import socket
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import MonitorLines, ScriptedServer, wait_until

from .hostile import TEXT, HostileServer, Request, handshake, parse_client_frames, read_request

MIB = 1024 * 1024


class Lines(MonitorLines):
    """Collects monitor lines and texts."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def onReceiveText(self, message: str) -> None:
        self.texts.append(message)


async def ask(dat: WebSocketDAT, lines: Lines, command: str) -> str:
    before = len(lines.texts)
    dat.sendText(command)
    await wait_until(lambda: len(lines.texts) > before, what=f"the answer to {command}")
    return lines.texts[before]


# -- permessage-deflate ----------------------------------------------------------------------------------------------
async def test_compression_is_negotiated_with_websockets_and_shown(start_server, nursery: trio.Nursery) -> None:
    server = start_server()
    lines = Lines()
    dat = WebSocketDAT(netaddress=server.url, callbacks=[lines])
    await nursery.start(dat.run)
    negotiated = await ask(dat, lines, "!extensions")  # the server's own view
    assert negotiated.startswith("permessage-deflate")
    assert lines.has("connected to") and any("permessage-deflate" in m for m in lines.lines if "connected" in m)
    assert await ask(dat, lines, "ü" * 5000) == "ü" * 5000  # compressed both ways, intact
    dat.stop()


async def test_compression_off_offers_nothing(start_server, nursery: trio.Nursery) -> None:
    server = start_server()
    lines = Lines()
    dat = WebSocketDAT(netaddress=server.url, callbacks=[lines], compression="off")
    await nursery.start(dat.run)
    assert await ask(dat, lines, "!extensions") == ""
    headers = json.loads(await ask(dat, lines, "!headers"))
    assert "Sec-WebSocket-Extensions" not in headers
    dat.stop()


async def test_a_server_without_compression_still_works(start_server, nursery: trio.Nursery) -> None:
    server = start_server("--no-compression")
    lines = Lines()
    dat = WebSocketDAT(netaddress=server.url, callbacks=[lines])
    await nursery.start(dat.run)
    headers = json.loads(await ask(dat, lines, "!headers"))
    assert headers["Sec-WebSocket-Extensions"] == "permessage-deflate; client_max_window_bits"  # offered
    assert await ask(dat, lines, "!extensions") == ""  # not accepted
    dat.stop()


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def deflating_server(after: bytes, seen: list[bytes]) -> Any:
    """Accepts permessage-deflate, sends ``after`` while it keeps what the client sends in ``seen``."""

    async def script(stream: trio.SocketStream, request: Request) -> None:
        async def send() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(handshake(request, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
                                      + after)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            with trio.move_on_after(3), contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while data := await stream.receive_some(65536):
                    seen.append(data)
            nursery.cancel_scope.cancel()

    return script


async def test_messages_sent_are_compressed_when_negotiated(nursery: trio.Nursery) -> None:
    seen: list[bytes] = []
    server = await HostileServer(deflating_server(b"", seen)).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, pinginterval=0)
    await nursery.start(dat.run)
    await dat.send_text("hello " * 100)
    await wait_until(lambda: seen)
    await trio.sleep(0.05)
    raw = b"".join(seen)
    first = raw[0]
    assert first & 0x40, "RSV1 (compressed) is set on the client's frame"
    [(_, payload)] = [f for f in parse_client_frames(raw) if f[0] == TEXT]
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"hello " * 100
    assert len(payload) < 100
    dat.stop()


async def test_a_compression_bomb_closes_with_1009_and_memory_stays_bounded(nursery: trio.Nursery) -> None:
    bomb = deflate(b"\x00" * (256 * MIB))  # about 250 KiB on the wire
    compressed_frame = bytes([0xC2]) + bytes([127]) + struct.pack("!Q", len(bomb)) + bomb
    seen: list[bytes] = []
    server = await HostileServer(deflating_server(compressed_frame, seen)).start(nursery)
    lines = Lines()
    # the peak of memory allocated while the bomb arrives (tracemalloc sees zlib's output too); the process's RSS
    # high-water mark would hide growth below what an earlier test of the same process once reached
    tracemalloc.start()
    try:
        dat = WebSocketDAT(netaddress=server.url, callbacks=[lines], maxmessagesize=MIB, reconnect=False)
        await nursery.start(dat.run)
        await wait_until(lambda: dat.info.disconnects == 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB, f"{peak / MIB:.0f} MiB allocated at the peak"
    assert "exceeds maxmessagesize 1048576 bytes once decompressed; closed with 1009" in dat.last_error
    await wait_until(lambda: seen)
    await trio.sleep(0.05)
    closes = [p for op, p in parse_client_frames(b"".join(seen)) if op == 0x8]
    assert closes and struct.unpack("!H", closes[0][:2])[0] == 1009


# -- proxies ---------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def pproxy() -> Iterator[Any]:
    """``pproxy(listen)``: a real proxy (pproxy) on loopback in a subprocess; returns its port."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(scheme: str, auth: str = "", *extra: str) -> int:
        port = free_port()
        listen = f"{scheme}://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
        process = subprocess.Popen([sys.executable, "-m", "pproxy", "-l", listen, "--auth", "0", *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            if process.poll() is not None:
                raise RuntimeError(f"pproxy exited with {process.returncode}")
            import time

            time.sleep(0.025)
        raise RuntimeError("pproxy did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(5)


@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h", "socks4"])
async def test_connects_through_a_real_proxy(pproxy, scheme: str, ws_server: ScriptedServer,
                                             nursery: trio.Nursery) -> None:
    port = pproxy({"http": "http", "socks5h": "socks5", "socks5": "socks5", "socks4": "socks4"}[scheme])
    lines = Lines()
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[lines], proxy=f"{scheme}://127.0.0.1:{port}")
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    await ws_server.send_text("through the proxy")
    await wait_until(lambda: lines.texts == ["through the proxy"])
    assert lines.has(f"via proxy {scheme}://127.0.0.1:{port}")
    dat.stop()


async def test_proxy_with_credentials_and_a_407_without(pproxy, ws_server: ScriptedServer,
                                                        nursery: trio.Nursery) -> None:
    port = pproxy("http", "alice:s3cret")
    lines = Lines()
    good = WebSocketDAT(netaddress=ws_server.url, callbacks=[lines], proxy=f"http://alice:s3cret@127.0.0.1:{port}")
    await nursery.start(good.run)
    assert good.connected, good.last_error
    assert lines.has(f"via proxy http://alice:***@127.0.0.1:{port}")
    assert not any("s3cret" in line for line in lines.lines)  # the password never shows
    good.stop()
    bad = WebSocketDAT(netaddress=ws_server.url, proxy=f"http://alice:wrong@127.0.0.1:{port}", reconnectdelay=0.05)
    await nursery.start(bad.run)
    assert not bad.connected
    assert "407 Proxy Authentication Required" in bad.last_error and "wrong" not in bad.last_error
    await wait_until(lambda: bad.stalled)  # fatal: retrying cannot mend it
    bad.stop()


async def test_a_proxy_that_is_not_there_is_one_retried_line(nursery: trio.Nursery, ws_server: ScriptedServer
                                                              ) -> None:
    port = free_port()
    dat = WebSocketDAT(netaddress=ws_server.url, proxy=f"socks5://127.0.0.1:{port}", reconnectdelay=0.05)
    await nursery.start(dat.run)
    assert f"cannot connect to proxy socks5://127.0.0.1:{port}" in dat.last_error
    assert "\n" not in dat.last_error
    await wait_until(lambda: dat.info.reconnects >= 1)  # not fatal
    assert not dat.stalled
    dat.stop()


async def test_proxy_from_the_environment_and_no_proxy(pproxy, monkeypatch, ws_server: ScriptedServer,
                                                       nursery: trio.Nursery) -> None:
    port = pproxy("http")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    lines = Lines()
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[lines])
    await nursery.start(dat.run)
    assert dat.connected and lines.has(f"via proxy http://127.0.0.1:{port}")
    dat.stop()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    direct = Lines()
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[direct])
    await nursery.start(dat.run)
    assert dat.connected and not direct.has("via proxy")
    dat.stop()
    off = Lines()
    monkeypatch.delenv("no_proxy")
    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[off], proxy="off")
    await nursery.start(dat.run)
    assert dat.connected and not off.has("via proxy")
    dat.stop()


async def test_wss_through_an_https_proxy(pproxy, tls, tmp_path: Path, nursery: trio.Nursery) -> None:
    cert = tls.ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = tmp_path / "proxy.pem", tmp_path / "proxy.key"
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    port = pproxy("http+ssl", "", "--ssl", f"{certfile},{keyfile}")
    server = ScriptedServer(ssl_context=tls.server_context)
    await nursery.start(server.run)
    lines = Lines()
    dat = WebSocketDAT(netaddress=f"wss://localhost:{server.port}/", callbacks=[lines], cafile=str(tls.cafile),
                       proxy=f"https://localhost:{port}")
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert lines.has(f"via proxy https://localhost:{port}")
    dat.stop()


def test_bad_proxy_values_name_the_parameter() -> None:
    for value in ("ftp://x:1", "http://", "http://host:1/path", 5):
        with pytest.raises(ValueError, match="^proxy: "):
            WebSocketDAT(proxy=value)


# -- redirects -------------------------------------------------------------------------------------------------------
def redirect(status: int, location: str) -> Any:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                              .encode())

    return script


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_followed_with_a_line_per_hop(status: int, ws_server: ScriptedServer,
                                                          nursery: trio.Nursery) -> None:
    second = await HostileServer(redirect(status, ws_server.url + "feed?x=1")).start(nursery)
    first = await HostileServer(redirect(status, f"http://127.0.0.1:{second.port}/")).start(nursery)
    lines = Lines()
    dat = WebSocketDAT(netaddress=first.url, callbacks=[lines])
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert ws_server.requests[-1].path == "/feed?x=1"
    hops = [m for m in lines.lines if m.startswith("redirected")]
    assert hops == [f"redirected with HTTP {status} from {first.url} to {second.url}",
                    f"redirected with HTTP {status} from {second.url} to {ws_server.url}feed?x=1"]
    assert any(m.startswith(f"connected to {ws_server.url}feed?x=1") for m in lines.lines)
    dat.stop()


async def test_relative_redirect_and_ws_to_wss_is_allowed(tls, nursery: trio.Nursery) -> None:
    secure = ScriptedServer(host="127.0.0.1", ssl_context=tls.server_context)
    await nursery.start(secure.run)
    relative = await HostileServer(redirect(307, "/elsewhere")).start(nursery)
    hop = await HostileServer(redirect(302, f"wss://localhost:{secure.port}/secure")).start(nursery)
    dat = WebSocketDAT(netaddress=hop.url, cafile=str(tls.cafile))
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert secure.requests[-1].path == "/secure"
    dat.stop()
    lines = Lines()
    dat = WebSocketDAT(netaddress=relative.url, callbacks=[lines], reconnect=False, maxredirects=1)
    await nursery.start(dat.run)
    assert any(f"to ws://127.0.0.1:{relative.port}/elsewhere" in m for m in lines.lines)
    dat.stop()


async def test_wss_to_ws_redirect_is_refused(tls, nursery: trio.Nursery, ws_server: ScriptedServer) -> None:
    async def secure_redirect(stream: trio.SSLStream[trio.SocketStream]) -> None:
        await read_request(stream)
        await stream.send_all(f"HTTP/1.1 301 Moved\r\nLocation: {ws_server.url}\r\nContent-Length: 0\r\n\r\n"
                              .encode())
        await trio.sleep(1)

    listeners = await nursery.start(functools.partial(trio.serve_ssl_over_tcp, secure_redirect, 0,
                                                      tls.server_context, host="127.0.0.1"))
    port = listeners[0].transport_listener.socket.getsockname()[1]
    dat = WebSocketDAT(netaddress=f"wss://localhost:{port}/", cafile=str(tls.cafile), reconnect=True)
    await nursery.start(dat.run)
    assert not dat.connected
    assert "wss to ws would drop TLS (downgrade)" in dat.last_error
    await wait_until(lambda: dat.stalled)
    assert not ws_server.connections
    dat.stop()


async def test_too_many_redirects_is_fatal(nursery: trio.Nursery) -> None:
    loop = await HostileServer(redirect(302, "/again")).start(nursery)
    dat = WebSocketDAT(netaddress=loop.url, maxredirects=3)
    await nursery.start(dat.run)
    assert "too many redirects (maxredirects 3)" in dat.last_error
    await wait_until(lambda: dat.stalled)
    assert loop.connections == 4
    dat.stop()


# -- credentials in the URL ------------------------------------------------------------------------------------------
async def test_credentials_in_the_url_are_sent_as_basic_auth_and_masked(start_server, nursery: trio.Nursery) -> None:
    server = start_server()
    lines = Lines()
    dat = WebSocketDAT(netaddress=f"ws://bob:p%40ss@127.0.0.1:{server.port}/", callbacks=[lines])
    await nursery.start(dat.run)
    headers = json.loads(await ask(dat, lines, "!headers"))
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"bob:p@ss").decode()
    assert lines.has(f"connected to ws://bob:***@127.0.0.1:{server.port}/")
    assert not any("p@ss" in m or "p%40ss" in m for m in lines.lines)
    assert "p%40ss" not in repr(dat) and "***" in repr(dat)
    dat.stop()


async def test_401_is_one_clear_fatal_line(nursery: trio.Nursery) -> None:
    async def unauthorized(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")

    server = await HostileServer(unauthorized).start(nursery)
    dat = WebSocketDAT(netaddress=f"ws://bob:wrong@127.0.0.1:{server.port}/", reconnect=True)
    await nursery.start(dat.run)
    assert "HTTP 401: check the credentials" in dat.last_error and "wrong" not in dat.last_error
    await wait_until(lambda: dat.stalled)
    assert server.connections == 1
    dat.stop()


# -- the command line ------------------------------------------------------------------------------------------------
async def test_cli_slash_commands_ping_pong_and_close(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        data = b""
        with trio.move_on_after(10):
            while chunk := await stream.receive_some(65536):
                data += chunk
                if any(op == 0x8 for op, _ in parse_client_frames(data)):
                    await stream.send_all(b"\x88\x02\x0f\xa1")  # answer the close with 4001
                    break
        server.received.append(data)

    server = await HostileServer(script).start(nursery)
    done = await trio.run_process([sys.executable, "-m", "wsdat_core", "connect", server.url, "--slash",
                                   "--pinginterval", "0", "-v"], stdin=b"/ping hi\n/pong yo\n/nope\n/close 4001 bye\n",
                                  capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr
    frames = parse_client_frames(server.received[0])
    assert (0x9, b"hi") in frames and (0xA, b"yo") in frames
    assert (0x8, struct.pack("!H", 4001) + b"bye") in frames, done.stderr
    assert b"/nope: unknown command" in done.stderr
    assert b"the server answered 4001" in done.stderr


def test_cli_no_compression_and_proxy_flags(independent_server, pproxy) -> None:
    port = pproxy("http")
    done = subprocess.run([sys.executable, "-m", "wsdat_core", "connect", independent_server.url, "--count", "1",
                           "--no-compression", "--proxy", f"http://127.0.0.1:{port}", "-v"],
                          input="!extensions\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "\n"  # nothing negotiated: the server's answer is empty
    assert f"via proxy http://127.0.0.1:{port}" in done.stderr
