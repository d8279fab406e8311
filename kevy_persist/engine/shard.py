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
- After a failed log write or fsync the shard refuses writes (`WritesRefusedError`) until a
  save has written and fsynced fresh files.
- A refused write leaves no trace in memory: a command applied and then refused (its append
  failed, or under `always` the fsync it waited for failed) is undone by rebuilding the
  keyspace from the shard's files up to the last record that was not refused
  (`rebuild_from_files`, set by opening). This costs a reload of the shard, once per failure;
  the hot path pays nothing (append-first is impossible -- a command's log records are known
  only once it ran -- and a per-command backup would copy every value a write touches).
  Which records are refused: a failed write refuses its own (earlier appends stay, and an
  fsync still makes them durable); a failed fsync under `always` refuses every record past
  the last successful fsync (their writers all get the error). Under `everysec`/`no` the
  writes before a failed fsync were already acknowledged and stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kevy_persist.commands import CommandContext, ErrorReply, execute
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.table import lookup_spec
from kevy_persist.data.keyspace import Keyspace, copy_value
from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.engine import aof, snapshot
from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.engine.rewrite import rebuild_commands
from kevy_persist.engine.transaction_log import bracket
from kevy_persist.errors import KevyError, StorageIOError, WritesRefusedError
from kevy_persist.formats.log_markers import RESERVED_KEY_PREFIX, EpochMarker
from kevy_persist.formats.positions import LogIdentity, LogKind, LogPosition
from kevy_persist.layout import names as layout_names


