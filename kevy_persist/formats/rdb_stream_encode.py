"""Stream values in RDB files and DUMP payloads, the writer: type 19, as Redis 7.0 saves it.

The grammar is in `rdb_stream_decode.py`. What is written, and why:

- Nodes follow the stream's own node boundaries when it has them (`node_layout()`: kevy's
  model of Redis's nodes, `data/stream_nodes.py`), so the radix tree Redis loads has the
  keys and shape kevy reports in XINFO STREAM (`radix-tree-keys`, `radix-tree-nodes`); a
  stream without them (a decoded snapshot) is cut every 100 entries, Redis's default
  `stream-node-max-entries`. Each node's key is its master ID, its master entry's fields are
  its first entry's field names (as Redis picks them), and an entry with those same names
  is written with the same-fields flag and its values only (any other with its field count
  and its field/value pairs). kevy does not keep the bytes of deleted entries, so a node
  holds its live entries only (deleted count 0), and a node whose entries are all deleted is
  not written -- the one case where Redis's radix-tree-keys then differs from kevy's. A node
  whose listpack would pass 1 GiB (Redis's STREAM_LISTPACK_MAX_SIZE) is split in halves
  until each fits, the later halves keyed by their first entry.
- Integers in listpacks (counts, flags, ID deltas), and fields and values that spell an
  integer canonically, take the smallest integer encoding (as Redis's lpAppend does); other
  fields and values the smallest string encoding.
- The stream's length, last ID, first ID (its first live entry, 0-0 when empty), max deleted
  ID and entries added; then each group by name: name, last delivered ID, read counter
  (2^64-1 for "unknown", as Redis's rdbSaveLen writes -1), the PEL in ID order (ID, delivery
  time, delivery count), the consumers by name (name, seen time, the IDs each holds). A
  pending row whose owner is not in the group's roster (possible in a kevy 1.23 snapshot)
  gets that consumer, seen at 0, as kevy's loader adds it.

`stream_value_parts(value, parts, string)` appends the encoding; `string` is the caller's
string encoder (plain or LZF), used for node keys, listpacks and names as Redis's
rdbSaveRawString is. Raises `StreamEncodingError` for what no RDB can hold (a time past
2^63-1 ms, one entry over 1 GiB).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Protocol

from kevy_persist.formats.rdb_packed import encode_listpack
from kevy_persist.formats.rdb_strings import encode_length
from kevy_persist.formats.snapshot_stream import GroupPayload
from kevy_persist.formats.stream_ids import HALF_MASK, SEQUENCE_BITS, format_id_text

DEFAULT_NODE_MAX_ENTRIES = 100  # Redis's stream-node-max-entries default
LISTPACK_MAX_BYTES = 1 << 30  # Redis's STREAM_LISTPACK_MAX_SIZE
FLAG_NONE = 0
FLAG_SAME_FIELDS = 2
UNKNOWN_ENTRIES_READ = (1 << 64) - 1

_TIME = struct.Struct("<q")
_SIGN_BIT = 1 << 63
_WRAP = 1 << 64

Fields = tuple[bytes, ...]


class StreamEncodingError(ValueError):
    """A stream value no RDB file can hold."""


class RdbStreamSource(Protocol):
    """What the writer reads from a stream value (a native Stream or a StreamPayload)."""

    last_id: int
    max_deleted_id: int
    entries_added: int

    def __len__(self) -> int: ...

    def entry_items(self) -> Iterable[tuple[int, Fields]]: ...

    def group_payloads(self) -> Iterable[GroupPayload]: ...

    def node_layout(self) -> list[tuple[int, int]] | None: ...


def _signed_delta(value: int, base: int) -> int:
    """`value - base` modulo 2^64 as the signed 64-bit integer Redis stores it as."""
    delta = (value - base) & HALF_MASK
    return delta - _WRAP if delta & _SIGN_BIT else delta


def _node_listpack(master: int, entries: list[tuple[int, Fields]]) -> bytes:
    """The listpack of one node: the master entry, then each entry delta-encoded."""
    master_ms, master_seq = master >> SEQUENCE_BITS, master & HALF_MASK
    master_names = entries[0][1][0::2]
    items: list[bytes | int] = [len(entries), 0, len(master_names), *master_names, 0]
    extend = items.extend
    for entry_id, fields in entries:
        names = fields[0::2]
        ms_delta = _signed_delta(entry_id >> SEQUENCE_BITS, master_ms)
        seq_delta = _signed_delta(entry_id & HALF_MASK, master_seq)
        count = len(names)
        if names == master_names:
            extend((FLAG_SAME_FIELDS, ms_delta, seq_delta, *fields[1::2], count + 3))
        else:
            extend((FLAG_NONE, ms_delta, seq_delta, count, *fields, 2 * count + 4))
    return encode_listpack(items)


def _node_listpacks(master: int, run: list[tuple[int, Fields]]) -> Iterator[tuple[int, bytes]]:
    """(key, listpack) of a node, or of its halves (recursively) when its listpack would pass
    LISTPACK_MAX_BYTES -- the next half keyed by its first entry."""
    try:
        listpack = _node_listpack(master, run)
    except ValueError:  # past the 32-bit size field
        listpack = None
    if listpack is not None and len(listpack) <= LISTPACK_MAX_BYTES:
        yield master, listpack
        return
    if len(run) == 1:
        raise StreamEncodingError(f"entry {format_id_text(run[0][0])} does not fit a listpack")
    half = len(run) // 2
    yield from _node_listpacks(master, run[:half])
    yield from _node_listpacks(run[half][0], run[half:])


def _node_runs(value: RdbStreamSource) -> Iterator[tuple[int, list[tuple[int, Fields]]]]:
    """(node key, entries) per node to write, in ID order (module docstring)."""
    entries = iter(value.entry_items())
    layout = value.node_layout()
    if layout is None:
        while run := list(islice(entries, DEFAULT_NODE_MAX_ENTRIES)):
            yield run[0][0], run
        return
    written = 0
    for master, live in layout:
        if live:
            run = list(islice(entries, live))
            assert len(run) == live and run[0][0] >= master, "the layout partitions the entries"
            written += live
            yield master, run
    assert written == len(value) and next(entries, None) is None, "the layout covers every entry"


def _time(value_ms: int, what: str) -> bytes:
    if not 0 <= value_ms < _SIGN_BIT:
        raise StreamEncodingError(f"{what} {value_ms} ms does not fit Redis's signed 64 bits")
    return _TIME.pack(value_ms)


def _id_lengths(packed: int) -> bytes:
    return encode_length(packed >> SEQUENCE_BITS) + encode_length(packed & HALF_MASK)


def stream_value_parts(value: RdbStreamSource, parts: list[bytes], string: Callable[[bytes], bytes]) -> None:
    """Append the type-19 encoding of `value` to `parts` (module docstring)."""
    nodes = [node for master, run in _node_runs(value) for node in _node_listpacks(master, run)]
    parts.append(encode_length(len(nodes)))
    first_id = 0
    for master, listpack in nodes:
        parts.append(string(master.to_bytes(16, "big")))
        parts.append(string(listpack))
    for entry_id, _ in islice(value.entry_items(), 1):
        first_id = entry_id
    parts.append(encode_length(len(value)))
    parts.append(_id_lengths(value.last_id))
    parts.append(_id_lengths(first_id))
    parts.append(_id_lengths(value.max_deleted_id))
    parts.append(encode_length(value.entries_added))
    groups = sorted(value.group_payloads(), key=lambda group: group.name)
    parts.append(encode_length(len(groups)))
    for group in groups:
        _group_parts(group, parts, string)


def _group_parts(group: GroupPayload, parts: list[bytes], string: Callable[[bytes], bytes]) -> None:
    append = parts.append
    append(string(group.name))
    append(_id_lengths(group.last_delivered))
    entries_read = -1 if group.entries_read is None else group.entries_read
    assert entries_read >= -1, entries_read
    append(encode_length(UNKNOWN_ENTRIES_READ if entries_read == -1 else entries_read))
    rows = sorted(group.pending)
    append(encode_length(len(rows)))
    held: dict[bytes, list[int]] = {name: [] for name, _ in group.consumers}
    for entry_id, consumer, delivery_ms, delivery_count in rows:
        append(entry_id.to_bytes(16, "big"))
        append(_time(delivery_ms, "delivery time"))
        append(encode_length(delivery_count))
        held.setdefault(consumer, []).append(entry_id)
    seen_times = dict(group.consumers)
    append(encode_length(len(held)))
    for name in sorted(held):
        append(string(name))
        append(_time(seen_times.get(name, 0), "consumer seen time"))
        ids = held[name]
        append(encode_length(len(ids)))
        append(b"".join(entry_id.to_bytes(16, "big") for entry_id in ids))
