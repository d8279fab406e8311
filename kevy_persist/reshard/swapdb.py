"""SWAPDB on disk: two databases exchange their files' content in one commit.

Database 0 is the data dir itself and database n its subdirectory `db-{n}/`
(`layout.databases`), so a swap cannot be a rename of two directories (and the crash model
has no cross-directory renames). Each database's new content is written as *the other
database's re-shard temps*, and each directory is then finished by the re-shard's own
roll-forward (`recovery.finish_committed`), which is already proven crash-safe per dir. The
one new thing is the commit point, shared by the two dirs: `swapdb.journal` in the root.

`swap_databases(fs, root, first, second, layout, first_entries, second_entries, clock)`:
1. remove stale `dump-{i}.rdb.reshard` temps in both dirs (an old attempt's);
2. write each shard `i` of `first`'s content into `second`'s dir as `dump-{i}.rdb.reshard`
   and `second`'s into `first`'s (KEVYSNAP, no covered log position), each fsynced;
3. fsync_dir both dirs: the temps' names are durable;
4. write `swapdb.journal` (stamp, the two databases, the layout, a CRC-32C) and fsync it;
5. fsync_dir the root -- **the commit point**;
6. finish each dir (`finish_directory`): write its `reshard.journal` (same layout before and
   after) and run the re-shard roll-forward: the old `aof-`/`dump-` files move to
   `.premigration.{stamp}` names, the temps are copied in, `shards.meta` is recorded, temps
   and journal removed, fsync_dir; then the backups of this stamp are removed;
7. remove `swapdb.journal`, fsync_dir the root.

A crash before step 5 leaves both databases as they were: the temps are stale and the next
open removes them (no journal, or a torn one that does not decode). A crash after it is
rolled forward by `recover_interrupted_swap`, which the store runs first at every open,
before any directory's own re-shard recovery could mistake the temps for stale ones: a dir
with a `reshard.journal` is finished by it, a dir with temps but no journal gets one and is
finished, a dir with neither is done. Every step decides from the names present, so
recovery is idempotent and may itself be cut anywhere. The new shards have no log: opening
them starts an epoch-1 log over a snapshot without a covered position (specs/reshard.md).
An error (not a crash) before the commit point retires the journal durably, removes the temps
(best effort) and re-raises. An error after it -- or one before it whose journal could not be
retired durably -- raises `UnsettledSwapError`: the disk may hold the swap committed and half
finished, so the caller must serve nothing from these dirs' files and change neither until
the next open has rolled it forward (`store.database_fence`).
Proof: the simulator's `swapdb-*` workloads (sim/workloads/databases.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine.snapshot import write_snapshot_temp
from kevy_persist.errors import KevyError, LayoutError, StorageIOError
from kevy_persist.layout.databases import (
    MAX_JOURNAL_BYTES,
    SWAP_JOURNAL_NAME,
    SwapJournal,
    database_dir_name,
    decode_swap_journal,
    encode_swap_journal,
)
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.names import RESHARD_JOURNAL_NAME, FileRole, ReshardJournal, classify, reshard_temp_name
from kevy_persist.reshard.protocol import Phase, PhaseTracker
from kevy_persist.reshard.reconcile import write_journal
from kevy_persist.reshard.recovery import finish_committed, read_journal

Entry = tuple[bytes, Any, Any, "int | None"]


def database_directory(root: str, database: int) -> str:
    """Where database `database`'s files live: the root itself for 0, else `db-{n}/`."""
    return root if database == 0 else join(root, database_dir_name(database))


class UnsettledSwapError(KevyError):
    """The swap failed where its outcome is the next open's to decide: after the commit point
    (`committed`), or before it when the journal could not be retired durably (it may come
    back after a crash, and with it the commit). The cause is `__cause__`."""

    def __init__(self, committed: bool, error: KevyError) -> None:
        stage = "after its commit point" if committed else "and its journal could not be retired"
        super().__init__(f"SWAPDB failed {stage} ({error})")
        self.committed = committed


@attrs.frozen
class SwapReport:
    journal: SwapJournal
    written_bytes: int


def _remove_temps(fs: FileSystem, directory: str) -> None:
    for name in fs.list_dir(directory):
        if classify(name).role is FileRole.RESHARD_TEMP:
            fs.remove(join(directory, name))


def _write_journal_file(fs: FileSystem, path: str, data: bytes) -> None:
    handle = fs.open_write(path)
    try:
        handle.write(data)
        handle.fsync()
    finally:
        handle.close()


