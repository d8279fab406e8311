"""Helpers for the RDB tests: packed-structure encoders, a redis-server with a data dir, and
a full keyspace dump over commands.

The encoders write listpacks, ziplists and intsets as Redis lays them out (the facts are in
`kevy_persist.formats.rdb_packed`'s docstring): the decoder must read them, and Redis 7.0
no longer writes ziplists, so tests build the ones older servers wrote. `RedisServer` runs a
real redis-server on a free loopback port with `--dir` set, so a test can SAVE and read
`dump.rdb`, or start it on an RDB file and read the keyspace back. `keyspace_content(call)`
reads every key with its type, value and absolute deadline through any `call(*argv)` -- a
RESP client of Redis or `Store.execute` -- so both sides are read the same way; a stream's
value is everything its read commands answer (`stream_state`).
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from redis_oracle import RespClient

from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.crc64 import crc64
from kevy_persist.formats.rdb_format import encode_length, encode_string

# -- packed structures -------------------------------------------------------------------


def _listpack_element(item: bytes | int) -> bytes:
    if isinstance(item, int):
        if 0 <= item <= 127:
            body = bytes((item,))
        elif -4096 <= item <= 4095:
            value = item & 0x1FFF
            body = bytes((0xC0 | value >> 8, value & 0xFF))
        elif -(2**15) <= item < 2**15:
            body = b"\xf1" + struct.pack("<h", item)
        elif -(2**23) <= item < 2**23:
            body = b"\xf2" + struct.pack("<i", item)[:3]
        elif -(2**31) <= item < 2**31:
            body = b"\xf3" + struct.pack("<i", item)
        else:
            body = b"\xf4" + struct.pack("<q", item)
    elif len(item) < 64:
        body = bytes((0x80 | len(item),)) + item
    elif len(item) < 4096:
        body = bytes((0xE0 | len(item) >> 8, len(item) & 0xFF)) + item
    else:
        body = b"\xf0" + struct.pack("<I", len(item)) + item
    from kevy_persist.formats.rdb_packed import listpack_backlen

    return body + listpack_backlen(len(body))


def listpack(items: Iterable[bytes | int]) -> bytes:
    """A listpack of `items` (ints use the integer encodings)."""
    items = list(items)
    body = b"".join(map(_listpack_element, items))
    total = 6 + len(body) + 1
    return struct.pack("<IH", total, min(len(items), 0xFFFF)) + body + b"\xff"


def _ziplist_body(item: bytes | int) -> bytes:
    if isinstance(item, int):
        if 0 <= item <= 12:
            return bytes((0xF1 + item,))
        if -128 <= item <= 127:
            return b"\xfe" + struct.pack("<b", item)
        if -(2**15) <= item < 2**15:
            return b"\xc0" + struct.pack("<h", item)
        if -(2**23) <= item < 2**23:
            return b"\xf0" + struct.pack("<i", item)[:3]
        if -(2**31) <= item < 2**31:
            return b"\xd0" + struct.pack("<i", item)
        return b"\xe0" + struct.pack("<q", item)
    if len(item) < 64:
        return bytes((len(item),)) + item
    if len(item) < 16384:
        return bytes((0x40 | len(item) >> 8, len(item) & 0xFF)) + item
    return b"\x80" + struct.pack(">I", len(item)) + item


def ziplist(items: Iterable[bytes | int]) -> bytes:
    """A ziplist of `items`, prev-lengths and tail offset included."""
    entries = []
    previous = 0
    tail = 10
    offset = 10
    for item in items:
        prevlen = bytes((previous,)) if previous < 254 else b"\xfe" + struct.pack("<I", previous)
        entry = prevlen + _ziplist_body(item)
        tail = offset
        entries.append(entry)
        offset += len(entry)
        previous = len(entry)
    body = b"".join(entries)
    return struct.pack("<IIH", 10 + len(body) + 1, tail, min(len(entries), 0xFFFF)) + body + b"\xff"


def intset(numbers: Iterable[int]) -> bytes:
    numbers = sorted(set(numbers))
    width = 2 if all(-(2**15) <= n < 2**15 for n in numbers) else 4 if all(-(2**31) <= n < 2**31 for n in numbers) else 8
    code = {2: "h", 4: "i", 8: "q"}[width]
    return struct.pack("<II", width, len(numbers)) + b"".join(struct.pack("<" + code, n) for n in numbers)


# -- hand-made files ---------------------------------------------------------------------


def rdb_file(body: bytes, version: int = 10, checksum: bool = True) -> bytes:
    """A file: header, `body` (items), EOF, and the CRC-64 (or 0 when `checksum` is off)."""
    data = b"REDIS%04d" % version + body + b"\xff"
    return data + struct.pack("<Q", crc64(data) if checksum else 0)


def record(rdb_type: int, key: bytes, value: bytes) -> bytes:
    return bytes((rdb_type,)) + encode_string(key) + value


def every_encoding_body() -> bytes:
    """One key per value type Redis 6.0-7.0 writes (packed structures as strings)."""
    return b"".join([
        record(rdb.TYPE_LIST, b"list", encode_length(2) + encode_string(b"a") + encode_string(b"1")),
        record(rdb.TYPE_SET, b"set", encode_length(2) + encode_string(b"a") + encode_string(b"-5")),
        record(rdb.TYPE_ZSET, b"zset-text", encode_length(3) + encode_string(b"a") + b"\x031.5"
               + encode_string(b"b") + b"\xfe" + encode_string(b"c") + b"\xff"),
        record(rdb.TYPE_HASH, b"hash", encode_length(1) + encode_string(b"f") + encode_string(b"v")),
        record(rdb.TYPE_ZSET_2, b"zset", encode_length(1) + encode_string(b"m") + struct.pack("<d", -0.25)),
        record(rdb.TYPE_LIST_ZIPLIST, b"list-zl", encode_string(ziplist([b"x", 7]))),
        record(rdb.TYPE_SET_INTSET, b"intset", encode_string(intset([3, 1, 2]))),
        record(rdb.TYPE_ZSET_ZIPLIST, b"zset-zl", encode_string(ziplist([b"m", b"2.5", b"n", 3]))),
        record(rdb.TYPE_HASH_ZIPLIST, b"hash-zl", encode_string(ziplist([b"f", 1, b"g", b"v"]))),
        record(rdb.TYPE_LIST_QUICKLIST, b"quicklist", encode_length(2) + encode_string(ziplist([b"a", b"b"]))
               + encode_string(ziplist([1]))),
        record(rdb.TYPE_HASH_LISTPACK, b"hash-lp", encode_string(listpack([b"f", 10, b"g", b"x" * 70]))),
        record(rdb.TYPE_ZSET_LISTPACK, b"zset-lp", encode_string(listpack([b"m", 1, b"n", b"-inf"]))),
        record(rdb.TYPE_LIST_QUICKLIST_2, b"quicklist2", encode_length(3)
               + encode_length(2) + encode_string(listpack([b"a", 5]))
               + encode_length(1) + encode_string(b"plain node")
               + encode_length(2) + encode_string(listpack([b"z" * 40] * 3), compress=True)),
    ])


# -- stream values, by hand -------------------------------------------------------------

StreamId = tuple[int, int]


def raw_id(ms: int, seq: int) -> bytes:
    return ms.to_bytes(8, "big") + seq.to_bytes(8, "big")


def node_items(master: StreamId, entries: list[tuple[StreamId, list[bytes], int]],
               master_fields: list[bytes] | None = None) -> list[bytes | int]:
    """The listpack elements of a stream node as Redis lays them out: the master entry (its
    fields those of the first entry unless given), then each (ID, flat fields, flags) entry
    -- flags 1 deleted; same fields as the master get flag 2 and their values only."""
    if master_fields is None:
        master_fields = entries[0][1][0::2]
    live = sum(1 for _, _, flags in entries if not flags & 1)
    items: list[bytes | int] = [live, len(entries) - live, len(master_fields), *master_fields, 0]
    for (ms, seq), fields, flags in entries:
        names, values = fields[0::2], fields[1::2]
        deltas = [ms - master[0], seq - master[1]]
        if names == master_fields:
            items += [flags | 2, *deltas, *values, len(values) + 3]
        else:
            items += [flags, *deltas, len(names), *fields, 2 * len(names) + 4]
    return items


def stream_value(nodes: list[tuple[bytes, list[bytes | int]]], length: int, last: StreamId,
                 first: StreamId = (0, 0), max_deleted: StreamId = (0, 0), added: int | None = None,
                 groups: list = (), version: int = 2) -> bytes:  # type: ignore[assignment]
    """A type-19 (version 2) or type-15 (version 1) stream value. `nodes` are (16-byte key,
    listpack elements); `groups` are (name, last delivered (ms, seq), entries read,
    [(raw id, delivery ms, count)], [(consumer, seen ms, [raw id])])."""
    parts = [encode_length(len(nodes))]
    for key, items in nodes:
        parts += [encode_string(key), encode_string(listpack(items))]
    parts += [encode_length(length), encode_length(last[0]), encode_length(last[1])]
    if version == 2:
        parts += [encode_length(part) for part in (*first, *max_deleted, length if added is None else added)]
    parts.append(encode_length(len(groups)))
    for name, delivered, entries_read, pending, consumers in groups:
        parts += [encode_string(name), encode_length(delivered[0]), encode_length(delivered[1])]
        if version == 2:
            parts.append(encode_length(entries_read & (2**64 - 1)))
        parts.append(encode_length(len(pending)))
        for entry_id, delivery_ms, count in pending:
            parts += [entry_id, struct.pack("<q", delivery_ms), encode_length(count)]
        parts.append(encode_length(len(consumers)))
        for consumer, seen_ms, held in consumers:
            parts += [encode_string(consumer), struct.pack("<q", seen_ms), encode_length(len(held)), *held]
    return b"".join(parts)


# -- a redis-server with a data dir ------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """redis-server on a free port with its dir at `directory` (dump.rdb loaded if present)."""

    def __init__(self, directory: Path, *extra: str) -> None:
        path = shutil.which("redis-server")
        assert path is not None
        self.directory = directory
        self.port = _free_port()
        self.process = subprocess.Popen(
            [path, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
             "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client = RespClient(self.port)
                if self.client.call([b"PING"]) == "PONG":
                    break
                self.client.close()  # LOADING: try again
            except OSError:
                if self.process.poll() is not None:
                    raise AssertionError("redis-server exited at start (see its log)") from None
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start in 30 s")
            time.sleep(0.05)

    def call(self, *argv: bytes | str | int) -> Any:
        return self.client.call([a if isinstance(a, bytes) else str(a).encode() for a in argv])

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- the keyspace read through commands --------------------------------------------------


# What a stream's state may differ in after a trip through a kevy snapshot, which records
# neither Redis's node boundaries nor a group's read counter (both are rebuilt on load).
NODE_FIELDS = {b"radix-tree-keys", b"radix-tree-nodes"}
READ_COUNTER_FIELDS = {b"entries-read", b"lag"}


def _plain(reply: Any) -> Any:
    """A reply with list subclasses (our FieldValueMap, ...) as plain lists."""
    if isinstance(reply, list):
        return [_plain(item) for item in reply]
    return reply


def _without(flat: list, names: set[bytes]) -> list:
    kept: list = []
    for name, value in zip(flat[0::2], flat[1::2]):
        if name not in names:
            kept += [name, value]
    return kept


def stream_state(call: Callable[..., Any], key: bytes, nodes: bool = True, counters: bool = True) -> dict[str, Any]:
    """Everything a client can read of a stream: XINFO STREAM FULL (every entry, group,
    pending row with its delivery time and count, consumer with its seen time), XRANGE,
    and per group XINFO GROUPS, XINFO CONSUMERS and XPENDING (summary and every row), with
    idle times -- which depend on the moment of reading -- left out; without NODE_FIELDS
    unless `nodes`, without READ_COUNTER_FIELDS unless `counters`."""
    group_drop = set() if counters else READ_COUNTER_FIELDS
    full = _plain(call(b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"))
    groups = _plain(call(b"XINFO", b"GROUPS", key))
    state: dict[str, Any] = {"range": _plain(call(b"XRANGE", key, b"-", b"+")), "groups": {}}
    for group in groups:
        name = dict(zip(group[0::2], group[1::2]))[b"name"]
        consumers = _plain(call(b"XINFO", b"CONSUMERS", key, name))
        rows = _plain(call(b"XPENDING", key, name, b"-", b"+", b"1000000"))
        state["groups"][name] = {
            "info": _without(group, group_drop),
            "consumers": [_without(consumer, {b"idle"}) for consumer in consumers],
            "summary": _plain(call(b"XPENDING", key, name)),
            "rows": [[entry_id, consumer, count] for entry_id, consumer, _, count in rows],
        }
    full = _without(full, set() if nodes else NODE_FIELDS)
    index = full.index(b"groups") + 1
    full[index] = [_without(group, group_drop) for group in full[index]]
    state["full"] = full
    return state


def keyspace_content(call: Callable[..., Any], exact_streams: bool = True) -> dict[bytes, tuple[str, Any, int]]:
    """key -> (type, value, PEXPIRETIME) for every key, via `call(*argv)` (any server);
    streams as `stream_state`, without node boundaries and read counters unless
    `exact_streams`."""
    content = {}
    for key in call(b"KEYS", b"*"):
        kind = str(call(b"TYPE", key))
        if kind == "none":
            continue  # expired between KEYS and TYPE
        if kind == "string":
            value: Any = call(b"GET", key)
        elif kind == "hash":
            flat = call(b"HGETALL", key)
            value = dict(zip(flat[0::2], flat[1::2]))
        elif kind == "list":
            value = call(b"LRANGE", key, b"0", b"-1")
        elif kind == "set":
            value = sorted(call(b"SMEMBERS", key))
        elif kind == "stream":
            value = stream_state(call, key, nodes=exact_streams, counters=exact_streams)
        else:
            assert kind == "zset", kind
            flat = call(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")
            value = [(member, float(score)) for member, score in zip(flat[0::2], flat[1::2])]
        content[key] = (kind, value, call(b"PEXPIRETIME", key))
    return content
