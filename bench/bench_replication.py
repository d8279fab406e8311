"""Replication, kevy-server beside redis-server: full-sync time and write throughput with a replica.

Both masters run as processes on loopback (kevy: `python -m kevy_server`, a data dir,
`appendfsync everysec`; Redis: `--save ""`, no AOF, `repl-diskless-sync-delay 0`, so neither
waits before the transfer), and each replica is a real `redis-server --replicaof`. Redis
starts a diskless transfer from its once-a-second replication cron, so up to a second of its
figure is that wait; the disk-based column (`repl-diskless-sync no`: BGSAVE at once, then the
file is sent) has no such wait.

Full sync of N keys: the master is filled with `--keys` SETs (16-byte keys, 64-byte seeded
random values: `bench_common.string_dataset`), then a replica starts; the time is from its
start until it reports `master_link_status:up` with DBSIZE = N. Beside it the master's CPU
(utime + stime of the process, plus its reaped children for Redis's fork) over that span.

Steady state: `redis-benchmark -t set -n R -c 50` against the master, once with no replica
and once with one replica attached and online; req/s and the master's CPU µs per request
(`/proc/<pid>/stat`), for kevy and for Redis. Ratios: kevy / Redis (times and CPU: above 1
means kevy is slower), and with-replica / without for each side (the cost of the stream).

Each side runs `--repeat` times, interleaved (kevy, Redis, Redis on disk, again...), and the
tables show the medians, so load from other programs on a shared machine weighs on both.

    python bench/bench_replication.py [--keys 200000] [--requests 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench_common import (
    machine_summary,
    print_table,
    process_cpu_seconds,
    ratio,
    run_redis_benchmark,
    string_dataset,
)
from redis_reference import (
    RedisConnection,
    free_loopback_port,
    pipeline_commands,
    running_redis,
    wait_until_ready,
)

READY_TIMEOUT_S = 120.0


def _children_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def master_cpu_seconds(pid: int) -> float:
    return process_cpu_seconds(pid) + _children_cpu_seconds(pid)


@contextmanager
def running_kevy() -> Iterator[tuple[int, subprocess.Popen]]:
    directory = tempfile.mkdtemp(prefix="kevy-bench-repl-")
    port = free_loopback_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", str(port), "--dir", directory, "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(port, None, READY_TIMEOUT_S)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def _info_field(connection: RedisConnection, section: bytes, name: bytes) -> bytes | None:
    reply = connection.command(b"INFO", section)
    for line in reply.split(b"\r\n"):
        if line.startswith(name + b":"):
            return line.split(b":", 1)[1]
    return None


def _fill(port: int, key_count: int) -> None:
    connection = RedisConnection(port)
    pipeline_commands(connection, ([b"SET", key, value] for key, value in string_dataset(key_count)), 1000)
    connection.close()


def full_sync(master_port: int, master_pid: int, key_count: int) -> tuple[float, float]:
    """(seconds until a new replica is up with every key, the master's CPU seconds meanwhile)."""
    cpu_before = master_cpu_seconds(master_pid)
    started = time.perf_counter()
    with running_redis(["--replicaof", "127.0.0.1", str(master_port)]) as replica:
        connection = RedisConnection(replica.port)
        deadline = started + READY_TIMEOUT_S
        while True:
            if _info_field(connection, b"replication", b"master_link_status") == b"up" \
                    and connection.command(b"DBSIZE") == b":%d" % key_count:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError("the replica did not finish its sync")
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        cpu = master_cpu_seconds(master_pid) - cpu_before
        connection.close()
    return elapsed, cpu


def benchmark_sets(port: int, pid: int, requests: int) -> tuple[float, float]:
    """(req/s, the server's CPU µs per request) of `redis-benchmark -t set` against `port`."""
    arguments = ["-h", "127.0.0.1", "-p", str(port), "-t", "set", "-n", str(requests),
                 "-c", "50", "-d", "64", "-r", "1000000"]
    run = run_redis_benchmark(arguments, requests, [pid], timeout=900)
    return run.requests_per_second, run.server_cpu_seconds / requests * 1e6


def steady_state(port: int, pid: int, requests: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(without a replica, with one online replica): each (req/s, CPU µs per request)."""
    without = benchmark_sets(port, pid, requests)
    with running_redis(["--replicaof", "127.0.0.1", str(port)]) as replica:
        connection = RedisConnection(replica.port)
        deadline = time.perf_counter() + READY_TIMEOUT_S
        while _info_field(connection, b"replication", b"master_link_status") != b"up":
            if time.perf_counter() > deadline:
                raise TimeoutError("the replica did not come up")
            time.sleep(0.01)
        connection.close()
        with_replica = benchmark_sets(port, pid, requests)
    return without, with_replica


def run_side(name: str, key_count: int, requests: int) -> dict:
    if name == "kevy":
        context = running_kevy()
    else:
        context = _redis_master(name == "redis-disk")
    with context as (port, process):
        _fill(port, key_count)
        sync_seconds, sync_cpu = full_sync(port, process.pid, key_count)
        if not requests:
            return {"sync_s": sync_seconds, "sync_cpu_s": sync_cpu}
        without, with_replica = steady_state(port, process.pid, requests)
    return {"sync_s": sync_seconds, "sync_cpu_s": sync_cpu, "without": without, "with": with_replica}


@contextmanager
def _redis_master(disk: bool) -> Iterator[tuple[int, subprocess.Popen]]:
    options = ["--repl-diskless-sync", "no"] if disk else ["--repl-diskless-sync-delay", "0"]
    with running_redis(options) as redis:
        yield redis.port, redis.process


def _medians(results: list[dict]) -> dict:
    """The median of every figure over the runs (pairs element by element)."""
    merged: dict = {}
    for name in results[0]:
        values = [result[name] for result in results]
        if isinstance(values[0], tuple):
            merged[name] = tuple(statistics.median(value[index] for value in values) for index in range(2))
        else:
            merged[name] = statistics.median(values)
    return merged


def main(argv: list[str] | None = None) -> list[list[str]]:
    """Run, print both tables; their rows (the full-sync table's first) for the smoke test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side, interleaved; medians shown")
    arguments = parser.parse_args(argv)
    print(machine_summary())
    print(f"keys {arguments.keys}, SET requests {arguments.requests} (-c 50, 64-byte values), "
          f"median of {arguments.repeat} interleaved runs per side\n")
    runs: dict[str, list[dict]] = {"kevy": [], "redis": [], "redis-disk": []}
    for _ in range(arguments.repeat):
        runs["kevy"].append(run_side("kevy", arguments.keys, arguments.requests))
        runs["redis"].append(run_side("redis", arguments.keys, arguments.requests))
        runs["redis-disk"].append(run_side("redis-disk", arguments.keys, 0))
    ours, theirs, on_disk = (_medians(runs[name]) for name in ("kevy", "redis", "redis-disk"))
    sync_rows = [
            ["seconds until the replica is up", f"{ours['sync_s']:.2f}", f"{theirs['sync_s']:.2f}",
             ratio(ours["sync_s"], theirs["sync_s"]), f"{on_disk['sync_s']:.2f}",
             ratio(ours["sync_s"], on_disk["sync_s"])],
            ["master CPU seconds", f"{ours['sync_cpu_s']:.2f}", f"{theirs['sync_cpu_s']:.2f}",
             ratio(ours["sync_cpu_s"], theirs["sync_cpu_s"]), f"{on_disk['sync_cpu_s']:.2f}",
             ratio(ours["sync_cpu_s"], on_disk["sync_cpu_s"])],
    ]
    print_table(["full sync of N keys", "kevy → redis", "redis → redis (diskless)", "ratio",
                 "redis → redis (disk)", "ratio"], sync_rows)
    print()
    rows = []
    for label, key in (("no replica", "without"), ("one replica", "with")):
        (our_rate, our_cpu), (their_rate, their_cpu) = ours[key], theirs[key]
        rows.append([f"SET req/s, {label}", f"{our_rate:,.0f}", f"{their_rate:,.0f}", ratio(our_rate, their_rate)])
        rows.append([f"master CPU µs/request, {label}", f"{our_cpu:.1f}", f"{their_cpu:.1f}",
                     ratio(our_cpu, their_cpu)])
    rows.append(["req/s with / without", ratio(ours["with"][0], ours["without"][0]),
                 ratio(theirs["with"][0], theirs["without"][0]), ""])
    rows.append(["CPU µs/request with / without", ratio(ours["with"][1], ours["without"][1]),
                 ratio(theirs["with"][1], theirs["without"][1]), ""])
    print_table(["steady state", "kevy master", "redis master", "kevy / redis"], rows)
    return sync_rows + rows


if __name__ == "__main__":
    main()
