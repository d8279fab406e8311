"""Re-shard: every key re-homed exactly once, crash states recovered, bad input refused.

Method: the kevy 1.23 fixtures are copied to temp dirs and re-sharded with the real file
system to every count 1..5 under both routings; the result, opened shard by shard with
`open_shard`, must dump to the fixture's `expected.json` (logical content) with every key in
the shard it routes to. Crash states are produced by stopping the real protocol at a phase
(a listener that raises), by writing what kevy 1.23 leaves behind, or by tearing the
journal; recovery must then roll forward or discard as specs/reshard.md says. The sweeps of
every crash point are in tests/test_reshard_sweeps.py.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest
from fixture_paths import FIXTURES_DIR

from kevy_persist.commands import CommandContext
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.engine.shard import ShardOptions
from kevy_persist.engine.shard_opening import open_shard
from kevy_persist.errors import LayoutError
from kevy_persist.formats.snapshot_format import TRAILER_SIZE, encode_snapshot
from kevy_persist.layout.meta import LayoutSource, ShardLayout, read_layout, write_layout
from kevy_persist.layout.names import (
    RESHARD_JOURNAL_NAME,
    ReshardJournal,
    encode_reshard_journal,
    premigration_name,
    reshard_temp_name,
    snapshot_name,
)
from kevy_persist.layout.routing import Routing, router_for
from kevy_persist.reshard.protocol import Phase
from kevy_persist.reshard.reconcile import reconcile_layout, reshard
from kevy_persist.reshard.recovery import InterruptedOutcome, recover_interrupted_reshard
from kevy_persist.reshard.sources import load_keyspace_read_only
from kevy_persist.store.config import StoreConfig
from kevy_persist.store.store import Store
from kevy_persist.tools.logical_dump import logical_content, render_entries

FIXTURES = FIXTURES_DIR
FIXTURE_NAMES = ["n1-kevyhash", "n2-aof-only", "n3-kevyhash", "n4-slots"]
needs_fixtures = pytest.mark.skipif(not FIXTURES.exists(), reason="kevy 1.23 fixtures absent")
FS = OsFileSystem()
NOW_MS = 1_800_000_000_000


class Crash(Exception):
    """Raised by a listener to stop the protocol at a phase, like a crash (files stay)."""


def crash_at(phase: Phase):
    def listener(current: Phase) -> None:
        if current is phase:
            raise Crash(phase.value)

    return listener


def copy_fixture(name: str, tmp_path: pathlib.Path) -> str:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(target)


def expected_keys(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())["keys"]


def dump_layout(directory: str, layout: ShardLayout) -> dict:
    """Open every shard of `layout` and return the logical content; check key placement."""
    router = router_for(layout.shard_count, layout.routing)
    entries = []
    for index in range(layout.shard_count):
        shard = open_shard(FS, ManualClock(NOW_MS), ShardOptions(directory=directory, index=index))
        for entry in shard.keyspace.iter_entries():
            assert router.shard_for_key(entry[0]) == index, (entry[0], index)
            entries.append(entry)
        shard.close()
    assert len(entries) == len({entry[0] for entry in entries}), "a key is in two shards"
    return logical_content(render_entries(entries))


def names(directory: str) -> list[str]:
    return sorted(FS.list_dir(directory))


@needs_fixtures
@pytest.mark.parametrize("routing", [Routing.KEVYHASH, Routing.SLOTS])
@pytest.mark.parametrize("shard_count", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_resharded_dumps_to_its_expected_content(name, shard_count, routing, tmp_path):
    """Each kevy 1.23 fixture re-sharded to n shards by `routing` dumps to expected.json."""
    directory = copy_fixture(name, tmp_path)
    target = ShardLayout(shard_count, routing)
    report = reconcile_layout(FS, directory, target, ManualClock(NOW_MS))
    assert read_layout(FS, directory).layout == target
    assert (report.reshard is None) == (report.found.layout == target)
    assert dump_layout(directory, target) == expected_keys(name)
    assert not [entry for entry in names(directory) if entry.endswith(".reshard") or entry == RESHARD_JOURNAL_NAME]


@needs_fixtures
def test_resharding_twice_raw_copies_our_own_snapshots(tmp_path):
    """A second re-shard of a re-sharded dir moves every source as raw records (no log adds
    anything after the new snapshots) and still dumps to the expected content."""
    directory = copy_fixture("n3-kevyhash", tmp_path)
    reconcile_layout(FS, directory, ShardLayout(4, Routing.SLOTS), ManualClock(NOW_MS))
    report = reconcile_layout(FS, directory, ShardLayout(3, Routing.KEVYHASH), ManualClock(NOW_MS + 1))
    assert report.reshard.raw_sources == (0, 1, 2, 3) and report.reshard.decoded_sources == ()
    assert dump_layout(directory, ShardLayout(3, Routing.KEVYHASH)) == expected_keys("n3-kevyhash")


@needs_fixtures
def test_meta_less_single_shard_dir_and_bare_count_meta_reshard(tmp_path):
    """No shards.meta (legacy inference: 1 shard, KevyHash) and a v1 bare-count meta."""
    legacy = copy_fixture("n1-kevyhash", tmp_path)
    (pathlib.Path(legacy) / "shards.meta").unlink()
    assert read_layout(FS, legacy).source is LayoutSource.LEGACY
    reconcile_layout(FS, legacy, ShardLayout(3, Routing.KEVYHASH), ManualClock(NOW_MS))
    assert dump_layout(legacy, ShardLayout(3, Routing.KEVYHASH)) == expected_keys("n1-kevyhash")
    bare = copy_fixture("n3-kevyhash", tmp_path)
    (pathlib.Path(bare) / "shards.meta").write_text("3\n")
    reconcile_layout(FS, bare, ShardLayout(2, Routing.SLOTS), ManualClock(NOW_MS))
    assert dump_layout(bare, ShardLayout(2, Routing.SLOTS)) == expected_keys("n3-kevyhash")


def build_two_shards_with_flushall(directory: str) -> dict:
    """Shard 0: keys; shard 1: keys, SAVE, FLUSHALL, more keys. Returns the expected content."""
    FS.make_dirs(directory)
    clock = ManualClock(NOW_MS)
    router = router_for(2, Routing.KEVYHASH)
    keys = [b"key:%d" % number for number in range(40)]
    by_shard = {0: [key for key in keys if router.shard_for_key(key) == 0],
                1: [key for key in keys if router.shard_for_key(key) == 1]}
    expected = {}
    for index in (0, 1):
        shard = open_shard(FS, clock, ShardOptions(directory=directory, index=index, fsync_policy=FsyncPolicy.ALWAYS))
        context = CommandContext(clock.now_ms(), None)
        half = len(by_shard[index]) // 2
        for key in by_shard[index][:half]:
            shard.execute([b"SET", key, b"before"], context)
            expected[key] = b"before"
        if index == 1:
            shard.save()
            shard.execute([b"FLUSHALL"], context)
            for key in by_shard[1][:half]:
                del expected[key]
        for key in by_shard[index][half:]:
            shard.execute([b"SET", key, b"after"], context)
            expected[key] = b"after"
        shard.sync_log()
        shard.close()
    write_layout(FS, directory, ShardLayout(2, Routing.KEVYHASH))
    return expected


@pytest.mark.parametrize("shard_count", [1, 3])
def test_flushall_in_one_source_keeps_the_other_sources_keys(shard_count, tmp_path):
    """The last source's log holds a FLUSHALL: each source loads into its own keyspace, so
    the first source's keys all survive (a merged replay would wipe them)."""
    directory = str(tmp_path / "data")
    expected = build_two_shards_with_flushall(directory)
    reconcile_layout(FS, directory, ShardLayout(shard_count, Routing.KEVYHASH), ManualClock(NOW_MS))
    content = dump_layout(directory, ShardLayout(shard_count, Routing.KEVYHASH))
    assert {bytes.fromhex(key): bytes.fromhex(entry["value"]) for key, entry in content.items()} == expected


