"""The hot paths' way to Redis: commands packed once by hiredis and written on the connection of the node that owns a
key, replies read back raw.

redis-py's own pipeline encodes every argument in Python (about half a microsecond each), which is most of an
ingest batch's cost at 1,000 entries of four arguments; hiredis packs the same command in C. Replies come back as
hiredis parses them (an XREADGROUP answer stays nested lists, not a dict per entry). The connection comes from the
node client's pool, so TLS, AUTH and the database of the URL apply as for any redis-py call.

In a Redis Cluster, an ASK reply (the key's slot is being migrated) is followed at once: the commands it refused are
sent to the node it names, each after ``ASKING``. A MOVED reply or a lost connection marks the slot map stale: the
caller retries (its spool or read loop does) and the next call refreshes the map first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

from .connect import RedisTarget

__all__ = ["Command", "Wire", "first_error"]

Command = tuple[Any, ...]


def _write(connection: Any, commands: Sequence[Command]) -> None:
    # one buffer, one sendall: each chunk of a list would wait for the GIL again while the DAT cooks
    connection.send_packed_command([b"".join([hiredis.pack_command(command) for command in commands])])


def _read(connection: Any, count: int) -> list[Any]:
    """``count`` replies, an error reply as its exception (a lost connection raises)."""
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(connection.read_response())
        except redis.ResponseError as exc:
            replies.append(exc)
    return replies


def _send(client: redis.Redis, commands: Sequence[Command]) -> list[Any]:
    """The replies to ``commands`` in order, an error reply as its exception; a lost connection raises."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        _write(connection, commands)
        return _read(connection, len(commands))
    except BaseException:
        # replies may still be on their way: never hand this connection out again
        connection.disconnect()  # type: ignore[no-untyped-call]
        raise
    finally:
        pool.release(connection)


def first_error(replies: Sequence[Any]) -> BaseException | None:
    return next((reply for reply in replies if isinstance(reply, BaseException)), None)


class Wire:
    """Packed commands to the node of a key of ``target`` (blocking: run it in a worker thread)."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target

    def execute(self, key: str, commands: Sequence[Command]) -> list[Any]:
        target = self.target
        try:
            replies = _send(target.node_client(key), commands)
        except (redis.ConnectionError, redis.TimeoutError):
            target.stale = isinstance(target.client(), RedisCluster)
            raise
        asked = [index for index, reply in enumerate(replies) if type(reply) is AskError]
        if asked:
            node = target.redirected_client(replies[asked[0]])
            again = _send(node, [part for index in asked for part in (("ASKING",), commands[index])])
            for index, reply in zip(asked, again[1::2], strict=True):
                replies[index] = reply
        if any(isinstance(reply, MovedError) for reply in replies):
            target.stale = True
        return replies


class Pipe:
    """One connection to the node of ``key``, held for overlapped rounds: each :meth:`round` writes the next commands
    and then reads the answers of the previous round, so Redis always has the next round queued while the caller
    handles answers and packs more. Any failure closes it (the answers in flight are then unknown: the caller sends
    those commands again through a new pipe or :meth:`Wire.execute`)."""

    def __init__(self, target: RedisTarget, key: str) -> None:
        self.target = target
        self.key = key
        self._pool: Any = None
        self._connection: Any = None

    def round(self, commands: Sequence[Command], answers: int) -> list[Any]:
        """Write ``commands``, then read ``answers`` replies (of earlier rounds); blocking."""
        try:
            if self._connection is None:
                self._pool = self.target.node_client(self.key).connection_pool
                self._connection = self._pool.get_connection()
            if commands:
                _write(self._connection, commands)
            replies = _read(self._connection, answers)
            if any(isinstance(reply, MovedError) for reply in replies):
                self.target.stale = True
            return replies
        except BaseException as exc:
            if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
                self.target.stale = self.target.cluster is True
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
            self._pool.release(self._connection)
            self._connection = self._pool = None
