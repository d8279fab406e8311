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

import ipaddress
import logging
import secrets
import threading
from collections import deque
from typing import Any

import attrs

from kevy_persist import FsyncPolicy, KevyError, Store
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.store.config import MetricEvent
from kevy_persist.store.owned import UNOPENED
from kevy_persist.store.store import single_owner

from . import (  # noqa: F401 -- verbs
    acl_commands,
    acl_verb,
    blocking_commands,
    client_admin,
    cluster_commands,
    connection_commands,
    database_commands,
    diagnostics,
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
    stream_blocking,
    tracking,
    transaction_commands,
)
from .admin_settings import ADMIN_SETTINGS, apply_admin_setting
from .blocking import Blocking
from .client import Client
from .client_admin import Pause
from .cluster_topology import ClusterTopology, advertised_host
from .command_stats import CommandStats
from .config import ServerConfig
from .database_keys import database_of, raw_key, scoped
from .dispatch import Dispatcher
from .info_sections import memory_figures
from .limits import DEFAULT_OUTPUT_LIMITS, cap_maxclients, over_limit
from .loading import LOADING_REPLY, Loading
from .loop import NO_REPLY, EventLoop, monotonic_ms
from .notifications import Notifications
from .persistence import Persistence
from .replication_master import ReplicationMaster
from .replication_replica import ReplicaOfMaster
from .watch import Watches

__all__ = ["KevyServer"]

log = logging.getLogger("kevy_server")

