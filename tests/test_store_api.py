"""The typed Python API and `execute`: each method gives Redis's reply in its documented shape.

Method: every typed method is called on a fresh store -- in memory and on a data dir, with one
shard and with three -- and compared with the reply Redis 7 gives for the same command
(written out by hand here; the command semantics themselves are differential-tested against
redis-server elsewhere). Then the argument encoding rules, error replies, and the closed store.
"""

from __future__ import annotations

import datetime

import pytest

from kevy_persist import CommandError, Store, StoreClosedError, StoreConfig
from kevy_persist.commands import SimpleString
from kevy_persist.disk.clock import ManualClock
from kevy_persist.store.typed_api import encode_argument

NOW_MS = 1_700_000_000_000


@pytest.fixture(params=[(None, 1), (None, 3), ("dir", 1), ("dir", 3)], ids=["mem1", "mem3", "dir1", "dir3"])
def store(request, tmp_path):
    location, shard_count = request.param
    data_dir = str(tmp_path / "data") if location else None
    config = StoreConfig(data_dir=data_dir, shard_count=shard_count, ticker="manual")
    with Store.open(config, clock=ManualClock(NOW_MS)) as opened:
        yield opened


def test_string_methods_give_redis_replies(store: Store) -> None:
    """SET family, GET, GETDEL, GETRANGE, INCR/DECR, INCRBYFLOAT, APPEND, STRLEN."""
    assert store.set("s", "hello") is True
    assert store.get("s") == b"hello"
    assert store.set("s", "x", only_if_absent=True) is False
    assert store.set("absent", "x", only_if_present=True) is False
    assert store.get("absent") is None
    assert store.set("s", "world", get=True) == b"hello"
    assert store.getrange("s", 0, 2) == b"wor"
    assert store.append("s", "!") == 6
    assert store.strlen("s") == 6
    assert store.getdel("s") == b"world!"
    assert store.get("s") is None
    assert store.incr("n") == 1
    assert store.incr("n", 10) == 11
    assert store.decr("n") == 10
    assert store.decr("n", 20) == -10
    assert store.incrbyfloat("f", 1.5) == 1.5
    assert store.incrbyfloat("f", 0.25) == 1.75
    assert store.get("f") == b"1.75"


def test_multi_key_methods_span_shards(store: Store) -> None:
    """MSET/MGET/MSETNX/DEL/EXISTS/KEYS/DBSIZE/FLUSHALL over keys that land on every shard."""
    keys = [f"key:{number}" for number in range(12)]
    assert {store.shard_of(key) for key in keys} == set(range(store.shard_count))
    assert store.mset({key: number for number, key in enumerate(keys)}) is True
    assert store.mget(*keys, "missing") == [str(number).encode() for number in range(12)] + [None]
    assert store.msetnx({"new": 1, keys[5]: 2}) is False
    assert store.get("new") is None
    assert store.msetnx({"new": 1, "newer": 2}) is True
    assert store.exists(*keys, keys[0], "missing") == 13
    assert sorted(store.keys("key:1*")) == [b"key:1", b"key:10", b"key:11"]
    assert store.dbsize() == 14
    assert store.delete(*keys[:6], "missing") == 6
    assert store.dbsize() == 8
    assert sorted(store.scan_iter(match="key:*", count=2)) == sorted(key.encode() for key in keys[6:])
    assert store.flushall() is True
    assert store.dbsize() == 0
    assert store.keys() == []


