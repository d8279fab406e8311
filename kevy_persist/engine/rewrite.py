"""The commands that rebuild a keyspace: the content of a rewritten (`base`) log.

One command per value (hashes, lists, sets and sorted sets in chunks of `CHUNK_ITEMS`, taken
lazily from the value, so no record grows without bound and no value is copied whole; a
stream as the commands of rewrite_streams.py), then `PEXPIREAT` for a key with a deadline.
Scores are written with `repr`, which round-trips every float exactly (and `inf`/`-inf`,
which Redis accepts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from kevy_persist.engine.rewrite_streams import rebuild_stream
from kevy_persist.formats.records import ValueKind

CHUNK_ITEMS = 512


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    """Slices of `CHUNK_ITEMS`, taken lazily: a million-field hash is never listed whole."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, CHUNK_ITEMS)):
        yield chunk


def _score_text(score: float) -> bytes:
    return repr(float(score)).encode()


def rebuild_commands(entries: Iterable[tuple[bytes, ValueKind, Any, int | None]]) -> Iterator[list[bytes]]:
    for key, kind, value, deadline_ms in entries:
        if kind == ValueKind.STRING:
            yield [b"SET", key, value]
        elif kind == ValueKind.HASH:
            for chunk in _chunks(value.items()):
                yield [b"HSET", key, *(part for pair in chunk for part in pair)]
        elif kind == ValueKind.LIST:
            for chunk in _chunks(value):
                yield [b"RPUSH", key, *chunk]
        elif kind == ValueKind.SET:
            for chunk in _chunks(value):
                yield [b"SADD", key, *chunk]
        elif kind == ValueKind.STREAM:
            yield from rebuild_stream(key, value)
        else:
            assert kind == ValueKind.ZSET, kind
            for chunk in _chunks(value.items()):
                yield [b"ZADD", key, *(part for member, score in chunk for part in (_score_text(score), member))]
        if deadline_ms is not None:
            yield [b"PEXPIREAT", key, str(deadline_ms).encode()]
