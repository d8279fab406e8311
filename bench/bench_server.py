"""kevy-server beside redis-server 7.0 under the same redis-benchmark load, in one run.

The matrix of issue 10: `redis-benchmark -t set,get,incr,lpush,hset,zadd -n N -r 100000` at
`-c 10` and `-c 50`, `-P 1` and `-P 16`, plus SET `-c 50` under `appendfsync always` for both
servers, plus a 1M-key pipelined load (`-t set -n 1000000 -r 1000000 -c 50 -P 16`, timed).

Method: one fresh `python -m kevy_server` and one fresh `redis-server` per mode (each in its
own temp dir on a free loopback port); every cell runs one test alone, so each server's CPU
time over the run (utime + stime from `/proc/<pid>/stat`, 10 ms ticks; the client's CPU is
not counted) belongs to that test. Modes: `everysec` (kevy `--appendfsync everysec`; Redis
`--appendonly yes --appendfsync everysec --aof-use-rdb-preamble no`) for the matrix, `always`
(both fsync before replying) for the SET row, and `load`: the load into a fresh, empty server
of each (everysec), so it does not start on the matrix's data and log.

Automatic log rewrites are off on both servers (`CONFIG SET auto-aof-rewrite-percentage 0`):
each would rewrite at its own log sizes, which differ (kevy's records carry a checksum), and
Redis's rewrite runs in a forked child whose CPU the server's `/proc` figures do not count,
while kevy's serializes on a thread of the server process -- the matrix measures serving
requests; `bench_bgsave.py` and `bench_server_bgsave.py` measure serving during a rewrite.

Each row: requests per second as redis-benchmark prints them, server CPU microseconds per
request, and the ratios ours / Redis (req/s above 1 = kevy serves more; CPU above 1 = kevy
spends more). The machine's cores may be shared: rates move with the neighbours' load, CPU
per request much less.

    python bench/bench_server.py [--requests 200000] [--always-requests 20000]
                                 [--load-keys 1000000] [--tests set,get,...] [--clients 10,50]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence

import attrs
from bench_common import (
    machine_summary,
    print_table,
    ratio,
    run_redis_benchmark,
)
from redis_reference import running_redis

TESTS = ("set", "get", "incr", "lpush", "hset", "zadd")
CLIENT_COUNTS = (10, 50)
DEPTHS = (1, 16)
KEYSPACE_SIZE = 100_000

KEVY_ARGUMENTS = {
    "everysec": ["--appendfsync", "everysec"],
    "always": ["--appendfsync", "always"],
    "load": ["--appendfsync", "everysec"],
}
REDIS_ARGUMENTS = {
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no"],
    "always": ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"],
    "load": ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no"],
}
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@attrs.frozen
class Running:
    port: int
    pid: int


@attrs.frozen
class Measurement:
    requests: int
    requests_per_second: float
    server_cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6


@attrs.frozen
class Cell:
    """One benchmark invocation: a test at a client count and pipeline depth."""

    mode: str
    test: str
    clients: int
    depth: int
    requests: int
    keyspace_size: int = KEYSPACE_SIZE


@contextlib.contextmanager
def running_kevy(arguments: Sequence[str]) -> Iterator[Running]:
    """`python -m kevy_server --port 0` in a temp dir; SIGTERM (graceful) on exit."""
    directory = tempfile.mkdtemp(prefix="kevy-bench-server-")
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--dir", os.path.join(directory, "data"),
         "--maxclients", "1000", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        port = _read_port(process)
        yield Running(port, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        shutil.rmtree(directory, ignore_errors=True)


def _read_port(process: subprocess.Popen) -> int:
    """The port from the server's "listening on HOST:PORT" log line (it logs little else)."""
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on [^ ]*:(\d+)", line)
        if found:
            return int(found.group(1))
    raise RuntimeError("kevy-server exited before listening")


def benchmark(server: Running, cell: Cell) -> Measurement:
    arguments = [
        "-h", "127.0.0.1", "-p", str(server.port), "-t", cell.test, "-n", str(cell.requests),
        "-c", str(cell.clients), "-P", str(cell.depth), "-r", str(cell.keyspace_size),
    ]
    run = run_redis_benchmark(arguments, cell.requests, [server.pid])
    return Measurement(cell.requests, run.requests_per_second, run.server_cpu_seconds, run.wall_seconds)


