"""The RDB codec: round trips, every encoding Redis writes, and typed refusals.

Method: Hypothesis properties that `decode_rdb(encode_rdb_chunks(x)) == x` and the same for
DUMP payloads, with and without LZF; the packed structures (listpack, ziplist, intset) built
by the test encoders of `rdb_support` in every entry encoding and read back; hand-made files
for each value type and opcode (quicklists 1 and 2 with plain nodes, text scores, expire
seconds, SELECTDB, FUNCTION2, IDLE/FREQ); and one assertion per refusal: its class, offset
and reason. CRC-64 and LZF have their own check values and properties.
"""

from __future__ import annotations

import math
import struct
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdb_support import every_encoding_body, intset, listpack, rdb_file, record, ziplist

from kevy_persist.data.zset import ZSet
from kevy_persist.errors import (
    ChecksumMismatchError,
    CorruptionError,
    UnsupportedRecordError,
    UnsupportedValueError,
    UnsupportedVersionError,
)
from kevy_persist.formats import lzf
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.crc64 import CHECK_VALUE, crc64, crc64_pure
from kevy_persist.formats.rdb_decode import decode_dump_payload, decode_rdb, verify_dump_payload
from kevy_persist.formats.rdb_format import encode_dump_payload, encode_length, encode_rdb_chunks, encode_string
from kevy_persist.formats.rdb_packed import PackedError, intset_members, listpack_entries, ziplist_entries
from kevy_persist.formats.rdb_reader import RdbReader
from kevy_persist.formats.records import ValueKind

K = ValueKind


def only_database(data: bytes) -> list:
    decoded = decode_rdb(data, "t.rdb")
    assert set(decoded.databases) <= {0}
    return decoded.databases.get(0, [])


# -- checksums and LZF -------------------------------------------------------------------


def test_crc64_matches_redis_check_value_and_continues() -> None:
    """Method: Redis's own check vector; chunked == whole; C and pure agree."""
    assert crc64(b"123456789") == CHECK_VALUE == crc64_pure(b"123456789")
    data = bytes(range(256)) * 5
    assert crc64(data[700:], crc64(data[:700])) == crc64(data) == crc64_pure(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=2000), st.lists(st.sampled_from([b"ab", b"abc", b"x" * 40, b"\0"])).map(b"".join)))
def test_lzf_round_trip(data: bytes) -> None:
    """Method: whatever compress emits decodes to the input; None only when it saves < 4 bytes."""
    packed = lzf.compress(data)
    if packed is not None:
        assert len(packed) <= len(data) - 4
        assert lzf.decompress(packed, len(data)) == data


def test_lzf_refuses_forged_sizes_and_bad_references() -> None:
    """Method: a size no stream could produce, a reference before the start, a short stream."""
    with pytest.raises(lzf.LzfError, match="cannot hold"):
        lzf.decompress(b"\x00a", 10**9)
    with pytest.raises(lzf.LzfError, match="before the output start"):
        lzf.decompress(b"\x20\x05", 3)
    with pytest.raises(lzf.LzfError, match="past the end"):
        lzf.decompress(b"\x05ab", 6)
    assert lzf.decompress(b"\x00a\xe0\x00\x00", 10) == b"a" * 10  # an overlapping run


# -- lengths and strings -----------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 63, 64, 16383, 16384, 2**32 - 1, 2**32, 2**64 - 1])
def test_lengths_round_trip_at_every_width_boundary(length: int) -> None:
    reader = RdbReader(encode_length(length) + b"tail", "t")
    value, after = reader.length(0)
    assert value == length and reader.data[after:] == b"tail"


@pytest.mark.parametrize("text", [b"0", b"-1", b"127", b"-128", b"128", b"32767", b"-32769", b"2147483647",
                                  b"-2147483648", b"2147483648", b"007", b"+1", b"-0", b"", b"x" * 100])
def test_strings_round_trip_and_integers_use_the_short_forms(text: bytes) -> None:
    """Method: canonical 32-bit integers take the INT8/16/32 forms; the rest stay text."""
    for compress in (False, True):
        encoded = encode_string(text, compress)
        assert RdbReader(encoded, "t").string(0) == (text, len(encoded))
    canonical = text and b"%d" % int(text) == text and -(2**31) <= int(text) < 2**31 if text[:1] in b"-0123456789" and text.lstrip(b"-").isdigit() else False
    assert (encode_string(text)[0] >> 6 == 3) == bool(canonical)


