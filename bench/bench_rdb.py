"""RDB export and import of N keys, kevy beside redis-server's own SAVE and load, in one run.

Data (the same keys and values on both sides), `--shape`:
- `strings` (default): N keys `key:%012d` (16 B) with 64 B seeded random values
  (`bench_common.string_dataset`);
- `mixed`: the same N keys, where every 10th key is a hash (5 fields), a list (5 items), a
  set (5 integer members) or a sorted set (5 members) in turn, and every 5th string key
  has a TTL -- so small collections go through the listpack and intset encodings on Redis's
  side and TTL opcodes on both;
- `streams`: N keys, each a stream of 100 entries (a 16 B value and an integer) with a
  group that read 20 of them, two consumers holding 10 pending rows each -- listpack nodes,
  delta-encoded IDs, same-field entries, PELs (so `--keys 10000` is a million entries).

Ours (in this process, over `OsFileSystem`, 1 shard): the keys are put in a data dir as a
kevy snapshot (untimed), then
- export: wall and CPU time of `export_rdb(dir, out.rdb)` -- rebuild the shard read-only,
  encode, write, fsync, rename, fsync(dir): the durable steps Redis's SAVE takes too; and
  the same with `compress=True` (LZF on strings over 20 bytes, as Redis's default
  `rdbcompression yes` tries);
- import: `import_rdb(redis's dump.rdb, new dir)` -- read, decode (every Redis encoding),
  route, write the shard's snapshot through the commit protocol (temp, fsync, journal,
  copy into place, shards.meta, fsyncs). Also the import of our own export.
Redis: the same commands pipelined into a fresh server; `SAVE` from request to reply; load =
a new server started on the dump, until `PING` answers and DBSIZE = N (process start
included), and the server's own "DB loaded from disk" figure. Our export is also loaded by a
fresh redis-server and its DBSIZE checked (a correctness check; its load time is shown).

Every figure is wall seconds and CPU seconds (ours `time.process_time`; Redis the server's
utime + stime from /proc). Ratios are ours / Redis (above 1: we are slower).

    python bench/bench_rdb.py [--keys 1000000] [--shape strings|mixed|streams] [--no-redis]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import tempfile
import time
from collections import deque

import attrs
from bench_common import machine_summary, print_table, process_cpu_seconds, ratio, string_dataset
from redis_reference import RedisConnection, pipeline_commands, running_redis

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet
from kevy_persist.disk.clock import SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import save_snapshot
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload
from kevy_persist.formats.stream_ids import format_id, stream_id
from kevy_persist.layout import names as layout_names
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.tools.rdb_export import export_rdb
from kevy_persist.tools.rdb_import import import_rdb

TTL_DEADLINE_MS = 4_102_444_800_000  # 2100-01-01: never expires during the run


@attrs.frozen
class Timing:
    wall_seconds: float
    cpu_seconds: float


def _timed(function, *arguments, **options) -> tuple[Timing, object]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments, **options)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


STREAM_ENTRIES = 100
STREAM_READ = 20
STREAM_TIME_MS = 1_700_000_000_000


def stream_value(index: int, value: bytes) -> StreamPayload:
    """One stream of the `streams` shape (the snapshot decoder's form)."""
    ids = [stream_id(STREAM_TIME_MS + index, seq) for seq in range(STREAM_ENTRIES)]
    fields = [(b"f", value[:16], b"n", b"%d" % (index * STREAM_ENTRIES + seq)) for seq in range(STREAM_ENTRIES)]
    half = STREAM_READ // 2
    pending = [(ids[seq], b"c1" if seq < half else b"c2", STREAM_TIME_MS, 1) for seq in range(STREAM_READ)]
    group = GroupPayload(b"g", ids[STREAM_READ - 1], [(b"c1", STREAM_TIME_MS), (b"c2", STREAM_TIME_MS)], pending, STREAM_READ)
    return StreamPayload(ids[-1], 0, STREAM_ENTRIES, ids, fields, [group])


def dataset(key_count: int, shape: str) -> list[tuple[bytes, ValueKind, object, int | None]]:
    """(key, kind, native value, deadline) per key; see the module docstring."""
    if shape == "streams":
        return [(key, ValueKind.STREAM, stream_value(index, value), None)
                for index, (key, value) in enumerate(string_dataset(key_count))]
    entries = []
    for index, (key, value) in enumerate(string_dataset(key_count)):
        if shape == "mixed" and index % 10 == 9:
            member = (index // 10) % 4
            items = [value[offset : offset + 8] for offset in range(0, 40, 8)]
            if member == 0:
                entries.append((key, ValueKind.HASH, {b"field%d" % n: item for n, item in enumerate(items)}, None))
            elif member == 1:
                entries.append((key, ValueKind.LIST, deque(items), None))
            elif member == 2:
                entries.append((key, ValueKind.SET, {b"%d" % (index * 5 + n) for n in range(5)}, None))
            else:
                entries.append((key, ValueKind.ZSET, ZSet.from_pairs((item, n * 1.5) for n, item in enumerate(items)), None))
        else:
            deadline = TTL_DEADLINE_MS if shape == "mixed" and index % 5 == 0 else None
            entries.append((key, ValueKind.STRING, value, deadline))
    return entries


def redis_commands(entries):
    for key, kind, value, deadline in entries:
        if kind is ValueKind.STRING:
            yield [b"SET", key, value]
        elif kind is ValueKind.HASH:
            yield [b"HSET", key, *[part for pair in value.items() for part in pair]]
        elif kind is ValueKind.LIST:
            yield [b"RPUSH", key, *value]
        elif kind is ValueKind.SET:
            yield [b"SADD", key, *sorted(value)]
        elif kind is ValueKind.STREAM:
            for entry_id, fields in value.entry_items():
                yield [b"XADD", key, format_id(entry_id), *fields]
            yield [b"XGROUP", b"CREATE", key, b"g", b"0"]
            for consumer in (b"c1", b"c2"):
                yield [b"XREADGROUP", b"GROUP", b"g", consumer, b"COUNT", b"%d" % (STREAM_READ // 2), b"STREAMS", key, b">"]
        else:
            yield [b"ZADD", key, *[part for member, score in value.items() for part in (repr(score).encode(), member)]]
        if deadline is not None:
            yield [b"PEXPIREAT", key, b"%d" % deadline]


def _skip_reply(connection: RedisConnection) -> None:
    """Read one whole reply (status, integer, bulk or nested array), refusing an error."""
    line = connection.read_line()
    assert not line.startswith(b"-"), line
    if line.startswith(b"$") and int(line[1:]) >= 0:
        connection.read_exact(int(line[1:]) + 2)
    elif line.startswith(b"*"):
        for _ in range(max(int(line[1:]), 0)):
            _skip_reply(connection)


def _expect_replies(connection: RedisConnection, commands) -> None:
    """Pipeline commands whose replies vary (+OK, :n, bulk, arrays): read each whole."""
    batch: list[bytes] = []
    from redis_reference import encode_command

    def flush() -> None:
        connection.socket.sendall(b"".join(batch))
        for _ in batch:
            _skip_reply(connection)
        batch.clear()

    for argv in commands:
        batch.append(encode_command(argv))
        if len(batch) >= 1000:
            flush()
    if batch:
        flush()


def measure(key_count: int, shape: str, with_redis: bool) -> list[list[str]]:
    entries = dataset(key_count, shape)
    work = tempfile.mkdtemp(prefix="kevy-bench-rdb-")
    fs = OsFileSystem()
    clock = SystemClock()
    rows = []
    try:
        source = os.path.join(work, "kevy")
        os.makedirs(source)
        keyspace = Keyspace()
        for key, kind, value, deadline in entries:
            keyspace.load_entry(key, kind, value if kind is ValueKind.STRING else _decoder_form(kind, value), deadline)
        save_snapshot(fs, os.path.join(source, layout_names.snapshot_name(0)), keyspace.iter_entries(), None)
        # Our side runs as the CLI does, with no other million objects alive in the process
        # (they would lengthen every collection pass); the data set is rebuilt for Redis.
        del keyspace, entries
        ours_export, export_report = _timed(export_rdb, fs, source, os.path.join(work, "ours.rdb"), clock)
        assert export_report.key_count == key_count, export_report
        ours_compressed, compressed_report = _timed(
            export_rdb, fs, source, os.path.join(work, "ours-lzf.rdb"), clock, compress=True)
        assert compressed_report.key_count == key_count, compressed_report
        ours_reimport, report = _timed(import_rdb, fs, os.path.join(work, "ours.rdb"), os.path.join(work, "re"),
                                       ShardLayout(1), clock)
        assert report.key_count == key_count, report
        redis_save = redis_load = ours_import = ours_export_load = None
        redis_size = server_load = None
        if with_redis:
            redis_dir = os.path.join(work, "redis")
            os.makedirs(redis_dir)
            entries = dataset(key_count, shape)
            with running_redis(directory=redis_dir) as redis:
                connection = RedisConnection(redis.port)
                if shape == "strings":
                    pipeline_commands(connection, redis_commands(entries), 1000)
                else:
                    _expect_replies(connection, redis_commands(entries))
                assert connection.command(b"DBSIZE") == b":%d" % key_count
                del entries
                cpu, wall = process_cpu_seconds(redis.process.pid), time.perf_counter()
                assert connection.command(b"SAVE") == b"+OK"
                redis_save = Timing(time.perf_counter() - wall, process_cpu_seconds(redis.process.pid) - cpu)
                connection.close()
            dump = os.path.join(redis_dir, "dump.rdb")
            redis_size = os.path.getsize(dump)
            redis_load, server_load = _redis_load(dump, key_count, work)
            ours_import, report = _timed(import_rdb, fs, dump, os.path.join(work, "imported"), ShardLayout(1), clock)
            assert report.key_count == key_count, report
            ours_export_load, _ = _redis_load(os.path.join(work, "ours.rdb"), key_count, work)
        rows = [
            _row("export-rdb vs SAVE", ours_export, redis_save),
            _row("export-rdb --compress vs SAVE", ours_compressed, redis_save),
            _row("import-rdb (Redis's dump) vs load", ours_import, redis_load),
            _row("import-rdb (our export) vs load", ours_reimport, redis_load),
            ["redis log: DB loaded from disk", "-", _seconds(server_load), "-", "-", "-", "-"],
            ["redis-server loads our export", "-", _seconds(ours_export_load and ours_export_load.wall_seconds),
             "-", "-", _seconds(ours_export_load and ours_export_load.cpu_seconds), "-"],
            ["file size", f"{export_report.size_bytes / 1e6:.1f} MB",
             "-" if redis_size is None else f"{redis_size / 1e6:.1f} MB",
             "-" if redis_size is None else ratio(export_report.size_bytes, redis_size), "-", "-", "-"],
            ["file size, --compress", f"{compressed_report.size_bytes / 1e6:.1f} MB",
             "-" if redis_size is None else f"{redis_size / 1e6:.1f} MB",
             "-" if redis_size is None else ratio(compressed_report.size_bytes, redis_size), "-", "-", "-"],
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _decoder_form(kind: ValueKind, value: object) -> object:
    """What `Keyspace.load_entry` takes for a collection (the snapshot decoder's form)."""
    if kind is ValueKind.STREAM:
        return value  # already the decoder's StreamPayload
    if kind is ValueKind.ZSET:
        return list(value.items())  # type: ignore[attr-defined]
    if kind is ValueKind.HASH:
        return list(value.items())  # type: ignore[attr-defined]
    return list(value)  # type: ignore[call-overload]


def _redis_load(dump: str, key_count: int, work: str) -> tuple[Timing, float | None]:
    directory = tempfile.mkdtemp(prefix="load-", dir=work)
    shutil.copyfile(dump, os.path.join(directory, "dump.rdb"))
    wall = time.perf_counter()
    with running_redis(directory=directory) as redis:
        elapsed = time.perf_counter() - wall
        cpu = process_cpu_seconds(redis.process.pid)
        connection = RedisConnection(redis.port)
        assert connection.command(b"DBSIZE") == b":%d" % key_count
        connection.close()
        with open(redis.log_path, encoding="utf-8", errors="replace") as log:
            match = re.search(r"DB loaded from disk: ([0-9.]+) seconds", log.read())
    return Timing(elapsed, cpu), float(match.group(1)) if match else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _row(name: str, mine: Timing, reference: Timing | None) -> list[str]:
    if reference is None:
        return [name, _seconds(mine.wall_seconds), "-", "-", _seconds(mine.cpu_seconds), "-", "-"]
    return [
        name,
        _seconds(mine.wall_seconds), _seconds(reference.wall_seconds), ratio(mine.wall_seconds, reference.wall_seconds),
        _seconds(mine.cpu_seconds), _seconds(reference.cpu_seconds), ratio(mine.cpu_seconds, reference.cpu_seconds),
    ]


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=["strings", "mixed", "streams"], default="strings")
    parser.add_argument("--no-redis", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    rows = measure(arguments.keys, arguments.shape, not arguments.no_redis)
    print(f"RDB export / import of {arguments.keys:,} keys ({arguments.shape}); {machine_summary()}")
    print_table(["measure", "ours wall", "redis wall", "wall ours/redis", "ours CPU", "redis CPU", "CPU ours/redis"], rows)
    return rows


if __name__ == "__main__":
    main()
