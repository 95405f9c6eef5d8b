"""Reaching Redis: one server or a Redis Cluster, from the URL of any node, with secrets kept out of every line.

:class:`RedisTarget` opens its client on first use (so a DAT or a worker can start while Redis is away) and decides
then whether the server is a cluster (``INFO cluster``), unless told (``cluster`` setting, ``--cluster`` flag). A
cluster gets redis-py's :class:`~redis.cluster.RedisCluster`, which follows the slot map; the hot paths go through
:mod:`wsdat_redis.wire`, which asks the target for the node owning a key.

The keys of one stream (``STREAM``, ``STREAM:seq``, ``STREAM:send``, ``STREAM:dead``, ``STREAM:writer:ID``) are used
together in scripts and transactions, so in a cluster they must share a slot: the default stream name carries the DAT's
name as a hash tag (``wsdat:{feed}``), and :func:`check_stream_slot` refuses a name whose keys would spread.
"""

from __future__ import annotations

import threading
from typing import Any, Final
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    AuthenticationError,
    ClusterDownError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry

from wsdat_core import WsdatError
from wsdat_core.model.secrets import mask_text, mask_url

__all__ = [
    "CALL_TIMEOUT",
    "CONNECT_TIMEOUT",
    "DEFAULT_STREAM",
    "DEFAULT_URL",
    "RedisTarget",
    "RedisUnavailable",
    "check_stream_slot",
    "cluster_setting",
    "dead_key",
    "describe_redis_error",
    "is_transient",
    "send_key",
    "seq_key",
    "stream_name",
]

DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
#: ``{dat}`` stands for the DAT's name as a hash tag: ``wsdat:{feed}``.
DEFAULT_STREAM: Final = "wsdat:{dat}"
#: How long one Redis call may take before it counts as a failure (seconds).
CALL_TIMEOUT: Final = 10.0
CONNECT_TIMEOUT: Final = 2.0
_SCHEMES: Final = ("redis", "rediss", "unix")
#: Error replies that say "not now" (a failover, a resharding, a restart): retried like a lost connection.
_TRANSIENT_REPLIES: Final = ("UNBLOCKED", "LOADING", "MASTERDOWN", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MOVED",
                             "ASK", "NOREPLICAS")


# ------------------------------------------------------------------------------------------------- stream conventions
def stream_name(template: str, dat_name: str) -> str:
    """The stream a DAT writes: ``template`` with ``{dat}`` replaced by the DAT's name as a Redis Cluster hash tag
    (``wsdat:{dat}`` -> ``wsdat:{feed}``), so the stream's keys share a slot and different DATs' streams spread over
    the shards. A template without ``{dat}`` is the stream's name as written."""
    return template.replace("{dat}", "{" + dat_name + "}")


def seq_key(stream: str) -> str:
    return f"{stream}:seq"


def send_key(stream: str) -> str:
    return f"{stream}:send"


def dead_key(stream: str) -> str:
    return f"{stream}:dead"


def check_stream_slot(stream: str, what: str = "stream") -> None:
    """Raise :class:`RedisUnavailable` when the keys of ``stream`` would not share a Redis Cluster slot."""
    if key_slot(stream.encode()) != key_slot(seq_key(stream).encode()):
        raise RedisUnavailable(f"{what}: {stream!r} has no hash tag, so its keys ({seq_key(stream)}, "
                               f"{send_key(stream)}, ...) fall on different slots of the Redis Cluster; name it with "
                               f"one, e.g. 'wsdat:{{{stream}}}'")


class RedisUnavailable(WsdatError):
    """Redis cannot be used (a bad URL, a refused login, a key of the wrong type); the message says why in one line,
    with any password masked."""


def describe_redis_error(exc: BaseException) -> str:
    """One line for a Redis failure (no traceback, passwords masked)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | RedisClusterException | AskError | TryAgainError
                  | ClusterDownError):
        text = f"{type(exc).__name__}: {text}"
    return mask_text(text)


def is_transient(exc: BaseException) -> bool:
    """True for a failure that waiting mends: a lost or refused connection, a timeout, a cluster in a failover or a
    resharding (MOVED/ASK/TRYAGAIN/CLUSTERDOWN, a blocked read ended by a moved key). A refused login is not."""
    if isinstance(exc, AuthenticationError):
        return False
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | ClusterDownError | TryAgainError | AskError):
        return True
    if isinstance(exc, RedisClusterException):  # no node reachable, or a slot not covered for now
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).split(" ", 1)[0].upper() in _TRANSIENT_REPLIES


def cluster_setting(value: Any, what: str = "redis: cluster") -> bool | None:
    """``auto`` (None: detect) / true / false from a setting's value."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "auto", "detect"):
        return None
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{what}: {value!r} is not allowed; expected auto, true or false")


Client = redis.Redis | RedisCluster


class RedisTarget:
    """The Redis a plugin or a worker talks to. ``client()`` (blocking: call it from a worker thread) connects on
    first use and raises what connecting raised; ``cluster`` is None until decided."""

    def __init__(self, url: str, *, cluster: bool | None = None, timeout: float = CALL_TIMEOUT) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in _SCHEMES:
            raise RedisUnavailable(f"{mask_url(url)!r} is not a Redis URL; expected redis://HOST:PORT/DB (or "
                                   "rediss://, unix://)")
        try:
            redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise RedisUnavailable(f"{mask_url(url)!r} is not a usable Redis URL: {mask_text(str(exc))}") from None
        if cluster and scheme == "unix":
            raise RedisUnavailable(f"{mask_url(url)!r}: a Redis Cluster is reached over TCP (redis://, rediss://)")
        self.url = url
        self.shown = mask_url(url)
        self.cluster = cluster
        self.timeout = timeout
        self._client: Client | None = None
        self._lock = threading.Lock()
        #: The cluster's slot map needs a refresh before the next call (a node went away).
        self.stale = False

    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                if self.cluster is None:
                    self.cluster = self._detect()
                self._client = self._open_cluster() if self.cluster else self._open_single()
            return self._client

    def _options(self) -> dict[str, Any]:
        return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": self.timeout}

    def _open_single(self) -> redis.Redis:
        # no retries inside redis-py: the caller's backoff (and spool) decide
        return redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), health_check_interval=0, **self._options())

    def _open_cluster(self) -> RedisCluster:
        # a few quick retries inside redis-py ride out a MOVED during a failover; the caller's backoff does the rest
        return RedisCluster.from_url(self.url, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                                     **self._options())

    def _detect(self) -> bool:
        probe = redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), **self._options())
        try:
            info: Any = probe.info("cluster")
            return bool(int(info.get("cluster_enabled", 0)))
        finally:
            probe.close()

    def node_client(self, key: str) -> redis.Redis:
        """The client of the node that owns ``key`` (the only client for one Redis)."""
        client = self.client()
        if not isinstance(client, RedisCluster):
            return client
        if self.stale:
            client.nodes_manager.initialize()
            self.stale = False
        return client.get_redis_connection(client.get_node_from_key(key))  # type: ignore[no-untyped-call]

    def redirected_client(self, exc: AskError) -> redis.Redis:
        """The client of the node an ASK or MOVED reply names."""
        client = self.client()
        assert isinstance(client, RedisCluster)
        node = client.get_node(host=exc.host, port=exc.port)  # type: ignore[no-untyped-call]
        if node is None:
            client.nodes_manager.initialize()
            node = client.get_node(host=exc.host, port=exc.port)  # type: ignore[no-untyped-call]
        if node is None:
            raise redis.ConnectionError(f"the cluster does not know node {exc.node_addr}")
        return client.get_redis_connection(node)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
