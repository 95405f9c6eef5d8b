"""Hostile-input review, one case per finding, against real loopback servers; each asserts the behaviour, not only
"no crash". (Backoff totality and replay robustness: tests/test_backoff.py, tests/test_replay.py.)"""

from __future__ import annotations

import ipaddress
import json
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from wsdat_core import ParameterError, WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_until

from .hostile import (
    CLOSE,
    CONTINUATION,
    TEXT,
    HostileServer,
    Request,
    close,
    drain,
    frame,
    handshake,
    parse_client_frames,
)

WSDAT = [sys.executable, "-m", "wsdat_core"]
ESCAPES = ("\x1b", "\x07", "\x9b")


# -- 2. transient faults are retried, permanent ones are not -----------------------------------------------------------
async def test_tls_handshake_cut_short_is_retried_not_fatal(nursery: trio.Nursery, tls) -> None:
    async def reset_during_tls(stream: trio.SocketStream) -> None:
        await stream.receive_some(10)  # the ClientHello, then the server "restarts"
        await stream.aclose()

    listeners = await nursery.start(trio.serve_tcp, reset_during_tls, 0)
    port = listeners[0].socket.getsockname()[1]
    dat = WebSocketDAT(netaddress=f"wss://localhost:{port}/", cafile=str(tls.cafile), reconnectdelay=0.05,
                       reconnectmaxdelay=0.1)
    await nursery.start(dat.run)
    assert "TLS handshake" in dat.last_error and "closed during the handshake" in dat.last_error
    await wait_until(lambda: dat.info.reconnects >= 2)
    assert not dat.stalled
    dat.stop()


def answering(status_line: bytes, headers: bytes = b"") -> Any:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(b"HTTP/1.1 " + status_line + b"\r\n" + headers + b"Content-Length: 0\r\n\r\n")

    return script


@pytest.mark.parametrize("status", [b"429 Too Many Requests", b"503 Service Unavailable"])
async def test_429_and_503_are_retried_after_retry_after(status: bytes, nursery: trio.Nursery) -> None:
    server = await HostileServer(answering(status, b"Retry-After: 0.4\r\n")).start(nursery)
    lines: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            lines.append(message)

    dat = WebSocketDAT(netaddress=server.url, callbacks=[Monitor()], reconnectdelay=0.01, reconnectmaxdelay=5)
    started = trio.current_time()
    await nursery.start(dat.run)
    await wait_until(lambda: server.connections >= 2)
    assert trio.current_time() - started >= 0.4  # waited as asked (not the 10 ms backoff)
    assert any("the server asked for 0.4 s" in line for line in lines)
    assert not dat.stalled
    dat.stop()


async def test_retry_after_is_bounded_by_reconnectmaxdelay(nursery: trio.Nursery) -> None:
    server = await HostileServer(answering(b"503 Busy", b"Retry-After: 3600\r\n")).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, reconnectdelay=0.01, reconnectmaxdelay=0.2)
    await nursery.start(dat.run)
    await wait_until(lambda: server.connections >= 2, timeout=3)
    dat.stop()


@pytest.mark.parametrize("status", [b"401 Unauthorized", b"403 Forbidden", b"404 Not Found", b"426 Upgrade Required"])
async def test_refusals_retrying_cannot_mend_are_fatal(status: bytes, virtual_clock: trio.testing.MockClock,
                                                      nursery: trio.Nursery) -> None:
    server = await HostileServer(answering(status)).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, reconnectdelay=0.01)
    await nursery.start(dat.run)
    await wait_until(lambda: dat.stalled)
    await trio.sleep(3600)  # virtual: any retry timer would have fired within the hour
    assert server.connections == 1
    dat.stop()


# -- 3. peer text never reaches the terminal raw -----------------------------------------------------------------
def escaped_close_server() -> Any:
    reason = "\x1b[2J\x1b]52;c;ZXZpbA==\x07gone\x9b31m".encode()  # clear screen, OSC 52 write, BEL, C1 CSI

    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + frame(TEXT, b"hi") + close(4000, reason))
        await trio.sleep(0.5)

    return script


