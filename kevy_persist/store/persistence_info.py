"""Per-shard persistence figures, named as Redis's INFO persistence fields.

`ShardPersistenceInfo` is what `Store.persistence_info()` returns per shard; a server sums
or combines them into its INFO reply (a store-wide BGSAVE is in progress while any shard's
is; the last save time is the oldest shard's). `JobRecord` is the job manager's memory of
each shard's last save and rewrite, from which the figures are made.
"""

from __future__ import annotations

import attrs


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
