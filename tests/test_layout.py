"""Data-dir layout: names, `shards.meta` in both formats, legacy inference, durable writes.

Method: the pure codecs are checked on kevy's own texts and on Hypothesis-generated
layouts; `read_layout` / `write_layout` run against real temp dirs through
`OsFileSystem` (and a recording wrapper that checks the durable-replace step order); the
four kevy 1.23 fixture dirs must read as the layouts kevy recorded.
"""

from __future__ import annotations

import pathlib

import pytest
from fixture_paths import FIXTURES_DIR
from hypothesis import given
from hypothesis import strategies as st

from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import LayoutError
from kevy_persist.layout.meta import (
    LayoutSource,
    MetaFormat,
    ShardLayout,
    decode_shards_meta,
    encode_shards_meta,
    infer_legacy_shard_count,
    read_layout,
    write_layout,
)
from kevy_persist.layout.names import (
    FileRole,
    ReshardJournal,
    classify,
    decode_reshard_journal,
    encode_reshard_journal,
    log_name,
    premigration_name,
    quarantine_name,
    reshard_temp_name,
    snapshot_name,
)
from kevy_persist.layout.routing import MAX_SHARD_COUNT, Routing

FIXTURES = FIXTURES_DIR
needs_fixtures = pytest.mark.skipif(not FIXTURES.exists(), reason="kevy 1.23 fixtures absent")

layouts = st.builds(
    ShardLayout, st.integers(min_value=1, max_value=MAX_SHARD_COUNT), st.sampled_from(Routing)
)


def test_names_are_spelled_as_kevy_spells_them() -> None:
    """Every helper produces the exact name kevy 1.23 uses (or ours, for quarantine)."""
    assert snapshot_name(3) == "dump-3.rdb"
    assert log_name(0) == "aof-0.aof"
    assert reshard_temp_name(2) == "dump-2.rdb.reshard"
    assert premigration_name("aof-1.aof", 1750000000123456789) == (
        "aof-1.aof.premigration.1750000000123456789"
    )
    assert quarantine_name(4, 1750000000) == "aof-4.aof.corrupt-quarantine.1750000000"
    with pytest.raises(ValueError):
        snapshot_name(-1)


@pytest.mark.parametrize(
    "name, role, index, stamp",
    [
        ("dump-0.rdb", FileRole.SNAPSHOT, 0, None),
        ("aof-12.aof", FileRole.LOG, 12, None),
        ("dump-01.rdb", FileRole.SNAPSHOT, 1, None),
        ("aof-+2.aof", FileRole.LOG, 2, None),
        ("shards.meta", FileRole.SHARDS_META, None, None),
        ("shards.meta.tmp", FileRole.SHARDS_META_TEMP, None, None),
        ("reshard.journal", FileRole.RESHARD_JOURNAL, None, None),
        ("dump-3.rdb.reshard", FileRole.RESHARD_TEMP, 3, None),
        ("dump-1.rdb.premigration.99", FileRole.PREMIGRATION_BACKUP, 1, 99),
        ("aof-0.aof.premigration.7", FileRole.PREMIGRATION_BACKUP, 0, 7),
        ("aof-2.aof.corrupt-quarantine.1700000000", FileRole.QUARANTINE, 2, 1700000000),
        ("aof-2.aof.panic-quarantine.1700000000", FileRole.QUARANTINE, 2, 1700000000),
        ("dump.rdb", FileRole.OTHER, None, None),
        ("appendonly.aof", FileRole.OTHER, None, None),
        ("dump-.rdb", FileRole.OTHER, None, None),
        ("dump--1.rdb", FileRole.OTHER, None, None),
        ("dump-1.rdb.premigration.x", FileRole.OTHER, None, None),
        ("LOCK", FileRole.OTHER, None, None),
    ],
)
def test_classify_names_every_data_dir_file(
    name: str, role: FileRole, index: int | None, stamp: int | None
) -> None:
    """Roles, shard indexes (parsed like Rust's usize) and stamps of data-dir names."""
    named = classify(name)
    assert (named.role, named.shard_index, named.stamp) == (role, index, stamp)


