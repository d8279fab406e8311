"""kevy-server beside redis-server under the same redis-benchmark load (SET/GET, -P 1 and -P 16).

Method: for each mode, a fresh `python -m kevy_server` and a fresh `redis-server` 7.0 (each in
its own temp dir, on a free loopback port) take the same `redis-benchmark -t <test> -c 4
-P <depth> -n <requests> -d 64 -r 100000` runs, one test at a time: SET first, then GET (which
reads the keys SET wrote). Modes: `everysec` (kevy `--appendfsync everysec`; Redis
`--appendonly yes --appendfsync everysec`), `memory` (kevy `--in-memory`; Redis
`--appendonly no --save ""`), `always` (both fsync every write; fewer requests).

Reported per cell: requests per second as redis-benchmark prints them, the ratio ours / Redis
(above 1 = kevy is faster), and each server's CPU microseconds per request (user + system from
/proc over the run; the client's CPU is not counted). The machine's cores may be shared: rates
move with the neighbours' load, CPU per request much less.

    python bench/bench_server.py [--modes everysec,memory] [--requests 20000] [--pipelined-requests 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence

import attrs
from bench_common import REDIS_BENCHMARK, machine_summary, print_table, process_cpu_seconds, ratio
from redis_reference import running_redis

CLIENTS = 4
DEPTHS = (1, 16)
TESTS = ("set", "get")
VALUE_SIZE_BYTES = 64
KEYSPACE_SIZE = 100_000

KEVY_ARGUMENTS = {
    "everysec": ["--appendfsync", "everysec"],
    "always": ["--appendfsync", "always"],
    "memory": ["--in-memory"],
}
REDIS_ARGUMENTS = {
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no"],
    "always": ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"],
    "memory": ["--appendonly", "no"],
}


@attrs.frozen
class Running:
    port: int
    pid: int


@attrs.frozen
class Measurement:
    requests: int
    requests_per_second: float
    server_cpu_seconds: float

    @property
    def cpu_microseconds_per_request(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6


@contextlib.contextmanager
def running_kevy(arguments: Sequence[str]) -> Iterator[Running]:
    """`python -m kevy_server --port 0` in a temp dir; SIGTERM (graceful) on exit."""
    directory = tempfile.mkdtemp(prefix="kevy-bench-server-")
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--dir", os.path.join(directory, "data"),
         *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        port = _read_port(process)
        yield Running(port, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
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


def benchmark(server: Running, test: str, requests: int, depth: int) -> Measurement:
    arguments = [
        REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(server.port), "-t", test, "-n", str(requests),
        "-c", str(CLIENTS), "-P", str(depth), "-d", str(VALUE_SIZE_BYTES), "-r", str(KEYSPACE_SIZE), "--csv",
    ]
    cpu_before = process_cpu_seconds(server.pid)
    completed = subprocess.run(arguments, capture_output=True, text=True, check=True, timeout=900)
    cpu_seconds = process_cpu_seconds(server.pid) - cpu_before
    rows = list(csv.DictReader(io.StringIO(completed.stdout)))
    assert len(rows) == 1 and re.match(r"^[0-9.]+$", rows[0]["rps"]), completed.stdout
    return Measurement(requests, float(rows[0]["rps"]), cpu_seconds)


def measure_mode(mode: str, requests: int, pipelined_requests: int) -> list[list[object]]:
    results: dict[tuple[str, str, int], Measurement] = {}
    with running_kevy(KEVY_ARGUMENTS[mode]) as kevy:
        for depth in DEPTHS:
            for test in TESTS:
                count = requests if depth == 1 else pipelined_requests
                results["kevy", test, depth] = benchmark(kevy, test, count, depth)
    with running_redis(REDIS_ARGUMENTS[mode]) as redis:
        server = Running(redis.port, redis.process.pid)
        for depth in DEPTHS:
            for test in TESTS:
                count = requests if depth == 1 else pipelined_requests
                results["redis", test, depth] = benchmark(server, test, count, depth)
    rows = []
    for depth in DEPTHS:
        for test in TESTS:
            ours, theirs = results["kevy", test, depth], results["redis", test, depth]
            rows.append([
                mode, test.upper(), depth, f"{ours.requests_per_second:,.0f}", f"{theirs.requests_per_second:,.0f}",
                ratio(ours.requests_per_second, theirs.requests_per_second),
                f"{ours.cpu_microseconds_per_request:.1f}", f"{theirs.cpu_microseconds_per_request:.1f}",
            ])
    return rows


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="everysec,memory", help="comma-separated: everysec, memory, always")
    parser.add_argument("--requests", type=int, default=20_000, help="requests per -P 1 run")
    parser.add_argument("--pipelined-requests", type=int, default=100_000, help="requests per -P 16 run")
    parser.add_argument("--always-requests", type=int, default=2_000, help="requests per run in mode always")
    arguments = parser.parse_args(argv)
    print(f"# kevy-server vs redis-server: redis-benchmark -c {CLIENTS} -d {VALUE_SIZE_BYTES} -r {KEYSPACE_SIZE}")
    print(f"# {machine_summary()}")
    rows: list[list[object]] = []
    for mode in arguments.modes.split(","):
        if mode == "always":
            rows += measure_mode(mode, arguments.always_requests, arguments.always_requests * 4)
        else:
            rows += measure_mode(mode, arguments.requests, arguments.pipelined_requests)
    print_table(
        ["mode", "test", "-P", "kevy req/s", "redis req/s", "kevy/redis", "kevy CPU µs/req", "redis CPU µs/req"],
        rows,
    )
    return rows


if __name__ == "__main__":
    main()
