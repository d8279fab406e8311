"""Replay walk: for every loggable verb, replaying what `execute` logged reproduces its effect.

Method: the command table is walked; every verb with `loggable` must have examples below
(the test fails for a verb without one). Each example runs on a fresh pre-state that also
holds keys with live and with already-passed deadlines. The pre-state is cloned through the
snapshot-loading API (`iter_entries` -> `load_entry`), the command is executed at time T,
and its log is replayed into the clone a day later (so any relative TTL left in a log would
show). The stored states -- values, kinds and deadlines, expired keys included -- must be
identical, every logged verb must be in the table, and replay must not refuse any argv.
A Hypothesis property then does the same for whole generated sequences with time moving
forward and active expiry steps in between.
"""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kevy_persist.commands import COMMAND_TABLE, CommandContext, ErrorReply, execute, replay
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.data.zset import ZSet
from kevy_persist.formats.rdb_format import encode_dump_payload
from kevy_persist.formats.records import ValueKind

# DUMP payloads for RESTORE examples, named `@name` in the example lines.
PAYLOADS: dict[str, bytes] = {
    "string": encode_dump_payload(b"k", ValueKind.STRING, b"restored"),
    "int": encode_dump_payload(b"k", ValueKind.STRING, b"-12345"),
    "hash": encode_dump_payload(b"k", ValueKind.HASH, {b"f": b"v", b"g": b"1"}),
    "list": encode_dump_payload(b"k", ValueKind.LIST, deque([b"a", b"b", b"a"])),
    "set": encode_dump_payload(b"k", ValueKind.SET, {b"1", b"x"}),
    "zset": encode_dump_payload(b"k", ValueKind.ZSET, ZSet.from_pairs([(b"m", 1.5), (b"n", -2.0)])),
}
PAYLOADS["damaged"] = PAYLOADS["hash"][:-1] + bytes([PAYLOADS["hash"][-1] ^ 1])


def _stream_payload() -> bytes:
    """A stream with a deleted entry, a group with a read counter, pending rows (one for
    the deleted entry) and two consumers."""
    keyspace = Keyspace()
    for line in ["XADD x 1-1 f a", "XADD x 1-2 f b g c", "XADD x 2-0 f d", "XGROUP CREATE x g 0",
                 "XREADGROUP GROUP g alice COUNT 2 STREAMS x >", "XGROUP CREATECONSUMER x g bob", "XDEL x 1-2"]:
        execute(keyspace, line.encode().split(), CommandContext(1_700_000_000_000, random.Random(0)))
    return encode_dump_payload(b"x", ValueKind.STREAM, keyspace.peek(b"x"))


PAYLOADS["stream"] = _stream_payload()

T0_MS = 1_700_000_000_000
REPLAY_LATER_MS = T0_MS + 86_400_000

PRE_STATE = [
    "SET s hello",
    "SET n 10",
    "SET f 1.5",
    "HSET h a 1 b 2 c x",
    "RPUSH l a b c a d",
    "SADD set1 a b c",
    "SADD set2 b c d",
    "ZADD z 1 a 2 b 3 c",
    "ZADD lex 0 a 0 b 0 c 0 d",
    "PFADD hll a b c",
    "RPUSH n_list 3 1 2",
    "MSET w_1 9 w_2 8",
    "GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "SET ttl_live v PX 100000",
    "RPUSH old_list x y",
    "PEXPIRE old_list 10",
    "SET old v PX 10",
    "XADD st 1-1 a 1",
    "XADD st 1-2 b 2",
    "XADD st 2-1 c 3",
    "XADD st 3-0 d 4",
    "XADD st 4-0 e 5",
    "XGROUP CREATE st grp 0",
    "XREADGROUP GROUP grp alice COUNT 2 STREAMS st >",
    "XDEL st 1-2",
    "XGROUP CREATE st later $",
    "XADD empty_st MAXLEN 0 5-0 x x",
]
# Execution happens after old/old_list expired (10 ms) but before ttl_live does.
EXECUTE_AT_MS = T0_MS + 1000

