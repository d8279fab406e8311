"""A background job's tee never carries the live log's synced markers into the next log.

Method: a log under `always` gets records, fsyncs (so synced markers `\\0KEVYSYNCED <offset>`
are appended, each naming an offset of that file) and more records; the tee copies the
range holding them into a fresh log. The copy must hold every command record in order and
no synced marker: a copied claim would name the old file's offsets in the new one, where a
lost page of the unsynced tail would then read as a durable hole (specs/aof-format.md).
"""

from __future__ import annotations

from kevy_persist.engine import aof
from kevy_persist.engine.log_tail import copy_log_range
from kevy_persist.formats.log_markers import parse_synced_marker
from sim.simfs import SimFileSystem


def _records(fs: SimFileSystem, path: str) -> list[list[bytes]]:
    return [entry.argv for entry in aof.iter_log(fs, path)]


def test_synced_markers_are_dropped_from_the_tee() -> None:
    fs = SimFileSystem()
    fs.make_dirs("/d")
    writer = aof.create_log(fs, "/d/live", 2, None, [])
    start = writer.end_offset
    value = b"v" * 2048  # two records per 4 KiB: markers after most fsyncs
    for index in range(12):
        writer.append([b"SET", b"k%d" % index, value])
        writer.fsync()
    end = writer.end_offset
    live = _records(fs, "/d/live")
    assert any(parse_synced_marker(argv) is not None for argv in live), "the live log has markers"
    aof.create_log(fs, "/d/next", 2, None, []).close()
    handle = fs.open_append("/d/next")
    written = copy_log_range(fs, "/d/live", start, end, handle, 2)
    handle.close()
    assert written > 0
    copied = _records(fs, "/d/next")
    assert [argv for argv in copied if parse_synced_marker(argv) is not None] == []
    assert [argv for argv in copied if argv[0] == b"SET"] == [
        [b"SET", b"k%d" % index, value] for index in range(12)
    ]
