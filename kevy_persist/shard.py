"""One shard: a keyspace, its log and its snapshot, opened by the history rules.

A `Shard` is single-owner: the caller (the embedded store's runtime, or the simulator) holds
the shard's lock around every call except `sync_log`, which the group-commit leader runs
concurrently with appends (an fsync covers at least every byte written before it started).

Guarantees:
- `open_shard` rebuilds exactly the state the files describe (`history.plan_replay`), or
  raises a typed error; it never guesses across missing history. It finishes a save that was
  interrupted after its snapshot rename before accepting appends (specs/shard-history.md).
- `execute` applies a command, then appends its log records; under `always` the caller must
  wait for `ticket` to be durable before acknowledging.
- `save` is the synchronous SAVE protocol of specs/shard-history.md.
- After an fsync failure the shard refuses writes (`WritesRefusedError`) until a save has
  written and fsynced fresh files.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import aof, layout, snapshot
from .clock import Clock
from .commands import CommandContext, execute, replay
from .errors import CorruptionError, HistoryGapError, StorageIOError, WritesRefusedError
from .fs import FileSystem, join
from .history import HistoryDecision, LogIdentity, LogKind, LogPosition, plan_replay
from .keyspace import Keyspace
from .aof import FsyncPolicy
from .transaction_log import TransactionReplayer, is_transaction_marker


@attrs.frozen
class ShardOptions:
    directory: str
    index: int
    fsync_policy: FsyncPolicy = FsyncPolicy.EVERYSEC
    log_format: int = 2
    log_enabled: bool = True
    truncate_corruption: bool = False


@attrs.frozen
class ShardOpenReport:
    index: int
    snapshot_keys: int
    snapshot_bytes: int
    replayed_commands: int
    replayed_bytes: int
    dropped_bytes: int
    quarantine_path: str | None
    corruption_offset: int | None
    discarded_transaction_bytes: int
    finished_interrupted_save: bool
    log_epoch: int


class Shard:
    def __init__(
        self,
        file_system: FileSystem,
        clock: Clock,
        options: ShardOptions,
        keyspace: Keyspace,
        writer: Any,
        epoch: int,
    ) -> None:
        self.file_system = file_system
        self.clock = clock
        self.options = options
        self.keyspace = keyspace
        self.writer = writer
        self.epoch = epoch
        self.synced_offset = writer.end_offset if writer is not None else 0
        self.last_sync_monotonic_ms = clock.monotonic_ms()
        self.failure: str | None = None

    @property
    def index(self) -> int:
        return self.options.index

    @property
    def snapshot_path(self) -> str:
        return join(self.options.directory, layout.snapshot_name(self.index))

    @property
    def log_path(self) -> str:
        return join(self.options.directory, layout.log_name(self.index))

    # -- commands ---------------------------------------------------------------------------

    def execute(self, argv: list[bytes], context: CommandContext) -> tuple[Any, int | None]:
        """Apply `argv`; return its reply and the log end offset to await (None: nothing logged)."""
        if self.failure is not None and _may_write(argv):
            raise WritesRefusedError(self.index, self.failure)
        outcome = execute(self.keyspace, argv, context)
        if not outcome.log or self.writer is None:
            return outcome.reply, None
        return outcome.reply, self.append(outcome.log)

    def append(self, argvs: Any) -> int:
        """Append records (already applied to the keyspace); return the new end offset."""
        if self.failure is not None:
            raise WritesRefusedError(self.index, self.failure)
        try:
            return self.writer.append_many(list(argvs))
        except StorageIOError as error:
            self.failure = f"log write failed: {error.reason}"
            raise WritesRefusedError(self.index, self.failure) from error

    # -- durability -------------------------------------------------------------------------

    def sync_log(self) -> int:
        """fsync the log; return the end offset it covered (group-commit leader)."""
        if self.writer is None:
            return 0
        covered = self.writer.end_offset
        try:
            self.writer.fsync()
        except StorageIOError as error:
            self.failure = f"fsync failed: {error.reason}"
            raise WritesRefusedError(self.index, self.failure) from error
        self.synced_offset = max(self.synced_offset, covered)
        self.last_sync_monotonic_ms = self.clock.monotonic_ms()
        return covered

    @property
    def dirty(self) -> bool:
        return self.writer is not None and self.writer.end_offset > self.synced_offset

    def sync_if_due(self) -> bool:
        """`everysec`: fsync when dirty and a second has passed since the last fsync."""
        if self.options.fsync_policy is not FsyncPolicy.EVERYSEC or not self.dirty:
            return False
        if self.clock.monotonic_ms() - self.last_sync_monotonic_ms < 1000:
            return False
        self.sync_log()
        return True

    def save(self) -> None:
        """Synchronous SAVE: snapshot by durable replace, then a fresh log of the next epoch."""
        end_offset = self.writer.end_offset if self.writer is not None else 0
        covered = LogPosition(self.epoch, end_offset)
        snapshot.save_snapshot(self.file_system, self.snapshot_path, self.keyspace.iter_entries(), covered)
        if self.options.log_enabled:
            self._replace_log(LogIdentity(self.epoch + 1, LogKind.INCREMENTAL))
        self.failure = None

    def _replace_log(self, identity: LogIdentity) -> None:
        if self.writer is not None:
            self.writer.close()
        marker = identity if self.options.log_format == 2 else None
        self.writer = aof.create_log(self.file_system, self.log_path, self.options.log_format, marker)
        self.epoch = identity.epoch
        self.synced_offset = self.writer.end_offset

    def close(self) -> None:
        if self.writer is not None:
            if self.failure is None and self.dirty:
                self.sync_log()
            self.writer.close()
            self.writer = None


def _may_write(argv: list[bytes]) -> bool:
    from .commands import is_write_command

    return is_write_command(argv)
