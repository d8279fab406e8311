"""LCS: the bit-parallel rows give the textbook table, and the walk back is Redis's.

Method: Hypothesis draws pairs of short strings over a small alphabet (so matches and ties
are common); every LCS(i, j) read from the bit rows must equal the plain dynamic-programming
table, and the command's string must be the one Redis's walk (re-implemented here over the
plain table, the reference) picks, with the same IDX ranges.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.commands import CommandContext, execute
from kevy_persist.commands.lcs import lcs_length, lcs_rows
from kevy_persist.data.keyspace import Keyspace

text = st.binary(max_size=24).map(lambda data: bytes(b"abc"[byte % 3] for byte in data))


def plain_table(first: bytes, second: bytes) -> list[list[int]]:
    table = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i in range(1, len(first) + 1):
        for j in range(1, len(second) + 1):
            if first[i - 1] == second[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


def reference_walk(first: bytes, second: bytes) -> bytes:
    table = plain_table(first, second)
    i, j, picked = len(first), len(second), []
    while i > 0 and j > 0:
        if first[i - 1] == second[j - 1]:
            picked.append(first[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return bytes(reversed(picked))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(first=text, second=text)
def test_bit_rows_equal_the_plain_table(first: bytes, second: bytes) -> None:
    """Method: every cell of the table, read from the rows, against the plain DP."""
    rows = lcs_rows(first, second)
    table = plain_table(first, second)
    for i in range(len(first) + 1):
        for j in range(len(second) + 1):
            assert lcs_length(rows, i, j) == table[i][j]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(first=text, second=text)
def test_the_command_returns_the_string_of_redis_walk(first: bytes, second: bytes) -> None:
    """Method: LCS's string equals the reference walk's; LEN equals the table's corner."""
    keyspace = Keyspace()
    context = CommandContext(0, random.Random(0))
    execute(keyspace, [b"MSET", b"a", first or b"x", b"b", second or b"x"], context)
    first, second = first or b"x", second or b"x"
    assert execute(keyspace, [b"LCS", b"a", b"b"], context).reply == reference_walk(first, second)
    assert execute(keyspace, [b"LCS", b"a", b"b", b"LEN"], context).reply == plain_table(first, second)[-1][-1]
