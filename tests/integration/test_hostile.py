"""Hostile and broken servers (RFC 6455), each a real socket server written for the test.

For every fault: the DAT neither crashes nor hangs, every message completed before the fault is in the table and was
given to the hooks exactly once, a monitor message names the fault, ``errors`` counts it, and the reconnect policy
applies.
"""

from __future__ import annotations

import datetime
import socket
import struct
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import wait_until

from .hostile import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    HostileServer,
    Request,
    close,
    drain,
    frame,
    handshake,
    parse_client_frames,
    text,
)


class Seen:
    """Records text messages and monitor lines given to hooks."""

    def __init__(self) -> None:
        self.texts: list[tuple[int, str]] = []
        self.monitor: list[str] = []
        self.pings = 0

    def onReceiveText(self, rowIndex: int, message: str) -> None:
        self.texts.append((rowIndex, message))

    def onReceivePing(self) -> None:
        self.pings += 1

    def onMonitorMessage(self, message: str) -> None:
        self.monitor.append(message)


async def start(nursery: trio.Nursery, server: HostileServer, **params: Any) -> tuple[WebSocketDAT, Seen]:
    seen = Seen()
    params.setdefault("reconnect", False)
    dat = WebSocketDAT(netaddress=server.url, callbacks=[seen], **params)
    await nursery.start(dat.run)
    return dat, seen


# ---------------------------------------------------------------------------------------------------- handshake
def answer(response: bytes):
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(response)
        await trio.sleep(5)

    return script


def ok_handshake_then(*payload: bytes, keep_open: float = 5.0):
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + b"".join(payload))
        await trio.sleep(keep_open)

    return script


async def bad_accept(stream: trio.SocketStream, request: Request) -> None:
    await stream.send_all(handshake(request, accept=b"c29tZXRoaW5nIGVsc2U="))
    await trio.sleep(5)


async def no_upgrade(stream: trio.SocketStream, request: Request) -> None:
    from .hostile import accept_key

    await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept_key(request.key)
                          + b"\r\n\r\n")
    await trio.sleep(5)


async def slow_drip(stream: trio.SocketStream, request: Request) -> None:
    for byte in handshake(request):
        await stream.send_all(bytes([byte]))
        await trio.sleep(0.5)


async def huge_headers(stream: trio.SocketStream, request: Request) -> None:
    await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nX-Fill: " + b"a" * 200_000 + b"\r\n\r\n")
    await trio.sleep(5)


@pytest.mark.parametrize(
    ("script", "fragment", "fatal"),
    [
        (bad_accept, "handshake", False),
        (no_upgrade, "handshake", False),
        (answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), "HTTP 200", False),
        (answer(b"HTTP/1.1 301 Moved\r\nLocation: wss://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n"),
         "cannot resolve host 'elsewhere.invalid'", False),  # followed (redirects have their own tests)
        (answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), "HTTP 403", True),
        (answer(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"), "HTTP 500", False),
        (answer(b"HTTP/1.1 403 Forbidden\r\n\r\nand a body that never ends"), "HTTP 403", True),
        (answer(b"\x00\x01\x02 this is not HTTP\r\n\r\n"), "handshake", False),
        (slow_drip, "timed out after 1500 ms", False),
        (huge_headers, "handshake", False),
    ],
    ids=["wrong-accept", "missing-upgrade", "http-200", "http-301", "http-403", "http-500", "403-endless-body",
         "garbage", "slow-drip", "oversized-headers"],
)
async def test_broken_handshakes_fail_clearly(nursery: trio.Nursery, script, fragment: str, fatal: bool) -> None:
    server = await HostileServer(script).start(nursery)
    with trio.fail_after(5):
        dat, seen = await start(nursery, server, timeout=1500, reconnect=True, reconnectdelay=0.1)
    assert not dat.connected
    assert dat.info.errors == 1
    assert fragment in dat.last_error
    assert any(fragment in line for line in seen.monitor)
    if fatal:  # 4xx: not retried, the DAT waits for a parameter change (an hour of it: the test below)
        await wait_until(lambda: dat.stalled)
        assert server.connections == 1 and dat.info.reconnects == 0
    else:  # retried with backoff
        await wait_until(lambda: server.connections >= 2)
    dat.stop()


