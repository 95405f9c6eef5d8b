"""Shared fixtures. Rules, as trio-websocket's own tests state them: loopback only, port 0 (the OS picks), a time bound
on every test (``fail_after`` wrapped around each async test), real servers and real TLS certificates."""

from __future__ import annotations

import functools
import inspect
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trustme

SERVERS = Path(__file__).parent / "servers"
TEST_TIME_LIMIT = 30.0


def _bounded(test: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
    @functools.wraps(test)
    async def run_bounded(*args: object, **kwargs: object) -> object:
        with trio.fail_after(TEST_TIME_LIMIT):
            return await test(*args, **kwargs)

    return run_bounded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """No async test may hang: each runs under ``trio.fail_after``."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _bounded(item.obj)


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    port: int
    scheme: str = "ws"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_independent_server(*args: str, scheme: str = "ws") -> RunningServer:
    process = subprocess.Popen([sys.executable, "-u", str(SERVERS / "independent_server.py"), *args],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"independent server did not start: {line!r}")
    return RunningServer(process, int(line.split()[1]), scheme)


@pytest.fixture(scope="session")
def independent_server() -> Iterator[RunningServer]:
    """A `websockets` (asyncio) server in a subprocess: an implementation independent of trio-websocket."""
    server = start_independent_server()
    yield server
    server.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """``start_server(*args, scheme=...)``: an independent server with extra arguments, stopped after the test."""
    started: list[RunningServer] = []

    def start(*args: str, scheme: str = "ws") -> RunningServer:
        started.append(start_independent_server(*args, scheme=scheme))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@dataclass
class TLSFiles:
    ca: trustme.CA
    cafile: Path
    server_context: object
    certfile: Path
    keyfile: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A test CA (trustme) with a server certificate for localhost only, and a client certificate."""
    import ssl

    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cafile = directory / "ca.pem"
    ca.cert_pem.write_to_path(cafile)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_context)
    client = ca.issue_cert("client@example.com")
    certfile, keyfile = directory / "client.pem", directory / "client.key"
    client.cert_chain_pems[0].write_to_path(certfile)
    client.private_key_pem.write_to_path(keyfile)
    return TLSFiles(ca, cafile, server_context, certfile, keyfile)


@pytest.fixture
async def silent_server(nursery: trio.Nursery) -> int:
    """A TCP server on loopback that accepts connections and never says a word; returns its port."""

    async def never_answer(stream: trio.SocketStream) -> None:
        async with stream:
            await trio.sleep_forever()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, never_answer, 0, host="127.0.0.1"))
    port: int = listeners[0].socket.getsockname()[1]
    return port
