"""A hole inside durable data is corruption, not a torn tail (the synced-marker rule).

Method: logs written by the real writer and store. The writer's synced markers: when they
appear, what they claim (never more than an fsync covered), both formats, kevy 1.23's form.
Then the issue's probe: a zeroed 4 KiB page in the middle of a synced log used to be cut as a
torn tail (everything after it dropped); now the open is refused with the path and offset,
while the same hole in the unsynced region -- a crash artefact -- is still cut.
"""

from __future__ import annotations

import pathlib

import pytest

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.aof import StopKind, create_log, iter_log, open_log, scan_log
from kevy_persist.errors import CorruptionError
from kevy_persist.formats.aof_format import encode_record, encode_records, read_record
from kevy_persist.formats.log_markers import EpochMarker, parse_synced_marker, synced_marker_argv
from kevy_persist.tools.cli import main as cli_main

PAGE = 4096


def _claims(path: pathlib.Path) -> list[tuple[int, int]]:
    """(offset, claim) of every synced marker in the log."""
    return [(entry.offset, claim) for entry in iter_log(OsFileSystem(), str(path))
            if (claim := parse_synced_marker(entry.argv)) is not None]


@pytest.mark.parametrize("format_version", [1, 2])
def test_the_writer_claims_only_what_a_completed_fsync_covered(tmp_path: pathlib.Path, format_version: int) -> None:
    path = tmp_path / "aof-0.aof"
    writer = create_log(OsFileSystem(), str(path), format_version, EpochMarker(1, "base"))
    writer.append([b"SET", b"small", b"x"])
    writer.fsync()  # covers less than a page: no claim yet
    writer.append([b"SET", b"a", b"y" * 5000])
    assert _claims(path) == []
    covered = writer.fsync()
    unsynced = writer.append([b"SET", b"b", b"z"])  # this append carries the claim
    writer.append([b"SET", b"c", b"z"])  # one claim per fsync, not per append
    writer.close()
    claims = _claims(path)
    assert claims == [(covered, covered)]  # written at the end of what the fsync covered
    assert claims[0][1] < unsynced
    marker = encode_record(format_version, synced_marker_argv(covered, format_version))
    assert path.read_bytes()[covered : covered + len(marker)] == marker


def test_format_one_markers_are_deletes_of_a_reserved_key() -> None:
    """kevy 1.23 replays a format-1 log; to it the marker is a DEL of a key that never exists."""
    assert synced_marker_argv(8192, 1) == [b"DEL", b"\x00KEVYSYNCED:8192"]
    assert parse_synced_marker([b"DEL", b"\x00KEVYSYNCED:8192"]) == 8192
    assert parse_synced_marker([b"DEL", b"\x00KEVYSYNCEDX"]) is None


def _served_log(directory: pathlib.Path, log_format: int, keys: int = 1100) -> bytes:
    """A store's log under `always` (every write fsynced: the writer's markers in it)."""
    config = StoreConfig(data_dir=str(directory), appendfsync="always", log_format=log_format, ticker="manual")
    with Store.open(config) as store:
        for index in range(keys):
            store.set(f"key:{index:05d}", "v" * 360)
    return (directory / "aof-0.aof").read_bytes()


def _first_record_touching(data: bytes, format_version: int, offset: int) -> int:
    position = 9
    while True:
        _, end = read_record(format_version, data, position)
        if end > offset:
            return position
        position = end


@pytest.mark.parametrize("log_format", [1, 2])
def test_a_zeroed_page_in_a_synced_log_refuses_to_open(tmp_path: pathlib.Path, log_format: int) -> None:
    """The issue's probe: ~430 KB of synced log, page 10 zeroed. Used to open as a torn tail
    with 1,100 keys gone; now refused, naming the path and the first damaged record."""
    data = bytearray(_served_log(tmp_path, log_format))
    assert len(data) > 100 * PAGE
    damaged_at = _first_record_touching(bytes(data), log_format, 10 * PAGE)
    data[10 * PAGE : 11 * PAGE] = bytes(PAGE)
    log = tmp_path / "aof-0.aof"
    log.write_bytes(bytes(data))
    scan = scan_log(OsFileSystem(), str(log))
    assert scan.stop is StopKind.CORRUPTION and scan.damage_offset == damaged_at
    assert "synced marker at byte" in scan.reason and "durable data was lost" in scan.reason
    with pytest.raises(CorruptionError) as refused:
        Store.open(StoreConfig(data_dir=str(tmp_path), ticker="manual"))
    assert (refused.value.path, refused.value.offset) == (str(log), damaged_at)
    assert log.read_bytes() == bytes(data)  # nothing cut, nothing quarantined
    assert not [path for path in tmp_path.iterdir() if "quarantine" in path.name]
    assert cli_main(["check", str(tmp_path)]) == 1


def test_the_same_hole_in_the_unsynced_region_is_still_a_torn_tail(tmp_path: pathlib.Path) -> None:
    """A crash artefact: appends made after the last fsync lost an earlier page and kept a
    later one. The only marker after the hole claims what precedes it: cut, not refused."""
    path = tmp_path / "aof-0.aof"
    writer = create_log(OsFileSystem(), str(path), 2, EpochMarker(1, "base"))
    for number in range(60):
        writer.append([b"SET", b"key:%03d" % number, b"v" * 90])
    covered = writer.fsync()
    writer.close()
    synced = path.read_bytes()
    assert len(synced) == covered
    hole = bytes(PAGE - covered % PAGE)
    late = encode_record(2, synced_marker_argv(covered)) + encode_records(2, [[b"SET", b"late", b"x"]] * 40)
    path.write_bytes(synced + hole + late)
    writer, report = open_log(OsFileSystem(), str(path), ManualClock())
    writer.close()
    assert report.stop is StopKind.TORN_TAIL and "pages of unsynced appends lost" in report.reason
    assert report.valid_end_offset == covered
    assert report.dropped_bytes == len(hole) + len(late)
