"""KEVYSNAP records as raw bytes: find each record's key and extent without decoding values.

A re-shard moves a source shard whose log adds nothing after its snapshot by copying the
snapshot's records byte for byte into the new shards' snapshots: only the key is needed (to
route the record), never the value. This module is that reader and the matching writer,
over the format of `snapshot_format.py` (constants reused from there; see
specs/snapshot-format.md):

- `raw_record_batches(data, path)` walks a whole file's records and yields them in batches
  as `(keys, bounds)`: record j is `data[bounds[j]:bounds[j + 1]]`. Every length and count
  is bounds-checked while walking a payload, exactly as the full decoder checks it, and the
  trailer (when present) is verified -- its CRC-32C covers every byte -- after the last
  record, so damage raises `CorruptionError` before the caller can commit anything built
  from the batches. Version-2 files store TTLs relative to the save time, and version-3
  stream records lack the consumer-group section a version-4 file must hold: such records
  are not position-independent and are refused here (`RawCopyUnsupported`): decode them.
  A stream record's extent is found by decoding its payload (`snapshot_stream`), which
  checks it as fully as loading would.
- `RawSnapshotWriter` writes a version-4 file from raw record bytes: the header, the
  records as given, the end byte and our trailer (covering no log position) with the
  running CRC-32C.

Pure apart from the file handle the writer is given; no decoding of values anywhere.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kevy_persist.disk.fs import WritableFile
from kevy_persist.errors import CorruptionError
from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.snapshot_format import (
    HEADER_SIZE,
    MAGIC,
    OP_END,
    OP_STREAM,
    READ_VERSIONS,
    TRAILER_MAGIC,
    TRAILER_SIZE,
    VERSION_RELATIVE_TTL,
    WRITE_VERSION,
    encode_trailer,
)
from kevy_persist.formats.snapshot_stream import decode_stream_payload

_U32 = struct.Struct("<I")
_RECORD_HEAD = struct.Struct("<BBI")  # op, ttl flag, key length (flag 0)
_OP_STRING, _OP_HASH, _OP_LIST, _OP_SET, _OP_ZSET = 1, 2, 3, 4, 5
# Smallest encoded item per collection op: hash = two lengths, list/set = one, zset = one
# length plus the 8-byte score (the same minima the decoder uses against forged counts).
_MINIMUM_ITEM_BYTES = {_OP_HASH: 8, _OP_LIST: 4, _OP_SET: 4, _OP_ZSET: 12}

DEFAULT_BATCH_RECORDS = 65536


class RawCopyUnsupported(CorruptionError):
    """A well-formed snapshot whose records cannot be copied verbatim (version 2 TTLs)."""


def snapshot_version(data: bytes, path: str) -> int:
    """The version byte of a KEVYSNAP file (raises `CorruptionError` for anything else)."""
    if len(data) < HEADER_SIZE or data[:8] != MAGIC:
        raise CorruptionError(path, 0, "bad magic: not a KEVYSNAP snapshot")
    version = data[8]
    if version not in READ_VERSIONS:
        raise CorruptionError(path, 8, f"unsupported snapshot version {version} (reads 2 to 4)")
    return version


def _fail(path: str, offset: int, reason: str) -> CorruptionError:
    return CorruptionError(path, offset, reason)


def _length(data: bytes, position: int, path: str) -> int:
    if position + 4 > len(data):
        raise _fail(path, position, "truncated: 4-byte length runs past the end of the file")
    return _U32.unpack_from(data, position)[0]


def _skip_blob(data: bytes, position: int, path: str) -> int:
    """The position after the length-prefixed bytes at `position`."""
    end = position + 4 + _length(data, position, path)
    if end > len(data):
        raise _fail(path, position, "truncated: length runs past the end of the file")
    return end


def _skip_payload(data: bytes, op: int, position: int, path: str) -> int:
    """The position after a hash/list/set/zset payload (counts checked against what is left)."""
    count = _length(data, position, path)
    if count * _MINIMUM_ITEM_BYTES[op] > len(data) - position - 4:
        raise _fail(path, position, f"truncated: count {count} cannot fit in the bytes left")
    position += 4
    if op == _OP_HASH:
        for _ in range(count):
            position = _skip_blob(data, _skip_blob(data, position, path), path)
    elif op == _OP_ZSET:
        for _ in range(count):
            position = _skip_blob(data, position, path) + 8
            if position > len(data):
                raise _fail(path, position - 8, "truncated: zset score runs past the end of the file")
    else:
        for _ in range(count):
            position = _skip_blob(data, position, path)
    return position


def record_extent(data: bytes, position: int, path: str, version: int = WRITE_VERSION) -> tuple[bytes, int]:
    """(key, end) of the record at `position`, every field checked (the general path)."""
    size = len(data)
    op = data[position]
    if op > OP_STREAM:
        raise _fail(path, position, f"unknown record opcode {op}")
    if op == OP_STREAM and version < WRITE_VERSION:
        raise RawCopyUnsupported(path, position, "a version-3 stream record has no consumer-group section")
    if position + 2 > size:
        raise _fail(path, position, "truncated: record header runs past the end")
    flag = data[position + 1]
    if flag == 0:
        key_position = position + 2
    elif flag == 1:
        if position + 10 > size:
            raise _fail(path, position + 2, "truncated: TTL runs past the end of the file")
        key_position = position + 10
    else:
        raise _fail(path, position + 1, f"TTL flag {flag} is neither 0 nor 1")
    key_end = _skip_blob(data, key_position, path)
    key = data[key_position + 4 : key_end]
    if op == _OP_STRING:
        return key, _skip_blob(data, key_end, path)
    if op == OP_STREAM:
        return key, decode_stream_payload(data, key_end, path, with_groups=True)[1]
    return key, _skip_payload(data, op, key_end, path)


def check_trailer(data: bytes, end_marker: int, path: str) -> None:
    """Verify what follows the end byte: nothing (kevy) or our trailer with a matching CRC."""
    position = end_marker + 1
    remaining = len(data) - position
    if remaining == 0:
        return
    if remaining != TRAILER_SIZE or data[position : position + 8] != TRAILER_MAGIC:
        raise _fail(path, position, f"{remaining} unexpected bytes after the end marker")
    stored = _U32.unpack_from(data, len(data) - 4)[0]
    if stored != crc32c(memoryview(data)[: len(data) - 4]):
        raise _fail(path, position, "snapshot checksum mismatch (damage anywhere before here)")


def raw_record_batches(
    data: bytes, path: str = "<snapshot>", *, batch_records: int = DEFAULT_BATCH_RECORDS
) -> Iterator[tuple[list[bytes], list[int]]]:
    """Batches `(keys, bounds)` of the file's records; see the module docstring.

    `len(bounds) == len(keys) + 1`; consecutive batches share their boundary offset. The
    generator raises `CorruptionError` at the first damage and after the last batch when
    the trailer does not verify, so a consumer commits nothing until it is exhausted.
    """
    assert batch_records > 0
    version = snapshot_version(data, path)
    if version == VERSION_RELATIVE_TTL:
        raise RawCopyUnsupported(path, 8, "version-2 TTLs are relative to the save time")
    size = len(data)
    unpack_head = _RECORD_HEAD.unpack_from
    unpack_u32 = _U32.unpack_from
    position = HEADER_SIZE
    keys: list[bytes] = []
    bounds = [position]
    append_key = keys.append
    append_bound = bounds.append
    while True:
        # Fast path: a string record without TTL whose lengths fit; anything else (or a
        # record running past the end) takes the careful path, which names the damage.
        if position + 10 <= size:
            op, flag, key_length = unpack_head(data, position)
            if op == _OP_STRING and flag == 0:
                key_end = position + 6 + key_length
                if key_end + 4 <= size:
                    end = key_end + 4 + unpack_u32(data, key_end)[0]
                    if end <= size:
                        append_key(data[position + 6 : key_end])
                        append_bound(end)
                        position = end
                        if len(keys) >= batch_records:
                            yield keys, bounds
                            keys, bounds = [], [position]
                            append_key, append_bound = keys.append, bounds.append
                        continue
        if position >= size:
            raise _fail(path, position, "truncated: no end marker")
        if data[position] == OP_END:
            break
        key, position = record_extent(data, position, path, version)
        append_key(key)
        append_bound(position)
        if len(keys) >= batch_records:
            yield keys, bounds
            keys, bounds = [], [position]
            append_key, append_bound = keys.append, bounds.append
    check_trailer(data, position, path)
    if keys:
        yield keys, bounds


class RawSnapshotWriter:
    """Writes a version-4 snapshot from raw records (see the module docstring).

    Call `write_records` any number of times with whole records, then `finish` once; the
    caller fsyncs and closes the handle. Output is buffered up to `flush_bytes`, so a small
    file is one write. The trailer covers no log position, so the shard opened on this
    file starts a fresh log (history: snapshot without position).
    """

    __slots__ = ("handle", "checksum", "size_bytes", "record_count", "finished", "flush_bytes",
                 "_pending", "_pending_bytes")

    def __init__(self, handle: WritableFile, *, flush_bytes: int = 1 << 20) -> None:
        self.handle = handle
        self.checksum = 0
        self.size_bytes = 0
        self.record_count = 0
        self.finished = False
        self.flush_bytes = flush_bytes
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._add(MAGIC + bytes([WRITE_VERSION]))

    def _add(self, chunk: bytes) -> None:
        self.checksum = crc32c(chunk, self.checksum)
        self.size_bytes += len(chunk)
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= self.flush_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending = []
            self._pending_bytes = 0
            self.handle.write(data)

    def write_records(self, chunk: bytes, record_count: int) -> None:
        """Append `record_count` whole records, already encoded (version 3/4 layout)."""
        assert not self.finished, "records after the end marker"
        if chunk:
            self._add(chunk)
        self.record_count += record_count

    def finish(self, covered: LogPosition | None = None) -> int:
        """Write the end byte and the trailer (and anything buffered); returns the file size."""
        assert not self.finished
        end = bytes([OP_END])
        self.checksum = crc32c(end, self.checksum)
        trailer = encode_trailer(covered, self.checksum)
        self._pending.append(end + trailer)
        self.size_bytes += 1 + len(trailer)
        self._flush()
        self.finished = True
        return self.size_bytes
