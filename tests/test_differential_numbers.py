"""Number parsing/formatting and glob matching against redis-server 7.0.

Method: Hypothesis draws number-like texts (decimal, exponent, hex, inf spellings, spaces,
signs, leading zeros) and glob patterns over a tiny alphabet; INCRBY/INCRBYFLOAT/ZADD/
ZRANGEBYSCORE replies and KEYS results must be identical on both sides. Deterministic
(`derandomize=True`).
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_oracle import RespClient, as_wire, redis_client, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace

pytestmark = pytest.mark.redis

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

number_text = st.one_of(
    st.from_regex(rb"\A[ +-]?[0-9]{0,3}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?\Z", fullmatch=True),
    st.sampled_from([b"inf", b"-inf", b"+inf", b"Infinity", b"nan", b"0x1p3", b"0x10", b"1e400",
                     b"-1e-400", b"9223372036854775807", b"-9223372036854775808", b"01", b"-0",
                     b"1_0", b" 1", b"1 ", b"", b".5", b"5.", b"1e", b"0.1", b"17.9", b"4e-320",
                     # plain digits (parse_double's fast path), redis-benchmark's zero-padded
                     # shape, and lengths around where a digit string overflows a double
                     b"000000012345", b"0" * 400, b"9" * 299, b"9" * 308, b"9" * 309, b"9" * 400]),
    st.integers(-(2**64), 2**64).map(lambda number: b"%d" % number),
    st.floats(allow_nan=False).map(lambda number: repr(number).encode()),
)


def both(client: RespClient, keyspace: Keyspace, argv: list[bytes]) -> tuple[object, object]:
    context = CommandContext(int(time.time() * 1000), random.Random(0))
    return client.call(argv), as_wire(execute(keyspace, argv, context).reply)


@SETTINGS
@given(start=number_text, increment=number_text)
def test_incrbyfloat_and_incrby_parse_and_format_like_redis(redis_client: RespClient, start, increment) -> None:
    """Method: SET a start text, then INCRBYFLOAT / INCRBY with another text; same replies."""
    keyspace = Keyspace()
    redis_client.call([b"DEL", b"f", b"i"])
    for argv in ([b"SET", b"f", start], [b"INCRBYFLOAT", b"f", increment], [b"GET", b"f"],
                 [b"SET", b"i", start], [b"INCRBY", b"i", increment], [b"GET", b"i"]):
        theirs, ours = both(redis_client, keyspace, argv)
        assert ours == theirs, (argv, theirs, ours)


@SETTINGS
@given(score=number_text, low=number_text, high=number_text, low_open=st.booleans())
def test_scores_and_score_bounds_parse_like_redis(redis_client: RespClient, score, low, high, low_open) -> None:
    """Method: ZADD with a score text, ZSCORE, and ZRANGEBYSCORE with bound texts."""
    keyspace = Keyspace()
    redis_client.call([b"DEL", b"z"])
    low = b"(" + low if low_open else low
    for argv in ([b"ZADD", b"z", score, b"m"], [b"ZADD", b"z", b"2", b"n"], [b"ZSCORE", b"z", b"m"],
                 [b"ZRANGEBYSCORE", b"z", low, high, b"WITHSCORES"], [b"ZINCRBY", b"z", score, b"n"]):
        theirs, ours = both(redis_client, keyspace, argv)
        assert ours == theirs, (argv, theirs, ours)


KEY_SET = [b"", b"a", b"b", b"ab", b"ba", b"a*", b"a?b", b"[a]", b"a\\b", b"-", b"^", b"abc", b"\xe9", b"aab"]


@SETTINGS
@given(pattern=st.lists(st.sampled_from([b"a", b"b", b"*", b"?", b"[", b"]", b"^", b"-", b"\\", b"c", b"\xe9"]), max_size=7).map(b"".join))
def test_keys_glob_matches_like_redis(redis_client: RespClient, pattern: bytes) -> None:
    """Method: a fixed key set; KEYS with a generated pattern returns the same keys."""
    keyspace = Keyspace()
    context = CommandContext(0, random.Random(0))
    if redis_client.call([b"DBSIZE"]) != len(KEY_SET):
        redis_client.call([b"FLUSHALL"])
        for key in KEY_SET:
            redis_client.call([b"SET", key, b"v"])
    for key in KEY_SET:
        execute(keyspace, [b"SET", key, b"v"], context)
    theirs = sorted(redis_client.call([b"KEYS", pattern]))
    ours = sorted(execute(keyspace, [b"KEYS", pattern], context).reply)
    assert ours == theirs, pattern
