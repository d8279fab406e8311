"""Sorted set algebra: ZUNION/ZINTER/ZDIFF (and *STORE), ZINTERCARD, ZMPOP.

Mirrors Redis 7.0's zunionInterDiffGenericCommand: numkeys is checked, then every source
key's type (a set counts as a zset with scores 1), then WEIGHTS / AGGREGATE / WITHSCORES.
Union and intersection visit the sources from the smallest to the largest (a stable sort by
cardinality, as glibc's qsort is a merge sort), which fixes the order of float additions; a
weighted score that is NaN (0 * inf) counts as 0, and a SUM that is NaN (inf + -inf) is 0.
The *STORE forms are deterministic and logged as given; ZMPOP logs `ZPOPMIN/ZPOPMAX key n`.
"""

from __future__ import annotations

import math

from kevy_persist.commands.access import NOTHING_LOGGED, count_common_members, integer_argument
from kevy_persist.commands.context import SYNTAX, WRONGTYPE, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import parse_double, parse_int
from kevy_persist.commands.replies import Double
from kevy_persist.commands.table import command, numkeys_finder
from kevy_persist.commands.zsets import flatten_pairs
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

Source = dict[bytes, float]


def _sources(keyspace: Keyspace, keys: list[bytes], context: CommandContext) -> list[Source]:
    sources = []
    for key in keys:
        value = keyspace.lookup(key, context.lookup_now_ms)
        if value is None:
            sources.append({})
        elif type(value) is ZSet:
            sources.append(dict(value.items()))
        elif type(value) is set:
            sources.append(dict.fromkeys(value, 1.0))
        else:
            raise CommandError(WRONGTYPE)
    return sources


def _aggregate(current: float, value: float, how: bytes) -> float:
    if how == b"SUM":
        total = current + value
        return 0.0 if math.isnan(total) else total
    if how == b"MIN":
        return value if value < current else current
    return value if value > current else current


def _weighted(weight: float, score: float) -> float:
    product = weight * score
    return 0.0 if math.isnan(product) else product


def _combine(
    keyspace: Keyspace, argv: list[bytes], context: CommandContext, operation: str, numkeys_index: int, storing: bool
) -> tuple[list[tuple[bytes, float]], bool]:
    """The result's (member, score) pairs in Redis order, and whether WITHSCORES was given."""
    name = argv[0].decode("latin-1").lower()
    count = integer_argument(argv[numkeys_index])
    if count < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if count > len(argv) - numkeys_index - 1:
        raise CommandError(SYNTAX)
    keys_end = numkeys_index + 1 + count
    sources = _sources(keyspace, argv[numkeys_index + 1 : keys_end], context)
    weights = [1.0] * count
    how, with_scores = b"SUM", False
    index = keys_end
    while index < len(argv):
        option = argv[index].upper()
        remaining = len(argv) - index
        if operation != "diff" and option == b"WEIGHTS" and remaining >= count + 1:
            for position in range(count):
                weight = parse_double(argv[index + 1 + position])
                if weight is None:
                    raise CommandError("ERR weight value is not a float")
                weights[position] = weight
            index += count + 1
        elif operation != "diff" and option == b"AGGREGATE" and remaining >= 2:
            how = argv[index + 1].upper()
            if how not in (b"SUM", b"MIN", b"MAX"):
                raise CommandError(SYNTAX)
            index += 2
        elif option == b"WITHSCORES" and not storing:
            with_scores = True
            index += 1
        else:
            raise CommandError(SYNTAX)
    result: dict[bytes, float] = {}
    if operation == "diff":
        first = sources[0]
        rest = sources[1:]
        result = {member: score for member, score in first.items() if not any(member in other for other in rest)}
    else:
        ordered = sorted(zip(sources, weights), key=lambda pair: len(pair[0]))
        if operation == "union":
            for source, weight in ordered:
                for member, score in source.items():
                    value = _weighted(weight, score)
                    previous = result.get(member)
                    result[member] = value if previous is None else _aggregate(previous, value, how)
        elif ordered[0][0]:
            (smallest, first_weight), others = ordered[0], ordered[1:]
            for member, score in smallest.items():
                total = _weighted(first_weight, score)
                for source, weight in others:
                    other = source.get(member)
                    if other is None:
                        break
                    total = _aggregate(total, _weighted(weight, other), how)
                else:
                    result[member] = total
    combined = ZSet()
    for member, score in result.items():
        combined.add(member, score)
    return list(combined.items()), with_scores


