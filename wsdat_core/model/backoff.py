"""When to reconnect: exponential backoff with jitter.

The first retry waits a random time within ``[0, first)`` (never above ``cap``) so that many clients dropped by the
same server restart do not come back at once; each further retry waits ``first * factor ** n`` capped at ``cap``,
scaled by a random factor in ``[0.5, 1]`` (jitter). A connection that stayed up for ``stable_after`` seconds resets
the sequence. Defaults are in the range websockets and socket.io use: first delay 1 s, factor 1.618, cap 60 s.
Pure: the random source is injectable.

:meth:`Backoff.next_delay` is total: for every ``first > 0``, ``factor >= 1`` and ``cap > 0`` (the values the DAT's
parameters allow, huge or tiny) and any number of attempts it returns a finite delay in ``[0, cap]`` (the first
retry also at most ``first``) in constant time. It never forms a huge power: once ``first * factor ** n`` would pass
``cap`` (found with logarithms) the delay simply stays at ``cap``, and the base delay never decreases from one
attempt to the next. An infinite ``first`` or ``cap`` counts as the largest float. Values outside that domain (NaN,
``first <= 0``, ``factor < 1``, ``cap <= 0``) raise :class:`ValueError` naming the field.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]

_LARGEST = sys.float_info.max
#: Up to this exponent (natural log of the power) ``factor ** n`` is computed directly, exactly as documented:
#: e**700 < 1e305 cannot overflow. Beyond it the base delay is the cap or, when ``cap / first`` is huge, comes from
#: logarithms.
_DIRECT_LOG_LIMIT = 700.0


def _as_float(value: float) -> float:
    """``float(value)``, also for an int too large for a float (it becomes infinite, with its sign)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


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
        first, factor, cap = self._checked()
        if self.attempt <= 1:
            return self.uniform(0.0, min(first, cap))
        return self._base(self.attempt - 1, first, factor, cap) * self.uniform(0.5, 1.0)

    def connection_lasted(self, seconds: float) -> None:
        """Report how long a connection stayed up; a stable one resets the sequence."""
        if seconds >= self.stable_after:
            self.reset()

    def reset(self) -> None:
        self.attempt = 0

    def _checked(self) -> tuple[float, float, float]:
        first, factor, cap = _as_float(self.first), _as_float(self.factor), _as_float(self.cap)
        if not first > 0:
            raise ValueError(f"Backoff.first: {self.first!r} is not allowed; expected a number > 0")
        if not factor >= 1:
            raise ValueError(f"Backoff.factor: {self.factor!r} is not allowed; expected a number >= 1")
        if not cap > 0:
            raise ValueError(f"Backoff.cap: {self.cap!r} is not allowed; expected a number > 0")
        return min(first, _LARGEST), factor, min(cap, _LARGEST)

    @staticmethod
    def _base(steps: int, first: float, factor: float, cap: float) -> float:
        """``min(cap, first * factor ** steps)`` for ``steps >= 1`` and finite positive ``first`` and ``cap``,
        computed without overflow and in constant time, non-decreasing in ``steps``."""
        if first >= cap:
            return cap
        if factor == 1.0:
            return first
        log_factor = math.log(factor)  # > 0, inf for an infinite factor
        direct_steps = int(_DIRECT_LOG_LIMIT / log_factor)  # factor ** n stays below e**700 for n <= direct_steps
        if steps <= direct_steps:
            return min(cap, first * factor**steps)  # the product may overflow to inf: then it is the cap
        # Only with cap / first > e**700 (first tiny or cap huge) can the cap be out of reach of a direct power.
        log_cap = math.log(cap)
        # Beyond this many steps the power has passed the cap (an exact int/float comparison: steps is never
        # converted, so any number of attempts works).
        if steps >= (log_cap - math.log(first)) / log_factor:
            return cap
        # Below log(cap) exp cannot overflow; the floor (the last direct value) keeps the sequence non-decreasing
        # across the switch from powers to logarithms.
        exponent = math.log(first) + steps * log_factor
        if exponent >= log_cap:
            return cap
        floor = min(cap, first * factor**direct_steps)
        return min(cap, max(floor, math.exp(exponent)))
