"""The stream value: entries ordered by ID, the ID clock, and consumer groups.

What it models (Redis 7.0's `stream`): `entries` maps each entry ID (a packed 128-bit int,
see `formats.stream_ids`) to its flat field/value tuple in a `SortedDict`, so appending,
deleting, XRANGE / XREVRANGE with COUNT and trimming a prefix are O(log n) plus the entries
touched (measured in bench/bench_streams.py). `last_id` is the ID clock (never moves back;
it survives deletions), `max_deleted_id` the highest ID XDEL removed, `entries_added` the
count of every entry ever appended. `groups` holds the consumer groups (`stream_groups`),
`nodes` Redis's node boundaries (`stream_nodes`), which only `~` trimming and XINFO read.

Invariants (`check_invariants`): every entry ID is at most `last_id`; every entry has at
least one field/value pair; the node live counts partition the entries; every group's PEL
is consistent. A stream may be empty and stays in the keyspace (MKSTREAM, XDEL of every
entry), so unlike the other collections it is truthy when empty.

Loading (`from_payload`): a payload decoded from a Redis RDB carries Redis's node
boundaries and each group's read counter, and both are kept (nodes only when kevy's node
model can hold them: see `StreamNodes.adopted`); a snapshot carries neither, so nodes are
rebuilt and counters estimated.

The read-counter rules are Redis's: `estimate_entries_read` is
streamEstimateDistanceFromFirstEverEntry, `range_has_tombstones` streamRangeHasTombstones,
`advance_group` what streamReplyWithRange does to a group per entry it delivers, `lag` what
XINFO GROUPS answers. The snapshot format has no read counter, so a loaded group's counter
is estimated from its last delivered ID, as Redis does for RDB files from before 7.0.

Copy-on-write: `copy()` duplicates everything a command can mutate (the keyspace copies a
value the first time it is written after a freeze); field tuples are immutable and shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from sortedcontainers import SortedDict

from kevy_persist.data.stream_groups import INVALID_ENTRIES_READ, ConsumerGroup
from kevy_persist.data.stream_nodes import StreamNodes
from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload
from kevy_persist.formats.stream_ids import MAXIMUM_ID, format_id_text

Fields = tuple[bytes, ...]


class Stream:
    """A Redis stream (see the module docstring)."""

    __slots__ = ("entries", "last_id", "max_deleted_id", "entries_added", "groups", "nodes")

    def __init__(self) -> None:
        self.entries: SortedDict = SortedDict()
        self.last_id = 0
        self.max_deleted_id = 0
        self.entries_added = 0
        self.groups: dict[bytes, ConsumerGroup] = {}
        self.nodes = StreamNodes()

    # -- conversions ------------------------------------------------------------------

    @classmethod
    def from_payload(cls, payload: StreamPayload) -> Stream:
        """The native value of a decoded snapshot record (checked by the decoder)."""
        stream = cls()
        stream.entries = SortedDict(zip(payload.entry_ids, payload.entry_fields))
        stream.last_id = payload.last_id
        stream.max_deleted_id = payload.max_deleted_id
        stream.entries_added = payload.entries_added
        adopted = None if payload.nodes is None else StreamNodes.adopted(payload.nodes)
        stream.nodes = StreamNodes.rebuilt(payload.entry_ids) if adopted is None else adopted
        for group_payload in payload.groups:
            group = ConsumerGroup(group_payload.name, group_payload.last_delivered, INVALID_ENTRIES_READ)
            if group_payload.entries_read is None:
                group.entries_read = stream.estimate_entries_read(group.last_delivered)
            else:
                group.entries_read = group_payload.entries_read
            for name, seen_ms in group_payload.consumers:
                assert group.create_consumer(name, seen_ms) is not None, "the decoder refuses duplicates"
            for entry_id, consumer, delivery_ms, delivery_count in group_payload.pending:
                group.load_pending(entry_id, consumer, delivery_ms, delivery_count)
            stream.groups[group.name] = group
        return stream

    def to_payload(self) -> StreamPayload:
        return StreamPayload(
            last_id=self.last_id,
            max_deleted_id=self.max_deleted_id,
            entries_added=self.entries_added,
            entry_ids=list(self.entries.keys()),
            entry_fields=list(self.entries.values()),
            groups=self.group_payloads(),
        )

    def entry_items(self) -> Iterator[tuple[int, Fields]]:
        return iter(self.entries.items())

    def group_payloads(self) -> list[GroupPayload]:
        """The groups in the snapshot's form, sorted by name (Redis's order)."""
        return [
            GroupPayload(
                name=group.name,
                last_delivered=group.last_delivered,
                consumers=[(consumer.name, consumer.seen_time_ms) for consumer in group.sorted_consumers()],
                pending=[(entry_id, *row.as_tuple()) for entry_id, row in group.pending.items()],
                entries_read=group.entries_read,
            )
            for group in self.sorted_groups()
        ]

    def node_layout(self) -> list[tuple[int, int]]:
        """(master ID, live entries) per node, in ID order (what an RDB writer cuts by)."""
        return list(zip(self.nodes.masters, self.nodes.live))

    def copy(self) -> Stream:
        duplicate = Stream()
        duplicate.entries = self.entries.copy()
        duplicate.last_id = self.last_id
        duplicate.max_deleted_id = self.max_deleted_id
        duplicate.entries_added = self.entries_added
        duplicate.groups = {name: group.copy() for name, group in self.groups.items()}
        duplicate.nodes = self.nodes.copy()
        return duplicate

    def state(self) -> tuple:
        """The logical state: everything a snapshot and a log carry (not node boundaries,
        which a snapshot does not record, nor consumers' seen times)."""
        return (
            list(self.entries.items()),
            self.last_id,
            self.max_deleted_id,
            self.entries_added,
            [group.state() for group in self.sorted_groups()],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stream):
            return NotImplemented
        return self.state() == other.state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Stream(length={len(self.entries)}, last_id={format_id_text(self.last_id)}, groups={sorted(self.groups)!r})"

    # -- size and lookups -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return True  # an empty stream is a stream, not a missing key

    @property
    def first_id(self) -> int:
        """The first live entry's ID, 0-0 when the stream is empty (Redis's first_id)."""
        return self.entries.peekitem(0)[0] if self.entries else 0

    @property
    def last_entry_id(self) -> int:
        """The last live entry's ID, 0-0 when the stream is empty (streamLastValidID)."""
        return self.entries.peekitem(-1)[0] if self.entries else 0

    def sorted_groups(self) -> list[ConsumerGroup]:
        return [self.groups[name] for name in sorted(self.groups)]

    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list[tuple[int, Fields]]:
        """Entries with start <= ID <= end (at most `count`; 0 = all), ascending or not."""
        if start > end or not self.entries:
            return []
        keys = self.entries.irange(start, end, reverse=reverse)
        if count:
            keys = islice(keys, count)
        entries = self.entries
        return [(entry_id, entries[entry_id]) for entry_id in keys]

    # -- mutations --------------------------------------------------------------------

    def append(self, entry_id: int, fields: Fields) -> None:
        """Add an entry whose ID is above `last_id` (the caller checked)."""
        assert entry_id > self.last_id, "IDs only grow"
        assert fields and len(fields) % 2 == 0, "an entry holds field/value pairs"
        self.entries[entry_id] = fields
        self.last_id = entry_id
        self.entries_added += 1
        self.nodes.appended(entry_id)

    def delete(self, entry_id: int) -> bool:
        """XDEL of one ID; True when an entry was removed (max_deleted_id follows)."""
        if self.entries.pop(entry_id, None) is None:
            return False
        self.nodes.deleted(entry_id)
        if entry_id > self.max_deleted_id:
            self.max_deleted_id = entry_id
        return True

    def trim(self, maximum_length: int | None, minimum_id: int | None, approximate: bool, limit: int) -> int:
        """Redis's streamTrim: MAXLEN (`maximum_length`) or MINID (`minimum_id`) from the head,
        whole nodes only when `approximate`, at most `limit` entries when `limit` > 0 (a
        node that would cross it stops the trim). Returns how many entries were removed."""
        assert (maximum_length is None) != (minimum_id is None), "exactly one strategy"
        nodes = self.nodes
        entries = self.entries
        removed = 0
        while len(nodes):
            if maximum_length is not None and len(entries) <= maximum_length:
                break
            node_live = nodes.live[0]
            if limit and removed + node_live > limit:
                break
            if maximum_length is not None:
                whole_node = len(entries) - node_live >= maximum_length
            else:
                whole_node = nodes.lasts[0] < minimum_id
            if whole_node:
                self._drop_first(nodes.drop_head())
                removed += node_live
                continue
            if approximate:
                break
            if maximum_length is not None:
                inside = len(entries) - maximum_length
            else:
                inside = entries.bisect_left(minimum_id)
            self._drop_first(inside)
            nodes.trimmed_inside_head(inside)
            removed += inside
            break
        return removed

    def _drop_first(self, count: int) -> None:
        if count:
            del self.entries.keys()[:count]

    def set_clock(self, last_id: int, entries_added: int | None, max_deleted_id: int | None) -> None:
        """XSETID's effect (the caller checked last_id against the entries)."""
        assert last_id >= self.last_entry_id
        self.last_id = last_id
        if entries_added is not None:
            self.entries_added = entries_added
        if max_deleted_id is not None:
            self.max_deleted_id = max_deleted_id

    # -- the read counter (Redis's rules, see the module docstring) --------------------

    def range_has_tombstones(self, start: int, end: int = MAXIMUM_ID) -> bool:
        if not self.entries or self.max_deleted_id == 0:
            return False
        if self.first_id > self.max_deleted_id:
            return False
        return start <= self.max_deleted_id <= end

    def estimate_entries_read(self, entry_id: int) -> int:
        """How many entries were ever added up to `entry_id`, when that is knowable."""
        if not self.entries_added:
            return 0
        if not self.entries and entry_id <= self.last_id:
            return self.entries_added
        if entry_id == self.last_id:
            return self.entries_added
        if entry_id > self.last_id:
            return INVALID_ENTRIES_READ
        first_id = self.first_id
        if self.max_deleted_id == 0 or self.max_deleted_id < first_id:
            if entry_id < first_id:
                return self.entries_added - len(self.entries)
            if entry_id == first_id:
                return self.entries_added - len(self.entries) + 1
        return INVALID_ENTRIES_READ

    def advance_group(self, group: ConsumerGroup, entry_id: int) -> bool:
        """A group delivered `entry_id`: move its last delivered ID and read counter as
        streamReplyWithRange does; True when the last delivered ID moved."""
        if entry_id <= group.last_delivered:
            return False
        if group.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(entry_id):
            group.entries_read += 1
        elif self.entries_added:
            group.entries_read = self.estimate_entries_read(entry_id)
        group.last_delivered = entry_id
        return True

    def lag(self, group: ConsumerGroup) -> int | None:
        """Entries not yet delivered to the group, or None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != INVALID_ENTRIES_READ and not self.range_has_tombstones(group.last_delivered):
            return self.entries_added - group.entries_read
        estimate = self.estimate_entries_read(group.last_delivered)
        if estimate == INVALID_ENTRIES_READ:
            return None
        return self.entries_added - estimate

    # -- checks -------------------------------------------------------------------------

    def check_invariants(self) -> None:
        ids = list(self.entries.keys())
        assert not ids or ids[-1] <= self.last_id, "an entry above the ID clock"
        assert all(fields and len(fields) % 2 == 0 for fields in self.entries.values())
        self.nodes.check_invariants(ids)
        for name, group in self.groups.items():
            assert group.name == name
            group.check_invariants()
