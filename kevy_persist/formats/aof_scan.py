"""Reading a log: where its valid records stop and why, and streaming replay.

Scanning reads the file in chunks (memory bounded by the largest record) and classifies the
stop (specs/aof-format.md):
- clean: every byte belongs to a record;
- torn tail: an incomplete last record, a zero-filled tail, or bytes that do not parse with
  no valid record after them -- the normal artefact of a crash during an append;
- corruption: damage followed by at least one valid record (found by searching forward),
  unless the damage holds a page-shaped run of zeros: pages of unsynced appends that a crash
  lost out of order, a torn tail too (see `_classify_damage`) -- except when a synced marker
  after it claims the damaged bytes were fsynced: then the hole is in durable data.
Nothing here changes a file; `aof.open_log` repairs what a scan found.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import attrs

from kevy_persist.disk.fs import FileSystem, ReadableFile
from kevy_persist.errors import CorruptionError
from kevy_persist.formats.aof_format import (
    EpochMarker,
    RecordError,
    detect_format,
    is_epoch_marker,
    next_candidate,
    parse_epoch_marker,
    probe_record,
    read_record,
)
from kevy_persist.formats.log_markers import parse_synced_marker
from kevy_persist.formats.resp import NeedMore, PayloadDecoder

CHUNK_BYTES = 1 << 20


class StopKind(enum.Enum):
    CLEAN = "clean"
    TORN_TAIL = "torn_tail"
    CORRUPTION = "corruption"


@attrs.frozen
class LogEntry:
    offset: int
    end_offset: int
    argv: list[bytes]


@attrs.frozen
class LogScan:
    """Where a log's valid records stop, and why."""

    format_version: int | None  # None: the header itself is torn (or the file is empty)
    header_size: int
    file_size_bytes: int
    valid_end_offset: int
    record_count: int
    epoch_marker: EpochMarker | None
    stop: StopKind
    damage_offset: int | None  # where the first invalid byte is (None when clean)
    resume_offset: int | None  # the next valid record after damage (corruption only)
    reason: str


class _Window:
    """A sliding window of file bytes: `data` holds the file from `start` (absolute)."""

    def __init__(self, handle: ReadableFile, start: int, file_size: int) -> None:
        self.handle = handle
        self.file_size = file_size
        self.start = start
        handle.seek(start)
        self.data = b""

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def ensure(self, absolute_end: int) -> bool:
        """Read until the window reaches `absolute_end` (or EOF); True when it does."""
        while self.end < absolute_end and self.end < self.file_size:
            want = max(CHUNK_BYTES, absolute_end - self.end)
            chunk = self.handle.read(min(want, self.file_size - self.end))
            if not chunk:
                self.file_size = self.end  # the file shrank under us: treat as EOF
                break
            self.data += chunk
        return self.end >= absolute_end

    def drop_before(self, absolute: int) -> None:
        """Forget bytes before `absolute` once they are far enough behind (bounded memory)."""
        if absolute - self.start >= CHUNK_BYTES:
            self.data = self.data[absolute - self.start :]
            self.start = absolute


def _records(
    window: _Window, format_version: int, position: int, parse_after_first: bool = True
) -> Iterator[tuple[int, int, list[bytes]] | tuple[int, str]]:
    """Yield `(start, end, argv)` per valid record, then one `(stop_offset, reason)` if the
    records stop before the end of the file (incomplete or unparseable bytes).
    With `parse_after_first=False`, v2 records after the first are checked by length and
    checksum only (argv None): the open scan needs boundaries, not commands."""
    parse = True
    decode = PayloadDecoder().decode  # one hiredis reader for the whole stream of records
    while True:
        if position >= window.file_size:
            return
        window.drop_before(position)
        try:
            result = read_record(format_version, window.data, position - window.start, parse, decode)
        except RecordError as error:
            yield position, error.reason
            return
        if result.__class__ is NeedMore:
            # NeedMore always asks for more than the window holds, so each retry reads.
            required_end = window.start + result.required_end  # type: ignore[union-attr]
            if required_end <= window.file_size and window.ensure(required_end):
                continue
            yield position, "incomplete record at the end of the file"
            return
        argv, relative_end = result  # type: ignore[misc]
        end = window.start + relative_end
        yield position, end, argv
        position = end
        parse = parse_after_first


