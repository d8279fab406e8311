"""From one request (an argv) to one reply: the checks Redis makes, in Redis's order.

The fast path: a client with nothing special about it (authenticated, not in MULTI, not in
RESP2 subscribed mode: `client.gated` is False) sending a command of the store's table goes
straight to the shard (`OwnedShards.execute`): one set lookup, no context object, no
per-request allocation beyond the command's own.

Everything else takes `_slow`, which follows Redis 7.0's `processCommand`:
1. unknown command, then wrong arity (both flag an open transaction, so EXEC aborts);
2. NOAUTH before AUTH for everything not flagged `no-auth`;
3. an ACL user with limits: NOPERM for a command, key or channel it may not use (`acl.py`);
   a MONITOR client may not touch the keyspace; while a failed BGSAVE stops writes
   (`persistence.py`), MISCONF for Redis's write commands and PING;
   in cluster mode (`server.cluster`), keys of several slots answer CROSSSLOT and a slot of
   another shard MOVED (`cluster_topology.py`); the fast path makes the same check;
4. in RESP2 subscribed mode only the subscribe family, PING, QUIT and RESET run; while the
   data dir opens, LOADING for every command Redis does not flag `loading` (`loading.py`);
   on a master with too few good replicas (`min-replicas-to-write`, `replication_quorum.py`)
   a write is refused with NOREPLICAS, on a replica with READONLY (before subscribed mode
   and MULTI, as Redis);
5. during CLIENT PAUSE a command the pause holds waits (`client_admin.Pause`);
6. inside MULTI: `no-multi` verbs are refused, the transaction verbs run at once, the rest
   is queued (QUEUED);
7. a server verb runs its handler; a store command runs on its shard, after the WATCH
   bookkeeping that must see the keyspace before the command (FLUSHALL, DEL).
Afterwards, for a tracking client, the keys it read are remembered (`tracking.py`), and
under CLIENT REPLY OFF / SKIP the reply is dropped.

`handle` never raises: a store that is shutting down, a storage error or a bug cost one
error reply, never the loop.
"""

from __future__ import annotations

import functools
import logging
from time import perf_counter_ns
from typing import Any

from kevy_persist import KevyError, StoreClosedError
from kevy_persist.commands import COMMAND_TABLE, ErrorReply, unknown_command_message
from kevy_persist.commands.context import wrong_arity
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.replies import QUEUED
from kevy_persist.commands.table import lookup_spec

from .client_admin import silence
from .monitor import KEYSPACE_REFUSAL, touches_keyspace
from .persistence import command_is, refused_by_misconf
from .verbs import VERBS

__all__ = ["NOAUTH", "Dispatcher"]

log = logging.getLogger("kevy_server")

NOAUTH = ErrorReply("NOAUTH Authentication required.")
NOT_IN_MULTI = ErrorReply("ERR Command not allowed inside a transaction")
READONLY = ErrorReply("READONLY You can't write against a read only replica.")
# Store commands the WATCH bookkeeping must see before they run (they never take the fast path).
_WATCH_BEFORE = frozenset({b"FLUSHALL", b"FLUSHDB", b"DEL", b"UNLINK"})


@functools.cache
def _fast_names() -> frozenset[bytes]:
    names = set()
    for name in COMMAND_TABLE:
        if name.upper() not in _WATCH_BEFORE and name.upper() not in VERBS:
            names.add(name)
            names.add(name.upper())
    return frozenset(names)


