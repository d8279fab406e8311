"""HyperLogLog against redis-server 7.0: the same stored bytes and the same counts.

Method: seeded sequences of PFADD (growing HLLs from a few registers through the sparse ->
dense promotion), PFCOUNT of one and several keys and PFMERGE of sparse and dense mixes run
on our keyspace and on a real server; after every command the reply and GET of every HLL
key must be equal byte for byte (so the sparse opcode layout, the cache bytes and the dense
packing all match). Damaged values (via SETRANGE) must get Redis's error replies. The same
runs over RESP3. A property test replays our log into a fresh keyspace and checks the bytes.
"""

from __future__ import annotations

import random

import pytest
from redis_oracle import RespClient, as_wire, redis_client, redis_client_resp3, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute, replay
from kevy_persist.data.keyspace import Keyspace

pytestmark = pytest.mark.redis


class Lockstep:
    def __init__(self, client: RespClient) -> None:
        self.client = client
        self.keyspace = Keyspace()
        self.context = CommandContext(0, random.Random(0))
        self.log: list[list[bytes]] = []

    def run(self, *argv: bytes) -> object:
        theirs = self.client.call(list(argv))
        outcome = execute(self.keyspace, list(argv), self.context)
        self.log.extend(outcome.log)
        ours = as_wire(outcome.reply, self.client.protocol)
        assert ours == theirs, f"{argv!r}: redis {theirs!r}, kevy {ours!r}"
        return theirs

    def same_bytes(self, *keys: bytes) -> None:
        for key in keys:
            self.run(b"GET", key)


def _elements(seed: int, count: int) -> list[bytes]:
    chooser = random.Random(seed)
    return [b"e%d" % chooser.randrange(10**9) for _ in range(count)]


@pytest.mark.parametrize("protocol", [2, 3])
def test_pfadd_pfcount_pfmerge_store_redis_bytes(
    redis_client: RespClient, redis_client_resp3: RespClient, protocol: int
) -> None:
    """Method: grow three HLLs in batches to past the dense promotion, comparing bytes."""
    client = redis_client if protocol == 2 else redis_client_resp3
    client.call([b"FLUSHALL"])
    pair = Lockstep(client)
    sizes = [1, 2, 5, 20, 50, 100, 300, 600, 1500]
    for step, size in enumerate(sizes):
        for key_index, key in enumerate((b"a", b"b", b"c")):
            if key_index <= step % 3 or size < 100:
                pair.run(b"PFADD", key, *_elements(step * 10 + key_index, size))
            pair.same_bytes(key)
            pair.run(b"PFCOUNT", key)
            pair.same_bytes(key)
            pair.run(b"PFCOUNT", key)
        pair.run(b"PFCOUNT", b"a", b"b", b"c", b"missing")
        pair.run(b"PFMERGE", b"m%d" % step, b"a", b"b")
        pair.same_bytes(b"m%d" % step)
        pair.run(b"PFMERGE", b"a", b"c", b"missing")
        pair.same_bytes(b"a")
        pair.run(b"PFCOUNT", b"m%d" % step)
    pair.run(b"PFADD", b"a")
    pair.run(b"PFADD", b"fresh")
    pair.same_bytes(b"fresh")
    pair.run(b"PFMERGE", b"fresh2")
    pair.same_bytes(b"fresh2")
    pair.run(b"PFMERGE", b"m0", b"m8")
    pair.same_bytes(b"m0")
    # Replaying our log into an empty keyspace rebuilds the same bytes.
    rebuilt = Keyspace()
    for argv in pair.log:
        replay(rebuilt, argv, 0)
    for key in (b"a", b"b", b"c", b"m0", b"m8", b"fresh", b"fresh2"):
        assert rebuilt.peek(key) == pair.keyspace.peek(key)


def test_sparse_merges_into_existing_sparse_targets_like_redis(redis_client: RespClient) -> None:
    """Method: PFMERGE into sparse targets with their own opcode history (the resumed scan)."""
    pair = Lockstep(redis_client)
    for seed in range(12):
        chooser = random.Random(seed)
        target, source = b"t%d" % seed, b"s%d" % seed
        pair.run(b"PFADD", target, *_elements(seed, chooser.randrange(1, 200)))
        pair.run(b"PFADD", source, *_elements(seed + 100, chooser.randrange(1, 400)))
        pair.run(b"PFMERGE", target, source)
        pair.same_bytes(target)
        pair.run(b"PFCOUNT", target, source)


def test_errors_and_damaged_values_reply_like_redis(redis_client: RespClient) -> None:
    """Method: wrong types, non-HLL strings and damaged sparse/dense values."""
    pair = Lockstep(redis_client)
    pair.run(b"SET", b"plain", b"hello")
    pair.run(b"SET", b"short", b"HYLL")
    pair.run(b"RPUSH", b"list", b"x")
    for argv in ([b"PFADD", b"plain", b"x"], [b"PFCOUNT", b"plain"], [b"PFCOUNT", b"short", b"x"],
                 [b"PFADD", b"list", b"x"], [b"PFCOUNT", b"list"], [b"PFMERGE", b"list"],
                 [b"PFMERGE", b"plain", b"x"], [b"PFMERGE", b"x", b"plain"], [b"PFCOUNT", b"missing"]):
        pair.run(*argv)
    pair.run(b"PFADD", b"hll", *_elements(1, 30))
    pair.run(b"SETRANGE", b"hll", b"4", b"\x05")  # unknown encoding
    pair.run(b"PFCOUNT", b"hll")
    pair.run(b"SETRANGE", b"hll", b"4", b"\x01")
    pair.run(b"APPEND", b"hll", b"\x7f\xff")  # opcodes now cover too many registers
    pair.run(b"PFCOUNT", b"hll")
    pair.run(b"PFCOUNT", b"hll", b"x")
    pair.run(b"PFMERGE", b"out", b"hll")
    pair.run(b"PFADD", b"dense", *_elements(2, 3000))
    pair.run(b"APPEND", b"dense", b"x")  # a dense value of the wrong length
    pair.run(b"PFCOUNT", b"dense")
    pair.run(b"PFADD", b"hll2", *_elements(3, 10))
    pair.run(b"SETRANGE", b"hll2", b"16", b"\x00")  # first opcode shrinks: too few registers
    pair.run(b"PFCOUNT", b"hll2")
    pair.run(b"PFADD", b"hll2", *_elements(4, 10))
