"""Keyspace notifications (`notify-keyspace-events`), as Redis 7.0 publishes them.

Flags: `K` (keyspace channel `__keyspace@<db>__:<key>`, message = event), `E` (keyevent
channel `__keyevent@<db>__:<event>`, message = key; `<db>` the database changed), and the classes `g` generic, `$` string, `l` list,
`s` set, `h` hash, `z` sorted set, `x` expired, `e` evicted, `t` stream, `d` module, `m` key
miss, `n` new key; `A` = `g$lshzxetd`. `flags_to_text` writes them back the way Redis's
CONFIG GET does (`KEA` -> `AKE`).

Events come from what a command changed: the store's observer hands over the command, the
keys expiry reaped (`expired`) and the command's log records; `events_for` names Redis's
event for each changed key, in Redis's order (RPOPLPUSH: `lpush` on the target, then `rpop`
on the source, then `del` if the source emptied). A command whose records are its effect
keeps its own event name (SPOP is logged as SREM and notifies `spop`; INCRBYFLOAT is logged
as SET and notifies `incrbyfloat`). A collection a command emptied also notifies `del`.
FLUSHALL notifies nothing, as in Redis 7.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kevy_persist.commands.key_positions import command_keys

from .database_keys import scoped

__all__ = ["Notifications", "events_for", "flags_from_text", "flags_to_text"]

_CLASS_BITS = {c: 1 << i for i, c in enumerate("g$lshzxetdmnKE")}
_ALL = "g$lshzxetd"
ALL_BITS = sum(_CLASS_BITS[c] for c in _ALL)
KEYSPACE = _CLASS_BITS["K"]
KEYEVENT = _CLASS_BITS["E"]

# Commands whose records are an effect under another name: (class, event) for their key.
_COMMAND_EVENTS = {
    b"SPOP": ("s", b"spop"), b"INCRBYFLOAT": ("$", b"incrbyfloat"), b"HINCRBYFLOAT": ("h", b"hincrbyfloat"),
    b"INCR": ("$", b"incrby"), b"DECR": ("$", b"incrby"), b"INCRBY": ("$", b"incrby"), b"DECRBY": ("$", b"incrby"),
    b"ZINCRBY": ("z", b"zincr"), b"HINCRBY": ("h", b"hincrby"), b"SETRANGE": ("$", b"setrange"),
    b"SETBIT": ("$", b"setbit"), b"APPEND": ("$", b"append"), b"LINSERT": ("l", b"linsert"),
}
# Record verb -> (class, event) when the record names one key (first argument).
_RECORD_EVENTS = {
    b"SET": ("$", b"set"), b"MSET": ("$", b"set"), b"SETEX": ("$", b"set"), b"SETNX": ("$", b"set"),
    b"PEXPIREAT": ("g", b"expire"), b"DEL": ("g", b"del"), b"UNLINK": ("g", b"del"), b"PERSIST": ("g", b"persist"),
    b"LPUSH": ("l", b"lpush"), b"LPUSHX": ("l", b"lpush"), b"RPUSH": ("l", b"rpush"), b"RPUSHX": ("l", b"rpush"),
    b"LPOP": ("l", b"lpop"), b"RPOP": ("l", b"rpop"), b"LSET": ("l", b"lset"), b"LREM": ("l", b"lrem"),
    b"LTRIM": ("l", b"ltrim"), b"HSET": ("h", b"hset"), b"HMSET": ("h", b"hset"), b"HSETNX": ("h", b"hset"),
    b"HDEL": ("h", b"hdel"), b"SADD": ("s", b"sadd"), b"SREM": ("s", b"srem"), b"ZADD": ("z", b"zadd"),
    b"ZREM": ("z", b"zrem"), b"ZPOPMIN": ("z", b"zpopmin"), b"ZPOPMAX": ("z", b"zpopmax"),
    b"ZREMRANGEBYSCORE": ("z", b"zremrangebyscore"), b"ZREMRANGEBYRANK": ("z", b"zremrangebyrank"),
    b"ZREMRANGEBYLEX": ("z", b"zremrangebylex"), b"SINTERSTORE": ("s", b"sinterstore"),
    b"SUNIONSTORE": ("s", b"sunionstore"), b"SDIFFSTORE": ("s", b"sdiffstore"),
    b"ZUNIONSTORE": ("z", b"zunionstore"), b"ZINTERSTORE": ("z", b"zinterstore"),
    b"ZDIFFSTORE": ("z", b"zdiffstore"), b"ZRANGESTORE": ("z", b"zrangestore"), b"RESTORE": ("g", b"restore"),
}
# Records that may empty the collection at their first key (then Redis also notifies `del`).
_MAY_EMPTY = frozenset({
    b"LPOP", b"RPOP", b"LREM", b"LTRIM", b"SREM", b"ZREM", b"ZPOPMIN", b"ZPOPMAX", b"ZREMRANGEBYSCORE",
    b"ZREMRANGEBYRANK", b"ZREMRANGEBYLEX", b"HDEL", b"RPOPLPUSH", b"LMOVE", b"SMOVE",
})


def flags_from_text(text: str) -> int | None:
    bits = 0
    for character in text:
        if character == "A":
            bits |= ALL_BITS
        elif character in _CLASS_BITS:
            bits |= _CLASS_BITS[character]
        else:
            return None
    return bits


def flags_to_text(bits: int) -> str:
    if bits & ALL_BITS == ALL_BITS:
        text = "A"
    else:
        text = "".join(c for c in _ALL if bits & _CLASS_BITS[c])
    for character in "KEm":
        if bits & _CLASS_BITS[character]:
            text += character
    return text


def _record_events(record: Sequence[bytes]) -> list[tuple[str, bytes, bytes]]:
    verb = record[0].upper()
    if verb in (b"RPOPLPUSH", b"LMOVE"):
        source, target = record[1], record[2]
        from_left = verb == b"LMOVE" and record[3].upper() == b"LEFT"
        to_left = verb == b"RPOPLPUSH" or record[4].upper() == b"LEFT"
        return [("l", b"lpush" if to_left else b"rpush", target), ("l", b"lpop" if from_left else b"rpop", source)]
    if verb == b"SMOVE":
        return [("s", b"srem", record[1]), ("s", b"sadd", record[2])]
    if verb in (b"RENAME", b"RENAMENX"):
        return [("g", b"rename_from", record[1]), ("g", b"rename_to", record[2])]
    if verb == b"COPY":
        return [("g", b"copy_to", record[2])]
    if verb in (b"DEL", b"UNLINK"):
        return [("g", b"del", key) for key in record[1:]]
    if verb == b"MSET":
        return [("$", b"set", key) for key in record[1::2]]
    if verb == b"ZADD" and any(argument.upper() == b"INCR" for argument in record[2:]):
        return [("z", b"zincr", record[1])]
    found = _RECORD_EVENTS.get(verb)
    if found is not None:
        return [(found[0], found[1], record[1])]
    keys = command_keys(list(record))
    return [("g", verb.lower(), key) for key in keys[:1]]


def events_for(argv: Sequence[bytes], records: Sequence[Sequence[bytes]], exists: Any) -> list[tuple[str, bytes, bytes]]:
    """(class, event, key) for each change, in Redis's order; `exists(key)` tells whether a
    key is still there after the command (for the `del` of an emptied collection)."""
    command = argv[0].upper() if argv else b""
    override = _COMMAND_EVENTS.get(command)
    events: list[tuple[str, bytes, bytes]] = []
    for record in records:
        produced = _record_events(record)
        if override is not None and produced and produced[0][1] not in (b"expire", b"persist", b"del"):
            produced = [(override[0], override[1], produced[0][2])]
        events += produced
        verb = record[0].upper()
        if verb in _MAY_EMPTY or (command == b"SPOP" and verb == b"SREM"):
            key = record[1]
            if not exists(key):
                events.append(("g", b"del", key))
    return events


class Notifications:
    """Publishes keyspace events through the server's pub/sub when `flags` ask for them."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.flags = 0
        # While DEL / UNLINK / FLUSH* run: the keys that existed before (their records name
        # every argument, existing or not).
        self.removed_keys: set[bytes] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.flags & (KEYSPACE | KEYEVENT))

    def publish(self, kind: str, event: bytes, key: bytes, database: int = 0) -> None:
        flags = self.flags
        if not flags & _CLASS_BITS[kind]:
            return
        pubsub = self.server.pubsub
        if flags & KEYSPACE:
            pubsub.publish(b"__keyspace@%d__:" % database + key, event)
        if flags & KEYEVENT:
            pubsub.publish(b"__keyevent@%d__:" % database + event, key)

    def changed(self, argv: Sequence[bytes], expired: list[bytes], records: Sequence[Sequence[bytes]],
                database: int = 0) -> None:
        for key in expired:
            self.publish("x", b"expired", key, database)
        if records:
            owned = self.server.owned

            def exists(key: bytes) -> bool:
                return owned.keyspace_of(database, key).peek(key) is not None

            removed = self.removed_keys
            for kind, event, key in events_for(argv, records, exists):
                if removed is not None and event == b"del" and scoped(database, key) not in removed:
                    continue  # DEL of a key that did not exist: Redis notifies nothing
                self.publish(kind, event, key, database)
