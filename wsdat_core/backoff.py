"""When to reconnect: exponential backoff with jitter.

The first retry waits a random time within ``[0, first)`` so that many clients dropped by the same server restart do
not come back at once; each further retry waits ``first * factor ** n`` capped at ``cap``, scaled by a random factor
in ``[0.5, 1]`` (jitter). A connection that stayed up for ``stable_after`` seconds resets the sequence. Defaults are in
the range websockets and socket.io use: first delay 1 s, factor 1.618, cap 60 s.
Pure: the random source is injectable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Delays (seconds) between reconnect attempts."""

    first: float = 1.0
    factor: float = 1.618
    cap: float = 60.0
    stable_after: float = 10.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        self.attempt += 1
        if self.attempt == 1:
            return self.uniform(0.0, self.first)
        base = min(self.cap, self.first * self.factor ** (self.attempt - 1))
        return base * self.uniform(0.5, 1.0)

    def connection_lasted(self, seconds: float) -> None:
        """Report how long a connection stayed up; a stable one resets the sequence."""
        if seconds >= self.stable_after:
            self.reset()

    def reset(self) -> None:
        self.attempt = 0
