"""Differential tests of the stream commands against a real redis-server 7.0, RESP2 and RESP3.

Method: hand-written scripts (`tests/redis_scripts/streams_*.txt`) run line by line on our
`execute` and on a flushed redis-server; every reply must be equal after both went through
the wire encoding (ours through `encode_resp2` / `encode_resp3`, parsed back). Only what
depends on the moment a command ran is compared with a tolerance: unix-ms times (delivery
and seen times, >= 10^12) within 2 s, and idle times (XPENDING, XINFO CONSUMERS) within 2 s.
IDs chosen by `*` differ by construction, so the scripts give IDs, and `*` is tested apart.
After each script, every stream's whole state (XRANGE, XINFO STREAM FULL, XINFO GROUPS and
XINFO CONSUMERS of each group) is compared the same way. BLOCK with nothing to read would
park the real server's connection, so it is compared inside MULTI there (where Redis never
blocks) against our NEVER mode.
"""

from __future__ import annotations

import pathlib
import random
import shlex
import time

import pytest
from redis_oracle import RespClient, as_wire, plain, redis_client, redis_client_resp3, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace

pytestmark = pytest.mark.redis

SCRIPTS_DIR = pathlib.Path(__file__).resolve().parent / "redis_scripts"
SCRIPTS = {path.stem: path.read_text() for path in sorted(SCRIPTS_DIR.glob("streams_*.txt"))}
TIME_TOLERANCE_MS = 2000
UNIX_MS_FLOOR = 10**12


def close_enough(ours: object, theirs: object, idle_positions: bool = False) -> bool:
    """Equal, except unix-ms times (and idle times where `idle_positions`) within tolerance."""
    if isinstance(ours, int) and isinstance(theirs, int) and not isinstance(ours, bool):
        if ours == theirs:
            return True
        if (ours >= UNIX_MS_FLOOR and theirs >= UNIX_MS_FLOOR) or idle_positions:
            return abs(ours - theirs) <= TIME_TOLERANCE_MS
        return False
    if isinstance(ours, tuple) and isinstance(theirs, tuple):
        return len(ours) == len(theirs) and ours[0] == theirs[0] and close_enough(list(ours[1:]), list(theirs[1:]))
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return False
        for index, (mine, other) in enumerate(zip(ours, theirs)):
            # In a flat map, the value after b"idle" is an idle time.
            idle = index > 0 and ours[index - 1] == b"idle"
            if not close_enough(mine, other, idle):
                return False
        return True
    return ours == theirs


def idle_tolerant(verb: bytes, ours: object, theirs: object) -> bool:
    if verb == b"XPENDING" and isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        # Extended form: [id, consumer, idle, deliveries] rows.
        rows = [row for row in ours if isinstance(row, list) and len(row) == 4]
        if rows and len(rows) == len(ours):
            return all(
                mine[:2] == other[:2] and mine[3] == other[3] and abs(mine[2] - other[2]) <= TIME_TOLERANCE_MS
                for mine, other in zip(ours, theirs)
            )
    return close_enough(ours, theirs)


