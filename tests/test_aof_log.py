"""The log over the real file system: open/scan/quarantine/truncate, replay, writer.

Method: build small logs with the writer, damage copies of them (cut at every offset, flip
every byte, zero-fill or forge a length), open them, and compare with what the intact prefix
says must survive. Fixtures written by kevy 1.23 must scan clean.
"""

import glob
import os

import pytest
from fixture_paths import FIXTURES_DIR

from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.aof import (
    FsyncPolicy,
    FsyncSchedule,
    LogWriterFailedError,
    StopKind,
    create_log,
    iter_log,
    open_log,
    scan_log,
)
from kevy_persist.errors import CorruptionError, StorageIOError
from kevy_persist.formats.aof_format import EpochMarker, encode_record, header_for, parse_epoch_marker

FIXTURES = str(FIXTURES_DIR)
LOGS = sorted(glob.glob(os.path.join(FIXTURES, "*", "aof-*.aof")))
COMMANDS = [[b"SET", b"k%d" % i, b"value-%d" % i] for i in range(4)] + [[b"DEL", b"k0"]]


def build_log(tmp_path, format_version, marker=True):
    """A small log and the end offset of each record (the valid prefix boundaries)."""
    fs = OsFileSystem()
    path = str(tmp_path / f"aof-{format_version}.aof")
    writer = create_log(fs, path, format_version, EpochMarker(3, "incr") if marker else None)
    boundaries = [9, writer.end_offset] if marker else [9]
    for argv in COMMANDS:
        boundaries.append(writer.append(argv))
    writer.fsync()
    writer.close()
    return path, open(path, "rb").read(), boundaries


def reopen(tmp_path, data, **options):
    path = str(tmp_path / "damaged.aof")
    for leftover in glob.glob(path + "*"):
        os.remove(leftover)
    with open(path, "wb") as handle:
        handle.write(data)
    return path, open_log(OsFileSystem(), path, ManualClock(), **options)


@pytest.mark.skipif(not LOGS, reason="kevy 1.23 fixtures not found")
@pytest.mark.parametrize("path", LOGS, ids=lambda p: "/".join(p.split("/")[-2:]))
def test_fixture_logs_scan_clean_and_replay_every_record(path):
    fs = OsFileSystem()
    scan = scan_log(fs, path)
    assert scan.format_version == 1
    assert scan.stop is StopKind.CLEAN
    assert scan.valid_end_offset == os.path.getsize(path)
    assert scan.epoch_marker is None
    entries = list(iter_log(fs, path))
    assert len(entries) == scan.record_count > 0
    assert entries[0].offset == 9 and entries[-1].end_offset == scan.valid_end_offset


@pytest.mark.parametrize("format_version", [1, 2])
def test_open_starts_an_empty_log_with_the_requested_header(tmp_path, format_version):
    path = str(tmp_path / "aof-0.aof")
    open(path, "wb").close()
    writer, report = open_log(OsFileSystem(), path, ManualClock(), format_version=format_version)
    assert report.created and report.format_version == format_version
    assert writer.append([b"PING"]) == os.path.getsize(path)
    writer.close()
    assert open(path, "rb").read().startswith(header_for(format_version))
    assert [entry.argv for entry in iter_log(OsFileSystem(), path)] == [[b"PING"]]


def test_open_of_a_missing_log_is_a_storage_error_not_a_new_file(tmp_path):
    """A new log is made by a durable replace (`start_log_temp` + `install_log`), never by
    an open: the open would have to make its name durable itself."""
    path = str(tmp_path / "aof-0.aof")
    with pytest.raises(StorageIOError):
        open_log(OsFileSystem(), path, ManualClock())
    assert not os.path.exists(path)


def test_an_existing_file_keeps_its_format(tmp_path):
    path, _, _ = build_log(tmp_path, 1, marker=False)
    writer, report = open_log(OsFileSystem(), path, ManualClock(), format_version=2)
    assert report.format_version == writer.format_version == 1
    writer.append([b"SET", b"a", b"b"])
    writer.close()
    assert [entry.argv for entry in iter_log(OsFileSystem(), path)][-1] == [b"SET", b"a", b"b"]