def swap_databases(
    fs: FileSystem, root: str, first: int, second: int, layout: ShardLayout,
    first_entries: Sequence[Iterable[Entry]], second_entries: Sequence[Iterable[Entry]], clock: Clock,
) -> SwapReport:
    """Steps 1-7 of the module docstring; `*_entries[i]` are shard `i`'s keys of each database.

    Both directories must exist with their `shards.meta` (the caller opened both databases).
    """
    assert 0 <= first < second, (first, second)
    assert len(first_entries) == len(second_entries) == layout.shard_count
    first_dir, second_dir = database_directory(root, first), database_directory(root, second)
    journal = SwapJournal(clock.now_ms() * 1_000_000, first, second, layout.shard_count, layout.routing)
    written_bytes = 0
    try:
        for directory in (first_dir, second_dir):
            _remove_temps(fs, directory)
        for directory, entries in ((second_dir, first_entries), (first_dir, second_entries)):
            for index, shard_entries in enumerate(entries):
                temp = write_snapshot_temp(fs, join(directory, reshard_temp_name(index)), shard_entries, None)
                written_bytes += fs.size(temp)
        fs.fsync_dir(first_dir)
        fs.fsync_dir(second_dir)
        _write_journal_file(fs, join(root, SWAP_JOURNAL_NAME), encode_swap_journal(journal))
        fs.fsync_dir(root)  # the commit point
    except KevyError as error:
        if not _abandon(fs, root, (first_dir, second_dir)):
            raise UnsettledSwapError(False, error) from error
        raise
    try:
        finish_swap(fs, root, journal)
    except KevyError as error:
        raise UnsettledSwapError(True, error) from error
    return SwapReport(journal, written_bytes)


def _abandon(fs: FileSystem, root: str, directories: tuple[str, str]) -> bool:
    """Before the commit point: the journal's removal is made durable before the temps go
    (a journal that came back without its temps would install nothing, but say "committed").
    False when the journal may still be durable (its removal or that fsync_dir failed)."""
    try:
        if fs.exists(join(root, SWAP_JOURNAL_NAME)):
            fs.remove(join(root, SWAP_JOURNAL_NAME))
            fs.fsync_dir(root)
    except KevyError:
        return False
    try:
        for directory in directories:
            _remove_temps(fs, directory)
    except KevyError:
        pass  # stale temps without a journal: the next open removes them
    return True


def finish_directory(fs: FileSystem, directory: str, journal: SwapJournal) -> bool:
    """Step 6 for one dir; True when something was left to do.

    A complete `reshard.journal` is finished as it is; temps without one (or with a torn one,
    cut while step 6 wrote it) get it written first: after the swap's commit point the temps
    *are* the dir's content. A torn journal with no temps left was being removed: removed."""
    if not fs.exists(directory):
        return False
    names = fs.list_dir(directory)
    has_temps = any(classify(name).role is FileRole.RESHARD_TEMP for name in names)
    found = read_journal(fs, directory) if RESHARD_JOURNAL_NAME in names else None
    if found is None and not has_temps:
        if RESHARD_JOURNAL_NAME in names:
            # No fsync_dir: a torn journal with no temps is never acted on. If its removal is
            # lost it comes back as the same torn bytes, and whoever sees it next removes it
            # again (this function while the swap journal is there, else the re-shard
            # recovery of the dir's open, which discards torn journals the same way).
            fs.remove(join(directory, RESHARD_JOURNAL_NAME))
        _remove_backups(fs, directory, journal.stamp_ns)
        return False
    if found is None:
        found = ReshardJournal(journal.stamp_ns, journal.shard_count, journal.shard_count, journal.routing)
        write_journal(fs, directory, found)
    tracker = PhaseTracker()
    tracker.advance(Phase.JOURNAL_FOUND)
    finish_committed(fs, directory, found, tracker)
    _remove_backups(fs, directory, journal.stamp_ns)
    return True


def _remove_backups(fs: FileSystem, directory: str, stamp_ns: int) -> None:
    """The old files a finished swap moved aside: superseded (the swap is durable), removed
    so that swaps do not pile up copies. No fsync: one that comes back is harmless."""
    for name in fs.list_dir(directory):
        named = classify(name)
        if named.role is FileRole.PREMIGRATION_BACKUP and named.stamp == stamp_ns:
            fs.remove(join(directory, name))


def finish_swap(fs: FileSystem, root: str, journal: SwapJournal) -> None:
    """Steps 6-7: finish both dirs, then retire the journal durably."""
    for database in (journal.first, journal.second):
        finish_directory(fs, database_directory(root, database), journal)
    fs.remove(join(root, SWAP_JOURNAL_NAME))
    fs.fsync_dir(root)


def read_swap_journal(fs: FileSystem, root: str) -> SwapJournal | None:
    """The committed swap journal in `root`, None when absent or torn (a torn one is removed:
    it was never committed); `LayoutError` when it cannot be read at all."""
    path = join(root, SWAP_JOURNAL_NAME)
    if not fs.exists(path):
        return None
    try:
        if fs.size(path) > MAX_JOURNAL_BYTES:
            raise LayoutError(path, "the swapdb journal is too large to be one; refusing to guess")
        data = fs.read_bytes(path)
    except StorageIOError as error:
        raise LayoutError(path, f"the swapdb journal cannot be read ({error.reason}); refusing to open") from error
    journal = decode_swap_journal(data)
    if journal is None:
        fs.remove(path)  # torn: the crash came before the commit point; the temps are stale
    return journal


def recover_interrupted_swap(fs: FileSystem, root: str) -> SwapJournal | None:
    """Roll a committed swap forward (before anything else reads the dirs); the journal
    that was finished, or None."""
    journal = read_swap_journal(fs, root)
    if journal is None:
        return None
    finish_swap(fs, root, journal)
    return journal
