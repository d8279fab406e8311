"""`KevyServer`: the RESP server over the embedded `Store`, one event loop per process.

Threads: the loop (`loop.py`) owns every socket, every client and -- through
`single_owner(store)` -- every shard; the fsync thread (`durability.py`) only fsyncs. `start()`
runs the loop on its own thread (tests, embedding); `serve_forever()` runs it on the caller's
(the CLI's main thread, so SIGTERM's handler can wake it).

Lifecycle: with `open_in_background=True` (the CLI) the server listens while the data dir
opens and answers LOADING meanwhile (`loading.py`), then adopts the store between two turns.
`request_shutdown()` (SHUTDOWN, SIGTERM, SIGINT; callable from any thread) makes
the loop stop after the turn in hand. It then stops accepting, stops reading, writes and
fsyncs every pending record, sends every reply it owes (waiting up to `drain_timeout_ms` for
slow readers), closes the connections, and calls `Store.shutdown(save=...)`, which cancels a
background job, saves the shards the request asks for (None: a shard whose log is long, so
the next start loads a snapshot) and fsyncs every log. `wait_stopped()` returns once that is
done. Background jobs (`persistence.py`) are driven by the loop's ticker and by their
workers' wake-ups.

Collaborators, each with its own module: `server_lifecycle.py` (listen, run, shut down once),
`store_handover.py` (adopting the store a background open produced), `housekeeping.py` (the
ticker's chores), `change_fanout.py` (who hears of a change to the dataset) and
`admission.py` (the maxclients and protected-mode refusals), `server_statistics.py` (metric
counts, the ops rate).

Guarantees:
- A reply a client has received for a write is covered by the store's policy: the turn's
  log write precedes every reply of the turn (a process crash loses nothing acknowledged),
  under `always` the fsync covering the record precedes it too; after a completed shutdown
  every acknowledged write is on disk whatever the policy.
- At most `maxclients` connections are served (capped to what the descriptor limit allows);
  one more gets `-ERR max number of clients reached` and is closed. In protected mode (no
  password) a client from outside the loopback interface gets Redis's DENIED text.
- Shutdown happens once; later requests to shut down do nothing.
"""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

import attrs

from kevy_persist import Store
from kevy_persist.store.config import MetricEvent
from kevy_persist.store.owned import UNOPENED
from kevy_persist.store.store import single_owner

from . import (  # noqa: F401 -- verbs (and two collaborators)
    acl_commands,
    acl_verb,
    blocking_commands,
    client_admin,
    cluster_commands,
    connection_commands,
    database_commands,
    diagnostics,
    housekeeping,
    introspection,
    key_introspection,
    migrate,
    monitor,
    notifications,
    persistence_info,
    pubsub,
    replication_commands,
    restricted_commands,
    server_commands,
    store_handover,
    stream_blocking,
    tracking,
    transaction_commands,
)
from .admin_settings import ADMIN_SETTINGS, apply_admin_setting
from .admission import DENIED_REPLY, MAX_CLIENTS_REPLY, address_text, is_loopback  # the first two re-exported
from .blocking import Blocking
from .change_fanout import ChangeFanout
from .client import Client
from .client_admin import Pause
from .cluster_topology import ClusterTopology, advertised_host
from .command_stats import CommandStats
from .config import ServerConfig
from .dispatch import Dispatcher
from .info_sections import memory_figures
from .limits import DEFAULT_OUTPUT_LIMITS, cap_maxclients, over_limit
from .loading import LOADING_REPLY, Loading
from .loop import NO_REPLY, EventLoop, monotonic_ms
from .notifications import Notifications
from .persistence import Persistence
from .replication_master import ReplicationMaster
from .replication_replica import ReplicaOfMaster
from .server_lifecycle import Lifecycle
from .server_statistics import MetricCounts, OpsRate
from .watch import Watches

__all__ = ["DENIED_REPLY", "KevyServer", "is_loopback"]

