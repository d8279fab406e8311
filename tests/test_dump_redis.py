"""DUMP / RESTORE payloads against a real redis-server 7.0, both ways.

Method:
- every key of the shared keyspace (`rdb_redis_population`: every type, small and large,
  streams with groups and pending rows, TTLs) DUMPed by Redis RESTOREs into kevy and the
  reverse, with absolute TTLs, under both sets of encoding thresholds: the keyspaces read
  back (`keyspace_content`, the same function on both sides) are equal, streams exactly;
- RESTORE's and DUMP's replies and error replies (bad TTL, options, damaged checksum, a
  value the payload cannot hold, arity) equal Redis's;
- Hypothesis values of every type and size go into Redis by our payload and come back in
  Redis's own encoding unchanged.
RDB files (export-rdb, import-rdb) are `test_rdb_redis.py`'s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdb_redis_population import THRESHOLDS, open_store, populate_commands, redis_content
from rdb_support import RedisServer, keyspace_content
from redis_oracle import redis_server_path

from kevy_persist.commands.replies import ErrorReply
from kevy_persist.errors import CommandError

pytestmark = [
    pytest.mark.redis,
    pytest.mark.timeout(300),
    pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not on PATH"),
]


def _restore_all(source_call, target_call, keys: list[bytes]) -> None:
    for key in keys:
        payload = source_call(b"DUMP", key)
        deadline = source_call(b"PEXPIRETIME", key)
        argv = [b"RESTORE", key, b"%d" % max(deadline, 0), payload] + ([b"ABSTTL"] if deadline > 0 else [])
        assert target_call(*argv) == "OK", key


@pytest.mark.parametrize("thresholds", sorted(THRESHOLDS))
def test_dump_and_restore_both_ways(tmp_path: Path, thresholds: str) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, *THRESHOLDS[thresholds]) as server, open_store(tmp_path / "kevy") as store:
        for argv in populate_commands():
            server.call(*argv)
        expected = redis_content(server)
        keys = sorted(expected)
        _restore_all(server.call, store.execute, keys)  # Redis's payloads into kevy
        assert keyspace_content(store.execute) == expected
        server.call("FLUSHALL")
        _restore_all(store.execute, server.call, keys)  # kevy's payloads into Redis
        assert redis_content(server) == expected


RESTORE_ERRORS = [
    [b"RESTORE", b"exists", b"0", b"@good"],
    [b"RESTORE", b"new", b"-1", b"@good"],
    [b"RESTORE", b"new", b"x", b"@good"],
    [b"RESTORE", b"new", b"0", b"@good", b"BOGUS"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME", b"-1"],
    [b"RESTORE", b"new", b"0", b"@good", b"FREQ", b"256"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME", b"1", b"FREQ", b"1"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME"],
    [b"RESTORE", b"new", b"0", b"@damaged"],
    [b"RESTORE", b"new", b"0", b"short"],
    [b"RESTORE", b"new", b"0", b"@badvalue"],
    [b"RESTORE", b"new", b"0"],
    [b"RESTORE", b"exists", b"0", b"@good", b"REPLACE", b"ABSTTL", b"IDLETIME", b"5"],
    [b"RESTORE", b"gone", b"1", b"@good", b"ABSTTL"],
    [b"DUMP", b"missing"],
]


def test_restore_replies_and_errors_equal_redis(tmp_path: Path) -> None:
    from kevy_persist.formats.crc64 import crc64

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir) as server, open_store(tmp_path / "kevy") as store:
        server.call("SET", "exists", "v")
        store.execute("SET", "exists", "v")
        good = server.call("DUMP", "exists")
        body = b"\x02\x05\x01a" + good[-10:-8]
        payloads = {b"@good": good, b"@damaged": good[:-1] + bytes([good[-1] ^ 1]),
                    b"@badvalue": body + crc64(body).to_bytes(8, "little")}
        for argv in RESTORE_ERRORS:
            argv = [payloads.get(argument, argument) for argument in argv]
            theirs = server.call(*argv)
            try:
                ours = store.execute(*argv)
            except CommandError as error:
                ours = ErrorReply(error.message)
            assert ours == theirs, argv


def test_random_values_survive_a_round_trip_through_redis(tmp_path: Path) -> None:
    """Method: Hypothesis draws values of every type (integers, binary, long strings,
    collections small enough for listpacks and intsets and large enough for hashtables and
    many quicklist nodes); each is RESTOREd into redis-server from our payload, DUMPed back
    by Redis in its own encoding, and decoded here: the value must be unchanged."""
    from collections import deque

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kevy_persist.data.zset import ZSet
    from kevy_persist.formats.rdb_decode import decode_dump_payload
    from kevy_persist.formats.rdb_format import encode_dump_payload
    from kevy_persist.formats.records import ValueKind as K

    members = st.binary(max_size=90) | st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n)
    sizes = st.sampled_from([4, 40, 200])
    values = st.one_of(
        st.tuples(st.just(K.STRING), members | st.binary(min_size=100, max_size=3000)),
        sizes.flatmap(lambda n: st.tuples(st.just(K.HASH), st.dictionaries(members, members, min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.LIST), st.lists(members, min_size=1, max_size=n).map(deque))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.SET), st.sets(members, min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.SET), st.sets(st.integers(-(2**40), 2**40).map(lambda i: b"%d" % i), min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.ZSET), st.dictionaries(
            members, st.floats(allow_nan=False), min_size=1, max_size=n).map(lambda d: ZSet.from_pairs(d.items())))),
    )

    def comparable(kind, value):
        if kind is K.LIST:
            return list(value)
        if kind is K.ZSET:
            return {member: score + 0.0 for member, score in (value.items() if hasattr(value, "items") else value)}
        return value

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, "--list-max-listpack-size", "16") as server:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(values)
        def round_trip(value) -> None:
            kind, native = value
            assert server.call("RESTORE", "k", "0", encode_dump_payload(b"k", kind, native), "REPLACE") == "OK"
            decoded_kind, decoded = decode_dump_payload(server.call("DUMP", "k"))
            assert (decoded_kind, comparable(decoded_kind, decoded)) == (kind, comparable(kind, native))

        round_trip()
