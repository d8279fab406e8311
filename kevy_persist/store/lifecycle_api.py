"""The `Store` methods of its life on disk (a mixin): fsync policy, housekeeping, SAVE, rewrite, shutdown.

What it models and guarantees (the `Store` docstring's "Write discipline" and "Lifecycle"):
- `set_appendfsync` switches each shard under its lock, so a command runs wholly under the
  old policy or the new one; switching to `always` fsyncs every shard at once;
- `tick()` is one round of housekeeping per shard (active expiry, logging a DEL per reaped
  key; the `everysec` fsync outside the shard lock), then one step of the background jobs;
- a log is replaced (`save`, `rewrite_log`) only inside its group commit's exclusive
  section, so no fsync ever runs on a file being swapped; a failure after the new log went
  live fails the waiters of the old one rather than promise their records;
- `shutdown()` happens once: the other databases first, then every shard is closed (fsynced)
  under its lock, and the data dir's LOCK is released last; a shard that refuses writes
  makes it raise `WritesRefusedError` after the others are closed.
The root store drives the other open databases through each of these (`_dependents`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

import attrs

from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.engine.shard import Shard
from kevy_persist.errors import KevyError, WritesRefusedError
from kevy_persist.store.background import BackgroundJobs
from kevy_persist.store.config import StoreConfig
from kevy_persist.store.shard_runner import ShardRunner, emit

__all__ = ["LifecycleCommands"]


class LifecycleCommands:
    """Mixed into `Store`, which provides (with `BackgroundCommands`) the attributes and
    methods annotated here."""

    config: StoreConfig
    _runner: ShardRunner
    _shards: list[Shard]
    _locks: list[Any]
    _group_commits: list[Any]
    _background: BackgroundJobs
    _clock: Any
    _ticker: Any
    _lock: Any

    if TYPE_CHECKING:  # provided by `Store` and `BackgroundCommands`; absent at run time,
        # so the mixins' order in `Store`'s bases cannot hide the real methods behind these

        def _check_open(self) -> None:
            ...

        def _dependents(self) -> list[Any]:
            ...

        def _refuse_during_bgsave(self) -> None:
            ...

        def _run_without_job(self, index: int, action: Callable[[], None]) -> None:
            ...

        def _shutdown_snapshots(self, save: bool | None) -> None:
            ...

    def set_appendfsync(self, policy: FsyncPolicy | str) -> None:
        """Switch the fsync policy at run time (what `CONFIG SET appendfsync` does).

        Each shard switches under its lock, so a command runs wholly under the old policy or
        the new one. Switching to `always` also fsyncs every shard at once: from then on an
        acknowledged write is durable, and so is everything acknowledged before it.
        """
        self._check_open()
        policy = FsyncPolicy(policy)
        for index, shard in enumerate(self._shards):
            with self._locks[index]:
                shard.set_fsync_policy(policy)
        self.config = attrs.evolve(self.config, appendfsync=policy)
        if policy is FsyncPolicy.ALWAYS:
            for group_commit in self._group_commits:
                group_commit.sync_now()
        for database in self._dependents():
            database.set_appendfsync(policy)

    def tick(self) -> None:
        """One round of housekeeping per shard (active expiry, everysec fsync), then one of
        the background jobs (`poll_background`: commit a finished job, start the next, save
        points, auto-rewrite).

        Expiry samples `expiry_samples_per_tick` keys with deadlines and logs a DEL for each
        key it reaps. The `everysec` fsync runs outside the shard lock (writers keep going).
        """
        for index, shard in enumerate(self._shards):
            if self._runner.closed:
                return
            with self._locks[index]:
                if self._runner.closed:
                    return
                sync_due = self._housekeep_locked(index, shard)
            if sync_due:
                try:
                    self._group_commits[index].sync_now()
                except KevyError as error:
                    emit(self.config, "fsync_error", index, {"reason": str(error)})
        self._background.poll()
        for database in self._dependents():
            database.tick()

    def _housekeep_locked(self, index: int, shard: Shard) -> bool:
        shard.undo_refused_writes()  # a failed fsync's refused writes, if no caller undid them yet
        shard.keyspace.active_expire_step(self._clock.now_ms(), self.config.expiry_samples_per_tick)
        expired = shard.keyspace.take_expired_keys()
        try:
            shard.changes_since_save += len(expired)
            # A shard that refuses writes cannot log the reaped keys' DELs: they are expired
            # either way, and an append refused would only undo (reload) the shard again.
            if expired and shard.writer is not None and shard.failure is None:
                shard.append([[b"DEL", key] for key in expired])
        except KevyError as error:  # a refused append
            emit(self.config, "fsync_error", index, {"reason": str(error)})
            return False
        if expired:
            emit(self.config, "expired", index, {"keys": len(expired)})
        return shard.sync_due()

    def _replace_log(self, index: int, event: str, action: Any, fields: dict[str, Any]) -> None:
        """Run a save or rewrite with no sync in flight, then start the log's new generation."""
        shard = self._shards[index]
        started_ms = self._clock.monotonic_ms()
        group_commit = self._group_commits[index]
        with group_commit.exclusive():
            writer_before = shard.writer
            try:
                action()
            except KevyError as error:
                if shard.writer is not writer_before:
                    # The new log is live but its name may not be durable: records waiting
                    # in the old one cannot be promised (the shard refuses writes until a
                    # later save succeeds and starts a fresh generation).
                    group_commit.fail(error)
                raise
            group_commit.reset(shard.synced_offset)
        elapsed_ms = self._clock.monotonic_ms() - started_ms
        emit(self.config, event, index, {
            **fields, "keys": len(shard.keyspace), "log_bytes": shard.log_size_bytes, "elapsed_ms": elapsed_ms,
        })

    def save(self) -> None:
        """Synchronous SAVE of every shard: a snapshot, then a fresh log (a no-op in memory);
        durable when it returns. Refused (`ERR Background save already in progress`) while a
        BGSAVE runs; a BGREWRITEAOF job on a shard is driven to its end first."""
        self._check_open()
        if self.config.data_dir is None:
            return
        self._refuse_during_bgsave()
        for index, shard in enumerate(self._shards):
            self._run_without_job(index, lambda index=index, shard=shard: self._replace_log(index, "save", shard.save, {}))
            self._background.note_synchronous_save(index)
        for database in self._dependents():
            database.save()

    def rewrite_log(self) -> None:
        """Rewrite every shard's log as the minimal commands that rebuild its state, now
        (the synchronous form of `bgrewriteaof`; a background job on a shard ends first)."""
        self._check_open()
        for index, shard in enumerate(self._shards):
            if shard.writer is not None:
                self._run_without_job(index, lambda index=index, shard=shard: self._replace_log(
                    index, "rewrite", shard.rewrite_log, {"reason": "requested"}))
        for database in self._dependents():
            database.rewrite_log()

    def shutdown(self, save: bool | None = None) -> None:
        """fsync and close every shard's log; every later call raises `StoreClosedError`.

        Calls already inside a shard finish first (the close takes each shard's lock), and
        writers waiting for their fsync are released by the final one. If that fsync fails
        for a shard (or the shard already refused writes after an earlier failure), its
        waiters get the error and `shutdown` raises `WritesRefusedError` after closing the
        others. Calling it again does nothing.

        A background job still running is cancelled (its temps removed). `save`: True saves
        every shard first (SHUTDOWN SAVE), False none (NOSAVE); None (the default) saves a
        shard whose log reached `shutdown_snapshot_min_log_bytes` -- so the next open loads a
        snapshot instead of replaying a long log -- or, with the log off, every shard when
        save points are configured (Redis's rule).
        """
        if self._runner.closed:
            return
        if self._ticker is not None:
            self._ticker.stop()
        failures: list[WritesRefusedError] = []
        for database in self._dependents():  # first: the root's LOCK is released last
            try:
                database.shutdown(save)
            except WritesRefusedError as error:
                failures.append(error)
        self._runner.closed = True  # nothing new starts while the shards close
        self._background.cancel_all()
        self._shutdown_snapshots(save)
        try:
            for index, shard in enumerate(self._shards):
                group_commit = self._group_commits[index]
                with self._locks[index], group_commit.exclusive():
                    try:
                        shard.close()  # fsyncs unless the shard already refuses writes
                    except WritesRefusedError as error:
                        failures.append(error)
                        group_commit.fail(error)
                        continue
                    if shard.failure is None:
                        group_commit.reset(shard.synced_offset)
                    else:
                        # A shard that refuses writes cannot vouch for its log: say so.
                        failures.append(WritesRefusedError(index, shard.failure))
                        group_commit.fail(failures[-1])
        finally:
            if self._lock is not None:
                self._lock.release()  # last: every file is closed, the next owner may start
        emit(self.config, "shutdown", None, {"failed_shards": [error.shard_index for error in failures]})
        if failures:
            raise failures[0]

    close = shutdown

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