class Dispatcher:
    def __init__(self, server: Any, loading_refusal: ErrorReply | None = None) -> None:
        self.server = server
        self.owned = server.owned
        # Refusals that every client's commands must pass (LOADING, MISCONF): while one is
        # set, nothing takes the fast path; on a replica, no write does.
        self.loading_refusal = loading_refusal
        self.write_refusal: ErrorReply | None = None
        self._all_fast = _fast_names()
        self._read_only = False
        self.replica_refusal: ErrorReply | None = None  # NOREPLICAS while too few replicas are good
        self._refresh_fast()
        if self.owned.shard_count == 1:
            self.run_data = functools.partial(self.owned.execute, 0)
        else:
            self.run_data = self.owned.execute_routed
        self.cluster = server.cluster
        if self.cluster is not None:
            self.run_data = _redirecting(self.cluster, self.run_data)
        self.in_exec = False  # EXEC is running its queue (blocking verbs must not block)
        self.refused = False  # the last error reply was a refusal before running (statistics)

    def _refresh_fast(self) -> None:
        if self.loading_refusal is not None or self.write_refusal is not None:
            self._fast = frozenset()
        elif self._read_only or self.replica_refusal is not None:
            self._fast = frozenset(name for name in self._all_fast if not COMMAND_TABLE[name.lower()].writes)
        else:
            self._fast = self._all_fast

    @property
    def read_only(self) -> bool:
        return self._read_only

    def set_read_only(self, read_only: bool) -> None:
        """A replica refuses clients' writes: they leave the fast path for the READONLY check."""
        self._read_only = read_only
        self._refresh_fast()

    def set_replica_refusal(self, refusal: ErrorReply | None) -> None:
        """min-replicas-to-write: while set, writes leave the fast path and are refused."""
        self.replica_refusal = refusal
        self._refresh_fast()

    def set_write_refusal(self, refusal: ErrorReply | None) -> None:
        self.write_refusal = refusal
        self._refresh_fast()

    def handle(self, client: Any, argv: list[bytes]) -> Any:
        client.commands_processed += 1
        name = argv[0]
        client.last_command = argv  # CLIENT LIST's cmd= (resolved to a full name when listed)
        try:
            if not client.gated and name in self._fast:
                return self.run_data(argv)
            tracking = client.tracking
            if tracking is not None:
                self.server.tracking.current = client  # NOLOOP, and its own invalidations after the reply
            owned = self.owned
            if client.database:
                owned.select(client.database)  # a client in another database is always gated
                try:
                    reply = self._slow(client, argv)
                finally:
                    owned.select(0)
            else:
                reply = self._slow(client, argv)
            if tracking is not None:
                reply = self.server.tracking.after_command(client, argv, reply)
            if client.reply_off or client.skip_replies:
                return silence(client, reply)
            return reply
        except StoreClosedError:
            return ErrorReply("ERR the server is shutting down")
        except KevyError as error:
            return ErrorReply(f"ERR {error}")
        except Exception as error:  # noqa: BLE001 -- a bug costs one reply, not the server
            log.exception("command %r failed", argv[:1])
            return ErrorReply(f"ERR internal error: {type(error).__name__}")

    def _slow(self, client: Any, argv: list[bytes]) -> Any:
        name = argv[0].upper()
        verb = VERBS.get(name)
        spec = lookup_spec(argv[0]) if verb is None else None
        if verb is None and spec is None:
            return self._refuse(client, ErrorReply(unknown_command_message(argv)))
        arity = verb.arity if verb is not None else spec.arity
        argc = len(argv)
        if argc != arity and (arity > 0 or argc < -arity):
            return self._refuse(client, ErrorReply(wrong_arity(argv[0])))
        flags = verb.flags if verb is not None else ()
        if not client.authenticated and "no-auth" not in flags:
            return self._refuse(client, NOAUTH)
        user = client.user
        if user is not None and not user.unrestricted:
            denied = self.server.acl.check(client, argv)
            if denied is not None:
                return self._refuse(client, denied)
        if client.monitoring and touches_keyspace(argv):
            return self._refuse(client, KEYSPACE_REFUSAL)
        if self.write_refusal is not None and refused_by_misconf(argv):
            return self._refuse(client, self.write_refusal)
        if self.cluster is not None:
            redirect = self.cluster.redirect(verb.key_arguments(argv) if verb is not None else command_keys(argv))
            if redirect is not None:
                return self._refuse(client, redirect)
        if (self._read_only or self.replica_refusal is not None) and (
                ("write" in flags) if verb is not None else spec.writes):
            return self._refuse(client, READONLY if self._read_only else self.replica_refusal)
        if client.protocol == 2 and client.in_pubsub_mode() and "subscribed" not in flags:
            lower = name.decode("utf-8", "replace").lower()
            return self._refuse(client, ErrorReply(
                f"ERR Can't execute '{lower}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                "are allowed in this context"
            ))
        if self.loading_refusal is not None and not command_is(argv, "loading"):
            return self._refuse(client, self.loading_refusal)
        pause = self.server.pause
        if pause.mode is not None and pause.holds(client, argv):
            return pause.postpone(client, argv)
        if client.queued is not None and "transaction" not in flags:
            if "no-multi" in flags:
                return self._refuse(client, NOT_IN_MULTI)
            client.queued.append(argv)
            return QUEUED
        if verb is not None:
            return verb.handler(self.server, client, argv)
        return self.run_store_command(argv)

    def run_store_command(self, argv: list[bytes], shard_index: int | None = None) -> Any:
        """A command of the store's table, after the WATCH bookkeeping it needs first."""
        server = self.server
        watches, notifications = server.watches, server.notifications
        if (watches.active or notifications.enabled) and argv[0].upper() in _WATCH_BEFORE:
            # The records of DEL / UNLINK name every argument, existing or not, and a flush
            # names none: what they remove is read from the keyspace before they run.
            removed = server.existing_keys(argv)
            watches.before_command(removed)
            notifications.removed_keys = set(removed)
            try:
                return self._run_on(argv, shard_index)
            finally:
                watches.counted_before = False
                notifications.removed_keys = None
        return self._run_on(argv, shard_index)

    def _run_on(self, argv: list[bytes], shard_index: int | None) -> Any:
        if shard_index is not None:
            return self.owned.execute(shard_index, argv)
        if self.owned.selected:
            return self.owned.execute_routed(argv)
        return self.run_data(argv)


    def _refuse(self, client: Any, error: ErrorReply) -> ErrorReply:
        """An error before the command runs: inside MULTI it also dooms the transaction."""
        if client.queued is not None:
            client.transaction_failed = True
        self.refused = True
        return error

    def take_refused(self) -> bool:
        """Whether the last error was a refusal (and forget it)."""
        refused, self.refused = self.refused, False
        return refused

    def run_queued(self, client: Any, argv: list[bytes], shard_index: int) -> Any:
        """One command of an EXEC, on the transaction's shard (counted in the statistics)."""
        started = perf_counter_ns()
        reply = self._run_queued(client, argv, shard_index)
        elapsed = perf_counter_ns() - started
        if client.tracking is not None:
            self.server.tracking.remember_if_read(client, argv, reply)
        stats = self.server.stats
        record = stats.after(self.server, argv, reply, elapsed)
        if elapsed >= stats.slow_ns:
            stats.slow(client, argv, elapsed, record, reply)
        if self.server.monitors:
            self.server.feed_monitors(client, argv, reply)
        return reply

    def _run_queued(self, client: Any, argv: list[bytes], shard_index: int) -> Any:
        user = client.user
        if user is not None and not user.unrestricted:
            denied = self.server.acl.check(client, argv, "multi")  # checked again as EXEC runs it
            if denied is not None:
                return denied
        verb = VERBS.get(argv[0].upper())
        try:
            if verb is not None:
                return verb.handler(self.server, client, argv)
            return self.run_store_command(argv, shard_index)
        except StoreClosedError:
            return ErrorReply("ERR the server is shutting down")
        except KevyError as error:
            return ErrorReply(f"ERR {error}")
        except Exception as error:  # noqa: BLE001
            log.exception("command %r failed inside EXEC", argv[:1])
            return ErrorReply(f"ERR internal error: {type(error).__name__}")


def _redirecting(topology: Any, run: Any) -> Any:
    """`run` behind cluster mode's check: a key of another shard's slot answers MOVED, keys of
    several slots CROSSSLOT (`cluster_topology.ClusterTopology.redirect`)."""
    redirect = topology.redirect
    redirect_single = topology.redirect_single
    single_key = topology.single_key_names()  # one slot to check, found without key positions

    def run_if_here(argv: list[bytes]) -> Any:
        if argv[0] in single_key and len(argv) > 1:
            refusal = redirect_single(argv[1])
            if refusal is not None:
                return refusal
            return run(argv)
        keys = command_keys(argv)
        if keys:
            refusal = redirect(keys)
            if refusal is not None:
                return refusal
        return run(argv)

    return run_if_here
