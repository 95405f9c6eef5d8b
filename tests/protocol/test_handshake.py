"""The opening handshake, sans-I/O: the request a client sends, and every check of the server's answer."""

from __future__ import annotations

import base64

import pytest

from wsdat_core.model.errors import ConnectError, HandshakeRejected
from wsdat_core.protocol.handshake import ClientHandshake, HandshakeRequest, accept_key

from .streams import fixed_random

KEY = base64.b64encode(b"k" * 16)
GOOD = f"Sec-WebSocket-Accept: {accept_key(KEY)}\r\n"


def answer(status: str = "101 Switching Protocols", *headers: str) -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(headers) + "\r\n").encode()


def handshake(**request: object) -> ClientHandshake:
    shake = ClientHandshake(HandshakeRequest("example.com:8080", "/feed?x=1", **request),  # type: ignore[arg-type]
                            random=fixed_random)
    shake.request()
    return shake


def test_the_request_offers_what_was_asked() -> None:
    shake = ClientHandshake(HandshakeRequest("example.com:8080", "/feed?x=1", (("X-Trace", "1"),), ("chat", "v2")),
                            random=fixed_random)
    lines = shake.request().decode().split("\r\n")
    assert lines[0] == "GET /feed?x=1 HTTP/1.1"
    assert {"Host: example.com:8080", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY.decode()}",
            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: chat, v2",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "X-Trace: 1"} <= set(lines)


def test_an_acceptance_in_pieces_with_frames_after_it() -> None:
    shake = handshake(subprotocols=("chat",))
    whole = answer("101 Switching Protocols", "Upgrade: WebSocket\r\n", "Connection: keep-alive, Upgrade\r\n", GOOD,
                   "Sec-WebSocket-Protocol: chat\r\n", "Sec-WebSocket-Extensions: permessage-deflate\r\n") + b"\x81\x01x"
    assert shake.receive(whole[:20]) is None
    accepted = shake.receive(whole[20:])
    assert accepted is not None
    assert (accepted.subprotocol, accepted.rest) == ("chat", b"\x81\x01x")
    assert accepted.deflate is not None and accepted.deflate.agreed == "permessage-deflate"


@pytest.mark.parametrize(("headers", "why"), [
    (("Connection: Upgrade\r\n", GOOD), "Upgrade is '', not 'websocket'"),
    (("Upgrade: h2c\r\n", "Connection: Upgrade\r\n", GOOD), "Upgrade is 'h2c', not 'websocket'"),
    (("Upgrade: websocket\r\n", GOOD), "Connection is '', without 'upgrade'"),
    (("Upgrade: websocket\r\n", "Connection: Upgrade\r\n", "Sec-WebSocket-Accept: nope\r\n"),
     "Sec-WebSocket-Accept nope does not match the key"),
    (("Upgrade: websocket\r\n", "Connection: Upgrade\r\n"), "Sec-WebSocket-Accept (missing) does not match the key"),
    (("Upgrade: websocket\r\n", "Connection: Upgrade\r\n", GOOD, "Sec-WebSocket-Protocol: other\r\n"),
     "the server picked the subprotocol 'other', which was not offered"),
])
def test_acceptances_that_are_not_valid(headers: tuple[str, ...], why: str) -> None:
    with pytest.raises(ConnectError) as refused:
        handshake().receive(answer("101 Switching Protocols", *headers))
    assert str(refused.value) == f"invalid handshake response from server: {why}"


def test_extensions_when_none_were_offered_are_refused() -> None:
    with pytest.raises(ConnectError, match="accepted extensions that were not offered: permessage-deflate"):
        handshake(compression=False).receive(answer("101 OK", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
                                                    GOOD, "Sec-WebSocket-Extensions: permessage-deflate\r\n"))


def test_refusals_carry_status_location_and_retry_after_from_the_status_line_alone() -> None:
    with pytest.raises(HandshakeRejected) as refused:
        handshake().receive(answer("302 Found", "Location: /elsewhere\r\n"))  # no body, not even a length
    assert (refused.value.status, refused.value.location, refused.value.fatal) == (302, "/elsewhere", False)
    assert str(refused.value) == "server refused the WebSocket upgrade with HTTP 302; Location: /elsewhere"
    with pytest.raises(HandshakeRejected) as refused:
        handshake().receive(answer("503 Busy", "Retry-After: 7\r\n"))
    assert (refused.value.retry_after, refused.value.fatal) == (7.0, False)
    with pytest.raises(HandshakeRejected) as refused:
        handshake().receive(answer("401 Unauthorized"))
    assert refused.value.fatal and "check the credentials" in str(refused.value)


def test_what_is_not_http_and_an_early_eof_are_one_clear_error() -> None:
    with pytest.raises(ConnectError, match="^invalid handshake response from server: "):
        handshake().receive(b"SSH-2.0-OpenSSH\r\n\r\n")
    shake = handshake()
    assert shake.receive(b"HTTP/1.1 101 Switching") is None
    with pytest.raises(ConnectError, match="^the server closed the connection during the WebSocket handshake$"):
        shake.receive(b"")
