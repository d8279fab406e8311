"""Typed key access and argument parsing shared by the per-type command modules.

`read_*` helpers return the live value of the expected type or None, raising WRONGTYPE for
another type. `write_*` helpers return a value safe to mutate in place (copy-on-write aware,
see keyspace.py). Argument helpers raise the exact Redis errors.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands.context import NOT_FLOAT, NOT_INTEGER, WRONGTYPE, CommandContext, CommandError
from kevy_persist.commands.numbers import parse_double, parse_int
from kevy_persist.data.keyspace import Keyspace

NOTHING_LOGGED: tuple[list[bytes], ...] = ()


def read_typed(keyspace: Keyspace, key: bytes, context: CommandContext, kind: type) -> Any:
    value = keyspace.lookup(key, context.lookup_now_ms)
    if value is not None and type(value) is not kind:
        raise CommandError(WRONGTYPE)
    return value


def write_typed(keyspace: Keyspace, key: bytes, context: CommandContext, kind: type) -> Any:
    value = keyspace.lookup_for_write(key, context.lookup_now_ms)
    if value is not None and type(value) is not kind:
        raise CommandError(WRONGTYPE)
    return value


def integer_argument(text: bytes, message: str = NOT_INTEGER) -> int:
    value = parse_int(text)
    if value is None:
        raise CommandError(message)
    return value


def double_argument(text: bytes, message: str = NOT_FLOAT) -> float:
    value = parse_double(text)
    if value is None:
        raise CommandError(message)
    return value


def normalize_index_range(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """Redis's LRANGE/ZRANGE index rule: negatives from the end, clamp, None if empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    if start < 0:
        start = 0
    if start > stop or start >= length:
        return None
    if stop >= length:
        stop = length - 1
    return start, stop


def count_common_members(sources: list[Any], limit: int | None) -> int:
    """How many members every source holds (SINTERCARD, ZINTERCARD), stopping at `limit`
    (0 or None: no limit); walks the smallest source."""
    smallest = min(sources, key=len)
    found = 0
    for member in smallest:
        if all(member in source for source in sources):
            found += 1
            if limit and found == limit:
                break
    return found
