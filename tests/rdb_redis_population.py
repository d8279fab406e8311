"""The keyspace the redis-server bridge tests build on both sides, and Redis's encoding thresholds.

`populate_commands()` builds every kind of value in small and large forms (integers, long and
compressible strings, binary bytes, infinite scores, TTLs far in the future) and
`stream_commands()` every shape of stream (deleted entries, groups, consumers, pending rows,
empty streams whose ID clock moved); every ID and deadline is given, so the same commands
build the same keyspace in a kevy store and in a redis-server. `THRESHOLDS` are the two sets
of redis-server settings the tests run under: tiny ones (every collection in its big
encoding) and huge ones (every collection in a listpack or intset).
"""

from __future__ import annotations

from pathlib import Path

from rdb_support import RedisServer, keyspace_content

from kevy_persist import Store, StoreConfig

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
