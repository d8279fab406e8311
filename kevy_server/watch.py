"""WATCH: optimistic locking with Redis 7.0's semantics (pure bookkeeping on the loop thread).

A client's EXEC aborts (null reply) if any key it watched was modified, deleted, expired or
flushed since WATCH, by any connection (its own included). How each case is seen:
- a write: the command's log records name the keys it changed (`touched`, called from the
  store's change observer), so a command that changed nothing (DEL of a missing key, SET NX
  on an existing key) leaves watchers alone, as in Redis;
- DEL / UNLINK of several keys and FLUSHALL / FLUSHDB: `before_command` looks at the
  keyspace first and touches only the keys that existed (the records name every argument);
- expiry: a reaped key is touched; a watched key whose deadline passed but that nothing has
  reaped yet counts as expired at EXEC (`dirty`), unless it was already expired when it was
  watched (then only its reappearance counts, as Redis 7.0's `expired` flag does).
EXEC, DISCARD, UNWATCH, RESET and a closed connection forget the client's watches.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Watches"]


class Watches:
    def __init__(self, server: Any) -> None:
        self.server = server
        self._watchers: dict[bytes, dict[Any, None]] = {}
        # True while a command whose removals `before_command` already counted runs: its
        # records name every argument, existing or not.
        self.counted_before = False

    @property
    def active(self) -> bool:
        return bool(self._watchers)

    def watched_key_count(self) -> int:
        return len(self._watchers)

    def watched_keys(self) -> list[bytes]:
        return list(self._watchers)

    def watch(self, client: Any, keys: list[bytes]) -> None:
        owned = self.server.owned
        now_ms = owned.context.now_ms
        for key in keys:
            if key in client.watched:
                continue
            keyspace = owned.shards[owned.shard_for_key(key)].keyspace
            client.watched[key] = keyspace.peek(key) is not None and keyspace.is_expired(key, now_ms)
            self._watchers.setdefault(key, {})[client] = None
        self.server.refresh_observer()

    def unwatch_all(self, client: Any) -> None:
        for key in client.watched:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.pop(client, None)
                if not watchers:
                    del self._watchers[key]
        client.watched = {}
        client.watch_dirty = False
        self.server.refresh_observer()

    def touched(self, key: bytes) -> None:
        watchers = self._watchers.get(key)
        if not watchers or self.counted_before:
            return
        owned = self.server.owned
        for client in watchers:
            if client.watched.get(key) and owned.shards[owned.shard_for_key(key)].keyspace.peek(key) is None:
                client.watched[key] = False  # the expired key was deleted: logically no change
                continue
            client.watch_dirty = True

    def dataset_replaced(self) -> None:
        """The server adopted the store its data dir opened into (keys watched during LOADING
        were watched in the empty placeholder): every watcher's EXEC aborts."""
        for watchers in self._watchers.values():
            for client in watchers:
                client.watch_dirty = True

    def before_command(self, removed: list[bytes]) -> None:
        """FLUSHALL / FLUSHDB / DEL / UNLINK are about to remove `removed` (keys that exist):
        touch the watched ones, and let the command's own records touch nothing more."""
        for key in removed:
            if key in self._watchers:
                self.touched(key)
        self.counted_before = True

    def dirty(self, client: Any) -> bool:
        """True when EXEC must abort: a touch, or a watched key that has expired since."""
        if client.watch_dirty:
            return True
        owned = self.server.owned
        now_ms = owned.refresh_clock()
        for key, expired_when_watched in client.watched.items():
            if expired_when_watched:
                continue
            keyspace = owned.shards[owned.shard_for_key(key)].keyspace
            if keyspace.peek(key) is not None and keyspace.is_expired(key, now_ms):
                return True
        return False

    def forget(self, client: Any) -> None:
        self.unwatch_all(client)
