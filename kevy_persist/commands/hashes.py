"""Hash commands. Native value: `dict[bytes, bytes]` in insertion order (Redis's small-hash
order). Writes are logged as given when they changed something; HINCRBYFLOAT logs its result
as `HSET key field result`, like Redis, so the float sum is never recomputed on replay.
"""

from __future__ import annotations

from kevy_persist.commands.access import NOTHING_LOGGED, integer_argument, read_typed, write_typed
from kevy_persist.commands.context import NOT_FLOAT, OVERFLOW, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import (
    INT64_MAX,
    INT64_MIN,
    add_long_double,
    format_long_double,
    parse_int,
    parse_long_double,
)
from kevy_persist.commands.replies import OK, FieldValueMap
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace


def _set_fields(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> tuple[int, bool]:
    """Apply field/value pairs; returns (new field count, whether anything changed)."""
    if len(argv) % 2 == 1:
        name = argv[0].decode("latin-1").lower()
        raise CommandError(f"ERR wrong number of arguments for '{name}' command")
    key = argv[1]
    fields = write_typed(keyspace, key, context, dict)
    if fields is None:
        keyspace.set_value(key, dict(zip(argv[2::2], argv[3::2])))
        return len(keyspace.peek(key)), True
    added = 0
    changed = False
    for index in range(2, len(argv), 2):
        field, value = argv[index], argv[index + 1]
        previous = fields.get(field)
        if previous is None:
            added += 1
        if previous != value:
            fields[field] = value
            changed = True
    return added, changed


def _set_one_field(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """HSET key field value, the common shape: `_set_fields`'s outcome in fewer steps."""
    key, field, value = argv[1], argv[2], argv[3]
    fields = write_typed(keyspace, key, context, dict)
    if fields is None:
        keyspace.set_value(key, {field: value})
        return CommandOutcome(1, (argv,))
    previous = fields.get(field)
    if previous == value:
        return CommandOutcome(0)  # nothing changed: nothing to log
    fields[field] = value
    return CommandOutcome(1 if previous is None else 0, (argv,))


@command("hset", -4, "write fast")
def hset_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) == 4:
        return _set_one_field(keyspace, argv, context)
    added, changed = _set_fields(keyspace, argv, context)
    return CommandOutcome(added, (argv,) if changed else NOTHING_LOGGED)


@command("hmset", -4, "write fast")
def hmset_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    _added, changed = _set_fields(keyspace, argv, context)
    return CommandOutcome(OK, (argv,) if changed else NOTHING_LOGGED)


@command("hsetnx", 4, "write fast")
def hsetnx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key, field, value = argv[1], argv[2], argv[3]
    fields = write_typed(keyspace, key, context, dict)
    if fields is None:
        keyspace.set_value(key, {field: value})
    elif field in fields:
        return CommandOutcome(0)
    else:
        fields[field] = value
    return CommandOutcome(1, ([b"HSET", key, field, value],))


@command("hdel", -3, "write fast")
def hdel_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    fields = write_typed(keyspace, key, context, dict)
    if fields is None:
        return CommandOutcome(0)
    removed = 0
    for field in argv[2:]:
        if fields.pop(field, None) is not None:
            removed += 1
    keyspace.delete_if_empty(key, fields)
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


@command("hincrby", 4, "write fast")
def hincrby_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key, field = argv[1], argv[2]
    delta = integer_argument(argv[3])
    fields = write_typed(keyspace, key, context, dict)
    current = None if fields is None else fields.get(field)
    number = 0
    if current is not None:
        number = parse_int(current)
        if number is None:
            raise CommandError("ERR hash value is not an integer")
    result = number + delta
    if result < INT64_MIN or result > INT64_MAX:
        raise CommandError(OVERFLOW)
    text = b"%d" % result
    if fields is None:
        keyspace.set_value(key, {field: text}, keep_deadline=True)
    else:
        fields[field] = text
    return CommandOutcome(result, (argv,))


@command("hincrbyfloat", 4, "write fast")
def hincrbyfloat_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key, field = argv[1], argv[2]
    increment = parse_long_double(argv[3])
    if increment is None:
        raise CommandError(NOT_FLOAT)
    fields = write_typed(keyspace, key, context, dict)
    current = None if fields is None else fields.get(field)
    number = parse_long_double(b"0" if current is None else current)
    if number is None:
        raise CommandError("ERR hash value is not a float")
    total = add_long_double(number, increment)
    if total is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    text = format_long_double(total)
    if fields is None:
        keyspace.set_value(key, {field: text}, keep_deadline=True)
    else:
        fields[field] = text
    return CommandOutcome(text, ([b"HSET", key, field, text],))


@command("hget", 3, "readonly fast")
def hget_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict)
    return CommandOutcome(None if fields is None else fields.get(argv[2]))


@command("hmget", -3, "readonly fast")
def hmget_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict) or {}
    return CommandOutcome([fields.get(field) for field in argv[2:]])


@command("hgetall", 2, "readonly")
def hgetall_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict) or {}
    reply = FieldValueMap()
    for field, value in fields.items():
        reply.append(field)
        reply.append(value)
    return CommandOutcome(reply)


@command("hkeys", 2, "readonly")
def hkeys_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(list(read_typed(keyspace, argv[1], context, dict) or ()))


@command("hvals", 2, "readonly")
def hvals_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict) or {}
    return CommandOutcome(list(fields.values()))


@command("hlen", 2, "readonly fast")
def hlen_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(len(read_typed(keyspace, argv[1], context, dict) or ()))


@command("hexists", 3, "readonly fast")
def hexists_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict) or {}
    return CommandOutcome(1 if argv[2] in fields else 0)


@command("hstrlen", 3, "readonly fast")
def hstrlen_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    fields = read_typed(keyspace, argv[1], context, dict) or {}
    return CommandOutcome(len(fields.get(argv[2], b"")))
