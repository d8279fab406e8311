"""The command layer in-process: CPU µs per call of the handlers redis-benchmark's write tests hit.

Issue 10 measures kevy-server with `redis-benchmark -t set,get,incr,lpush,hset,zadd -r 100000`;
this script times the command handlers alone (no parsing, dispatch, log or reply encoding:
`bench_request_path.py` has those layers), to show what each verb costs by itself.

Method: one `Keyspace` and a `CommandContext`, and each handler taken from `COMMAND_TABLE`,
called with argvs of the shapes redis-benchmark sends with `-r 100000` (every
`__rand_int__` is a separate 12-digit zero-padded draw below 100000, seeded here):

- zadd: `ZADD myzset <rand> element:<rand>` on a sorted set prefilled with all 100000
  members (random scores), so every call updates an existing member, almost always to a
  new score: the steady state of a long redis-benchmark run;
- incr: `INCR counter:<rand>`, every counter prefilled (steady state: parse, add, format);
- lpush: `LPUSH mylist xxx` on an existing list;
- hset: `HSET myhash element:<rand> xxx`, every field prefilled;
- set / get: `SET key:<rand> xxx` / `GET key:<rand>`, every key prefilled;
- zrange: `ZRANGE myzset <rand> <rand + 99> WITHSCORES` on the prefilled sorted set (not a
  redis-benchmark test: the read side of the sorted set's representation, 100 members per
  call; the reply objects are built, not encoded).

The argvs are built and the keyspace is prefilled before the clock starts; then `--requests`
calls run back to back, timed with `time.process_time` (this process's CPU, one thread), and
each figure is the µs per call. `--repeat N` runs everything N times and keeps each row's
lowest figure (the round least inflated by neighbours on a shared machine). After the timed
calls each workload checks its effect (the set still has 100000 members and passes its
invariant check, the counters sum to prefill + requests, the list grew by `--requests`).

`--baseline TREE` compares two source trees in one run: each round runs this script once per
tree in a child process (`PYTHONPATH=TREE`, then this checkout), alternating, so both see
the same machine load; the table gives the lowest figure of each tree and their ratio. TREE
is a checkout of another commit, e.g. `git archive main | tar -x -C /tmp/kevy-main`.

    python bench/bench_commands.py [--requests 200000] [--repeat 1] [--tests zadd,incr,...]
    python bench/bench_commands.py --baseline /tmp/kevy-main [--rounds 3] [...]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import time
from collections.abc import Callable

RANGE = 100_000
TESTS = ("zadd", "incr", "lpush", "hset", "set", "get", "zrange")
THIS_TREE = pathlib.Path(__file__).resolve().parent.parent


def _random_texts(generator: random.Random, pattern: bytes, count: int) -> list[bytes]:
    return [pattern % generator.randrange(RANGE) for _ in range(count)]


def _workload(name: str, requests: int, generator: random.Random) -> tuple[list[list[bytes]], list[list[bytes]]]:
    """(prefill argvs, timed argvs) for one test."""
    if name == "zadd":
        prefill = [[b"ZADD", b"myzset", b"%012d" % generator.randrange(RANGE), b"element:%012d" % index]
                   for index in range(RANGE)]
        scores = _random_texts(generator, b"%012d", requests)
        members = _random_texts(generator, b"element:%012d", requests)
        return prefill, [[b"ZADD", b"myzset", score, member] for score, member in zip(scores, members)]
    if name == "zrange":
        prefill = [[b"ZADD", b"myzset", b"%012d" % generator.randrange(RANGE), b"element:%012d" % index]
                   for index in range(RANGE)]
        starts = [generator.randrange(RANGE - 100) for _ in range(requests)]
        return prefill, [[b"ZRANGE", b"myzset", b"%d" % start, b"%d" % (start + 99), b"WITHSCORES"]
                         for start in starts]
    if name == "incr":
        prefill = [[b"INCR", b"counter:%012d" % index] for index in range(RANGE)]
        return prefill, [[b"INCR", key] for key in _random_texts(generator, b"counter:%012d", requests)]
    if name == "lpush":
        return [[b"LPUSH", b"mylist", b"xxx"]], [[b"LPUSH", b"mylist", b"xxx"] for _ in range(requests)]
    if name == "hset":
        prefill = [[b"HSET", b"myhash", b"element:%012d" % index, b"xxx"] for index in range(RANGE)]
        fields = _random_texts(generator, b"element:%012d", requests)
        return prefill, [[b"HSET", b"myhash", field, b"xxx"] for field in fields]
    keys = _random_texts(generator, b"key:%012d", requests)
    prefill = [[b"SET", b"key:%012d" % index, b"xxx"] for index in range(RANGE)]
    if name == "set":
        return prefill, [[b"SET", key, b"xxx"] for key in keys]
    assert name == "get", name
    return prefill, [[b"GET", key] for key in keys]


def _check(name: str, keyspace: object, requests: int, context: object) -> None:
    """The timed calls did what they should (a benchmark of a broken command is worthless)."""
    if name == "zadd":
        zset = keyspace.lookup(b"myzset", context.now_ms)
        assert len(zset) == RANGE, len(zset)
        zset.check_invariants()
    elif name == "incr":
        total = sum(int(keyspace.lookup(b"counter:%012d" % index, context.now_ms)) for index in range(RANGE))
        assert total == RANGE + requests, total
    elif name == "lpush":
        assert len(keyspace.lookup(b"mylist", context.now_ms)) == 1 + requests
    elif name == "hset":
        assert len(keyspace.lookup(b"myhash", context.now_ms)) == RANGE


def measure(name: str, requests: int, seed: int) -> float:
    """CPU µs per call of `name`'s handler over `requests` calls (see the module docstring)."""
    import kevy_persist.commands  # noqa: F401 -- registers every handler
    from kevy_persist.commands.context import CommandContext
    from kevy_persist.commands.table import COMMAND_TABLE
    from kevy_persist.data.keyspace import Keyspace

    keyspace = Keyspace()
    context = CommandContext(now_ms=1_700_000_000_000, random=random.Random(1))
    handler: Callable = COMMAND_TABLE[name.encode()].handler
    prefill, timed = _workload(name, requests, random.Random(seed))
    for argv in prefill:
        COMMAND_TABLE[argv[0].lower()].handler(keyspace, argv, context)
    started = time.process_time()
    for argv in timed:
        outcome = handler(keyspace, argv, context)
    figure = (time.process_time() - started) / requests * 1e6
    if name == "zrange":
        assert len(outcome.reply) == 200, "100 members with their scores"
    _check(name, keyspace, requests, context)
    return figure


