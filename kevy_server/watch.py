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

from .database_keys import database_of, raw_key, scoped

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

    def watched_keys(self) -> list[Any]:
        return list(self._watchers)

    def touch_database(self, database: int) -> None:
        """Every watched key of `database` changed (SWAPDB), as Redis's touchAllWatchedKeysInDb."""
        for key in self.watched_keys():
            if database_of(key) == database:
                for client in self._watchers[key]:
                    client.watch_dirty = True

    def watch(self, client: Any, keys: list[bytes]) -> None:
        """Watch `keys` of the client's database (held as `database_keys.scoped` keys)."""
        owned = self.server.owned
        now_ms = owned.context.now_ms
        database = client.database
        for raw in keys:
            key = scoped(database, raw)
            if key in client.watched:
                continue
            keyspace = owned.keyspace_of(database, raw)
            client.watched[key] = keyspace.peek(raw) is not None and keyspace.is_expired(raw, now_ms)
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

    def touched(self, key: Any) -> None:
        """`key` (a scoped key) changed."""
        watchers = self._watchers.get(key)
        if not watchers or self.counted_before:
            return
        owned = self.server.owned
        for client in watchers:
            if client.watched.get(key) and owned.keyspace_of(database_of(key), raw_key(key)).peek(raw_key(key)) is None:
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
            raw = raw_key(key)
            keyspace = owned.keyspace_of(database_of(key), raw)
            if keyspace.peek(raw) is not None and keyspace.is_expired(raw, now_ms):
                return True
        return False

    def forget(self, client: Any) -> None:
        self.unwatch_all(client)
