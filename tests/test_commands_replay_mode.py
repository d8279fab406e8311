"""Replay (loading) mode and dispatch details that a live redis-server cannot show.

Method: direct calls of `execute` and `replay` on small keyspaces: while loading nothing
expires and past deadlines are set rather than deleting; a verbatim SPOP replays with the
first choice; unknown verbs and failing commands are refused with no effect; verbs are
matched in any letter case; arity errors name the command in lower case.
"""

from __future__ import annotations

import random

from kevy_persist.commands import CommandContext, ErrorReply, SimpleString, execute, replay
from kevy_persist.data.keyspace import Keyspace

NOW_MS = 1_000_000


def run(keyspace: Keyspace, *argv: bytes, now_ms: int = NOW_MS):
    return execute(keyspace, list(argv), CommandContext(now_ms, random.Random(0)))


def test_replay_never_expires_and_keeps_past_deadlines() -> None:
    """Method: a key whose deadline passed still takes logged writes during replay."""
    keyspace = Keyspace()
    replay(keyspace, [b"SET", b"k", b"5"], NOW_MS)
    replay(keyspace, [b"PEXPIREAT", b"k", b"10"], NOW_MS)
    assert keyspace.deadline_of(b"k") == 10
    assert replay(keyspace, [b"INCR", b"k"], NOW_MS) == 6
    assert replay(keyspace, [b"PERSIST", b"k"], NOW_MS) == 1
    assert run(keyspace, b"GET", b"k").reply == b"6"


def test_a_live_pexpireat_in_the_past_deletes_and_logs_del() -> None:
    """Method: the same PEXPIREAT outside replay deletes the key and logs DEL."""
    keyspace = Keyspace()
    run(keyspace, b"SET", b"k", b"5")
    outcome = run(keyspace, b"PEXPIREAT", b"k", b"10")
    assert outcome.reply == 1
    assert outcome.log == ([b"DEL", b"k"],)
    assert b"k" not in keyspace


def test_verbatim_spop_replays_deterministically() -> None:
    """Method: two replays of SPOP from equal states pop the same member."""
    popped = []
    for _ in range(2):
        keyspace = Keyspace()
        replay(keyspace, [b"SADD", b"s", b"c", b"a", b"b"], NOW_MS)
        popped.append(replay(keyspace, [b"SPOP", b"s"], NOW_MS))
    assert popped[0] == popped[1] == b"a"


def test_unknown_verbs_and_failing_commands_change_nothing() -> None:
    """Method: replay of an unknown verb or a type error returns an error, state intact."""
    keyspace = Keyspace()
    replay(keyspace, [b"SET", b"k", b"text"], NOW_MS)
    assert isinstance(replay(keyspace, [b"XADD", b"k", b"*", b"f", b"v"], NOW_MS), ErrorReply)
    assert isinstance(replay(keyspace, [b"INCRBY", b"k", b"1"], NOW_MS), ErrorReply)
    assert replay(keyspace, [b"SELECT", b"0"], NOW_MS) == SimpleString("OK")
    assert run(keyspace, b"GET", b"k").reply == b"text"
    assert isinstance(execute(keyspace, [], CommandContext(NOW_MS, random.Random(0))).reply, ErrorReply)


def test_verbs_match_in_any_case_and_arity_errors_name_the_command() -> None:
    """Method: mixed-case verbs dispatch; a wrong arity names the verb in lower case."""
    keyspace = Keyspace()
    assert run(keyspace, b"sEt", b"k", b"v").reply == SimpleString("OK")
    assert run(keyspace, b"GeT", b"k").reply == b"v"
    assert run(keyspace, b"GeT").reply == ErrorReply("ERR wrong number of arguments for 'get' command")


def test_the_replay_fast_path_for_set_matches_the_command():
    """`replayer_for` applies a three-argument SET directly: same keyspace as `replay` for a
    fresh key, over a key with a TTL, and over a key of another type; anything else goes
    through `execute`."""
    from kevy_persist.commands import replay, replayer_for
    from kevy_persist.data.keyspace import Keyspace

    script = [[b"RPUSH", b"list", b"a"], [b"SET", b"plain", b"1"], [b"SET", b"ttl", b"x"],
              [b"PEXPIREAT", b"ttl", b"99999999999999"], [b"SET", b"ttl", b"y"], [b"SET", b"list", b"now-a-string"],
              [b"set", b"lower", b"v"], [b"SET", b"kept", b"v", b"KEEPTTL"]]
    direct, fast = Keyspace(), Keyspace()
    replay_one = replayer_for(fast, 1_700_000_000_000)
    for argv in script:
        assert replay(direct, list(argv), 1_700_000_000_000) == replay_one(list(argv))
    assert dict((k, v) for k, _, v, _ in direct.iter_entries()) == dict((k, v) for k, _, v, _ in fast.iter_entries())
    assert dict(direct.deadline_items()) == dict(fast.deadline_items()) == {}
