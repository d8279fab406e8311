"""Full disks: a refused open changes nothing and says how much room it needs; failed saves
and rewrites leave no temp behind; opening removes the stale temps of ours.

Method: real data dirs over a file system whose writes fail with ENOSPC once a byte budget
is spent (the part that fits is written first, as a real short write does). Each case checks
the error (typed, with the numbers), the directory listing (no partial file) and the bytes
of the files that must not change.
"""

from __future__ import annotations

import errno
import pathlib
from typing import Any

import pytest

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import DataDirInUseError, KevyError, QuarantineError, StorageIOError
from kevy_persist.formats.aof_format import encode_record


class FullDiskWritable:
    def __init__(self, owner: FullDiskFileSystem, inner: Any) -> None:
        self._owner = owner
        self._inner = inner
        self.path = inner.path

    def write(self, data: bytes) -> None:
        budget = self._owner.free_bytes
        if budget is not None and len(data) > budget:
            self._owner.free_bytes = 0
            self._inner.write(data[:budget])
            raise StorageIOError(self.path, "write", errno.ENOSPC, "No space left on device")
        if budget is not None:
            self._owner.free_bytes = budget - len(data)
        self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FullDiskFileSystem(OsFileSystem):
    """`free_bytes` None: unlimited; else writes beyond it fail with ENOSPC."""

    def __init__(self, free_bytes: int | None = None) -> None:
        self.free_bytes = free_bytes

    def open_write(self, path: str) -> Any:
        return FullDiskWritable(self, super().open_write(path))

    def open_append(self, path: str) -> Any:
        return FullDiskWritable(self, super().open_append(path))


def _open(directory: pathlib.Path, fs: Any = None, **options: Any) -> Store:
    return Store.open(StoreConfig(data_dir=str(directory), ticker="manual", **options), file_system=fs)


def _files(directory: pathlib.Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.name != "LOCK"}


def test_a_torn_tail_on_a_full_disk_refuses_to_open_leaving_no_partial_copy(tmp_path: pathlib.Path) -> None:
    with _open(tmp_path) as store:
        for index in range(20):
            store.set(f"k{index}", "v" * 100)
    record = encode_record(2, [b"SET", b"torn", b"x" * 3000])
    torn = record[:2000]
    with (tmp_path / "aof-0.aof").open("ab") as handle:
        handle.write(torn)
    before = _files(tmp_path)
    with pytest.raises(QuarantineError) as refused:
        _open(tmp_path, FullDiskFileSystem(free_bytes=500))
    error = refused.value
    assert error.needed_bytes == len(torn)
    assert error.path == str(tmp_path / "aof-0.aof")
    assert f"free at least {len(torn)} bytes" in str(error) and f"from byte {error.offset}" in str(error)
    assert _files(tmp_path) == before  # no partial quarantine file, the log not truncated
    with _open(tmp_path, FullDiskFileSystem(free_bytes=len(torn) + 4096)) as store:  # room now
        assert store.open_report.dropped_bytes == len(torn)
        assert store.get("k19") == b"v" * 100
        (quarantine,) = store.open_report.quarantine_paths
    assert pathlib.Path(quarantine).read_bytes() == torn


def test_a_rewrite_that_fills_the_disk_leaves_no_temp(tmp_path: pathlib.Path) -> None:
    fs = FullDiskFileSystem()
    with _open(tmp_path, fs) as store:
        for index in range(200):
            store.set(f"k{index}", "v" * 100)
        fs.free_bytes = 1000
        with pytest.raises(KevyError, match="No space left"):
            store.rewrite_log()
        assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]
        fs.free_bytes = None
        store.set("after", "1")  # the old log stays the live one
    with _open(tmp_path) as reopened:
        assert reopened.get("k199") == b"v" * 100 and reopened.get("after") == b"1"


@pytest.mark.parametrize("room", ["none", "snapshot-only"])
def test_a_save_that_fills_the_disk_leaves_no_temp(tmp_path: pathlib.Path, room: str) -> None:
    """`none`: the snapshot's temp does not fit; `snapshot-only`: the snapshot fits (it is
    installed), the new log's temp does not (the old log stays live)."""
    fs = FullDiskFileSystem()
    with _open(tmp_path, fs) as store:
        for index in range(200):
            store.set(f"k{index}", "v" * 100)
        store.save()
        snapshot_bytes = (tmp_path / "dump-0.rdb").stat().st_size  # the next save's is the same
        fs.free_bytes = 1000 if room == "none" else snapshot_bytes + 4
        with pytest.raises(KevyError, match="No space left"):
            store.save()
        assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]
        fs.free_bytes = None
        store.set("after", "1")
    with _open(tmp_path) as reopened:
        assert reopened.get("k199") == b"v" * 100 and reopened.get("after") == b"1"


def test_opening_removes_stale_temps_of_ours_only(tmp_path: pathlib.Path) -> None:
    with _open(tmp_path) as store:
        store.set("k", "v")
    stale = ["dump-0.rdb.tmp", "aof-0.aof.tmp", "shards.meta.tmp"]
    for name in stale:
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "notes.tmp").write_bytes(b"not ours")
    with _open(tmp_path) as store:
        assert store.get("k") == b"v"
        for name in stale:
            (tmp_path / name).write_bytes(b"an owner's temp in progress")
        with pytest.raises(DataDirInUseError):
            _open(tmp_path)  # a refused second owner removes nothing
        assert all((tmp_path / name).exists() for name in stale)
    with _open(tmp_path):
        pass
    assert not any((tmp_path / name).exists() for name in stale)
    assert (tmp_path / "notes.tmp").read_bytes() == b"not ours"
