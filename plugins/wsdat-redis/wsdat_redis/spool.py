"""The entries an ingest DAT has cooked and Redis has not confirmed yet: in memory, and optionally on disk.

Entries wait in order, bounded by a count (``spool``) and a size in bytes (``spoolbytes``); the DAT stops reading
from its WebSocket while either bound is reached. The writer takes them in numbered batches; a batch stays *in
flight* until Redis confirmed it, and a failed batch is sent again, with the same number (the script in Redis knows
the numbers it has done, so nothing is written twice).

With ``spooldir`` set, :class:`DiskSpool` keeps the same entries in a SQLite file in WAL mode, saved before the cook
that received them completes (the DAT's async ``onCook``), so that a process killed while Redis is away loses
nothing it cooked. Each entry has an id (its position since the file was made); a batch's number is saved with its
entries before it is sent, and entries are deleted once Redis confirmed their batch. On restart the file's entries
come back first, in order: batches already numbered are sent again under the same writer id and numbers (a batch
whose answer was lost in the crash is recognised by Redis and not written twice, so ``seq`` never repeats).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final

__all__ = ["ENTRY_OVERHEAD", "Batch", "DiskSpool", "Entry", "Spool", "entry_size", "spool_path"]

#: ``(event, row, payload, t)``; ``payload`` is the text or the binary bytes, ``t`` the UNIX time as text.
Entry = tuple[str, int, "str | bytes", str]
#: Bytes an entry costs beyond its payload (the tuple, its strings), for the ``spoolbytes`` bound.
ENTRY_OVERHEAD: Final = 100


def entry_size(entry: Entry) -> int:
    return len(entry[2]) + ENTRY_OVERHEAD


@dataclass
class Batch:
    number: int
    first_id: int
    entries: list[Entry]
    size: int

    @property
    def last_id(self) -> int:
        return self.first_id + len(self.entries) - 1


def spool_path(directory: str, dat_name: str, stream: str) -> str:
    """The spool file of one DAT and stream in ``directory`` (a readable name, made unique by the stream's)."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dat_name}-{stream}")[:100]
    return os.path.join(directory, f"{readable}-{uuid.uuid5(uuid.NAMESPACE_URL, stream).hex[:8]}.sqlite")


class DiskSpool:
    """The SQLite file behind a spool; every method is blocking and safe from any thread (one at a time)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL with synchronous=NORMAL: a commit is in the file (the OS has it) before it returns, which is what a
        # killed process needs; a power cut may lose the last commits (FULL would fsync every cook).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS entry (id INTEGER PRIMARY KEY, event TEXT NOT NULL, "
                         "row INTEGER NOT NULL, payload BLOB NOT NULL, t TEXT NOT NULL, batch INTEGER)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def writer_id(self) -> str:
        """The writer id this file's batches are numbered under (made once per file)."""
        with self._lock:
            found = self._meta("writer")
            if found is None:
                found = uuid.uuid4().hex
                self._db.execute("INSERT INTO meta VALUES ('writer', ?)", (found,))
            return found

    def new_writer(self) -> str:
        """Number batches under a new writer id from now on (the old one's mark in Redis went back)."""
        with self._lock:
            writer = uuid.uuid4().hex
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('writer', ?)", (writer,))
            return writer

    def load(self) -> tuple[list[Batch], int, list[Entry], int]:
        """``(batches in flight, id of the first waiting entry, waiting entries, last batch number)``."""
        with self._lock:
            rows = self._db.execute("SELECT id, event, row, payload, t, batch FROM entry ORDER BY id").fetchall()
            last = int(self._meta("batch") or 0)
        batches: list[Batch] = []
        waiting: list[Entry] = []
        first_waiting = rows[-1][0] + 1 if rows else 1
        for entry_id, event, row, payload, t, number in rows:
            entry: Entry = (event, row, payload, t)
            if number is None:
                if not waiting:
                    first_waiting = entry_id
                waiting.append(entry)
            elif batches and batches[-1].number == number:
                batches[-1].entries.append(entry)
                batches[-1].size += entry_size(entry)
            else:
                batches.append(Batch(number, entry_id, [entry], entry_size(entry)))
        return batches, first_waiting, waiting, last

    def save(self, first_id: int, entries: list[Entry]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO entry (id, event, row, payload, t) VALUES (?, ?, ?, ?, ?)",
                                 [(first_id + index, *entry) for index, entry in enumerate(entries)])
            self._db.execute("COMMIT")

    def assign(self, batches: list[Batch]) -> None:
        """Save the numbers of ``batches`` before they are sent."""
        with self._lock:
            self._db.execute("BEGIN")
            for batch in batches:
                self._db.execute("UPDATE entry SET batch = ? WHERE id BETWEEN ? AND ?",
                                 (batch.number, batch.first_id, batch.last_id))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('batch', ?)", (str(batches[-1].number),))
            self._db.execute("COMMIT")

    def done(self, last_id: int) -> None:
        """Redis confirmed every entry up to ``last_id``."""
        with self._lock:
            self._db.execute("DELETE FROM entry WHERE id <= ?", (last_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class Spool:
    """Waiting entries and batches in flight, in order, with their count and size."""

    batch_size: int
    disk: DiskSpool | None = None
    waiting: deque[Entry] = field(default_factory=deque)
    inflight: list[Batch] = field(default_factory=list)
    #: The id of ``waiting[0]``; entries get consecutive ids as they arrive.
    first_id: int = 1
    #: Entries whose ids are below this are in the disk spool (all of them without one).
    saved_upto: int = 1 << 62
    unsaved: list[Entry] = field(default_factory=list)
    #: Batches numbered but whose numbers are not in the disk spool yet (they must be before the batch is sent).
    unassigned: list[Batch] = field(default_factory=list)
    numbers: int = 0
    size: int = 0

    def __post_init__(self) -> None:
        if self.disk is None:
            return
        self.inflight, self.first_id, waiting, self.numbers = self.disk.load()
        self.waiting.extend(waiting)
        self.saved_upto = self.first_id + len(waiting)
        self.size = sum(batch.size for batch in self.inflight) + sum(map(entry_size, waiting))

    @property
    def pending(self) -> int:
        return len(self.waiting) + sum(len(batch.entries) for batch in self.inflight)

    def add(self, entry: Entry) -> None:
        """Append ``entry`` (the hooks' path: per message, kept to a few operations)."""
        self.waiting.append(entry)
        self.size += len(entry[2]) + ENTRY_OVERHEAD
        if self.disk is not None:
            self.unsaved.append(entry)

    def take_unsaved(self) -> tuple[int, list[Entry]]:
        """The entries to save now and the id of the first; :meth:`saved` once they are in the file."""
        entries, self.unsaved = self.unsaved, []
        return self.saved_upto, entries

    def saved(self, count: int) -> None:
        self.saved_upto += count

    def take(self, limit: int) -> list[Batch]:
        """Number the next batches (up to ``limit`` in flight) from waiting entries already saved."""
        taken: list[Batch] = []
        waiting = self.waiting
        while len(self.inflight) < limit:
            count = min(self.batch_size, len(waiting), self.saved_upto - self.first_id)
            if count <= 0:
                break
            entries = [waiting.popleft() for _ in range(count)]
            self.numbers += 1
            batch = Batch(self.numbers, self.first_id, entries,
                          sum(map(len, map(itemgetter(2), entries))) + ENTRY_OVERHEAD * count)
            self.first_id += count
            self.inflight.append(batch)
            taken.append(batch)
        if self.disk is not None:
            self.unassigned += taken
        return taken

    def assign(self) -> None:
        """Save the numbers of the batches taken since the last call (blocking; before they are sent)."""
        if self.disk is not None and self.unassigned:
            self.disk.assign(self.unassigned)
            self.unassigned = []

    def renumber(self) -> None:
        """Number the batches in flight 1, 2, ... again (for a new writer id); saved again before they are sent."""
        for number, batch in enumerate(self.inflight, 1):
            batch.number = number
        self.numbers = len(self.inflight)
        if self.disk is not None:
            self.unassigned = list(self.inflight)

    def confirm(self, count: int) -> int:
        """The first ``count`` batches in flight are in Redis; returns how many entries they held."""
        done, self.inflight = self.inflight[:count], self.inflight[count:]
        self.size -= sum(batch.size for batch in done)
        return sum(len(batch.entries) for batch in done)
