"""Opening a data dir for the store: take ownership, reconcile the layout, open every shard.

0. create the dir if it is missing, its name made durable (`layout.data_dir`); take its
   `LOCK` (`layout.ownership`): a dir another store or process holds is refused before
   anything is read; the lock is held until the store shuts down. Then
   remove the stale temps of our saves and rewrites (`*.tmp`; never read, and only an
   owner may remove them: another owner's could be in progress);
1. refuse files of shards beyond the recorded layout (a re-shard would bury them);
2. finish an interrupted SWAPDB (`reshard.swapdb`: its journal sits in the root dir), then
   finish or discard an interrupted re-shard, then re-shard only if the config asks for a
   shard count or routing other than the recorded one (`reshard.reconcile.reconcile_layout`;
   None keeps the record), logging progress lines for a large dir;
3. open every shard by the history rules (`engine.shard_opening.open_shard`), releasing the
   ones already open if a later one refuses;
4. refuse a layout under which most sampled keys sit in the wrong shard, and record the layout
   of a fresh or legacy dir.

Progress: `progress(done_bytes, total_bytes)` counts the bytes of every shard's snapshot and
log read so far against their sizes at step 3 (what a server's INFO `loading_*` shows).

This is the store's job, not the engine's: the engine opens one shard and never calls up into
re-shard.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileLock, FileSystem, join
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.shard import Shard, ShardOptions
from kevy_persist.engine.shard_opening import open_shard
from kevy_persist.errors import KevyError, LayoutError
from kevy_persist.layout import meta, names
from kevy_persist.layout.data_dir import make_data_dir
from kevy_persist.layout.ownership import take_ownership, take_shard_ownership
from kevy_persist.layout.routing import Router, Routing
from kevy_persist.reshard.progress import LoggedProgress
from kevy_persist.reshard.reconcile import LayoutRequest, ReconcileReport, ReshardReport, reconcile_layout
from kevy_persist.reshard.swapdb import recover_interrupted_swap
from kevy_persist.store.config import StoreConfig

OpenProgress = Callable[[int, int], None]  # (bytes of the shards' files read, their total)


def _refuse_stray_files(directory: str, reading: meta.LayoutReading) -> None:
    """Files of shards the recorded layout does not have: their keys would be invisible, and
    a re-shard would not read them. Refuse rather than guess which of the two is right."""
    if reading.stray_indexes:
        assert reading.layout is not None
        raise LayoutError(
            directory,
            f"files of shard(s) {list(reading.stray_indexes)} lie beyond the recorded layout of "
            f"{reading.layout.shard_count} shards; refusing to open without them",
        )


@attrs.frozen
class OpenedShards:
    """What opening produced: the shards, the layout they are in, the re-shard that opening
    ran (None when the layout was kept), and the dir's lock (None in memory) to release at
    shutdown."""

    shards: list[Shard]
    layout: meta.ShardLayout
    reshard: ReshardReport | None
    lock: FileLock | None


def open_store_shards(config: StoreConfig, file_system: FileSystem | None, clock: Clock,
                      progress: OpenProgress | None = None) -> OpenedShards:
    """Own the data dir, reconcile its layout with the config and open every shard."""
    request = LayoutRequest(config.shard_count, config.routing)
    if config.data_dir is None:
        layout = request.resolve(None)
        return OpenedShards([Shard.in_memory(clock, index) for index in range(layout.shard_count)], layout, None, None)
    if file_system is None:
        file_system = OsFileSystem()
    directory = config.data_dir
    make_data_dir(file_system, directory)  # a new dir's name is durable before anything is written in it
    lock = take_ownership(file_system, directory)
    try:
        shards, reconciled = _open_owned(config, file_system, clock, directory, request, progress)
    except BaseException:
        lock.release()
        raise
    reading = reconciled.found
    try:
        if reconciled.reshard is None and (reading.is_fresh or reading.source is meta.LayoutSource.LEGACY):
            meta.write_layout(file_system, directory, reconciled.layout)
    except BaseException:
        _close_all(shards)
        lock.release()
        raise
    return OpenedShards(shards, reconciled.layout, reconciled.reshard, lock)


def _close_all(shards: list[Shard]) -> None:
    """Release the files of shards opened before a refusal (the refusal is what to report)."""
    for shard in shards:
        with contextlib.suppress(KevyError):
            shard.close()


def _remove_stale_temps(file_system: FileSystem, directory: str) -> None:
    """Temps a crash or a failed save left. Their removal need not be durable: a temp that
    comes back after a crash is removed by the next open again."""
    for name in file_system.list_dir(directory):
        if names.classify(name).role in (names.FileRole.TEMP, names.FileRole.SHARDS_META_TEMP):
            file_system.remove(join(directory, name))


def shard_options(config: StoreConfig, directory: str, index: int) -> ShardOptions:
    return ShardOptions(
        directory=directory,
        index=index,
        fsync_policy=config.appendfsync,
        log_format=config.log_format,
        log_enabled=config.log_enabled,
        truncate_corruption=config.truncate_corruption,
    )


def reopen_shards(config: StoreConfig, file_system: FileSystem, clock: Clock, count: int) -> list[Shard]:
    """Open shards 0..count-1 of `config.data_dir` again (after SWAPDB replaced their files);
    the caller closed the old ones and holds the dir."""
    assert config.data_dir is not None
    shards: list[Shard] = []
    try:
        for index in range(count):
            shards.append(open_shard(file_system, clock, shard_options(config, config.data_dir, index)))
    except BaseException:
        _close_all(shards)
        raise
    return shards


def _open_owned(
    config: StoreConfig, file_system: FileSystem, clock: Clock, directory: str, request: LayoutRequest,
    progress: OpenProgress | None,
) -> tuple[list[Shard], ReconcileReport]:
    _remove_stale_temps(file_system, directory)
    # A committed SWAPDB is finished before any dir's own re-shard recovery runs: after its
    # commit point the re-shard temps it left in two dirs are their data, not stale temps.
    # Only the root of a store's databases has the journal (a database dir never does).
    recover_interrupted_swap(file_system, directory)
    # Finish or discard an interrupted re-shard, then re-shard if the caller asked for a
    # layout other than the recorded one.
    before = meta.read_layout(file_system, directory)
    if not before.journal_present:
        _refuse_stray_files(directory, before)  # before a re-shard could bury them
    reconciled = reconcile_layout(file_system, directory, request, clock, progress=LoggedProgress())
    layout = reconciled.layout
    _refuse_stray_files(directory, meta.read_layout(file_system, directory))
    shards: list[Shard] = []
    counter = _ProgressCounter(file_system, directory, layout.shard_count, progress) if progress is not None else None
    try:
        for index in range(layout.shard_count):
            shard_progress = counter.for_shard(index) if counter is not None else None
            shards.append(open_shard(file_system, clock, shard_options(config, directory, index), shard_progress))
        _refuse_misrouted_keys(directory, shards, layout)
    except BaseException:
        _close_all(shards)  # a later shard (or the routing check) refused
        raise
    return shards, reconciled


class _ProgressCounter:
    """Sums the shards' progress into (done, total) bytes of every snapshot and log."""

    def __init__(self, file_system: FileSystem, directory: str, shard_count: int, progress: OpenProgress) -> None:
        self._progress = progress
        self._sizes = []
        for index in range(shard_count):
            size = 0
            for name in (names.snapshot_name(index), names.log_name(index)):
                path = join(directory, name)
                if file_system.exists(path):
                    size += file_system.size(path)
            self._sizes.append(size)
        self.total_bytes = sum(self._sizes)
        self._done_before = 0  # the shards opened already
        progress(0, self.total_bytes)

    def for_shard(self, index: int) -> Callable[[int], None]:
        self._done_before = sum(self._sizes[:index])

        def report(done_bytes: int) -> None:
            done = self._done_before + min(done_bytes, self._sizes[index])
            self._progress(done, self.total_bytes)

        return report


