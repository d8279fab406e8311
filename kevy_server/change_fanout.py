"""Who hears of a change to the dataset: replicas, WATCH, blocked clients, tracking, keyspace events.

What it models. The single-owner store calls its `observer` after every command or expiry
that changed a shard, with the command, the keys that expired and the records logged. The
server installs an observer only while someone needs to know (`refresh`), since on the plain
path nobody does; the observer then fans the change out, in this order: the replication
stream (every record, in the shard's database), WATCH (every touched key marks its
watchers dirty), the blocked clients waiting on a key, client-side tracking (key names in
every database, as Redis; FLUSHALL / FLUSHDB invalidate everything) and keyspace
notifications. `existing_keys` answers, before DEL / UNLINK / FLUSHALL / FLUSHDB run, which
of the keys they name (or, for a flush, which watched keys) exist now, so WATCH can be told
of removals the records alone would not name.

Guarantees: runs on the loop only; keys are handed on scoped to their database
(`database_keys`), except to tracking.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands.key_positions import command_keys

from .database_keys import database_of, raw_key, scoped

__all__ = ["ChangeFanout"]


class ChangeFanout:
    def __init__(self, server: Any) -> None:
        self.server = server

    def refresh(self) -> None:
        """The store tells the loop about changes only while someone needs to know."""
        server = self.server
        wanted = (server.watches.active or server.blocking.active or server.notifications.enabled
                  or server.tracking.active or server.master.active)
        server.owned.observer = self.changed if wanted else None

    def changed(self, index: int, argv: Any, expired: list[bytes], records: Any) -> None:
        server = self.server
        watches, blocking, tracking = server.watches, server.blocking, server.tracking
        tracked = tracking.active
        database = server.owned.slot_databases[index]
        if server.master.active:
            server.master.propagate(expired, records, database)
            if not (watches.active or blocking.active or tracked or server.notifications.enabled):
                return
        for key in expired:
            watches.touched(scoped(database, key))
            blocking.signal(scoped(database, key))
            if tracked:
                tracking.touched(key)  # tracking is about key names, in every database (Redis's)
        for record in records:
            for key in command_keys(list(record)):
                watches.touched(scoped(database, key))
                blocking.signal(scoped(database, key))
                if tracked:
                    tracking.touched(key)
            if tracked and record and record[0].upper() in (b"FLUSHALL", b"FLUSHDB"):
                tracking.flushed(server.loop.turns)
        if server.notifications.enabled:
            server.notifications.changed(argv, expired, records, database)

    def existing_keys(self, argv: list[bytes]) -> list[Any]:
        """The keys DEL / UNLINK (their arguments) or FLUSHALL / FLUSHDB (every watched key)
        would remove in the selected database, among those that exist now (as scoped keys,
        `database_keys`)."""
        owned = self.server.owned
        database = owned.selected
        name = argv[0].upper()
        if name in (b"FLUSHALL", b"FLUSHDB"):
            candidates = [key for key in self.server.watches.watched_keys() if database_of(key) == database]
        else:
            candidates = [scoped(database, key) for key in command_keys(argv)]
        now_ms = owned.context.now_ms
        found = []
        for key in dict.fromkeys(candidates):
            raw = raw_key(key)
            keyspace = owned.keyspace_of(database, raw)
            if keyspace.peek(raw) is not None and not keyspace.is_expired(raw, now_ms):
                found.append(key)
        return found
