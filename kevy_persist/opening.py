"""Opening a data dir: the layout check, then every shard by the history rules.

`open_shard` is the recovery code the crash simulator runs on every crash image:
1. load the snapshot (all-or-nothing, into a fresh keyspace) when the plan needs it;
2. open the log: a torn or zero-filled tail is quarantined and truncated, damage followed by
   valid records refuses to open (unless `truncate_corruption`);
3. replay by `history.plan_replay`, holding transaction blocks back until they commit; a
   block the crash cut is discarded;
4. finish a save interrupted after its snapshot rename, or drop a cut transaction block by a
   full save (not by truncating the log in place), or create the first log, so appends never
   land where the next replay would skip them.

`load_shard_read_only` does steps 1 and 3 without touching the files (`kevy-persist dump`).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import attrs

from . import aof, layout, layout_names, snapshot
from .clock import Clock
from .commands import replay
from .aof_format import is_epoch_marker
from .config import StoreConfig
from .errors import CorruptionError, HistoryGapError, KevyError, LayoutError
from .fs import FileSystem, join
from .history import HistoryDecision, LogIdentity, LogKind, ReplayPlan, plan_replay
from .keyspace import Keyspace
from .routing import Router
from .shard import Shard, ShardOpenReport, ShardOptions
from .transaction_log import TransactionReplayer


def _load_snapshot(file_system: FileSystem, path: str, now_ms: int) -> tuple[Any, dict[bytes, bytes]]:
    """The decoded snapshot (None when absent) and its string records without TTL, which
    the decoder collects straight into a dict the keyspace then adopts (the fast load)."""
    strings: dict[bytes, bytes] = {}
    if not file_system.exists(path):
        return None, strings
    # now_ms: version-2 snapshots stored time remaining, converted to deadlines on load.
    return snapshot.load_snapshot(file_system, path, now_ms=now_ms, strings_into=strings), strings


def _plan(path_for_errors: str, loaded: Any, log_present: bool, identity: LogIdentity | None) -> ReplayPlan:
    covered = loaded.covered if loaded is not None else None
    decision, plan, reason = plan_replay(loaded is not None, covered, log_present, identity)
    if decision is HistoryDecision.MISSING_HISTORY:
        raise HistoryGapError(path_for_errors, reason)
    assert plan is not None
    return plan


def _keyspace_for(loaded: Any, strings: dict[bytes, bytes], plan: ReplayPlan) -> tuple[Keyspace, int]:
    """The keyspace replay starts from, and how many snapshot records went into it."""
    if not plan.load_snapshot or loaded is None:
        return Keyspace(), 0
    record_count = len(strings) + len(loaded.records)  # before: the keyspace adopts `strings`
    return Keyspace.from_snapshot(strings, loaded.records), record_count


def replay_log_into(
    file_system: FileSystem, path: str, keyspace: Keyspace, plan: ReplayPlan, now_ms: int
) -> tuple[TransactionReplayer, int]:
    """Replay the plan's part of the log into `keyspace`, transaction blocks held back until
    they commit; (the replayer, bytes replayed). Shared by opening and the re-shard's sources."""
    replayer = TransactionReplayer(lambda argv: replay(keyspace, argv, now_ms))
    replayed_bytes = 0
    entries = aof.iter_log(file_system, path, start_offset=plan.log_start_offset)
    for position, entry in enumerate(entries):
        if position == 0 and is_epoch_marker(entry.argv):
            continue  # the log's identity, not a command (a marker only ever comes first)
        replayer.feed(entry.offset, entry.argv)
        replayed_bytes += entry.end_offset - entry.offset
    return replayer, replayed_bytes


@attrs.frozen
class ShardReading:
    """A shard's state as its files describe it, read without changing them."""

    keyspace: Keyspace
    snapshot: Any  # LoadedSnapshot | None
    log_scan: Any  # aof.LogScan | None
    snapshot_keys: int
    replayed_commands: int
    replayed_bytes: int
    discarded_transaction_commands: int


