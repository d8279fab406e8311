"""In-process SET/GET throughput of `kevy_persist.Store` per fsync policy, beside Redis.

Ours: for each mode -- `memory` (no data dir, no log), and a data dir with `appendfsync`
`no`, `everysec`, `always` (ticker "background") -- a fresh store; `set(key, value)` for
distinct 16 B keys with 64 B values by 1 or 4 threads (thread i takes every 4th pair, all
released by one barrier), then `get(key)` over the same keys, cycled until `--operations`
GETs ran. Wall time from the release to the last call returning (shutdown not timed).

Redis (same machine, one fresh server per cell): `redis-benchmark -d 64 -r <keys>` with
`-c 1` / `-c 4`, one request in flight per connection; SET with `--appendonly yes
--appendfsync <policy>` (`memory` = `--appendonly no`), GET against a server prefilled with
the same key names (`key:%012d`). Ours pays no network hop and no RESP parsing, Redis runs
in C: the ratio says how an embedded call compares with a local Redis round trip, not which
engine is faster per operation. Ratios are ours / Redis (throughput: above 1 = we are faster).
CPU microseconds per operation: ours = this process (all threads, user + system), Redis = the
server only (from /proc; the redis-benchmark client is not counted). On a machine whose cores
are shared the rates move with the neighbours' load; CPU per operation much less so. With 4
threads on a busy machine our process also gets a larger share of the cores (the scheduler
shares per thread), so a 4-thread rate can exceed what the GIL allows on an idle machine.

    python bench/bench_store.py [--operations 100000] [--always-operations 5000] [--no-redis]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile

import attrs
from bench_common import (
    RedisBenchmarkResult,
    machine_summary,
    print_table,
    ratio,
    redis_benchmark,
    run_threads_timed,
    string_dataset,
)
from bench_log import aof_server_arguments

from kevy_persist import Store, StoreConfig

MODES = ("memory", "no", "everysec", "always")
THREAD_COUNTS = (1, 4)


@attrs.frozen
class StoreThroughput:
    mode: str
    thread_count: int
    set_operations: int
    set_seconds: float
    set_cpu_seconds: float
    get_operations: int
    get_seconds: float
    get_cpu_seconds: float

    @property
    def sets_per_second(self) -> float:
        return self.set_operations / self.set_seconds

    @property
    def gets_per_second(self) -> float:
        return self.get_operations / self.get_seconds


def _config(mode: str, directory: str) -> StoreConfig:
    if mode == "memory":
        return StoreConfig(data_dir=None, ticker="background")
    return StoreConfig(data_dir=directory, appendfsync=mode, ticker="background")


def measure_store(
    pairs: list[tuple[bytes, bytes]], get_operations: int, mode: str, thread_count: int
) -> StoreThroughput:
    """SET every pair, then GET those keys `get_operations` times in all, on a fresh store."""
    directory = tempfile.mkdtemp(prefix="kevy-bench-store-")
    keys = [key for key, _ in pairs]
    try:
        store = Store.open(_config(mode, directory))
        try:
            def set_work(index: int) -> None:
                set_value = store.set
                for key, value in pairs[index::thread_count]:
                    set_value(key, value)

            def get_work(index: int) -> None:
                get_value = store.get
                share = get_operations // thread_count
                for key in itertools.islice(itertools.cycle(keys[index::thread_count]), share):
                    if get_value(key) is None:
                        raise AssertionError(f"GET {key!r} found nothing")

            set_seconds, set_cpu_seconds = run_threads_timed(thread_count, set_work)
            get_seconds, get_cpu_seconds = run_threads_timed(thread_count, get_work)
        finally:
            store.shutdown()
        gets = get_operations // thread_count * thread_count
        return StoreThroughput(
            mode, thread_count, len(pairs), set_seconds, set_cpu_seconds, gets, get_seconds, get_cpu_seconds
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _redis_arguments(mode: str) -> list[str]:
    return [] if mode == "memory" else aof_server_arguments(mode)


def _microseconds(seconds: float, operations: int) -> str:
    return f"{seconds / operations * 1e6:.1f}"


def run(operations: int, always_operations: int, with_redis: bool = True) -> list[list[str]]:
    pairs = string_dataset(max(operations, always_operations))
    redis_gets: dict[int, RedisBenchmarkResult] = {}
    rows: list[list[str]] = []
    for mode in MODES:
        set_count = always_operations if mode == "always" else operations
        for thread_count in THREAD_COUNTS:
            ours = measure_store(pairs[:set_count], operations, mode, thread_count)
            redis_set = redis_get = None
            if with_redis:
                redis_set = redis_benchmark(
                    "set", set_count, thread_count, keyspace_size=set_count,
                    server_arguments=_redis_arguments(mode),
                )
                if thread_count not in redis_gets:
                    # GET does not touch the log: one server without it answers for every mode.
                    redis_gets[thread_count] = redis_benchmark(
                        "get", operations, thread_count, keyspace_size=operations, prefill_keys=operations
                    )
                redis_get = redis_gets[thread_count]
            rows.append([
                mode, str(thread_count),
                f"{ours.sets_per_second:,.0f}",
                "-" if redis_set is None else f"{redis_set.requests_per_second:,.0f}",
                "-" if redis_set is None else ratio(ours.sets_per_second, redis_set.requests_per_second),
                f"{ours.gets_per_second:,.0f}",
                "-" if redis_get is None else f"{redis_get.requests_per_second:,.0f}",
                "-" if redis_get is None else ratio(ours.gets_per_second, redis_get.requests_per_second),
                _microseconds(ours.set_cpu_seconds, ours.set_operations) + " / "
                + _microseconds(ours.get_cpu_seconds, ours.get_operations),
                "-" if redis_set is None or redis_get is None else (
                    f"{redis_set.server_cpu_microseconds_per_request:.1f} / "
                    f"{redis_get.server_cpu_microseconds_per_request:.1f}"
                ),
            ])
    print(f"Store SET/GET throughput (16 B keys, 64 B values; {operations:,} SETs, "
          f"{always_operations:,} under always; {operations:,} GETs); {machine_summary()}")
    print_table(
        ["mode", "threads / -c", "ours SET/s", "redis SET/s", "SET ours/redis",
         "ours GET/s", "redis GET/s", "GET ours/redis", "ours CPU us SET / GET",
         "redis server CPU us SET / GET"],
        rows,
    )
    return rows


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100_000, help="SETs (not always) and GETs")
    parser.add_argument("--always-operations", type=int, default=5_000, help="SETs under always")
    parser.add_argument("--no-redis", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    return run(arguments.operations, arguments.always_operations, not arguments.no_redis)


if __name__ == "__main__":
    main()
