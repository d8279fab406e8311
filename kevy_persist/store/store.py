"""`kevy_persist.Store`: the sharded, thread-safe embedded store both front-ends run on.

Each shard is a keyspace + log + snapshot behind its own lock; commands on different shards
never contend. Write discipline: under the shard lock apply, then append the log record;
under `appendfsync always` the caller returns only after a group-committed fsync covers its
record (the wait happens outside the lock, so other writers keep appending and share the
next fsync). The log file is replaced (save, rewrite) or closed (shutdown) only inside the
group commit's exclusive section, so no fsync ever runs on a file being swapped.

Commands that name keys on several shards are split where Redis's semantics allow it (MGET,
MSET, MSETNX, DEL, UNLINK, EXISTS) and answered from every shard where they are about the
whole store (DBSIZE, KEYS, SCAN, FLUSHALL, FLUSHDB); see `multishard.py`. Any other command
whose keys live on different shards is refused with Redis Cluster's CROSSSLOT error, and so
is a SORT whose BY / GET patterns may name keys on other shards (`pattern_routing.py`).

Lifecycle: `Store.open(config)` replays every shard and keeps an `open_report`; `tick()` (or
the background ticker) runs active expiry, the `everysec` fsync and the auto-rewrite check;
`shutdown()` fsyncs every shard and every later call raises `StoreClosedError`. An open
store owns its data dir (the dir's `LOCK`, `layout.ownership`): a second `Store.open` of it,
here or in another process, is refused with `DataDirInUseError` until this one shuts down.

The methods come in mixins, one job each: `typed_api.py` (the typed command methods),
`background_api.py` (BGSAVE, BGREWRITEAOF, save points), `lifecycle_api.py` (fsync policy,
tick, SAVE, rewrite, shutdown); `open_report.py` holds what opening found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import Blocking
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.disk.clock import Clock, SystemClock
from kevy_persist.disk.fs import FileLock, FileSystem, join
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.shard import Shard
from kevy_persist.errors import CommandError, WritesRefusedError
from kevy_persist.layout.databases import database_dir_name
from kevy_persist.store import database_commands, multishard
from kevy_persist.store.background import BackgroundJobs
from kevy_persist.store.background_api import BackgroundCommands
from kevy_persist.store.config import StoreConfig
from kevy_persist.store.database_lifecycle import open_existing_databases, swap_databases
from kevy_persist.store.databases import DatabaseSet
from kevy_persist.store.fork_worker import ForkedChild
from kevy_persist.store.lifecycle_api import LifecycleCommands
from kevy_persist.store.open_report import StoreOpenReport
from kevy_persist.store.opening import OpenedShards, OpenProgress, open_member_shard, open_store_shards
from kevy_persist.store.owned import OwnedShards
from kevy_persist.store.pattern_routing import pattern_shards
from kevy_persist.store.runtime import Ticker
from kevy_persist.store.shard_runner import LockedShards, ShardRunner, emit
from kevy_persist.store.transaction import Transaction
from kevy_persist.store.typed_api import Converter, TypedCommands, encode_argument

__all__ = ["CROSSSLOT", "CommandError", "Store", "StoreOpenReport", "encode_argument"]

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
# Store-wide commands answer for every shard; inside one shard's transaction they would not.
_STORE_WIDE = frozenset({b"DBSIZE", b"KEYS", b"SCAN", b"FLUSHALL", b"FLUSHDB", b"RANDOMKEY"})


@attrs.frozen
class ShardWriteStatus:
    index: int
    refusing_reason: str | None
    write_errors: int
    fsync_errors: int


class Store(TypedCommands, BackgroundCommands, LifecycleCommands):
    """Open with `Store.open(config)`; use as a context manager or call `shutdown()`."""

    def __init__(self, config: StoreConfig, shards: list[Shard], open_report: StoreOpenReport, clock: Clock,
                 lock: FileLock | None = None, file_system: FileSystem | None = None,
                 root: Store | None = None, database_number: int = 0) -> None:
        self.open_report = open_report
        self._clock = clock
        self._file_system = file_system  # None in memory
        # Database 0 is the root: it owns the others (`databases.py`) and drives their lifecycle.
        self.database_number = database_number
        self.root: Store = self if root is None else root
        self.databases = DatabaseSet(self, config.databases, self._open_database) if root is None else root.databases
        self._lock = lock  # the data dir's LOCK, held until shutdown
        self._runner = ShardRunner(config, shards, clock, config.routing)
        # The runner's lists, named here for the lifecycle methods below.
        self._shards = self._runner.shards
        self._locks = self._runner.locks
        self._group_commits = self._runner.group_commits
        self._router = self._runner.router
        self._background = BackgroundJobs(
            self._runner, clock, config.background_worker,
            fork_worker=ForkedChild if config.background_worker == "fork" else None,
        )
        self._ticker: Ticker | None = None
        if config.ticker == "background":
            self._ticker = Ticker(self.tick, config.tick_interval_ms)
            self._ticker.start()

    @classmethod
    def open(
        cls, config: StoreConfig | None = None, *, file_system: FileSystem | None = None, clock: Clock | None = None,
        progress: OpenProgress | None = None,
    ) -> Store:
        """Recover every shard of `config.data_dir` (or start empty in memory) and open it.

        `progress(done_bytes, total_bytes)`, when given, is called as the shards' snapshots
        and logs are read (about every MiB; on the opening thread): a server's LOADING."""
        config = config or StoreConfig()
        clock = clock or SystemClock()
        if config.background_worker == "fork" and not isinstance(file_system or OsFileSystem(), OsFileSystem):
            raise ValueError("background_worker='fork' needs the real file system (a forked child writes the files)")
        if config.data_dir is not None and file_system is None:
            file_system = OsFileSystem()
        store = cls._open(config, file_system, clock, progress=progress)
        try:
            open_existing_databases(store)
        except BaseException:
            store.shutdown(save=False)
            raise
        return store

    @classmethod
    def _open(cls, config: StoreConfig, file_system: FileSystem | None, clock: Clock,
              root: Store | None = None, database_number: int = 0, progress: OpenProgress | None = None) -> Store:
        started_ms = clock.monotonic_ms()
        opened = open_store_shards(config, file_system, clock, progress)
        return cls._from_opened(config, opened, clock, started_ms, file_system, root, database_number)

    @classmethod
    def open_member(cls, config: StoreConfig, index: int, supervisor_pid: int, *,
                    file_system: FileSystem | None = None, clock: Clock | None = None) -> Store:
        """A store of one shard: shard `index` of a cluster-mode dir of `config.shard_count`
        shards by slots, whose supervisor process `supervisor_pid` holds the dir
        (`opening.open_member_shard`). Its keys are the slots that shard owns; routing them
        there is the caller's job (the cluster's MOVED replies)."""
        clock = clock or SystemClock()
        started_ms = clock.monotonic_ms()
        opened = open_member_shard(config, index, supervisor_pid, file_system, clock)
        return cls._from_opened(config, opened, clock, started_ms, file_system)

    @classmethod
    def _from_opened(cls, config: StoreConfig, opened: OpenedShards, clock: Clock, started_ms: int,
                     file_system: FileSystem | None, root: Store | None = None, database_number: int = 0) -> Store:
        shards = opened.shards
        # From here on the config names the layout the store has, not "what the dir records".
        config = attrs.evolve(config, shard_count=opened.layout.shard_count, routing=opened.layout.routing)
        elapsed_ms = clock.monotonic_ms() - started_ms
        report = StoreOpenReport.from_shards(tuple(shard.open_report for shard in shards), elapsed_ms, opened.reshard)
        for shard in shards:
            emit(config, "replay", shard.index, attrs.asdict(shard.open_report))
        return cls(config, shards, report, clock, opened.lock, file_system, root, database_number)

    # -- databases (`databases.py`) ---------------------------------------------------------

    def database(self, number: int) -> Store:
        """Database `number` (0 <= number < `config.databases`) as a `Store` of its own:
        every command and typed method runs there. Opened (created: `DIR/db-{n}/`) on first
        use; database 0 is the root store. Its lifecycle follows the root's."""
        if not isinstance(number, int) or not 0 <= number < self.databases.count:
            raise ValueError(f"database must be within 0..{self.databases.count - 1}, got {number!r}")
        self._check_open()
        return self.databases.get(number)

    def _open_database(self, number: int) -> Store:
        config = self.config
        directory = None
        if config.data_dir is not None:
            directory = join(config.data_dir, database_dir_name(number))
            if not self._file_system.exists(directory):
                self._file_system.make_dirs(directory)
                self._file_system.fsync_dir(config.data_dir)  # the new dir's name, durable
        database_config = attrs.evolve(config, data_dir=directory, ticker="manual")
        return Store._open(database_config, self._file_system, self._clock, self, number)

    def swap_databases(self, first: int, second: int) -> None:
        """SWAPDB: databases `first` and `second` exchange their keys, crash-safe on disk."""
        self._check_open()
        swap_databases(self.root, first, second)

    def database_key_counts(self) -> list[tuple[int, int, int]]:
        """(database, keys, keys with a TTL) of every open database holding keys (INFO keyspace)."""
        counts = []
        for number, store in self.databases.opened():
            keys, expiring = store.key_counts()
            if keys:
                counts.append((number, keys, expiring))
        return counts

    def _dependents(self) -> list[Store]:
        """The other open databases, when this is the root (it drives their lifecycle)."""
        return self.databases.others() if self.root is self else []

    # -- the command API --------------------------------------------------------------------

    def execute(self, *arguments: Any) -> Any:
        """Run any command of the table; its raw reply, or `CommandError` for an error reply."""
        reply = self.execute_argv([encode_argument(argument) for argument in arguments])
        if isinstance(reply, ErrorReply):
            raise CommandError(str(reply))
        return reply

    def _call(self, convert: Converter, *arguments: Any) -> Any:
        return convert(self.execute(*arguments))

    def execute_argv(self, argv: list[bytes], blocking: Blocking = Blocking.NEVER) -> Any:
        """Run one command; error replies are returned as `ErrorReply` (the server's path).

        `blocking` is for an event loop that can park a client (commands.context.Blocking):
        with ALLOWED, a blocking read with nothing to serve returns its wait object (e.g.
        `StreamWait`) instead of a reply; with RETRY it re-runs a parked client's command.
        Commands about databases (SELECT, MOVE, SWAPDB, FLUSHALL, COPY ... DB) are answered
        by `database_commands.py`.
        """
        self._check_open()
        if not argv:
            return ErrorReply("ERR empty command")
        handler = database_commands.HANDLERS.get(argv[0].upper())
        if handler is not None:
            return database_commands.run(self, handler, argv)
        return self.execute_local(argv, blocking)

    def execute_local(self, argv: list[bytes], blocking: Blocking = Blocking.NEVER) -> Any:
        """`execute_argv` within this database only (FLUSHALL flushes just this one)."""
        self._check_open()
        if len(self._shards) == 1:
            return self._runner.run(0, argv, blocking)  # one shard: nothing to route
        handler = multishard.HANDLERS.get(argv[0].upper())
        if handler is not None:
            return handler(self._runner, argv)
        shard_indexes = self._shards_of([argv])
        if shard_indexes is None or len(shard_indexes) > 1:
            return ErrorReply(CROSSSLOT)
        return self._runner.run(shard_indexes.pop() if shard_indexes else 0, argv, blocking)

    def _shards_of(self, argvs: list[list[bytes]]) -> set[int] | None:
        """The shards the commands' keys (and SORT patterns' keys) live on; None when a
        pattern may name keys on any shard."""
        indexes = {self._router.shard_for_key(key) for argv in argvs for key in command_keys(argv)}
        for argv in argvs:
            pattern_indexes = pattern_shards(self._router, argv)
            if pattern_indexes is None:
                return None
            indexes |= pattern_indexes
        return indexes

    def scan_iter(self, match: Any = None, count: int | None = None) -> Iterator[bytes]:
        """Every key (matching the glob `match`) by SCAN over every shard, without one big list."""
        options: list[Any] = []
        if match is not None:
            options += ["MATCH", match]
        if count is not None:
            options += ["COUNT", count]
        cursor = b"0"
        while True:
            cursor, keys = self.execute("SCAN", cursor, *options)
            yield from keys
            if cursor == b"0":
                return

    def run_on_shard(self, index: int, argv: list[bytes]) -> Any:
        """Run `argv` on shard `index` (no routing); its reply, durable per the policy."""
        return self._runner.run(index, argv)

    # -- shard access for multi-shard commands and transactions -----------------------------

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def shard_of(self, key: Any) -> int:
        """The shard index that owns `key` (bytes or str)."""
        return self._router.shard_for_key(encode_argument(key))

    def locked_shards(self, indexes: list[int]) -> LockedShards:
        """Hold several shards' locks (in index order) for one multi-shard command."""
        return self._runner.locked(indexes)

    def write_status(self) -> list[ShardWriteStatus]:
        """Per shard: the reason it refuses writes (None when it accepts them) and how many
        log writes and fsyncs failed since it opened; read without the shard locks (INFO)."""
        return [ShardWriteStatus(shard.index, shard.failure, shard.write_error_count, shard.fsync_error_count)
                for shard in self._shards]

    def key_counts(self) -> tuple[int, int]:
        """(keys, keys with a TTL) over every shard, for INFO; read without the shard locks
        (each count is one atomic `len`), so a busy store's counts may be a moment apart."""
        keys = sum(len(shard.keyspace) for shard in self._shards)
        expiring = sum(len(shard.keyspace.deadline_items()) for shard in self._shards)
        return keys, expiring

    def execute_transaction(self, argvs: list[list[bytes]], atomic: bool = False) -> Any:
        """Run `argvs` as one crash-atomic block; the list of replies (or one ErrorReply).

        `atomic=True` also undoes the block in memory when a command fails (the Python API);
        `atomic=False` is Redis's EXEC, where the other commands still apply. Keys on several
        shards, or a store-wide command on a sharded store, refuse the block (nothing runs).
        """
        self._check_open()
        indexes = self._shards_of(argvs) if len(self._shards) > 1 else {0}
        if indexes is None or len(indexes) > 1:
            return ErrorReply(CROSSSLOT)
        if len(self._shards) > 1 and any(argv and argv[0].upper() in _STORE_WIDE for argv in argvs):
            return ErrorReply(f"{CROSSSLOT} (a store-wide command cannot run in a transaction on a sharded store)")
        index = indexes.pop() if indexes else 0
        with self._locks[index]:
            self._check_open()
            try:
                replies, end_offset = self._shards[index].execute_transaction(argvs, self._runner.context(), atomic)
            except WritesRefusedError as error:
                return ErrorReply(str(error))
            ticket = (replies, self._group_commits[index].generation, end_offset)
        return self._runner.await_reply(index, ticket)

    def transaction(self) -> Transaction:
        """`with store.transaction() as tx:` -- all of it applies, or none (also across a crash)."""
        self._check_open()
        return Transaction(self.execute_transaction)

    @property
    def config(self) -> StoreConfig:
        return self._runner.config

    @config.setter
    def config(self, config: StoreConfig) -> None:
        self._runner.config = config

    @property
    def closed(self) -> bool:
        return self._runner.closed

    def _check_open(self) -> None:
        self._runner.check_open()


def iter_shards(store: Store) -> Iterator[tuple[int, Shard]]:
    """(index, shard) pairs, for tools and tests that inspect shards directly (no locking)."""
    return enumerate(store._shards)


def single_owner(store: Store) -> OwnedShards:
    """Hand `store`'s shards to one thread that becomes their only user (kevy-server's loop).

    The background ticker stops (the owner runs expiry, fsyncs and rewrites itself through
    `OwnedShards`); from then on only the owner's thread calls the store, commands go through
    the returned `OwnedShards` without the shard locks, and lifecycle calls (save,
    rewrite_log, set_appendfsync, shutdown) still go through the store.
    """
    store._check_open()
    if store._ticker is not None:
        store._ticker.stop()
        store._ticker = None
    owned = OwnedShards(store._runner, store._clock, lambda number: database_runner(store, number),
                        store.databases.count)
    for number, database in store.databases.opened():
        if number:
            owned.attach(number, database._runner)  # the databases whose dirs the open found
    return owned


def database_runner(store: Store, number: int) -> ShardRunner:
    """Database `number`'s shards (opened if need be), for the owner that drives them."""
    return store.database(number)._runner
