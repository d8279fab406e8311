"""The reply model of command semantics, independent of any wire protocol.

bulk string = `bytes`, integer = `int`, nil = `None`, array = `list`, status = `SimpleString`,
error = `ErrorReply` (the full Redis message, prefix included), double = `Double`. RESP2 sends a
double as a bulk string formatted like Redis 7.0 (`%.17g`, `inf`, `-inf`); `format_double`
gives exactly those bytes, and `encode_resp2` renders any reply for tests and simple servers.

Four list subclasses carry the shape RESP3 gives some replies while RESP2 sends them as
flat arrays: `ScoredPairs` (WITHSCORES ranges, ZPOPMIN/MAX with a count, HRANDFIELD
WITHVALUES: a RESP3 array of 2-element [member, score-or-value] arrays), `FieldValueMap`
(HGETALL, LCS IDX, XINFO: a RESP3 map), `MemberSet` (SMEMBERS, SINTER...: a RESP3 set) and
`KeyedArrays` (XREAD, XREADGROUP: RESP2 sends [[key, value], ...], RESP3 a map of key to
value). `DoubleText` is a double Redis prints in its "human" long-double form (GEOPOS
coordinates): a bulk string in RESP2, a RESP3 double carrying the same text.
`encode_resp3` renders them as Redis 7.0 does after HELLO 3.
"""

from __future__ import annotations

import math
from typing import Any


class SimpleString(str):
    """A status reply such as OK or PONG."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SimpleString({str(self)!r})"


class ErrorReply(str):
    """An error reply: the whole message, e.g. 'ERR syntax error'."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ErrorReply({str(self)!r})"


class Double(float):
    """A double reply (ZSCORE, ZINCRBY...); RESP2 renders it as a bulk string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Double({float(self)!r})"


class DoubleText(bytes):
    """A double already formatted by Redis's rules (e.g. GEOPOS's `%.17Lf` without trailing
    zeros): RESP2 sends the text as a bulk string, RESP3 as a double (`,text`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"DoubleText({bytes(self)!r})"


class ScoredPairs(list):
    """Flat [member, Double(score), ...] (or [field, value, ...]); RESP3 nests each pair in
    a 2-element array."""

    __slots__ = ()


class FieldValueMap(list):
    """Flat [field, value, ...]; RESP3 sends it as a map."""

    __slots__ = ()


class MemberSet(list):
    """The members of a set reply; RESP3 sends it as a set."""

    __slots__ = ()


class KeyedArrays(list):
    """[[key, value], ...]: RESP2 sends it as is, RESP3 as a map of key to value."""

    __slots__ = ()


OK = SimpleString("OK")
PONG = SimpleString("PONG")
QUEUED = SimpleString("QUEUED")

Reply = Any  # bytes | int | None | list | SimpleString | ErrorReply | Double


def format_double(value: float) -> bytes:
    """Redis 7.0's addReplyDouble text: inf / -inf, else printf('%.17g')."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return (b"%.17g" % value)


def encode_resp2(reply: Reply) -> bytes:
    """RESP2 bytes of a reply (doubles become bulk strings, as Redis 7.0 sends them)."""
    parts: list[bytes] = []
    _encode_into(reply, parts)
    return b"".join(parts)


def _encode_into(reply: Reply, parts: list[bytes]) -> None:
    if reply is None:
        parts.append(b"$-1\r\n")
    elif type(reply) is bytes:
        parts.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    elif type(reply) is int:
        parts.append(b":%d\r\n" % reply)
    elif isinstance(reply, list):
        parts.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode_into(item, parts)
    elif type(reply) is SimpleString:
        parts.append(b"+%b\r\n" % reply.encode())
    elif type(reply) is ErrorReply:
        parts.append(b"-%b\r\n" % reply.encode())
    elif type(reply) is Double:
        text = format_double(reply)
        parts.append(b"$%d\r\n%b\r\n" % (len(text), text))
    elif type(reply) is DoubleText:
        parts.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    else:
        raise AssertionError(f"not a reply: {reply!r}")


def to_resp2_value(reply: Reply) -> Any:
    """The value a RESP2 client (redis-py, decode_responses=False) would see for `reply`.

    Status replies arrive as bytes-free strings in redis-py; here they are normalized to
    bytes, errors to ErrorReply, doubles to their bulk text.
    """
    if isinstance(reply, list):
        return [to_resp2_value(item) for item in reply]
    if type(reply) is Double:
        return format_double(reply)
    if type(reply) is DoubleText:
        return bytes(reply)
    if type(reply) is SimpleString:
        return reply.encode()
    return reply


def encode_resp3(reply: Reply) -> bytes:
    """RESP3 bytes of a reply, as Redis 7.0 sends them to a client that said HELLO 3."""
    parts: list[bytes] = []
    _encode3_into(reply, parts)
    return b"".join(parts)


def _encode3_into(reply: Reply, parts: list[bytes]) -> None:
    kind = type(reply)
    if reply is None:
        parts.append(b"_\r\n")
    elif kind is Double:
        parts.append(b",%b\r\n" % format_double(reply))
    elif kind is DoubleText:
        parts.append(b",%b\r\n" % reply)
    elif kind is ScoredPairs:
        assert len(reply) % 2 == 0
        parts.append(b"*%d\r\n" % (len(reply) // 2))
        for index in range(0, len(reply), 2):
            parts.append(b"*2\r\n")
            _encode3_into(reply[index], parts)
            _encode3_into(reply[index + 1], parts)
    elif kind is FieldValueMap:
        assert len(reply) % 2 == 0
        parts.append(b"%%%d\r\n" % (len(reply) // 2))
        for item in reply:
            _encode3_into(item, parts)
    elif kind is KeyedArrays:
        parts.append(b"%%%d\r\n" % len(reply))
        for key, value in reply:
            _encode3_into(key, parts)
            _encode3_into(value, parts)
    elif kind is MemberSet:
        parts.append(b"~%d\r\n" % len(reply))
        for item in reply:
            _encode3_into(item, parts)
    elif kind is list:
        parts.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode3_into(item, parts)
    else:
        _encode_into(reply, parts)
