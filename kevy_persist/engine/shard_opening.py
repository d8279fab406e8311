"""Opening one shard by the history rules: the recovery code every crash image runs.

`open_shard` is the recovery code the crash simulator runs on every crash image:
1. load the snapshot (all-or-nothing, into a fresh keyspace) when the plan needs it;
2. open the log: a torn or zero-filled tail is quarantined and truncated, damage followed by
   valid records refuses to open (unless `truncate_corruption`);
3. replay by `history.plan_replay`, holding transaction blocks back until they commit; a
   block the crash cut is discarded. Steps 2 and 3 are one pass over the file: the open
   scan hands each valid record to the replay as it reads it (`_ReplayWhileScanning`);
   what it built is discarded if the scan then refuses the log;
4. finish a save interrupted after its snapshot rename, or drop a cut transaction block by a
   full save (not by truncating the log in place), or create the first log, so appends never
   land where the next replay would skip them.

`load_shard_read_only` does steps 1 and 3 without touching the files (`kevy-persist dump`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from kevy_persist.commands import replayer_for
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine import aof, snapshot
from kevy_persist.engine.history import HistoryDecision, ReplayPlan, plan_replay
from kevy_persist.engine.shard import Shard, ShardOpenReport, ShardOptions
from kevy_persist.engine.transaction_log import TransactionReplayer
from kevy_persist.errors import CorruptionError, HistoryGapError
from kevy_persist.formats.aof_format import is_epoch_marker
from kevy_persist.formats.log_markers import parse_epoch_marker
from kevy_persist.formats.positions import LogIdentity, LogKind
from kevy_persist.layout import names as layout_names

LOGGER = logging.getLogger("kevy_persist.engine.shard_opening")
# An open reports its progress (bytes of the shard's files read) about this often.
PROGRESS_STEP_BYTES = 1 << 20
_NEVER = 1 << 62

OpenProgress = Callable[[int], None]  # bytes of this shard's snapshot and log read so far


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
    file_system: FileSystem, path: str, keyspace: Keyspace, plan: ReplayPlan, now_ms: int,
    log_end_offset: int | None = None,
) -> tuple[TransactionReplayer, int]:
    """Replay the plan's part of the log into `keyspace` (up to `log_end_offset`, a record
    boundary, when given), transaction blocks held back until they commit; (the replayer,
    bytes replayed). Shared by the re-shard's sources and undoing refused writes (opening
    replays while it scans: `_ReplayWhileScanning`)."""
    replayer = TransactionReplayer(replayer_for(keyspace, now_ms))
    replayed_bytes = 0
    entries = aof.iter_log(file_system, path, start_offset=plan.log_start_offset)
    for position, entry in enumerate(entries):
        if log_end_offset is not None and entry.end_offset > log_end_offset:
            break
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


def load_shard_read_only(file_system: FileSystem, directory: str, index: int, now_ms: int,
                         log_end_offset: int | None = None) -> ShardReading:
    """Rebuild shard `index` of `directory` in memory; the files are never written.

    A torn log tail is left out (and described by `log_scan`), as open would quarantine it;
    damage followed by valid records raises `CorruptionError`, as open would. With
    `log_end_offset`, only the log's records that end by that offset are replayed.
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
        replayer, replayed_bytes = replay_log_into(file_system, log_path, keyspace, plan, now_ms, log_end_offset)
    return ShardReading(
        keyspace=keyspace,
        snapshot=loaded,
        log_scan=log_scan,
        snapshot_keys=snapshot_keys,
        replayed_commands=replayer.applied_count if replayer is not None else 0,
        replayed_bytes=replayed_bytes,
        discarded_transaction_commands=replayer.discarded_commands if replayer is not None else 0,
    )