@pytest.mark.parametrize("format_version", [1, 2])
def test_replay_yields_marker_then_records_and_can_start_at_an_offset(tmp_path, format_version):
    path, data, boundaries = build_log(tmp_path, format_version)
    entries = list(iter_log(OsFileSystem(), path))
    assert parse_epoch_marker(entries[0].argv) == EpochMarker(3, "incr")
    assert [entry.argv for entry in entries[1:]] == COMMANDS
    assert [entry.end_offset for entry in entries] == boundaries[1:]
    later = list(iter_log(OsFileSystem(), path, start_offset=boundaries[2]))
    assert [entry.argv for entry in later] == COMMANDS[1:]
    _, (writer, report) = reopen(tmp_path, data)
    assert report.epoch_marker == EpochMarker(3, "incr")
    assert report.record_count == len(COMMANDS) + 1
    writer.close()


@pytest.mark.parametrize("format_version", [1, 2])
def test_every_cut_keeps_the_longest_whole_prefix_and_quarantines_the_rest(tmp_path, format_version):
    """Cut the log at every offset: the valid end is the last record boundary before the cut,
    the quarantine file holds exactly the dropped bytes, and appends then replay after the prefix."""
    _, data, boundaries = build_log(tmp_path, format_version)
    for cut in range(len(data)):
        path, (writer, report) = reopen(tmp_path, data[:cut])
        if cut < 9:
            expected_end = 9  # torn or missing header: a fresh one is written
            assert report.valid_end_offset == 9
        else:
            expected_end = max(b for b in boundaries if b <= cut)
            assert report.valid_end_offset == expected_end, cut
            assert report.stop is (StopKind.CLEAN if cut == expected_end else StopKind.TORN_TAIL)
        dropped = data[expected_end:cut] if cut >= 9 else data[:cut]
        assert report.dropped_bytes == len(dropped)
        if dropped:
            assert open(report.quarantine_path, "rb").read() == dropped
            assert report.quarantine_path.startswith(path + ".corrupt-quarantine.")
        else:
            assert report.quarantine_path is None
        writer.append([b"AFTER"])
        writer.close()
        replayed = [entry.argv for entry in iter_log(OsFileSystem(), path)]
        assert replayed[-1] == [b"AFTER"]
        # A torn header is replaced by a fresh one of the requested format (2 by default).
        written_format = format_version if cut >= 9 else 2
        assert os.path.getsize(path) == expected_end + len(encode_record(written_format, [b"AFTER"]))


