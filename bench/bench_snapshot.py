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
  fresh `Keyspace` by the bulk `Keyspace.load_entries` (load = decode + bulk fill).
- Store.open: the whole open path on a data dir holding only that snapshot (layout check,
  snapshot load and fill, first log created and fsynced), for reference.

Redis (`bench/redis_reference.py`): the same SETs pipelined into a fresh server, `SAVE` timed
from request to reply; load timed on a new server started on a copy of the dump, until it
serves DBSIZE == N (includes process start), and the server's own `DB loaded from disk`.

Both sides read files that were just written, so both loads come from the page cache.
Ratios are ours / Redis (time: above 1 means we are slower; the target is <= 1.5).

    python bench/bench_snapshot.py [--keys 1000000] [--repeat 1] [--no-redis]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time

import attrs

from bench_common import machine_summary, print_table, ratio, string_dataset
from kevy_persist import Store, StoreConfig, layout_names
from kevy_persist.fs_os import OsFileSystem
from kevy_persist.keyspace import Keyspace
from kevy_persist.records import ValueKind
from kevy_persist.snapshot import load_snapshot, save_snapshot
from redis_reference import measure_load, measure_save

TARGET_RATIO = 1.5


@attrs.frozen
class OursSnapshotResult:
    key_count: int
    save_seconds: float
    size_bytes: int
    decode_seconds: float  # load_snapshot: read + decode + checksum
    fill_seconds: float  # fresh Keyspace, load_entry per record
    bulk_fill_seconds: float  # fresh Keyspace, one load_entries call
    store_open_seconds: float | None

    @property
    def load_seconds(self) -> float:
        return self.decode_seconds + self.fill_seconds

    @property
    def bulk_load_seconds(self) -> float:
        return self.decode_seconds + self.bulk_fill_seconds


@attrs.frozen
class RedisSnapshotResult:
    key_count: int
    save_seconds: float
    size_bytes: int
    ready_seconds: float
    server_load_seconds: float | None


def measure_ours(pairs: list[tuple[bytes, bytes]], directory: str, with_store_open: bool) -> OursSnapshotResult:
    """Time our save, load (decode + fill) and optionally Store.open on `pairs`."""
    file_system = OsFileSystem()
    keyspace = Keyspace()
    for key, value in pairs:
        keyspace.load_entry(key, ValueKind.STRING, value, None)
    path = f"{directory}/{layout_names.snapshot_name(0)}"
    gc.collect()
    save_started = time.perf_counter()
    report = save_snapshot(file_system, path, keyspace.iter_entries(), None)
    save_seconds = time.perf_counter() - save_started
    del keyspace
    gc.collect()

    load_started = time.perf_counter()
    loaded = load_snapshot(file_system, path)
    decoded = time.perf_counter()
    fresh = Keyspace()
    for key, kind, value, deadline_ms in loaded.records:
        fresh.load_entry(key, kind, value, deadline_ms)
    filled = time.perf_counter()
    assert len(fresh) == len(pairs), (len(fresh), len(pairs))
    assert fresh.peek(pairs[-1][0]) == pairs[-1][1]
    del fresh
    gc.collect()
    bulk_started = time.perf_counter()
    bulk = Keyspace()
    bulk.load_entries(loaded.records)
    bulk_filled = time.perf_counter()
    assert len(bulk) == len(pairs), (len(bulk), len(pairs))
    assert bulk.peek(pairs[0][0]) == pairs[0][1]
    del loaded, bulk
    gc.collect()

    store_open_seconds = None
    if with_store_open:
        open_started = time.perf_counter()
        store = Store.open(StoreConfig(data_dir=directory, ticker="manual"))
        store_open_seconds = time.perf_counter() - open_started
        assert store.open_report.shards[0].snapshot_keys == len(pairs)
        store.shutdown()
        del store
        gc.collect()
    return OursSnapshotResult(
        key_count=len(pairs),
        save_seconds=save_seconds,
        size_bytes=report.size_bytes,
        decode_seconds=decoded - load_started,
        fill_seconds=filled - decoded,
        bulk_fill_seconds=bulk_filled - bulk_started,
        store_open_seconds=store_open_seconds,
    )


def measure_redis(pairs: list[tuple[bytes, bytes]], directory: str) -> RedisSnapshotResult:
    """Redis SAVE and load of the same pairs (the dump is kept in `directory`)."""
    commands = [[b"SET", key, value] for key, value in pairs]
    save = measure_save(commands, directory)
    del commands
    assert save.key_count == len(pairs), save
    load = measure_load(save.dump_path, save.key_count)
    return RedisSnapshotResult(
        key_count=save.key_count,
        save_seconds=save.save_seconds,
        size_bytes=save.dump_size_bytes,
        ready_seconds=load.ready_seconds,
        server_load_seconds=load.server_reported_load_seconds,
    )


def _best(results: list, field: str) -> float:
    return min(getattr(result, field) for result in results)


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
    print_table(["measure", "ours", "redis", "ours/redis", f"<= {TARGET_RATIO}x"], rows)
    return rows


def _rows(ours: list[OursSnapshotResult], theirs: list[RedisSnapshotResult]) -> list[list[str]]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} s"

    def compare(mine: float, reference: float | None) -> list[str]:
        if reference is None:
            return ["-", "-", "-"]
        verdict = "yes" if mine <= TARGET_RATIO * reference else "no"
        return [seconds(reference), ratio(mine, reference), verdict]

    save = _best(ours, "save_seconds")
    load = _best(ours, "load_seconds")
    bulk_load = _best(ours, "bulk_load_seconds")
    redis_save = _best(theirs, "save_seconds") if theirs else None
    redis_ready = _best(theirs, "ready_seconds") if theirs else None
    server_loads = [result.server_load_seconds for result in theirs if result.server_load_seconds]
    redis_server_load = min(server_loads) if server_loads else None
    rows = [
        ["save (SAVE)", seconds(save), *compare(save, redis_save)],
        ["load (load_entry each) vs until serving", seconds(load), *compare(load, redis_ready)],
        ["load (load_entry each) vs server's figure", seconds(load), *compare(load, redis_server_load)],
        ["load (load_entries bulk) vs until serving", seconds(bulk_load), *compare(bulk_load, redis_ready)],
        ["load (load_entries bulk) vs server's figure", seconds(bulk_load), *compare(bulk_load, redis_server_load)],
        ["  decode (read+decode+crc)", seconds(_best(ours, "decode_seconds")), "-", "-", "-"],
        ["  fill, load_entry each", seconds(_best(ours, "fill_seconds")), "-", "-", "-"],
        ["  fill, load_entries bulk", seconds(_best(ours, "bulk_fill_seconds")), "-", "-", "-"],
    ]
    opens = [result.store_open_seconds for result in ours if result.store_open_seconds is not None]
    if opens:
        rows.append(["Store.open (whole path)", seconds(min(opens)), *compare(min(opens), redis_ready)])
    size = ours[0].size_bytes
    redis_size = theirs[0].size_bytes if theirs else None
    rows.append([
        "file size", f"{size / 1e6:.1f} MB", "-" if redis_size is None else f"{redis_size / 1e6:.1f} MB",
        "-" if redis_size is None else ratio(size, redis_size), "",
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
