"""The typed, Pythonic face of the store (and of a transaction): thin wrappers over commands.

Arguments (`encode_argument`): `bytes` (and `bytearray`/`memoryview`) pass through unchanged;
`str` is encoded as UTF-8; `int` and `float` become their decimal text, as redis-py sends
them (`1.5` -> `b"1.5"`, `float("inf")` -> `b"inf"`); `bool` is refused with `TypeError`
(is `True` "1" or "True"? pass what you mean). So `store.set("k", 1)` and
`store.set(b"k", b"1")` name the same key and store the same bytes. Anything else is a
`TypeError` before the store is touched.

Replies are never decoded: strings come back as `bytes`, counts as `int`, scores as `float`,
missing values as `None`. A few replies are shaped the Pythonic way, each documented on its
method: `set`/`mset`/`rename`/`flushall` return `True`, `expire`/`persist`/`sismember` return
`bool`, `hgetall` a `dict`, `smembers` a `set`, `zrange(withscores=True)` `(member, score)`
pairs. A Redis error reply raises `CommandError` (its `message` is the whole Redis text).
TTLs are `ttl=` seconds (int, float or `datetime.timedelta`), sent as milliseconds.

In a transaction the methods only queue (they return None); the shaped replies land in
`Transaction.results`, in order, when the block commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

Scalar = bytes | str | int | float
Converter = Callable[[Any], Any]


def encode_argument(argument: Any) -> bytes:
    """One command argument as bytes, by the rules of the module docstring."""
    if isinstance(argument, bytes):
        return argument
    if isinstance(argument, str):
        return argument.encode()
    if isinstance(argument, bool):
        raise TypeError("bool is ambiguous as a Redis argument; pass 1/0 or a string")
    if isinstance(argument, int):
        return str(argument).encode()
    if isinstance(argument, float):
        return repr(argument).encode()
    if isinstance(argument, (bytearray, memoryview)):
        return bytes(argument)
    raise TypeError(f"cannot encode {type(argument).__name__} as a Redis argument")


def _milliseconds(ttl: float | datetime.timedelta) -> int:
    seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"ttl must be seconds or a timedelta, got {ttl!r}")
    milliseconds = int(round(seconds * 1000))
    if milliseconds <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return milliseconds


def _raw(reply: Any) -> Any:
    return reply


def _is_ok(reply: Any) -> bool:
    return reply is not None


def _to_bool(reply: Any) -> bool:
    return bool(reply)


def _to_float(reply: Any) -> float | None:
    return None if reply is None else float(reply)


def _to_str(reply: Any) -> str:
    return str(reply)


def _pairs_to_dict(reply: Any) -> dict[bytes, bytes]:
    return dict(zip(reply[0::2], reply[1::2]))


def _to_set(reply: Any) -> set[bytes]:
    return set(reply)


def _scored(reply: Any) -> list[tuple[bytes, float]]:
    return [(member, float(score)) for member, score in zip(reply[0::2], reply[1::2])]


def _flatten(mapping: Mapping[Any, Any]) -> list[Any]:
    return [part for pair in mapping.items() for part in pair]


class TypedCommands:
    """Methods named after Redis commands; subclasses say how a command is run (`_call`)."""

    def _call(self, convert: Converter, *arguments: Any) -> Any:  # Store / Transaction
        raise NotImplementedError

    # -- strings -----------------------------------------------------------------------
    def set(
        self,
        key: Scalar,
        value: Scalar,
        ttl: float | datetime.timedelta | None = None,
        *,
        only_if_absent: bool = False,
        only_if_present: bool = False,
        keep_ttl: bool = False,
        get: bool = False,
    ) -> Any:
        """SET; True when written, False when NX/XX prevented it; the old value with get=True."""
        arguments: list[Any] = ["SET", key, value]
        if ttl is not None:
            arguments += ["PX", _milliseconds(ttl)]
        if only_if_absent:
            arguments.append("NX")
        if only_if_present:
            arguments.append("XX")
        if keep_ttl:
            arguments.append("KEEPTTL")
        if get:
            arguments.append("GET")
        return self._call(_raw if get else _is_ok, *arguments)

    def get(self, key: Scalar) -> bytes | None:
        return self._call(_raw, "GET", key)

    def getdel(self, key: Scalar) -> bytes | None:
        return self._call(_raw, "GETDEL", key)

    def getrange(self, key: Scalar, start: int, end: int) -> bytes:
        return self._call(_raw, "GETRANGE", key, start, end)

    def mget(self, *keys: Scalar) -> list[bytes | None]:
        """Values of keys on any shards, in argument order (None for a missing key)."""
        return self._call(_raw, "MGET", *keys)

    def mset(self, mapping: Mapping[Scalar, Scalar]) -> bool:
        """Set every pair (keys on any shards; no reader sees half of it); True."""
        return self._call(_is_ok, "MSET", *_flatten(mapping))

    def msetnx(self, mapping: Mapping[Scalar, Scalar]) -> bool:
        """Set every pair only if no key exists; True when set."""
        return self._call(_to_bool, "MSETNX", *_flatten(mapping))

    def incr(self, key: Scalar, amount: int = 1) -> int:
        return self._call(_raw, "INCRBY", key, amount)

    def decr(self, key: Scalar, amount: int = 1) -> int:
        return self._call(_raw, "DECRBY", key, amount)

    def incrbyfloat(self, key: Scalar, amount: float) -> float:
        return self._call(_to_float, "INCRBYFLOAT", key, amount)

    def append(self, key: Scalar, value: Scalar) -> int:
        """APPEND; the new length."""
        return self._call(_raw, "APPEND", key, value)

    def strlen(self, key: Scalar) -> int:
        return self._call(_raw, "STRLEN", key)

    # -- keys --------------------------------------------------------------------------
    def delete(self, *keys: Scalar) -> int:
        """DEL (keys on any shards); how many existed."""
        return self._call(_raw, "DEL", *keys)

    def exists(self, *keys: Scalar) -> int:
        """EXISTS (keys on any shards); how many exist (a repeated key counts twice)."""
        return self._call(_raw, "EXISTS", *keys)

    def expire(self, key: Scalar, ttl: float | datetime.timedelta) -> bool:
        """Set a TTL of `ttl` seconds; False when the key does not exist."""
        return self._call(_to_bool, "PEXPIRE", key, _milliseconds(ttl))

    def expireat_ms(self, key: Scalar, deadline_ms: int) -> bool:
        """Expire at an absolute unix time in milliseconds; False when the key does not exist."""
        return self._call(_to_bool, "PEXPIREAT", key, deadline_ms)

    def persist(self, key: Scalar) -> bool:
        """Remove the TTL; False when the key has none (or does not exist)."""
        return self._call(_to_bool, "PERSIST", key)

    def ttl(self, key: Scalar) -> int:
        """Seconds left; -1 without a TTL, -2 for a missing key (Redis's values)."""
        return self._call(_raw, "TTL", key)

    def pttl(self, key: Scalar) -> int:
        """Milliseconds left; -1 without a TTL, -2 for a missing key."""
        return self._call(_raw, "PTTL", key)

    def type(self, key: Scalar) -> str:
        """"string", "hash", "list", "set", "zset" or "none"."""
        return self._call(_to_str, "TYPE", key)

    def rename(self, source: Scalar, target: Scalar) -> bool:
        """RENAME (both keys on one shard, else CROSSSLOT); True."""
        return self._call(_is_ok, "RENAME", source, target)

    def dump(self, key: Scalar) -> bytes | None:
        """Redis's DUMP payload of the value (RESTOREs into Redis 7.0+ and here), or None."""
        return self._call(_raw, "DUMP", key)

    def restore(
        self, key: Scalar, payload: bytes, ttl: float | datetime.timedelta | None = None, *, replace: bool = False
    ) -> bool:
        """RESTORE a DUMP payload (from Redis or from `dump`), with an optional TTL; True.

        Without `replace` an existing key raises `CommandError` (BUSYKEY).
        """
        arguments = [key, _milliseconds(ttl) if ttl is not None else 0, payload]
        return self._call(_is_ok, "RESTORE", *arguments, *(["REPLACE"] if replace else []))

    def keys(self, pattern: Scalar = "*") -> list[bytes]:
        """Every key matching the glob `pattern`, from every shard (unordered)."""
        return self._call(_raw, "KEYS", pattern)

    def dbsize(self) -> int:
        return self._call(_raw, "DBSIZE")

    def flushall(self) -> bool:
        """Remove every key of every shard; True."""
        return self._call(_is_ok, "FLUSHALL")

    # -- hashes ------------------------------------------------------------------------
    def hset(self, key: Scalar, field: Scalar | Mapping[Scalar, Scalar], value: Scalar | None = None) -> int:
        """`hset(k, field, value)` or `hset(k, {field: value, ...})`; fields added."""
        if isinstance(field, Mapping):
            if value is not None:
                raise TypeError("pass either a mapping or one field and value")
            return self._call(_raw, "HSET", key, *_flatten(field))
        if value is None:
            raise TypeError("hset(key, field) needs a value")
        return self._call(_raw, "HSET", key, field, value)

    def hget(self, key: Scalar, field: Scalar) -> bytes | None:
        return self._call(_raw, "HGET", key, field)

    def hmget(self, key: Scalar, *fields: Scalar) -> list[bytes | None]:
        return self._call(_raw, "HMGET", key, *fields)

    def hgetall(self, key: Scalar) -> dict[bytes, bytes]:
        """The whole hash as a dict ({} for a missing key)."""
        return self._call(_pairs_to_dict, "HGETALL", key)

    def hdel(self, key: Scalar, *fields: Scalar) -> int:
        return self._call(_raw, "HDEL", key, *fields)

    def hexists(self, key: Scalar, field: Scalar) -> bool:
        return self._call(_to_bool, "HEXISTS", key, field)

    def hincrby(self, key: Scalar, field: Scalar, amount: int = 1) -> int:
        return self._call(_raw, "HINCRBY", key, field, amount)

    def hlen(self, key: Scalar) -> int:
        return self._call(_raw, "HLEN", key)

    # -- lists -------------------------------------------------------------------------
    def lpush(self, key: Scalar, *values: Scalar) -> int:
        """Push each value at the head in turn (the last ends up first); the new length."""
        return self._call(_raw, "LPUSH", key, *values)

    def rpush(self, key: Scalar, *values: Scalar) -> int:
        return self._call(_raw, "RPUSH", key, *values)

    def lpop(self, key: Scalar, count: int | None = None) -> Any:
        """One value (or None); with `count`, a list of up to `count` values (or None)."""
        return self._call(_raw, "LPOP", key, *([] if count is None else [count]))

    def rpop(self, key: Scalar, count: int | None = None) -> Any:
        return self._call(_raw, "RPOP", key, *([] if count is None else [count]))

    def lrange(self, key: Scalar, start: int = 0, stop: int = -1) -> list[bytes]:
        """Items `start..stop` inclusive (negative = from the tail), head first."""
        return self._call(_raw, "LRANGE", key, start, stop)

    def lindex(self, key: Scalar, index: int) -> bytes | None:
        return self._call(_raw, "LINDEX", key, index)

    def llen(self, key: Scalar) -> int:
        return self._call(_raw, "LLEN", key)

    # -- sets --------------------------------------------------------------------------
    def sadd(self, key: Scalar, *members: Scalar) -> int:
        return self._call(_raw, "SADD", key, *members)

    def srem(self, key: Scalar, *members: Scalar) -> int:
        return self._call(_raw, "SREM", key, *members)

    def smembers(self, key: Scalar) -> set[bytes]:
        """The members as a set (empty for a missing key)."""
        return self._call(_to_set, "SMEMBERS", key)

    def sismember(self, key: Scalar, member: Scalar) -> bool:
        return self._call(_to_bool, "SISMEMBER", key, member)

    def scard(self, key: Scalar) -> int:
        return self._call(_raw, "SCARD", key)

    # -- sorted sets -------------------------------------------------------------------
    def zadd(self, key: Scalar, mapping: Mapping[Scalar, float], *options: str) -> Any:
        """ZADD with options among NX XX GT LT CH INCR, e.g. `zadd("k", {"m": 1.5}, "NX")`.

        The number of members added (changed, with CH); with INCR the new score (a float).
        """
        pairs = [part for member, score in mapping.items() for part in (score, member)]
        incr = any(option.upper() == "INCR" for option in options)
        return self._call(_to_float if incr else _raw, "ZADD", key, *options, *pairs)

    def zscore(self, key: Scalar, member: Scalar) -> float | None:
        return self._call(_to_float, "ZSCORE", key, member)

    def zincrby(self, key: Scalar, amount: float, member: Scalar) -> float:
        return self._call(_to_float, "ZINCRBY", key, amount, member)

    def zrem(self, key: Scalar, *members: Scalar) -> int:
        return self._call(_raw, "ZREM", key, *members)

    def zcard(self, key: Scalar) -> int:
        return self._call(_raw, "ZCARD", key)

    def zrank(self, key: Scalar, member: Scalar) -> int | None:
        return self._call(_raw, "ZRANK", key, member)

    def zrange(self, key: Scalar, start: int = 0, stop: int = -1, *, withscores: bool = False) -> Any:
        """Members by rank, lowest score first; `(member, score)` pairs with withscores."""
        if not withscores:
            return self._call(_raw, "ZRANGE", key, start, stop)
        return self._call(_scored, "ZRANGE", key, start, stop, "WITHSCORES")