EXAMPLES: dict[str, list[str]] = {
    "set": ["SET s x", "SET s x EX 100", "SET new x PX 5000 NX", "SET s x XX GET KEEPTTL",
            "SET s x NX", "SET old x XX", "SET s x EXAT 1", "SET ttl_live x KEEPTTL",
            "SET s x PXAT 99999999999999"],
    "setnx": ["SETNX s x", "SETNX new x", "SETNX old x"],
    "setex": ["SETEX s 100 x", "SETEX old 5 y"],
    "psetex": ["PSETEX s 100 x"],
    "getset": ["GETSET s y", "GETSET ttl_live y", "GETSET h y"],
    "getdel": ["GETDEL s", "GETDEL missing", "GETDEL old"],
    "getex": ["GETEX s EX 100", "GETEX ttl_live PERSIST", "GETEX s PXAT 1", "GETEX s", "GETEX old PX 5"],
    "incr": ["INCR n", "INCR new", "INCR s", "INCR old"],
    "decr": ["DECR n"],
    "incrby": ["INCRBY n 5", "INCRBY ttl_live 1"],
    "decrby": ["DECRBY n 5"],
    "incrbyfloat": ["INCRBYFLOAT f 0.1", "INCRBYFLOAT n 1e3", "INCRBYFLOAT new -2.5"],
    "append": ["APPEND s !", "APPEND new x", "APPEND old x"],
    "setrange": ["SETRANGE s 10 x", "SETRANGE s 0 \"\"", "SETRANGE new 2 ab"],
    "mset": ["MSET s 1 new 2 ttl_live 3"],
    "msetnx": ["MSETNX a 1 b 2", "MSETNX s 1 b 2", "MSETNX old 1"],
    "del": ["DEL s h missing", "DEL missing", "DEL old"],
    "unlink": ["UNLINK s z"],
    "expire": ["EXPIRE s 100", "EXPIRE s -1", "EXPIRE ttl_live 1000 GT", "EXPIRE ttl_live 1 LT", "EXPIRE s 5 XX", "EXPIRE old 100"],
    "pexpire": ["PEXPIRE s 100000", "PEXPIRE ttl_live 5 NX"],
    "expireat": ["EXPIREAT s 99999999999", "EXPIREAT s 1"],
    "pexpireat": ["PEXPIREAT s 99999999999999", "PEXPIREAT l 5"],
    "persist": ["PERSIST ttl_live", "PERSIST s"],
    "rename": ["RENAME s s2", "RENAME ttl_live h", "RENAME missing x", "RENAME l l"],
    "renamenx": ["RENAMENX s h", "RENAMENX ttl_live fresh"],
    "copy": ["COPY ttl_live c", "COPY h s REPLACE", "COPY z set1", "COPY l l2"],
    "flushdb": ["FLUSHDB"],
    "flushall": ["FLUSHALL ASYNC"],
    "hset": ["HSET h a 1", "HSET h a 9 d 4", "HSET new f v", "HSET old f v"],
    "hmset": ["HMSET h a 5"],
    "hsetnx": ["HSETNX h a 0", "HSETNX h z 0", "HSETNX new f v"],
    "hdel": ["HDEL h a b c", "HDEL h zz", "HDEL h a"],
    "hincrby": ["HINCRBY h a 5", "HINCRBY new f -1", "HINCRBY h c 1"],
    "hincrbyfloat": ["HINCRBYFLOAT h a 0.5", "HINCRBYFLOAT new f 1e-3"],
    "lpush": ["LPUSH l x y", "LPUSH new a", "LPUSH old_list z"],
    "rpush": ["RPUSH l x", "RPUSH new a b"],
    "lpushx": ["LPUSHX l q", "LPUSHX new q"],
    "rpushx": ["RPUSHX l q"],
    "lpop": ["LPOP l", "LPOP l 2", "LPOP l 10", "LPOP l 0", "LPOP old_list"],
    "rpop": ["RPOP l", "RPOP l 3"],
    "lset": ["LSET l 1 B", "LSET l -1 Z"],
    "lrem": ["LREM l 0 a", "LREM l -1 a", "LREM l 1 zz"],
    "ltrim": ["LTRIM l 1 2", "LTRIM l 5 1", "LTRIM l 0 -1"],
    "linsert": ["LINSERT l BEFORE b x", "LINSERT l AFTER zz x"],
    "lmove": ["LMOVE l l2 LEFT RIGHT", "LMOVE l l RIGHT LEFT", "LMOVE old_list l LEFT LEFT"],
    "rpoplpush": ["RPOPLPUSH l other", "RPOPLPUSH l ttl_live"],
    "sadd": ["SADD set1 x a", "SADD set1 a", "SADD new m"],
    "srem": ["SREM set1 a b c", "SREM set1 zz"],
    "spop": ["SPOP set1", "SPOP set1 2", "SPOP set1 10", "SPOP set1 0"],
    "smove": ["SMOVE set1 set2 a", "SMOVE set1 fresh b", "SMOVE set1 set2 zz"],
    "sinterstore": ["SINTERSTORE dst set1 set2", "SINTERSTORE s set1 missing", "SINTERSTORE none set1 missing"],
    "sunionstore": ["SUNIONSTORE set1 set1 set2"],
    "sdiffstore": ["SDIFFSTORE dst set1 set2", "SDIFFSTORE dst set1 set1"],
    "zadd": ["ZADD z 5 a 6 d", "ZADD z NX 9 a", "ZADD z XX GT CH 10 b", "ZADD z INCR 2 c", "ZADD new 1 x"],
    "zincrby": ["ZINCRBY z 1.5 a", "ZINCRBY new 2 m"],
    "zrem": ["ZREM z a b c", "ZREM z zz"],
    "zpopmin": ["ZPOPMIN z", "ZPOPMIN z 5"],
    "zpopmax": ["ZPOPMAX z 2"],
    "zremrangebyscore": ["ZREMRANGEBYSCORE z (1 +inf", "ZREMRANGEBYSCORE z 10 20"],
    "zremrangebyrank": ["ZREMRANGEBYRANK z 0 0", "ZREMRANGEBYRANK z 0 -1"],
    "zremrangebylex": ["ZREMRANGEBYLEX lex [b (d", "ZREMRANGEBYLEX lex - +"],
    "setbit": ["SETBIT s 3 1", "SETBIT s 100 0", "SETBIT new 7 1", "SETBIT s 1 1", "SETBIT ttl_live 0 1"],
    "pfadd": ["PFADD hll d e", "PFADD hll a", "PFADD new x y", "PFADD new", "PFADD s x", "PFADD ttl_live x"],
    "pfcount": ["PFCOUNT hll", "PFCOUNT hll missing", "PFCOUNT missing", "PFCOUNT s"],
    "pfmerge": ["PFMERGE dst hll", "PFMERGE hll missing", "PFMERGE none", "PFMERGE dst hll s"],
    "geoadd": ["GEOADD geo 1 2 m", "GEOADD geo NX CH 13 38 Palermo 1 1 x", "GEOADD new 0 0 o", "GEOADD s 1 1 m",
               "GEOADD geo XX 1 1 nope", "GEOADD ttl_live 1 1 m"],
    "geosearchstore": ["GEOSEARCHSTORE dst geo FROMMEMBER Palermo BYRADIUS 200 km",
                       "GEOSEARCHSTORE ttl_live geo FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
                       "GEOSEARCHSTORE s missing FROMMEMBER x BYRADIUS 1 km",
                       "GEOSEARCHSTORE dst geo FROMMEMBER Palermo BYRADIUS 1 m", "GEOSEARCHSTORE s s FROMLONLAT 0 0 BYRADIUS 1 m"],
    "georadius": ["GEORADIUS geo 15 37 200 km STORE dst", "GEORADIUS geo 15 37 200 km STOREDIST s",
                  "GEORADIUS geo 15 37 200 km", "GEORADIUS missing 15 37 1 km STORE s", "GEORADIUS geo 15 37 1 m STORE geo"],
    "georadiusbymember": ["GEORADIUSBYMEMBER geo Palermo 200 km STORE dst COUNT 1",
                          "GEORADIUSBYMEMBER missing x y z STORE ttl_live", "GEORADIUSBYMEMBER geo Palermo 200 km ASC"],
    "sort": ["SORT l ALPHA STORE dst", "SORT set1 ALPHA STORE s", "SORT l BY nosort STORE ttl_live",
             "SORT missing STORE l", "SORT missing STORE none", "SORT l BY nosort LIMIT 0 2 GET # GET nosuch_* STORE dst",
             "SORT z BY nosort DESC STORE dst", "SORT set1 BY nosort STORE dst", "SORT l STORE dst", "SORT n_list STORE l",
             "SORT n_list BY w_* GET # GET w_* STORE n_list", "SORT l ALPHA"],
    "bitop": ["BITOP AND dst s n", "BITOP OR s s missing", "BITOP XOR ttl_live s ttl_live", "BITOP NOT dst s",
              "BITOP AND s missing", "BITOP OR none missing", "BITOP AND dst s h"],
    "bitfield": ["BITFIELD s SET u8 0 255 INCRBY i5 3 -7", "BITFIELD new SET u8 #2 9", "BITFIELD s GET u8 0",
                 "BITFIELD ttl_live OVERFLOW SAT INCRBY u4 0 100", "BITFIELD new OVERFLOW FAIL SET u8 0 256",
                 "BITFIELD s OVERFLOW FAIL INCRBY i8 0 1000", "BITFIELD s SET u8 0 104", "BITFIELD h SET u8 0 1"],
    "zunionstore": ["ZUNIONSTORE dst 2 z set1", "ZUNIONSTORE z 2 z lex WEIGHTS 2 1 AGGREGATE MAX",
                    "ZUNIONSTORE none 1 missing"],
    "zinterstore": ["ZINTERSTORE dst 2 z set1 AGGREGATE MIN", "ZINTERSTORE s 2 z missing"],
    "zdiffstore": ["ZDIFFSTORE dst 2 z set1", "ZDIFFSTORE set1 1 z"],
    "zmpop": ["ZMPOP 2 missing z MIN COUNT 2", "ZMPOP 1 z MAX COUNT 10", "ZMPOP 1 missing MIN"],
    "lmpop": ["LMPOP 2 missing l LEFT COUNT 2", "LMPOP 1 l RIGHT COUNT 10", "LMPOP 1 old_list LEFT"],
    "restore": ["RESTORE fresh 0 @hash", "RESTORE s 0 @list", "RESTORE s 0 @list REPLACE",
                "RESTORE fresh 5000 @zset", "RESTORE s 99999999999999 @set REPLACE ABSTTL",
                "RESTORE s 1 @string REPLACE ABSTTL", "RESTORE fresh 1 @string ABSTTL",
                "RESTORE old 0 @int", "RESTORE fresh 0 @damaged", "RESTORE fresh 0 @string IDLETIME 10",
                "RESTORE ttl_live 100 @int REPLACE FREQ 5", "RESTORE h 0 @zset REPLACE",
                "RESTORE fresh 0 @stream", "RESTORE s 7000 @stream REPLACE"],
    "zrangestore": ["ZRANGESTORE dst z 0 1", "ZRANGESTORE s z (1 +inf BYSCORE", "ZRANGESTORE z missing 0 -1",
                    "ZRANGESTORE none missing 0 -1"],
    "xadd": ["XADD st * f v", "XADD st 9-* f v", "XADD st MAXLEN 2 * f v", "XADD st MAXLEN ~ 0 * f v",
             "XADD st MINID 3 9-0 f v", "XADD fresh NOMKSTREAM * f v", "XADD fresh * f v", "XADD s * f v",
             "XADD empty_st * f v", "XADD st MAXLEN = 0 LIMIT 5 * f v"],
    "xdel": ["XDEL st 1-1 2-1 9-9", "XDEL st 9-9", "XDEL st 4-0"],
    "xtrim": ["XTRIM st MAXLEN 1", "XTRIM st MINID ~ 3", "XTRIM st MAXLEN = 0", "XTRIM st MINID 3-0"],
    "xsetid": ["XSETID st 10-0 ENTRIESADDED 20 MAXDELETEDID 9-0", "XSETID empty_st 1-0", "XSETID st 1-0"],
    "xgroup": ["XGROUP CREATE st g2 $", "XGROUP CREATE fresh g 0 MKSTREAM ENTRIESREAD 0", "XGROUP SETID st grp 1-1",
               "XGROUP SETID st grp $ ENTRIESREAD 5", "XGROUP DESTROY st grp", "XGROUP CREATECONSUMER st grp bob",
               "XGROUP DELCONSUMER st grp alice", "XGROUP HELP"],
    "xreadgroup": ["XREADGROUP GROUP grp bob STREAMS st >", "XREADGROUP GROUP grp bob COUNT 1 NOACK STREAMS st >",
                   "XREADGROUP GROUP grp alice STREAMS st 0", "XREADGROUP GROUP later carol STREAMS st >",
                   "XREADGROUP GROUP grp alice BLOCK 10 STREAMS st >", "XREADGROUP GROUP grp dan STREAMS st 0"],
    "xack": ["XACK st grp 1-1 1-2 9-9", "XACK st grp 9-9"],
    "xclaim": ["XCLAIM st grp bob 0 1-1 1-2", "XCLAIM st grp bob 0 1-1 IDLE 500 RETRYCOUNT 9",
               "XCLAIM st grp bob 0 3-0 FORCE", "XCLAIM st grp bob 0 1-1 LASTID 4-0 JUSTID",
               "XCLAIM st grp bob 100000 1-1", "XCLAIM st grp bob 0 LASTID 9-0"],
    "xautoclaim": ["XAUTOCLAIM st grp bob 0 0", "XAUTOCLAIM st grp bob 0 0 COUNT 1 JUSTID",
                   "XAUTOCLAIM st grp bob 99999999 0"],
}


