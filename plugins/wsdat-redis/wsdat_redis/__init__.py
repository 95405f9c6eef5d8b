"""wsdat-redis: every received message of a DAT to a Redis stream, for ``wsdat work`` (hook workers on other hosts).

Each message becomes one stream entry with the fields ``dat``, ``event`` (``text`` or ``binary``; ``connect`` and
``disconnect`` when asked for), ``row``, ``message`` (text) or ``data`` (binary bytes), ``t`` (UNIX time it was
cooked) and ``seq``: a number drawn from the counter ``STREAM:seq``, increasing in the order received and never
repeated for a stream, also across reconnects and restarts (a lost counter is restored from the stream's last entry).

Writing. The hooks only append to a spool; a background task of the DAT writes what waits in batches: each batch is
one call of a small Lua script that does the batch's XADDs (then one ``XTRIM MAXLEN ~``) and draws its ``seq`` block
inside Redis, and the calls of several batches go out pipelined in one round trip, packed by hiredis
(:mod:`wsdat_redis.wire`). A script call is atomic and carries the batch's number, which the script remembers per
writer (``STREAM:writer:ID``, deleted when the DAT stops, expiring after a week of silence): a batch retried after a
lost answer is recognised and not written twice, and a batch whose predecessor is missing is refused (retried later),
so the stream keeps the order received.

Redis Cluster: ``url`` may name any node; a cluster is detected (or forced with ``cluster``) and each stream is
written to the node owning its slot, following MOVED and ASK through failovers and reshardings (entries wait in the
spool meanwhile). The default stream name carries the DAT's name as a hash tag (``wsdat:{feed}``) so the stream's
keys share a slot.

Nothing is lost while Redis is away or slow: entries wait in the spool (``spool`` entries, ``spoolbytes`` bytes) and
are written in order once it is back, with the DAT's reconnect backoff between attempts. When the spool is full the
DAT stops reading from the WebSocket (an async ``onCook`` waits for room: backpressure to the server, as TCP does),
never dropping. With ``spooldir`` the spool is also a SQLite file, saved before each cook completes, so a killed
process loses nothing it cooked (:mod:`wsdat_redis.spool`). Monitor lines say when Redis went away, when it came
back and how many entries waited. Entries still spooled when the DAT stops are written within ``onExit``'s bound
(about 4 s); those left stay in the spool file, or are reported as not written.

Answers from workers: what ``wsdat work``'s hooks send arrives in ``STREAM:send``; this plugin reads it (consumer group
``wsdat-ingest``, so several ingest DATs of one stream share it and a restart resumes where it was) and sends each
message through the DAT (``await dat.send_text`` / ``send_binary``), acknowledging it once written to the socket.

Settings (``dat.pluginSettings("redis")``: a service file's ``[dat.NAME.plugins.redis]``, the CLI's
``--set redis.KEY=VALUE``, or ``WSDAT_REDIS_<KEY>`` environment variables as defaults):

``url``        ``redis://127.0.0.1:6379/0`` (also ``rediss://``, ``unix://``); any node of a Redis Cluster
``cluster``    ``auto``: detected from the server; ``true`` / ``false`` force it
``stream``     ``wsdat:{dat}`` (``{dat}``: the DAT's name as a hash tag, ``wsdat:{feed}``)
``maxlen``     1,000,000: the stream is trimmed to about this many entries (``MAXLEN ~``); 0 keeps everything
``events``     ``text,binary`` (add ``connect``, ``disconnect``)
``spool``      100,000: entries held while Redis is away or slow, before the DAT stops reading
``spoolbytes`` 67,108,864 (64 MiB): the same bound in bytes (payloads plus about 100 bytes an entry)
``spooldir``   unset: memory only; a directory: the spool is also kept there (one SQLite file per DAT and stream)
``batch``      1,000: entries per script call
``answers``    true: send what workers put in ``STREAM:send``
"""

from __future__ import annotations

from typing import Any

import trio

from wsdat_core import hookimpl

from .answers import run_answers
from .channel import EXIT_FLUSH_SECONDS, Channel
from .script import SCRIPT

__all__ = ["SCRIPT", "Channel", "RedisSink", "default_sink"]

#: The name tests and older code know the channel by.
_Channel = Channel


class RedisSink:
    """The callbacks plugin: one :class:`Channel` per DAT it serves."""

    def __init__(self) -> None:
        self._channels: dict[int, Channel] = {}

    def channel(self, dat: Any) -> Channel | None:
        return self._channels.get(id(dat))

    def stats(self, dat: Any) -> dict[str, Any]:
        """``written``, ``pending`` (spooled or in flight), ``pending_bytes``, ``last_seq``, ``stream``, ``away``,
        ``cluster`` (None until decided): ``dat``'s stream."""
        channel = self._channels.get(id(dat))
        if channel is None:
            return {}
        return {"stream": channel.stream, "written": channel.written, "pending": channel.pending,
                "pending_bytes": channel.spool.size, "last_seq": channel.last_seq,
                "away": channel.down_since is not None, "cluster": channel.target.cluster}

    # -- hooks --------------------------------------------------------------------------------------------------------
    def onStart(self, dat: Any) -> None:
        channel = Channel(dat, dat.pluginSettings("redis"))
        self._channels[id(dat)] = channel
        dat.start_soon(channel.run_writer, name=f"{dat.name}: redis writer")
        if channel.answers:
            dat.start_soon(run_answers, dat, channel.target.url, channel.target.cluster, channel.stream,
                           name=f"{dat.name}: redis answers")

    async def onExit(self, dat: Any) -> None:
        channel = self._channels.pop(id(dat), None)
        if channel is None:
            return
        try:
            await channel.flush(EXIT_FLUSH_SECONDS)
        finally:
            channel.closed = True
            channel.room.set()
            await trio.to_thread.run_sync(channel.close)

    def onReceiveText(self, dat: Any, rowIndex: int, message: str) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and channel.text:
            channel.add(("text", rowIndex, message, channel.stamp or channel.restamp()))

    @hookimpl  # by name: wsdat's rowIndex of a binary row (TD's own call has no such argument)
    def onReceiveBinary(self, dat: Any, contents: bytes, rowIndex: int) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and channel.binary:
            channel.add(("binary", rowIndex, bytes(contents), channel.stamp or channel.restamp()))

    def onConnect(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "connect" in channel.events:
            channel.add_now("connect", 0, dat.par.endpoint.url)

    def onDisconnect(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None and "disconnect" in channel.events:
            channel.add_now("disconnect", 0, "")

    async def onCook(self, dat: Any) -> None:
        channel = self._channels.get(id(dat))
        if channel is not None:
            await channel.end_of_cook()


#: The instance the ``redis`` entry point names; each DAT it serves reads its own settings in ``onStart``.
default_sink = RedisSink()
