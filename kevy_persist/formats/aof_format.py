"""The KEVYAOF1 / KEVYAOF2 log formats (pure codec; see specs/aof-format.md).

    v1 file = "KEVYAOF1\n" frame*            (kevy 1.23; a headerless file of frames is a
                                               pre-1.2 kevy log and reads as v1)
    v2 file = "KEVYAOF2\n" record*
    record  = payload_length:u32 LE  crc32c(payload):u32 LE  payload
    payload = exactly one RESP multibulk frame, 1 <= payload_length <= 2^30

Logs we write begin (after the header) with an epoch marker record; transactions are
bracketed by marker records. Their encodings, one per format, are in `log_markers.py`; this
codec reads them like any argv. A file never mixes formats.

`read_record` decodes the record at an offset of a buffer and returns `(argv, end_offset)`,
`NeedMore(required_end)`, or raises `RecordError(offset, reason)`. `probe_record` asks the
same question of a candidate position while searching for a valid record past damage, which
is what tells a torn tail (nothing valid follows) from corruption (valid records follow).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence

from kevy_persist.errors import KevyError
from kevy_persist.formats.crc import crc32c
from kevy_persist.formats.log_markers import (
    BEGIN_NAME,
    COMMIT_NAME,
    EPOCH_KINDS,
    EPOCH_NAME,
    EpochMarker,
    epoch_marker_argv,
    is_epoch_marker,
    parse_epoch_marker,
)
from kevy_persist.formats.resp import (
    MalformedFrameError,
    NeedMore,
    decode_command,
    decode_exactly_one,
    encode_command,
)

MAGIC_V1 = b"KEVYAOF1\n"
MAGIC_V2 = b"KEVYAOF2\n"
HEADER_SIZE = 9
MAX_RECORD_BYTES = 1 << 30
RECORD_HEADER = struct.Struct("<II")

# Marker records (epoch, transaction brackets) live in log_markers.py; re-exported here.
EPOCH_MARKER_NAME = EPOCH_NAME
MULTI_MARKER_NAME = BEGIN_NAME
EXEC_MARKER_NAME = COMMIT_NAME

_MAGIC_BY_VERSION = {1: MAGIC_V1, 2: MAGIC_V2}
_NOT_ZERO = re.compile(rb"[^\x00]")


class RecordError(KevyError):
    """The bytes at `offset` are not a valid record of the log's format."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"bad log record at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def header_for(format_version: int) -> bytes:
    return _MAGIC_BY_VERSION[format_version]


def detect_format(head: bytes) -> tuple[int, int] | None:
    """`(format_version, header_size)` from a file's first bytes (up to 9 suffice).

    None when `head` is empty or a strict prefix of a magic (a torn header). Raises
    `RecordError(0, ...)` for anything else that is not a log.
    """
    if head.startswith(MAGIC_V2):
        return 2, HEADER_SIZE
    if head.startswith(MAGIC_V1):
        return 1, HEADER_SIZE
    if len(head) < HEADER_SIZE and (MAGIC_V1.startswith(head) or MAGIC_V2.startswith(head)):
        return None
    if head.startswith(b"*"):
        return 1, 0
    raise RecordError(0, "not a kevy log: no KEVYAOF1/KEVYAOF2 header")


def encode_record(format_version: int, argv: Sequence[bytes]) -> bytes:
    """One record holding `argv` in the given format."""
    frame = encode_command(argv)
    if format_version == 1:
        return frame
    assert format_version == 2, format_version
    assert len(frame) <= MAX_RECORD_BYTES, "a record payload is at most 1 GiB"
    return RECORD_HEADER.pack(len(frame), crc32c(frame)) + frame


def encode_records(format_version: int, argvs: Iterable[Sequence[bytes]]) -> bytes:
    return b"".join([encode_record(format_version, argv) for argv in argvs])


def read_record(
    format_version: int,
    buffer: bytes,
    position: int,
    parse: bool = True,
    decode: Callable[[bytes], list[bytes]] = decode_exactly_one,
) -> tuple[list[bytes] | None, int] | NeedMore:
    """The record starting at `position` of `buffer` (offsets are relative to `buffer`).

    With `parse=False` a v2 record is checked by length and checksum only and its argv is
    None (a fast scan; replay parses and reports a checksummed non-command as corruption).
    `decode` turns a v2 payload into its command (`resp.PayloadDecoder.decode` when many
    records are read in a row: it reuses one hiredis reader).
    """
    if format_version == 1:
        try:
            return decode_command(buffer, position)
        except MalformedFrameError as error:
            raise RecordError(error.offset, error.reason) from None
    header_end = position + 8
    if header_end > len(buffer):
        return NeedMore(header_end)
    length, checksum = RECORD_HEADER.unpack_from(buffer, position)
    if length == 0 or length > MAX_RECORD_BYTES:
        raise RecordError(position, f"record length {length} out of range")
    end = header_end + length
    if end > len(buffer):
        return NeedMore(end)
    payload = buffer[header_end:end]
    if crc32c(payload) != checksum:
        raise RecordError(position, "record checksum mismatch")
    if not parse:
        return None, end
    try:
        return decode(payload), end
    except MalformedFrameError as error:
        raise RecordError(position, f"checksummed payload is not one command: {error.reason}") from None


def probe_record(
    format_version: int, buffer: bytes, position: int, available_end: int
) -> int | NeedMore | None:
    """Whether a valid record starts at `position`: its end, None (no), or NeedMore.

    `available_end` is where the file ends, relative to `buffer`: a record that would need
    bytes beyond it cannot be valid, so NeedMore is only returned for bytes the file has.
    """
    if format_version == 1 and buffer[position] != 0x2A:  # '*'
        return None
    try:
        result = read_record(format_version, buffer, position)
    except RecordError:
        return None
    if result.__class__ is NeedMore:
        return None if result.required_end > available_end else result  # type: ignore[union-attr]
    return result[1]  # type: ignore[index]


def next_candidate(format_version: int, buffer: bytes, position: int) -> int:
    """The first position >= `position` where a record could start (skips impossible bytes).

    v1 frames start with '*'; a v2 record's length field is never all zeros, so a run of
    zero bytes (a zero-filled tail) is skipped to three bytes before its first nonzero byte.
    Returns `len(buffer)` when no candidate remains in the buffer.
    """
    if format_version == 1:
        found = buffer.find(b"*", position)
        return len(buffer) if found < 0 else found
    match = _NOT_ZERO.search(buffer, position)
    if match is None:
        return max(position, len(buffer) - 3)
    return max(position, match.start() - 3)
