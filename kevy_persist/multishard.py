"""Commands whose keys span shards, answered the way one Redis server would answer them.

Each handler splits the command by shard, runs the parts under the shard locks (taken in
index order) and merges the replies. MSET and MSETNX hold every involved lock for the whole
command, so no reader sees half of it; across a crash each shard's part is its own record
(Redis Cluster gives no more: it refuses cross-slot MSET outright).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .commands import ErrorReply
from .errors import StoreClosedError

if TYPE_CHECKING:
    from .store import Store


def _group_keys(store: Store, keys: list[bytes]) -> dict[int, list[int]]:
    """shard index -> positions (in `keys`) of the keys it owns."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        groups[store.shard_of(key)].append(position)
    return groups


def _arity_error(name: bytes) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name.decode(errors='replace').lower()}' command")


def mget(store: Store, argv: list[bytes]) -> Any:
    keys = argv[1:]
    if not keys:
        return _arity_error(argv[0])
    replies: list[Any] = [None] * len(keys)
    for index, positions in sorted(_group_keys(store, keys).items()):
        part = store.run_on_shard(index, [argv[0], *(keys[p] for p in positions)])
        if isinstance(part, ErrorReply):
            return part
        for position, value in zip(positions, part):
            replies[position] = value
    return replies


def count_keys(store: Store, argv: list[bytes]) -> Any:
    """DEL, UNLINK, EXISTS, TOUCH: the sum of the per-shard counts."""
    keys = argv[1:]
    if not keys:
        return _arity_error(argv[0])
    groups = _group_keys(store, keys)
    with store.locked_shards(list(groups)) as locked:
        for index, positions in groups.items():
            locked.execute(index, [argv[0], *(keys[p] for p in positions)])
    parts = locked.await_durable()
    for part in parts:
        if isinstance(part, ErrorReply):
            return part
    return sum(parts)


def mset(store: Store, argv: list[bytes]) -> Any:
    pairs = argv[1:]
    if not pairs or len(pairs) % 2:
        return _arity_error(argv[0])
    keys = pairs[0::2]
    groups = _group_keys(store, keys)
    only_if_all_new = argv[0].upper() == b"MSETNX"
    with store.locked_shards(list(groups)) as locked:
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


def every_shard_sum(store: Store, argv: list[bytes]) -> Any:
    """DBSIZE."""
    total = 0
    for index in range(store.shard_count):
        part = store.run_on_shard(index, argv)
        if isinstance(part, ErrorReply):
            return part
        total += part
    return total


def every_shard_concat(store: Store, argv: list[bytes]) -> Any:
    """KEYS."""
    keys: list[Any] = []
    for index in range(store.shard_count):
        part = store.run_on_shard(index, argv)
        if isinstance(part, ErrorReply):
            return part
        keys.extend(part)
    return keys


def every_shard_flush(store: Store, argv: list[bytes]) -> Any:
    """FLUSHALL / FLUSHDB: every shard, all locks held, so no reader sees half a flush."""
    with store.locked_shards(list(range(store.shard_count))) as locked:
        for index in range(store.shard_count):
            locked.execute(index, argv)
    for part in locked.await_durable():
        if isinstance(part, ErrorReply):
            return part
    return _ok()


class LockedShards:
    """Holds the locks of several shards, always taken in index order (no deadlock)."""

    def __init__(self, store: Store, indexes: list[int]) -> None:
        self.store = store
        self.indexes = indexes
        self._tickets: list[tuple[int, tuple[Any, int, int | None]]] = []

    def __enter__(self) -> LockedShards:
        for index in self.indexes:
            self.store._locks[index].acquire()
        try:
            self.store._check_open()
        except StoreClosedError:
            self._release()
            raise
        return self

    def execute(self, index: int, argv: list[bytes]) -> Any:
        assert index in self.indexes, "a command runs only on a locked shard"
        ticket = self.store._execute_locked(index, argv)
        self._tickets.append((index, ticket))
        return ticket[0]

    def _release(self) -> None:
        for index in reversed(self.indexes):
            self.store._locks[index].release()

    def __exit__(self, *exc_info: object) -> None:
        self._release()

    def await_durable(self) -> list[Any]:
        """After release: wait for every logged record (under `always`); the replies."""
        return [self.store._await(index, ticket) for index, ticket in self._tickets]


# SCAN's cursor carries the shard in its low bits: cursor = inner_cursor * shard_count + shard.
def scan(store: Store, argv: list[bytes]) -> Any:
    if len(argv) < 2:
        return _arity_error(argv[0])
    try:
        cursor = int(argv[1])
    except ValueError:
        return ErrorReply("ERR invalid cursor")
    if cursor < 0:
        return ErrorReply("ERR invalid cursor")
    shard_count = store.shard_count
    index, inner_cursor = cursor % shard_count, cursor // shard_count
    reply = store.run_on_shard(index, [argv[0], str(inner_cursor).encode(), *argv[2:]])
    if isinstance(reply, ErrorReply):
        return reply
    next_inner, keys = int(reply[0]), reply[1]
    if next_inner == 0:
        index += 1
        if index == shard_count:
            return [b"0", keys]
    return [str(next_inner * shard_count + index).encode(), keys]


def _ok() -> Any:
    from .commands import SimpleString

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
