"""The command table agrees with redis-server 7.0's COMMAND INFO.

Method: for every verb in our table, COMMAND INFO on a real server gives Redis's arity,
flags and (first, last, step) key positions; arity and key positions must be equal and our
`writes` must equal Redis's `write` flag (FLUSHDB/FLUSHALL included). Also a pure check that
`key_positions` picks the keys of sample argvs. A container command (XGROUP, XINFO) is one
spec here: its key positions and write flag are compared with those of its subcommands
(which agree among themselves for every container we implement).
"""

from __future__ import annotations

import pytest
from redis_oracle import RespClient, redis_client, redis_port  # noqa: F401

from kevy_persist.commands import COMMAND_TABLE


@pytest.mark.redis
def test_arity_keys_and_write_flag_match_redis_command_info(redis_client: RespClient) -> None:
    """Method: compare each spec with COMMAND INFO's arity, flags and key positions."""
    mismatches = []
    for name, spec in sorted(COMMAND_TABLE.items()):
        info = redis_client.call([b"COMMAND", b"INFO", name])[0]
        assert info is not None, f"redis 7.0 has no {name!r}"
        _name, arity, flags, first_key, last_key, key_step = info[:6]
        redis_writes = "write" in {str(flag) for flag in flags}
        subcommands = info[9] if len(info) > 9 else []
        if subcommands:
            keyed = {tuple(sub[3:6]) for sub in subcommands if sub[3] != 0}
            assert len(keyed) == 1, f"{name!r}: subcommands disagree on key positions {keyed}"
            first_key, last_key, key_step = keyed.pop()
            redis_writes = any("write" in {str(flag) for flag in sub[2]} for sub in subcommands)
        ours = (spec.arity, spec.first_key, spec.last_key, spec.key_step, spec.writes)
        theirs = (arity, first_key, last_key, key_step, redis_writes)
        if ours != theirs:
            mismatches.append((name, ours, theirs))
    assert mismatches == []


def test_key_positions_pick_the_keys() -> None:
    """Method: sample argvs of single-key, multi-key, paired and keyless commands."""
    table = COMMAND_TABLE
    assert table[b"get"].key_positions(2) == [1]
    assert table[b"del"].key_positions(4) == [1, 2, 3]
    assert table[b"mset"].key_positions(5) == [1, 3]
    assert table[b"rename"].key_positions(3) == [1, 2]
    assert table[b"lmove"].key_positions(5) == [1, 2]
    assert table[b"sinterstore"].key_positions(4) == [1, 2, 3]
    assert table[b"flushall"].key_positions(1) == []
    assert table[b"zadd"].key_positions(6) == [1]


def test_key_indexes_include_numkeys_counted_keys() -> None:
    """Method: movable-key commands name every key; a malformed count names fewer, safely."""
    table = COMMAND_TABLE
    assert table[b"zunionstore"].key_indexes([b"ZUNIONSTORE", b"d", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"]) == [1, 3, 4]
    assert table[b"zunion"].key_indexes([b"ZUNION", b"2", b"a", b"b", b"WITHSCORES"]) == [2, 3]
    assert table[b"lmpop"].key_indexes([b"LMPOP", b"1", b"a", b"LEFT"]) == [2]
    assert table[b"sintercard"].key_indexes([b"SINTERCARD", b"9", b"a"]) == [2]
    assert table[b"zmpop"].key_indexes([b"ZMPOP", b"x", b"a", b"MIN"]) == []
    assert table[b"get"].key_indexes([b"GET", b"k"]) == [1]
