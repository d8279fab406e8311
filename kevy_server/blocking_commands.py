"""BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.

Each verb parses its arguments with Redis 7.0's checks and texts, then tries to serve at once,
key by key in argument order: a key holding the wrong type answers WRONGTYPE; a non-empty one
is served by the non-blocking command (LPOP key, LMOVE src dst..., LMPOP 1 key ..., ZPOPMIN
key, ZMPOP 1 key ...) -- which is what the log records, never the blocking verb, so replay is
deterministic. Otherwise the client blocks (`blocking.py`) with the same `attempt`, unless
the command runs inside EXEC, where it answers at once as if its timeout had passed.

Timeouts are seconds as a float (0: forever): "timeout is not a float or out of range",
"timeout is negative" (also for values too large to count in milliseconds, as Redis's cast
does), "timeout is out of range". A timed-out pop answers a null array (`*-1` / RESP3 null).
Keys on several shards are fine for the pops (each pop is one key); BRPOPLPUSH / BLMOVE move
between two keys, which must share a shard (CROSSSLOT otherwise).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from kevy_persist.commands import ErrorReply
from kevy_persist.commands.context import WRONGTYPE
from kevy_persist.data.zset import ZSet

from .blocking import NOT_READY
from .loop import NO_REPLY
from .replies import NULL_ARRAY
from .verbs import verb

_FLOAT = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity)", re.IGNORECASE)
_LONG_MAX = (1 << 63) - 1
NOT_A_FLOAT = ErrorReply("ERR timeout is not a float or out of range")
NEGATIVE = ErrorReply("ERR timeout is negative")
OUT_OF_RANGE = ErrorReply("ERR timeout is out of range")
SYNTAX = ErrorReply("ERR syntax error")
CROSSSLOT = ErrorReply("CROSSSLOT Keys in request don't hash to the same slot")


def parse_timeout_ms(text: bytes, now_ms: int) -> int | ErrorReply:
    """A relative timeout in ms (0 = forever), or Redis's error reply."""
    if not _FLOAT.fullmatch(text):
        return NOT_A_FLOAT
    seconds = float(text)
    milliseconds = seconds * 1000
    if not math.isfinite(milliseconds) or abs(milliseconds) >= 2**63:
        return NEGATIVE  # Redis casts the overflow to a negative number
    timeout_ms = math.ceil(milliseconds)
    if timeout_ms < 0:
        return NEGATIVE
    if timeout_ms > _LONG_MAX - now_ms:
        return OUT_OF_RANGE
    return timeout_ms


def _live_value(server: Any, key: bytes) -> Any:
    """The value at `key` if it exists and has not expired (nothing is reaped here)."""
    owned = server.owned
    keyspace = owned.shards[owned.shard_for_key(key)].keyspace
    value = keyspace.peek(key)
    if value is None or keyspace.is_expired(key, owned.context.now_ms):
        return None
    return value


def _run(server: Any, key: bytes, argv: list[bytes]) -> Any:
    owned = server.owned
    return owned.execute(owned.shard_for_key(key), argv)


def _serve_or_block(
    server: Any, client: Any, keys: list[bytes], timeout_text: bytes, kind: type,
    attempt: Callable[[bytes], Any],
) -> Any:
    owned = server.owned
    timeout_ms = parse_timeout_ms(timeout_text, owned.context.now_ms)
    if isinstance(timeout_ms, ErrorReply):
        return timeout_ms
    for key in keys:
        value = _live_value(server, key)
        if value is None:
            continue
        if type(value) is not kind:
            return ErrorReply(WRONGTYPE)
        reply = attempt(key)
        if reply is not NOT_READY:
            return reply
    if server.dispatcher.in_exec:
        return NULL_ARRAY
    deadline_ms = None if timeout_ms == 0 else server.loop.now_ms + timeout_ms
    server.blocking.block(client, keys, deadline_ms, attempt, NULL_ARRAY)
    return NO_REPLY


def _ready(server: Any, key: bytes, kind: type) -> bool:
    value = _live_value(server, key)
    return type(value) is kind and len(value) > 0


# -- lists ------------------------------------------------------------------------------------


def _pop_attempt(server: Any, verb_name: bytes) -> Callable[[bytes], Any]:
    def attempt(key: bytes) -> Any:
        if not _ready(server, key, deque):
            return NOT_READY
        return [key, _run(server, key, [verb_name, key])]

    return attempt


