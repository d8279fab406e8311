"""Storing a computed result under a key, and the log records that reproduce it.

SORT ... STORE, GEOSEARCHSTORE and GEORADIUS ... STORE replace their target with a list or
a sorted set they computed (reading other keys, and for SORT possibly other patterns). They
are logged as their effect rather than as given: `DEL target`, then the new value in
chunks of `CHUNK_ITEMS` (RPUSH / ZADD, so no record grows without bound); a shard brackets
the records of one command, so a crash keeps all of them or none. An empty result deletes
the target (logged as DEL only if it existed). Scores are written with `repr`, which
round-trips every double exactly. The new value has no TTL, as Redis's setKey leaves it.
"""

from __future__ import annotations

from collections import deque

from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

CHUNK_ITEMS = 512


def _delete(keyspace: Keyspace, key: bytes, now_ms: int) -> tuple[list[bytes], ...]:
    existed = keyspace.lookup(key, now_ms) is not None
    keyspace.delete(key)
    return ([b"DEL", key],) if existed else ()


def store_list(keyspace: Keyspace, key: bytes, items: list[bytes], now_ms: int) -> tuple[list[bytes], ...]:
    """Replace `key` by a list of `items`; the log records of that effect."""
    if not items:
        return _delete(keyspace, key, now_ms)
    keyspace.set_value(key, deque(items))
    chunks = [[b"RPUSH", key, *items[start : start + CHUNK_ITEMS]] for start in range(0, len(items), CHUNK_ITEMS)]
    return ([b"DEL", key], *chunks)


def store_zset(
    keyspace: Keyspace, key: bytes, pairs: list[tuple[bytes, float]], now_ms: int
) -> tuple[list[bytes], ...]:
    """Replace `key` by a sorted set of (member, score) `pairs`; the log records."""
    if not pairs:
        return _delete(keyspace, key, now_ms)
    zset = ZSet.from_pairs(pairs)
    keyspace.set_value(key, zset)
    chunks = []
    ordered = list(zset.items())
    for start in range(0, len(ordered), CHUNK_ITEMS):
        chunk = ordered[start : start + CHUNK_ITEMS]
        chunks.append([b"ZADD", key, *(part for member, score in chunk for part in (repr(score).encode(), member))])
    return ([b"DEL", key], *chunks)
