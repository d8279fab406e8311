"""String commands: GET/SET and friends, counters, APPEND, ranges, MGET/MSET.

Logging: writes are logged as given, except that every TTL becomes an absolute
`PEXPIREAT key ms` after a plain `SET key value` (so replay does not depend on when it runs),
SET's GET option is dropped, GETDEL logs `DEL`, and INCRBYFLOAT logs its result as
`SET key result KEEPTTL` (Redis does the same: the float sum is not replayed).
"""

from __future__ import annotations

from kevy_persist.commands.access import NOTHING_LOGGED, integer_argument, read_typed
from kevy_persist.commands.context import (
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX,
    WRONGTYPE,
    CommandContext,
    CommandError,
    CommandOutcome,
)
from kevy_persist.commands.numbers import (
    INT64_MAX,
    INT64_MIN,
    add_long_double,
    format_long_double,
    parse_int,
    parse_long_double,
)
from kevy_persist.commands.replies import OK
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace

PEXPIREAT = b"PEXPIREAT"
MAX_STRING_SIZE_BYTES = 512 * 1024 * 1024


def deadline_from_argument(
    text: bytes, unit_ms: int, relative: bool, context: CommandContext, name: str
) -> int:
    """An absolute deadline from an EX/PX/EXAT/PXAT argument, with Redis's checks."""
    amount = integer_argument(text)
    if amount <= 0 or (unit_ms == 1000 and amount > INT64_MAX // 1000):
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    deadline_ms = amount * unit_ms
    if relative:
        deadline_ms += context.now_ms
    if deadline_ms > INT64_MAX:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    return deadline_ms


_EXPIRE_OPTIONS = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False), b"PXAT": (1, False)}


def parse_set_options(argv: list[bytes], start: int, for_set: bool) -> tuple[set[str], tuple[bytes, bytes] | None]:
    """Redis's parseExtendedStringArguments: option flags and the (unit, value) of a TTL."""
    flags: set[str] = set()
    expire: tuple[bytes, bytes] | None = None
    index = start
    count = len(argv)
    while index < count:
        option = argv[index].upper()
        has_next = index + 1 < count
        if option == b"NX" and for_set and "XX" not in flags:
            flags.add("NX")
        elif option == b"XX" and for_set and "NX" not in flags:
            flags.add("XX")
        elif option == b"GET" and for_set:
            flags.add("GET")
        elif option == b"KEEPTTL" and for_set and expire is None:
            flags.add("KEEPTTL")
        elif option == b"PERSIST" and not for_set and expire is None:
            flags.add("PERSIST")
        elif (
            option in _EXPIRE_OPTIONS
            and has_next
            and "KEEPTTL" not in flags
            and "PERSIST" not in flags
            and (expire is None or expire[0] == option)
        ):
            expire = (option, argv[index + 1])
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    return flags, expire


def _resolve_expire(expire: tuple[bytes, bytes] | None, context: CommandContext, name: str) -> int | None:
    if expire is None:
        return None
    unit_ms, relative = _EXPIRE_OPTIONS[expire[0]]
    return deadline_from_argument(expire[1], unit_ms, relative, context, name)


@command("get", 2, "readonly fast")
def get_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    value = keyspace.lookup(argv[1], context.lookup_now_ms)
    if value is not None and type(value) is not bytes:
        raise CommandError(WRONGTYPE)
    return CommandOutcome(value)


@command("set", -3, "write")
def set_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    if len(argv) == 3:
        value = argv[2]
        if value.__class__ is bytes:
            keyspace.set_string(key, value)
        else:
            keyspace.set_value(key, value)
        return CommandOutcome(OK, (argv,))
    flags, expire = parse_set_options(argv, 3, for_set=True)
    deadline_ms = _resolve_expire(expire, context, "set")
    reply = OK
    if "GET" in flags:
        reply = read_typed(keyspace, key, context, bytes)
        found = reply is not None
    else:
        found = keyspace.lookup(key, context.lookup_now_ms) is not None
    if ("NX" in flags and found) or ("XX" in flags and not found):
        return CommandOutcome(reply if "GET" in flags else None)
    keep_deadline = "KEEPTTL" in flags
    keyspace.set_value(key, argv[2], keep_deadline=keep_deadline)
    logged = [b"SET", key, argv[2]] + ([b"KEEPTTL"] if keep_deadline else [])
    if deadline_ms is None:
        return CommandOutcome(reply, (logged,))
    return CommandOutcome(reply, (logged, *_apply_deadline(keyspace, key, deadline_ms, context)))


