"""The commands that rebuild a keyspace: the content of a rewritten (`base`) log.

One command per value (hashes, lists, sets and sorted sets in chunks, so no record grows
without bound; a stream as the commands of rewrite_streams.py), then `PEXPIREAT` for a key
with a deadline. Scores are written with `repr`, which round-trips every float exactly (and
`inf`/`-inf`, which Redis accepts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kevy_persist.engine.rewrite_streams import rebuild_stream
from kevy_persist.formats.records import ValueKind

CHUNK_ITEMS = 512


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK_ITEMS):
        yield items[start : start + CHUNK_ITEMS]


def _score_text(score: float) -> bytes:
    return repr(float(score)).encode()


def rebuild_commands(entries: Iterable[tuple[bytes, ValueKind, Any, int | None]]) -> Iterator[list[bytes]]:
    for key, kind, value, deadline_ms in entries:
        if kind == ValueKind.STRING:
            yield [b"SET", key, value]
        elif kind == ValueKind.HASH:
            for chunk in _chunks(list(value.items())):
                yield [b"HSET", key, *(part for pair in chunk for part in pair)]
        elif kind == ValueKind.LIST:
            for chunk in _chunks(list(value)):
                yield [b"RPUSH", key, *chunk]
        elif kind == ValueKind.SET:
            for chunk in _chunks(list(value)):
                yield [b"SADD", key, *chunk]
        elif kind == ValueKind.STREAM:
            yield from rebuild_stream(key, value)
        else:
            assert kind == ValueKind.ZSET, kind
            for chunk in _chunks(list(value.items())):
                yield [b"ZADD", key, *(part for member, score in chunk for part in (_score_text(score), member))]
        if deadline_ms is not None:
            yield [b"PEXPIREAT", key, str(deadline_ms).encode()]
