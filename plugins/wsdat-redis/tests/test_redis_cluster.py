"""wsdat-redis and wsdat work against a real Redis Cluster on loopback (tests/cluster_harness.py): three DATs ingest
into streams on three different shards, a worker group reads them all through a pattern, a master fails over to its
replica and one stream's slot is resharded while messages arrive; every message is processed at least once, none is
missing, and each stream keeps the order received."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trio
from cluster_harness import Cluster, running_cluster
from redis.cluster import RedisCluster
from wsdat_redis import RedisSink
from wsdat_redis.connect import stream_name
from wsdat_redis.work import WorkerDAT, WorkOptions, run_worker

from wsdat_core import WebSocketDAT
from wsdat_core.faces.testing import ScriptedServer, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(Path(tmp_path_factory.mktemp("redis-cluster"))) as running:
        yield running


def names_on_three_shards(cluster: Cluster) -> list[str]:
    chosen: dict[int, str] = {}
    for index in range(100):
        name = f"feed{index}"
        chosen.setdefault(cluster.master_of(stream_name("wsdat:{dat}", name)), name)
        if len(chosen) == 3:
            return list(chosen.values())
    raise AssertionError("no three names on three shards")


class Seen:
    """A worker's hooks: what it processed, per stream."""

    def __init__(self, seen: dict[str, list[str]]) -> None:
        self.seen = seen

    def onReceiveText(self, dat: WorkerDAT, message: str) -> None:
        assert dat.entry is not None
        self.seen.setdefault(dat.entry.stream, []).append(message)


async def test_three_shards_failover_and_resharding_lose_nothing(cluster: Cluster, nursery: trio.Nursery) -> None:
    names = names_on_three_shards(cluster)
    streams = [stream_name("wsdat:{dat}", name) for name in names]
    servers, sinks, dats = [], [], []
    for name in names:
        server = ScriptedServer()
        await nursery.start(server.run)
        sink = RedisSink()
        dat = WebSocketDAT(name, netaddress=server.url, callbacks=[sink], reconnectdelay=0.05,
                           reconnectmaxdelay=0.2, settings={"redis": {"url": cluster.url}})
        await nursery.start(dat.run)
        servers.append(server), sinks.append(sink), dats.append(dat)
    sent: dict[str, list[str]] = {stream: [] for stream in streams}

    async def send(round_: int, count: int) -> None:
        async with trio.open_nursery() as senders:
            for server, stream, name in zip(servers, streams, names, strict=True):
                messages = [f"{name}-{round_}-{i}" for i in range(count)]
                sent[stream] += messages
                senders.start_soon(functools.partial(server.send_text, *messages))

    def written() -> bool:
        return all(sink.stats(dat)["written"] == len(sent[stream])
                   for sink, dat, stream in zip(sinks, dats, streams, strict=True))

    await send(0, 200)
    await wait_until(written, what="the first round written")
    assert all(sink.stats(dat)["cluster"] is True for sink, dat in zip(sinks, dats, strict=True))

    seen: dict[str, list[str]] = {}
    stop = trio.Event()
    for consumer in ("w1", "w2"):  # one group, two workers, every stream through the pattern
        worker = WorkerDAT(consumer, callbacks=[Seen(seen)])
        await nursery.start(worker.run_offline)
        nursery.start_soon(run_worker, worker, WorkOptions(url=cluster.url, stream="wsdat:*", group="g",
                                                           consumer=consumer, block=100, claimidle=1000), stop)

    # a master fails over to its replica while messages arrive
    failing = cluster.master_of(streams[0])
    async with trio.open_nursery() as during:
        during.start_soon(send, 1, 300)
        await trio.to_thread.run_sync(cluster.failover, cluster.replica_of(failing))
    assert cluster.master_of(streams[0]) != failing

    # one stream's slot moves to another master while messages arrive
    source = cluster.master_of(streams[1])
    target = cluster.master_of(streams[2])
    async with trio.open_nursery() as during:
        during.start_soon(send, 2, 300)
        await trio.to_thread.run_sync(cluster.move_slot, streams[1], target)
    assert cluster.master_of(streams[1]) == target != source

    await send(3, 100)
    await wait_until(written, timeout=20, what="every message written")
    await wait_until(lambda: all(set(seen.get(stream, ())) == set(sent[stream]) for stream in streams), timeout=20,
                     what="every message processed")
    client = RedisCluster.from_url(cluster.url)
    await wait_until(lambda: all(client.xpending(stream, "g")["pending"] == 0 for stream in streams),
                     what="every entry acknowledged")
    stop.set()

    try:
        for stream in streams:
            found = client.xrange(stream)
            assert [fields[b"message"].decode() for _, fields in found] == sent[stream], f"{stream} not in order"
            seqs = [int(fields[b"seq"]) for _, fields in found]
            assert seqs == list(range(1, len(seqs) + 1)), f"{stream}: seq repeated or skipped"
    finally:
        client.close()


def test_cluster_refuses_a_stream_name_without_hash_tag(cluster: Cluster) -> None:
    from wsdat_redis import _Channel

    dat = WebSocketDAT("plain", active=False)
    with pytest.raises(Exception, match=r"'events' has no hash tag"):
        _Channel(dat, {"url": cluster.url, "cluster": "true", "stream": "events"})
    with pytest.raises(ValueError, match=r"redis: cluster: 'maybe' is not allowed; expected auto, true or false"):
        _Channel(dat, {"url": cluster.url, "cluster": "maybe"})
    assert redis.Redis(port=cluster.ports[0]).info("cluster")["cluster_enabled"] == 1