@pytest.mark.parametrize(
    "response",
    [b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
     b"HTTP/1.1 403 Forbidden\r\n\r\nand a body that never ends"],
    ids=["http-403", "403-endless-body"],
)
async def test_a_fatal_refusal_is_not_retried_for_an_hour(virtual_clock: trio.testing.MockClock,
                                                          nursery: trio.Nursery, response: bytes) -> None:
    # on the virtual clock any timer the DAT set to retry would fire within the hour
    server = await HostileServer(answer(response)).start(nursery)
    dat, _ = await start(nursery, server, timeout=1500, reconnect=True, reconnectdelay=0.1)
    assert dat.stalled and "HTTP 403" in dat.last_error
    await trio.sleep(3600)
    assert server.connections == 1 and dat.info.reconnects == 0 and dat.info.errors == 1 and dat.stalled
    dat.stop()


async def test_dns_failure_is_clear(nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress="ws://nosuch-host.invalid/", reconnect=False)
    await nursery.start(dat.run)
    assert "cannot resolve host 'nosuch-host.invalid'" in dat.last_error
    dat.stop()


# -------------------------------------------------------------------------------------------------------- frames
def then_fault(fault: bytes):
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text("ok-1") + text("ok-2") + fault + text("after"))
        await drain(stream, server_of[script])

    server_of: dict[Any, HostileServer] = {}
    script.server_of = server_of  # type: ignore[attr-defined]
    return script


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (frame(TEXT, b"bad \xff\xfe utf-8"), 1007),
        (frame(TEXT, b"masked", masked=True), 1002),
        (frame(TEXT, b"rsv", rsv=0b100), 1002),
        (frame(0x3, b"unknown opcode"), 1002),
        (frame(PING, b"x" * 126), 1002),
        (frame(PING, b"fragmented", fin=False), 1002),
        (frame(CONTINUATION, b"no start"), 1002),
        (close(999), 1002),
        (close(1005), 1002),
        (frame(CLOSE, b"\x03"), 1002),
        (frame(TEXT, b"first half", fin=False) + frame(BINARY, b"interleaved"), 1002),
    ],
    ids=["invalid-utf8", "masked", "reserved-bits", "unknown-opcode", "big-control", "fragmented-control",
         "continuation-first", "close-code-999", "close-code-1005", "close-1-byte", "interleaved-data"],
)
async def test_protocol_faults_close_with_the_right_code_and_keep_earlier_messages(nursery: trio.Nursery,
                                                                                  fault: bytes, code: int) -> None:
    script = then_fault(fault)
    server = await HostileServer(script).start(nursery)
    script.server_of[script] = server  # type: ignore[attr-defined]
    dat, seen = await start(nursery, server)
    await wait_until(lambda: dat.info.disconnects == 1)
    assert dat.col(0) == ["message", "ok-1", "ok-2"]
    assert seen.texts == [(1, "ok-1"), (2, "ok-2")]  # exactly once, in order
    assert dat.info.errors == 1
    assert f"closed with {code}" in dat.last_error
    await wait_until(lambda: server.received)
    assert server.client_close_codes() == [code]
    dat.stop()


async def test_oversized_message_closes_with_1009(nursery: trio.Nursery) -> None:
    script = then_fault(text("x" * 300))
    server = await HostileServer(script).start(nursery)
    script.server_of[script] = server  # type: ignore[attr-defined]
    dat, seen = await start(nursery, server, maxmessagesize=200)
    await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.texts == [(1, "ok-1"), (2, "ok-2")]
    assert "1009" in dat.last_error
    await wait_until(lambda: server.received)
    assert server.client_close_codes() == [1009]
    dat.stop()


async def test_eof_without_close_frame_is_1006_and_does_not_hang(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text("ok-1"))

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server)
    with trio.fail_after(3):
        await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.texts == [(1, "ok-1")]
    assert "1006" in dat.last_error


