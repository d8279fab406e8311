"""Sorted set commands over `ZSet`. All writes are deterministic and logged as given when
they changed something. Range parsing follows Redis 7.0's zrangeGenericCommand: options are
parsed first (syntax errors), then conflicts, then the range, then the key is looked up.
"""

from __future__ import annotations

import math

from kevy_persist.commands.access import (
    NOTHING_LOGGED,
    double_argument,
    integer_argument,
    normalize_index_range,
    read_typed,
    write_typed,
)
from kevy_persist.commands.context import (
    SYNTAX,
    CommandContext,
    CommandError,
    CommandOutcome,
)
from kevy_persist.commands.numbers import parse_double, parse_int, parse_range_double
from kevy_persist.commands.replies import Double, ScoredPairs
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import LEX_MINUS_INFINITY, LEX_PLUS_INFINITY, LexBound, ZSet

NOT_A_NUMBER = "ERR resulting score is not a number (NaN)"
BAD_SCORE_RANGE = "ERR min or max is not a float"
BAD_LEX_RANGE = "ERR min or max not valid string range item"
MUST_BE_POSITIVE = "ERR value is out of range, must be positive"


@command("zadd", -4, "write fast")
def zadd_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) == 4:
        # ZADD key score member, redis-benchmark's shape and the common one. No flag parses
        # as a float, so a score here means no flag; otherwise (a flag followed by one
        # argument, or a bad score) the general path gives the error.
        score = parse_double(argv[2])
        if score is not None:
            return _add_one(keyspace, argv, context, score)
    return _add_general(keyspace, argv, context)


def _add_one(keyspace: Keyspace, argv: list[bytes], context: CommandContext, score: float) -> CommandOutcome:
    """ZADD without flags for one member: the general path's outcome, with fewer steps."""
    key, member = argv[1], argv[3]
    zset = write_typed(keyspace, key, context, ZSet)
    if zset is None:
        zset = ZSet()
        zset.insert(member, score)
        keyspace.set_value(key, zset)
        return CommandOutcome(1, (argv,))
    current = zset.score(member)
    if current is None:
        zset.insert(member, score)
        return CommandOutcome(1, (argv,))
    if current == score:
        return CommandOutcome(0)  # unchanged (0 vs -0 too): Redis does not propagate it
    zset.move(member, current, score)
    return CommandOutcome(0, (argv,))


_ADD_FLAGS = frozenset((b"NX", b"XX", b"CH", b"INCR", b"GT", b"LT"))


