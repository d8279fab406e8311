"""Cluster mode on every core: `redis-benchmark --cluster` against kevy with 1 and 2 shard
processes, beside a Redis 7.0 cluster node, in one run (issue 10 item 3).

Rows, each `redis-benchmark [--cluster] -t TEST -n N -r 100000 -c 50` (`--csv`) against a
fresh server in a fresh temp dir, `appendfsync everysec` on both sides (Redis:
`--appendonly yes --aof-use-rdb-preamble no`):
- `kevy --cluster --shards 1` and `--shards 2`, the benchmark on the shard ports, in cluster
  mode for 2 (it reads CLUSTER NODES and sends each key to its shard's process); for one
  node redis-benchmark refuses `--cluster` ("Invalid cluster: 1 node(s)"), and since that
  node owns every slot the plain benchmark on its port is the same traffic;
- `kevy --cluster --shards 2`, the benchmark in plain mode on the main port: what the relay
  for non-cluster clients costs (`cluster_proxy.py`: one more process hop per request);
- `kevy --shards 2` without cluster mode (one process), the plain benchmark: the baseline
  of the relay row;
- `redis-server --cluster-enabled yes` owning all 16384 slots (a one-node cluster: the plain
  benchmark on its port, as for kevy's one shard process).

Server CPU per request: the sum of utime + stime (`/proc/<pid>/stat`) over every process of
the server -- the supervisor and each shard process for kevy -- during the run, divided by
the requests (redis-benchmark's own CPU is not counted in it: it has a column of its own, as
has the supervisor's share, and "cores busy" is server plus client CPU over the wall time --
with both cores taken, a second shard process cannot add throughput). Gain per added core: the 2-process
req/s over the 1-process req/s. The machine has 2 cores shared with other work: with 2 shard
processes and redis-benchmark itself competing for them, the gain is bounded well below 2x.

    python bench/bench_cluster.py [--requests 200000] [--tests set,get] [--clients 50] [--no-redis]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

import attrs
from bench_common import (
    machine_summary,
    print_table,
    ratio,
    run_redis_benchmark,
)
from redis_reference import RedisConnection, free_loopback_port

KEYSPACE_SIZE = 100_000
REDIS_SERVER = shutil.which("redis-server") or "redis-server"


@attrs.frozen
class Target:
    """A running server: where redis-benchmark connects, in which mode, whose CPU counts."""

    port: int
    pids: tuple[int, ...]
    cluster: bool


@attrs.frozen
class Measurement:
    requests: int
    requests_per_second: float
    server_cpu_seconds: float
    first_process_cpu_seconds: float  # kevy: the supervisor (the main port's relay); Redis: itself
    client_cpu_seconds: float  # redis-benchmark's own
    wall_seconds: float

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6

    @property
    def first_process_microseconds_per_request(self) -> float:
        return self.first_process_cpu_seconds / self.requests * 1e6

    @property
    def client_microseconds_per_request(self) -> float:
        return self.client_cpu_seconds / self.requests * 1e6

    @property
    def cores_busy(self) -> float:
        """Server and client CPU over the wall time: how much of the 2 cores this run had."""
        return (self.server_cpu_seconds + self.client_cpu_seconds) / self.wall_seconds


def _free_port_run(count: int) -> int:
    for _ in range(100):
        base = free_loopback_port()
        if base + count >= 65535:
            continue
        probes = []
        try:
            for port in range(base, base + count):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no run of free ports")


def _wait_for_ping(port: int, timeout_seconds: float = 120) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            connection = RedisConnection(port)
            reply = connection.command(b"PING")
            connection.close()
            if reply == b"+PONG":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on port {port}")
        time.sleep(0.05)


def _process_id(port: int) -> int:
    connection = RedisConnection(port)
    info = connection.command(b"INFO", b"server")
    connection.close()
    return int(re.search(rb"process_id:(\d+)", info).group(1))


@contextlib.contextmanager
def running_kevy(shard_count: int, cluster: bool, on_main_port: bool = False) -> Iterator[Target]:
    directory = tempfile.mkdtemp(prefix="kevy-bench-cluster-")
    base = _free_port_run(shard_count + 1)
    arguments = [sys.executable, "-m", "kevy_server", "--port", str(base), "--dir", os.path.join(directory, "data"),
                 "--shards", str(shard_count), "--maxclients", "1000", "--appendfsync", "everysec"]
    if cluster:
        arguments.append("--cluster")
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_ping(base)
        pids = [process.pid]
        if cluster:
            pids += [_process_id(base + 1 + index) for index in range(shard_count)]
        port = base + 1 if cluster and not on_main_port else base
        # redis-benchmark refuses `--cluster` with one node ("Invalid cluster: 1 node(s)"): one
        # shard process owns every slot, so the plain benchmark on its port is the same traffic.
        yield Target(port, tuple(pids), cluster and not on_main_port and shard_count > 1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def running_redis_cluster_node() -> Iterator[Target]:
    directory = tempfile.mkdtemp(prefix="kevy-bench-redis-cluster-")
    port = free_loopback_port()
    while port + 10000 > 65535:  # Redis Cluster's bus port (port + 10000) must exist
        port = free_loopback_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
         "--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no",
         "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(directory, "nodes.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_ping(port)
        connection = RedisConnection(port)
        assert connection.command(b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383") == b"+OK"
        deadline = time.monotonic() + 30
        while b"cluster_state:ok" not in connection.command(b"CLUSTER", b"INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis cluster node never reached cluster_state:ok")
            time.sleep(0.05)
        connection.close()
        yield Target(port, (process.pid,), False)  # one node owns every slot (see running_kevy)
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def benchmark(target: Target, test: str, requests: int, clients: int) -> Measurement:
    arguments = ["-h", "127.0.0.1", "-p", str(target.port), "-t", test, "-n", str(requests),
                 "-c", str(clients), "-r", str(KEYSPACE_SIZE)]
    if target.cluster:
        arguments.insert(0, "--cluster")
    run = run_redis_benchmark(arguments, requests, target.pids)
    return Measurement(requests, run.requests_per_second, run.server_cpu_seconds, run.process_cpu_seconds[0],
                       run.client_cpu_seconds, run.wall_seconds)


def measure_all(servers: Sequence[tuple[str, contextlib.AbstractContextManager]], tests: list[str], requests: int,
                clients: int) -> dict[tuple[str, str], Measurement]:
    results = {}
    for name, server in servers:
        with server as target:
            for test in tests:
                results[name, test] = benchmark(target, test, requests, clients)
    return results


ONE, TWO, RELAY, PLAIN, REDIS = ("kevy cluster, 1 shard process", "kevy cluster, 2 shard processes",
                                 "kevy cluster main port (relay), 2 shards", "kevy, 2 shards, no cluster (1 process)",
                                 "redis-server cluster node")


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--tests", default="set,get")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated row names to run (substrings), for a quick look")
    arguments = parser.parse_args(argv)
    tests = arguments.tests.split(",")
    servers: list[tuple[str, contextlib.AbstractContextManager]] = [
        (ONE, running_kevy(1, cluster=True)), (TWO, running_kevy(2, cluster=True)),
        (RELAY, running_kevy(2, cluster=True, on_main_port=True)), (PLAIN, running_kevy(2, cluster=False)),
    ]
    if not arguments.no_redis:
        servers.append((REDIS, running_redis_cluster_node()))
    if arguments.only:
        servers = [(name, server) for name, server in servers
                   if any(part in name for part in arguments.only.split(","))]
    print(f"# cluster mode: redis-benchmark -n {arguments.requests} -r {KEYSPACE_SIZE} -c {arguments.clients}, "
          "server CPU summed over every server process")
    print(f"# {machine_summary()}")
    results = measure_all(servers, tests, arguments.requests, arguments.clients)
    rows: list[list[object]] = []
    for test in tests:
        redis = results.get((REDIS, test))
        for name, _ in servers:
            ours = results[name, test]
            rows.append([
                test.upper(), name, f"{ours.requests_per_second:,.0f}", f"{ours.cpu_microseconds_per_request:.1f}",
                f"{ours.first_process_microseconds_per_request:.1f}" if name in (ONE, TWO, RELAY) else "-",
                f"{ours.client_microseconds_per_request:.1f}", f"{ours.cores_busy:.2f}",
                ratio(ours.requests_per_second, redis.requests_per_second) if redis else "-",
                ratio(ours.cpu_microseconds_per_request, redis.cpu_microseconds_per_request) if redis else "-",
            ])
    print_table(["test", "server", "req/s", "server CPU µs/req", "of it supervisor", "redis-benchmark CPU µs/req",
                 "cores busy", "req/s vs redis", "CPU vs redis"], rows)
    for test in tests if arguments.only == "" else []:
        one, two = results[ONE, test], results[TWO, test]
        relay, plain = results[RELAY, test], results[PLAIN, test]
        print(f"# {test.upper()}: gain from the 2nd shard process (core) {ratio(two.requests_per_second, one.requests_per_second)} "
              f"req/s; main-port relay vs shard ports {ratio(relay.requests_per_second, two.requests_per_second)} req/s, "
              f"{relay.cpu_microseconds_per_request - two.cpu_microseconds_per_request:+.1f} CPU µs/req; relay vs one "
              f"process {ratio(relay.requests_per_second, plain.requests_per_second)} req/s")
    return rows


if __name__ == "__main__":
    main()
