"""Fuzzing the RDB reader: every flipped byte and every cut of small files gives a typed error.

Method: a corpus of small files -- one holding every value encoding Redis writes (built by
`rdb_support.every_encoding_body`), one written by our encoder with LZF strings, TTLs and
aux fields, one with several databases, one of streams written by our encoder (groups,
consumers, a pending row for a deleted entry, an empty stream) and two of streams in
Redis's own layout, types 19 and 15 (a deleted entry flagged in its node) -- plus DUMP
payloads of each kind. For every
byte offset, the byte is flipped with three masks; the file's CRC-64 is then recomputed (so
the damage reaches the decoder instead of stopping at the checksum) and, separately, left
as it was (so the checksum must catch it). Every prefix of every file is decoded too. Each
decode must either succeed or raise a `CorruptionError` subclass carrying path, offset in
range and reason; any other exception fails the test, naming the case. A stream that decodes
must also load into a `Stream` whose invariants hold (what the decoder accepts, the
keyspace can hold).
"""

from __future__ import annotations

import random
import struct
from collections import deque

import pytest
from rdb_support import every_encoding_body, node_items, raw_id, rdb_file, record, stream_value

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.zset import ZSet
from kevy_persist.errors import ChecksumMismatchError, CorruptionError
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.crc64 import crc64
from kevy_persist.formats.rdb_decode import decode_dump_payload, decode_rdb
from kevy_persist.formats.rdb_format import encode_dump_payload, encode_length, encode_rdb_chunks, encode_string
from kevy_persist.formats.records import ValueKind as K

MASKS = (0x01, 0x80, 0xFF)


def _written_file() -> bytes:
    entries = [
        (b"short", K.STRING, b"v", None),
        (b"number", K.STRING, b"-40000", 1_800_000_000_000),
        (b"long", K.STRING, b"abcabcabc" * 8, None),
        (b"hash", K.HASH, {b"f": b"kevy " * 6, b"g": b"1"}, 1_800_000_000_000),
        (b"list", K.LIST, deque([b"a", b"12", b"zz" * 20]), None),
        (b"set", K.SET, {b"1", b"x"}, None),
        (b"zset", K.ZSET, ZSet.from_pairs([(b"m", 1.5), (b"n", float("-inf"))]), None),
    ]
    return b"".join(encode_rdb_chunks([(0, len(entries), 2, entries)], [(b"ctime", b"1700000000")], compress=True))


def _databases_file() -> bytes:
    return rdb_file(
        rdb.encode_aux(b"redis-ver", b"7.0.15")
        + bytes((rdb.OPCODE_SELECTDB,)) + encode_length(0)
        + bytes((rdb.OPCODE_RESIZEDB,)) + encode_length(1) + encode_length(1)
        + bytes((rdb.OPCODE_EXPIRETIME,)) + struct.pack("<i", 2_000_000_000)
        + record(rdb.TYPE_STRING, b"a", encode_string(b"1"))
        + bytes((rdb.OPCODE_SELECTDB,)) + encode_length(5)
        + bytes((rdb.OPCODE_FREQ, 3)) + record(rdb.TYPE_STRING, b"b", encode_string(b"2"))
        + bytes((rdb.OPCODE_FUNCTION2,)) + encode_string(b"#!lua name=x\n")
    )


def _stream() -> Stream:
    """A stream with a deleted entry, entries of two shapes, a group whose PEL holds a row
    for a deleted entry, two consumers (one holding nothing), a second group at 0-0."""
    keyspace = Keyspace()
    for argv in ([b"XADD", b"s", b"1-1", b"f", b"1", b"g", b"a"], [b"XADD", b"s", b"1-2", b"f", b"2", b"g", b"b"],
                 [b"XADD", b"s", b"2-0", b"other", b"x" * 30], [b"XADD", b"s", b"3-5", b"f", b"-7", b"g", b""],
                 [b"XGROUP", b"CREATE", b"s", b"readers", b"0"],
                 [b"XREADGROUP", b"GROUP", b"readers", b"c1", b"COUNT", b"2", b"STREAMS", b"s", b">"],
                 [b"XGROUP", b"CREATECONSUMER", b"s", b"readers", b"c2"], [b"XDEL", b"s", b"1-2"],
                 [b"XGROUP", b"CREATE", b"s", b"7", b"0"]):
        execute(keyspace, argv, CommandContext(1_700_000_000_000, random.Random(0)))
    return keyspace.peek(b"s")


def _stream_file(rdb_type: int) -> bytes:
    """Redis's layout by hand (a deleted entry, another shape, a group): type 19 or 15."""
    master = (1000, 5)
    entries = [((1000, 5), [b"f", b"1"], 0), ((1000, 6), [b"f", b"2"], 1), ((1001, 0), [b"o", b"x", b"p", b"y"], 0)]
    version = 2 if rdb_type == rdb.TYPE_STREAM_LISTPACKS_2 else 1
    groups = [(b"g", (1000, 6), 2, [(raw_id(1000, 6), 1_700_000_000_000, 2)], [(b"c", 1_700_000_000_001, [raw_id(1000, 6)])])]
    value = stream_value([(raw_id(*master), node_items(master, entries))], 2, (1001, 0), first=master,
                         max_deleted=(1000, 6), added=3, groups=groups, version=version)
    return rdb_file(record(rdb_type, b"s", value))


