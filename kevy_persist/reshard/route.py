"""Route a snapshot's raw records to new shards: one pass, keys hashed in place, values untouched.

The re-shard's hot loop (1M keys is the benchmark). For each record of a KEVYSNAP file it
finds the key and the record's extent (`snapshot_raw`), picks the new shard, and appends a
zero-copy slice of the record to that shard's bucket. Batches of buckets are yielded, so
memory holds one source file and one batch of slices.

Why a fused loop: in CPython the per-record cost is the interpreter's, not the arithmetic's.
A string record without TTL whose key is 4..16 bytes -- nearly every key in practice --
takes one path that reads the record head together with the key's first 8 bytes, and the
key's last 8 (or 4) bytes together with the value length, in two `struct` calls, then runs
KevyHash's short-key branch inline (the same arithmetic as `kevyhash.kevy_hash`, which a
property test keeps equal). Every other record (a TTL, a collection, a short or long key,
slot routing) takes the general path: `snapshot_raw.record_extent`, which checks every
length, and `Router.shard_for_key`. Damage raises `CorruptionError` as the decoder would;
the trailer's checksum is verified after the last record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kevy_persist.errors import CorruptionError
from kevy_persist.formats.snapshot_format import HEADER_SIZE, OP_END, VERSION_RELATIVE_TTL
from kevy_persist.formats.snapshot_raw import (
    DEFAULT_BATCH_RECORDS,
    RawCopyUnsupported,
    check_trailer,
    raw_record_batches,
    record_extent,
    snapshot_version,
)

# KevyHash's constants, from the one module that defines the algorithm.
from kevy_persist.layout.kevyhash import FMIX_MULTIPLIER_1, FMIX_MULTIPLIER_2, STATE_0_SEED, STATE_1_SEED
from kevy_persist.layout.routing import Routing, router_for

_HEAD_WITH_FIRST_8 = struct.Struct("<BBIQ")  # op, ttl flag, key length, key bytes 0..7
_LAST_8_AND_LENGTH = struct.Struct("<QI")  # key's last 8 bytes, value length
_LAST_4_AND_LENGTH = struct.Struct("<II")  # key's last 4 bytes, value length
_MASK_64 = (1 << 64) - 1

# (buckets: per new shard, the record slices routed to it; records in the batch; the
# byte offset in the source file where the batch ends)
RoutedBatch = tuple[list[list[memoryview]], int, int]


def route_records(
    data: bytes,
    path: str,
    shard_count: int,
    routing: Routing,
    *,
    batch_records: int = DEFAULT_BATCH_RECORDS,
) -> Iterator[RoutedBatch]:
    """Batches of the file's records, split by the shard each key routes to (module doc)."""
    assert batch_records > 0
    if shard_count == 1:
        # One new shard: every record goes there; walking the records still validates them.
        view = memoryview(data)
        for keys, bounds in raw_record_batches(data, path, batch_records=batch_records):
            yield [[view[bounds[0] : bounds[-1]]]], len(keys), bounds[-1]
        return
    yield from _route_fused(data, path, shard_count, routing, batch_records)


def _route_fused(
    data: bytes, path: str, shard_count: int, routing: Routing, batch_records: int
) -> Iterator[RoutedBatch]:
    version = snapshot_version(data, path)
    if version == VERSION_RELATIVE_TTL:
        raise RawCopyUnsupported(path, 8, "version-2 TTLs are relative to the save time")
    shard_for_key = router_for(shard_count, routing).shard_for_key
    # The inline KevyHash serves KevyHash routing only; slots take the general path (its
    # CRC16 is C code already).
    inline_hash = routing is Routing.KEVYHASH
    head = _HEAD_WITH_FIRST_8.unpack_from
    last_8 = _LAST_8_AND_LENGTH.unpack_from
    last_4 = _LAST_4_AND_LENGTH.unpack_from
    seed_0, seed_1, mask = STATE_0_SEED, STATE_1_SEED, _MASK_64
    multiplier_1, multiplier_2 = FMIX_MULTIPLIER_1, FMIX_MULTIPLIER_2
    view = memoryview(data)
    size = len(data)
    head_limit = size - _HEAD_WITH_FIRST_8.size
    position = HEADER_SIZE
    while True:
        buckets: list[list[memoryview]] = [[] for _ in range(shard_count)]
        appenders = [bucket.append for bucket in buckets]
        remaining = batch_records
        while remaining:
            if inline_hash and position <= head_limit:
                op, flag, key_length, first = head(data, position)
                if op == 1 and flag == 0 and 4 <= key_length <= 16:
                    key_end = position + 6 + key_length
                    if key_end + 4 <= size:
                        if key_length >= 8:
                            last, value_length = last_8(data, key_end - 8)
                        else:
                            last, value_length = last_4(data, key_end - 4)
                            first &= 0xFFFFFFFF
                        end = key_end + 4 + value_length
                        if end <= size:
                            # kevy_hash, short-key branch, inlined (kevyhash.py).
                            product = (seed_0 ^ first) * (seed_1 ^ last)
                            value = (product & mask) ^ (product >> 64) ^ key_length
                            value ^= value >> 33
                            value = (value * multiplier_1) & mask
                            value ^= value >> 33
                            value = (value * multiplier_2) & mask
                            appenders[(value ^ (value >> 33)) % shard_count](view[position:end])
                            position = end
                            remaining -= 1
                            continue
            if position >= size:
                raise CorruptionError(path, position, "truncated: no end marker")
            if data[position] == OP_END:
                break
            key, end = record_extent(data, position, path, version)
            appenders[shard_for_key(key)](view[position:end])
            position = end
            remaining -= 1
        if remaining == 0:
            yield buckets, batch_records, position
            continue
        check_trailer(data, position, path)
        if remaining < batch_records:
            yield buckets, batch_records - remaining, position
        return
