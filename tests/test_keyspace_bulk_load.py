"""`Keyspace.load_entries` is `load_entry` per record, only faster.

Method: Hypothesis draws records in the snapshot decoder's form (hash as (field, value)
pairs, list and set as item lists, zset as (member, score) pairs) over a four-key
alphabet, so repeated keys -- where the last record must win -- are common; each list is
loaded by `load_entries` and by `load_entry` one at a time, into a fresh keyspace and into
one that already holds keys with deadlines, and the two keyspaces must hold the same keys,
values and deadlines; `load_entry` itself is checked against a plain dict model. A real
encode/decode round trip checks the fast path (distinct keys) reproduces what was saved.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import encode_snapshot

keys = st.sampled_from([b"a", b"b", b"c", b"d"])
items = st.binary(min_size=1, max_size=6)
deadlines = st.none() | st.integers(0, 2**64 - 1)
decoded_values = st.one_of(
    st.tuples(st.just(ValueKind.STRING), st.binary(max_size=10)),
    st.tuples(st.just(ValueKind.HASH), st.lists(st.tuples(items, items), min_size=1, max_size=4)),
    st.tuples(st.just(ValueKind.LIST), st.lists(items, min_size=1, max_size=4)),
    st.tuples(st.just(ValueKind.SET), st.lists(items, min_size=1, max_size=4)),
    st.tuples(
        st.just(ValueKind.ZSET),
        st.lists(st.tuples(items, st.floats(allow_nan=False)), min_size=1, max_size=4),
    ),
)
records = st.lists(
    st.builds(lambda key, kind_value, deadline: (key, *kind_value, deadline), keys, decoded_values, deadlines),
    max_size=10,
)


def state(keyspace: Keyspace) -> dict[bytes, tuple]:
    """Every stored key as (kind, comparable value, deadline)."""
    result = {}
    for key, kind, value, deadline_ms in keyspace.iter_entries():
        if isinstance(value, ZSet):
            value = list(value.items())
        elif isinstance(value, deque):
            value = list(value)
        result[key] = (kind, value, deadline_ms)
    return result


def one_by_one(keyspace: Keyspace, loaded: list) -> Keyspace:
    for key, kind, value, deadline_ms in loaded:
        keyspace.load_entry(key, kind, value, deadline_ms)
    return keyspace


def prefilled() -> Keyspace:
    keyspace = Keyspace()
    keyspace.load_entry(b"a", ValueKind.STRING, b"old", 123)
    keyspace.load_entry(b"z", ValueKind.SET, [b"x"], 456)
    return keyspace


@settings(max_examples=120, deadline=None)
@given(records)
def test_bulk_load_into_a_fresh_keyspace_equals_loading_one_by_one(loaded: list) -> None:
    """Fresh keyspace: same keys, kinds, native values and deadlines; the count is returned."""
    bulk = Keyspace()
    assert bulk.load_entries(loaded) == len(loaded)
    assert state(bulk) == state(one_by_one(Keyspace(), loaded))


@settings(max_examples=60, deadline=None)
@given(records)
def test_bulk_load_into_a_filled_keyspace_equals_loading_one_by_one(loaded: list) -> None:
    """A keyspace that already has keys with deadlines: records replace them in order."""
    bulk = prefilled()
    bulk.load_entries(loaded)
    assert state(bulk) == state(one_by_one(prefilled(), loaded))


def model_value(kind: ValueKind, value: object) -> object:
    """What `state` shows for a decoded value, computed without the keyspace."""
    if kind is ValueKind.HASH:
        return dict(value)
    if kind is ValueKind.SET:
        return set(value)
    if kind is ValueKind.ZSET:
        return list(ZSet.from_pairs(value).items())
    return value


@settings(max_examples=120, deadline=None)
@given(records)
def test_load_entry_matches_a_plain_dict_model(loaded: list) -> None:
    """The oracle for both paths: the last record of a key wins, with its own deadline."""
    keyspace = prefilled()
    model = state(prefilled())
    for key, kind, value, deadline_ms in loaded:
        keyspace.load_entry(key, kind, value, deadline_ms)
        model[key] = (kind, model_value(kind, value), deadline_ms)
    assert state(keyspace) == model


def test_bulk_load_of_a_decoded_snapshot_reproduces_the_saved_keyspace() -> None:
    """Save 3,000 keys of every kind (some with deadlines), decode, bulk-load: same state."""
    original = Keyspace()
    for index in range(3000):
        key = b"key:%d" % index
        deadline_ms = 10**12 + index if index % 7 == 0 else None
        kind, value = [
            (ValueKind.STRING, b"v%d" % index),
            (ValueKind.HASH, [(b"f", b"%d" % index)]),
            (ValueKind.LIST, [b"x", b"%d" % index]),
            (ValueKind.SET, [b"%d" % index]),
            (ValueKind.ZSET, [(b"m", float(index))]),
        ][index % 5]
        original.load_entry(key, kind, value, deadline_ms)
    decoded = decode_snapshot(encode_snapshot(original.iter_entries(), None))
    loaded = Keyspace()
    assert loaded.load_entries(decoded.records) == 3000
    assert state(loaded) == state(original)
    assert type(loaded.peek(b"key:1")) is dict and type(loaded.peek(b"key:2")) is deque


def test_bulk_load_refuses_a_string_record_that_is_not_bytes() -> None:
    """A non-native value is a programming error on both paths (an assertion, not silence)."""
    with pytest.raises(AssertionError):
        Keyspace().load_entries([(b"k", ValueKind.STRING, [b"not", b"bytes"], None)])
    with pytest.raises(AssertionError):
        Keyspace().load_entry(b"k", ValueKind.STRING, [b"not", b"bytes"], None)
