"""The tee of a background job: the live log's tail, copied into the job's new log.

What it models. From a job's freeze on, every record appended to the live log must reach the
next log too. They are already written once, in order, as whole records: the live log's
bytes from the freeze's end offset on. So the tee keeps no copy of its own -- no memory per
write and no work on the write path -- and the job copies byte ranges `[start, end)` of the
live log, where each `end` is the writer's end offset read by the owner under the lock (a
record boundary, and every byte below it has been handed to the kernel: the writer is
unbuffered and advances its end offset only after a write succeeded).

Each record of the range is read and re-encoded in the next log's format (the first job
after opening a kevy 1.23 format-1 log with `log_format=2` changes it), in batches (bounded
memory); epoch and transaction markers keep their meaning in either form. Synced markers
(`\0KEVYSYNCED <offset>`, specs/aof-format.md) are dropped: each one claims an offset *of
the file it was written in*, so copied into the next log it would claim the wrong bytes as
durable -- a lost page of the new log's unsynced tail would then read as a durable hole and
refuse the open. The next log gets its own markers after its own fsyncs.
"""

from __future__ import annotations

from collections.abc import Callable

from kevy_persist.disk.fs import FileSystem, WritableFile
from kevy_persist.engine import aof
from kevy_persist.formats.aof_format import encode_records
from kevy_persist.formats.log_markers import parse_synced_marker

RECORDS_PER_BATCH = 4096


def copy_log_range(
    fs: FileSystem,
    source_path: str,
    start: int,
    end: int,
    target: WritableFile,
    target_format: int,
    between_chunks: Callable[[], None] | None = None,
) -> int:
    """Append the records of `source_path`'s bytes `[start, end)` to `target`, synced markers
    left out; the bytes written (the records are read in whatever format the file has)."""
    assert 0 <= start <= end, (start, end)
    if start == end:
        return 0
    written = 0
    batch: list[list[bytes]] = []
    for entry in aof.iter_log(fs, source_path, start_offset=start):
        if entry.offset >= end:
            break
        if parse_synced_marker(entry.argv) is not None:
            continue  # a claim about the live file's offsets, false in the next log
        batch.append(entry.argv)
        if len(batch) == RECORDS_PER_BATCH:
            written += _write_batch(target, target_format, batch, between_chunks)
    written += _write_batch(target, target_format, batch, between_chunks)
    return written


def _write_batch(target: WritableFile, target_format: int, batch: list[list[bytes]],
                 between_chunks: Callable[[], None] | None) -> int:
    if not batch:
        return 0
    data = encode_records(target_format, batch)
    batch.clear()
    target.write(data)
    if between_chunks is not None:
        between_chunks()
    return len(data)
