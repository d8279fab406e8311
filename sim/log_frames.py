"""The oracle's own reading of a KEVYAOF2 log's framing, to locate bit-flip damage.

What it is for. Under `--fault bitflip` the explorer knows which byte of which file it
flipped; the oracle must know which record that byte belongs to, and whether valid records
follow it, without asking the code under test. KEVYAOF2 framing is small enough to read
here independently (specs/log-format.md): `KEVYAOF2\\n`, then records
`payload_len u32 LE | crc32c(payload) u32 LE | payload`. A record whose payload's first
argument starts with `\\0KEVY` is a marker (epoch, synced, transaction), not an operation.
Only the frames are read -- never the commands -- and a frame that does not parse ends the
walk (what follows is a torn tail as far as the oracle is concerned).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import crc32c as crc32c_library

MAGIC = b"KEVYAOF2\n"
_FRAME = struct.Struct("<II")
_MAX_PAYLOAD_BYTES = 1 << 30


class Frame(NamedTuple):
    start: int  # offset of the frame's header
    end: int  # offset just past its payload
    marker: bool


def frames(data: bytes) -> list[Frame]:
    """Every whole frame with a matching checksum, from the header on, until the first that
    does not parse."""
    if not data.startswith(MAGIC):
        return []
    found = []
    position = len(MAGIC)
    while position + _FRAME.size <= len(data):
        length, checksum = _FRAME.unpack_from(data, position)
        end = position + _FRAME.size + length
        if not 1 <= length <= _MAX_PAYLOAD_BYTES or end > len(data):
            break
        payload = data[position + _FRAME.size:end]
        if crc32c_library.crc32c(payload) != checksum:
            break
        found.append(Frame(position, end, _is_marker(payload)))
        position = end
    return found


def _is_marker(payload: bytes) -> bool:
    # `*<n>\r\n$<len>\r\n<first argument>...`: look at the first argument's bytes.
    first_line = payload.find(b"\r\n")
    second_line = payload.find(b"\r\n", first_line + 2)
    if first_line < 0 or second_line < 0:
        return False
    return payload[second_line + 2:second_line + 7] == b"\x00KEVY"


class Damage(NamedTuple):
    """Where a flip hit a log: the first operation it can take away (the operation of the
    damaged record, or of the next record when it hit a marker or the header), and whether
    any valid record follows the damaged one (then nothing may be dropped silently)."""

    first_lost_operation: int
    valid_after: bool


def damage_in_log(undamaged: bytes, byte_offset: int) -> Damage | None:
    """Locate `byte_offset` among the frames of the undamaged log, where frame j that is
    not a marker holds operation j' (operations numbered in log order). None when the byte
    is past the whole frames (a torn tail's bytes)."""
    walked = frames(undamaged)
    operations_before = 0
    for index, frame in enumerate(walked):
        if byte_offset < frame.end:
            return Damage(operations_before, index + 1 < len(walked))
        if not frame.marker:
            operations_before += 1
    if byte_offset < len(MAGIC):
        return Damage(0, bool(walked))
    return None