def load_shard_read_only(file_system: FileSystem, directory: str, index: int, now_ms: int) -> ShardReading:
    """Rebuild shard `index` of `directory` in memory; the files are never written.

    A torn log tail is left out (and described by `log_scan`), as open would quarantine it;
    damage followed by valid records raises `CorruptionError`, as open would.
    """
    snapshot_path = join(directory, layout_names.snapshot_name(index))
    log_path = join(directory, layout_names.log_name(index))
    loaded, strings = _load_snapshot(file_system, snapshot_path, now_ms)
    log_scan = aof.scan_log(file_system, log_path) if file_system.exists(log_path) else None
    if log_scan is not None and log_scan.stop is aof.StopKind.CORRUPTION:
        raise CorruptionError(log_path, log_scan.damage_offset or 0, log_scan.reason)
    identity = _identity(log_scan.epoch_marker) if log_scan is not None else None
    plan = _plan(log_path, loaded, log_scan is not None, identity)
    keyspace, snapshot_keys = _keyspace_for(loaded, strings, plan)
    replayer, replayed_bytes = None, 0
    if plan.replay_log:
        replayer, replayed_bytes = replay_log_into(file_system, log_path, keyspace, plan, now_ms)
    return ShardReading(
        keyspace=keyspace,
        snapshot=loaded,
        log_scan=log_scan,
        snapshot_keys=snapshot_keys,
        replayed_commands=replayer.applied_count if replayer is not None else 0,
        replayed_bytes=replayed_bytes,
        discarded_transaction_commands=replayer.discarded_commands if replayer is not None else 0,
    )


def open_shard(file_system: FileSystem, clock: Clock, options: ShardOptions) -> Shard:
    """Recover shard `options.index` of `options.directory` and open it for appends."""
    snapshot_path = join(options.directory, layout_names.snapshot_name(options.index))
    log_path = join(options.directory, layout_names.log_name(options.index))
    loaded, strings = _load_snapshot(file_system, snapshot_path, clock.now_ms())
    log_present = options.log_enabled and file_system.exists(log_path)
    writer = None
    log_report = None
    identity = None
    if log_present:
        writer, log_report = aof.open_log(
            file_system, log_path, clock,
            format_version=options.log_format,
            truncate_corruption=options.truncate_corruption,
            policy=options.fsync_policy,
        )
        identity = _identity(log_report.epoch_marker)
    plan = _plan(log_path, loaded, log_present, identity)
    keyspace, snapshot_keys = _keyspace_for(loaded, strings, plan)
    replayer, replayed_bytes = (None, 0)
    discarded_bytes = 0
    if plan.replay_log:
        replayer, replayed_bytes = replay_log_into(file_system, log_path, keyspace, plan, clock.now_ms())
        if replayer.open_block_offset is not None:
            discarded_bytes = writer.end_offset - replayer.open_block_offset
    epoch = identity.epoch if identity is not None else 0
    shard = Shard(file_system, clock, options, keyspace, writer, epoch)
    finished_save = False
    if options.log_enabled and writer is None:
        shard.start_log(_first_log_identity(loaded))
    elif options.log_enabled and (plan.replace_log or discarded_bytes):
        # An interrupted save (or a stale log): the recovered state is the snapshot plus any
        # log tail past its covered offset. A new log alone would drop that tail at the next
        # crash, so the save is redone in full: snapshot of this state, then the next log.
        # A transaction block the crash cut goes the same way. Truncating it in place is not
        # crash-safe: a shrinking truncate zeroes the rest of the page at the cut, and that
        # page can reach the disk before the size change commits (ext4 data=ordered), so a
        # crash leaves zeros followed by the block's later records -- refused as corruption
        # (crash simulator, `open-block` workload, weakest profile).
        shard.epoch = max(epoch, loaded.covered.epoch if loaded is not None and loaded.covered else 0)
        shard.save()
        finished_save = True
    shard.open_report = ShardOpenReport(
        index=options.index,
        snapshot_keys=snapshot_keys,
        snapshot_bytes=loaded.size_bytes if loaded is not None else 0,
        replayed_commands=replayer.applied_count if replayer is not None else 0,
        replayed_bytes=replayed_bytes,
        dropped_bytes=log_report.dropped_bytes if log_report is not None else 0,
        quarantine_path=log_report.quarantine_path if log_report is not None else None,
        corruption_offset=log_report.corruption_offset if log_report is not None else None,
        discarded_transaction_bytes=discarded_bytes,
        finished_interrupted_save=finished_save,
        log_epoch=shard.epoch,
    )
    return shard


