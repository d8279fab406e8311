"""Replacing an owned store's whole dataset with decoded RDB records (a replica's full sync).

What it does: every shard's keyspace is emptied and the records -- `(key, kind, value,
deadline_ms)` as `formats.rdb_decode` returns them -- are routed to their shards and loaded
(values converted to native ones, as RESTORE does). Keys already past their deadline are
kept: a replica holds what its master sent and deletes a key when the master's DEL arrives
(Redis's replicas load them the same way). Keys kevy reserves for log markers are left out
and counted.

Durability is the caller's: nothing here is logged. The caller (the server, on the loop's
thread, with nothing of the log in flight) saves every shard right after (`Store.save`: a
snapshot, then a fresh log), so until that save returns the files still hold the previous
dataset -- a crash in between comes back with the old data, never with a mix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kevy_persist.formats.log_markers import RESERVED_KEY_PREFIX

__all__ = ["replace_dataset"]


def replace_dataset(owned: Any, records: Iterable[tuple[bytes, Any, Any, int | None]]) -> tuple[int, int]:
    """Empty every shard of `owned` (an `OwnedShards`) and load `records`: (loaded, skipped)."""
    shards = owned.shards
    for shard in shards:
        shard.keyspace.clear()
    loaded = skipped = 0
    single = len(shards) == 1
    for key, kind, value, deadline_ms in records:
        if key.startswith(RESERVED_KEY_PREFIX):
            skipped += 1
            continue
        index = 0 if single else owned.shard_for_key(key)
        shards[index].keyspace.load_entry(key, kind, value, deadline_ms)
        loaded += 1
    return loaded, skipped
