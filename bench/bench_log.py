"""Log append throughput per fsync policy: `kevy_persist.Store.set` beside Redis's AOF.

Ours: for each `appendfsync` policy (always / everysec / no) a fresh data dir and
`Store.open(StoreConfig(data_dir=..., appendfsync=policy, ticker="background"))`; then
`--operations` distinct keys (16 B, values 64 B) are SET through the typed API by 1 or 4
threads (thread i takes every 4th pair; all released together by a barrier). Timed from the
release until the last `set` returned; shutdown (the final fsync) is not timed. Under
`always` a `set` returns only after a group-committed fsync covers its record, so with 4
threads several writers share one fsync; the table shows how many fsyncs ran.

Redis: a fresh server per row with `--appendonly yes --appendfsync <policy>
--aof-use-rdb-preamble no`, driven by the C client `redis-benchmark -t set -d 64 -r 1000000`
with `-c 1` and `-c 4` (one request in flight per connection, like one call per thread), and
a third row `-c 4 -P 16` (pipelined: no round trip per request) as Redis's ceiling.

CPU per SET: ours is this process's CPU time (all threads, user + system) over the run; Redis's
is the server's only (from /proc), the `redis-benchmark` client's CPU is not counted. On a
machine whose 2 cores are shared, the rates move with the neighbours' load; CPU per request
moves much less.

Fairness: ours is in-process and pays no network hop, no RESP parsing and no syscall per
request except the log write; each Redis request pays a loopback round trip (tens of
microseconds) but runs in C. Under `always` Redis also covers all replies of one event-loop
turn with one fsync, so `-c 4` is group commit too. The client (`redis-benchmark`) competes
for the same 2 cores as the server; ours has no separate client.

    python bench/bench_log.py [--operations 100000] [--always-operations 5000] [--no-redis]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile

import attrs
from bench_common import machine_summary, print_table, ratio, redis_benchmark, run_threads_timed, string_dataset

from kevy_persist import Store, StoreConfig

POLICIES = ("always", "everysec", "no")
THREAD_COUNTS = (1, 4)
PIPELINED_CLIENTS = 4
PIPELINE_DEPTH = 16


@attrs.frozen
class StoreSetResult:
    policy: str
    thread_count: int
    operations: int
    seconds: float
    cpu_seconds: float  # this process, every thread (callers, group-commit leader, ticker)
    fsync_count: int | None
    log_size_bytes: int

    @property
    def operations_per_second(self) -> float:
        return self.operations / self.seconds

    @property
    def cpu_microseconds_per_operation(self) -> float:
        return self.cpu_seconds / self.operations * 1e6


def aof_server_arguments(policy: str) -> list[str]:
    return ["--appendonly", "yes", "--appendfsync", policy, "--aof-use-rdb-preamble", "no"]


def measure_store_set(pairs: list[tuple[bytes, bytes]], policy: str, thread_count: int) -> StoreSetResult:
    """SET every pair through a fresh store's typed API with `thread_count` threads."""
    directory = tempfile.mkdtemp(prefix="kevy-bench-log-")
    try:
        store = Store.open(StoreConfig(data_dir=directory, appendfsync=policy, ticker="background"))
        try:
            def work(index: int) -> None:
                set_value = store.set
                for key, value in pairs[index::thread_count]:
                    set_value(key, value)

            seconds, cpu_seconds = run_threads_timed(thread_count, work)
            assert store.execute("DBSIZE") == len(pairs)
            # Private, read only for the report: how many fsyncs the group commit ran.
            commits = getattr(store, "_group_commits", None)
            fsync_count = sum(commit.sync_count for commit in commits) if commits else None
            log_size_bytes = sum(shard.log_size_bytes for shard in getattr(store, "_shards", ()))
        finally:
            store.shutdown()
        return StoreSetResult(policy, thread_count, len(pairs), seconds, cpu_seconds, fsync_count, log_size_bytes)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(operations: int, always_operations: int, with_redis: bool = True) -> list[list[str]]:
    pairs = string_dataset(max(operations, always_operations))
    rows: list[list[str]] = []
    for policy in POLICIES:
        count = always_operations if policy == "always" else operations
        for thread_count in THREAD_COUNTS:
            ours = measure_store_set(pairs[:count], policy, thread_count)
            redis = None
            if with_redis:
                redis = redis_benchmark("set", count, thread_count, server_arguments=aof_server_arguments(policy))
            fsyncs = "-" if ours.fsync_count is None or policy != "always" else f"{ours.fsync_count:,}"
            rows.append([
                policy, f"{thread_count} thr / -c {thread_count}", f"{count:,}",
                f"{ours.operations_per_second:,.0f}",
                "-" if redis is None else f"{redis.requests_per_second:,.0f}",
                "-" if redis is None else ratio(ours.operations_per_second, redis.requests_per_second),
                f"{ours.cpu_microseconds_per_operation:.1f}",
                "-" if redis is None else f"{redis.server_cpu_microseconds_per_request:.1f}",
                fsyncs,
            ])
        if with_redis:
            pipelined = redis_benchmark(
                "set", count * 4, PIPELINED_CLIENTS, PIPELINE_DEPTH, server_arguments=aof_server_arguments(policy)
            )
            rows.append([
                policy, f"- / -c {PIPELINED_CLIENTS} -P {PIPELINE_DEPTH}", f"{count * 4:,}", "-",
                f"{pipelined.requests_per_second:,.0f}", "-", "-",
                f"{pipelined.server_cpu_microseconds_per_request:.1f}", "-",
            ])
    print(f"log append (SET, 16 B keys, 64 B values) per appendfsync; {machine_summary()}")
    print_table(
        ["appendfsync", "ours threads / redis clients", "SETs", "ours SET/s", "redis SET/s",
         "ours/redis", "ours CPU us/SET", "redis server CPU us/SET", "our fsyncs"],
        rows,
    )
    return rows


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100_000, help="SETs for everysec and no")
    parser.add_argument("--always-operations", type=int, default=5_000, help="SETs for always")
    parser.add_argument("--no-redis", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    return run(arguments.operations, arguments.always_operations, not arguments.no_redis)


if __name__ == "__main__":
    main()
