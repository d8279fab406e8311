"""The bridge against a real redis-server 7.0: RDB files and DUMP payloads both ways.

Method: the same commands (every type, small and large collections, integers, long and
compressible strings, binary bytes, infinite scores, TTLs, streams with deleted entries,
groups, consumers and pending rows, empty streams whose ID clock moved) populate a kevy
store and a redis-server. Then
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
  read counters, which a kevy snapshot does not record);
- DUMP / RESTORE: every key DUMPed by Redis RESTOREs into kevy and the reverse, with
  absolute TTLs, under both thresholds, streams exactly; and RESTORE's error replies equal
  Redis's;
- a small file Redis wrote (a stream with a group among its keys), flipped at every byte
  and cut at every offset, gives typed errors only; FUNCTION2 libraries in a Redis file are
  counted, not loaded;
- Hypothesis values of every type and size go into Redis by our payload and come back in
  Redis's own encoding unchanged.
The keyspaces are read by the same function (`keyspace_content`) on both sides.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from rdb_support import RedisServer, keyspace_content
from redis_oracle import redis_server_path

from kevy_persist import Store, StoreConfig
from kevy_persist.commands.replies import ErrorReply
from kevy_persist.disk.clock import ManualClock, SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import CommandError
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.tools.rdb_export import export_rdb
from kevy_persist.tools.rdb_import import import_rdb

pytestmark = [
    pytest.mark.redis,
    pytest.mark.timeout(300),
    pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not on PATH"),
]

FAR_MS = 4_102_444_800_000  # 2100-01-01


def populate_commands() -> list[list[bytes]]:
    """Commands building every kind of value in small and large forms."""
    commands: list[list[bytes]] = []

    def add(*argv: bytes | str | int) -> None:
        commands.append([a if isinstance(a, bytes) else str(a).encode() for a in argv])

    for key, value in [(b"s:empty", b""), (b"s:short", b"v"), (b"s:binary", bytes(range(256))),
                       (b"s:int", b"12345"), (b"s:negative", b"-7"), (b"s:int64", b"-9223372036854775808"),
                       (b"s:bigint", b"123456789012345678901234567890"), (b"s:long", b"x" * 5000),
                       (b"s:compressible", b"kevy redis bridge " * 40), (b"s:float", b"3.14"),
                       (b"\x00\xffbinary key", b"k")]:
        add("SET", key, value)
    add("HSET", "h:small", "f", "v", "n", "42", "e", "")
    add("HSET", "h:large", *[part for i in range(300) for part in (f"field{i}", f"value{i}" * (i % 7 + 1))])
    add("HSET", "h:longvalue", "f", "y" * 200)
    add("RPUSH", "l:small", "a", "1", "-2", "b")
    add("RPUSH", "l:large", *[str(i) if i % 3 else f"item-{i}" * 3 for i in range(1000)])
    add("RPUSH", "l:longitem", "z" * 10000, "short")
    add("SADD", "set:ints", "1", "2", "-3", "9223372036854775807")
    add("SADD", "set:strings", "a", "b", "c")
    add("SADD", "set:large", *[str(i * 7) for i in range(700)])
    add("SADD", "set:mixed", *[f"m{i}" for i in range(300)], "5")
    add("ZADD", "z:small", "1", "a", "2.5", "b", "-inf", "low", "inf", "high")
    add("ZADD", "z:large", *[part for i in range(400) for part in (f"{i * 0.37 - 50}", f"member{i}")])
    add("ZADD", "z:precise", "0.1", "x", "1e-300", "tiny", "1.7976931348623157e308", "huge", "-0", "zero")
    add("SET", "ttl:string", "v", "PXAT", FAR_MS)
    add("HSET", "ttl:hash", "f", "v")
    add("PEXPIREAT", "ttl:hash", FAR_MS + 1)
    add("RPUSH", "ttl:list", "a")
    add("PEXPIREAT", "ttl:list", FAR_MS + 2)
    add("ZADD", "ttl:zset", "1", "m")
    add("PEXPIREAT", "ttl:zset", FAR_MS + 3)
    commands.extend(stream_commands())
    return commands


def stream_commands() -> list[list[bytes]]:
    """Streams small and large: entries of varying fields (same as the node's first, or
    not), integer, binary and long values, deleted entries (inside nodes and at their
    head, and trimmed), groups with consumers and pending rows -- one whose entry was
    deleted since, one claimed with a set time and count --, an idle consumer, a group at
    `$`, names that are integers; empty streams whose ID clock moved (every entry deleted,
    MAXLEN 0, XSETID), a group-only stream (MKSTREAM), and a TTL. Every ID is given, so the
    same commands build the same streams on both sides."""
    commands: list[list[bytes]] = []

    def add(*argv: bytes | str | int) -> None:
        commands.append([a if isinstance(a, bytes) else str(a).encode() for a in argv])

    add("XADD", "x:small", "1-1", "f", "v")
    add("XADD", "x:small", "1-2", "f", "w", "g", "1")
    add("XADD", "x:small", "2-0", "\x00bin", bytes(range(200, 256)))
    for index in range(1200):
        fields: list[bytes | str | int] = ["name", f"item-{index}", "n", index * 7919 - 40000]
        if index % 10 == 3:
            fields = ["other", "x" * (index % 300), "n", -index]
        if index % 97 == 0:
            fields += ["extra", "y" * 600]
        add("XADD", "x:large", f"{1_700_000_000_000 + index // 3}-{index % 3}", *fields)
    for index in (5, 6, 7, 100, 101, 350, 351, 352, 600):
        add("XDEL", "x:large", f"{1_700_000_000_000 + index // 3}-{index % 3}")
    add("XGROUP", "CREATE", "x:large", "readers", "0")
    add("XREADGROUP", "GROUP", "readers", "alice", "COUNT", "40", "STREAMS", "x:large", ">")
    add("XREADGROUP", "GROUP", "readers", "bob", "COUNT", "25", "STREAMS", "x:large", ">")
    add("XACK", "x:large", "readers", "1700000000000-0", "1700000000002-1")
    add("XDEL", "x:large", "1700000000010-0")  # pending with alice: a row for a deleted entry
    add("XCLAIM", "x:large", "readers", "carol", "0", "1700000000020-0", "TIME", "1600000000000", "RETRYCOUNT", "7")
    add("XGROUP", "CREATECONSUMER", "x:large", "readers", "idle")
    add("XGROUP", "CREATE", "x:large", "late", "$")
    add("XGROUP", "CREATE", "x:large", "12345", "1700000000100-0")
    add("XREADGROUP", "GROUP", "12345", "-7", "COUNT", "3", "STREAMS", "x:large", ">")
    add("XTRIM", "x:large", "MAXLEN", "1100")
    add("XADD", "x:emptied", "5-1", "f", "v")
    add("XDEL", "x:emptied", "5-1")
    add("XADD", "x:maxlen0", "MAXLEN", "0", "7-3", "f", "v")
    add("XGROUP", "CREATE", "x:clock", "g", "$", "MKSTREAM")
    add("XSETID", "x:clock", "100-5", "ENTRIESADDED", "7", "MAXDELETEDID", "50-0")
    add("XGROUP", "CREATE", "x:groups-only", "g", "0", "MKSTREAM")
    add("XADD", "ttl:stream", "3-0", "f", "v")
    add("PEXPIREAT", "ttl:stream", FAR_MS + 4)
    return commands


def populate_store(store: Store, commands: list[list[bytes]]) -> None:
    for argv in commands:
        store.execute(*argv)


def open_store(directory: Path, shards: int = 3, routing: str = "kevyhash") -> Store:
    return Store.open(StoreConfig(data_dir=str(directory), shard_count=shards, routing=routing,
                                  appendfsync="no", ticker="manual"))


def redis_content(server: RedisServer) -> dict:
    return keyspace_content(server.call)


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


THRESHOLDS = {
    "big-encodings": ["--hash-max-listpack-entries", "2", "--zset-max-listpack-entries", "2",
                      "--set-max-intset-entries", "2", "--list-max-listpack-size", "4",
                      "--list-compress-depth", "1", "--hash-max-listpack-value", "8",
                      "--zset-max-listpack-value", "8",
                      "--stream-node-max-entries", "4", "--stream-node-max-bytes", "256"],
    "packed-encodings": ["--hash-max-listpack-entries", "100000", "--zset-max-listpack-entries", "100000",
                         "--set-max-intset-entries", "100000", "--list-max-listpack-size", "-5",
                         "--hash-max-listpack-value", "100000", "--zset-max-listpack-value", "100000"],
}


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


def _restore_all(source_call, target_call, keys: list[bytes]) -> None:
    for key in keys:
        payload = source_call(b"DUMP", key)
        deadline = source_call(b"PEXPIRETIME", key)
        argv = [b"RESTORE", key, b"%d" % max(deadline, 0), payload] + ([b"ABSTTL"] if deadline > 0 else [])
        assert target_call(*argv) == "OK", key


@pytest.mark.parametrize("thresholds", sorted(THRESHOLDS))
def test_dump_and_restore_both_ways(tmp_path: Path, thresholds: str) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, *THRESHOLDS[thresholds]) as server, open_store(tmp_path / "kevy") as store:
        for argv in populate_commands():
            server.call(*argv)
        expected = redis_content(server)
        keys = sorted(expected)
        _restore_all(server.call, store.execute, keys)  # Redis's payloads into kevy
        assert keyspace_content(store.execute) == expected
        server.call("FLUSHALL")
        _restore_all(store.execute, server.call, keys)  # kevy's payloads into Redis
        assert redis_content(server) == expected


RESTORE_ERRORS = [
    [b"RESTORE", b"exists", b"0", b"@good"],
    [b"RESTORE", b"new", b"-1", b"@good"],
    [b"RESTORE", b"new", b"x", b"@good"],
    [b"RESTORE", b"new", b"0", b"@good", b"BOGUS"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME", b"-1"],
    [b"RESTORE", b"new", b"0", b"@good", b"FREQ", b"256"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME", b"1", b"FREQ", b"1"],
    [b"RESTORE", b"new", b"0", b"@good", b"IDLETIME"],
    [b"RESTORE", b"new", b"0", b"@damaged"],
    [b"RESTORE", b"new", b"0", b"short"],
    [b"RESTORE", b"new", b"0", b"@badvalue"],
    [b"RESTORE", b"new", b"0"],
    [b"RESTORE", b"exists", b"0", b"@good", b"REPLACE", b"ABSTTL", b"IDLETIME", b"5"],
    [b"RESTORE", b"gone", b"1", b"@good", b"ABSTTL"],
    [b"DUMP", b"missing"],
]


def test_restore_replies_and_errors_equal_redis(tmp_path: Path) -> None:
    from kevy_persist.formats.crc64 import crc64

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir) as server, open_store(tmp_path / "kevy") as store:
        server.call("SET", "exists", "v")
        store.execute("SET", "exists", "v")
        good = server.call("DUMP", "exists")
        body = b"\x02\x05\x01a" + good[-10:-8]
        payloads = {b"@good": good, b"@damaged": good[:-1] + bytes([good[-1] ^ 1]),
                    b"@badvalue": body + crc64(body).to_bytes(8, "little")}
        for argv in RESTORE_ERRORS:
            argv = [payloads.get(argument, argument) for argument in argv]
            theirs = server.call(*argv)
            try:
                ours = store.execute(*argv)
            except CommandError as error:
                ours = ErrorReply(error.message)
            assert ours == theirs, argv


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


def test_random_values_survive_a_round_trip_through_redis(tmp_path: Path) -> None:
    """Method: Hypothesis draws values of every type (integers, binary, long strings,
    collections small enough for listpacks and intsets and large enough for hashtables and
    many quicklist nodes); each is RESTOREd into redis-server from our payload, DUMPed back
    by Redis in its own encoding, and decoded here: the value must be unchanged."""
    from collections import deque

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kevy_persist.data.zset import ZSet
    from kevy_persist.formats.rdb_decode import decode_dump_payload
    from kevy_persist.formats.rdb_format import encode_dump_payload
    from kevy_persist.formats.records import ValueKind as K

    members = st.binary(max_size=90) | st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n)
    sizes = st.sampled_from([4, 40, 200])
    values = st.one_of(
        st.tuples(st.just(K.STRING), members | st.binary(min_size=100, max_size=3000)),
        sizes.flatmap(lambda n: st.tuples(st.just(K.HASH), st.dictionaries(members, members, min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.LIST), st.lists(members, min_size=1, max_size=n).map(deque))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.SET), st.sets(members, min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.SET), st.sets(st.integers(-(2**40), 2**40).map(lambda i: b"%d" % i), min_size=1, max_size=n))),
        sizes.flatmap(lambda n: st.tuples(st.just(K.ZSET), st.dictionaries(
            members, st.floats(allow_nan=False), min_size=1, max_size=n).map(lambda d: ZSet.from_pairs(d.items())))),
    )

    def comparable(kind, value):
        if kind is K.LIST:
            return list(value)
        if kind is K.ZSET:
            return {member: score + 0.0 for member, score in (value.items() if hasattr(value, "items") else value)}
        return value

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, "--list-max-listpack-size", "16") as server:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(values)
        def round_trip(value) -> None:
            kind, native = value
            assert server.call("RESTORE", "k", "0", encode_dump_payload(b"k", kind, native), "REPLACE") == "OK"
            decoded_kind, decoded = decode_dump_payload(server.call("DUMP", "k"))
            assert (decoded_kind, comparable(decoded_kind, decoded)) == (kind, comparable(kind, native))

        round_trip()
