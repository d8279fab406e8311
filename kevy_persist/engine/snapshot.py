"""Snapshot files over a `FileSystem`: durable save, all-or-nothing load.

Save is the durable replace of DESIGN §3: write `path + ".tmp"`, fsync it, rename it over
`path`, fsync the directory. The first two steps (`write_snapshot_temp`) and the last two
(`install_snapshot`) are also offered apart, because a background save serializes off the
owner's lock and a re-shard installs several files at its own commit point.

Crash outcome after each step of `save_snapshot`:
1. writing the temp file: `path` is untouched; a partial `.tmp` may remain (never read).
2. fsync(temp) done: same; the temp file is complete on disk.
3. rename done, directory not yet fsynced: either the old or the new snapshot is at `path`.
4. fsync_dir done: the new snapshot is at `path`.

Load reads the whole file and decodes it before returning anything, so a damaged snapshot
raises `CorruptionError` before the caller touches its keyspace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kevy_persist.disk.fs import FileSystem, parent
from kevy_persist.errors import KevyError
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.snapshot_decode import decode_snapshot
from kevy_persist.formats.snapshot_format import Record, SnapshotTrailer, encode_snapshot_chunks

TEMP_SUFFIX = ".tmp"


@attrs.frozen
class SnapshotSaveReport:
    path: str
    size_bytes: int
    covered: LogPosition | None


@attrs.frozen
class LoadedSnapshot:
    records: list[Record]
    trailer: SnapshotTrailer | None
    version: int
    size_bytes: int

    @property
    def covered(self) -> LogPosition | None:
        """The log position this snapshot covers (None for kevy-written files)."""
        return None if self.trailer is None else self.trailer.covered


def temp_path_for(path: str) -> str:
    return path + TEMP_SUFFIX


def write_snapshot_temp(
    fs: FileSystem,
    temp_path: str,
    entries: Iterable[tuple[bytes, Any, Any, int | None]],
    covered: LogPosition | None,
    *,
    between_chunks: Callable[[], None] | None = None,
) -> str:
    """Write the snapshot to `temp_path` and fsync it; returns `temp_path`.

    `between_chunks` is called after each chunk is written (a background save paces itself
    there, and may raise to cancel). On any failure (or cancellation) the temp file is closed
    and (best effort) removed, and the error re-raised; nothing else is touched.
    """
    handle = fs.open_write(temp_path)
    try:
        for chunk in encode_snapshot_chunks(entries, covered):
            handle.write(chunk)
            if between_chunks is not None:
                between_chunks()
        handle.fsync()
    except BaseException:
        handle.close()
        _remove_quietly(fs, temp_path)
        raise
    handle.close()
    return temp_path


def install_snapshot(fs: FileSystem, temp_path: str, path: str) -> None:
    """Rename the fsynced temp file over `path` and fsync the directory (steps 3 and 4)."""
    fs.rename(temp_path, path)
    fs.fsync_dir(parent(path))


def save_snapshot(
    fs: FileSystem,
    path: str,
    entries: Iterable[tuple[bytes, Any, Any, int | None]],
    covered: LogPosition | None,
) -> SnapshotSaveReport:
    """Durably replace the snapshot at `path` with one holding `entries`."""
    temp_path = write_snapshot_temp(fs, temp_path_for(path), entries, covered)
    install_snapshot(fs, temp_path, path)
    return SnapshotSaveReport(path=path, size_bytes=fs.size(path), covered=covered)


def load_snapshot(
    fs: FileSystem,
    path: str,
    *,
    now_ms: int | None = None,
    strings_into: dict[bytes, bytes] | None = None,
) -> LoadedSnapshot:
    """Read and decode the whole snapshot at `path` (raises `CorruptionError` on damage).

    `now_ms` is needed only for version-2 files with TTLs (they stored time remaining).
    `strings_into`: see `snapshot_format.decode_snapshot` (string records without TTL go
    into that dict, `records` holds the rest; `Keyspace.from_snapshot` adopts both).
    """
    data = fs.read_bytes(path)
    decoded = decode_snapshot(data, path, now_ms=now_ms, strings_into=strings_into)
    return LoadedSnapshot(
        records=decoded.records,
        trailer=decoded.trailer,
        version=decoded.version,
        size_bytes=len(data),
    )


def _remove_quietly(fs: FileSystem, path: str) -> None:
    """Clean up after a failed write; a second failure must not hide the first."""
    try:
        if fs.exists(path):
            fs.remove(path)
    except KevyError:
        pass
