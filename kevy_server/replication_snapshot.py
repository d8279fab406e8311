"""The RDB a full resynchronisation sends: a copy-on-write view, encoded off the loop.

What it models: Redis's diskless BGSAVE for a replica. `SnapshotStream.freeze` runs on the
loop's thread between two commands -- the freeze BGSAVE makes (`Keyspace.freeze_view`: the
top-level maps copied, every value shared, a collection copied by the live side on its first
write afterwards) of every shard, at the replication offset the `+FULLRESYNC` line names.
A worker thread then encodes the views as one RDB file (`formats.rdb_format`, version 10,
one SELECTDB section per open database, absolute deadlines: a key already past its deadline is sent and then deleted by
the DEL the master's expiry propagates, as Redis's replica keeps what the master sends) and
hands chunks over; the loop takes them (`take`) as the replica's socket drains, so neither
the encoding nor the transfer holds the loop for long and the bytes in memory stay bounded
by what the socket has not taken (`MAX_QUEUED_BYTES`).

Only the loop's thread calls `take` and `release`; the worker only reads the views (which are
safe to iterate from another thread) and appends to the queue under its lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import chain
from typing import Any

from kevy_persist.formats.rdb_format import encode_rdb_chunks
from kevy_persist.store.runtime import WorkerThread

__all__ = ["SnapshotStream"]

MAX_QUEUED_BYTES = 8 * 1024 * 1024


class SnapshotStream:
    """One RDB being encoded from frozen views (see the module docstring)."""

    def __init__(self, databases: list[tuple[int, list[Any], int, int]],
                 aux: list[tuple[bytes, bytes]], wake: Callable[[], None]) -> None:
        # (database number, its shards' views, key count, count of keys with a deadline)
        self._databases = databases
        self._views = [view for _, views, _, _ in databases for view in views]
        self._aux = aux
        self._wake = wake
        self._chunks: deque[bytes] = deque()
        self._queued_bytes = 0
        self._condition = threading.Condition()
        self._cancelled = False
        self.produced_bytes = 0
        self._worker = WorkerThread(self._encode, name="kevy-repl-rdb")

    @classmethod
    def freeze(cls, owned: Any, aux: list[tuple[bytes, bytes]], wake: Callable[[], None]) -> SnapshotStream:
        """Freeze every shard now (the loop's thread, between commands) and start encoding."""
        grouped: dict[int, list[Any]] = {}
        for shard, database in zip(owned.shards, owned.slot_databases):
            if database >= 0:  # -1: the stand-in of a database not opened yet (empty)
                grouped.setdefault(database, []).append(shard.keyspace)
        databases = []
        for database, keyspaces in sorted(grouped.items()):
            key_count = sum(len(keyspace) for keyspace in keyspaces)
            expires_count = sum(len(keyspace.deadline_items()) for keyspace in keyspaces)  # type: ignore[arg-type]
            if key_count or database == 0:
                databases.append((database, [keyspace.freeze_view() for keyspace in keyspaces], key_count, expires_count))
        stream = cls(databases, aux, wake)
        stream._worker.start()
        return stream

    def _encode(self) -> None:
        databases = [(database, key_count, expires_count, chain.from_iterable(view.iter_entries() for view in views))
                     for database, views, key_count, expires_count in self._databases]
        for chunk in encode_rdb_chunks(databases, self._aux):
            with self._condition:
                while self._queued_bytes > MAX_QUEUED_BYTES and not self._cancelled:
                    self._condition.wait()
                if self._cancelled:
                    return
                self._chunks.append(chunk)
                self._queued_bytes += len(chunk)
                self.produced_bytes += len(chunk)
            self._wake()

    @property
    def finished(self) -> bool:
        """The worker is done (every chunk is queued, or it failed: see `error`)."""
        return self._worker.done

    @property
    def error(self) -> BaseException | None:
        return self._worker.error

    def take(self) -> list[bytes]:
        """The chunks encoded since the last call (the loop's thread)."""
        with self._condition:
            chunks = list(self._chunks)
            self._chunks.clear()
            self._queued_bytes = 0
            self._condition.notify_all()
        return chunks

    def release(self) -> None:
        """Stop the worker and let the live keyspaces own their values again (loop thread)."""
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()
        self._worker.wait()
        for view in self._views:
            view.release()
        self._views = []
