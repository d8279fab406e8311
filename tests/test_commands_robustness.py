"""`execute` never raises, whatever the argv, and keeps the keyspace's invariants.

Method: Hypothesis draws argvs of every verb in the table with 0-7 arguments taken from a
mix of keys, numbers (huge, negative, float, inf, nan), option words and raw bytes, runs
them on a keyspace pre-filled with one key of each type, and checks that each call returns
an outcome (errors are replies), that no collection is left empty, that every zset is
consistent, and that every logged argv replays without an error.
"""

from __future__ import annotations

import random
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.commands import COMMAND_TABLE, CommandContext, ErrorReply, execute, replay
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

SETUP = [
    [b"SET", b"s", b"12"], [b"HSET", b"h", b"f", b"1"], [b"RPUSH", b"l", b"a", b"b"],
    [b"SADD", b"set", b"a", b"b"], [b"ZADD", b"z", b"1", b"a", b"2", b"b"],
]
argument = st.one_of(
    st.sampled_from([b"s", b"h", b"l", b"set", b"z", b"missing"]),
    st.sampled_from([b"0", b"1", b"-1", b"2", b"10", b"-100", b"9223372036854775807", b"-9223372036854775808",
                     b"99999999999999999999", b"1.5", b"inf", b"-inf", b"nan", b"(1", b"[a", b"-", b"+", b""]),
    st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL",
                     b"GET", b"PERSIST", b"WITHSCORES", b"LIMIT", b"REV", b"BYSCORE", b"BYLEX", b"COUNT",
                     b"MATCH", b"TYPE", b"LEFT", b"RIGHT", b"BEFORE", b"AFTER", b"REPLACE", b"DB", b"ASYNC"]),
    st.binary(max_size=4),
)
verbs = st.sampled_from(sorted(COMMAND_TABLE))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(calls=st.lists(st.tuples(verbs, st.lists(argument, max_size=7)), min_size=1, max_size=6))
def test_execute_never_raises_and_keeps_invariants(calls) -> None:
    """Method: random verbs and arguments; outcomes only, invariants hold, logs replay."""
    keyspace = Keyspace()
    context = CommandContext(1_000_000, random.Random(0))
    for argv in SETUP:
        execute(keyspace, argv, context)
    for verb, arguments in calls:
        shadow = Keyspace()
        for key, kind, value, deadline_ms in keyspace.iter_entries():
            shadow.set_value(key, value.copy() if not isinstance(value, bytes) else value)
            if deadline_ms is not None:
                shadow.set_deadline(key, deadline_ms)
        outcome = execute(keyspace, [verb, *arguments], context)
        for logged in outcome.log:
            reply = replay(shadow, logged, 1_000_000)
            assert not isinstance(reply, ErrorReply), (verb, arguments, logged, reply)
        for _key, _kind, value, _deadline_ms in keyspace.iter_entries():
            if isinstance(value, (dict, deque, set, ZSet)):
                assert len(value) > 0
            if isinstance(value, ZSet):
                value.check_invariants()
