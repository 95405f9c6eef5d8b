"""A real terminal for tests: a program in a tmux pane of its own tmux server, typed into with ``send-keys`` and read
back as the screen a person would see (``capture-pane``: what is drawn, not the bytes written).

tmux is required; without it a test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

_EXITED = re.compile(r"\n?\[exited (\d+)\]")
WIDTH = 100
HEIGHT = 24


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the terminal tests")
    pytest.skip(reason)


@dataclass
class Terminal:
    socket: str

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    @classmethod
    @contextmanager
    def start(cls, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> Iterator[Terminal]:
        """``command`` running in a ``width`` x ``height`` terminal (TERM=xterm-256color). When it ends, a shell
        writes ``[exited N]`` under its last screen and keeps the pane (tmux's own notice of a dead pane comes late
        at times: it waits to reap the process). The shell outlives a Ctrl-C meant for the program (``trap :``: a
        handler, not an ignored signal, so the program gets SIGINT's default)."""
        if shutil.which("tmux") is None:
            unavailable("tmux is not installed")
        folder = tempfile.mkdtemp(prefix="wsdat-tmux-")  # the server's socket, removed with it
        terminal = cls(os.path.join(folder, "socket"))
        settings = [f"-e{name}={value}" for name, value in (env or {}).items()]
        subprocess.run(["tmux", "-S", terminal.socket, "-f", "/dev/null", "new-session", "-d", "-x", str(width),
                        "-y", str(height), "-c", str(cwd or Path.cwd()), *settings, "--", "sh", "-c",
                        'trap : INT; "$@"; printf "\\n[exited %d]" $?; exec sleep 600', "sh", *command], check=True,
                       timeout=10, env={**os.environ, "TERM": "xterm-256color"})
        try:
            yield terminal
        finally:
            subprocess.run(["tmux", "-S", terminal.socket, "kill-server"], capture_output=True, timeout=10)
            shutil.rmtree(folder, ignore_errors=True)

    def type(self, text: str) -> None:
        """Type ``text`` literally (no key names)."""
        self._tmux("send-keys", "-l", text)

    def keys(self, *names: str) -> None:
        """Press keys by tmux's names: ``Enter``, ``Up``, ``Tab``, ``C-d``, ``C-c``..."""
        self._tmux("send-keys", *names)

    def screen(self) -> str:
        """What the terminal shows now (a line the terminal wrapped joined again)."""
        return self._tmux("capture-pane", "-p", "-J")

    def painted(self) -> str:
        """The screen with the escape sequences of its colours and attributes."""
        return self._tmux("capture-pane", "-p", "-e")

    def lines(self) -> list[str]:
        """The screen's lines, without trailing blanks and blank lines at the end."""
        lines = [line.rstrip() for line in _EXITED.sub("", self.screen()).split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def wait_for(self, check: Callable[[str], object], what: str, timeout: float = 15.0) -> str:
        """Poll the screen until ``check(screen)`` holds; returns that screen (AssertionError with it otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.05)

    def wait_ended(self, timeout: float = 15.0) -> int:
        """Wait until the program has ended; returns its exit status."""
        screen = self.wait_for(lambda screen: _EXITED.search(screen), "the program to end", timeout)
        found = _EXITED.search(screen)
        assert found is not None
        return int(found.group(1))