class _ReplayWhileScanning:
    """Rebuilds a shard from the records the log's open scan hands over (`aof_scan.scan_log`'s
    `consume`), so opening reads and checksums the log once: the first record (the epoch
    marker, or a legacy log's first command) settles the replay plan, every later one is
    replayed as it is read, from the plan's start offset on."""

    def __init__(self, log_path: str, loaded: Any, strings: dict[bytes, bytes], now_ms: int,
                 progress: OpenProgress | None = None) -> None:
        self.log_path = log_path
        self.loaded = loaded
        self.strings = strings
        self.now_ms = now_ms
        self.plan: ReplayPlan | None = None
        self.keyspace = Keyspace()
        self.snapshot_keys = 0
        self.replayer: TransactionReplayer | None = None
        self.replayed_bytes = 0
        # One comparison per record: without a callback the next report is never due.
        self._progress = progress
        self._snapshot_bytes = loaded.size_bytes if loaded is not None else 0
        self._next_report_offset = PROGRESS_STEP_BYTES if progress is not None else _NEVER

    def report(self, end: int) -> None:
        assert self._progress is not None
        self._next_report_offset = end + PROGRESS_STEP_BYTES
        self._progress(self._snapshot_bytes + end)

    def start(self, log_present: bool, identity: LogIdentity | None) -> None:
        self.plan = _plan(self.log_path, self.loaded, log_present, identity)
        self.keyspace, self.snapshot_keys = _keyspace_for(self.loaded, self.strings, self.plan)
        if self.plan.replay_log:
            self.replayer = TransactionReplayer(replayer_for(self.keyspace, self.now_ms))

    def __call__(self, start: int, end: int, argv: list[bytes]) -> None:
        if end >= self._next_report_offset:
            self.report(end)
        if self.plan is None:
            marker = parse_epoch_marker(argv)  # the scan has checked a marker's form already
            self.start(True, _identity(marker))
            if marker is not None:
                return  # the log's identity, not a command (a marker only ever comes first)
        replayer = self.replayer
        if replayer is None:
            return
        start_offset = self.plan.log_start_offset  # type: ignore[union-attr]
        if start_offset is not None and start < start_offset:
            return
        replayer.feed(start, argv)
        self.replayed_bytes += end - start


def open_shard(file_system: FileSystem, clock: Clock, options: ShardOptions,
               progress: OpenProgress | None = None) -> Shard:
    """Recover shard `options.index` of `options.directory` and open it for appends.

    `progress(bytes)` is called with the bytes of the shard's snapshot and log read so far:
    once the snapshot is loaded, then about every MiB of log replayed (a server's LOADING)."""
    snapshot_path = join(options.directory, layout_names.snapshot_name(options.file_index))
    log_path = join(options.directory, layout_names.log_name(options.file_index))
    loaded, strings = _load_snapshot(file_system, snapshot_path, clock.now_ms())
    if progress is not None and loaded is not None:
        progress(loaded.size_bytes)
    log_present = options.log_enabled and file_system.exists(log_path)
    writer = None
    log_report = None
    identity = None
    rebuild = _ReplayWhileScanning(log_path, loaded, strings, clock.now_ms(), progress)
    if log_present:
        writer, log_report = aof.open_log(
            file_system, log_path, clock,
            format_version=options.log_format,
            truncate_corruption=options.truncate_corruption,
            policy=options.fsync_policy,
            consume=rebuild,
        )
        identity = _identity(log_report.epoch_marker)
    if rebuild.plan is None:  # no log, or a log without records: the plan from the files alone
        rebuild.start(log_present, identity)
    plan = rebuild.plan
    assert plan is not None
    keyspace, snapshot_keys = rebuild.keyspace, rebuild.snapshot_keys
    replayer, replayed_bytes = rebuild.replayer, rebuild.replayed_bytes
    discarded_bytes = 0
    if replayer is not None and replayer.open_block_offset is not None:
        discarded_bytes = writer.end_offset - replayer.open_block_offset
        LOGGER.warning(
            "%s: discarded %d bytes at byte %d, a transaction block the crash cut before its "
            "commit marker (never acknowledged; none of it is applied)",
            log_path, discarded_bytes, replayer.open_block_offset,
        )
    epoch = identity.epoch if identity is not None else 0
    shard = Shard(file_system, clock, options, keyspace, writer, epoch)
    shard.rebuild_from_files = _rebuilder(file_system, clock, options)
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


def _rebuilder(file_system: FileSystem, clock: Clock, options: ShardOptions) -> Any:
    """How the shard undoes refused writes: its state as the files hold it up to an offset
    of the live log (the snapshot, then the log's records that end by that offset)."""
    def rebuild(log_end_offset: int) -> Keyspace:
        reading = load_shard_read_only(file_system, options.directory, options.file_index, clock.now_ms(), log_end_offset)
        return reading.keyspace
    return rebuild


def _identity(marker: Any) -> LogIdentity | None:
    if marker is None:
        return None
    return LogIdentity(marker.epoch, LogKind(marker.kind))


def _first_log_identity(loaded: Any) -> LogIdentity:
    if loaded is None:
        return LogIdentity(1, LogKind.BASE)
    covered_epoch = loaded.covered.epoch if loaded.covered is not None else 0
    return LogIdentity(covered_epoch + 1, LogKind.INCREMENTAL)
