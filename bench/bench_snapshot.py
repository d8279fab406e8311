"""Snapshot save and load of N string keys, kevy_persist beside redis-server, in one run.

Data: `--keys` (default 1,000,000) 16-byte keys with 64-byte seeded random values
(`bench_common.string_dataset`), the same pairs for both sides.

Ours (in this process, over `OsFileSystem`):
- save: a `Keyspace` holding the keys (filled before timing); wall time of
  `snapshot.save_snapshot(fs, path, keyspace.iter_entries(), None)`: encode + write +
  fsync(temp) + rename + fsync(dir) -- the same durable steps Redis's SAVE takes.
- load: wall time of `snapshot.load_snapshot` (read + decode + CRC) and then a fresh
  `Keyspace` filled by `load_entry` for every record -- what `opening.open_shard` does --
  reported as a total and split into decode / fill; and the same records put into another
  fresh `Keyspace` by the bulk `Keyspace.load_entries` (load = decode + bulk fill); and the
  grouped load: `load_snapshot(..., strings_into=strings)` puts string records without TTL
  straight into a dict that `Keyspace.from_snapshot(strings, records)` adopts.
- Store.open: the whole open path on a data dir holding only that snapshot (layout check,
  snapshot load and fill, first log created and fsynced), for reference.

Redis (`bench/redis_reference.py`): the same SETs pipelined into a fresh server, `SAVE` timed
from request to reply; load timed on a new server started on a copy of the dump, until it
serves DBSIZE == N (includes process start), and the server's own `DB loaded from disk`.

Both sides read files that were just written, so both loads come from the page cache.
Ratios are ours / Redis (time: above 1 means we are slower; the target is <= 1.5).

Every time is given as wall seconds and as CPU seconds (ours: `time.process_time`, the
bench runs no other thread meanwhile; Redis: the server's utime + stime from /proc, taken
before and after SAVE, and after the load for the load -- its start-up is included, a few
ms). On a machine whose cores are shared, wall time includes waiting for a core; CPU time
does not, and neither includes waiting for fsync.

    python bench/bench_snapshot.py [--keys 1000000] [--repeat 1] [--no-redis]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import tempfile
import time

import attrs
from bench_common import machine_summary, print_table, process_cpu_seconds, ratio, string_dataset
from redis_reference import RedisConnection, pipeline_commands, running_redis

from kevy_persist import Store, StoreConfig
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import load_snapshot, save_snapshot
from kevy_persist.formats.records import ValueKind
from kevy_persist.layout import names as layout_names

TARGET_RATIO = 1.5


@attrs.frozen
class Timing:
    wall_seconds: float
    cpu_seconds: float

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall_seconds + other.wall_seconds, self.cpu_seconds + other.cpu_seconds)


class _Stopwatch:
    """Wall and CPU time of this process between construction and `lap()`."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self) -> Timing:
        wall, cpu = time.perf_counter(), time.process_time()
        timing = Timing(wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return timing


@attrs.frozen
class OursSnapshotResult:
    key_count: int
    size_bytes: int
    save: Timing
    decode: Timing  # load_snapshot: read + decode + checksum
    fill: Timing  # fresh Keyspace, load_entry per record
    bulk_fill: Timing  # fresh Keyspace, one load_entries call
    grouped_load: Timing  # load_snapshot(strings_into=) + Keyspace.from_snapshot
    store_open: Timing | None

    @property
    def load(self) -> Timing:
        return self.decode + self.fill

    @property
    def bulk_load(self) -> Timing:
        return self.decode + self.bulk_fill


@attrs.frozen
class RedisSnapshotResult:
    key_count: int
    size_bytes: int
    save: Timing
    load: Timing  # process start until PING answers (not -LOADING) and DBSIZE == key_count
    server_load_seconds: float | None  # its log: "DB loaded from disk: X seconds"


def measure_ours(pairs: list[tuple[bytes, bytes]], directory: str, with_store_open: bool) -> OursSnapshotResult:
    """Time our save, load (decode + fill, two ways) and optionally Store.open on `pairs`."""
    file_system = OsFileSystem()
    keyspace = Keyspace()
    for key, value in pairs:
        keyspace.load_entry(key, ValueKind.STRING, value, None)
    path = f"{directory}/{layout_names.snapshot_name(0)}"
    gc.collect()
    watch = _Stopwatch()
    report = save_snapshot(file_system, path, keyspace.iter_entries(), None)
    save = watch.lap()
    del keyspace
    gc.collect()

    watch = _Stopwatch()
    loaded = load_snapshot(file_system, path)
    decode = watch.lap()
    fresh = Keyspace()
    for key, kind, value, deadline_ms in loaded.records:
        fresh.load_entry(key, kind, value, deadline_ms)
    fill = watch.lap()
    assert len(fresh) == len(pairs), (len(fresh), len(pairs))
    assert fresh.peek(pairs[-1][0]) == pairs[-1][1]
    del fresh
    gc.collect()
    watch = _Stopwatch()
    bulk = Keyspace()
    bulk.load_entries(loaded.records)
    bulk_fill = watch.lap()
    assert len(bulk) == len(pairs), (len(bulk), len(pairs))
    assert bulk.peek(pairs[0][0]) == pairs[0][1]
    del loaded, bulk
    gc.collect()
    watch = _Stopwatch()
    strings: dict[bytes, bytes] = {}
    loaded = load_snapshot(file_system, path, strings_into=strings)
    grouped = Keyspace.from_snapshot(strings, loaded.records)
    grouped_load = watch.lap()
    assert len(grouped) == len(pairs), (len(grouped), len(pairs))
    assert grouped.peek(pairs[1][0]) == pairs[1][1]
    del loaded, strings, grouped
    gc.collect()

    store_open = None
    if with_store_open:
        watch = _Stopwatch()
        store = Store.open(StoreConfig(data_dir=directory, ticker="manual"))
        store_open = watch.lap()
        assert store.open_report.shards[0].snapshot_keys == len(pairs)
        store.shutdown()
        del store
        gc.collect()
    return OursSnapshotResult(
        len(pairs), report.size_bytes, save, decode, fill, bulk_fill, grouped_load, store_open
    )


def measure_redis(pairs: list[tuple[bytes, bytes]], directory: str) -> RedisSnapshotResult:
    """Redis SAVE of the same pairs into `directory`, then a new server loading that dump."""
    with running_redis(directory=directory) as redis:
        connection = RedisConnection(redis.port)
        pipeline_commands(connection, ([b"SET", key, value] for key, value in pairs), 1000)
        key_count = int(connection.command(b"DBSIZE")[1:])
        assert key_count == len(pairs), key_count
        cpu_before = process_cpu_seconds(redis.process.pid)
        wall_before = time.perf_counter()
        reply = connection.command(b"SAVE")
        save = Timing(time.perf_counter() - wall_before, process_cpu_seconds(redis.process.pid) - cpu_before)
        assert reply == b"+OK", reply
        connection.close()
    dump_path = os.path.join(directory, "dump.rdb")
    size_bytes = os.path.getsize(dump_path)
    os.remove(os.path.join(directory, "redis.log"))
    # A new server on the same directory loads dump.rdb at start; running_redis returns once
    # PING answers PONG, which Redis refuses (-LOADING) until the load is complete.
    wall_before = time.perf_counter()
    with running_redis(directory=directory) as redis:
        wall = time.perf_counter() - wall_before
        cpu = process_cpu_seconds(redis.process.pid)
        connection = RedisConnection(redis.port)
        assert connection.command(b"DBSIZE") == b":%d" % len(pairs)
        connection.close()
        with open(redis.log_path, encoding="utf-8", errors="replace") as log:
            match = re.search(r"DB loaded from disk: ([0-9.]+) seconds", log.read())
    server_load_seconds = float(match.group(1)) if match else None
    return RedisSnapshotResult(len(pairs), size_bytes, save, Timing(wall, cpu), server_load_seconds)


def run(key_count: int, repeat: int = 1, with_redis: bool = True, with_store_open: bool = True) -> list[list[str]]:
    """Measure both sides `repeat` times (best of each), print and return the table rows."""
    pairs = string_dataset(key_count)
    ours: list[OursSnapshotResult] = []
    theirs: list[RedisSnapshotResult] = []
    for _ in range(repeat):
        directory = tempfile.mkdtemp(prefix="kevy-bench-snapshot-")
        try:
            ours.append(measure_ours(pairs, directory, with_store_open))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        if with_redis:
            directory = tempfile.mkdtemp(prefix="kevy-bench-snapshot-redis-")
            try:
                theirs.append(measure_redis(pairs, directory))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
    rows = _rows(ours, theirs)
    print(f"snapshot of {key_count:,} string keys (16 B keys, 64 B values), best of {repeat}; "
          f"{machine_summary()}")
    print_table(
        ["measure", "ours wall", "redis wall", "wall ours/redis", "ours CPU", "redis CPU",
         "CPU ours/redis", f"<= {TARGET_RATIO}x (wall / CPU)"],
        rows,
    )
    return rows


def _best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall_seconds for t in timings), min(t.cpu_seconds for t in timings))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _row(name: str, mine: Timing, reference: Timing | None) -> list[str]:
    if reference is None:
        return [name, _seconds(mine.wall_seconds), "-", "-", _seconds(mine.cpu_seconds), "-", "-", "-"]
    verdicts = [
        "yes" if mine_value <= TARGET_RATIO * reference_value else "no"
        for mine_value, reference_value in (
            (mine.wall_seconds, reference.wall_seconds), (mine.cpu_seconds, reference.cpu_seconds)
        )
    ]
    return [
        name,
        _seconds(mine.wall_seconds), _seconds(reference.wall_seconds), ratio(mine.wall_seconds, reference.wall_seconds),
        _seconds(mine.cpu_seconds), _seconds(reference.cpu_seconds), ratio(mine.cpu_seconds, reference.cpu_seconds),
        " / ".join(verdicts),
    ]


