"""ZSet: Redis ordering, ranges and pops agree with a plain sorted-list model.

Method: Hypothesis drives random add/remove/pop operations on a ZSet and on a dict model;
after each step the ZSet's order must equal the model sorted by (score, member bytes), and
rank, score-range and lex-range queries must equal brute-force filters of that order.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.data.zset import (
    LEX_MINUS_INFINITY,
    LEX_PLUS_INFINITY,
    ZSet,
    score_of_key,
    score_prefix,
)

members = st.binary(max_size=3)
scores = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.0, math.inf, -math.inf]),
    st.floats(allow_nan=False, width=32),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), members, scores),
        st.tuples(st.just("remove"), members, st.just(0.0)),
        st.tuples(st.just("pop_lowest"), st.just(b""), st.integers(0, 3)),
        st.tuples(st.just("pop_highest"), st.just(b""), st.integers(0, 3)),
    ),
    max_size=40,
)


def model_order(model: dict[bytes, float]) -> list[tuple[bytes, float]]:
    return sorted(model.items(), key=lambda pair: (pair[1], pair[0]))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(operations=operations)
def test_order_matches_redis_score_then_member_order(operations: list[tuple]) -> None:
    """Method: random operations on ZSet and a dict model; orders and pops agree."""
    zset = ZSet()
    model: dict[bytes, float] = {}
    for operation, member, argument in operations:
        if operation == "add":
            assert zset.add(member, argument) == (member not in model)
            if member not in model or model[member] != argument:
                model[member] = argument + 0.0
        elif operation == "remove":
            assert zset.remove(member) == (member in model)
            model.pop(member, None)
        else:
            order = model_order(model)
            count = min(int(argument), len(order))
            expected = order[:count] if operation == "pop_lowest" else order[::-1][:count]
            popped = zset.pop_lowest(int(argument)) if operation == "pop_lowest" else zset.pop_highest(int(argument))
            assert popped == expected
            for popped_member, _score in popped:
                del model[popped_member]
        zset.check_invariants()
        assert list(zset.items()) == model_order(model)
        assert len(zset) == len(model)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    pairs=st.lists(st.tuples(members, scores), max_size=20),
    low=scores, high=scores, low_exclusive=st.booleans(), high_exclusive=st.booleans(),
)
def test_score_ranges_and_ranks_match_brute_force(pairs, low, high, low_exclusive, high_exclusive) -> None:
    """Method: index_range_by_score equals filtering the ordered pairs by the interval."""
    zset = ZSet.from_pairs(pairs)
    order = list(zset.items())

    def inside(score: float) -> bool:
        above = score > low if low_exclusive else score >= low
        below = score < high if high_exclusive else score <= high
        return above and below

    first, end = zset.index_range_by_score(low, low_exclusive, high, high_exclusive)
    assert zset.pairs_between(first, end) == [pair for pair in order if inside(pair[1])]
    for position, (member, _score) in enumerate(order):
        assert zset.rank(member) == position
    assert zset.rank(b"\xff" * 5) is None


lex_bounds = st.one_of(
    st.just(LEX_MINUS_INFINITY), st.just(LEX_PLUS_INFINITY), st.tuples(members, st.booleans())
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(names=st.lists(members, max_size=12), low=lex_bounds, high=lex_bounds)
def test_lex_ranges_with_equal_scores_match_brute_force(names, low, high) -> None:
    """Method: with one score for all members, the lex range is a filter on member bytes."""
    zset = ZSet.from_pairs((name, 0.0) for name in names)

    def above(member: bytes) -> bool:
        if low == LEX_MINUS_INFINITY:
            return True
        if low == LEX_PLUS_INFINITY:
            return False
        return member > low[0] if low[1] else member >= low[0]

    def below(member: bytes) -> bool:
        if high == LEX_PLUS_INFINITY:
            return True
        if high == LEX_MINUS_INFINITY:
            return False
        return member < high[0] if high[1] else member <= high[0]

    first, end = zset.index_range_by_lex(low, high)
    expected = [member for member, _ in zset.items() if above(member) and below(member)]
    assert [member for member, _ in zset.pairs_between(first, end)] == expected


def test_from_pairs_keeps_the_last_score_and_copy_is_independent() -> None:
    """Method: a repeated member keeps its last score; mutating a copy leaves the original."""
    zset = ZSet.from_pairs([(b"a", 1.0), (b"b", 2.0), (b"a", 3.0)])
    assert list(zset.items()) == [(b"b", 2.0), (b"a", 3.0)]
    duplicate = zset.copy()
    duplicate.add(b"c", 0.0)
    duplicate.remove(b"a")
    assert list(zset.items()) == [(b"b", 2.0), (b"a", 3.0)]
    assert zset != duplicate


def test_infinite_scores_sort_at_the_ends_and_negative_zero_is_stored_as_zero() -> None:
    """Method: inf/-inf order like Redis; ZADD -0 reads back as 0 (Redis's text encoding)."""
    zset = ZSet()
    zset.add(b"top", math.inf)
    zset.add(b"bottom", -math.inf)
    zset.add(b"zero", -0.0)
    assert [member for member, _ in zset.items()] == [b"bottom", b"zero", b"top"]
    assert math.copysign(1.0, zset.score(b"zero")) == 1.0
    first, end = zset.index_range_by_score(-math.inf, False, math.inf, False)
    assert (first, end) == (0, 3)
    first, end = zset.index_range_by_score(-math.inf, True, math.inf, True)
    assert (first, end) == (1, 2)


EDGE_SCORES = [
    -math.inf, -1.7976931348623157e308, -1.0, -2.2250738585072014e-308, -5e-324, -0.0,
    0.0, 5e-324, 2.2250738585072014e-308, 1.0, 1.7976931348623157e308, math.inf,
]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    first=st.one_of(st.sampled_from(EDGE_SCORES), st.floats(allow_nan=False)),
    second=st.one_of(st.sampled_from(EDGE_SCORES), st.floats(allow_nan=False)),
)
def test_score_prefix_bytes_order_is_the_numeric_order(first: float, second: float) -> None:
    """Method: for any two non-NaN doubles (subnormals, +-0, +-inf included), their prefixes
    compare as bytes exactly as the scores compare as numbers, and each decodes back."""
    assert (score_prefix(first) < score_prefix(second)) == (first < second)
    assert (score_prefix(first) == score_prefix(second)) == (first == second)
    for score in (first, second):
        decoded = score_of_key(score_prefix(score) + b"member")
        assert decoded == score and math.copysign(1.0, decoded) == math.copysign(1.0, score + 0.0)


