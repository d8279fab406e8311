"""A master's command stream, applied by a replica through the store.

What it does: the bytes after the RDB (or after +CONTINUE) are parsed with hiredis; each
command is run like a client's (`Dispatcher.run_store_command`), so it is logged as kevy logs
it and durable per the local fsync policy, and WATCH, blocked clients, keyspace
notifications, tracking and this server's own replicas see it. Per command:
- `PING` only advances the offset; `REPLCONF GETACK` sends an ACK at once, with the offset
  before the GETACK itself (as Redis: the offset is updated after a command runs);
- `SELECT n` picks the database the following commands run in (one beyond the `databases`
  setting: its commands are skipped, with a warning once per switch);
- `MULTI` ... `EXEC` is collected and run at once, so no client sees half of it;
- `PUBLISH` / `SPUBLISH` are delivered to this server's subscribers (and passed on to its
  own replicas), as a Redis replica does;
- anything else runs through the store; a refusal (a cross-shard command on a sharded
  kevy, say) is logged as a warning -- the data then differs from the master's.
The offset advances by the command's frame size: a master writes every command as a
canonical multibulk frame, so that size is known from the command (hiredis does not say how
many bytes a reply took).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import hiredis

from kevy_persist.commands import ErrorReply
from kevy_persist.store.owned import encode_frame

from .pubsub import publish_and_propagate

__all__ = ["StreamApplier"]

log = logging.getLogger("kevy_server")
_PUBLISHING = (b"PUBLISH", b"SPUBLISH")


class StreamApplier:
    """One link's stream (see the module docstring). `advance(size)` is told each command's
    size after it ran and answers whether to go on (False: the link dropped meanwhile)."""

    def __init__(self, server: Any, send_ack: Callable[[], None], advance: Callable[[int], bool]) -> None:
        self._server = server
        self._send_ack = send_ack
        self._advance = advance
        self._reader = hiredis.Reader()
        self._database = 0
        self._transaction: list[list[bytes]] | None = None

    def feed(self, data: bytes) -> str | None:
        """Apply every complete command in `data`; an error text when the stream is broken."""
        reader = self._reader
        reader.feed(data)
        while True:
            try:
                argv = reader.gets()
            except hiredis.ProtocolError as error:
                return f"protocol error in the stream: {error}"
            if argv is False:
                return None
            if not isinstance(argv, list) or not argv:
                continue
            size = len(encode_frame(argv))
            self._apply(argv)
            if not self._advance(size):
                return None

    def _apply(self, argv: list[bytes]) -> None:
        name = argv[0].upper()
        if name == b"PING":
            return
        if name == b"REPLCONF":
            if len(argv) > 1 and argv[1].upper() == b"GETACK":
                self._send_ack()
            return
        if name == b"SELECT":
            self._database = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 0
            if self._database >= len(self._server.owned.bases):
                log.warning("replication: the master writes to database %d, beyond this server's databases",
                            self._database)
            return
        if self._database >= len(self._server.owned.bases):
            return
        if name == b"MULTI":
            self._transaction = []
            return
        if name == b"EXEC" and self._transaction is not None:
            commands, self._transaction = self._transaction, None
            for command in commands:
                self._run(command)
            return
        if self._transaction is not None:
            self._transaction.append(argv)
            return
        self._run(argv)

    def _run(self, argv: list[bytes]) -> None:
        server = self._server
        if argv[0].upper() in _PUBLISHING and len(argv) == 3:
            publish_and_propagate(server, argv, from_master=True)  # delivered to this server's subscribers
            return
        owned = server.owned
        owned.select(self._database)
        try:
            reply = server.dispatcher.run_store_command(argv)
        finally:
            owned.select(0)
        if isinstance(reply, ErrorReply):
            log.warning("replication: the master's %s failed here: %s", argv[0][:32], reply.message)
        if server.blocking.ready_keys:
            server.blocking.serve_ready()
