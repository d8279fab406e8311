"""Set commands. Native value: `set[bytes]`.

SPOP is the one non-deterministic write: it is logged as its effect, `SREM key popped...`.
Random choices index into the members in sorted order, so a seeded source gives the same
answer in every process (Python's set order depends on the per-process hash seed).
"""

from __future__ import annotations

from kevy_persist.commands.access import (
    NOTHING_LOGGED,
    count_common_members,
    read_typed,
    write_typed,
)
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.random_members import draw, random_count
from kevy_persist.commands.replies import MemberSet
from kevy_persist.commands.table import command, numkeys_finder
from kevy_persist.data.keyspace import Keyspace

MUST_BE_POSITIVE = "ERR value is out of range, must be positive"


@command("sadd", -3, "write fast")
def sadd_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    members = write_typed(keyspace, key, context, set)
    if members is None:
        created = set(argv[2:])
        keyspace.set_value(key, created)
        return CommandOutcome(len(created), (argv,))
    before = len(members)
    members.update(argv[2:])
    added = len(members) - before
    return CommandOutcome(added, (argv,) if added else NOTHING_LOGGED)


@command("srem", -3, "write fast")
def srem_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    members = write_typed(keyspace, key, context, set)
    if members is None:
        return CommandOutcome(0)
    before = len(members)
    members.difference_update(argv[2:])
    removed = before - len(members)
    keyspace.delete_if_empty(key, members)
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


def _choose_distinct(members: set[bytes], count: int, context: CommandContext) -> list[bytes]:
    """`count` distinct members picked with the context's random source."""
    pool = sorted(members)
    chosen = []
    for _ in range(min(count, len(pool))):
        index = context.random.randrange(len(pool))
        pool[index], pool[-1] = pool[-1], pool[index]
        chosen.append(pool.pop())
    return chosen


@command("spop", -2, "write fast")
def spop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) > 3:
        raise CommandError("ERR syntax error")
    key = argv[1]
    count = None
    if len(argv) == 3:
        count = parse_int(argv[2])
        if count is None or count < 0:
            raise CommandError(MUST_BE_POSITIVE)
    members = write_typed(keyspace, key, context, set)
    if members is None:
        return CommandOutcome(None if count is None else MemberSet())
    chosen = _choose_distinct(members, 1 if count is None else count, context)
    if not chosen:
        return CommandOutcome(MemberSet())
    members.difference_update(chosen)
    keyspace.delete_if_empty(key, members)
    reply = chosen[0] if count is None else MemberSet(chosen)
    return CommandOutcome(reply, ([b"SREM", key, *chosen],))


@command("srandmember", -2, "readonly")
def srandmember_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """SRANDMEMBER key [count]: the count rules of random_members.py (sorted members as the
    pool, so a seeded source picks alike in every process)."""
    if len(argv) > 3:
        raise CommandError("ERR syntax error")
    count = random_count(argv[2]) if len(argv) == 3 else None
    members = read_typed(keyspace, argv[1], context, set)
    if members is None:
        return CommandOutcome(None if count is None else [])
    if count is None:
        return CommandOutcome(_choose_distinct(members, 1, context)[0])
    return CommandOutcome(draw(sorted(members), count, context.random))


@command("smove", 4, "write fast", 1, 2)
def smove_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    source_key, target_key, member = argv[1], argv[2], argv[3]
    source = write_typed(keyspace, source_key, context, set)
    if source is None:
        return CommandOutcome(0)
    target = write_typed(keyspace, target_key, context, set)
    if source_key == target_key:
        return CommandOutcome(1 if member in source else 0)
    if member not in source:
        return CommandOutcome(0)
    source.discard(member)
    keyspace.delete_if_empty(source_key, source)
    if target is None:
        keyspace.set_value(target_key, {member})
    else:
        target.add(member)
    return CommandOutcome(1, (argv,))


@command("smembers", 2, "readonly")
def smembers_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(MemberSet(read_typed(keyspace, argv[1], context, set) or ()))


@command("scard", 2, "readonly fast")
def scard_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(len(read_typed(keyspace, argv[1], context, set) or ()))


@command("sismember", 3, "readonly fast")
def sismember_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    members = read_typed(keyspace, argv[1], context, set) or ()
    return CommandOutcome(1 if argv[2] in members else 0)


@command("smismember", -3, "readonly fast")
def smismember_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    members = read_typed(keyspace, argv[1], context, set) or ()
    return CommandOutcome([1 if member in members else 0 for member in argv[2:]])


def _operands(keyspace: Keyspace, keys: list[bytes], context: CommandContext) -> list[set[bytes]]:
    """Every key's set (missing = empty); any non-set raises WRONGTYPE first."""
    return [read_typed(keyspace, key, context, set) or set() for key in keys]


def _combine(operation: str, sets: list[set[bytes]]) -> set[bytes]:
    first, rest = sets[0], sets[1:]
    if operation == "inter":
        return first.intersection(*rest)
    if operation == "union":
        return first.union(*rest)
    return first.difference(*rest)


def _read_combination(keyspace: Keyspace, argv: list[bytes], context: CommandContext, operation: str) -> CommandOutcome:
    return CommandOutcome(MemberSet(_combine(operation, _operands(keyspace, argv[1:], context))))


def _store_combination(keyspace: Keyspace, argv: list[bytes], context: CommandContext, operation: str) -> CommandOutcome:
    target = argv[1]
    result = _combine(operation, _operands(keyspace, argv[2:], context))
    if not result:
        existed = keyspace.lookup(target, context.lookup_now_ms) is not None
        keyspace.delete(target)
        return CommandOutcome(0, (argv,) if existed else NOTHING_LOGGED)
    keyspace.set_value(target, set(result))
    return CommandOutcome(len(result), (argv,))


@command("sinter", -2, "readonly", 1, -1)
def sinter_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read_combination(keyspace, argv, context, "inter")


@command("sunion", -2, "readonly", 1, -1)
def sunion_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read_combination(keyspace, argv, context, "union")


@command("sdiff", -2, "readonly", 1, -1)
def sdiff_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read_combination(keyspace, argv, context, "diff")


@command("sinterstore", -3, "write", 1, -1)
def sinterstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store_combination(keyspace, argv, context, "inter")


@command("sunionstore", -3, "write", 1, -1)
def sunionstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store_combination(keyspace, argv, context, "union")


@command("sdiffstore", -3, "write", 1, -1)
def sdiffstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store_combination(keyspace, argv, context, "diff")


@command("sintercard", -3, "readonly movablekeys", 0, 0, 0, numkeys_finder(1))
def sintercard_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """SINTERCARD numkeys key... [LIMIT n]: the intersection's size, stopping at n."""
    count = parse_int(argv[1])
    if count is None or count < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    if count > len(argv) - 2:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    limit = 0
    index = 2 + count
    while index < len(argv):
        if argv[index].upper() == b"LIMIT" and index + 1 < len(argv):
            limit = parse_int(argv[index + 1])
            if limit is None or limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            index += 2
        else:
            raise CommandError(SYNTAX)
    sources = _operands(keyspace, argv[2 : 2 + count], context)
    return CommandOutcome(count_common_members(sources, limit))
