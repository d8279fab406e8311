"""Keyspace: loading, iteration, lazy and active expiry, and copy-on-write views.

Method: direct API calls with hand-picked states, plus a Hypothesis property that a frozen
view keeps showing exactly the state at freeze time while random commands rewrite the live
keyspace (compared with a deep copy taken at freeze time).
"""

from __future__ import annotations

import copy
import random
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.records import ValueKind


def load_one_of_each(keyspace: Keyspace) -> None:
    keyspace.load_entry(b"s", ValueKind.STRING, b"v", None)
    keyspace.load_entry(b"h", ValueKind.HASH, [(b"f", b"1"), (b"g", b"2")], 5_000)
    keyspace.load_entry(b"l", ValueKind.LIST, [b"a", b"b"], None)
    keyspace.load_entry(b"set", ValueKind.SET, [b"x", b"y"], None)
    keyspace.load_entry(b"z", ValueKind.ZSET, [(b"m", 2.0), (b"n", 1.0)], 9_000)


def test_load_entry_converts_snapshot_forms_to_native_values() -> None:
    """Method: one entry of each kind; iter_entries yields native values and deadlines."""
    keyspace = Keyspace()
    load_one_of_each(keyspace)
    entries = {key: (kind, value, deadline) for key, kind, value, deadline in keyspace.iter_entries()}
    assert entries[b"s"] == (ValueKind.STRING, b"v", None)
    assert entries[b"h"] == (ValueKind.HASH, {b"f": b"1", b"g": b"2"}, 5_000)
    assert entries[b"l"] == (ValueKind.LIST, deque([b"a", b"b"]), None)
    assert type(entries[b"l"][1]) is deque
    assert entries[b"set"] == (ValueKind.SET, {b"x", b"y"}, None)
    assert list(entries[b"z"][1].items()) == [(b"n", 1.0), (b"m", 2.0)]
    assert len(keyspace) == 5


def test_lazy_expiry_reaps_on_access_and_queues_the_key() -> None:
    """Method: a key past its deadline reads as absent, is removed, and is queued for DEL."""
    keyspace = Keyspace()
    load_one_of_each(keyspace)
    assert keyspace.count_live(6_000) == 4
    assert keyspace.lookup(b"h", 4_999) is not None
    assert keyspace.lookup(b"h", 5_000) is None
    assert b"h" not in keyspace
    assert keyspace.take_expired_keys() == [b"h"]
    assert keyspace.take_expired_keys() == []


def test_active_expiry_visits_every_deadline_deterministically() -> None:
    """Method: 100 keys with deadlines; steps of 7 samples reap all dead ones in 15 steps."""
    keyspace = Keyspace()
    for index in range(100):
        keyspace.load_entry(b"k%d" % index, ValueKind.STRING, b"v", 1_000 if index % 2 else 10_000)
    keyspace.load_entry(b"forever", ValueKind.STRING, b"v", None)
    removed = sum(keyspace.active_expire_step(5_000, 7) for _ in range(15))
    assert removed == 50
    assert len(keyspace) == 51
    assert sorted(keyspace.take_expired_keys()) == sorted(b"k%d" % index for index in range(1, 100, 2))
    assert keyspace.active_expire_step(5_000, 7) == 0


def test_iter_entries_yields_every_string_once_lazily() -> None:
    """Method: 200,000 string keys; `iter_entries` is a generator (nothing is materialised
    before the first entry) that yields each key exactly once with its value. Its speed is
    measured where speed belongs, beside Redis in `bench/bench_snapshot.py` (a save walks
    every entry), never as a timed assertion here."""
    keyspace = Keyspace()
    for index in range(200_000):
        keyspace.set_value(b"key:%d" % index, b"value")
    entries = keyspace.iter_entries()
    assert iter(entries) is entries  # lazy: an iterator, not a list built up front
    seen = {entry[0] for entry in entries if entry[2] == b"value"}
    assert seen == {b"key:%d" % index for index in range(200_000)}


def native_state(entries) -> dict:
    state = {}
    for key, kind, value, deadline in entries:
        if isinstance(value, ZSet):
            value = list(value.items())
        elif isinstance(value, deque):
            value = list(value)
        state[key] = (kind, copy.deepcopy(value), deadline)
    return state


WRITES = [
    "SET s new", "APPEND s x", "DEL h", "HSET h f 9", "HSET h q 1", "LPUSH l c", "RPOP l",
    "LSET l 0 Z", "SADD set q", "SREM set x", "SPOP set", "ZADD z 5 m", "ZINCRBY z 1 n",
    "ZPOPMIN z", "RENAME l l2", "RENAME h h2", "COPY z z2", "FLUSHDB", "LMOVE l l LEFT RIGHT",
    "SUNIONSTORE set set set2", "SADD set2 a", "EXPIRE s 100", "PERSIST h", "HINCRBY h f 1",
    "LTRIM l 1 -1", "LREM l 0 a", "LINSERT l BEFORE a q", "ZREMRANGEBYRANK z 0 0", "SMOVE set set2 y",
]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    before=st.lists(st.sampled_from(WRITES), max_size=5),
    after=st.lists(st.sampled_from(WRITES), max_size=20),
    second_freeze_at=st.integers(0, 20),
)
def test_frozen_view_keeps_the_state_of_freeze_time(before, after, second_freeze_at) -> None:
    """Method: freeze, deep-copy the view's content, run random writes, compare again."""
    keyspace = Keyspace()
    load_one_of_each(keyspace)
    context = CommandContext(1_000, random.Random(3))
    for line in before:
        execute(keyspace, [part.encode() for part in line.split()], context)
    view = keyspace.freeze_view()
    expected = native_state(view.iter_entries())
    second = None
    second_expected = None
    for position, line in enumerate(after):
        if position == second_freeze_at:
            second = keyspace.freeze_view()
            second_expected = native_state(second.iter_entries())
        execute(keyspace, [part.encode() for part in line.split()], context)
    assert native_state(view.iter_entries()) == expected
    assert len(view) == len(expected)
    if second is not None:
        assert native_state(second.iter_entries()) == second_expected
        second.release()
    view.release()
    view.release()
    assert keyspace._view_count == 0


def test_writes_after_freeze_copy_only_the_touched_collections() -> None:
    """Method: after a freeze, a write to one list copies that list and no other value."""
    keyspace = Keyspace()
    for index in range(10):
        keyspace.load_entry(b"l%d" % index, ValueKind.LIST, [b"a"], None)
    originals = {key: value for key, _kind, value, _deadline in keyspace.iter_entries()}
    with keyspace.freeze_view() as view:
        execute(keyspace, [b"LPUSH", b"l3", b"b"], CommandContext(0, random.Random(0)))
        execute(keyspace, [b"LPUSH", b"l3", b"c"], CommandContext(0, random.Random(0)))
        live = {key: value for key, _kind, value, _deadline in keyspace.iter_entries()}
        changed = [key for key in live if live[key] is not originals[key]]
        assert changed == [b"l3"]
        assert list(dict((key, value) for key, _k, value, _d in view.iter_entries())[b"l3"]) == [b"a"]
    assert keyspace._view_count == 0
