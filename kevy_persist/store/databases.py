"""The numbered databases of one store, and the commands that span two of them.

A `Store` is database 0; `store.database(n)` is database n (0 <= n < `config.databases`), a
`Store` of its own over `DIR/db-{n}/` with the same shard layout (`layout.databases`), opened
at the root's open when its directory exists and created on first use otherwise. Each
database is a complete store: its own shards, locks, logs, snapshots and background jobs,
so everything proven about one store holds for each. The root drives the others' lifecycle
(tick, save, rewrite, background jobs, shutdown) and answers the commands whose effect
crosses databases, which one database's shards cannot run:

- FLUSHALL: every open database is flushed (each shard logs its own FLUSHALL; across a
  crash each shard keeps or loses its part, as with several shards);
- SWAPDB a b: `reshard.swapdb` (one journal commits both dirs; the databases are then
  reloaded from their new files);
- MOVE key db: the key is written to the target durably before it is deleted at the
  source, under `move.journal` (below);
- COPY src dst DB n: one write, to the target database only (a RESTORE of the source's DUMP
  payload with its absolute deadline): no protocol needed.

MOVE's crash protocol (with a log; without one nothing is durable between saves anyway):
1. write `move.journal` (source, target, key), fsync, fsync_dir the root;
2. RESTORE the key in the target database, fsync that shard's log;
3. DEL the key in the source database, fsync that shard's log;
4. remove the journal, fsync_dir the root; reply 1.
Recovery at open (`recover_interrupted_move`), once every database is open: with a journal
that decodes, if the target holds the key, step 2 was durable, so the key is deleted from the
source (and that fsynced); either way the journal is then removed durably. Before step 1
the target had no key (MOVE answers 0 otherwise) and nothing else ran until step 4, so
"the target holds it" is exactly "step 2 survived": the key ends in one database, never in
none and never in both. A torn journal was never acted on and is removed.

A failure (not a crash) before step 2 was logged removes the journal durably and answers the
error; from then on -- the RESTORE's fsync, the DEL, its fsync or the journal's removal
failed -- the outcome is recovery's, and the key's shard in both databases is fenced, with
every later MOVE and SWAPDB refused, until a restart (`database_fence`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kevy_persist.commands import ErrorReply, SimpleString
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.errors import CommandError, KevyError, LayoutError, StorageIOError
from kevy_persist.layout.databases import MOVE_JOURNAL_NAME, MoveJournal, decode_move_journal, encode_move_journal
from kevy_persist.store.database_fence import check_settled, fence
from kevy_persist.store.runtime import new_lock


class DatabaseSet:
    """Database number -> open `Store`; opens one on first use (thread-safe)."""

    def __init__(self, root: Any, count: int, opener: Callable[[int], Any]) -> None:
        self.count = count
        self._stores: dict[int, Any] = {0: root}
        # Why MOVE / SWAPDB are refused until a restart, once one failed where its journal
        # may be durable (`database_fence`); None while every journal is settled.
        self.unsettled: str | None = None
        self._lock = new_lock()
        self._opener = opener

    def get(self, database: int, create: bool = True) -> Any:
        """Database `database`'s store; None when it was never written and `create` is False."""
        assert 0 <= database < self.count, database
        store = self._stores.get(database)
        if store is not None or not create:
            return store
        with self._lock:
            store = self._stores.get(database)
            if store is None:
                store = self._opener(database)
                self._stores[database] = store
        return store

    def adopt(self, database: int, store: Any) -> None:
        with self._lock:
            self._stores[database] = store

    def opened(self) -> list[tuple[int, Any]]:
        """(number, store) of every open database, in number order (0 first)."""
        return sorted(self._stores.items())

    def others(self) -> list[Any]:
        return [store for number, store in self.opened() if number != 0]


# -- two databases' shards under their locks ----------------------------------------------

class _Pair:
    """The shard of `key` in two databases, both locked (ordered by database number)."""

    def __init__(self, source: Any, source_key: bytes, target: Any, target_key: bytes) -> None:
        self.source, self.target = source, target
        self.source_index = source.shard_of(source_key)
        self.target_index = target.shard_of(target_key)
        pairs = sorted([(source.database_number, source, self.source_index),
                        (target.database_number, target, self.target_index)], key=lambda item: item[0])
        self._locks = [store._runner.locks[index] for _, store, index in pairs]

    def __enter__(self) -> _Pair:
        for lock in self._locks:
            lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for lock in reversed(self._locks):
            lock.release()

    def on_source(self, argv: list[bytes]) -> Any:
        return self.source._runner.execute_locked(self.source_index, argv)

    def on_target(self, argv: list[bytes]) -> Any:
        return self.target._runner.execute_locked(self.target_index, argv)


def _payload(pair: _Pair, key: bytes) -> tuple[bytes, bytes] | None:
    """(absolute deadline text or b"0", DUMP payload) of the source's `key`; None if absent."""
    deadline = pair.on_source([b"PEXPIRETIME", key])[0]
    if deadline == -2:
        return None
    payload = pair.on_source([b"DUMP", key])[0]
    if isinstance(payload, ErrorReply):
        raise CommandError(str(payload))
    return (b"%d" % deadline if deadline > 0 else b"0"), payload


