"""Redis's HyperLogLog string format (HYLL), byte for byte: the codec and the estimator.

What it models: the value Redis 7.0 stores under a PFADD key, so GET returns the same bytes
and PFCOUNT the same number for the same input. Layout: a 16-byte header -- "HYLL", the
encoding (0 dense, 1 sparse), three zero bytes, and the cached cardinality as a little-endian
u64 whose top bit set means "stale" -- then 16,384 registers:

- dense: 6 bits per register, packed from the least significant bit of each byte up
  (12,288 bytes, so a dense value is exactly 12,304 bytes);
- sparse: run-length opcodes, ZERO `00xxxxxx` (1-64 zero registers), XZERO `01xxxxxx
  yyyyyyyy` (1-16,384 zero registers), VAL `1vvvvvxx` (1-4 registers of value 1-32).

An element is hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits pick a register,
the run of zeros above them plus one (1..51) is the candidate value. A sparse value is
edited the way Redis edits it (split the covering opcode, then merge equal neighbouring VALs
over at most five opcodes), because the resulting bytes depend on that history; it becomes
dense when a value exceeds 32 or it would grow past `SPARSE_MAX_BYTES` (Redis's
hll-sparse-max-bytes default, 3000). The estimate (hyperloglog_estimate.py) is Ertl's
improved estimator from the register histogram, in doubles, as Redis computes it.

Damage: a value that passes the header checks but whose sparse opcodes do not cover exactly
16,384 registers raises `InvalidHyperLogLog` (Redis's INVALIDOBJ); nothing here ever reads
or writes past the value.
"""

from __future__ import annotations

import re
import struct
from zlib import adler32

HEADER_SIZE = 16
REGISTER_COUNT = 16384
INDEX_BITS = 14
REGISTER_BITS = 6
DENSE_SIZE = HEADER_SIZE + REGISTER_COUNT * REGISTER_BITS // 8
SPARSE_MAX_BYTES = 3000
MAGIC = b"HYLL"
DENSE, SPARSE = 0, 1
_SPARSE_VALUE_MAX = 32
_ZERO_MAX, _XZERO_MAX, _VAL_RUN_MAX = 64, 16384, 4
_SEED = 0xADC83B19
_MULTIPLIER = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1


class InvalidHyperLogLog(Exception):
    """The sparse opcodes do not describe exactly 16,384 registers."""


def murmurhash64a(data: bytes, seed: int) -> int:
    """MurmurHash2, 64-bit version A, reading 8-byte blocks little-endian (as Redis does)."""
    length = len(data)
    value = (seed ^ (length * _MULTIPLIER)) & _MASK64
    block_end = length - (length & 7)
    for (block,) in struct.iter_unpack("<Q", data[:block_end]):
        block = (block * _MULTIPLIER) & _MASK64
        block ^= block >> 47
        value ^= (block * _MULTIPLIER) & _MASK64
        value = (value * _MULTIPLIER) & _MASK64
    if length & 7:
        value ^= int.from_bytes(data[block_end:], "little")
        value = (value * _MULTIPLIER) & _MASK64
    value ^= value >> 47
    value = (value * _MULTIPLIER) & _MASK64
    return value ^ (value >> 47)


def register_and_count(element: bytes) -> tuple[int, int]:
    """(register index, run length 1..51) of an element, Redis's hllPatLen."""
    hashed = murmurhash64a(element, _SEED)
    index = hashed & (REGISTER_COUNT - 1)
    rest = (hashed >> INDEX_BITS) | (1 << (64 - INDEX_BITS))
    return index, (rest & -rest).bit_length()


def is_hyperloglog(value: bytes) -> bool:
    """Redis's isHLLObjectOrReply header checks (a failing value is 'not a valid HLL')."""
    if len(value) < HEADER_SIZE or value[:4] != MAGIC or value[4] > SPARSE:
        return False
    return value[4] == SPARSE or len(value) == DENSE_SIZE


def empty_sparse() -> bytearray:
    """A new HLL as PFADD creates it: sparse, cache valid at 0, one XZERO of 16,384."""
    return bytearray(MAGIC + bytes([SPARSE]) + bytes(11) + bytes([0x7F, 0xFF]))


# -- dense registers ----------------------------------------------------------------------

def _table(function) -> bytes:
    return bytes(function(value) & 0xFF for value in range(256))