def _find_valid_record_after(
    handle: ReadableFile, format_version: int, damage_offset: int, file_size: int
) -> int | None:
    """The offset of the first valid record that starts after `damage_offset`, if any."""
    window = _Window(handle, damage_offset + 1, file_size)
    position = damage_offset + 1
    while position < file_size:
        window.drop_before(position)
        window.ensure(position + 16)
        relative = next_candidate(format_version, window.data, position - window.start)
        position = window.start + relative
        if position >= window.end:
            if window.end >= file_size:
                return None
            window.ensure(window.end + CHUNK_BYTES)
            continue
        verdict = probe_record(format_version, window.data, relative, file_size - window.start)
        if verdict.__class__ is NeedMore:
            window.ensure(window.start + verdict.required_end)  # type: ignore[union-attr]
            continue
        if verdict is not None:
            return position
        position += 1
    return None


PAGE_BYTES = 4096


def _lost_page_hole(handle: ReadableFile, start: int, end: int) -> int | None:
    """Where a page-shaped run of zeros begins inside the damaged stretch [start, end), if any.

    A page the crash lost (or kept as of an earlier moment) reads as zeros from where its
    content ended to the page's end: a zero run that *ends at a 4 KiB boundary* and begins
    either at a page boundary (a whole lost page) or at `start` (the page's old end of file,
    where the valid records stop).
    """
    boundary = (start // PAGE_BYTES + 1) * PAGE_BYTES
    while boundary <= end:
        run_start = max(start, boundary - PAGE_BYTES)
        handle.seek(run_start)
        if handle.read(boundary - run_start) == bytes(boundary - run_start):
            return run_start
        boundary += PAGE_BYTES
    return None


def _classify_damage(
    handle: ReadableFile, format_version: int, stop_offset: int, file_size: int
) -> tuple[StopKind, int | None, str]:
    """Torn tail or corruption, for records that stop at `stop_offset` before the file ends.

    Valid records after the damage make it corruption -- except when the damaged stretch
    holds a page-shaped hole (`_lost_page_hole`). The kernel writes a file's dirty pages back
    in no fixed order, so a crash can keep a later page of unsynced appends and lose an
    earlier one, which reads as zeros. An fsync persists every page of the file, so the
    records after such a hole were never made durable: they are a torn tail like any other
    (and they are quarantined, not deleted). Our writer never puts zeros where a record
    starts (a v2 length is never 0, a v1 frame starts with `*`).
    """
    resume = _find_valid_record_after(handle, format_version, stop_offset, file_size)
    if resume is None:
        return StopKind.TORN_TAIL, None, ""
    hole = _lost_page_hole(handle, stop_offset, resume)
    if hole is None:
        return StopKind.CORRUPTION, resume, ""
    claim = _durable_claim_after(handle, format_version, resume, file_size)
    if claim is not None and claim[1] > stop_offset:
        marker_offset, claimed = claim
        return StopKind.CORRUPTION, resume, (
            f"zeros from byte {hole} to a page boundary, but the synced marker at byte "
            f"{marker_offset} records that an fsync covered the log up to byte {claimed}: "
            f"durable data was lost (a damaged disk, not a crash)"
        )
    return StopKind.TORN_TAIL, None, (
        f"zeros from byte {hole} to a page boundary: pages of unsynced appends lost in a "
        f"crash; the records after them were never durable"
    )


def _durable_claim_after(
    handle: ReadableFile, format_version: int, start: int, file_size: int
) -> tuple[int, int] | None:
    """(offset, claim) of the synced marker after `start` claiming the most, or None.

    Walks every valid record from `start` to the end of the file, hopping over further
    damage (only a damaged log pays for this). A marker is written after the fsync it names
    completed, so wherever it survives -- even in unsynced pages a crash kept -- every byte
    before its claim was durable.
    """
    best: tuple[int, int] | None = None
    position: int | None = start
    while position is not None and position < file_size:
        window = _Window(handle, position, file_size)
        stop = None
        for item in _records(window, format_version, position):
            if len(item) == 2:
                stop = item[0]  # type: ignore[misc]
                break
            record_start, _, argv = item  # type: ignore[misc]
            claimed = parse_synced_marker(argv) if argv is not None else None
            if claimed is not None and (best is None or claimed > best[1]):
                best = (record_start, claimed)
        if stop is None:
            break
        position = _find_valid_record_after(handle, format_version, stop, file_size)
    return best


RecordConsumer = Callable[[int, int, list], None]


def scan_log(fs: FileSystem, path: str, consume: RecordConsumer | None = None) -> LogScan:
    """Classify an existing log (streaming; nothing is changed).

    `consume(start, end, argv)`, when given, receives every valid record in order, parsed, as
    the scan reads it: opening a shard replays the log in the same pass (the file is read
    and checksummed once). It sees the records before the stop, whatever the stop turns out to
    be; a caller that refuses corruption discards what it built."""
    file_size = fs.size(path)
    handle = fs.open_read(path)
    try:
        head = handle.read(9)
        try:
            detected = detect_format(head)
        except RecordError as error:
            return LogScan(None, 0, file_size, 0, 0, None, StopKind.CORRUPTION, 0, None, error.reason)
        if detected is None:
            stop = StopKind.CLEAN if file_size == 0 else StopKind.TORN_TAIL
            reason = "empty file" if file_size == 0 else "torn header"
            return LogScan(None, 0, file_size, 0, 0, None, stop, None if file_size == 0 else 0, None, reason)
        format_version, header_size = detected
        window = _Window(handle, header_size, file_size)
        valid_end = header_size
        count = 0
        marker = None
        stop_offset = None
        reason = ""
        for item in _records(window, format_version, header_size, parse_after_first=consume is not None):
            if len(item) == 2:
                stop_offset, reason = item  # type: ignore[misc]
                break
            start, end, argv = item  # type: ignore[misc]
            if count == 0 and argv is not None and is_epoch_marker(argv):
                try:
                    marker = parse_epoch_marker(argv)
                except ValueError as error:
                    return LogScan(format_version, header_size, file_size, start, 0, None,
                                   StopKind.CORRUPTION, start, None, str(error))
            if consume is not None:
                consume(start, end, argv)
            count += 1
            valid_end = end
        if stop_offset is None:
            return LogScan(format_version, header_size, file_size, valid_end, count, marker,
                           StopKind.CLEAN, None, None, "")
        stop, resume, hole_reason = _classify_damage(handle, format_version, stop_offset, file_size)
        return LogScan(format_version, header_size, file_size, valid_end, count, marker,
                       stop, stop_offset, resume, f"{reason}; {hole_reason}" if hole_reason else reason)
    finally:
        handle.close()


def iter_log(fs: FileSystem, path: str, start_offset: int | None = None) -> Iterator[LogEntry]:
    """Replay: every record from `start_offset` (None = the first after the header).

    Streams with memory bounded by the largest record. Stops quietly at a torn tail (open the
    log first to quarantine it); raises `CorruptionError` at damage followed by valid records.
    """
    file_size = fs.size(path)
    handle = fs.open_read(path)
    try:
        try:
            detected = detect_format(handle.read(9))
        except RecordError as error:
            raise CorruptionError(path, error.offset, error.reason) from None
        if detected is None:
            return
        format_version, header_size = detected
        position = header_size if start_offset is None else start_offset
        assert position >= header_size, "replay starts after the header"
        window = _Window(handle, position, file_size)
        for item in _records(window, format_version, position):
            if len(item) == 2:
                stop_offset, reason = item  # type: ignore[misc]
                stop, _, hole_reason = _classify_damage(handle, format_version, stop_offset, file_size)
                if stop is StopKind.CORRUPTION:
                    raise CorruptionError(path, stop_offset, f"{reason}; {hole_reason}" if hole_reason else reason)
                return
            start, end, argv = item  # type: ignore[misc]
            yield LogEntry(start, end, argv)
    finally:
        handle.close()
