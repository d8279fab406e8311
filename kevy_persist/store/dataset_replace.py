"""Replacing an owned store's whole dataset with decoded RDB records (a replica's full sync).

What it does: every shard's keyspace is emptied (after the rebuild a shard owes for writes
an fsync failure refused, which its save would otherwise run over the loaded data) and the records -- `(key, kind, value,
deadline_ms)` as `formats.rdb_decode` returns them -- are routed to their shards and loaded
(values converted to native ones, as RESTORE does). Keys already past their deadline are
kept: a replica holds what its master sent and deletes a key when the master's DEL arrives
(Redis's replicas load them the same way). Keys kevy reserves for log markers are left out
and counted.

Durability is the caller's: nothing here is logged. The caller (the server, on the loop's
thread, with nothing of the log in flight) saves every shard right after (`Store.save`: a
snapshot, then a fresh log), so until that save returns the files still hold the previous
dataset -- a crash in between comes back with the old data, never with a mix; and when the
save fails the caller applies nothing more on top (the server drops the link and syncs
again), since the log would then continue the old dataset. The simulator's
`replica-full-sync-always` workload cuts every step of this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kevy_persist.formats.log_markers import RESERVED_KEY_PREFIX

__all__ = ["replace_dataset"]


def replace_dataset(
    shards: list[Any], shard_for_key: Callable[[bytes], int], records: Iterable[tuple[bytes, Any, Any, int | None]],
) -> tuple[int, int]:
    """Empty every shard's keyspace and load `records` by `shard_for_key`: (loaded, skipped)."""
    keyspaces = []
    for shard in shards:
        # A shard whose fsync failed rebuilds its keyspace from its files before its next
        # save; that rebuild must come first, or the save would bring the old data back.
        shard.undo_refused_writes()
        keyspaces.append(shard.keyspace)
        shard.keyspace.clear()
    loaded = skipped = 0
    single = len(keyspaces) == 1
    for key, kind, value, deadline_ms in records:
        if key.startswith(RESERVED_KEY_PREFIX):
            skipped += 1
            continue
        keyspaces[0 if single else shard_for_key(key)].load_entry(key, kind, value, deadline_ms)
        loaded += 1
    return loaded, skipped
