"""The commands that rebuild one stream in a rewritten log (kevy 1.23's recipe, made exact).

In order:
1. one `XADD key <id> f v ...` per entry, in ID order; a pending row whose entry is gone (a
   tombstone row) gets a placeholder entry `XADD key <id> kevy-tombstone 1` at its place,
   because XCLAIM can only give a row for an entry that exists;
2. a stream that nothing above creates: `XADD key MAXLEN 0 <last_id> x x` when its ID clock
   moved (kevy's trick: the trim removes the entry, the clock stays), or, for an empty
   stream that never had an entry nor a group, `XGROUP CREATE key kevy-rewrite 0 MKSTREAM`
   and `XGROUP DESTROY` of it (a group made it, so a group remakes it); a stream with
   groups is made by their `XGROUP CREATE ... MKSTREAM`;
3. per group: `XGROUP CREATE key name <last delivered> MKSTREAM ENTRIESREAD <n>`,
   `XGROUP CREATECONSUMER` per consumer, and `XCLAIM key group consumer 0 <id> TIME <t>
   RETRYCOUNT <n> FORCE JUSTID` per pending row (delivery time and count exact);
4. the placeholders go again: `XTRIM key MAXLEN = <live entries>` when they all precede the
   live entries (they came from trims: a trim does not touch max_deleted_id), else XDEL;
5. `XSETID key <last_id> ENTRIESADDED <n> MAXDELETEDID <id>` whenever the commands above
   would not leave exactly the stream's clock, count and highest deleted ID (MAXDELETEDID
   0-0 changes nothing here, as in Redis; kevy 1.23 sets it, which is also what we mean).

Replayed, this gives the same entries, clock, groups, read counters and PEL rows; consumers'
seen times become the replay's time (a log does not carry them, in Redis neither), and the
node boundaries are those of the replayed commands. A format-1 log drops the ENTRIESREAD
pair for kevy 1.23 (engine/log_compat.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from heapq import merge

from kevy_persist.data.stream import Stream
from kevy_persist.formats.stream_ids import format_id

PLACEHOLDER_FIELDS = (b"kevy-tombstone", b"1")
SCRATCH_GROUP = b"kevy-rewrite"
DELETE_CHUNK_IDS = 512


def rebuild_stream(key: bytes, stream: Stream) -> Iterator[list[bytes]]:
    live = stream.entries
    tombstones = sorted({entry_id for group in stream.groups.values() for entry_id in group.pending} - set(live))
    placeholders = ((entry_id, PLACEHOLDER_FIELDS) for entry_id in tombstones)
    for entry_id, fields in merge(live.items(), placeholders):
        yield [b"XADD", key, format_id(entry_id), *fields]
    if not live and not tombstones:
        if stream.last_id:
            yield [b"XADD", key, b"MAXLEN", b"0", format_id(stream.last_id), b"x", b"x"]
        elif not stream.groups:
            yield [b"XGROUP", b"CREATE", key, SCRATCH_GROUP, b"0", b"MKSTREAM"]
            yield [b"XGROUP", b"DESTROY", key, SCRATCH_GROUP]
    for group in stream.sorted_groups():
        yield [
            b"XGROUP", b"CREATE", key, group.name, format_id(group.last_delivered), b"MKSTREAM",
            b"ENTRIESREAD", b"%d" % group.entries_read,
        ]
        for consumer in group.sorted_consumers():
            yield [b"XGROUP", b"CREATECONSUMER", key, group.name, consumer.name]
        for entry_id, row in group.pending.items():
            yield [
                b"XCLAIM", key, group.name, row.consumer, b"0", format_id(entry_id),
                b"TIME", b"%d" % row.delivery_time_ms, b"RETRYCOUNT", b"%d" % row.delivery_count,
                b"FORCE", b"JUSTID",
            ]
    if tombstones:
        if not live or tombstones[-1] < stream.first_id:
            yield [b"XTRIM", key, b"MAXLEN", b"=", b"%d" % len(live)]
        else:
            for start in range(0, len(tombstones), DELETE_CHUNK_IDS):
                yield [b"XDEL", key, *map(format_id, tombstones[start : start + DELETE_CHUNK_IDS])]
    if tombstones or _clock_differs(stream):
        yield [
            b"XSETID", key, format_id(stream.last_id), b"ENTRIESADDED", b"%d" % stream.entries_added,
            b"MAXDELETEDID", format_id(stream.max_deleted_id),
        ]


def _clock_differs(stream: Stream) -> bool:
    """Whether the entries' XADDs (or the MAXLEN 0 trick) leave another clock, count or
    highest deleted ID than the stream has."""
    if stream.entries:
        natural = (stream.last_entry_id, len(stream.entries), 0)
    else:
        natural = (stream.last_id, 1 if stream.last_id else 0, 0)
    return natural != (stream.last_id, stream.entries_added, stream.max_deleted_id)
