"""XREAD BLOCK and XREADGROUP BLOCK: the store's stream reads, parked by the loop.

The stream commands live in the store (`kevy_persist.commands.stream_reads`); this module
only decides how they run on the server:
- without BLOCK, inside EXEC, or when the client may not block, they run as any store
  command (Blocking.NEVER: nothing to read answers the null at once, as Redis does inside
  MULTI);
- with BLOCK they run with Blocking.ALLOWED: when nothing can be read the store answers a
  `StreamWait(keys, timeout_ms, retry_argv, timeout_reply)` and the client is parked on those
  keys (`blocking.py`) until `timeout_ms` passes (0: forever); after a write to one of them
  the loop re-runs `retry_argv` with Blocking.RETRY, which answers the read (with Redis's
  rules for a client it unblocks: at most COUNT entries, 1000 without COUNT, NOGROUP /
  UNBLOCKED errors for XREADGROUP whose group or key went away) or another `StreamWait`
  (stay parked, same deadline).

A parked reader is not *exclusive*: XREAD takes nothing away, so every reader on a key is
attempted after each write, not only the first.

Durability: a served XREADGROUP logs its effect (the PEL rows, the group's position) in the
turn that served it and its reply travels with that turn's replies, so under `appendfsync
always` the reader sees its entries only after the fsync that made the delivery durable.

The null reply (nothing read, or the timeout) is a null array, `*-1`, as Redis 7.0 sends it.
Keys on several shards are refused with CROSSSLOT, as for any multi-key store command.
"""

from __future__ import annotations

from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import Blocking
from kevy_persist.commands.key_positions import command_keys
from kevy_persist.commands.stream_reads import StreamWait
from kevy_persist.store.owned import CROSSSLOT

from .blocking import NOT_READY
from .loop import NO_REPLY
from .replies import NULL_ARRAY
from .verbs import verb


def _keys(argv: list[bytes]) -> list[bytes]:
    return command_keys(argv)


def _has_block_option(argv: list[bytes]) -> bool:
    # BLOCK may only appear among the options, before STREAMS; a key named "block" after
    # STREAMS does not count.
    for argument in argv[1:]:
        upper = argument.upper()
        if upper == b"STREAMS":
            return False
        if upper == b"BLOCK":
            return True
    return False


def _null_as_array(reply: Any) -> Any:
    return NULL_ARRAY if reply is None else reply


def _read(server: Any, client: Any, argv: list[bytes]) -> Any:
    owned = server.owned
    indexes = {owned.shard_for_key(key) for key in _keys(argv)}
    if len(indexes) > 1:
        return ErrorReply(CROSSSLOT)
    if server.dispatcher.in_exec or not _has_block_option(argv):
        return _null_as_array(server.dispatcher.run_store_command(argv))
    index = indexes.pop() if indexes else 0
    reply = owned.execute_blocking(index, argv, Blocking.ALLOWED)
    if not isinstance(reply, StreamWait):
        return _null_as_array(reply)
    retry_argv = reply.retry_argv

    def attempt(key: bytes) -> Any:
        retried = owned.execute_blocking(index, retry_argv, Blocking.RETRY)
        return NOT_READY if isinstance(retried, StreamWait) else _null_as_array(retried)

    deadline_ms = None if reply.timeout_ms == 0 else server.loop.now_ms + reply.timeout_ms
    server.blocking.block(client, list(reply.keys), deadline_ms, attempt, NULL_ARRAY, exclusive=False)
    return NO_REPLY


@verb("XREAD", -4, "readonly blocking movablekeys", keys=_keys)
def xread(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _read(server, client, argv)


@verb("XREADGROUP", -7, "write blocking movablekeys", keys=_keys)
def xreadgroup(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _read(server, client, argv)
