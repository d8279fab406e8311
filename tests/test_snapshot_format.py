"""KEVYSNAP codec: round trips, the trailer, old versions, and damaged or forged input."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshot_strategies import comparable, entries, positions

from kevy_persist.errors import CorruptionError
from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import TRAILER_SIZE, encode_snapshot, encode_snapshot_chunks

PATH = "/data/dump-0.rdb"


def small_snapshot(covered=LogPosition(3, 1234)):
    from collections import deque

    from kevy_persist.data.zset import ZSet

    return encode_snapshot(
        [
            (b"s", ValueKind.STRING, b"value", None),
            (b"h", ValueKind.HASH, {b"f": b"v", b"g": b""}, 4_102_444_800_001),
            (b"l", ValueKind.LIST, deque([b"a", b"b"]), None),
            (b"e", ValueKind.SET, {b"m"}, None),
            (b"z", ValueKind.ZSET, ZSet.from_pairs([(b"x", 1.5), (b"y", -2.0)]), 7),
        ],
        covered,
    )


@given(entries, positions)
def test_decode_of_encode_round_trips_every_kind_ttl_and_trailer(records, covered):
    """Random keyspaces (all five kinds, TTLs to 2^64-1): decoding gives back what was encoded."""
    decoded = decode_snapshot(encode_snapshot(records, covered), PATH)
    assert decoded.version == 4
    assert decoded.trailer is not None and decoded.trailer.covered == covered
    assert len(decoded.records) == len(records)
    for (key, kind, value, deadline), (key2, kind2, value2, deadline2) in zip(records, decoded.records):
        assert (key2, kind2, deadline2) == (key, kind, deadline)
        assert comparable(kind, value2) == comparable(kind, value)


@given(entries, st.integers(1, 5))
def test_chunked_encoding_equals_one_piece_encoding(records, records_per_chunk):
    whole = encode_snapshot(records, None)
    assert b"".join(encode_snapshot_chunks(records, None, records_per_chunk=records_per_chunk)) == whole


def test_trailer_checksum_covers_every_byte_before_it():
    blob = small_snapshot()
    assert struct.unpack("<I", blob[-4:])[0] == crc32c(blob[:-4])
    assert blob[-TRAILER_SIZE:].startswith(b"KEVYTRLR")


def test_every_flipped_byte_is_detected_when_the_trailer_is_present():
    """Flip each byte (xor 0x01 and 0xFF): the CRC trailer makes every flip a CorruptionError."""
    blob = small_snapshot()
    for index in range(len(blob)):
        for mask in (0x01, 0xFF):
            damaged = bytearray(blob)
            damaged[index] ^= mask
            with pytest.raises(CorruptionError) as caught:
                decode_snapshot(bytes(damaged), PATH)
            assert caught.value.path == PATH
            assert 0 <= caught.value.offset <= len(blob)


def test_flipped_bytes_in_a_file_without_trailer_never_raise_anything_else():
    """A kevy-style file (no trailer) has no checksum: a flip may decode, or raise CorruptionError."""
    blob = small_snapshot()[:-TRAILER_SIZE]
    for index in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(blob)
            damaged[index] ^= mask
            try:
                decode_snapshot(bytes(damaged), PATH)
            except CorruptionError as error:
                assert 0 <= error.offset <= len(blob)


def test_every_cut_is_a_corruption_error_except_at_the_end_byte():
    """Truncate at each offset: CorruptionError, except the cut right after 0x00 (a kevy-style file)."""
    blob = small_snapshot()
    end_byte_cut = len(blob) - TRAILER_SIZE
    for cut in range(len(blob)):
        if cut == end_byte_cut:
            assert decode_snapshot(blob[:cut], PATH).trailer is None
            continue
        with pytest.raises(CorruptionError) as caught:
            decode_snapshot(blob[:cut], PATH)
        assert 0 <= caught.value.offset <= cut


@pytest.mark.parametrize("op", [2, 3, 4, 5])
def test_forged_collection_count_fails_fast(op):
    """A count of 0xFFFFFFFF with 10 bytes left is refused before any allocation."""
    blob = b"KEVYSNAP\x04" + bytes([op, 0]) + b"\x01\x00\x00\x00k" + b"\xff\xff\xff\xff" + bytes(10)
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(blob, PATH)
    assert caught.value.offset == 16
    assert "count" in caught.value.reason


def test_forged_string_length_fails_fast():
    blob = b"KEVYSNAP\x04\x01\x00\xff\xff\xff\xffk" + bytes(10)
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(blob, PATH)
    assert caught.value.offset == 11


@pytest.mark.parametrize(
    ("blob", "offset", "reason_part"),
    [
        (b"", 0, "magic"),
        (b"KEVYSNAX\x04\x00", 0, "magic"),
        (b"KEVYSNAP\x01\x00", 8, "version"),
        (b"KEVYSNAP\x05\x00", 8, "version"),
        (b"KEVYSNAP\x04", 9, "end marker"),
        (b"KEVYSNAP\x04\x07\x00", 9, "opcode"),
        (b"KEVYSNAP\x04\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00", 10, "TTL flag"),
        (b"KEVYSNAP\x04\x00garbage", 10, "after the end marker"),
    ],
)
def test_structural_damage_is_reported_with_offset_and_reason(blob, offset, reason_part):
    with pytest.raises(CorruptionError) as caught:
        decode_snapshot(blob, PATH)
    assert caught.value.offset == offset
    assert reason_part in caught.value.reason


def test_version_3_deadlines_are_absolute_and_version_2_ttls_are_relative():
    """The same bytes under version 3 give the stored deadline; under version 2, now + remaining."""
    body = b"\x01\x01" + struct.pack("<Q", 5000) + b"\x01\x00\x00\x00k\x01\x00\x00\x00v\x00"
    (record,) = decode_snapshot(b"KEVYSNAP\x03" + body, PATH).records
    assert record == (b"k", ValueKind.STRING, b"v", 5000)
    (record,) = decode_snapshot(b"KEVYSNAP\x02" + body, PATH, now_ms=1_000_000).records
    assert record == (b"k", ValueKind.STRING, b"v", 1_005_000)
    with pytest.raises(ValueError):
        decode_snapshot(b"KEVYSNAP\x02" + body, PATH)


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_after_the_magic_never_raise_anything_but_corruption(tail):
    try:
        decode_snapshot(b"KEVYSNAP\x04" + tail, PATH)
    except CorruptionError as error:
        assert 0 <= error.offset <= 9 + len(tail)
