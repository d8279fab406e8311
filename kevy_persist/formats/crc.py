"""CRC-32C (Castagnoli), the checksum of KEVYAOF2 records and of snapshot trailers.

`crc32c(data, value=0)` continues a running checksum: `crc32c(b, crc32c(a)) == crc32c(a + b)`.
The C-backed `crc32c` package does the work; a table-driven pure-Python version stands in only
when that package cannot be imported (it is far slower, but gives the same numbers).
Check value: `crc32c(b"123456789") == 0xE3069283`.
"""

from __future__ import annotations

from collections.abc import Callable

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xE3069283

# Reflected Castagnoli polynomial (0x1EDC6F41 bit-reversed).
_POLYNOMIAL_REFLECTED = 0x82F63B78


def _build_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLYNOMIAL_REFLECTED if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_TABLE = _build_table()


def crc32c_pure(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C of `data`, continuing from `value` (pure Python; the fallback)."""
    table = _TABLE
    crc = value ^ 0xFFFFFFFF
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _load_fast() -> Callable[..., int] | None:
    try:
        from crc32c import crc32c as fast  # noqa: PLC0415 -- optional C extension
    except ImportError:
        return None
    return fast


_fast = _load_fast()

#: The implementation in use: the C extension when importable, else the pure fallback.
crc32c: Callable[..., int] = _fast if _fast is not None else crc32c_pure
IS_ACCELERATED = _fast is not None

assert crc32c(CHECK_INPUT) == CHECK_VALUE, "CRC-32C implementation fails its check value"
