"""SCAN returns every key present for a whole iteration, whatever happens meanwhile.

Method: Hypothesis builds a keyspace, starts a SCAN iteration with a random COUNT and, between
calls, adds and deletes keys and starts other iterations (which rebuild the cached order).
Every key present from the first call to the last must have been returned; nothing returned
may be a key that was absent at the time of the call; the iteration must end.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.commands import CommandContext, execute
from kevy_persist.data.keyspace import Keyspace

CONTEXT = CommandContext(0, random.Random(0))
names = st.integers(0, 60).map(lambda number: b"key:%d" % number)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    initial=st.sets(names, max_size=40),
    count=st.integers(1, 12),
    churn=st.lists(st.tuples(st.sampled_from(["add", "delete", "restart"]), names), max_size=40),
)
def test_keys_present_throughout_are_returned(initial, count, churn) -> None:
    """Method: interleave SCAN calls with churn; check completeness and soundness."""
    keyspace = Keyspace()
    for key in initial:
        execute(keyspace, [b"SET", key, b"v"], CONTEXT)
    present_throughout = set(initial)
    returned: set[bytes] = set()
    cursor = b"0"
    steps = iter(churn)
    for _ in range(1000):
        cursor, keys = execute(keyspace, [b"SCAN", cursor, b"COUNT", b"%d" % count], CONTEXT).reply
        assert all(key in keyspace for key in keys)
        returned.update(keys)
        if cursor == b"0":
            break
        action, key = next(steps, ("none", b""))
        if action == "add":
            execute(keyspace, [b"SET", key, b"v"], CONTEXT)
        elif action == "delete":
            execute(keyspace, [b"DEL", key], CONTEXT)
            present_throughout.discard(key)
        elif action == "restart":
            execute(keyspace, [b"SCAN", b"0", b"COUNT", b"1"], CONTEXT)
    assert cursor == b"0", "the iteration did not end"
    assert present_throughout <= returned
