"""Decoding whole RDB files and DUMP payloads (the format is in rdb_format.py).

Guarantees: `decode_rdb` returns every key of every database or raises a `CorruptionError`
subclass naming the path, the byte offset and the reason -- `UnsupportedVersionError` for a
version outside 6..10, `UnsupportedRecordError` for what kevy cannot hold (module values and
module aux data, Redis 7.2's type-21 streams, pre-release function records), and
`ChecksumMismatchError` when the CRC-64 trailer disagrees. No other exception escapes for any
input, and no length read from the file allocates more than the bytes that remain could hold
(LZF strings: more than their compressed bytes could decode to).

What Redis does when it loads, done the same way: aux fields are kept as pairs (unknown ones
are fine, by the format's contract); RESIZEDB is a hint and is read past; IDLE and FREQ
(eviction metadata) are read past; FUNCTION2 records (Lua libraries) are returned apart, not
loaded; an empty collection is skipped and counted; a key twice in one database is
corruption. Deadlines are returned as stored (absolute unix ms; EXPIRETIME seconds are
scaled): dropping keys that already expired is the loader's decision, since it owns the clock.
The trailer is checked after the records, so damage reports where decoding failed; a zero
stored checksum means the writer did not compute one, and is not checked (Redis's rule).
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import attrs

from kevy_persist.errors import (
    ChecksumMismatchError,
    CorruptionError,
    UnsupportedRecordError,
    UnsupportedVersionError,
)
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.crc64 import crc64
from kevy_persist.formats.rdb_reader import RdbReader
from kevy_persist.formats.rdb_values import decode_value, is_value_type
from kevy_persist.formats.records import ValueKind

_LITTLE_U16 = struct.Struct("<H")
_LITTLE_U64 = struct.Struct("<Q")
_LITTLE_I64 = struct.Struct("<q")
DUMP_FOOTER_SIZE = 10
PROGRESS_EVERY_RECORDS = 65536

# (key, kind, value, deadline_ms or None); value forms are rdb_values' (dict, list, set, pairs).
Record = tuple[bytes, ValueKind, Any, "int | None"]
# (bytes decoded so far, total bytes)
ProgressCallback = Callable[[int, int], None]


@attrs.frozen
class DecodedRdb:
    version: int
    aux: tuple[tuple[bytes, bytes], ...]
    databases: dict[int, list[Record]]  # database index -> its keys in file order
    functions: tuple[bytes, ...]  # FUNCTION2 library sources (kevy runs no functions)
    empty_keys_skipped: int
    checksum: int | None  # the stored CRC-64 (None: stored as 0, "not computed")

    @property
    def key_count(self) -> int:
        return sum(len(records) for records in self.databases.values())


def read_version(reader: RdbReader) -> int:
    data = reader.data
    if reader.size < rdb.HEADER_SIZE or data[:5] != rdb.MAGIC:
        raise reader.fail(0, "bad magic: not a Redis RDB file")
    digits = data[5:9]
    if not digits.isdigit():
        raise reader.fail(5, f"version {digits!r} is not four digits")
    version = int(digits)
    if not rdb.MIN_READ_VERSION <= version <= rdb.MAX_READ_VERSION:
        raise UnsupportedVersionError(
            reader.path, 5, f"RDB version {version} (reads {rdb.MIN_READ_VERSION} to {rdb.MAX_READ_VERSION})"
        )
    return version


class _Databases:
    """Records per database; with `track_keys`, the set of keys seen in each (the precise
    duplicate check, run only once a file is known to hold a duplicate)."""

    def __init__(self, reader: RdbReader, track_keys: bool) -> None:
        self.reader = reader
        self.records: dict[int, list[Record]] = {}
        self._seen: dict[int, set[bytes]] | None = {} if track_keys else None
        self.select(0)

    def select(self, index: int) -> None:
        self.current = self.records.setdefault(index, [])
        self.seen = None if self._seen is None else self._seen.setdefault(index, set())

    def first_duplicate_database(self) -> int | None:
        """A database holding some key twice (a C-speed check over every key), or None."""
        for index, records in self.records.items():
            if len(set(map(itemgetter(0), records))) != len(records):
                return index
        return None

    def duplicate(self, offset: int, key: bytes) -> CorruptionError:
        return self.reader.fail(offset, f"key {key[:64]!r} appears twice in one database")

    def result(self) -> dict[int, list[Record]]:
        return {index: records for index, records in self.records.items() if records}


def decode_rdb(data: bytes, path: str = "<rdb>", *, progress: ProgressCallback | None = None) -> DecodedRdb:
    """Decode a whole RDB file (module docstring for what is returned or raised)."""
    data = bytes(data)
    reader = RdbReader(data, path)
    version = read_version(reader)
    # Records hold no cycles: pause the cyclic collector while a million tuples are built.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        databases, aux, functions, empty, end = _decode_items(reader, progress, track_keys=False)
        if databases.first_duplicate_database() is not None:
            # Decode again, checking key by key, to name the duplicate and its offset.
            _decode_items(reader, None, track_keys=True)
            raise AssertionError("the tracked decode must refuse the duplicate")  # pragma: no cover
    finally:
        if collector_was_enabled:
            gc.enable()
    checksum = _check_trailer(reader, version, end)
    return DecodedRdb(version, tuple(aux), databases.result(), tuple(functions), empty, checksum)


def _decode_items(
    reader: RdbReader, progress: ProgressCallback | None, *, track_keys: bool
) -> tuple[_Databases, list[tuple[bytes, bytes]], list[bytes], int, int]:
    """Every item up to the EOF opcode; returns what was read and the EOF's position.

    With `track_keys` a key seen twice in one database raises at its record's offset.
    """
    data, size, string = reader.data, reader.size, reader.string
    unpack_deadline = _LITTLE_I64.unpack_from
    databases = _Databases(reader, track_keys)
    aux: list[tuple[bytes, bytes]] = []
    functions: list[bytes] = []
    empty = 0
    deadline_ms: int | None = None
    position = rdb.HEADER_SIZE
    next_progress = PROGRESS_EVERY_RECORDS
    while True:
        # Fast path: string records, with or without an EXPIRETIME_MS before them, whose key
        # is a raw string of at most 63 bytes (one length byte) and whose value is raw with
        # a 6- or 14-bit length (up to 16383 bytes). Anything else -- and any bound that
        # fails -- leaves the loop at the record's first byte for the careful path below.
        current, seen = databases.current, databases.seen
        while deadline_ms is None and position + 3 < size:
            record_at = position
            opcode = data[position]
            if opcode == rdb.OPCODE_EXPIRETIME_MS:
                record_at = position + 9
                if record_at + 3 >= size or data[record_at] != 0:
                    break
                record_deadline_ms = unpack_deadline(data, position + 1)[0]
            elif opcode == 0:
                record_deadline_ms = None
            else:
                break
            key_length = data[record_at + 1]
            value_at = record_at + 2 + key_length
            if key_length >= 64 or value_at + 1 >= size:
                break
            head = data[value_at]
            if head < 0x40:
                start = value_at + 1
                end = start + head
            elif head < 0x80:
                start = value_at + 2
                end = start + ((head & 0x3F) << 8 | data[value_at + 1])
            else:
                break
            if end > size:
                break
            key = data[record_at + 2 : value_at]
            if seen is not None:
                if key in seen:
                    raise databases.duplicate(record_at, key)
                seen.add(key)
            current.append((key, ValueKind.STRING, data[start:end], record_deadline_ms))
            position = end
        if progress is not None and len(current) >= next_progress:
            next_progress = len(current) + PROGRESS_EVERY_RECORDS
            progress(position, size)
        opcode = reader.byte(position, "opcode (no EOF marker)")
        if is_value_type(opcode):
            record_at = position
            key, value_at = string(position + 1)
            try:
                kind, value, position = decode_value(reader, opcode, value_at)
            except UnsupportedRecordError as error:
                raise UnsupportedRecordError(reader.path, record_at, f"key {key[:64]!r}: {error.reason}") from None
            if kind is None:
                empty += 1
            else:
                if databases.seen is not None:
                    if key in databases.seen:
                        raise databases.duplicate(record_at, key)
                    databases.seen.add(key)
                databases.current.append((key, kind, value, deadline_ms))
            deadline_ms = None
        elif opcode == rdb.OPCODE_EXPIRETIME_MS:
            deadline_ms, position = reader.signed_64(position + 1, "expire time")
        elif opcode == rdb.OPCODE_EXPIRETIME:
            seconds, position = reader.signed_32(position + 1, "expire time")
            deadline_ms = seconds * 1000
        elif opcode == rdb.OPCODE_AUX:
            name, position = string(position + 1)
            value, position = string(position)
            aux.append((name, value))
        elif opcode == rdb.OPCODE_SELECTDB:
            index, position = reader.length(position + 1, "database index")
            databases.select(index)
        elif opcode == rdb.OPCODE_RESIZEDB:
            _, position = reader.length(position + 1, "RESIZEDB key count")
            _, position = reader.length(position, "RESIZEDB expires count")
        elif opcode == rdb.OPCODE_IDLE:
            _, position = reader.length(position + 1, "idle time")
        elif opcode == rdb.OPCODE_FREQ:
            reader.need(position + 1, 1, "LFU frequency")
            position += 2
        elif opcode == rdb.OPCODE_FUNCTION2:
            library, position = string(position + 1)
            functions.append(library)
        elif opcode == rdb.OPCODE_EOF:
            return databases, aux, functions, empty, position
        elif opcode == rdb.OPCODE_MODULE_AUX:
            raise UnsupportedRecordError(reader.path, position, "module aux data cannot be loaded: kevy has no modules")
        elif opcode == rdb.OPCODE_FUNCTION_PRE_GA:
            raise UnsupportedRecordError(reader.path, position, "function records of Redis 7.0 release candidates")
        else:
            raise reader.fail(position, f"unknown opcode {opcode}")


def _check_trailer(reader: RdbReader, version: int, eof_at: int) -> int | None:
    """Verify the CRC-64 after the EOF opcode and that nothing follows; the stored value."""
    position = eof_at + 1
    stored = None
    if version >= 5:
        reader.need(position, rdb.CHECKSUM_SIZE, "checksum")
        stored = _LITTLE_U64.unpack_from(reader.data, position)[0]
        if stored:
            computed = crc64(memoryview(reader.data)[:position])
            if computed != stored:
                raise ChecksumMismatchError(
                    reader.path, position,
                    f"RDB checksum {stored:016x} stored, {computed:016x} computed (damage anywhere before here)",
                )
        position += rdb.CHECKSUM_SIZE
    if position != reader.size:
        raise reader.fail(position, f"{reader.size - position} unexpected bytes after the end of the RDB")
    return stored or None


def verify_dump_payload(payload: bytes, path: str = "<DUMP payload>") -> int:
    """Check a DUMP payload's footer (version <= 10, CRC-64); returns its RDB version."""
    size = len(payload)
    if size < DUMP_FOOTER_SIZE:
        raise ChecksumMismatchError(path, 0, f"{size} bytes cannot hold the 10-byte footer")
    version = _LITTLE_U16.unpack_from(payload, size - 10)[0]
    if version > rdb.MAX_READ_VERSION:
        raise UnsupportedVersionError(path, size - 10, f"payload of RDB version {version} (reads up to 10)")
    stored = _LITTLE_U64.unpack_from(payload, size - 8)[0]
    computed = crc64(memoryview(payload)[: size - 8])
    if stored != computed:
        raise ChecksumMismatchError(path, size - 8, f"payload checksum {stored:016x}, computed {computed:016x}")
    return version


def decode_dump_payload(payload: bytes, path: str = "<DUMP payload>") -> tuple[ValueKind, Any]:
    """The (kind, value) a DUMP payload holds; the footer is verified first.

    Bytes between the value's end and the footer are ignored, as RESTORE in Redis does.
    """
    payload = bytes(payload)
    verify_dump_payload(payload, path)
    reader = RdbReader(payload[:-DUMP_FOOTER_SIZE], path)
    rdb_type = reader.byte(0, "value type")
    kind, value, _ = decode_value(reader, rdb_type, 1)
    if kind is None:
        raise reader.fail(0, "empty collection")
    return kind, value
