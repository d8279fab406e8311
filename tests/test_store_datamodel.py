"""The new data-model commands in the embedded store: shard rules, snapshots, logs, re-shard.

Method: real stores over a temporary data dir.
- CROSSSLOT: on a sharded store, SORT's BY / GET patterns that may name keys on other
  shards are refused, as Redis Cluster refuses them, while key-free patterns (`GET #`,
  `BY nosort`) and, with slot routing, patterns pinned to the sorted key's `{hashtag}` run
  and answer like a one-shard store; multi-key PFCOUNT / PFMERGE / BITOP / GEOSEARCHSTORE /
  LCS / SORT ... STORE across shards are refused, in transactions too.
- Durability: HLL strings (with their cached cardinality bytes), GEO sorted sets, stored
  SORT / GEOSEARCHSTORE results and BITFIELD strings come back byte-identical after a
  reopen that replays the log, after SAVE + reopen (snapshot), and after reopening with
  another shard count (re-shard).
"""

from __future__ import annotations

import pytest

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import ErrorReply
from kevy_persist.store.store import iter_shards

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"

WORKLOAD = [
    [b"PFADD", b"{u}hll", *[b"e%d" % index for index in range(200)]],
    [b"PFADD", b"{u}dense", *[b"d%d" % index for index in range(3000)]],
    [b"PFCOUNT", b"{u}hll"],
    [b"PFMERGE", b"{u}merged", b"{u}hll", b"{u}dense"],
    [b"GEOADD", b"{u}geo", b"13.361389", b"38.115556", b"Palermo", b"15.087269", b"37.502669", b"Catania"],
    [b"GEOSEARCHSTORE", b"{u}near", b"{u}geo", b"FROMLONLAT", b"15", b"37", b"BYRADIUS", b"200", b"km", b"STOREDIST"],
    [b"RPUSH", b"{u}list", b"3", b"1", b"2"],
    [b"MSET", b"{u}w_1", b"9", b"{u}w_2", b"8", b"{u}w_3", b"7"],
    [b"SORT", b"{u}list", b"BY", b"{u}w_*", b"GET", b"#", b"GET", b"{u}w_*", b"STORE", b"{u}sorted"],
    [b"BITFIELD", b"{u}bits", b"SET", b"i16", b"#3", b"-300", b"INCRBY", b"u5", b"1", b"9"],
    [b"BITOP", b"XOR", b"{u}xor", b"{u}bits", b"{u}w_1"],
]
KEYS = [b"{u}hll", b"{u}dense", b"{u}merged", b"{u}geo", b"{u}near", b"{u}sorted", b"{u}bits", b"{u}xor"]


def _open(path, shard_count: int, routing: str = "slots") -> Store:
    return Store.open(StoreConfig(data_dir=str(path), shard_count=shard_count, routing=routing, ticker="manual"))


def _contents(store: Store) -> dict:
    contents = {}
    for key in KEYS:
        kind = store.execute("TYPE", key)
        if kind == "string":
            contents[key] = store.execute("GET", key)
        elif kind == "zset":
            contents[key] = store.execute("ZRANGE", key, 0, -1, "WITHSCORES")
        else:
            contents[key] = store.execute("LRANGE", key, 0, -1)
    return contents


def test_sort_patterns_that_may_name_other_shards_are_refused(tmp_path) -> None:
    """Method: a 4-shard KevyHash store refuses key-reading patterns, runs key-free ones."""
    with _open(tmp_path, 4, "kevyhash") as store:
        store.execute("RPUSH", "list", "b", "a", "c")
        for argv in (["SORT", "list", "BY", "w_*"], ["SORT", "list", "GET", "h_*->f"],
                     ["SORT_RO", "list", "ALPHA", "GET", "#", "GET", "x_*"]):
            assert store.execute_argv([part.encode() for part in argv]) == ErrorReply(CROSSSLOT)
        assert store.execute("SORT", "list", "ALPHA", "GET", "#") == [b"a", b"b", b"c"]
        assert store.execute("SORT", "list", "BY", "nosort", "DESC") == [b"c", b"a", b"b"]


def test_sort_patterns_pinned_to_the_hashtag_run_on_a_slot_routed_store(tmp_path) -> None:
    """Method: `{u}` patterns run and answer like one shard; other patterns are refused."""
    with _open(tmp_path / "one", 1) as single, _open(tmp_path / "many", 4) as sharded:
        for store in (single, sharded):
            store.execute("RPUSH", "{u}list", "1", "2", "3")
            store.execute("MSET", "{u}w_1", "30", "{u}w_2", "10", "{u}w_3", "20")
            store.execute("HSET", "{u}h_1", "f", "x")
        argv = ["SORT", "{u}list", "BY", "{u}w_*", "GET", "#", "GET", "{u}h_*->f"]
        assert sharded.execute(*argv) == single.execute(*argv) == [b"2", None, b"3", None, b"1", b"x"]
        other = next(tag for tag in "vwxyz" if sharded.shard_of("{%s}" % tag) != sharded.shard_of("{u}"))
        for refused in (["SORT", "{u}list", "BY", "{%s}w_*" % other], ["SORT", "{u}list", "BY", "w_{u*}"],
                        ["SORT", "{u}list", "GET", "*_{u}"], ["SORT", "{u}list", "BY", "{}w_*"],
                        ["SORT", "{u}list", "STORE", "{%s}out" % other]):
            assert sharded.execute_argv([part.encode() for part in refused]) == ErrorReply(CROSSSLOT), refused
        assert sharded.execute_transaction([[b"SORT", b"{u}list", b"BY", b"w_*"]]) == ErrorReply(CROSSSLOT)


def test_multi_key_commands_across_shards_are_refused(tmp_path) -> None:
    """Method: pick keys on two different shards; every multi-key form is CROSSSLOT."""
    with _open(tmp_path, 4, "kevyhash") as store:
        first = b"a"
        second = next(key for key in (b"b%d" % index for index in range(100)) if store.shard_of(key) != store.shard_of(first))
        for argv in ([b"PFCOUNT", first, second], [b"PFMERGE", first, second], [b"BITOP", b"AND", first, second],
                     [b"LCS", first, second], [b"SORT", first, b"STORE", second],
                     [b"GEOSEARCHSTORE", first, second, b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"1", b"km"],
                     [b"GEORADIUS", first, b"0", b"0", b"1", b"km", b"STORE", second]):
            assert store.execute_argv(argv) == ErrorReply(CROSSSLOT), argv
            assert store.execute_transaction([argv]) == ErrorReply(CROSSSLOT), argv


@pytest.mark.parametrize("how", ["log replay", "snapshot", "re-shard"])
def test_values_come_back_byte_identical(tmp_path, how: str) -> None:
    """Method: run the workload, reopen the dir (after SAVE for the snapshot case, with
    another shard count for the re-shard case) and compare every value."""
    with _open(tmp_path, 2) as store:
        for argv in WORKLOAD:
            assert not isinstance(store.execute_argv(argv), ErrorReply), argv
        before = _contents(store)
        cardinality = store.execute("PFCOUNT", "{u}hll")
        if how == "snapshot":
            store.save()
    with _open(tmp_path, 3 if how == "re-shard" else 2) as reopened:
        assert _contents(reopened) == before
        if how == "log replay":
            replayed = sum(shard.open_report.replayed_commands for _, shard in iter_shards(reopened))
            assert replayed >= len(WORKLOAD)
        # The cached cardinality written by PFCOUNT survived too: the value's header says so.
        assert reopened.execute("GET", "{u}hll")[15] & 0x80 == 0
        assert reopened.execute("PFCOUNT", "{u}hll") == cardinality
