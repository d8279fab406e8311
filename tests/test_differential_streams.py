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
