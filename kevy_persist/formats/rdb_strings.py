"""RDB lengths and strings, the encoder side (the reader is `rdb_reader.py`).

    length   = 00xxxxxx | 01xxxxxx yyyyyyyy (14 bits, big-endian) | 0x80 u32 BE | 0x81 u64 BE
    string   = length bytes | 0xC0 i8 | 0xC1 i16 LE | 0xC2 i32 LE | 0xC3 clen:length len:length lzf

What is written is what Redis's rdbSaveLen / rdbSaveRawString write: the shortest length
form; a string that is a canonical decimal 32-bit integer in its integer form; with
compression asked for, a string over 20 bytes LZF-compressed when that saves 4 bytes. Pure;
the value encoders (`rdb_format.py`, `rdb_stream_encode.py`) build on these.
"""

from __future__ import annotations

import struct

from kevy_persist.formats import lzf

# Special string encodings: a length whose two top bits are 11.
ENCODING_INT8 = 0
ENCODING_INT16 = 1
ENCODING_INT32 = 2
ENCODING_LZF = 3

# Strings this short never compress (Redis's threshold for trying LZF).
COMPRESSION_MIN_SIZE = 21

_BIG_U32 = struct.Struct(">I")
_BIG_U64 = struct.Struct(">Q")
_INT8 = struct.Struct("<Bb")
_INT16 = struct.Struct("<Bh")
_INT32 = struct.Struct("<Bi")
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_DIGITS = frozenset(b"-0123456789")


def encode_length(length: int) -> bytes:
    """A length in 1, 2, 5 or 9 bytes (rdbSaveLen)."""
    assert 0 <= length < 1 << 64, length
    if length < 1 << 6:
        return bytes((length,))
    if length < 1 << 14:
        return bytes((0x40 | length >> 8, length & 0xFF))
    if length < 1 << 32:
        return b"\x80" + _BIG_U32.pack(length)
    return b"\x81" + _BIG_U64.pack(length)


def _integer_encoding(value: bytes) -> bytes | None:
    """The 8/16/32-bit integer form of a canonical decimal string, or None."""
    if len(value) > 11 or not value or value[0] not in _DIGITS:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if b"%d" % number != value or not _INT32_MIN <= number <= _INT32_MAX:
        return None
    if -128 <= number <= 127:
        return _INT8.pack(0xC0 | ENCODING_INT8, number)
    if -32768 <= number <= 32767:
        return _INT16.pack(0xC0 | ENCODING_INT16, number)
    return _INT32.pack(0xC0 | ENCODING_INT32, number)


def encode_string(value: bytes, compress: bool = False) -> bytes:
    """A string: integer-encoded when canonical, LZF when asked and worth it, else raw."""
    size = len(value)
    if size <= 11:
        encoded = _integer_encoding(value)
        if encoded is not None:
            return encoded
    elif compress and size >= COMPRESSION_MIN_SIZE:
        packed = lzf.compress(value)
        if packed is not None:
            return b"\xc3" + encode_length(len(packed)) + encode_length(size) + packed
    if size < 64:
        return bytes((size,)) + value
    return encode_length(size) + value


def encode_raw_string(value: bytes) -> bytes:
    """A string stored as its bytes (what the integer and LZF forms decode to)."""
    return (bytes((len(value),)) if len(value) < 64 else encode_length(len(value))) + value


__all__ = [
    "COMPRESSION_MIN_SIZE", "ENCODING_INT8", "ENCODING_INT16", "ENCODING_INT32", "ENCODING_LZF",
    "encode_length", "encode_raw_string", "encode_string",
]
