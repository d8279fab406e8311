"""Reference numbers from a real redis-server, for side-by-side runs with kevy.

Each function starts its own `redis-server` (7.0, `/usr/bin/redis-server` unless
`REDIS_SERVER` says otherwise) on a free loopback port in a fresh temp dir, with
`--save "" --appendonly no` unless the measurement needs the log, measures one thing and
returns plain numbers in an attrs record, so `bench/bench_snapshot.py` (later) can call
these and kevy's equivalents in one run and print them together.

Methods (all wall-clock, `time.perf_counter`):

- load: `make_string_commands` builds SET argvs; `pipeline_commands` writes them as RESP
  in batches over one raw socket and checks every reply is `+OK` (the client is not what
  is measured; raw sockets keep it out of the way).
- `measure_save`: from sending `SAVE` until its reply (Redis writes the RDB synchronously,
  fsyncs and renames it before replying). Also reports the dump size.
- `measure_load`: a new server whose `--dbfilename` is the dump; from `Popen` until `PING`
  answers `PONG` (it answers `-LOADING` while loading) and `DBSIZE` equals the expected
  count; plus the server's own figure from its log (`DB loaded from disk: X seconds`).
- `measure_log_append`: `--appendonly yes --appendfsync {always|everysec|no}`, SETs sent
  with `pipeline_depth` commands in flight (1 = strict request/reply, where `always` costs
  one fsync per write; deeper pipelines let Redis cover a whole batch with one fsync, as
  group commit does). Reports operations per second and the AOF size.

Run `python bench/redis_reference.py --help` for a command-line summary run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence

import attrs

REDIS_SERVER = os.environ.get("REDIS_SERVER", shutil.which("redis-server") or "/usr/bin/redis-server")
_READY_TIMEOUT_SECONDS = 120.0
_OK = b"+OK\r\n"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def encode_command(argv: Sequence[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    for argument in argv:
        parts.append(b"$%d\r\n%s\r\n" % (len(argument), argument))
    return b"".join(parts)


class RedisConnection:
    """A minimal blocking RESP client over a raw socket (enough for benchmarks)."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.socket.close()

    def _fill(self) -> None:
        chunk = self.socket.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buffer += chunk

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def command(self, *argv: bytes) -> bytes:
        """Send one command; the reply's first line (bulk replies: their payload)."""
        self.socket.sendall(encode_command(argv))
        line = self.read_line()
        if line.startswith(b"$") and line != b"$-1":
            payload = self.read_exact(int(line[1:]) + 2)
            return payload[:-2]
        return line

    def expect_ok_replies(self, count: int) -> None:
        replies = self.read_exact(len(_OK) * count)
        if replies != _OK * count:
            raise RuntimeError(f"unexpected replies: {replies[:80]!r}")


@attrs.frozen
class RunningRedis:
    port: int
    directory: str
    process: subprocess.Popen
    log_path: str


def _server_arguments(port: int, directory: str, extra: Sequence[str]) -> list[str]:
    return [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", directory,
        "--logfile", os.path.join(directory, "redis.log"),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        *extra,
    ]


def wait_until_ready(port: int, expected_keys: int | None, timeout_seconds: float) -> None:
    """Poll until PING answers PONG (not -LOADING) and, if given, DBSIZE == expected_keys."""
    deadline = time.perf_counter() + timeout_seconds
    connection = None
    while True:
        try:
            if connection is None:
                connection = RedisConnection(port)
            if connection.command(b"PING") == b"+PONG":
                if expected_keys is None:
                    break
                if connection.command(b"DBSIZE") == b":%d" % expected_keys:
                    break
        except (ConnectionError, OSError):
            if connection is not None:
                connection.close()
            connection = None
        if time.perf_counter() > deadline:
            raise TimeoutError(f"redis on port {port} not ready in {timeout_seconds} s")
        time.sleep(0.001)
    connection.close()


@contextlib.contextmanager
def running_redis(extra: Sequence[str] = (), directory: str | None = None) -> Iterator[RunningRedis]:
    """A redis-server in `directory` (a fresh temp dir if None), stopped on exit."""
    owned = directory is None
    directory = directory or tempfile.mkdtemp(prefix="kevy-bench-redis-")
    port = free_loopback_port()
    process = subprocess.Popen(_server_arguments(port, directory, extra))
    try:
        wait_until_ready(port, None, _READY_TIMEOUT_SECONDS)
        yield RunningRedis(port, directory, process, os.path.join(directory, "redis.log"))
    finally:
        process.terminate()
        process.wait(timeout=30)
        if owned:
            shutil.rmtree(directory, ignore_errors=True)


def make_string_commands(
    key_count: int, value_size_bytes: int, seed: int = 1
) -> list[list[bytes]]:
    """`SET key:{i} <value>` for i in 0..key_count; values seeded random bytes, so neither
    Redis's LZF nor any codec gets to compress them away."""
    generator = random.Random(seed)
    return [
        [b"SET", b"key:%d" % index, generator.randbytes(value_size_bytes)]
        for index in range(key_count)
    ]


