"""INFO persistence and the CONFIG parameters of background persistence, from the store's figures.

INFO persistence starts with Redis 7.0's fields, in Redis's order and with Redis's meanings,
made from `Store.persistence_info()` (one record per shard) as one server's figures: a job is
in progress while it is on any shard (the store runs one shard's job at a time, shard after
shard), the last save time is the oldest shard's (every shard has been saved since), a status
is `err` when any shard's last job failed, sizes are sums, durations of a store-wide job are
the sum of its shards' (they ran one after another). While the data dir opens, `loading:1`
and Redis's `loading_*` fields (`loading.py`). Then kevy's own: the layout, the open report,
the log's write and fsync counts, and one `shard<i>:` line per shard (epoch, changes, log
sizes, the job's phase, counts of saves, rewrites and failures).

Fields of Redis's that describe a fork (copy-on-write sizes, `current_fork_perc`,
`module_fork_*`) or Redis's AOF buffers are left out: kevy has no such thing to measure.

CONFIG: `save` (Redis's text, "Invalid save parameters" otherwise), `auto-aof-rewrite-
percentage` and `auto-aof-rewrite-min-size` (a memory value: `64mb`, `1gb`, bytes), and
`stop-writes-on-bgsave-error`, with Redis's refusal texts.
"""

from __future__ import annotations

import re
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.store.save_points import INVALID, parse_save_points

__all__ = ["SETTINGS", "apply_setting", "check_setting", "kevy_fields", "redis_fields"]