@verb("BLPOP", -3, "write blocking", keys=lambda argv: argv[1:-1], key_range=(1, -2, 1))
def blpop(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _serve_or_block(server, client, argv[1:-1], argv[-1], deque, _pop_attempt(server, b"LPOP"))


@verb("BRPOP", -3, "write blocking", keys=lambda argv: argv[1:-1], key_range=(1, -2, 1))
def brpop(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _serve_or_block(server, client, argv[1:-1], argv[-1], deque, _pop_attempt(server, b"RPOP"))


def _move(server: Any, client: Any, source: bytes, target: bytes, sides: list[bytes], timeout: bytes) -> Any:
    owned = server.owned
    if owned.shard_for_key(source) != owned.shard_for_key(target):
        return CROSSSLOT
    target_value = _live_value(server, target)

    def attempt(key: bytes) -> Any:
        if not _ready(server, key, deque):
            return NOT_READY
        # A target of the wrong type answers WRONGTYPE and unblocks, as Redis does.
        return _run(server, key, [b"LMOVE", source, target, *sides])

    if target_value is not None and type(target_value) is not deque and _ready(server, source, deque):
        return ErrorReply(WRONGTYPE)
    return _serve_or_block(server, client, [source], timeout, deque, attempt)


@verb("BRPOPLPUSH", 4, "write blocking", keys=lambda argv: argv[1:3], key_range=(1, 2, 1))
def brpoplpush(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _move(server, client, argv[1], argv[2], [b"RIGHT", b"LEFT"], argv[3])


@verb("BLMOVE", 6, "write blocking", keys=lambda argv: argv[1:3], key_range=(1, 2, 1))
def blmove(server: Any, client: Any, argv: list[bytes]) -> Any:
    sides = [argv[3].upper(), argv[4].upper()]
    if any(side not in (b"LEFT", b"RIGHT") for side in sides):
        return SYNTAX
    return _move(server, client, argv[1], argv[2], sides, argv[5])


def _numkeys_form(argv: list[bytes], wheres: tuple[bytes, bytes]) -> tuple[list[bytes], bytes, int] | ErrorReply:
    """BLMPOP / BZMPOP: timeout numkeys key... where [COUNT n] -> (keys, where, count)."""
    text = argv[2]
    count = int(text) if text.lstrip(b"-").isdigit() and len(text) < 20 else None
    if count is None or count <= 0:
        return ErrorReply("ERR numkeys should be greater than 0")
    where_index = 3 + count
    if where_index >= len(argv):
        return SYNTAX
    where = argv[where_index].upper()
    if where not in wheres:
        return SYNTAX
    pop_count = 1
    index = where_index + 1
    seen_count = False
    while index < len(argv):
        if argv[index].upper() == b"COUNT" and index + 1 < len(argv) and not seen_count:
            digits = argv[index + 1]
            pop_count = int(digits) if digits.lstrip(b"-").isdigit() and len(digits) < 20 else 0
            if pop_count <= 0:
                return ErrorReply("ERR count should be greater than 0")
            seen_count = True
            index += 2
        else:
            return SYNTAX
    return argv[3:where_index], where, pop_count


@verb("BLMPOP", -5, "write blocking movablekeys", keys=lambda argv: _numkeys_keys(argv))
def blmpop(server: Any, client: Any, argv: list[bytes]) -> Any:
    parsed = _numkeys_form(argv, (b"LEFT", b"RIGHT"))
    if isinstance(parsed, ErrorReply):
        return parsed
    keys, where, pop_count = parsed

    def attempt(key: bytes) -> Any:
        if not _ready(server, key, deque):
            return NOT_READY
        return _run(server, key, [b"LMPOP", b"1", key, where, b"COUNT", b"%d" % pop_count])

    return _serve_or_block(server, client, keys, argv[1], deque, attempt)


def _numkeys_keys(argv: list[bytes]) -> list[bytes]:
    text = argv[2] if len(argv) > 2 else b""
    count = int(text) if text.isdigit() and len(text) < 19 else 0
    return argv[3 : 3 + count]


# -- sorted sets ----------------------------------------------------------------------------


def _zpop_attempt(server: Any, verb_name: bytes) -> Callable[[bytes], Any]:
    def attempt(key: bytes) -> Any:
        if not _ready(server, key, ZSet):
            return NOT_READY
        popped = _run(server, key, [verb_name, key])
        return [key, *popped] if isinstance(popped, list) else popped

    return attempt


@verb("BZPOPMIN", -3, "write blocking fast", keys=lambda argv: argv[1:-1], key_range=(1, -2, 1))
def bzpopmin(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _serve_or_block(server, client, argv[1:-1], argv[-1], ZSet, _zpop_attempt(server, b"ZPOPMIN"))


@verb("BZPOPMAX", -3, "write blocking fast", keys=lambda argv: argv[1:-1], key_range=(1, -2, 1))
def bzpopmax(server: Any, client: Any, argv: list[bytes]) -> Any:
    return _serve_or_block(server, client, argv[1:-1], argv[-1], ZSet, _zpop_attempt(server, b"ZPOPMAX"))


@verb("BZMPOP", -5, "write blocking movablekeys", keys=lambda argv: _numkeys_keys(argv))
def bzmpop(server: Any, client: Any, argv: list[bytes]) -> Any:
    parsed = _numkeys_form(argv, (b"MIN", b"MAX"))
    if isinstance(parsed, ErrorReply):
        return parsed
    keys, where, pop_count = parsed

    def attempt(key: bytes) -> Any:
        if not _ready(server, key, ZSet):
            return NOT_READY
        return _run(server, key, [b"ZMPOP", b"1", key, where, b"COUNT", b"%d" % pop_count])

    return _serve_or_block(server, client, keys, argv[1], ZSet, attempt)
