"""Hypothesis strategies for keyspace entries in their native forms (shared by codec tests)."""

from collections import deque

from hypothesis import strategies as st

from kevy_persist.data.stream import Stream
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload
from kevy_persist.formats.stream_ids import MAXIMUM_ID

small_bytes = st.binary(max_size=12)
scores = st.floats(allow_nan=False)
deadlines = st.none() | st.integers(0, 2**64 - 1)
positions = st.none() | st.builds(LogPosition, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))

U64 = st.integers(0, 2**64 - 1)
stream_ids = st.one_of(st.integers(1, 50), st.integers(1, MAXIMUM_ID - 8))


@st.composite
def stream_payloads(draw) -> StreamPayload:
    """A valid op-6 payload: increasing entry IDs under the clock, unique group and consumer
    names, pending rows in ID order (some for entries that are gone, some held by consumers
    missing from the roster, which loading adds)."""
    ids = sorted(set(draw(st.lists(stream_ids, max_size=6))))
    fields = [
        tuple(part for pair in draw(st.lists(st.tuples(small_bytes, small_bytes), min_size=1, max_size=3)) for part in pair)
        for _ in ids
    ]
    last_id = (ids[-1] if ids else 0) + draw(st.integers(0, 3))
    groups = []
    for name in draw(st.sets(small_bytes, max_size=3)):
        consumers = list(draw(st.dictionaries(small_bytes, U64, max_size=3)).items())
        pending_ids = sorted(set(draw(st.lists(st.one_of(st.sampled_from(ids or [1]), stream_ids), max_size=4))))
        holders = [consumer for consumer, _ in consumers] or [b"orphan"]
        pending = [
            (entry_id, draw(st.sampled_from(holders + [b"orphan"])), draw(U64), draw(st.integers(0, 2**32 - 1)))
            for entry_id in pending_ids
        ]
        groups.append(GroupPayload(name, draw(st.integers(0, last_id)), consumers, pending))
    return StreamPayload(
        last_id=last_id,
        max_deleted_id=draw(st.integers(0, last_id)),
        entries_added=len(ids) + draw(st.integers(0, 2**20)),
        entry_ids=ids,
        entry_fields=fields,
        groups=groups,
    )


values = st.one_of(
    st.tuples(st.just(ValueKind.STRING), st.binary(max_size=40)),
    st.tuples(st.just(ValueKind.HASH), st.dictionaries(small_bytes, small_bytes, max_size=5)),
    st.tuples(st.just(ValueKind.LIST), st.lists(small_bytes, max_size=5).map(deque)),
    st.tuples(st.just(ValueKind.SET), st.sets(small_bytes, max_size=5)),
    st.tuples(
        st.just(ValueKind.ZSET),
        st.dictionaries(small_bytes, scores, max_size=5).map(lambda d: ZSet.from_pairs(d.items())),
    ),
    st.tuples(st.just(ValueKind.STREAM), stream_payloads().map(Stream.from_payload)),
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
    if kind is ValueKind.STREAM:
        return (Stream.from_payload(value) if isinstance(value, StreamPayload) else value).state()
    pairs = list(value.items()) if isinstance(value, ZSet) else list(value)
    return pairs
