"""Requests of a client that has not authenticated yet, split one at a time under small limits.

With a password set, Redis lets a client that has not authenticated send only small requests
(at most 10 arguments, bulks of at most 16 KiB), so a stranger cannot make the server buffer
a 512 MiB request before it is even known who they are. The texts are Redis 7.0's:
`Protocol error: unauthenticated multibulk length` / `... bulk length`.

`split_unauthenticated(buffer)` finds the first whole request in `buffer` (pure, no I/O): a
multibulk frame or an inline line. It returns `(argv, consumed)` -- `([], n)` for an empty
request, `(None, 0)` when the request is not complete yet -- or raises
`UnauthenticatedRequestError`. The caller runs each request before splitting the next, so
an AUTH early in a pipeline lifts the limits for what follows.
"""

from __future__ import annotations

from .inline import InlineError, split_inline

__all__ = ["MAX_UNAUTHENTICATED_ARGUMENTS", "MAX_UNAUTHENTICATED_BULK_BYTES", "UnauthenticatedRequestError",
           "split_unauthenticated"]

MAX_UNAUTHENTICATED_ARGUMENTS = 10
MAX_UNAUTHENTICATED_BULK_BYTES = 16 * 1024
MAX_INLINE_BYTES = 64 * 1024
_HEADER_LIMIT = 32  # "*" or "$", a number, CRLF: anything longer is not a header we accept


class UnauthenticatedRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _number(buffer: bytearray, start: int) -> tuple[int | None, int]:
    """The integer on the line starting at `start` (after its type byte) and the next offset;
    (None, 0) when the line is not complete."""
    end = buffer.find(b"\r\n", start, start + _HEADER_LIMIT)
    if end < 0:
        if len(buffer) - start >= _HEADER_LIMIT:
            raise UnauthenticatedRequestError("ERR Protocol error: too big mbulk count string")
        return None, 0
    text = bytes(buffer[start:end])
    try:
        return int(text), end + 2
    except ValueError:
        return -(1 << 62), end + 2  # not a number: refused by the range checks below


def split_unauthenticated(buffer: bytearray) -> tuple[list[bytes] | None, int]:
    if not buffer:
        return None, 0
    if buffer[0] != ord("*"):
        newline = buffer.find(b"\n")
        if newline < 0:
            if len(buffer) > MAX_INLINE_BYTES:
                raise UnauthenticatedRequestError("ERR Protocol error: too big inline request")
            return None, 0
        try:
            return split_inline(bytes(buffer[:newline])), newline + 1
        except InlineError as error:
            raise UnauthenticatedRequestError(f"ERR Protocol error: {error}") from None
    count, position = _number(buffer, 1)
    if count is None:
        return None, 0
    if count > MAX_UNAUTHENTICATED_ARGUMENTS:
        raise UnauthenticatedRequestError("ERR Protocol error: unauthenticated multibulk length")
    if count <= 0:
        if count < -1:
            raise UnauthenticatedRequestError("ERR Protocol error: invalid multibulk length")
        return [], position
    argv: list[bytes] = []
    for _ in range(count):
        if position >= len(buffer):
            return None, 0
        if buffer[position] != ord("$"):
            got = chr(buffer[position])
            raise UnauthenticatedRequestError(f"ERR Protocol error: expected '$', got '{got}'")
        length, data_start = _number(buffer, position + 1)
        if length is None:
            return None, 0
        if length > MAX_UNAUTHENTICATED_BULK_BYTES:
            raise UnauthenticatedRequestError("ERR Protocol error: unauthenticated bulk length")
        if length < 0:
            raise UnauthenticatedRequestError("ERR Protocol error: invalid bulk length")
        if data_start + length + 2 > len(buffer):
            return None, 0
        argv.append(bytes(buffer[data_start : data_start + length]))
        position = data_start + length + 2
    return argv, position
