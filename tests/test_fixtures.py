"""The data dirs written by the Rust kevy 1.23 load to exactly their recorded content.

Method: `kevy-persist dump` (read-only) and `Store.open` (on a copy: open repairs and records
the layout) over each fixture, compared with `NAME.expected.json` (types, values, scores, TTL
presence). Then the way back: a dir we write with `log_format=1` keeps kevy 1.23's formats.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from fixture_paths import FIXTURES_DIR

from kevy_persist import LayoutError, Store, StoreConfig
from kevy_persist.formats.resp import NeedMore, decode_command
from kevy_persist.store.store import iter_shards
from kevy_persist.tools.cli import main as cli_main
from kevy_persist.tools.logical_dump import logical_content, render_entries

FIXTURES = FIXTURES_DIR
KEVY_KNOWN_VERBS = {b"DEL", b"SET", b"RPUSH", b"INCRBY", b"HSET", b"PEXPIREAT"}
LAYOUTS = {"n1-kevyhash": (1, "kevyhash"), "n2-aof-only": (2, "kevyhash"), "n3-kevyhash": (3, "kevyhash"), "n4-slots": (4, "slots")}


def expected_keys(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())["keys"]


def copy_fixture(name: str, tmp_path: pathlib.Path) -> pathlib.Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_fixture_dumps_to_its_expected_content(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`kevy-persist dump DIR` prints the fixture's expected keys (ignoring exact deadlines)."""
    assert cli_main(["dump", str(FIXTURES / name)]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert (dumped["shards"], dumped["routing"]) == LAYOUTS[name]
    assert logical_content(dumped) == expected_keys(name)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_fixture_checks_clean(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`kevy-persist check` finds every file of a kevy-written dir intact."""
    assert cli_main(["check", str(FIXTURES / name)]) == 0
    assert "clean" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_fixture_opens_in_the_store_and_survives_a_save(name: str, tmp_path: pathlib.Path) -> None:
    """The embedded store opens a copy with the recorded layout; after SAVE and reopen the
    content is unchanged."""
    directory = copy_fixture(name, tmp_path)
    shard_count, routing = LAYOUTS[name]
    config = StoreConfig(data_dir=str(directory), shard_count=shard_count, routing=routing, ticker="manual")
    for round_index in range(2):
        with Store.open(config) as store:
            entries = [entry for _, shard in iter_shards(store) for entry in shard.keyspace.iter_entries()]
            assert logical_content(render_entries(entries)) == expected_keys(name), f"round {round_index}"
            store.save()


def test_format_one_dirs_keep_kevy_formats(tmp_path: pathlib.Path) -> None:
    """With `log_format=1` every file we write is one kevy 1.23 reads: KEVYAOF1 logs of plain
    frames whose commands kevy knows (markers are DELs of reserved keys), v4 snapshots, the
    v2 meta text kevy writes."""
    config = StoreConfig(data_dir=str(tmp_path), shard_count=2, log_format=1, ticker="manual")
    with Store.open(config) as store:
        store.set("a", "1")
        store.rpush("list", "x", "y")
        store.save()
        store.incr("counter")
        with store.transaction() as transaction:
            transaction.incr("counter")
            transaction.incr("counter", 10)
    for index in range(2):
        log = (tmp_path / f"aof-{index}.aof").read_bytes()
        assert log.startswith(b"KEVYAOF1\n")
        position = 9
        while position < len(log):
            decoded = decode_command(log, position)
            assert not isinstance(decoded, NeedMore), "the log ends on a whole frame"
            argv, position = decoded
            assert argv[0] in KEVY_KNOWN_VERBS, argv
        assert (tmp_path / f"dump-{index}.rdb").read_bytes()[:9] == b"KEVYSNAP\x04"
    assert (tmp_path / "shards.meta").read_bytes() == b"2\nkevyhash\n"
    with Store.open(config) as store:
        assert store.get("a") == b"1" and store.get("counter") == b"12"
        assert store.lrange("list") == [b"x", b"y"]


def test_check_reports_damage_with_nonzero_exit(tmp_path: pathlib.Path) -> None:
    """A broken frame header followed by valid records is reported as corruption (format 1
    logs carry no checksum, so the flip hits the `*` that opens the first frame)."""
    directory = copy_fixture("n3-kevyhash", tmp_path)
    log = directory / "aof-1.aof"
    data = bytearray(log.read_bytes())
    assert data[9:10] == b"*"
    data[9] ^= 0xFF
    log.write_bytes(bytes(data))
    completed = subprocess.run(
        [sys.executable, "-m", "kevy_persist.tools.cli", "check", str(directory)], capture_output=True, text=True
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "DAMAGE" in completed.stdout and "aof-1.aof" in completed.stdout


def test_files_beyond_the_recorded_layout_refuse_to_open(tmp_path: pathlib.Path) -> None:
    """A meta saying 3 shards beside a shard-3 snapshot: its keys would vanish, so open refuses."""
    directory = copy_fixture("n4-slots", tmp_path)
    (directory / "shards.meta").write_bytes(b"3\nslots\n")
    with pytest.raises(LayoutError, match="beyond the recorded layout"):
        Store.open(StoreConfig(data_dir=str(directory), shard_count=3, routing="slots", ticker="manual"))


def test_stray_files_refuse_a_reshard_too(tmp_path: pathlib.Path) -> None:
    """Asking for another layout does not re-shard over stray files (their keys would be lost).
    The refused open leaves every file of the layout as it was (only the dir's LOCK, which
    an owner never removes, is new)."""
    directory = copy_fixture("n4-slots", tmp_path)
    (directory / "shards.meta").write_bytes(b"3\nslots\n")
    before = sorted(path.name for path in directory.iterdir())
    with pytest.raises(LayoutError, match="beyond the recorded layout"):
        Store.open(StoreConfig(data_dir=str(directory), shard_count=5, ticker="manual"))
    assert sorted(path.name for path in directory.iterdir() if path.name != "LOCK") == before


def test_a_shard_that_refuses_to_open_releases_the_others(tmp_path: pathlib.Path) -> None:
    """Shard 2's snapshot is corrupt: the open fails with CorruptionError naming it, and the
    logs shards 0 and 1 had opened are closed again (no handle is left behind)."""
    from kevy_persist.disk.os_fs import OsFileSystem
    from kevy_persist.errors import CorruptionError

    class TrackingFileSystem(OsFileSystem):
        def __init__(self) -> None:
            self.open_handles: set = set()

        def open_append(self, path: str):  # type: ignore[override]
            handle = super().open_append(path)
            self.open_handles.add(handle)
            original_close = handle.close

            def close() -> None:
                self.open_handles.discard(handle)
                original_close()

            handle.close = close  # type: ignore[method-assign]
            return handle

    directory = copy_fixture("n3-kevyhash", tmp_path)
    snapshot = directory / "dump-2.rdb"
    snapshot.write_bytes(snapshot.read_bytes()[:100])
    file_system = TrackingFileSystem()
    config = StoreConfig(data_dir=str(directory), shard_count=3, ticker="manual")
    with pytest.raises(CorruptionError) as refused:
        Store.open(config, file_system=file_system)
    assert refused.value.path.endswith("dump-2.rdb")
    assert not file_system.open_handles


def test_a_flipped_shard_count_in_the_meta_refuses_to_serve_misrouted_keys(tmp_path: pathlib.Path) -> None:
    """shards.meta has no checksum: "3" flipped to "2" (one bit) is a valid layout. Opening
    with it would hide most keys, so the routing sample refuses. (Shard 2's files are moved
    aside so the stray-file check, which would also refuse, does not decide first.)"""
    directory = copy_fixture("n3-kevyhash", tmp_path)
    (directory / "shards.meta").write_bytes(b"2\nkevyhash\n")
    (directory / "dump-2.rdb").rename(directory / "spare-2")  # so no stray file gives it away
    (directory / "aof-2.aof").rename(directory / "spare-2.aof")
    with pytest.raises(LayoutError, match="sampled keys are not in the shard"):
        Store.open(StoreConfig(data_dir=str(directory), shard_count=2, ticker="manual"))