def parse_line(line: str) -> list[bytes]:
    import shlex

    return [PAYLOADS[part[1:]] if part.startswith("@") else part.encode() for part in shlex.split(line)]


def snapshot_form(kind: ValueKind, value: object) -> object:
    """The snapshot decoder's form of a native value (what `load_entry` receives)."""
    if kind == ValueKind.STRING:
        return value
    if kind == ValueKind.HASH:
        return list(value.items())  # type: ignore[union-attr]
    if kind == ValueKind.ZSET:
        return list(value.items())  # type: ignore[union-attr]
    if kind == ValueKind.STREAM:
        return value.to_payload()  # type: ignore[union-attr]
    return list(value)  # type: ignore[call-overload]


def clone(keyspace: Keyspace) -> Keyspace:
    copy = Keyspace()
    for key, kind, value, deadline_ms in keyspace.iter_entries():
        copy.load_entry(key, kind, snapshot_form(kind, value), deadline_ms)
    return copy


def stored_state(keyspace: Keyspace) -> dict:
    """Every stored key (expired ones too) with its kind, comparable value and deadline."""
    state = {}
    for key, kind, value, deadline_ms in keyspace.iter_entries():
        if isinstance(value, deque):
            value = list(value)
        elif isinstance(value, dict):
            value = (list(value.items()), dict(value))  # order matters: HGETALL shows it
        elif isinstance(value, ZSet):
            value.check_invariants()
            value = list(value.items())
        elif isinstance(value, Stream):
            value.check_invariants()
            value = value.state()  # all but consumers' seen times (not logged, as in Redis)
        assert not (isinstance(value, (set, list)) and len(value) == 0), f"empty {key!r}"
        state[key] = (kind, value, deadline_ms)
    return state


