"""Benchmark: re-shard 1,000,000 keys (64-byte values) from 2 to 3 shards.

Method. A data dir is built in a temp directory: `--keys` string keys `key:{i}` with
seeded random values of `--value-size` bytes, routed to 2 shards by KevyHash and saved as
one snapshot per shard (`dump-{i}.rdb`, no log: the state kevy or we leave after a save),
plus `shards.meta`. Then a *fresh* Python process runs `reconcile_layout` to (3, kevyhash)
on the real file system -- the same call opening the store with `shard_count=3` makes --
and reports its wall time and its peak resident set (`ru_maxrss`, which in a fresh process
is the re-shard's own peak plus the interpreter, about 20 MB). The whole logical keyspace
as Python objects is given for scale (keys + values + dict), measured by loading it.

`--logged` appends a few writes to each source's log after the snapshot, which forces the
decode path (the source is loaded into a keyspace and re-encoded) instead of raw copying.

Run: `/tmp/venv/bin/python bench/bench_reshard.py [--keys N] [--value-size B] [--logged]`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time

from kevy_persist.disk.clock import SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import save_snapshot
from kevy_persist.formats.records import ValueKind
from kevy_persist.layout.meta import ShardLayout, write_layout
from kevy_persist.layout.routing import Routing, router_for


def build_data_dir(directory: str, key_count: int, value_size: int, logged: bool) -> None:
    rng = random.Random(1234)
    router = router_for(2, Routing.KEVYHASH)
    shards: list[list] = [[], []]
    for number in range(key_count):
        key = b"key:%d" % number
        shards[router.shard_for_key(key)].append((key, ValueKind.STRING, rng.randbytes(value_size), None))
    fs = OsFileSystem()
    for index, entries in enumerate(shards):
        save_snapshot(fs, f"{directory}/dump-{index}.rdb", entries, None)
    shards.clear()
    if logged:
        from kevy_persist.engine.aof import create_log

        for index in range(2):
            writer = create_log(fs, f"{directory}/aof-{index}.aof", 1, None,
                                [[b"SET", b"logged:%d:%d" % (index, n), b"v"] for n in range(10)])
            writer.fsync()
            writer.close()
    write_layout(fs, directory, ShardLayout(2, Routing.KEVYHASH))


def run_reshard(directory: str, shard_count: int) -> dict:
    """In this process: re-shard and report (called in a fresh child process)."""
    from kevy_persist.reshard.reconcile import reconcile_layout, summary_line

    started = time.perf_counter()
    cpu_started = time.process_time()
    report = reconcile_layout(OsFileSystem(), directory, ShardLayout(shard_count, Routing.KEVYHASH), SystemClock())
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak_kib = peak_rss_kib()
    assert report.reshard is not None
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3), "peak_rss_mb": round(peak_kib / 1024, 1),
            "summary": summary_line(report.reshard)}


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not `ru_maxrss`: Linux carries that over
    from the parent across fork and exec, so a child of a big parent would report the
    parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


PEAK_RSS_CODE = (
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)


def baseline_rss_mb() -> float:
    """Peak RSS of a fresh interpreter that imports the package and does nothing else."""
    code = PEAK_RSS_CODE + "import kevy_persist.reshard\nprint(_peak())"
    return round(int(subprocess.check_output([sys.executable, "-c", code])) / 1024, 1)


def keyspace_rss_mb(directory: str) -> float:
    """Peak RSS of a fresh process that loads both old shards into keyspaces (for scale)."""
    code = PEAK_RSS_CODE + (
        "import sys\n"
        "from kevy_persist.clock import SystemClock\nfrom kevy_persist.fs_os import OsFileSystem\n"
        "from kevy_persist.opening import open_shard\nfrom kevy_persist.shard import ShardOptions\n"
        "shards = [open_shard(OsFileSystem(), SystemClock(), ShardOptions(directory=sys.argv[1], index=i, log_enabled=False)) for i in range(2)]\n"
        "print(_peak())\n"
    )
    return round(int(subprocess.check_output([sys.executable, "-c", code, directory])) / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=64)
    parser.add_argument("--logged", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--build-only", help="build the data dir at this path and stop")
    arguments = parser.parse_args()
    if arguments.build_only:
        build_data_dir(arguments.build_only, arguments.keys, arguments.value_size, arguments.logged)
        return
    if arguments.child:
        print(json.dumps(run_reshard(arguments.child, 3)))
        return
    with tempfile.TemporaryDirectory(prefix="kevy-bench-reshard-") as directory:
        build_data_dir(directory, arguments.keys, arguments.value_size, arguments.logged)
        whole_mb = keyspace_rss_mb(directory)
        result = json.loads(subprocess.check_output([sys.executable, __file__, "--child", directory]))
    print(f"keys {arguments.keys:,}, values {arguments.value_size} B, 2 -> 3 shards"
          f"{' (sources with logs: decode path)' if arguments.logged else ' (raw record copy)'}")
    print(f"  wall time        {result['seconds']:.2f} s ({result['cpu_seconds']:.2f} CPU s)")
    print(f"  peak RSS         {result['peak_rss_mb']} MB (a bare interpreter with the package: {baseline_rss_mb()} MB)")
    print(f"  whole keyspace   {whole_mb} MB peak RSS when loaded as two opened shards, for scale")
    print(f"  {result['summary']}")


if __name__ == "__main__":
    main()
