"""The same behaviours against an independent implementation: the `websockets` package in a subprocess."""

from __future__ import annotations

from typing import Any

import trio

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import wait_for_rows, wait_until


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def onReceiveText(self, rowIndex: int, message: str) -> None:
        self.events.append(("text", (rowIndex, message)))

    def onReceiveBinary(self, contents: bytes) -> None:
        self.events.append(("binary", contents))

    def onReceivePing(self, contents: bytes) -> None:
        self.events.append(("ping", contents))

    def onReceivePong(self, contents: bytes) -> None:
        self.events.append(("pong", contents))

    def onDisconnect(self) -> None:
        self.events.append(("disconnect", None))

    def of(self, kind: str) -> list[Any]:
        return [payload for k, payload in self.events if k == kind]


async def start(server, nursery: trio.Nursery, **params: Any) -> tuple[WebSocketDAT, Log]:
    log = Log()
    dat = WebSocketDAT(netaddress=server.url, callbacks=[log], **params)
    await nursery.start(dat.run)
    assert dat.connected, dat.info
    return dat, log


async def test_echo_text_binary_and_order(independent_server, nursery: trio.Nursery) -> None:
    dat, log = await start(independent_server, nursery, bytes=True)
    dat.sendText("hello ", "world")
    dat.sendBinary(b"\x01\x02")
    dat.sendText("!burst 50 n")
    await wait_for_rows(dat, 51)
    assert dat.row(1) == ["hello world", "68 65 6c 6c 6f 20 77 6f 72 6c 64"]
    assert log.of("binary") == [b"\x01\x02"]
    assert dat.col("message")[2:] == [f"n-{i}" for i in range(50)]
    dat.stop()


async def test_fragmented_and_large_messages(independent_server, nursery: trio.Nursery) -> None:
    dat, log = await start(independent_server, nursery, maxlines=10)
    dat.sendText("!fragments one two three")
    dat.sendText("!big 200000")
    await wait_for_rows(dat, 2)
    assert dat[1, 0] == "onetwothree"
    assert dat[2, 0] == "x" * 200000
    assert log.of("text")[0] == (1, "onetwothree")
    dat.stop()


async def test_server_ping_reaches_the_hook_and_our_ping_gets_its_pong(independent_server,
                                                                      nursery: trio.Nursery) -> None:
    dat, log = await start(independent_server, nursery)
    dat.sendText("!ping knock")
    dat.sendPing(b"mine")
    await wait_until(lambda: log.of("ping") and log.of("pong"))
    assert log.of("ping") == [b"knock"]
    assert log.of("pong") == [b"mine"]
    dat.stop()


async def test_close_with_a_code_ends_the_connection_cleanly(independent_server, nursery: trio.Nursery) -> None:
    dat, log = await start(independent_server, nursery, reconnect=False)
    dat.sendText("before")
    dat.sendText("!close 1000 done")
    await wait_until(lambda: log.of("disconnect"))
    assert dat.col(0) == ["message", "before"]
    assert dat.info.errors == 0 and dat.info.state == "closed"


async def test_close_with_an_error_code_counts_an_error(independent_server, nursery: trio.Nursery) -> None:
    dat, log = await start(independent_server, nursery)
    dat.sendText("!close 4001 app says no")
    await wait_until(lambda: log.of("disconnect"))
    assert dat.info.errors == 1


async def test_tls_against_the_independent_server(tls, nursery: trio.Nursery, start_server) -> None:
    key = tls.cafile.parent / "server.key"
    cert = tls.cafile.parent / "server.pem"
    issued = tls.ca.issue_cert("localhost")
    issued.private_key_pem.write_to_path(key)
    issued.cert_chain_pems[0].write_to_path(cert)
    server = start_server("--cert", str(cert), "--key", str(key), scheme="wss")
    dat = WebSocketDAT(netaddress=f"wss://localhost:{server.port}/", cafile=tls.cafile)
    await nursery.start(dat.run)
    assert dat.connected
    dat.sendText("over tls")
    await wait_for_rows(dat, 1)
    assert dat[1, 0] == "over tls"
    dat.stop()