def disable_auto_rewrite(port: int) -> None:
    """No automatic log rewrite during the cells (see the module docstring)."""
    reply = subprocess.run([REDIS_CLI, "-p", str(port), "config", "set", "auto-aof-rewrite-percentage", "0"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    assert reply == "OK", reply


def measure(cells: list[Cell], only_kevy: bool = False) -> dict[tuple[str, Cell], Measurement]:
    """Every cell against kevy-server, then against redis-server, one server per mode."""
    results: dict[tuple[str, Cell], Measurement] = {}
    for mode in dict.fromkeys(cell.mode for cell in cells):
        mode_cells = [cell for cell in cells if cell.mode == mode]
        with running_kevy(KEVY_ARGUMENTS[mode]) as kevy:
            disable_auto_rewrite(kevy.port)
            for cell in mode_cells:
                results["kevy", cell] = benchmark(kevy, cell)
        if only_kevy:
            continue
        with running_redis(REDIS_ARGUMENTS[mode]) as redis:
            server = Running(redis.port, redis.process.pid)
            disable_auto_rewrite(server.port)
            for cell in mode_cells:
                results["redis", cell] = benchmark(server, cell)
    return results


def row(cell: Cell, results: dict[tuple[str, Cell], Measurement], label: str | None = None) -> list[object]:
    ours = results["kevy", cell]
    theirs = results.get(("redis", cell))
    name = label or cell.test.upper()
    cells: list[object] = [cell.mode, name, cell.clients, cell.depth, f"{ours.requests_per_second:,.0f}"]
    if theirs is None:
        return cells + ["-", "-", f"{ours.cpu_microseconds_per_request:.1f}", "-", "-"]
    return cells + [
        f"{theirs.requests_per_second:,.0f}", ratio(ours.requests_per_second, theirs.requests_per_second),
        f"{ours.cpu_microseconds_per_request:.1f}", f"{theirs.cpu_microseconds_per_request:.1f}",
        ratio(ours.cpu_microseconds_per_request, theirs.cpu_microseconds_per_request),
    ]


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000, help="requests per matrix cell")
    parser.add_argument("--always-requests", type=int, default=20_000, help="requests of the SET row under always")
    parser.add_argument("--load-keys", type=int, default=1_000_000, help="keys of the pipelined load (0: skip)")
    parser.add_argument("--tests", default=",".join(TESTS))
    parser.add_argument("--clients", default=",".join(map(str, CLIENT_COUNTS)))
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--no-redis", action="store_true", help="measure kevy-server only")
    arguments = parser.parse_args(argv)
    tests = arguments.tests.split(",")
    matrix = [
        Cell("everysec", test, clients, depth, arguments.requests)
        for clients in map(int, arguments.clients.split(","))
        for depth in map(int, arguments.depths.split(","))
        for test in tests
    ]
    extra = [Cell("always", "set", 50, 1, arguments.always_requests)]
    load = []
    if arguments.load_keys:
        load = [Cell("load", "set", 50, 16, arguments.load_keys, keyspace_size=arguments.load_keys)]
    print(f"# kevy-server vs redis-server: redis-benchmark -r {KEYSPACE_SIZE}, {arguments.requests} requests per cell")
    print(f"# {machine_summary()}")
    results = measure(matrix + extra + load, only_kevy=arguments.no_redis)
    rows = [row(cell, results) for cell in matrix + extra]
    for cell in load:
        rows.append(row(cell, results, label=f"LOAD {cell.requests} keys"))
    print_table(
        ["mode", "test", "-c", "-P", "kevy req/s", "redis req/s", "req/s ratio",
         "kevy CPU µs/req", "redis CPU µs/req", "CPU ratio"],
        rows,
    )
    for cell in load:
        ours, theirs = results["kevy", cell], results.get(("redis", cell))
        against = f", redis-server {theirs.wall_seconds:.1f} s ({ratio(ours.wall_seconds, theirs.wall_seconds)})" if theirs else ""
        print(f"# load of {cell.requests} keys: kevy-server {ours.wall_seconds:.1f} s{against}")
    return rows


if __name__ == "__main__":
    main()
