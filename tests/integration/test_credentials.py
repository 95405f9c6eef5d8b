"""Credentials and redirects, and the strict permessage-deflate answer (issue 27, items 2 and 8), against real
servers on two loopback addresses.

A redirect to another origin (scheme, host or port) drops the URL's credentials and the Authorization, Cookie and
Proxy-Authorization headers (and those marked secret), as browsers, requests and websockets do; a redirect within the
origin keeps them. A server answer that names permessage-deflate twice or with an unknown parameter fails the
connection with one clear line.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import trio

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer

from .hostile import HostileServer, Request, handshake

HEADERS = ["Authorization: Bearer SECRET-TOKEN", "Cookie: session=SECRET-COOKIE", "X-Trace: keep-me"]


def redirect(location: str) -> Any:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())

    return script


def request_headers(server: ScriptedServer) -> dict[str, str]:
    return {name.decode().lower(): value.decode() for name, value in server.requests[-1].headers}


async def test_a_redirect_to_another_host_drops_authorization_cookie_and_url_credentials(
        nursery: trio.Nursery) -> None:
    other = ScriptedServer(host="127.0.0.2")
    await nursery.start(other.run)
    hop = await HostileServer(redirect(other.url + "feed")).start(nursery)
    dat = WebSocketDAT(netaddress=f"ws://bob:URL-PASSWORD@127.0.0.1:{hop.port}/", headers=HEADERS)
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    seen = request_headers(other)
    assert "authorization" not in seen and "cookie" not in seen
    assert seen["x-trace"] == "keep-me"
    dat.stop()


async def test_a_redirect_to_another_port_of_the_same_host_drops_them_too(ws_server: ScriptedServer,
                                                                            nursery: trio.Nursery) -> None:
    hop = await HostileServer(redirect(ws_server.url)).start(nursery)
    dat = WebSocketDAT(netaddress=f"ws://bob:URL-PASSWORD@127.0.0.1:{hop.port}/", headers=["X-Trace: keep-me"])
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    seen = request_headers(ws_server)
    assert "authorization" not in seen and seen["x-trace"] == "keep-me"
    dat.stop()


async def test_a_redirect_to_another_scheme_drops_them(tls, nursery: trio.Nursery) -> None:
    secure = ScriptedServer(host="127.0.0.1", ssl_context=tls.server_context)
    await nursery.start(secure.run)
    hop = await HostileServer(redirect(f"wss://localhost:{secure.port}/secure")).start(nursery)
    dat = WebSocketDAT(netaddress=f"ws://bob:URL-PASSWORD@127.0.0.1:{hop.port}/", headers=HEADERS,
                       cafile=str(tls.cafile))
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    seen = request_headers(secure)
    assert "authorization" not in seen and "cookie" not in seen
    dat.stop()


async def test_a_redirect_within_the_origin_keeps_the_credentials(nursery: trio.Nursery) -> None:
    seen: list[dict[str, str]] = []

    async def same_origin(stream: trio.SocketStream, request: Request) -> None:
        if request.raw.startswith(b"GET /first "):
            await stream.send_all(b"HTTP/1.1 307 Moved\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n")
            return
        seen.append(request.headers)
        await stream.send_all(handshake(request))
        await trio.sleep(1)

    server = await HostileServer(same_origin).start(nursery)
    dat = WebSocketDAT(netaddress=f"ws://bob:URL-PASSWORD@127.0.0.1:{server.port}/first", headers=HEADERS)
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert seen[0]["authorization"] == "Bearer SECRET-TOKEN" and seen[0]["cookie"] == "session=SECRET-COOKIE"
    dat.stop()
    dat = WebSocketDAT(netaddress=f"ws://bob:URL-PASSWORD@127.0.0.1:{server.port}/first")
    await nursery.start(dat.run)
    assert seen[1]["authorization"] == "Basic " + base64.b64encode(b"bob:URL-PASSWORD").decode()
    dat.stop()


@pytest.mark.parametrize(("extensions", "why"), [
    ("permessage-deflate, permessage-deflate", "the server named permessage-deflate 2 times, once is allowed"),
    ("permessage-deflate; x_evil=1", "the server's permessage-deflate answer has the unknown parameter 'x_evil'"),
    ("permessage-deflate; server_max_window_bits=16",
     "the permessage-deflate parameter server_max_window_bits must be 8-15, the server gave '16'"),
])
async def test_a_deflate_answer_rfc_7692_refuses_fails_the_connection_in_one_line(
        extensions: str, why: str, nursery: trio.Nursery) -> None:
    async def answer(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request, extra=f"Sec-WebSocket-Extensions: {extensions}\r\n".encode()))
        await trio.sleep(1)

    server = await HostileServer(answer).start(nursery)
    dat = WebSocketDAT(netaddress=server.url)
    await nursery.start(dat.run)
    assert not dat.connected and dat.info.connects == 0
    assert dat.last_error == (f"cannot connect to {server.url}: {why} (Sec-WebSocket-Extensions: {extensions}); "
                              "the connection was failed as RFC 7692 says")
    assert "\n" not in dat.last_error
    assert dat.stalled  # retrying cannot mend the server's configuration
    dat.stop()