async def test_tcp_reset_in_the_middle_of_a_message(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        whole = text("half of this message will never arrive")
        await stream.send_all(handshake(request) + text("ok-1") + whole[: len(whole) // 2])
        await trio.sleep(0.1)
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server)
    with trio.fail_after(3):
        await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.texts == [(1, "ok-1")]
    assert dat.info.errors == 1 and "1006" in dat.last_error


async def test_ping_flood_is_answered_with_bounded_work(nursery: trio.Nursery) -> None:
    flood = 5000

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + b"".join(frame(PING, b"%d" % i) for i in range(flood))
                              + text("done"))
        await drain(stream, server, seconds=2)

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server)
    await wait_until(lambda: seen.texts)
    assert seen.pings == flood
    assert dat.connected
    dat.stop()
    await wait_until(lambda: server.received)
    pongs = [payload for opcode, payload in parse_client_frames(server.received[0]) if opcode == PONG]
    assert len(pongs) == flood and pongs[-1] == b"%d" % (flood - 1)


async def test_server_that_stops_reading_meets_a_bounded_send_queue(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep(30)  # never reads

    server = await HostileServer(script).start(nursery)
    dat, _ = await start(nursery, server, sendqueuesize=8)
    big = "x" * 256_000
    refused = 0
    for _ in range(400):  # ~100 MB offered; socket buffers hold a few MB at most
        if dat.sendText(big) == -1:
            refused += 1
        await trio.sleep(0)
    assert refused > 0
    assert dat.info.warnings >= 1
    assert dat.connected
    with trio.fail_after(3):
        dat.stop()
        await wait_until(lambda: dat.info.state == "closed")


async def test_keepalive_declares_a_silent_peer_dead_and_reconnects(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text(f"hello {server.connections}"))
        await trio.sleep(30)  # never answers pings

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server, pinginterval=0.2, pingtimeout=0.3, reconnect=True, reconnectdelay=0.1)
    await wait_until(lambda: dat.info.disconnects >= 1)
    assert "keepalive: no pong within 0.3 s" in dat.last_error
    await wait_until(lambda: server.connections >= 2 and dat.info.connects >= 2)
    assert dat.info.reconnects >= 1
    await wait_until(lambda: len(seen.texts) >= 2)
    assert [m for _, m in seen.texts[:2]] == ["hello 1", "hello 2"]
    dat.stop()


async def test_reconnect_keeps_rows_without_duplicates_or_reordering(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        n = server.connections
        await stream.send_all(handshake(request) + b"".join(text(f"c{n}-m{i}") for i in range(3)))
        if n < 3:
            return  # EOF without a close frame: an unexpected disconnect
        await trio.sleep(30)

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server, reconnect=True, reconnectdelay=0.05, reconnectmaxdelay=0.1,
                            maxlines=100)
    await wait_until(lambda: len(seen.texts) == 9)
    expected = [f"c{c}-m{i}" for c in (1, 2, 3) for i in range(3)]
    assert dat.col(0)[1:] == expected
    assert [m for _, m in seen.texts] == expected
    assert (dat.info.connects, dat.info.disconnects) == (3, 2)
    assert dat.info.reconnects == 2
    dat.stop()


async def test_no_reconnect_after_active_off(virtual_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text("hi"))
        await drain(stream, server)

    server = await HostileServer(script).start(nursery)
    dat, _ = await start(nursery, server, reconnect=True, reconnectdelay=0.05)
    dat.par.active = False
    await dat.wait_stopped()  # the polite close: the server never answers it, so 2 s (virtual) pass first
    assert dat.info.disconnects == 1
    await trio.sleep(3600)  # virtual: a reconnect timer, had the DAT set one, would have fired
    assert server.connections == 1
    assert dat.info.reconnects == 0
    dat.stop()


