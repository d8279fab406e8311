"""The `Store` methods of background persistence (a mixin; the jobs are `store/background.py`).

What a front-end wires to them (Redis's verbs and fields):

| Redis                        | Store                                                        |
|------------------------------|--------------------------------------------------------------|
| `BGSAVE [SCHEDULE]`          | `bgsave(schedule)` -> "started" / "scheduled", or `CommandError` with Redis's text |
| `BGREWRITEAOF`               | `bgrewriteaof()` -> "started" / "scheduled", or `CommandError` |
| `SAVE`                       | `save()`: refused while a BGSAVE runs; waits out a job on the shard it saves |
| `LASTSAVE`                   | `last_save_unix()`: the oldest shard's last successful snapshot |
| `CONFIG SET/GET save`        | `set_save_points(text or pairs)`, `config.save_points` (`format_save_points`) |
| `INFO persistence`           | `persistence_info()`: one `ShardPersistenceInfo` per shard      |
| the server loop's cron       | `poll_background()`: commit a finished job, start the next, save points, auto-rewrite (`tick()` calls it; the ticker thread ticks every `tick_interval_ms`) |
| `SHUTDOWN [SAVE|NOSAVE]`     | `shutdown(save=True / False / None)`                           |

Completion is driven, not pushed: a job's worker finishes the off-the-lock steps and the
next `poll_background()` (the ticker's, or a server loop's) commits it on the owner.
`wait_background()` drives until nothing runs or waits (tests, tools, a SAVE).

An owner that runs its own fsyncs of the live logs (kevy-server's loop, through
`OwnedShards`) passes `may_commit=False` while one is in flight: a job may then start (the
freeze needs no pause of the fsync) but none is committed (the commit swaps the live log).
It learns that a worker finished from `set_background_wakeup(callback)` -- called on the
worker's thread -- and `background_commit_ready()`, then commits with no fsync in flight.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kevy_persist.engine.background_protocol import JobKind
from kevy_persist.errors import CommandError, KevyError
from kevy_persist.store.background import BGSAVE_IN_PROGRESS, BackgroundJobs
from kevy_persist.store.persistence_info import ShardPersistenceInfo
from kevy_persist.store.save_points import save_points_from_config
from kevy_persist.store.shard_runner import emit


class BackgroundCommands:
    """Mixed into `Store`, which provides the attributes annotated here."""

    _background: BackgroundJobs
    _shards: list[Any]
    _locks: list[Any]

    def _check_open(self) -> None:
        raise NotImplementedError

    def _dependents(self) -> list[Any]:
        raise NotImplementedError

    def bgsave(self, schedule: bool = False, *, may_commit: bool = True) -> str:
        """Start a background save of every shard (one at a time), in every open database;
        see the module table."""
        self._check_open()
        answer = self._background.request_bgsave(schedule, may_commit=may_commit)
        for database in self._dependents():
            with contextlib.suppress(CommandError):  # that database's own job already runs
                database.bgsave(schedule=True, may_commit=may_commit)
        return answer

    def bgrewriteaof(self, *, may_commit: bool = True) -> str:
        """Start a background rewrite of every shard's log (one at a time)."""
        self._check_open()
        answer = self._background.request_bgrewriteaof(may_commit=may_commit)
        for database in self._dependents():
            with contextlib.suppress(CommandError):
                database.bgrewriteaof(may_commit=may_commit)
        return answer

    def poll_background(self, *, may_commit: bool = True) -> None:
        """Drive the background jobs once (commit what finished, start what is due)."""
        self._check_open()
        self._background.poll(may_commit=may_commit)
        for database in self._dependents():
            database.poll_background(may_commit=may_commit)

    def background_commit_ready(self) -> bool:
        """A job's worker has finished (in any open database): the next `poll_background()`
        commits (or aborts) it."""
        return self._background.commit_ready() or any(database.background_commit_ready()
                                                      for database in self._dependents())

    def background_busy(self) -> bool:
        """A background job runs or waits (in any open database)."""
        return self._background.busy() or any(database.background_busy() for database in self._dependents())

    def set_background_wakeup(self, callback: Callable[[], None] | None) -> None:
        """`callback()` runs on a worker's thread when its off-the-lock work is over (an event
        loop's wake-up; it must only hand the news over, never drive the store itself)."""
        self._background.wakeup = callback
        for database in self._dependents():
            database.set_background_wakeup(callback)

    def wait_background(self) -> None:
        """Drive the background jobs until none runs or waits."""
        self._check_open()
        self._background.wait()
        for database in self._dependents():
            database.wait_background()

    def persistence_info(self) -> tuple[ShardPersistenceInfo, ...]:
        own = tuple(self._background.info(index) for index in range(len(self._shards)))
        return own + tuple(info for database in self._dependents() for info in database.persistence_info())

    def last_save_unix(self) -> int:
        """LASTSAVE: unix seconds of the oldest shard's last successful snapshot (SAVE or
        BGSAVE; the open time before any), so every shard has been saved since then."""
        return min(info.rdb_last_save_time for info in self.persistence_info())

    def set_save_points(self, points: str | Iterable[tuple[int, int]]) -> None:
        """CONFIG SET save: Redis's text (`"3600 1 300 100"`, `""` for none) or pairs; raises
        ValueError("Invalid save parameters") like Redis."""
        self._check_open()
        checked = save_points_from_config(points)
        self.config = attrs.evolve(self.config, save_points=checked)  # type: ignore[attr-defined]
        for database in self._dependents():
            database.set_save_points(checked)

    def set_auto_rewrite(self, percentage: int | None = None, min_size_bytes: int | None = None) -> None:
        """CONFIG SET auto-aof-rewrite-percentage / -min-size (evaluated only while no job
        runs or waits; 0 percent disables)."""
        self._check_open()
        changes: dict[str, int] = {}
        if percentage is not None:
            if percentage < 0:
                raise ValueError("auto_rewrite_percentage must be >= 0")
            changes["auto_rewrite_percentage"] = percentage
        if min_size_bytes is not None:
            if min_size_bytes < 0:
                raise ValueError("auto_rewrite_min_size_bytes must be >= 0")
            changes["auto_rewrite_min_size_bytes"] = min_size_bytes
        self.config = attrs.evolve(self.config, **changes)  # type: ignore[attr-defined]
        for database in self._dependents():
            database.set_auto_rewrite(percentage, min_size_bytes)

    # -- for SAVE, the synchronous rewrite and shutdown -------------------------------------

    def _shutdown_snapshots(self, save: bool | None) -> None:
        """At shutdown (the store already refuses calls): SAVE the shards `save` asks for."""
        config = self.config  # type: ignore[attr-defined]
        for index, shard in enumerate(self._shards):
            if not _snapshot_at_shutdown(shard, save, config):
                continue
            with self._locks[index]:
                try:
                    self._replace_log(index, "save", shard.save, {"reason": "shutdown"})  # type: ignore[attr-defined]
                except KevyError as error:  # the close below still fsyncs what it can
                    emit(config, "save_failed", index, {"reason": str(error)})
                else:
                    self._background.note_synchronous_save(index)

    def _refuse_during_bgsave(self) -> None:
        if self._background.running_or_queued(JobKind.SNAPSHOT, scheduled=False):
            raise CommandError(BGSAVE_IN_PROGRESS)

    def _run_without_job(self, index: int, action: Callable[[], None]) -> None:
        """Run `action` under shard `index`'s lock once no background job holds the shard
        (a running one is driven to its end first: its temps and epoch are the job's)."""
        shard = self._shards[index]
        while True:
            self._background.wait(index, queued_too=False)
            with self._locks[index]:
                self._check_open()
                if shard.background_job is None:
                    action()
                    return


def _snapshot_at_shutdown(shard: Any, save: bool | None, config: Any) -> bool:
    if shard.file_system is None or save is False:
        return False
    if save is True:
        return True
    if shard.writer is None:
        return bool(config.save_points)
    threshold = config.shutdown_snapshot_min_log_bytes
    return threshold is not None and shard.failure is None and shard.log_size_bytes >= threshold
