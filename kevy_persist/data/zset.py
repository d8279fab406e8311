"""The sorted set value: members with float scores, kept in Redis order.

Redis orders a sorted set by score, then by member bytes (memcmp order). `ZSet` keeps a
member -> score dict for O(1) score look-ups and a `SortedList` of *order keys* for rank and
range queries. An order key is one bytes object: the score in 8 bytes whose byte order is the
numeric order (`score_prefix`), then the member. Comparing two keys is then one memcmp that
gives exactly Redis's order: different scores differ in the prefix, equal scores compare
their members the way Redis's `sdscmp` does (memcmp of the common length, then shorter
first), which is also how Python compares bytes.

Why not `(score, member)` tuples, which Python also compares in Redis order: a tuple
comparison follows two pointers (the tuple, then its float) where a key follows one, and a
bisect of a 100k-member set makes about 17 of them at random places in memory. Cache misses
are most of what ZADD costs, and keys halve them (bench/bench_commands.py). The price is the
member's bytes held twice (in the dict and in its key): about the size of the tuple and
float they replace for members up to ~40 bytes, more for longer ones.

Scores are any float except NaN (`inf` and `-inf` are legal, as in Redis); -0.0 is stored as
0.0. The dict and the list always hold the same pairs (checked by `check_invariants`, used by
the tests).

Index ranges here are already normalized, inclusive and in bounds: Redis's negative-index and
clamping rules live in the commands, which know the reply shapes.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from operator import itemgetter, neg

from sortedcontainers import SortedList

_PACK_DOUBLE = struct.Struct(">d").pack
_UNPACK_DOUBLE = struct.Struct(">d").unpack
_UNPACK_DOUBLE_FROM = struct.Struct(">d").unpack_from
_INVERT_BYTES = bytes(range(255, -1, -1))  # bytes.translate table: every byte b -> b ^ 0xFF
_PREFIX_BYTES = 8
_HEAD = itemgetter(slice(0, _PREFIX_BYTES))
_MEMBER = itemgetter(slice(_PREFIX_BYTES, None))
_FIRST_NON_NEGATIVE = b"\x80"  # score_prefix(-0.0): every key of a score >= 0 sorts at or above it
_CHUNK_KEYS = 4096  # items() decodes this many keys at a time


def score_prefix(score: float) -> bytes:
    """8 bytes whose memcmp order is the numeric order of non-NaN scores; -0.0 reads as 0.0.

    The IEEE 754 bits of a double, read as an unsigned big-endian integer, grow with the
    magnitude; so a score >= 0 gets its bits with the sign bit set (the bits of -score: one
    C call, and above every negative), and a negative score all its bits flipped (a larger
    magnitude then sorts lower, and the cleared sign bit puts it below every positive).
    """
    if score >= 0.0:
        return _PACK_DOUBLE(-(score + 0.0))  # + 0.0 turns -0.0 into 0.0 first
    return _PACK_DOUBLE(score).translate(_INVERT_BYTES)


def score_of_key(key: bytes) -> float:
    """The score an order key (or a bare `score_prefix`) starts with."""
    if key[0] & 0x80:
        return -_UNPACK_DOUBLE_FROM(key)[0]
    return _UNPACK_DOUBLE(key[:_PREFIX_BYTES].translate(_INVERT_BYTES))[0]


def _after_prefix(prefix: bytes) -> bytes:
    """The smallest 8 bytes above `prefix`: every key starting with `prefix` sorts below it.

    Never wraps: the largest prefix of a score is +inf's (0xfff0...), and a prefix that
    decodes as NaN is never any key's.
    """
    return (int.from_bytes(prefix, "big") + 1).to_bytes(_PREFIX_BYTES, "big")


def _pairs_of_keys(keys: list[bytes]) -> list[tuple[bytes, float]]:
    """`(member, score)` for sorted order keys, decoded with C-level steps only.

    Reads (ZRANGE, snapshots) go through here: the scores come out of the keys rather than
    the dict (a look-up per member would hash a new slice and touch the dict's memory). In
    sorted keys the negative scores come first, so one bisect splits the keys into a run
    whose prefixes are all inverted and a run whose prefixes are all negated.
    """
    negative_count = bisect_left(keys, _FIRST_NON_NEGATIVE)
    heads = b"".join(map(_HEAD, keys))
    cut = negative_count * _PREFIX_BYTES
    negatives = struct.unpack(f">{negative_count}d", heads[:cut].translate(_INVERT_BYTES))
    non_negatives = map(neg, struct.unpack(f">{len(keys) - negative_count}d", heads[cut:]))
    return list(zip(map(_MEMBER, keys), chain(negatives, non_negatives)))


class ZSet:
    """A Redis sorted set: `member -> score` plus the order keys (see the module docstring)."""

    __slots__ = ("_order", "_scores")

    def __init__(self) -> None:
        self._scores: dict[bytes, float] = {}
        self._order: SortedList = SortedList()

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bytes, float]]) -> ZSet:
        """Build from `(member, score)` pairs; a repeated member keeps its last score."""
        zset = cls()
        scores = zset._scores
        for member, score in pairs:
            assert not math.isnan(score), "a sorted set never holds NaN"
            scores[member] = float(score) + 0.0
        zset._order = SortedList([score_prefix(score) + member for member, score in scores.items()])
        return zset

    def copy(self) -> ZSet:
        duplicate = ZSet()
        duplicate._scores = dict(self._scores)
        duplicate._order = SortedList(self._order)
        return duplicate

    def __len__(self) -> int:
        return len(self._scores)

    def __contains__(self, member: object) -> bool:
        return member in self._scores

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ZSet):
            return NotImplemented
        return self._scores == other._scores

    def __repr__(self) -> str:
        return f"ZSet({list(self.items())!r})"

    def items(self) -> Iterator[tuple[bytes, float]]:
        """`(member, score)` pairs from the lowest score to the highest."""
        keys = iter(self._order)
        while chunk := list(islice(keys, _CHUNK_KEYS)):
            yield from _pairs_of_keys(chunk)

    def score(self, member: bytes) -> float | None:
        return self._scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Set `member`'s score; True when the member is new.

        A -0.0 is stored as 0.0: Redis keeps small sorted sets as text, where the sign of
        zero is lost, so ZSCORE answers "0" after ZADD -0.
        """
        previous = self._scores.get(member)
        if previous is None:
            self.insert(member, score)
            return True
        if previous != score:
            # Redis keeps the old score when the new one compares equal (0 vs -0 too).
            self.move(member, previous, score)
        return False

    def insert(self, member: bytes, score: float) -> None:
        """Add a member known to be absent (the caller looked its score up: None)."""
        assert not math.isnan(score), "a sorted set never holds NaN"
        assert member not in self._scores, "insert is for new members"
        score += 0.0
        self._scores[member] = score
        self._order.add(score_prefix(score) + member)

    def move(self, member: bytes, previous: float, score: float) -> None:
        """Change a member's score from `previous` (its current one) to a different `score`."""
        assert not math.isnan(score) and score != previous, "a different score, never NaN"
        score += 0.0
        order = self._order
        order.remove(score_prefix(previous) + member)  # ValueError if `previous` was not its score
        self._scores[member] = score
        order.add(score_prefix(score) + member)

    def remove(self, member: bytes) -> bool:
        """Remove `member`; True when it was there."""
        previous = self._scores.pop(member, None)
        if previous is None:
            return False
        self._order.remove(score_prefix(previous) + member)
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based position from the lowest score, or None when absent."""
        score = self._scores.get(member)
        if score is None:
            return None
        return self._order.index(score_prefix(score) + member)

    def range_by_index(self, start: int, stop: int) -> list[tuple[bytes, float]]:
        """Pairs at positions start..stop inclusive (both already in bounds)."""
        assert 0 <= start <= stop < len(self._order)
        return _pairs_of_keys(list(self._order.islice(start, stop + 1)))

    def index_range_by_score(
        self, minimum: float, minimum_exclusive: bool, maximum: float, maximum_exclusive: bool
    ) -> tuple[int, int]:
        """The half-open position range [first, end) of scores inside the interval."""
        order = self._order
        # A bare prefix sorts before every key of its score, `_after_prefix` after them all.
        low = score_prefix(minimum)
        first = order.bisect_left(_after_prefix(low) if minimum_exclusive else low)
        high = score_prefix(maximum)
        end = order.bisect_left(high if maximum_exclusive else _after_prefix(high))
        return first, max(first, end)

    def index_range_by_lex(
        self, minimum: LexBound, maximum: LexBound
    ) -> tuple[int, int]:
        """The half-open position range [first, end) of members inside a lex interval.

        Redis assumes every member has the same score for lex ranges; with mixed scores
        this walks the score order and keeps the contiguous run that Redis's skiplist
        descent would find, which is the same whenever the scores are equal.
        """
        order = self._order
        count = len(order)
        if count == 0:
            return 0, 0
        prefix = order[0][:_PREFIX_BYTES]
        if order[-1][:_PREFIX_BYTES] == prefix:
            first = _lex_first(order, prefix, minimum)
            end = _lex_end(order, prefix, maximum)
            return first, max(first, end)
        first = 0
        while first < count and not lex_above_minimum(order[first][_PREFIX_BYTES:], minimum):
            first += 1
        end = first
        while end < count and lex_below_maximum(order[end][_PREFIX_BYTES:], maximum):
            end += 1
        return first, end

    def pairs_between(self, first: int, end: int) -> list[tuple[bytes, float]]:
        return _pairs_of_keys(list(self._order.islice(first, end)))

    def pop_lowest(self, count: int) -> list[tuple[bytes, float]]:
        return self._pop(count, from_highest=False)

    def pop_highest(self, count: int) -> list[tuple[bytes, float]]:
        return self._pop(count, from_highest=True)

    def _pop(self, count: int, from_highest: bool) -> list[tuple[bytes, float]]:
        popped = []
        order = self._order
        scores = self._scores
        for _ in range(min(count, len(order))):
            member = order.pop(-1 if from_highest else 0)[_PREFIX_BYTES:]
            popped.append((member, scores.pop(member)))
        return popped

    def remove_positions(self, first: int, end: int) -> int:
        """Remove the members at positions [first, end); returns how many."""
        removed = self._order[first:end]
        del self._order[first:end]
        scores = self._scores
        for key in removed:
            del scores[key[_PREFIX_BYTES:]]
        return len(removed)

    def check_invariants(self) -> None:
        assert len(self._scores) == len(self._order)
        previous = None
        for key in self._order:
            member = key[_PREFIX_BYTES:]
            score = self._scores[member]
            assert not math.isnan(score)
            assert math.copysign(1.0, score) > 0 or score != 0.0, "-0.0 is stored as 0.0"
            assert score_of_key(key) == score and key == score_prefix(score) + member
            assert previous is None or (score_of_key(previous), previous[_PREFIX_BYTES:]) < (score, member)
            previous = key


# A lex bound: (member, exclusive) or the open ends "-" and "+" as the strings below.
LexBound = tuple[bytes, bool] | str
LEX_MINUS_INFINITY = "-"
LEX_PLUS_INFINITY = "+"


def lex_above_minimum(member: bytes, minimum: LexBound) -> bool:
    if minimum == LEX_MINUS_INFINITY:
        return True
    if minimum == LEX_PLUS_INFINITY:
        return False
    bound, exclusive = minimum
    return member > bound if exclusive else member >= bound


def lex_below_maximum(member: bytes, maximum: LexBound) -> bool:
    if maximum == LEX_PLUS_INFINITY:
        return True
    if maximum == LEX_MINUS_INFINITY:
        return False
    bound, exclusive = maximum
    return member < bound if exclusive else member <= bound


def _lex_first(order: SortedList, prefix: bytes, minimum: LexBound) -> int:
    if minimum == LEX_MINUS_INFINITY:
        return 0
    if minimum == LEX_PLUS_INFINITY:
        return len(order)
    bound, exclusive = minimum
    if exclusive:
        return order.bisect_right(prefix + bound)
    return order.bisect_left(prefix + bound)


def _lex_end(order: SortedList, prefix: bytes, maximum: LexBound) -> int:
    if maximum == LEX_PLUS_INFINITY:
        return len(order)
    if maximum == LEX_MINUS_INFINITY:
        return 0
    bound, exclusive = maximum
    if exclusive:
        return order.bisect_left(prefix + bound)
    return order.bisect_right(prefix + bound)
