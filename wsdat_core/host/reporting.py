"""The line a failing callback gets: ``file.py:LINE in onReceiveText: ValueError: ...``.

TouchDesigner users act on the line of their own file, so the line names the innermost frame in the file the hook was
defined in (not the library code the error surfaced in), and adds what the user could not see: which ``op()`` name
found nothing when the callback failed on its None. The traceback stays with the log record (``-v`` shows it). Pure:
no trio, no sockets.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from typing import Final

from ..model.errors import TDOnlyError
from .calling import DISPATCH_FILENAME, HookArityError

__all__ = ["callback_location", "error_text", "error_type", "hook_error_line"]

_HOST_DIR: Final = os.path.dirname(os.path.abspath(__file__))


def _is_host_frame(filename: str) -> bool:
    return filename == DISPATCH_FILENAME or os.path.dirname(os.path.abspath(filename)) == _HOST_DIR


def callback_location(exc: BaseException) -> tuple[str, int] | None:
    """``(file, line)`` where a callback's ``exc`` arose in the callback's own file: the innermost frame of the file
    of the first frame below the host's (the hook itself); for a hook that could not take its arguments, its
    ``def``. None when no Python frame of the hook ran."""
    if isinstance(exc, HookArityError):
        return exc.where
    frames = traceback.extract_tb(exc.__traceback__)
    own = [frame for frame in frames if not _is_host_frame(frame.filename)]
    if not own:
        return None
    hook_file = own[0].filename
    last = [frame for frame in own if frame.filename == hook_file][-1]
    return hook_file, last.lineno or 0


def error_type(exc: BaseException) -> str:
    """The type a user is told: ``TDOnlyError`` for all of its kinds (an import one is also a ModuleNotFoundError),
    ``TypeError`` for a hook that cannot take its arguments (as Python says when TD calls it)."""
    if isinstance(exc, TDOnlyError):
        return "TDOnlyError"
    return "TypeError" if isinstance(exc, HookArityError) else type(exc).__name__


def error_text(exc: BaseException) -> str:
    """``Type: message`` on one line: a message of several lines (a validation error, a SQL error) has its lines
    joined with ``; `` rather than shown as ``\\n``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{error_type(exc)}: {'; '.join(lines)}" if lines else error_type(exc)


def hook_error_line(hook: str, plugin_name: str, exc: BaseException, unknown_ops: Sequence[str] = ()) -> str:
    """The one line for ``exc`` raised by ``plugin_name``'s ``hook``; ``unknown_ops`` are the names ``op()`` found
    nothing for in that plugin's file (named when the error is about a None)."""
    location = callback_location(exc)
    where = f"{os.path.basename(location[0])}:{location[1]}" if location else plugin_name
    line = f"{where} in {hook}: {error_text(exc)}"
    if unknown_ops and isinstance(exc, (AttributeError, TypeError)) and "'NoneType'" in str(exc):
        names = ", ".join(f"op({name!r})" for name in unknown_ops)
        line += f" ({names} returned None: nothing of that name in this service)"
    return line
