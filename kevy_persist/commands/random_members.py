"""Random members with a count: HRANDFIELD, ZRANDMEMBER (SRANDMEMBER lives in sets.py).

What they model: Redis 7.0's replies. A positive count returns that many distinct members
(the whole collection, in its own order, when the count reaches its size); a negative count
returns |count| members drawn with repetition; zero returns an empty array. (A whole sorted
set comes highest first, as Redis iterates it.) WITHVALUES /
WITHSCORES interleave the values (RESP3 nests each pair). The argument checks come in
Redis's order: the count (within +-LONG_MAX), the syntax, then +-LONG_MAX/2 when values are
asked for, then the key.

They are reads: nothing is logged, and the choices come from the context's random source
(replay never runs them). One bound Redis lacks: a repeated draw larger than
`MAX_REPEATED_DRAWS` is refused, since Redis would build a reply of that many elements in
memory (`HRANDFIELD h -1000000000000` exhausts it); a distinct draw never exceeds the
collection's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kevy_persist.commands.access import read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome, RandomSource
from kevy_persist.commands.numbers import parse_int
from kevy_persist.commands.replies import Double, ScoredPairs
from kevy_persist.commands.table import command
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

LONG_MAX = 2**63 - 1
MAX_REPEATED_DRAWS = 1 << 22
COUNT_RANGE = f"ERR value is out of range, value must between {-LONG_MAX} and {LONG_MAX}"
TOO_MANY_DRAWS = f"ERR count is too large: at most {MAX_REPEATED_DRAWS} members can be drawn with repetition"


def random_count(text: bytes) -> int:
    """A count within Redis's -LONG_MAX..LONG_MAX (getRangeLongFromObjectOrReply)."""
    count = parse_int(text)
    if count is None:
        raise CommandError("ERR value is not an integer or out of range")
    if count < -LONG_MAX:
        raise CommandError(COUNT_RANGE)
    return count


def pick_distinct(items: Sequence[Any], count: int, random: RandomSource) -> list[Any]:
    """`count` distinct items (count < len(items)), by a partial Fisher-Yates shuffle."""
    assert 0 <= count < len(items)
    pool = list(items)
    chosen = []
    for _ in range(count):
        index = random.randrange(len(pool))
        pool[index], pool[-1] = pool[-1], pool[index]
        chosen.append(pool.pop())
    return chosen


def pick_repeated(items: Sequence[Any], count: int, random: RandomSource) -> list[Any]:
    """`count` items drawn with repetition; refuses draws that would flood memory."""
    if count > MAX_REPEATED_DRAWS:
        raise CommandError(TOO_MANY_DRAWS)
    size = len(items)
    return [items[random.randrange(size)] for _ in range(count)]


def draw(items: Sequence[Any], count: int, random: RandomSource) -> list[Any]:
    """Redis's count rule: negative repeats, >= size is everything, else distinct."""
    if count < 0:
        return pick_repeated(items, -count, random)
    if count >= len(items):
        return list(items)
    return pick_distinct(items, count, random)


def _parse_count_and_flag(argv: list[bytes], flag: bytes) -> tuple[int, bool]:
    count = random_count(argv[2])
    if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != flag):
        raise CommandError(SYNTAX)
    with_values = len(argv) == 4
    if with_values and not -(LONG_MAX // 2) <= count <= LONG_MAX // 2:
        raise CommandError("ERR value is out of range")
    return count, with_values


@command("hrandfield", -2, "readonly")
def hrandfield_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) == 2:
        fields = read_typed(keyspace, argv[1], context, dict)
        if fields is None:
            return CommandOutcome(None)
        return CommandOutcome(pick_repeated(list(fields), 1, context.random)[0])
    count, with_values = _parse_count_and_flag(argv, b"WITHVALUES")
    fields = read_typed(keyspace, argv[1], context, dict)
    if fields is None or count == 0:
        return CommandOutcome([])
    chosen = draw(list(fields.items()), count, context.random)
    if not with_values:
        return CommandOutcome([field for field, _ in chosen])
    return CommandOutcome(ScoredPairs(part for pair in chosen for part in pair))


@command("zrandmember", -2, "readonly")
def zrandmember_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    if len(argv) == 2:
        zset = read_typed(keyspace, argv[1], context, ZSet)
        if zset is None:
            return CommandOutcome(None)
        return CommandOutcome(pick_repeated(list(zset.items()), 1, context.random)[0][0])
    count, with_scores = _parse_count_and_flag(argv, b"WITHSCORES")
    zset = read_typed(keyspace, argv[1], context, ZSet)
    if zset is None or count == 0:
        return CommandOutcome([])
    # Redis walks a sorted set from its highest member down (zuiNext), so "the whole set"
    # comes in descending order.
    chosen = draw(list(zset.items())[::-1], count, context.random)
    if not with_scores:
        return CommandOutcome([member for member, _ in chosen])
    return CommandOutcome(ScoredPairs(part for member, score in chosen for part in (member, Double(score))))
