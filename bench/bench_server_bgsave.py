"""BGSAVE of N keys against kevy-server and redis-server side by side, and their restart times.

Each side is a real server process on loopback (kevy-server: `python -m kevy_server`, once
per `--workers` value of `--background-worker`; redis-server 7.0), logs on with `appendfsync
everysec`, no save points (the bench asks for the saves). Data: N keys `key:%012d` with
64-byte seeded random values, pipelined in.

Per side, in one run:
1. fill, then SHUTDOWN NOSAVE and start again on the same dir: **restart from the log only**
   (kevy: a log of N SETs; Redis: an AOF of N SETs, `aof-use-rdb-preamble no`), timed from
   the process's start until PING answers PONG (no longer LOADING), with the server's CPU
   (utime + stime) at that moment -- kevy's includes starting the interpreter, so its
   `open_elapsed_ms` (the store's open alone) is shown too;
2. a full SAVE of the N keys (timed by the client): what blocks a server throughout;
3. a writer on its own connection SETs existing keys one request at a time
   (`bgsave_probes.WriterLoop`) for `--seconds` without a save, then BGSAVE and writes until
   INFO says the job is done, then `--seconds` more: SET/s during against without (the two
   quiet windows together), p99 and max latency, and the server's CPU per SET in each
   window (the save's own work spread over the SETs of its duration);
4. the owner's hold: kevy's `background_loop_hold_us` (the event loop's time inside the
   job's freeze, tee tail and commit, plus the wait for an fsync in flight before a commit:
   the time no client is served) and its largest single hold; Redis's `latest_fork_usec`
   (its parent blocks for the fork). Target: hold <= 10 % of the full SAVE;
5. SAVE, SHUTDOWN NOSAVE, start again: **restart from the snapshot** (Redis: `appendonly
   no`, so it loads `dump.rdb`).
Ratios are kevy / Redis (times: above 1 means kevy is slower). The machine may be shared
with other programs; the table header prints the load average.

    python bench/bench_server_bgsave.py [--keys 1000000] [--seconds 3] [--workers thread,fork] [--no-redis]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import attrs
from bench_common import machine_summary, print_table, ratio
from bgsave_probes import Window, WriterLoop, tree_cpu_seconds
from redis_reference import REDIS_SERVER, RedisConnection, free_loopback_port, pipeline_commands

LOG_ON_REDIS = ["--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "no"]
READY_TIMEOUT_SECONDS = 600.0


@attrs.frozen
class Side:
    name: str
    fill_seconds: float
    restart_log_seconds: float
    restart_log_cpu_seconds: float
    restart_log_open_ms: int | None
    full_save_seconds: float
    bgsave_seconds: float
    hold_ms: float
    hold_max_ms: float | None
    without: Window
    during: Window
    cpu_us_per_set_without: float
    cpu_us_per_set_during: float
    restart_snapshot_seconds: float
    restart_snapshot_cpu_seconds: float
    restart_snapshot_open_ms: int | None


class Server:
    """One server process on a data dir (kevy or Redis), started and stopped by the bench."""

    def __init__(self, kind: str, directory: str, worker: str = "thread") -> None:
        self.kind = kind
        self.worker = worker
        self.directory = directory
        self.port = free_loopback_port()
        self.process: subprocess.Popen | None = None

    def start(self, log_on: bool = True) -> tuple[float, float]:
        """Start; (seconds until PING answers PONG, the server's CPU seconds then)."""
        started = time.perf_counter()
        if self.kind == "kevy":
            arguments = [sys.executable, "-m", "kevy_server", "--port", str(self.port), "--dir", self.directory,
                         "--appendfsync", "everysec", "--save", "", "--appendonly", "yes" if log_on else "no",
                         "--background-worker", self.worker]
            output = open(os.path.join(self.directory, "..", f"kevy-{self.port}.log"), "w")  # noqa: SIM115
        else:
            arguments = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
                         "--save", "", "--daemonize", "no",
                         *(LOG_ON_REDIS if log_on else ["--appendonly", "no"])]
            output = subprocess.DEVNULL
        self.process = subprocess.Popen(arguments, stdout=output, stderr=subprocess.STDOUT)
        self._wait_until_serving()
        return time.perf_counter() - started, tree_cpu_seconds(self.process.pid)

    def _wait_until_serving(self) -> None:
        deadline = time.perf_counter() + READY_TIMEOUT_SECONDS
        connection = None
        while True:
            try:
                if connection is None:
                    connection = RedisConnection(self.port)
                if connection.command(b"PING") == b"+PONG":
                    connection.close()
                    return
            except OSError:
                if connection is not None:
                    connection.close()
                connection = None
            assert time.perf_counter() < deadline, f"{self.kind} did not start"
            assert self.process is not None and self.process.poll() is None, f"{self.kind} exited"
            time.sleep(0.01)  # both sides polled alike; a 2 ms poll costs kevy its GIL hand-offs

    def connection(self) -> RedisConnection:
        return RedisConnection(self.port)

    def info(self, section: str) -> dict[str, str]:
        connection = self.connection()
        try:
            text = connection.command(b"INFO", section.encode()).decode()
        finally:
            connection.close()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))

    def stop_without_saving(self) -> None:
        connection = self.connection()
        try:
            connection.socket.sendall(b"SHUTDOWN NOSAVE\r\n")
            try:
                connection.read_line()
            except (ConnectionError, OSError):
                pass
        finally:
            connection.close()
        assert self.process is not None
        self.process.wait(timeout=300)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)