def _store(keyspace: Keyspace, argv: list[bytes], context: CommandContext, operation: str) -> CommandOutcome:
    pairs, _with_scores = _combine(keyspace, argv, context, operation, 2, storing=True)
    target = argv[1]
    if not pairs:
        existed = keyspace.lookup(target, context.lookup_now_ms) is not None
        keyspace.delete(target)
        return CommandOutcome(0, (argv,) if existed else NOTHING_LOGGED)
    keyspace.set_value(target, ZSet.from_pairs(pairs))
    return CommandOutcome(len(pairs), (argv,))


def _read(keyspace: Keyspace, argv: list[bytes], context: CommandContext, operation: str) -> CommandOutcome:
    pairs, with_scores = _combine(keyspace, argv, context, operation, 1, storing=False)
    return CommandOutcome(flatten_pairs(pairs, with_scores))


_STORE_KEYS = numkeys_finder(2, (1,))
_READ_KEYS = numkeys_finder(1)


@command("zunionstore", -4, "write movablekeys", 1, 1, 1, _STORE_KEYS)
def zunionstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store(keyspace, argv, context, "union")


@command("zinterstore", -4, "write movablekeys", 1, 1, 1, _STORE_KEYS)
def zinterstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store(keyspace, argv, context, "inter")


@command("zdiffstore", -4, "write movablekeys", 1, 1, 1, _STORE_KEYS)
def zdiffstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _store(keyspace, argv, context, "diff")


@command("zunion", -3, "readonly movablekeys", 0, 0, 0, _READ_KEYS)
def zunion_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read(keyspace, argv, context, "union")


@command("zinter", -3, "readonly movablekeys", 0, 0, 0, _READ_KEYS)
def zinter_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read(keyspace, argv, context, "inter")


@command("zdiff", -3, "readonly movablekeys", 0, 0, 0, _READ_KEYS)
def zdiff_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _read(keyspace, argv, context, "diff")


def numkeys_argument(argv: list[bytes], index: int) -> int:
    """A numkeys >= 1 that fits the argv (the MPOP / *CARD family's checks and messages)."""
    count = parse_int(argv[index])
    if count is None or count < 1:
        raise CommandError("ERR numkeys should be greater than 0")
    return count


def limit_options(argv: list[bytes], start: int) -> int:
    """[LIMIT n] after the keys of SINTERCARD / ZINTERCARD; 0 means no limit."""
    limit = 0
    index = start
    while index < len(argv):
        if argv[index].upper() == b"LIMIT" and index + 1 < len(argv):
            limit = parse_int(argv[index + 1])
            if limit is None or limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            index += 2
        else:
            raise CommandError(SYNTAX)
    return limit


@command("zintercard", -3, "readonly movablekeys", 0, 0, 0, _READ_KEYS)
def zintercard_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    count = integer_argument(argv[1])
    if count < 1:
        raise CommandError("ERR at least 1 input key is needed for 'zintercard' command")
    if count > len(argv) - 2:
        raise CommandError(SYNTAX)
    limit = limit_options(argv, 2 + count)
    sources = _sources(keyspace, argv[2 : 2 + count], context)
    return CommandOutcome(count_common_members(sources, limit))


@command("zmpop", -4, "write movablekeys", 0, 0, 0, _READ_KEYS)
def zmpop_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """ZMPOP numkeys key... MIN|MAX [COUNT n]: pop from the first non-empty zset."""
    count = numkeys_argument(argv, 1)
    where_index = 2 + count
    if where_index >= len(argv):
        raise CommandError(SYNTAX)
    where = argv[where_index].upper()
    if where not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    pop_count = _mpop_count(argv, where_index + 1)
    for key in argv[2:where_index]:
        value = keyspace.lookup_for_write(key, context.lookup_now_ms)
        if value is None:
            continue
        if type(value) is not ZSet:
            raise CommandError(WRONGTYPE)
        popped = value.pop_lowest(pop_count) if where == b"MIN" else value.pop_highest(pop_count)
        keyspace.delete_if_empty(key, value)
        verb = b"ZPOPMIN" if where == b"MIN" else b"ZPOPMAX"
        reply = [key, [[member, Double(score)] for member, score in popped]]
        return CommandOutcome(reply, ([verb, key, b"%d" % len(popped)],))
    return CommandOutcome(None)


def _mpop_count(argv: list[bytes], start: int) -> int:
    count = None
    index = start
    while index < len(argv):
        if count is None and argv[index].upper() == b"COUNT" and index + 1 < len(argv):
            count = parse_int(argv[index + 1])
            if count is None or count < 1:
                raise CommandError("ERR count should be greater than 0")
            index += 2
        else:
            raise CommandError(SYNTAX)
    return 1 if count is None else count
