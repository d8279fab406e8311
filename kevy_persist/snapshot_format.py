"""The KEVYSNAP snapshot format (pure codec; see specs/snapshot-format.md).

    file    = "KEVYSNAP" version:u8 record* 0x00 [trailer]
    record  = op:u8 ttl_flag:u8 [deadline_ms:u64 if ttl_flag == 1] key:bytes payload
    bytes   = length:u32 data
    payload = op 1 string: bytes        op 2 hash: count:u32 (field:bytes value:bytes)*
              op 3 list: count:u32 bytes* (head to tail)      op 4 set: count:u32 bytes*
              op 5 zset: count:u32 (member:bytes score:f64)*  (op 6 stream: refused here)
    trailer = "KEVYTRLR" trailer_version:u8 flags:u8 epoch:u64 offset:u64 crc32c:u32

All integers little-endian. Versions 2 (TTL = milliseconds remaining at save time), 3 and 4
(TTL = absolute unix-ms deadline; 4 only adds stream consumer groups) are read; 4 is written.
kevy 1.23 stops reading at the 0x00 end byte, so it ignores our trailer. The trailer records
the log position the snapshot covers (flags bit 0 says one is present) and a CRC-32C of every
byte before the checksum field.

Guarantees: decoding either returns every record or raises `CorruptionError(path, offset,
reason)`; a declared length or count is checked against the bytes that remain before anything
is built, so a forged count fails at once; no other exception escapes for any input.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from .crc import crc32c
from .errors import CorruptionError, UnsupportedRecordError
from .history import LogPosition
from .records import ValueKind

MAGIC = b"KEVYSNAP"
WRITE_VERSION = 4
READ_VERSIONS = frozenset({2, 3, 4})
VERSION_RELATIVE_TTL = 2
OP_END = 0
OP_STREAM = 6
HEADER_SIZE = len(MAGIC) + 1

TRAILER_MAGIC = b"KEVYTRLR"
TRAILER_VERSION = 1
_TRAILER_FLAG_COVERED = 1
_TRAILER_FIELDS = struct.Struct("<8sBBQQ")
_TRAILER_CHECKSUM = struct.Struct("<I")
TRAILER_SIZE = _TRAILER_FIELDS.size + _TRAILER_CHECKSUM.size

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_RECORD_HEAD = struct.Struct("<BBI")  # op, ttl flag 0, key length
_RECORD_HEAD_TTL = struct.Struct("<BBQI")  # op, ttl flag 1, deadline, key length
# The decoder's fast path reads op and TTL flag as one little-endian u16: op 1 (string) with
# flag 0 (no TTL) is the value 1.
_STRING_HEAD = struct.Struct("<HI")  # op | ttl flag << 8, key length
_STRING_NO_TTL = 1
_U64_LIMIT = 1 << 64

_STRING = ValueKind.STRING
_HASH = ValueKind.HASH
_LIST = ValueKind.LIST
_SET = ValueKind.SET
_ZSET = ValueKind.ZSET

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
        fields = _TRAILER_FIELDS.pack(TRAILER_MAGIC, TRAILER_VERSION, 0, 0, 0)
    else:
        fields = _TRAILER_FIELDS.pack(
            TRAILER_MAGIC, TRAILER_VERSION, _TRAILER_FLAG_COVERED, covered.epoch, covered.offset
        )
    checksum = crc32c(fields, checksum_so_far)
    return fields + _TRAILER_CHECKSUM.pack(checksum)


def _payload_parts(kind: ValueKind, value: Any, parts: list[bytes]) -> None:
    """Append the payload of a non-string value (hash, list, set, zset) to `parts`."""
    append = parts.append
    pack_u32 = _U32.pack
    append(pack_u32(len(value)))
    if kind is _HASH:
        for field, item in value.items():
            append(pack_u32(len(field)))
            append(field)
            append(pack_u32(len(item)))
            append(item)
    elif kind is _LIST or kind is _SET:
        for item in value:
            append(pack_u32(len(item)))
            append(item)
    else:
        assert kind is _ZSET, kind
        pack_f64 = _F64.pack
        written = 0
        for member, score in value.items():
            append(pack_u32(len(member)))
            append(member)
            append(pack_f64(score))
            written += 1
        assert written == len(value), "ZSet.items() disagrees with len()"


def encode_snapshot_chunks(
    entries: Iterable[tuple[bytes, Any, Any, int | None]],
    covered: LogPosition | None,
    *,
    records_per_chunk: int = 8192,
) -> Iterator[bytes]:
    """The snapshot file as a series of chunks (bounded memory for a file writer).

    `entries` yield `(key, kind, native_value, deadline_ms)`: native values are bytes, dict,
    deque, set, or a ZSet (`len()` and `.items()` of (member, score) in score order).
    """
    checksum = 0
    parts: list[bytes] = [MAGIC, bytes([WRITE_VERSION])]
    append = parts.append
    pack_head = _RECORD_HEAD.pack
    pack_head_ttl = _RECORD_HEAD_TTL.pack
    pack_u32 = _U32.pack
    flush_at = 4 * records_per_chunk
    for key, kind, value, deadline_ms in entries:
        if deadline_ms is None:
            append(pack_head(kind, 0, len(key)))
        else:
            assert 0 <= deadline_ms < _U64_LIMIT, deadline_ms
            append(pack_head_ttl(kind, 1, deadline_ms, len(key)))
        append(key)
        if kind is _STRING:
            append(pack_u32(len(value)))
            append(value)
        else:
            _payload_parts(ValueKind(kind), value, parts)
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


# --------------------------------------------------------------------------- decoding


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
        return _U32.unpack_from(self.data, position)[0]

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
    if op == _HASH:
        count, position = reader.count(position, 8)
        pairs = []
        for _ in range(count):
            field, position = blob(position)
            item, position = blob(position)
            pairs.append((field, item))
        return pairs, position
    if op == _LIST or op == _SET:
        count, position = reader.count(position, 4)
        items = []
        for _ in range(count):
            item, position = blob(position)
            items.append(item)
        return items, position
    assert op == _ZSET, op
    count, position = reader.count(position, 12)
    members = []
    for _ in range(count):
        member, position = blob(position)
        if position + 8 > reader.size:
            raise reader.fail(position, "truncated: zset score runs past the end of the file")
        members.append((member, _F64.unpack_from(reader.data, position)[0]))
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
    _, trailer_version, flags, epoch, offset = _TRAILER_FIELDS.unpack_from(data, position)
    stored = _TRAILER_CHECKSUM.unpack_from(data, reader.size - 4)[0]
    computed = crc32c(memoryview(data)[: reader.size - 4])
    if stored != computed:
        raise reader.fail(position, "snapshot checksum mismatch (damage anywhere before here)")
    if trailer_version != TRAILER_VERSION or flags & ~_TRAILER_FLAG_COVERED:
        raise reader.fail(position + 8, "unknown trailer version or flags")
    covered = LogPosition(epoch, offset) if flags & _TRAILER_FLAG_COVERED else None
    return SnapshotTrailer(covered=covered, checksum=stored)


def _decode_record(
    reader: _Reader, position: int, now_ms: int | None, relative_ttl: bool
) -> tuple[Record, int]:
    """One record at `position` with every bound checked (the general, careful path)."""
    data = reader.data
    size = reader.size
    op = data[position]
    if op > 5:
        if op == OP_STREAM:
            raise UnsupportedRecordError(reader.path, position, "stream records are not supported")
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
        deadline_ms = _U64.unpack_from(data, position + 2)[0]
        if relative_ttl:
            if now_ms is None:
                raise ValueError("a version-2 snapshot with TTLs needs now_ms")
            deadline_ms += now_ms
        key_position = position + 10
    else:
        raise reader.fail(position + 1, f"TTL flag {flag} is neither 0 nor 1")
    key, position = reader.blob(key_position)
    if op == _STRING:
        value, position = reader.blob(position)
    else:
        value, position = _decode_payload(reader, op, position)
    return (key, _KINDS[op], value, deadline_ms), position


_KINDS = (None, _STRING, _HASH, _LIST, _SET, _ZSET)


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
        records, position = _decode_records(reader, now_ms, relative_ttl, strings_into)
    finally:
        if collector_was_enabled:
            gc.enable()
    trailer = _decode_trailer(reader, position + 1)
    if strings_into and any(record[0] in strings_into for record in records):
        strings_into.clear()  # only file order says which record of such a key wins
        return decode_snapshot(data, path, now_ms=now_ms)
    return DecodedSnapshot(version=version, records=records, trailer=trailer)


def _decode_records(
    reader: _Reader, now_ms: int | None, relative_ttl: bool, strings_into: dict[bytes, bytes] | None
) -> tuple[list[Record], int]:
    """Every record (strings without TTL into `strings_into` when given); the list and the
    end byte's position."""
    assert strings_into is None or not strings_into, "strings_into must start empty"
    data = reader.data
    size = reader.size
    records: list[Record] = []
    append = records.append
    unpack_head = _STRING_HEAD.unpack_from
    unpack_u32 = _U32.unpack_from
    string = _STRING
    string_no_ttl = _STRING_NO_TTL
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
        record, position = _decode_record(reader, position, now_ms, relative_ttl)
        append(record)
