"""Stream values in RDB files and DUMP payloads, the reader: types 15 (Redis 5-6.2) and 19 (7.0).

    stream    = nodes:length (node-key:string listpack:string){nodes}
                length:length last-ms:length last-seq:length
                [first-ms first-seq max-deleted-ms max-deleted-seq entries-added]   type 19
                groups:length group{groups}
    group     = name:string last-ms:length last-seq:length [entries-read:length]      type 19
                pel:length (id:16 delivery-time:i64 LE delivery-count:length){pel}
                consumers:length consumer{consumers}
    consumer  = name:string seen-time:i64 LE pel:length id:16{pel}
    node-key, id = ms:u64 BE seq:u64 BE (16 bytes; a node's key is its master ID)
    listpack  = live deleted n master-field{n} 0                          the master entry
                (flags ms-delta seq-delta (value{n} | m (field value){m}) lp-count){live+deleted}

`lengths` are RDB lengths (up to 64 bits); an entries-read of 2^64-1 is -1, "unknown". In an
entry, flag 1 marks it deleted (XDEL, or trimmed inside its node) and flag 2 says its fields
are the master entry's (then only its values follow, else its field count and its
field/value pairs); its ID is the node key plus the
deltas, each half wrapping at 2^64; lp-count is the number of listpack elements of the entry
after the flags (n + 3 with the same fields, 2m + 4 without).

Guarantees: `decode_stream(reader, position, version)` returns `(StreamPayload, next
position)` or raises `CorruptionError(path, offset, reason)`. Counts are checked against the
bytes left before anything is built (a node is at least 8 bytes, a group 5, a pending row
25, a consumer 10, a consumer's pending ID 16), and every listpack passes `rdb_packed`'s full
validation and then the checks Redis's streamValidateListpackIntegrity makes (integers where
integers belong, the master terminator, each lp-count, no element after the last entry), and
those kevy's keyspace relies on: node keys of 16 bytes in increasing order, each above
every entry of the nodes before it, entry IDs strictly increasing and not below their node
key nor above the stream's last ID, every entry with a field, the master entry's live count and the stream's length
matching the live entries, the recorded first ID equal to the first live entry's (0-0 when
empty), no negative time or read counter other than -1, group names, consumer names and
pending IDs unique, every consumer's pending ID in its group's PEL and owned by exactly one
consumer (Redis refuses the same, save the last, which it checks only under deep
sanitization). Listpack damage is reported at the listpack string's offset with the byte
inside it.

What a stream in kevy cannot hold is mapped as Redis 7.0 maps it when loading type 15: no
max deleted ID (0-0), entries-added = length, read counters unknown (None: the loader
estimates them). Delivery counts above 2^32-1 (Redis keeps 64 bits) are capped, as kevy's
commands cap them. Node boundaries are returned (`StreamPayload.nodes`) so a loader can keep
them; entirely deleted nodes with no entries (never written by Redis) carry none and are
left out.
"""

from __future__ import annotations

from kevy_persist.formats.rdb_packed import PackedError, listpack_element_offset, listpack_entries
from kevy_persist.formats.rdb_reader import RdbReader
from kevy_persist.formats.snapshot_stream import (
    MAXIMUM_DELIVERY_COUNT,
    GroupPayload,
    NodeBounds,
    PendingRow,
    StreamPayload,
)
from kevy_persist.formats.stream_ids import HALF_MASK, SEQUENCE_BITS, format_id_text

FLAG_DELETED = 1
FLAG_SAME_FIELDS = 2
KNOWN_FLAGS = FLAG_DELETED | FLAG_SAME_FIELDS
ID_SIZE = 16
UNKNOWN_ENTRIES_READ = (1 << 64) - 1  # -1 as Redis's rdbSaveLen writes it
MINIMUM_NODE_BYTES = 8  # key and listpack, each at least a 4-byte LZF string
MINIMUM_GROUP_BYTES = 5
MINIMUM_PENDING_BYTES = ID_SIZE + 8 + 1
MINIMUM_CONSUMER_BYTES = 1 + 8 + 1
# An entry is at least flags, two deltas and lp-count, one listpack element each.
MINIMUM_ENTRY_ELEMENTS = 4
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# Listpack elements come back as decimal text; the small ones every node is full of.
_SMALL_INTEGERS = {b"%d" % number: number for number in range(-128, 1024)}


