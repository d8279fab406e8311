"""ZRANGE and its older spellings (ZREVRANGE, ZRANGEBYSCORE, ZRANGEBYLEX and reverses).

One parser mirrors Redis 7.0's zrangeGenericCommand: the legacy verbs preset the range type
and direction (so repeating them, e.g. BYSCORE on ZRANGEBYSCORE, is a syntax error); LIMIT
defaults to "no limit" (-1), which is why `ZRANGE k 0 1 LIMIT 0 -1` is accepted, as in Redis.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument, normalize_index_range, read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.table import command
from kevy_persist.commands.zsets import flatten_pairs, parse_lex_bound, parse_score_bound
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

RANK, SCORE, LEX = "rank", "score", "lex"


def _zrange_generic(
    keyspace: Keyspace,
    argv: list[bytes],
    context: CommandContext,
    range_type: str | None,
    reverse: bool | None,
) -> CommandOutcome:
    pairs, with_scores = _select(keyspace, argv, context, range_type, reverse, 1)
    return CommandOutcome(flatten_pairs(pairs, with_scores))


def _select(
    keyspace: Keyspace,
    argv: list[bytes],
    context: CommandContext,
    range_type: str | None,
    reverse: bool | None,
    key_index: int,
    storing: bool = False,
) -> tuple[list[tuple[bytes, float]], bool]:
    """The (member, score) pairs a range names, in reply order, and WITHSCORES."""
    with_scores = False
    offset, limit = 0, -1
    index = key_index + 3
    while index < len(argv):
        option = argv[index].upper()
        remaining = len(argv) - index - 1
        if option == b"WITHSCORES" and not storing:
            with_scores = True
        elif option == b"LIMIT" and remaining >= 2:
            offset = integer_argument(argv[index + 1])
            limit = integer_argument(argv[index + 2])
            index += 2
        elif reverse is None and option == b"REV":
            reverse = True
        elif range_type is None and option == b"BYLEX":
            range_type = LEX
        elif range_type is None and option == b"BYSCORE":
            range_type = SCORE
        else:
            raise CommandError(SYNTAX)
        index += 1
    reverse = bool(reverse)
    range_type = range_type or RANK
    if limit != -1 and range_type == RANK:
        raise CommandError(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if with_scores and range_type == LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    low_text, high_text = argv[key_index + 1], argv[key_index + 2]
    if reverse and range_type != RANK:
        low_text, high_text = high_text, low_text
    if range_type == RANK:
        start = integer_argument(argv[key_index + 1])
        stop = integer_argument(argv[key_index + 2])
    elif range_type == SCORE:
        low = parse_score_bound(low_text)
        high = parse_score_bound(high_text)
    else:
        low_lex = parse_lex_bound(low_text)
        high_lex = parse_lex_bound(high_text)
    zset = read_typed(keyspace, argv[key_index], context, ZSet)
    if zset is None:
        return [], with_scores
    length = len(zset)
    if range_type == RANK:
        bounds = normalize_index_range(start, stop, length)
        if bounds is None:
            return [], with_scores
        if reverse:
            first, end = length - 1 - bounds[1], length - bounds[0]
        else:
            first, end = bounds[0], bounds[1] + 1
    else:
        if range_type == SCORE:
            first, end = zset.index_range_by_score(low[0], low[1], high[0], high[1])
        else:
            first, end = zset.index_range_by_lex(low_lex, high_lex)
        if offset < 0:
            return [], with_scores
        if reverse:
            end = max(first, end - offset)
            if limit >= 0:
                first = max(first, end - limit)
        else:
            first = min(end, first + offset)
            if limit >= 0:
                end = min(end, first + limit)
    pairs = zset.pairs_between(first, end)
    if reverse:
        pairs.reverse()
    return pairs, with_scores


@command("zrange", -4, "readonly")
def zrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, None, None)


@command("zrevrange", -4, "readonly")
def zrevrange_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, RANK, True)


@command("zrangebyscore", -4, "readonly")
def zrangebyscore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, SCORE, False)


@command("zrevrangebyscore", -4, "readonly")
def zrevrangebyscore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, SCORE, True)


@command("zrangebylex", -4, "readonly")
def zrangebylex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, LEX, False)


@command("zrevrangebylex", -4, "readonly")
def zrevrangebylex_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _zrange_generic(keyspace, argv, context, LEX, True)



@command("zrangestore", -5, "write", 1, 2)
def zrangestore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]."""
    target = argv[1]
    pairs, _with_scores = _select(keyspace, argv, context, None, None, 2, storing=True)
    if not pairs:
        existed = keyspace.lookup(target, context.lookup_now_ms) is not None
        keyspace.delete(target)
        return CommandOutcome(0, (argv,) if existed else ())
    keyspace.set_value(target, ZSet.from_pairs(pairs))
    return CommandOutcome(len(pairs), (argv,))