# ------------------------------------------------------------------------------------------------------------ TLS
def _self_signed(tmp_path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "self.pem", tmp_path / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.mark.parametrize("case", ["self-signed", "expired"])
async def test_tls_self_signed_and_expired_certificates(tls, tmp_path, nursery: trio.Nursery, case: str) -> None:
    import ssl

    from wsdat_core.faces.testing import ScriptedServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if case == "self-signed":
        context.load_cert_chain(*_self_signed(tmp_path))
        expected = "self-signed certificate"
    else:
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
        tls.ca.issue_cert("localhost", not_before=past - datetime.timedelta(days=10),
                          not_after=past).configure_cert(context)
        expected = "certificate has expired"
    server = ScriptedServer(ssl_context=context)
    await nursery.start(server.run)
    dat = WebSocketDAT(netaddress=f"wss://localhost:{server.port}/", cafile=tls.cafile)
    await nursery.start(dat.run)
    assert not dat.connected
    assert expected in dat.last_error and "TLS certificate verification failed" in dat.last_error
    await wait_until(lambda: dat.stalled)  # fatal: not retried
    dat.stop()
    server.stop()


# ----------------------------------------------------------------------------------------------- misbehaving hooks
async def test_misbehaving_hooks_are_reported_and_the_dat_stays_stoppable(nursery: trio.Nursery) -> None:
    import time

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + b"".join(text(f"m{i}") for i in range(40)))
        await drain(stream, server, seconds=10)

    class Raises:
        def onReceiveText(self, message: str) -> None:
            raise ValueError(message)

    class Blocks:
        def onReceiveText(self, message: str) -> None:
            if message == "m0":
                time.sleep(1.2)  # blocks the event loop once

    class Forever:
        async def onReceiveText(self, message: str) -> None:
            await trio.sleep_forever()

    class Floods:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            for _ in range(2000):
                dat.sendText("spam")

    good: list[str] = []

    class Good:
        def onReceiveText(self, message: str) -> None:
            good.append(message)

    lines: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            lines.append(message)

    server = await HostileServer(script).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, callbacks=[Raises(), Blocks(), Forever(), Floods(), Good(), Monitor()],
                       async_hook_limit=4, sendqueuesize=100, reconnect=False)
    await nursery.start(dat.run)
    # async slots fill after 4 messages: the fifth waits for a slot, and the DAT stops reading there (backpressure);
    # the other hooks ran for all five
    await wait_until(lambda: any("all 4 async callback slots are busy" in line for line in lines))
    await trio.testing.wait_all_tasks_blocked()  # everything that could still run has run
    assert len(good) == 5
    assert dat.info.errors >= 4  # Raises, once per message that got through
    assert ": ValueError: " in dat.last_error
    assert dat.info.warnings >= 3  # slow cook, slots busy, send queue full
    with trio.fail_after(2):
        dat.stop()
        await wait_until(lambda: dat.info.state == "closed")


# ------------------------------------------------------------------------------------------------ the CLI's view
@pytest.mark.parametrize(
    ("script", "args", "fragment"),
    [
        (answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), [], "HTTP 403"),
        (answer(b"garbage\r\n\r\n"), [], "invalid handshake response"),
        (ok_handshake_then(text("fine") + frame(TEXT, b"\xff")), ["--no-reconnect"], "closed with 1007"),
        (ok_handshake_then(text("fine") + frame(TEXT, b"m", masked=True)), ["--no-reconnect"], "closed with 1002"),
    ],
    ids=["403", "garbage", "invalid-utf8", "masked"],
)
async def test_the_cli_reports_faults_in_one_line(nursery: trio.Nursery, script, args: list[str],
                                                  fragment: str) -> None:
    import sys

    server = await HostileServer(script).start(nursery)
    with trio.fail_after(15):
        done = await trio.run_process([sys.executable, "-m", "wsdat_core", "connect", server.url, "--no-stdin",
                                       "--timeout", "2000", *args], capture_stdout=True, capture_stderr=True,
                                      check=False)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert all(line.startswith("wsdat: ") for line in lines)
    assert sum(fragment in line for line in lines) == 1


async def test_server_that_never_drops_tcp_after_closing_does_not_hang_us(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + text("ok-1") + close(1000, b"bye"))
        await trio.sleep(30)  # keeps TCP open, reads nothing

    server = await HostileServer(script).start(nursery)
    dat, seen = await start(nursery, server)
    with trio.fail_after(5):
        await wait_until(lambda: dat.info.disconnects == 1)
    assert seen.texts == [(1, "ok-1")]
    assert dat.info.errors == 0
    dat.stop()
