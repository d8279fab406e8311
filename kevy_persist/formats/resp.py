"""RESP multibulk commands: encode an argv as one frame, decode frames from a buffer (pure).

A logged command is an argv (`list[bytes]`) written as a RESP multibulk frame:
`*<count>\r\n` then, per argument, `$<length>\r\n<bytes>\r\n`. This module is the one place
that knows the framing; the log formats (`aof_format`) and the network server build on it.

Decoding is incremental and exact about positions: `decode_command(buffer, start)` returns the
argv and the absolute offset where the frame ends, or a `NeedMore` naming the smallest buffer
end at which the frame could complete, or raises `MalformedFrameError` with the offset of the
first byte that cannot belong to a frame. A v1 log's valid prefix ends at the last complete
frame, so the offsets must be those of the bytes actually read (no re-encoding).

Guarantees: never allocates more than the buffer holds (a declared length or count is compared
with the bytes present before anything is built); counts above 1,048,576 and bulk lengths above
512 MiB are malformed (Redis's and kevy's protocol limits); an empty command (`*0`) or a null
array (`*-1`) is malformed here, because no writer logs one.
"""

from __future__ import annotations

try:  # C-backed RESP parsing for checksummed payloads; the pure parser is the reference
    import hiredis as _hiredis
except ImportError:  # pragma: no cover -- hiredis is a declared dependency
    _hiredis = None

from collections.abc import Iterable, Sequence

import attrs

from kevy_persist.errors import KevyError

MAX_ARGUMENT_COUNT = 1024 * 1024
MAX_BULK_BYTES = 512 * 1024 * 1024
# "$" + at most 10 digits + CRLF; longer headers are malformed, not "need more".
_MAX_BULK_HEADER_BYTES = 13
# "*" + at most 8 digits + CRLF.
_MAX_COUNT_HEADER_BYTES = 11
# The smallest encoded argument: "$0\r\n\r\n".
_MIN_ARGUMENT_BYTES = 6

_ASTERISK = ord("*")
_DOLLAR = ord("$")


