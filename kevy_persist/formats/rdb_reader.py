"""Bounds-checked reads of RDB primitives: lengths, strings, scores (pure).

`RdbReader(data, path)` reads at explicit positions and returns `(value, next_position)`.
Every failure is a `CorruptionError(path, offset, reason)` whose offset is in the file (for a
DUMP payload, in the payload). A length is checked against the bytes that remain before
anything is sliced or built, and an LZF string's declared size against what its compressed
bytes could possibly decode to (`lzf.max_decompressed_size`), so a forged length fails at
once instead of allocating. Strings come back as `bytes`; integer-encoded strings as their
decimal text, which is the value Redis gives them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from kevy_persist.errors import CorruptionError
from kevy_persist.formats import lzf
from kevy_persist.formats.rdb_format import SCORE_NAN, SCORE_NEGATIVE_INFINITY, SCORE_POSITIVE_INFINITY
from kevy_persist.formats.rdb_packed import PackedError
from kevy_persist.formats.rdb_strings import ENCODING_INT8, ENCODING_INT16, ENCODING_INT32, ENCODING_LZF

_BIG_U32 = struct.Struct(">I")
_BIG_U64 = struct.Struct(">Q")
_LITTLE_I8 = struct.Struct("<b")
_LITTLE_I16 = struct.Struct("<h")
_LITTLE_I32 = struct.Struct("<i")
_LITTLE_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


class RdbReader:
    """Reads over one file's (or payload's) bytes; every failure names path and offset."""

    __slots__ = ("data", "path", "size")

    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.size = len(data)

    def fail(self, offset: int, reason: str) -> CorruptionError:
        return CorruptionError(self.path, offset, reason)

    def need(self, position: int, count: int, what: str) -> None:
        """Refuse a read of `count` bytes at `position` that runs past the end."""
        if position + count > self.size:
            raise self.fail(position, f"truncated: {what} runs past the end")

    def byte(self, position: int, what: str) -> int:
        if position >= self.size:
            raise self.fail(position, f"truncated: {what} runs past the end")
        return self.data[position]

    def length_or_encoding(self, position: int) -> tuple[int, bool, int]:
        """(value, is_special_encoding, next position) of a length field (rdbLoadLenByRef)."""
        first = self.byte(position, "length")
        kind = first >> 6
        if kind == 0:
            return first, False, position + 1
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(position + 1, "length"), False, position + 2
        if kind == 3:
            return first & 0x3F, True, position + 1
        if first == 0x80:
            self.need(position + 1, 4, "32-bit length")
            return _BIG_U32.unpack_from(self.data, position + 1)[0], False, position + 5
        if first == 0x81:
            self.need(position + 1, 8, "64-bit length")
            return _BIG_U64.unpack_from(self.data, position + 1)[0], False, position + 9
        raise self.fail(position, f"unknown length encoding 0x{first:02x}")

    def length(self, position: int, what: str = "length") -> tuple[int, int]:
        """A plain length (a special string encoding here is corruption)."""
        value, special, after = self.length_or_encoding(position)
        if special:
            raise self.fail(position, f"{what}: a string encoding where a length belongs")
        return value, after

    def count(self, position: int, minimum_item_bytes: int, what: str) -> tuple[int, int]:
        """A collection's element count, refused when the elements cannot fit in what remains."""
        value, after = self.length(position, what)
        if value * minimum_item_bytes > self.size - after:
            raise self.fail(position, f"{what} {value} cannot fit in the {self.size - after} bytes left")
        return value, after

    def string(self, position: int) -> tuple[bytes, int]:
        """A string in any of its encodings (raw, 8/16/32-bit integer, LZF)."""
        data = self.data
        if position < self.size:
            first = data[position]
            if first < 0x40:  # the common case: a raw string of at most 63 bytes
                end = position + 1 + first
                if end <= self.size:
                    return data[position + 1 : end], end
        length, special, after = self.length_or_encoding(position)
        if not special:
            end = after + length
            if end > self.size:
                raise self.fail(position, f"truncated: string of {length} bytes runs past the end")
            return data[after:end], end
        if length == ENCODING_INT8:
            self.need(after, 1, "8-bit integer")
            return b"%d" % _LITTLE_I8.unpack_from(data, after)[0], after + 1
        if length == ENCODING_INT16:
            self.need(after, 2, "16-bit integer")
            return b"%d" % _LITTLE_I16.unpack_from(data, after)[0], after + 2
        if length == ENCODING_INT32:
            self.need(after, 4, "32-bit integer")
            return b"%d" % _LITTLE_I32.unpack_from(data, after)[0], after + 4
        if length == ENCODING_LZF:
            return self._lzf_string(position, after)
        raise self.fail(position, f"unknown string encoding {length}")

    def _lzf_string(self, position: int, after: int) -> tuple[bytes, int]:
        compressed_size, after = self.length(after, "LZF compressed length")
        original_size, after = self.length(after, "LZF original length")
        end = after + compressed_size
        if end > self.size:
            raise self.fail(position, f"truncated: LZF string of {compressed_size} bytes runs past the end")
        if original_size > lzf.max_decompressed_size(compressed_size):
            raise self.fail(
                position, f"LZF string claims {original_size} bytes from {compressed_size} compressed bytes"
            )
        try:
            value = lzf.decompress(memoryview(self.data)[after:end], original_size)
        except lzf.LzfError as error:
            raise self.fail(after + error.offset, f"invalid LZF string: {error.reason}") from None
        return value, end

    def packed(self, position: int, decoder: Callable[[bytes], list[bytes]]) -> tuple[list[bytes], int]:
        """The elements of the packed structure (listpack, ziplist, intset) in the string at
        `position`; damage is reported at the string's offset, naming the byte inside it."""
        blob, after = self.string(position)
        try:
            return decoder(blob), after
        except PackedError as error:
            raise self.fail(position, f"{error.structure} (inside this string) byte {error.offset}: {error.reason}") from None

    def binary_score(self, position: int) -> tuple[float, int]:
        """A sorted-set score as an IEEE 754 double (type 5); NaN is corruption."""
        self.need(position, 8, "score")
        score = _F64.unpack_from(self.data, position)[0]
        if math.isnan(score):
            raise self.fail(position, "sorted set score is NaN")
        return score, position + 8

    def text_score(self, position: int) -> tuple[float, int]:
        """A sorted-set score as text (type 3): a length byte, or 254 +inf / 255 -inf / 253 NaN."""
        length = self.byte(position, "score")
        if length == SCORE_POSITIVE_INFINITY:
            return math.inf, position + 1
        if length == SCORE_NEGATIVE_INFINITY:
            return -math.inf, position + 1
        if length == SCORE_NAN:
            raise self.fail(position, "sorted set score is NaN")
        self.need(position + 1, length, "score text")
        return parse_score(self, position, self.data[position + 1 : position + 1 + length]), position + 1 + length

    def signed_64(self, position: int, what: str) -> tuple[int, int]:
        self.need(position, 8, what)
        return _LITTLE_I64.unpack_from(self.data, position)[0], position + 8

    def signed_32(self, position: int, what: str) -> tuple[int, int]:
        self.need(position, 4, what)
        return _LITTLE_I32.unpack_from(self.data, position)[0], position + 4


def parse_score(reader: RdbReader, offset: int, text: bytes) -> float:
    """A score written as text (what strtod reads); refused when it is not a number or NaN."""
    try:
        score = float(text)
    except ValueError:
        raise reader.fail(offset, f"sorted set score {text[:32]!r} is not a number") from None
    if math.isnan(score):
        raise reader.fail(offset, "sorted set score is NaN")
    return score
