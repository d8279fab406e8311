"""Hypothesis strategies for keyspace entries in their native forms (shared by codec tests)."""

from collections import deque

from hypothesis import strategies as st

from kevy_persist.data.zset import ZSet
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.records import ValueKind

small_bytes = st.binary(max_size=12)
scores = st.floats(allow_nan=False)
deadlines = st.none() | st.integers(0, 2**64 - 1)
positions = st.none() | st.builds(LogPosition, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))

values = st.one_of(
    st.tuples(st.just(ValueKind.STRING), st.binary(max_size=40)),
    st.tuples(st.just(ValueKind.HASH), st.dictionaries(small_bytes, small_bytes, max_size=5)),
    st.tuples(st.just(ValueKind.LIST), st.lists(small_bytes, max_size=5).map(deque)),
    st.tuples(st.just(ValueKind.SET), st.sets(small_bytes, max_size=5)),
    st.tuples(
        st.just(ValueKind.ZSET),
        st.dictionaries(small_bytes, scores, max_size=5).map(lambda d: ZSet.from_pairs(d.items())),
    ),
)

entries = st.dictionaries(small_bytes, st.tuples(values, deadlines), max_size=8).map(
    lambda by_key: [(key, kind, value, deadline) for key, ((kind, value), deadline) in by_key.items()]
)


def comparable(kind, value):
    """A native or decoded value in one comparable form."""
    if kind is ValueKind.STRING:
        return bytes(value)
    if kind is ValueKind.HASH:
        return dict(value.items() if isinstance(value, dict) else value)
    if kind is ValueKind.LIST:
        return list(value)
    if kind is ValueKind.SET:
        return set(value)
    pairs = list(value.items()) if isinstance(value, ZSet) else list(value)
    return pairs
