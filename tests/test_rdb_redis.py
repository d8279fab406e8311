"""The bridge against a real redis-server 7.0: RDB files both ways.

Method: the same commands (`rdb_redis_population`: every type, small and large collections,
integers, long and compressible strings, binary bytes, infinite scores, TTLs, streams with
deleted entries, groups, consumers and pending rows, empty streams whose ID clock moved)
populate a kevy store and a redis-server. Then
- kevy -> Redis: `export-rdb` of the kevy dir (3 shards, part of the data in snapshots and
  part only in the logs), plain and LZF-compressed, passes `redis-check-rdb` and is loaded
  by a fresh redis-server; its keyspace read over RESP (for streams every read command,
  XINFO STREAM FULL included) must equal kevy's reopened at the export's clock reading,
  deadlines included;
- Redis -> kevy: redis-server SAVEs under two sets of thresholds -- tiny ones (every
  collection in its big encoding: hashtable, skiplist, intset-less sets, many quicklist
  nodes, compressed list nodes, stream nodes of 4 entries or 256 bytes) and huge ones
  (every collection in a listpack or intset) -- with LZF on; `import-rdb` builds a 4-shard
  slots-routed dir whose keyspace must equal the server's (streams but for node figures and
  read counters, which a kevy snapshot does not record); keys in several databases come
  back in theirs, both ways;
- a small file Redis wrote (a stream with a group among its keys), flipped at every byte
  and cut at every offset, gives typed errors only; FUNCTION2 libraries in a Redis file are
  counted, not loaded.
The keyspaces are read by the same function (`keyspace_content`) on both sides. DUMP /
RESTORE payloads are `test_dump_redis.py`'s.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from rdb_redis_population import FAR_MS, THRESHOLDS, open_store, populate_commands, populate_store, redis_content
from rdb_support import RedisServer, keyspace_content
from redis_oracle import redis_server_path

from kevy_persist import Store, StoreConfig
from kevy_persist.commands.replies import ErrorReply
from kevy_persist.disk.clock import ManualClock, SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.tools.rdb_export import export_rdb
from kevy_persist.tools.rdb_import import import_rdb

pytestmark = [
    pytest.mark.redis,
    pytest.mark.timeout(300),
    pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not on PATH"),
]


def test_an_exported_rdb_loads_in_redis_with_the_same_keyspace(tmp_path: Path) -> None:
    commands = populate_commands()
    data_dir = tmp_path / "kevy"
    with open_store(data_dir) as store:
        populate_store(store, commands[: len(commands) // 2])
        store.save()  # half of the keys in snapshots, the rest only in the logs
        populate_store(store, commands[len(commands) // 2 :])
    # The dir as the export reads it, at the export's clock reading: a consumer's seen time
    # is not logged, so a log replay sets it to the replay's time (specs/commands.md, 10).
    clock = ManualClock(SystemClock().now_ms())
    with Store.open(StoreConfig(data_dir=str(data_dir), shard_count=3, appendfsync="no", ticker="manual"),
                    clock=clock) as store:
        expected = keyspace_content(store.execute)
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    for compress in (False, True):
        report = export_rdb(OsFileSystem(), str(data_dir), str(redis_dir / "dump.rdb"), clock, compress=compress)
        assert report.key_count == len(expected)
        checker = shutil.which("redis-check-rdb")
        if checker is not None:  # Redis's own file checker, as a second opinion
            checked = subprocess.run([checker, str(redis_dir / "dump.rdb")], capture_output=True, text=True, timeout=60)
            assert "RDB looks OK" in checked.stdout + checked.stderr, checked.stdout[-2000:]
        with RedisServer(redis_dir) as server:
            assert redis_content(server) == expected


@pytest.mark.parametrize("thresholds", sorted(THRESHOLDS))
def test_an_rdb_saved_by_redis_imports_with_the_same_keyspace(tmp_path: Path, thresholds: str) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, "--rdbcompression", "yes", *THRESHOLDS[thresholds]) as server:
        for argv in populate_commands():
            assert not isinstance(server.call(*argv), ErrorReply), argv
        encodings = {server.call("OBJECT", "ENCODING", key).decode() for key in server.call("KEYS", "*")}
        assert server.call("SAVE") == "OK"
        expected = keyspace_content(server.call, exact_streams=False)
    if thresholds == "big-encodings":
        assert {"hashtable", "skiplist", "quicklist", "raw", "int", "embstr"} <= encodings
    else:
        # Redis 7.0 has no set listpack: sets of strings stay hashtables.
        assert {"listpack", "intset", "quicklist"} <= encodings and "skiplist" not in encodings
    data_dir = tmp_path / "kevy"
    report = import_rdb(OsFileSystem(), str(redis_dir / "dump.rdb"), str(data_dir),
                        ShardLayout(4, Routing.SLOTS), SystemClock())
    assert report.key_count == len(expected) and report.rdb_version == 10
    with open_store(data_dir, 4, "slots") as store:
        # A kevy snapshot keeps neither Redis's stream nodes nor read counters (both are
        # rebuilt on load): the rest of every stream must be equal.
        assert keyspace_content(store.execute, exact_streams=False) == expected


def test_every_database_of_a_redis_rdb_is_imported_and_exported_back(tmp_path: Path) -> None:
    """Method: Redis writes keys in databases 0, 1 and 15; import-rdb builds DIR and
    DIR/db-1, DIR/db-15 (`--db N` still imports one database as database 0); the store sees
    each key in its database; export-rdb writes them back with SELECTDB, and Redis, loading
    that file, has each key in its database again."""
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir) as server:
        server.call("SET", "in-zero", "0")
        for database in ("1", "15"):
            server.call("SELECT", database)
            server.call("RPUSH", f"in-{database}", "x", "y")
        server.call("SAVE")
    rdb_path = str(redis_dir / "dump.rdb")
    report = import_rdb(OsFileSystem(), rdb_path, str(tmp_path / "kevy"), ShardLayout(2), SystemClock())
    assert report.key_count == 3 and report.database is None and report.skipped_other_databases == {}
    with open_store(tmp_path / "kevy", 2) as store:
        assert store.execute("KEYS", "*") == [b"in-zero"]
        assert store.database(1).execute("LRANGE", "in-1", 0, -1) == [b"x", b"y"]
        assert store.database(15).execute("KEYS", "*") == [b"in-15"]
    one = import_rdb(OsFileSystem(), rdb_path, str(tmp_path / "one"), ShardLayout(1), SystemClock(), database=1)
    assert one.skipped_other_databases == {0: 1, 15: 1}
    with open_store(tmp_path / "one", 1) as store:
        assert store.execute("KEYS", "*") == [b"in-1"]
    back_dir = tmp_path / "back"
    back_dir.mkdir()
    export_rdb(OsFileSystem(), str(tmp_path / "kevy"), str(back_dir / "dump.rdb"), SystemClock())
    with RedisServer(back_dir) as server:
        assert server.call("KEYS", "*") == [b"in-zero"]
        server.call("SELECT", "15")
        assert server.call("LRANGE", "in-15", "0", "-1") == [b"x", b"y"]
        server.call("SELECT", "1")
        assert server.call("KEYS", "*") == [b"in-1"]


def test_a_small_file_written_by_redis_fuzzes_to_typed_errors_only(tmp_path: Path) -> None:
    """Method: one key per encoding Redis 7.0 writes (listpack hash and zset, intset, quicklist
    of listpacks, LZF and integer strings, a TTL, a stream with a deleted entry, an entry
    with other fields than its node's master, a group, a pending row and a consumer without
    any); every byte flipped (CRC recomputed, so the
    decoder itself must notice) and every prefix decoded: a typed error or a valid file."""
    import struct

    from kevy_persist.errors import CorruptionError
    from kevy_persist.formats.crc64 import crc64
    from kevy_persist.formats.rdb_decode import decode_rdb

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, "--stream-node-max-entries", "2") as server:
        for argv in (["HSET", "h", "f", "1", "g", "text"], ["ZADD", "z", "1.5", "m", "-2", "n"],
                     ["SADD", "i", "1", "2", "300000"], ["RPUSH", "l", "a", "7"],
                     ["SET", "c", "abcd" * 10], ["SET", "n", "-5"], ["SET", "t", "v", "PXAT", FAR_MS],
                     ["XADD", "x", "1-1", "f", "1", "g", "v"], ["XADD", "x", "1-2", "f", "2", "g", "w"],
                     ["XADD", "x", "2-0", "other", "3"], ["XADD", "x", "3-0", "f", "4", "g", "x"],
                     ["XDEL", "x", "1-2"], ["XGROUP", "CREATE", "x", "gr", "0"],
                     ["XREADGROUP", "GROUP", "gr", "c1", "COUNT", "2", "STREAMS", "x", ">"],
                     ["XGROUP", "CREATECONSUMER", "x", "gr", "c2"]):
            server.call(*argv)
        server.call("SAVE")
    data = (redis_dir / "dump.rdb").read_bytes()
    assert len(decode_rdb(data).databases[0]) == 8
    for offset in range(len(data) - 8):
        for mask in (0x01, 0x80, 0xFF):
            damaged = data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 : -8]
            try:
                decode_rdb(damaged + struct.pack("<Q", crc64(damaged)), "fuzz.rdb")
            except CorruptionError:
                pass
    for length in range(len(data)):
        with pytest.raises(CorruptionError):
            decode_rdb(data[:length], "fuzz.rdb")


def test_function_libraries_are_counted_not_loaded(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir) as server:
        library = "#!lua name=kevylib\nredis.register_function('one', function() return 1 end)"
        assert server.call("FUNCTION", "LOAD", library) == b"kevylib"
        server.call("SET", "k", "v")
        server.call("SAVE")
    report = import_rdb(OsFileSystem(), str(redis_dir / "dump.rdb"), str(tmp_path / "kevy"), ShardLayout(1), SystemClock())
    assert (report.key_count, report.skipped_functions) == (1, 1)