def test_edge_scores_sort_in_numeric_order_and_zero_bounds_ignore_the_sign() -> None:
    """Method: members holding every edge score come out in numeric order; score ranges with
    -0.0 and 0.0 bounds select the same members (Redis compares -0 == 0)."""
    zset = ZSet.from_pairs((b"m%02d" % index, score) for index, score in enumerate(EDGE_SCORES))
    zset.check_invariants()
    scores = [score for _member, score in zset.items()]
    assert scores == sorted(score + 0.0 for score in EDGE_SCORES)
    for zero in (0.0, -0.0):
        above = zset.pairs_between(*zset.index_range_by_score(zero, True, math.inf, False))
        assert [score for _member, score in above] == [5e-324, 2.2250738585072014e-308, 1.0,
                                                       1.7976931348623157e308, math.inf]
        at_zero = zset.pairs_between(*zset.index_range_by_score(zero, False, zero, False))
        assert sorted(member for member, _score in at_zero) == [b"m05", b"m06"]
        below = zset.index_range_by_score(-math.inf, False, zero, True)
        assert below == (0, 5)


def test_moving_a_member_keeps_one_order_key_per_member() -> None:
    """Method: move a member's score back and forth across others and onto a tie; the order,
    ranks and invariants follow (the old key is gone each time)."""
    zset = ZSet.from_pairs([(b"a", 1.0), (b"b", 2.0), (b"c", 3.0)])
    zset.move(b"a", 1.0, 5.0)
    assert [member for member, _ in zset.items()] == [b"b", b"c", b"a"]
    zset.move(b"a", 5.0, 2.0)  # ties with b: member bytes decide, a first
    assert list(zset.items()) == [(b"a", 2.0), (b"b", 2.0), (b"c", 3.0)]
    assert zset.rank(b"b") == 1
    zset.insert(b"", -0.0)
    assert next(zset.items()) == (b"", 0.0)
    zset.check_invariants()
