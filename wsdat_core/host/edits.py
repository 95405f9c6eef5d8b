"""Live editing: which callbacks files to load again, and what is wrong with the ones that cannot be.

Looked at before a cook, at most every 0.1 s, one ``stat`` per file, no thread. A file is ready once its last change
is 0.5 s old (editors write in steps). A version that failed to load is not tried again until the next edit. A file
that was deleted, became a directory, a symbolic link loop or unreadable gets one line, once, after it stayed so for
0.5 s (an editor that saves by replacing the file is not reported); the previous callbacks go on. Pure: no trio, no
sockets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from .loading import file_problem, file_stamp

__all__ = ["CHECK_EVERY", "SETTLE_SECONDS", "EditCheck", "EditWatch"]

#: Seconds between looks at the callbacks files.
CHECK_EVERY: Final = 0.1
#: A change (or a problem) counts once it is this old.
SETTLE_SECONDS: Final = 0.5

Stamp = tuple[int, int]


@dataclass(frozen=True, slots=True)
class EditCheck:
    """One look at the files: those to load again, and one line per problem newly found."""

    ready: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EditWatch:
    """The state of live editing for one DAT's callbacks files."""

    monotonic: Callable[[], float] = time.monotonic
    wall_ns: Callable[[], int] = time.time_ns
    _next_look: float = 0.0
    _failed: dict[str, Stamp] = field(default_factory=dict)
    _seen_problem: dict[str, tuple[str, float]] = field(default_factory=dict)  # path -> (problem, first seen)
    _reported: dict[str, str] = field(default_factory=dict)  # path -> the problem already reported

    def due(self) -> bool:
        """True (at most every 0.1 s) when it is time to look at the files again: one clock reading per cook."""
        now = self.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + CHECK_EVERY
        return True

    def look(self, files: Iterable[tuple[str, Stamp | None]]) -> EditCheck:
        """Look at ``files`` (each ``(path, stamp when loaded)``)."""
        now = self.monotonic()
        check = EditCheck()
        for path, loaded in files:
            problem = file_problem(path)
            if problem is not None:
                self._problem(path, problem, now, check)
                continue
            self._seen_problem.pop(path, None)
            self._reported.pop(path, None)
            stamp = file_stamp(path)
            if stamp is None or stamp == loaded or self._failed.get(path) == stamp:
                continue  # unchanged, or this very version failed already: wait for the next edit
            if self.wall_ns() - stamp[0] >= SETTLE_SECONDS * 1e9:
                check.ready.append(path)
        return check

    def _problem(self, path: str, problem: str, now: float, check: EditCheck) -> None:
        seen = self._seen_problem.get(path)
        if seen is None or seen[0] != problem:
            self._seen_problem[path] = seen = (problem, now)
        if now - seen[1] >= SETTLE_SECONDS and self._reported.get(path) != problem:
            self._reported[path] = problem
            check.problems.append(f"callbacks: {path} {problem}; the previous callbacks go on")

    def failed(self, paths: Iterable[str]) -> None:
        """Loading ``paths`` failed: their current versions are not tried again."""
        for path in paths:
            stamp = file_stamp(path)
            if stamp is not None:
                self._failed[path] = stamp

    def loaded(self, paths: Iterable[str]) -> None:
        """``paths`` were loaded."""
        for path in paths:
            self._failed.pop(path, None)
