"""Re-shard: re-home every key of a data dir under a new (shard count, routing), crash-safe.

`reconcile_layout(fs, directory, requested, clock)` is what opening a data dir does
(the embedded store, the server and `kevy-persist reshard` all call it):
1. finish or discard an interrupted re-shard (`reshard_recovery`), before anything else;
2. read the layout (`layout.read_layout`: `shards.meta` v1/v2, else the legacy count
   inferred from file names, else fresh);
3. resolve what was asked (`LayoutRequest`: a shard count and a routing, each None to keep
   what the dir records) and, if it differs from the layout found, re-shard (`reshard`).
   Nothing re-shards unless a caller asked for another count or routing.

`reshard(fs, directory, source, target, clock)` is the protocol of specs/reshard.md (the
phase table is `reshard_protocol.TRANSITIONS`):
- every old shard is read into *its own* keyspace, read-only (`shard_reader`), one at a
  time, so a FLUSHALL in one source's log cannot touch another source's keys and memory
  holds one source, not the whole keyspace. A source whose log adds nothing after its
  snapshot is not decoded at all: its records are routed by key and copied as raw bytes
  (`snapshot_raw`);
- every key is routed under the target layout and appended to the new shard's snapshot
  `dump-{i}.rdb.reshard`; each is fsynced, then the directory (the temps' names);
- `reshard.journal` (kevy's text) is written and fsynced, then the directory: the commit
  point. A failure before it abandons the attempt (old layout intact); after it,
  `reshard_recovery.finish_committed` installs the new layout, and a crash anywhere is
  rolled forward by the next open.
Keys appear in the new shards in source order; a key present in two sources (a stray
that did not route to its shard) keeps the later source's value, as a merged load would.
A source whose log ends in a torn tail contributes its valid prefix; the tail's bytes are not
carried over (they stay in the source's `.premigration.` backup), and the report and one
WARNING line per such source say how many bytes and where they are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, WritableFile, join
from kevy_persist.engine.aof import StopKind
from kevy_persist.errors import KevyError
from kevy_persist.formats.snapshot_format import encode_snapshot
from kevy_persist.formats.snapshot_raw import RawSnapshotWriter
from kevy_persist.layout.meta import LayoutReading, ShardLayout, read_layout
from kevy_persist.layout.names import (
    RESHARD_JOURNAL_NAME,
    FileRole,
    ReshardJournal,
    classify,
    encode_reshard_journal,
    log_name,
    premigration_name,
    reshard_temp_name,
    snapshot_name,
)
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard.protocol import Phase, PhaseListener, PhaseTracker, may_abort
from kevy_persist.reshard.recovery import RecoveryReport, finish_committed, recover_interrupted_reshard
from kevy_persist.reshard.route import RoutedBatch, route_records
from kevy_persist.reshard.sources import inspect_shard, load_source

LOGGER = logging.getLogger("kevy_persist.reshard")

# Entries re-encoded per batch when a source had to be decoded (its log adds records).
ENCODE_BATCH_ENTRIES = 4096

# (bytes of source files processed, total bytes of source files)
ProgressCallback = Callable[[int, int], None]


@attrs.frozen
class LayoutRequest:
    """The layout an opener asks for; None keeps what the dir records (a fresh dir: 1 shard
    by KevyHash). Asking for a count alone keeps the recorded routing, and the other way."""

    shard_count: int | None = None
    routing: Routing | None = None

    def resolve(self, found: ShardLayout | None) -> ShardLayout:
        return ShardLayout(
            self.shard_count if self.shard_count is not None else (found.shard_count if found else 1),
            self.routing if self.routing is not None else (found.routing if found else Routing.KEVYHASH),
        )


@attrs.frozen
class TornSource:
    """A source shard whose log ended in a torn tail: its bytes past `valid_end_offset` were
    not re-sharded; the whole log is kept as `kept_in` (its premigration backup)."""

    index: int
    log_path: str
    valid_end_offset: int
    dropped_bytes: int
    kept_in: str


@attrs.frozen
class ReshardReport:
    source: ShardLayout
    target: ShardLayout
    stamp_ns: int
    record_count: int  # records written to the new shards (= keys, barring strays)
    raw_sources: tuple[int, ...]  # sources moved as raw records (never decoded)
    decoded_sources: tuple[int, ...]  # sources loaded into a keyspace (their log adds records)
    written_bytes: int
    source_bytes: int
    elapsed_ms: int
    torn_sources: tuple[TornSource, ...] = ()

    @property
    def dropped_bytes(self) -> int:
        return sum(torn.dropped_bytes for torn in self.torn_sources)


@attrs.frozen
class ReconcileReport:
    recovery: RecoveryReport
    found: LayoutReading  # the layout on disk after recovery, before any re-shard
    reshard: ReshardReport | None
    layout: ShardLayout  # the layout the dir has now (the request, resolved)


def _source_size_bytes(fs: FileSystem, directory: str, index: int) -> int:
    total = 0
    for name in (snapshot_name(index), log_name(index)):
        path = join(directory, name)
        if fs.exists(path):
            total += fs.size(path)
    return total


def _encoded_batches(keyspace: Any, target: ShardLayout) -> Iterator[tuple[RoutedBatch, int]]:
    """A decoded source as routed raw records, re-encoded `ENCODE_BATCH_ENTRIES` at a time;
    with the number of entries consumed so far."""
    entries = keyspace.iter_entries()
    consumed = 0
    while batch := list(islice(entries, ENCODE_BATCH_ENTRIES)):
        consumed += len(batch)
        data = encode_snapshot(batch, None)
        for routed in route_records(data, "<re-encoded source>", target.shard_count, target.routing):
            yield routed, consumed


class _Targets:
    """The new shards' temp snapshots being written, and the routing into them."""

    def __init__(self, fs: FileSystem, directory: str, target: ShardLayout) -> None:
        self.handles: list[WritableFile] = []
        self.writers: list[RawSnapshotWriter] = []
        for index in range(target.shard_count):
            handle = fs.open_write(join(directory, reshard_temp_name(index)))
            self.handles.append(handle)
            self.writers.append(RawSnapshotWriter(handle))

    def append(self, routed: RoutedBatch) -> None:
        """Append each bucket of record slices to its new shard's temp snapshot."""
        buckets, record_count, _ = routed
        assert len(buckets) == len(self.writers)
        for writer, bucket in zip(self.writers, buckets):
            if bucket:
                # One record per slice, except the single-shard case: one slice per batch.
                count = record_count if len(self.writers) == 1 else len(bucket)
                writer.write_records(b"".join(bucket), count)

    def finish(self) -> int:
        """End and fsync every temp; returns the bytes written."""
        for writer, handle in zip(self.writers, self.handles):
            writer.finish()
            handle.fsync()
        return sum(writer.size_bytes for writer in self.writers)

    @property
    def record_count(self) -> int:
        return sum(writer.record_count for writer in self.writers)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def _write_temps(
    fs: FileSystem,
    directory: str,
    source: ShardLayout,
    target: ShardLayout,
    now_ms: int,
    progress: ProgressCallback | None,
    torn: list[tuple[int, str, int, int]],
) -> tuple[_Targets, tuple[int, ...], tuple[int, ...], int, int]:
    """Write every new shard's temp snapshot; `torn` collects (index, log path, valid end,
    dropped bytes) of each source whose log ends in a torn tail."""
    sizes = [_source_size_bytes(fs, directory, index) for index in range(source.shard_count)]
    total_bytes = sum(sizes)
    done_bytes = 0
    raw: list[int] = []
    decoded: list[int] = []
    targets = _Targets(fs, directory, target)
    try:
        for index in range(source.shard_count):
            shard = inspect_shard(fs, directory, index)
            scan = shard.log_scan
            if scan is not None and scan.stop is StopKind.TORN_TAIL:
                torn.append((index, shard.log_path, scan.valid_end_offset, scan.file_size_bytes - scan.valid_end_offset))
            if shard.raw_copy_possible:
                raw.append(index)
                assert shard.snapshot_data is not None
                for routed in route_records(shard.snapshot_data, shard.snapshot_path, target.shard_count, target.routing):
                    targets.append(routed)
                    if progress is not None:
                        progress(done_bytes + min(routed[2], sizes[index]), total_bytes)
            elif not shard.is_empty:
                decoded.append(index)
                keyspace = load_source(fs, shard, now_ms)
                del shard  # the snapshot bytes are in the keyspace now
                total_entries = max(len(keyspace), 1)
                for routed, consumed in _encoded_batches(keyspace, target):
                    targets.append(routed)
                    if progress is not None:
                        progress(done_bytes + sizes[index] * consumed // total_entries, total_bytes)
                del keyspace
            done_bytes += sizes[index]
            if progress is not None:
                progress(done_bytes, total_bytes)
        written_bytes = targets.finish()
    except BaseException:
        targets.close()
        raise
    targets.close()
    return targets, tuple(raw), tuple(decoded), written_bytes, total_bytes


def write_journal(fs: FileSystem, directory: str, journal: ReshardJournal) -> None:
    handle = fs.open_write(join(directory, RESHARD_JOURNAL_NAME))
    try:
        handle.write(encode_reshard_journal(journal))
        handle.fsync()
    finally:
        handle.close()


def abandon_attempt(fs: FileSystem, directory: str, tracker: PhaseTracker) -> None:
    """Best-effort cleanup of an attempt that failed before its commit point.

    The journal may already be on disk once its write began: its removal must be durable
    before the temps go, or a crash could bring back a journal whose temps are gone. Any
    failure here leaves the files as they are; the next open recovers them consistently.
    """
    try:
        names = fs.list_dir(directory)
        if tracker.phase in (Phase.TEMPS_DURABLE, Phase.JOURNAL_WRITTEN) and RESHARD_JOURNAL_NAME in names:
            fs.remove(join(directory, RESHARD_JOURNAL_NAME))
            fs.fsync_dir(directory)
        for name in names:
            if classify(name).role is FileRole.RESHARD_TEMP:
                fs.remove(join(directory, name))
    except KevyError:
        pass
    tracker.advance(Phase.ABORTED)


def reshard(
    fs: FileSystem,
    directory: str,
    source: ShardLayout,
    target: ShardLayout,
    clock: Clock,
    *,
    progress: ProgressCallback | None = None,
    listener: PhaseListener | None = None,
) -> ReshardReport:
    """Move every key of `directory` from layout `source` to `target` (module docstring).

    The directory must hold no journal (run `recover_interrupted_reshard` first).
    """
    assert source != target, "nothing to re-shard"
    names = fs.list_dir(directory)
    assert RESHARD_JOURNAL_NAME not in names, "recover the interrupted re-shard first"
    started_ms = clock.monotonic_ms()
    stamp_ns = clock.now_ms() * 1_000_000
    tracker = PhaseTracker(listener)
    for name in names:
        if classify(name).role is FileRole.RESHARD_TEMP:
            fs.remove(join(directory, name))  # stale: from an attempt that never committed
    tracker.advance(Phase.STALE_TEMPS_REMOVED)
    journal = ReshardJournal(stamp_ns, source.shard_count, target.shard_count, target.routing)
    LOGGER.info(
        "re-sharding %d shards (%s) -> %d shards (%s)",
        source.shard_count, source.routing.value, target.shard_count, target.routing.value,
    )
    torn: list[tuple[int, str, int, int]] = []
    try:
        targets, raw, decoded, written_bytes, source_bytes = _write_temps(
            fs, directory, source, target, clock.now_ms(), progress, torn
        )
        tracker.advance(Phase.TEMPS_WRITTEN)
        fs.fsync_dir(directory)
        tracker.advance(Phase.TEMPS_DURABLE)
        write_journal(fs, directory, journal)
        tracker.advance(Phase.JOURNAL_WRITTEN)
        fs.fsync_dir(directory)
    except BaseException:
        if may_abort(tracker.phase):
            abandon_attempt(fs, directory, tracker)
        raise
    tracker.advance(Phase.COMMITTED)
    finish_committed(fs, directory, journal, tracker)
    torn_sources = tuple(
        TornSource(index, path, valid_end, dropped, join(directory, premigration_name(log_name(index), stamp_ns)))
        for index, path, valid_end, dropped in torn
    )
    for source_tail in torn_sources:
        LOGGER.warning(
            "%s: dropped %d bytes of a torn tail at byte %d while re-sharding (not acknowledged "
            "durable writes: a crash artefact); kept in %s",
            source_tail.log_path, source_tail.dropped_bytes, source_tail.valid_end_offset, source_tail.kept_in,
        )
    return ReshardReport(
        source=source,
        target=target,
        stamp_ns=stamp_ns,
        record_count=targets.record_count,
        raw_sources=raw,
        decoded_sources=decoded,
        written_bytes=written_bytes,
        source_bytes=source_bytes,
        elapsed_ms=clock.monotonic_ms() - started_ms,
        torn_sources=torn_sources,
    )


def summary_line(report: ReshardReport) -> str:
    """The one log line a re-shard leaves."""
    source, target = report.source, report.target
    return (
        f"re-sharded {source.shard_count} shards ({source.routing.value}) -> {target.shard_count} "
        f"shards ({target.routing.value}): {report.record_count} keys, "
        f"{len(report.raw_sources)} of {source.shard_count} sources copied raw, "
        f"{report.source_bytes} -> {report.written_bytes} bytes in {report.elapsed_ms} ms; "
        f"old files kept as *.premigration.{report.stamp_ns}"
        + (f"; {report.dropped_bytes} bytes of torn log tails dropped" if report.torn_sources else "")
    )


def reconcile_layout(
    fs: FileSystem,
    directory: str,
    requested: ShardLayout | LayoutRequest,
    clock: Clock,
    *,
    progress: ProgressCallback | None = None,
    listener: PhaseListener | None = None,
) -> ReconcileReport:
    """Make `directory` hold `requested`'s layout (module docstring); returns what happened.

    A fresh dir is left for the caller to record; so is a legacy dir already matching.
    """
    recovery = recover_interrupted_reshard(fs, directory, listener=listener)
    if recovery.journal is not None:
        LOGGER.info(
            "rolled forward an interrupted re-shard to %d shards (%s)",
            recovery.journal.shard_count, recovery.journal.routing.value,
        )
    elif recovery.removed:
        LOGGER.info("discarded an uncommitted re-shard attempt: removed %s", ", ".join(recovery.removed))
    found = read_layout(fs, directory)
    assert not found.journal_present, "recovery removes the journal"
    target = requested.resolve(found.layout) if isinstance(requested, LayoutRequest) else requested
    report = None
    if found.layout is not None and found.layout != target:
        report = reshard(fs, directory, found.layout, target, clock, progress=progress, listener=listener)
        LOGGER.info(summary_line(report))
    return ReconcileReport(recovery, found, report, target)
