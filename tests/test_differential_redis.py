"""Differential tests: our `execute` against a real redis-server 7.0, reply by reply.

Method: each sequence of argvs runs on a fresh Keyspace and on a flushed redis-server; every
reply must match after both pass through RESP2 (ours is encoded with `encode_resp2` and parsed
back, so double formatting and reply shapes are compared as bytes on the wire). Only what is
legitimately unordered or random is normalized: set-valued replies and KEYS are sorted, SCAN
is compared as the union of a full iteration, PTTL-like replies within 1 s. After each
sequence the whole logical state (types, values, which keys have a TTL) is compared too.
Hypothesis draws sequences over a tiny alphabet of keys, values and options so that wrong
types, bad numbers, syntax and arity errors come up constantly; `derandomize=True` keeps the
run deterministic.
"""

from __future__ import annotations

import random
import shlex
import time

import pytest
from differential_scripts import SCRIPTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_oracle import RespClient, as_wire, plain, redis_client, redis_client_resp3, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace

pytestmark = pytest.mark.redis

UNORDERED = {b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HKEYS", b"HVALS", b"SPOP"}
# SSCAN replies [cursor, members]: the members' order is the set's, so compare sorted.
SCANS_OF_SETS = {b"SSCAN"}
APPROXIMATE = {b"PTTL", b"PEXPIRETIME", b"EXPIRETIME", b"TTL"}


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
        verb = argv[0].upper()
        if verb in UNORDERED and isinstance(theirs, list) and isinstance(ours, list):
            theirs, ours = sorted(theirs), sorted(ours)
        if verb in SCANS_OF_SETS and isinstance(theirs, list) and isinstance(ours, list):
            theirs, ours = [theirs[0], sorted(theirs[1])], [ours[0], sorted(ours[1])]
        if verb in APPROXIMATE and isinstance(theirs, int) and isinstance(ours, int) and theirs >= 0:
            tolerance = 1000 if verb in (b"PTTL", b"PEXPIRETIME") else 1
            assert abs(theirs - ours) <= tolerance, (argv, theirs, ours)
            return
        assert ours == theirs, f"{argv!r}: redis {theirs!r}, kevy {ours!r}"

    def dump_theirs(self) -> dict[bytes, tuple]:
        return _dump(lambda argv: self.client.call(argv))

    def dump_ours(self) -> dict[bytes, tuple]:
        return _dump(self.ours)

    def check_state(self) -> None:
        assert self.dump_ours() == self.dump_theirs()


def _dump(raw_call) -> dict[bytes, tuple]:
    def call(argv: list[bytes]) -> object:
        reply = plain(raw_call(argv))
        return [plain(item) for item in reply] if isinstance(reply, list) else reply

    state = {}
    for key in call([b"KEYS", b"*"]):
        kind = call([b"TYPE", key])
        if kind == "string":
            content = call([b"GET", key])
        elif kind == "hash":
            content = sorted(call([b"HGETALL", key]))
        elif kind == "list":
            content = call([b"LRANGE", key, b"0", b"-1"])
        elif kind == "set":
            content = sorted(call([b"SMEMBERS", key]))
        else:
            content = call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
        has_ttl = call([b"TTL", key]) != -1
        state[key] = (str(kind), content, has_ttl)
    return state


def script_argument(part: str) -> bytes:
    """One script word as bytes; `\\xHH` escapes spell arbitrary bytes (binary strings)."""
    return part.encode("latin-1").decode("unicode_escape").encode("latin-1")


def run_script(client: RespClient, script: str) -> None:
    pair = Pair(client)
    for line in script.strip().splitlines():
        line = line.strip()
        if line:
            pair.run([script_argument(part) for part in shlex.split(line)])
    pair.check_state()


@pytest.mark.parametrize("script", list(SCRIPTS.values()), ids=list(SCRIPTS))
def test_scripted_sequences_reply_like_redis(redis_client: RespClient, script: str) -> None:
    """Method: run a hand-written script of edge cases on both; replies and state match."""
    run_script(redis_client, script)


@pytest.mark.parametrize("script", list(SCRIPTS.values()), ids=list(SCRIPTS))
def test_scripted_sequences_reply_like_redis_in_resp3(redis_client_resp3: RespClient, script: str) -> None:
    """Method: the same scripts over RESP3 (HELLO 3): maps, sets, doubles and pair shapes."""
    run_script(redis_client_resp3, script)


def test_unknown_command_and_arity_errors_match_redis(redis_client: RespClient) -> None:
    """Method: unknown verbs and wrong arities produce Redis's exact messages."""
    pair = Pair(redis_client)
    for argv in ([b"foo", b"a", b"b"], [b"GeT"], [b"hset", b"h", b"f"], [b"zadd", b"z"], [b"mset", b"a", b"b", b"c"]):
        pair.run(argv)


def test_scan_returns_every_key_like_redis(redis_client: RespClient) -> None:
    """Method: full SCAN iterations (with MATCH, COUNT, TYPE) return the same key sets."""
    pair = Pair(redis_client)
    for index in range(60):
        pair.run([b"SET", b"key:%d" % index, b"v"])
        pair.run([b"SADD", b"set:%d" % index, b"m"])

    def full_scan(call, options: list[bytes]) -> set[bytes]:
        cursor, seen = b"0", set()
        while True:
            cursor, keys = call([b"SCAN", cursor, *options])
            seen.update(keys)
            if cursor == b"0":
                return seen

    for options in ([], [b"COUNT", b"7"], [b"MATCH", b"key:1*"], [b"TYPE", b"set", b"COUNT", b"3"]):
        assert full_scan(pair.ours, options) == full_scan(pair.client.call, options)
    for options in ([b"COUNT", b"0"], [b"MATCH"], [b"BOGUS", b"1"]):
        pair.run([b"SCAN", b"0", *options])
    pair.run([b"SCAN", b"x"])


def test_spop_pops_the_same_number_of_members_as_redis(redis_client: RespClient) -> None:
    """Method: SPOP choices are random on both sides, so compare counts and final sizes."""
    pair = Pair(redis_client)
    pair.run([b"SADD", b"s", *[b"m%d" % index for index in range(10)]])
    for count in (b"3", b"0", b"20"):
        ours = pair.ours([b"SPOP", b"s", count])
        theirs = pair.client.call([b"SPOP", b"s", count])
        assert len(ours) == len(theirs)
    pair.run([b"EXISTS", b"s"])


# -- Hypothesis-generated sequences -----------------------------------------------------

KEY_NAMES = [b"k1", b"k2", b"k3"]
VALUES = [b"0", b"1", b"-1", b"abc", b"1.5", b"", b"9223372036854775807", b"x y"]
MEMBERS = [b"a", b"b", b"c"]
SCORES = [b"1", b"2.5", b"-inf", b"+inf", b"nan", b"x", b"0", b"-3"]
BOUNDS = [b"-inf", b"+inf", b"(1", b"2.5", b"x", b"[a", b"-", b"+", b"(b"]
INDEXES = [b"0", b"1", b"-1", b"-2", b"5", b"x"]

key = st.sampled_from(KEY_NAMES)
value = st.sampled_from(VALUES)
member = st.sampled_from(MEMBERS)
score = st.sampled_from(SCORES)
bound = st.sampled_from(BOUNDS)
index = st.sampled_from(INDEXES)


def _form(verb: bytes, *parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(lambda drawn: [verb, *drawn])


def _variadic(verb: bytes, head: list[st.SearchStrategy], item: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(st.tuples(*head), st.lists(item, max_size=4)).map(
        lambda drawn: [verb, *drawn[0], *[part for entry in drawn[1] for part in (entry if isinstance(entry, tuple) else (entry,))]]
    )


option = st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"GET", b"KEEPTTL", b"EX", b"100", b"WITHSCORES", b"REV", b"BYSCORE", b"BYLEX", b"LIMIT", b"1"])

COMMANDS = st.one_of(
    _variadic(b"SET", [key, value], option),
    _form(b"GET", key),
    _form(b"INCR", key),
    _form(b"INCRBY", key, value),
    _form(b"INCRBYFLOAT", key, value),
    _form(b"APPEND", key, value),
    _form(b"GETRANGE", key, index, index),
    _form(b"SETRANGE", key, index, value),
    _form(b"STRLEN", key),
    _variadic(b"MSET", [key, value], st.tuples(key, value)),
    _variadic(b"DEL", [key], key),
    _variadic(b"EXISTS", [key], key),
    _form(b"TYPE", key),
    _variadic(b"EXPIRE", [key, st.sampled_from([b"100", b"-1", b"x", b"0"])], option),
    _form(b"TTL", key),
    _form(b"PERSIST", key),
    _form(b"RENAME", key, key),
    _form(b"RENAMENX", key, key),
    _variadic(b"COPY", [key, key], st.just(b"REPLACE")),
    _variadic(b"HSET", [key, member, value], st.tuples(member, value)),
    _form(b"HGET", key, member),
    _form(b"HDEL", key, member),
    _form(b"HINCRBY", key, member, value),
    _form(b"HINCRBYFLOAT", key, member, value),
    _form(b"HGETALL", key),
    _variadic(b"LPUSH", [key, member], member),
    _variadic(b"RPUSH", [key, member], member),
    _variadic(b"LPOP", [key], index),
    _form(b"RPOP", key),
    _form(b"LRANGE", key, index, index),
    _form(b"LSET", key, index, member),
    _form(b"LREM", key, index, member),
    _form(b"LTRIM", key, index, index),
    _form(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"X"]), member, member),
    _form(b"LMOVE", key, key, st.sampled_from([b"LEFT", b"RIGHT"]), st.sampled_from([b"LEFT", b"RIGHT", b"UP"])),
    _variadic(b"SADD", [key, member], member),
    _variadic(b"SREM", [key, member], member),
    _form(b"SMOVE", key, key, member),
    _variadic(b"SINTERSTORE", [key, key], key),
    _variadic(b"SUNIONSTORE", [key, key], key),
    _variadic(b"SDIFFSTORE", [key, key], key),
    _form(b"SMEMBERS", key),
    _variadic(b"ZADD", [key], st.one_of(option, st.tuples(score, member))),
    _form(b"ZINCRBY", key, score, member),
    _variadic(b"ZREM", [key, member], member),
    _variadic(b"ZPOPMIN", [key], index),
    _form(b"ZPOPMAX", key),
    _variadic(b"ZRANGE", [key, st.one_of(index, bound), st.one_of(index, bound)], option),
    _form(b"ZRANGEBYSCORE", key, bound, bound),
    _form(b"ZREMRANGEBYSCORE", key, bound, bound),
    _form(b"ZREMRANGEBYRANK", key, index, index),
    _form(b"ZREMRANGEBYLEX", key, bound, bound),
    _form(b"ZCOUNT", key, bound, bound),
    _form(b"ZSCORE", key, member),
    _form(b"ZRANK", key, member),
)

