"""Multi-key commands on three shards answer exactly as on one shard (one Redis keyspace).

Method: Hypothesis generates sequences of MSET, MSETNX, MGET, DEL, UNLINK, EXISTS, KEYS,
DBSIZE, SCAN (walked to the end), FLUSHALL and single-key writes over a small key pool; each
runs on a one-shard store (whose semantics are differential-tested against redis-server) and
on a three-shard store, under both routings. Replies must be equal (KEYS and SCAN compared as
sets, since their order is unspecified) and so must the final contents.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings
from store_support import store_state

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import ErrorReply
from kevy_persist.disk.clock import ManualClock

KEYS = [b"k%d" % number for number in range(10)]
keys = st.sampled_from(KEYS)
key_lists = st.lists(keys, min_size=1, max_size=5)
values = st.sampled_from([b"a", b"b", b"1"])

commands = st.one_of(
    st.builds(lambda pairs: [b"MSET", *[part for pair in pairs for part in pair]],
              st.lists(st.tuples(keys, values), min_size=1, max_size=4)),
    st.builds(lambda pairs: [b"MSETNX", *[part for pair in pairs for part in pair]],
              st.lists(st.tuples(keys, values), min_size=1, max_size=3)),
    st.builds(lambda chosen: [b"MGET", *chosen], key_lists),
    st.builds(lambda chosen: [b"DEL", *chosen], key_lists),
    st.builds(lambda chosen: [b"UNLINK", *chosen], key_lists),
    st.builds(lambda chosen: [b"EXISTS", *chosen], key_lists),
    st.builds(lambda pattern: [b"KEYS", pattern], st.sampled_from([b"*", b"k1*", b"k[2-5]"])),
    st.just([b"DBSIZE"]),
    st.just([b"SCAN"]),
    st.just([b"FLUSHALL"]),
    st.builds(lambda key: [b"LPUSH", key, b"x"], keys),
    st.builds(lambda key: [b"INCR", key], keys),
    st.just([b"MSET", b"k1"]),  # wrong arity
    st.just([b"MGET"]),
)


def scan_all(store: Store) -> set[bytes]:
    found: set[bytes] = set()
    cursor = b"0"
    while True:
        cursor, batch = store.execute_argv([b"SCAN", cursor, b"COUNT", b"3"])
        found.update(batch)
        if cursor == b"0":
            return found


def normalized(argv: list[bytes], reply: object) -> object:
    if isinstance(reply, ErrorReply):
        return ("error", str(reply).split(" ")[0])
    if argv[0] == b"KEYS":
        return sorted(reply)
    return reply


def run(store: Store, argv: list[bytes]) -> object:
    if argv == [b"SCAN"]:
        return sorted(scan_all(store))
    return normalized(argv, store.execute_argv(list(argv)))


@settings(max_examples=60, deadline=None)
@given(sequence=st.lists(commands, max_size=25), routing=st.sampled_from(["kevyhash", "slots"]))
def test_three_shards_answer_like_one(sequence: list[list[bytes]], routing: str) -> None:
    one = Store.open(StoreConfig(shard_count=1, ticker="manual"), clock=ManualClock())
    three = Store.open(StoreConfig(shard_count=3, routing=routing, ticker="manual"), clock=ManualClock())
    for argv in sequence:
        assert run(three, argv) == run(one, argv), argv
    assert store_state(three) == store_state(one)


def test_every_key_pool_spans_all_three_shards() -> None:
    """The property above is only meaningful if its keys really land on different shards."""
    for routing in ("kevyhash", "slots"):
        store = Store.open(StoreConfig(shard_count=3, routing=routing, ticker="manual"))
        assert {store.shard_of(key) for key in KEYS} == {0, 1, 2}, routing


def test_scan_cursors_fit_a_c_int_up_to_128_shards() -> None:
    """Clients parse the cursor as a C int (redis-cli --cluster import: `atoi`, restarting at 0
    on a negative value), so every cursor of a 128-shard walk stays below 2**31."""
    store = Store.open(StoreConfig(shard_count=128, ticker="manual"), clock=ManualClock())
    keys = {b"key:%d" % number for number in range(3000)}
    store.execute_argv([b"MSET", *[part for key in sorted(keys) for part in (key, b"v")]])
    found: set[bytes] = set()
    cursor, largest = b"0", 0
    while True:
        cursor, batch = store.execute_argv([b"SCAN", cursor, b"COUNT", b"7"])
        found.update(batch)
        largest = max(largest, int(cursor))
        if cursor == b"0":
            break
    assert found == keys
    assert 2**24 < largest < 2**31, "the walk reached the high shards' cursors, all below 2**31"