async def test_close_reasons_with_escapes_are_cleaned_in_every_line(nursery: trio.Nursery) -> None:
    server = await HostileServer(escaped_close_server()).start(nursery)
    done = await trio.run_process([*WSDAT, "connect", server.url, "--no-reconnect", "-v"], capture_stdout=True,
                                  capture_stderr=True, check=False, stdin=b"")
    stderr = done.stderr.decode("utf-8", "replace")
    assert "4000 application code" in stderr and "gone" in stderr
    assert not any(escape in stderr for escape in ESCAPES), repr(stderr)
    assert "\\x1b[2J" in stderr  # shown, not acted on


async def test_location_and_subprotocol_text_is_cleaned(nursery: trio.Nursery) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(b"HTTP/1.1 302 Found\r\nLocation: ws://x.invalid/\x1b[31mred\r\n"
                              b"Content-Length: 0\r\n\r\n")

    server = await HostileServer(script).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, reconnect=False)
    await nursery.start(dat.run)
    assert not any(escape in dat.last_error for escape in ESCAPES)
    dat.stop()


def test_replayed_monitor_lines_are_cleaned(tmp_path: Path) -> None:
    recording = tmp_path / "rec.jsonl"
    recording.write_text(json.dumps({"t": 1.0, "dat": "x", "cook": 1, "event": "monitor",
                                     "message": "evil \x1b[2J\x07 line"}) + "\n")
    done = subprocess.run([*WSDAT, "replay", str(recording), "--speed", "0", "-v"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "evil \\x1b[2J\\x07 line" in done.stderr
    assert not any(escape in done.stderr for escape in ESCAPES)


# -- 4. fragment floods: bounded memory, a prompt 1009 ---------------------------------------------------------------
FLOOD_CLIENT = textwrap.dedent("""
    import resource, sys, trio
    from wsdat_core import WebSocketDAT

    async def main():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        dat = WebSocketDAT(netaddress=sys.argv[1], maxmessagesize=int(sys.argv[2]), reconnect=False, pinginterval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(dat.run)
            with trio.fail_after(60):
                while not dat.info.disconnects:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grown, dat.last_error, sep="\\n")

    trio.run(main)
""")


def flood(fragments: int, fragment: bytes) -> Any:
    async def script(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request) + frame(TEXT, b"", fin=False))
        chunk = frame(CONTINUATION, fragment, fin=False) * 4096
        for _ in range(fragments // 4096):
            await stream.send_all(chunk)
        await stream.send_all(frame(CONTINUATION, b"end"))
        await trio.sleep(5)

    return script


async def run_flood_client(server: HostileServer, max_size: int) -> tuple[int, str]:
    done = await trio.run_process([sys.executable, "-c", FLOOD_CLIENT, server.url, str(max_size)],
                                  capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    grown, error = done.stdout.decode().splitlines()[:2]
    return int(grown) * 1024, error


async def test_endless_empty_continuation_frames_close_promptly_with_bounded_memory(nursery: trio.Nursery) -> None:
    server = await HostileServer(flood(400_000, b"")).start(nursery)
    grown, error = await run_flood_client(server, 10)
    assert "more than 1024 fragments" in error and "1009" in error
    assert grown < 16 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"


async def test_tiny_fragments_cost_about_the_message_not_35_times_it(nursery: trio.Nursery) -> None:
    limit = 2**20  # 1 MiB: at most 65536 parts
    server = await HostileServer(flood(400_000, b"ab")).start(nursery)  # 800 KB in 2-byte fragments
    grown, error = await run_flood_client(server, limit)
    assert "more than 65536 fragments" in error and "1009" in error
    assert grown < 12 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB"


# -- 5. the CLI never drops stdin lines --------------------------------------------------------------------------------
def count_frames(data: bytes | bytearray, position: int) -> tuple[int, int]:
    """Whole client frames from ``position``: ``(how many, where the next starts)``; headers only, no unmasking."""
    count = 0
    while len(data) - position >= 2:
        length, header = data[position + 1] & 0x7F, 6
        if length == 126:
            if len(data) - position < 4:
                break
            length, header = int.from_bytes(data[position + 2:position + 4], "big"), 8
        elif length == 127:
            if len(data) - position < 10:
                break
            length, header = int.from_bytes(data[position + 2:position + 10], "big"), 14
        if len(data) - position < header + length:
            break
        position += header + length
        count += 1
    return count, position


async def test_every_stdin_line_reaches_a_server_that_pauses(nursery: trio.Nursery) -> None:
    count = 20_000
    got = bytearray()

    async def slow_reader(stream: trio.SocketStream, request: Request) -> None:
        await stream.send_all(handshake(request))
        await trio.sleep(1.0)  # not reading: buffers fill, then the DAT's send queue: stdin must wait, not drop
        frames = position = 0
        with trio.move_on_after(20):
            while frames < count and (data := await stream.receive_some(1 << 16)):
                got.extend(data)
                more, position = count_frames(got, position)
                frames += more
        await stream.send_all(close(1000, b"got them"))

    server = await HostileServer(slow_reader).start(nursery)
    lines = b"".join(b"line %06d\n" % i for i in range(count))
    done = await trio.run_process([*WSDAT, "connect", server.url, "--sendqueuesize", "8", "--no-reconnect"],
                                  stdin=lines, capture_stdout=True, capture_stderr=True, check=False)
    texts = [payload for opcode, payload in parse_client_frames(bytes(got)) if opcode == TEXT]
    assert texts == [b"line %06d" % i for i in range(count)], done.stderr.decode()
    assert done.returncode == 0


def test_sendqueuebytes_bounds_bytes_not_only_messages() -> None:
    from wsdat_core.model.events import EventKind, Outgoing
    from wsdat_core.runtime.sendqueue import SendQueue

    queue = SendQueue(limit=1000, byte_limit=3_000_000)
    assert queue.put(Outgoing(EventKind.TEXT, b"x", 2_000_000))  # one always fits an empty queue
    assert not queue.put(Outgoing(EventKind.TEXT, b"y", 2_000_000))  # 4 MB would pass the byte limit
    assert queue.put(Outgoing(EventKind.TEXT, b"z", 500_000))
    assert len(queue) == 2


# -- 6. bad header values, paths ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("headers", "fragment"), [
    (["X: €"], "'X' is not a valid header: its value holds '€'"),
    (["X: a\vb"], "'X' is not a valid header: its value holds '\\x0b'"),
    (["Host: other"], "'Host' is set by wsdat"),
    (["Sec-WebSocket-Protocol: x"], "use the subprotocols parameter"),
])
def test_bad_headers_are_parameter_errors_at_once(headers: list[str], fragment: str) -> None:
    with pytest.raises(ParameterError, match="^headers: ") as raised:
        WebSocketDAT(headers=headers)
    assert fragment in str(raised.value)


async def test_a_non_ascii_path_is_percent_encoded(ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=ws_server.url + "café?q=é")
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert ws_server.requests[-1].path == "/caf%C3%A9?q=%C3%A9"
    dat.stop()


# -- 7. signals while a plain callback blocks ------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_second_signal_ends_a_stuck_callback_at_once(signum: int, code: int, independent_server,
                                                       tmp_path: Path) -> None:
    callbacks = tmp_path / "stuck.py"
    spinning = tmp_path / "spinning"
    callbacks.write_text(f"def onReceiveText(dat, message):\n    open({str(spinning)!r}, 'w').close()\n"
                         "    while True:\n        pass\n")
    with subprocess.Popen([*WSDAT, "connect", independent_server.url, "--callbacks", str(callbacks)],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write("hello\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while not spinning.exists() and time.monotonic() < deadline:  # the echo came back and the callback spins
            time.sleep(0.02)
        proc.send_signal(signum)
        time.sleep(0.3)
        assert proc.poll() is None  # the first signal cannot get through a callback that never returns
        proc.send_signal(signum)
        assert proc.wait(5) == code
        stderr = proc.stderr.read()
    # the line is the loop's, 3 or 4, depending on where the signal found it
    assert f"a second {signal.Signals(signum).name}: stopped at once while the callback onReceiveText (stuck.py:" \
        in stderr


def test_a_callback_sleeping_in_each_message_does_not_hold_sigterm(independent_server, tmp_path: Path) -> None:
    callbacks = tmp_path / "sleepy.py"
    callbacks.write_text("import time\n\ndef onReceiveText(dat, message):\n    time.sleep(0.5)\n")
    with subprocess.Popen([*WSDAT, "connect", independent_server.url, "--callbacks", str(callbacks)],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None
        proc.stdin.write("!burst 40 m\n")  # 40 messages of half a second each, in one batch
        proc.stdin.flush()
        time.sleep(1.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - started < 2.5  # the message in hand, then the polite close


# -- 8. exits and messages -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ["dat.stop()", "dat.par.active = False"])
def test_connect_exits_when_a_callback_stops_the_dat(body: str, independent_server, tmp_path: Path) -> None:
    callbacks = tmp_path / "stopper.py"
    callbacks.write_text(f"def onReceiveText(dat, message):\n    {body}\n")
    done = subprocess.run([*WSDAT, "connect", independent_server.url, "--callbacks", str(callbacks)],
                          input="bye\n", capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr


def test_stop_in_onconnect_is_reported_as_a_stop(independent_server, tmp_path: Path) -> None:
    callbacks = tmp_path / "early.py"
    callbacks.write_text("def onConnect(dat):\n    dat.stop()\n")
    done = subprocess.run([*WSDAT, "connect", independent_server.url, "--callbacks", str(callbacks), "-v"],
                          input="", capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    assert "the DAT was stopped" in done.stderr and "the server closed" not in done.stderr


@pytest.mark.parametrize(("args", "fragment"), [
    (["--maxlines", "1e29"], "maxlines: '1e29' is not allowed"),
    (["--timeout", "9" * 400], "(402 characters)"),
    (["--save", "/no/such/folder/rows.csv"], "the folder '/no/such/folder' does not exist"),
])
def test_bad_values_are_usage_errors_at_start(args: list[str], fragment: str) -> None:
    done = subprocess.run([*WSDAT, "connect", "ws://127.0.0.1:9/", *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert fragment in line and "internal error" not in line


@pytest.mark.parametrize(("body", "code", "line"), [
    ("raise SystemExit(3)", 3, "the callback onReceiveText (exits.py:2) called sys.exit(3)"),
    ("raise KeyboardInterrupt", 130, "KeyboardInterrupt in the callback onReceiveText (exits.py:2)"),
])
def test_exits_asked_by_a_callback(body: str, code: int, line: str, independent_server, tmp_path: Path) -> None:
    callbacks = tmp_path / "exits.py"
    callbacks.write_text(f"def onReceiveText(dat, message):\n    {body}\n")
    done = subprocess.run([*WSDAT, "connect", independent_server.url, "--callbacks", str(callbacks)],
                          input="x\n", capture_output=True, text=True, timeout=20)
    assert done.returncode == code
    assert line in done.stderr and "Traceback" not in done.stderr


async def test_generator_exit_in_a_callback_is_a_reported_error(ws_server: ScriptedServer, dat_factory) -> None:
    class Odd:
        def onReceiveText(self, message: str) -> None:
            raise GeneratorExit

    dat = await dat_factory(callbacks=[Odd()])
    await ws_server.send_text("a", "b")
    await wait_until(lambda: dat.numRows == 3)
    assert dat.info.hook_errors == 2 and dat.last_error.endswith(" in onReceiveText: GeneratorExit")


async def test_a_slow_async_callback_is_not_diagnosed_as_a_dead_peer(ws_server: ScriptedServer,
                                                                     nursery: trio.Nursery) -> None:
    gate = trio.Event()

    class Slow:
        async def onReceiveText(self, message: str) -> None:
            await gate.wait()

    dat = WebSocketDAT(netaddress=ws_server.url, callbacks=[Slow()], async_hook_limit=1, pinginterval=0.1,
                       pingtimeout=0.2)
    await nursery.start(dat.run)
    await ws_server.send_text("a", "b", "c")  # the second waits for the one slot: the DAT stops reading
    await trio.sleep(1.0)  # five keepalive timeouts' worth
    assert dat.connected and "no pong" not in dat.last_error
    gate.set()
    await wait_until(lambda: dat.info.messages_received == 3)
    dat.stop()


# -- 10. memory guard for clamp off ---------------------------------------------------------------------------------
async def test_clamp_off_table_is_held_under_maxtablebytes_with_one_warning(ws_server: ScriptedServer,
                                                                            dat_factory) -> None:
    lines: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            lines.append(message)

    dat = await dat_factory(callbacks=[Monitor()], clamp=False, maxtablebytes=200_000)
    await ws_server.send_text(*["x" * 1000 for _ in range(1000)])  # about 1 MB
    await wait_until(lambda: dat.info.messages_received == 1000)
    assert dat.table.size_bytes <= 200_000
    assert 100 < dat.numRows - 1 < 200
    warnings = [line for line in lines if "passed maxtablebytes" in line]
    assert len(warnings) == 1 and "the oldest rows are removed" in warnings[0]
    assert dat[-1, 0] == "x" * 1000


def test_size_limit_off_means_unlimited() -> None:
    dat = WebSocketDAT(active=False, clamp=False, maxtablebytes=0)
    for _ in range(5000):
        dat.table.append("y" * 100)
    assert dat.numRows == 5001 and dat.table.size_evictions == 0



async def test_the_answer_to_a_message_before_a_broken_frame_goes_out_before_the_close(nursery: trio.Nursery
                                                                                        ) -> None:
    async def script(stream: trio.SocketStream, request: Request) -> None:  # all in one read, as Autobahn 3.2 does
        await stream.send_all(handshake(request) + frame(TEXT, b"hello") + frame(TEXT, b"x", rsv=2))
        await drain(stream, server, seconds=2)

    class Echo:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            dat.sendText(message)

    server = await HostileServer(script).start(nursery)
    dat = WebSocketDAT(netaddress=server.url, callbacks=[Echo()], reconnect=False, pinginterval=0)
    await nursery.start(dat.run)
    await wait_until(lambda: server.received)
    frames = parse_client_frames(server.received[0])
    assert frames[0] == (TEXT, b"hello")
    assert frames[1][0] == CLOSE and struct.unpack("!H", frames[1][1][:2]) == (1002,)


# -- issue 27, item 13: RFC 6874 zone ids ---------------------------------------------------------------------------
def link_local_address() -> tuple[str, str] | None:
    """A link-local IPv6 address of this machine and its interface (traffic to it never leaves the machine)."""
    try:
        rows = Path("/proc/net/if_inet6").read_text().split()
    except OSError:
        return None
    for index in range(0, len(rows) - 5, 6):
        hexed, scope, name = rows[index], rows[index + 3], rows[index + 5]
        if scope == "20":  # link scope
            return str(ipaddress.IPv6Address(int(hexed, 16))), name
    return None


async def test_a_zone_id_written_as_rfc_6874_says_reaches_a_link_local_server(nursery: trio.Nursery) -> None:
    found = link_local_address()
    if found is None:
        pytest.skip("no link-local IPv6 address on this machine")
    address, interface = found
    server = ScriptedServer(host=f"{address}%{interface}")
    await nursery.start(server.run)
    dat = WebSocketDAT(netaddress=f"ws://[{address}%25{interface}]:{server.port}/zone", reconnect=False)
    await nursery.start(dat.run)
    assert dat.connected, dat.last_error
    assert dat.par.endpoint.url == f"ws://[{address}%25{interface}]:{server.port}/zone"
    request = server.requests[0]
    assert request.path == "/zone"
    # Host and Origin come from the same place; the zone id means nothing to the server and is left out of both
    assert dict(request.headers)[b"origin"].decode() == f"http://[{address}]:{server.port}"
    dat.stop()