def build_pre_state() -> Keyspace:
    """The pre-state, loaded the way a snapshot is: a stream's read counter is not in the
    snapshot format and is estimated on load, so both sides of a comparison start from the
    loaded form."""
    keyspace = Keyspace()
    context = CommandContext(T0_MS, random.Random(0))
    for line in PRE_STATE:
        reply = execute(keyspace, parse_line(line), context).reply
        assert not isinstance(reply, ErrorReply), (line, reply)
    return clone(keyspace)


def check_replay_reproduces(pre_state: Keyspace, argv: list[bytes], now_ms: int, seed: int) -> tuple:
    copy = clone(pre_state)
    outcome = execute(pre_state, argv, CommandContext(now_ms, random.Random(seed)))
    for logged in outcome.log:
        assert logged[0].lower() in COMMAND_TABLE, f"{argv!r} logged unknown verb {logged!r}"
        assert COMMAND_TABLE[logged[0].lower()].loggable
        reply = replay(copy, logged, REPLAY_LATER_MS)
        assert not isinstance(reply, ErrorReply), f"replay refused {logged!r}: {reply}"
    assert stored_state(copy) == stored_state(pre_state), f"{argv!r} logged {outcome.log!r}"
    return outcome.log


def loggable_verbs() -> list[str]:
    return sorted(spec.name for spec in COMMAND_TABLE.values() if spec.loggable)


