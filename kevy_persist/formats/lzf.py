"""LZF, the compression of RDB strings (Redis's `lzf_c.c` / `lzf_d.c` format), pure Python.

The compressed stream is a series of tokens, read by the first byte `control`:

    000LLLLL  <L+1 literal bytes>                 literal run of 1..32 bytes
    LLLooooo  oooooooo                            back reference, L = 1..6
    111ooooo  LLLLLLLL  oooooooo                  back reference, length byte added
    back reference: copy (L + 2) bytes (L from the 3 bits, plus the length byte when they are
    all ones) starting ((ooooo << 8) | oooooooo) + 1 bytes behind the output's end; the
    source may overlap the bytes being written (a run).

`decompress(data, expected_size)` returns exactly `expected_size` bytes or raises
`LzfError(offset, reason)` (the offset is in `data`); it refuses an `expected_size` no token
stream of `len(data)` bytes can produce (`MAX_EXPANSION`: a 3-byte token yields at most 264
bytes), so a forged size never allocates more than the input could justify.

`compress(data)` returns the LZF stream, or None when it would not save at least 4 bytes
(Redis's rule: then the string is stored as it is). It is a greedy matcher over 3-byte
prefixes; any valid stream decodes the same way, so its output need not match Redis's byte
for byte.
"""

from __future__ import annotations

MAX_LITERAL = 32
MAX_OFFSET = 1 << 13
MAX_REFERENCE = (1 << 8) + (1 << 3)  # 264: the longest back reference, in bytes
MAX_EXPANSION = MAX_REFERENCE // 3  # output bytes per input byte, at most (264 per 3 bytes)
MIN_SAVING = 4


class LzfError(Exception):
    """An LZF stream that does not decode to the size it claims (`offset` in the stream)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def max_decompressed_size(compressed_size: int) -> int:
    """The largest output any LZF stream of `compressed_size` bytes can decode to."""
    return compressed_size * MAX_EXPANSION


def decompress(data: bytes | memoryview, expected_size: int) -> bytes:
    """Decode `data` into exactly `expected_size` bytes (raises `LzfError` otherwise)."""
    if expected_size > max_decompressed_size(len(data)):
        raise LzfError(0, f"{len(data)} compressed bytes cannot hold {expected_size} bytes")
    data = bytes(data)
    size = len(data)
    output = bytearray()
    position = 0
    while position < size:
        control = data[position]
        token_offset = position
        position += 1
        if control < 32:
            run = control + 1
            if position + run > size:
                raise LzfError(token_offset, "literal run past the end of the input")
            if len(output) + run > expected_size:
                raise LzfError(token_offset, "output larger than the declared size")
            output += data[position : position + run]
            position += run
            continue
        length = control >> 5
        if position >= size:
            raise LzfError(token_offset, "back reference past the end of the input")
        if length == 7:
            length += data[position]
            position += 1
            if position >= size:
                raise LzfError(token_offset, "back reference past the end of the input")
        distance = ((control & 0x1F) << 8) + data[position] + 1
        position += 1
        length += 2
        start = len(output) - distance
        if start < 0:
            raise LzfError(token_offset, f"back reference {distance} bytes before the output start")
        if len(output) + length > expected_size:
            raise LzfError(token_offset, "output larger than the declared size")
        if distance >= length:
            output += output[start : start + length]
        else:
            # The source overlaps what is being written: the last `distance` bytes repeat.
            pattern = bytes(output[start:])
            output += (pattern * (length // distance + 1))[:length]
    if len(output) != expected_size:
        raise LzfError(size, f"decoded {len(output)} bytes, expected {expected_size}")
    return bytes(output)


def compress(data: bytes) -> bytes | None:
    """The LZF stream of `data`, or None when it saves fewer than `MIN_SAVING` bytes."""
    size = len(data)
    if size <= MIN_SAVING:
        return None
    limit = size - MIN_SAVING
    output = bytearray()
    literal_start = 0
    last_seen: dict[bytes, int] = {}
    position = 0
    while position < size - 2:
        prefix = data[position : position + 3]
        candidate = last_seen.get(prefix)
        last_seen[prefix] = position
        if candidate is None or position - candidate > MAX_OFFSET:
            position += 1
            continue
        longest = min(MAX_REFERENCE, size - position)
        length = 3
        while length < longest and data[candidate + length] == data[position + length]:
            length += 1
        _emit_literals(output, data, literal_start, position)
        offset = position - candidate - 1
        code = length - 2
        if code < 7:
            output.append((offset >> 8) + (code << 5))
        else:
            output.append((offset >> 8) + (7 << 5))
            output.append(code - 7)
        output.append(offset & 0xFF)
        if len(output) > limit:
            return None
        for covered in range(position + 1, min(position + length, size - 2)):
            last_seen[data[covered : covered + 3]] = covered
        position += length
        literal_start = position
    _emit_literals(output, data, literal_start, size)
    if len(output) > limit:
        return None
    return bytes(output)


def _emit_literals(output: bytearray, data: bytes, start: int, end: int) -> None:
    """Literal runs for `data[start:end]`, at most `MAX_LITERAL` bytes each."""
    while start < end:
        run = min(MAX_LITERAL, end - start)
        output.append(run - 1)
        output += data[start : start + run]
        start += run