@pytest.mark.parametrize("format_version", [1, 2])
def test_every_flipped_byte_gives_corruption_torn_tail_or_undetected_value_change(tmp_path, format_version):
    """Flip each byte: v2 always detects it (CorruptionError when whole records follow the damaged
    one, torn tail when it is the last); v1 has no checksum, so a flip inside a value may pass."""
    _, data, boundaries = build_log(tmp_path, format_version)
    for index in range(9, len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x41
        record_start = max(b for b in boundaries if b <= index)
        is_last_record = record_start == boundaries[-2]
        try:
            _, (writer, report) = reopen(tmp_path, bytes(damaged))
        except CorruptionError as error:
            assert error.path.endswith("damaged.aof")
            assert record_start <= error.offset <= len(data)
            assert not is_last_record
            continue
        writer.close()
        if format_version == 2:
            assert report.stop is StopKind.TORN_TAIL and is_last_record, index
            assert report.valid_end_offset == record_start


@pytest.mark.parametrize("format_version", [1, 2])
def test_a_zero_filled_tail_is_torn_and_truncated(tmp_path, format_version):
    _, data, boundaries = build_log(tmp_path, format_version)
    path, (writer, report) = reopen(tmp_path, data + bytes(4096))
    assert report.stop is StopKind.TORN_TAIL
    assert report.valid_end_offset == len(data)
    assert report.dropped_bytes == 4096
    assert open(report.quarantine_path, "rb").read() == bytes(4096)
    writer.close()
    assert os.path.getsize(path) == len(data)


def test_zeroed_middle_record_with_valid_records_after_is_corruption(tmp_path):
    _, data, boundaries = build_log(tmp_path, 2)
    damaged = data[: boundaries[1]] + bytes(boundaries[2] - boundaries[1]) + data[boundaries[2] :]
    with pytest.raises(CorruptionError) as caught:
        reopen(tmp_path, damaged)
    assert caught.value.offset == boundaries[1]


def test_a_lying_length_in_the_middle_is_corruption_not_a_torn_tail(tmp_path):
    """A v2 length that points past the end of the file, with whole records after it."""
    _, data, boundaries = build_log(tmp_path, 2)
    damaged = bytearray(data)
    damaged[boundaries[1] : boundaries[1] + 4] = (100_000).to_bytes(4, "little")
    with pytest.raises(CorruptionError) as caught:
        reopen(tmp_path, bytes(damaged))
    assert caught.value.offset == boundaries[1]


def test_truncate_corruption_quarantines_and_reports_it(tmp_path):
    _, data, boundaries = build_log(tmp_path, 2)
    damaged = bytearray(data)
    damaged[boundaries[2] + 10] ^= 0xFF
    path, (writer, report) = reopen(tmp_path, bytes(damaged), truncate_corruption=True)
    assert report.stop is StopKind.CORRUPTION
    assert report.corruption_offset == boundaries[2]
    assert report.valid_end_offset == boundaries[2]
    assert open(report.quarantine_path, "rb").read() == bytes(damaged[boundaries[2] :])
    writer.close()
    assert os.path.getsize(path) == boundaries[2]


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    with pytest.raises(CorruptionError) as caught:
        reopen(tmp_path, b"REDIS0011 not a kevy log")
    assert caught.value.offset == 0


class FailingFsyncFileSystem(OsFileSystem):
    def open_append(self, path):
        handle = super().open_append(path)

        def failing_fsync():
            raise StorageIOError(path, "fsync", 5, "Input/output error")

        handle.fsync = failing_fsync
        return handle


def test_after_a_failed_fsync_the_writer_refuses_appends_and_fsyncs(tmp_path):
    path = str(tmp_path / "aof-0.aof")
    create_log(OsFileSystem(), path, 2, None).close()
    writer, _ = open_log(FailingFsyncFileSystem(), path, ManualClock())
    writer.append([b"SET", b"k", b"v"])
    with pytest.raises(StorageIOError) as first:
        writer.fsync()
    assert not isinstance(first.value, LogWriterFailedError)
    assert writer.failed
    with pytest.raises(LogWriterFailedError):
        writer.fsync()
    with pytest.raises(LogWriterFailedError):
        writer.append([b"SET", b"k", b"w"])
    writer.close()


def test_writer_offsets_sequence_and_one_write_for_many(tmp_path):
    path = str(tmp_path / "aof-0.aof")
    writer = create_log(OsFileSystem(), path, 2, EpochMarker(1, "base"))
    start = writer.end_offset
    end = writer.append_many([[b"A"], [b"B"], [b"C"]])
    assert writer.write_sequence == 1
    assert end == start + 3 * len(encode_record(2, [b"A"])) == writer.size_bytes
    assert writer.fsync() == end == writer.synced_offset
    writer.close()


def test_fsync_schedule_under_each_policy():
    always = FsyncSchedule(FsyncPolicy.ALWAYS)
    assert always.after_append() is True
    everysec = FsyncSchedule(FsyncPolicy.EVERYSEC, last_sync_monotonic_ms=0)
    assert everysec.tick(5000) is False  # clean: nothing to sync
    assert everysec.after_append() is False
    assert everysec.tick(999) is False
    assert everysec.tick(1000) is True
    everysec.note_synced(1000)
    assert everysec.tick(3000) is False
    never = FsyncSchedule(FsyncPolicy("no"))
    never.after_append()
    assert never.tick(10**9) is False
    never.policy = FsyncPolicy.EVERYSEC
    assert never.tick(10**9) is True
