"""Random members against redis-server 7.0: what is random is compared by its properties.

Method: HRANDFIELD, ZRANDMEMBER and SRANDMEMBER run with the same arguments on our keyspace
and on a real server (RESP2 and RESP3); the members chosen are random on both sides, so the
test compares what must agree: the reply's shape and length, that every member belongs to
the collection (with its own value or score), that a positive count gives distinct members,
and that a negative count gives exactly |count| draws. The deterministic cases (whole
collections, errors) are in tests/redis_scripts/random.txt.
"""

from __future__ import annotations

import random

import pytest
from redis_oracle import RespClient, as_wire, redis_client, redis_client_resp3, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace

pytestmark = pytest.mark.redis

SETUP = [
    [b"HSET", b"h", *[part for index in range(20) for part in (b"f%d" % index, b"v%d" % index)]],
    [b"ZADD", b"z", *[part for index in range(20) for part in (b"%d" % index, b"m%d" % index)]],
    [b"SADD", b"s", *[b"m%d" % index for index in range(20)]],
]
COUNTS = [b"1", b"3", b"19", b"-1", b"-7", b"-40"]


def _pairs(reply: list, protocol: int) -> list[tuple]:
    if protocol == 3:
        return [(pair[0], pair[1][1] if isinstance(pair[1], tuple) else pair[1]) for pair in reply]
    return list(zip(reply[0::2], reply[1::2]))


def _check_draw(reply: list, count: int, with_values: bool, protocol: int, universe: dict) -> None:
    items = _pairs(reply, protocol) if with_values else [(member, None) for member in reply]
    assert len(items) == abs(count)
    for member, value in items:
        assert member in universe
        if with_values:
            assert value == universe[member]
    if count > 0:
        assert len({member for member, _ in items}) == len(items)


@pytest.mark.parametrize("protocol", [2, 3])
def test_random_member_replies_have_redis_shape_and_members(
    redis_client: RespClient, redis_client_resp3: RespClient, protocol: int
) -> None:
    """Method: per count and option, both replies satisfy the same membership rules."""
    client = redis_client if protocol == 2 else redis_client_resp3
    client.call([b"FLUSHALL"])
    keyspace = Keyspace()
    context = CommandContext(0, random.Random(3))
    for argv in SETUP:
        client.call(argv)
        execute(keyspace, argv, context)
    hash_universe = {b"f%d" % index: b"v%d" % index for index in range(20)}
    zset_universe = {b"m%d" % index: (b"%d" % index) for index in range(20)}
    set_universe = dict.fromkeys(b"m%d" % index for index in range(20))
    cases = [
        (b"HRANDFIELD", b"h", None, hash_universe),
        (b"HRANDFIELD", b"h", b"WITHVALUES", hash_universe),
        (b"ZRANDMEMBER", b"z", None, zset_universe),
        (b"ZRANDMEMBER", b"z", b"WITHSCORES", zset_universe),
        (b"SRANDMEMBER", b"s", None, set_universe),
    ]
    for verb, key, option, universe in cases:
        for count in COUNTS:
            argv = [verb, key, count] + ([option] if option else [])
            theirs = client.call(argv)
            ours = as_wire(execute(keyspace, argv, context).reply, protocol)
            for reply in (theirs, ours):
                _check_draw(reply, int(count), option is not None, protocol, universe)
        single_theirs = client.call([verb, key])
        single_ours = as_wire(execute(keyspace, [verb, key], context).reply, protocol)
        assert single_theirs in universe and single_ours in universe
