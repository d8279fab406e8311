"""Running a command on one shard: under its lock, then (under `always`) until it is durable.

The write discipline of the store (see `store.py`) in one place, for the store itself and for
the commands that span shards (`multishard.py`): apply and append under the shard's lock, then
wait for the group commit *outside* the lock, so other writers keep appending and share the
next fsync. A `Ticket` is what is known between the two halves: the reply, the log
generation the record went into, and the end offset to wait for (None when nothing was
logged).
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import CommandContext, ErrorReply
from kevy_persist.commands.context import Blocking
from kevy_persist.disk.clock import Clock
from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.engine.shard import Shard
from kevy_persist.errors import KevyError, StoreClosedError, WritesRefusedError
from kevy_persist.layout.routing import Router, Routing
from kevy_persist.store.config import MetricEvent, StoreConfig
from kevy_persist.store.runtime import (
    REAL_PRIMITIVES,
    GroupCommit,
    Primitives,
    new_random_source,
)

Ticket = tuple[Any, int, "int | None"]  # (reply, log generation, end offset to await)


class ShardRunner:
    """The shards of one store with their locks and group commits; `closed` once shut down."""

    def __init__(self, config: StoreConfig, shards: list[Shard], clock: Clock, routing: Routing,
                 primitives: Primitives = REAL_PRIMITIVES) -> None:
        self.config = config
        self.shards = shards
        self.locks = [primitives.lock() for _ in shards]
        self.group_commits = [GroupCommit(shard.sync_log, primitives.condition()) for shard in shards]
        self.router = Router(len(shards), routing)
        self.closed = False
        self._clock = clock
        self._random = new_random_source()

    @property
    def shard_count(self) -> int:
        return len(self.shards)

    def check_open(self) -> None:
        if self.closed:
            raise StoreClosedError("the store was shut down; it accepts no more commands")

    def context(self, blocking: Blocking = Blocking.NEVER) -> CommandContext:
        return CommandContext(now_ms=self._clock.now_ms(), random=self._random, blocking=blocking)

    def run(self, index: int, argv: list[bytes], blocking: Blocking = Blocking.NEVER) -> Any:
        """Run `argv` on shard `index`; its reply, once durable when the policy says so."""
        with self.locks[index]:
            self.check_open()
            ticket = self.execute_locked(index, argv, blocking)
        return self.await_reply(index, ticket)

    def execute_locked(self, index: int, argv: list[bytes], blocking: Blocking = Blocking.NEVER) -> Ticket:
        """The first half: the caller holds shard `index`'s lock."""
        try:
            reply, end_offset = self.shards[index].execute(argv, self.context(blocking))
        except WritesRefusedError as error:
            return ErrorReply(str(error)), 0, None
        return reply, self.group_commits[index].generation, end_offset

    def await_reply(self, index: int, ticket: Ticket) -> Any:
        """The second half, outside the lock: the reply, once its record is durable under
        `always` (or the MISCONF error when the fsync failed)."""
        reply, generation, end_offset = ticket
        if end_offset is not None and self.config.appendfsync is FsyncPolicy.ALWAYS:
            try:
                self.group_commits[index].wait_durable(generation, end_offset)
            except KevyError as error:
                refused = error if isinstance(error, WritesRefusedError) else WritesRefusedError(index, str(error))
                emit(self.config, "fsync_error", index, {"reason": refused.reason})
                with self.locks[index]:
                    self.shards[index].undo_refused_writes()  # refused: not applied either
                return ErrorReply(str(refused))
        return reply

    def locked(self, indexes: list[int]) -> LockedShards:
        """Hold several shards' locks (in index order) for one multi-shard command."""
        return LockedShards(self, sorted(set(indexes)))


class LockedShards:
    """Holds the locks of several shards, always taken in index order (no deadlock)."""

    def __init__(self, runner: ShardRunner, indexes: list[int]) -> None:
        self.runner = runner
        self.indexes = indexes
        self._tickets: list[tuple[int, Ticket]] = []

    def __enter__(self) -> LockedShards:
        for index in self.indexes:
            self.runner.locks[index].acquire()
        try:
            self.runner.check_open()
        except StoreClosedError:
            self._release()
            raise
        return self

    def execute(self, index: int, argv: list[bytes]) -> Any:
        assert index in self.indexes, "a command runs only on a locked shard"
        ticket = self.runner.execute_locked(index, argv)
        self._tickets.append((index, ticket))
        return ticket[0]

    def _release(self) -> None:
        for index in reversed(self.indexes):
            self.runner.locks[index].release()

    def __exit__(self, *exc_info: object) -> None:
        self._release()

    def await_durable(self) -> list[Any]:
        """After release: wait for every logged record (under `always`); the replies."""
        return [self.runner.await_reply(index, ticket) for index, ticket in self._tickets]


def emit(config: StoreConfig, name: str, shard_index: int | None, fields: dict[str, Any]) -> None:
    """Hand one metrics event to the program's callback, if it gave one."""
    if config.metrics is not None:
        config.metrics(MetricEvent(name, shard_index, fields))