def copy_across(source: Any, source_key: bytes, target: Any, target_key: bytes, replace: bool) -> Any:
    """COPY ... DB n into another database: 1 when copied, 0 when absent / target exists."""
    with _Pair(source, source_key, target, target_key) as pair:
        found = _payload(pair, source_key)
        if found is None:
            return 0
        if not replace and pair.on_target([b"EXISTS", target_key])[0]:
            return 0
        deadline, payload = found
        ticket = pair.on_target([b"RESTORE", target_key, deadline, payload, b"ABSTTL", b"REPLACE"])
    reply = target._runner.await_reply(pair.target_index, ticket)
    return reply if isinstance(reply, ErrorReply) else 1


def move(root: Any, source: Any, key: bytes, target: Any) -> Any:
    """MOVE under the journal protocol of the module docstring: 1 when moved, else 0.

    A failure the journal can still be retired after (its own write, or a RESTORE that was
    refused and so logged nothing) leaves no journal and raises or answers the error; any
    later one leaves the outcome to the next open's recovery and fences (`database_fence`)."""
    check_settled(root)
    journaled = root._file_system is not None and root.config.log_enabled
    with _Pair(source, key, target, key) as pair:
        found = _payload(pair, key)
        if found is None or pair.on_target([b"EXISTS", key])[0]:
            return 0
        deadline, payload = found
        if not journaled:
            reply = pair.on_target([b"RESTORE", key, deadline, payload, b"ABSTTL", b"REPLACE"])[0]
            if isinstance(reply, ErrorReply):
                return reply
            reply = pair.on_source([b"DEL", key])[0]
            return reply if isinstance(reply, ErrorReply) else 1
        fs, root_dir = root._file_system, root.config.data_dir
        try:
            _write_move_journal(fs, root_dir, MoveJournal(source.database_number, target.database_number, key))
        except KevyError:
            _retire_or_fence(root, pair)
            raise
        try:
            reply = pair.on_target([b"RESTORE", key, deadline, payload, b"ABSTTL", b"REPLACE"])[0]
            if isinstance(reply, ErrorReply):  # refused or invalid: nothing of it was logged
                _retire_or_fence(root, pair)
                return reply
            target._runner.group_commits[pair.target_index].sync_now()
            reply = pair.on_source([b"DEL", key])[0]
            if isinstance(reply, ErrorReply):
                raise CommandError(str(reply))
            source._runner.group_commits[pair.source_index].sync_now()
            _remove_move_journal(fs, root_dir)
        except KevyError as error:
            # The RESTORE may be durable and the DEL not: only recovery can tell.
            _fence_move(root, pair, error)
            raise
    return 1


def _write_move_journal(fs: FileSystem, root_dir: str, journal: MoveJournal) -> None:
    handle = fs.open_write(join(root_dir, MOVE_JOURNAL_NAME))
    try:
        handle.write(encode_move_journal(journal))
        handle.fsync()
    finally:
        handle.close()
    fs.fsync_dir(root_dir)


def _remove_move_journal(fs: FileSystem, root_dir: str) -> None:
    path = join(root_dir, MOVE_JOURNAL_NAME)
    if fs.exists(path):
        fs.remove(path)
    fs.fsync_dir(root_dir)


def _retire_or_fence(root: Any, pair: _Pair) -> None:
    """Nothing but the journal was written: its removal, made durable, undoes the MOVE.
    When that fails too the journal may come back after a crash, so fence."""
    try:
        _remove_move_journal(root._file_system, root.config.data_dir)
    except KevyError as error:
        _fence_move(root, pair, error)


def _fence_move(root: Any, pair: _Pair, error: KevyError) -> None:
    fence(root, f"MOVE failed with its journal left for recovery ({error})",
          [(pair.target, pair.target_index, None), (pair.source, pair.source_index, None)])


def recover_interrupted_move(root: Any) -> MoveJournal | None:
    """At open, every database open: finish or drop an interrupted MOVE (module docstring)."""
    fs, root_dir = root._file_system, root.config.data_dir
    path = join(root_dir, MOVE_JOURNAL_NAME)
    if fs is None or not fs.exists(path):
        return None
    try:
        journal = decode_move_journal(fs.read_bytes(path))
    except StorageIOError as error:
        raise LayoutError(path, f"the move journal cannot be read ({error.reason}); refusing to open") from error
    databases = root.databases
    if journal is not None and max(journal.source, journal.target) < databases.count:
        target = databases.get(journal.target, create=False)
        source = databases.get(journal.source, create=False)
        if target is not None and source is not None and target.run_on_shard(
                target.shard_of(journal.key), [b"EXISTS", journal.key]):
            index = source.shard_of(journal.key)
            source.run_on_shard(index, [b"DEL", journal.key])
            source._runner.group_commits[index].sync_now()
    fs.remove(path)
    fs.fsync_dir(root_dir)
    return journal


def ok() -> Any:
    return SimpleString("OK")
