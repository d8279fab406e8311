"""Snapshot op 6 (streams): round trips, kevy 1.23's bytes, older versions, and damage.

Method:
- Hypothesis payloads (snapshot_strategies.stream_payloads) encoded in a version-4 file
  decode to the same payload, field for field; native streams built by real command
  sequences (stream_strategies) decode to the same state (read counters, which the format
  does not hold, are re-estimated; they equal the estimate of the original);
- kevy 1.23's own files (streams-n2) decode, and each stream record re-encoded from its
  decoded payload is byte for byte the record kevy wrote;
- version-3 files (no group section) and version-2 files (relative TTLs) decode;
- every truncation of a stream-holding file and random byte flips raise `CorruptionError`
  or decode, never anything else; a forged count fails at its offset without allocating;
  broken invariants (IDs out of order, an entry above the clock, an entry without fields,
  duplicate groups or consumers, pending rows out of order) are refused at their offset.
"""

from __future__ import annotations

import random
import struct

import pytest
from fixture_paths import FIXTURES_DIR
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshot_strategies import stream_payloads
from stream_strategies import SETUP, timed_steps

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.errors import CorruptionError
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import encode_snapshot
from kevy_persist.formats.snapshot_raw import raw_record_batches
from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload, stream_payload_parts

PATH = "<test>"


def stream_file(payload, key: bytes = b"k", version: int = 4, ttl: int | None = None) -> bytes:
    """A snapshot with one stream record; version 3 drops the group section."""
    parts: list[bytes] = []
    stream_payload_parts(payload, parts)
    body = b"".join(parts)
    if version < 4:
        assert body.endswith(struct.pack("<I", 0)), "only a payload without groups fits version 3"
        body = body[:-4]
    head = bytes([6, 0]) if ttl is None else bytes([6, 1]) + struct.pack("<Q", ttl)
    return b"KEVYSNAP" + bytes([version]) + head + struct.pack("<I", len(key)) + key + body + b"\x00"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(payload=stream_payloads())
def test_a_payload_round_trips_field_for_field(payload: StreamPayload) -> None:
    decoded = decode_snapshot(stream_file(payload), PATH)
    assert decoded.records == [(b"k", ValueKind.STREAM, payload, None)]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(steps=timed_steps)
def test_streams_built_by_commands_round_trip_through_a_snapshot(steps: list) -> None:
    keyspace = Keyspace()
    now_ms = 1_700_000_000_000
    for argvs, advance_ms in [(SETUP, 0), *steps]:
        now_ms += advance_ms
        for argv in argvs:
            execute(keyspace, argv, CommandContext(now_ms, random.Random(1)))
    originals = {key: value for key, _, value, _ in keyspace.iter_entries() if isinstance(value, Stream)}
    loaded = Keyspace()
    loaded.load_entries(decode_snapshot(encode_snapshot(keyspace.iter_entries(), None), PATH).records)
    for key, original in originals.items():
        copy = loaded.peek(key)
        copy.check_invariants()
        assert copy.state()[:4] == original.state()[:4]
        assert [group.state()[:2] + group.state()[3:] for group in copy.sorted_groups()] == [
            group.state()[:2] + group.state()[3:] for group in original.sorted_groups()
        ]
        for group in copy.sorted_groups():
            assert group.entries_read == original.estimate_entries_read(group.last_delivered)
        assert {name: [consumer.seen_time_ms for consumer in group.sorted_consumers()] for name, group in copy.groups.items()} == {
            name: [consumer.seen_time_ms for consumer in group.sorted_consumers()] for name, group in original.groups.items()
        }


@pytest.mark.parametrize("name", ["dump-0.rdb", "dump-1.rdb"])
def test_kevy_stream_records_re_encode_to_kevys_bytes(name: str) -> None:
    data = (FIXTURES_DIR / "streams-n2" / name).read_bytes()
    decoded = decode_snapshot(data, name)
    raw = {}
    for keys, bounds in raw_record_batches(data, name):
        for index, key in enumerate(keys):
            raw[key] = data[bounds[index] : bounds[index + 1]]
    streams = [record for record in decoded.records if record[1] is ValueKind.STREAM]
    assert len(streams) >= 6
    for key, _kind, payload, deadline_ms in streams:
        again = encode_snapshot([(key, ValueKind.STREAM, payload, deadline_ms)], None)
        assert again[9 : 9 + len(raw[key])] == raw[key], key