def _apply_deadline(
    keyspace: Keyspace, key: bytes, deadline_ms: int, context: CommandContext
) -> tuple[list[bytes], ...]:
    """Give an existing key a deadline; a deadline already past deletes it (logged as DEL)."""
    if deadline_ms <= context.now_ms and not context.loading:
        keyspace.delete(key)
        return ([b"DEL", key],)
    keyspace.set_deadline(key, deadline_ms)
    return ([PEXPIREAT, key, b"%d" % deadline_ms],)


@command("setnx", 3, "write fast")
def setnx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if keyspace.lookup(argv[1], context.lookup_now_ms) is not None:
        return CommandOutcome(0)
    keyspace.set_value(argv[1], argv[2])
    return CommandOutcome(1, ([b"SET", argv[1], argv[2]],))


def _set_with_ttl(keyspace: Keyspace, argv: list[bytes], context: CommandContext, unit_ms: int) -> CommandOutcome:
    name = argv[0].decode("latin-1").lower()
    deadline_ms = deadline_from_argument(argv[2], unit_ms, True, context, name)
    keyspace.set_value(argv[1], argv[3])
    logged = [b"SET", argv[1], argv[3]]
    return CommandOutcome(OK, (logged, *_apply_deadline(keyspace, argv[1], deadline_ms, context)))


@command("setex", 4, "write")
def setex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _set_with_ttl(keyspace, argv, context, 1000)


@command("psetex", 4, "write")
def psetex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _set_with_ttl(keyspace, argv, context, 1)


@command("getset", 3, "write fast")
def getset_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    previous = read_typed(keyspace, argv[1], context, bytes)
    keyspace.set_value(argv[1], argv[2])
    return CommandOutcome(previous, ([b"SET", argv[1], argv[2]],))


@command("getdel", 2, "write fast")
def getdel_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    value = read_typed(keyspace, argv[1], context, bytes)
    if value is None:
        return CommandOutcome(None)
    keyspace.delete(argv[1])
    return CommandOutcome(value, ([b"DEL", argv[1]],))


@command("getex", -2, "write fast")
def getex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    flags, expire = parse_set_options(argv, 2, for_set=False)
    key = argv[1]
    value = read_typed(keyspace, key, context, bytes)
    if value is None:
        return CommandOutcome(None)
    deadline_ms = _resolve_expire(expire, context, "getex")
    if deadline_ms is not None:
        return CommandOutcome(value, _apply_deadline(keyspace, key, deadline_ms, context))
    if "PERSIST" in flags and keyspace.clear_deadline(key):
        return CommandOutcome(value, ([b"PERSIST", key],))
    return CommandOutcome(value)


def _increment(keyspace: Keyspace, argv: list[bytes], context: CommandContext, delta: int) -> CommandOutcome:
    key = argv[1]
    current = keyspace.lookup(key, context.lookup_now_ms)  # read_typed, inlined (INCR is hot)
    if current is None:
        number = 0
    elif type(current) is not bytes:
        raise CommandError(WRONGTYPE)
    else:
        number = parse_int(current)
        if number is None:
            raise CommandError(NOT_INTEGER)
    result = number + delta
    if result < INT64_MIN or result > INT64_MAX:
        raise CommandError(OVERFLOW)
    keyspace.update_string(key, b"%d" % result)
    return CommandOutcome(result, (argv,))


@command("incr", 2, "write fast")
def incr_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _increment(keyspace, argv, context, 1)


