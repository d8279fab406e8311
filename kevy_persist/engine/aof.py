"""The append-only log over a `FileSystem`: open (scan, quarantine, truncate), replay, append.

Opening scans the file (`aof_scan.scan_log`: clean, torn tail or corruption). A torn tail (or, on request, corruption) is copied to `path + ".corrupt-quarantine.<secs>"`
(written, fsynced, directory fsynced) and the log is truncated to the valid prefix and fsynced,
so new appends never land behind garbage. Corruption otherwise raises `CorruptionError`.

Writing: `LogWriter` appends records in the file's format and fsyncs on request. After an
fsync that made at least another page of the log durable, the next append starts with a
synced marker naming the offset that fsync covered (`log_markers.synced_marker_argv`): the
evidence `aof_scan` uses to tell a lost page of unsynced appends (a crash artefact, cut) from
a hole in data the log proves durable (damage, refused). It rides in the next append's one
write, so it costs no write and no fsync of its own, and at most one per 4 KiB of log. It never
decides when to fsync -- `FsyncSchedule` says when one is due and the store's runtime does it
(group commit). After a failed fsync the writer refuses everything (DESIGN §3: an fsync
error is never retried and trusted); only a freshly written file is trusted again. After a
failed write it refuses further writes (the failed one may have left part of a record at the
end, and nothing may follow it) but still fsyncs: the records before the failed one are
whole, and making them durable is what their waiting writers were promised; the partial
record behind them is a torn tail the next open quarantines.
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, WritableFile, parent
from kevy_persist.engine.log_compat import for_kevy_1_23, records_for_format
from kevy_persist.errors import CorruptionError, KevyError, QuarantineError, StorageIOError
from kevy_persist.formats.aof_format import (
    EpochMarker,
    encode_record,
    encode_records,
    epoch_marker_argv,
    header_for,
    is_epoch_marker,
)
from kevy_persist.formats.aof_scan import (
    CHUNK_BYTES,
    LogEntry,
    LogScan,
    RecordConsumer,
    StopKind,
    iter_log,
    scan_log,
)
from kevy_persist.formats.log_markers import synced_marker_argv

__all__ = [
    "EpochMarker", "FsyncPolicy", "FsyncSchedule", "LogEntry", "LogOpenReport", "LogScan",
    "LogWriter", "LogWriterFailedError", "StopKind", "create_log", "install_log", "is_epoch_marker",
    "iter_log", "open_log", "scan_log", "start_log_temp",
]

LOGGER = logging.getLogger("kevy_persist.engine.aof")
QUARANTINE_INFIX = ".corrupt-quarantine."
TEMP_SUFFIX = ".tmp"
REWRITE_BATCH_RECORDS = 4096
# A synced marker is written once an fsync made this much more of the log durable than the
# last marker claimed: holes are page-shaped, so a finer claim would prove little more.
SYNCED_MARKER_SPACING_BYTES = 4096


class FsyncPolicy(enum.Enum):
    ALWAYS = "always"
    EVERYSEC = "everysec"
    NO = "no"


class LogWriterFailedError(StorageIOError):
    """The writer failed a write or fsync earlier and refuses further appends and fsyncs."""


@attrs.frozen
class LogOpenReport:
    path: str
    format_version: int
    created: bool
    file_size_bytes: int  # before any repair
    valid_end_offset: int
    record_count: int
    epoch_marker: EpochMarker | None
    stop: StopKind
    dropped_bytes: int
    quarantine_path: str | None
    corruption_offset: int | None  # set only when damage was followed by valid records
    reason: str


# --------------------------------------------------------------------------- fsync policy


class FsyncSchedule:
    """When an fsync is due under a policy (pure; the runtime performs it)."""

    def __init__(self, policy: FsyncPolicy, last_sync_monotonic_ms: int = 0) -> None:
        self.policy = FsyncPolicy(policy)
        self.dirty = False
        self.last_sync_monotonic_ms = last_sync_monotonic_ms

    def after_append(self) -> bool:
        """Note an append; True when the record must be fsynced before the reply (`always`)."""
        self.dirty = True
        return self.policy is FsyncPolicy.ALWAYS

    def tick(self, monotonic_ms: int) -> bool:
        """True when an `everysec` fsync is due: dirty and >= 1000 ms since the last one."""
        return (
            self.policy is FsyncPolicy.EVERYSEC
            and self.dirty
            and monotonic_ms - self.last_sync_monotonic_ms >= 1000
        )

    def note_synced(self, monotonic_ms: int) -> None:
        self.dirty = False
        self.last_sync_monotonic_ms = monotonic_ms


# --------------------------------------------------------------------------- writing


class LogWriter:
    """Appends records to an open log; the file's format never changes."""

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        handle: WritableFile,
        format_version: int,
        end_offset: int,
        clock: Clock | None = None,
        policy: FsyncPolicy = FsyncPolicy.EVERYSEC,
    ) -> None:
        assert format_version in (1, 2), format_version
        self.fs = fs
        self.path = path
        self.format_version = format_version
        self.end_offset = end_offset
        self.synced_offset = end_offset
        self.write_sequence = 0
        self.failure: str | None = None  # refuses writes and fsyncs
        self.write_failure: str | None = None  # refuses writes only
        # The offset the last synced marker claimed, and the one the next append will claim
        # (set by fsync, which the group-commit leader runs outside the shard lock: a claim
        # read and cleared by an append racing a newer one is merely a weaker proof).
        self.claimed_offset = 0
        self._pending_claim: int | None = None
        self.schedule = FsyncSchedule(policy, clock.monotonic_ms() if clock is not None else 0)
        self._clock = clock
        self._handle: WritableFile | None = handle

    @property
    def size_bytes(self) -> int:
        return self.end_offset

    @property
    def policy(self) -> FsyncPolicy:
        return self.schedule.policy

    @policy.setter
    def policy(self, policy: FsyncPolicy) -> None:
        self.schedule.policy = FsyncPolicy(policy)

    @property
    def failed(self) -> bool:
        return self.failure is not None or self.write_failure is not None

    def _refuse_if_failed(self, operation: str) -> WritableFile:
        if self.failure is not None:
            raise LogWriterFailedError(self.path, operation, None, f"log failed earlier: {self.failure}")
        assert self._handle is not None, "the log writer is closed"
        return self._handle

    def _write(self, data: bytes) -> int:
        handle = self._refuse_if_failed("write")
        if self.write_failure is not None:
            raise LogWriterFailedError(self.path, "write", None, f"log failed earlier: {self.write_failure}")
        try:
            handle.write(data)
        except StorageIOError as error:
            # A short write leaves unknown bytes at the end: nothing more may follow them.
            self.write_failure = f"write failed: {error.reason}"
            raise
        self.end_offset += len(data)
        self.write_sequence += 1
        self.schedule.after_append()
        return self.end_offset

    def append(self, argv: Sequence[bytes]) -> int:
        """Append one command; returns the new end offset."""
        if self.format_version == 1:
            argv = for_kevy_1_23(argv)  # format 1 stays replayable by kevy 1.23
        data = encode_record(self.format_version, argv)
        if self._pending_claim is not None:
            data = self._synced_marker() + data
        return self._write(data)

    def append_many(self, argvs: Iterable[Sequence[bytes]]) -> int:
        """Append several commands with one write; returns the new end offset."""
        data = encode_records(self.format_version, records_for_format(self.format_version, argvs))
        if not data:
            return self.end_offset
        if self._pending_claim is not None:
            data = self._synced_marker() + data
        return self._write(data)

    def append_encoded(self, data: bytes) -> int:
        """Append records already encoded in this log's format (by a caller that batches
        several commands' records into one write); returns the new end offset."""
        if not data:
            return self.end_offset
        if self._pending_claim is not None:
            data = self._synced_marker() + data
        return self._write(data)

    def _synced_marker(self) -> bytes:
        claim = self._pending_claim
        assert claim is not None and claim <= self.end_offset, (claim, self.end_offset)
        self._pending_claim = None
        self.claimed_offset = claim
        return encode_record(self.format_version, synced_marker_argv(claim, self.format_version))

    def fsync(self) -> int:
        """Make every appended byte durable; returns the end offset that is now covered."""
        handle = self._refuse_if_failed("fsync")
        covered = self.end_offset
        try:
            handle.fsync()
        except StorageIOError as error:
            self.failure = f"fsync failed: {error.reason}"
            raise
        self.synced_offset = covered
        self.schedule.note_synced(self._clock.monotonic_ms() if self._clock is not None else 0)
        if covered >= self.claimed_offset + SYNCED_MARKER_SPACING_BYTES:
            self._pending_claim = covered  # only now: the claim must be true when written
        return covered

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# --------------------------------------------------------------------------- open / create