def test_every_loggable_verb_has_replay_examples() -> None:
    """Method: walk the table; a loggable verb without an example fails this test."""
    missing = [name for name in loggable_verbs() if not EXAMPLES.get(name)]
    assert missing == []
    unknown = [name for name in EXAMPLES if name not in loggable_verbs()]
    assert unknown == []


@pytest.mark.parametrize("verb", loggable_verbs())
def test_replaying_the_log_reproduces_the_post_state(verb: str) -> None:
    """Method: each example on a fresh pre-state; replay of its log into a clone matches."""
    for line in EXAMPLES.get(verb, []):
        for seed in range(3):
            check_replay_reproduces(build_pre_state(), parse_line(line), EXECUTE_AT_MS, seed)


def test_reads_and_no_op_writes_log_nothing() -> None:
    """Method: reads and writes that change nothing must not grow the log."""
    keyspace = build_pre_state()
    context = CommandContext(T0_MS, random.Random(0))
    for line in ["GET s", "HGETALL h", "LRANGE l 0 -1", "SMEMBERS set1", "ZRANGE z 0 -1",
                 "DEL missing", "SADD set1 a", "SREM set1 zz", "ZREM z zz", "HDEL h zz",
                 "SET s x NX", "LPOP missing", "EXPIRE missing 10", "PERSIST s", "INCR s"]:
        assert execute(keyspace, parse_line(line), context).log == (), line