def _rows(ours: list[OursSnapshotResult], theirs: list[RedisSnapshotResult]) -> list[list[str]]:
    redis_save = _best([result.save for result in theirs]) if theirs else None
    redis_load = _best([result.load for result in theirs]) if theirs else None
    rows = [
        _row("save (SAVE)", _best([result.save for result in ours]), redis_save),
        _row("load: load_entry each", _best([result.load for result in ours]), redis_load),
        _row("load: load_entries bulk", _best([result.bulk_load for result in ours]), redis_load),
        _row("load: grouped (strings_into)", _best([result.grouped_load for result in ours]), redis_load),
        _row("  decode (read+decode+crc)", _best([result.decode for result in ours]), None),
        _row("  fill, load_entry each", _best([result.fill for result in ours]), None),
        _row("  fill, load_entries bulk", _best([result.bulk_fill for result in ours]), None),
    ]
    opens = [result.store_open for result in ours if result.store_open is not None]
    if opens:
        rows.append(_row("Store.open (whole path)", _best(opens), redis_load))
    server_loads = [result.server_load_seconds for result in theirs if result.server_load_seconds is not None]
    if server_loads:
        rows.append(["redis log: DB loaded from disk", "-", _seconds(min(server_loads)), "-", "-", "-", "-", "-"])
    size = ours[0].size_bytes
    redis_size = theirs[0].size_bytes if theirs else None
    rows.append([
        "file size", f"{size / 1e6:.1f} MB", "-" if redis_size is None else f"{redis_size / 1e6:.1f} MB",
        "-" if redis_size is None else ratio(size, redis_size), "-", "-", "-", "-",
    ])
    return rows


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the best is shown")
    parser.add_argument("--no-redis", action="store_true", help="measure ours only")
    parser.add_argument("--no-store-open", action="store_true", help="skip the Store.open row")
    arguments = parser.parse_args(argv)
    return run(arguments.keys, arguments.repeat, not arguments.no_redis, not arguments.no_store_open)


if __name__ == "__main__":
    main()