def pipeline_commands(
    connection: RedisConnection, commands: Iterable[Sequence[bytes]], depth: int
) -> int:
    """Send commands `depth` at a time, each batch's `+OK`s read before the next; the count."""
    batch: list[bytes] = []
    sent = 0
    for argv in commands:
        batch.append(encode_command(argv))
        if len(batch) == depth:
            connection.socket.sendall(b"".join(batch))
            connection.expect_ok_replies(len(batch))
            sent += len(batch)
            batch = []
    if batch:
        connection.socket.sendall(b"".join(batch))
        connection.expect_ok_replies(len(batch))
        sent += len(batch)
    return sent


@attrs.frozen
class SaveResult:
    key_count: int
    load_seconds: float  # time to pipeline the keys in (client + server)
    save_seconds: float  # SAVE command to reply
    dump_size_bytes: int
    dump_path: str


@attrs.frozen
class LoadResult:
    key_count: int
    ready_seconds: float  # process start -> PING ok and DBSIZE == key_count
    server_reported_load_seconds: float | None  # "DB loaded from disk: X seconds"


@attrs.frozen
class LogAppendResult:
    policy: str
    operations: int
    pipeline_depth: int
    seconds: float
    operations_per_second: float
    aof_size_bytes: int


def measure_save(
    commands: Sequence[Sequence[bytes]], keep_directory: str, pipeline_depth: int = 1000
) -> SaveResult:
    """Load `commands` into a fresh redis, time SAVE; the dump stays in `keep_directory`."""
    with running_redis(directory=keep_directory) as redis:
        connection = RedisConnection(redis.port)
        started = time.perf_counter()
        pipeline_commands(connection, commands, pipeline_depth)
        loaded = time.perf_counter()
        key_count = int(connection.command(b"DBSIZE")[1:])
        started_save = time.perf_counter()
        reply = connection.command(b"SAVE")
        saved = time.perf_counter()
        assert reply == b"+OK", reply
        connection.close()
    dump_path = os.path.join(keep_directory, "dump.rdb")
    return SaveResult(
        key_count, loaded - started, saved - started_save, os.path.getsize(dump_path), dump_path
    )


def measure_load(dump_path: str, expected_keys: int) -> LoadResult:
    """Start a redis on an existing dump; time until it serves all `expected_keys`."""
    directory = tempfile.mkdtemp(prefix="kevy-bench-redis-load-")
    try:
        shutil.copyfile(dump_path, os.path.join(directory, "dump.rdb"))
        port = free_loopback_port()
        arguments = _server_arguments(port, directory, ["--dbfilename", "dump.rdb"])
        started = time.perf_counter()
        process = subprocess.Popen(arguments)
        try:
            wait_until_ready(port, expected_keys, _READY_TIMEOUT_SECONDS)
            ready = time.perf_counter()
        finally:
            process.terminate()
            process.wait(timeout=30)
        with open(os.path.join(directory, "redis.log"), encoding="utf-8", errors="replace") as log:
            match = re.search(r"DB loaded from disk: ([0-9.]+) seconds", log.read())
        reported = float(match.group(1)) if match else None
        return LoadResult(expected_keys, ready - started, reported)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure_log_append(
    policy: str, commands: Sequence[Sequence[bytes]], pipeline_depth: int
) -> LogAppendResult:
    """SET throughput with the AOF on under `appendfsync policy`."""
    assert policy in ("always", "everysec", "no")
    extra = ["--appendonly", "yes", "--appendfsync", policy, "--aof-use-rdb-preamble", "no"]
    with running_redis(extra) as redis:
        connection = RedisConnection(redis.port)
        started = time.perf_counter()
        operations = pipeline_commands(connection, commands, pipeline_depth)
        finished = time.perf_counter()
        connection.close()
        aof_size_bytes = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(redis.directory)
            for name in names
            if ".aof" in name
        )
    seconds = finished - started
    return LogAppendResult(
        policy, operations, pipeline_depth, seconds, operations / seconds, aof_size_bytes
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--aof-operations", type=int, default=20_000)
    parser.add_argument("--always-operations", type=int, default=2_000)
    arguments = parser.parse_args()

    commands = make_string_commands(arguments.keys, arguments.value_size)
    keep = tempfile.mkdtemp(prefix="kevy-bench-redis-save-")
    try:
        save = measure_save(commands, keep)
        print(f"redis {arguments.keys} keys x {arguments.value_size} B: pipelined in "
              f"{save.load_seconds:.2f} s; SAVE {save.save_seconds * 1000:.0f} ms, "
              f"dump {save.dump_size_bytes / 1e6:.1f} MB")
        load = measure_load(save.dump_path, save.key_count)
        print(f"redis load: ready in {load.ready_seconds * 1000:.0f} ms "
              f"(server says {load.server_reported_load_seconds} s)")
    finally:
        shutil.rmtree(keep, ignore_errors=True)
    for policy in ("always", "everysec", "no"):
        for depth in (1, 64):
            count = arguments.always_operations if policy == "always" and depth == 1 else (
                arguments.aof_operations)
            result = measure_log_append(policy, commands[:count], depth)
            print(f"redis AOF appendfsync={policy:<8} depth={depth:<3} "
                  f"{result.operations_per_second:>9.0f} SET/s ({result.operations} ops)")


if __name__ == "__main__":
    main()