@attrs.frozen
class ShardOptions:
    """How to open one shard. `index` is its place in the store; `files_of` the shard of the
    dir whose files it owns (`dump-{i}.rdb`, `aof-{i}.aof`), when that differs: a cluster-mode
    shard process serves shard i of the dir as its store's only shard (index 0)."""

    directory: str
    index: int
    fsync_policy: FsyncPolicy = FsyncPolicy.EVERYSEC
    log_format: int = 2
    log_enabled: bool = True
    truncate_corruption: bool = False
    files_of: int | None = None

    @property
    def file_index(self) -> int:
        return self.index if self.files_of is None else self.files_of


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
        # A failed fsync (run outside the shard lock) asks for its refused writes to be undone
        # by the next caller holding the lock: (request number, log offset to rebuild up to).
        # Only sync_log writes the request and only the lock holder the number done, so
        # neither can lose the other's update.
        self._fsync_undo_request: tuple[int, int] | None = None
        self._fsync_undo_done = 0
        self.rebuild_from_files: Callable[[int], Keyspace] | None = None
        self.write_error_count = 0
        self.fsync_error_count = 0
        self.open_report: ShardOpenReport | None = None
        # Log size right after the last save or rewrite: the auto-rewrite baseline.
        self.log_baseline_bytes = writer.end_offset if writer is not None else 0
        # The background job of this shard, if one runs (engine/background_job.py).
        self.background_job: Any = None
        # Write commands since the last snapshot (Redis's `dirty`, for save points and INFO).
        self.changes_since_save = 0

    @classmethod
    def in_memory(cls, clock: Clock, index: int) -> Shard:
        """A shard without files (a store opened with no data dir)."""
        options = ShardOptions(directory="", index=index, log_enabled=False)
        shard = cls(None, clock, options, Keyspace(), None, 0)  # type: ignore[arg-type]
        shard.open_report = ShardOpenReport(index, 0, 0, 0, 0, 0, None, None, 0, False, 0)
        return shard

    @property
    def index(self) -> int:
        return self.options.index

    @property
    def snapshot_path(self) -> str:
        return join(self.options.directory, layout_names.snapshot_name(self.options.file_index))

    @property
    def log_path(self) -> str:
        return join(self.options.directory, layout_names.log_name(self.options.file_index))

    # -- commands ---------------------------------------------------------------------------

    def execute(self, argv: list[bytes], context: CommandContext) -> tuple[Any, int | None]:
        """Apply `argv`; return its reply and the log end offset to await (None: nothing logged)."""
        if self.failure is not None:
            self.undo_refused_writes()
            if _may_write(argv):
                raise WritesRefusedError(self.index, self.failure)
        if _names_reserved_key(argv):
            return ErrorReply(RESERVED_KEY_ERROR), None
        outcome = execute(self.keyspace, argv, context)  # its log starts with DELs of reaped keys
        if not outcome.log:
            return outcome.reply, None
        self.changes_since_save += 1
        if self.writer is None:
            return outcome.reply, None
        if self.failure is not None and not _may_write(argv):
            return outcome.reply, None  # a read that reaped expired keys: gone either way
        # A command logged as several records (SET EX = SET + PEXPIREAT) is bracketed like a
        # transaction, so a crash between its records cannot keep half of it.
        return outcome.reply, self.append(bracket(list(outcome.log), self.writer.format_version))

    def execute_transaction(
        self, argvs: list[list[bytes]], context: CommandContext, atomic: bool
    ) -> tuple[Any, int | None]:
        """Run a block as one crash-atomic append; `atomic` also undoes it on an error reply."""
        for argv in argvs:
            problem = _queue_time_error(argv)
            if problem is not None or _names_reserved_key(argv):
                return ErrorReply("EXECABORT Transaction discarded because of previous errors."), None
        if self.failure is not None:
            self.undo_refused_writes()
            if any(_may_write(argv) for argv in argvs):
                raise WritesRefusedError(self.index, self.failure)
        backup = self._backup(argvs) if atomic else None
        replies: list[Any] = []
        records: list[list[bytes]] = []
        for argv in argvs:
            outcome = execute(self.keyspace, argv, context)
            replies.append(outcome.reply)
            records += outcome.log
            self.changes_since_save += 1 if outcome.log else 0
            if backup is not None and isinstance(outcome.reply, ErrorReply):
                self._restore(backup)
                return replies, None
        if not records or self.writer is None:
            return replies, None
        try:
            return replies, self.append(bracket(records, self.writer.format_version))
        except WritesRefusedError:
            if backup is not None:
                self._restore(backup)  # all or nothing in memory too: the block was not logged
            raise

    def _backup(self, argvs: list[list[bytes]]) -> dict[bytes, Any]:
        """Copies of every key the block names, plus every key when the block flushes.

        A key the block names but that does not exist yet is backed up as absent, so a
        restore removes it again (also after a FLUSHALL earlier in the block).
        """
        keys = {key for argv in argvs for key in command_keys(argv)}
        if any(argv and argv[0].upper() in (b"FLUSHALL", b"FLUSHDB") for argv in argvs):
            keys.update(self.keyspace.keys())
        return {
            key: (copy_value(value), self.keyspace.deadline_of(key)) if value is not None else None
            for key in keys
            for value in [self.keyspace.peek(key)]
        }

    def _restore(self, backup: dict[bytes, Any]) -> None:
        for key, saved in backup.items():
            self.keyspace.delete(key)
            if saved is not None:
                value, deadline_ms = saved
                self.keyspace.set_value(key, value)
                if deadline_ms is not None:
                    self.keyspace.set_deadline(key, deadline_ms)

    def append(self, argvs: Any) -> int:
        """Append records (already applied to the keyspace); return the new end offset.

        A refusal undoes them (and any other refused write) in memory before it raises."""
        if self.failure is not None:
            self.undo_refused_writes(self.writer.end_offset)
            raise WritesRefusedError(self.index, self.failure)
        try:
            return self.writer.append_many(list(argvs))
        except StorageIOError as error:
            self.record_write_failure(error)
            self.undo_refused_writes(self.writer.end_offset)
            raise WritesRefusedError(self.index, self.failure) from error

    def record_write_failure(self, error: StorageIOError) -> None:
        """A log write failed: the shard refuses writes from now on (counted for INFO unless
        the writer had already failed before)."""
        if not isinstance(error, aof.LogWriterFailedError):
            self.write_error_count += 1
        self.failure = f"log write failed: {error.reason}"

    def undo_refused_writes(self, log_offset: int | None = None) -> None:
        """Rebuild the keyspace from the files up to `log_offset` and any offset a failed fsync
        asked for (the lower wins); nothing when neither is pending.

        The caller holds the shard lock. The files hold exactly the history of the writes
        that were not refused: every applied write was appended in order, and replay is
        deterministic (absolute TTLs, effects for random commands)."""
        request = self._fsync_undo_request
        target = log_offset
        if request is not None and request[0] > self._fsync_undo_done:
            target = request[1] if target is None else min(target, request[1])
        if target is None or self.rebuild_from_files is None:
            return
        try:
            self.keyspace = self.rebuild_from_files(target)
        except KevyError as error:
            self.failure = f"{self.failure}; the refused writes could not be undone in memory: {error}"
        if request is not None:
            self._fsync_undo_done = max(self._fsync_undo_done, request[0])

    # -- durability -------------------------------------------------------------------------

    def sync_log(self) -> int:
        """fsync the log; return the end offset it covered (group-commit leader)."""
        if self.writer is None:
            return 0
        covered = self.writer.end_offset
        try:
            self.writer.fsync()
        except StorageIOError as error:
            if not isinstance(error, aof.LogWriterFailedError):
                self.fsync_error_count += 1
            if self.failure is None:
                self.failure = f"fsync failed: {error.reason}"
            if self.options.fsync_policy is FsyncPolicy.ALWAYS:
                # Every writer past the last good fsync gets this error: their writes are
                # undone by the next call that holds the shard lock.
                number = self._fsync_undo_request[0] + 1 if self._fsync_undo_request else 1
                self._fsync_undo_request = (number, self.synced_offset)
            raise WritesRefusedError(self.index, self.failure) from error
        self.synced_offset = max(self.synced_offset, covered)
        self.last_sync_monotonic_ms = self.clock.monotonic_ms()
        return covered

    def set_fsync_policy(self, policy: FsyncPolicy) -> None:
        """The caller holds the shard lock; later appends follow the new policy."""
        self.options = attrs.evolve(self.options, fsync_policy=policy)
        if self.writer is not None:
            self.writer.policy = policy

    @property
    def dirty(self) -> bool:
        return self.writer is not None and self.writer.end_offset > self.synced_offset

    def sync_due(self) -> bool:
        """`everysec`: the log is dirty and a second has passed since the last fsync."""
        if self.options.fsync_policy is not FsyncPolicy.EVERYSEC or not self.dirty:
            return False
        return self.clock.monotonic_ms() - self.last_sync_monotonic_ms >= 1000

    def sync_if_due(self) -> bool:
        """`everysec`: fsync when dirty and a second has passed since the last fsync."""
        if not self.sync_due():
            return False
        self.sync_log()
        return True

    def save(self) -> None:
        """Synchronous SAVE: snapshot by durable replace, then a fresh log of the next epoch.

        Failure safety (each case is a simulator fault sweep):
        - the snapshot fails (ENOSPC, EIO): nothing changed; the error propagates;
        - the snapshot's rename is done but its fsync_dir failed: either snapshot may survive
          a crash, and both pair correctly with the old log, which stays in use;
        - the new log fails before its rename: the old log stays in use (its records past
          the covered offset are replayed after the new snapshot);
        - the new log's fsync_dir failed: the live name is the new log, but a crash may bring
          the old one back, so writes are refused until a later save succeeds.
        """
        if self.file_system is None:
            return  # an in-memory shard has nothing to save
        assert self.background_job is None, "a background job owns the temp files and the epoch"
        self.undo_refused_writes()  # a snapshot must not keep a refused write
        covered = LogPosition(self.epoch, self.writer.end_offset) if self.writer is not None else None
        snapshot.save_snapshot(self.file_system, self.snapshot_path, self.keyspace.iter_entries(), covered)
        self.changes_since_save = 0
        if self.options.log_enabled:
            self.start_log(LogIdentity(self.epoch + 1, LogKind.INCREMENTAL))
        self.failure = None

    def start_log(self, identity: LogIdentity, records: Iterable[list[bytes]] = ()) -> None:
        """Replace the log durably by a fresh one of `identity` holding `records`.

        Until the rename the old writer stays the live log, so a failure before it leaves the
        shard as it was. After the rename the new file is the live log whatever happens next.
        """
        marker = EpochMarker(identity.epoch, identity.kind.value)
        temp_path = self.log_path + aof.TEMP_SUFFIX
        temp_writer = aof.start_log_temp(
            self.file_system, temp_path, self.options.log_format, marker, records, clock=self.clock
        )
        switched = False

        def switch(writer: aof.LogWriter) -> None:
            nonlocal switched
            if self.writer is not None:
                self.writer.close()
            self.writer = writer
            self.epoch = identity.epoch
            self.synced_offset = writer.end_offset
            self.log_baseline_bytes = writer.end_offset
            switched = True

        try:
            aof.install_log(self.file_system, temp_writer, self.log_path, clock=self.clock,
                            policy=self.options.fsync_policy, on_renamed=switch)
        except StorageIOError as error:
            if switched:  # renamed: the new log is live, its name may not be durable
                self.failure = f"the new log's name may not be durable: {error.reason}"
            raise

    @property
    def file_system_directory(self) -> str:
        return self.options.directory or "."

    @property
    def log_size_bytes(self) -> int:
        return self.writer.end_offset if self.writer is not None else 0

    def rewrite_due(self, config: Any) -> bool:
        """The log outgrew its baseline by the configured percentage and minimum size."""
        if self.writer is None or config.auto_rewrite_percentage <= 0:
            return False
        size = self.writer.end_offset
        if size < config.auto_rewrite_min_size_bytes:
            return False
        return size * 100 >= self.log_baseline_bytes * (100 + config.auto_rewrite_percentage)

    def rewrite_log(self) -> None:
        """Replace the log by the commands that rebuild the state: a `base` log of a new epoch."""
        if self.writer is None:
            return
        assert self.background_job is None, "a background job owns the temp files and the epoch"
        self.undo_refused_writes()
        self.start_log(LogIdentity(self.epoch + 1, LogKind.BASE), rebuild_commands(self.keyspace.iter_entries()))
        self.failure = None

    def close(self) -> None:
        """fsync what is unsynced and close the log (closed even when the fsync fails)."""
        if self.writer is not None:
            try:
                if self.failure is None and self.dirty:
                    self.sync_log()
            finally:
                self.writer.close()
                self.writer = None


RESERVED_KEY_ERROR = "ERR keys starting with \\x00KEVY are reserved for log markers"


def _names_reserved_key(argv: list[bytes]) -> bool:
    """Any command naming a `\\0KEVY...` key is refused, not only DEL/UNLINK: a key that
    exists can expire, and its logged `DEL key` would read back as a marker (an expired
    `\\0KEVYMULTI` opened a block that swallowed every later record of the log).

    The key positions are looked up only when some argument has the prefix at all: this runs
    on every command, and almost none carries one."""
    for argument in argv[1:]:
        if argument.startswith(RESERVED_KEY_PREFIX):
            return any(key.startswith(RESERVED_KEY_PREFIX) for key in command_keys(argv))
    return False


def _may_write(argv: list[bytes]) -> bool:
    spec = lookup_spec(argv[0]) if argv else None
    return spec is not None and spec.writes


def _queue_time_error(argv: list[bytes]) -> str | None:
    """What Redis rejects when queueing in MULTI: unknown commands and wrong arity."""
    spec = lookup_spec(argv[0]) if argv else None
    if spec is None:
        return "unknown command"
    if (spec.arity >= 0 and len(argv) != spec.arity) or len(argv) < -spec.arity:
        return "wrong number of arguments"
    return None
