"""The fence a failed MOVE or SWAPDB leaves until the store is restarted.

MOVE and SWAPDB change two databases' files under one journal in the root (`move.journal`,
`swapdb.journal`; specs/layout.md section 7). When either fails at a point where its journal
may be durable -- after SWAPDB's commit point, or wherever the journal could not be retired
durably -- the outcome is no longer the process's to decide: a failed fsync leaves its data
maybe on disk, maybe not (Linux may even drop the dirty pages and let a second fsync
"succeed", so DESIGN section 3 never retries one and trusts it). The only code that knows what
the disk holds is the open-time recovery, which decides from the names and bytes present and
is proven at every cut by the simulator. Until it runs the store must neither undo its work
nor build on a guess, so the failure fences:

- every shard that recovery will change (both databases' shards for SWAPDB, the key's shard
  in both databases for MOVE) is replaced by an in-memory shard that serves the keys it held
  (for a committed swap, the swapped ones: the state the roll-forward installs) and refuses
  writes. A write acknowledged there would be undone by the roll-forward (SWAPDB moves the
  old logs aside; MOVE's recovery deletes the key at the source when the target holds it).
  An in-memory shard saves and rewrites nothing, so the protocol's files stay exactly as it
  left them for recovery to read;
- the store refuses every later MOVE and SWAPDB (`check_settled`): a second journal, or a
  second swap's temps, would overwrite the first before it was settled (the defect the
  `swapdb-*` door-fault sweeps found: a swap failed after its commit point, the next one
  replaced its temps, and the roll-forward installed the second swap's keys under the
  first's journal -- one key in two databases).

Everything else goes on: reads of the fenced shards, every other shard and database, COPY,
FLUSHALL (refused on the fenced shards like any write). `Store.open` settles the journal
and starts without a fence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.engine.shard import Shard
from kevy_persist.errors import CommandError, KevyError, WritesRefusedError
from kevy_persist.store.runtime import GroupCommit


def check_settled(root: Any) -> None:
    """Refuse a MOVE or SWAPDB while an earlier one's journal waits for a restart."""
    reason = root.databases.unsettled
    if reason is not None:
        raise CommandError(f"MISCONF {reason}; MOVE and SWAPDB are refused until the store is restarted")


def fence(root: Any, reason: str, shards: Sequence[tuple[Any, int, Keyspace | None]],
          journal_left: bool = True) -> None:
    """Fence `shards` -- (database store, shard index, keys to serve or None for its own) --
    and, when a journal is left for recovery, refuse later MOVE / SWAPDB. The caller holds
    every one of those shards' locks."""
    if journal_left and root.databases.unsettled is None:
        root.databases.unsettled = reason
    for store, index, keyspace in shards:
        _fence_shard(store, index, reason, keyspace)


def _fence_shard(store: Any, index: int, reason: str, keyspace: Keyspace | None) -> None:
    runner = store._runner
    shard, group_commit = runner.shards[index], runner.group_commits[index]
    if keyspace is None:
        shard.undo_refused_writes()  # serve what the files hold, never a refused write
        keyspace = shard.keyspace
    with group_commit.exclusive():
        try:
            shard.close()  # fsyncs first when nothing failed: acknowledged writes stay durable
        except KevyError as error:
            group_commit.fail(error)
        else:
            if shard.failure is None:
                group_commit.reset(shard.synced_offset)  # waiters' records are durable
            else:
                group_commit.fail(WritesRefusedError(index, shard.failure))
    fenced = Shard.in_memory(store._clock, index)
    fenced.keyspace = keyspace
    fenced.failure = f"{reason}; restart the store to recover its files"
    runner.shards[index] = fenced
    runner.group_commits[index] = GroupCommit(fenced.sync_log)