@pytest.mark.parametrize(
    "text, shard_count, routing, meta_format",
    [
        (b"3\n", 3, Routing.KEVYHASH, MetaFormat.V1),
        (b"3", 3, Routing.KEVYHASH, MetaFormat.V1),
        (b" 3 \r\n", 3, Routing.KEVYHASH, MetaFormat.V1),
        (b"3\n\n", 3, Routing.KEVYHASH, MetaFormat.V1),
        (b"1\nkevyhash\n", 1, Routing.KEVYHASH, MetaFormat.V2),
        (b"4\nslots\n", 4, Routing.SLOTS, MetaFormat.V2),
        (b"4\nslots", 4, Routing.SLOTS, MetaFormat.V2),
        (b"4\r\n slots \r\n", 4, Routing.SLOTS, MetaFormat.V2),
        (b"+4\nslots\n", 4, Routing.SLOTS, MetaFormat.V2),
        (b"04\nkevyhash\nignored third line\n", 4, Routing.KEVYHASH, MetaFormat.V2),
    ],
)
def test_shards_meta_is_read_as_leniently_as_kevy_reads_it(
    text: bytes, shard_count: int, routing: Routing, meta_format: MetaFormat
) -> None:
    """Whitespace, CRLF, a missing final newline, `+`/leading zeros and extra lines pass."""
    assert decode_shards_meta(text) == (ShardLayout(shard_count, routing), meta_format)


@pytest.mark.parametrize(
    "text, reason_part",
    [
        (b"4\nfuture-scheme\n", "unknown routing tag"),
        (b"4\nKEVYHASH\n", "unknown routing tag"),
        (b"three\n", "not a number"),
        (b"-1\n", "not a number"),
        (b"3.0\n", "not a number"),
        (b"\nslots\n", "not a number"),
        (b"0\n", "outside"),
        (b"%d\nkevyhash\n" % (MAX_SHARD_COUNT + 1), "outside"),
        (b"99999999999999999999999\n", "not a number"),
        (b"\xff\xfe3\n", "not UTF-8"),
    ],
)
def test_shards_meta_that_kevy_would_guess_about_is_refused(text: bytes, reason_part: str) -> None:
    """Unknown tag, garbage or out-of-range count, non-UTF-8: LayoutError naming the cause."""
    with pytest.raises(LayoutError) as caught:
        decode_shards_meta(text, "/d/shards.meta")
    assert reason_part in caught.value.reason
    assert caught.value.path == "/d/shards.meta"


@pytest.mark.parametrize("text", [b"", b"\n", b"  \r\n\n"])
def test_blank_shards_meta_reads_as_absent(text: bytes) -> None:
    """A blank meta decodes to None: the caller falls back to the legacy rule, as kevy does."""
    assert decode_shards_meta(text) is None


@given(layouts)
def test_v2_meta_round_trips(layout: ShardLayout) -> None:
    """decode(encode(layout)) == layout, and the text is exactly kevy's `{n}\\n{tag}\\n`."""
    data = encode_shards_meta(layout)
    assert data == f"{layout.shard_count}\n{layout.routing.value}\n".encode()
    assert decode_shards_meta(data) == (layout, MetaFormat.V2)


@given(st.integers(min_value=1, max_value=MAX_SHARD_COUNT))
def test_v1_meta_round_trips_for_kevyhash(shard_count: int) -> None:
    """A bare count is KevyHash; slots cannot be written in v1."""
    layout = ShardLayout(shard_count)
    assert decode_shards_meta(encode_shards_meta(layout, "v1")) == (layout, MetaFormat.V1)
    with pytest.raises(ValueError):
        encode_shards_meta(ShardLayout(shard_count, Routing.SLOTS), "v1")


def test_shard_layout_is_frozen_and_validated() -> None:
    """Counts outside 1..MAX and non-Routing values are refused at construction."""
    layout = ShardLayout(2, Routing.SLOTS)
    with pytest.raises(AttributeError):
        layout.shard_count = 3  # type: ignore[misc]
    for bad in (0, MAX_SHARD_COUNT + 1):
        with pytest.raises(ValueError):
            ShardLayout(bad)
    with pytest.raises(TypeError):
        ShardLayout(2, "slots")  # type: ignore[arg-type]


def test_legacy_count_is_highest_index_plus_one() -> None:
    """kevy's rule over dump-{i}.rdb / aof-{i}.aof; other names do not count."""
    assert infer_legacy_shard_count([]) == 0
    assert infer_legacy_shard_count(["dump.rdb", "appendonly.aof", "LOCK"]) == 0
    assert infer_legacy_shard_count(["aof-0.aof"]) == 1
    assert infer_legacy_shard_count(["dump-0.rdb", "aof-2.aof", "dump-1.rdb.reshard"]) == 3
    assert infer_legacy_shard_count(["aof-1.aof.premigration.5", "dump-0.rdb"]) == 1


def _touch(directory: pathlib.Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"x")


