"""MULTI / EXEC / DISCARD / WATCH / UNWATCH, as Redis 7.0 runs them.

- A command sent after MULTI is checked (existence, arity, NOAUTH, `no-multi`) and queued; a
  failed check answers its error and makes EXEC answer EXECABORT with nothing run.
- EXEC aborts with a null reply when a watched key changed since WATCH (`watch.py`), and
  always forgets the client's watches.
- EXEC runs the queue on one shard as one crash-atomic block: every record the block logs
  goes into the shard's buffer between begin/commit markers, written by the turn's one write,
  so a crash keeps all of the block or none of it. A command failing at run time is one
  error among the replies and does not stop the others (Redis's EXEC). Keys on several
  shards, or a store-wide command on a sharded store, refuse the block (CROSSSLOT): only one
  shard's log can make it atomic.
- Inside EXEC a blocking command does not block (it answers as if its timeout had passed),
  and the clients blocked on keys the block pushed are served once EXEC has finished.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.replies import OK
from kevy_persist.commands.table import lookup_spec

from .replies import NULL_ARRAY
from .verbs import VERBS, verb

EXECABORT = ErrorReply("EXECABORT Transaction discarded because of previous errors.")
CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"
_STORE_WIDE = frozenset({b"DBSIZE", b"KEYS", b"SCAN", b"FLUSHALL", b"FLUSHDB", b"RANDOMKEY"})


@verb("MULTI", 1, "transaction fast")
def multi(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.queued is not None:
        return ErrorReply("ERR MULTI calls can not be nested")
    client.queued = []
    client.transaction_failed = False
    client.update_gate()
    return OK


@verb("DISCARD", 1, "transaction fast")
def discard(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.queued is None:
        return ErrorReply("ERR DISCARD without MULTI")
    end_transaction(server, client)
    return OK


def end_transaction(server: Any, client: Any) -> None:
    client.queued = None
    client.transaction_failed = False
    client.update_gate()
    server.watches.unwatch_all(client)


@verb("WATCH", -2, "transaction fast", keys=lambda argv: argv[1:], key_range=(1, -1, 1))
def watch(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.queued is not None:
        return ErrorReply("ERR WATCH inside MULTI is not allowed")
    server.watches.watch(client, argv[1:])
    return OK


@verb("UNWATCH", 1, "fast")
def unwatch(server: Any, client: Any, argv: list[bytes]) -> Any:
    server.watches.unwatch_all(client)
    return OK


def transaction_keys(argv: list[bytes]) -> list[bytes]:
    found = VERBS.get(argv[0].upper())
    if found is not None:
        return found.key_arguments(argv)
    return command_keys(argv)


@verb("EXEC", 1, "transaction")
def exec_command(server: Any, client: Any, argv: list[bytes]) -> Any:
    if client.queued is None:
        return ErrorReply("ERR EXEC without MULTI")
    queued, failed = client.queued, client.transaction_failed
    aborted_by_watch = not failed and server.watches.dirty(client)
    end_transaction(server, client)
    refusal = server.dispatcher.replica_refusal  # NOREPLICAS refuses an EXEC that writes
    if refusal is not None and any(_writes(queued_argv) for queued_argv in queued):
        return ErrorReply(f"EXECABORT Transaction discarded because of: {refusal}")
    if failed:
        return EXECABORT
    if aborted_by_watch:
        return NULL_ARRAY
    if not queued:
        return []
    owned = server.owned
    if not owned.is_open(owned.selected) and any(_writes(queued_argv) for queued_argv in queued):
        owned.open_selected()  # before the block: its records must land in the real shard's buffer
    indexes = {owned.shard_for_key(key) for queued_argv in queued for key in transaction_keys(queued_argv)}
    if len(indexes) > 1:
        return ErrorReply(CROSSSLOT)
    if owned.shard_count > 1 and any(queued_argv[0].upper() in _STORE_WIDE for queued_argv in queued):
        return ErrorReply(f"{CROSSSLOT} (a store-wide command cannot run in a transaction on a sharded store)")
    index = indexes.pop() if indexes else owned.base
    dispatcher = server.dispatcher
    start = owned.begin_block(index)
    dispatcher.in_exec = True
    server.master.begin_transaction()
    try:
        return [dispatcher.run_queued(client, queued_argv, index) for queued_argv in queued]
    finally:
        dispatcher.in_exec = False
        owned.end_block(index, start)
        server.master.end_transaction()


def _writes(argv: list[bytes]) -> bool:
    spec = lookup_spec(argv[0])
    return spec is not None and spec.writes
