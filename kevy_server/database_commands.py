"""Server verbs that span databases: MOVE, SWAPDB, FLUSHALL, and COPY ... DB.

SELECT (connection_commands.py) sets `client.database`; every other command runs in that
database (the dispatcher selects it on `OwnedShards`). These four are the ones one
database's shards cannot answer, so they run here, on the embedded store's implementation
(`kevy_persist.store.databases`: MOVE's journal, COPY's RESTORE into the target,
`reshard.swapdb` for SWAPDB), after `loop.quiesce()` -- the turn's records written and no
fsync in flight, since the store's path writes and fsyncs the two databases' logs itself --
and then tell the loop what changed: WATCH, blocked clients, tracking and keyspace events
(Redis 7.0's `move_from` / `move_to` / `copy_to`; SWAPDB touches every watched key of both
databases and wakes their blocked clients, as Redis does).

kevy runs a transaction within one database (one shard's log makes it atomic): MOVE, SWAPDB
and SELECT are refused inside MULTI ("Command not allowed inside a transaction"), and so is
a COPY to another database when EXEC reaches it. FLUSHALL flushes every open database, one
after the other (each shard logs its own FLUSHALL).
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import CommandError as ArgumentError  # the commands layer's
from kevy_persist.commands.database_arguments import (
    SAME_OBJECT,
    database_index,
    parse_copy_options,
    without_database,
)
from kevy_persist.commands.replies import OK
from kevy_persist.store.store import database_runner

from .database_keys import scoped
from .verbs import verb

__all__ = ["attach_databases"]


def attach_databases(server: Any) -> None:
    """Give the loop's shard slots every database the store has open now."""
    owned = server.owned
    for number, _ in server.store.databases.opened():
        if number and not owned.is_open(number):
            owned.attach(number, database_runner(server.store, number))


def _changed(server: Any, database: int, key: bytes, event: bytes) -> None:
    server.watches.touched(scoped(database, key))
    server.blocking.signal(scoped(database, key))
    if server.tracking.active:
        server.tracking.touched(key)
    if server.notifications.enabled:
        server.notifications.publish("g", event, key, database)


def _cross_database(server: Any, client: Any, argv: list[bytes], target: int) -> Any:
    """Run `argv` on the embedded store's database `client.database` (its handlers)."""
    server.loop.quiesce()
    try:
        return server.store.database(client.database).execute_argv(argv)
    finally:
        attach_databases(server)
        for database in (client.database, target):  # a failed MOVE fences shards of both
            server.owned.attach(database, database_runner(server.store, database))


@verb("MOVE", 3, "write fast no-multi")
def move(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.config.cluster:
        return ErrorReply("ERR MOVE is not allowed in cluster mode")
    try:
        target = database_index(argv[2], server.store.databases.count)
    except ArgumentError as error:
        return error.reply()
    if target == client.database:
        return ErrorReply(SAME_OBJECT)
    reply = _cross_database(server, client, argv, target)
    if reply == 1:
        _changed(server, client.database, argv[1], b"move_from")
        _changed(server, target, argv[1], b"move_to")
    return reply


@verb("SWAPDB", 3, "write fast no-multi")
def swapdb(server: Any, client: Any, argv: list[bytes]) -> Any:
    if server.config.cluster:
        return ErrorReply("ERR SWAPDB is not allowed in cluster mode")
    count = server.store.databases.count
    try:
        first = database_index(argv[1], count, "ERR invalid first DB index")
        second = database_index(argv[2], count, "ERR invalid second DB index")
    except ArgumentError as error:
        return error.reply()
    server.loop.quiesce()
    try:
        server.store.swap_databases(first, second)
    finally:
        attach_databases(server)
        for database in {first, second}:  # reopened from the swapped files (or fenced)
            server.owned.attach(database, database_runner(server.store, database))
    for database in (first, second):
        server.watches.touch_database(database)
        server.blocking.signal_database(database)
    return OK


@verb("COPY", -3, "write")
def copy(server: Any, client: Any, argv: list[bytes]) -> Any:
    try:
        target = parse_copy_options(argv, server.store.databases.count).database
    except ArgumentError as error:
        return error.reply()
    if target is None or target == client.database:
        if target is not None and argv[1] == argv[2]:
            return ErrorReply(SAME_OBJECT)
        return server.dispatcher.run_store_command(argv if target is None else without_database(argv))
    if server.config.cluster:
        return ErrorReply("ERR Copying to another database is not allowed in cluster mode")
    if server.dispatcher.in_exec:
        return ErrorReply("ERR kevy runs a transaction within one database: COPY to another database is refused")
    reply = _cross_database(server, client, argv, target)
    if reply == 1:
        _changed(server, target, argv[2], b"copy_to")
    return reply


@verb("FLUSHALL", -1, "write")
def flushall(server: Any, client: Any, argv: list[bytes]) -> Any:
    owned = server.owned
    previous = owned.selected
    try:
        for number, _ in server.store.databases.opened():
            if not owned.is_open(number):
                continue
            owned.select(number)
            reply = server.dispatcher.run_store_command(argv)
            if isinstance(reply, ErrorReply):
                return reply
    finally:
        owned.select(previous)
    return OK