def test_relative_ttls_are_logged_as_absolute_deadlines() -> None:
    """Method: SET EX / EXPIRE at time T log PEXPIREAT T + ttl, never the relative form."""
    keyspace = build_pre_state()
    context = CommandContext(T0_MS, random.Random(0))
    log = execute(keyspace, parse_line("SET k v EX 10"), context).log
    assert log == ([b"SET", b"k", b"v"], [b"PEXPIREAT", b"k", b"%d" % (T0_MS + 10_000)])
    log = execute(keyspace, parse_line("EXPIRE k 20"), context).log
    assert log == ([b"PEXPIREAT", b"k", b"%d" % (T0_MS + 20_000)],)
    log = execute(keyspace, parse_line("SPOP set1"), context).log
    assert log[0][:2] == [b"SREM", b"set1"] and len(log[0]) == 3
    log = execute(keyspace, parse_line("INCRBYFLOAT f 1"), context).log
    assert log == ([b"SET", b"f", b"2.5", b"KEEPTTL"],)


def test_lazily_expired_keys_are_logged_as_del_before_the_command() -> None:
    """Method: touching an expired key (even by a read) logs DEL first, like Redis."""
    keyspace = build_pre_state()
    context = CommandContext(EXECUTE_AT_MS, random.Random(0))
    assert execute(keyspace, parse_line("GET old"), context).log == ([b"DEL", b"old"],)
    assert execute(keyspace, parse_line("INCR old_list"), context).log == (
        [b"DEL", b"old_list"],
        [b"INCR", b"old_list"],
    )


# -- whole generated sequences ----------------------------------------------------------

KEYS = ["s", "n", "h", "l", "set1", "z", "ttl_live", "old", "new"]
TEMPLATES = [
    "SET {k} v", "SET {k} 5 PX {ms}", "INCR {k}", "INCRBYFLOAT {k} 0.5", "APPEND {k} x",
    "DEL {k}", "EXPIRE {k} 1", "PEXPIRE {k} {ms}", "PERSIST {k}", "RENAME {k} {k2}",
    "COPY {k} {k2} REPLACE", "GETEX {k} PX {ms}", "GETDEL {k}", "HSET {k} f {k2}",
    "HINCRBY {k} f 2", "HDEL {k} a", "LPUSH {k} a", "RPOP {k}", "LMOVE {k} {k2} LEFT RIGHT",
    "SADD {k} a b", "SPOP {k}", "SREM {k} a", "SMOVE {k} {k2} b", "SUNIONSTORE {k} {k} {k2}",
    "ZADD {k} 1 a 2 b", "ZINCRBY {k} 1 a", "ZPOPMIN {k}", "ZREMRANGEBYRANK {k} 0 0",
    "GET {k}", "TYPE {k}", "EXISTS {k}", "FLUSHDB", "MSET {k} 1 {k2} 2",
    "PFADD {k} a {k2}", "PFCOUNT {k}", "PFMERGE {k} {k2}", "BITFIELD {k} INCRBY u8 0 7", "BITOP OR {k} {k} {k2}",
]

step = st.tuples(
    st.sampled_from(TEMPLATES), st.sampled_from(KEYS), st.sampled_from(KEYS),
    st.sampled_from([1, 50, 5000]), st.integers(0, 2000), st.integers(0, 3),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(steps=st.lists(step, max_size=30))
def test_replaying_a_whole_generated_log_reproduces_the_state(steps: list[tuple]) -> None:
    """Method: run a sequence with time advancing and active expiry in between; replay all."""
    keyspace = build_pre_state()
    initial = clone(keyspace)
    log: list[list[bytes]] = []
    now_ms = EXECUTE_AT_MS
    chooser = random.Random(1)
    for template, key, other, ttl_ms, advance_ms, expire_samples in steps:
        now_ms += advance_ms
        keyspace.active_expire_step(now_ms, expire_samples)
        line = template.format(k=key, k2=other, ms=ttl_ms)
        log.extend(execute(keyspace, parse_line(line), CommandContext(now_ms, chooser)).log)
    log.extend([b"DEL", key] for key in keyspace.take_expired_keys())
    for argv in log:
        assert not isinstance(replay(initial, argv, REPLAY_LATER_MS), ErrorReply), argv
    assert stored_state(initial) == stored_state(keyspace)
