"""The HLL codec's pure parts: register packing, the lane-parallel maximum, sparse vs dense.

Method: Hypothesis draws register arrays (values 0..63) and element lists. Packing then
unpacking the dense form returns the registers; `register_maximum` equals the plain
per-register max; adding the same elements to a sparse HLL and to a dense one (converted
up front) gives the same registers and the same estimate, whatever the sparse layout. The
byte-exactness against Redis itself is tests/test_differential_hyperloglog.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.data.hyperloglog import (
    REGISTER_COUNT,
    HyperLogLog,
    empty_sparse,
    pack_dense,
    register_maximum,
    unpack_dense,
)
from kevy_persist.data.hyperloglog_estimate import estimate

# A few explicit registers over a seeded fill: small natural inputs, full-size arrays.
registers = st.tuples(st.integers(0, 63), st.dictionaries(st.integers(0, REGISTER_COUNT - 1), st.integers(0, 63), max_size=40)).map(
    lambda drawn: bytes(drawn[1].get(index, (index * 7 + drawn[0]) % 64) for index in range(REGISTER_COUNT))
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(values=registers)
def test_dense_packing_round_trips(values: bytes) -> None:
    assert bytes(unpack_dense(pack_dense(values))) == values


@settings(max_examples=40, deadline=None, derandomize=True)
@given(left=registers, right=registers)
def test_register_maximum_is_the_per_register_max(left: bytes, right: bytes) -> None:
    assert register_maximum(left, right) == bytes(map(max, left, right))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(elements=st.lists(st.binary(max_size=12), max_size=300))
def test_sparse_and_dense_agree(elements: list[bytes]) -> None:
    sparse, dense = HyperLogLog(empty_sparse()), HyperLogLog(empty_sparse())
    dense.to_dense()
    for element in elements:
        assert sparse.add(element) == dense.add(element)
    assert sparse.registers() == dense.registers()
    assert estimate(bytes(sparse.registers())) == estimate(bytes(dense.registers()))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([8, 60, 500, REGISTER_COUNT]),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 40)), min_size=20, max_size=400))
def test_locating_a_register_at_c_speed_edits_exactly_as_the_opcode_walk(spread, raises) -> None:
    """PFADD finds the covering opcode with `_locate` (running sums); PFMERGE walks the opcodes
    one by one. Both must edit the sparse bytes identically, promotion to dense included."""
    located, walked = HyperLogLog(empty_sparse()), HyperLogLog(empty_sparse())
    for drawn, count in raises:
        index = drawn % spread  # a narrow spread makes neighbours of equal value (VAL merges)
        count = count if count > 32 else 1 + count % 3
        assert located.raise_register(index, count) == (
            walked.raise_register(index, count) if walked.is_dense else walked._sparse_raise(index, count, [])
        )
        assert located.data == walked.data


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.binary(max_size=3000).map(lambda raw: bytes(1 + byte % 64 for byte in raw)))
def test_the_c_speed_run_sum_is_exact_past_adler32s_modulus(runs: bytes) -> None:
    """`_locate` sums one-byte runs (1..64 each) through adler32, whose byte sum wraps at
    65,521; a forged 3,000-byte stretch sums to up to 192,000, and must still sum exactly."""
    from kevy_persist.data.hyperloglog import _run_sum

    assert _run_sum(memoryview(runs)) == sum(runs)
    assert _run_sum(memoryview(bytes([64]) * 3000)) == 192_000
