"""Info channels and the cook clock.

A *cook* is one processing of a batch of received events: table update plus hooks. TouchDesigner's operator info
channels describe the last cook in frames of a clock; here the clock runs at a fixed rate (60 fps by default) from an
injectable time source, so tests can set time exactly.

``cook_frame`` counts frames from the DAT's start (its "component timeline"); ``cook_abs_frame`` counts frames from
the start of the process; ``cook_start_time`` / ``cook_end_time`` are milliseconds into the frame
the cook started in; ``cook_time`` is the cook's duration in milliseconds.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Final

__all__ = ["CHANNELS", "IMPORTED", "TD_CHANNELS", "Clock", "Info"]

#: When this module was imported, on the ``time.monotonic`` scale: the default origin of ``cook_abs_frame`` (the
#: runtime passes the process's real start, read from the system, see :mod:`wsdat_core.runtime.processclock`).
IMPORTED: Final = time.monotonic()

TD_CHANNELS: Final = (
    "num_rows", "num_cols", "total_cooks", "cook_time", "cook_frame", "cook_abs_frame", "cook_start_time",
    "cook_end_time", "cooked_this_frame", "warnings", "errors",
)
_OWN_CHANNELS: Final = (
    "state", "messages_received", "bytes_received", "messages_sent", "bytes_sent", "connects", "disconnects",
    "reconnects", "hook_errors", "retry_attempt", "retry_at",
)
CHANNELS: Final = TD_CHANNELS + _OWN_CHANNELS


class Clock:
    """Frames at a fixed ``rate`` (frames per second) from an injectable time source ``now`` (seconds)."""

    __slots__ = ("rate", "now", "origin", "process_origin")

    def __init__(self, rate: float = 60.0, now: Callable[[], float] = time.monotonic,
                 process_origin: float | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate: {rate!r} is not allowed; expected frames per second > 0")
        self.rate = float(rate)
        self.now = now
        self.process_origin = IMPORTED if process_origin is None else process_origin
        self.origin = now()

    def restart(self) -> None:
        """Frame 0 of ``cook_frame`` is now (called when the DAT starts running)."""
        self.origin = self.now()

    def frame(self, t: float) -> int:
        return math.floor((t - self.origin) * self.rate)

    def abs_frame(self, t: float) -> int:
        return math.floor((t - self.process_origin) * self.rate)

    def ms_into_frame(self, t: float) -> float:
        since = t - self.process_origin
        return (since - math.floor(since * self.rate) / self.rate) * 1000.0


class Info(Mapping[str, Any]):
    """The DAT's info channels, readable as attributes (``info.errors``) and as a mapping (``dict(info)``).

    ``num_rows`` and ``num_cols`` come live from the table; ``cooked_this_frame`` from the clock.
    """

    __slots__ = (
        "_clock", "_shape", "total_cooks", "cook_time", "cook_frame", "cook_abs_frame", "cook_start_time",
        "cook_end_time", "warnings", "errors", "state", "messages_received", "bytes_received", "messages_sent",
        "bytes_sent", "connects", "disconnects", "reconnects", "hook_errors", "retry_attempt", "retry_at",
    )

    #: The channels, in order (a subclass with more names its own).
    channels: ClassVar[tuple[str, ...]] = CHANNELS

    def __init__(self, clock: Clock | None = None, shape: Callable[[], tuple[int, int]] = lambda: (1, 1)) -> None:
        self._clock = clock or Clock()
        self._shape = shape
        self.total_cooks = 0
        self.cook_time = 0.0
        self.cook_frame = 0
        self.cook_abs_frame = 0
        self.cook_start_time = 0.0
        self.cook_end_time = 0.0
        self.warnings = 0
        self.errors = 0
        #: ``connecting`` (an attempt runs), ``open``, ``closing``, ``reconnecting`` (waiting to retry, see
        #: ``retry_attempt`` and ``retry_at``) or ``closed`` (stopped: Active off, given up, or not running).
        self.state = "closed"
        self.messages_received = 0
        self.bytes_received = 0
        self.messages_sent = 0
        self.bytes_sent = 0
        self.connects = 0
        self.disconnects = 0
        self.reconnects = 0
        #: Errors raised by callbacks (also counted in ``errors``).
        self.hook_errors = 0
        #: While ``state`` is ``"reconnecting"``: the attempt that comes next (1 for the first retry) and when it
        #: starts (UNIX time in seconds); 0 otherwise.
        self.retry_attempt = 0
        self.retry_at = 0.0

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def num_rows(self) -> int:
        return self._shape()[0]

    @property
    def num_cols(self) -> int:
        return self._shape()[1]

    @property
    def cooked_this_frame(self) -> int:
        """1 if the last cook happened in the clock's current frame."""
        if not self.total_cooks:
            return 0
        return int(self._clock.abs_frame(self._clock.now()) == self.cook_abs_frame)

    # -- cooking --------------------------------------------------------------------------------------------------
    def begin_cook(self) -> float:
        """Mark the start of a cook; returns the start time to give to :meth:`end_cook`."""
        return self._clock.now()

    def end_cook(self, started: float) -> None:
        """Record a finished cook that began at ``started``."""
        clock = self._clock
        ended = clock.now()
        self.total_cooks += 1
        self.cook_time = (ended - started) * 1000.0
        self.cook_frame = clock.frame(started)
        self.cook_abs_frame = clock.abs_frame(started)
        self.cook_start_time = clock.ms_into_frame(started)
        self.cook_end_time = self.cook_start_time + self.cook_time

    # -- mapping --------------------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        channels = self.channels
        if name not in channels:
            raise KeyError(f"no info channel {name!r}; channels are: {', '.join(channels)}")
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.channels)

    def __len__(self) -> int:
        return len(self.channels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={self[k]!r}" for k in self.channels) + ")"
