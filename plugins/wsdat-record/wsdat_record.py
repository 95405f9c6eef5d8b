"""wsdat-record: every event of a DAT, with timestamps, to a JSONL file that rotates by size.

Each line is one event::

    {"t": 1795837213.165, "dat": "feed", "cook": 12, "event": "text", "row": 3, "message": "..."}

``event`` is ``connect`` (with ``url``), ``disconnect``, ``text`` (``row``, ``message``), ``binary`` / ``ping`` /
``pong`` (``base64``), or ``monitor`` (``message``). ``cook`` numbers the network read the event came with, so a
replay can cook the same batches. Lines are written as events arrive and flushed once per cook (``onCook``), so a
crash loses nothing that was cooked.

As ``--callbacks record`` (the entry point) it writes ``wsdat-<dat name>.jsonl`` in the current folder; the
environment variables ``WSDAT_RECORD_DIR``, ``WSDAT_RECORD_MAX_BYTES`` (default 64 MiB) and ``WSDAT_RECORD_BACKUPS``
(default 5) change that. From Python: ``Recorder(path, max_bytes=..., backups=...)``. ``wsdat replay FILE`` plays a
recording back through a DAT's hooks and table without a network.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import IO, Any

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

    ``path`` is the file for a single DAT; with ``directory`` instead, each DAT gets ``wsdat-<name>.jsonl`` there.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, directory: str | os.PathLike[str] = ".",
                 max_bytes: int = 64 * MIB, backups: int = 5) -> None:
        self.path = Path(path) if path is not None else None
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.backups = backups
        self._files: dict[str, _RotatingFile] = {}

    def file_for(self, dat: Any) -> _RotatingFile:
        writer = self._files.get(dat.name)
        if writer is None:
            path = self.path or self.directory / f"wsdat-{dat.name}.jsonl"
            writer = self._files[dat.name] = _RotatingFile(path, self.max_bytes, self.backups)
        return writer

    def _write(self, dat: Any, event: str, **fields: Any) -> None:
        record = {"t": round(time.time(), 6), "dat": dat.name, "cook": dat.info.total_cooks + 1, "event": event,
                  **fields}
        self.file_for(dat).write(json.dumps(record, ensure_ascii=False) + "\n")

    # -- hooks ------------------------------------------------------------------------------------------------------
    def onConnect(self, dat: Any) -> None:
        self._write(dat, "connect", url=dat.par.endpoint.url)
        self.file_for(dat).flush()

    def onDisconnect(self, dat: Any) -> None:
        self._write(dat, "disconnect")
        self.file_for(dat).flush()

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        self._write(dat, "text", row=rowIndex, message=message)

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        self._write(dat, "binary", base64=base64.b64encode(contents).decode("ascii"))

    def onReceivePing(self, dat: Any, contents: bytes) -> None:
        self._write(dat, "ping", base64=base64.b64encode(contents).decode("ascii"))

    def onReceivePong(self, dat: Any, contents: bytes) -> None:
        self._write(dat, "pong", base64=base64.b64encode(contents).decode("ascii"))

    def onMonitorMessage(self, dat: Any, message: str) -> None:
        self._write(dat, "monitor", message=message)

    def onCook(self, dat: Any) -> None:
        self.file_for(dat).flush()

    def close(self) -> None:
        for writer in self._files.values():
            writer.close()
        self._files.clear()


def _from_environment() -> Recorder:
    return Recorder(directory=os.environ.get("WSDAT_RECORD_DIR", "."),
                    max_bytes=int(os.environ.get("WSDAT_RECORD_MAX_BYTES", 64 * MIB)),
                    backups=int(os.environ.get("WSDAT_RECORD_BACKUPS", 5)))


#: The instance the ``record`` entry point names, configured from the environment when first loaded.
default_recorder = _from_environment()