def test_long_repetitive_strings_are_lzf_compressed_when_asked() -> None:
    value = b"kevy " * 100
    encoded = encode_string(value, compress=True)
    assert encoded[0] == 0xC3 and len(encoded) < 100
    assert RdbReader(encoded, "t").string(0)[0] == value


# -- packed structures -------------------------------------------------------------------

ELEMENTS = [0, 1, 12, 13, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 40000, -(2**23), 2**23 - 1,
            2**23, -(2**31), 2**31 - 1, 2**31, -(2**63), 2**63 - 1, b"", b"a", b"x" * 63, b"y" * 64,
            b"z" * 4095, b"w" * 4096, b"v" * 16384, b"\xff\x00"]


def text(item: bytes | int) -> bytes:
    return b"%d" % item if isinstance(item, int) else item


def test_listpack_every_entry_encoding() -> None:
    assert listpack_entries(listpack(ELEMENTS)) == [text(item) for item in ELEMENTS]


def test_ziplist_every_entry_encoding() -> None:
    assert ziplist_entries(ziplist(ELEMENTS)) == [text(item) for item in ELEMENTS]


def test_intset_every_width() -> None:
    for numbers in ([1, 2, 3], [-(2**15), 2**15 - 1], [-(2**31), 2**31 - 1, 5], [-(2**63), 0, 2**63 - 1]):
        assert intset_members(intset(numbers)) == [b"%d" % n for n in sorted(numbers)]


@pytest.mark.parametrize("blob, decoder, reason", [
    (listpack([b"a"])[:-1] + b"\x00", listpack_entries, "does not end"),
    (b"\x07\x00\x00\x00\x02\x00\xff", listpack_entries, "header counts 2"),
    (listpack([b"abc"]).replace(b"abc\x04", b"abc\x05"), listpack_entries, "back-length"),
    (struct.pack("<IH", 8, 1) + b"\xf5\xff", listpack_entries, "unknown entry encoding"),
    (ziplist([b"a", b"b"]).replace(b"\x03\x01b", b"\x09\x01b"), ziplist_entries, "prev-length"),
    (ziplist([b"a"])[:4] + b"\x00\x00\x00\x00" + ziplist([b"a"])[8:], ziplist_entries, "tail offset"),
    (struct.pack("<II", 2, 2) + struct.pack("<hh", 5, 5), intset_members, "strictly ascending"),
    (struct.pack("<II", 3, 1) + b"\x00\x00\x00", intset_members, "width"),
    (struct.pack("<II", 2, 0), intset_members, "never empty"),
])
def test_damaged_packed_structures_are_refused_with_the_reason(blob: bytes, decoder, reason: str) -> None:
    with pytest.raises(PackedError, match=reason):
        decoder(blob)


# -- values by type ----------------------------------------------------------------------


def test_every_encoding_redis_writes_decodes_to_the_same_value() -> None:
    """Method: one key per RDB value type, built by hand (`every_encoding_body`), read back."""
    body = every_encoding_body()
    decoded = dict((key, (kind, value)) for key, kind, value, _ in only_database(rdb_file(body)))
    assert decoded == {
        b"list": (K.LIST, [b"a", b"1"]),
        b"set": (K.SET, {b"a", b"-5"}),
        b"zset-text": (K.ZSET, [(b"a", 1.5), (b"b", math.inf), (b"c", -math.inf)]),
        b"hash": (K.HASH, {b"f": b"v"}),
        b"zset": (K.ZSET, [(b"m", -0.25)]),
        b"list-zl": (K.LIST, [b"x", b"7"]),
        b"intset": (K.SET, {b"1", b"2", b"3"}),
        b"zset-zl": (K.ZSET, [(b"m", 2.5), (b"n", 3.0)]),
        b"hash-zl": (K.HASH, {b"f": b"1", b"g": b"v"}),
        b"quicklist": (K.LIST, [b"a", b"b", b"1"]),
        b"hash-lp": (K.HASH, {b"f": b"10", b"g": b"x" * 70}),
        b"zset-lp": (K.ZSET, [(b"m", 1.0), (b"n", -math.inf)]),
        b"quicklist2": (K.LIST, [b"a", b"5", b"plain node"] + [b"z" * 40] * 3),
    }


