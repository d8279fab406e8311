"""The embedded store's numbered databases: persistence, tools and the two crash protocols.

Method: real stores on the OS file system (tmp dirs). Keys are written into several
databases, then the store is reopened -- after a plain shutdown, after SAVE, after a
re-shard at open and after `kevy-persist reshard` -- and every database must hold exactly
its keys. SWAPDB and MOVE are then driven into each state a crash can leave after their
commit point (the files arranged as the protocol leaves them), and the next open must
finish them: both dirs swapped, the moved key in the target only. The crash simulator's
`swapdb-*` workloads check every crash point; these tests pin the recovery paths by name.
"""

from __future__ import annotations

import threading

import pytest

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import CommandError, LayoutError
from kevy_persist.layout.databases import MOVE_JOURNAL_NAME, MoveJournal, encode_move_journal
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard import swapdb
from kevy_persist.tools.cli import main as kevy_persist_main


def open_store(directory, **options) -> Store:
    return Store.open(StoreConfig(data_dir=str(directory), ticker="manual", **options))


def fill(store: Store) -> dict[int, dict[bytes, bytes]]:
    expected: dict[int, dict[bytes, bytes]] = {}
    for number in (0, 1, 7, 15):
        database = store.database(number)
        for index in range(20):
            key, value = b"k%d" % index, b"db%d-%d" % (number, index)
            database.set(key, value)
            expected.setdefault(number, {})[key] = value
    store.database(7).set("ttl", "x", ttl=1000)
    expected[7][b"ttl"] = b"x"
    return expected


def content(store: Store) -> dict[int, dict[bytes, bytes]]:
    found = {}
    for number in range(store.databases.count):
        database = store.database(number)
        keys = database.execute("KEYS", "*")
        if keys:
            found[number] = {key: database.get(key) for key in keys}
    return found


def test_every_database_survives_restart_save_and_reshard(tmp_path) -> None:
    with open_store(tmp_path, shard_count=2) as store:
        expected = fill(store)
    with open_store(tmp_path) as store:
        assert content(store) == expected
        assert store.database(7).execute("TTL", "ttl") > 900
        store.save()
    with open_store(tmp_path, shard_count=4, routing="slots") as store:  # re-shards every database
        assert content(store) == expected
        assert store.database(15).config.shard_count == 4
    assert kevy_persist_main(["reshard", str(tmp_path), "--shards", "3"]) == 0
    with open_store(tmp_path) as store:
        assert content(store) == expected
        for number in (0, 1, 7, 15):
            assert store.database(number).shard_count == 3
    assert kevy_persist_main(["check", str(tmp_path)]) == 0


def test_a_database_never_written_has_no_dir_and_reads_empty(tmp_path) -> None:
    with open_store(tmp_path) as store:
        store.set("a", "1")
        assert store.database_key_counts() == [(0, 1, 0)]
    assert not (tmp_path / "db-1").exists()
    with open_store(tmp_path) as store:
        assert store.database(4).get("a") is None  # opened (created) on first use


def test_swapdb_exchanges_the_keys_and_survives_restart(tmp_path) -> None:
    with open_store(tmp_path, shard_count=2) as store:
        expected = fill(store)
        store.swap_databases(0, 7)
        store.execute("SWAPDB", "1", "3")
        expected[0], expected[7] = expected[7], expected[0]
        expected[3] = expected.pop(1)
        assert content(store) == expected
        store.database(3).set("after", "swap")  # the reopened shards take writes
        expected[3][b"after"] = b"swap"
    with open_store(tmp_path) as store:
        assert content(store) == expected
    names = sorted(path.name for path in tmp_path.iterdir())
    assert not any("premigration" in name or name.endswith(".reshard") for name in names), names


@pytest.mark.parametrize("finished", [(), (0,), (0, 2)])
def test_a_committed_swap_is_rolled_forward_at_open(tmp_path, finished) -> None:
    """The files as a crash after the commit point leaves them: the temps in both dirs and
    the journal, with none, one or both dirs already finished."""
    with open_store(tmp_path) as store:
        store.set("mine", "zero")
        store.database(2).set("mine", "two")
        store.database(2).set("only", "two")
        stores = [store, store.database(2)]
        entries = [list(s._runner.shards[0].keyspace.iter_entries()) for s in stores]
    fs = OsFileSystem()
    layout = ShardLayout(1, Routing.KEVYHASH)
    journal = swapdb.SwapJournal(1, 0, 2, 1, Routing.KEVYHASH)
    from kevy_persist.engine.snapshot import write_snapshot_temp
    from kevy_persist.layout.databases import SWAP_JOURNAL_NAME, encode_swap_journal
    from kevy_persist.layout.names import reshard_temp_name

    for directory, shard_entries in ((str(tmp_path / "db-2"), entries[0]), (str(tmp_path), entries[1])):
        write_snapshot_temp(fs, directory + "/" + reshard_temp_name(0), shard_entries, None)
    (tmp_path / SWAP_JOURNAL_NAME).write_bytes(encode_swap_journal(journal))
    for number in finished:
        swapdb.finish_directory(fs, swapdb.database_directory(str(tmp_path), number), journal)
    assert layout.shard_count == 1
    with open_store(tmp_path) as store:
        assert store.get("mine") == b"two" and store.get("only") == b"two"
        assert store.database(2).get("mine") == b"zero" and store.database(2).get("only") is None
    assert not (tmp_path / SWAP_JOURNAL_NAME).exists()


