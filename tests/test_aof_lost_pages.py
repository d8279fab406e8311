"""A crash can lose an earlier page of unsynced appends and keep a later one.

Method: write a log of ~16 KiB with the real writer, then zero one 4 KiB-aligned page in
the middle (what the kernel leaves when a later dirty page reached the disk and an earlier
one did not). Opening keeps the records before the hole, quarantines everything from the
first damaged record on, and reports it as a torn tail; the same bytes with a zero run that
does not cover a whole page stay corruption, as do non-zero bytes.
"""

from __future__ import annotations

import pathlib

import pytest

from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.aof import StopKind, create_log, iter_log, open_log, scan_log
from kevy_persist.errors import CorruptionError
from kevy_persist.formats.log_markers import EpochMarker

PAGE = 4096


def write_log(path: pathlib.Path, format_version: int) -> tuple[bytes, list[int]]:
    writer = create_log(OsFileSystem(), str(path), format_version, EpochMarker(1, "base"))
    ends = [writer.end_offset]
    for number in range(160):
        ends.append(writer.append([b"SET", b"key:%03d" % number, b"v" * 90]))
    writer.fsync()
    writer.close()
    return path.read_bytes(), ends


@pytest.mark.parametrize("format_version", [1, 2])
def test_a_lost_middle_page_is_a_torn_tail_not_corruption(tmp_path: pathlib.Path, format_version: int) -> None:
    data, ends = write_log(tmp_path / "source.aof", format_version)
    assert len(data) > 4 * PAGE
    damaged = bytearray(data)
    damaged[2 * PAGE : 3 * PAGE] = bytes(PAGE)
    path = tmp_path / "aof-0.aof"
    path.write_bytes(bytes(damaged))
    kept_end = max(end for end in ends if end <= 2 * PAGE)

    scan = scan_log(OsFileSystem(), str(path))
    assert scan.stop is StopKind.TORN_TAIL and "zeros from byte 8192 to a page boundary" in scan.reason
    assert scan.valid_end_offset == kept_end

    writer, report = open_log(OsFileSystem(), str(path), ManualClock())
    writer.close()
    assert report.valid_end_offset == kept_end
    assert report.dropped_bytes == len(data) - kept_end
    assert pathlib.Path(report.quarantine_path).read_bytes() == bytes(damaged[kept_end:])
    replayed = [entry.argv for entry in iter_log(OsFileSystem(), str(path))][1:]
    assert replayed == [[b"SET", b"key:%03d" % number, b"v" * 90] for number in range(len(replayed))]


@pytest.mark.parametrize("format_version", [1, 2])
def test_a_page_kept_as_of_an_earlier_moment_is_a_torn_tail(tmp_path: pathlib.Path, format_version: int) -> None:
    """Page 1 as it was when the file ended at an earlier record boundary: records, then
    zeros to the page end; page 2 already holds later records."""
    data, ends = write_log(tmp_path / "source.aof", format_version)
    old_end = max(end for end in ends if PAGE < end < 2 * PAGE)
    damaged = bytearray(data)
    damaged[old_end : 2 * PAGE] = bytes(2 * PAGE - old_end)
    path = tmp_path / "aof-0.aof"
    path.write_bytes(bytes(damaged))
    scan = scan_log(OsFileSystem(), str(path))
    assert scan.stop is StopKind.TORN_TAIL and scan.valid_end_offset == old_end


@pytest.mark.parametrize("format_version", [1, 2])
def test_damage_without_a_page_shaped_hole_is_still_corruption(tmp_path: pathlib.Path, format_version: int) -> None:
    data, _ = write_log(tmp_path / "source.aof", format_version)
    record_start = max(end for end in write_log(tmp_path / "again.aof", format_version)[1] if end < 2 * PAGE)
    # zeros that stop short of the page boundary; a non-zero smear over a whole page
    for offset, damage in ((record_start, bytes(2 * PAGE - record_start - 1)), (2 * PAGE, b"\xff" * PAGE)):
        damaged = bytearray(data)
        damaged[offset : offset + len(damage)] = damage
        path = tmp_path / "aof-0.aof"
        path.write_bytes(bytes(damaged))
        assert scan_log(OsFileSystem(), str(path)).stop is StopKind.CORRUPTION
        with pytest.raises(CorruptionError):
            open_log(OsFileSystem(), str(path), ManualClock())
