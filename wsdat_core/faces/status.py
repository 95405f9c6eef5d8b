"""A DAT's connection state as the terminal faces show it in their status lines.

``open``, ``connecting`` (an attempt runs), ``closing``, ``reconnecting`` with the attempt that comes next and the
time left before it (``reconnecting: attempt 3 in 2.4 s``), ``closed`` (stopped for good).
"""

from __future__ import annotations

import time
from typing import Any, Final

__all__ = ["STATE_STYLES", "state_text"]

#: Rich styles of each state (the live table's badge, the conversation view's toolbar).
STATE_STYLES: Final = {"open": "bold green", "connecting": "bold yellow", "closing": "yellow",
                       "reconnecting": "bold yellow", "closed": "bold red"}


def state_text(info: Any, now: float | None = None) -> str:
    """``info.state``, with the next attempt and the seconds left before it while reconnecting (``now``: UNIX time,
    the current time by default)."""
    if info.state != "reconnecting" or not info.retry_attempt:
        return str(info.state)
    left = max(0.0, info.retry_at - (time.time() if now is None else now))
    return f"reconnecting: attempt {info.retry_attempt} in {left:.1f} s"
