"""SCAN: a cursor over the keys in CRC-32 order, cheap per call and complete.

Redis's guarantee is kept: every key present from the start of a full iteration (cursor 0)
to its end is returned at least once. A call with cursor 0 sorts the keys by (hash, key)
once and keeps that order for the keyspace; later calls bisect it, so one call costs
O(log keys + COUNT) instead of O(keys). Keys created after the order was built are not
visited by that iteration (allowed: they were not present from the start); keys deleted
since are skipped. A newer cursor-0 call rebuilds the order, which still holds every key an
older, unfinished iteration must return (they are present at every moment of it). The cursor
is the hash of the next key to return, and keys sharing a hash are returned together.

The hash is CRC-32's top 24 bits, so a cursor stays below 2**24 -- and the multi-shard cursor
(`inner * shards + shard`, store/multishard.py) below 2**31 up to 128 shards: clients read
cursors as C ints (redis-cli's `--cluster import` uses `atoi`, and restarts at 0 on a negative
value, so a 32-bit cursor made it loop). Redis's own cursors are below its table size.
A bucket then holds several keys only past millions of keys (about keys / 16.7M each).
"""

from __future__ import annotations

import bisect
import weakref
import zlib

from kevy_persist.commands.access import integer_argument
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.glob import glob_match
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import KIND_BY_TYPE, Keyspace

CURSOR_SHIFT = 8  # 32-bit CRC -> a 24-bit position
# keyspace -> (hashes, keys) in (position, key) order, built by the last cursor-0 SCAN.
_ORDERS: weakref.WeakKeyDictionary[Keyspace, tuple[list[int], list[bytes]]] = weakref.WeakKeyDictionary()


def _build_order(keyspace: Keyspace) -> tuple[list[int], list[bytes]]:
    positions = sorted((zlib.crc32(key) >> CURSOR_SHIFT, key) for key in keyspace.keys())
    order = ([position[0] for position in positions], [position[1] for position in positions])
    _ORDERS[keyspace] = order
    return order


def _parse_options(argv: list[bytes]) -> tuple[bytes | None, int, str | None]:
    pattern, count, type_name = None, 10, None
    index = 2
    while index < len(argv):
        option = argv[index].upper()
        if index + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if option == b"COUNT":
            count = integer_argument(argv[index + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif option == b"MATCH":
            pattern = argv[index + 1]
        elif option == b"TYPE":
            type_name = argv[index + 1].decode("latin-1").lower()
        else:
            raise CommandError(SYNTAX)
        index += 2
    return pattern, count, type_name


@command("scan", -2, "readonly", 0, 0, 0)
def scan_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    cursor = parse_int(argv[1])
    if cursor is None or cursor < 0:
        raise CommandError("ERR invalid cursor")
    pattern, count, type_name = _parse_options(argv)
    order = _ORDERS.get(keyspace)
    if cursor == 0 or order is None:
        order = _build_order(keyspace)
    hashes, keys = order
    first = bisect.bisect_left(hashes, cursor)
    end = min(first + count, len(hashes))
    while end < len(hashes) and hashes[end] == hashes[end - 1]:
        end += 1
    next_cursor = hashes[end] if end < len(hashes) else 0
    now_ms = context.lookup_now_ms
    found = []
    for key in keys[first:end]:
        value = keyspace.peek(key)
        if value is None or keyspace.is_expired(key, now_ms):
            continue
        if pattern is not None and not glob_match(pattern, key):
            continue
        if type_name is not None and KIND_BY_TYPE[type(value)].type_name != type_name:
            continue
        found.append(key)
    return CommandOutcome([b"%d" % next_cursor, found])
