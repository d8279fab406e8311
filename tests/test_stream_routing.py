"""Stream commands name their keys to the router: XREAD / XREADGROUP after STREAMS,
XGROUP / XINFO at argument 2.

Method: `key_indexes` on sample argvs (options before STREAMS, a group named STREAMS, an
unbalanced list, HELP), then a two-shard Store: keys of one shard work, keys of two shards
are refused with CROSSSLOT.
"""

from __future__ import annotations

import pytest

from kevy_persist import CommandError, Store, StoreConfig
from kevy_persist.commands import COMMAND_TABLE


def keys(*argv: bytes) -> list[bytes]:
    return [argv[index] for index in COMMAND_TABLE[argv[0].lower()].key_indexes(list(argv))]


def test_read_keys_follow_the_option_walk() -> None:
    assert keys(b"XREAD", b"COUNT", b"5", b"BLOCK", b"0", b"STREAMS", b"a", b"b", b"0", b"$") == [b"a", b"b"]
    assert keys(b"XREADGROUP", b"GROUP", b"STREAMS", b"c", b"STREAMS", b"k", b">") == [b"k"]
    assert keys(b"XREADGROUP", b"GROUP", b"g", b"c", b"NOACK", b"STREAMS", b"k1", b"k2", b">", b">") == [b"k1", b"k2"]
    assert keys(b"XREAD", b"STREAMS", b"a", b"b", b"0") == []  # unbalanced: refused by the command
    assert keys(b"XGROUP", b"CREATE", b"s", b"g", b"$") == [b"s"]
    assert keys(b"XGROUP", b"HELP") == []
    assert keys(b"XINFO", b"STREAM", b"s", b"FULL") == [b"s"]
    assert keys(b"XCLAIM", b"s", b"g", b"c", b"0", b"1-0") == [b"s"]


def test_a_sharded_store_runs_one_shard_reads_and_refuses_two() -> None:
    with Store.open(StoreConfig(shard_count=2, ticker="manual")) as store:
        first = "{a}1"
        other = next(f"k{index}" for index in range(100) if store.shard_of(f"k{index}") != store.shard_of(first))
        same = next(f"k{index}" for index in range(100) if store.shard_of(f"k{index}") == store.shard_of(first))
        store.execute("XADD", first, "1-0", "f", "v")
        store.execute("XADD", same, "1-0", "f", "w")
        assert store.execute("XREAD", "STREAMS", first, same, "0", "0") == [
            [first.encode(), [[b"1-0", [b"f", b"v"]]]], [same.encode(), [[b"1-0", [b"f", b"w"]]]],
        ]
        with pytest.raises(CommandError) as caught:
            store.execute("XREAD", "STREAMS", first, other, "0", "0")
        assert caught.value.message.startswith("CROSSSLOT")
