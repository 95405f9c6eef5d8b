"""A real Redis Cluster on loopback for the tests: three masters with a replica each, from the machine's
``redis-server``, on free ports, files in a temporary directory; started in about two seconds, stopped with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

NODES = 6


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports free together with their cluster bus port (+10000)."""
    found: list[int] = []
    while len(found) < count:
        port = random.randrange(20000, 55000)
        if port not in found and _free(port) and _free(port + 10000):
            found.append(port)
    return found


def require_redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        reason = "redis-server and redis-cli are needed for the Redis Cluster tests"
        if os.environ.get("CI") == "true" or os.environ.get("WSDAT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CI / WSDAT_REQUIRE_SERVICES=1 require them")
        pytest.skip(reason)
    return binary


@dataclass
class Cluster:
    directory: Path
    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def start(self) -> None:
        binary = require_redis_server()
        for port in self.ports:
            home = self.directory / str(port)
            home.mkdir(parents=True)
            self.processes.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--save", "",
                 "--appendonly", "no", "--dir", str(home), "--logfile", "redis.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            self._wait(lambda p=port: self.node(p).ping(), f"node {port} up")
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=30)
        for port in self.ports:
            self._wait(lambda p=port: self.node(p).cluster("info")["cluster_state"] == "ok", f"node {port} ok")
        self._wait(self._replicated, "every master's replica in sync")

    def _replicated(self) -> bool:
        """Three masters, each with a replica online (a manual failover needs it in sync)."""
        roles = [self.node(port).info("replication") for port in self.ports]
        masters = [role for role in roles if role["role"] == "master"]
        return len(masters) == NODES // 2 and all(
            role.get("slave0", {}).get("state") == "online" for role in masters) and all(
            role.get("master_link_status") == "up" for role in roles if role["role"] == "slave")

    def _wait(self, check: object, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, KeyError):
                if check():  # type: ignore[operator]
                    return
            time.sleep(0.05)
        raise RuntimeError(f"Redis Cluster: timed out waiting for {what}")

    def _nodes(self) -> list[dict[str, str]]:
        answer = self.node(self.ports[0]).cluster("nodes")
        return [{"id": node["node_id"], "port": address.rsplit(":", 1)[1], "flags": node["flags"],
                 "master": node["master_id"], "slots": " ".join("-".join(map(str, pair)) for pair in node["slots"])}
                for address, node in answer.items()]

    def _own_slots(self, port: int) -> list[tuple[int, int]]:
        """The slots the node on ``port`` says it serves itself (empty for a replica)."""
        for node in self.node(port).cluster("nodes").values():
            if "myself" in node["flags"]:
                if "master" not in node["flags"]:
                    return []
                return [(int(pair[0]), int(pair[-1])) for pair in node["slots"]]
        return []

    def master_of(self, key: str) -> int:
        """The port of the master owning ``key``'s slot, as that master says (gossip may lag elsewhere)."""
        slot = key_slot(key.encode())
        for port in self.ports:
            if any(low <= slot <= high for low, high in self._own_slots(port)):
                return port
        raise RuntimeError(f"no master owns slot {slot}")

    def node_id(self, port: int) -> str:
        return next(row["id"] for row in self._nodes() if int(row["port"]) == port)

    def replica_of(self, port: int) -> int:
        """The port of a replica of the master on ``port`` (as the master itself sees it)."""
        return int(self.node(port).info("replication")["slave0"]["port"])

    def failover(self, replica: int) -> None:
        """``CLUSTER FAILOVER`` on ``replica``: it becomes the master, with nothing lost."""
        old = int(self.node(replica).info("replication")["master_port"])
        self.node(replica).execute_command("CLUSTER FAILOVER")
        self._wait(lambda: bool(self._own_slots(replica)) and not self._own_slots(old), f"{replica} promoted")

    def move_slot(self, key: str, target: int) -> None:
        """Reshard ``key``'s slot to the master on ``target``: IMPORTING/MIGRATING, MIGRATE of its keys, then
        SETSLOT NODE on every master."""
        slot = key_slot(key.encode())
        source = self.master_of(key)
        source_node, target_node = self.node(source), self.node(target)
        target_id, source_id = self.node_id(target), self.node_id(source)
        target_node.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        source_node.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        while keys := source_node.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            source_node.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        for port in [port for port in self.ports if self.node(port).info("replication")["role"] == "master"]:
            self.node(port).execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        for process in self.processes:
            process.wait(5)


@contextlib.contextmanager
def running_cluster(directory: Path) -> Iterator[Cluster]:
    cluster = Cluster(directory, _ports(NODES))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
