"""From one request (an argv) to one reply: the checks Redis makes, in Redis's order.

The fast path: a client with nothing special about it (authenticated, not in MULTI, not in
RESP2 subscribed mode: `client.gated` is False) sending a command of the store's table goes
straight to the shard (`OwnedShards.execute`): one set lookup, no context object, no
per-request allocation beyond the command's own.

Everything else takes `_slow`, which follows Redis 7.0's `processCommand`:
1. unknown command, then wrong arity (both flag an open transaction, so EXEC aborts);
2. NOAUTH before AUTH for everything not flagged `no-auth`;
3. in RESP2 subscribed mode only the subscribe family, PING, QUIT and RESET run;
4. inside MULTI: `no-multi` verbs are refused, the transaction verbs run at once, the rest
   is queued (QUEUED);
5. a server verb runs its handler; a store command runs on its shard, after the WATCH
   bookkeeping that must see the keyspace before the command (FLUSHALL, DEL).

`handle` never raises: a store that is shutting down, a storage error or a bug cost one
error reply, never the loop.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from kevy_persist import KevyError, StoreClosedError
from kevy_persist.commands import COMMAND_TABLE, ErrorReply, unknown_command_message
from kevy_persist.commands.context import wrong_arity
from kevy_persist.commands.replies import QUEUED
from kevy_persist.commands.table import lookup_spec

from .verbs import VERBS

__all__ = ["NOAUTH", "Dispatcher"]

log = logging.getLogger("kevy_server")

NOAUTH = ErrorReply("NOAUTH Authentication required.")
NOT_IN_MULTI = ErrorReply("ERR Command not allowed inside a transaction")
# Store commands the WATCH bookkeeping must see before they run (they never take the fast path).
_WATCH_BEFORE = frozenset({b"FLUSHALL", b"FLUSHDB", b"DEL", b"UNLINK"})


def _fast_names() -> frozenset[bytes]:
    names = set()
    for name in COMMAND_TABLE:
        if name.upper() not in _WATCH_BEFORE and name.upper() not in VERBS:
            names.add(name)
            names.add(name.upper())
    return frozenset(names)


class Dispatcher:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.owned = server.owned
        self._fast = _fast_names()
        if self.owned.shard_count == 1:
            self.run_data = functools.partial(self.owned.execute, 0)
        else:
            self.run_data = self.owned.execute_routed
        self.in_exec = False  # EXEC is running its queue (blocking verbs must not block)

    def handle(self, client: Any, argv: list[bytes]) -> Any:
        client.commands_processed += 1
        name = argv[0]
        client.last_command = name
        try:
            if not client.gated and name in self._fast:
                return self.run_data(argv)
            return self._slow(client, argv)
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
        if client.protocol == 2 and client.in_pubsub_mode() and "subscribed" not in flags:
            lower = name.decode("utf-8", "replace").lower()
            return self._refuse(client, ErrorReply(
                f"ERR Can't execute '{lower}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                "are allowed in this context"
            ))
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
        return self.run_data(argv)

    @staticmethod
    def _refuse(client: Any, error: ErrorReply) -> ErrorReply:
        """An error before the command runs: inside MULTI it also dooms the transaction."""
        if client.queued is not None:
            client.transaction_failed = True
        return error

    def run_queued(self, client: Any, argv: list[bytes], shard_index: int) -> Any:
        """One command of an EXEC, on the transaction's shard."""
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