log = logging.getLogger("kevy_server")



class KevyServer:
    """Open the store, then `start()`; or `serve_forever()` in a program's main thread."""

    no_reply = NO_REPLY

    def __init__(self, config: ServerConfig, store: Store | None = None, *, open_in_background: bool = False) -> None:
        self.config = config
        self.requirepass = config.requirepass  # CONFIG SET may change these
        self.protected_mode = config.protected_mode
        self.idle_timeout_s = config.idle_timeout_s
        self.output_limits = dict(DEFAULT_OUTPUT_LIMITS)
        self.maxclients, warning = cap_maxclients(config.maxclients)
        if warning is not None:
            log.warning("%s", warning)
        # Users first: a bad aclfile stops the start before the store is opened.
        self.acl = acl_commands.AccessControl(self, config.aclfile)
        if config.requirepass is not None:
            self.acl.set_requirepass(config.requirepass)
        self.metrics = MetricCounts()
        self.loading: Loading | None = None
        self.open_error: BaseException | None = None
        self.cluster = _cluster_topology(config)
        if store is None and self.cluster is not None:  # one shard of a cluster-mode dir
            assert config.cluster_supervisor_pid is not None
            store = Store.open_member(config.store_config(metrics=self.metrics.record), self.cluster.shard_index,
                                      config.cluster_supervisor_pid)
        elif store is None and open_in_background:
            # Until the data dir is open: an empty in-memory store no command reaches (the
            # dispatcher's LOADING gate refuses all that could), see `loading.py`.
            # It starts from the server's settings: what differs at the hand-over was CONFIG SET.
            store = Store.open(attrs.evolve(config.store_config(), data_dir=None, shard_count=1, routing=None,
                                            log_enabled=False))
            self.loading = Loading(config.store_config(metrics=self.metrics.record),
                                   functools.partial(store_handover.loaded, self),
                                   functools.partial(store_handover.hand_to_loop, self))
        self.store = store if store is not None else Store.open(config.store_config(metrics=self.metrics.record))
        self.owned = single_owner(self.store)
        self.persistence = Persistence(self, config.stop_writes_on_bgsave_error)
        self.persistence.attach(self.store)
        self.started_monotonic_ms = monotonic_ms()
        self.run_id = secrets.token_hex(20)
        self.memory_startup_bytes, _ = memory_figures()
        self.memory_peak_bytes = self.memory_startup_bytes
        self.ops_rate = OpsRate()
        self.connections_received = 0
        self.rejected_connections = 0
        self.output_limit_disconnections = 0
        self._closed_commands = 0
        self._next_client_id = 1
        self._by_id: dict[int, Client] = {}
        self.pubsub = pubsub.PubSub(self)
        self.stats = CommandStats()
        self.stats.set_slowlog_threshold(config.slowlog_log_slower_than_us)
        self.stats.set_slowlog_max_length(config.slowlog_max_len)
        self.monitors = monitor.Monitors(self)
        self.pause = Pause(self)
        self.tracking = tracking.Tracking(self)
        self.blocking = Blocking(self)
        self.watches = Watches(self)
        self.notifications = Notifications(self)
        self.fanout = ChangeFanout(self)
        if config.notify_keyspace_events:
            flags = notifications.flags_from_text(config.notify_keyspace_events)
            if flags is None:
                raise ValueError(f"notify-keyspace-events: invalid flags {config.notify_keyspace_events!r}")
            self.notifications.flags = flags
            self.refresh_observer()
        self.dispatcher = Dispatcher(self, LOADING_REPLY if self.loading is not None else None)
        self.loop = EventLoop(self)
        self.master = ReplicationMaster(self)
        self.upstream = ReplicaOfMaster(self)  # following a Redis master (REPLICAOF) or idle
        self.master.quorum.refresh()  # min-replicas-to-write from the start: no replica yet
        self.lifecycle = Lifecycle(self)
        self.shutdown_error: BaseException | None = None
        self.loop_error: BaseException | None = None  # the loop died of a bug (exit status 1)
        if config.bind in ("0.0.0.0", "::") and self.acl.default.nopass:
            log.warning("listening on %s without a password: only protected mode keeps other hosts out", config.bind)

    # -- statistics ---------------------------------------------------------------------------

    def record_fsync_failure(self, index: int, reason: str) -> None:
        self.metrics.record(MetricEvent("fsync_error", index, {"reason": reason}))

    def record_write_failure(self, index: int, reason: str) -> None:
        self.metrics.record(MetricEvent("write_error", index, {"reason": reason}))
        # The shard undoes the refused writes in memory; the stream already holds them, so
        # replicas are dropped before it leaves: they come back by a full resync.
        self.master.disconnect_all("a log write failed")

    def metric_counts(self) -> dict[str, int]:
        return self.metrics.counts()

    def reset_statistics(self) -> None:
        self.metrics.reset()
        self.connections_received = 0
        self.rejected_connections = 0
        self.output_limit_disconnections = 0
        self._closed_commands = 0
        for client in self.loop.clients.values():
            client.commands_processed = 0
        self.stats.reset()
        loop = self.loop
        loop.input_bytes = loop.output_bytes = loop.reads = loop.writes = 0
        self.ops_rate.clear()
        self.memory_peak_bytes, _ = memory_figures()

    def feed_monitors(self, client: Client, argv: list[bytes], reply: Any) -> None:
        self.monitors.feed(client, argv, reply)

    def sessions(self) -> list[Client]:
        return list(self.loop.clients.values())

    def client_by_id(self, client_id: int) -> Client | None:
        return self._by_id.get(client_id)

    def commands_processed(self) -> int:
        return self._closed_commands + sum(client.commands_processed for client in self.loop.clients.values())

    def refusing_shards(self) -> list[int]:
        return [index for index, shard in enumerate(self.owned.shards)
                if shard.failure is not None and shard.failure is not UNOPENED]

    @property
    def port(self) -> int:
        assert self.lifecycle.port is not None, "start() first"
        return self.lifecycle.port

    # -- clients --------------------------------------------------------------------------------

    def admission_refusal(self, sock: Any, address: Any, connected: int) -> bytes | None:
        self.connections_received += 1
        if connected >= self.maxclients:
            self.rejected_connections += 1
            return MAX_CLIENTS_REPLY
        if self.protected_mode and self.acl.default.nopass and not is_loopback(address):
            self.rejected_connections += 1
            return DENIED_REPLY
        return None

    def new_client(self, sock: Any, address: Any, now_ms: int) -> Client:
        client_id = self._next_client_id
        self._next_client_id += 1
        try:
            local = sock.getsockname()
        except OSError:
            local = ("", 0)
        user, authenticated = self.acl.initial_user()
        client = Client(
            sock, client_id, address_text(address), address_text(local), self.config.max_request_bytes,
            authenticated=authenticated, now_ms=now_ms,
        )
        client.user = user
        client.update_gate()
        self._by_id[client_id] = client
        return client

    def forget_client(self, client: Client) -> None:
        self._by_id.pop(client.client_id, None)
        self._closed_commands += client.commands_processed
        self.blocking.forget(client)
        self.pubsub.forget(client)
        self.watches.forget(client)
        self.monitors.remove(client)
        self.pause.forget(client)
        self.tracking.forget(client)
        if client.replica_link is not None:
            self.master.forget(client)

    def output_size(self, client: Client) -> int:
        """Bytes owed to `client`: unsent, held for an fsync, and produced this turn."""
        held = sum(len(chunk) for _, chunks in client.held for chunk in chunks)
        return len(client.unsent) + held + sum(len(chunk) for chunk in client.output)

    def check_output_limit(self, client: Client, kind: str) -> None:
        """Disconnect `client` when its output passed the limit of its class (Redis's
        client-output-buffer-limit)."""
        limit = self.output_limits[kind]
        if not limit.hard_bytes and not limit.soft_bytes:
            return
        disconnect, client.soft_limit_since_ms = over_limit(
            limit, self.output_size(client), client.soft_limit_since_ms, self.loop.now_ms,
        )
        if disconnect and self.loop.is_open(client):
            log.warning("client %s closed for overcoming of output buffer limits", client.address)
            self.output_limit_disconnections += 1
            self.loop.close_client(client, "output buffer limit")

    def existing_keys(self, argv: list[bytes]) -> list[Any]:
        return self.fanout.existing_keys(argv)

    def refresh_observer(self) -> None:
        self.fanout.refresh()

    # -- settings -------------------------------------------------------------------------------

    def apply_setting(self, name: str, value: Any) -> None:
        """One CONFIG SET change, already validated by `info.config_set`."""
        if name == "appendfsync":
            self.loop.quiesce()
            self.store.set_appendfsync(value)
        elif name == "maxclients":
            self.maxclients, warning = cap_maxclients(value)
            if warning is not None:
                log.warning("%s", warning)
        elif name == "requirepass":
            self.requirepass = value
            self.acl.set_requirepass(value)
        elif name == "timeout":
            self.idle_timeout_s = value
        elif name == "protected-mode":
            self.protected_mode = value
        elif name == "notify-keyspace-events":
            self.notifications.flags = value
            self.refresh_observer()
        elif name == "client-output-buffer-limit":
            self.output_limits = value
        elif name in ADMIN_SETTINGS:
            apply_admin_setting(self, name, value)
        elif name in persistence_info.SETTINGS:
            persistence_info.apply_setting(self, name, value)

    # -- persistence verbs ----------------------------------------------------------------------

    def save(self) -> None:
        """Synchronous SAVE of every shard (the store records the time for LASTSAVE)."""
        self.loop.quiesce()
        self.store.save()

    @property
    def last_save_unix(self) -> int:
        return self.store.last_save_unix()

    # -- opening in the background (`loading.py`) ----------------------------------------------

    def adopt_store(self, store: Store) -> None:
        """Serve `store` from now on (replacing the loading placeholder); `store_handover.py`."""
        store_handover.adopt_store(self, store)

    # -- housekeeping (the loop's ticker, 10 times a second) ------------------------------------

    def instantaneous_ops_per_second(self) -> int:
        return self.ops_rate.per_second()

    def tick(self, now_ms: int) -> None:
        housekeeping.tick(self, now_ms)

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and listen, then run the loop on its own thread."""
        self.lifecycle.start()

    def serve_forever(self) -> None:
        """Bind and listen, then run the loop here until a shutdown has completed."""
        self.lifecycle.serve_forever()

    @property
    def shutdown_started(self) -> bool:
        return self.lifecycle.shutdown_started

    def request_shutdown(self, save: bool | None = None) -> None:
        """Stop after the current turn (any thread, signal handlers included)."""
        self.lifecycle.request_shutdown(save)

    def shutdown(self, save: bool | None = None, timeout_s: float | None = None) -> bool:
        """Request a shutdown and wait for it; True once the store is shut down."""
        self.request_shutdown(save)
        return self.wait_stopped(timeout_s)

    def wait_stopped(self, timeout_s: float | None = None) -> bool:
        return self.lifecycle.wait_stopped(timeout_s)


def _cluster_topology(config: ServerConfig) -> ClusterTopology | None:
    """This process's place in cluster mode: None unless it serves one shard of a cluster."""
    if config.cluster_shard is None:
        return None
    if config.shard_count is None or config.data_dir is None:
        raise ValueError("a cluster shard process needs the shard count and the data dir")
    return ClusterTopology(config.shard_count, config.cluster_shard, advertised_host(config.bind),
                           config.port - config.cluster_shard)

