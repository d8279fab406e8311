"""The payload of a KEVYSNAP stream record (op 6), as kevy 1.23 writes it.

    stream   = last_id:id max_deleted_id:id entries_added:u64 n_entries:u32 entry{n_entries}
               [groups, version 4 only]
    id       = ms:u64 seq:u64
    entry    = id n_fields:u32 (field:bytes value:bytes){n_fields}
    groups   = n_groups:u32 (name:bytes last_delivered:id
                             n_consumers:u32 (name:bytes last_seen_ms:u64){n_consumers}
                             n_pel:u32 (id consumer:bytes delivery_time_ms:u64
                                        delivery_count:u32){n_pel}){n_groups}

Little-endian; `bytes` is `u32 length + data`. Versions 2 and 3 carry no group section.

Decoding guarantees (on top of snapshot_decode's): every count is checked against the bytes
that remain before anything is built (an entry is at least 20 bytes, a field pair 8, a group
28, a consumer 12, a pending row 32), and the invariants a keyspace relies on are checked
with the offset of the offending item: entry IDs strictly increasing and not above
`last_id`, every entry with at least one field pair, group names, consumer names and
pending IDs unique (pending IDs increasing, as kevy writes them). A pending row may name an
entry that no longer exists (a tombstone row): that is kept, as kevy keeps it.

`StreamPayload` is the decoded form and also what the encoder reads (through
`entry_items()` and `group_payloads()`), so the native stream value only has to offer those
two methods and four attributes to be written.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Protocol

import attrs

from kevy_persist.errors import CorruptionError
from kevy_persist.formats.stream_ids import HALF_MASK, SEQUENCE_BITS

HEAD = struct.Struct("<QQQQQI")  # last_id, max_deleted_id, entries_added, n_entries
ENTRY_HEAD = struct.Struct("<QQI")  # ms, seq, n_fields
ID = struct.Struct("<QQ")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
PENDING_TAIL = struct.Struct("<QI")  # delivery_time_ms, delivery_count
ONE_PAIR_HEAD = struct.Struct("<QQII")  # ms, seq, n_fields, first field's length
MAXIMUM_CACHED_SHAPES = 256

MINIMUM_ENTRY_BYTES = ENTRY_HEAD.size + 8
MINIMUM_GROUP_BYTES = 4 + ID.size + 4 + 4
MINIMUM_CONSUMER_BYTES = 4 + 8
MINIMUM_PENDING_BYTES = ID.size + 4 + PENDING_TAIL.size

# The largest delivery count a pending row holds (a u32 here; Redis keeps a u64, and
# larger counts are capped when read, as kevy's commands cap them).
MAXIMUM_DELIVERY_COUNT = 2**32 - 1

# (id, consumer name, delivery time in unix ms, delivery count)
PendingRow = tuple[int, bytes, int, int]
# (master ID, last ID appended, entries appended live or deleted, entries live)
NodeBounds = tuple[int, int, int, int]


@attrs.frozen
class GroupPayload:
    """One consumer group as the snapshot holds it.

    The snapshot has no read counter: `entries_read` is None when decoded from one (the
    loader estimates it, as Redis does for its pre-7.0 files). A Redis RDB of type 19 and
    a native stream carry it (-1 when unknown); the snapshot encoder ignores it.
    """

    name: bytes
    last_delivered: int
    consumers: list[tuple[bytes, int]]  # (name, last seen unix ms)
    pending: list[PendingRow]  # in ID order
    entries_read: int | None = None


@attrs.frozen
class StreamPayload:
    """A decoded stream record; IDs are packed ints (`stream_ids`)."""

    last_id: int
    max_deleted_id: int
    entries_added: int
    entry_ids: list[int]
    entry_fields: list[tuple[bytes, ...]]  # flat (field, value, field, value, ...)
    groups: list[GroupPayload]
    # Redis's node boundaries when the payload came from an RDB, one (master ID, last ID
    # appended, entries appended, entries live) per node in ID order; None from a snapshot,
    # which does not record them.
    nodes: tuple[NodeBounds, ...] | None = None

    def __len__(self) -> int:
        return len(self.entry_ids)

    def node_layout(self) -> list[tuple[int, int]] | None:
        """(master ID, live entries) per node, when known."""
        return None if self.nodes is None else [(master, live) for master, _, _, live in self.nodes]

    def entry_items(self) -> Iterator[tuple[int, tuple[bytes, ...]]]:
        return zip(self.entry_ids, self.entry_fields)

    def group_payloads(self) -> list[GroupPayload]:
        return self.groups


class StreamSource(Protocol):
    """What the encoder reads from a stream value."""

    last_id: int
    max_deleted_id: int
    entries_added: int

    def __len__(self) -> int: ...

    def entry_items(self) -> Iterable[tuple[int, tuple[bytes, ...]]]: ...

    def group_payloads(self) -> Iterable[GroupPayload]: ...


# --------------------------------------------------------------------------- encoding


def _id_fields(packed: int) -> tuple[int, int]:
    return packed >> SEQUENCE_BITS, packed & HALF_MASK


def stream_payload_parts(value: StreamSource, parts: list[bytes]) -> None:
    """Append the version-4 payload of a stream (entries, then the group section) to `parts`."""
    append = parts.append
    pack_u32 = U32.pack
    pack_entry = ENTRY_HEAD.pack
    last_ms, last_seq = _id_fields(value.last_id)
    deleted_ms, deleted_seq = _id_fields(value.max_deleted_id)
    append(HEAD.pack(last_ms, last_seq, deleted_ms, deleted_seq, value.entries_added, len(value)))
    written = 0
    # Most entries hold one field/value pair of a few recurring lengths: those are packed
    # whole by one Struct per length pair (half the cost of the general loop).
    one_pair: dict[tuple[int, int], object] = {}
    for packed, fields in value.entry_items():
        assert fields and len(fields) % 2 == 0, "an entry holds field/value pairs"
        if len(fields) == 2:
            field, item = fields
            lengths = (len(field), len(item))
            pack_whole = one_pair.get(lengths)
            if pack_whole is None and len(one_pair) < MAXIMUM_CACHED_SHAPES:
                pack_whole = one_pair[lengths] = struct.Struct("<QQII%dsI%ds" % lengths).pack
            if pack_whole is not None:
                append(pack_whole(packed >> SEQUENCE_BITS, packed & HALF_MASK, 1, lengths[0], field, lengths[1], item))
                written += 1
                continue
        append(pack_entry(packed >> SEQUENCE_BITS, packed & HALF_MASK, len(fields) // 2))
        for item in fields:
            append(pack_u32(len(item)))
            append(item)
        written += 1
    assert written == len(value), "entry_items() disagrees with len()"
    groups = list(value.group_payloads())
    append(pack_u32(len(groups)))
    for group in groups:
        append(pack_u32(len(group.name)))
        append(group.name)
        append(ID.pack(*_id_fields(group.last_delivered)))
        append(pack_u32(len(group.consumers)))
        for name, seen_ms in group.consumers:
            append(pack_u32(len(name)))
            append(name)
            append(U64.pack(seen_ms))
        append(pack_u32(len(group.pending)))
        for packed, consumer, delivery_ms, delivery_count in group.pending:
            append(ID.pack(*_id_fields(packed)))
            append(pack_u32(len(consumer)))
            append(consumer)
            append(PENDING_TAIL.pack(delivery_ms, delivery_count))


# --------------------------------------------------------------------------- decoding


def decode_stream_payload(
    data: bytes, position: int, path: str, with_groups: bool
) -> tuple[StreamPayload, int]:
    """The stream payload at `position` and the position after it (see the module docstring)."""
    size = len(data)

    def fail(offset: int, reason: str) -> CorruptionError:
        return CorruptionError(path, offset, reason)

    def blob(at: int) -> tuple[bytes, int]:
        if at + 4 > size:
            raise fail(at, "truncated: 4-byte length runs past the end of the file")
        end = at + 4 + U32.unpack_from(data, at)[0]
        if end > size:
            raise fail(at, "truncated: length runs past the end of the file")
        return data[at + 4 : end], end

    def count_at(at: int, minimum_item_bytes: int, what: str) -> tuple[int, int]:
        if at + 4 > size:
            raise fail(at, f"truncated: {what} count runs past the end of the file")
        count = U32.unpack_from(data, at)[0]
        if count * minimum_item_bytes > size - at - 4:
            raise fail(at, f"truncated: {what} count {count} cannot fit in the bytes left")
        return count, at + 4

    if position + HEAD.size > size:
        raise fail(position, "truncated: stream header runs past the end of the file")
    last_ms, last_seq, deleted_ms, deleted_seq, entries_added, _ = HEAD.unpack_from(data, position)
    last_id = (last_ms << SEQUENCE_BITS) | last_seq
    count, position = count_at(position + HEAD.size - 4, MINIMUM_ENTRY_BYTES, "stream entry")
    entry_ids: list[int] = []
    entry_fields: list[tuple[bytes, ...]] = []
    append_id = entry_ids.append
    append_fields = entry_fields.append
    unpack_entry = ENTRY_HEAD.unpack_from
    unpack_one_pair = ONE_PAIR_HEAD.unpack_from
    unpack_u32 = U32.unpack_from
    previous = -1
    for _ in range(count):
        entry_position = position
        # Fast path: one field/value pair whose lengths fit (struct.error: not enough bytes
        # for the head). Anything else takes the careful path below, which names the damage.
        try:
            ms, seq, pair_count, field_length = unpack_one_pair(data, position)
        except struct.error:
            pair_count = 0
        if pair_count == 1:
            field_end = position + 24 + field_length
            if field_end + 4 <= size:
                value_end = field_end + 4 + unpack_u32(data, field_end)[0]
                packed = (ms << SEQUENCE_BITS) | seq
                if value_end <= size and packed > previous:
                    append_fields((data[position + 24 : field_end], data[field_end + 4 : value_end]))
                    append_id(packed)
                    previous = packed
                    position = value_end
                    continue
        if position + ENTRY_HEAD.size > size:
            raise fail(position, "truncated: stream entry runs past the end of the file")
        ms, seq, pair_count = unpack_entry(data, position)
        position += ENTRY_HEAD.size
        if pair_count == 0:
            raise fail(entry_position, "a stream entry without any field")
        if pair_count * 8 > size - position:
            raise fail(entry_position, f"truncated: field count {pair_count} cannot fit in the bytes left")
        items = []
        for _ in range(2 * pair_count):
            if position + 4 > size:
                raise fail(position, "truncated: 4-byte length runs past the end of the file")
            end = position + 4 + unpack_u32(data, position)[0]
            if end > size:
                raise fail(position, "truncated: length runs past the end of the file")
            items.append(data[position + 4 : end])
            position = end
        packed = (ms << SEQUENCE_BITS) | seq
        if packed <= previous:
            raise fail(entry_position, "stream entry IDs are not in increasing order")
        previous = packed
        append_id(packed)
        append_fields(tuple(items))
    if previous > last_id:
        raise fail(position, "a stream entry ID is above the stream's last ID")
    groups: list[GroupPayload] = []
    if with_groups:
        group_count, position = count_at(position, MINIMUM_GROUP_BYTES, "consumer group")
        names: set[bytes] = set()
        for _ in range(group_count):
            group_position = position
            name, position = blob(position)
            if name in names:
                raise fail(group_position, "a consumer group name appears twice")
            names.add(name)
            if position + ID.size > size:
                raise fail(position, "truncated: last delivered ID runs past the end of the file")
            delivered_ms, delivered_seq = ID.unpack_from(data, position)
            position += ID.size
            consumers, position = _decode_consumers(data, position, blob, count_at, fail)
            pending, position = _decode_pending(data, position, blob, count_at, fail)
            groups.append(GroupPayload(name, (delivered_ms << SEQUENCE_BITS) | delivered_seq, consumers, pending))
    payload = StreamPayload(
        last_id=last_id,
        max_deleted_id=(deleted_ms << SEQUENCE_BITS) | deleted_seq,
        entries_added=entries_added,
        entry_ids=entry_ids,
        entry_fields=entry_fields,
        groups=groups,
    )
    return payload, position


def _decode_consumers(data, position, blob, count_at, fail) -> tuple[list[tuple[bytes, int]], int]:
    count, position = count_at(position, MINIMUM_CONSUMER_BYTES, "consumer")
    consumers = []
    seen: set[bytes] = set()
    for _ in range(count):
        consumer_position = position
        name, position = blob(position)
        if name in seen:
            raise fail(consumer_position, "a consumer name appears twice in its group")
        seen.add(name)
        if position + 8 > len(data):
            raise fail(position, "truncated: consumer seen time runs past the end of the file")
        consumers.append((name, U64.unpack_from(data, position)[0]))
        position += 8
    return consumers, position


def _decode_pending(data, position, blob, count_at, fail) -> tuple[list[PendingRow], int]:
    count, position = count_at(position, MINIMUM_PENDING_BYTES, "pending entry")
    rows: list[PendingRow] = []
    previous = -1
    for _ in range(count):
        row_position = position
        if position + ID.size > len(data):
            raise fail(position, "truncated: pending entry ID runs past the end of the file")
        ms, seq = ID.unpack_from(data, position)
        consumer, position = blob(position + ID.size)
        if position + PENDING_TAIL.size > len(data):
            raise fail(position, "truncated: pending entry runs past the end of the file")
        delivery_ms, delivery_count = PENDING_TAIL.unpack_from(data, position)
        position += PENDING_TAIL.size
        packed = (ms << SEQUENCE_BITS) | seq
        if packed <= previous:
            raise fail(row_position, "pending entry IDs are not in increasing order")
        previous = packed
        rows.append((packed, consumer, delivery_ms, delivery_count))
    return rows, position
