"""Decoding one RDB value by its type byte (rdbLoadObject's cases), pure.

`decode_value(reader, rdb_type, position)` returns `(kind, value, next_position)`, with the
value in a form the keyspace adopts: string `bytes`, hash `dict`, list `list`, set `set`,
sorted set a `list` of (member, score) pairs, stream a `snapshot_stream.StreamPayload`.
`kind` is None for an empty collection, which Redis skips when it loads (older Redis
versions could write them); the caller counts it. An empty stream is a value, not skipped.

Every encoding Redis 6.0-7.0 writes is read: plain list / set / hash / sorted set (scores as
text or binary), intset, ziplist (list, hash, sorted set), quicklist (ziplist nodes) and
quicklist 2 (listpack and plain nodes), hash and sorted-set listpacks, streams of types 15
and 19 (`rdb_stream_decode.py`). Duplicates are refused as Redis refuses them (a set member,
hash field or sorted-set member twice), and so are NaN scores. What cannot be loaded here
raises `UnsupportedRecordError` at the type byte: module values (no modules in kevy), 7.2's
streams of type 21 (never in an RDB of version 10 or older, which is all Redis 7.0 and kevy
read), zipmap hashes (Redis 2.4, never in RDB 6+).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kevy_persist.errors import UnsupportedRecordError
from kevy_persist.formats import rdb_format as rdb
from kevy_persist.formats.rdb_packed import intset_members, listpack_entries, ziplist_entries
from kevy_persist.formats.rdb_reader import RdbReader, parse_score
from kevy_persist.formats.rdb_stream_decode import decode_stream
from kevy_persist.formats.records import ValueKind

Decoded = tuple["ValueKind | None", Any, int]


def _packed(reader: RdbReader, position: int, decoder: Callable[[bytes], list[bytes]]) -> tuple[list[bytes], int]:
    """The elements of the packed string at `position` (errors name the string's offset)."""
    return reader.packed(position, decoder)


def _hash_from_pairs(reader: RdbReader, position: int, items: list[bytes]) -> dict[bytes, bytes]:
    if len(items) % 2:
        raise reader.fail(position, f"hash with an odd number of elements ({len(items)})")
    value = dict(zip(items[0::2], items[1::2]))
    if len(value) * 2 != len(items):
        raise reader.fail(position, "hash with a duplicate field")
    return value


def _zset_from_pairs(reader: RdbReader, position: int, items: list[bytes]) -> list[tuple[bytes, float]]:
    if len(items) % 2:
        raise reader.fail(position, f"sorted set with an odd number of elements ({len(items)})")
    pairs = [(member, parse_score(reader, position, score)) for member, score in zip(items[0::2], items[1::2])]
    if len({member for member, _ in pairs}) != len(pairs):
        raise reader.fail(position, "sorted set with a duplicate member")
    return pairs


def _string(reader: RdbReader, position: int) -> Decoded:
    value, after = reader.string(position)
    return ValueKind.STRING, value, after


def _list(reader: RdbReader, position: int) -> Decoded:
    count, cursor = reader.count(position, 1, "list length")
    items = []
    string = reader.string
    for _ in range(count):
        item, cursor = string(cursor)
        items.append(item)
    return (ValueKind.LIST if items else None), items, cursor


def _set(reader: RdbReader, position: int) -> Decoded:
    count, cursor = reader.count(position, 1, "set size")
    members = set()
    string = reader.string
    for _ in range(count):
        member, cursor = string(cursor)
        members.add(member)
    if len(members) != count:
        raise reader.fail(position, "set with a duplicate member")
    return (ValueKind.SET if members else None), members, cursor


def _hash(reader: RdbReader, position: int) -> Decoded:
    count, cursor = reader.count(position, 2, "hash size")
    value = {}
    string = reader.string
    for _ in range(count):
        field, cursor = string(cursor)
        item, cursor = string(cursor)
        value[field] = item
    if len(value) != count:
        raise reader.fail(position, "hash with a duplicate field")
    return (ValueKind.HASH if value else None), value, cursor


def _zset(reader: RdbReader, position: int, binary: bool) -> Decoded:
    count, cursor = reader.count(position, 2 if not binary else 9, "sorted set size")
    pairs = []
    string = reader.string
    score = reader.binary_score if binary else reader.text_score
    for _ in range(count):
        member, cursor = string(cursor)
        value, cursor = score(cursor)
        pairs.append((member, value))
    if len({member for member, _ in pairs}) != count:
        raise reader.fail(position, "sorted set with a duplicate member")
    return (ValueKind.ZSET if pairs else None), pairs, cursor


def _quicklist(reader: RdbReader, position: int, version: int) -> Decoded:
    """Quicklist nodes: ziplists (version 1), or listpacks / single plain elements (version 2)."""
    count, cursor = reader.count(position, 2, "quicklist node count")
    items: list[bytes] = []
    for _ in range(count):
        container = rdb.CONTAINER_PACKED
        node_position = cursor
        if version == 2:
            container, cursor = reader.length(cursor, "quicklist container")
            if container not in (rdb.CONTAINER_PLAIN, rdb.CONTAINER_PACKED):
                raise reader.fail(node_position, f"unknown quicklist container {container}")
        if container == rdb.CONTAINER_PLAIN:
            item, cursor = reader.string(cursor)
            if not item:
                raise reader.fail(node_position, "empty quicklist node")
            items.append(item)
            continue
        node, cursor = _packed(reader, cursor, listpack_entries if version == 2 else ziplist_entries)
        items.extend(node)  # an empty ziplist or listpack node is skipped, as Redis does
    return (ValueKind.LIST if items else None), items, cursor


def _packed_list(reader: RdbReader, position: int) -> Decoded:
    items, after = _packed(reader, position, ziplist_entries)
    return (ValueKind.LIST if items else None), items, after


def _intset(reader: RdbReader, position: int) -> Decoded:
    members, after = _packed(reader, position, intset_members)
    return ValueKind.SET, set(members), after


def _packed_hash(reader: RdbReader, position: int, decoder: Callable[[bytes], list[bytes]]) -> Decoded:
    items, after = _packed(reader, position, decoder)
    value = _hash_from_pairs(reader, position, items)
    return (ValueKind.HASH if value else None), value, after


def _packed_zset(reader: RdbReader, position: int, decoder: Callable[[bytes], list[bytes]]) -> Decoded:
    items, after = _packed(reader, position, decoder)
    pairs = _zset_from_pairs(reader, position, items)
    return (ValueKind.ZSET if pairs else None), pairs, after


def _stream(reader: RdbReader, position: int, version: int) -> Decoded:
    """A stream (never skipped when empty: Redis keeps empty streams)."""
    payload, after = decode_stream(reader, position, version)
    return ValueKind.STREAM, payload, after


def _refuse(reason: str) -> Callable[[RdbReader, int], Decoded]:
    def refuse(reader: RdbReader, position: int) -> Decoded:
        raise UnsupportedRecordError(reader.path, position, reason)

    return refuse


# RDB type byte -> decoder of the value that starts at the given position.
VALUE_DECODERS: dict[int, Callable[[RdbReader, int], Decoded]] = {
    rdb.TYPE_STRING: _string,
    rdb.TYPE_LIST: _list,
    rdb.TYPE_SET: _set,
    rdb.TYPE_ZSET: lambda reader, position: _zset(reader, position, binary=False),
    rdb.TYPE_HASH: _hash,
    rdb.TYPE_ZSET_2: lambda reader, position: _zset(reader, position, binary=True),
    rdb.TYPE_LIST_ZIPLIST: _packed_list,
    rdb.TYPE_SET_INTSET: _intset,
    rdb.TYPE_ZSET_ZIPLIST: lambda reader, position: _packed_zset(reader, position, ziplist_entries),
    rdb.TYPE_HASH_ZIPLIST: lambda reader, position: _packed_hash(reader, position, ziplist_entries),
    rdb.TYPE_LIST_QUICKLIST: lambda reader, position: _quicklist(reader, position, 1),
    rdb.TYPE_HASH_LISTPACK: lambda reader, position: _packed_hash(reader, position, listpack_entries),
    rdb.TYPE_ZSET_LISTPACK: lambda reader, position: _packed_zset(reader, position, listpack_entries),
    rdb.TYPE_LIST_QUICKLIST_2: lambda reader, position: _quicklist(reader, position, 2),
    rdb.TYPE_HASH_ZIPMAP: _refuse("zipmap hashes (written by Redis 2.4 and older) are not supported"),
}
for _type in sorted(rdb.MODULE_TYPES):
    VALUE_DECODERS[_type] = _refuse(f"module values (RDB type {_type}) cannot be loaded: kevy has no modules")
VALUE_DECODERS[rdb.TYPE_STREAM_LISTPACKS] = lambda reader, position: _stream(reader, position, 1)
VALUE_DECODERS[rdb.TYPE_STREAM_LISTPACKS_2] = lambda reader, position: _stream(reader, position, 2)
VALUE_DECODERS[rdb.TYPE_STREAM_LISTPACKS_3] = _refuse(
    "stream values of RDB type 21 are Redis 7.2's (RDB version 11), unknown to Redis 7.0 and to "
    "files of version 10 and older"
)


def is_value_type(rdb_type: int) -> bool:
    return rdb_type in VALUE_DECODERS


def decode_value(reader: RdbReader, rdb_type: int, position: int) -> Decoded:
    """The value of type `rdb_type` starting at `position` (module docstring)."""
    decoder = VALUE_DECODERS.get(rdb_type)
    if decoder is None:
        raise reader.fail(position, f"unknown value type {rdb_type}")
    return decoder(reader, position)
