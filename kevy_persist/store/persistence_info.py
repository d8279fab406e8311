"""Per-shard persistence figures, named as Redis's INFO persistence fields.

`ShardPersistenceInfo` is what `Store.persistence_info()` returns per shard; a server sums
or combines them into its INFO reply (a store-wide BGSAVE is in progress while any shard's
is; the last save time is the oldest shard's). `JobRecord` is the job manager's memory of
each shard's last save and rewrite, from which the figures are made.
"""

from __future__ import annotations

from typing import Any

import attrs

from kevy_persist.engine.background_protocol import JobKind


@attrs.define
class JobRecord:
    """What the job manager remembers of one shard (times in unix ms, -1 = never)."""

    last_save_ms: int  # the last snapshot that succeeded (SAVE or BGSAVE); the open time at first
    last_bgsave_ok: bool = True
    last_bgsave_seconds: int = -1
    last_bgsave_attempt_ms: int = 0
    last_rewrite_ok: bool = True
    last_rewrite_seconds: int = -1
    bgsaves: int = 0
    rewrites: int = 0
    failures: int = 0


@attrs.frozen
class ShardPersistenceInfo:
    """One shard's figures; the `rdb_` / `aof_` names and meanings are Redis 7.0's.

    rdb_changes_since_last_save counts write commands that changed something (a command, not
    each element it touched: Redis counts `LPUSH k a b c` as 3, this as 1) since the last
    snapshot; a background save subtracts the ones before its freeze, as Redis does.
    """

    shard_index: int
    rdb_changes_since_last_save: int
    rdb_bgsave_in_progress: int
    rdb_last_save_time: int  # unix seconds
    rdb_last_bgsave_status: str  # "ok" | "err"
    rdb_last_bgsave_time_sec: int  # -1 = none yet
    rdb_current_bgsave_time_sec: int  # -1 = none running
    rdb_bgsave_scheduled: int
    aof_enabled: int
    aof_rewrite_in_progress: int
    aof_rewrite_scheduled: int
    aof_last_rewrite_time_sec: int
    aof_current_rewrite_time_sec: int
    aof_last_bgrewrite_status: str
    aof_last_write_status: str  # "err" while the shard refuses writes after a log failure
    aof_current_size: int
    aof_base_size: int
    # kevy's own: the log's epoch, the running job's phase ("" when none), totals.
    log_epoch: int
    job_phase: str
    bgsaves: int
    rewrites: int
    job_failures: int

    def info_fields(self) -> dict[str, object]:
        """The fields in INFO order, as `name: value` (values as INFO prints them)."""
        return attrs.asdict(self)


def shard_figures(
    shard: Any, record: JobRecord, running: tuple[JobKind, str, int] | None, queued: list[tuple[JobKind, bool]]
) -> ShardPersistenceInfo:
    """One shard's figures from its state, the manager's record, the job running on it
    (kind, phase, seconds so far) and the requests waiting for it (kind, scheduled)."""

    def state(kind: JobKind) -> tuple[int, int, int]:
        is_running = running is not None and running[0] is kind
        waiting = [scheduled for queued_kind, scheduled in queued if queued_kind is kind]
        in_progress = is_running or any(not scheduled for scheduled in waiting)
        return int(in_progress), int(any(waiting)), running[2] if is_running and running is not None else -1

    bgsave_running, bgsave_scheduled, bgsave_seconds = state(JobKind.SNAPSHOT)
    rewrite_running, rewrite_scheduled, rewrite_seconds = state(JobKind.REWRITE)
    return ShardPersistenceInfo(
        shard_index=shard.index,
        rdb_changes_since_last_save=shard.changes_since_save,
        rdb_bgsave_in_progress=bgsave_running,
        rdb_last_save_time=record.last_save_ms // 1000,
        rdb_last_bgsave_status="ok" if record.last_bgsave_ok else "err",
        rdb_last_bgsave_time_sec=record.last_bgsave_seconds,
        rdb_current_bgsave_time_sec=bgsave_seconds,
        rdb_bgsave_scheduled=bgsave_scheduled,
        aof_enabled=int(shard.writer is not None),
        aof_rewrite_in_progress=rewrite_running,
        aof_rewrite_scheduled=rewrite_scheduled,
        aof_last_rewrite_time_sec=record.last_rewrite_seconds,
        aof_current_rewrite_time_sec=rewrite_seconds,
        aof_last_bgrewrite_status="ok" if record.last_rewrite_ok else "err",
        aof_last_write_status="ok" if shard.failure is None else "err",
        aof_current_size=shard.log_size_bytes,
        aof_base_size=shard.log_baseline_bytes,
        log_epoch=shard.epoch,
        job_phase=running[1] if running is not None else "",
        bgsaves=record.bgsaves,
        rewrites=record.rewrites,
        job_failures=record.failures,
    )
