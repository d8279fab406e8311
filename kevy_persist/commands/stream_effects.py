"""The log records that stand for what a consumer-group command did (its effect).

XREADGROUP, XCLAIM and XAUTOCLAIM depend on the clock (delivery times, idle filters) and on
the state when they ran, so they are logged as what they changed, in commands that replay
to exactly that and that kevy 1.23 also replays (it knows XCLAIM with TIME, RETRYCOUNT,
FORCE and JUSTID, XGROUP CREATECONSUMER, XGROUP SETID and XACK):
- a PEL row given to a consumer: `XCLAIM key group consumer 0 id TIME <delivery ms>
  RETRYCOUNT <count> FORCE JUSTID` (FORCE creates the row; JUSTID with RETRYCOUNT sets the
  count exactly; the entry exists, or XCLAIM would drop the row);
- a PEL row dropped because its entry was deleted: `XACK key group id`;
- a consumer created: `XGROUP CREATECONSUMER key group consumer`;
- the group's position moved: `XGROUP SETID key group <last delivered> ENTRIESREAD <n>`
  (a format-1 log, for kevy 1.23, drops the ENTRIESREAD pair: see log_compat).
Redis propagates the same effects, with LASTID on XCLAIM where we log SETID.
"""

from __future__ import annotations

from kevy_persist.data.stream_groups import ConsumerGroup
from kevy_persist.formats.stream_ids import format_id


def claimed(key: bytes, group: bytes, consumer: bytes, entry_id: int, delivery_ms: int, count: int) -> list[bytes]:
    return [
        b"XCLAIM", key, group, consumer, b"0", format_id(entry_id),
        b"TIME", b"%d" % delivery_ms, b"RETRYCOUNT", b"%d" % count, b"FORCE", b"JUSTID",
    ]


def dropped(key: bytes, group: bytes, entry_ids: list[int]) -> list[bytes]:
    return [b"XACK", key, group, *map(format_id, entry_ids)]


def consumer_created(key: bytes, group: bytes, consumer: bytes) -> list[bytes]:
    return [b"XGROUP", b"CREATECONSUMER", key, group, consumer]


def group_moved(key: bytes, group: ConsumerGroup) -> list[bytes]:
    return [
        b"XGROUP", b"SETID", key, group.name, format_id(group.last_delivered),
        b"ENTRIESREAD", b"%d" % group.entries_read,
    ]
