"""TouchDesigner's globals for ``.py`` callbacks files, so files copied out of TD projects run unchanged.

They are put in the file's module before it runs (module-level code sees them too):

``me``
    the object *Execute from* picks, as the hooks' ``me`` argument (kept up to date when ``executeloc`` changes);
``op(name)`` / ``ops(pattern)``
    the DAT of that name in the same service, the DAT itself by its own name, or an object of the DAT's
    ``namespace``; ``op`` returns None when nothing has that name (as TD does), ``ops`` a list (``*``/``?``);
``debug(*args)``
    the arguments and the ``file:line`` of the call, to the ``wsdat`` console (INFO) and to ``onMonitorMessage``;
``absTime``
    ``absTime.frame`` (60 per second since the process started, TD's default cook rate) and ``absTime.seconds``;
``parent``, ``project``, ``ui``, ``tdu``, ``run``
    TouchDesigner's operator network and UI do not exist here: calling them or reading anything from them raises
    :class:`~wsdat_core.model.errors.TDOnlyError` with one line saying what to use instead.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..model.errors import TDOnlyError
from ..model.info import IMPORTED

__all__ = ["TD_ONLY", "AbsTime", "TDOnly", "td_globals"]

#: TD's names with no meaning outside TouchDesigner, and what to use instead.
TD_ONLY: Final = {
    "parent": "TouchDesigner's operator network does not exist in wsdat; use op(NAME) to reach another DAT of the "
              "service",
    "project": "there is no TouchDesigner project in wsdat; keep state with dat.store()/dat.fetch() and settings in "
               "the service file",
    "ui": "wsdat has no TouchDesigner UI; report with debug(...) or dat.monitor(...)",
    "tdu": "TouchDesigner's utility module does not exist in wsdat; use the Python standard library",
    "run": "TouchDesigner's run() (delayed scripts) does not exist in wsdat; use an async def callback or "
           "dat.start_soon(...)",
}


class TDOnly:
    """Stands for a TouchDesigner-only global: calling it or reading from it raises :class:`TDOnlyError`."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise TDOnlyError(f"{self._name}.{attribute} = ...: {TD_ONLY[self._name]}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TDOnlyError(f"{self._name}(): {TD_ONLY[self._name]}")

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise TDOnlyError(f"{self._name}.{attribute}: {TD_ONLY[self._name]}")

    def __getitem__(self, key: Any) -> Any:
        raise TDOnlyError(f"{self._name}[{key!r}]: {TD_ONLY[self._name]}")

    def __repr__(self) -> str:
        return f"<{self._name}: TouchDesigner only>"


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


def _process_origin(dat: Any) -> float:
    """Where ``dat``'s clock counts absolute frames from (the process's start, for a running DAT)."""
    origin = getattr(getattr(getattr(dat, "info", None), "clock", None), "process_origin", IMPORTED)
    return float(origin)


def td_globals(dat: Any, namespace: Mapping[str, object] | None, me: object,
               report: Callable[[str], None]) -> dict[str, Any]:
    """The globals of a TD callbacks file served by ``dat``; ``report(line)`` shows a ``debug`` line."""
    def named() -> dict[str, object]:
        objects: dict[str, object] = dict(namespace or {})
        objects.setdefault(getattr(dat, "name", ""), dat)
        return objects

    def op(name: Any) -> Any:
        """The object called ``name`` (a DAT of the service, this DAT, a namespace entry), or None as in TD."""
        if not isinstance(name, str):
            return name  # op(someOP) is the OP itself in TD
        objects = named()
        if name in objects:
            return objects[name]
        return objects.get(name.rstrip("/").rsplit("/", 1)[-1])  # '/project1/feed' -> 'feed'

    def ops(*patterns: str) -> list[Any]:
        """Every object whose name matches one of ``patterns`` (``*`` and ``?``), in name order."""
        objects = named()
        return [objects[name] for name in sorted(objects)
                if any(fnmatch.fnmatchcase(name, pattern.rsplit("/", 1)[-1]) for pattern in patterns)]

    def debug(*args: Any) -> None:
        """TD's debug(): the arguments and where it was called from."""
        caller = sys._getframe(1)
        where = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
        report(f"{' '.join(str(arg) for arg in args)} ({where})")

    found: dict[str, Any] = {name: TDOnly(name) for name in TD_ONLY}
    found.update(me=me, op=op, ops=ops, debug=debug, absTime=AbsTime(start=_process_origin(dat)))
    return found
