"""Stream values in RDB files and DUMP payloads (types 15 and 19): round trips and refusals.

Method:
- streams built by real command sequences (stream_strategies: deletions, trims, XSETID,
  groups, claims, tombstone pending rows, bursts over several nodes) go through a DUMP
  payload and a whole RDB file and come back with the same state -- entries, ID clock,
  max deleted ID, entries added, every group with its read counter, PEL and consumers,
  their seen times -- and the same node boundaries, so XINFO STREAM answers the same;
- Hypothesis snapshot payloads (any IDs, times, orphan pending rows) round trip field for
  field, the orphans' owners added as kevy's loader adds them;
- hand-made values in Redis's layout (rdb_support.node_items / stream_value): type 19 and
  type 15 with deleted entries, entries with other fields than the master, negative seq
  deltas, integer-encoded names; then one assertion per refusal: class, offset, reason;
- node boundaries are kept when kevy's node model holds them and rebuilt when not; a node
  too big for one listpack is split; times no RDB holds are refused by key.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdb_support import node_items, raw_id, rdb_file, record, stream_value
from snapshot_strategies import stream_payloads
from stream_strategies import SETUP, timed_steps

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.errors import CorruptionError, UnsupportedValueError
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats import rdb_stream_encode
from kevy_persist.formats.rdb_decode import decode_dump_payload, decode_rdb
from kevy_persist.formats.rdb_format import encode_dump_payload, encode_rdb_chunks
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload
from kevy_persist.formats.stream_ids import stream_id

NOW_MS = 1_700_000_000_000


def xinfo_full(stream: Stream) -> object:
    keyspace = Keyspace()
    keyspace.set_value(b"k", stream)
    return execute(keyspace, [b"XINFO", b"STREAM", b"k", b"FULL", b"COUNT", b"0"], CommandContext(NOW_MS, random.Random(0))).reply


def seen_times(stream: Stream) -> dict:
    return {name: [(c.name, c.seen_time_ms) for c in group.sorted_consumers()] for name, group in stream.groups.items()}


def build_streams(steps: list) -> dict[bytes, Stream]:
    keyspace = Keyspace()
    now_ms = NOW_MS
    for argvs, advance_ms in [(SETUP, 0), *steps]:
        now_ms += advance_ms
        for argv in argvs:
            execute(keyspace, argv, CommandContext(now_ms, random.Random(1)))
    return {key: value for key, _, value, _ in keyspace.iter_entries() if isinstance(value, Stream)}


def decode_one(value: bytes, rdb_type: int = rdb.TYPE_STREAM_LISTPACKS_2) -> StreamPayload:
    records = decode_rdb(rdb_file(record(rdb_type, b"s", value)), "t.rdb").databases[0]
    assert [(key, kind) for key, kind, _, _ in records] == [(b"s", ValueKind.STREAM)]
    return records[0][2]


# -- round trips -------------------------------------------------------------------------


def assert_same_stream(copy: Stream, original: Stream) -> None:
    copy.check_invariants()
    assert copy.state() == original.state()  # entries, clock, groups with read counters
    assert seen_times(copy) == seen_times(original)
    live_nodes = [(master, live) for master, live in original.node_layout() if live]
    assert copy.node_layout() == live_nodes
    if len(live_nodes) == len(original.nodes):
        assert xinfo_full(copy) == xinfo_full(original)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(steps=timed_steps)
def test_streams_built_by_commands_round_trip_through_a_payload_and_a_file(steps: list) -> None:
    streams = build_streams(steps)
    for key, original in streams.items():
        kind, decoded = decode_dump_payload(encode_dump_payload(key, ValueKind.STREAM, original))
        assert kind is ValueKind.STREAM
        assert_same_stream(Stream.from_payload(decoded), original)
    entries = [(key, ValueKind.STREAM, value, NOW_MS + 5000) for key, value in streams.items()]
    records = decode_rdb(b"".join(encode_rdb_chunks([(0, len(entries), len(entries), entries)], [], compress=True))).databases.get(0, [])
    assert [(key, deadline) for key, _, _, deadline in records] == [(key, NOW_MS + 5000) for key in streams]
    for key, _, payload, _ in records:
        assert_same_stream(Stream.from_payload(payload), streams[key])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(payload=stream_payloads(), compress=st.booleans())
def test_snapshot_payloads_round_trip_field_for_field(payload: StreamPayload, compress: bool) -> None:
    """Times past 2^63-1 ms are clamped first (no RDB holds them; refused below)."""
    payload = StreamPayload(
        payload.last_id, payload.max_deleted_id, payload.entries_added, payload.entry_ids, payload.entry_fields,
        [GroupPayload(group.name, group.last_delivered, [(name, seen % 2**63) for name, seen in group.consumers],
                      [(entry_id, owner, delivery % 2**63, count) for entry_id, owner, delivery, count in group.pending])
         for group in payload.groups],
    )
    _, decoded = decode_dump_payload(encode_dump_payload(b"k", ValueKind.STREAM, payload, compress))
    fields = ("last_id", "max_deleted_id", "entries_added", "entry_ids", "entry_fields")
    assert [getattr(decoded, name) for name in fields] == [getattr(payload, name) for name in fields]
    expected_groups = []
    for group in sorted(payload.groups, key=lambda group: group.name):
        roster = dict(group.consumers)
        for _, owner, _, _ in group.pending:
            roster.setdefault(owner, 0)  # an owner missing from the roster, seen at 0
        expected_groups.append((group.name, group.last_delivered, sorted(roster.items()), group.pending, -1))
    assert [(g.name, g.last_delivered, g.consumers, g.pending, g.entries_read) for g in decoded.groups] == expected_groups
    sizes = [live for _, _, _, live in decoded.nodes]
    assert sizes == [100] * (len(payload) // 100) + ([len(payload) % 100] if len(payload) % 100 else [])


# -- Redis's layout, by hand ---------------------------------------------------------------

MASTER = (1000, 5)
ENTRIES = [
    ((1000, 5), [b"f", b"1", b"g", b"a"], 0),
    ((1000, 6), [b"f", b"2", b"g", b"b"], 1),  # deleted
    ((1001, 0), [b"other", b"x" * 70], 0),  # other fields, a negative seq delta
    ((1002, 3), [b"f", b"-9", b"g", b""], 0),
]
GROUPS = [
    (b"g1", (1001, 0), 2, [(raw_id(1000, 5), NOW_MS, 3), (raw_id(1000, 6), NOW_MS + 1, 1)],
     [(b"alice", NOW_MS + 2, [raw_id(1000, 6)]), (b"bob", NOW_MS + 3, [raw_id(1000, 5)]), (b"carol", 7, [])]),
    (b"123", (0, 0), -1, [], []),
]


def good_value(version: int = 2, **changes) -> bytes:
    arguments = dict(nodes=[(raw_id(*MASTER), node_items(MASTER, ENTRIES))], length=3, last=(1002, 9),
                     first=(1000, 5), max_deleted=(1000, 6), added=7, groups=GROUPS, version=version)
    arguments.update(changes)
    return stream_value(**arguments)


def test_a_stream_in_redis_layout_decodes_with_its_groups_and_nodes() -> None:
    payload = decode_one(good_value())
    assert payload.entry_ids == [stream_id(1000, 5), stream_id(1001, 0), stream_id(1002, 3)]
    assert payload.entry_fields == [(b"f", b"1", b"g", b"a"), (b"other", b"x" * 70), (b"f", b"-9", b"g", b"")]
    assert (payload.last_id, payload.max_deleted_id, payload.entries_added) == (stream_id(1002, 9), stream_id(1000, 6), 7)
    assert payload.nodes == ((stream_id(1000, 5), stream_id(1002, 3), 4, 3),)
    assert payload.groups == [
        GroupPayload(b"g1", stream_id(1001, 0), [(b"alice", NOW_MS + 2), (b"bob", NOW_MS + 3), (b"carol", 7)],
                     [(stream_id(1000, 5), b"bob", NOW_MS, 3), (stream_id(1000, 6), b"alice", NOW_MS + 1, 1)], 2),
        GroupPayload(b"123", 0, [], [], -1),
    ]
    stream = Stream.from_payload(payload)
    stream.check_invariants()
    assert stream.groups[b"g1"].entries_read == 2 and stream.groups[b"123"].entries_read == -1
    assert (stream.nodes.masters, stream.nodes.received, stream.nodes.live) == ([stream_id(1000, 5)], [4], [3])


def test_a_type_15_stream_gets_what_redis_7_gives_it() -> None:
    """No max deleted ID (0-0), entries added = length, read counters estimated."""
    payload = decode_one(good_value(version=1), rdb.TYPE_STREAM_LISTPACKS)
    assert (payload.max_deleted_id, payload.entries_added) == (0, 3)
    assert [group.entries_read for group in payload.groups] == [None, None]
    stream = Stream.from_payload(payload)
    # Redis's estimate: unknown for an ID inside the stream (not first, not last), 0 before it.
    assert (stream.groups[b"g1"].entries_read, stream.groups[b"123"].entries_read) == (-1, 0)


def test_node_boundaries_are_kept_when_kevys_model_holds_them() -> None:
    """Two nodes of 60 are kept; a node of 150 entries (stream-node-max-entries raised in
    Redis) cannot be followed by the 100-entry model: nodes are rebuilt."""
    def value(sizes: list[int]) -> bytes:
        nodes, ms = [], 1
        for size in sizes:
            entries = [((ms + index, 0), [b"n", b"%d" % index], 0) for index in range(size)]
            nodes.append((raw_id(ms, 0), node_items((ms, 0), entries)))
            ms += size
        total = sum(sizes)
        return stream_value(nodes, total, (total, 0), first=(1, 0), added=total)

    kept = Stream.from_payload(decode_one(value([60, 60])))
    assert (kept.nodes.masters, kept.nodes.live) == ([stream_id(1, 0), stream_id(61, 0)], [60, 60])
    rebuilt = Stream.from_payload(decode_one(value([150])))
    assert (rebuilt.nodes.masters, rebuilt.nodes.live) == ([stream_id(1, 0), stream_id(101, 0)], [100, 50])


def test_delivery_counts_past_32_bits_are_capped_as_commands_cap_them() -> None:
    groups = [(b"g", (0, 0), 0, [(raw_id(1000, 5), NOW_MS, 2**40)], [(b"c", NOW_MS, [raw_id(1000, 5)])])]
    assert decode_one(good_value(groups=groups)).groups[0].pending[0][3] == 2**32 - 1


def test_a_node_too_big_for_one_listpack_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rdb_stream_encode, "LISTPACK_MAX_BYTES", 400)
    keyspace = Keyspace()
    for index in range(20):
        execute(keyspace, [b"XADD", b"s", b"%d-1" % (index + 1), b"f", b"v" * 50], CommandContext(NOW_MS, random.Random(0)))
    original = keyspace.peek(b"s")
    _, decoded = decode_dump_payload(encode_dump_payload(b"s", ValueKind.STREAM, original))
    assert len(decoded.nodes) > 1 and sum(live for *_, live in decoded.nodes) == 20
    copy = Stream.from_payload(decoded)
    assert copy.state() == original.state()


def test_times_no_rdb_holds_are_refused_by_key() -> None:
    stream = Stream()
    stream.append(stream_id(1, 1), (b"f", b"v"))
    group = stream.groups[b"g"] = Stream.from_payload(StreamPayload(0, 0, 0, [], [], [
        GroupPayload(b"g", 0, [(b"c", 2**63)], [])])).groups[b"g"]
    assert group.consumers[b"c"].seen_time_ms == 2**63
    with pytest.raises(UnsupportedValueError) as caught:
        encode_dump_payload(b"key", ValueKind.STREAM, stream)
    assert (caught.value.key, caught.value.type_name) == (b"key", "stream")
    assert "seen time" in caught.value.reason


# -- refusals --------------------------------------------------------------------------------

KEY = raw_id(*MASTER)
NODE = node_items(MASTER, ENTRIES)
# The value starts at byte 12 of the file (header 9, type 1, key "s" 2); its first node key
# at 13, its listpack at 30.
VALUE_AT = 12


def _with_items(items: list) -> list:
    return [(KEY, items)]


REFUSALS = [
    (dict(nodes=[(KEY[:15], NODE)]), 13, "node key of 15 bytes"),
    (dict(nodes=[(KEY, NODE), (KEY, NODE)]), None, "appears twice"),
    (dict(nodes=[(raw_id(2000, 0), node_items((2000, 0), [((2000, 0), [b"f", b"1"], 0)])), (KEY, NODE)]), None,
     "is not above the previous node's key"),
    (dict(nodes=[(KEY, NODE), (raw_id(1002, 0), node_items((1002, 0), [((1002, 9), [b"f", b"1"], 0)]))], last=(1002, 9)),
     None, "is not above the previous node's last entry 1002-3"),
    (dict(nodes=_with_items([3, 1, 2, b"f", b"g", 1] + NODE[6:])), 30, "does not end with 0"),
    (dict(nodes=_with_items([2, 2] + NODE[2:])), 30, "master entry counts 2 live entries, the node holds 3"),
    (dict(nodes=_with_items(NODE + [0])), 30, "after the last entry"),
    (dict(nodes=_with_items(NODE[:-1] + [6])), 30, "lp-count 6"),
    (dict(nodes=_with_items(NODE[:6] + [4] + NODE[7:])), 30, "entry flags 4"),
    (dict(nodes=_with_items(NODE[:6] + [b"two"] + NODE[7:])), 30, "is not an integer"),
    (dict(nodes=_with_items(NODE[:6] + [b"02"] + NODE[7:])), 30, "is not an integer"),
    (dict(nodes=_with_items([1, 0, 2, b"f", b"g", 0, 2, -1, 0, b"1", b"a", 5])), 30, "below its node's key"),
    (dict(nodes=_with_items([2, 0, 2, b"f", b"g", 0, 2, 0, 0, b"1", b"a", 5, 2, 0, 0, b"1", b"a", 5])), 30,
     "does not follow"),
    (dict(nodes=_with_items([1, 0, 0, 0, 2, 0, 0, 3])), 30, "without any field"),
    (dict(nodes=_with_items([1, 0, 1, b"f", 0, 0, 0, 0, 2, b"f", b"1", 8])), 30, "runs past the listpack"),
    (dict(length=4), None, "stream length 4, its nodes hold 3"),
    (dict(first=(1000, 6)), None, "recorded first ID 1000-6"),
    (dict(last=(1002, 2)), None, "last ID 1002-2 is below the entry 1002-3"),
    (dict(groups=[GROUPS[1], GROUPS[1]]), None, "consumer group b'123' appears twice"),
    (dict(groups=[(b"g", (0, 0), -2, [], [])]), None, "negative entries read -2"),
    (dict(groups=[(b"g", (0, 0), 0, [(KEY, NOW_MS, 1), (KEY, NOW_MS, 1)], [])]), None, "appears twice in the group's PEL"),
    (dict(groups=[(b"g", (0, 0), 0, [(KEY, -5, 1)], [])]), None, "negative delivery time -5"),
    (dict(groups=[(b"g", (0, 0), 0, [], [(b"c", -1, [])])]), None, "negative consumer seen time"),
    (dict(groups=[(b"g", (0, 0), 0, [], [(b"c", 1, []), (b"c", 1, [])])]), None, "appears twice in its group"),
    (dict(groups=[(b"g", (0, 0), 0, [], [(b"c", 1, [KEY])])]), None, "is not in the group's PEL"),
    (dict(groups=[(b"g", (0, 0), 0, [(KEY, 1, 1)], [(b"c", 1, [KEY]), (b"d", 1, [KEY])])]), None, "is held twice"),
    (dict(groups=[(b"g", (0, 0), 0, [(KEY, 1, 1)], [(b"c", 1, [])])]), None, "has no consumer"),
]


@pytest.mark.parametrize("changes, offset, reason", REFUSALS)
def test_refusals_name_the_offset_and_the_reason(changes: dict, offset: int | None, reason: str) -> None:
    data = rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_2, b"s", good_value(**changes)))
    with pytest.raises(CorruptionError) as caught:
        decode_rdb(data, "t.rdb")
    assert caught.value.path == "t.rdb"
    assert VALUE_AT <= caught.value.offset < len(data) - 9, caught.value
    if offset is not None:
        assert caught.value.offset == offset, caught.value
    assert reason in caught.value.reason, caught.value.reason


def test_listpack_damage_names_the_byte_inside_the_node() -> None:
    data = bytearray(rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_2, b"s", good_value(nodes=_with_items(NODE[:-1] + [6])))))
    with pytest.raises(CorruptionError) as caught:
        decode_rdb(bytes(data), "t.rdb")
    assert f"listpack (inside this string) byte 152, element {len(NODE) - 1}: lp-count 6" in caught.value.reason


def test_a_forged_node_count_fails_before_reading_nodes() -> None:
    with pytest.raises(CorruptionError, match="stream node count 1000000 cannot fit"):
        decode_rdb(rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_2, b"s", b"\x80\x00\x0f\x42\x40" + b"\x00" * 40)), "t.rdb")


def test_redis_7_2_streams_are_refused_in_files_redis_7_0_reads() -> None:
    from kevy_persist.errors import UnsupportedRecordError

    with pytest.raises(UnsupportedRecordError, match="RDB type 21 are Redis 7.2's") as caught:
        decode_rdb(rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_3, b"s", good_value())), "t.rdb")
    assert caught.value.offset == 9 and "b's'" in caught.value.reason
