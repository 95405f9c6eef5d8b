"""The text console: status and error lines of every DAT go to the ``wsdat`` logger.

TouchDesigner prints them to its text console when ``TOUCH_TEXT_CONSOLE=1``; wsdat shows them on stderr when
``WSDAT_TEXT_CONSOLE=1`` is set (or the CLI's ``-v``). Libraries embedding wsdat can route the ``wsdat`` logger like
any other.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final, TextIO

__all__ = ["ENV_VAR", "LOGGER_NAME", "enable_text_console", "enable_text_console_from_env", "log"]

LOGGER_NAME: Final = "wsdat"
ENV_VAR: Final = "WSDAT_TEXT_CONSOLE"

log = logging.getLogger(LOGGER_NAME)
# A library stays quiet unless asked: without this, Python's last-resort handler would print warnings and errors.
log.addHandler(logging.NullHandler())


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler wsdat added, so it is added once."""


def enable_text_console(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Show the ``wsdat`` logger's lines on ``stream`` (stderr by default); calling it again changes nothing."""
    if any(isinstance(h, _ConsoleHandler) for h in log.handlers):
        return
    handler = _ConsoleHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)


def enable_text_console_from_env() -> None:
    """Enable the text console when ``WSDAT_TEXT_CONSOLE`` is set to a true value."""
    if os.environ.get(ENV_VAR, "").strip().lower() in {"1", "on", "true", "yes"}:
        enable_text_console()