def run_here(tests: list[str], requests: int, repeat: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for round_index in range(repeat):
        for name in tests:
            figure = measure(name, requests, seed=round_index + 5)
            best[name] = min(best.get(name, figure), figure)
    return best


def _run_tree(tree: pathlib.Path, tests: list[str], requests: int) -> dict[str, float]:
    environment = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "--json",
               "--tests", ",".join(tests), "--requests", str(requests)]
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout
    result = json.loads(output)
    expected = str(tree.resolve() / "kevy_persist")
    assert result["source"].startswith(expected), f"{tree} not imported: {result['source']}"
    return result["figures"]


def main(argv: list[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each row is the lowest")
    parser.add_argument("--tests", default=",".join(TESTS))
    parser.add_argument("--baseline", type=pathlib.Path, help="another source tree to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline: alternating rounds")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    tests = [name.strip() for name in arguments.tests.split(",") if name.strip()]
    assert set(tests) <= set(TESTS), f"unknown test in {tests}"
    if arguments.json:
        import kevy_persist

        figures = run_here(tests, arguments.requests, arguments.repeat)
        print(json.dumps({"source": kevy_persist.__file__, "figures": figures}))
        return []

    sys.path.insert(0, str(THIS_TREE / "bench"))
    from bench_common import machine_summary, print_table

    print(f"# command handlers in-process, CPU µs per call ({arguments.requests} calls per test)")
    print(f"# {machine_summary()}")
    if arguments.baseline is None:
        figures = run_here(tests, arguments.requests, arguments.repeat)
        rows = [[name, f"{figures[name]:.2f}"] for name in tests]
        print(f"# best of {arguments.repeat}")
        print_table(["command", "µs per call"], rows)
        return rows
    best: dict[pathlib.Path, dict[str, float]] = {arguments.baseline: {}, THIS_TREE: {}}
    for _ in range(arguments.rounds):
        for tree, kept in best.items():
            for name, figure in _run_tree(tree, tests, arguments.requests).items():
                kept[name] = min(kept.get(name, figure), figure)
    print(f"# best of {arguments.rounds} alternating rounds: baseline {arguments.baseline}, this tree {THIS_TREE}")
    rows = []
    for name in tests:
        before, after = best[arguments.baseline][name], best[THIS_TREE][name]
        rows.append([name, f"{before:.2f}", f"{after:.2f}", f"{after / before:.2f}x"])
    print_table(["command", "baseline µs", "this tree µs", "this / baseline"], rows)
    return rows


if __name__ == "__main__":
    main()
