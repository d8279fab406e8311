"""Snapshot files on the real file system: durable replace, split steps, load, failures."""

import os

import pytest

from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.snapshot import (
    install_snapshot,
    load_snapshot,
    save_snapshot,
    temp_path_for,
    write_snapshot_temp,
)
from kevy_persist.errors import CorruptionError, StorageIOError
from kevy_persist.formats.positions import LogPosition
from kevy_persist.formats.records import ValueKind


class RecordingFileSystem(OsFileSystem):
    """The real file system, recording the order of durability-relevant calls."""

    def __init__(self):
        self.calls = []

    def open_write(self, path):
        self.calls.append(("open_write", os.path.basename(path)))
        handle = super().open_write(path)
        original_fsync = handle.fsync
        handle.fsync = lambda: (self.calls.append(("fsync", os.path.basename(path))), original_fsync())[1]
        return handle

    def rename(self, source, target):
        self.calls.append(("rename", os.path.basename(source), os.path.basename(target)))
        super().rename(source, target)

    def fsync_dir(self, path):
        self.calls.append(("fsync_dir",))
        super().fsync_dir(path)


ENTRIES = [(b"k%d" % i, ValueKind.STRING, b"v%d" % i, None) for i in range(100)]


def test_save_is_a_durable_replace_in_order_and_load_reads_it_back(tmp_path):
    """Calls are: write temp, fsync temp, rename over target, fsync dir; load returns the data."""
    fs = RecordingFileSystem()
    path = str(tmp_path / "dump-0.rdb")
    report = save_snapshot(fs, path, ENTRIES, LogPosition(2, 99))
    assert fs.calls == [
        ("open_write", "dump-0.rdb.tmp"),
        ("fsync", "dump-0.rdb.tmp"),
        ("rename", "dump-0.rdb.tmp", "dump-0.rdb"),
        ("fsync_dir",),
    ]
    assert report.size_bytes == os.path.getsize(path)
    assert not os.path.exists(temp_path_for(path))
    loaded = load_snapshot(fs, path)
    assert loaded.records == [(key, kind, value, None) for key, kind, value, _ in ENTRIES]
    assert loaded.covered == LogPosition(2, 99)
    assert loaded.version == 4
    assert loaded.size_bytes == report.size_bytes


def test_split_steps_leave_the_live_file_alone_until_install(tmp_path):
    fs = OsFileSystem()
    path = str(tmp_path / "dump-0.rdb")
    save_snapshot(fs, path, ENTRIES[:1], None)
    temp_path = write_snapshot_temp(fs, str(tmp_path / "dump-0.rdb.reshard"), ENTRIES, None)
    assert len(load_snapshot(fs, path).records) == 1
    install_snapshot(fs, temp_path, path)
    assert len(load_snapshot(fs, path).records) == 100


def test_a_failing_entry_source_removes_the_temp_and_keeps_the_old_snapshot(tmp_path):
    fs = OsFileSystem()
    path = str(tmp_path / "dump-0.rdb")
    save_snapshot(fs, path, ENTRIES[:3], None)

    def exploding():
        yield from ENTRIES
        raise StorageIOError(path, "write", 28, "no space left")

    with pytest.raises(StorageIOError):
        save_snapshot(fs, path, exploding(), None)
    assert not os.path.exists(temp_path_for(path))
    assert len(load_snapshot(fs, path).records) == 3


def test_damaged_snapshot_raises_corruption_naming_the_file(tmp_path):
    fs = OsFileSystem()
    path = str(tmp_path / "dump-0.rdb")
    save_snapshot(fs, path, ENTRIES, None)
    data = bytearray(open(path, "rb").read())
    data[40] ^= 0x10
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptionError) as caught:
        load_snapshot(fs, path)
    assert caught.value.path == path
