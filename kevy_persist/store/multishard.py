"""Commands whose keys span shards, answered the way one Redis server would answer them.

Each handler splits the command by shard, runs the parts under the shard locks (taken in
index order) and merges the replies. MSET and MSETNX hold every involved lock for the whole
command, so no reader sees half of it; across a crash each shard's part is its own record
(Redis Cluster gives no more: it refuses cross-slot MSET outright).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kevy_persist.commands import ErrorReply, SimpleString
from kevy_persist.store.shard_runner import ShardRunner


def _group_keys(runner: ShardRunner, keys: list[bytes]) -> dict[int, list[int]]:
    """shard index -> positions (in `keys`) of the keys it owns."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        groups[runner.router.shard_for_key(key)].append(position)
    return groups


def _arity_error(name: bytes) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name.decode(errors='replace').lower()}' command")


def mget(runner: ShardRunner, argv: list[bytes]) -> Any:
    keys = argv[1:]
    if not keys:
        return _arity_error(argv[0])
    replies: list[Any] = [None] * len(keys)
    for index, positions in sorted(_group_keys(runner, keys).items()):
        part = runner.run(index, [argv[0], *(keys[p] for p in positions)])
        if isinstance(part, ErrorReply):
            return part
        for position, value in zip(positions, part):
            replies[position] = value
    return replies


def count_keys(runner: ShardRunner, argv: list[bytes]) -> Any:
    """DEL, UNLINK, EXISTS, TOUCH: the sum of the per-shard counts."""
    keys = argv[1:]
    if not keys:
        return _arity_error(argv[0])
    groups = _group_keys(runner, keys)
    with runner.locked(list(groups)) as locked:
        for index, positions in groups.items():
            locked.execute(index, [argv[0], *(keys[p] for p in positions)])
    parts = locked.await_durable()
    for part in parts:
        if isinstance(part, ErrorReply):
            return part
    return sum(parts)


def mset(runner: ShardRunner, argv: list[bytes]) -> Any:
    pairs = argv[1:]
    if not pairs or len(pairs) % 2:
        return _arity_error(argv[0])
    keys = pairs[0::2]
    groups = _group_keys(runner, keys)
    only_if_all_new = argv[0].upper() == b"MSETNX"
    with runner.locked(list(groups)) as locked:
        if only_if_all_new:
            for index, positions in groups.items():
                existing = locked.execute(index, [b"EXISTS", *(keys[p] for p in positions)])
                if existing:
                    return 0
        for index, positions in groups.items():
            part_argv = [b"MSET"]
            for position in positions:
                part_argv += [pairs[2 * position], pairs[2 * position + 1]]
            locked.execute(index, part_argv)
    for part in locked.await_durable():
        if isinstance(part, ErrorReply):
            return part
    return 1 if only_if_all_new else _ok()


def every_shard_sum(runner: ShardRunner, argv: list[bytes]) -> Any:
    """DBSIZE."""
    total = 0
    for index in range(runner.shard_count):
        part = runner.run(index, argv)
        if isinstance(part, ErrorReply):
            return part
        total += part
    return total


def every_shard_concat(runner: ShardRunner, argv: list[bytes]) -> Any:
    """KEYS."""
    keys: list[Any] = []
    for index in range(runner.shard_count):
        part = runner.run(index, argv)
        if isinstance(part, ErrorReply):
            return part
        keys.extend(part)
    return keys


def every_shard_flush(runner: ShardRunner, argv: list[bytes]) -> Any:
    """FLUSHALL / FLUSHDB: every shard, all locks held, so no reader sees half a flush."""
    with runner.locked(list(range(runner.shard_count))) as locked:
        for index in range(runner.shard_count):
            locked.execute(index, argv)
    for part in locked.await_durable():
        if isinstance(part, ErrorReply):
            return part
    return _ok()


# SCAN's cursor carries the shard in its low bits: cursor = inner_cursor * shard_count + shard.
def scan(runner: ShardRunner, argv: list[bytes]) -> Any:
    if len(argv) < 2:
        return _arity_error(argv[0])
    try:
        cursor = int(argv[1])
    except ValueError:
        return ErrorReply("ERR invalid cursor")
    if cursor < 0:
        return ErrorReply("ERR invalid cursor")
    shard_count = runner.shard_count
    index, inner_cursor = cursor % shard_count, cursor // shard_count
    reply = runner.run(index, [argv[0], str(inner_cursor).encode(), *argv[2:]])
    if isinstance(reply, ErrorReply):
        return reply
    next_inner, keys = int(reply[0]), reply[1]
    if next_inner == 0:
        index += 1
        if index == shard_count:
            return [b"0", keys]
    return [str(next_inner * shard_count + index).encode(), keys]


def _ok() -> Any:
    return SimpleString("OK")


HANDLERS = {
    b"MGET": mget,
    b"DEL": count_keys,
    b"UNLINK": count_keys,
    b"EXISTS": count_keys,
    b"TOUCH": count_keys,
    b"MSET": mset,
    b"MSETNX": mset,
    b"DBSIZE": every_shard_sum,
    b"KEYS": every_shard_concat,
    b"FLUSHALL": every_shard_flush,
    b"FLUSHDB": every_shard_flush,
    b"SCAN": scan,
}
