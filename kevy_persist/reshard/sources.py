"""Reading one shard's files without changing them: the re-shard's sources.

`open_shard` (engine/shard_opening.py) recovers a shard *for appends*: it quarantines a torn log tail,
truncates the log, finishes an interrupted save. A re-shard must not do any of that to its
sources -- until the commit point they are the only copy, and a discarded attempt must leave
them byte for byte as they were. This module applies the same history rules
(`history.plan_replay`, specs/shard-history.md) read-only:

- `inspect_shard(fs, directory, index)` reads the snapshot bytes and scans the log (no
  repair) and decides the plan: which snapshot and which part of the log make up the state,
  and whether the log *adds* anything after the snapshot. A shard whose log adds nothing
  (no log, an empty reset log, a log whose valid end is the covered offset) can be moved
  as raw snapshot records (`ShardSource.raw_copy_possible`);
- `load_keyspace_read_only(fs, directory, index, now_ms)` builds the shard's `Keyspace`:
  the snapshot (if the plan needs it), then the log replayed from the planned offset, with
  transaction blocks held back until they commit. A torn tail is simply where replay stops
  (the file is not touched); damage followed by valid records raises `CorruptionError`, as
  `open_shard` does; a gap in history raises `HistoryGapError`.

The result equals what `open_shard` would load from the same files (tested on the fixtures
and in the re-shard sweeps).
"""

from __future__ import annotations

import attrs

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine import aof
from kevy_persist.engine.aof import StopKind
from kevy_persist.engine.history import HistoryDecision, ReplayPlan, plan_replay
from kevy_persist.errors import CorruptionError, HistoryGapError
from kevy_persist.formats.log_markers import marker_name
from kevy_persist.formats.positions import LogIdentity, LogKind, LogPosition
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import TRAILER_MAGIC, TRAILER_SIZE, WRITE_VERSION
from kevy_persist.formats.snapshot_raw import snapshot_version
from kevy_persist.layout import names as layout_names


@attrs.frozen
class ShardSource:
    """What one shard's files hold, and how to read them (see `inspect_shard`)."""

    index: int
    snapshot_path: str
    log_path: str
    snapshot_data: bytes | None = attrs.field(repr=False)
    snapshot_version: int | None
    covered: LogPosition | None
    log_scan: aof.LogScan | None
    plan: ReplayPlan
    log_adds_records: bool

    @property
    def is_empty(self) -> bool:
        """No snapshot to load and no log record to replay."""
        return not (self.plan.load_snapshot and self.snapshot_data is not None) and not self.log_adds_records

    @property
    def raw_copy_possible(self) -> bool:
        """The state is exactly the snapshot's records, and they are position-independent:
        version 4 only (version-2 TTLs are relative; a version-3 stream record lacks the
        group section the version-4 target files need)."""
        return (
            self.plan.load_snapshot
            and self.snapshot_data is not None
            and not self.log_adds_records
            and self.snapshot_version == WRITE_VERSION
        )


def _peek_covered(data: bytes, path: str) -> LogPosition | None:
    """The covered position our trailer names, read without decoding the records.

    Planning needs it before the records are walked; the walk (raw or full decode) then
    verifies the trailer's checksum, so a damaged file still fails loudly before use.
    """
    if len(data) < TRAILER_SIZE + 10 or data[-TRAILER_SIZE : -TRAILER_SIZE + 8] != TRAILER_MAGIC:
        return None
    if data[-TRAILER_SIZE - 1] != 0:
        return None
    # Fields after the magic: version u8, flags u8, epoch u64, offset u64 (snapshot_format).
    start = len(data) - TRAILER_SIZE + 8
    flags = data[start + 1]
    if not flags & 1:
        return None
    epoch = int.from_bytes(data[start + 2 : start + 10], "little")
    offset = int.from_bytes(data[start + 10 : start + 18], "little")
    return LogPosition(epoch, offset)


def _identity(scan: aof.LogScan | None) -> LogIdentity | None:
    if scan is None or scan.epoch_marker is None:
        return None
    return LogIdentity(scan.epoch_marker.epoch, LogKind(scan.epoch_marker.kind))


def _log_adds_records(fs: FileSystem, path: str, scan: aof.LogScan, plan: ReplayPlan) -> bool:
    """Does replaying the plan's part of the log change anything? (first record decides)."""
    if not plan.replay_log or scan.format_version is None:
        return False
    if plan.log_start_offset is not None and plan.log_start_offset >= scan.valid_end_offset:
        return False
    for entry in aof.iter_log(fs, path, start_offset=plan.log_start_offset):
        if marker_name(entry.argv) is None:  # a command (markers carry only structure)
            return True
    return False


def inspect_shard(fs: FileSystem, directory: str, index: int, *, log_enabled: bool = True) -> ShardSource:
    """Read shard `index`'s snapshot bytes and scan its log; plan the load (no file changes)."""
    snapshot_path = join(directory, layout_names.snapshot_name(index))
    log_path = join(directory, layout_names.log_name(index))
    snapshot_data = fs.read_bytes(snapshot_path) if fs.exists(snapshot_path) else None
    version = snapshot_version(snapshot_data, snapshot_path) if snapshot_data is not None else None
    covered = _peek_covered(snapshot_data, snapshot_path) if snapshot_data is not None else None
    scan = aof.scan_log(fs, log_path) if log_enabled and fs.exists(log_path) else None
    if scan is not None and scan.stop is StopKind.CORRUPTION:
        offset = scan.damage_offset if scan.damage_offset is not None else 0
        raise CorruptionError(log_path, offset, f"{scan.reason}; valid records follow at byte {scan.resume_offset}")
    decision, plan, reason = plan_replay(snapshot_data is not None, covered, scan is not None, _identity(scan))
    if decision is HistoryDecision.MISSING_HISTORY:
        raise HistoryGapError(log_path, reason)
    assert plan is not None
    adds = scan is not None and _log_adds_records(fs, log_path, scan, plan)
    return ShardSource(index, snapshot_path, log_path, snapshot_data, version, covered, scan, plan, adds)


def load_source(fs: FileSystem, source: ShardSource, now_ms: int) -> Keyspace:
    """The keyspace `source` describes (snapshot, then the planned part of its log)."""
    from kevy_persist.engine.shard_opening import replay_log_into  # opening imports the re-shard, which imports this

    keyspace = Keyspace()
    if source.plan.load_snapshot and source.snapshot_data is not None:
        strings: dict[bytes, bytes] = {}
        decoded = decode_snapshot(source.snapshot_data, source.snapshot_path, now_ms=now_ms, strings_into=strings)
        keyspace = Keyspace.from_snapshot(strings, decoded.records)
    if source.log_adds_records:
        replay_log_into(fs, source.log_path, keyspace, source.plan, now_ms)
    return keyspace


def load_keyspace_read_only(
    fs: FileSystem, directory: str, index: int, now_ms: int, *, log_enabled: bool = True
) -> Keyspace:
    """Shard `index`'s state as `open_shard` would load it, without changing any file."""
    return load_source(fs, inspect_shard(fs, directory, index, log_enabled=log_enabled), now_ms)
