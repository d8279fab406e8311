"""CRC-64 as Redis computes it: the checksum of RDB files and of DUMP payloads.

Redis's variant (its `crc64.c`): the Jones polynomial 0xad93d23594c935a9, reflected input and
output, initial value 0, no final xor -- the catalogue's CRC-64/REDIS. Check value:
`crc64(b"123456789") == 0xE9C6D914C4B8D9CA`. `crc64(data, value)` continues a running
checksum: `crc64(b, crc64(a)) == crc64(a + b)`, so a file is checksummed chunk by chunk.

The C-backed `anycrc` package does the work; a table-driven pure-Python version stands in
only when that package cannot be imported (far slower, same numbers).
"""

from __future__ import annotations

from collections.abc import Callable

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xE9C6D914C4B8D9CA

# The Jones polynomial 0xad93d23594c935a9, bit-reversed for the reflected algorithm.
_POLYNOMIAL_REFLECTED = 0x95AC9329AC4BC9B5
_MASK = (1 << 64) - 1


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLYNOMIAL_REFLECTED if value & 1 else value >> 1
        table.append(value & _MASK)
    return tuple(table)


_TABLE = _build_table()


def crc64_pure(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-64/REDIS of `data`, continuing from `value` (pure Python; the fallback)."""
    table = _TABLE
    crc = value
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _load_fast() -> Callable[[bytes | bytearray | memoryview, int], int] | None:
    try:
        import anycrc  # noqa: PLC0415 -- optional C extension
    except ImportError:
        return None
    model = anycrc.Model("CRC64-REDIS")
    calc = model.calc

    def fast(data: bytes | bytearray | memoryview, value: int = 0) -> int:
        return calc(data, init=value)

    return fast


_fast = _load_fast()

#: The implementation in use: the C extension when importable, else the pure fallback.
crc64: Callable[..., int] = _fast if _fast is not None else crc64_pure
IS_ACCELERATED = _fast is not None

assert crc64(CHECK_INPUT) == CHECK_VALUE, "CRC-64 implementation fails its check value"
assert crc64_pure(CHECK_INPUT) == CHECK_VALUE, "pure CRC-64 fails its check value"
