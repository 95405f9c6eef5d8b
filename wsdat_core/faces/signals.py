"""SIGINT and SIGTERM for the command line: the first stops politely, a second one stops at once.

A plain callback that never returns (an endless loop, a long ``time.sleep``) keeps trio from running, so the polite
stop (close with 1001, ``onExit`` for every plugin) cannot happen. The first signal therefore also tells every DAT to
stop cooking after the message in hand; a second signal ends the process at once, with one line naming the callback
that was running, and exit status 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells do.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from ..host.callbacks import running_callback

__all__ = ["stop_on_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(stop: Callable[[int], None], prefix: str = "wsdat: ") -> Iterator[None]:
    """While inside, the first SIGINT/SIGTERM calls ``stop(signum)`` (from the signal handler: it must only set flags
    or use ``TrioToken.run_sync_soon``); a second ends the process at once."""
    received = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received == 1:
            stop(signum)
            return
        name = signal.Signals(signum).name
        callback = running_callback(frame)
        where = f" while the callback {callback} was running" if callback else ""
        os.write(2, f"{prefix}a second {name}: stopped at once{where}\n".encode("utf-8", "replace"))
        os._exit(128 + signum)

    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
