"""The data-model commands (HLL, GEO, SORT, BITFIELD, LCS) in kevy's store beside redis-server.

Ours: a fresh in-memory one-shard `Store`; each workload's argvs run through
`store.execute_argv` in this process (no network, no RESP parsing). Redis (same machine, one
fresh server per workload, persistence off): the same argvs written over one connection in
pipelined batches of 100, every reply read. Both sides first run the workload's setup
commands (untimed). Reported: operations per second and CPU microseconds per operation --
ours = this process (user + system), Redis = the server only (from /proc) -- and the ratios
ours / Redis (rate: above 1 = we are faster; CPU: above 1 = we spend more). Redis runs C
over a socket, we run Python in-process: the CPU ratio is the honest cost comparison.

    python bench/bench_datamodel.py [--scale 1.0] [--no-redis]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from bench_common import machine_summary, print_table, process_cpu_seconds, ratio
from redis_reference import RedisConnection, encode_command, running_redis

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import ErrorReply

Argv = list[bytes]
BATCH = 100


def _hll(scale: float) -> tuple[list[Argv], list[Argv]]:
    count = int(50_000 * scale)
    return [], [[b"PFADD", b"hll:%d" % (index % 10), b"element:%d" % index] for index in range(count)]


def _hll_union(scale: float) -> tuple[list[Argv], list[Argv]]:
    setup = [[b"PFADD", b"hll:%d" % (index % 4), *[b"e:%d:%d" % (index, item) for item in range(100)]]
             for index in range(200)]
    return setup, [[b"PFCOUNT", b"hll:0", b"hll:1", b"hll:2"] for _ in range(int(500 * scale))]


def _geo_points(count: int) -> list[Argv]:
    chooser = random.Random(3)
    return [[b"GEOADD", b"geo", b"%.6f" % chooser.uniform(-20, 40), b"%.6f" % chooser.uniform(30, 60), b"place:%d" % index]
            for index in range(count)]


def _geoadd(scale: float) -> tuple[list[Argv], list[Argv]]:
    return [], _geo_points(int(50_000 * scale))


def _geosearch(scale: float) -> tuple[list[Argv], list[Argv]]:
    chooser = random.Random(4)
    queries = [[b"GEOSEARCH", b"geo", b"FROMLONLAT", b"%.4f" % chooser.uniform(-20, 40), b"%.4f" % chooser.uniform(30, 60),
                b"BYRADIUS", b"50", b"km", b"ASC", b"COUNT", b"10"] for _ in range(int(2_000 * scale))]
    return _geo_points(20_000), queries


def _sort(scale: float) -> tuple[list[Argv], list[Argv]]:
    chooser = random.Random(5)
    setup = [[b"RPUSH", b"numbers", *[b"%d" % chooser.randrange(10**6) for _ in range(1000)]]]
    return setup, [[b"SORT", b"numbers", b"LIMIT", b"0", b"10"] for _ in range(int(1_000 * scale))]


def _bitfield(scale: float) -> tuple[list[Argv], list[Argv]]:
    chooser = random.Random(6)
    return [], [[b"BITFIELD", b"counters", b"INCRBY", b"u8", b"#%d" % chooser.randrange(4096), b"1"]
                for _ in range(int(50_000 * scale))]


def _lcs(scale: float) -> tuple[list[Argv], list[Argv]]:
    chooser = random.Random(7)
    first = bytes(chooser.choice(b"acgt") for _ in range(1000))
    second = bytes(chooser.choice(b"acgt") for _ in range(1000))
    return [[b"MSET", b"a", first, b"b", second]], [[b"LCS", b"a", b"b", b"IDX"] for _ in range(int(200 * scale))]


WORKLOADS: dict[str, Callable[[float], tuple[list[Argv], list[Argv]]]] = {
    "PFADD (1 element, sparse -> dense)": _hll,
    "PFCOUNT of 3 dense keys": _hll_union,
    "GEOADD (1 member)": _geoadd,
    "GEOSEARCH 50 km COUNT 10 (20k members)": _geosearch,
    "SORT 1000 numbers LIMIT 0 10": _sort,
    "BITFIELD INCRBY u8": _bitfield,
    "LCS IDX of 1000 x 1000 bytes": _lcs,
}


def measure_ours(setup: list[Argv], commands: list[Argv]) -> tuple[float, float]:
    """(operations per second, CPU microseconds per operation) in this process."""
    store = Store.open(StoreConfig(data_dir=None, ticker="manual"))
    for argv in setup:
        assert not isinstance(store.execute_argv(argv), ErrorReply), argv
    cpu_before, started = time.process_time(), time.perf_counter()
    for argv in commands:
        store.execute_argv(argv)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    store.shutdown()
    return len(commands) / wall, cpu / len(commands) * 1e6


def _skip_reply(connection: RedisConnection) -> None:
    line = connection.read_line()
    if line[:1] == b"$" and line != b"$-1":
        connection.read_exact(int(line[1:]) + 2)
    elif line[:1] in (b"*", b"%") and line not in (b"*-1",):
        for _ in range(int(line[1:]) * (2 if line[:1] == b"%" else 1)):
            _skip_reply(connection)
    elif line[:1] == b"-":
        raise RuntimeError(f"redis refused a benchmark command: {line!r}")


def _pipeline(connection: RedisConnection, commands: list[Argv]) -> None:
    for start in range(0, len(commands), BATCH):
        batch = commands[start : start + BATCH]
        connection.socket.sendall(b"".join(encode_command(argv) for argv in batch))
        for _ in batch:
            _skip_reply(connection)


def measure_redis(setup: list[Argv], commands: list[Argv]) -> tuple[float, float]:
    """(operations per second, server CPU microseconds per operation), pipelined."""
    with running_redis(["--save", "", "--appendonly", "no"]) as redis:
        connection = RedisConnection(redis.port)
        _pipeline(connection, setup)
        cpu_before, started = process_cpu_seconds(redis.process.pid), time.perf_counter()
        _pipeline(connection, commands)
        wall = time.perf_counter() - started
        cpu = process_cpu_seconds(redis.process.pid) - cpu_before
        connection.close()
    return len(commands) / wall, cpu / len(commands) * 1e6


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every workload's size")
    parser.add_argument("--no-redis", action="store_true")
    options = parser.parse_args(argv)
    print(machine_summary())
    rows = []
    for name, build in WORKLOADS.items():
        setup, commands = build(options.scale)
        our_rate, our_cpu = measure_ours(setup, commands)
        row = [name, f"{our_rate:,.0f}", f"{our_cpu:.1f}"]
        if options.no_redis:
            row += ["-", "-", "-", "-"]
        else:
            redis_rate, redis_cpu = measure_redis(setup, commands)
            row += [f"{redis_rate:,.0f}", f"{redis_cpu:.1f}", ratio(our_rate, redis_rate), ratio(our_cpu, redis_cpu)]
        rows.append(row)
    print_table(["workload", "kevy ops/s", "kevy CPU us/op", "redis ops/s", "redis CPU us/op",
                 "rate ratio", "CPU ratio"], rows)
    return rows


if __name__ == "__main__":
    main()