MAX_CLIENTS_REPLY = b"-ERR max number of clients reached\r\n"
DENIED_REPLY = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
    b"for the default user. In this mode connections are only accepted from the loopback interface. If you "
    b"want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
    b"disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    b"Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
    b"setting the protected mode option to 'no', and then restarting the server. 3) If you started the "
    b"server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
    b"authentication password for the default user. NOTE: You only need to do one of the above things in "
    b"order for the server to start accepting connections from the outside.\r\n"
)


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
        self._lock = threading.Lock()
        self._metric_counts: dict[str, int] = {}
        self.loading: Loading | None = None
        self.open_error: BaseException | None = None
        self.cluster = _cluster_topology(config)
        if store is None and self.cluster is not None:  # one shard of a cluster-mode dir
            assert config.cluster_supervisor_pid is not None
            store = Store.open_member(config.store_config(metrics=self._record_metric), self.cluster.shard_index,
                                      config.cluster_supervisor_pid)
        elif store is None and open_in_background:
            # Until the data dir is open: an empty in-memory store no command reaches (the
            # dispatcher's LOADING gate refuses all that could), see `loading.py`.
            # It starts from the server's settings: what differs at the hand-over was CONFIG SET.
            store = Store.open(attrs.evolve(config.store_config(), data_dir=None, shard_count=1, routing=None,
                                            log_enabled=False))
            self.loading = Loading(config.store_config(metrics=self._record_metric), self._loaded,
                                   self._hand_to_loop)
        self.store = store if store is not None else Store.open(config.store_config(metrics=self._record_metric))
        self.owned = single_owner(self.store)
        self.persistence = Persistence(self, config.stop_writes_on_bgsave_error)
        self.persistence.attach(self.store)
        self.started_monotonic_ms = monotonic_ms()
        self.run_id = secrets.token_hex(20)
        self.memory_startup_bytes, _ = memory_figures()
        self.memory_peak_bytes = self.memory_startup_bytes
        # (monotonic ms, commands processed) every 100 ms: INFO's instantaneous_ops_per_sec
        self._ops_samples: deque[tuple[int, int]] = deque(maxlen=16)
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
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._shutdown_started = False
        self._save_at_shutdown: bool | None = None
        self._stopped = threading.Event()
        self.shutdown_error: BaseException | None = None
        self.loop_error: BaseException | None = None  # the loop died of a bug (exit status 1)
        if config.bind in ("0.0.0.0", "::") and self.acl.default.nopass:
            log.warning("listening on %s without a password: only protected mode keeps other hosts out", config.bind)

    # -- statistics ---------------------------------------------------------------------------

    def _record_metric(self, event: MetricEvent) -> None:
        with self._lock:
            self._metric_counts[event.name] = self._metric_counts.get(event.name, 0) + 1
            if event.name == "expired":
                keys = int(event.fields.get("keys", 0))
                self._metric_counts["expired_keys"] = self._metric_counts.get("expired_keys", 0) + keys

    def record_fsync_failure(self, index: int, reason: str) -> None:
        self._record_metric(MetricEvent("fsync_error", index, {"reason": reason}))

    def record_write_failure(self, index: int, reason: str) -> None:
        self._record_metric(MetricEvent("write_error", index, {"reason": reason}))
        # The shard undoes the refused writes in memory; the stream already holds them, so
        # replicas are dropped before it leaves: they come back by a full resync.
        self.master.disconnect_all("a log write failed")

    def metric_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._metric_counts)

    def reset_statistics(self) -> None:
        with self._lock:
            self._metric_counts = {name: count for name, count in self._metric_counts.items()
                                   if name in ("save", "rewrite")}
        self.connections_received = 0
        self.rejected_connections = 0
        self.output_limit_disconnections = 0
        self._closed_commands = 0
        for client in self.loop.clients.values():
            client.commands_processed = 0
        self.stats.reset()
        loop = self.loop
        loop.input_bytes = loop.output_bytes = loop.reads = loop.writes = 0
        self._ops_samples.clear()
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
        assert self._port is not None, "start() first"
        return self._port

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
            sock, client_id, _address_text(address), _address_text(local), self.config.max_request_bytes,
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
        """The keys DEL / UNLINK (their arguments) or FLUSHALL / FLUSHDB (every watched key)
        would remove in the selected database, among those that exist now (as scoped keys,
        `database_keys`)."""
        owned = self.owned
        database = owned.selected
        name = argv[0].upper()
        if name in (b"FLUSHALL", b"FLUSHDB"):
            candidates = [key for key in self.watches.watched_keys() if database_of(key) == database]
        else:
            candidates = [scoped(database, key) for key in command_keys(argv)]
        now_ms = owned.context.now_ms
        found = []
        for key in dict.fromkeys(candidates):
            raw = raw_key(key)
            keyspace = owned.keyspace_of(database, raw)
            if keyspace.peek(raw) is not None and not keyspace.is_expired(raw, now_ms):
                found.append(key)
        return found

    def refresh_observer(self) -> None:
        """The store tells the loop about changes only while someone needs to know."""
        wanted = (self.watches.active or self.blocking.active or self.notifications.enabled or self.tracking.active
                  or self.master.active)
        self.owned.observer = self._changed if wanted else None

    def _changed(self, index: int, argv: Any, expired: list[bytes], records: Any) -> None:
        watches, blocking, tracking = self.watches, self.blocking, self.tracking
        tracked = tracking.active
        database = self.owned.slot_databases[index]
        if self.master.active:
            self.master.propagate(expired, records, database)
            if not (watches.active or blocking.active or tracked or self.notifications.enabled):
                return
        for key in expired:
            watches.touched(scoped(database, key))
            blocking.signal(scoped(database, key))
            if tracked:
                tracking.touched(key)  # tracking is about key names, in every database (Redis's)
        for record in records:
            for key in command_keys(list(record)):
                watches.touched(scoped(database, key))
                blocking.signal(scoped(database, key))
                if tracked:
                    tracking.touched(key)
            if tracked and record and record[0].upper() in (b"FLUSHALL", b"FLUSHDB"):
                tracking.flushed(self.loop.turns)
        if self.notifications.enabled:
            self.notifications.changed(argv, expired, records, database)

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

    def _hand_to_loop(self, callback: Any) -> None:
        self.loop.call_soon_threadsafe(callback)

    def _loaded(self, store: Store | None, error: BaseException | None) -> None:
        """On the loop, between turns: the data dir has opened (or failed to)."""
        if self.loading is None:
            return
        if self._shutdown_started:  # stopping: nothing was served from it, nothing to save
            self.loading = None
            if store is not None:
                store.shutdown(save=False)
            return
        if error is not None or store is None:
            self.loading = None
            if not isinstance(error, KevyError) or "cancelled" not in str(error):
                log.error("cannot open the data dir %s: %s", self.config.data_dir, error)
            self.open_error = error
            self.request_shutdown(save=False)
            return
        self.adopt_store(store)

    def adopt_store(self, store: Store) -> None:
        """Serve `store` from now on (replacing the loading placeholder); see `loading.py`."""
        placeholder, self.store = self.store, store
        if store.config.appendfsync is not placeholder.config.appendfsync:
            store.set_appendfsync(placeholder.config.appendfsync)  # a CONFIG SET during the load
        if placeholder.config.save_points != store.config.save_points:
            store.set_save_points(placeholder.config.save_points)
        store.set_auto_rewrite(placeholder.config.auto_rewrite_percentage,
                               placeholder.config.auto_rewrite_min_size_bytes)
        placeholder.shutdown(save=False)
        self.owned = single_owner(store)
        self.loop.owned = self.owned
        self.persistence.attach(store)
        read_only = self.dispatcher.read_only
        self.dispatcher = Dispatcher(self)
        self.dispatcher.set_read_only(read_only)
        self.master.quorum.refresh()
        self.watches.dataset_replaced()
        self.refresh_observer()
        self.loading = None
        self._log_opened()
        if self.config.replicaof is not None and not self.upstream.active:
            self.upstream.follow(*self.config.replicaof)  # only now: its RDB replaces the opened data

    def _log_opened(self) -> None:
        report = self.store.open_report
        log.info("opened %d shard(s) (%s): replayed %d commands (%d bytes), dropped %d bytes in %d ms",
                 self.store.shard_count, self.store.config.routing.value, report.replayed_commands,
                 report.replayed_bytes, report.dropped_bytes, report.elapsed_ms)
        log.info("kevy-server listening on %s:%d (data dir %s)", self.config.bind, self._port, self.config.data_dir)
        log.info("ready to accept connections")

    # -- housekeeping (the loop's ticker, 10 times a second) ------------------------------------

    def instantaneous_ops_per_second(self) -> int:
        samples = self._ops_samples
        if len(samples) < 2:
            return 0
        (first_ms, first), (last_ms, last) = samples[0], samples[-1]
        return (last - first) * 1000 // max(1, last_ms - first_ms)

    def tick(self, now_ms: int) -> None:
        owned = self.owned
        self._ops_samples.append((now_ms, self.commands_processed()))
        if not self.pause.active and not self.upstream.active:
            # Redis reaps nothing while clients are paused; a replica waits for its master's DEL
            for index in range(owned.slot_count):
                owned.expire_step(index)
        if self.blocking.ready_keys:
            self.blocking.serve_ready()
        if self.loading is None:
            self.persistence.drive()  # commits, save points, auto-rewrite (never while a job runs)
        if owned.config.appendfsync is FsyncPolicy.EVERYSEC and not self.loop.durability.pending:
            due = frozenset(index for index in range(owned.slot_count) if owned.sync_due(index))
            if due:
                self.loop.durability.request(due, [], [])
        self.master.tick(now_ms)
        self.upstream.tick(now_ms)
        if self.idle_timeout_s and now_ms // 1000 != (now_ms - 100) // 1000:
            self._close_idle_clients(now_ms)

    def _close_idle_clients(self, now_ms: int) -> None:
        limit_ms = self.idle_timeout_s * 1000
        for client in list(self.loop.clients.values()):
            if client.blocked is not None or client.in_pubsub_mode() or client.replica_link is not None:
                continue  # Redis never times out subscribers, blocked clients or replicas
            if now_ms - client.last_interaction_monotonic_ms > limit_ms:
                self.loop.close_client(client, "idle timeout")

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and listen, then run the loop on its own thread."""
        assert self._thread is None, "start() runs once"
        self._listen()
        self._thread = threading.Thread(target=self._run, name="kevy-loop", daemon=True)
        self._thread.start()
        if self.loading is not None:
            self.loading.start()

    def serve_forever(self) -> None:
        """Bind and listen, then run the loop here until a shutdown has completed."""
        self._listen()
        if self.loading is not None:
            self.loading.start()
        self._run()

    def _listen(self) -> None:
        self._port = self.loop.listen(self.config.bind, self.config.port)
        if self.config.cluster_relay_socket is not None:
            self.loop.listen_local(self.config.cluster_relay_socket)
        if self.config.replicaof is not None and self.loading is None:
            self.upstream.follow(*self.config.replicaof)
        if self.loading is not None:
            log.info("kevy-server accepting on %s:%d, answering LOADING while the data dir %s opens",
                     self.config.bind, self._port, self.config.data_dir)
        else:
            self._log_opened()

    def _run(self) -> None:
        try:
            self.loop.run()
        except Exception as error:  # noqa: BLE001 -- a bug in the loop must still shut the store down
            log.exception("the event loop failed; shutting down")
            self.loop_error = error
        finally:
            self._finish()

    def request_shutdown(self, save: bool | None = None) -> None:
        """Stop after the current turn (any thread, signal handlers included)."""
        with self._lock:
            if self._shutdown_started:
                return
            self._shutdown_started = True
            self._save_at_shutdown = save
        self.loop.stop_requested = True
        self.loop.wake()

    def shutdown(self, save: bool | None = None, timeout_s: float | None = None) -> bool:
        """Request a shutdown and wait for it; True once the store is shut down."""
        self.request_shutdown(save)
        return self.wait_stopped(timeout_s)

    def wait_stopped(self, timeout_s: float | None = None) -> bool:
        return self._stopped.wait(timeout_s)

    def _finish(self) -> None:
        try:
            self.loop.close_listener()
            self.upstream.close()
            self.loop.drain(monotonic_ms() + self.config.drain_timeout_ms)
        except Exception as error:  # noqa: BLE001
            log.exception("draining failed")
            self.shutdown_error = error
        finally:
            try:
                self.loop.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the loop failed")
            try:
                self._stop_loading()
                self.store.shutdown(save=self._save_at_shutdown)
            except KevyError as error:
                log.error("store shutdown reported: %s", error)
                self.shutdown_error = self.shutdown_error or error
            finally:
                self._stopped.set()
                log.info("kevy-server stopped")


    def _stop_loading(self) -> None:
        """A stop during the load: cancel the open, close what it may have opened meanwhile."""
        loading = self.loading
        if loading is None:
            return
        loading.cancel_and_wait()
        for callback in self.loop.take_calls():  # the open's hand-over, if it got that far
            callback()
        self.loading = None


def _address_text(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address)


def _cluster_topology(config: ServerConfig) -> ClusterTopology | None:
    """This process's place in cluster mode: None unless it serves one shard of a cluster."""
    if config.cluster_shard is None:
        return None
    if config.shard_count is None or config.data_dir is None:
        raise ValueError("a cluster shard process needs the shard count and the data dir")
    return ClusterTopology(config.shard_count, config.cluster_shard, advertised_host(config.bind),
                           config.port - config.cluster_shard)


def is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # a unix socket is local
    try:
        parsed = ipaddress.ip_address(address[0])
    except ValueError:
        return False
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_loopback