def test_missing_and_empty_dirs_read_as_fresh(tmp_path: pathlib.Path) -> None:
    """No directory, or one without meta and shard files, can take any layout."""
    fs = OsFileSystem()
    assert read_layout(fs, str(tmp_path / "absent")).is_fresh
    _touch(tmp_path, "dump.rdb", "appendonly.aof")
    reading = read_layout(fs, str(tmp_path))
    assert reading.source is LayoutSource.FRESH
    assert reading.layout is None


def test_meta_less_dir_infers_the_legacy_layout(tmp_path: pathlib.Path) -> None:
    """dump-0 + aof-2 without a meta: 3 shards, KevyHash, files reported per index."""
    _touch(tmp_path, "dump-0.rdb", "aof-2.aof", "aof-0.aof")
    reading = read_layout(OsFileSystem(), str(tmp_path))
    assert reading.source is LayoutSource.LEGACY
    assert reading.layout == ShardLayout(3, Routing.KEVYHASH)
    assert reading.snapshot_indexes == (0,)
    assert reading.log_indexes == (0, 2)


def test_blank_meta_falls_back_to_legacy_with_a_note(tmp_path: pathlib.Path) -> None:
    """An empty shards.meta (a torn kevy write) reads like no meta, and says so."""
    _touch(tmp_path, "aof-1.aof")
    (tmp_path / "shards.meta").write_bytes(b"")
    reading = read_layout(OsFileSystem(), str(tmp_path))
    assert reading.layout == ShardLayout(2)
    assert reading.source is LayoutSource.LEGACY
    assert any("blank" in note for note in reading.notes)


def test_meta_wins_and_strays_journal_and_temp_are_reported(tmp_path: pathlib.Path) -> None:
    """A v2 meta decides the layout; files beyond it, a journal and a temp are surfaced."""
    _touch(tmp_path, "dump-0.rdb", "aof-5.aof", "reshard.journal", "shards.meta.tmp", "dump-01.rdb")
    (tmp_path / "shards.meta").write_bytes(b"2\nslots\n")
    reading = read_layout(OsFileSystem(), str(tmp_path))
    assert reading.source is LayoutSource.META
    assert reading.meta_format is MetaFormat.V2
    assert reading.layout == ShardLayout(2, Routing.SLOTS)
    assert reading.stray_indexes == (5,)
    assert reading.journal_present
    assert reading.snapshot_indexes == (0,)
    assert any("shards.meta.tmp" in note for note in reading.notes)
    assert any("dump-01.rdb" in note for note in reading.notes)


def test_unknown_tag_on_disk_is_refused(tmp_path: pathlib.Path) -> None:
    """read_layout raises LayoutError with the meta's path instead of guessing."""
    (tmp_path / "shards.meta").write_bytes(b"2\nconsistent-hash\n")
    with pytest.raises(LayoutError) as caught:
        read_layout(OsFileSystem(), str(tmp_path))
    assert caught.value.path.endswith("shards.meta")
    assert "refusing to guess" in caught.value.reason


def test_oversized_meta_and_absurd_legacy_counts_are_refused(tmp_path: pathlib.Path) -> None:
    """Neither a huge meta nor a file named dump-999999.rdb becomes a layout."""
    (tmp_path / "shards.meta").write_bytes(b"1\n" + b" " * 10000)
    with pytest.raises(LayoutError):
        read_layout(OsFileSystem(), str(tmp_path))
    (tmp_path / "shards.meta").unlink()
    _touch(tmp_path, "dump-999999.rdb")
    with pytest.raises(LayoutError):
        read_layout(OsFileSystem(), str(tmp_path))


