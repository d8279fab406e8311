"""A real Redis Cluster of three masters on loopback, for the import tests (not a test module).

`redis_cluster()` starts three `redis-server --cluster-enabled yes` on free ports (each with
its cluster bus port, 10000 higher, free too), each in its own temporary dir (its nodes.conf there), joins them with `redis-cli --cluster create
--cluster-yes` (which splits the 16384 slots in three ranges), waits until every node says
`cluster_state:ok` and knows all three, and always stops every process by its own handle
(`RedisProcess.stop`, never by name). It skips when redis-server or redis-cli is missing.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator

import attrs
import pytest
from redis_processes import RedisProcess, start_redis, wait_until

MASTERS = 3


@attrs.frozen
class RedisCluster:
    nodes: list[RedisProcess]
    slot_owner: list[int]  # slot -> the port of the master serving it
    password: str | None = None

    def node_for_slot(self, slot: int) -> RedisProcess:
        return next(node for node in self.nodes if node.port == self.slot_owner[slot])


def redis_cli() -> str:
    path = shutil.which("redis-cli")
    if path is None:
        pytest.skip("redis-cli is not on PATH")
    return path


@contextlib.contextmanager
def redis_cluster(password: str | None = None) -> Iterator[RedisCluster]:
    """The cluster; with `password`, every node requires it (`requirepass`, `masterauth`)."""
    cli = redis_cli()
    locked = ["--requirepass", password, "--masterauth", password] if password else []
    auth = ["-a", password, "--no-auth-warning"] if password else []
    nodes: list[RedisProcess] = []
    try:
        for _ in range(MASTERS):
            nodes.append(start_redis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", *locked,
                                     port=_free_port_with_bus()))
        created = subprocess.run(
            [cli, *auth, "--cluster", "create", *[f"127.0.0.1:{node.port}" for node in nodes], "--cluster-yes"],
            check=False, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stdout + created.stderr
        for node in nodes:
            wait_until(lambda node=node: _settled(node, password), what=f"redis node {node.port} to see the cluster ok")
        yield RedisCluster(nodes, _slot_owners(nodes[0], password), password)
    finally:
        for node in nodes:
            node.stop()
            shutil.rmtree(node.directory, ignore_errors=True)


def _free_port_with_bus() -> int:
    """A free port P whose bus port P + 10000 is free too (Redis refuses P > 55535)."""
    for _ in range(200):
        port = random.randrange(20000, 55535)
        try:
            with socket.socket() as data, socket.socket() as bus:
                data.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise AssertionError("no free port pair for a cluster node")


def _settled(node: RedisProcess, password: str | None) -> bool:
    info = node.client(password=password).execute_command("CLUSTER", "INFO").decode()
    return "cluster_state:ok" in info and f"cluster_known_nodes:{MASTERS}" in info


def _slot_owners(node: RedisProcess, password: str | None) -> list[int]:
    owners = [0] * 16384
    for first, last, master, *_replicas in node.client(password=password).execute_command("CLUSTER", "SLOTS"):
        for slot in range(first, last + 1):
            owners[slot] = int(master[1])
    assert all(owners), "every slot has a master"
    return owners