_LOW6, _HIGH2 = _table(lambda v: v & 63), _table(lambda v: v >> 6)
_LOW4_UP2, _HIGH4 = _table(lambda v: (v & 15) << 2), _table(lambda v: v >> 4)
_LOW2_UP4, _HIGH6 = _table(lambda v: (v & 3) << 4), _table(lambda v: v >> 2)
_LOW2_UP6, _HIGH4_DOWN2 = _table(lambda v: (v & 3) << 6), _table(lambda v: v >> 2)
_LOW4_UP4, _HIGH2_DOWN4 = _table(lambda v: (v & 15) << 4), _table(lambda v: v >> 4)
_UP2 = _table(lambda v: v << 2)


def _or_bytes(left: bytes, right: bytes) -> bytes:
    """Bytewise OR of two equal-length strings (at C speed, through big integers)."""
    return (int.from_bytes(left, "big") | int.from_bytes(right, "big")).to_bytes(len(left), "big")


def unpack_dense(packed: bytes) -> bytearray:
    """16,384 one-byte registers from the 12,288 packed bytes (3 bytes hold 4 registers)."""
    first, second, third = packed[0::3], packed[1::3], packed[2::3]
    registers = bytearray(REGISTER_COUNT)
    registers[0::4] = first.translate(_LOW6)
    registers[1::4] = _or_bytes(first.translate(_HIGH2), second.translate(_LOW4_UP2))
    registers[2::4] = _or_bytes(second.translate(_HIGH4), third.translate(_LOW2_UP4))
    registers[3::4] = third.translate(_HIGH6)
    return registers


