"""Decoding KEVYSNAP files (the format and the encoder are in snapshot_format.py).

Guarantees: decoding either returns every record or raises `CorruptionError(path, offset,
reason)`; a declared length or count is checked against the bytes that remain before anything
is built, so a forged count fails at once; no other exception escapes for any input. String
records take a fast path (op and TTL flag read as one u16), and with `strings_into` the
string records without TTL go straight into a dict the keyspace adopts.
"""

from __future__ import annotations

import gc
import struct
from typing import Any

from kevy_persist.errors import CorruptionError
from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.snapshot_format import (
    F64,
    HEADER_SIZE,
    KIND_HASH,
    KIND_LIST,
    KIND_SET,
    KIND_STREAM,
    KIND_STRING,
    KIND_ZSET,
    MAGIC,
    OP_END,
    OP_STREAM,
    READ_VERSIONS,
    STRING_HEAD,
    STRING_NO_TTL,
    TRAILER_CHECKSUM,
    TRAILER_FIELDS,
    TRAILER_FLAG_COVERED,
    TRAILER_MAGIC,
    TRAILER_SIZE,
    TRAILER_VERSION,
    U32,
    U64,
    VERSION_RELATIVE_TTL,
    DecodedSnapshot,
    Record,
    SnapshotTrailer,
)
from kevy_persist.formats.snapshot_stream import decode_stream_payload


class _Reader:
    """Bounds-checked reads over the file bytes; every failure names the file and offset."""

    __slots__ = ("data", "path", "size")

    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.size = len(data)

    def fail(self, offset: int, reason: str) -> CorruptionError:
        return CorruptionError(self.path, offset, reason)

    def u32(self, position: int) -> int:
        if position + 4 > self.size:
            raise self.fail(position, "truncated: 4-byte length runs past the end of the file")
        return U32.unpack_from(self.data, position)[0]

    def blob(self, position: int) -> tuple[bytes, int]:
        """The length-prefixed bytes at `position`, and the position after them."""
        length = self.u32(position)
        start = position + 4
        end = start + length
        if end > self.size:
            raise self.fail(position, f"truncated: length {length} runs past the end of the file")
        return self.data[start:end], end

    def count(self, position: int, minimum_item_bytes: int) -> tuple[int, int]:
        """A collection's item count, refused when the items cannot fit in what remains."""
        count = self.u32(position)
        if count * minimum_item_bytes > self.size - position - 4:
            raise self.fail(position, f"truncated: count {count} cannot fit in the bytes left")
        return count, position + 4


def _decode_payload(reader: _Reader, op: int, position: int) -> tuple[Any, int]:
    """The value of a hash/list/set/zset record whose payload starts at `position`."""
    blob = reader.blob
    if op == KIND_HASH:
        count, position = reader.count(position, 8)
        pairs = []
        for _ in range(count):
            field, position = blob(position)
            item, position = blob(position)
            pairs.append((field, item))
        return pairs, position
    if op == KIND_LIST or op == KIND_SET:
        count, position = reader.count(position, 4)
        items = []
        for _ in range(count):
            item, position = blob(position)
            items.append(item)
        return items, position
    assert op == KIND_ZSET, op
    count, position = reader.count(position, 12)
    members = []
    for _ in range(count):
        member, position = blob(position)
        if position + 8 > reader.size:
            raise reader.fail(position, "truncated: zset score runs past the end of the file")
        members.append((member, F64.unpack_from(reader.data, position)[0]))
        position += 8
    return members, position


def _decode_trailer(reader: _Reader, position: int) -> SnapshotTrailer | None:
    """The trailer after the end byte at `position - 1` (None when the file ends there)."""
    remaining = reader.size - position
    if remaining == 0:
        return None
    data = reader.data
    if remaining != TRAILER_SIZE or data[position : position + 8] != TRAILER_MAGIC:
        raise reader.fail(position, f"{remaining} unexpected bytes after the end marker")
    _, trailer_version, flags, epoch, offset = TRAILER_FIELDS.unpack_from(data, position)
    stored = TRAILER_CHECKSUM.unpack_from(data, reader.size - 4)[0]
    computed = crc32c(memoryview(data)[: reader.size - 4])
    if stored != computed:
        raise reader.fail(position, "snapshot checksum mismatch (damage anywhere before here)")
    if trailer_version != TRAILER_VERSION or flags & ~TRAILER_FLAG_COVERED:
        raise reader.fail(position + 8, "unknown trailer version or flags")
    covered = LogPosition(epoch, offset) if flags & TRAILER_FLAG_COVERED else None
    return SnapshotTrailer(covered=covered, checksum=stored)


