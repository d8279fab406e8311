"""The typed, Pythonic face of the store (and of a transaction): thin wrappers over `execute`.

Arguments: keys, fields, members and values may be `bytes` or `str` (encoded as UTF-8); ints
and floats become their decimal text, as redis-py sends them. Replies are never decoded:
strings come back as `bytes`, counts as `int`, scores as `float`, missing values as `None`.
TTLs are `ttl=` seconds (int, float or `datetime.timedelta`), sent as milliseconds.

In a transaction the methods only queue: what they return means nothing, and the raw replies
land in `Transaction.results` when the block commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

Scalar = bytes | str | int | float


def _milliseconds(ttl: float | datetime.timedelta) -> int:
    seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl
    milliseconds = int(round(seconds * 1000))
    if milliseconds <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return milliseconds


def _score(reply: Any) -> float | None:
    return None if reply is None else float(reply)


class TypedCommands:
    def execute(self, *arguments: Any) -> Any:  # provided by Store / Transaction
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
        """SET; True when written (False when NX/XX prevented it), or the old value with get=True."""
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
        reply = self.execute(*arguments)
        return reply if get else reply is not None

    def get(self, key: Scalar) -> bytes | None:
        return self.execute("GET", key)

    def getdel(self, key: Scalar) -> bytes | None:
        return self.execute("GETDEL", key)

    def mget(self, *keys: Scalar) -> list[bytes | None]:
        return self.execute("MGET", *keys)

    def mset(self, mapping: Mapping[Scalar, Scalar]) -> Any:
        return self.execute("MSET", *[part for pair in mapping.items() for part in pair])

    def incr(self, key: Scalar, amount: int = 1) -> int:
        return self.execute("INCRBY", key, amount)

    def decr(self, key: Scalar, amount: int = 1) -> int:
        return self.execute("DECRBY", key, amount)

    def incrbyfloat(self, key: Scalar, amount: float) -> float | None:
        return _score(self.execute("INCRBYFLOAT", key, amount))

    def append(self, key: Scalar, value: Scalar) -> int:
        return self.execute("APPEND", key, value)

    def strlen(self, key: Scalar) -> int:
        return self.execute("STRLEN", key)

    # -- keys --------------------------------------------------------------------------
    def delete(self, *keys: Scalar) -> int:
        return self.execute("DEL", *keys)

    def exists(self, *keys: Scalar) -> int:
        return self.execute("EXISTS", *keys)

    def expire(self, key: Scalar, ttl: float | datetime.timedelta) -> int:
        return self.execute("PEXPIRE", key, _milliseconds(ttl))

    def expireat_ms(self, key: Scalar, deadline_ms: int) -> int:
        return self.execute("PEXPIREAT", key, deadline_ms)

    def persist(self, key: Scalar) -> int:
        return self.execute("PERSIST", key)

    def ttl(self, key: Scalar) -> int:
        return self.execute("TTL", key)

    def pttl(self, key: Scalar) -> int:
        return self.execute("PTTL", key)

    def type(self, key: Scalar) -> str:
        reply = self.execute("TYPE", key)
        return str(reply)

    def rename(self, source: Scalar, target: Scalar) -> Any:
        return self.execute("RENAME", source, target)

    def keys(self, pattern: Scalar = "*") -> list[bytes]:
        return self.execute("KEYS", pattern)

    def dbsize(self) -> int:
        return self.execute("DBSIZE")

    def flushall(self) -> Any:
        return self.execute("FLUSHALL")

    # -- hashes ------------------------------------------------------------------------
    def hset(self, key: Scalar, mapping: Mapping[Scalar, Scalar]) -> int:
        return self.execute("HSET", key, *[part for pair in mapping.items() for part in pair])

    def hget(self, key: Scalar, field: Scalar) -> bytes | None:
        return self.execute("HGET", key, field)

    def hgetall(self, key: Scalar) -> dict[bytes, bytes] | None:
        reply = self.execute("HGETALL", key)
        return None if reply is None else dict(zip(reply[0::2], reply[1::2]))

    def hdel(self, key: Scalar, *fields: Scalar) -> int:
        return self.execute("HDEL", key, *fields)

    def hincrby(self, key: Scalar, field: Scalar, amount: int = 1) -> int:
        return self.execute("HINCRBY", key, field, amount)

    def hlen(self, key: Scalar) -> int:
        return self.execute("HLEN", key)

    # -- lists -------------------------------------------------------------------------
    def lpush(self, key: Scalar, *values: Scalar) -> int:
        return self.execute("LPUSH", key, *values)

    def rpush(self, key: Scalar, *values: Scalar) -> int:
        return self.execute("RPUSH", key, *values)

    def lpop(self, key: Scalar, count: int | None = None) -> Any:
        return self.execute("LPOP", key, *([] if count is None else [count]))

    def rpop(self, key: Scalar, count: int | None = None) -> Any:
        return self.execute("RPOP", key, *([] if count is None else [count]))

    def lrange(self, key: Scalar, start: int = 0, stop: int = -1) -> list[bytes]:
        return self.execute("LRANGE", key, start, stop)

    def llen(self, key: Scalar) -> int:
        return self.execute("LLEN", key)

    # -- sets --------------------------------------------------------------------------
    def sadd(self, key: Scalar, *members: Scalar) -> int:
        return self.execute("SADD", key, *members)

    def srem(self, key: Scalar, *members: Scalar) -> int:
        return self.execute("SREM", key, *members)

    def smembers(self, key: Scalar) -> set[bytes] | None:
        reply = self.execute("SMEMBERS", key)
        return None if reply is None else set(reply)

    def sismember(self, key: Scalar, member: Scalar) -> bool | None:
        reply = self.execute("SISMEMBER", key, member)
        return None if reply is None else bool(reply)

    def scard(self, key: Scalar) -> int:
        return self.execute("SCARD", key)

    # -- sorted sets -------------------------------------------------------------------
    def zadd(self, key: Scalar, mapping: Mapping[Scalar, float], *options: str) -> Any:
        """ZADD with options among NX XX GT LT CH INCR, e.g. `zadd("k", {"m": 1.5}, "NX")`."""
        pairs = [part for member, score in mapping.items() for part in (score, member)]
        return self.execute("ZADD", key, *options, *pairs)

    def zscore(self, key: Scalar, member: Scalar) -> float | None:
        return _score(self.execute("ZSCORE", key, member))

    def zincrby(self, key: Scalar, amount: float, member: Scalar) -> float | None:
        return _score(self.execute("ZINCRBY", key, amount, member))

    def zrem(self, key: Scalar, *members: Scalar) -> int:
        return self.execute("ZREM", key, *members)

    def zcard(self, key: Scalar) -> int:
        return self.execute("ZCARD", key)

    def zrange(self, key: Scalar, start: int = 0, stop: int = -1, *, withscores: bool = False) -> Any:
        if not withscores:
            return self.execute("ZRANGE", key, start, stop)
        reply = self.execute("ZRANGE", key, start, stop, "WITHSCORES")
        return [(member, float(score)) for member, score in zip(reply[0::2], reply[1::2])]