def test_key_methods_give_redis_replies(store: Store) -> None:
    """EXPIRE/PERSIST/TTL/PTTL/TYPE/RENAME and the ttl= argument."""
    store.set("k", "v")
    assert store.ttl("k") == -1
    assert store.ttl("missing") == -2
    assert store.pttl("missing") == -2
    assert store.expire("k", 10) is True
    assert store.expire("missing", 10) is False
    assert store.pttl("k") == 10_000
    assert store.ttl("k") == 10
    assert store.persist("k") is True
    assert store.persist("k") is False
    assert store.set("t", "v", ttl=datetime.timedelta(seconds=2.5)) is True
    assert store.pttl("t") == 2500
    assert store.set("t", "w", keep_ttl=True) is True
    assert store.pttl("t") == 2500
    assert store.expireat_ms("t", NOW_MS + 1000) is True
    assert store.pttl("t") == 1000
    assert store.type("k") == "string"
    assert store.type("missing") == "none"
    with pytest.raises(ValueError):
        store.set("k", "v", ttl=0)
    same_shard = next(f"r{number}" for number in range(100) if store.shard_of(f"r{number}") == store.shard_of("k"))
    assert store.rename("k", same_shard) is True
    assert store.get(same_shard) == b"v"
    with pytest.raises(CommandError) as raised:
        store.rename("k", same_shard)  # "k" is gone now
    assert raised.value.message == "ERR no such key"
    if store.shard_count > 1:
        other_shard = next(f"o{number}" for number in range(100) if store.shard_of(f"o{number}") != store.shard_of("k"))
        with pytest.raises(CommandError) as raised:
            store.rename(same_shard, other_shard)
        assert raised.value.message.startswith("CROSSSLOT")


def test_hash_methods_give_redis_replies(store: Store) -> None:
    assert store.hset("h", {"a": 1, "b": 2}) == 2
    assert store.hset("h", "a", 10) == 0
    assert store.hset("h", "c", 3) == 1
    assert store.hget("h", "a") == b"10"
    assert store.hget("h", "zz") is None
    assert store.hmget("h", "a", "zz", "c") == [b"10", None, b"3"]
    assert store.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"3"}
    assert store.hgetall("missing") == {}
    assert store.hexists("h", "a") is True
    assert store.hexists("h", "zz") is False
    assert store.hincrby("h", "a", 5) == 15
    assert store.hincrby("h", "new") == 1
    assert store.hlen("h") == 4
    assert store.hdel("h", "a", "zz") == 1
    with pytest.raises(TypeError):
        store.hset("h", "only-a-field")


def test_list_methods_give_redis_replies(store: Store) -> None:
    assert store.lpush("l", "a", "b") == 2
    assert store.rpush("l", "c", "d") == 4
    assert store.lrange("l") == [b"b", b"a", b"c", b"d"]
    assert store.lrange("l", 1, -2) == [b"a", b"c"]
    assert store.lindex("l", -1) == b"d"
    assert store.llen("l") == 4
    assert store.lpop("l") == b"b"
    assert store.rpop("l", 2) == [b"d", b"c"]
    assert store.lpop("l", 5) == [b"a"]
    assert store.lpop("l") is None
    assert store.llen("l") == 0
    assert store.exists("l") == 0


def test_set_methods_give_redis_replies(store: Store) -> None:
    assert store.sadd("s", "a", "b", "a") == 2
    assert store.sadd("s", "c") == 1
    assert store.smembers("s") == {b"a", b"b", b"c"}
    assert store.smembers("missing") == set()
    assert store.sismember("s", "a") is True
    assert store.sismember("s", "z") is False
    assert store.scard("s") == 3
    assert store.srem("s", "a", "z") == 1
    assert store.scard("s") == 2


def test_sorted_set_methods_give_redis_replies(store: Store) -> None:
    assert store.zadd("z", {"a": 1, "b": 2.5, "c": -1}) == 3
    assert store.zadd("z", {"a": 5}, "NX") == 0
    assert store.zadd("z", {"a": 5}, "XX", "CH") == 1
    assert store.zadd("z", {"a": 1}, "INCR") == 6.0
    assert store.zscore("z", "a") == 6.0
    assert store.zscore("z", "missing") is None
    assert store.zincrby("z", 0.5, "b") == 3.0
    assert store.zcard("z") == 3
    assert store.zrank("z", "c") == 0
    assert store.zrank("z", "missing") is None
    assert store.zrange("z") == [b"c", b"b", b"a"]
    assert store.zrange("z", 0, 1, withscores=True) == [(b"c", -1.0), (b"b", 3.0)]
    assert store.zrem("z", "c", "missing") == 1