class MalformedFrameError(KevyError):
    """The bytes at `offset` cannot be part of a RESP multibulk command frame."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"malformed RESP frame at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@attrs.frozen
class NeedMore:
    """The frame is incomplete; it cannot end before absolute offset `required_end`."""

    required_end: int


def encode_command(argv: Sequence[bytes]) -> bytes:
    """One RESP multibulk frame for `argv` (at least one argument)."""
    assert len(argv) > 0, "a command has at least one argument"
    parts = [b"*%d\r\n" % len(argv)]
    append = parts.append
    for argument in argv:
        append(b"$%d\r\n" % len(argument))
        append(argument)
        append(b"\r\n")
    return b"".join(parts)


def encode_commands(argvs: Iterable[Sequence[bytes]]) -> bytes:
    """The frames of several commands, back to back (one buffer for one write)."""
    return b"".join([encode_command(argv) for argv in argvs])


def decode_command(buffer: bytes, start: int = 0) -> tuple[list[bytes], int] | NeedMore:
    """Decode the frame beginning at `start`.

    Returns `(argv, end_offset)` with `buffer[start:end_offset]` exactly the frame, or
    `NeedMore(required_end)`. Raises `MalformedFrameError(offset, reason)`.
    """
    end = len(buffer)
    if start >= end:
        return NeedMore(start + 1)
    if buffer[start] != _ASTERISK:
        raise MalformedFrameError(start, "expected '*' to start a multibulk frame")
    line_end = buffer.find(b"\r\n", start + 1, start + _MAX_COUNT_HEADER_BYTES)
    if line_end < 0:
        if end - start >= _MAX_COUNT_HEADER_BYTES:
            raise MalformedFrameError(start, "argument count header is not terminated")
        return NeedMore(end + 1)
    digits = buffer[start + 1 : line_end]
    if not digits.isdigit():
        raise MalformedFrameError(start, "argument count is not a decimal number")
    count = int(digits)
    if count == 0:
        raise MalformedFrameError(start, "empty command")
    if count > MAX_ARGUMENT_COUNT:
        raise MalformedFrameError(start, "argument count exceeds 1048576")
    position = line_end + 2
    argv: list[bytes] = []
    append = argv.append
    find = buffer.find
    for remaining in range(count - 1, -1, -1):
        if position >= end:
            return NeedMore(position + _MIN_ARGUMENT_BYTES * (remaining + 1))
        if buffer[position] != _DOLLAR:
            raise MalformedFrameError(position, "expected '$' to start a bulk argument")
        line_end = find(b"\r\n", position + 1, position + _MAX_BULK_HEADER_BYTES)
        if line_end < 0:
            if end - position >= _MAX_BULK_HEADER_BYTES:
                raise MalformedFrameError(position, "bulk length header is not terminated")
            return NeedMore(end + 1 + _MIN_ARGUMENT_BYTES * remaining)
        digits = buffer[position + 1 : line_end]
        if not digits.isdigit():
            raise MalformedFrameError(position, "bulk length is not a decimal number")
        length = int(digits)
        if length > MAX_BULK_BYTES:
            raise MalformedFrameError(position, "bulk length exceeds 512 MiB")
        data_start = line_end + 2
        data_end = data_start + length
        if data_end + 2 > end:
            return NeedMore(data_end + 2 + _MIN_ARGUMENT_BYTES * remaining)
        if buffer[data_end] != 13 or buffer[data_end + 1] != 10:
            raise MalformedFrameError(data_end, "bulk argument is not CRLF-terminated")
        append(bytes(buffer[data_start:data_end]))
        position = data_end + 2
    return argv, position


def _plausible_count(payload: bytes) -> bool:
    """`*<count>\r\n` opens the payload and the payload could hold that many arguments."""
    header_end = payload.find(b"\r\n", 0, _MAX_COUNT_HEADER_BYTES)
    if header_end < 2 or payload[:1] != b"*" or not payload[1:header_end].isdigit():
        return False
    count = int(payload[1:header_end])
    return 0 < count <= MAX_ARGUMENT_COUNT and count * _MIN_ARGUMENT_BYTES <= len(payload) - header_end


_BYTES_ONLY = {bytes}


class PayloadDecoder:
    """`decode_exactly_one` for a stream of payloads (replay), with one hiredis reader reused
    from payload to payload: building a reader costs more than parsing a small command.

    The reader is replaced whenever a payload does not come out as exactly one flat array of
    bulk strings filling it (it may then hold a partial frame); that payload goes to the exact
    parser, which accepts it or names the offset and reason. Not thread-safe: one per reader
    of a log.
    """

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader = _hiredis.Reader() if _hiredis is not None else None

    def decode(self, payload: bytes) -> list[bytes]:
        reader = self._reader
        if reader is not None and payload[:1] == b"*":
            header_end = payload.find(b"\r\n", 1, _MAX_COUNT_HEADER_BYTES)
            digits = payload[1:header_end]
            # The count is checked first because hiredis reserves memory for the count it is
            # told; a payload of n bytes cannot hold more than n / 6 arguments.
            if header_end > 1 and digits.isdigit() and 0 < int(digits) <= min(
                MAX_ARGUMENT_COUNT, (len(payload) - header_end) // _MIN_ARGUMENT_BYTES
            ):
                try:
                    reader.feed(payload)
                    argv = reader.gets()
                except _hiredis.ProtocolError:
                    argv = None
                if argv.__class__ is list and not reader.has_data() and set(map(type, argv)) == _BYTES_ONLY:
                    return argv
                self._reader = _hiredis.Reader()
        return decode_exactly_one(payload)


def decode_exactly_one(payload: bytes) -> list[bytes]:
    """The single command that fills `payload` entirely (a KEVYAOF2 record payload).

    Raises `MalformedFrameError` when `payload` is malformed, incomplete or holds more bytes
    than one frame.
    """
    if _hiredis is not None and _plausible_count(payload):
        # Fast path (replay decodes every record through here): hiredis, then a check that it
        # found exactly one flat array of bulk strings filling the payload; anything else is
        # left to the exact parser below, which names the offset and reason. The count is
        # checked first because hiredis reserves memory for the count it is told.
        reader = _hiredis.Reader()
        try:
            reader.feed(payload)
            argv = reader.gets()
        except _hiredis.ProtocolError:
            argv = None
        if argv.__class__ is list and argv and not reader.has_data() and all(
            argument.__class__ is bytes for argument in argv
        ):
            return argv
    result = decode_command(payload, 0)
    if result.__class__ is NeedMore:
        raise MalformedFrameError(len(payload), "frame is incomplete")
    argv, end_offset = result  # type: ignore[misc]
    if end_offset != len(payload):
        raise MalformedFrameError(end_offset, "bytes follow the frame")
    return argv
