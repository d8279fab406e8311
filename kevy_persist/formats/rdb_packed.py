"""The packed structures inside RDB strings: listpack, ziplist, intset (pure codecs).

Each decoder takes the whole blob and returns its elements as `bytes` (integers as their
decimal text, which is what Redis replies with), or raises `PackedError(offset, reason)`
with the offset inside the blob. Every check Redis's deep integrity validation makes is made
here, because these bytes come from a file or a client: header size = blob size, the end
byte, each entry's bounds, each listpack back-length and ziplist prev-length, the element
count in the header, an intset's encoding, size and strict order. Nothing is allocated from
a length before it is checked against the blob.

Formats (all little-endian unless said):

- listpack: total_bytes:u32 count:u16 entry* 0xFF; entry = encoding [data] backlen, where
  the first byte says 0xxxxxxx 7-bit uint | 10xxxxxx 6-bit-length string | 110xxxxx +1 byte
  13-bit int | 1110xxxx +1 byte 12-bit-length string | 0xF0 u32-length string | 0xF1..0xF4
  int16/int24/int32/int64; backlen = (encoding + data) size in 1..5 bytes, 7 bits each, the
  last byte first, high bit set on all but the first. count 65535 = "unknown".
- ziplist: total_bytes:u32 tail_offset:u32 count:u16 entry* 0xFF; entry = prevlen
  (1 byte < 254, or 0xFE + u32) encoding data, where 00xxxxxx 6-bit-length string |
  01xxxxxx +1 byte 14-bit length (big-endian) | 10xxxxxx + u32 big-endian length | 0xC0
  int16 | 0xD0 int32 | 0xE0 int64 | 0xF0 int24 | 0xFE int8 | 0xF1..0xFD the value 0..12.
- intset: encoding:u32 (2, 4 or 8 bytes per member) count:u32 member*, signed, strictly
  ascending, never empty.

One encoder: `encode_listpack` (what stream nodes are written as), as Redis's lpAppend /
lpAppendInteger lay elements out: integers, and strings that spell a 64-bit integer in
canonical decimal (they decode to the same bytes), in the smallest integer encoding; other
strings in the smallest string encoding.
"""

from __future__ import annotations

import struct