def pack_dense(registers: bytes) -> bytes:
    """The inverse of `unpack_dense` (every register < 64)."""
    zero, one, two, three = registers[0::4], registers[1::4], registers[2::4], registers[3::4]
    packed = bytearray(REGISTER_COUNT * REGISTER_BITS // 8)
    packed[0::3] = _or_bytes(zero, one.translate(_LOW2_UP6))
    packed[1::3] = _or_bytes(one.translate(_HIGH4_DOWN2), two.translate(_LOW4_UP4))
    packed[2::3] = _or_bytes(two.translate(_HIGH2_DOWN4), three.translate(_UP2))
    return bytes(packed)


_LANE_HIGH_BITS = int.from_bytes(b"\x80" * REGISTER_COUNT, "big")


def register_maximum(left: bytes, right: bytes) -> bytes:
    """The per-register maximum of two one-byte-register arrays (values < 128), computed
    lane-parallel on big integers: (a | 0x80) - b keeps each lane's high bit when a >= b
    and never borrows across lanes."""
    assert len(left) == len(right) == REGISTER_COUNT
    first, second = int.from_bytes(left, "big"), int.from_bytes(right, "big")
    at_least = (((first | _LANE_HIGH_BITS) - second) & _LANE_HIGH_BITS) >> 7
    mask = at_least * 0xFF
    maximum = (first & mask) | (second & ~mask)
    return maximum.to_bytes(REGISTER_COUNT, "big")


def _dense_get(data: bytearray, index: int) -> int:
    bit = index * REGISTER_BITS
    byte, shift = HEADER_SIZE + (bit >> 3), bit & 7
    low = data[byte] >> shift
    high = data[byte + 1] << (8 - shift) if byte + 1 < len(data) else 0
    return (low | high) & 63


def _dense_put(data: bytearray, index: int, value: int) -> None:
    bit = index * REGISTER_BITS
    byte, shift = HEADER_SIZE + (bit >> 3), bit & 7
    data[byte] = (data[byte] & ~(63 << shift) & 0xFF) | ((value << shift) & 0xFF)
    if byte + 1 < len(data):
        data[byte + 1] = (data[byte + 1] & ~(63 >> (8 - shift)) & 0xFF) | (value >> (8 - shift))


# -- sparse opcodes -----------------------------------------------------------------------

def _opcode(data: bytes | bytearray, position: int) -> tuple[int, int, int]:
    """(registers covered, value, opcode length) of the opcode at `position`."""
    byte = data[position]
    if byte & 0x80:
        return (byte & 3) + 1, ((byte >> 2) & 0x1F) + 1, 1
    if byte & 0x40:
        low = data[position + 1] if position + 1 < len(data) else 0
        return (((byte & 0x3F) << 8) | low) + 1, 0, 2
    return (byte & 0x3F) + 1, 0, 1


def _val(value: int, run: int) -> int:
    return 0x80 | ((value - 1) << 2) | (run - 1)


def _zeros(run: int) -> bytes:
    if run > _ZERO_MAX:
        return bytes([0x40 | ((run - 1) >> 8), (run - 1) & 0xFF])
    return bytes([run - 1])


def sparse_registers(data: bytes | bytearray) -> bytearray:
    """16,384 one-byte registers of a sparse value (Redis's hllSparseToDense walk)."""
    registers = bytearray(REGISTER_COUNT)
    index, position, end = 0, HEADER_SIZE, len(data)
    while position < end:
        run, value, length = _opcode(data, position)
        if value:
            if index + run > REGISTER_COUNT:
                break
            registers[index : index + run] = bytes([value]) * run
        index += run
        position += length
    if index != REGISTER_COUNT:
        raise InvalidHyperLogLog("sparse opcodes do not cover 16384 registers")
    return registers


def _walk(data: bytes | bytearray, index: int, trail: list[tuple[int, int]]) -> tuple[int, int, int | None]:
    """(position, first register, previous opcode's position) of the opcode covering
    `index`, walking on from the end of `trail` and recording each opcode passed."""
    end = len(data)
    if trail:
        position, first = trail.pop()
        previous = trail[-1][0] if trail else None
    else:
        position, first, previous = HEADER_SIZE, 0, None
    run = length = 0
    while position < end:
        run, _, length = _opcode(data, position)
        if index <= first + run - 1:
            break
        trail.append((position, first))
        previous = position
        position += length
        first += run
    if run == 0 or position >= end or position + length > end:
        raise InvalidHyperLogLog("no sparse opcode covers the register")
    return position, first, previous


# Registers covered by each one-byte opcode (ZERO, VAL); 0 for an XZERO's first byte.
_ONE_BYTE_RUNS = bytes(((b & 3) + 1) if b & 0x80 else 0 if b & 0x40 else (b & 0x3F) + 1 for b in range(256))
_XZERO_FIRST_BYTE = re.compile(rb"[\x40-\x7f]")


# A one-byte opcode covers at most 64 registers, so 1,023 of them sum to less than 65,521.
_EXACT_ADLER_BYTES = 1023


def _run_sum(runs: memoryview) -> int:
    """The sum of the one-byte runs, at C speed: adler32's low half is 1 + the byte sum
    modulo 65,521, exact over any 1,023 bytes (so a forged stretch sums exactly too)."""
    if len(runs) <= _EXACT_ADLER_BYTES:
        return (adler32(runs) & 0xFFFF) - 1
    return sum((adler32(runs[start:start + _EXACT_ADLER_BYTES]) & 0xFFFF) - 1
               for start in range(0, len(runs), _EXACT_ADLER_BYTES))


def _locate(data: bytes | bytearray, index: int) -> tuple[int, int, int | None]:
    """What `_walk` finds from the start, at C speed: between two XZEROs every opcode is one
    byte, so a stretch's registers are summed through a translate table, and the covering
    opcode of the stretch that holds `index` is found by bisecting on prefix sums (each
    one-byte opcode covers at least one register, so the prefix sums strictly increase).
    The first byte in 0x40-0x7f after an opcode boundary is an XZERO (its second byte is
    skipped with it)."""
    position, first, previous = HEADER_SIZE, 0, None
    end = len(data)
    while position < end:
        found = _XZERO_FIRST_BYTE.search(data, position)
        stop = found.start() if found else end
        if stop > position:
            runs = memoryview(data[position:stop].translate(_ONE_BYTE_RUNS))
            after = first + _run_sum(runs)
            if after > index:
                target = index - first
                low, high = 0, len(runs)  # registers before opcode `low` <= target < before `high`
                while high - low > 1:
                    middle = (low + high) // 2
                    if _run_sum(runs[:middle]) <= target:
                        low = middle
                    else:
                        high = middle
                start = first + _run_sum(runs[:low])
                return position + low, start, position + low - 1 if low else previous
            first, previous, position = after, stop - 1, stop
        if position >= end:
            break
        if position + 1 >= end:
            raise InvalidHyperLogLog("a sparse XZERO opcode is cut at the end")
        run = (((data[position] & 0x3F) << 8) | data[position + 1]) + 1
        if index < first + run:
            return position, first, previous
        first, previous, position = first + run, position, position + 2
    raise InvalidHyperLogLog("no sparse opcode covers the register")


# -- the value ----------------------------------------------------------------------------

class HyperLogLog:
    """A mutable HLL value (`data` is the whole string, header included)."""

    __slots__ = ("data",)

    def __init__(self, data: bytearray) -> None:
        assert data[:4] == MAGIC and data[4] in (DENSE, SPARSE)
        self.data = data

    @property
    def is_dense(self) -> bool:
        return self.data[4] == DENSE

    def registers(self) -> bytearray:
        """One byte per register (raises InvalidHyperLogLog for damaged sparse opcodes)."""
        if self.is_dense:
            return unpack_dense(bytes(self.data[HEADER_SIZE:]))
        return sparse_registers(self.data)

    # -- the cached cardinality --

    def cached_cardinality(self) -> int | None:
        if self.data[15] & 0x80:
            return None
        return int.from_bytes(self.data[8:16], "little")

    def invalidate_cache(self) -> None:
        """Mark the cache stale; like Redis, the other cache bytes keep their old value."""
        self.data[15] |= 0x80

    def store_cardinality(self, cardinality: int) -> None:
        self.data[8:16] = cardinality.to_bytes(8, "little")

    # -- updates --

    def add(self, element: bytes) -> int:
        """1 when a register grew (the cache is then stale), else 0."""
        index, count = register_and_count(element)
        return self.raise_register(index, count)

    def raise_register(self, index: int, count: int) -> int:
        """Set register `index` to `count` if that is larger: 1 if it changed, else 0."""
        if self.is_dense:
            if _dense_get(self.data, index) >= count:
                return 0
            _dense_put(self.data, index, count)
            return 1
        return self._sparse_raise(index, count, None)

    def to_dense(self) -> None:
        """Convert in place (the header, stale cache bytes included, is kept)."""
        if self.is_dense:
            return
        registers = sparse_registers(self.data)
        header = bytearray(self.data[:HEADER_SIZE])
        header[4] = DENSE
        self.data[:] = header + pack_dense(registers)

    def raise_registers_ascending(self, registers: bytes) -> None:
        """Raise every register to `registers[i]` in index order, as PFMERGE does one by one.

        On a sparse value the scan for each register resumes where the previous one left
        off (`trail` keeps the opcode boundaries before the last edit, which nothing moved),
        so a merge stays linear in the value's size instead of quadratic.
        """
        trail: list[tuple[int, int]] = []
        for index, count in enumerate(registers):
            if not count:
                continue
            if self.is_dense:
                self.raise_register(index, count)
            else:
                self._sparse_raise(index, count, trail)

    def _sparse_raise(self, index: int, count: int, trail: list[tuple[int, int]] | None) -> int:
        """Redis's hllSparseSet. `trail` (PFMERGE's ascending walk) holds (position, first
        register) of opcodes before the covering one from earlier calls with smaller indexes
        (empty: scan from the start); it is left holding only boundaries that this edit did
        not move. None: one register on its own, found by `_locate`."""
        if count > _SPARSE_VALUE_MAX:
            return self._promote(index, count)
        data = self.data
        end = len(data)
        if trail is None:
            position, first, previous = _locate(data, index)
        else:
            position, first, previous = _walk(data, index, trail)
        run, value, length = _opcode(data, position)
        if value and value >= count:
            return 0
        if trail and previous is not None:
            trail.pop()  # the edit and the merge below start at `previous`
        if run == 1 and (value or length == 1):
            data[position] = _val(count, 1)
            return self._merge_values(previous)
        last = first + run - 1
        if value:
            sequence = bytes([_val(value, index - first)]) if index != first else b""
            sequence += bytes([_val(count, 1)])
            sequence += bytes([_val(value, last - index)]) if index != last else b""
        else:
            sequence = _zeros(index - first) if index != first else b""
            sequence += bytes([_val(count, 1)])
            sequence += _zeros(last - index) if index != last else b""
        growth = len(sequence) - length
        if growth > 0 and end + growth > SPARSE_MAX_BYTES:
            return self._promote(index, count)
        data[position : position + length] = sequence
        return self._merge_values(previous)

    def _merge_values(self, previous: int | None) -> int:
        """Merge adjacent equal VALs over up to five opcodes from `previous`; stale cache."""
        data = self.data
        position = previous if previous is not None else HEADER_SIZE
        budget = 5
        while position < len(data) and budget:
            budget -= 1
            byte = data[position]
            if not byte & 0x80:
                position += 2 if byte & 0x40 else 1
                continue
            if position + 1 < len(data) and data[position + 1] & 0x80:
                following = data[position + 1]
                value = ((byte >> 2) & 0x1F) + 1
                if value == ((following >> 2) & 0x1F) + 1:
                    run = (byte & 3) + (following & 3) + 2
                    if run <= _VAL_RUN_MAX:
                        data[position + 1] = _val(value, run)
                        del data[position]
                        continue
            position += 1
        self.invalidate_cache()
        return 1

    def _promote(self, index: int, count: int) -> int:
        self.to_dense()
        changed = self.raise_register(index, count)
        assert changed == 1, "a promotion always follows a register that must grow"
        return changed
