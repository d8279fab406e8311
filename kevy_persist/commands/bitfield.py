"""BITFIELD and BITFIELD_RO: integers of 1-64 bits at any bit offset of a string (Redis 7.0).

What it models: the subcommands GET type offset, SET type offset value, INCRBY type offset
increment and OVERFLOW WRAP|SAT|FAIL (which applies to the SET/INCRBY after it). Types are
`i1`..`i64` and `u1`..`u63`; an offset may be `#n`, meaning n times the type's width. Fields
are big-endian at bit granularity, bit 0 being the most significant bit of the first byte, as
SETBIT numbers them. Every argument is checked before anything runs, in Redis's order, so a
bad subcommand changes nothing. Offsets at or beyond 512 MB * 8 are refused (Redis's
proto-max-bulk-len), which bounds how far a request can grow the string.

Overflow, as Redis computes it: WRAP keeps the low bits (signed values sign-extended), SAT
clamps to the type's range, FAIL leaves the field alone and answers nil. An unsigned SET of
a negative value is an overflow (the value is read as a 64-bit unsigned number).

Logging: BITFIELD is deterministic, so it is logged as given whenever the stored string
changed (Redis propagates it only when a SET/INCRBY ran, and not for a string that a failed
SET merely created or grew; logging on any change keeps the log equal to memory).
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument, read_typed
from kevy_persist.commands.bits import BAD_OFFSET, MAX_BIT_OFFSET
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace

BAD_TYPE = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
_UINT64 = (1 << 64) - 1
_OVERFLOWS = (b"WRAP", b"SAT", b"FAIL")


class _Operation:
    __slots__ = ("name", "signed", "bits", "offset", "argument", "overflow")

    def __init__(self, name: bytes, signed: bool, bits: int, offset: int, argument: int, overflow: bytes) -> None:
        self.name = name
        self.signed = signed
        self.bits = bits
        self.offset = offset
        self.argument = argument
        self.overflow = overflow


def _field_type(text: bytes) -> tuple[bool, int]:
    signed = text[:1] == b"i"
    if not signed and text[:1] != b"u":
        raise CommandError(BAD_TYPE)
    bits = parse_int(text[1:])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BAD_TYPE)
    return signed, bits


def _field_offset(text: bytes, bits: int) -> int:
    by_width = text[:1] == b"#"
    offset = parse_int(text[1:] if by_width else text)
    if offset is None:
        raise CommandError(BAD_OFFSET)
    if by_width:
        # C multiplies in int64: an overflow wraps (and then fails the range check).
        offset = ((offset * bits + 2**63) % 2**64) - 2**63
    if offset < 0 or offset >= MAX_BIT_OFFSET:
        raise CommandError(BAD_OFFSET)
    return offset


def _parse(argv: list[bytes]) -> list[_Operation]:
    operations = []
    overflow = b"WRAP"
    index = 2
    while index < len(argv):
        name = argv[index].upper()
        remaining = len(argv) - index - 1
        if name == b"OVERFLOW" and remaining >= 1:
            overflow = argv[index + 1].upper()
            if overflow not in _OVERFLOWS:
                raise CommandError("ERR Invalid OVERFLOW type specified")
            index += 2
            continue
        if not ((name == b"GET" and remaining >= 2) or (name in (b"SET", b"INCRBY") and remaining >= 3)):
            raise CommandError(SYNTAX)
        signed, bits = _field_type(argv[index + 1])
        offset = _field_offset(argv[index + 2], bits)
        argument = 0 if name == b"GET" else integer_argument(argv[index + 3])
        operations.append(_Operation(name, signed, bits, offset, argument, overflow))
        index += 3 if name == b"GET" else 4
    return operations


def _read_field(data: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    """The field at `offset` (bits past the end of `data` read as zeros)."""
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(data[first : last + 1]).ljust(last + 1 - first, b"\x00")
    width = (last + 1 - first) * 8
    value = (int.from_bytes(chunk, "big") >> (width - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _write_field(data: bytearray, offset: int, bits: int, value: int) -> None:
    """Store the low `bits` bits of `value` at `offset` (`data` is long enough)."""
    first, last = offset >> 3, (offset + bits - 1) >> 3
    width = (last + 1 - first) * 8
    shift = width - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    current = int.from_bytes(data[first : last + 1], "big")
    current = (current & ~mask) | ((value << shift) & mask)
    data[first : last + 1] = current.to_bytes(last + 1 - first, "big")


def _overflowed(value: int, increment: int, signed: bool, bits: int, overflow: bytes) -> tuple[bool, int]:
    """Redis's check{Signed,Unsigned}BitfieldOverflow: (overflowed, the value to store)."""
    if signed:
        maximum = (1 << (bits - 1)) - 1
        minimum = -maximum - 1
    else:
        value &= _UINT64  # an unsigned SET reads its argument as uint64
        maximum, minimum = (1 << bits) - 1, 0
    total = value + increment
    if minimum <= total <= maximum and minimum <= value <= maximum:
        return False, total
    if overflow == b"SAT":
        return True, maximum if value > maximum or (value >= minimum and total > maximum) else minimum
    wrapped = total & ((1 << bits) - 1)
    if signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return True, wrapped


def _bitfield(keyspace: Keyspace, argv: list[bytes], context: CommandContext, read_only: bool) -> CommandOutcome:
    operations = _parse(argv)
    key = argv[1]
    writes = [operation for operation in operations if operation.name != b"GET"]
    if not writes:
        data = read_typed(keyspace, key, context, bytes) or b""
        return CommandOutcome([_read_field(data, op.offset, op.bits, op.signed) for op in operations])
    if read_only:
        raise CommandError("ERR BITFIELD_RO only supports the GET subcommand")
    current = read_typed(keyspace, key, context, bytes)
    highest_bit = max(operation.offset + operation.bits - 1 for operation in writes)
    data = bytearray(current or b"")
    if len(data) < (highest_bit >> 3) + 1:
        data.extend(bytes((highest_bit >> 3) + 1 - len(data)))
    reply: list[int | None] = []
    for operation in operations:
        old = _read_field(data, operation.offset, operation.bits, operation.signed)
        if operation.name == b"GET":
            reply.append(old)
            continue
        if operation.name == b"INCRBY":
            overflowed, new = _overflowed(old, operation.argument, operation.signed, operation.bits, operation.overflow)
        else:
            overflowed, new = _overflowed(operation.argument, 0, operation.signed, operation.bits, operation.overflow)
        if overflowed and operation.overflow == b"FAIL":
            reply.append(None)
            continue
        _write_field(data, operation.offset, operation.bits, new)
        reply.append(new if operation.name == b"INCRBY" else old)
    stored = bytes(data)
    if stored == current:
        return CommandOutcome(reply)
    keyspace.set_value(key, stored, keep_deadline=True)
    return CommandOutcome(reply, (argv,))


@command("bitfield", -2, "write")
def bitfield_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _bitfield(keyspace, argv, context, read_only=False)


@command("bitfield_ro", -2, "readonly fast")
def bitfield_ro_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _bitfield(keyspace, argv, context, read_only=True)
