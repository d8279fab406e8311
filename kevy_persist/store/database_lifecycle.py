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
If finishing fails after the commit point, both databases refuse writes until a restart,
whose open rolls the swap forward.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.engine.shard import Shard
from kevy_persist.errors import KevyError, LayoutError
from kevy_persist.layout.databases import parse_database_dir
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.reshard import swapdb
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
    for store in stores:
        _close_logs(store)
    committed = False
    try:
        swapdb.swap_databases(
            root._file_system, root.config.data_dir, first, second, layout,
            [shard.keyspace.iter_entries() for shard in stores[0]._runner.shards],
            [shard.keyspace.iter_entries() for shard in stores[1]._runner.shards],
            root._clock,
        )
        committed = True
    finally:
        # Committed: the new files hold the swapped keys. Not committed (an error before the
        # commit point): the old files are intact. Either way the files are the truth.
        for store in stores:
            try:
                _reopen(store)
            except KevyError as error:
                _refuse_writes(store, committed, error)


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


def _refuse_writes(store: Any, committed: bool, error: KevyError) -> None:
    runner = store._runner
    reason = (f"SWAPDB {'could not finish' if committed else 'failed'} ({error}); restart the store "
              "to recover its files")
    for index in range(len(runner.shards)):
        shard = Shard.in_memory(store._clock, index)
        shard.failure = reason
        runner.shards[index] = shard
        runner.group_commits[index] = GroupCommit(shard.sync_log)
