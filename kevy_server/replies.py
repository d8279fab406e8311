"""Reply bytes for a connection's protocol: RESP2 or RESP3, as Redis 7.0 sends them.

Replies come in the model of `kevy_persist.commands.replies` (bytes, int, None, list,
SimpleString, ErrorReply, Double, DoubleText, and the RESP3-shaped lists ScoredPairs,
FieldValueMap, MemberSet, KeyedArrays), plus the shapes only server verbs produce, defined here:

| type          | RESP2                         | RESP3                               |
|---------------|-------------------------------|-------------------------------------|
| `ReplyMap`    | flat array of pairs           | map `%` (HELLO, CONFIG GET, ...)     |
| `Verbatim`    | bulk string                   | verbatim `=` with `txt:` (INFO, ...) |
| `Push`        | array                         | push `>` (pub/sub messages)          |
| `NULL_ARRAY`  | `*-1` (BLPOP timeout, EXEC)   | null `_`                            |
| `Multiple`    | several replies to one request (SUBSCRIBE a b: one per channel)     |

`encode2` / `encode3` are the two encoders; the common replies (OK, small integers, bulk
strings) take one type test and one format each. Error texts never carry CR or LF onto the
wire: they are replaced by spaces, as Redis does, so input echoed in an error cannot forge a
reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kevy_persist.commands.replies import (
    OK,
    Double,
    DoubleText,
    ErrorReply,
    FieldValueMap,
    KeyedArrays,
    MemberSet,
    ScoredPairs,
    SimpleString,
    format_double,
)

__all__ = ["NULL_ARRAY", "OK_BYTES", "Multiple", "Push", "ReplyMap", "Verbatim", "encode2", "encode3", "encoder_for", "error_bytes"]


class ReplyMap(list):
    """Flat [key, value, ...]: a RESP3 map, a flat array in RESP2."""

    __slots__ = ()


class Verbatim(bytes):
    """Text a human reads (INFO, CLIENT LIST): RESP3 verbatim `txt`, a bulk string in RESP2."""

    __slots__ = ()


class Push(list):
    """An out-of-band message (pub/sub): a RESP3 push frame, an array in RESP2."""

    __slots__ = ()


class Multiple(list):
    """Several replies for one request, sent back to back."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

OK_BYTES = _OK_BYTES = b"+OK\r\n"  # public: the loop appends it for OK without a call
_SMALL_INTEGERS = [b":%d\r\n" % number for number in range(-1, 1024)]


def error_bytes(message: str) -> bytes:
    """`-message\\r\\n` with any CR or LF of the message turned into a space."""
    if "\r" in message or "\n" in message:
        message = message.replace("\r", " ").replace("\n", " ")
    return b"-%b\r\n" % message.encode("utf-8", "replace")


def encode2(reply: Any) -> bytes:
    """RESP2 bytes of one reply."""
    kind = reply.__class__
    if kind is bytes:
        return b"$%d\r\n%b\r\n" % (len(reply), reply)
    if reply is OK:
        return _OK_BYTES
    if kind is int:
        if -1 <= reply < 1023:
            return _SMALL_INTEGERS[reply + 1]
        return b":%d\r\n" % reply
    parts: list[bytes] = []
    _into2(reply, parts)
    return b"".join(parts)


def encode3(reply: Any) -> bytes:
    """RESP3 bytes of one reply."""
    kind = reply.__class__
    if kind is bytes:
        return b"$%d\r\n%b\r\n" % (len(reply), reply)
    if reply is OK:
        return _OK_BYTES
    if kind is int:
        if -1 <= reply < 1023:
            return _SMALL_INTEGERS[reply + 1]
        return b":%d\r\n" % reply
    parts: list[bytes] = []
    _into3(reply, parts)
    return b"".join(parts)


def encoder_for(protocol: int) -> Callable[[Any], bytes]:
    return encode3 if protocol == 3 else encode2


def _into2(reply: Any, parts: list[bytes]) -> None:
    kind = reply.__class__
    if kind is bytes or kind is Verbatim or kind is DoubleText:
        parts.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    elif kind is int:
        parts.append(b":%d\r\n" % reply)
    elif reply is None:
        parts.append(b"$-1\r\n")
    elif kind is Multiple:
        for item in reply:
            _into2(item, parts)
    elif isinstance(reply, list):  # list, ReplyMap, Push, ScoredPairs, FieldValueMap, MemberSet
        parts.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _into2(item, parts)
    elif kind is SimpleString:
        parts.append(b"+%b\r\n" % reply.encode())
    elif kind is ErrorReply:
        parts.append(error_bytes(reply))
    elif kind is Double:
        text = format_double(reply)
        parts.append(b"$%d\r\n%b\r\n" % (len(text), text))
    elif reply is NULL_ARRAY:
        parts.append(b"*-1\r\n")
    elif kind is bool:
        parts.append(b":1\r\n" if reply else b":0\r\n")
    else:
        raise AssertionError(f"not a reply: {reply!r}")


def _into3(reply: Any, parts: list[bytes]) -> None:
    kind = reply.__class__
    if kind is bytes:
        parts.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    elif kind is int:
        parts.append(b":%d\r\n" % reply)
    elif reply is None or reply is NULL_ARRAY:
        parts.append(b"_\r\n")
    elif kind is list:
        parts.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _into3(item, parts)
    elif kind is Double:
        parts.append(b",%b\r\n" % format_double(reply))
    elif kind is ReplyMap or kind is FieldValueMap:
        assert len(reply) % 2 == 0
        parts.append(b"%%%d\r\n" % (len(reply) // 2))
        for item in reply:
            _into3(item, parts)
    elif kind is ScoredPairs:
        assert len(reply) % 2 == 0
        parts.append(b"*%d\r\n" % (len(reply) // 2))
        for index in range(0, len(reply), 2):
            parts.append(b"*2\r\n")
            _into3(reply[index], parts)
            _into3(reply[index + 1], parts)
    elif kind is MemberSet:
        parts.append(b"~%d\r\n" % len(reply))
        for item in reply:
            _into3(item, parts)
    elif kind is KeyedArrays:  # XREAD / XREADGROUP: a map of key to entries
        parts.append(b"%%%d\r\n" % len(reply))
        for key, value in reply:
            _into3(key, parts)
            _into3(value, parts)
    elif kind is DoubleText:
        parts.append(b",%b\r\n" % reply)
    elif kind is Push:
        parts.append(b">%d\r\n" % len(reply))
        for item in reply:
            _into3(item, parts)
    elif kind is Multiple:
        for item in reply:
            _into3(item, parts)
    elif kind is Verbatim:
        parts.append(b"=%d\r\ntxt:%b\r\n" % (len(reply) + 4, reply))
    elif kind is SimpleString:
        parts.append(b"+%b\r\n" % reply.encode())
    elif kind is ErrorReply:
        parts.append(error_bytes(reply))
    elif kind is bool:
        parts.append(b"#t\r\n" if reply else b"#f\r\n")
    else:
        raise AssertionError(f"not a reply: {reply!r}")
