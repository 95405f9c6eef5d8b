"""The Web Server DAT with TLS (``secure``, ``certificate``, ``privatekey``): certificates from a test CA (trustme),
the `websockets` client over wss and HTTPS requests; bad TLS parameters are refused with one line."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trustme
import websockets.sync.client

from wsdat_core import ParameterError, WebServerDAT

from .test_webserver import copy
from .webclients import RawClient, http, port_of, running_server


@pytest.fixture(scope="module")
def server_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str, str]:
    """A CA and the server's certificate chain and key for localhost, as files."""
    directory = tmp_path_factory.mktemp("server-tls")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    chain, key = directory / "chain.pem", directory / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(key)
    return ca, str(chain), str(key)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_wss_and_https_with_trustme_certificates(server_files: tuple[trustme.CA, str, str],
                                                       tmp_path: Path) -> None:
    ca, chain, key = server_files
    async with running_server(secure=True, certificate=chain, privatekey=key,
                              callbacks=[copy("td_webserver_template.py", tmp_path)]) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        url = server.url.replace("127.0.0.1", "localhost")

        def talk() -> str:
            with websockets.sync.client.connect(url, ssl=client_context(ca)) as ws:
                ws.send("secret hello")
                return str(ws.recv(timeout=5))

        assert await trio.to_thread.run_sync(talk) == "secret hello"
        answer, = await http(port_of(server), "GET", "/", tls=client_context(ca))
        assert (answer.status, answer.text) == (200, f"<b>TouchDesigner: </b>{server.name}")
        raw = await RawClient.connect(port_of(server), tls=client_context(ca))
        await raw.send_text("raw over TLS")
        assert await raw.recv_text() == "raw over TLS"
        await raw.aclose()
        async with await trio.open_tcp_stream("127.0.0.1", port_of(server)) as plain:  # plain HTTP to a TLS port
            await plain.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with trio.fail_after(5):
                while await plain.receive_some(4096):
                    pass
        assert server.listening and server.info.errors == 0


def test_tls_parameters_are_checked_with_one_line(server_files: tuple[trustme.CA, str, str]) -> None:
    key = server_files[2]
    with pytest.raises(ParameterError) as refused:
        WebServerDAT(secure=True)
    assert str(refused.value) == ("secure: True is not allowed; expected on only with a certificate (and privatekey, "
                                  "unless the certificate file holds the key)")
    with pytest.raises(ParameterError, match="certificate: '/no/such.pem' is not allowed; expected a path to an "
                                             "existing file, or None \\(no such file\\)"):
        WebServerDAT(secure=True, certificate="/no/such.pem")
    with pytest.raises(ParameterError, match="privatekey: .* a key only together with certificate"):
        WebServerDAT(privatekey=key)


async def test_unusable_tls_files_are_one_error_line_and_no_crash(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    async with running_server(secure=True, certificate=str(bogus)) as server:
        assert server.stalled and not server.listening
        assert server.last_error.startswith(f"cannot listen on 127.0.0.1:0: cannot load the certificate {str(bogus)!r}")