@command("decr", 2, "write fast")
def decr_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _increment(keyspace, argv, context, -1)


@command("incrby", 3, "write fast")
def incrby_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _increment(keyspace, argv, context, integer_argument(argv[2]))


@command("decrby", 3, "write fast")
def decrby_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    delta = integer_argument(argv[2])
    if delta == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _increment(keyspace, argv, context, -delta)


@command("incrbyfloat", 3, "write fast")
def incrbyfloat_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    current = read_typed(keyspace, key, context, bytes)
    increment = parse_long_double(argv[2])
    if increment is None:
        raise CommandError(NOT_FLOAT)
    number = parse_long_double(current) if current is not None else parse_long_double(b"0")
    if number is None:
        raise CommandError(NOT_FLOAT)
    total = add_long_double(number, increment)
    if total is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    text = format_long_double(total)
    keyspace.set_value(key, text, keep_deadline=True)
    return CommandOutcome(text, ([b"SET", key, text, b"KEEPTTL"],))


@command("append", 3, "write fast")
def append_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    current = read_typed(keyspace, argv[1], context, bytes)
    value = argv[2] if current is None else current + argv[2]
    if len(value) > MAX_STRING_SIZE_BYTES:
        raise CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    keyspace.set_value(argv[1], value, keep_deadline=True)
    return CommandOutcome(len(value), (argv,))


@command("setrange", 4, "write")
def setrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key, patch = argv[1], argv[3]
    offset = integer_argument(argv[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    current = read_typed(keyspace, key, context, bytes)
    if not patch:
        return CommandOutcome(0 if current is None else len(current))
    if offset + len(patch) > MAX_STRING_SIZE_BYTES:
        raise CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    base = current or b""
    if len(base) < offset:
        base = base + b"\x00" * (offset - len(base))
    value = base[:offset] + patch + base[offset + len(patch):]
    keyspace.set_value(key, value, keep_deadline=True)
    return CommandOutcome(len(value), (argv,))


@command("getrange", 4, "readonly")
def getrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    start = integer_argument(argv[2])
    end = integer_argument(argv[3])
    value = read_typed(keyspace, argv[1], context, bytes)
    if value is None or (start < 0 and end < 0 and start > end):
        return CommandOutcome(b"")
    length = len(value)
    if start < 0:
        start = max(length + start, 0)
    if end < 0:
        end = max(length + end, 0)
    end = min(end, length - 1)
    if start > end or length == 0:
        return CommandOutcome(b"")
    return CommandOutcome(value[start : end + 1])


@command("substr", 4, "readonly")
def substr_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return getrange_command(keyspace, argv, context)


@command("strlen", 2, "readonly fast")
def strlen_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    value = read_typed(keyspace, argv[1], context, bytes)
    return CommandOutcome(0 if value is None else len(value))


@command("mget", -2, "readonly fast", 1, -1)
def mget_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    now_ms = context.lookup_now_ms
    reply = []
    for key in argv[1:]:
        value = keyspace.lookup(key, now_ms)
        reply.append(value if type(value) is bytes else None)
    return CommandOutcome(reply)


def _check_pairs(argv: list[bytes]) -> None:
    if len(argv) % 2 == 0:
        name = argv[0].decode("latin-1").lower()
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")


@command("mset", -3, "write", 1, -1, 2)
def mset_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    _check_pairs(argv)
    for index in range(1, len(argv), 2):
        keyspace.set_value(argv[index], argv[index + 1])
    return CommandOutcome(OK, (argv,))


@command("msetnx", -3, "write", 1, -1, 2)
def msetnx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    _check_pairs(argv)
    now_ms = context.lookup_now_ms
    for index in range(1, len(argv), 2):
        if keyspace.lookup(argv[index], now_ms) is not None:
            return CommandOutcome(0, NOTHING_LOGGED)
    for index in range(1, len(argv), 2):
        keyspace.set_value(argv[index], argv[index + 1])
    return CommandOutcome(1, ([b"MSET", *argv[1:]],))