LISTPACK_HEADER_SIZE = 6
LISTPACK_END = 0xFF
LISTPACK_UNKNOWN_COUNT = 0xFFFF
ZIPLIST_HEADER_SIZE = 10
ZIPLIST_END = 0xFF
ZIPLIST_BIG_PREVLEN = 254
ZIPLIST_UNKNOWN_COUNT = 0xFFFF
INTSET_HEADER_SIZE = 8

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_BIG_U32 = struct.Struct(">I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_INTSET_MEMBER_FORMATS = {2: "<h", 4: "<i", 8: "<q"}
# Ziplist integer encodings: byte -> (struct, size); immediates 0xF1..0xFD are separate.
_ZIPLIST_INTEGERS = {0xC0: (_I16, 2), 0xD0: (_I32, 4), 0xE0: (_I64, 8), 0xFE: (struct.Struct("<b"), 1)}


class PackedError(Exception):
    """A packed structure that does not follow its format (`offset` inside the blob)."""

    def __init__(self, structure: str, offset: int, reason: str) -> None:
        super().__init__(f"{structure} byte {offset}: {reason}")
        self.structure = structure
        self.offset = offset
        self.reason = reason


def listpack_backlen(entry_size: int) -> bytes:
    """The back-length bytes a listpack entry of `entry_size` bytes ends with."""
    if entry_size <= 127:
        return bytes((entry_size,))
    if entry_size < 16383:
        return bytes((entry_size >> 7, (entry_size & 127) | 128))
    if entry_size < 2097151:
        return bytes((entry_size >> 14, ((entry_size >> 7) & 127) | 128, (entry_size & 127) | 128))
    if entry_size < 268435455:
        return bytes((
            entry_size >> 21, ((entry_size >> 14) & 127) | 128,
            ((entry_size >> 7) & 127) | 128, (entry_size & 127) | 128,
        ))
    return bytes((
        entry_size >> 28, ((entry_size >> 21) & 127) | 128, ((entry_size >> 14) & 127) | 128,
        ((entry_size >> 7) & 127) | 128, (entry_size & 127) | 128,
    ))


def _listpack_integer(number: int) -> bytes:
    """The encoding + data of a listpack integer (the smallest that holds it)."""
    if 0 <= number <= 127:
        return bytes((number,))
    if -4096 <= number <= 4095:
        number &= 0x1FFF
        return bytes((0xC0 | number >> 8, number & 0xFF))
    if -(1 << 15) <= number < 1 << 15:
        return b"\xf1" + _I16.pack(number)
    if -(1 << 23) <= number < 1 << 23:
        return b"\xf2" + (number & 0xFFFFFF).to_bytes(3, "little")
    if -(1 << 31) <= number < 1 << 31:
        return b"\xf3" + _I32.pack(number)
    return b"\xf4" + _I64.pack(number)


def _listpack_string(value: bytes) -> bytes:
    """The encoding + data of a listpack string."""
    size = len(value)
    if size < 64:
        return bytes((0x80 | size,)) + value
    if size < 4096:
        return bytes((0xE0 | size >> 8, size & 0xFF)) + value
    return b"\xf0" + _U32.pack(size) + value


_DECIMAL_FIRST = frozenset(b"-0123456789")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _canonical_integer(value: bytes) -> int | None:
    """The integer a string spells in canonical decimal within 64 bits (it then decodes to
    the same bytes from an integer encoding), else None."""
    if not value or len(value) > 20 or value[0] not in _DECIMAL_FIRST:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if b"%d" % number != value or not _INT64_MIN <= number <= _INT64_MAX:
        return None
    return number


# The encoded entries (backlen included) of the small integers stream nodes are full of.
_SMALL_INTEGER_ENTRIES = {number: bytes((number, 1)) for number in range(128)}


def encode_listpack(items: list[bytes | int]) -> bytes:
    """A listpack holding `items` in order; ints are written as integers, bytes as strings
    (or as integers when they spell one canonically).

    Raises `ValueError` when the result cannot be a listpack (over 2^32 - 1 bytes).
    """
    parts: list[bytes] = []
    append = parts.append
    small = _SMALL_INTEGER_ENTRIES
    decimal_first = _DECIMAL_FIRST
    for item in items:
        if type(item) is int:
            entry = small.get(item)
            if entry is None:
                body = _listpack_integer(item)
                entry = body + listpack_backlen(len(body))
            append(entry)
            continue
        size = len(item)
        if size and size <= 20 and item[0] in decimal_first:
            number = _canonical_integer(item)
            if number is not None:
                entry = small.get(number)
                if entry is None:
                    body = _listpack_integer(number)
                    entry = body + listpack_backlen(len(body))
                append(entry)
                continue
        if size < 64:
            # The common entry in one formatting call: 6-bit length, bytes, back-length
            # (1 + size <= 64, one byte).
            append(b"%c%b%c" % (0x80 | size, item, size + 1))
        else:
            body = _listpack_string(item)
            append(body + listpack_backlen(len(body)))
    body_bytes = b"".join(parts)
    total = LISTPACK_HEADER_SIZE + len(body_bytes) + 1
    if total > 0xFFFFFFFF:
        raise ValueError(f"a listpack of {total} bytes exceeds the 32-bit size field")
    count = min(len(items), LISTPACK_UNKNOWN_COUNT)
    return _U32.pack(total) + _U16.pack(count) + body_bytes + bytes((LISTPACK_END,))


def _listpack_entry(blob: bytes, position: int, end: int) -> tuple[bytes, int]:
    """The element at `position` and the size of its encoding + data (backlen excluded)."""
    first = blob[position]
    if first < 0x80:
        return b"%d" % first, 1
    if first < 0xC0:
        size = 1 + (first & 0x3F)
        if position + size > end:
            raise PackedError("listpack", position, "entry runs past the end")
        return blob[position + 1 : position + size], size
    if first < 0xE0:
        _need(position, 2, end)
        value = ((first & 0x1F) << 8) | blob[position + 1]
        return b"%d" % (value - 8192 if value >= 4096 else value), 2
    if first < 0xF0:
        _need(position, 2, end)
        size = 2 + (((first & 0x0F) << 8) | blob[position + 1])
        _need(position, size, end)
        return blob[position + 2 : position + size], size
    if first == 0xF0:
        _need(position, 5, end)
        size = 5 + _U32.unpack_from(blob, position + 1)[0]
        _need(position, size, end)
        return blob[position + 5 : position + size], size
    if first == 0xF1:
        _need(position, 3, end)
        return b"%d" % _I16.unpack_from(blob, position + 1)[0], 3
    if first == 0xF2:
        _need(position, 4, end)
        value = blob[position + 1] | blob[position + 2] << 8 | blob[position + 3] << 16
        return b"%d" % (value - (1 << 24) if value >= 1 << 23 else value), 4
    if first == 0xF3:
        _need(position, 5, end)
        return b"%d" % _I32.unpack_from(blob, position + 1)[0], 5
    if first == 0xF4:
        _need(position, 9, end)
        return b"%d" % _I64.unpack_from(blob, position + 1)[0], 9
    if first == LISTPACK_END:
        raise PackedError("listpack", position, "end byte before the end of the listpack")
    raise PackedError("listpack", position, f"unknown entry encoding 0x{first:02x}")


def _need(position: int, size: int, end: int) -> None:
    if position + size > end:
        raise PackedError("listpack", position, "entry runs past the end")


def listpack_entries(blob: bytes) -> list[bytes]:
    """Every element of a listpack, in order."""
    size = len(blob)
    if size < LISTPACK_HEADER_SIZE + 1:
        raise PackedError("listpack", 0, f"{size} bytes cannot hold a listpack header")
    declared = _U32.unpack_from(blob, 0)[0]
    if declared != size:
        raise PackedError("listpack", 0, f"header says {declared} bytes, the string holds {size}")
    end = size - 1
    if blob[end] != LISTPACK_END:
        raise PackedError("listpack", end, "does not end with 0xFF")
    count = _U16.unpack_from(blob, 4)[0]
    items: list[bytes] = []
    append = items.append
    position = LISTPACK_HEADER_SIZE
    while position < end:
        first = blob[position]
        # The common entries inline: a 7-bit integer, a string of at most 63 bytes, and a
        # one-byte back-length (entries of at most 127 bytes); `_listpack_entry` the rest.
        if first < 0x80:
            value, entry_size = b"%d" % first, 1
        elif first < 0xC0 and position + 1 + (first & 0x3F) <= end:
            entry_size = 1 + (first & 0x3F)
            value = blob[position + 1 : position + entry_size]
        else:
            value, entry_size = _listpack_entry(blob, position, end)
        if entry_size <= 127:
            after = position + entry_size + 1
            if after > end:
                raise PackedError("listpack", position, "entry back-length runs past the end")
            if blob[after - 1] != entry_size:
                raise PackedError("listpack", position + entry_size, "back-length does not match the entry")
        else:
            backlen = listpack_backlen(entry_size)
            after = position + entry_size + len(backlen)
            if after > end:
                raise PackedError("listpack", position, "entry back-length runs past the end")
            if blob[position + entry_size : after] != backlen:
                raise PackedError("listpack", position + entry_size, "back-length does not match the entry")
        append(value)
        position = after
    if count != LISTPACK_UNKNOWN_COUNT and count != len(items):
        raise PackedError("listpack", 4, f"header counts {count} elements, found {len(items)}")
    return items


def listpack_element_offset(blob: bytes, index: int) -> int:
    """The byte offset of element `index` of a listpack `listpack_entries` accepted (the end
    byte's offset when `index` is the element count), for errors about its content."""
    position = LISTPACK_HEADER_SIZE
    end = len(blob) - 1
    for _ in range(index):
        if position >= end:
            break
        _, entry_size = _listpack_entry(blob, position, end)
        position += entry_size + len(listpack_backlen(entry_size))
    return position


def _ziplist_entry(blob: bytes, position: int, end: int) -> tuple[bytes, int, int]:
    """(element, prevlen field, position after the entry) for the entry at `position`."""
    first = blob[position]
    if first == ZIPLIST_END:
        raise PackedError("ziplist", position, "end byte before the end of the ziplist")
    if first < ZIPLIST_BIG_PREVLEN:
        previous, header = first, 1
    else:
        if position + 5 > end:
            raise PackedError("ziplist", position, "prev-length runs past the end")
        previous, header = _U32.unpack_from(blob, position + 1)[0], 5
    cursor = position + header
    if cursor >= end:
        raise PackedError("ziplist", position, "entry header runs past the end")
    encoding = blob[cursor]
    kind = encoding >> 6
    if kind < 3:
        if kind == 0:
            length, data_start = encoding & 0x3F, cursor + 1
        elif kind == 1:
            if cursor + 2 > end:
                raise PackedError("ziplist", cursor, "string length runs past the end")
            length, data_start = ((encoding & 0x3F) << 8) | blob[cursor + 1], cursor + 2
        else:
            if cursor + 5 > end:
                raise PackedError("ziplist", cursor, "string length runs past the end")
            length, data_start = _BIG_U32.unpack_from(blob, cursor + 1)[0], cursor + 5
        after = data_start + length
        if after > end:
            raise PackedError("ziplist", cursor, f"string of {length} bytes runs past the end")
        return blob[data_start:after], previous, after
    if 0xF1 <= encoding <= 0xFD:
        return b"%d" % ((encoding & 0x0F) - 1), previous, cursor + 1
    if encoding == 0xF0:
        if cursor + 4 > end:
            raise PackedError("ziplist", cursor, "integer runs past the end")
        value = blob[cursor + 1] | blob[cursor + 2] << 8 | blob[cursor + 3] << 16
        return b"%d" % (value - (1 << 24) if value >= 1 << 23 else value), previous, cursor + 4
    integer = _ZIPLIST_INTEGERS.get(encoding)
    if integer is None:
        raise PackedError("ziplist", cursor, f"unknown entry encoding 0x{encoding:02x}")
    layout, size = integer
    if cursor + 1 + size > end:
        raise PackedError("ziplist", cursor, "integer runs past the end")
    return b"%d" % layout.unpack_from(blob, cursor + 1)[0], previous, cursor + 1 + size


def ziplist_entries(blob: bytes) -> list[bytes]:
    """Every element of a ziplist, in order."""
    size = len(blob)
    if size < ZIPLIST_HEADER_SIZE + 1:
        raise PackedError("ziplist", 0, f"{size} bytes cannot hold a ziplist header")
    declared, tail_offset, count = struct.unpack_from("<IIH", blob, 0)
    if declared != size:
        raise PackedError("ziplist", 0, f"header says {declared} bytes, the string holds {size}")
    end = size - 1
    if blob[end] != ZIPLIST_END:
        raise PackedError("ziplist", end, "does not end with 0xFF")
    if tail_offset > end:
        raise PackedError("ziplist", 4, f"tail offset {tail_offset} is past the end")
    items: list[bytes] = []
    position = ZIPLIST_HEADER_SIZE
    previous_size = 0
    last_entry = None
    while position < end:
        value, previous, after = _ziplist_entry(blob, position, end)
        if previous != previous_size:
            raise PackedError("ziplist", position, f"prev-length {previous}, the previous entry has {previous_size}")
        items.append(value)
        previous_size = after - position
        last_entry = position
        position = after
    if last_entry is not None and last_entry != tail_offset:
        raise PackedError("ziplist", 4, f"tail offset {tail_offset}, the last entry is at {last_entry}")
    if count != ZIPLIST_UNKNOWN_COUNT and count != len(items):
        raise PackedError("ziplist", 8, f"header counts {count} elements, found {len(items)}")
    return items


def intset_members(blob: bytes) -> list[bytes]:
    """Every member of an intset, ascending, as decimal text."""
    size = len(blob)
    if size < INTSET_HEADER_SIZE:
        raise PackedError("intset", 0, f"{size} bytes cannot hold an intset header")
    width, count = struct.unpack_from("<II", blob, 0)
    member_format = _INTSET_MEMBER_FORMATS.get(width)
    if member_format is None:
        raise PackedError("intset", 0, f"unknown member width {width}")
    if INTSET_HEADER_SIZE + count * width != size:
        raise PackedError("intset", 4, f"{count} members of {width} bytes do not fill {size} bytes")
    if count == 0:
        raise PackedError("intset", 4, "an intset is never empty")
    numbers = [number for (number,) in struct.iter_unpack(member_format, blob[INTSET_HEADER_SIZE:])]
    for index in range(1, count):
        if numbers[index] <= numbers[index - 1]:
            raise PackedError("intset", INTSET_HEADER_SIZE + index * width, "members not strictly ascending")
    return [b"%d" % number for number in numbers]