def _quarantine(fs: FileSystem, path: str, start: int, file_size: int, clock: Clock) -> str:
    """Copy bytes `[start, file_size)` of `path` to a new quarantine file, durably."""
    base = path + QUARANTINE_INFIX + str(clock.now_ms() // 1000)
    target = base
    suffix = 1
    while fs.exists(target):
        target = f"{base}.{suffix}"
        suffix += 1
    source = fs.open_read(path)
    try:
        sink = fs.open_write(target)
    except StorageIOError as error:
        source.close()
        raise QuarantineError(path, start, file_size - start, target, error) from error
    try:
        source.seek(start)
        remaining = file_size - start
        while remaining > 0:
            chunk = source.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            sink.write(chunk)
            remaining -= len(chunk)
        sink.fsync()
    except StorageIOError as error:
        # A full disk: leave no partial copy behind (nothing else was changed yet), and say
        # how much room the copy needs.
        sink.close()
        source.close()
        discard_temp(fs, target)
        raise QuarantineError(path, start, file_size - start, target, error) from error
    sink.close()
    source.close()
    fs.fsync_dir(parent(path))
    return target


def _write_fresh_header(fs: FileSystem, path: str, format_version: int) -> WritableFile:
    """Start an existing log with no record in it (empty, or a torn header) over in place.

    Nothing is synced here, on purpose. The bytes: a crash before the log's next fsync leaves
    an empty or torn-header file again, which the next open repairs the same way, and that
    fsync (before any write it makes durable is acknowledged) covers the header too. The
    name: the file was found at `path`, and an open trusts the names it finds, as it does for
    a log with records (it appends to those without an fsync_dir either)."""
    handle = fs.open_write(path)
    handle.write(header_for(format_version))
    return handle


def open_log(
    fs: FileSystem,
    path: str,
    clock: Clock,
    *,
    format_version: int = 2,
    truncate_corruption: bool = False,
    policy: FsyncPolicy = FsyncPolicy.EVERYSEC,
    consume: RecordConsumer | None = None,
) -> tuple[LogWriter, LogOpenReport]:
    """Open the existing log at `path` for appends, repairing a torn tail first.

    An existing file keeps its format; `format_version` applies to an empty one (or one whose
    header is torn). A missing file is the door's error: a new log is made by a durable
    replace (`start_log_temp` + `install_log`), never here.
    `consume` receives every valid record as the scan reads it (`aof_scan.scan_log`).
    """
    assert format_version in (1, 2), format_version
    if fs.size(path) == 0:
        handle = _write_fresh_header(fs, path, format_version)
        size = len(header_for(format_version))
        writer = LogWriter(fs, path, handle, format_version, size, clock, policy)
        report = LogOpenReport(path, format_version, True, 0, size, 0, None, StopKind.CLEAN, 0, None, None, "")
        return writer, report
    scan = scan_log(fs, path, consume)
    if scan.format_version is None and scan.stop is StopKind.CORRUPTION:
        raise CorruptionError(path, 0, scan.reason)
    if scan.stop is StopKind.CORRUPTION and not truncate_corruption:
        assert scan.damage_offset is not None
        raise CorruptionError(
            path, scan.damage_offset, f"{scan.reason}; valid records follow at byte {scan.resume_offset}"
        )
    quarantine_path = None
    dropped = scan.file_size_bytes - scan.valid_end_offset
    if dropped > 0:
        quarantine_path = _quarantine(fs, path, scan.valid_end_offset, scan.file_size_bytes, clock)
        what = ("cut at corruption (truncate_corruption)" if scan.stop is StopKind.CORRUPTION
                else "a torn tail (a crash artefact)")
        LOGGER.warning("%s: dropped %d bytes at byte %d, %s: %s; kept in %s",
                       path, dropped, scan.valid_end_offset, what, scan.reason, quarantine_path)
    if scan.format_version is None:
        # A torn header: nothing in the file is a record. Start over with a fresh header.
        handle = _write_fresh_header(fs, path, format_version)
        file_format, end_offset = format_version, len(header_for(format_version))
    else:
        handle = fs.open_append(path)
        if dropped > 0:
            try:
                handle.truncate(scan.valid_end_offset)
                handle.fsync()
            except BaseException:
                handle.close()
                raise
        file_format, end_offset = scan.format_version, scan.valid_end_offset
    writer = LogWriter(fs, path, handle, file_format, end_offset, clock, policy)
    report = LogOpenReport(
        path=path,
        format_version=file_format,
        created=False,
        file_size_bytes=scan.file_size_bytes,
        valid_end_offset=end_offset,
        record_count=scan.record_count,
        epoch_marker=scan.epoch_marker,
        stop=scan.stop,
        dropped_bytes=dropped,
        quarantine_path=quarantine_path,
        corruption_offset=scan.damage_offset if scan.stop is StopKind.CORRUPTION else None,
        reason=scan.reason,
    )
    return writer, report


def start_log_temp(
    fs: FileSystem,
    temp_path: str,
    format_version: int,
    epoch_marker: EpochMarker | None,
    records: Iterable[Sequence[bytes]] = (),
    *,
    clock: Clock | None = None,
) -> LogWriter:
    """Write a fresh log (header, marker, records) at `temp_path`; the writer stays open so a
    background rewrite can append the tee before `install_log`. Nothing is fsynced yet."""
    handle = fs.open_write(temp_path)
    head = [header_for(format_version)]
    if epoch_marker is not None:
        head.append(encode_record(format_version, epoch_marker_argv(epoch_marker, format_version)))
    data = b"".join(head)
    try:
        handle.write(data)
        writer = LogWriter(fs, temp_path, handle, format_version, len(data), clock)
        # In batches: a rewrite streams a whole keyspace through here, and one joined write of
        # it would hold a second copy of the keyspace in memory.
        iterator = iter(records)
        while batch := list(itertools.islice(iterator, REWRITE_BATCH_RECORDS)):
            writer.append_many(batch)
    except BaseException:
        handle.close()
        discard_temp(fs, temp_path)  # a full disk must not keep a partial temp around
        raise
    return writer


def discard_temp(fs: FileSystem, temp_path: str) -> None:
    """Remove a temp file a failed save or rewrite leaves (best effort: the failure that got
    us here is the one to report; a temp that survives is removed by the next open)."""
    try:
        if fs.exists(temp_path):
            fs.remove(temp_path)
    except KevyError:
        pass


def install_log(fs: FileSystem, temp_writer: LogWriter, path: str, *, clock: Clock | None = None,
                policy: FsyncPolicy | None = None,
                on_renamed: Callable[[LogWriter], None] | None = None) -> LogWriter:
    """fsync the temp log, rename it over `path`, fsync the directory; returns a writer on `path`.

    A failure before the rename removes the temp: the old log stays the live one. After the
    rename the new file is the live log whatever happens next, so `on_renamed` gets its writer
    *before* the fsync_dir: a caller holding the old writer switches even if that fails."""
    try:
        temp_writer.fsync()
        end_offset = temp_writer.end_offset
        temp_writer.close()
        fs.rename(temp_writer.path, path)
    except BaseException:
        temp_writer.close()
        discard_temp(fs, temp_writer.path)
        raise
    handle = fs.open_append(path)
    assert handle.tell() == end_offset, (handle.tell(), end_offset)
    writer = LogWriter(fs, path, handle, temp_writer.format_version, end_offset, clock,
                       temp_writer.policy if policy is None else policy)
    if on_renamed is not None:
        on_renamed(writer)
    fs.fsync_dir(parent(path))
    return writer


def create_log(
    fs: FileSystem,
    path: str,
    format_version: int,
    epoch_marker: EpochMarker | None,
    records: Iterable[Sequence[bytes]] = (),
    *,
    clock: Clock | None = None,
) -> LogWriter:
    """Durably replace `path` by a fresh log (header, marker, records); the writer is at its end."""
    temp_writer = start_log_temp(fs, path + TEMP_SUFFIX, format_version, epoch_marker, records, clock=clock)
    return install_log(fs, temp_writer, path, clock=clock)
