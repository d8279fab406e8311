"""Keyspace commands: DEL, EXISTS, TTLs, TYPE, RENAME, COPY, FLUSH*, KEYS, PING, ECHO, SELECT.

Logging: every TTL write is logged as `PEXPIREAT key absolute_ms` (the options NX/XX/GT/LT
were already decided, so they are dropped); a deadline already in the past deletes the key
and is logged as `DEL`. Commands that removed or changed nothing log nothing.
"""

from __future__ import annotations

from kevy_persist.commands.access import NOTHING_LOGGED, integer_argument
from kevy_persist.commands.context import NO_SUCH_KEY, SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.database_arguments import SAME_OBJECT, parse_copy_options
from kevy_persist.commands.glob import glob_match
from kevy_persist.commands.numbers import INT64_MAX, INT64_MIN, parse_int
from kevy_persist.commands.replies import OK, PONG, SimpleString
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import KIND_BY_TYPE, Keyspace, copy_value


@command("del", -2, "write", 1, -1)
def del_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    now_ms = context.lookup_now_ms
    removed = 0
    for key in argv[1:]:
        if keyspace.lookup(key, now_ms) is not None:
            keyspace.delete(key)
            removed += 1
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


@command("unlink", -2, "write fast", 1, -1)
def unlink_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return del_command(keyspace, argv, context)


@command("exists", -2, "readonly fast", 1, -1)
def exists_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    now_ms = context.lookup_now_ms
    return CommandOutcome(sum(1 for key in argv[1:] if keyspace.lookup(key, now_ms) is not None))


def _parse_expire_flags(argv: list[bytes]) -> set[bytes]:
    flags: set[bytes] = set()
    for option in argv[3:]:
        upper = option.upper()
        if upper not in (b"NX", b"XX", b"GT", b"LT"):
            raise CommandError(f"ERR Unsupported option {option.decode('utf-8', 'replace')}")
        flags.add(upper)
    if b"NX" in flags and flags & {b"XX", b"GT", b"LT"}:
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if b"GT" in flags and b"LT" in flags:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire_generic(
    keyspace: Keyspace, argv: list[bytes], context: CommandContext, unit_ms: int, relative: bool
) -> CommandOutcome:
    name = argv[0].decode("latin-1").lower()
    key = argv[1]
    flags = _parse_expire_flags(argv)
    amount = integer_argument(argv[2])
    if unit_ms == 1000:
        if amount > INT64_MAX // 1000 or amount < -(-INT64_MIN // 1000):
            raise CommandError(f"ERR invalid expire time in '{name}' command")
        amount *= 1000
    base_ms = context.now_ms if relative else 0
    if amount > INT64_MAX - base_ms:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    deadline_ms = amount + base_ms
    if keyspace.lookup(key, context.lookup_now_ms) is None:
        return CommandOutcome(0)
    if flags:
        current = keyspace.deadline_of(key)
        if b"NX" in flags and current is not None:
            return CommandOutcome(0)
        if b"XX" in flags and current is None:
            return CommandOutcome(0)
        if b"GT" in flags and (current is None or deadline_ms <= current):
            return CommandOutcome(0)
        if b"LT" in flags and current is not None and deadline_ms >= current:
            return CommandOutcome(0)
    if deadline_ms <= context.now_ms and not context.loading:
        keyspace.delete(key)
        return CommandOutcome(1, ([b"DEL", key],))
    keyspace.set_deadline(key, deadline_ms)
    return CommandOutcome(1, ([b"PEXPIREAT", key, b"%d" % deadline_ms],))


@command("expire", -3, "write fast")
def expire_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _expire_generic(keyspace, argv, context, 1000, True)


@command("pexpire", -3, "write fast")
def pexpire_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _expire_generic(keyspace, argv, context, 1, True)


@command("expireat", -3, "write fast")
def expireat_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _expire_generic(keyspace, argv, context, 1000, False)


@command("pexpireat", -3, "write fast")
def pexpireat_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _expire_generic(keyspace, argv, context, 1, False)