def test_version_3_and_version_2_stream_records_decode() -> None:
    payload = StreamPayload(last_id=(5 << 64) | 1, max_deleted_id=0, entries_added=2,
                            entry_ids=[1 << 64, 5 << 64], entry_fields=[(b"a", b"1"), (b"b", b"")], groups=[])
    assert decode_snapshot(stream_file(payload, version=3), PATH).records == [(b"k", ValueKind.STREAM, payload, None)]
    relative = decode_snapshot(stream_file(payload, version=2, ttl=500), PATH, now_ms=1000)
    assert relative.records == [(b"k", ValueKind.STREAM, payload, 1500)]


SAMPLE = StreamPayload(
    last_id=(9 << 64) | 2, max_deleted_id=3 << 64, entries_added=7,
    entry_ids=[1 << 64, (2 << 64) | 1, 9 << 64], entry_fields=[(b"f", b"v"), (b"a", b"1", b"b", b"2"), (b"x", b"")],
    groups=[GroupPayload(b"g", 2 << 64, [(b"alice", 1_700_000_000_000), (b"bob", 5)],
                         [(1 << 64, b"alice", 1_700_000_000_000, 1), (3 << 64, b"bob", 7, 2)])],
)


def test_every_truncation_is_refused_with_corruption_error() -> None:
    data = stream_file(SAMPLE)
    for cut in range(len(data)):
        with pytest.raises(CorruptionError):
            decode_snapshot(data[:cut], PATH)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_byte_flips_decode_or_raise_corruption_only(position: int, flip: int) -> None:
    data = bytearray(stream_file(SAMPLE))
    data[position % len(data)] ^= flip
    try:
        decode_snapshot(bytes(data), PATH)
    except CorruptionError:
        pass


def _with(data: bytes, offset: int, packed: bytes) -> bytes:
    return data[:offset] + packed + data[offset + len(packed) :]


STREAM_AT = 9 + 2 + 4 + 1  # op, flag, key length, key b"k"


@pytest.mark.parametrize(
    ("offset", "packed", "reason"),
    [
        (STREAM_AT + 40, struct.pack("<I", 2**32 - 1), "stream entry count 4294967295 cannot fit"),
        (STREAM_AT + 44 + 16, struct.pack("<I", 0), "a stream entry without any field"),
        (STREAM_AT + 44 + 16, struct.pack("<I", 2**31), "field count 2147483648 cannot fit"),
        (STREAM_AT + 44 + 30, struct.pack("<QQ", 0, 5), "not in increasing order"),
        (STREAM_AT, struct.pack("<QQ", 1, 0), "above the stream's last ID"),
    ],
)
def test_broken_entries_are_refused_at_their_offset(offset: int, packed: bytes, reason: str) -> None:
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(_with(stream_file(SAMPLE), offset, packed), PATH)
    assert reason in caught.value.reason
    assert caught.value.offset >= STREAM_AT


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        ([GroupPayload(b"g", 0, [], []), GroupPayload(b"g", 0, [], [])], "group name appears twice"),
        ([GroupPayload(b"g", 0, [(b"c", 1), (b"c", 2)], [])], "consumer name appears twice"),
        ([GroupPayload(b"g", 0, [(b"c", 1)], [(5, b"c", 1, 1), (5, b"c", 1, 1)])], "pending entry IDs are not in increasing order"),
    ],
)
def test_broken_groups_are_refused(groups: list, reason: str) -> None:
    payload = StreamPayload(last_id=9, max_deleted_id=0, entries_added=0, entry_ids=[], entry_fields=[], groups=groups)
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(stream_file(payload), PATH)
    assert reason in caught.value.reason


def test_a_forged_group_count_fails_fast() -> None:
    payload = StreamPayload(last_id=9, max_deleted_id=0, entries_added=0, entry_ids=[], entry_fields=[], groups=[])
    data = stream_file(payload)
    forged = data[:-5] + struct.pack("<I", 2**32 - 1) + b"\x00"
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(forged, PATH)
    assert "consumer group count 4294967295 cannot fit" in caught.value.reason