def test_execute_runs_any_command_and_raises_error_replies(store: Store) -> None:
    """`execute` returns raw replies (status replies as SimpleString) and raises CommandError."""
    assert store.execute("SET", "k", "v") == SimpleString("OK")
    assert store.execute("get", b"k") == b"v"
    assert store.execute("PING") == SimpleString("PONG")
    store.lpush("list", "x")
    with pytest.raises(CommandError) as raised:
        store.execute("GET", "list")
    assert raised.value.message.startswith("WRONGTYPE")
    with pytest.raises(CommandError) as raised:
        store.execute("NOSUCHCOMMAND", "a")
    assert raised.value.message.startswith("ERR unknown command 'NOSUCHCOMMAND'")
    with pytest.raises(CommandError) as raised:
        store.execute("GET")
    assert raised.value.message == "ERR wrong number of arguments for 'get' command"
    with pytest.raises(CommandError) as raised:
        store.incr("k")
    assert raised.value.message == "ERR value is not an integer or out of range"


def test_arguments_are_encoded_deliberately() -> None:
    """bytes as is, str as UTF-8, int/float as decimal text, bool and other types refused."""
    assert encode_argument(b"\xff\x00") == b"\xff\x00"
    assert encode_argument("h\u00e9") == "h\u00e9".encode()
    assert encode_argument(-12) == b"-12"
    assert encode_argument(1.5) == b"1.5"
    assert encode_argument(float("inf")) == b"inf"
    assert encode_argument(bytearray(b"ab")) == b"ab"
    assert encode_argument(memoryview(b"cd")) == b"cd"
    for bad in (True, None, [b"a"], object()):
        with pytest.raises(TypeError):
            encode_argument(bad)


def test_str_int_and_bytes_arguments_name_the_same_key(store: Store) -> None:
    """`set("7", 1)`, `get(7)` and `get(b"7")` agree; non-UTF-8 bytes keys round-trip."""
    store.set("7", 1)
    assert store.get(7) == b"1"
    assert store.get(b"7") == b"1"
    store.set("caf\u00e9", "x")
    assert store.get("caf\u00e9".encode()) == b"x"
    store.set(b"\xff\xfe", b"\x00\x01")
    assert store.get(b"\xff\xfe") == b"\x00\x01"
    assert b"\xff\xfe" in store.keys()
    with pytest.raises(TypeError):
        store.set("flag", True)


def test_a_closed_store_refuses_every_call_with_store_closed_error(tmp_path) -> None:
    """After shutdown: typed methods, execute, transactions, save and tick refuse or no-op."""
    store = Store.open(StoreConfig(data_dir=str(tmp_path), shard_count=2, ticker="manual"))
    store.set("k", "v")
    store.shutdown()
    assert store.closed
    for call in (lambda: store.get("k"), lambda: store.set("k", "w"), lambda: store.execute("PING"),
                 lambda: store.mget("a", "b"), lambda: store.transaction(), store.save, store.rewrite_log):
        with pytest.raises(StoreClosedError):
            call()
    store.tick()  # housekeeping on a closed store does nothing
    store.shutdown()  # a second shutdown is a no-op


def test_a_transaction_created_before_shutdown_refuses_to_commit(tmp_path) -> None:
    store = Store.open(StoreConfig(data_dir=str(tmp_path), ticker="manual"))
    transaction = store.transaction()
    transaction.set("k", "v")
    store.shutdown()
    with pytest.raises(StoreClosedError):
        transaction.commit()


def test_in_memory_store_writes_no_files_and_starts_empty(tmp_path, monkeypatch) -> None:
    """data_dir=None: everything works, save/rewrite are no-ops, nothing survives a reopen."""
    monkeypatch.chdir(tmp_path)
    with Store.open(StoreConfig(shard_count=2, ticker="manual")) as store:
        store.set("k", "v")
        store.save()
        store.rewrite_log()
        store.tick()
        assert store.open_report.replayed_commands == 0
    assert list(tmp_path.iterdir()) == []
    with Store.open(StoreConfig(shard_count=2, ticker="manual")) as store:
        assert store.dbsize() == 0