def test_an_uncommitted_swap_leaves_both_databases_as_they_were(tmp_path) -> None:
    with open_store(tmp_path) as store:
        store.set("mine", "zero")
        store.database(2).set("mine", "two")
    from kevy_persist.layout.databases import SWAP_JOURNAL_NAME
    from kevy_persist.layout.names import reshard_temp_name

    (tmp_path / reshard_temp_name(0)).write_bytes(b"KEVYSNAP torn")
    (tmp_path / SWAP_JOURNAL_NAME).write_bytes(b"kevy-swapdb-journal v1\nstamp=1\nfir")  # torn: no commit
    with open_store(tmp_path) as store:
        assert store.get("mine") == b"zero" and store.database(2).get("mine") == b"two"
    assert not (tmp_path / SWAP_JOURNAL_NAME).exists() and not (tmp_path / reshard_temp_name(0)).exists()


@pytest.mark.parametrize("target_has_it", [True, False])
def test_an_interrupted_move_ends_with_the_key_in_one_database(tmp_path, target_has_it) -> None:
    """A crash after the journal: if the target's RESTORE survived, the source's copy is
    deleted at open; if not, the source keeps it. Never in both, never in neither."""
    with open_store(tmp_path) as store:
        store.set("k", "v")
        if target_has_it:
            store.database(3).set("k", "v")
    (tmp_path / MOVE_JOURNAL_NAME).write_bytes(encode_move_journal(MoveJournal(0, 3, b"k")))
    with open_store(tmp_path) as store:
        assert (store.get("k"), store.database(3).get("k")) == ((None, b"v") if target_has_it else (b"v", None))
    assert not (tmp_path / MOVE_JOURNAL_NAME).exists()


def test_move_and_copy_keep_value_type_and_deadline(tmp_path) -> None:
    with open_store(tmp_path) as store:
        store.hset("h", {"f": "v"})
        store.execute("PEXPIRE", "h", 500_000)
        deadline = store.execute("PEXPIRETIME", "h")
        assert store.execute("MOVE", "h", 2) == 1
        assert store.execute("MOVE", "h", 2) == 0  # gone from the source
        two = store.database(2)
        assert two.hgetall("h") == {b"f": b"v"} and two.execute("PEXPIRETIME", "h") == deadline
        assert two.execute("COPY", "h", "h", "DB", "0") == 1
        assert two.execute("COPY", "h", "h", "DB", "0") == 0
        assert two.execute("COPY", "h", "h", "DB", "0", "REPLACE") == 1
        with pytest.raises(CommandError, match="source and destination objects are the same"):
            two.execute("COPY", "h", "h", "DB", "2")
    with open_store(tmp_path) as store:  # what MOVE and COPY logged (RESTORE, DEL) replays
        assert store.hgetall("h") == {b"f": b"v"} and store.database(2).hgetall("h") == {b"f": b"v"}
        assert store.execute("PEXPIRETIME", "h") == deadline


def test_flushall_empties_every_database_and_flushdb_one(tmp_path) -> None:
    with open_store(tmp_path) as store:
        fill(store)
        store.database(1).execute("FLUSHDB")
        assert [number for number, _, _ in store.database_key_counts()] == [0, 7, 15]
        store.database(15).execute("FLUSHALL")
        assert store.database_key_counts() == []
    with open_store(tmp_path) as store:
        assert store.database_key_counts() == []


def test_a_database_dir_beyond_the_setting_is_refused(tmp_path) -> None:
    with open_store(tmp_path) as store:
        store.database(9).set("k", "v")
    with pytest.raises(LayoutError, match="db-9"):
        open_store(tmp_path, databases=4)


def test_databases_are_safe_to_share_between_threads(tmp_path) -> None:
    """Method: four threads each open (the same) database lazily and write their own keys
    while a fifth moves keys between databases 1 and 2; afterwards every key is in exactly
    one database with its value."""
    with open_store(tmp_path) as store:
        errors: list[BaseException] = []

        def writer(number: int) -> None:
            try:
                for index in range(200):
                    store.database(5).set(b"t%d-%d" % (number, index), b"%d" % index)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        store.database(1).mset({b"m%d" % index: b"x" for index in range(50)})

        def mover() -> None:
            for index in range(50):
                store.database(1).execute("MOVE", b"m%d" % index, 2)

        threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
        threads.append(threading.Thread(target=mover))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert store.database(5).execute("DBSIZE") == 800
        assert store.database(1).execute("DBSIZE") == 0 and store.database(2).execute("DBSIZE") == 50
