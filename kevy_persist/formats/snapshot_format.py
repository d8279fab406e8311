"""The KEVYSNAP snapshot format (pure codec; see specs/snapshot-format.md).

    file    = "KEVYSNAP" version:u8 record* 0x00 [trailer]
    record  = op:u8 ttl_flag:u8 [deadline_ms:u64 if ttl_flag == 1] key:bytes payload
    bytes   = length:u32 data
    payload = op 1 string: bytes        op 2 hash: count:u32 (field:bytes value:bytes)*
              op 3 list: count:u32 bytes* (head to tail)      op 4 set: count:u32 bytes*
              op 5 zset: count:u32 (member:bytes score:f64)*
              op 6 stream: see snapshot_stream.py (entries, then consumer groups in v4)
    trailer = "KEVYTRLR" trailer_version:u8 flags:u8 epoch:u64 offset:u64 crc32c:u32

All integers little-endian. Versions 2 (TTL = milliseconds remaining at save time), 3 and 4
(TTL = absolute unix-ms deadline; 4 only adds stream consumer groups) are read; 4 is written.
kevy 1.23 stops reading at the 0x00 end byte, so it ignores our trailer. The trailer records
the log position the snapshot covers (flags bit 0 says one is present) and a CRC-32C of every
byte before the checksum field.

This module holds the format's constants and the encoder; the decoder, with its guarantees
on damaged input, is `snapshot_decode.py`.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.records import ValueKind
from kevy_persist.formats.snapshot_stream import stream_payload_parts

MAGIC = b"KEVYSNAP"
WRITE_VERSION = 4
READ_VERSIONS = frozenset({2, 3, 4})
VERSION_RELATIVE_TTL = 2
OP_END = 0
OP_STREAM = 6
HEADER_SIZE = len(MAGIC) + 1

TRAILER_MAGIC = b"KEVYTRLR"
TRAILER_VERSION = 1
TRAILER_FLAG_COVERED = 1
TRAILER_FIELDS = struct.Struct("<8sBBQQ")
TRAILER_CHECKSUM = struct.Struct("<I")
TRAILER_SIZE = TRAILER_FIELDS.size + TRAILER_CHECKSUM.size

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
F64 = struct.Struct("<d")
_RECORD_HEAD = struct.Struct("<BBI")  # op, ttl flag 0, key length
_RECORD_HEAD_TTL = struct.Struct("<BBQI")  # op, ttl flag 1, deadline, key length
# The decoder's fast path reads op and TTL flag as one little-endian u16: op 1 (string) with
# flag 0 (no TTL) is the value 1.
STRING_HEAD = struct.Struct("<HI")  # op | ttl flag << 8, key length
STRING_NO_TTL = 1
_U64_LIMIT = 1 << 64

KIND_STRING = ValueKind.STRING
KIND_HASH = ValueKind.HASH
KIND_LIST = ValueKind.LIST
KIND_SET = ValueKind.SET
KIND_ZSET = ValueKind.ZSET
KIND_STREAM = ValueKind.STREAM

# A record as the codec sees it: (key, kind, value, deadline_ms or None).
Record = tuple[bytes, ValueKind, Any, "int | None"]


@attrs.frozen
class SnapshotTrailer:
    """Our addition after the end byte: the covered log position and the file checksum."""

    covered: LogPosition | None
    checksum: int

    @property
    def epoch(self) -> int | None:
        """The covered log's epoch (None when the snapshot covers no log position)."""
        return None if self.covered is None else self.covered.epoch

    @property
    def offset(self) -> int | None:
        """The covered byte offset in that log (None when no position is recorded)."""
        return None if self.covered is None else self.covered.offset


@attrs.frozen
class DecodedSnapshot:
    version: int
    records: list[Record]
    trailer: SnapshotTrailer | None


# --------------------------------------------------------------------------- encoding


def encode_trailer(covered: LogPosition | None, checksum_so_far: int) -> bytes:
    """The trailer for a file whose bytes so far (through the end byte) have `checksum_so_far`."""
    if covered is not None:
        assert 0 <= covered.epoch < _U64_LIMIT, covered
        assert 0 <= covered.offset < _U64_LIMIT, covered
    if covered is None:
        fields = TRAILER_FIELDS.pack(TRAILER_MAGIC, TRAILER_VERSION, 0, 0, 0)
    else:
        fields = TRAILER_FIELDS.pack(
            TRAILER_MAGIC, TRAILER_VERSION, TRAILER_FLAG_COVERED, covered.epoch, covered.offset
        )
    checksum = crc32c(fields, checksum_so_far)
    return fields + TRAILER_CHECKSUM.pack(checksum)