SETTINGS = frozenset({
    "save", "stop-writes-on-bgsave-error", "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size",
})
_MEMORY = re.compile(r"([0-9]+)(b|k|kb|m|mb|g|gb)?", re.IGNORECASE)
_UNITS = {None: 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
_INT_MAX = 2147483647


def redis_fields(server: Any) -> list[tuple[str, Any]]:
    store = server.store
    infos = store.persistence_info()
    loading = server.loading
    counts = server.metric_counts()
    aof_enabled = int(server.config.appendonly)
    fields: list[tuple[str, Any]] = [
        ("loading", int(loading is not None)),
        ("async_loading", 0),
        ("rdb_changes_since_last_save", sum(info.rdb_changes_since_last_save for info in infos)),
        ("rdb_bgsave_in_progress", int(any(info.rdb_bgsave_in_progress for info in infos))),
        ("rdb_last_save_time", min(info.rdb_last_save_time for info in infos)),
        ("rdb_last_bgsave_status", _status(info.rdb_last_bgsave_status for info in infos)),
        ("rdb_last_bgsave_time_sec", _total_seconds(info.rdb_last_bgsave_time_sec for info in infos)),
        ("rdb_current_bgsave_time_sec", _total_seconds(info.rdb_current_bgsave_time_sec for info in infos)),
        ("rdb_saves", counts.get("save", 0) + sum(info.bgsaves for info in infos)),
        ("aof_enabled", aof_enabled),
        ("aof_rewrite_in_progress", int(any(info.aof_rewrite_in_progress for info in infos))),
        ("aof_rewrite_scheduled", int(server.persistence.deferred_rewrite
                                      or any(info.aof_rewrite_scheduled for info in infos))),
        ("aof_last_rewrite_time_sec", _total_seconds(info.aof_last_rewrite_time_sec for info in infos)),
        ("aof_current_rewrite_time_sec", _total_seconds(info.aof_current_rewrite_time_sec for info in infos)),
        ("aof_last_bgrewrite_status", _status(info.aof_last_bgrewrite_status for info in infos)),
        ("aof_rewrites", counts.get("rewrite", 0) + sum(info.rewrites for info in infos)),
        ("aof_last_write_status", _status(info.aof_last_write_status for info in infos)),
    ]
    if aof_enabled:
        fields += [
            ("aof_current_size", sum(info.aof_current_size for info in infos)),
            ("aof_base_size", sum(info.aof_base_size for info in infos)),
        ]
    if loading is not None:
        fields += loading.info_fields()
    return fields


def kevy_fields(server: Any) -> list[tuple[str, Any]]:
    store = server.store
    config = server.config
    report = store.open_report
    statuses = store.write_status()
    refusing = [status.index for status in statuses if status.refusing_reason is not None]
    fields: list[tuple[str, Any]] = [
        ("data_dir", config.data_dir if config.data_dir is not None else "(in memory)"),
        ("shards", store.shard_count),
        ("routing", store.config.routing.value),
        ("appendfsync", store.config.appendfsync.value),
        ("log_format", config.log_format),
        ("aof_refusing_shards", ",".join(map(str, refusing))),
        ("aof_write_errors", sum(status.write_errors for status in statuses)),
        ("fsync_errors", sum(status.fsync_errors for status in statuses)),
        ("log_writes", server.loop.log_writes),
        ("log_fsync_rounds", server.loop.durability.sync_rounds),
        ("bgsave_writes_refused", int(server.persistence.refusing_writes)),
        ("background_loop_hold_us", server.persistence.loop_hold_ns // 1000),
        ("background_loop_hold_max_us", server.persistence.loop_hold_max_ns // 1000),
        ("open_elapsed_ms", report.elapsed_ms),
        ("open_replayed_commands", report.replayed_commands),
        ("open_replayed_bytes", report.replayed_bytes),
        ("open_dropped_bytes", report.dropped_bytes),
        ("open_discarded_transaction_bytes", report.discarded_transaction_bytes),
        ("open_corruption_found", int(report.corruption_found)),
    ]
    if server.loading is None:
        for info in store.persistence_info():
            fields.append((f"shard{info.shard_index}", ",".join([
                f"epoch={info.log_epoch}", f"changes={info.rdb_changes_since_last_save}",
                f"log_bytes={info.aof_current_size}", f"log_base_bytes={info.aof_base_size}",
                f"last_save_time={info.rdb_last_save_time}", f"job={info.job_phase or 'none'}",
                f"bgsaves={info.bgsaves}", f"rewrites={info.rewrites}", f"failures={info.job_failures}",
            ])))
    return fields


def _status(values: Any) -> str:
    return "err" if any(value == "err" for value in values) else "ok"


def _total_seconds(values: Any) -> int:
    """A store-wide job's duration: its shards' (one after another); -1 when none has one."""
    known = [value for value in values if value >= 0]
    return sum(known) if known else -1


# -- CONFIG ---------------------------------------------------------------------------------


def _refusal(name: str, reason: str) -> ErrorReply:
    return ErrorReply(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")


def check_setting(name: str, value: str) -> tuple[ErrorReply | None, Any]:
    """(refusal, parsed value) for one of SETTINGS, with Redis 7.0's texts."""
    if name == "save":
        try:
            return None, parse_save_points(value)
        except ValueError:
            return _refusal(name, INVALID), None
    if name == "stop-writes-on-bgsave-error":
        if value.lower() not in ("yes", "no"):
            return _refusal(name, "argument must be 'yes' or 'no'"), None
        return None, value.lower() == "yes"
    if name == "auto-aof-rewrite-percentage":
        try:
            number = int(value)
        except ValueError:
            return _refusal(name, "argument couldn't be parsed into an integer"), None
        if not 0 <= number <= _INT_MAX:
            return _refusal(name, f"argument must be between 0 and {_INT_MAX} inclusive"), None
        return None, number
    assert name == "auto-aof-rewrite-min-size", name
    found = _MEMORY.fullmatch(value)
    if found is None:
        return _refusal(name, "argument must be a memory value"), None
    unit = found.group(2).lower() if found.group(2) else None
    return None, int(found.group(1)) * _UNITS[unit]


def apply_setting(server: Any, name: str, value: Any) -> None:
    store = server.store
    if name == "save":
        store.set_save_points(value)
    elif name == "stop-writes-on-bgsave-error":
        server.persistence.stop_writes_on_bgsave_error = value
    elif name == "auto-aof-rewrite-percentage":
        store.set_auto_rewrite(percentage=value)
    else:
        store.set_auto_rewrite(min_size_bytes=value)
    server.persistence.update_refusal()