# The long tail: every other command, with options drawn from the same tiny alphabet.
MORE_COMMANDS = st.one_of(
    _variadic(b"GETEX", [key], option),
    _form(b"SETEX", key, st.sampled_from([b"100", b"0", b"x"]), value),
    _form(b"SETNX", key, value),
    _form(b"GETSET", key, value),
    _form(b"GETDEL", key),
    _form(b"DECRBY", key, value),
    _variadic(b"MSETNX", [key, value], st.tuples(key, value)),
    _variadic(b"MGET", [key], key),
    _form(b"EXPIREAT", key, st.sampled_from([b"1", b"99999999999"])),
    _form(b"PEXPIRE", key, st.sampled_from([b"-1", b"100000"])),
    _form(b"HSETNX", key, member, value),
    _variadic(b"HMGET", [key, member], member),
    _form(b"HLEN", key),
    _form(b"HEXISTS", key, member),
    _form(b"HKEYS", key),
    _form(b"HVALS", key),
    _form(b"HSTRLEN", key, member),
    _variadic(b"LPUSHX", [key, member], member),
    _variadic(b"RPUSHX", [key, member], member),
    _form(b"LINDEX", key, index),
    _form(b"LLEN", key),
    _form(b"RPOPLPUSH", key, key),
    _form(b"SCARD", key),
    _form(b"SISMEMBER", key, member),
    _variadic(b"SMISMEMBER", [key, member], member),
    _variadic(b"SINTER", [key], key),
    _variadic(b"SUNION", [key], key),
    _variadic(b"SDIFF", [key], key),
    _form(b"SPOP", key, st.sampled_from([b"0", b"10", b"-1"])),
    _form(b"ZCARD", key),
    _form(b"ZREVRANK", key, member),
    _variadic(b"ZMSCORE", [key, member], member),
    _form(b"ZLEXCOUNT", key, bound, bound),
    _variadic(b"ZRANGEBYLEX", [key, bound, bound], option),
    _variadic(b"ZREVRANGEBYSCORE", [key, bound, bound], option),
    _variadic(b"ZREVRANGE", [key, index, index], option),
    _variadic(b"ZPOPMAX", [key], index),
    _form(b"PERSIST", key),
    _form(b"GETRANGE", key, index, index),
    _form(b"SETBIT", key, st.sampled_from([b"0", b"7", b"9", b"-1", b"x"]), st.sampled_from([b"0", b"1", b"2"])),
    _form(b"GETBIT", key, index),
    _variadic(b"BITCOUNT", [key], st.one_of(index, st.sampled_from([b"BIT", b"BYTE"]))),
    _variadic(b"LPOS", [key, member], st.one_of(index, st.sampled_from([b"RANK", b"COUNT", b"MAXLEN"]))),
    _variadic(b"ZRANGESTORE", [key, key, st.one_of(index, bound), st.one_of(index, bound)], option),
    _variadic(b"HSCAN", [key, st.sampled_from([b"0", b"x"])], st.sampled_from([b"MATCH", b"a*", b"COUNT", b"2"])),
    _form(b"TOUCH", key, key),
    _variadic(b"ZUNIONSTORE", [key, st.sampled_from([b"1", b"2", b"0"]), key], st.one_of(key, option, score)),
    _variadic(b"ZINTERSTORE", [key, st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"WEIGHTS", b"1", b"2", b"AGGREGATE", b"MIN", b"MAX"])),
    _variadic(b"ZUNION", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"WITHSCORES", b"WEIGHTS", b"2", b"AGGREGATE", b"SUM"])),
    _form(b"ZDIFF", st.just(b"2"), key, key),
    _variadic(b"LMPOP", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"LEFT", b"RIGHT", b"COUNT", b"2"])),
    _variadic(b"ZMPOP", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"MIN", b"MAX", b"COUNT", b"2"])),
    _variadic(b"SINTERCARD", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"LIMIT", b"1"])),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(st.one_of(COMMANDS, MORE_COMMANDS), min_size=1, max_size=25))
def test_generated_sequences_reply_like_redis(redis_client: RespClient, sequence: list[list[bytes]]) -> None:
    """Method: Hypothesis sequences over a tiny alphabet; every reply and the end state match."""
    redis_client.call([b"FLUSHALL"])
    pair = Pair(redis_client)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()


@settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(st.one_of(COMMANDS, MORE_COMMANDS), min_size=1, max_size=25))
def test_generated_sequences_reply_like_redis_in_resp3(
    redis_client_resp3: RespClient, sequence: list[list[bytes]]
) -> None:
    """Method: as above over a RESP3 connection, so reply shapes are compared too."""
    redis_client_resp3.call([b"FLUSHALL"])
    pair = Pair(redis_client_resp3)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()