def _fill(server: Server, key_count: int) -> float:
    generator = random.Random(1)
    commands = ([b"SET", b"key:%012d" % index, generator.randbytes(64)] for index in range(key_count))
    connection = server.connection()
    started = time.perf_counter()
    pipeline_commands(connection, commands, 1000)
    connection.close()
    return time.perf_counter() - started


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _bgsave_done(server: Server) -> bool:
    info = server.info("persistence")
    return info["rdb_bgsave_in_progress"] == "0"


def _hold_figures(server: Server) -> tuple[float, float | None]:
    """(cumulative hold in ms, largest single hold in ms or None) for the job just run."""
    if server.kind == "kevy":
        info = server.info("persistence")
        return int(info["background_loop_hold_us"]) / 1e3, int(info["background_loop_hold_max_us"]) / 1e3
    return int(server.info("stats")["latest_fork_usec"]) / 1e3, None


def measure(kind: str, key_count: int, seconds: float, worker: str = "thread") -> Side:
    root = tempfile.mkdtemp(prefix=f"kevy-bench-server-bgsave-{kind}-")
    directory = os.path.join(root, "data")
    os.makedirs(directory)
    try:
        server = Server(kind, directory, worker)
        server.start()
        fill_seconds = _fill(server, key_count)
        server.stop_without_saving()
        restart_log_seconds, restart_log_cpu = server.start()
        restart_log_open_ms = int(server.info("persistence")["open_elapsed_ms"]) if kind == "kevy" else None
        saver = server.connection()
        full_save_seconds = _timed(lambda: saver.command(b"SAVE"))
        hold_before = _hold_figures(server)[0] if kind == "kevy" else 0.0

        writer_connection = server.connection()
        writer = WriterLoop(lambda key, value: writer_connection.command(b"SET", key, value), key_count)
        writer.start()
        writer.mark()
        cpu_before = server.cpu_seconds()
        time.sleep(seconds)
        first_quiet = writer.window()
        cpu_quiet = server.cpu_seconds() - cpu_before
        writer.mark()
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        reply = saver.command(b"BGSAVE")
        assert reply == b"+Background saving started", reply
        while not _bgsave_done(server):
            time.sleep(0.05)
        bgsave_seconds = time.perf_counter() - started
        during = writer.window()
        cpu_during = server.cpu_seconds() - cpu_before
        writer.mark()
        cpu_before = server.cpu_seconds()
        time.sleep(seconds)
        second_quiet = writer.window()
        cpu_quiet += server.cpu_seconds() - cpu_before
        writer.stop()
        writer_connection.close()
        hold_ms, hold_max_ms = _hold_figures(server)
        hold_ms -= hold_before
        without = _combined(first_quiet, second_quiet)

        assert saver.command(b"SAVE") == b"+OK"
        saver.close()
        server.stop_without_saving()
        restart_snapshot_seconds, restart_snapshot_cpu = server.start(log_on=kind == "kevy")
        restart_snapshot_open_ms = int(server.info("persistence")["open_elapsed_ms"]) if kind == "kevy" else None
        connection = server.connection()
        assert connection.command(b"DBSIZE") == b":%d" % key_count
        connection.close()
        server.stop_without_saving()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Side(
        name=f"kevy ({worker})" if kind == "kevy" else kind, fill_seconds=fill_seconds,
        restart_log_seconds=restart_log_seconds,
        restart_log_cpu_seconds=restart_log_cpu, restart_log_open_ms=restart_log_open_ms,
        full_save_seconds=full_save_seconds, bgsave_seconds=bgsave_seconds, hold_ms=hold_ms, hold_max_ms=hold_max_ms,
        without=without, during=during,
        cpu_us_per_set_without=cpu_quiet / max(without.operations, 1) * 1e6,
        cpu_us_per_set_during=cpu_during / max(during.operations, 1) * 1e6,
        restart_snapshot_seconds=restart_snapshot_seconds, restart_snapshot_cpu_seconds=restart_snapshot_cpu,
        restart_snapshot_open_ms=restart_snapshot_open_ms,
    )


