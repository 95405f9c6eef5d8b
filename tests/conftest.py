"""Shared fixtures. Rules, as trio-websocket's own tests state them: loopback only, port 0 (the OS picks), a time bound
on every test (``fail_after`` wrapped around each async test), real servers and real TLS certificates.

Virtual time: a test that takes the ``virtual_clock`` fixture runs on trio's :class:`~trio.testing.MockClock`, which
jumps to the next deadline whenever every task has been idle for :data:`AUTOJUMP_THRESHOLD` *real* seconds. So
``await trio.sleep(600)``, a 60 s reconnect delay or a keepalive timeout cost a few milliseconds, and "nothing happens
for ten minutes" is a condition a test can wait for exactly. The threshold is not zero (pytest-trio's
``autojump_clock``) because these tests talk over real loopback sockets: as trio's documentation of
``autojump_threshold`` says, it must be large enough that I/O in flight never counts as idle, or a jump would fire a
timeout while a handshake is under way. On such a clock ``trio.fail_after`` counts virtual seconds, which a test
skips through by design, so the time bound of those tests is kept in real seconds instead (a watchdog thread that
cancels the test after :data:`TEST_TIME_LIMIT` real seconds): the bound is chosen per test from the clock it runs
on, nothing to mark. Poll sparingly on a virtual clock: every ``trio.sleep`` that has to be jumped to costs the
threshold in real time (``testing.wait_until`` polls every 5 ms of virtual time; wait on events, or poll
in steps of a second or more).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme
from hypothesis import Phase, settings

SERVERS = Path(__file__).parent / "servers"
TEST_TIME_LIMIT = 30.0

# `make mutate` runs the tests once per mutant, where a mutant that breaks the connection makes an integration test
# wait out its conditions: there a failing example only has to be found, not shrunk (shrinking a killed mutant's
# example costs seconds and tells nothing), the examples are the same on every run (derandomized: the score of a
# run does not depend on luck; WSDAT_HYPOTHESIS_PROFILE=mutation selects both), and a condition on loopback that has
# not come true within WSDAT_TEST_WAIT seconds will not (wsdat_core.faces.testing waits 10 s by default, a test 30 s).
settings.register_profile("mutation", phases=(Phase.explicit, Phase.generate), derandomize=True, database=None)
if os.environ.get("WSDAT_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["WSDAT_HYPOTHESIS_PROFILE"])
if os.environ.get("WSDAT_TEST_WAIT"):
    import wsdat_core.faces.testing as _testing

    _WAIT = float(os.environ["WSDAT_TEST_WAIT"])
    for _function in (_testing.wait_until, _testing.wait_for_rows, _testing.wait_for_calls,
                      _testing.ScriptedServer.wait_client, _testing.ScriptedServer.wait_received):
        _function.__defaults__ = tuple(_WAIT if value == _testing.DEFAULT_WAIT else value
                                       for value in _function.__defaults__ or ())
    TEST_TIME_LIMIT = 3 * _WAIT

#: Real seconds every task must have been idle before the virtual clock jumps (see the module's docstring).
AUTOJUMP_THRESHOLD = 0.02


def _bounded(test: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
    @functools.wraps(test)
    async def run_bounded(*args: object, **kwargs: object) -> object:
        if isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
            return await _within_real_time(TEST_TIME_LIMIT, test(*args, **kwargs))
        with trio.fail_after(TEST_TIME_LIMIT):
            return await test(*args, **kwargs)

    return run_bounded


async def _within_real_time(seconds: float, running: Awaitable[object]) -> object:
    """Await ``running``, cancelled (``trio.TooSlowError``) after ``seconds`` of real time whatever the clock says."""
    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:

        def cancel() -> None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)

        watchdog = threading.Timer(seconds, cancel)
        watchdog.daemon = True
        watchdog.start()
        try:
            return await running
        finally:
            watchdog.cancel()
    raise trio.TooSlowError(f"the test took more than {seconds:g} s of real time")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """No async test may hang: each runs under ``trio.fail_after``."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _bounded(item.obj)


@pytest.fixture
def virtual_clock() -> trio.testing.MockClock:
    """trio's MockClock, jumping once every task was idle for ``AUTOJUMP_THRESHOLD`` real seconds; pytest-trio runs
    a test that takes this fixture on it (see the module's docstring)."""
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)


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