@pytest.mark.parametrize("phase", [Phase.COMMITTED, Phase.TARGETS_INSTALLED, Phase.LAYOUT_RECORDED])
def test_crash_after_the_commit_point_rolls_forward_idempotently(phase, tmp_path):
    """Stopped at a phase after the commit, the next open finishes the re-shard; a second
    recovery (and a crash inside the first) changes nothing more."""
    directory = str(tmp_path / "data")
    expected = build_two_shards_with_flushall(directory)
    target = ShardLayout(3, Routing.SLOTS)
    with pytest.raises(Crash):
        reshard(FS, directory, ShardLayout(2, Routing.KEVYHASH), target, ManualClock(NOW_MS), listener=crash_at(phase))
    assert RESHARD_JOURNAL_NAME in names(directory)
    with pytest.raises(Crash):  # recovery itself interrupted half way
        recover_interrupted_reshard(FS, directory, listener=crash_at(Phase.TARGETS_INSTALLED))
    first = recover_interrupted_reshard(FS, directory)
    assert first.outcome is InterruptedOutcome.ROLLED_FORWARD
    after_first = names(directory)
    second = recover_interrupted_reshard(FS, directory)
    assert second.outcome is InterruptedOutcome.NONE and names(directory) == after_first
    content = dump_layout(directory, target)
    assert {bytes.fromhex(key): bytes.fromhex(entry["value"]) for key, entry in content.items()} == expected