class Pair:
    """One keyspace and one redis connection driven in lockstep."""

    def __init__(self, client: RespClient) -> None:
        self.client = client
        self.keyspace = Keyspace()
        self.random = random.Random(7)

    def ours(self, argv: list[bytes]) -> object:
        context = CommandContext(int(time.time() * 1000), self.random)
        return as_wire(execute(self.keyspace, argv, context).reply, self.client.protocol)

    def run(self, argv: list[bytes]) -> None:
        theirs = self.client.call(argv)
        ours = self.ours(argv)
        assert idle_tolerant(argv[0].upper(), ours, theirs), f"{argv!r}: redis {theirs!r}, kevy {ours!r}"

    def check_state(self) -> None:
        keys = plain(self.client.call([b"KEYS", b"*"]))
        for key in sorted(keys):
            if plain(self.client.call([b"TYPE", key])) != "stream":
                continue
            for argv in ([b"XRANGE", key, b"-", b"+"], [b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"],
                         [b"XINFO", b"STREAM", key], [b"XINFO", b"GROUPS", key]):
                self.run(argv)
            groups = plain(self.client.call([b"XINFO", b"GROUPS", key]))
            for group in groups:
                name = plain(group)[1]
                self.run([b"XINFO", b"CONSUMERS", key, name])
                self.run([b"XPENDING", key, name])
                self.run([b"XPENDING", key, name, b"-", b"+", b"100"])


def run_script(client: RespClient, script: str) -> None:
    pair = Pair(client)
    for line in script.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pair.run([part.encode() for part in shlex.split(line)])
    pair.check_state()


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_stream_scripts_reply_like_redis(redis_client: RespClient, name: str) -> None:
    """Method: each script on both sides over RESP2; replies and final state match."""
    run_script(redis_client, SCRIPTS[name])


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_stream_scripts_reply_like_redis_in_resp3(redis_client_resp3: RespClient, name: str) -> None:
    """Method: the same scripts over RESP3 (HELLO 3): XREAD maps, XINFO maps, nulls."""
    run_script(redis_client_resp3, SCRIPTS[name])


def test_node_boundaries_and_approximate_trims_match_redis(redis_client: RespClient) -> None:
    """Method: a seeded walk over a stream of small entries spanning many nodes: appends,
    deletions (some emptying a whole node), exact and `~` trims with and without LIMIT;
    XINFO STREAM (radix-tree-keys and -nodes) and the trim counts must match Redis's."""
    pair = Pair(redis_client)
    chooser = random.Random(11)
    next_ms = 1
    live: list[int] = []
    for step in range(400):
        roll = chooser.random()
        if roll < 0.55 or not live:
            burst = chooser.choice([1, 7, 60, 150])
            for _ in range(burst):
                pair.run([b"XADD", b"big", b"%d-%d" % (next_ms, chooser.randrange(3)), b"n", b"%d" % next_ms])
                live.append(next_ms)
                next_ms += chooser.choice([1, 1, 2, 1000])
        elif roll < 0.75:
            victims = chooser.sample(live, min(len(live), chooser.choice([1, 3, 40])))
            ids = [b"%d-0" % ms for ms in victims] + [b"%d-1" % ms for ms in victims] + [b"%d-2" % ms for ms in victims]
            pair.run([b"XDEL", b"big", *ids])
            live = [ms for ms in live if ms not in set(victims)]
        elif roll < 0.9:
            approximate = chooser.choice([b"~", b"=", b"~"])
            argv = [b"XTRIM", b"big", b"MAXLEN", approximate, b"%d" % chooser.randrange(0, 900)]
            if approximate == b"~" and chooser.random() < 0.3:
                argv += [b"LIMIT", b"%d" % chooser.choice([0, 50, 100, 250])]
            pair.run(argv)
            live = sorted(live)[-int(pair.ours([b"XLEN", b"big"])) :] if int(pair.ours([b"XLEN", b"big"])) else []
        else:
            approximate = chooser.choice([b"~", b"="])
            threshold = chooser.choice(live) if live else next_ms
            pair.run([b"XTRIM", b"big", b"MINID", approximate, b"%d" % threshold])
            remaining = int(pair.ours([b"XLEN", b"big"]))
            live = sorted(live)[-remaining:] if remaining else []
        if step % 10 == 0:
            pair.run([b"XINFO", b"STREAM", b"big"])
    pair.run([b"XINFO", b"STREAM", b"big", b"FULL", b"COUNT", b"3"])
    pair.check_state()


def test_auto_ids_are_the_clock_or_the_successor_of_the_last_id(redis_client: RespClient) -> None:
    """Method: `*` IDs from both sides have the same form, and with an ID set in the future
    both answer its successor; `ms-*` continues a millisecond on both."""
    pair = Pair(redis_client)
    ours_id = pair.ours([b"XADD", b"a", b"*", b"f", b"v"])
    theirs_id = redis_client.call([b"XADD", b"a", b"*", b"f", b"v"])
    assert ours_id.endswith(b"-0") and theirs_id.endswith(b"-0")
    assert abs(int(ours_id.split(b"-")[0]) - int(theirs_id.split(b"-")[0])) < TIME_TOLERANCE_MS
    for argv in ([b"XADD", b"f", b"99999999999999-5", b"f", b"v"], [b"XADD", b"f", b"*", b"f", b"v"],
                 [b"XADD", b"f", b"*", b"f", b"v"], [b"XADD", b"f", b"99999999999999-*", b"f", b"v"],
                 [b"XSETID", b"f", b"99999999999999-18446744073709551615"], [b"XADD", b"f", b"*", b"f", b"v"]):
        pair.run(argv)