def _ttl_generic(keyspace: Keyspace, key: bytes, context: CommandContext, in_ms: bool, absolute: bool) -> CommandOutcome:
    if keyspace.lookup(key, context.lookup_now_ms) is None:
        return CommandOutcome(-2)
    deadline_ms = keyspace.deadline_of(key)
    if deadline_ms is None:
        return CommandOutcome(-1)
    if absolute:
        return CommandOutcome(deadline_ms if in_ms else deadline_ms // 1000)
    remaining_ms = max(deadline_ms - context.now_ms, 0)
    return CommandOutcome(remaining_ms if in_ms else (remaining_ms + 500) // 1000)


@command("ttl", 2, "readonly fast")
def ttl_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _ttl_generic(keyspace, argv[1], context, in_ms=False, absolute=False)


@command("pttl", 2, "readonly fast")
def pttl_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _ttl_generic(keyspace, argv[1], context, in_ms=True, absolute=False)


@command("expiretime", 2, "readonly fast")
def expiretime_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _ttl_generic(keyspace, argv[1], context, in_ms=False, absolute=True)


@command("pexpiretime", 2, "readonly fast")
def pexpiretime_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _ttl_generic(keyspace, argv[1], context, in_ms=True, absolute=True)


@command("persist", 2, "write fast")
def persist_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if keyspace.lookup(argv[1], context.lookup_now_ms) is None:
        return CommandOutcome(0)
    if keyspace.clear_deadline(argv[1]):
        return CommandOutcome(1, (argv,))
    return CommandOutcome(0)


@command("type", 2, "readonly fast")
def type_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    value = keyspace.lookup(argv[1], context.lookup_now_ms)
    if value is None:
        return CommandOutcome(SimpleString("none"))
    return CommandOutcome(SimpleString(KIND_BY_TYPE[type(value)].type_name))


def _rename(keyspace: Keyspace, argv: list[bytes], context: CommandContext, only_if_new: bool) -> CommandOutcome:
    source, target = argv[1], argv[2]
    now_ms = context.lookup_now_ms
    # The object moves to a new key: take it "for write" so a frozen view keeps its own copy.
    value = keyspace.lookup_for_write(source, now_ms)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if source == target:
        return CommandOutcome(0 if only_if_new else OK)
    if keyspace.lookup(target, now_ms) is not None and only_if_new:
        return CommandOutcome(0)
    deadline_ms = keyspace.deadline_of(source)
    keyspace.delete(source)
    keyspace.set_value(target, value)
    if deadline_ms is not None:
        keyspace.set_deadline(target, deadline_ms)
    return CommandOutcome(1 if only_if_new else OK, (argv,))


@command("rename", 3, "write", 1, 2)
def rename_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _rename(keyspace, argv, context, only_if_new=False)


@command("renamenx", 3, "write fast", 1, 2)
def renamenx_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _rename(keyspace, argv, context, only_if_new=True)


@command("copy", -3, "write", 1, 2)
def copy_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    source, target = argv[1], argv[2]
    # One keyspace is one database: a DB option can only name it (the store and the server
    # send a COPY into another database across and strip the option from the rest), and a
    # log written before kevy had databases may say `DB 0`.
    replace = parse_copy_options(argv, 1).replace
    if source == target:
        raise CommandError(SAME_OBJECT)
    now_ms = context.lookup_now_ms
    value = keyspace.lookup(source, now_ms)
    if value is None:
        return CommandOutcome(0)
    if keyspace.lookup(target, now_ms) is not None and not replace:
        return CommandOutcome(0)
    keyspace.set_value(target, copy_value(value))
    deadline_ms = keyspace.deadline_of(source)
    if deadline_ms is not None:
        keyspace.set_deadline(target, deadline_ms)
    return CommandOutcome(1, (argv,))


def _flush(keyspace: Keyspace, argv: list[bytes]) -> CommandOutcome:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError(SYNTAX)
    keyspace.clear()
    return CommandOutcome(OK, (argv,))


@command("flushdb", -1, "write", 0, 0, 0)
def flushdb_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _flush(keyspace, argv)


@command("flushall", -1, "write", 0, 0, 0)
def flushall_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _flush(keyspace, argv)


@command("dbsize", 1, "readonly fast", 0, 0, 0)
def dbsize_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(len(keyspace))


@command("keys", 2, "readonly", 0, 0, 0)
def keys_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    pattern = argv[1]
    now_ms = context.lookup_now_ms
    matched = [
        key
        for key in keyspace.keys()
        if glob_match(pattern, key) and not keyspace.is_expired(key, now_ms)
    ]
    return CommandOutcome(matched)


@command("ping", -1, "fast", 0, 0, 0)
def ping_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    return CommandOutcome(PONG if len(argv) == 1 else argv[1])


@command("echo", 2, "fast", 0, 0, 0)
def echo_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(argv[1])


@command("select", 2, "fast", 0, 0, 0)
def select_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """One database per keyspace: SELECT 0 is accepted (logs from other servers may hold it)."""
    database = parse_int(argv[1])
    if database is None:
        raise CommandError("ERR value is not an integer or out of range")
    if database != 0:
        raise CommandError("ERR DB index is out of range")
    return CommandOutcome(OK)


@command("touch", -2, "readonly fast", 1, -1)
def touch_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return exists_command(keyspace, argv, context)


@command("randomkey", 1, "readonly", 0, 0, 0)
def randomkey_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """A live key picked with the context's random source (O(keys)), or nil."""
    now_ms = context.lookup_now_ms
    candidates = sorted(key for key in keyspace.keys() if not keyspace.is_expired(key, now_ms))
    if not candidates:
        return CommandOutcome(None)
    return CommandOutcome(candidates[context.random.randrange(len(candidates))])
