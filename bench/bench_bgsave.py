"""BGSAVE of N keys while a writer runs, and restart times, kevy_persist beside redis-server.

Data: `--keys` (default 1,000,000) 16-byte keys with 64-byte seeded random values
(`bench_common.string_dataset`), the same pairs on both sides; logs on, `appendfsync everysec`.

BGSAVE, per kevy worker (`thread`, `fork`) and for Redis:
- the store (or server) is filled, then saved once, so it starts as after a restart;
- a writer thread SETs existing keys back to back (`bgsave_probes.WriterLoop`): ours calls
  `store.set` in-process, Redis gets one request at a time over a raw socket (its absolute
  rate is bound by the round trip, so compare each side with itself: *during / without*);
- `--seconds` of writes without a save, then BGSAVE and writes until it is done (ours: the
  `job_committed` event; Redis: `rdb_bgsave_in_progress:0`), then `--seconds` more without:
  the "without" figures are both quiet windows together (p99: the worse of the two), so
  load that other programs put on a shared machine weighs on both sides of the ratio;
- the owner's hold time: ours `freeze_hold_us + commit_hold_us` from the job's metrics (the
  time the shard's lock was held for the job); Redis's `latest_fork_usec` (its parent blocks
  for the fork; the child renames the file itself). Beside it the time of a full `SAVE` of
  the same data, which blocks the shard (server) throughout; the target is hold <= 10 % of it;
- each side runs `--repeat` times; the table shows the median run (by throughput ratio)
  and, in parentheses, the range of the throughput ratios and hold shares over the runs;
- peak memory: the largest PSS of the process and its children during the BGSAVE
  (`bgsave_probes.MemorySampler`), beside the PSS before it;
- CPU per SET written during the save: ours is this process's CPU (every thread: writer,
  worker, ticker) plus a forked child's; Redis's is the server's utime + stime plus its
  reaped BGSAVE child's (`/proc/<pid>/stat` cutime + cstime). Both include the save's own
  work, spread over the SETs of its duration.

Restart of N keys: ours `Store.open` on a data dir whose log holds N `SET`s and no snapshot,
and on one holding only the snapshot; Redis the time from start until it serves (PING
answers PONG, no longer `-LOADING`) on an AOF of N SETs (`aof-use-rdb-preamble no`) and on
an RDB. Ratios are ours / Redis (times: above 1 means we are slower). CPU: ours this
process's, Redis the server's utime + stime at the moment it serves (start-up included).

    python bench/bench_bgsave.py [--keys 1000000] [--seconds 3] [--repeat 3] [--workers thread,fork] [--no-redis]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

import attrs
from bench_common import machine_summary, print_table, ratio, string_dataset
from bgsave_probes import MemorySampler, Window, WriterLoop, pss_bytes, tree_cpu_seconds
from redis_reference import RedisConnection, pipeline_commands, running_redis

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine import aof
from kevy_persist.formats.log_markers import EpochMarker

HOLD_TARGET = 0.10
THROUGHPUT_TARGET = 0.70
P99_TARGET_MS = 10.0
# PSS sampling walks the process's page tables (smaps_rollup): a few ms each time, so not too
# often, or the probe itself slows the writer.
SAMPLE_SECONDS = 0.25
LOG_ON = ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no"]


@attrs.frozen
class BgsaveRun:
    name: str
    hold_ms: float
    full_save_ms: float
    bgsave_seconds: float
    without: Window
    during: Window
    memory_before_bytes: int
    memory_peak_bytes: int
    cpu_microseconds_per_set: float


def _fill_store(store: Store, pairs: list[tuple[bytes, bytes]]) -> None:
    for start in range(0, len(pairs), 1000):
        store.execute("MSET", *(part for pair in pairs[start : start + 1000] for part in pair))


def measure_ours(worker: str, pairs: list[tuple[bytes, bytes]], seconds: float) -> BgsaveRun:
    directory = tempfile.mkdtemp(prefix="kevy-bench-bgsave-")
    events: list = []
    config = StoreConfig(data_dir=directory, appendfsync="everysec", ticker="background",
                         background_worker=worker, auto_rewrite_percentage=0, metrics=events.append,
                         shutdown_snapshot_min_log_bytes=None)
    try:
        store = Store.open(config)
        _fill_store(store, pairs)
        store.save()
        writer = WriterLoop(store.set, len(pairs))
        writer.start()
        time.sleep(0.5)
        writer.mark()
        time.sleep(seconds)
        without = writer.window()
        memory_before = pss_bytes(os.getpid())
        sampler = MemorySampler(os.getpid(), SAMPLE_SECONDS).start()
        cpu_before = time.process_time() + _children_cpu_seconds()
        writer.mark()
        started = time.perf_counter()
        assert store.bgsave() == "started"
        while not any(event.name in ("job_committed", "job_failed") for event in events):
            time.sleep(0.002)
        bgsave_seconds = time.perf_counter() - started
        during = writer.window()
        cpu_seconds = time.process_time() + _children_cpu_seconds() - cpu_before
        peak = sampler.stop()
        writer.mark()
        time.sleep(seconds)
        without = _combined(without, writer.window())
        writer.stop()
        [done] = [event for event in events if event.name in ("job_committed", "job_failed")]
        assert done.name == "job_committed", done
        started = time.perf_counter()
        store.save()
        full_save_ms = (time.perf_counter() - started) * 1e3
        store.shutdown(save=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    hold_ms = (done.fields["freeze_hold_us"] + done.fields["commit_hold_us"]) / 1e3
    return BgsaveRun(f"kevy ({worker})", hold_ms, full_save_ms, bgsave_seconds, without, during, memory_before,
                     peak, cpu_seconds / max(during.operations, 1) * 1e6)


def _combined(first: Window, second: Window) -> Window:
    """The writes of two windows as one (the baseline before and after the save, so a
    neighbour's load that comes or goes during a run weighs on both sides alike)."""
    return Window(first.seconds + second.seconds, first.operations + second.operations,
                  (first.p50_ms + second.p50_ms) / 2, max(first.p99_ms, second.p99_ms),
                  max(first.max_ms, second.max_ms))


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _info_field(connection: RedisConnection, section: bytes, name: bytes) -> bytes:
    for line in connection.command(b"INFO", section).split(b"\r\n"):
        if line.startswith(name + b":"):
            return line.partition(b":")[2]
    raise KeyError(name)


def measure_redis(pairs: list[tuple[bytes, bytes]], seconds: float) -> BgsaveRun:
    with running_redis(LOG_ON) as redis:
        control = RedisConnection(redis.port)
        pipeline_commands(control, ([b"SET", key, value] for key, value in pairs), 1000)
        assert control.command(b"SAVE") == b"+OK"
        client = RedisConnection(redis.port)
        writer = WriterLoop(lambda key, value: client.command(b"SET", key, value), len(pairs))
        writer.start()
        time.sleep(0.5)
        writer.mark()
        time.sleep(seconds)
        without = writer.window()
        memory_before = pss_bytes(redis.process.pid)
        sampler = MemorySampler(redis.process.pid, SAMPLE_SECONDS).start()
        cpu_before = tree_cpu_seconds(redis.process.pid)
        writer.mark()
        started = time.perf_counter()
        assert control.command(b"BGSAVE") == b"+Background saving started"
        while _info_field(control, b"persistence", b"rdb_bgsave_in_progress") != b"0":
            time.sleep(0.002)
        bgsave_seconds = time.perf_counter() - started
        during = writer.window()
        cpu_seconds = tree_cpu_seconds(redis.process.pid) - cpu_before
        peak = sampler.stop()
        writer.mark()
        time.sleep(seconds)
        without = _combined(without, writer.window())
        writer.stop()
        assert _info_field(control, b"persistence", b"rdb_last_bgsave_status") == b"ok"
        fork_ms = int(_info_field(control, b"stats", b"latest_fork_usec")) / 1e3
        started = time.perf_counter()
        assert control.command(b"SAVE") == b"+OK"
        full_save_ms = (time.perf_counter() - started) * 1e3
    return BgsaveRun("redis", fork_ms, full_save_ms, bgsave_seconds, without, during, memory_before, peak,
                     cpu_seconds / max(during.operations, 1) * 1e6)


@attrs.frozen
class Restart:
    name: str
    seconds: float
    records: int
    cpu_seconds: float


def measure_restart_ours(pairs: list[tuple[bytes, bytes]]) -> list[Restart]:
    directory = tempfile.mkdtemp(prefix="kevy-bench-restart-")
    try:
        fs = OsFileSystem()
        writer = aof.create_log(fs, os.path.join(directory, "aof-0.aof"), 2, EpochMarker(1, "base"),
                                ([b"SET", key, value] for key, value in pairs))
        writer.close()
        config = StoreConfig(data_dir=directory, ticker="manual", shutdown_snapshot_min_log_bytes=None)
        started, cpu_started = time.perf_counter(), time.process_time()
        store = Store.open(config)
        from_log, log_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert store.open_report.replayed_commands == len(pairs) and store.execute("DBSIZE") == len(pairs)
        store.save()
        store.shutdown(save=False)
        started, cpu_started = time.perf_counter(), time.process_time()
        store = Store.open(config)
        from_snapshot, snapshot_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert store.execute("DBSIZE") == len(pairs) and store.open_report.replayed_commands == 0
        store.shutdown(save=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return [Restart("log only", from_log, len(pairs), log_cpu),
            Restart("snapshot", from_snapshot, len(pairs), snapshot_cpu)]


def measure_restart_redis(pairs: list[tuple[bytes, bytes]]) -> list[Restart]:
    results = []
    for name, extra in (("log only", LOG_ON), ("snapshot", [])):
        directory = tempfile.mkdtemp(prefix="kevy-bench-redis-restart-")
        try:
            with running_redis(extra, directory=directory) as redis:
                connection = RedisConnection(redis.port)
                pipeline_commands(connection, ([b"SET", key, value] for key, value in pairs), 1000)
                if name == "snapshot":
                    assert connection.command(b"SAVE") == b"+OK"
                connection.close()
            extra_load = extra if name == "log only" else ["--dbfilename", "dump.rdb"]
            started = time.perf_counter()
            with running_redis(extra_load, directory=directory) as redis:  # returns once loaded
                seconds = time.perf_counter() - started
                cpu_seconds = tree_cpu_seconds(redis.process.pid)  # start-up and load
                connection = RedisConnection(redis.port)
                assert connection.command(b"DBSIZE") == b":%d" % len(pairs)
                connection.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        results.append(Restart(name, seconds, len(pairs), cpu_seconds))
    return results


def _throughput_ratio(run: BgsaveRun) -> float:
    return run.during.operations_per_second / max(run.without.operations_per_second, 1)


def _mib(size_bytes: int) -> str:
    return f"{size_bytes / 2**20:.0f} MiB"


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", default="thread,fork", help="kevy workers to measure, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median run is shown")
    parser.add_argument("--no-redis", action="store_true")
    arguments = parser.parse_args(argv)
    pairs = string_dataset(arguments.keys)
    print(f"# BGSAVE of {arguments.keys:,} keys with a writer running; {machine_summary()}")
    sides = [lambda worker=worker: measure_ours(worker, pairs, arguments.seconds)
             for worker in arguments.workers.split(",")]
    if not arguments.no_redis:
        sides.append(lambda: measure_redis(pairs, arguments.seconds))
    rows = []
    for side in sides:
        # The median run by throughput ratio, with the range of the ratios and hold shares
        # over the repeats (the machine's other load moves single runs by tens of percent).
        repeats = sorted((side() for _ in range(arguments.repeat)), key=_throughput_ratio)
        run = repeats[len(repeats) // 2]
        spread = (f" ({_throughput_ratio(repeats[0]):.0%}-{_throughput_ratio(repeats[-1]):.0%})"
                  if len(repeats) > 1 else "")
        holds = sorted(repeat.hold_ms / repeat.full_save_ms for repeat in repeats)
        hold_spread = f" ({holds[0]:.1%}-{holds[-1]:.1%})" if len(repeats) > 1 else ""
        rows.append([
            run.name, f"{run.hold_ms:.1f} ms", f"{run.full_save_ms:.0f} ms",
            f"{run.hold_ms / run.full_save_ms:.1%}{hold_spread}", f"{run.bgsave_seconds:.2f} s",
            f"{run.without.operations_per_second:,.0f}", f"{run.during.operations_per_second:,.0f}",
            f"{_throughput_ratio(run):.0%}{spread}",
            f"{run.without.p99_ms:.3f} / {run.during.p99_ms:.3f} ms", f"{run.during.max_ms:.1f} ms",
            f"{_mib(run.memory_before_bytes)} -> {_mib(run.memory_peak_bytes)}",
            f"{run.cpu_microseconds_per_set:.1f} us",
        ])
    print_table(["side", "owner hold", "full SAVE", "hold/SAVE (<=10%)", "BGSAVE", "SET/s without",
                 "SET/s during", "during/without (>=70%)", "p99 without / during (<=10 ms)", "max during",
                 "PSS before -> peak", "CPU per SET during"], rows)
    ours = measure_restart_ours(pairs)
    theirs = measure_restart_redis(pairs) if not arguments.no_redis else []
    restart_rows = []
    for index, restart in enumerate(ours):
        other = theirs[index] if theirs else None
        restart_rows.append([
            restart.name, f"{restart.seconds:.2f} s", f"{restart.cpu_seconds:.2f} s",
            f"{restart.cpu_seconds / restart.records * 1e6:.2f} us",
            f"{other.seconds:.2f} s" if other else "-", ratio(restart.seconds, other.seconds) if other else "-",
            f"{other.cpu_seconds:.2f} s" if other else "-",
            ratio(restart.cpu_seconds, other.cpu_seconds) if other else "-",
        ])
    print(f"\n# restart of {arguments.keys:,} keys (Store.open vs redis-server start until it serves)")
    print_table(["from", "kevy wall", "kevy CPU", "kevy CPU per key", "redis wall", "wall kevy/redis",
                 "redis CPU", "CPU kevy/redis"], restart_rows)
    return rows + restart_rows


if __name__ == "__main__":
    main()
