"""One client's state and the dispatch of its requests: authentication, MULTI queue, routing.

A `Session` turns one request (an argv) into one reply in the model of
`kevy_persist.commands.replies` (or `NO_REPLY`), without touching the socket, so it is driven
the same way by a connection and by a test.

Guarantees:
- With `requirepass` set, nothing but AUTH, HELLO and QUIT runs before a successful AUTH
  (`NOAUTH`); a refused command inside MULTI also aborts the transaction.
- MULTI follows Redis: a queued command is checked for existence and arity when queued; a
  failed check answers its error and makes EXEC answer `EXECABORT` with nothing run. EXEC runs
  the queue through `Store.execute_transaction(atomic=False)`: one shard, crash-atomic, and a
  command failing at run time does not stop the others (Redis's EXEC). Server-level verbs
  (INFO, CONFIG, SAVE, ...) cannot be queued: they are refused at queue time.
- `handle` never raises: store errors (a closed store, a refused write) and unexpected
  exceptions become error replies, so one client cannot take the server down.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kevy_persist import KevyError, StoreClosedError
from kevy_persist.commands import ErrorReply, unknown_command_message
from kevy_persist.commands.context import wrong_arity
from kevy_persist.commands.replies import OK, QUEUED
from kevy_persist.commands.table import lookup_spec

from . import server_commands
from .server_commands import NO_REPLY

__all__ = ["EXECABORT", "NOAUTH", "NO_REPLY", "Session"]

log = logging.getLogger("kevy_server")

NOAUTH = ErrorReply("NOAUTH Authentication required.")
EXECABORT = ErrorReply("EXECABORT Transaction discarded because of previous errors.")
_ALLOWED_BEFORE_AUTH = frozenset({b"AUTH", b"HELLO", b"QUIT"})
# Handled by the session itself even while a transaction is being queued.
_TRANSACTION_VERBS = frozenset({b"MULTI", b"EXEC", b"DISCARD", b"WATCH", b"UNWATCH", b"QUIT"})


class Session:
    """Per-client state. `server` is the `KevyServer` (store, settings, statistics)."""

    def __init__(self, server: Any, client_id: int, address: str) -> None:
        self.server = server
        self.client_id = client_id
        self.address = address
        self.name: bytes | None = None
        self.authenticated = server.requirepass is None
        self.queued: list[list[bytes]] | None = None  # None: not inside MULTI
        self.transaction_failed = False
        self.closing = False  # set by QUIT, SHUTDOWN and protocol errors
        self.created_monotonic_ms = _monotonic_ms()
        self.last_command_monotonic_ms = self.created_monotonic_ms
        self.last_command = b"NULL"
        self.commands_processed = 0

    def handle(self, argv: list[bytes]) -> Any:
        """The reply to one request (an argv of at least one argument)."""
        assert argv, "the request parser never yields an empty request"
        name = argv[0].upper()
        self.last_command = name
        self.commands_processed += 1
        if not self.authenticated and name not in _ALLOWED_BEFORE_AUTH:
            if self.queued is not None:
                self.transaction_failed = True
            return NOAUTH
        try:
            if name in _TRANSACTION_VERBS:
                return self._transaction_verb(name, argv)
            if self.queued is not None:
                return self._queue(name, argv)
            handler = server_commands.HANDLERS.get(name)
            if handler is not None:
                return handler(self, argv)
            return self.server.store.execute_argv(argv)
        except StoreClosedError:
            return ErrorReply("ERR the server is shutting down")
        except KevyError as error:
            return ErrorReply(f"ERR {error}")
        except Exception as error:  # a bug must cost one reply, not the server
            log.exception("command %r failed", argv[:1])
            return ErrorReply(f"ERR internal error: {type(error).__name__}")

    def touch(self) -> None:
        self.last_command_monotonic_ms = _monotonic_ms()

    # -- MULTI / EXEC ------------------------------------------------------------------------

    def _transaction_verb(self, name: bytes, argv: list[bytes]) -> Any:
        if name == b"QUIT":
            self.closing = True
            return OK
        if name in (b"MULTI", b"EXEC", b"DISCARD", b"UNWATCH") and len(argv) != 1:
            return self._refuse_in_transaction(ErrorReply(wrong_arity(argv[0])))
        if name == b"MULTI":
            if self.queued is not None:
                return ErrorReply("ERR MULTI calls can not be nested")
            self.queued = []
            self.transaction_failed = False
            return OK
        if name == b"WATCH":
            if self.queued is not None:
                return ErrorReply("ERR WATCH inside MULTI is not allowed")
            return ErrorReply("ERR WATCH is not supported by kevy-server yet")
        if name == b"UNWATCH":
            return OK  # nothing is ever watched
        if self.queued is None:
            return ErrorReply(f"ERR {name.decode()} without MULTI")
        queued, failed = self.queued, self.transaction_failed
        self.queued, self.transaction_failed = None, False
        if name == b"DISCARD":
            return OK
        if failed:
            return EXECABORT
        if not queued:
            return []
        return self.server.store.execute_transaction(queued, atomic=False)

    def _queue(self, name: bytes, argv: list[bytes]) -> Any:
        spec = lookup_spec(argv[0])
        if spec is None:
            if name in server_commands.HANDLERS:
                return self._refuse_in_transaction(ErrorReply(
                    f"ERR '{name.decode('utf-8', 'replace').lower()}' cannot be queued in a kevy-server transaction"
                ))
            return self._refuse_in_transaction(ErrorReply(unknown_command_message(argv)))
        argc = len(argv)
        if argc != spec.arity and (spec.arity > 0 or argc < -spec.arity):
            return self._refuse_in_transaction(ErrorReply(wrong_arity(argv[0])))
        assert self.queued is not None
        self.queued.append(argv)
        return QUEUED

    def _refuse_in_transaction(self, error: ErrorReply) -> ErrorReply:
        if self.queued is not None:
            self.transaction_failed = True
        return error


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000

