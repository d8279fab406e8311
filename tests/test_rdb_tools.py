"""`export-rdb` / `import-rdb` and DUMP / RESTORE without a Redis server.

Method: real data dirs on the OS file system. A store with every type (TTLs, half the data
only in its logs) is exported and imported under another layout; the two keyspaces, read by
the same commands, must be equal. Then each refusal: a non-empty target, a corrupt file (no
directory is created), a reserved key, a dir mid re-shard, and the CLI's exit statuses and
summary lines. RESTORE's log is checked record by record: the absolute deadline, REPLACE,
the DEL of an already-expired restore, and a replay in loading mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdb_support import keyspace_content, rdb_file, record

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import CommandContext, FirstChoice, execute, replay
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.disk.clock import ManualClock, SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import CommandError, CorruptionError, KevyError, LayoutError
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.rdb_format import encode_string
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.tools.cli import main
from kevy_persist.tools.rdb_export import export_rdb
from kevy_persist.tools.rdb_import import import_rdb

NOW_MS = 1_800_000_000_000
FAR_MS = 4_102_444_800_000


def build_store(directory: Path, shards: int = 2) -> dict:
    config = StoreConfig(data_dir=str(directory), shard_count=shards, appendfsync="no", ticker="manual")
    with Store.open(config) as store:
        store.execute("SET", "s", "v")
        store.execute("SET", "n", "123", "PXAT", FAR_MS)
        store.execute("HSET", "h", "f", "1", "g", "x" * 100)
        store.execute("RPUSH", "l", *[str(i) for i in range(50)])
        store.save()
        store.execute("SADD", "set", "a", "7")
        store.execute("ZADD", "z", "1.5", "m", "-inf", "n")
        store.execute("SET", "\x00binary", "\xff")
        content = keyspace_content(store.execute)
        # Stored, but expired by the time the export reads the dir: the export's clock is a
        # day ahead (a deterministic stand-in for "later").
        store.execute("SET", "expiring", "soon", "PX", "60000")
    return content


def read_content(directory: Path, shards: int, routing: str = "kevyhash") -> dict:
    config = StoreConfig(data_dir=str(directory), shard_count=shards, routing=routing, appendfsync="no", ticker="manual")
    with Store.open(config) as store:
        return keyspace_content(store.execute)


def test_export_then_import_under_another_layout_keeps_every_key(tmp_path: Path) -> None:
    expected = build_store(tmp_path / "source")
    fs = OsFileSystem()
    a_day_later = ManualClock(SystemClock().now_ms() + 86_400_000)
    export = export_rdb(fs, str(tmp_path / "source"), str(tmp_path / "out.rdb"), a_day_later)
    assert export.key_count == len(expected) and export.skipped_expired == 1 and export.expires_count == 1
    report = import_rdb(fs, str(tmp_path / "out.rdb"), str(tmp_path / "target"), ShardLayout(3, Routing.SLOTS),
                        SystemClock())
    assert report.key_count == len(expected) and sum(report.keys_per_shard) == len(expected)
    assert sorted(name.name for name in (tmp_path / "target").iterdir()) == [
        "dump-0.rdb", "dump-1.rdb", "dump-2.rdb", "shards.meta"]
    assert read_content(tmp_path / "target", 3, "slots") == expected


def test_import_refuses_a_non_empty_directory_and_corrupt_files_create_nothing(tmp_path: Path) -> None:
    fs = OsFileSystem()
    good = tmp_path / "good.rdb"
    good.write_bytes(rdb_file(record(rdb.TYPE_STRING, b"k", encode_string(b"v"))))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(LayoutError, match="not empty"):
        import_rdb(fs, str(good), str(occupied), ShardLayout(1), SystemClock())
    assert [path.name for path in occupied.iterdir()] == ["notes.txt"]
    bad = tmp_path / "bad.rdb"
    bad.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(CorruptionError) as caught:
        import_rdb(fs, str(bad), str(tmp_path / "never"), ShardLayout(1), SystemClock())
    assert caught.value.path == str(bad)
    assert not (tmp_path / "never").exists()


def test_import_skips_expired_keys_and_refuses_reserved_ones(tmp_path: Path) -> None:
    fs = OsFileSystem()
    path = tmp_path / "in.rdb"
    expired = bytes((rdb.OPCODE_EXPIRETIME_MS,)) + (NOW_MS - 1).to_bytes(8, "little")
    path.write_bytes(rdb_file(expired + record(0, b"old", encode_string(b"v")) + record(0, b"kept", encode_string(b"v"))))
    report = import_rdb(fs, str(path), str(tmp_path / "a"), ShardLayout(1), ManualClock(NOW_MS))
    assert (report.key_count, report.skipped_expired) == (1, 1)
    path.write_bytes(rdb_file(record(0, b"\x00KEVYEPOCH", encode_string(b"v"))))
    with pytest.raises(KevyError, match="reserves"):
        import_rdb(fs, str(path), str(tmp_path / "b"), ShardLayout(1), ManualClock(NOW_MS))


def test_export_refuses_a_directory_that_is_not_a_data_dir(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="no such data dir"):
        export_rdb(OsFileSystem(), str(tmp_path / "missing"), str(tmp_path / "out.rdb"), SystemClock())
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="not a kevy data dir"):
        export_rdb(OsFileSystem(), str(tmp_path / "empty"), str(tmp_path / "out.rdb"), SystemClock())
    build_store(tmp_path / "source", shards=1)
    (tmp_path / "source" / "reshard.journal").write_text("pending")
    with pytest.raises(LayoutError, match="re-shard is unfinished"):
        export_rdb(OsFileSystem(), str(tmp_path / "source"), str(tmp_path / "out.rdb"), SystemClock())
    assert not (tmp_path / "out.rdb").exists()


def test_cli_exit_statuses_and_summaries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_store(tmp_path / "source")
    assert main(["export-rdb", str(tmp_path / "source"), str(tmp_path / "out.rdb")]) == 0
    assert "exported 8 keys (2 with a TTL) from 2 shards" in capsys.readouterr().out  # "expiring" lives a minute
    assert main(["import-rdb", str(tmp_path / "out.rdb"), str(tmp_path / "new"), "--shards", "4"]) == 0
    assert "imported 8 keys" in capsys.readouterr().out
    assert main(["import-rdb", str(tmp_path / "out.rdb"), str(tmp_path / "new")]) == 2
    assert "not empty" in capsys.readouterr().err
    (tmp_path / "junk.rdb").write_bytes(b"REDIS0010\x08")
    assert main(["import-rdb", str(tmp_path / "junk.rdb"), str(tmp_path / "other")]) == 2
    assert "unknown opcode 8" in capsys.readouterr().err


# -- RESTORE's log -----------------------------------------------------------------------


def run(keyspace: Keyspace, *argv: bytes, now_ms: int = NOW_MS):
    return execute(keyspace, list(argv), CommandContext(now_ms, FirstChoice()))


def test_restore_logs_the_absolute_deadline_and_replace() -> None:
    source = Keyspace()
    run(source, b"RPUSH", b"l", b"a", b"b")
    payload = run(source, b"DUMP", b"l").reply
    target = Keyspace()
    outcome = run(target, b"RESTORE", b"copy", b"5000", payload, b"IDLETIME", b"3")
    assert outcome.log == ([b"RESTORE", b"copy", b"%d" % (NOW_MS + 5000), payload, b"REPLACE", b"ABSTTL"],)
    assert run(target, b"RESTORE", b"plain", b"0", payload).log == ([b"RESTORE", b"plain", b"0", payload, b"REPLACE"],)
    # An absolute deadline already past: nothing stored; the replaced key's removal is logged.
    outcome = run(target, b"RESTORE", b"plain", b"1", payload, b"REPLACE", b"ABSTTL")
    assert outcome.log == ([b"DEL", b"plain"],) and run(target, b"EXISTS", b"plain").reply == 0
    assert run(target, b"RESTORE", b"never", b"1", payload, b"ABSTTL").log == ()


def test_a_replayed_restore_keeps_its_deadline_even_when_past() -> None:
    source = Keyspace()
    run(source, b"SET", b"k", b"v")
    payload = run(source, b"DUMP", b"k").reply
    restored = Keyspace()
    (logged,) = run(restored, b"RESTORE", b"k", b"1000", payload).log
    replayed = Keyspace()
    assert replay(replayed, logged, NOW_MS + 10_000) == "OK"  # replay runs later: no expiry
    assert replayed.deadline_of(b"k") == NOW_MS + 1000 and replayed.peek(b"k") == b"v"


@pytest.mark.timeout(60)
def test_dump_and_restore_through_kevy_server_with_redis_py(tmp_path: Path) -> None:
    """Method: redis-py's dump() / restore() against kevy-server; the value survives a restart."""
    from server_support import client, running_server

    with running_server(tmp_path / "data", appendfsync="always") as server:
        connection = client(server)
        connection.hset("h", mapping={"f": "v", "n": "1"})
        payload = connection.dump("h")
        assert payload[-10:-8] == b"\x0a\x00"  # RDB version 10, little-endian
        assert connection.restore("copy", 60_000, payload) == b"OK"
        assert connection.restore("copy", 0, payload, replace=True, idletime=5) == b"OK"
        with pytest.raises(Exception, match="BUSYKEY"):
            connection.restore("copy", 0, payload)
        assert connection.dump("missing") is None
        connection.close()
    with running_server(tmp_path / "data") as server:
        connection = client(server)
        assert connection.hgetall("copy") == {b"f": b"v", b"n": b"1"}
        assert connection.pttl("copy") == -1
        connection.close()


