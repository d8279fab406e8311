"""The kevy 1.23 data dir with streams (`streams-n2`) loads to exactly its recorded content.

Method: the fixture (two shards; streams in snapshots and in logs, deleted entries, empty
streams whose ID clock moved, a MKSTREAM-only stream, groups, consumers, pending rows, one
of them for a deleted entry, a TTL) is dumped, opened in the Store, saved, rewritten and
re-sharded, and compared with `streams-n2.expected.json` each time.

One entry has no fixed ID: kevy 1.23 logged `XADD snap:s1:885767 * late 1` as sent, so its
ID is chosen again by whoever replays the log, at the replay's time (kevy would do the same
after a restart). Replaying at the moment kevy chose it, 1796179442818 ms (the ID the
expected content records), gives exactly the expected content; replaying now gives the
same content except that entry's ID, which then carries the replay's millisecond.

Then the way back: a dir written here with `log_format=1` holding streams must be one
kevy 1.23 reads. Without its binary, that is checked against kevy 1.23's own parsers, read
in its source (goliajp/kevy at v1.23.2, crates/kevy/src/dispatch_stream): every logged
record must have a shape they accept (`kevy_1_23_accepts` below), and the snapshot is the
version-4 layout they decode (tests/test_snapshot_streams.py checks the bytes).
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest
from fixture_paths import FIXTURES_DIR

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.formats.aof_format import detect_format, read_record
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard.reconcile import reconcile_layout
from kevy_persist.store.store import iter_shards
from kevy_persist.tools.cli import dump
from kevy_persist.tools.cli import main as cli_main
from kevy_persist.tools.logical_dump import logical_content, render_entries

NAME = "streams-n2"
KEVY_CHOSE_MS = 1796179442818
LATE_KEY = b"snap:s1:885767".hex()


def expected_keys() -> dict:
    return json.loads((FIXTURES_DIR / f"{NAME}.expected.json").read_text())["keys"]


def copy_fixture(tmp_path: pathlib.Path) -> pathlib.Path:
    target = tmp_path / NAME
    shutil.copytree(FIXTURES_DIR / NAME, target)
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def store_content(store: Store) -> dict:
    entries = [entry for _, shard in iter_shards(store) for entry in shard.keyspace.iter_entries()]
    return logical_content(render_entries(entries))


def test_the_fixture_dumps_to_exactly_its_expected_content() -> None:
    """`dump` replaying at the moment kevy chose the `*` ID gives expected.json exactly."""
    dumped = dump(str(FIXTURES_DIR / NAME), None, None, now_ms=KEVY_CHOSE_MS)
    assert (dumped["shards"], dumped["routing"]) == (2, "kevyhash")
    assert logical_content(dumped) == expected_keys()


def test_the_cli_dump_now_differs_only_in_the_id_kevy_left_to_the_replay(capsys: pytest.CaptureFixture[str]) -> None:
    """`kevy-persist dump` (replaying now): every key as expected, the late entry's ID is now's."""
    assert cli_main(["dump", str(FIXTURES_DIR / NAME)]) == 0
    dumped = logical_content(json.loads(capsys.readouterr().out))
    expected = expected_keys()
    late, late_expected = dumped.pop(LATE_KEY), expected.pop(LATE_KEY)
    assert dumped == expected
    late_id = late["value"]["last_id"]
    assert late_id.endswith("-0") and int(late_id.split("-")[0]) > KEVY_CHOSE_MS
    assert late["value"]["entries"][:-1] == late_expected["value"]["entries"][:-1]
    assert late["value"]["entries"][-1] == [late_id, [b"late".hex(), b"1".hex()]]
    assert late["value"]["groups"][0]["pending"][-1] == [late_id, b"dave".hex(), 1]


def test_the_fixture_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check", str(FIXTURES_DIR / NAME)]) == 0
    assert "clean" in capsys.readouterr().out


def test_the_fixture_opens_in_the_store_and_survives_save_and_rewrite(tmp_path: pathlib.Path) -> None:
    """Open (replaying at kevy's moment), SAVE, reopen, rewrite the logs, reopen: unchanged."""
    directory = copy_fixture(tmp_path)
    config = StoreConfig(data_dir=str(directory), shard_count=2, ticker="manual")
    clock = ManualClock(KEVY_CHOSE_MS)
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == expected_keys()
        store.save()
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == expected_keys()
        store.rewrite_log()
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == expected_keys()


@pytest.mark.parametrize("routing", [Routing.KEVYHASH, Routing.SLOTS])
@pytest.mark.parametrize("shard_count", [1, 2, 3, 4, 5])
def test_the_fixture_reshards_to_every_layout(shard_count: int, routing: Routing, tmp_path: pathlib.Path) -> None:
    """Re-shard to 1-5 shards by either routing, then open: the expected content."""
    directory = copy_fixture(tmp_path)
    clock = ManualClock(KEVY_CHOSE_MS)
    reconcile_layout(OsFileSystem(), str(directory), ShardLayout(shard_count, routing), clock)
    config = StoreConfig(data_dir=str(directory), shard_count=shard_count, routing=routing, ticker="manual")
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == expected_keys()
    # Once more from our own files (raw-copied version-4 stream records).
    reconcile_layout(OsFileSystem(), str(directory), ShardLayout(6 - shard_count, routing), clock)
    config = StoreConfig(data_dir=str(directory), shard_count=6 - shard_count, routing=routing, ticker="manual")
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == expected_keys()


# -- the way back: format-1 logs kevy 1.23 replays ------------------------------------------

KEVY_XCLAIM_OPTIONS = {b"IDLE": 1, b"TIME": 1, b"RETRYCOUNT": 1, b"FORCE": 0, b"JUSTID": 0}


def kevy_1_23_accepts(argv: list[bytes]) -> bool:
    """Whether kevy 1.23's dispatchers accept this stream record's shape (its source, read)."""
    verb = argv[0].upper()
    if verb == b"XADD":
        index = 2
        while argv[index].upper() in (b"NOMKSTREAM", b"MAXLEN", b"MINID"):
            if argv[index].upper() == b"NOMKSTREAM":
                index += 1
                continue
            index += 3 if argv[index + 1] in (b"=", b"~") else 2
        return argv[index].upper() != b"LIMIT" and (len(argv) - index - 1) % 2 == 0 and len(argv) - index > 2
    if verb == b"XGROUP":
        subcommand = argv[1].upper()
        if subcommand == b"CREATE":
            return len(argv) == 5 or (len(argv) == 6 and argv[5].upper() == b"MKSTREAM")
        return (subcommand, len(argv)) in {(b"SETID", 5), (b"CREATECONSUMER", 5), (b"DELCONSUMER", 5), (b"DESTROY", 4)}
    if verb == b"XCLAIM":
        index = 5
        while index < len(argv) and argv[index][:1].isdigit():
            index += 1
        while index < len(argv):
            option = argv[index].upper()
            if option not in KEVY_XCLAIM_OPTIONS:
                return False
            index += 1 + KEVY_XCLAIM_OPTIONS[option]
        return True
    if verb == b"XSETID":
        return len(argv) in (3, 5, 7) and all(option.upper() in (b"ENTRIESADDED", b"MAXDELETEDID") for option in argv[3::2])
    if verb == b"XTRIM":
        return argv[2].upper() in (b"MAXLEN", b"MINID")
    return verb in (b"XDEL", b"XACK", b"DEL", b"SET", b"PEXPIREAT")


def read_log(path: pathlib.Path) -> list[list[bytes]]:
    data = path.read_bytes()
    version, position = detect_format(data[:16])
    assert version == 1
    argvs = []
    while position < len(data):
        argv, position = read_record(version, data, position)
        argvs.append(argv)
    return argvs


def test_format_one_logs_with_streams_hold_only_what_kevy_1_23_replays(tmp_path: pathlib.Path) -> None:
    """Method: every stream command (and a rewrite) on a format-1 store; each log record is
    a shape kevy 1.23 accepts; reopening gives the same streams."""
    config = StoreConfig(data_dir=str(tmp_path), shard_count=1, log_format=1, ticker="manual")
    clock = ManualClock(KEVY_CHOSE_MS)
    script = [
        "XADD s * f 1", "XADD s MAXLEN ~ 1 LIMIT 5 * f 2", "XADD s NOMKSTREAM 9999999999999-* f 3",
        "XGROUP CREATE s g 0 ENTRIESREAD 0", "XGROUP CREATE t g $ MKSTREAM ENTRIESREAD 0",
        "XREADGROUP GROUP g alice COUNT 2 STREAMS s >", "XREADGROUP GROUP g bob NOACK STREAMS s >",
        "XREADGROUP GROUP g alice STREAMS s 0", "XCLAIM s g carol 0 9999999999999-0 LASTID 9999999999999-5",
        "XAUTOCLAIM s g dave 0 0 COUNT 5", "XGROUP SETID s g $ ENTRIESREAD 2", "XDEL s 9999999999999-0",
        "XTRIM s MINID ~ 1", "XSETID s 9999999999999-9 ENTRIESADDED 10 MAXDELETEDID 9999999999999-1",
        "XACK s g 1-0", "XGROUP CREATECONSUMER s g erin", "XGROUP DELCONSUMER s g erin",
    ]
    with Store.open(config, clock=clock) as store:
        for line in script:
            clock.advance(10)
            store.execute(*line.split())
        before = store_content(store)
    records = read_log(tmp_path / "aof-0.aof")
    assert any(record[0] == b"XCLAIM" for record in records)
    refused = [record for record in records if not kevy_1_23_accepts(record)]
    assert refused == []
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == before
        store.rewrite_log()
    assert [record for record in read_log(tmp_path / "aof-0.aof") if not kevy_1_23_accepts(record)] == []
    with Store.open(config, clock=clock) as store:
        assert store_content(store) == before
