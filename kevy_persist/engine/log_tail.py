"""The tee of a background job: the live log's tail, copied into the job's new log.

What it models. From a job's freeze on, every record appended to the live log must reach the
next log too. They are already written once, in order, as whole records: the live log's
bytes from the freeze's end offset on. So the tee keeps no copy of its own -- no memory per
write and no work on the write path -- and the job copies byte ranges `[start, end)` of the
live log, where each `end` is the writer's end offset read by the owner under the lock (a
record boundary, and every byte below it has been handed to the kernel: the writer is
unbuffered and advances its end offset only after a write succeeded).

Same format: the bytes are copied as they are, in chunks (bounded memory). A different
format (the first job after opening a kevy 1.23 format-1 log with `log_format=2`): each
record is read and re-encoded; markers keep their meaning in either form.
"""

from __future__ import annotations

from collections.abc import Callable

from kevy_persist.disk.fs import FileSystem, WritableFile
from kevy_persist.engine import aof
from kevy_persist.formats.aof_format import encode_records

CHUNK_BYTES = 1 << 20
RECORDS_PER_BATCH = 4096


def copy_log_range(
    fs: FileSystem,
    source_path: str,
    source_format: int,
    start: int,
    end: int,
    target: WritableFile,
    target_format: int,
    between_chunks: Callable[[], None] | None = None,
) -> int:
    """Append the records of `source_path`'s bytes `[start, end)` to `target`; bytes written."""
    assert 0 <= start <= end, (start, end)
    if start == end:
        return 0
    if source_format == target_format:
        return _copy_bytes(fs, source_path, start, end, target, between_chunks)
    return _copy_records(fs, source_path, start, end, target, target_format, between_chunks)


def _copy_bytes(fs: FileSystem, path: str, start: int, end: int, target: WritableFile,
                between_chunks: Callable[[], None] | None) -> int:
    source = fs.open_read(path)
    try:
        source.seek(start)
        position = start
        while position < end:
            chunk = source.read(min(CHUNK_BYTES, end - position))
            if not chunk:
                raise AssertionError(f"{path} ends at {position}, before the tee's end {end}")
            target.write(chunk)
            position += len(chunk)
            if between_chunks is not None:
                between_chunks()
    finally:
        source.close()
    return end - start


def _copy_records(fs: FileSystem, path: str, start: int, end: int, target: WritableFile, target_format: int,
                  between_chunks: Callable[[], None] | None) -> int:
    written = 0
    batch: list[list[bytes]] = []
    for entry in aof.iter_log(fs, path, start_offset=start):
        if entry.offset >= end:
            break
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
