"""Bit commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP (Redis 7.0).

Bits are numbered from the most significant bit of the first byte, as in Redis. SETBIT grows
the string with zero bytes; it is logged as given when it changed the string. A bit offset
is refused at or beyond 512 MB * 8 (Redis's proto-max-bulk-len), so no request can make a
string grow past that. BITCOUNT and BITPOS take BYTE or BIT ranges; BITPOS follows Redis's
edge rules (a missing key is all zeros; without an explicit end, a search for 0 may answer
the first bit past the string). BITOP pads shorter sources with zero bytes; an empty result
deletes the target. It is deterministic, so it is logged as given.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument, read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace

MAX_BIT_OFFSET = 512 * 1024 * 1024 * 8
BAD_OFFSET = "ERR bit offset is not an integer or out of range"
BAD_BIT = "ERR bit is not an integer or out of range"


def _bit_offset(text: bytes) -> int:
    offset = parse_int(text)
    if offset is None or offset < 0 or offset >= MAX_BIT_OFFSET:
        raise CommandError(BAD_OFFSET)
    return offset


@command("setbit", 4, "write")
def setbit_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    offset = _bit_offset(argv[2])
    bit = parse_int(argv[3])
    if bit is None or bit not in (0, 1):
        raise CommandError(BAD_BIT)
    key = argv[1]
    current = read_typed(keyspace, key, context, bytes)
    data = bytearray(current or b"")
    byte_index, mask = offset >> 3, 0x80 >> (offset & 7)
    grown = byte_index >= len(data)
    if grown:
        data.extend(bytes(byte_index + 1 - len(data)))
    previous = 1 if data[byte_index] & mask else 0
    if previous == bit and not grown:
        return CommandOutcome(previous)
    if bit:
        data[byte_index] |= mask
    else:
        data[byte_index] &= ~mask & 0xFF
    keyspace.set_value(key, bytes(data), keep_deadline=True)
    return CommandOutcome(previous, (argv,))


@command("getbit", 3, "readonly fast")
def getbit_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    offset = _bit_offset(argv[2])
    value = read_typed(keyspace, argv[1], context, bytes)
    byte_index = offset >> 3
    if value is None or byte_index >= len(value):
        return CommandOutcome(0)
    return CommandOutcome(1 if value[byte_index] & (0x80 >> (offset & 7)) else 0)


@command("bitcount", -2, "readonly")
def bitcount_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    value = read_typed(keyspace, argv[1], context, bytes)
    if value is None:
        return CommandOutcome(0)
    if len(argv) == 2:
        return CommandOutcome(_ones(value))
    if len(argv) not in (4, 5):
        raise CommandError(SYNTAX)
    start = integer_argument(argv[2])
    end = integer_argument(argv[3])
    in_bits = False
    if len(argv) == 5:
        unit = argv[4].upper()
        if unit not in (b"BYTE", b"BIT"):
            raise CommandError(SYNTAX)
        in_bits = unit == b"BIT"
    total = len(value) * 8 if in_bits else len(value)
    if start < 0 and end < 0 and start > end:
        return CommandOutcome(0)
    if start < 0:
        start = max(total + start, 0)
    if end < 0:
        end = max(total + end, 0)
    end = min(end, total - 1)
    if start > end:
        return CommandOutcome(0)
    if not in_bits:
        return CommandOutcome(_ones(value[start : end + 1]))
    chunk = int.from_bytes(value[start >> 3 : (end >> 3) + 1], "big")
    width = ((end >> 3) + 1 - (start >> 3)) * 8
    chunk >>= 7 - (end & 7)
    chunk &= (1 << (width - (start & 7) - (7 - (end & 7)))) - 1
    return CommandOutcome(chunk.bit_count())


def _ones(data: bytes) -> int:
    return int.from_bytes(data, "big").bit_count()


def _first_bit(data: bytes, bit: int) -> int:
    """Redis's redisBitpos: the first position holding `bit`; -1 when looking for a 1 that
    is not there, len(data) * 8 when looking for a 0 that is not there."""
    skipped = data.lstrip(b"\x00" if bit else b"\xff")
    if not skipped:
        return -1 if bit else len(data) * 8
    byte = skipped[0] if bit else (~skipped[0]) & 0xFF
    return (len(data) - len(skipped)) * 8 + 8 - byte.bit_length()


@command("bitpos", -3, "readonly")
def bitpos_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """BITPOS key bit [start [end [BYTE|BIT]]]."""
    bit = integer_argument(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    value = read_typed(keyspace, argv[1], context, bytes)
    if value is None:
        return CommandOutcome(-1 if bit else 0)
    if len(argv) > 6:
        raise CommandError(SYNTAX)
    start, end = 0, len(value) - 1
    end_given = len(argv) >= 5
    first_mask = last_mask = 0
    if len(argv) >= 4:
        start = integer_argument(argv[3])
        in_bits = False
        if len(argv) == 6:
            unit = argv[5].upper()
            if unit not in (b"BIT", b"BYTE"):
                raise CommandError(SYNTAX)
            in_bits = unit == b"BIT"
        total = len(value)
        if end_given:
            end = integer_argument(argv[4])
        else:
            end = total * 8 + 7 if in_bits else total - 1
        if in_bits:
            total *= 8
        if start < 0:
            start += total
        if end < 0:
            end += total
        start, end = max(start, 0), max(end, 0)
        end = min(end, total - 1)
        if in_bits and start <= end:
            first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
            last_mask = (1 << (7 - (end & 7))) - 1
            start >>= 3
            end >>= 3
    if start > end:
        return CommandOutcome(-1)
    return CommandOutcome(_masked_bitpos(value, bit, start, end, first_mask, last_mask, end_given))


def _masked_bitpos(
    value: bytes, bit: int, start: int, end: int, first_mask: int, last_mask: int, end_given: bool
) -> int:
    """Redis's search over bytes start..end whose edge bits outside a BIT range are masked
    (`first_mask` / `last_mask` mark the bits to ignore in the first / last byte)."""
    remaining = end - start + 1
    position = -1
    done = False
    if first_mask:
        edge = value[start] & ~first_mask if bit else value[start] | first_mask
        if last_mask and remaining == 1:
            edge = edge & ~last_mask if bit else edge | last_mask
        position = _first_bit(bytes([edge & 0xFF]), bit)
        done = remaining == 1 or position not in (-1, 8)
        if not done:
            start += 1
            remaining -= 1
    if not done:
        middle = remaining - (1 if last_mask else 0)
        if middle > 0:
            position = _first_bit(value[start : start + middle], bit)
            done = remaining == middle or position not in (-1, middle * 8)
            if not done:
                start += middle
                remaining -= middle
    if not done:
        edge = value[end] & ~last_mask if bit else value[end] | last_mask
        position = _first_bit(bytes([edge & 0xFF]), bit)
    if end_given and bit == 0 and position == remaining * 8:
        return -1
    return position + start * 8 if position != -1 else -1


_BITOP_NAMES = (b"AND", b"OR", b"XOR", b"NOT")


@command("bitop", -4, "write", 2, -1)
def bitop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """BITOP AND|OR|XOR|NOT target source...: the target's new length (0 deletes it)."""
    operation = argv[1].upper()
    if operation not in _BITOP_NAMES:
        raise CommandError(SYNTAX)
    if operation == b"NOT" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    target = argv[2]
    sources = [read_typed(keyspace, key, context, bytes) or b"" for key in argv[3:]]
    size = max(map(len, sources))
    if size == 0:
        existed = keyspace.lookup(target, context.lookup_now_ms) is not None
        keyspace.delete(target)
        return CommandOutcome(0, (argv,) if existed else ())
    # Whole strings as big integers, zero-padded on the right to the longest source.
    numbers = [int.from_bytes(source.ljust(size, b"\x00"), "big") for source in sources]
    result = numbers[0]
    if operation == b"NOT":
        result = ~result & ((1 << (size * 8)) - 1)
    for number in numbers[1:]:
        if operation == b"AND":
            result &= number
        elif operation == b"OR":
            result |= number
        else:
            result ^= number
    keyspace.set_value(target, result.to_bytes(size, "big"))
    return CommandOutcome(size, (argv,))
