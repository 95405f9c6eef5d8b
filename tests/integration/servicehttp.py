"""Helpers for the tests of ``wsdat run --http``: a service runner on loopback (in this process, or ``wsdat run`` as
a process of its own), a plain HTTP client (the standard library's, in a worker thread) and a reader of the live
page's Server-Sent Events."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from wsdat_core.faces.config import ServiceRunner, load_service
from wsdat_core.http.address import HttpAddress


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _split(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port, parts.path + (f"?{parts.query}" if parts.query else "")


def _request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Answer:
    host, port, path = _split(url)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


async def request(method: str, url: str, data: object = None, *, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> Answer:
    """One HTTP request; ``data`` is sent as JSON."""
    sent = dict(headers or {})
    if data is not None:
        body = json.dumps(data).encode()
        sent.setdefault("Content-Type", "application/json")
    return await trio.to_thread.run_sync(_request, method, url, body, sent)


async def get(url: str, **kwargs: Any) -> Answer:
    return await request("GET", url, **kwargs)


async def post(url: str, data: object = None, **kwargs: Any) -> Answer:
    return await request("POST", url, data, **kwargs)


class EventStream:
    """The live page's stream, as a browser's EventSource reads it."""

    def __init__(self, url: str) -> None:
        host, port, path = _split(url)
        self.connection = http.client.HTTPConnection(host, port, timeout=10)
        self.path = path

    async def open(self) -> EventStream:
        def start() -> http.client.HTTPResponse:
            self.connection.request("GET", self.path)
            return self.connection.getresponse()

        self.response = await trio.to_thread.run_sync(start)
        assert self.response.status == 200
        assert self.response.getheader("content-type", "").startswith("text/event-stream")
        return self

    async def next(self) -> tuple[str, dict[str, Any]]:
        """The next event (comments skipped): its name and its data."""
        kind, data = "message", ""
        while True:
            line = (await trio.to_thread.run_sync(self.response.fp.readline, abandon_on_cancel=True)).decode()
            assert line, "the stream ended"
            line = line.rstrip("\r\n")
            if not line:
                if data:
                    return kind, json.loads(data)
                continue
            field, _, value = line.partition(":")
            if field == "event":
                kind = value.strip()
            elif field == "data":
                data += value.strip()

    async def until(self, predicate: Any, limit: int = 200) -> list[tuple[str, dict[str, Any]]]:
        """Events read until ``predicate(events so far)`` is true."""
        seen: list[tuple[str, dict[str, Any]]] = []
        for _ in range(limit):
            seen.append(await self.next())
            if predicate(seen):
                return seen
        raise AssertionError(f"no matching event in {limit}: {seen[-3:]}")

    def close(self) -> None:
        self.connection.close()


def rows_of(events: list[tuple[str, dict[str, Any]]], dat: str) -> list[list[Any]]:
    """Every row of ``dat`` the page was sent, in order."""
    rows: list[list[Any]] = []
    for kind, data in events:
        dats = data["dats"] if kind == "update" else {d["name"]: d for d in data["dats"]}
        rows.extend(dats.get(dat, {}).get("rows", []))
    return rows


@asynccontextmanager
async def running_service(path: Path, text: str, *, http: str | None = "127.0.0.1:0",
                          watch: bool = False) -> AsyncIterator[ServiceRunner]:
    """A service from ``text`` (written to ``path``) running with the HTTP side on a free loopback port."""
    path.write_text(text)
    address = HttpAddress("127.0.0.1", 0) if http == "127.0.0.1:0" else None
    runner = ServiceRunner(load_service(path), http=address, watch=watch, signals=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.run)
        try:
            yield runner
        finally:
            runner.stop()


@dataclass
class ServiceProcess:
    """``wsdat run FILE --http ...`` running as a process of its own: its base URL and every stderr line so far."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_line(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """The first stderr line matching ``pattern`` (a regular expression), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.process.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r} in: {self.stderr}")

    def stop(self) -> int:
        """SIGTERM, then the exit code once every line was read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(10)
        self.reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code


@contextmanager
def service_process(path: Path, text: str, *args: str, env: dict[str, str] | None = None,
                    listening: bool = True) -> Iterator[ServiceProcess]:
    """``wsdat run`` of ``text`` (written to ``path``) with ``args``; once it says where the HTTP side listens (when
    ``listening``), its :attr:`ServiceProcess.url` is that address."""
    path.write_text(text)
    process = subprocess.Popen([sys.executable, "-m", "wsdat_core", "run", str(path), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    running = ServiceProcess(process)
    try:
        if listening:
            running.url = running.wait_line(r"live page on (http://\S+)").group(1).rstrip("/")
        yield running
    finally:
        running.stop()
