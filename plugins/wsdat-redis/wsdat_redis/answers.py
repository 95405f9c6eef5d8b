"""Answers from workers: what ``wsdat work``'s hooks sent (``STREAM:send``) goes out through the ingest DAT.

The ingest side reads ``STREAM:send`` in the consumer group ``wsdat-ingest`` (several ingest DATs of one stream share
it; a restart resumes where it was, first taking back what this DAT read and did not acknowledge), sends each message
through the DAT once it is connected, and acknowledges it once written to the socket.
"""

from __future__ import annotations

from typing import Any, Final

import redis
import trio

from wsdat_core import ConnectError, ConnectionClosedError
from wsdat_core.model.backoff import Backoff

from .connect import RedisTarget, send_key

__all__ = ["SEND_GROUP", "run_answers"]

SEND_GROUP: Final = "wsdat-ingest"
#: Blocking reads wait up to a second, so the socket may take this long.
_READ_TIMEOUT: Final = 30.0


async def run_answers(dat: Any, url: str, cluster: bool | None, stream: str) -> None:
    """Send what workers put in ``send_key(stream)`` through ``dat``, until cancelled."""
    target = RedisTarget(url, cluster=cluster, timeout=_READ_TIMEOUT)
    limiter = trio.CapacityLimiter(1)
    key, name = send_key(stream), dat.name
    backoff = Backoff(first=0.2, cap=5.0)

    def create() -> None:
        try:
            target.client().xgroup_create(key, SEND_GROUP, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        answer: Any = target.client().xreadgroup(SEND_GROUP, name, {key: start}, count=100,
                                                 block=1000 if start == ">" else None)
        return list(answer[0][1]) if answer else []

    def acknowledge(ids: list[bytes]) -> None:
        target.client().xack(key, SEND_GROUP, *ids)

    try:
        start = "0"  # what this DAT took before and did not acknowledge (it stopped), first
        created = False
        while True:
            try:
                if not created:
                    await trio.to_thread.run_sync(create, limiter=limiter)
                    created = True
                entries = await trio.to_thread.run_sync(read, start, limiter=limiter, abandon_on_cancel=True)
            except (redis.RedisError, redis.exceptions.RedisClusterException):
                await trio.sleep(backoff.next_delay())  # the writer reports Redis going away
                continue
            backoff.reset()
            if start != ">" and not entries:
                start = ">"
                continue
            done = []
            for entry_id, fields in entries:
                if fields:
                    await _send(dat, fields)
                done.append(entry_id)
                if start != ">":
                    start = entry_id.decode()
            while done:
                try:
                    await trio.to_thread.run_sync(acknowledge, done, limiter=limiter)
                    break
                except (redis.RedisError, redis.exceptions.RedisClusterException):
                    await trio.sleep(backoff.next_delay())
    finally:
        target.close()


async def _send(dat: Any, fields: dict[bytes, bytes]) -> None:
    binary = fields.get(b"event") == b"binary"
    payload: str | bytes = fields.get(b"data", b"") if binary else fields.get(b"message", b"").decode(
        "utf-8", "replace")
    while True:
        try:
            await dat.wait_connected()
            if isinstance(payload, bytes):
                await dat.send_binary(payload, written=True)
            else:
                await dat.send_text(payload, written=True)
            return
        except ConnectionClosedError:
            continue  # not sent: again on the next connection
        except ConnectError:
            await trio.sleep(0.5)  # the DAT waits for a parameter change before connecting again
