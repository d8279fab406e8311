"""Differential tests: our `execute` against a real redis-server 7.0, reply by reply.

Method: each sequence of argvs runs on a fresh Keyspace and on a flushed redis-server; every
reply must match after both pass through RESP2 (ours is encoded with `encode_resp2` and parsed
back, so double formatting and reply shapes are compared as bytes on the wire). Only what is
legitimately unordered or random is normalized: set-valued replies and KEYS are sorted, SCAN
is compared as the union of a full iteration, PTTL-like replies within 1 s. After each
sequence the whole logical state (types, values, which keys have a TTL) is compared too.
Hypothesis draws sequences over a tiny alphabet of keys, values and options so that wrong
types, bad numbers, syntax and arity errors come up constantly; `derandomize=True` keeps the
run deterministic.
"""

from __future__ import annotations

import random
import shlex
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_oracle import RespClient, as_wire, plain, redis_client, redis_client_resp3, redis_port  # noqa: F401

from kevy_persist.commands import CommandContext, execute
from kevy_persist.keyspace import Keyspace

pytestmark = pytest.mark.redis

UNORDERED = {b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HKEYS", b"HVALS", b"SPOP"}
# SSCAN replies [cursor, members]: the members' order is the set's, so compare sorted.
SCANS_OF_SETS = {b"SSCAN"}
APPROXIMATE = {b"PTTL", b"PEXPIRETIME", b"EXPIRETIME", b"TTL"}


class Pair:
    """One keyspace and one redis connection driven in lockstep."""

    def __init__(self, client: RespClient) -> None:
        self.client = client
        self.keyspace = Keyspace()
        self.random = random.Random(7)

    def ours(self, argv: list[bytes]) -> object:
        context = CommandContext(int(time.time() * 1000), self.random)
        return as_wire(execute(self.keyspace, argv, context).reply, self.client.protocol)

    def run(self, argv: list[bytes]) -> None:
        theirs = self.client.call(argv)
        ours = self.ours(argv)
        verb = argv[0].upper()
        if verb in UNORDERED and isinstance(theirs, list) and isinstance(ours, list):
            theirs, ours = sorted(theirs), sorted(ours)
        if verb in SCANS_OF_SETS and isinstance(theirs, list) and isinstance(ours, list):
            theirs, ours = [theirs[0], sorted(theirs[1])], [ours[0], sorted(ours[1])]
        if verb in APPROXIMATE and isinstance(theirs, int) and isinstance(ours, int) and theirs >= 0:
            tolerance = 1000 if verb in (b"PTTL", b"PEXPIRETIME") else 1
            assert abs(theirs - ours) <= tolerance, (argv, theirs, ours)
            return
        assert ours == theirs, f"{argv!r}: redis {theirs!r}, kevy {ours!r}"

    def dump_theirs(self) -> dict[bytes, tuple]:
        return _dump(lambda argv: self.client.call(argv))

    def dump_ours(self) -> dict[bytes, tuple]:
        return _dump(self.ours)

    def check_state(self) -> None:
        assert self.dump_ours() == self.dump_theirs()


def _dump(raw_call) -> dict[bytes, tuple]:
    def call(argv: list[bytes]) -> object:
        reply = plain(raw_call(argv))
        return [plain(item) for item in reply] if isinstance(reply, list) else reply

    state = {}
    for key in call([b"KEYS", b"*"]):
        kind = call([b"TYPE", key])
        if kind == "string":
            content = call([b"GET", key])
        elif kind == "hash":
            content = sorted(call([b"HGETALL", key]))
        elif kind == "list":
            content = call([b"LRANGE", key, b"0", b"-1"])
        elif kind == "set":
            content = sorted(call([b"SMEMBERS", key]))
        else:
            content = call([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
        has_ttl = call([b"TTL", key]) != -1
        state[key] = (str(kind), content, has_ttl)
    return state


def run_script(client: RespClient, script: str) -> None:
    pair = Pair(client)
    for line in script.strip().splitlines():
        line = line.strip()
        if line:
            pair.run([part.encode() for part in shlex.split(line)])
    pair.check_state()


STRINGS = """
set k v
get k
set k v2 xx get
set k v3 nx get
set n 10 nx
set n 11 xx keepttl
set k v ex 100
ttl k
set k v px 100000 keepttl
set k v keepttl ex 10
set k v ex 0
set k v ex -5
set k v ex abc
set k v exat 99999999999999999
set k v ex 9223372036854775
set k v bogus
set k v nx xx
set k v get get
getex k ex 100
getex k persist
getex k persist ex 1
getex k nx
getex missing ex 10
getdel k
getdel k
setnx k a
setnx k b
setex s 100 v
setex s 0 v
setex s x v
psetex p 100000 v
psetex p -1 v
getset k new
getset missing x
incr c
incrby c 41
decr c
decrby c 10
decrby c -9223372036854775808
incrby c abc
incrby c 9223372036854775807
set big 9223372036854775807
incr big
set neg -9223372036854775808
decr neg
set sp " 1"
incr sp
set lz 01
incr lz
incrbyfloat f 1.5
incrbyfloat f 0.1
incrbyfloat f -1.6
incrbyfloat f 1e20
incrbyfloat f abc
incrbyfloat f inf
incrbyfloat k 1
set f2 3.0000000000000004
incrbyfloat f2 0
set f3 10.5
incrbyfloat f3 0.1
incrbyfloat f3 5.0e3
append a hello
append a " world"
strlen a
getrange a 0 4
getrange a -5 -1
getrange a 5 2
getrange a -1 -5
getrange a 0 100
getrange missing 0 1
setrange a 6 WORLD
setrange r 5 x
get r
setrange r 0 ""
setrange empty 3 ""
setrange a -1 x
mset a 1 b 2 c 3
mget a b c missing
mset a
msetnx a 1 d 4
msetnx d 4 e 5
msetnx d 4 e
strlen missing
get
set
incr
lpush l x
get l
append l x
incr l
strlen l
getrange l 0 1
substr a 0 1
"""

KEYS = """
set a 1
set b 2
rpush l x
del a missing
del a
exists a b b l missing
unlink b
expire l 100
ttl l
pttl l
expire l 200 nx
expire l 200 xx
expire l 50 gt
expire l 500 gt
expire l 500 lt
expire l 50 lt
expire l 50 nx xx
expire l 50 gt lt
expire l 50 bogus
expire l abc
expire missing 10
persist l
persist l
expire l 100 xx
expire l 100 gt
expire l 100 lt
pexpire l 100000
expireat l 99999999999
pexpireat l 9999999999999
expiretime l
expire l 9223372036854775807
set t 1
expire t -1
exists t
set t 1
pexpireat t 1
get t
type l
type missing
set s v
rename s s2
rename missing x
rename s2 s2
renamenx s2 l
renamenx s2 s3
rename l s3
type s3
copy s3 c1
copy s3 c1
copy s3 c1 replace
copy s3 s3
copy missing x
copy s3 c2 db 0
copy s3 c2 bogus
lrange c1 0 -1
ttl missing
pttl missing
expiretime missing
dbsize
keys *
keys c?
keys [cs]*
keys *3
ping
ping hello
ping a b
echo hi
echo
flushdb bogus
flushdb
dbsize
flushall sync
"""

HASHES = """
hset h f1 v1 f2 v2
hset h f1 v1
hset h f3
hsetnx h f1 x
hsetnx h f4 x
hmset h a 1 b 2
hmset h a
hget h f1
hget h nope
hget missing f
hmget h f1 nope f2
hgetall h
hkeys h
hvals h
hlen h
hexists h f1
hexists h nope
hstrlen h f1
hdel h f1 nope
hdel h nope
hincrby h n 5
hincrby h n -10
hincrby h f2 1
hincrby h n x
hincrby h n 9223372036854775807
hincrbyfloat h fl 1.5
hincrbyfloat h fl 0.1
hincrbyfloat h f2 1
hincrbyfloat h fl x
hgetall h
set s x
hset s a b
hget s a
hgetall s
hdel h a b n fl f2 f3 f4
exists h
"""

LISTS = """
lpush l a b c
rpush l d e
lrange l 0 -1
lrange l -2 -1
lrange l 3 1
lrange l 0 100
lrange l x 1
lpushx nope a
rpushx l f
llen l
lindex l 0
lindex l -1
lindex l 100
lindex l x
lset l 0 A
lset l 100 A
lset nope 0 A
lpop l
rpop l
lpop l 2
rpop l 0
lpop l -1
lpop l 1 2
lpop nope
lpop nope 2
rpush l x y x z x
lrem l 2 x
lrem l -1 x
lrem l 0 nope
lrange l 0 -1
linsert l before y B
linsert l after z Z
linsert l middle z Z
linsert l before nope Z
linsert nope before a b
ltrim l 1 -2
lrange l 0 -1
ltrim l 5 1
exists l
rpush src a b c
lmove src dst left right
lmove src dst right left
lmove src src left right
lmove src dst up down
lmove nope dst left left
rpoplpush src dst
rpoplpush src dst
lrange dst 0 -1
set s x
lpush s a
lmove dst s left left
lrange s 0 -1
"""

SETS = """
sadd s a b c
sadd s a
sadd s d
srem s a nope
srem s nope
scard s
sismember s b
sismember s nope
smismember s b nope
sadd t c d e
sinter s t
sunion s t
sdiff s t
sinter s nope
sinterstore dst s t
sunionstore dst s t
sdiffstore dst s t
sdiffstore dst nope
exists dst
sinterstore nope2 nope
smove s t b
smove s t nope
smove nope t b
smove s s c
smembers t
spop nope
spop nope 2
spop s -1
spop s 0
set str x
sadd str a
sinter s str
sunionstore dst str s
smove str s a
srandmember nope
srandmember nope 2
"""

ZSETS = """
zadd z 1 a 2 b 3 c
zadd z 1 a
zadd z ch 5 a
zadd z nx 10 a 4 d
zadd z xx 10 a 4 e
zadd z gt 1 a
zadd z gt 20 a
zadd z lt 30 a
zadd z lt 2 a
zadd z incr 5 a
zadd z incr gt -1 a
zadd z nx xx 1 a
zadd z gt lt 1 a
zadd z gt nx 1 a
zadd z incr 1 a 2 b
zadd z 1
zadd z nx 1
zadd z nan a
zadd z x a
zadd z inf top -inf bottom
zadd z xx incr 1 nope
zadd nope xx 1 a
zscore z a
zscore z top
zscore z nope
zmscore z a nope b
zincrby z 0.1 b
zincrby z 0.2 b
zincrby z x b
zincrby z inf top
zincrby z -inf top
zcard z
zrank z c
zrevrank z c
zrank z nope
zcount z -inf +inf
zcount z (1 3
zcount z x 3
zrange z 0 -1
zrange z 0 -1 withscores
zrange z -2 -1 withscores
zrange z 0 -1 rev withscores
zrange z (1 +inf byscore
zrange z +inf (1 byscore rev
zrange z -inf +inf byscore limit 1 2
zrange z -inf +inf byscore limit 1 -1
zrange z -inf +inf byscore limit -1 2
zrange z +inf -inf byscore rev limit 1 2 withscores
zrange z 0 -1 limit 0 1
zrange z 0 -1 limit 0 -1
zrange z 0 -1 bylex withscores
zrange z 0 -1 bogus
zrange z 0 -1 byscore bylex
zrangebyscore z 1 3 withscores
zrangebyscore z 1 3 rev
zrevrangebyscore z 3 1
zrevrange z 0 1 withscores
zrangebyscore z x 3
zrangebyscore z "" (
zadd lex 0 a 0 b 0 c 0 d 0 e
zrange lex [b (d bylex
zrange lex - + bylex limit 1 2
zrange lex (d - bylex rev
zrangebylex lex [a [c
zrevrangebylex lex + -
zrangebylex lex a c
zlexcount lex - +
zlexcount lex [b [c
zremrangebylex lex [a [b
zremrangebylex lex x y
zrange lex 0 -1
zremrangebyscore z (1 3
zremrangebyscore z x 3
zremrangebyrank z 0 0
zremrangebyrank z 100 200
zrange z 0 -1 withscores
zpopmin z
zpopmax z 2
zpopmin z -1
zpopmin z 0
zpopmin nope
zpopmax nope 3
zrem z a b nope
zrem z nope
set str x
zadd str 1 a
zscore str a
zrange str 0 -1
zadd neg -0 m
zscore neg m
zadd neg 0 m
zscore neg m
zadd fmt 0.1 a 1e-20 b 3.0000000000000004 c 1e300 d 1.5 e 100 f
zrange fmt 0 -1 withscores
zrangestore dst fmt 0 2
zrange dst 0 -1 withscores
zrangestore dst fmt (1 +inf byscore limit 1 2
zrangestore dst fmt 0 -1 withscores
zrangestore dst fmt [a [c bylex
zrangestore dst nope 0 -1
exists dst
zrangestore dst str 0 -1
zrangestore dst fmt +inf -inf byscore rev
zscan fmt 0
zscan fmt 0 match [ab]
zscan fmt x
zscan nope 0
zscan str 0
zscan fmt 0 count 0
zscan fmt 0 bogus 1
"""

EXTRAS = """
rpush l a b c a b c a
lpos l a
lpos l a rank 2
lpos l a rank -1
lpos l a rank -2 count 0
lpos l a count 2
lpos l a count 0 maxlen 3
lpos l a rank 0
lpos l a count -1
lpos l a maxlen -1
lpos l a bogus 1
lpos l a rank
lpos l nope
lpos l nope count 1
lpos nope a
lpos nope a count 1
set s v
lpos s a
touch l s nope l
hset h f1 v1 f2 v2 g v3
hscan h 0
hscan h 0 match f*
hscan h 0 count 5
hscan nope 0
hscan s 0
sadd set a b c
sscan set 0 match [ab]
select 0
select x
del l s h set
randomkey
set only v
randomkey
set b abc
setbit b 7 1
setbit b 7 1
setbit b 100 1
get b
setbit b -1 1
setbit b 4294967296 1
setbit b 1 2
setbit b x 1
setbit newbits 3 1
setbit newbits2 10 0
getbit b 100
getbit b 100000
getbit b x
getbit nope 3
bitcount b
bitcount b 0 1
bitcount b -2 -1
bitcount b 0 1 bit
bitcount b 5 30 bit
bitcount b -9 -2 BIT
bitcount b 1 0
bitcount b -1 -5
bitcount b 0
bitcount b 0 1 xx
bitcount b x 1
bitcount b x 1 xx
bitcount nope 0
zadd za 1 a 2 b 3 c
zadd zb 10 b 20 c 30 d
sadd sa a d x
zunionstore out 2 za zb
zrange out 0 -1 withscores
zunionstore out 2 za zb weights 2 0.5 aggregate max
zrange out 0 -1 withscores
zinterstore out 3 za zb sa aggregate min
zrange out 0 -1 withscores
zinterstore out 2 za nope
exists out
zdiffstore out 2 za zb
zrange out 0 -1 withscores
zdiffstore out 2 za zb weights 1 2
zunionstore out 0 za
zunionstore out 3 za zb
zunionstore out x za
zunionstore out 2 za zb weights 1
zunionstore out 2 za zb weights 1 x
zunionstore out 2 za zb aggregate avg
zunionstore out 2 za zb withscores
zunionstore out 2 za lst
zunion 2 za zb withscores
zunion 2 za zb
zinter 2 za zb withscores
zinter 2 za sa withscores
zdiff 2 za zb withscores
zdiff 1 nope
zunion 2 za zb weights inf 0 withscores
zunion 2 za zb weights inf -inf withscores
zadd zinf inf a -inf b
zunion 2 zinf zinf withscores
zinter 2 zinf zinf weights 1 -1 withscores
zintercard 2 za zb
zintercard 2 za zb limit 1
zintercard 2 za zb limit -1
zintercard 0 za
zintercard 3 za zb
zintercard 2 za zb bogus
sintercard 2 sa sa
sintercard 2 sa nope
sintercard 1 sa limit 2
sintercard 0 sa
sintercard 5 sa
sintercard 1 sa limit -1
zmpop 2 nope za min
zmpop 2 nope za max count 2
zmpop 1 za min count 10
zmpop 1 za min
zmpop 1 za mid
zmpop 0 za min
zmpop 1 za min count 0
zmpop 1 za min count 1 count 2
zmpop 3 za min
zmpop 1 lst min
rpush ml1 a b c
lmpop 2 nope ml1 left
lmpop 2 nope ml1 right count 5
lmpop 1 ml1 left
lmpop 1 nope up
lmpop 0 ml1 left
lmpop 1 ml1 left count 0
lmpop 4 ml1 left
rpush lst a
setbit lst 1 1
getbit lst 1
bitcount lst
"""


@pytest.mark.parametrize(
    "script",
    [STRINGS, KEYS, HASHES, LISTS, SETS, ZSETS, EXTRAS],
    ids=["strings", "keys", "hashes", "lists", "sets", "zsets", "extras"],
)
def test_scripted_sequences_reply_like_redis(redis_client: RespClient, script: str) -> None:
    """Method: run a hand-written script of edge cases on both; replies and state match."""
    run_script(redis_client, script)


@pytest.mark.parametrize(
    "script",
    [STRINGS, KEYS, HASHES, LISTS, SETS, ZSETS, EXTRAS],
    ids=["strings", "keys", "hashes", "lists", "sets", "zsets", "extras"],
)
def test_scripted_sequences_reply_like_redis_in_resp3(redis_client_resp3: RespClient, script: str) -> None:
    """Method: the same scripts over RESP3 (HELLO 3): maps, sets, doubles and pair shapes."""
    run_script(redis_client_resp3, script)


def test_unknown_command_and_arity_errors_match_redis(redis_client: RespClient) -> None:
    """Method: unknown verbs and wrong arities produce Redis's exact messages."""
    pair = Pair(redis_client)
    for argv in ([b"foo", b"a", b"b"], [b"GeT"], [b"hset", b"h", b"f"], [b"zadd", b"z"], [b"mset", b"a", b"b", b"c"]):
        pair.run(argv)


def test_scan_returns_every_key_like_redis(redis_client: RespClient) -> None:
    """Method: full SCAN iterations (with MATCH, COUNT, TYPE) return the same key sets."""
    pair = Pair(redis_client)
    for index in range(60):
        pair.run([b"SET", b"key:%d" % index, b"v"])
        pair.run([b"SADD", b"set:%d" % index, b"m"])

    def full_scan(call, options: list[bytes]) -> set[bytes]:
        cursor, seen = b"0", set()
        while True:
            cursor, keys = call([b"SCAN", cursor, *options])
            seen.update(keys)
            if cursor == b"0":
                return seen

    for options in ([], [b"COUNT", b"7"], [b"MATCH", b"key:1*"], [b"TYPE", b"set", b"COUNT", b"3"]):
        assert full_scan(pair.ours, options) == full_scan(pair.client.call, options)
    for options in ([b"COUNT", b"0"], [b"MATCH"], [b"BOGUS", b"1"]):
        pair.run([b"SCAN", b"0", *options])
    pair.run([b"SCAN", b"x"])


def test_spop_pops_the_same_number_of_members_as_redis(redis_client: RespClient) -> None:
    """Method: SPOP choices are random on both sides, so compare counts and final sizes."""
    pair = Pair(redis_client)
    pair.run([b"SADD", b"s", *[b"m%d" % index for index in range(10)]])
    for count in (b"3", b"0", b"20"):
        ours = pair.ours([b"SPOP", b"s", count])
        theirs = pair.client.call([b"SPOP", b"s", count])
        assert len(ours) == len(theirs)
    pair.run([b"EXISTS", b"s"])


# -- Hypothesis-generated sequences -----------------------------------------------------

KEY_NAMES = [b"k1", b"k2", b"k3"]
VALUES = [b"0", b"1", b"-1", b"abc", b"1.5", b"", b"9223372036854775807", b"x y"]
MEMBERS = [b"a", b"b", b"c"]
SCORES = [b"1", b"2.5", b"-inf", b"+inf", b"nan", b"x", b"0", b"-3"]
BOUNDS = [b"-inf", b"+inf", b"(1", b"2.5", b"x", b"[a", b"-", b"+", b"(b"]
INDEXES = [b"0", b"1", b"-1", b"-2", b"5", b"x"]

key = st.sampled_from(KEY_NAMES)
value = st.sampled_from(VALUES)
member = st.sampled_from(MEMBERS)
score = st.sampled_from(SCORES)
bound = st.sampled_from(BOUNDS)
index = st.sampled_from(INDEXES)


def _form(verb: bytes, *parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(lambda drawn: [verb, *drawn])


def _variadic(verb: bytes, head: list[st.SearchStrategy], item: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(st.tuples(*head), st.lists(item, max_size=4)).map(
        lambda drawn: [verb, *drawn[0], *[part for entry in drawn[1] for part in (entry if isinstance(entry, tuple) else (entry,))]]
    )


option = st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"GET", b"KEEPTTL", b"EX", b"100", b"WITHSCORES", b"REV", b"BYSCORE", b"BYLEX", b"LIMIT", b"1"])

COMMANDS = st.one_of(
    _variadic(b"SET", [key, value], option),
    _form(b"GET", key),
    _form(b"INCR", key),
    _form(b"INCRBY", key, value),
    _form(b"INCRBYFLOAT", key, value),
    _form(b"APPEND", key, value),
    _form(b"GETRANGE", key, index, index),
    _form(b"SETRANGE", key, index, value),
    _form(b"STRLEN", key),
    _variadic(b"MSET", [key, value], st.tuples(key, value)),
    _variadic(b"DEL", [key], key),
    _variadic(b"EXISTS", [key], key),
    _form(b"TYPE", key),
    _variadic(b"EXPIRE", [key, st.sampled_from([b"100", b"-1", b"x", b"0"])], option),
    _form(b"TTL", key),
    _form(b"PERSIST", key),
    _form(b"RENAME", key, key),
    _form(b"RENAMENX", key, key),
    _variadic(b"COPY", [key, key], st.just(b"REPLACE")),
    _variadic(b"HSET", [key, member, value], st.tuples(member, value)),
    _form(b"HGET", key, member),
    _form(b"HDEL", key, member),
    _form(b"HINCRBY", key, member, value),
    _form(b"HINCRBYFLOAT", key, member, value),
    _form(b"HGETALL", key),
    _variadic(b"LPUSH", [key, member], member),
    _variadic(b"RPUSH", [key, member], member),
    _variadic(b"LPOP", [key], index),
    _form(b"RPOP", key),
    _form(b"LRANGE", key, index, index),
    _form(b"LSET", key, index, member),
    _form(b"LREM", key, index, member),
    _form(b"LTRIM", key, index, index),
    _form(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"X"]), member, member),
    _form(b"LMOVE", key, key, st.sampled_from([b"LEFT", b"RIGHT"]), st.sampled_from([b"LEFT", b"RIGHT", b"UP"])),
    _variadic(b"SADD", [key, member], member),
    _variadic(b"SREM", [key, member], member),
    _form(b"SMOVE", key, key, member),
    _variadic(b"SINTERSTORE", [key, key], key),
    _variadic(b"SUNIONSTORE", [key, key], key),
    _variadic(b"SDIFFSTORE", [key, key], key),
    _form(b"SMEMBERS", key),
    _variadic(b"ZADD", [key], st.one_of(option, st.tuples(score, member))),
    _form(b"ZINCRBY", key, score, member),
    _variadic(b"ZREM", [key, member], member),
    _variadic(b"ZPOPMIN", [key], index),
    _form(b"ZPOPMAX", key),
    _variadic(b"ZRANGE", [key, st.one_of(index, bound), st.one_of(index, bound)], option),
    _form(b"ZRANGEBYSCORE", key, bound, bound),
    _form(b"ZREMRANGEBYSCORE", key, bound, bound),
    _form(b"ZREMRANGEBYRANK", key, index, index),
    _form(b"ZREMRANGEBYLEX", key, bound, bound),
    _form(b"ZCOUNT", key, bound, bound),
    _form(b"ZSCORE", key, member),
    _form(b"ZRANK", key, member),
)

# The long tail: every other command, with options drawn from the same tiny alphabet.
MORE_COMMANDS = st.one_of(
    _variadic(b"GETEX", [key], option),
    _form(b"SETEX", key, st.sampled_from([b"100", b"0", b"x"]), value),
    _form(b"SETNX", key, value),
    _form(b"GETSET", key, value),
    _form(b"GETDEL", key),
    _form(b"DECRBY", key, value),
    _variadic(b"MSETNX", [key, value], st.tuples(key, value)),
    _variadic(b"MGET", [key], key),
    _form(b"EXPIREAT", key, st.sampled_from([b"1", b"99999999999"])),
    _form(b"PEXPIRE", key, st.sampled_from([b"-1", b"100000"])),
    _form(b"HSETNX", key, member, value),
    _variadic(b"HMGET", [key, member], member),
    _form(b"HLEN", key),
    _form(b"HEXISTS", key, member),
    _form(b"HKEYS", key),
    _form(b"HVALS", key),
    _form(b"HSTRLEN", key, member),
    _variadic(b"LPUSHX", [key, member], member),
    _variadic(b"RPUSHX", [key, member], member),
    _form(b"LINDEX", key, index),
    _form(b"LLEN", key),
    _form(b"RPOPLPUSH", key, key),
    _form(b"SCARD", key),
    _form(b"SISMEMBER", key, member),
    _variadic(b"SMISMEMBER", [key, member], member),
    _variadic(b"SINTER", [key], key),
    _variadic(b"SUNION", [key], key),
    _variadic(b"SDIFF", [key], key),
    _form(b"SPOP", key, st.sampled_from([b"0", b"10", b"-1"])),
    _form(b"ZCARD", key),
    _form(b"ZREVRANK", key, member),
    _variadic(b"ZMSCORE", [key, member], member),
    _form(b"ZLEXCOUNT", key, bound, bound),
    _variadic(b"ZRANGEBYLEX", [key, bound, bound], option),
    _variadic(b"ZREVRANGEBYSCORE", [key, bound, bound], option),
    _variadic(b"ZREVRANGE", [key, index, index], option),
    _variadic(b"ZPOPMAX", [key], index),
    _form(b"PERSIST", key),
    _form(b"GETRANGE", key, index, index),
    _form(b"SETBIT", key, st.sampled_from([b"0", b"7", b"9", b"-1", b"x"]), st.sampled_from([b"0", b"1", b"2"])),
    _form(b"GETBIT", key, index),
    _variadic(b"BITCOUNT", [key], st.one_of(index, st.sampled_from([b"BIT", b"BYTE"]))),
    _variadic(b"LPOS", [key, member], st.one_of(index, st.sampled_from([b"RANK", b"COUNT", b"MAXLEN"]))),
    _variadic(b"ZRANGESTORE", [key, key, st.one_of(index, bound), st.one_of(index, bound)], option),
    _variadic(b"HSCAN", [key, st.sampled_from([b"0", b"x"])], st.sampled_from([b"MATCH", b"a*", b"COUNT", b"2"])),
    _form(b"TOUCH", key, key),
    _variadic(b"ZUNIONSTORE", [key, st.sampled_from([b"1", b"2", b"0"]), key], st.one_of(key, option, score)),
    _variadic(b"ZINTERSTORE", [key, st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"WEIGHTS", b"1", b"2", b"AGGREGATE", b"MIN", b"MAX"])),
    _variadic(b"ZUNION", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"WITHSCORES", b"WEIGHTS", b"2", b"AGGREGATE", b"SUM"])),
    _form(b"ZDIFF", st.just(b"2"), key, key),
    _variadic(b"LMPOP", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"LEFT", b"RIGHT", b"COUNT", b"2"])),
    _variadic(b"ZMPOP", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"MIN", b"MAX", b"COUNT", b"2"])),
    _variadic(b"SINTERCARD", [st.sampled_from([b"1", b"2"]), key, key], st.sampled_from([b"LIMIT", b"1"])),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(st.one_of(COMMANDS, MORE_COMMANDS), min_size=1, max_size=25))
def test_generated_sequences_reply_like_redis(redis_client: RespClient, sequence: list[list[bytes]]) -> None:
    """Method: Hypothesis sequences over a tiny alphabet; every reply and the end state match."""
    redis_client.call([b"FLUSHALL"])
    pair = Pair(redis_client)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()


@settings(
    max_examples=75,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(st.one_of(COMMANDS, MORE_COMMANDS), min_size=1, max_size=25))
def test_generated_sequences_reply_like_redis_in_resp3(
    redis_client_resp3: RespClient, sequence: list[list[bytes]]
) -> None:
    """Method: as above over a RESP3 connection, so reply shapes are compared too."""
    redis_client_resp3.call([b"FLUSHALL"])
    pair = Pair(redis_client_resp3)
    for argv in sequence:
        pair.run(argv)
    pair.check_state()
