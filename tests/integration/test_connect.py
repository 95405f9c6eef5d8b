"""Connecting: timeout, refused, TLS, headers and subprotocols, live parameters, active, message size."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl

import pytest
import trio
from trio_websocket import ConnectionClosed

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_for_rows, wait_until


async def test_timeout_against_a_server_that_never_answers(silent_server: int, nursery: trio.Nursery,
                                                           ws_server: ScriptedServer) -> None:
    seen: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            seen.append(message)

    dat = WebSocketDAT(netaddress=f"127.0.0.1:{silent_server}", timeout=200, callbacks=[Monitor()])
    with trio.fail_after(3):
        await nursery.start(dat.run)  # returns after the first attempt finished, failed here
    assert dat.info.state == "reconnecting"  # waiting to retry (closed only once stopped for good)
    assert dat.info.errors == 1
    assert any("timed out after 200 ms" in m for m in seen)
    # the DAT keeps running: point it at a real server and it connects
    dat.par.netaddress = ws_server.url
    await wait_until(lambda: dat.connected)
    dat.stop()


async def test_connection_refused_is_one_clear_error(nursery: trio.Nursery) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dat = WebSocketDAT(netaddress=f"127.0.0.1:{port}")
    await nursery.start(dat.run)
    assert dat.info.errors == 1 and dat.info.state == "reconnecting"
    dat.stop()


async def test_tls_with_trusted_ca_passes_and_sends_sni(tls, nursery: trio.Nursery) -> None:
    server = ScriptedServer(ssl_context=tls.server_context)
    await nursery.start(server.run)
    dat = WebSocketDAT(netaddress=f"wss://localhost:{server.port}/secure", cafile=tls.cafile)
    await nursery.start(dat.run)
    assert dat.connected, dat.info
    await server.send_text("secret")
    await wait_for_rows(dat, 1)
    assert server.requests[0].path == "/secure"
    dat.stop()
    server.stop()


@pytest.mark.parametrize("case", ["unknown CA", "wrong hostname", "system store"])
async def test_tls_failures_are_clear(tls, nursery: trio.Nursery, case: str, caplog: pytest.LogCaptureFixture) -> None:
    import trustme

    server = ScriptedServer(ssl_context=tls.server_context)
    await nursery.start(server.run)
    host, params = "localhost", {}
    if case == "unknown CA":
        other = trustme.CA()
        path = tls.cafile.parent / "other-ca.pem"
        other.cert_pem.write_to_path(path)
        params["cafile"] = path
    elif case == "wrong hostname":
        host, params["cafile"] = "127.0.0.1", tls.cafile  # the certificate names localhost only
    caplog.set_level(logging.ERROR, logger="wsdat")
    dat = WebSocketDAT(netaddress=f"wss://{host}:{server.port}/", **params)
    await nursery.start(dat.run)
    assert not dat.connected and dat.info.errors == 1
    [line] = [r.getMessage() for r in caplog.records]
    assert "TLS certificate verification failed" in line
    if case == "wrong hostname":
        assert "127.0.0.1" in line and "match" in line.lower()
    dat.stop()
    server.stop()


async def test_insecure_connects_with_a_warning_on_every_connect(tls, nursery: trio.Nursery) -> None:
    server = ScriptedServer(ssl_context=tls.server_context)
    await nursery.start(server.run)
    dat = WebSocketDAT(netaddress=f"wss://127.0.0.1:{server.port}/", insecure=True)
    await nursery.start(dat.run)
    assert dat.connected and dat.info.warnings == 1
    dat.par.timeout = 4000  # a TLS-relevant change reconnects, and warns again
    await wait_until(lambda: dat.info.connects == 2 and dat.connected)
    assert dat.info.warnings == 2
    dat.stop()
    server.stop()


async def test_client_certificate(tls, nursery: trio.Nursery) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.ca.issue_cert("localhost").configure_cert(context)
    tls.ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    server = ScriptedServer(ssl_context=context)
    await nursery.start(server.run)
    url = f"wss://localhost:{server.port}/"
    without = WebSocketDAT(netaddress=url, cafile=tls.cafile, timeout=2000)
    await nursery.start(without.run)
    assert not without.connected and without.info.errors == 1
    with_cert = WebSocketDAT(netaddress=url, cafile=tls.cafile, certfile=tls.certfile, keyfile=tls.keyfile)
    await nursery.start(with_cert.run)
    assert with_cert.connected
    without.stop()
    with_cert.stop()
    server.stop()


async def test_headers_subprotocols_and_default_user_agent_and_origin(nursery: trio.Nursery) -> None:
    server = ScriptedServer(subprotocols=["v2"])
    await nursery.start(server.run)
    dat = WebSocketDAT(netaddress=server.url, headers={"X-Token": "abc"}, subprotocols=["v1", "v2"])
    await nursery.start(dat.run)
    headers = {k.decode().lower(): v.decode() for k, v in server.requests[0].headers}
    assert headers["x-token"] == "abc"
    assert headers["user-agent"].startswith("wsdat/")
    assert headers["origin"] == f"http://127.0.0.1:{server.port}"
    assert server.requests[0].proposed_subprotocols == ("v1", "v2")
    assert server.connections[0].subprotocol == "v2"
    dat.stop()
    server.stop()


async def test_active_off_closes_and_loses_data_and_on_connects_again(ws_server: ScriptedServer,
                                                                      dat_factory) -> None:
    class StopOn:
        def onReceiveText(self, dat: WebSocketDAT, message: str) -> None:
            if message == "stop":
                dat.par.active = False

    dat = await dat_factory(callbacks=[StopOn()])
    # one burst: whatever follows "stop" arrives while Active is off and is lost, as in TD (the DAT may close
    # before the server has sent it all: the server's send then fails, which is not the point here)
    with contextlib.suppress(ConnectionClosed):
        await ws_server.send_text("a", "stop", "lost-1", "lost-2")
    await wait_until(lambda: dat.info.state == "closed")
    assert dat.col(0) == ["message", "a", "stop"]
    first = ws_server.connections[0]
    await wait_until(lambda: first.closed is not None)
    dat.par.active = True
    await wait_until(lambda: len(ws_server.connections) == 2 and dat.connected)
    assert dat.info.connects == 2 and dat.info.disconnects == 1
    await ws_server.send_text("b")
    await wait_for_rows(dat, 3)


async def test_live_address_change_reconnects_elsewhere(ws_server: ScriptedServer, dat_factory,
                                                        nursery: trio.Nursery) -> None:
    other = ScriptedServer()
    await nursery.start(other.run)
    dat = await dat_factory()
    await ws_server.send_text("from A")
    await wait_for_rows(dat, 1)
    dat.par.netaddress = other.url
    await other.wait_client()
    await wait_until(lambda: dat.connected)
    await other.send_text("from B")
    await wait_for_rows(dat, 2)
    assert dat.col(0) == ["message", "from A", "from B"]  # rows survive the reconnect
    assert ws_server.connections[0].closed is not None and ws_server.connections[0].closed.code == 1000
    other.stop()


async def test_port_change_reconnects(ws_server: ScriptedServer, nursery: trio.Nursery) -> None:
    other = ScriptedServer()
    await nursery.start(other.run)
    dat = WebSocketDAT(netaddress="127.0.0.1", port=ws_server.port)
    await nursery.start(dat.run)
    assert dat.connected
    dat.par.port = other.port
    await other.wait_client()
    await wait_until(lambda: dat.connected and dat.info.connects == 2)
    dat.stop()
    other.stop()


async def test_oversized_message_closes_with_1009_and_keeps_earlier_rows(ws_server: ScriptedServer,
                                                                         dat_factory) -> None:
    seen: list[str] = []

    class Monitor:
        def onMonitorMessage(self, message: str) -> None:
            seen.append(message)

    dat = await dat_factory(maxmessagesize=100, callbacks=[Monitor()], reconnect=False)
    await ws_server.send_text("small", "x" * 101)
    connection = ws_server.connections[0]
    await wait_until(lambda: connection.closed is not None)
    assert connection.closed.code == 1009
    await wait_until(lambda: dat.info.state == "closed")
    assert dat.col(0) == ["message", "small"]
    assert dat.info.errors == 1
    assert any("exceeds maxmessagesize 100" in m and "1009" in m for m in seen)


async def test_server_close_with_error_code_is_reported(ws_server: ScriptedServer, dat_factory) -> None:
    dat = await dat_factory()
    await ws_server.close(1011, "internal trouble")
    await wait_until(lambda: dat.info.disconnects == 1)
    assert dat.info.errors == 1


async def test_tcp_drop_is_1006(ws_server: ScriptedServer, dat_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="wsdat")
    dat = await dat_factory()
    await ws_server.drop()
    await wait_until(lambda: dat.info.disconnects == 1)
    assert "1006" in caplog.records[-1].getMessage()


async def test_bad_callbacks_change_raises_and_keeps_the_running_ones(ws_server: ScriptedServer,
                                                                      dat_factory) -> None:
    from wsdat_core import ParameterError

    dat = await dat_factory(callbacks=["echo"])
    with pytest.raises(ParameterError, match="callbacks"):
        dat.par.callbacks = ["no_such_plugin_at_all"]
    assert dat.par.callbacks == ("echo",)
    await ws_server.send_text("still")
    await ws_server.wait_received(1)
    assert ws_server.received == ["echo: still"]
    dat.par.callbacks = []
    await ws_server.send_text("quiet")
    await wait_for_rows(dat, 2)
    assert ws_server.received == ["echo: still"]


async def test_independent_server_headers(independent_server, nursery: trio.Nursery) -> None:
    dat = WebSocketDAT(netaddress=independent_server.url)
    await nursery.start(dat.run)
    dat.sendText("!headers")
    await wait_for_rows(dat, 1)
    headers = {k.lower(): v for k, v in json.loads(dat[1, 0]).items()}
    assert headers["user-agent"].startswith("wsdat/")
    assert headers["host"] == f"127.0.0.1:{independent_server.port}"
    assert headers["origin"] == f"http://127.0.0.1:{independent_server.port}"
    dat.stop()
