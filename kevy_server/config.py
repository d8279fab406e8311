"""What an operator chooses when starting `kevy-server`: network, limits and the store's options.

Frozen and validated on construction; `store_config()` derives the embedded store's
`StoreConfig`, so the server and `import kevy_persist` open a data dir the same way.
"""

from __future__ import annotations

from typing import Any

import attrs

from kevy_persist import FsyncPolicy, Routing, StoreConfig
from kevy_persist.layout.databases import DEFAULT_DATABASE_COUNT
from kevy_persist.store.config import MetricEvent
from kevy_persist.store.save_points import save_points_from_config

DEFAULT_MAX_REQUEST_BYTES = 512 * 1024 * 1024
REDIS_DEFAULT_SAVE = "3600 1 300 100 60 10000"


def _positive(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _port(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be within 0..65535 (0 picks a free port), got {value}")


@attrs.frozen
class ServerConfig:
    """How to run the server.

    port: TCP port (0 asks the OS for a free one; `KevyServer.port` tells which).
    bind: the address to listen on (loopback by default: exposing a server is a choice).
    data_dir: the store's data dir, or None for a purely in-memory server.
    shard_count, routing: the layout; None keeps what the data dir records (a new dir: 1 shard
        by KevyHash), another value re-shards the dir at start (see `StoreConfig`).
    appendfsync, appendonly, log_format: passed to the store.
    requirepass: when set, a client must AUTH before any other command ("" means none).
    protected_mode: with no password, only loopback clients are served (Redis's default).
    maxclients: connections beyond this many are refused with an error and closed.
    max_request_bytes: the largest request accepted (bigger ones are a protocol error).
    drain_timeout_ms: how long a shutdown waits for connections to take their replies.
    idle_timeout_s: close a client idle this long (0: never; Redis's `timeout`).
    aclfile: the file ACL users are read from at start and by ACL LOAD, written by ACL SAVE.
    cluster, cluster_port_base: single-node cluster mode (kevy's `--cluster`, `[cluster]`): the
        CLI runs the supervisor (`cluster_supervisor.py`); shard `i` serves at
        `cluster_port_base + i` (0: `port + 1 + i`).
    cluster_shard, cluster_supervisor_pid: set by the supervisor for the process serving
        shard `cluster_shard` of `shard_count` (its `port` is that shard's cluster port);
        `cluster_relay_socket`: the unix socket it also accepts on, for the main-port relay.
    auto_rewrite_percentage, auto_rewrite_min_size_bytes, expiry_samples_per_tick: the store's.
    save_points: Redis's `save` (`"3600 1 300 100 60 10000"`, Redis's default; `""`: none): a
        background save starts when a point is due; with the log off, a shutdown saves.
    stop_writes_on_bgsave_error: Redis's: refuse writes (MISCONF) after a failed background
        save while save points are configured, until a save succeeds.
    background_worker: where a background job serializes ("thread", "fork"; the store's).
    slowlog_log_slower_than_us, slowlog_max_len, notify_keyspace_events: the starting values
        of those CONFIG parameters.
    config_file: the TOML file the settings were read from (INFO's config_file), if any.
    replicaof: (host, port) of a Redis master to follow from the start (`--replicaof`).
    masterauth, masteruser: the password (and ACL user) this server AUTHs with to its master.
    min_replicas_to_write, min_replicas_max_lag_s: Redis's: refuse writes (NOREPLICAS) while
        fewer replicas than that have acknowledged within that many seconds (0: never).
    repl_backlog_size_bytes, repl_ping_replica_period_s: Redis's `repl-backlog-size` and
        `repl-ping-replica-period` for the replicas that follow this server.
    """

    port: int = attrs.field(default=6379, validator=_port)
    bind: str = "127.0.0.1"
    data_dir: str | None = "./kevy-data"
    shard_count: int | None = None
    routing: Routing | None = attrs.field(default=None, converter=attrs.converters.optional(Routing))
    appendfsync: FsyncPolicy = attrs.field(default=FsyncPolicy.EVERYSEC, converter=FsyncPolicy)
    appendonly: bool = True
    log_format: int = 2
    requirepass: str | None = attrs.field(default=None, converter=lambda value: value or None)
    protected_mode: bool = True
    maxclients: int = attrs.field(default=10000, validator=_positive)
    max_request_bytes: int = attrs.field(default=DEFAULT_MAX_REQUEST_BYTES, validator=_positive)
    drain_timeout_ms: int = attrs.field(default=5000, validator=_positive)
    idle_timeout_s: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    aclfile: str | None = None
    cluster: bool = False
    cluster_port_base: int = attrs.field(default=0, validator=_port)
    cluster_shard: int | None = None
    cluster_supervisor_pid: int | None = None
    cluster_relay_socket: str | None = None
    auto_rewrite_percentage: int = attrs.field(default=100, validator=attrs.validators.ge(0))
    auto_rewrite_min_size_bytes: int = attrs.field(default=64 * 1024 * 1024, validator=attrs.validators.ge(0))
    expiry_samples_per_tick: int = attrs.field(default=20, validator=_positive)
    slowlog_log_slower_than_us: int = attrs.field(default=10_000, validator=attrs.validators.ge(-1))
    slowlog_max_len: int = attrs.field(default=128, validator=attrs.validators.ge(0))
    notify_keyspace_events: str = ""
    config_file: str | None = None
    databases: int = attrs.field(default=DEFAULT_DATABASE_COUNT, validator=_positive)

    def cluster_port(self, index: int) -> int:
        """Where shard `index` serves in cluster mode."""
        return (self.cluster_port_base or self.port + 1) + index
    replicaof: tuple[str, int] | None = None
    masterauth: str | None = attrs.field(default=None, converter=lambda value: value or None)
    masteruser: str | None = attrs.field(default=None, converter=lambda value: value or None)
    min_replicas_to_write: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    min_replicas_max_lag_s: int = attrs.field(default=10, validator=attrs.validators.ge(0))
    repl_backlog_size_bytes: int = attrs.field(default=1024 * 1024, validator=_positive)
    repl_ping_replica_period_s: int = attrs.field(default=10, validator=_positive)
    save_points: tuple[tuple[int, int], ...] = attrs.field(default=REDIS_DEFAULT_SAVE, converter=save_points_from_config)
    stop_writes_on_bgsave_error: bool = True
    background_worker: str = attrs.field(default="thread", validator=attrs.validators.in_(("thread", "fork")))

    def store_config(self, metrics: Any = None) -> StoreConfig:
        """The embedded store's configuration for this server (`metrics`: a MetricEvent sink)."""
        return StoreConfig(
            data_dir=self.data_dir,
            shard_count=self.shard_count,
            routing=self.routing,
            log_enabled=self.appendonly,
            appendfsync=self.appendfsync,
            log_format=self.log_format,
            auto_rewrite_percentage=self.auto_rewrite_percentage,
            auto_rewrite_min_size_bytes=self.auto_rewrite_min_size_bytes,
            expiry_samples_per_tick=self.expiry_samples_per_tick,
            save_points=self.save_points,
            background_worker=self.background_worker,
            ticker="manual",  # the server's event loop runs the housekeeping
            databases=self.databases,
            metrics=metrics,
        )


__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "MetricEvent", "ServerConfig"]
