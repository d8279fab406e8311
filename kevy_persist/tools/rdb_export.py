"""`export-rdb`: a kevy data dir as one Redis RDB file (version 10, loadable by Redis 7.0+).

Every shard is rebuilt read-only, as `kevy-persist dump` does (snapshot plus the planned part
of its log; a torn log tail is left out, the files are never written), and every key alive at
the export's clock reading goes into its database (0 for the dir itself, n for its
`db-{n}/`, each after a SELECTDB opcode and a RESIZEDB hint with the key and TTL counts)
with its absolute deadline. The file is written through the `FileSystem` door as a
durable replace: `OUT.tmp`, fsync, rename over `OUT`, fsync the directory -- a crash leaves
the old `OUT` or the new one, never a torn file under that name. Aux fields: `redis-bits`,
`ctime` (the export time), `aof-base` 0 and `kevy-ver`; no `redis-ver`, since no Redis wrote
the file. A value no RDB can hold (a stream time past 2^63-1 ms) raises
`UnsupportedValueError` naming the key and leaves `OUT` untouched.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from itertools import chain, islice

import attrs

from kevy_persist.data.keyspace import Entry, Keyspace
from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, join, parent
from kevy_persist.engine.shard_opening import load_shard_read_only
from kevy_persist.errors import KevyError, LayoutError
from kevy_persist.formats.rdb_format import encode_rdb_chunks
from kevy_persist.layout.databases import SWAP_JOURNAL_NAME, parse_database_dir
from kevy_persist.layout.meta import read_layout
from kevy_persist.layout.names import log_name, snapshot_name
from kevy_persist.reshard.swapdb import database_directory

KEVY_VERSION = b"0.1.0"
PROGRESS_BATCH_ENTRIES = 65536
ProgressCallback = Callable[[int, int], None]


@attrs.frozen
class ExportReport:
    path: str
    shard_count: int
    key_count: int
    expires_count: int
    skipped_expired: int  # keys whose deadline had passed at the export's clock reading
    size_bytes: int
    elapsed_ms: int


def _live_entries(keyspace: Keyspace, now_ms: int) -> tuple[Iterator[Entry], int, int]:
    """The keys alive at `now_ms` (at C speed when none has expired), their count, and how
    many of them have a deadline."""
    expired = {key for key, deadline_ms in keyspace.deadline_items() if deadline_ms <= now_ms}
    expires_count = sum(1 for _ in keyspace.deadline_items()) - len(expired)
    entries = keyspace.iter_entries()
    if expired:
        entries = (entry for entry in entries if entry[0] not in expired)
    return entries, len(keyspace) - len(expired), expires_count


def _source_bytes(fs: FileSystem, directory: str, shard_count: int) -> int:
    total = 0
    for index in range(shard_count):
        for name in (snapshot_name(index), log_name(index)):
            path = join(directory, name)
            if fs.exists(path):
                total += fs.size(path)
    return total


def _load_database(fs: FileSystem, directory: str, now_ms: int) -> tuple[int, int, list[Keyspace]]:
    """(shard count, source bytes, each shard's keyspace) of one database's dir, read-only."""
    reading = read_layout(fs, directory)
    if reading.journal_present:
        raise LayoutError(directory, "a re-shard is unfinished: open the dir once (or run "
                          "`kevy-persist reshard`) to finish it, then export")
    if reading.layout is None:
        raise LayoutError(directory, "not a kevy data dir (no shards.meta and no shard files)")
    shard_count = reading.layout.shard_count
    keyspaces = [load_shard_read_only(fs, directory, index, now_ms).keyspace for index in range(shard_count)]
    return shard_count, _source_bytes(fs, directory, shard_count), keyspaces


def _with_progress(databases: list, key_count: int, total_bytes: int, progress: ProgressCallback | None) -> list:
    """The databases with one progress count over all of them (keys done of `key_count`)."""
    done = [0]  # keys written so far, shared by every database's counter
    shares = []
    for number, count, expires, entries in databases:
        shares.append((number, count, expires, _reporting(entries, key_count, total_bytes, progress, done)))
    return shares


def export_rdb(
    fs: FileSystem,
    directory: str,
    output_path: str,
    clock: Clock,
    *,
    compress: bool = False,
    progress: ProgressCallback | None = None,
) -> ExportReport:
    """Write every live key of `directory` to `output_path` as an RDB (module docstring)."""
    started_ms = clock.monotonic_ms()
    if not fs.exists(directory):
        raise LayoutError(directory, "no such data dir")
    if fs.exists(join(directory, SWAP_JOURNAL_NAME)):
        raise LayoutError(directory, "a SWAPDB is unfinished: open the dir once to finish it, then export")
    numbers = [0] + sorted(number for number in map(parse_database_dir, fs.list_dir(directory)) if number)
    now_ms = clock.now_ms()
    loaded = [(number, _load_database(fs, database_directory(directory, number), now_ms)) for number in numbers]
    shard_count = loaded[0][1][0]
    total_bytes = max(sum(source_bytes for _, (_, source_bytes, _) in loaded), 1)
    stored_count = sum(len(keyspace) for _, (_, _, keyspaces) in loaded for keyspace in keyspaces)
    key_count = expires_count = 0
    databases = []
    for number, (_, _, keyspaces) in loaded:
        live = [_live_entries(keyspace, now_ms) for keyspace in keyspaces]
        count = sum(keys for _, keys, _ in live)
        expires = sum(expiring for _, _, expiring in live)
        if count or number == 0:
            entries = chain.from_iterable(iterator for iterator, _, _ in live)
            databases.append((number, count, expires, entries))
        key_count += count
        expires_count += expires
    databases = _with_progress(databases, key_count, total_bytes, progress)
    aux = [
        (b"redis-bits", b"64"),
        (b"ctime", b"%d" % (now_ms // 1000)),
        (b"aof-base", b"0"),
        (b"kevy-ver", KEVY_VERSION),
    ]
    temp_path = output_path + ".tmp"
    handle = fs.open_write(temp_path)
    # Encoding builds a tuple per key and no cycle: the collector waits until the end.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for chunk in encode_rdb_chunks(databases, aux, compress=compress):
            handle.write(chunk)
        handle.fsync()
    except BaseException:
        handle.close()
        _remove_quietly(fs, temp_path)
        raise
    finally:
        if collector_was_enabled:
            gc.enable()
    handle.close()
    fs.rename(temp_path, output_path)
    fs.fsync_dir(parent(output_path))
    return ExportReport(
        path=output_path,
        shard_count=shard_count,
        key_count=key_count,
        expires_count=expires_count,
        skipped_expired=stored_count - key_count,
        size_bytes=fs.size(output_path),
        elapsed_ms=clock.monotonic_ms() - started_ms,
    )


def _reporting(
    entries: Iterator[Entry], key_count: int, total_bytes: int, progress: ProgressCallback | None,
    done: list[int] | None = None,
) -> Iterator[Entry]:
    """The entries, telling `progress` the share written (scaled to the source bytes) every
    `PROGRESS_BATCH_ENTRIES` entries; `done` counts across several databases' entries. The
    batches are chained at C speed: the generator resumes once per batch, not once per entry."""
    if progress is None:
        return entries
    done = [0] if done is None else done

    def batches() -> Iterator[list[Entry]]:
        while batch := list(islice(entries, PROGRESS_BATCH_ENTRIES)):
            progress(total_bytes * done[0] // max(key_count, 1), total_bytes)
            yield batch
            done[0] += len(batch)
        progress(total_bytes * done[0] // max(key_count, 1), total_bytes)

    return chain.from_iterable(batches())


def _remove_quietly(fs: FileSystem, path: str) -> None:
    try:
        if fs.exists(path):
            fs.remove(path)
    except KevyError:
        pass


def summary_line(report: ExportReport) -> str:
    return (
        f"exported {report.key_count} keys ({report.expires_count} with a TTL) from "
        f"{report.shard_count} shard{'s' if report.shard_count != 1 else ''} to {report.path}: {report.size_bytes} bytes in "
        f"{report.elapsed_ms} ms" + (f"; {report.skipped_expired} expired keys left out" if report.skipped_expired else "")
    )