@pytest.mark.parametrize("phase", [Phase.STALE_TEMPS_REMOVED, Phase.TEMPS_WRITTEN, Phase.TEMPS_DURABLE])
def test_failure_before_the_journal_abandons_and_keeps_the_old_layout(phase, tmp_path):
    """An error before the journal exists abandons the attempt (its temps removed); the old
    files are byte for byte untouched and the next open has nothing to recover. (Crashes
    there, which leave the temps, are the sweeps' and `test_stale_temps_...`'s subject.)"""
    directory = str(tmp_path / "data")
    build_two_shards_with_flushall(directory)
    before = {name: FS.read_bytes(f"{directory}/{name}") for name in names(directory)}
    with pytest.raises(Crash):
        reshard(FS, directory, ShardLayout(2, Routing.KEVYHASH), ShardLayout(3, Routing.KEVYHASH),
                ManualClock(NOW_MS), listener=crash_at(phase))
    assert recover_interrupted_reshard(FS, directory).outcome is InterruptedOutcome.NONE
    assert {name: FS.read_bytes(f"{directory}/{name}") for name in names(directory)} == before


@pytest.mark.parametrize("cut", [0, 1, 20, 40, -2])
def test_torn_journal_is_discarded(cut, tmp_path):
    """A journal cut anywhere before its final newline does not parse: the attempt is discarded,
    the temps removed, the old layout (with every key) stands."""
    directory = str(tmp_path / "data")
    expected = build_two_shards_with_flushall(directory)
    with pytest.raises(Crash):
        reshard(FS, directory, ShardLayout(2, Routing.KEVYHASH), ShardLayout(3, Routing.KEVYHASH),
                ManualClock(NOW_MS), listener=crash_at(Phase.TEMPS_DURABLE))
    journal = encode_reshard_journal(ReshardJournal(NOW_MS * 1_000_000, 2, 3, Routing.KEVYHASH))
    (tmp_path / "data" / RESHARD_JOURNAL_NAME).write_bytes(journal[:cut])
    report = reconcile_layout(FS, directory, ShardLayout(2, Routing.KEVYHASH), ManualClock(NOW_MS))
    assert report.recovery.outcome is InterruptedOutcome.DISCARDED
    assert RESHARD_JOURNAL_NAME in report.recovery.removed
    assert not [name for name in names(directory) if name.endswith(".reshard")]
    content = dump_layout(directory, ShardLayout(2, Routing.KEVYHASH))
    assert {bytes.fromhex(key): bytes.fromhex(entry["value"]) for key, entry in content.items()} == expected


def kevy_style_snapshot(entries) -> bytes:
    """What kevy 1.23 writes: our encoding without the trailer (kevy stops at the end byte)."""
    return encode_snapshot(entries, None)[:-TRAILER_SIZE]


@needs_fixtures
def test_journal_left_by_kevy_mid_finalize_rolls_forward(tmp_path):
    """kevy 1.23 crashed after its commit, having renamed some sources to backups and one
    temp into place (its finalize renames): our open finishes the job."""
    directory = copy_fixture("n3-kevyhash", tmp_path)
    old = ShardLayout(3, Routing.KEVYHASH)
    target = ShardLayout(2, Routing.KEVYHASH)
    entries = []
    for index in range(3):
        entries.extend(load_keyspace_read_only(FS, directory, index, NOW_MS).iter_entries())
    router = router_for(2, Routing.KEVYHASH)
    root = pathlib.Path(directory)
    for index in range(2):
        mine = [entry for entry in entries if router.shard_for_key(entry[0]) == index]
        (root / reshard_temp_name(index)).write_bytes(kevy_style_snapshot(mine))
    stamp = 1_750_000_000_123_456_789
    (root / RESHARD_JOURNAL_NAME).write_bytes(encode_reshard_journal(ReshardJournal(stamp, 3, 2, Routing.KEVYHASH)))
    # kevy's finalize, interrupted: every aof and dump-0 moved away, temp 0 renamed in place.
    for name in ["aof-0.aof", "aof-1.aof", "aof-2.aof", "dump-0.rdb"]:
        (root / name).rename(root / premigration_name(name, stamp))
    (root / reshard_temp_name(0)).rename(root / snapshot_name(0))
    report = reconcile_layout(FS, directory, target, ManualClock(NOW_MS))
    assert report.recovery.outcome is InterruptedOutcome.ROLLED_FORWARD
    assert report.reshard is None and read_layout(FS, directory).layout == target
    assert premigration_name("dump-2.rdb", stamp) in names(directory)
    assert dump_layout(directory, target) == expected_keys("n3-kevyhash")
    assert old != target


