"""The sorted set value: members with float scores, kept in Redis order.

Redis orders a sorted set by score, then by member bytes (memcmp order). `ZSet` keeps a
member -> score dict for O(1) score look-ups and a `SortedList` of `(score, member)` pairs for
rank and range queries; Python compares those tuples exactly in Redis order. Scores are any
float except NaN (`inf` and `-inf` are legal, as in Redis); the dict and the list always hold
the same pairs (checked by `check_invariants`, used by the tests).

Index ranges here are already normalized, inclusive and in bounds: Redis's negative-index and
clamping rules live in the commands, which know the reply shapes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from sortedcontainers import SortedList


class ZSet:
    """A Redis sorted set: `member -> score` plus the `(score, member)` order."""

    __slots__ = ("_scores", "_order")

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
            scores[member] = float(score)
        zset._order = SortedList((score, member) for member, score in scores.items())
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
        for score, member in self._order:
            yield member, score

    def score(self, member: bytes) -> float | None:
        return self._scores.get(member)

    def add(self, member: bytes, score: float) -> bool:
        """Set `member`'s score; True when the member is new.

        A -0.0 is stored as 0.0: Redis keeps small sorted sets as text, where the sign of
        zero is lost, so ZSCORE answers "0" after ZADD -0.
        """
        assert not math.isnan(score), "a sorted set never holds NaN"
        score += 0.0
        previous = self._scores.get(member)
        if previous is not None:
            if previous == score:
                # Redis keeps the old score when the new one compares equal (0 vs -0 too).
                return False
            self._order.remove((previous, member))
        self._scores[member] = score
        self._order.add((score, member))
        return previous is None

    def remove(self, member: bytes) -> bool:
        """Remove `member`; True when it was there."""
        previous = self._scores.pop(member, None)
        if previous is None:
            return False
        self._order.remove((previous, member))
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based position from the lowest score, or None when absent."""
        score = self._scores.get(member)
        if score is None:
            return None
        return self._order.index((score, member))

    def range_by_index(self, start: int, stop: int) -> list[tuple[bytes, float]]:
        """Pairs at positions start..stop inclusive (both already in bounds)."""
        assert 0 <= start <= stop < len(self._order)
        return [(member, score) for score, member in self._order.islice(start, stop + 1)]

    def index_range_by_score(
        self, minimum: float, minimum_exclusive: bool, maximum: float, maximum_exclusive: bool
    ) -> tuple[int, int]:
        """The half-open position range [first, end) of scores inside the interval."""
        order = self._order
        # Members are bytes, so () sorts before and a 1-tuple of a huge marker after any pair.
        if minimum_exclusive:
            first = order.bisect_right((minimum, _AFTER_EVERY_MEMBER))
        else:
            first = order.bisect_left((minimum,))
        if maximum_exclusive:
            end = order.bisect_left((maximum,))
        else:
            end = order.bisect_right((maximum, _AFTER_EVERY_MEMBER))
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
        first_score = order[0][0]
        if order[-1][0] == first_score:
            first = _lex_first(order, first_score, minimum)
            end = _lex_end(order, first_score, maximum)
            return first, max(first, end)
        first = 0
        while first < count and not lex_above_minimum(order[first][1], minimum):
            first += 1
        end = first
        while end < count and lex_below_maximum(order[end][1], maximum):
            end += 1
        return first, end

    def pairs_between(self, first: int, end: int) -> list[tuple[bytes, float]]:
        return [(member, score) for score, member in self._order.islice(first, end)]

    def pop_lowest(self, count: int) -> list[tuple[bytes, float]]:
        return self._pop(count, from_highest=False)

    def pop_highest(self, count: int) -> list[tuple[bytes, float]]:
        return self._pop(count, from_highest=True)

    def _pop(self, count: int, from_highest: bool) -> list[tuple[bytes, float]]:
        popped = []
        order = self._order
        for _ in range(min(count, len(order))):
            score, member = order.pop(-1 if from_highest else 0)
            del self._scores[member]
            popped.append((member, score))
        return popped

    def remove_positions(self, first: int, end: int) -> int:
        """Remove the members at positions [first, end); returns how many."""
        removed = self._order[first:end]
        del self._order[first:end]
        for _score, member in removed:
            del self._scores[member]
        return len(removed)

    def check_invariants(self) -> None:
        assert len(self._scores) == len(self._order)
        for score, member in self._order:
            assert self._scores[member] == score
            assert not math.isnan(score)


# A lex bound: (member, exclusive) or the open ends "-" and "+" as the strings below.
LexBound = tuple[bytes, bool] | str
LEX_MINUS_INFINITY = "-"
LEX_PLUS_INFINITY = "+"


class _AfterEveryMember:
    """Compares greater than any bytes member, so (score, marker) ends a score's run."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    __hash__ = object.__hash__


_AFTER_EVERY_MEMBER = _AfterEveryMember()


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


def _lex_first(order: SortedList, score: float, minimum: LexBound) -> int:
    if minimum == LEX_MINUS_INFINITY:
        return 0
    if minimum == LEX_PLUS_INFINITY:
        return len(order)
    bound, exclusive = minimum
    if exclusive:
        return order.bisect_right((score, bound))
    return order.bisect_left((score, bound))


def _lex_end(order: SortedList, score: float, maximum: LexBound) -> int:
    if maximum == LEX_PLUS_INFINITY:
        return len(order)
    if maximum == LEX_MINUS_INFINITY:
        return 0
    bound, exclusive = maximum
    if exclusive:
        return order.bisect_left((score, bound))
    return order.bisect_right((score, bound))
