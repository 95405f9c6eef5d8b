"""TouchDesigner's globals for ``.py`` callbacks files, so files copied out of TD projects run unchanged.

They are put in the file's module before it runs (module-level code sees them too):

``me``
    the object *Execute from* picks, as the hooks' ``me`` argument (kept up to date when ``executeloc`` changes);
``op(name)`` / ``ops(pattern)``
    the DAT of that name in the same service, the DAT itself by its own name, or an object of the DAT's
    ``namespace``; ``op`` returns None when nothing has that name (as TD does) and remembers the name, so that a
    callback failing on that None is told which ``op()`` found nothing; ``ops`` a list (``*``/``?``);
    ``op.SHORTCUT`` (TD's global OP shortcuts) raises :class:`~wsdat_core.model.errors.TDOnlyError`;
``debug(*args)``
    the arguments and the ``file:line`` of the call, printed like TD's textport (to the ``wsdat`` console at WARNING,
    so it shows without ``-v``) and given to ``onMonitorMessage``;
``print``
    to stderr (TD prints to the textport, never into the data: ``wsdat connect ... | jq`` stays clean);
``import``
    TD's own modules (``TDJSON``, ``TDFunctions``, ``td``...) raise a TDOnlyError with a hint, which is also a
    ``ModuleNotFoundError`` (``try: import td / except ImportError`` keeps working);
``absTime``
    ``absTime.frame`` (60 per second since the process started, TD's default cook rate) and ``absTime.seconds``;
``parent``, ``iop``, ``ipar``, ``mod``, ``ext``, ``project``, ``ui``, ``tdu``, ``run``, ...
    TouchDesigner's operator network and UI do not exist here: using them raises TDOnlyError with one line saying
    what to use instead (see :mod:`wsdat_core.host.tdonly`).
Pure: no trio, no sockets.
"""

from __future__ import annotations

import builtins
import fnmatch
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..model.info import IMPORTED
from .tdonly import TD_ONLY, TDOnly, TDOnlyImportError, is_td_module, op_shortcut_error

__all__ = ["TD_ONLY", "AbsTime", "OpFinder", "TDOnly", "td_globals", "unknown_op_names"]

_UNKNOWN_KEPT = 8  # names op() found nothing for, remembered per file (the latest)


class AbsTime:
    """TD's ``absTime``: frames at ``rate`` per second, and seconds, since the process started."""

    __slots__ = ("rate", "_now", "_start")

    def __init__(self, rate: float = 60.0, now: Callable[[], float] = time.monotonic,
                 start: float = IMPORTED) -> None:
        self.rate = rate
        self._now = now
        self._start = start

    @property
    def seconds(self) -> float:
        return self._now() - self._start

    @property
    def frame(self) -> int:
        return int(self.seconds * self.rate)

    def __repr__(self) -> str:
        return f"<absTime frame={self.frame} seconds={self.seconds:.3f}>"


def find_named(dat: Any, namespace: Mapping[str, object] | None, name: str) -> Any:
    """TD's ``op(name)`` here: a DAT of the service, ``dat`` itself by its own name, a namespace entry; a TD path
    (``/project1/feed``) by its last part; None when nothing has that name."""
    objects = _named(dat, namespace)
    if name in objects:
        return objects[name]
    return objects.get(name.rstrip("/").rsplit("/", 1)[-1])


def find_matching(dat: Any, namespace: Mapping[str, object] | None, patterns: tuple[str, ...]) -> list[Any]:
    """TD's ``ops(*patterns)`` here: every object whose name matches a pattern (``*`` and ``?``), in name order."""
    objects = _named(dat, namespace)
    return [objects[name] for name in sorted(objects)
            if any(fnmatch.fnmatchcase(name, pattern.rsplit("/", 1)[-1]) for pattern in patterns)]


def _named(dat: Any, namespace: Mapping[str, object] | None) -> dict[str, object]:
    objects: dict[str, object] = dict(namespace or {})
    objects.setdefault(getattr(dat, "name", ""), dat)
    return objects


class OpFinder:
    """TD's ``op`` in a callbacks file: ``op('name')`` (see :func:`find_named`); ``op.SHORTCUT`` raises TDOnlyError."""

    def __init__(self, dat: Any, namespace: Mapping[str, object] | None) -> None:
        self._dat = dat
        self._namespace = namespace
        #: The names ``op()`` found nothing for (the latest last), for the error line of a callback failing on None.
        self.unknown: list[str] = []

    def __call__(self, name: Any) -> Any:
        if not isinstance(name, str):
            return name  # op(someOP) is the OP itself in TD
        found = find_named(self._dat, self._namespace, name)
        if found is None:
            if name in self.unknown:
                self.unknown.remove(name)
            self.unknown = [*self.unknown[-(_UNKNOWN_KEPT - 1):], name]
        return found

    def __getattr__(self, shortcut: str) -> Any:
        if shortcut.startswith("__"):
            raise AttributeError(shortcut)
        raise op_shortcut_error(shortcut)

    def __repr__(self) -> str:
        return "<op: the DATs of this service by name>"


def unknown_op_names(module_globals: Mapping[str, Any]) -> list[str]:
    """The names the ``op`` of a callbacks file's globals found nothing for (empty for anything else)."""
    finder = module_globals.get("op")
    return list(finder.unknown) if isinstance(finder, OpFinder) else []


def _td_builtins() -> dict[str, Any]:
    """The builtins of a callbacks file: ``print`` to stderr and ``import`` answering TD's modules."""
    real_import = builtins.__import__
    real_print = builtins.print

    def td_import(name: str, module_globals: Any = None, module_locals: Any = None, fromlist: Any = (),
                  level: int = 0) -> Any:
        try:
            return real_import(name, module_globals, module_locals, fromlist, level)
        except ModuleNotFoundError as exc:
            top = name.partition(".")[0]
            if level == 0 and exc.name == top and is_td_module(top):
                raise TDOnlyImportError(top) from None
            raise

    def td_print(*args: Any, file: Any = None, **kwargs: Any) -> None:
        """TD prints to the textport, never into the data: here the current stderr (the live view's, if shown)."""
        real_print(*args, file=sys.stderr if file is None else file, **kwargs)

    return {**builtins.__dict__, "__import__": td_import, "print": td_print}


def td_globals(dat: Any, namespace: Mapping[str, object] | None, me: object,
               report: Callable[[str], None]) -> dict[str, Any]:
    """The globals of a TD callbacks file served by ``dat``; ``report(line)`` shows a ``debug`` line."""

    def ops(*patterns: str) -> list[Any]:
        """Every object whose name matches one of ``patterns`` (``*`` and ``?``), in name order."""
        return find_matching(dat, namespace, patterns)

    def debug(*args: Any) -> None:
        """TD's debug(): the arguments and where it was called from."""
        caller = sys._getframe(1)
        where = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
        report(f"{' '.join(str(arg) for arg in args)} ({where})")

    found: dict[str, Any] = {name: TDOnly(name) for name in TD_ONLY}
    found.update(me=me, op=OpFinder(dat, namespace), ops=ops, debug=debug,
                 absTime=AbsTime(start=_process_origin(dat)), __builtins__=_td_builtins())
    return found


def _process_origin(dat: Any) -> float:
    """Where ``dat``'s clock counts absolute frames from (the process's start, for a running DAT)."""
    origin = getattr(getattr(getattr(dat, "info", None), "clock", None), "process_origin", IMPORTED)
    return float(origin)
