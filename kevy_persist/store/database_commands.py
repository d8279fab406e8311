"""The commands about databases, as the embedded store answers them (Redis 7.0's texts).

`Store.execute_argv` hands these names here before routing by key: SELECT, MOVE, SWAPDB,
FLUSHALL, and COPY when it names a DB (its options are read by `commands.database_arguments`, the
one parser every COPY uses). Each handler gets the
store it was called on (database `store.database_number`) and the argv; the protocols are
in `databases.py` (MOVE, COPY across databases) and `reshard/swapdb.py` (SWAPDB). A
program's store has no connection to select a database with: SELECT answers OK for the
store's own number and otherwise says to use `store.database(n)`.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import CommandError as ArgumentError  # the commands layer's
from kevy_persist.commands.context import wrong_arity
from kevy_persist.commands.database_arguments import (
    SAME_OBJECT,
    database_index,
    parse_copy_options,
    without_database,
)
from kevy_persist.errors import CommandError, KevyError
from kevy_persist.store import databases
from kevy_persist.store.databases import ok


def _arity(argv: list[bytes], arity: int) -> ErrorReply | None:
    argc = len(argv)
    if argc != arity and (arity > 0 or argc < -arity):
        return ErrorReply(wrong_arity(argv[0]))
    return None


def select_command(store: Any, argv: list[bytes]) -> Any:
    refused = _arity(argv, 2)
    if refused is not None:
        return refused
    database = database_index(argv[1], store.root.databases.count)
    if database == store.database_number:
        return ok()
    return ErrorReply("ERR an embedded store has no connection to SELECT with; use store.database(n)")


def move_command(store: Any, argv: list[bytes]) -> Any:
    refused = _arity(argv, 3)
    if refused is not None:
        return refused
    target = database_index(argv[2], store.root.databases.count)
    if target == store.database_number:
        return ErrorReply(SAME_OBJECT)
    root = store.root
    return databases.move(root, store, argv[1], root.databases.get(target))


def swapdb_command(store: Any, argv: list[bytes]) -> Any:
    refused = _arity(argv, 3)
    if refused is not None:
        return refused
    count = store.root.databases.count
    first = database_index(argv[1], count, "ERR invalid first DB index")
    second = database_index(argv[2], count, "ERR invalid second DB index")
    store.root.swap_databases(first, second)
    return ok()


def copy_command(store: Any, argv: list[bytes]) -> Any:
    """COPY naming DB: into another database here; the store's own runs as a local COPY."""
    refused = _arity(argv, -3)
    if refused is not None:
        return refused
    options = parse_copy_options(argv, store.root.databases.count)
    target = options.database
    if target is None or target == store.database_number:
        if target is not None and argv[1] == argv[2]:
            return ErrorReply(SAME_OBJECT)
        return store.execute_local(without_database(argv))
    return databases.copy_across(store, argv[1], store.root.databases.get(target), argv[2], options.replace)


def flushall_command(store: Any, argv: list[bytes]) -> Any:
    """FLUSHALL: every open database (a database never written has nothing to flush)."""
    refused = _arity(argv, -1)
    if refused is not None:
        return refused
    for _, database in store.root.databases.opened():
        reply = database.execute_local(argv)
        if isinstance(reply, ErrorReply):
            return reply
    return ok()


HANDLERS = {
    b"SELECT": select_command,
    b"MOVE": move_command,
    b"SWAPDB": swapdb_command,
    b"COPY": copy_command,
    b"FLUSHALL": flushall_command,
}


def run(store: Any, handler: Any, argv: list[bytes]) -> Any:
    """A handler's reply; its `CommandError` as an error reply (as the table's commands do)."""
    try:
        return handler(store, argv)
    except (CommandError, ArgumentError) as error:
        return ErrorReply(error.message)
    except KevyError as error:
        return ErrorReply(f"ERR {error}")
