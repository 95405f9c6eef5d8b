"""What ``wsdat work`` is told: :class:`WorkOptions` (its flags), stream patterns, and its signal handling."""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass, field
from typing import Final

import trio

from .connect import DEFAULT_URL, RedisTarget, check_stream_slot

__all__ = ["WorkOptions", "is_pattern", "watch_signals"]

_PATTERN_CHARS: Final = frozenset("*?[")


def is_pattern(name: str) -> bool:
    return not _PATTERN_CHARS.isdisjoint(name)


@dataclass
class WorkOptions:
    """What ``wsdat work`` was told (see its ``--help``). ``stream`` names one stream or pattern; ``streams`` any
    number (both are read)."""

    url: str = DEFAULT_URL
    stream: str = ""
    group: str = "wsdat"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    maxdeliveries: int = 5
    claimidle: int = 30_000
    batch: int = 100
    block: int = 1000
    start: str = "0"
    streams: list[str] = field(default_factory=list)
    #: None: detect a Redis Cluster; True / False force it.
    cluster: bool | None = None

    @property
    def names(self) -> list[str]:
        """Every stream and pattern given, in order, once each."""
        return list(dict.fromkeys(name for name in [self.stream, *self.streams] if name))

    def check(self) -> None:
        for name in ("maxdeliveries", "claimidle", "batch", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name}: {value!r} is not allowed; expected an integer >= 1")
        if not self.names:
            raise ValueError("--stream: must not be empty")
        for name in ("group", "consumer"):
            if not getattr(self, name):
                raise ValueError(f"--{name}: must not be empty")
        RedisTarget(self.url, cluster=self.cluster)  # a bad URL: one line now, not at the first call
        if self.cluster:
            for name in self.names:
                if not is_pattern(name):
                    check_stream_slot(name, "--stream")


async def watch_signals(stop: trio.Event, cancel_scope: trio.CancelScope) -> None:
    """SIGINT or SIGTERM: finish the entries in hand, acknowledge them, stop. A second signal stops at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                cancel_scope.cancel()
                return
            stop.set()
