"""Opening a store's other databases, and SWAPDB on open stores.

`open_existing_databases(root)`, at the end of `Store.open`: every `db-{n}/` the root dir
holds is opened now, with the root's layout (so a re-shard at open re-shards every
database: each runs the same reconcile with the same request), then an interrupted MOVE is
settled (`databases.recover_interrupted_move`). A `db-{n}/` with n at or past the
`databases` setting is refused (`LayoutError`): its keys would be invisible, as Redis
refuses an RDB file naming such a database. Databases never written have no dir and are
created on first use (`DatabaseSet.get`).

`swap_databases(root, first, second)` with every shard of both databases locked (after any
background job of theirs ended): in memory, the two databases' keyspaces change places; on
disk, `reshard.swapdb.swap_databases` writes each one's keys into the other's dir under one
commit, and both are then reopened from their new files (a snapshot each, no log: a reload
of both, O(their keys) -- Redis's SWAPDB is O(1), but it has one file for all databases).
A failure that leaves the swap to the next open's recovery (after the commit point, or a
journal that could not be retired) fences both databases (`database_fence`): they serve the
keys the journal commits to, refuse writes, and the store refuses MOVE and SWAPDB until a
restart rolls the swap forward. Any other failure reopens both from their intact old files.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.errors import KevyError, LayoutError, WritesRefusedError
from kevy_persist.layout.databases import parse_database_dir
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.reshard import swapdb
from kevy_persist.store.database_fence import check_settled, fence
from kevy_persist.store.databases import recover_interrupted_move
from kevy_persist.store.opening import reopen_shards
from kevy_persist.store.runtime import GroupCommit


def open_existing_databases(root: Any) -> None:
    config, fs = root.config, root._file_system
    if config.data_dir is None:
        return
    numbers = []
    for name in fs.list_dir(config.data_dir):
        number = parse_database_dir(name)
        if number is None:
            continue
        if number >= root.databases.count:
            raise LayoutError(
                config.data_dir, f"holds database dir {name}/, beyond the {root.databases.count} databases "
                "configured (`databases`); refusing to open without its keys",
            )
        numbers.append(number)
    for number in sorted(numbers):
        root.databases.get(number)
    recover_interrupted_move(root)


def _locks(stores: list[Any]) -> list[Any]:
    return [lock for store in stores for lock in store._runner.locks]


def swap_databases(root: Any, first: int, second: int) -> None:
    if first == second:
        return
    check_settled(root)
    first, second = sorted((first, second))
    stores = [root.databases.get(first), root.databases.get(second)]
    for store in stores:
        store.wait_background()
    locks = _locks(stores)
    for lock in locks:
        lock.acquire()
    try:
        for store in stores:
            store._check_open()
            for index, shard in enumerate(store._runner.shards):
                if shard.failure is not None:  # SWAPDB writes both: refused as any write is
                    raise WritesRefusedError(index, shard.failure)
        if root.config.data_dir is None:
            _swap_in_memory(stores)
            return
        _swap_on_disk(root, stores, first, second)
    finally:
        for lock in reversed(locks):
            lock.release()


def _swap_in_memory(stores: list[Any]) -> None:
    left, right = stores[0]._runner.shards, stores[1]._runner.shards
    for index in range(len(left)):
        left[index].keyspace, right[index].keyspace = right[index].keyspace, left[index].keyspace


def _swap_on_disk(root: Any, stores: list[Any], first: int, second: int) -> None:
    layout = ShardLayout(root.config.shard_count, root.config.routing)
    try:
        for store in stores:
            _close_logs(store)
    except KevyError as error:
        # No swap file was written, but some logs are closed and one could not be fsynced:
        # each shard serves what its files hold (its refused writes undone) until a restart.
        fence(root, f"SWAPDB failed before it began ({error})",
              [(store, index, None) for store in stores for index in range(len(store._runner.shards))],
              journal_left=False)
        raise
    keyspaces = [[shard.keyspace for shard in store._runner.shards] for store in stores]
    try:
        swapdb.swap_databases(
            root._file_system, root.config.data_dir, first, second, layout,
            [keyspace.iter_entries() for keyspace in keyspaces[0]],
            [keyspace.iter_entries() for keyspace in keyspaces[1]],
            root._clock,
        )
    except swapdb.UnsettledSwapError as error:
        # The files may hold the swap committed and half finished: serve what the journal
        # commits to (the swapped keys when committed, else each database's own) and change
        # neither dir until a restart has rolled it forward (`database_fence`).
        served = keyspaces[::-1] if error.committed else keyspaces
        fence(root, str(error), [(store, index, keyspace) for store, store_keyspaces in zip(stores, served)
                                 for index, keyspace in enumerate(store_keyspaces)])
        raise
    except KevyError as error:
        _reopen_or_fence(root, stores, keyspaces, error)  # nothing committed: the old files hold
        raise
    except BaseException as error:  # not a storage error (a bug, an interrupt): assume the worst
        fence(root, f"SWAPDB interrupted ({error!r})",
              [(store, index, keyspace) for store, own in zip(stores, keyspaces) for index, keyspace in enumerate(own)])
        raise
    _reopen_or_fence(root, stores, keyspaces[::-1], None)  # finished: the new files hold the swap


def _reopen_or_fence(root: Any, stores: list[Any], served: list[list[Any]], failure: KevyError | None) -> None:
    """Reload both databases from their settled files (no journal is left). One that cannot
    be read back serves `served`, the keys its files hold, and refuses writes until a
    restart opens them."""
    for store, keyspaces in zip(stores, served):
        try:
            _reopen(store)
        except KevyError as error:
            stage = "failed" if failure is not None else "finished"
            fence(root, f"SWAPDB {stage}, then reopening database {store.database_number} failed ({error})",
                  [(store, index, keyspace) for index, keyspace in enumerate(keyspaces)], journal_left=False)


def _close_logs(store: Any) -> None:
    runner = store._runner
    for index, shard in enumerate(runner.shards):
        with runner.group_commits[index].exclusive():
            shard.close()  # fsyncs first: every acknowledged write is in the files
            runner.group_commits[index].reset(shard.synced_offset)


def _reopen(store: Any) -> None:
    runner = store._runner
    shards = reopen_shards(store.config, store._file_system, store._clock, len(runner.shards))
    for index, shard in enumerate(shards):
        runner.shards[index] = shard
        runner.group_commits[index] = GroupCommit(shard.sync_log)
