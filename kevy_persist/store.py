"""`kevy_persist.Store`: the sharded, thread-safe embedded store both front-ends run on.

Each shard is a keyspace + log + snapshot behind its own lock; commands on different shards
never contend. Write discipline: under the shard lock apply, then log; under `appendfsync
always` the caller returns only after a group-committed fsync covers its record (the wait
happens outside the lock, so other writers keep appending and share the next fsync).

Commands that name keys on several shards are split where Redis's semantics allow it (MGET,
MSET, MSETNX, DEL, UNLINK, EXISTS, TOUCH) and answered from every shard where they are about
the whole store (DBSIZE, KEYS, SCAN, FLUSHALL, FLUSHDB, RANDOMKEY). Any other command whose
keys live on different shards is refused with Redis Cluster's CROSSSLOT error: running it
would need an atomic cross-shard write that the log format cannot express.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from . import multishard
from .clock import Clock, SystemClock
from .commands import CommandContext, ErrorReply
from .command_keys import command_keys
from .config import MetricEvent, StoreConfig
from .errors import KevyError, StoreClosedError, WritesRefusedError
from .fs import FileSystem
from .opening import open_store_shards
from .aof import FsyncPolicy
from .routing import Router
from .runtime import GroupCommit, Ticker, new_lock, new_random_source
from .shard import Shard, ShardOpenReport
from .store_api import TypedCommands
from .transaction import Transaction

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"


class CommandError(KevyError):
    """A command answered with a Redis error reply; `message` is the whole reply text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@attrs.frozen
class StoreOpenReport:
    shards: tuple[ShardOpenReport, ...]
    elapsed_ms: int

    @property
    def replayed_commands(self) -> int:
        return sum(report.replayed_commands for report in self.shards)

    @property
    def replayed_bytes(self) -> int:
        return sum(report.replayed_bytes for report in self.shards)

    @property
    def dropped_bytes(self) -> int:
        return sum(report.dropped_bytes for report in self.shards)

    @property
    def corruption_found(self) -> bool:
        return any(report.corruption_offset is not None for report in self.shards)


def encode_argument(argument: Any) -> bytes:
    """bytes pass through; str is UTF-8; int and float are their decimal text (like redis-py)."""
    if isinstance(argument, bytes):
        return argument
    if isinstance(argument, str):
        return argument.encode()
    if isinstance(argument, bool):
        raise TypeError("bool is ambiguous as a Redis argument; pass 1/0 or a string")
    if isinstance(argument, (int, float)):
        return repr(argument).encode() if isinstance(argument, float) else str(argument).encode()
    if isinstance(argument, (bytearray, memoryview)):
        return bytes(argument)
    raise TypeError(f"cannot encode {type(argument).__name__} as a Redis argument")