ROUTING_SAMPLE_KEYS = 32


def _refuse_misrouted_keys(directory: str, shards: list[Shard], recorded: meta.ShardLayout) -> None:
    """Refuse a layout under which most keys sit in the wrong shard.

    `shards.meta` (kevy's format) has no checksum: a flipped bit can turn "2" into "3", a
    valid layout under which most keys would route to shards that do not hold them -- reads
    would miss them and writes would create duplicates. Up to 32 keys per shard are routed
    (microseconds); more than half of the sample misrouted means the recorded layout is not
    the one the files were written under. A few misrouted keys are left alone: kevy 1.23 can
    leave strays, and refusing a whole store for them would be worse.
    """
    router = Router(recorded.shard_count, recorded.routing)
    sampled = misrouted = 0
    example = ""
    for shard in shards:
        for key in itertools.islice(shard.keyspace.keys(), ROUTING_SAMPLE_KEYS):
            sampled += 1
            target = router.shard_for_key(key)
            if target != shard.index:
                misrouted += 1
                example = f"key {key[:40]!r} in shard {shard.index} routes to shard {target}"
    if sampled >= 8 and misrouted * 2 > sampled:
        raise LayoutError(
            directory,
            f"{misrouted} of {sampled} sampled keys are not in the shard that "
            f"{recorded.shard_count} shards by {recorded.routing.value} route them to ({example}): "
            f"shards.meta does not describe these files; refusing to serve misrouted keys",
        )


def open_member_shard(config: StoreConfig, index: int, supervisor_pid: int, file_system: FileSystem | None,
                      clock: Clock) -> OpenedShards:
    """Open only shard `index` of a cluster-mode dir, for the process that serves it.

    The supervisor (`supervisor_pid`) has reconciled the layout and holds the dir's `LOCK`;
    this takes the shard's own lock (`take_shard_ownership`), refuses a dir whose recorded
    layout is not `config.shard_count` shards by slots (nothing is re-sharded here: the other
    shards are live in other processes), removes the stale temps of this shard only (another
    shard's save may be in progress) and opens the shard as the store's only one, index 0,
    owning the files of shard `index`.
    """
    assert config.data_dir is not None and config.shard_count is not None
    if file_system is None:
        file_system = OsFileSystem()
    directory = config.data_dir
    lock = take_shard_ownership(file_system, directory, index, supervisor_pid)
    try:
        reading = meta.read_layout(file_system, directory)
        expected = meta.ShardLayout(config.shard_count, Routing.SLOTS)
        if reading.journal_present or reading.layout != expected or not 0 <= index < config.shard_count:
            raise LayoutError(directory, f"a cluster shard process expects {expected.shard_count} shards by slots "
                                         f"(shard {index}), the dir records {reading.layout}")
        for name in file_system.list_dir(directory):
            named = names.classify(name)
            if named.role is names.FileRole.TEMP and named.shard_index == index:
                file_system.remove(join(directory, name))
        options = ShardOptions(directory=directory, index=0, fsync_policy=config.appendfsync,
                               log_format=config.log_format, log_enabled=config.log_enabled,
                               truncate_corruption=config.truncate_corruption, files_of=index)
        shard = open_shard(file_system, clock, options)
    except BaseException:
        lock.release()
        raise
    return OpenedShards([shard], meta.ShardLayout(1, Routing.SLOTS), None, lock)
