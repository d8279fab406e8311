"""Streams side by side with redis-server 7.0: XADD / XRANGE throughput, and snapshot save /
load of one stream of 1,000,000 entries.

Method, throughput. A fresh `python -m kevy_server --in-memory` and a fresh `redis-server
--save "" --appendonly no` (own temp dirs, free loopback ports) take the same redis-benchmark
runs (`-c 4`, `-P 1` and `-P 16`), one command at a time:
- `XADD bench:add * f <16-byte value>` (IDs chosen by the server);
- `XRANGE bench:range - + COUNT 10` and `XRANGE bench:range __rand_int__ + COUNT 10`
  (`-r <entries>`: a random start, zero-padded as redis-benchmark writes it) over a stream of
  `--range-entries` entries `<i>-0 f <16 bytes>` loaded beforehand by a pipelined client;
- `XREVRANGE bench:range + - COUNT 10`.
Reported: requests per second as redis-benchmark prints them, ours / Redis (above 1 = kevy is
faster), and each server's CPU microseconds per request (utime + stime from /proc over the
run; the client's CPU is not counted).

Method, the structure. In process (no server), CPU microseconds per `execute` of XADD (an
explicit increasing ID), XRANGE <random start> + COUNT 10, XDEL <random live ID> and
XTRIM MAXLEN ~ <length - 100> (one node), on streams of 10,000 and of `--entries` entries:
equal figures at both sizes are what a sorted structure (`SortedDict`) with O(log n)
operations should show.

Method, snapshot. One stream key of N entries (`<i>-0`, one field `f`, a 16-byte seeded random
value: incompressible), the same on both sides.
- Ours: a `Keyspace` holding the stream (filled before timing, untimed); *save* =
  `snapshot.save_snapshot` (encode, write, fsync the temp, rename, fsync the dir); *load* =
  `snapshot.load_snapshot` (read, CRC-32C, decode) then `Keyspace.load_entries` (the native
  stream: a SortedDict of the entries, node boundaries); `Store.open` on a data dir holding
  only that snapshot is timed as well.
- Redis: the XADDs pipelined (1000 in flight) into a fresh server; *save* = `SAVE` from
  request to reply; *load* = a new server on that directory, from `Popen` until PING answers
  PONG (not -LOADING) and XLEN = N; its own `DB loaded from disk` line is shown beside.
- CPU seconds beside wall seconds: ours `time.process_time()`, Redis the server's
  utime + stime. `--repeat R` keeps the best of R runs per figure.

    python bench/bench_streams.py [--entries 1000000] [--range-entries 100000]
        [--requests 20000] [--pipelined-requests 100000] [--repeat 1] [--no-throughput] [--no-structure]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shutil
import tempfile
import time

import attrs
from bench_common import (
    machine_summary,
    print_table,
    process_cpu_seconds,
    ratio,
    run_redis_benchmark,
)
from bench_server import Running, running_kevy
from redis_reference import RedisConnection, encode_command, running_redis

from kevy_persist import Store, StoreConfig
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import load_snapshot, save_snapshot
from kevy_persist.formats.stream_ids import stream_id
from kevy_persist.layout import names as layout_names

CLIENTS = 4
DEPTHS = (1, 16)
VALUE_SIZE_BYTES = 16
STREAM_KEY = b"bench:stream"
RANGE_KEY = b"bench:range"


@attrs.frozen
class Timing:
    wall_seconds: float
    cpu_seconds: float


@attrs.frozen
class Measurement:
    requests: int
    requests_per_second: float
    server_cpu_seconds: float

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6


def entry_values(count: int, seed: int = 1) -> list[bytes]:
    generator = random.Random(seed)
    return [generator.randbytes(VALUE_SIZE_BYTES) for _ in range(count)]


def pipeline_xadds(connection: RedisConnection, key: bytes, values: list[bytes], depth: int = 1000) -> None:
    """`XADD key <i+1>-0 f value` for every value, `depth` in flight; every reply checked."""
    for start in range(0, len(values), depth):
        batch = values[start : start + depth]
        connection.socket.sendall(b"".join(
            encode_command([b"XADD", key, b"%d-0" % (start + offset + 1), b"f", value])
            for offset, value in enumerate(batch)
        ))
        for offset in range(len(batch)):
            reply = connection.read_line()
            assert reply.startswith(b"$"), reply
            assert connection.read_exact(int(reply[1:]) + 2)[:-2] == b"%d-0" % (start + offset + 1)


# --------------------------------------------------------------------------- throughput


COMMANDS = {
    "XADD": ["XADD", "bench:add", "*", "f", "0123456789abcdef"],
    "XRANGE - + COUNT 10": ["XRANGE", "bench:range", "-", "+", "COUNT", "10"],
    "XRANGE random COUNT 10": ["XRANGE", "bench:range", "__rand_int__", "+", "COUNT", "10"],
    "XREVRANGE + - COUNT 10": ["XREVRANGE", "bench:range", "+", "-", "COUNT", "10"],
}


def benchmark(server: Running, command: list[str], requests: int, depth: int, keyspace_size: int) -> Measurement:
    arguments = [
        "-h", "127.0.0.1", "-p", str(server.port), "-n", str(requests), "-c", str(CLIENTS),
        "-P", str(depth), "-r", str(keyspace_size), *command,
    ]
    run = run_redis_benchmark(arguments, requests, [server.pid], timeout=900)
    return Measurement(requests, run.requests_per_second, run.server_cpu_seconds)


def measure_throughput(server: Running, range_values: list[bytes], requests: int, pipelined: int) -> dict:
    connection = RedisConnection(server.port)
    pipeline_xadds(connection, RANGE_KEY, range_values)
    assert connection.command(b"XLEN", RANGE_KEY) == b":%d" % len(range_values)
    results = {}
    for depth in DEPTHS:
        for name, command in COMMANDS.items():
            count = requests if depth == 1 else pipelined
            results[name, depth] = benchmark(server, command, count, depth, len(range_values))
    # Every XADD arrived (redis-benchmark rounds up to whole pipelines per client).
    added = int(connection.command(b"XLEN", b"bench:add")[1:])
    assert added >= sum(requests if depth == 1 else pipelined for depth in DEPTHS), added
    connection.close()
    return results


def throughput_rows(requests: int, pipelined: int, range_entries: int) -> list[list[object]]:
    values = entry_values(range_entries, seed=2)
    with running_kevy(["--in-memory"]) as kevy:
        ours = measure_throughput(kevy, values, requests, pipelined)
    with running_redis() as redis:
        theirs = measure_throughput(Running(redis.port, redis.process.pid), values, requests, pipelined)
    rows = []
    for depth in DEPTHS:
        for name in COMMANDS:
            mine, other = ours[name, depth], theirs[name, depth]
            rows.append([
                name, depth, f"{mine.requests_per_second:,.0f}", f"{other.requests_per_second:,.0f}",
                ratio(mine.requests_per_second, other.requests_per_second),
                f"{mine.cpu_microseconds_per_request:.1f}", f"{other.cpu_microseconds_per_request:.1f}",
            ])
    return rows


# --------------------------------------------------------------------------- structure


def structure_rows(sizes: list[int], operations: int = 20_000) -> list[list[object]]:
    from kevy_persist.commands import CommandContext, execute

    rows = []
    for size in sizes:
        keyspace = Keyspace()
        stream = Stream()
        for index in range(1, size + 1):
            stream.append(stream_id(index, 0), (b"f", b"0123456789abcdef"))
        keyspace.set_value(STREAM_KEY, stream)
        context = CommandContext(1_700_000_000_000, random.Random(3))
        chooser = random.Random(4)
        figures = []
        next_ms = size + 1
        gc.collect()
        started = time.process_time()
        for offset in range(operations):
            execute(keyspace, [b"XADD", STREAM_KEY, b"%d-0" % (next_ms + offset), b"f", b"0123456789abcdef"], context)
        figures.append((time.process_time() - started) / operations * 1e6)
        starts = [b"%d" % chooser.randrange(1, size) for _ in range(operations)]
        started = time.process_time()
        for start in starts:
            execute(keyspace, [b"XRANGE", STREAM_KEY, start, b"+", b"COUNT", b"10"], context)
        figures.append((time.process_time() - started) / operations * 1e6)
        victims = [b"%d-0" % ms for ms in chooser.sample(range(1, size), min(operations, size - 1))]
        started = time.process_time()
        for victim in victims:
            execute(keyspace, [b"XDEL", STREAM_KEY, victim], context)
        figures.append((time.process_time() - started) / len(victims) * 1e6)
        trims = 50
        started = time.process_time()
        for _ in range(trims):
            length = len(keyspace.peek(STREAM_KEY))
            execute(keyspace, [b"XTRIM", STREAM_KEY, b"MAXLEN", b"~", b"%d" % (length - 100)], context)
        figures.append((time.process_time() - started) / trims * 1e6)
        rows.append([f"{size:,}", *(f"{figure:.1f}" for figure in figures)])
    return rows


# --------------------------------------------------------------------------- snapshot


class _Stopwatch:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> Timing:
        wall, cpu = time.perf_counter(), time.process_time()
        timing = Timing(wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return timing


def measure_ours(values: list[bytes], directory: str) -> dict[str, Timing | int]:
    stream = Stream()
    for index, value in enumerate(values):
        stream.append(stream_id(index + 1, 0), (b"f", value))
    keyspace = Keyspace()
    keyspace.set_value(STREAM_KEY, stream)
    path = os.path.join(directory, layout_names.snapshot_name(0))
    file_system = OsFileSystem()
    gc.collect()
    watch = _Stopwatch()
    report = save_snapshot(file_system, path, keyspace.iter_entries(), None)
    save = watch.lap()
    del keyspace, stream
    gc.collect()
    watch = _Stopwatch()
    loaded = load_snapshot(file_system, path)
    decode = watch.lap()
    fresh = Keyspace()
    fresh.load_entries(loaded.records)
    fill = watch.lap()
    assert len(fresh.peek(STREAM_KEY)) == len(values)
    assert fresh.peek(STREAM_KEY).entries.peekitem(-1)[1] == (b"f", values[-1])
    del loaded, fresh
    gc.collect()
    watch = _Stopwatch()
    store = Store.open(StoreConfig(data_dir=directory, ticker="manual"))
    store_open = watch.lap()
    assert store.execute("XLEN", STREAM_KEY) == len(values)
    store.shutdown()
    return {"save": save, "decode": decode, "fill": fill, "load": Timing(decode.wall_seconds + fill.wall_seconds,
            decode.cpu_seconds + fill.cpu_seconds), "store_open": store_open, "size": report.size_bytes}


def measure_redis(values: list[bytes], directory: str) -> dict[str, Timing | int | float | None]:
    with running_redis(directory=directory) as redis:
        connection = RedisConnection(redis.port)
        pipeline_xadds(connection, STREAM_KEY, values)
        cpu_before = process_cpu_seconds(redis.process.pid)
        wall_before = time.perf_counter()
        assert connection.command(b"SAVE") == b"+OK"
        save = Timing(time.perf_counter() - wall_before, process_cpu_seconds(redis.process.pid) - cpu_before)
        connection.close()
    size = os.path.getsize(os.path.join(directory, "dump.rdb"))
    os.remove(os.path.join(directory, "redis.log"))
    wall_before = time.perf_counter()
    with running_redis(directory=directory) as redis:  # returns once PING answers PONG
        wall = time.perf_counter() - wall_before
        cpu = process_cpu_seconds(redis.process.pid)
        connection = RedisConnection(redis.port)
        assert connection.command(b"XLEN", STREAM_KEY) == b":%d" % len(values)
        connection.close()
        with open(redis.log_path, encoding="utf-8", errors="replace") as log:
            match = re.search(r"DB loaded from disk: ([0-9.]+) seconds", log.read())
    return {"save": save, "load": Timing(wall, cpu), "size": size,
            "server_load": float(match.group(1)) if match else None}


def _best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall_seconds for t in timings), min(t.cpu_seconds for t in timings))


def snapshot_rows(entry_count: int, repeat: int) -> list[list[object]]:
    values = entry_values(entry_count)
    ours_runs, redis_runs = [], []
    for _ in range(repeat):
        directory = tempfile.mkdtemp(prefix="kevy-bench-streams-")
        try:
            ours_runs.append(measure_ours(values, directory))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        directory = tempfile.mkdtemp(prefix="kevy-bench-streams-redis-")
        try:
            redis_runs.append(measure_redis(values, directory))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    rows = []

    def row(name: str, mine: Timing, other: Timing | None) -> list[object]:
        if other is None:
            return [name, f"{mine.wall_seconds:.3f} s", "", "", f"{mine.cpu_seconds:.3f} s", "", ""]
        return [name, f"{mine.wall_seconds:.3f} s", f"{other.wall_seconds:.3f} s",
                ratio(mine.wall_seconds, other.wall_seconds), f"{mine.cpu_seconds:.3f} s",
                f"{other.cpu_seconds:.3f} s", ratio(mine.cpu_seconds, other.cpu_seconds)]

    redis_save = _best([run["save"] for run in redis_runs])
    redis_load = _best([run["load"] for run in redis_runs])
    rows.append(row("save (SAVE)", _best([run["save"] for run in ours_runs]), redis_save))
    rows.append(row("load (read + decode + fill)", _best([run["load"] for run in ours_runs]), redis_load))
    rows.append(row("  decode (read + decode + CRC)", _best([run["decode"] for run in ours_runs]), None))
    rows.append(row("  fill (native stream)", _best([run["fill"] for run in ours_runs]), None))
    rows.append(row("Store.open (whole path)", _best([run["store_open"] for run in ours_runs]), redis_load))
    server_load = min((run["server_load"] for run in redis_runs if run["server_load"] is not None), default=None)
    rows.append(["Redis's own 'DB loaded from disk'", "", f"{server_load} s", "", "", "", ""])
    rows.append(["file size", f"{ours_runs[0]['size'] / 1e6:.1f} MB", f"{redis_runs[0]['size'] / 1e6:.1f} MB",
                 ratio(ours_runs[0]["size"], redis_runs[0]["size"]), "", "", ""])
    return rows


def main(argv: list[str] | None = None) -> tuple[list[list[object]], list[list[object]]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries of the snapshot stream")
    parser.add_argument("--range-entries", type=int, default=100_000, help="entries of the XRANGE stream")
    parser.add_argument("--requests", type=int, default=20_000, help="requests per -P 1 run")
    parser.add_argument("--pipelined-requests", type=int, default=100_000, help="requests per -P 16 run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-structure", action="store_true")
    parser.add_argument("--structure-operations", type=int, default=20_000, help="operations per in-process figure")
    arguments = parser.parse_args(argv)
    print(f"# {machine_summary()}")
    if not arguments.no_structure:
        print("# in process: CPU µs per execute")
        print_table(["entries", "XADD", "XRANGE random COUNT 10", "XDEL random", "XTRIM MAXLEN ~ (one node)"],
                    structure_rows(sorted({10_000, arguments.entries}), arguments.structure_operations))
    throughput: list[list[object]] = []
    if not arguments.no_throughput:
        print(f"# kevy-server --in-memory vs redis-server, redis-benchmark -c {CLIENTS}")
        throughput = throughput_rows(arguments.requests, arguments.pipelined_requests, arguments.range_entries)
        print_table(["command", "-P", "kevy req/s", "redis req/s", "kevy/redis", "kevy CPU µs/req",
                     "redis CPU µs/req"], throughput)
    print(f"# snapshot of one stream of {arguments.entries:,} entries (16 B values), best of {arguments.repeat}")
    snapshot = snapshot_rows(arguments.entries, arguments.repeat)
    print_table(["measure", "ours wall", "redis wall", "wall ours/redis", "ours CPU", "redis CPU", "CPU ours/redis"],
                snapshot)
    return throughput, snapshot


if __name__ == "__main__":
    main()
