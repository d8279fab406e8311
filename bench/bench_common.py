"""Shared pieces of the side-by-side benchmarks: data, threads, redis-benchmark, tables.

- `string_dataset`: the issue-2 data set, `key_count` 16-byte keys (`key:%012d`) with 64-byte
  seeded random values (incompressible, so Redis's LZF gains nothing either).
- `run_threads`: runs `work(thread_index)` on `thread_count` threads released together by a
  barrier; the time is from the release until the last thread finished.
- `run_redis_benchmark`: one `redis-benchmark --csv` run against a running server: its
  requests per second, the server processes' CPU time over the run and the wall time. A run
  shorter than redis-benchmark's millisecond clock makes it print `inf`; the rate is then
  the requests over the wall time this side measured (process start included, so lower).
  It also gives each server process's CPU apart (`process_cpu_seconds`, in the order given)
  and redis-benchmark's own CPU (`client_cpu_seconds`, the children's rusage over the run),
  for a machine whose cores the client and the server share.
- `redis_benchmark`: a fresh redis-server (extra arguments, e.g. the AOF policy) driven by
  `run_redis_benchmark`; the client's CPU is not counted.
- `run_threads_timed`: `run_threads` plus the CPU time this process spent meanwhile.
- `process_cpu_seconds`: CPU time of a process (redis-server), to compare CPU seconds
  as well as wall seconds on a machine whose cores are shared.
- `machine_summary` and `print_table` for the reports.

Everything here is measurement plumbing; nothing in it is timed.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import attrs
from redis_reference import (
    REDIS_SERVER,
    RedisConnection,
    pipeline_commands,
    running_redis,
)

REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
KEY_SIZE_BYTES = 16
VALUE_SIZE_BYTES = 64


def string_key(index: int) -> bytes:
    key = b"key:%012d" % index
    assert len(key) == KEY_SIZE_BYTES, key
    return key


def string_dataset(
    key_count: int, value_size_bytes: int = VALUE_SIZE_BYTES, seed: int = 1
) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: 16-byte keys, seeded random values of `value_size_bytes`."""
    assert key_count < 10**12, "keys are 16 bytes: key: + 12 digits"
    generator = random.Random(seed)
    return [(string_key(index), generator.randbytes(value_size_bytes)) for index in range(key_count)]


def run_threads(thread_count: int, work: Callable[[int], None]) -> float:
    """Seconds from releasing `thread_count` threads running `work(index)` to the last one ending."""
    assert thread_count >= 1
    barrier = threading.Barrier(thread_count + 1)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 -- re-raised in the caller below
            errors.append(error)

    threads = [threading.Thread(target=body, args=(index,)) for index in range(thread_count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


@attrs.frozen
class RedisBenchmarkResult:
    requests: int
    requests_per_second: float  # as redis-benchmark reports it
    server_cpu_seconds: float  # the server's user + system CPU during the run

    @property
    def server_cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6


@attrs.frozen
class RedisBenchmarkRun:
    requests_per_second: float
    server_cpu_seconds: float  # every listed server process, user + system
    wall_seconds: float
    process_cpu_seconds: tuple[float, ...] = ()  # each listed server process, in order
    client_cpu_seconds: float = 0.0  # redis-benchmark itself, user + system


def run_redis_benchmark(
    arguments: Sequence[str], requests: int, server_pids: Sequence[int], timeout: float = 1800
) -> RedisBenchmarkRun:
    """Run `redis-benchmark --csv ARGUMENTS` (one test) and read its single result row.

    Lines before the CSV header (`--cluster` prints the cluster's nodes first) are skipped.
    """
    command = [REDIS_BENCHMARK, "--csv", *arguments]  # options before a custom command
    cpu_before = [process_cpu_seconds(pid) for pid in server_pids]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout)
    wall_seconds = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_process = tuple(process_cpu_seconds(pid) - before for pid, before in zip(server_pids, cpu_before))
    client_cpu_seconds = (children_after.ru_utime + children_after.ru_stime
                          - children_before.ru_utime - children_before.ru_stime)
    header = completed.stdout.find('"test"')
    assert header >= 0, completed.stdout
    rows = list(csv.DictReader(io.StringIO(completed.stdout[header:])))
    assert len(rows) == 1, completed.stdout
    rate = float(rows[0]["rps"])  # "inf" parses; anything else non-numeric raises here
    if not math.isfinite(rate):
        rate = requests / wall_seconds
    return RedisBenchmarkRun(rate, sum(per_process), wall_seconds, per_process, client_cpu_seconds)


def redis_benchmark(
    test: str,
    requests: int,
    clients: int,
    pipeline: int = 1,
    value_size_bytes: int = VALUE_SIZE_BYTES,
    keyspace_size: int = 1_000_000,
    server_arguments: Sequence[str] = (),
    prefill_keys: int = 0,
) -> RedisBenchmarkResult:
    """`redis-benchmark -t test` against a fresh server: its rate and the server's CPU time.

    `prefill_keys` > 0 first SETs `key:%012d` for that many indexes (the names
    `redis-benchmark -r` generates), so a GET run reads keys that exist.
    """
    with running_redis(server_arguments) as redis:
        if prefill_keys:
            generator = random.Random(2)
            connection = RedisConnection(redis.port)
            commands = (
                [b"SET", string_key(index), generator.randbytes(value_size_bytes)]
                for index in range(prefill_keys)
            )
            pipeline_commands(connection, commands, 1000)
            connection.close()
        arguments = [
            "-h", "127.0.0.1", "-p", str(redis.port), "-t", test,
            "-n", str(requests), "-c", str(clients), "-P", str(pipeline),
            "-d", str(value_size_bytes), "-r", str(keyspace_size),
        ]
        run = run_redis_benchmark(arguments, requests, [redis.process.pid], timeout=600)
    return RedisBenchmarkResult(requests, run.requests_per_second, run.server_cpu_seconds)


def run_threads_timed(thread_count: int, work: Callable[[int], None]) -> tuple[float, float]:
    """`run_threads`, plus this process's CPU seconds (every thread) over the same span."""
    cpu_before = time.process_time()
    wall_seconds = run_threads(thread_count, work)
    return wall_seconds, time.process_time() - cpu_before


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (Linux `/proc/<pid>/stat`, 10 ms ticks)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = stat.read().rpartition(")")[2].split()
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def redis_version() -> str:
    completed = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True, check=True)
    for part in completed.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return completed.stdout.strip()


def machine_summary() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{datetime.date.today().isoformat()}, {model}, {os.cpu_count()} cores, "
        f"load {load:.2f}, Python {sys.version.split()[0]}, redis-server {redis_version()}"
    )


def ratio(ours: float, redis: float) -> str:
    """`ours / redis` as `1.23x` (for times: >1 means we are slower)."""
    if redis <= 0:
        return "n/a"
    return f"{ours / redis:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A markdown table (pastes straight into bench/README.md)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(header), *(len(row[column]) for row in cells)) for column, header in enumerate(headers)]
    print("| " + " | ".join(header.ljust(width) for header, width in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in cells:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
    sys.stdout.flush()
