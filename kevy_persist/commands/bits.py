"""Bit commands on strings: SETBIT, GETBIT, BITCOUNT (Redis 7.0, BYTE and BIT ranges).

Bits are numbered from the most significant bit of the first byte, as in Redis. SETBIT grows
the string with zero bytes; it is logged as given when it changed the string.
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
