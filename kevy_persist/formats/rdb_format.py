"""Redis RDB files and DUMP payloads: constants and the encoder (see specs/rdb-format.md).

    file     = "REDIS" version:4 ASCII digits  item*  0xFF  crc64:u64 LE
    item     = AUX key:string value:string | SELECTDB db:length
             | RESIZEDB keys:length expires:length | FUNCTION2 code:string
             | [EXPIRETIME_MS ms:i64 LE | EXPIRETIME s:i32 LE] [IDLE length | FREQ u8]
               type:u8 key:string value
    payload  = type:u8 value  version:u16 LE  crc64:u64 LE       (DUMP / RESTORE)

A `length` is 1, 2, 5 or 9 bytes (the two top bits of the first byte say which; 32- and 64-bit
lengths are big-endian); when those bits are 11 the low six bits name a special string
encoding instead (8/16/32-bit integers, LZF). The checksum covers every byte before it (a
zero checksum means "not computed" and is not checked, as in Redis).

What is written (version 10, readable by Redis 7.0 and later): strings as type 0 (integer
encoded when they are canonical 32-bit integers, as Redis does); lists as type 1, sets as
type 2, sorted sets as type 5 (binary scores), hashes as type 4 -- the plain encodings every
Redis since 2.x loads and re-packs into listpacks or intsets under its own thresholds --
and streams as type 19, Redis 7.0's own (`rdb_stream_encode.py`). With `compress=True`
strings over 20 bytes are LZF-compressed when that saves 4 bytes (Redis's rule). Lengths
and strings are `rdb_strings.py`'s. The decoder is `rdb_decode.py`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kevy_persist.errors import UnsupportedValueError
from kevy_persist.formats.crc64 import crc64
from kevy_persist.formats.rdb_stream_encode import StreamEncodingError, stream_value_parts
from kevy_persist.formats.rdb_strings import (
    COMPRESSION_MIN_SIZE,
    encode_length,
    encode_raw_string,
    encode_string,
)
from kevy_persist.formats.records import ValueKind

MAGIC = b"REDIS"
WRITE_VERSION = 10
MIN_READ_VERSION = 6
MAX_READ_VERSION = 10
HEADER_SIZE = len(MAGIC) + 4
CHECKSUM_SIZE = 8

# Opcodes before a key, or standing alone (rdb.h).
OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION_PRE_GA = 246
OPCODE_MODULE_AUX = 247
OPCODE_IDLE = 248
OPCODE_FREQ = 249
OPCODE_AUX = 250
OPCODE_RESIZEDB = 251
OPCODE_EXPIRETIME_MS = 252
OPCODE_EXPIRETIME = 253
OPCODE_SELECTDB = 254
OPCODE_EOF = 255

# Value types (rdb.h); the encoded ones are one string holding a packed structure.
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19
TYPE_STREAM_LISTPACKS_3 = 21  # Redis 7.2 (RDB 11): unknown to 7.0, refused by name here
STREAM_TYPES = frozenset({TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2, TYPE_STREAM_LISTPACKS_3})
MODULE_TYPES = frozenset({TYPE_MODULE, TYPE_MODULE_2})

# Quicklist 2 node containers (quicklist.h).
CONTAINER_PLAIN = 1
CONTAINER_PACKED = 2

# Text scores (type 3): a length byte, or one of these for the special values.
SCORE_NAN = 253
SCORE_POSITIVE_INFINITY = 254
SCORE_NEGATIVE_INFINITY = 255

_LITTLE_I64 = struct.Struct("<q")
_LITTLE_U16 = struct.Struct("<H")
_LITTLE_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


def _list_value(value: Any, parts: list[bytes], string: Callable[[bytes], bytes]) -> int:
    parts.append(encode_length(len(value)))
    parts.extend(map(string, value))
    return TYPE_LIST


def _set_value(value: Any, parts: list[bytes], string: Callable[[bytes], bytes]) -> int:
    parts.append(encode_length(len(value)))
    parts.extend(map(string, value))
    return TYPE_SET


def _hash_value(value: Any, parts: list[bytes], string: Callable[[bytes], bytes]) -> int:
    parts.append(encode_length(len(value)))
    for field, item in value.items():
        parts.append(string(field))
        parts.append(string(item))
    return TYPE_HASH


def _zset_value(value: Any, parts: list[bytes], string: Callable[[bytes], bytes]) -> int:
    parts.append(encode_length(len(value)))
    pack = _F64.pack
    written = 0
    for member, score in value.items():
        parts.append(string(member))
        parts.append(pack(score))
        written += 1
    assert written == len(value), "ZSet.items() disagrees with len()"
    return TYPE_ZSET_2


def _stream_value(value: Any, parts: list[bytes], string: Callable[[bytes], bytes]) -> int:
    stream_value_parts(value, parts, string)
    return TYPE_STREAM_LISTPACKS_2


# Kinds with an encoder. A new value type adds its entry here.
_COLLECTION_ENCODERS: dict[ValueKind, Callable[[Any, list[bytes], Callable[[bytes], bytes]], int]] = {
    ValueKind.LIST: _list_value,
    ValueKind.SET: _set_value,
    ValueKind.HASH: _hash_value,
    ValueKind.ZSET: _zset_value,
    ValueKind.STREAM: _stream_value,
}


def _string_encoder(compress: bool) -> Callable[[bytes], bytes]:
    return (lambda value: encode_string(value, True)) if compress else encode_string


def encode_value_parts(
    key: bytes, kind: ValueKind, value: Any, parts: list[bytes], compress: bool = False
) -> int:
    """Append the value's encoding to `parts`; returns its RDB type byte.

    `value` is native (bytes, dict, deque, set, a ZSet-like object with `len()` and
    `items()` of (member, score), or a stream as `rdb_stream_encode.RdbStreamSource`).
    Raises `UnsupportedValueError` for a kind without encoder or a value no RDB can hold.
    """
    string = _string_encoder(compress)
    if kind is ValueKind.STRING:
        parts.append(string(value))
        return TYPE_STRING
    encoder = _COLLECTION_ENCODERS.get(kind)
    type_name = getattr(kind, "type_name", f"kind {kind}")
    if encoder is None:
        raise UnsupportedValueError(key, type_name, "no RDB encoding for this type yet")
    try:
        return encoder(value, parts, string)
    except StreamEncodingError as error:
        raise UnsupportedValueError(key, type_name, str(error)) from None


def encode_dump_payload(key: bytes, kind: ValueKind, value: Any, compress: bool = False) -> bytes:
    """The DUMP payload of one value: type, value, RDB version (u16 LE), CRC-64 (u64 LE)."""
    parts: list[bytes] = []
    rdb_type = encode_value_parts(key, kind, value, parts, compress)
    body = bytes((rdb_type,)) + b"".join(parts) + _LITTLE_U16.pack(WRITE_VERSION)
    return body + _LITTLE_U64.pack(crc64(body))


def encode_aux(name: bytes, value: bytes) -> bytes:
    return bytes((OPCODE_AUX,)) + encode_string(name) + encode_string(value)


# One file entry: (key, kind, native value, deadline_ms or None).
Entry = tuple[bytes, ValueKind, Any, "int | None"]


def encode_rdb_chunks(
    databases: Iterable[tuple[int, int, int, Iterable[Entry]]],
    aux_fields: Iterable[tuple[bytes, bytes]],
    *,
    compress: bool = False,
    entries_per_chunk: int = 4096,
) -> Iterator[bytes]:
    """The RDB file as chunks (bounded memory): header, aux fields, each database, EOF, CRC.

    `databases` yields `(index, key_count, expires_count, entries)`: the counts are the
    RESIZEDB hint Redis sizes its tables by. A database with no keys is skipped, as Redis
    does. The last chunk ends with the checksum of every byte before it.
    """
    checksum = 0
    header = MAGIC + b"%04d" % WRITE_VERSION + b"".join(encode_aux(name, value) for name, value in aux_fields)
    checksum = crc64(header, checksum)
    yield header
    string = _string_encoder(compress)
    pack_deadline = _LITTLE_I64.pack
    expire_opcode = bytes((OPCODE_EXPIRETIME_MS,))
    string_kind = ValueKind.STRING
    # Above this a string may be worth compressing; at or below 11 bytes it may be an integer.
    plain_limit = COMPRESSION_MIN_SIZE if compress else 1 << 14
    for index, key_count, expires_count, entries in databases:
        if key_count == 0:
            continue
        parts: list[bytes] = [
            bytes((OPCODE_SELECTDB,)), encode_length(index),
            bytes((OPCODE_RESIZEDB,)), encode_length(key_count), encode_length(expires_count),
        ]
        pending = 0
        for key, kind, value, deadline_ms in entries:
            if deadline_ms is not None:
                parts.append(expire_opcode)
                parts.append(pack_deadline(deadline_ms))
            key_length = len(key)
            if kind is string_kind and key_length < 64 and 11 < len(value) < plain_limit:
                # The common record in one formatting call: type 0, key and value with
                # one- or two-byte lengths (the value too long to be an integer).
                value_length = len(value)
                if value_length < 64:
                    parts.append(b"\x00%c%b%c%b" % (key_length, key, value_length, value))
                else:
                    parts.append(b"\x00%c%b%c%c%b" % (
                        key_length, key, 0x40 | value_length >> 8, value_length & 0xFF, value))
            elif kind is string_kind:
                parts.append(b"\x00")
                parts.append(encode_raw_string(key))
                parts.append(string(value))
            else:
                type_index = len(parts)
                parts.append(b"")
                parts.append(encode_raw_string(key))
                parts[type_index] = bytes((encode_value_parts(key, kind, value, parts, compress),))
            pending += 1
            if pending >= entries_per_chunk:
                chunk = b"".join(parts)
                checksum = crc64(chunk, checksum)
                yield chunk
                parts.clear()
                pending = 0
        chunk = b"".join(parts)
        checksum = crc64(chunk, checksum)
        yield chunk
    tail = bytes((OPCODE_EOF,))
    checksum = crc64(tail, checksum)
    yield tail + _LITTLE_U64.pack(checksum)


__all__ = [
    "encode_dump_payload", "encode_length", "encode_rdb_chunks", "encode_string",
    "encode_value_parts",
]