class _NodeError(Exception):
    """A listpack that is well formed but not a stream node (`index`: the element)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def _integer(items: list[bytes], index: int, what: str) -> int:
    """Element `index` as the signed 64-bit integer it must be (Redis's lpGetIntegerIfValid:
    an integer encoding, or a string in canonical decimal)."""
    try:
        text = items[index]
    except IndexError:
        raise _NodeError(index, f"the listpack ends where the {what} belongs") from None
    number = _SMALL_INTEGERS.get(text)
    if number is not None:
        return number
    try:
        number = int(text) if len(text) <= 20 else None
    except ValueError:
        number = None
    if number is None or b"%d" % number != text or not _INT64_MIN <= number <= _INT64_MAX:
        raise _NodeError(index, f"the {what} {text[:24]!r} is not an integer")
    return number


class _Node:
    """One node's entries, appended to the stream's lists as they are read."""

    def __init__(self, master: int, previous_id: int) -> None:
        self.master = master
        self.previous_id = previous_id  # the last entry ID read so far, deleted or not (-1: none)
        self.received = 0
        self.live = 0

    def read(self, items: list[bytes], entry_ids: list[int], entry_fields: list[tuple[bytes, ...]]) -> None:
        size = len(items)
        live_count = _integer(items, 0, "master entry's live count")
        deleted_count = _integer(items, 1, "master entry's deleted count")
        master_size = _integer(items, 2, "master entry's field count")
        if live_count < 0 or deleted_count < 0:
            raise _NodeError(0, f"master entry counts {live_count} live and {deleted_count} deleted entries")
        if not 0 <= master_size <= size - 4:
            raise _NodeError(2, f"master entry of {master_size} fields in a listpack of {size} elements")
        master_fields = tuple(items[3 : 3 + master_size])
        index = 3 + master_size
        if _integer(items, index, "master entry terminator") != 0:
            raise _NodeError(index, "the master entry does not end with 0")
        index += 1
        total = live_count + deleted_count
        if total * MINIMUM_ENTRY_ELEMENTS > size - index:
            raise _NodeError(0, f"master entry counts {total} entries, the listpack has room for fewer")
        master_ms, master_seq = self.master >> SEQUENCE_BITS, self.master & HALF_MASK
        previous = self.previous_id
        live = 0
        for _ in range(total):
            entry_index = index
            flags = _integer(items, index, "entry flags")
            if flags & ~KNOWN_FLAGS:
                raise _NodeError(index, f"entry flags {flags} (known: 1 deleted, 2 same fields)")
            ms = (master_ms + _integer(items, index + 1, "entry ID's ms delta")) & HALF_MASK
            seq = (master_seq + _integer(items, index + 2, "entry ID's seq delta")) & HALF_MASK
            index += 3
            fields: tuple[bytes, ...]
            if flags & FLAG_SAME_FIELDS:
                field_count, overhead = master_size, 3
                values = items[index : index + field_count]
                if len(values) != field_count:
                    raise _NodeError(index, "the listpack ends inside an entry's values")
                index += field_count
                if field_count == 1:
                    fields = (master_fields[0], values[0])
                else:
                    flat: list[bytes] = [b""] * (2 * field_count)
                    flat[0::2] = master_fields
                    flat[1::2] = values
                    fields = tuple(flat)
            else:
                field_count = _integer(items, index, "entry field count")
                if not 0 <= 2 * field_count <= size - index - 2:  # then the pairs and lp-count
                    raise _NodeError(index, f"entry of {field_count} fields runs past the listpack")
                fields = tuple(items[index + 1 : index + 1 + 2 * field_count])
                index += 1 + 2 * field_count
                overhead = field_count + 4
            if field_count == 0:
                raise _NodeError(entry_index, "a stream entry without any field")
            lp_count = _integer(items, index, "entry's lp-count")
            if lp_count != field_count + overhead:
                raise _NodeError(index, f"lp-count {lp_count}, the entry has {field_count + overhead} elements")
            index += 1
            entry_id = (ms << SEQUENCE_BITS) | seq
            if entry_id < self.master:
                raise _NodeError(entry_index, f"entry ID {format_id_text(entry_id)} is below its node's key")
            if entry_id <= previous:
                raise _NodeError(entry_index, f"entry ID {format_id_text(entry_id)} does not follow {format_id_text(previous)}")
            previous = entry_id
            if flags & FLAG_DELETED:
                continue
            entry_ids.append(entry_id)
            entry_fields.append(fields)
            live += 1
        if index != size:
            raise _NodeError(index, f"{size - index} elements after the last entry")
        if live != live_count:
            raise _NodeError(0, f"master entry counts {live_count} live entries, the node holds {live}")
        self.received = total
        self.live = live
        self.previous_id = previous

    def bounds(self) -> NodeBounds:
        return self.master, self.previous_id, self.received, self.live


def decode_stream(reader: RdbReader, position: int, version: int) -> tuple[StreamPayload, int]:
    """The stream value of RDB type 15 (`version` 1) or 19 (`version` 2) at `position`."""
    assert version in (1, 2), version
    entry_ids: list[int] = []
    entry_fields: list[tuple[bytes, ...]] = []
    nodes, cursor = _read_nodes(reader, position, entry_ids, entry_fields)
    length_at = cursor
    length, cursor = reader.length(cursor, "stream length")
    last_at = cursor
    last_id, cursor = _length_id(reader, cursor, "last ID")
    if version == 2:
        first_at = cursor
        first_id, cursor = _length_id(reader, cursor, "first ID")
        max_deleted_id, cursor = _length_id(reader, cursor, "max deleted ID")
        entries_added, cursor = reader.length(cursor, "entries added")
        expected_first = entry_ids[0] if entry_ids else 0
        if first_id != expected_first:
            raise reader.fail(first_at, f"recorded first ID {format_id_text(first_id)}, the first entry is "
                              f"{format_id_text(expected_first)}")
    else:
        max_deleted_id, entries_added = 0, length
    if length != len(entry_ids):
        raise reader.fail(length_at, f"stream length {length}, its nodes hold {len(entry_ids)} live entries")
    if nodes and nodes[-1][1] > last_id:
        raise reader.fail(last_at, f"last ID {format_id_text(last_id)} is below the entry {format_id_text(nodes[-1][1])}")
    group_count, cursor = reader.count(cursor, MINIMUM_GROUP_BYTES, "consumer group count")
    groups: list[GroupPayload] = []
    names: set[bytes] = set()
    for _ in range(group_count):
        group_at = cursor
        group, cursor = _read_group(reader, cursor, version)
        if group.name in names:
            raise reader.fail(group_at, f"consumer group {group.name[:64]!r} appears twice")
        names.add(group.name)
        groups.append(group)
    payload = StreamPayload(
        last_id=last_id,
        max_deleted_id=max_deleted_id,
        entries_added=entries_added,
        entry_ids=entry_ids,
        entry_fields=entry_fields,
        groups=groups,
        nodes=tuple(nodes),
    )
    return payload, cursor


def _read_nodes(
    reader: RdbReader, position: int, entry_ids: list[int], entry_fields: list[tuple[bytes, ...]]
) -> tuple[list[NodeBounds], int]:
    node_count, cursor = reader.count(position, MINIMUM_NODE_BYTES, "stream node count")
    nodes: list[NodeBounds] = []
    previous_key = -1
    previous_id = -1
    for _ in range(node_count):
        key_at = cursor
        key, cursor = reader.string(cursor)
        if len(key) != ID_SIZE:
            raise reader.fail(key_at, f"stream node key of {len(key)} bytes (a stream ID is {ID_SIZE})")
        master = int.from_bytes(key, "big")
        if master <= previous_key:
            reason = "appears twice" if master == previous_key else "is not above the previous node's key"
            raise reader.fail(key_at, f"stream node key {format_id_text(master)} {reason}")
        if master <= previous_id:
            # Entries of one node all sort below the next node's key (kevy's node model and
            # Redis's seeks both find an entry by the last key at or below it).
            raise reader.fail(key_at, f"stream node key {format_id_text(master)} is not above the previous "
                              f"node's last entry {format_id_text(previous_id)}")
        previous_key = master
        blob_at = cursor
        blob, cursor = reader.string(cursor)
        try:
            items = listpack_entries(blob)
        except PackedError as error:
            raise reader.fail(blob_at, f"listpack (inside this string) byte {error.offset}: {error.reason}") from None
        if not items:
            raise reader.fail(blob_at, "an empty listpack as a stream node")
        node = _Node(master, previous_id)
        try:
            node.read(items, entry_ids, entry_fields)
        except _NodeError as error:
            inside = listpack_element_offset(blob, error.index)
            raise reader.fail(
                blob_at, f"stream node {format_id_text(master)}: listpack (inside this string) byte {inside}, "
                f"element {error.index}: {error.reason}",
            ) from None
        if node.received:
            nodes.append(node.bounds())
            previous_id = node.previous_id
    return nodes, cursor


def _length_id(reader: RdbReader, position: int, what: str) -> tuple[int, int]:
    ms, position = reader.length(position, f"{what} (ms)")
    seq, position = reader.length(position, f"{what} (seq)")
    return (ms << SEQUENCE_BITS) | seq, position


def _raw_id(reader: RdbReader, position: int, what: str) -> int:
    reader.need(position, ID_SIZE, what)
    return int.from_bytes(reader.data[position : position + ID_SIZE], "big")


def _time(reader: RdbReader, position: int, what: str) -> tuple[int, int]:
    value, after = reader.signed_64(position, what)
    if value < 0:
        raise reader.fail(position, f"negative {what} {value}")
    return value, after


def _read_group(reader: RdbReader, position: int, version: int) -> tuple[GroupPayload, int]:
    name, cursor = reader.string(position)
    last_delivered, cursor = _length_id(reader, cursor, "group's last delivered ID")
    entries_read: int | None = None
    if version == 2:
        counter_at = cursor
        entries_read, cursor = reader.length(cursor, "group's entries read")
        if entries_read == UNKNOWN_ENTRIES_READ:
            entries_read = -1
        elif entries_read > _INT64_MAX:
            raise reader.fail(counter_at, f"negative entries read {entries_read - (1 << 64)}")
    pel_count, cursor = reader.count(cursor, MINIMUM_PENDING_BYTES, "group PEL size")
    pending: dict[int, list] = {}  # ID -> [delivery time, delivery count, owner or None]
    for _ in range(pel_count):
        row_at = cursor
        entry_id = _raw_id(reader, cursor, "pending entry ID")
        delivery_ms, cursor = _time(reader, cursor + ID_SIZE, "delivery time")
        delivery_count, cursor = reader.length(cursor, "delivery count")
        if entry_id in pending:
            raise reader.fail(row_at, f"pending entry {format_id_text(entry_id)} appears twice in the group's PEL")
        pending[entry_id] = [delivery_ms, min(delivery_count, MAXIMUM_DELIVERY_COUNT), None]
    consumer_count, cursor = reader.count(cursor, MINIMUM_CONSUMER_BYTES, "consumer count")
    consumers: list[tuple[bytes, int]] = []
    seen: set[bytes] = set()
    for _ in range(consumer_count):
        consumer_at = cursor
        consumer, cursor = reader.string(cursor)
        if consumer in seen:
            raise reader.fail(consumer_at, f"consumer {consumer[:64]!r} appears twice in its group")
        seen.add(consumer)
        seen_ms, cursor = _time(reader, cursor, "consumer seen time")
        consumers.append((consumer, seen_ms))
        held, cursor = reader.count(cursor, ID_SIZE, "consumer PEL size")
        for _ in range(held):
            entry_id = _raw_id(reader, cursor, "consumer's pending entry ID")
            row = pending.get(entry_id)
            if row is None:
                raise reader.fail(cursor, f"consumer's pending entry {format_id_text(entry_id)} is not in the group's PEL")
            if row[2] is not None:
                raise reader.fail(cursor, f"pending entry {format_id_text(entry_id)} is held twice")
            row[2] = consumer
            cursor += ID_SIZE
    rows: list[PendingRow] = []
    for entry_id in sorted(pending):
        delivery_ms, delivery_count, owner = pending[entry_id]
        if owner is None:
            raise reader.fail(position, f"pending entry {format_id_text(entry_id)} of group {name[:64]!r} has no consumer")
        rows.append((entry_id, owner, delivery_ms, delivery_count))
    return GroupPayload(name, last_delivered, consumers, rows, entries_read), cursor