class RecordingFileSystem(OsFileSystem):
    """The real file system, logging the calls that matter for durability."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def open_write(self, path: str):  # type: ignore[no-untyped-def]
        handle = super().open_write(path)
        calls = self.calls
        original_fsync, original_close = handle.fsync, handle.close

        def fsync() -> None:
            calls.append(("fsync", path.rpartition("/")[2]))
            original_fsync()

        def close() -> None:
            calls.append(("close", path.rpartition("/")[2]))
            original_close()

        handle.fsync, handle.close = fsync, close  # type: ignore[method-assign]
        self.calls.append(("open_write", path.rpartition("/")[2]))
        return handle

    def rename(self, source: str, target: str) -> None:
        self.calls.append(("rename", source.rpartition("/")[2] + "->" + target.rpartition("/")[2]))
        super().rename(source, target)

    def fsync_dir(self, path: str) -> None:
        self.calls.append(("fsync_dir", ""))
        super().fsync_dir(path)


def test_write_layout_is_a_durable_replace_in_kevys_format(tmp_path: pathlib.Path) -> None:
    """tmp written and fsynced, renamed over shards.meta, dir fsynced; bytes as kevy writes."""
    fs = RecordingFileSystem()
    write_layout(fs, str(tmp_path), ShardLayout(4, Routing.SLOTS))
    assert fs.calls == [
        ("open_write", "shards.meta.tmp"),
        ("fsync", "shards.meta.tmp"),
        ("close", "shards.meta.tmp"),
        ("rename", "shards.meta.tmp->shards.meta"),
        ("fsync_dir", ""),
    ]
    assert (tmp_path / "shards.meta").read_bytes() == b"4\nslots\n"
    assert not (tmp_path / "shards.meta.tmp").exists()
    write_layout(fs, str(tmp_path), ShardLayout(3), "v1")
    assert (tmp_path / "shards.meta").read_bytes() == b"3\n"
    assert read_layout(fs, str(tmp_path)).layout == ShardLayout(3)


@needs_fixtures
@pytest.mark.parametrize(
    "name, shard_count, routing, snapshot_indexes",
    [
        ("n1-kevyhash", 1, Routing.KEVYHASH, (0,)),
        ("n2-aof-only", 2, Routing.KEVYHASH, ()),
        ("n3-kevyhash", 3, Routing.KEVYHASH, (0, 1, 2)),
        ("n4-slots", 4, Routing.SLOTS, (0, 1, 2, 3)),
    ],
)
def test_kevy_fixture_dirs_read_as_their_recorded_layouts(
    name: str, shard_count: int, routing: Routing, snapshot_indexes: tuple[int, ...]
) -> None:
    """kevy 1.23's own data dirs: v2 meta, the layout in expected.json, no strays."""
    reading = read_layout(OsFileSystem(), str(FIXTURES / name))
    assert reading.source is LayoutSource.META
    assert reading.meta_format is MetaFormat.V2
    assert reading.layout == ShardLayout(shard_count, routing)
    assert reading.snapshot_indexes == snapshot_indexes
    assert reading.log_indexes == tuple(range(shard_count))
    assert reading.stray_indexes == ()
    assert not reading.journal_present
    # What we would write for the same layout is byte-identical to kevy's file.
    assert encode_shards_meta(reading.layout) == (FIXTURES / name / "shards.meta").read_bytes()


JOURNAL = ReshardJournal(1750000000123456789, 4, 2, Routing.SLOTS)
JOURNAL_TEXT = (
    b"kevy-reshard-journal v1\nstamp=1750000000123456789\nprev_n=4\nn=2\nrouting=slots\n"
)


def test_reshard_journal_text_is_kevys() -> None:
    """The journal encodes to kevy 1.23's exact text and decodes back."""
    assert encode_reshard_journal(JOURNAL) == JOURNAL_TEXT
    assert decode_reshard_journal(JOURNAL_TEXT) == JOURNAL


def test_every_torn_journal_prefix_is_rejected() -> None:
    """Cut anywhere before the last newline, the journal does not decode (kevy discards it)."""
    for cut in range(len(JOURNAL_TEXT) - 1):
        assert decode_reshard_journal(JOURNAL_TEXT[:cut]) is None, cut
    assert decode_reshard_journal(JOURNAL_TEXT[:-1]) == JOURNAL


@pytest.mark.parametrize(
    "text",
    [
        b"kevy-reshard-journal v2\nstamp=1\nprev_n=1\nn=2\nrouting=slots\n",
        b"kevy-reshard-journal v1\nstamp=1\nprev_n=1\nn=2\nrouting=slots\nextra=1\n",
        b"kevy-reshard-journal v1\nstamp=1\nprev_n=1\n\nn=2\nrouting=slots\n",
        b"kevy-reshard-journal v1\nstamp=1\nprev_n=x\nn=2\nrouting=slots\n",
        b"kevy-reshard-journal v1\nstamp=1\nprev_n=1\nn=2\nrouting= slots\n",
        b"\xff",
    ],
)
def test_foreign_journals_are_rejected(text: bytes) -> None:
    """Wrong header, unknown key, blank line, bad number, padded tag, not UTF-8."""
    assert decode_reshard_journal(text) is None


@given(
    st.integers(min_value=0, max_value=(1 << 128) - 1),
    st.integers(min_value=0, max_value=MAX_SHARD_COUNT),
    layouts,
)
def test_reshard_journal_round_trips(stamp_ns: int, previous: int, layout: ShardLayout) -> None:
    """Any stamp (u128), previous count and target layout survive encode/decode."""
    journal = ReshardJournal(stamp_ns, previous, layout.shard_count, layout.routing)
    assert decode_reshard_journal(encode_reshard_journal(journal)) == journal