def _add_general(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]."""
    flags: set[bytes] = set()
    index = 2
    while index < len(argv) and argv[index].upper() in _ADD_FLAGS:
        flags.add(argv[index].upper())
        index += 1
    element_count = len(argv) - index
    if element_count % 2 or not element_count:
        raise CommandError(SYNTAX)
    only_new, only_existing = b"NX" in flags, b"XX" in flags
    only_greater, only_less = b"GT" in flags, b"LT" in flags
    if only_new and only_existing:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (only_greater and only_new) or (only_less and only_new) or (only_greater and only_less):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    increment = b"INCR" in flags
    if increment and element_count > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    pairs = [(double_argument(argv[position]), argv[position + 1]) for position in range(index, len(argv), 2)]
    key = argv[1]
    zset = write_typed(keyspace, key, context, ZSet)
    if zset is None:
        if only_existing:
            return CommandOutcome(None if increment else 0)
        zset = ZSet()
        created = True
    else:
        created = False
    added = updated = 0
    processed = False
    result_score = 0.0
    for score, member in pairs:
        current = zset.score(member)
        if current is None:
            if only_existing:
                continue
            zset.insert(member, score)
            added += 1
            processed, result_score = True, score
            continue
        if only_new:
            continue
        new_score = current + score if increment else score
        if math.isnan(new_score):
            raise CommandError(NOT_A_NUMBER)
        if (only_less and new_score >= current) or (only_greater and new_score <= current):
            continue
        processed, result_score = True, new_score
        if new_score != current:
            zset.move(member, current, new_score)
            updated += 1
    if created and len(zset):
        keyspace.set_value(key, zset)
    changed = bool(added or updated)
    log = (argv,) if changed else NOTHING_LOGGED
    if increment:
        return CommandOutcome(Double(result_score) if processed else None, log)
    return CommandOutcome(added + updated if b"CH" in flags else added, log)


@command("zincrby", 4, "write fast")
def zincrby_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    increment = double_argument(argv[2])
    key, member = argv[1], argv[3]
    zset = write_typed(keyspace, key, context, ZSet)
    current = None if zset is None else zset.score(member)
    new_score = increment if current is None else current + increment
    if math.isnan(new_score):
        raise CommandError(NOT_A_NUMBER)
    if zset is None:
        zset = ZSet()
        zset.add(member, new_score)
        keyspace.set_value(key, zset, keep_deadline=True)
    else:
        zset.add(member, new_score)
    return CommandOutcome(Double(new_score), (argv,))


@command("zrem", -3, "write fast")
def zrem_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    key = argv[1]
    zset = write_typed(keyspace, key, context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    removed = sum(1 for member in argv[2:] if zset.remove(member))
    keyspace.delete_if_empty(key, zset)
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


def _pop(keyspace: Keyspace, argv: list[bytes], context: CommandContext, highest: bool) -> CommandOutcome:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = 1
    if len(argv) == 3:
        parsed = parse_int(argv[2])
        if parsed is None or parsed < 0:
            raise CommandError(MUST_BE_POSITIVE)
        count = parsed
    key = argv[1]
    zset = write_typed(keyspace, key, context, ZSet)
    if zset is None or count == 0:
        return CommandOutcome([])
    popped = zset.pop_highest(count) if highest else zset.pop_lowest(count)
    keyspace.delete_if_empty(key, zset)
    reply = flatten_pairs(popped, True)
    if len(argv) == 2:
        reply = list(reply)  # without COUNT, RESP3 too gets a flat [member, score]
    return CommandOutcome(reply, (argv,))


@command("zpopmin", -2, "write fast")
def zpopmin_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _pop(keyspace, argv, context, highest=False)


@command("zpopmax", -2, "write fast")
def zpopmax_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _pop(keyspace, argv, context, highest=True)


def flatten_pairs(pairs: list[tuple[bytes, float]], with_scores: bool) -> list:
    """Members only, or members with scores as `ScoredPairs` (nested pairs in RESP3)."""
    if not with_scores:
        return [member for member, _score in pairs]
    reply = ScoredPairs()
    for member, score in pairs:
        reply.append(member)
        reply.append(Double(score))
    return reply


def parse_score_bound(text: bytes) -> tuple[float, bool]:
    """A ZRANGEBYSCORE bound: '(' makes it exclusive; strtod rules otherwise."""
    exclusive = text[:1] == b"("
    value = parse_range_double(text[1:] if exclusive else text)
    if value is None or math.isnan(value):
        raise CommandError(BAD_SCORE_RANGE)
    return value, exclusive


def parse_lex_bound(text: bytes) -> LexBound:
    if text == b"+":
        return LEX_PLUS_INFINITY
    if text == b"-":
        return LEX_MINUS_INFINITY
    if text[:1] == b"(":
        return (text[1:], True)
    if text[:1] == b"[":
        return (text[1:], False)
    raise CommandError(BAD_LEX_RANGE)


def _score_positions(zset: ZSet, minimum: bytes, maximum: bytes) -> tuple[int, int]:
    low, low_exclusive = parse_score_bound(minimum)
    high, high_exclusive = parse_score_bound(maximum)
    return zset.index_range_by_score(low, low_exclusive, high, high_exclusive)


@command("zremrangebyscore", 4, "write")
def zremrangebyscore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    low = parse_score_bound(argv[2])
    high = parse_score_bound(argv[3])
    zset = write_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    first, end = zset.index_range_by_score(low[0], low[1], high[0], high[1])
    return _remove_positions(keyspace, argv, zset, first, end)


@command("zremrangebylex", 4, "write")
def zremrangebylex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    low = parse_lex_bound(argv[2])
    high = parse_lex_bound(argv[3])
    zset = write_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    first, end = zset.index_range_by_lex(low, high)
    return _remove_positions(keyspace, argv, zset, first, end)


@command("zremrangebyrank", 4, "write")
def zremrangebyrank_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    start = integer_argument(argv[2])
    stop = integer_argument(argv[3])
    zset = write_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    bounds = normalize_index_range(start, stop, len(zset))
    if bounds is None:
        return CommandOutcome(0)
    return _remove_positions(keyspace, argv, zset, bounds[0], bounds[1] + 1)


def _remove_positions(keyspace: Keyspace, argv: list[bytes], zset: ZSet, first: int, end: int) -> CommandOutcome:
    removed = zset.remove_positions(first, end) if end > first else 0
    keyspace.delete_if_empty(argv[1], zset)
    return CommandOutcome(removed, (argv,) if removed else NOTHING_LOGGED)


@command("zcard", 2, "readonly fast")
def zcard_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return CommandOutcome(len(read_typed(keyspace, argv[1], context, ZSet) or ()))


@command("zscore", 3, "readonly fast")
def zscore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    zset = read_typed(keyspace, argv[1], context, ZSet)
    score = None if zset is None else zset.score(argv[2])
    return CommandOutcome(None if score is None else Double(score))


@command("zmscore", -3, "readonly fast")
def zmscore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    zset = read_typed(keyspace, argv[1], context, ZSet)
    reply = []
    for member in argv[2:]:
        score = None if zset is None else zset.score(member)
        reply.append(None if score is None else Double(score))
    return CommandOutcome(reply)


def _rank(keyspace: Keyspace, argv: list[bytes], context: CommandContext, reverse: bool) -> CommandOutcome:
    zset = read_typed(keyspace, argv[1], context, ZSet)
    rank = None if zset is None else zset.rank(argv[2])
    if rank is None:
        return CommandOutcome(None)
    return CommandOutcome(len(zset) - 1 - rank if reverse else rank)


@command("zrank", 3, "readonly fast")
def zrank_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _rank(keyspace, argv, context, reverse=False)


@command("zrevrank", 3, "readonly fast")
def zrevrank_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _rank(keyspace, argv, context, reverse=True)


@command("zcount", 4, "readonly fast")
def zcount_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    low = parse_score_bound(argv[2])
    high = parse_score_bound(argv[3])
    zset = read_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    first, end = zset.index_range_by_score(low[0], low[1], high[0], high[1])
    return CommandOutcome(end - first)


@command("zlexcount", 4, "readonly fast")
def zlexcount_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    low = parse_lex_bound(argv[2])
    high = parse_lex_bound(argv[3])
    zset = read_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(0)
    first, end = zset.index_range_by_lex(low, high)
    return CommandOutcome(end - first)