class Store(TypedCommands):
    """Open with `Store.open(config)`; use as a context manager or call `shutdown()`."""

    def __init__(
        self,
        config: StoreConfig,
        shards: list[Shard],
        open_report: StoreOpenReport,
        clock: Clock,
    ) -> None:
        self.config = config
        self.open_report = open_report
        self._clock = clock
        self._shards = shards
        self._locks = [new_lock() for _ in shards]
        self._group_commits = [GroupCommit(shard.sync_log) for shard in shards]
        self._router = Router(len(shards), config.routing)
        self._random = new_random_source()
        self._closed = False
        self._ticker: Ticker | None = None
        if config.ticker == "background":
            self._ticker = Ticker(self.tick, config.tick_interval_ms)
            self._ticker.start()

    @classmethod
    def open(
        cls,
        config: StoreConfig | None = None,
        *,
        file_system: FileSystem | None = None,
        clock: Clock | None = None,
    ) -> Store:
        config = config or StoreConfig()
        clock = clock or SystemClock()
        started_ms = clock.monotonic_ms()
        shards = open_store_shards(config, file_system, clock)
        elapsed_ms = clock.monotonic_ms() - started_ms
        report = StoreOpenReport(tuple(shard.open_report for shard in shards), elapsed_ms)
        for shard in shards:
            _emit(config, "replay", shard.index, attrs.asdict(shard.open_report))
        return cls(config, shards, report, clock)

    # -- the command API --------------------------------------------------------------------

    def execute(self, *arguments: Any) -> Any:
        """Run one command; its reply, or `CommandError` for an error reply."""
        reply = self.execute_argv([encode_argument(argument) for argument in arguments])
        if isinstance(reply, ErrorReply):
            raise CommandError(str(reply))
        return reply

    def execute_argv(self, argv: list[bytes]) -> Any:
        """Run one command; error replies are returned as `ErrorReply` (the server's path)."""
        self._check_open()
        if not argv:
            return ErrorReply("ERR empty command")
        name = argv[0].upper()
        handler = multishard.HANDLERS.get(name)
        if handler is not None and len(self._shards) > 1:
            return handler(self, argv)
        return self.run_on_one_shard(argv)

    def run_on_one_shard(self, argv: list[bytes]) -> Any:
        shard_indexes = {self._router.shard_for_key(key) for key in command_keys(argv)}
        if len(shard_indexes) > 1:
            return ErrorReply(CROSSSLOT)
        return self.run_on_shard(shard_indexes.pop() if shard_indexes else 0, argv)

    def run_on_shard(self, index: int, argv: list[bytes]) -> Any:
        with self._locks[index]:
            self._check_open()
            ticket = self._execute_locked(index, argv)
        return self._await(index, ticket)

    def _execute_locked(self, index: int, argv: list[bytes]) -> tuple[Any, int, int | None]:
        try:
            reply, end_offset = self._shards[index].execute(argv, self._context())
        except WritesRefusedError as error:
            return ErrorReply(str(error)), 0, None
        return reply, self._group_commits[index].generation, end_offset

    def _await(self, index: int, ticket: tuple[Any, int, int | None]) -> Any:
        reply, generation, end_offset = ticket
        if end_offset is not None and self.config.appendfsync is FsyncPolicy.ALWAYS:
            try:
                self._group_commits[index].wait_durable(generation, end_offset)
            except WritesRefusedError as error:
                _emit(self.config, "fsync_error", index, {"reason": error.reason})
                return ErrorReply(str(error))
        return reply

    def _context(self) -> CommandContext:
        return CommandContext(now_ms=self._clock.now_ms(), random=self._random)

    # -- shard access for multi-shard commands and transactions -----------------------------

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def shard_of(self, key: bytes) -> int:
        return self._router.shard_for_key(key)

    def locked_shards(self, indexes: list[int]) -> _LockedShards:
        return _LockedShards(self, sorted(set(indexes)))

    def execute_transaction(self, argvs: list[list[bytes]], atomic: bool = False) -> Any:
        """Run `argvs` as one crash-atomic block; the list of replies (or one ErrorReply).

        `atomic=True` also undoes the block in memory when a command fails (the Python API);
        `atomic=False` is Redis's EXEC, where the other commands still apply.
        """
        self._check_open()
        indexes = {self.shard_of(key) for argv in argvs for key in command_keys(argv)}
        if len(indexes) > 1:
            return ErrorReply(CROSSSLOT)
        index = indexes.pop() if indexes else 0
        with self._locks[index]:
            self._check_open()
            try:
                replies, end_offset = self._shards[index].execute_transaction(argvs, self._context(), atomic)
            except WritesRefusedError as error:
                return ErrorReply(str(error))
            ticket = (replies, self._group_commits[index].generation, end_offset)
        return self._await(index, ticket)

    def transaction(self) -> Transaction:
        """`with store.transaction() as tx:` -- all of it applies, or none (also across a crash)."""
        self._check_open()
        return Transaction(self)

    # -- lifecycle --------------------------------------------------------------------------

    def tick(self) -> None:
        """One round of housekeeping: active expiry, everysec fsync, auto-rewrite."""
        if self._closed:
            return
        for index, shard in enumerate(self._shards):
            with self._locks[index]:
                if self._closed:
                    return
                now_ms = self._clock.now_ms()
                shard.keyspace.active_expire_step(now_ms, self.config.expiry_samples_per_tick)
                try:
                    shard.sync_if_due()
                    if shard.rewrite_due(self.config):
                        self._group_commits[index].drain()
                        shard.rewrite_log()
                        self._group_commits[index].reset(shard.synced_offset)
                        _emit(self.config, "rewrite", index, {"log_bytes": shard.log_size_bytes})
                except WritesRefusedError as error:
                    _emit(self.config, "fsync_error", index, {"reason": error.reason})

    def save(self) -> None:
        """Synchronous SAVE of every shard (snapshot, then a fresh log)."""
        self._check_open()
        for index, shard in enumerate(self._shards):
            with self._locks[index]:
                self._group_commits[index].drain()
                shard.save()
                self._group_commits[index].reset(shard.synced_offset)
            _emit(self.config, "save", index, {"keys": len(shard.keyspace)})

    def rewrite_log(self) -> None:
        """Rewrite every shard's log as the minimal commands that rebuild its state."""
        self._check_open()
        for index, shard in enumerate(self._shards):
            with self._locks[index]:
                self._group_commits[index].drain()
                shard.rewrite_log()
                self._group_commits[index].reset(shard.synced_offset)
            _emit(self.config, "rewrite", index, {"log_bytes": shard.log_size_bytes})

    def shutdown(self) -> None:
        """fsync every shard's log and refuse every later command with `StoreClosedError`."""
        if self._closed:
            return
        if self._ticker is not None:
            self._ticker.stop()
        for index, shard in enumerate(self._shards):
            with self._locks[index]:
                self._group_commits[index].drain()
                shard.close()
        self._closed = True

    close = shutdown

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store was shut down; it accepts no more commands")


class _LockedShards:
    """Holds the locks of several shards, always taken in index order (no deadlock)."""

    def __init__(self, store: Store, indexes: list[int]) -> None:
        self.store = store
        self.indexes = indexes
        self._tickets: list[tuple[int, tuple[Any, int, int | None]]] = []

    def __enter__(self) -> _LockedShards:
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

    def shard(self, index: int) -> Shard:
        assert index in self.indexes
        return self.store._shards[index]

    def _release(self) -> None:
        for index in reversed(self.indexes):
            self.store._locks[index].release()

    def __exit__(self, *exc_info: object) -> None:
        self._release()

    def await_durable(self) -> list[Any]:
        """After release: wait for every logged record (under `always`); the replies."""
        return [self.store._await(index, ticket) for index, ticket in self._tickets]


def _emit(config: StoreConfig, name: str, shard_index: int | None, fields: dict[str, Any]) -> None:
    if config.metrics is not None:
        config.metrics(MetricEvent(name, shard_index, fields))


def iter_shards(store: Store) -> Iterator[tuple[int, Shard]]:
    return enumerate(store._shards)