def test_progress_is_reported_and_ends_complete(tmp_path: Path) -> None:
    """Method: a recording callback; the last call says done == total, and the bar draws."""
    import io

    from kevy_persist.reshard.progress import TerminalProgress

    build_store(tmp_path / "source")
    calls: list[tuple[int, int]] = []
    export_rdb(OsFileSystem(), str(tmp_path / "source"), str(tmp_path / "out.rdb"), SystemClock(),
               progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    calls.clear()
    import_rdb(OsFileSystem(), str(tmp_path / "out.rdb"), str(tmp_path / "new"), ShardLayout(2), SystemClock(),
               progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    stream = io.StringIO()
    bar = TerminalProgress(stream, threshold_bytes=0, label="importing")
    bar.enabled = True  # a StringIO is no terminal
    bar(50, 100)
    assert stream.getvalue().startswith("\rimporting [###############---------------]  50%")


def test_typed_dump_and_restore() -> None:
    with Store.open(StoreConfig(data_dir=None)) as store:
        store.zadd("z", {"a": 1.5})
        payload = store.dump("z")
        assert store.restore("copy", payload, ttl=60) is True
        assert 0 < store.pttl("copy") <= 60_000
        with pytest.raises(CommandError, match="BUSYKEY"):
            store.restore("copy", payload)
        assert store.restore("copy", payload, replace=True) and store.pttl("copy") == -1
        assert store.zscore("copy", "a") == 1.5 and store.dump("missing") is None