# A collection with more items than this is encoded in slices of this many items, each
# slice joined and handed out on its own: no single value makes one huge `join` (which holds
# the GIL for its whole length and doubles the value's size in memory at once).
LARGE_VALUE_SLICE_ITEMS = 4096


def _payload_parts(kind: ValueKind, value: Any, parts: list[bytes]) -> None:
    """Append the payload of a non-string value (hash, list, set, zset, stream) to `parts`."""
    if kind is KIND_STREAM:
        stream_payload_parts(value, parts)
        return
    parts.append(U32.pack(len(value)))
    _item_parts(kind, value.items() if kind is KIND_HASH or kind is KIND_ZSET else value, parts)


def _item_parts(kind: ValueKind, items: Iterable[Any], parts: list[bytes]) -> int:
    """Append the encoded items (pairs for hashes and zsets) to `parts`; their count."""
    append = parts.append
    pack_u32 = U32.pack
    written = 0
    if kind is KIND_HASH:
        for field, item in items:
            append(pack_u32(len(field)))
            append(field)
            append(pack_u32(len(item)))
            append(item)
            written += 1
    elif kind is KIND_LIST or kind is KIND_SET:
        for item in items:
            append(pack_u32(len(item)))
            append(item)
            written += 1
    else:
        assert kind is KIND_ZSET, kind
        pack_f64 = F64.pack
        for member, score in items:
            append(pack_u32(len(member)))
            append(member)
            append(pack_f64(score))
            written += 1
    return written


def _large_payload_slices(kind: ValueKind, value: Any, parts: list[bytes]) -> Iterator[None]:
    """Append a large collection's payload to `parts` a slice at a time, yielding after each
    slice so the caller can flush `parts` (see LARGE_VALUE_SLICE_ITEMS)."""
    parts.append(U32.pack(len(value)))
    iterator = iter(value.items() if kind is KIND_HASH or kind is KIND_ZSET else value)
    written = 0
    while True:
        count = _item_parts(kind, itertools.islice(iterator, LARGE_VALUE_SLICE_ITEMS), parts)
        written += count
        if count < LARGE_VALUE_SLICE_ITEMS:
            break
        yield
    assert written == len(value), "a collection's items disagree with its len()"


def encode_snapshot_chunks(
    entries: Iterable[tuple[bytes, Any, Any, int | None]],
    covered: LogPosition | None,
    *,
    records_per_chunk: int = 8192,
) -> Iterator[bytes]:
    """The snapshot file as a series of chunks (bounded memory for a file writer).

    `entries` yield `(key, kind, native_value, deadline_ms)`: native values are bytes, dict,
    deque, set, a ZSet (`len()` and `.items()` of (member, score) in score order), or a
    stream (`snapshot_stream.StreamSource`).
    """
    checksum = 0
    parts: list[bytes] = [MAGIC, bytes([WRITE_VERSION])]
    append = parts.append
    pack_head = _RECORD_HEAD.pack
    pack_head_ttl = _RECORD_HEAD_TTL.pack
    pack_u32 = U32.pack
    flush_at = 4 * records_per_chunk
    for key, kind, value, deadline_ms in entries:
        if deadline_ms is None:
            append(pack_head(kind, 0, len(key)))
        else:
            assert 0 <= deadline_ms < _U64_LIMIT, deadline_ms
            append(pack_head_ttl(kind, 1, deadline_ms, len(key)))
        append(key)
        if kind is KIND_STRING:
            append(pack_u32(len(value)))
            append(value)
        elif kind is KIND_STREAM or len(value) <= LARGE_VALUE_SLICE_ITEMS:
            # (a stream is encoded whole: its entries are not sliced yet)
            _payload_parts(ValueKind(kind), value, parts)
        else:
            for _ in _large_payload_slices(ValueKind(kind), value, parts):
                chunk = b"".join(parts)
                checksum = crc32c(chunk, checksum)
                yield chunk
                parts.clear()
        if len(parts) >= flush_at:
            chunk = b"".join(parts)
            checksum = crc32c(chunk, checksum)
            yield chunk
            parts.clear()
    append(bytes([OP_END]))
    chunk = b"".join(parts)
    checksum = crc32c(chunk, checksum)
    yield chunk + encode_trailer(covered, checksum)


def encode_snapshot(
    entries: Iterable[tuple[bytes, Any, Any, int | None]], covered: LogPosition | None
) -> bytes:
    """The whole snapshot file (version 4 with our trailer)."""
    return b"".join(encode_snapshot_chunks(entries, covered))

__all__ = [
    "DecodedSnapshot", "Record", "SnapshotTrailer", "encode_snapshot",
    "encode_snapshot_chunks", "encode_trailer",
]