def test_unknown_routing_tag_refuses_to_open(tmp_path):
    directory = str(tmp_path / "data")
    build_two_shards_with_flushall(directory)
    (tmp_path / "data" / "shards.meta").write_text("2\nrendezvous\n")
    with pytest.raises(LayoutError, match="unknown routing tag"):
        reconcile_layout(FS, directory, ShardLayout(3, Routing.KEVYHASH), ManualClock(NOW_MS))


@pytest.mark.parametrize("journal", [
    b"kevy-reshard-journal v1\nstamp=1\nprev_n=2\nn=0\nrouting=slots\n",
    b"kevy-reshard-journal v1\nstamp=1\nprev_n=2\nn=99999\nrouting=slots\n",
    b"kevy-reshard-journal v1\n" + b"x" * 5000,
])
def test_untrustworthy_journal_refuses_to_open(journal, tmp_path):
    """A complete journal naming an impossible layout, or one too large to be a journal,
    refuses the open (LayoutError) and touches nothing."""
    directory = str(tmp_path / "data")
    build_two_shards_with_flushall(directory)
    (tmp_path / "data" / RESHARD_JOURNAL_NAME).write_bytes(journal)
    before = names(directory)
    with pytest.raises(LayoutError):
        reconcile_layout(FS, directory, ShardLayout(2, Routing.KEVYHASH), ManualClock(NOW_MS))
    assert names(directory) == before


def test_unreadable_journal_refuses_to_open(tmp_path):
    """A journal the file system cannot read (here: a directory in its place)."""
    directory = str(tmp_path / "data")
    build_two_shards_with_flushall(directory)
    (tmp_path / "data" / RESHARD_JOURNAL_NAME).mkdir()
    with pytest.raises(LayoutError, match="cannot be read"):
        reconcile_layout(FS, directory, ShardLayout(2, Routing.KEVYHASH), ManualClock(NOW_MS))


def test_stale_temps_without_journal_are_cleaned(tmp_path):
    """`.reshard` temps of an attempt that never committed are removed at open; data intact."""
    directory = str(tmp_path / "data")
    expected = build_two_shards_with_flushall(directory)
    for name in ["dump-0.rdb.reshard", "dump-7.rdb.reshard"]:
        (tmp_path / "data" / name).write_bytes(b"KEVYSNAP\x04garbage")
    report = reconcile_layout(FS, directory, ShardLayout(2, Routing.KEVYHASH), ManualClock(NOW_MS))
    assert report.recovery.outcome is InterruptedOutcome.DISCARDED
    assert sorted(report.recovery.removed) == ["dump-0.rdb.reshard", "dump-7.rdb.reshard"]
    assert not [name for name in names(directory) if name.endswith(".reshard")]
    content = dump_layout(directory, ShardLayout(2, Routing.KEVYHASH))
    assert len(content) == len(expected)


def test_store_opened_with_a_new_shard_count_reshards(tmp_path):
    """`Store.open` with another shard count re-homes the keys (the integration point)."""
    directory = str(tmp_path / "data")
    config = StoreConfig(data_dir=directory, shard_count=2, ticker="manual", appendfsync="always")
    store = Store.open(config)
    for number in range(50):
        store.execute("SET", f"key:{number}", f"value:{number}")
    store.execute("LPUSH", "list", "a", "b")
    store.shutdown()
    for shard_count, routing in [(5, "kevyhash"), (3, "slots"), (1, "kevyhash")]:
        store = Store.open(StoreConfig(data_dir=directory, shard_count=shard_count, routing=routing, ticker="manual"))
        assert [store.execute("GET", f"key:{number}") for number in range(50)] == [
            f"value:{number}".encode() for number in range(50)
        ]
        assert store.execute("LRANGE", "list", 0, -1) == [b"b", b"a"]
        store.shutdown()
        assert read_layout(FS, directory).layout == ShardLayout(shard_count, Routing(routing))


def test_cli_reshard_runs_offline(tmp_path, capsys):
    from kevy_persist.tools.cli import main

    directory = str(tmp_path / "data")
    expected = build_two_shards_with_flushall(directory)
    assert main(["reshard", directory, "--shards", "3", "--routing", "slots"]) == 0
    assert "re-sharded 2 shards (kevyhash) -> 3 shards (slots)" in capsys.readouterr().out
    assert len(dump_layout(directory, ShardLayout(3, Routing.SLOTS))) == len(expected)
    assert main(["reshard", directory, "--shards", "3"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    (tmp_path / "data" / "shards.meta").write_text("3\nbogus\n")
    assert main(["reshard", directory, "--shards", "2"]) == 2
