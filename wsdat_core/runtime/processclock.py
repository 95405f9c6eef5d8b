"""When the process started, on the ``time.monotonic`` scale: TouchDesigner's ``absTime`` and ``cook_abs_frame``
count from there, not from when wsdat was imported."""

from __future__ import annotations

import os
import time
from typing import Final

__all__ = ["PROCESS_START", "process_start"]


def process_start() -> float:
    """The process's start: from /proc on Linux, else now."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            up = float(uptime.read().split()[0])
        age = up - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - age if 0 <= age < up else now


#: Reference point of ``cook_abs_frame`` and ``absTime``.
PROCESS_START: Final = process_start()