def _stream_nodes_file() -> bytes:
    """Three nodes whose keys sit one step above the entries before them (a flipped bit
    makes them overlap), the middle one keyed below its first entry (deleted)."""
    nodes = [
        ((1000, 5), [((1000, 5), [b"f", b"1"], 0), ((1000, 6), [b"f", b"2"], 0)]),
        ((1000, 7), [((1000, 8), [b"f", b"3"], 1), ((1000, 9), [b"g", b"4"], 0)]),
        ((1000, 10), [((1000, 10), [b"f", b"5"], 0)]),
    ]
    value = stream_value([(raw_id(*key), node_items(key, entries)) for key, entries in nodes], 4, (1000, 10),
                         first=(1000, 5), max_deleted=(1000, 8), added=5)
    return rdb_file(record(rdb.TYPE_STREAM_LISTPACKS_2, b"s", value))


def _streams_written_file() -> bytes:
    entries = [(b"stream", K.STREAM, _stream(), 1_800_000_000_000), (b"empty", K.STREAM, Stream(), None)]
    return b"".join(encode_rdb_chunks([(0, 2, 1, entries)], [], compress=True))


CORPUS = {
    "every-encoding": rdb_file(every_encoding_body()),
    "written": _written_file(),
    "databases": _databases_file(),
    "streams-written": _streams_written_file(),
    "stream-type-19": _stream_file(rdb.TYPE_STREAM_LISTPACKS_2),
    "stream-type-15": _stream_file(rdb.TYPE_STREAM_LISTPACKS),
    "stream-nodes": _stream_nodes_file(),
}
PAYLOADS = {
    kind.name: encode_dump_payload(b"k", kind, value, compress=True)
    for kind, value in [
        (K.STRING, b"kevy " * 10),
        (K.HASH, {b"f": b"v", b"g": b"x" * 30}),
        (K.LIST, deque([b"a", b"1"])),
        (K.SET, {b"7", b"q"}),
        (K.ZSET, ZSet.from_pairs([(b"m", 2.0)])),
        (K.STREAM, _stream()),
    ]
}


def _with_checksum(data: bytes) -> bytes:
    """The file with its trailer recomputed over the (damaged) bytes before it."""
    return data[:-8] + struct.pack("<Q", crc64(data[:-8]))


def _loads_as_a_valid_stream(kind: K, value: object) -> None:
    """What the decoder accepts, the keyspace can hold: its invariants hold once loaded."""
    if kind is K.STREAM:
        Stream.from_payload(value).check_invariants()  # type: ignore[arg-type]


def _decode(data: bytes, label: str) -> None:
    try:
        decoded = decode_rdb(data, "fuzz.rdb")
        for records in decoded.databases.values():
            for _, kind, value, _ in records:
                _loads_as_a_valid_stream(kind, value)
    except CorruptionError as error:
        assert error.path == "fuzz.rdb", label
        assert 0 <= error.offset <= len(data), (label, error)
        assert error.reason, label
    except Exception as error:  # noqa: BLE001 -- the point: nothing untyped escapes
        pytest.fail(f"{label}: {type(error).__name__}: {error}")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_flipped_byte_gives_a_typed_error_or_a_valid_file(name: str) -> None:
    data = CORPUS[name]
    decode_rdb(data, "fuzz.rdb")  # the undamaged file is valid
    for offset in range(len(data) - 8):
        for mask in MASKS:
            damaged = data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]
            _decode(_with_checksum(damaged), f"{name} flip {offset} ^ {mask:#x}, checksum fixed")
            with pytest.raises(CorruptionError):
                decode_rdb(damaged, "fuzz.rdb")  # the stored checksum no longer matches


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_cut_gives_a_typed_error(name: str) -> None:
    data = CORPUS[name]
    for length in range(len(data)):
        with pytest.raises(CorruptionError):
            decode_rdb(data[:length], "fuzz.rdb")


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_damaged_and_cut_payloads_give_typed_errors(name: str) -> None:
    payload = PAYLOADS[name]
    for offset in range(len(payload) - 10):
        for mask in MASKS:
            body = payload[:offset] + bytes([payload[offset] ^ mask]) + payload[offset + 1 : -8]
            try:
                _loads_as_a_valid_stream(*decode_dump_payload(body + struct.pack("<Q", crc64(body))))
            except CorruptionError as error:
                assert not isinstance(error, ChecksumMismatchError), (name, offset, mask)
            except Exception as error:  # noqa: BLE001
                pytest.fail(f"{name} flip {offset} ^ {mask:#x}: {type(error).__name__}: {error}")
    for length in range(len(payload)):
        with pytest.raises(CorruptionError):
            decode_dump_payload(payload[:length])