def _combined(first: Window, second: Window) -> Window:
    """Both quiet windows as one: their operations over their time; p99 and max the worse."""
    return Window(first.seconds + second.seconds, first.operations + second.operations,
                  max(first.p50_ms, second.p50_ms), max(first.p99_ms, second.p99_ms), max(first.max_ms, second.max_ms))


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", default="thread,fork", help="kevy-server's --background-worker values to run")
    parser.add_argument("--no-redis", action="store_true")
    arguments = parser.parse_args(argv)
    print(f"# kevy-server vs redis-server: BGSAVE of {arguments.keys:,} keys with a writer running; "
          f"{machine_summary()}")
    sides = [measure("kevy", arguments.keys, arguments.seconds, worker) for worker in arguments.workers.split(",")]
    if not arguments.no_redis:
        sides.append(measure("redis", arguments.keys, arguments.seconds))
    rows = []
    for side in sides:
        share = side.during.operations_per_second / max(side.without.operations_per_second, 1)
        rows.append([
            side.name, f"{side.hold_ms:.1f} ms" + (f" (max {side.hold_max_ms:.1f})" if side.hold_max_ms else ""),
            f"{side.full_save_seconds * 1e3:.0f} ms", f"{side.hold_ms / (side.full_save_seconds * 1e3):.1%}",
            f"{side.bgsave_seconds:.2f} s", f"{side.without.operations_per_second:,.0f}",
            f"{side.during.operations_per_second:,.0f}", f"{share:.0%}",
            f"{side.without.p99_ms:.2f} / {side.during.p99_ms:.2f} ms", f"{side.during.max_ms:.1f} ms",
            f"{side.cpu_us_per_set_without:.0f} / {side.cpu_us_per_set_during:.0f} us",
        ])
    print_table(["server", "owner hold", "full SAVE", "hold/SAVE (<=10%)", "BGSAVE", "SET/s without", "SET/s during",
                 "during/without (>=70%)", "p99 without / during (<=10 ms)", "max during",
                 "server CPU per SET without / during"], rows)
    restart_rows = []
    for label, wall, cpu, open_ms in (
        ("log only", "restart_log_seconds", "restart_log_cpu_seconds", "restart_log_open_ms"),
        ("snapshot", "restart_snapshot_seconds", "restart_snapshot_cpu_seconds", "restart_snapshot_open_ms"),
    ):
        ours = sides[0]
        theirs = sides[-1] if sides[-1].name == "redis" else None
        restart_rows.append([
            label, f"{getattr(ours, wall):.2f} s (open {getattr(ours, open_ms) / 1e3:.2f} s)",
            f"{getattr(ours, cpu):.2f} s",
            f"{getattr(theirs, wall):.2f} s" if theirs else "-",
            ratio(getattr(ours, wall), getattr(theirs, wall)) if theirs else "-",
            f"{getattr(theirs, cpu):.2f} s" if theirs else "-",
            ratio(getattr(ours, cpu), getattr(theirs, cpu)) if theirs else "-",
        ])
    print(f"\n# restart of {arguments.keys:,} keys: process start until PING answers PONG")
    print_table(["from", "kevy-server wall", "kevy CPU", "redis wall", "wall kevy/redis", "redis CPU",
                 "CPU kevy/redis"], restart_rows)
    fills = ", ".join(f"{side.name} {side.fill_seconds:.1f} s" for side in sides)
    print(f"\n(fill, pipelined 1000 deep: {fills})")
    return rows + restart_rows


if __name__ == "__main__":
    main()