def test_opcodes_aux_databases_expiry_and_functions() -> None:
    """Method: AUX, SELECTDB, RESIZEDB, both expire opcodes, IDLE, FREQ, FUNCTION2, empty keys."""
    body = b"".join([
        rdb.encode_aux(b"redis-ver", b"7.0.15"),
        bytes((rdb.OPCODE_FUNCTION2,)) + encode_string(b"#!lua name=lib\n"),
        bytes((rdb.OPCODE_SELECTDB,)) + encode_length(0),
        bytes((rdb.OPCODE_RESIZEDB,)) + encode_length(3) + encode_length(2),
        bytes((rdb.OPCODE_EXPIRETIME_MS,)) + struct.pack("<q", 1_700_000_000_123),
        bytes((rdb.OPCODE_IDLE,)) + encode_length(99),
        record(rdb.TYPE_STRING, b"a", encode_string(b"1")),
        bytes((rdb.OPCODE_EXPIRETIME,)) + struct.pack("<i", 1_700_000_000),
        bytes((rdb.OPCODE_FREQ, 5)),
        record(rdb.TYPE_STRING, b"b", encode_string(b"2")),
        record(rdb.TYPE_LIST, b"empty", encode_length(0)),
        bytes((rdb.OPCODE_SELECTDB,)) + encode_length(3),
        record(rdb.TYPE_STRING, b"a", encode_string(b"other db")),
    ])
    decoded = decode_rdb(rdb_file(body, version=9), "t.rdb")
    assert decoded.version == 9 and decoded.aux == ((b"redis-ver", b"7.0.15"),)
    assert decoded.functions == (b"#!lua name=lib\n",) and decoded.empty_keys_skipped == 1
    assert decoded.databases == {
        0: [(b"a", K.STRING, b"1", 1_700_000_000_123), (b"b", K.STRING, b"2", 1_700_000_000_000)],
        3: [(b"a", K.STRING, b"other db", None)],
    }


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("data, error, offset, reason", [
    (b"REDIT0010\xff" + b"\0" * 8, CorruptionError, 0, "bad magic"),
    (rdb_file(b"", version=11), UnsupportedVersionError, 5, "RDB version 11"),
    (rdb_file(b"", version=5), UnsupportedVersionError, 5, "RDB version 5"),
    (rdb_file(record(rdb.TYPE_MODULE_2, b"m", b"\x01")), UnsupportedRecordError, 9, "module values"),
    (rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_3, b"s", b"")), UnsupportedRecordError, 9, "Redis 7.2's"),
    (rdb_file(bytes((rdb.OPCODE_MODULE_AUX,)) + b"\x01"), UnsupportedRecordError, 9, "module aux"),
    (rdb_file(b"\x08"), CorruptionError, 9, "unknown opcode 8"),
    (rdb_file(record(0, b"k", b"\x01v") * 2), CorruptionError, 14, "appears twice"),
    (rdb_file(record(rdb.TYPE_SET, b"s", b"\x02\x01a\x01a")), CorruptionError, 12, "duplicate member"),
    (rdb_file(record(rdb.TYPE_ZSET_2, b"z", b"\x01\x01m" + struct.pack("<d", math.nan))), CorruptionError, 15, "NaN"),
    (rdb_file(record(rdb.TYPE_LIST, b"l", b"\x80\xff\xff\xff\xff")), CorruptionError, 12, "cannot fit"),
    (rdb_file(record(0, b"k", b"\xc3\x02\x80\x10\x00\x00\x00\x00a")), CorruptionError, 12, "claims"),
    (rdb_file(b"")[:-1], CorruptionError, 10, "checksum"),
    (rdb_file(b"") + b"x", CorruptionError, 18, "unexpected bytes"),
    (rdb_file(record(0, b"k", b"\x01v"))[:-2] + b"\x00\x01", ChecksumMismatchError, 15, "checksum"),
    (rdb_file(record(rdb.TYPE_HASH_LISTPACK, b"h", encode_string(listpack([b"f"])))), CorruptionError, 12, "odd number"),
])
def test_refusals_name_the_offset_and_the_reason(data: bytes, error: type, offset: int, reason: str) -> None:
    with pytest.raises(error) as caught:
        decode_rdb(data, "t.rdb")
    assert type(caught.value) is error
    assert (caught.value.path, caught.value.offset) == ("t.rdb", offset), caught.value
    assert reason in caught.value.reason