def _decode_record(
    reader: _Reader, position: int, now_ms: int | None, relative_ttl: bool, version: int
) -> tuple[Record, int]:
    """One record at `position` with every bound checked (the general, careful path)."""
    data = reader.data
    size = reader.size
    op = data[position]
    if op > OP_STREAM:
        raise reader.fail(position, f"unknown record opcode {op}")
    if position + 2 > size:
        raise reader.fail(position, "truncated: record header runs past the end")
    flag = data[position + 1]
    if flag == 0:
        deadline_ms = None
        key_position = position + 2
    elif flag == 1:
        if position + 10 > size:
            raise reader.fail(position + 2, "truncated: TTL runs past the end of the file")
        deadline_ms = U64.unpack_from(data, position + 2)[0]
        if relative_ttl:
            if now_ms is None:
                raise ValueError("a version-2 snapshot with TTLs needs now_ms")
            deadline_ms += now_ms
        key_position = position + 10
    else:
        raise reader.fail(position + 1, f"TTL flag {flag} is neither 0 nor 1")
    key, position = reader.blob(key_position)
    if op == KIND_STRING:
        value, position = reader.blob(position)
    elif op == OP_STREAM:
        # Version 4 added the consumer-group section; older files have entries only.
        value, position = decode_stream_payload(data, position, reader.path, with_groups=version >= 4)
    else:
        value, position = _decode_payload(reader, op, position)
    return (key, _KINDS[op], value, deadline_ms), position


_KINDS = (None, KIND_STRING, KIND_HASH, KIND_LIST, KIND_SET, KIND_ZSET, KIND_STREAM)


def decode_snapshot(
    data: bytes,
    path: str = "<snapshot>",
    *,
    now_ms: int | None = None,
    strings_into: dict[bytes, bytes] | None = None,
) -> DecodedSnapshot:
    """Decode a whole snapshot file.

    `now_ms` converts version-2 TTLs (milliseconds remaining) into deadlines; it is required
    only when a version-2 file holds a key with a TTL.

    `strings_into` (an empty dict) takes every string record without TTL as key -> value,
    and `records` holds only the others, in file order: opening a shard then adopts the dict
    as its keyspace instead of building a tuple per record and inserting it again. Loading
    the dict and then `records` gives the state loading every record in file order gives:
    a key repeated among those strings keeps its last value, and if a key of `records` is
    also in the dict (a file no keyspace writes) the dict is emptied and every record
    returned in the list. After an error the dict's content is meaningless.
    """
    data = bytes(data)
    reader = _Reader(data, path)
    size = reader.size
    if size < HEADER_SIZE or data[:8] != MAGIC:
        raise reader.fail(0, "bad magic: not a KEVYSNAP snapshot")
    version = data[8]
    if version not in READ_VERSIONS:
        raise reader.fail(8, f"unsupported snapshot version {version} (reads 2 to 4)")
    relative_ttl = version == VERSION_RELATIVE_TTL
    # A million small tuples would trigger the cyclic collector over and over for nothing
    # (records hold no cycles): pause it for the decode, as pickle-heavy loaders do.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        records, position = _decode_records(reader, now_ms, relative_ttl, strings_into, version)
    finally:
        if collector_was_enabled:
            gc.enable()
    trailer = _decode_trailer(reader, position + 1)
    if strings_into and any(record[0] in strings_into for record in records):
        strings_into.clear()  # only file order says which record of such a key wins
        return decode_snapshot(data, path, now_ms=now_ms)
    return DecodedSnapshot(version=version, records=records, trailer=trailer)


def _decode_records(
    reader: _Reader,
    now_ms: int | None,
    relative_ttl: bool,
    strings_into: dict[bytes, bytes] | None,
    version: int,
) -> tuple[list[Record], int]:
    """Every record (strings without TTL into `strings_into` when given); the list and the
    end byte's position."""
    assert strings_into is None or not strings_into, "strings_into must start empty"
    data = reader.data
    size = reader.size
    records: list[Record] = []
    append = records.append
    unpack_head = STRING_HEAD.unpack_from
    unpack_u32 = U32.unpack_from
    string = KIND_STRING
    string_no_ttl = STRING_NO_TTL
    position = HEADER_SIZE
    while True:
        # Fast path: consecutive string records without TTL. `unpack_from` raises
        # struct.error when its field runs past the end, which bounds the head and both
        # length fields; slices do not raise, so the value's end is compared once. Anything
        # else (another kind, a TTL, the end byte, damage) leaves the inner loop at the
        # record's first byte and takes the careful path below.
        try:
            if strings_into is None:
                while True:
                    head, key_length = unpack_head(data, position)
                    if head != string_no_ttl:
                        break
                    key_end = position + 6 + key_length
                    value_end = key_end + 4 + unpack_u32(data, key_end)[0]
                    if value_end > size:
                        break
                    append((data[position + 6 : key_end], string, data[key_end + 4 : value_end], None))
                    position = value_end
            else:
                while True:  # the same walk, storing into the dict
                    head, key_length = unpack_head(data, position)
                    if head != string_no_ttl:
                        break
                    key_end = position + 6 + key_length
                    value_end = key_end + 4 + unpack_u32(data, key_end)[0]
                    if value_end > size:
                        break
                    strings_into[data[position + 6 : key_end]] = data[key_end + 4 : value_end]
                    position = value_end
        except struct.error:
            pass
        if position >= size:
            raise reader.fail(position, "truncated: no end marker")
        if data[position] == OP_END:
            return records, position
        record, position = _decode_record(reader, position, now_ms, relative_ttl, version)
        append(record)
