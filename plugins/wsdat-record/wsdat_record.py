"""wsdat-record: every event of a DAT, with timestamps, to a JSONL file that rotates by size.

Each line is one event::

    {"t": 1795837213.165, "dat": "feed", "cook": 12, "event": "text", "row": 3, "message": "..."}

``event`` is ``connect`` (with ``url``), ``disconnect``, ``text`` (``row``, ``message``), ``binary`` / ``ping`` /
``pong`` (``base64``), or ``monitor`` (``message``). ``cook`` numbers the network read the event came with, so a
replay can cook the same batches. Lines are written as events arrive and flushed once per cook (``onCook``), so a
crash loses nothing that was cooked.

As ``--callbacks record`` (the entry point) it writes ``wsdat-<dat name>.jsonl`` in the current folder. Its settings
(``dat.pluginSettings("record")``: a service file's ``[dat.NAME.plugins.record]``, the CLI's ``--set record.KEY=V``,
or the environment variables ``WSDAT_RECORD_<KEY>`` as defaults) are ``dir``, ``max_bytes`` (default 64 MiB) and
``backups`` (default 5). From Python: ``Recorder(path, max_bytes=..., backups=...)``; arguments given there win over
settings. A DAT's file is opened in ``onStart`` and closed in ``onExit``. ``wsdat replay FILE`` plays a recording
back through a DAT's hooks and table without a network.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from wsdat_core.model.events import EventKind
from wsdat_core.model.secrets import mask_text

__all__ = ["Recorder", "default_recorder"]

MIB = 1024 * 1024


class _RotatingFile:
    """An append-only text file that moves to ``.1`` (``.1`` to ``.2``, ...) when it would pass ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._size = path.stat().st_size

    def write(self, line: str) -> None:
        size = len(line.encode("utf-8"))
        if self._size and self._size + size > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += size

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Recorder:
    """A callbacks plugin writing every event of the DATs it serves.

    ``path`` is the file for a single DAT; otherwise each DAT gets ``wsdat-<name>.jsonl`` in ``directory`` (or the
    ``dir`` setting, or the current folder).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str] | None = None,
                 max_bytes: int | None = None, backups: int | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes = max_bytes
        self.backups = backups
        self._files: dict[str, _RotatingFile] = {}
        self._exited: set[str] = set()  # DATs past onExit: nothing more is written (and no file reopened) for them

    def file_for(self, dat: Any) -> _RotatingFile:
        writer = self._files.get(dat.name)
        if writer is None:
            settings = dat.pluginSettings("record")
            directory = self.directory or Path(settings.get("dir", "."))
            path = self.path or directory / f"wsdat-{dat.name}.jsonl"
            max_bytes = self.max_bytes or int(settings.get("max_bytes", 64 * MIB))
            backups = self.backups if self.backups is not None else int(settings.get("backups", 5))
            writer = self._files[dat.name] = _RotatingFile(path, max_bytes, backups)
        return writer

    def _write(self, dat: Any, kind: EventKind, **fields: Any) -> None:
        if dat.name in self._exited:
            return
        record = {"t": round(time.time(), 6), "dat": dat.name, "cook": dat.info.total_cooks + 1, "event": kind.label,
                  **fields}
        self.file_for(dat).write(json.dumps(record, ensure_ascii=False) + "\n")

    # -- hooks ------------------------------------------------------------------------------------------------------
    def onStart(self, dat: Any) -> None:
        self._exited.discard(dat.name)
        self.file_for(dat)

    def onExit(self, dat: Any) -> None:
        self._exited.add(dat.name)
        writer = self._files.pop(dat.name, None)
        if writer is not None:
            writer.close()

    def onConnect(self, dat: Any) -> None:
        self._write(dat, EventKind.CONNECT, url=dat.par.endpoint.url)
        self.onCook(dat)

    def onDisconnect(self, dat: Any) -> None:
        self._write(dat, EventKind.DISCONNECT)
        self.onCook(dat)

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        self._write(dat, EventKind.TEXT, row=rowIndex, message=message)

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        self._write(dat, EventKind.BINARY, base64=base64.b64encode(contents).decode("ascii"))

    def onReceivePing(self, dat: Any, contents: bytes) -> None:
        self._write(dat, EventKind.PING, base64=base64.b64encode(contents).decode("ascii"))

    def onReceivePong(self, dat: Any, contents: bytes) -> None:
        self._write(dat, EventKind.PONG, base64=base64.b64encode(contents).decode("ascii"))

    def onMonitorMessage(self, dat: Any, message: str) -> None:
        self._write(dat, EventKind.MONITOR, message=mask_text(message))  # a recording is shared: no password in it

    def onCook(self, dat: Any) -> None:
        writer = self._files.get(dat.name)
        if writer is not None:
            writer.flush()

    def close(self) -> None:
        for writer in self._files.values():
            writer.close()
        self._files.clear()


#: The instance the ``record`` entry point names; each DAT it serves reads its own settings in ``onStart``.
default_recorder = Recorder()