def test_a_zero_checksum_is_not_checked() -> None:
    """Method: Redis writes 0 with rdbchecksum off; such a file loads without the check."""
    assert decode_rdb(rdb_file(record(0, b"k", b"\x01v"), checksum=False)).checksum is None


# -- round trips -------------------------------------------------------------------------

members = st.binary(max_size=70) | st.integers(-(2**40), 2**40).map(lambda n: b"%d" % n)
scores = st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf, 0.0, 1e-300])
values = st.one_of(
    st.tuples(st.just(K.STRING), members),
    st.tuples(st.just(K.HASH), st.dictionaries(members, members, min_size=1, max_size=8)),
    st.tuples(st.just(K.LIST), st.lists(members, min_size=1, max_size=8).map(deque)),
    st.tuples(st.just(K.SET), st.sets(members, min_size=1, max_size=8)),
    st.tuples(st.just(K.ZSET), st.dictionaries(members, scores, min_size=1, max_size=8).map(
        lambda pairs: ZSet.from_pairs(pairs.items()))),
)
deadlines = st.none() | st.integers(-(2**40), 2**62)


def comparable(kind: ValueKind, value: object) -> object:
    if kind is K.LIST:
        return list(value)  # type: ignore[call-overload]
    if kind is K.ZSET:
        return dict(value.items() if hasattr(value, "items") else value)  # type: ignore[union-attr]
    return value


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(members, st.tuples(values, deadlines), max_size=12), st.booleans())
def test_files_round_trip(keys: dict, compress: bool) -> None:
    """Method: any keyspace encoded as a file decodes to the same keys, values and deadlines."""
    entries = [(key, kind, value, deadline) for key, ((kind, value), deadline) in keys.items()]
    expires = sum(1 for entry in entries if entry[3] is not None)
    data = b"".join(encode_rdb_chunks([(0, len(entries), expires, entries)], [(b"k", b"v")],
                                      compress=compress, entries_per_chunk=3))
    decoded = only_database(data)
    assert [(key, kind, comparable(kind, value), deadline) for key, kind, value, deadline in decoded] == [
        (key, kind, comparable(kind, value), deadline) for key, kind, value, deadline in entries
    ]


@settings(max_examples=150, deadline=None)
@given(values, st.booleans())
def test_dump_payloads_round_trip(value: tuple, compress: bool) -> None:
    kind, native = value
    payload = encode_dump_payload(b"k", kind, native, compress)
    assert verify_dump_payload(payload) == rdb.WRITE_VERSION
    decoded_kind, decoded = decode_dump_payload(payload)
    assert (decoded_kind, comparable(decoded_kind, decoded)) == (kind, comparable(kind, native))


def test_damaged_payload_footers_are_told_apart_from_bad_data() -> None:
    payload = encode_dump_payload(b"k", K.STRING, b"v")
    with pytest.raises(ChecksumMismatchError):
        decode_dump_payload(payload[:-1] + bytes([payload[-1] ^ 1]))
    newer = payload[:-10] + struct.pack("<H", 11)
    with pytest.raises(UnsupportedVersionError):
        decode_dump_payload(newer + struct.pack("<Q", crc64(newer)))
    body = b"\x02\x05\x01a" + struct.pack("<H", 10)  # a set of 5 members holding one
    with pytest.raises(CorruptionError) as caught:
        decode_dump_payload(body + struct.pack("<Q", crc64(body)))
    assert not isinstance(caught.value, ChecksumMismatchError)


def test_values_without_an_encoder_are_refused_by_kind() -> None:
    with pytest.raises(UnsupportedValueError) as caught:
        rdb.encode_value_parts(b"s", 99, object(), [])  # type: ignore[arg-type]
    assert caught.value.key == b"s"
