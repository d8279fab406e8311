"""The embedded store's configuration: what a program chooses when it opens a `Store`.

Frozen and validated on construction, so a `Store` never starts from an impossible setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.layout.databases import DEFAULT_DATABASE_COUNT, MAX_DATABASE_COUNT
from kevy_persist.layout.routing import MAX_SHARD_COUNT, Routing
from kevy_persist.store.save_points import save_points_from_config


@attrs.frozen
class MetricEvent:
    """One thing that happened: `name` (e.g. "replay", "save", "rewrite"), the shard, details."""

    name: str
    shard_index: int | None
    fields: dict[str, Any] = attrs.field(factory=dict)


def _positive(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _share(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{attribute.name} must be within (0, 1], got {value}")


def _database_count(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 1 <= value <= MAX_DATABASE_COUNT:
        raise ValueError(f"databases must be within 1..{MAX_DATABASE_COUNT}, got {value}")


def _shard_count(instance: Any, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and not 1 <= value <= MAX_SHARD_COUNT:
        raise ValueError(f"shard_count must be within 1..{MAX_SHARD_COUNT}, got {value}")


@attrs.frozen
class StoreConfig:
    """How to open a store.

    data_dir: the directory holding `dump-{i}.rdb`, `aof-{i}.aof`, `shards.meta`; None keeps
        everything in memory (no files at all).
    shard_count, routing: the layout. None (the default) keeps what the data dir records
        (`shards.meta`, or the legacy count its files imply; a fresh dir or an in-memory store:
        1 shard by KevyHash). A value that differs from the record re-shards the dir while it
        opens (every key re-homed, crash-safe; see specs/reshard.md); asking for a count alone
        keeps the recorded routing. `Store.config` holds the layout the store opened with.
    log_enabled: append every write to the shard's log (appendonly).
    appendfsync: `always` (a write returns once its record is fsynced, group-committed),
        `everysec` (the ticker fsyncs dirty logs once a second: a crash loses at most about a
        second of writes), `no` (the OS decides; a crash may lose any unsynced suffix).
    log_format: 2 (KEVYAOF2, checksummed records, epoch markers) or 1 (KEVYAOF1, readable by
        kevy 1.23).
    auto_rewrite_percentage / auto_rewrite_min_size_bytes: rewrite a shard's log when it grew
        by this percentage over its size after the last rewrite or save, and is at least this
        big (0 percent disables).
    expiry_samples_per_tick: keys with a deadline examined per shard per tick.
    ticker: "background" (a daemon thread ticks every `tick_interval_ms`) or "manual" (call
        `Store.tick()` yourself: expiry, everysec fsync, auto-rewrite).
    truncate_corruption: on open, cut a log at damage that is followed by valid records (the
        dropped bytes are quarantined, reported and logged as a WARNING) instead of refusing.
    metrics: called with a `MetricEvent` for replay, save, rewrite, fsync failures and the
        background jobs (`job_started`, `job_committed`, `job_failed`).
    save_points: Redis's `save` -- `"3600 1 300 100"` or ((3600, 1), (300, 100)): a shard
        starts a background save when it has at least `changes` writes since its last snapshot
        and more than `seconds` have passed since it. Empty (the default): none.
    background_worker: where a background job's serialize step runs: "thread" (a daemon
        thread of this process), "fork" (a forked child; needs the real file system) or
        "inline" (no worker: each `Store.poll_background()` or `tick()` runs one step of the
        job -- deterministic, for tests and the crash simulator).
    background_cpu_share: with the "thread" worker, the largest share of time the serializing
        thread holds the interpreter (it sleeps after each chunk to keep to it), so requests
        keep most of the GIL during a save; 1.0 never sleeps.
    shutdown_snapshot_min_log_bytes: at `shutdown()`, a shard whose log is at least this big
        is saved first (snapshot + fresh log), so the next open loads a snapshot instead of
        replaying the log; None never does.
    """

    data_dir: str | None = None
    shard_count: int | None = attrs.field(default=None, validator=_shard_count)
    routing: Routing | None = attrs.field(default=None, converter=attrs.converters.optional(Routing))
    log_enabled: bool = True
    appendfsync: FsyncPolicy = attrs.field(default=FsyncPolicy.EVERYSEC, converter=FsyncPolicy)
    log_format: int = attrs.field(default=2, validator=attrs.validators.in_((1, 2)))
    auto_rewrite_percentage: int = 100
    auto_rewrite_min_size_bytes: int = 64 * 1024 * 1024
    expiry_samples_per_tick: int = attrs.field(default=20, validator=_positive)
    ticker: str = attrs.field(default="background", validator=attrs.validators.in_(("background", "manual")))
    tick_interval_ms: int = attrs.field(default=100, validator=_positive)
    truncate_corruption: bool = False
    metrics: Callable[[MetricEvent], None] | None = None
    save_points: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=save_points_from_config)
    background_worker: str = attrs.field(
        default="thread", validator=attrs.validators.in_(("thread", "fork", "inline"))
    )
    background_cpu_share: float = attrs.field(default=0.2, validator=_share)
    shutdown_snapshot_min_log_bytes: int | None = 16 * 1024 * 1024
    databases: int = attrs.field(default=DEFAULT_DATABASE_COUNT, validator=_database_count)
