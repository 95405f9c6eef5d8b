"""The Redis side of a worker: the blocking queries of one consumer group on its streams (each run in a worker
thread by :mod:`wsdat_redis.work`, which retries them while Redis is away)."""

from __future__ import annotations

from typing import Any, Final

import redis
from redis.cluster import RedisCluster

from .connect import RedisTarget, dead_key, send_key
from .options import WorkOptions
from .process import Raw
from .wire import Wire, first_error

__all__ = ["SEND_MAXLEN", "GroupQueries"]

#: Messages a worker sends are kept in ``STREAM:send`` up to about this many entries.
SEND_MAXLEN: Final = 100_000
_NOT_INPUTS: Final = (":send", ":dead")


def _fields(flat: list[Any] | None) -> dict[bytes, bytes] | None:
    if flat is None:
        return None
    values = iter(flat)
    return dict(zip(values, values, strict=True))


def _flat(fields: dict[Any, Any]) -> list[Any]:
    return [part for pair in fields.items() for part in pair]


class GroupQueries:
    """``options.group`` on the streams of ``target``, as consumer ``options.consumer``."""

    def __init__(self, target: RedisTarget, options: WorkOptions) -> None:
        self.target = target
        self.wire = Wire(target)
        self.options = options

    def create_group(self, stream: str) -> None:
        try:
            self.target.client().xgroup_create(stream, self.options.group, id=self.options.start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, stream: str) -> list[Raw]:
        options = self.options
        [answer] = self.wire.execute(stream, [("XREADGROUP", "GROUP", options.group, options.consumer, "COUNT",
                                               options.batch, "BLOCK", options.block, "STREAMS", stream, ">")])
        if isinstance(answer, BaseException):
            raise answer
        if not answer:
            return []
        # RESP3 (redis-py's default from 8.0) answers a map of stream -> entries, RESP2 a list of [stream, entries]
        entries = next(iter(answer.values())) if isinstance(answer, dict) else answer[0][1]
        return [(entry_id, _fields(flat)) for entry_id, flat in entries]

    def lost(self, stream: str, after: bytes | None) -> list[Raw]:
        """This consumer's pending entries newer than ``after`` (the last read it received), claimed again (a new
        delivery)."""
        options, client = self.options, self.target.client()
        start = b"(" + after if after is not None else "-"
        rows: Any = client.xpending_range(stream, options.group, min=start, max="+", count=options.batch,
                                          consumername=options.consumer)
        if not rows:
            return []
        answer: Any = client.xclaim(stream, options.group, options.consumer, 0,
                                    [row["message_id"] for row in rows])
        return [entry for entry in answer if entry[0] is not None]

    def claim(self, stream: str, cursor: str) -> tuple[str, list[Raw]]:
        options = self.options
        answer: Any = self.target.client().xautoclaim(stream, options.group, options.consumer, options.claimidle,
                                                      cursor, count=options.batch)
        next_cursor = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        return next_cursor, [entry for entry in answer[1] if entry[0] is not None]

    def deliveries(self, stream: str, ids: list[bytes]) -> dict[bytes, int]:
        pipe = self.target.client().pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(stream, self.options.group, entry_id, entry_id, 1)
        return {entry_id: int(rows[0]["times_delivered"]) if rows else 1
                for entry_id, rows in zip(ids, pipe.execute(), strict=True)}

    def settle(self, stream: str, acks: list[bytes], sends: list[dict[str, Any]], dead: list[dict[str, Any]]) -> None:
        group = self.options.group
        if not sends and not dead:
            commands: list[tuple[Any, ...]] = [("XACK", stream, group, *acks)]
        else:
            commands = [("MULTI",)]
            commands += [("XADD", send_key(stream), "MAXLEN", "~", SEND_MAXLEN, "*", *_flat(message))
                         for message in sends]
            commands += [("XADD", dead_key(stream), "*", *_flat(letter)) for letter in dead]
            if acks:
                commands.append(("XACK", stream, group, *acks))
            commands.append(("EXEC",))
        error = first_error(self.wire.execute(stream, commands))
        if error is not None:
            raise error

    def scan(self, pattern: str) -> list[str]:
        client = self.target.client()
        nodes = ([client.get_redis_connection(node) for node in client.get_primaries()]  # type: ignore[no-untyped-call]
                 if isinstance(client, RedisCluster) else [client])
        found: set[str] = set()
        for node in nodes:
            for key in node.scan_iter(match=pattern, count=1000, _type="STREAM"):
                name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                if not name.endswith(_NOT_INPUTS):
                    found.add(name)
        return sorted(found)