def _identity(marker: Any) -> LogIdentity | None:
    if marker is None:
        return None
    return LogIdentity(marker.epoch, LogKind(marker.kind))


def _first_log_identity(loaded: Any) -> LogIdentity:
    if loaded is None:
        return LogIdentity(1, LogKind.BASE)
    covered_epoch = loaded.covered.epoch if loaded.covered is not None else 0
    return LogIdentity(covered_epoch + 1, LogKind.INCREMENTAL)


def _refuse_stray_files(directory: str, reading: layout.LayoutReading) -> None:
    """Files of shards the recorded layout does not have: their keys would be invisible, and
    a re-shard would not read them. Refuse rather than guess which of the two is right."""
    if reading.stray_indexes:
        assert reading.layout is not None
        raise LayoutError(
            directory,
            f"files of shard(s) {list(reading.stray_indexes)} lie beyond the recorded layout of "
            f"{reading.layout.shard_count} shards; refusing to open without them",
        )


def open_store_shards(config: StoreConfig, file_system: FileSystem | None, clock: Clock) -> list[Shard]:
    """Check the data dir's layout against the config and open every shard."""
    if config.data_dir is None:
        return [Shard.in_memory(clock, index) for index in range(config.shard_count)]
    if file_system is None:
        from .fs_os import OsFileSystem

        file_system = OsFileSystem()
    directory = config.data_dir
    file_system.make_dirs(directory)
    requested = layout.ShardLayout(config.shard_count, config.routing)
    # Finish or discard an interrupted re-shard, then re-shard if the layout differs.
    from .reshard import reconcile_layout
    from .reshard_progress import TerminalProgress

    before = layout.read_layout(file_system, directory)
    if not before.journal_present:
        _refuse_stray_files(directory, before)  # before a re-shard could bury them
    reconciled = reconcile_layout(file_system, directory, requested, clock, progress=TerminalProgress.for_stderr())
    reading = reconciled.found
    _refuse_stray_files(directory, layout.read_layout(file_system, directory))
    shards: list[Shard] = []
    try:
        for index in range(config.shard_count):
            options = ShardOptions(
                directory=directory,
                index=index,
                fsync_policy=config.appendfsync,
                log_format=config.log_format,
                log_enabled=config.log_enabled,
                truncate_corruption=config.truncate_corruption,
            )
            shards.append(open_shard(file_system, clock, options))
    except BaseException:
        for shard in shards:  # a later shard refused to open: release the earlier ones' files
            with contextlib.suppress(KevyError):  # the refusal is the error to report
                shard.close()
        raise
    try:
        _refuse_misrouted_keys(directory, shards, requested)
    except LayoutError:
        for shard in shards:
            with contextlib.suppress(KevyError):
                shard.close()
        raise
    if reconciled.reshard is None and (reading.is_fresh or reading.source is layout.LayoutSource.LEGACY):
        layout.write_layout(file_system, directory, requested)
    return shards


ROUTING_SAMPLE_KEYS = 32


def _refuse_misrouted_keys(directory: str, shards: list[Shard], recorded: layout.ShardLayout) -> None:
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
