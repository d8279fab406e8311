"""The connection and admin verbs against a real redis-server 7.0, reply for reply.

Method: scripted sessions (`differential_sessions.compare`): the same raw requests on the
same named connections to a fresh kevy-server and to the reference redis-server (its
settings reset first), in RESP2 and in RESP3, every reply parsed with its RESP type kept;
the transcripts must be equal once client ids, addresses and timings are blanked. The
scripts cover what answers deterministically: CLIENT KILL / PAUSE / REPLY / NO-EVICT /
TRACKING / CACHING / GETREDIR / TRACKINGINFO / LIST filters and their errors, OBJECT
ENCODING for every type and threshold, OBJECT REFCOUNT / FREQ / HELP, MEMORY's errors,
SLOWLOG, LATENCY with monitoring off, ROLE, WAIT, the CONFIG parameters clients read and
their CONFIG SET checks, and RESET. What cannot match byte for byte (INFO's figures,
MEMORY USAGE's numbers, timings) is checked by the behaviour tests.
"""

from __future__ import annotations

import re

import pytest
from differential_sessions import compare, lines
from redis_oracle import redis_port  # noqa: F401 -- fixture

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


CLIENT_SCRIPT = """
CLIENT KILL 1.2.3.4:5
CLIENT KILL id x
CLIENT KILL id 0
CLIENT KILL id -1
CLIENT KILL type foo
CLIENT KILL user nosuch
CLIENT KILL addr 1.2.3.4:5
CLIENT KILL skipme maybe
CLIENT KILL id 99999
CLIENT KILL foo bar
CLIENT KILL id
CLIENT KILL id 1 type
CLIENT KILL type pubsub
CLIENT KILL type master
CLIENT KILL type replica
CLIENT KILL type normal skipme yes
CLIENT KILL maxage 1
CLIENT PAUSE 10 FOO
CLIENT PAUSE x
CLIENT PAUSE -1
CLIENT PAUSE
CLIENT UNPAUSE x
CLIENT UNPAUSE
CLIENT REPLY foo
CLIENT REPLY
CLIENT REPLY ON
CLIENT NO-EVICT
CLIENT NO-EVICT maybe
CLIENT NO-EVICT on
CLIENT NO-EVICT OFF
CLIENT TRACKING
CLIENT TRACKING foo
CLIENT TRACKING on redirect 999
CLIENT TRACKING on redirect x
CLIENT CACHING yes
CLIENT CACHING no
CLIENT CACHING maybe
CLIENT GETREDIR
CLIENT TRACKINGINFO
CLIENT TRACKING off
CLIENT TRACKING on bcast prefix a prefix ab
CLIENT TRACKING on prefix a
CLIENT TRACKING on optin optout
CLIENT TRACKING on optin
CLIENT TRACKINGINFO
CLIENT GETREDIR
CLIENT CACHING no
CLIENT CACHING yes
CLIENT TRACKINGINFO
CLIENT TRACKING on bcast
CLIENT TRACKING on optout
CLIENT TRACKING off
CLIENT TRACKING on bcast prefix x: prefix y: noloop
CLIENT TRACKINGINFO
CLIENT TRACKING on bcast prefix x:a
CLIENT TRACKING on bcast prefix z:
CLIENT TRACKINGINFO
CLIENT TRACKING off
CLIENT TRACKINGINFO
CLIENT LIST TYPE master
CLIENT LIST TYPE pubsub
CLIENT LIST ID 1 2 x
CLIENT LIST ID
CLIENT LIST FOO
CLIENT HELP
RESET
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_client_subcommands_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", CLIENT_SCRIPT))


def test_client_reply_off_and_skip_drop_replies_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("c", b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nNOSUCH\r\nCLIENT REPLY ON\r\n", 1),
        ("c", b"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n", 1),
        ("c", b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING\r\nECHO x\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps)


OBJECT_SETUP = [
    b"SET int 123", b"SET negative -5", b"SET leading 0123", b"SET plus +1", b"SET minus_zero -0",
    b"SET big 12345678901234567890", b"SET max 9223372036854775807", b"SET over 9223372036854775808",
    b"SET short hello", b"SET float 1.5", b"SET edge " + b"x" * 44, b"SET long " + b"x" * 45,
    b"SET shared 9999", b"SET unshared 10000", b"PFADD hll a b c", b"RPUSH list a b",
    b"SADD ints 1 2 3", b"SADD mixed 1 a", b"HSET hash f v", b"HSET widehash f " + b"v" * 65,
    b"ZADD zset 1 a", b"ZADD widezset 1 " + b"m" * 65, b"XADD stream 1-0 f v",
]
OBJECT_SCRIPT = """
OBJECT ENCODING int
OBJECT ENCODING negative
OBJECT ENCODING leading
OBJECT ENCODING plus
OBJECT ENCODING minus_zero
OBJECT ENCODING big
OBJECT ENCODING max
OBJECT ENCODING over
OBJECT ENCODING short
OBJECT ENCODING float
OBJECT ENCODING edge
OBJECT ENCODING long
OBJECT ENCODING hll
OBJECT ENCODING list
OBJECT ENCODING ints
OBJECT ENCODING mixed
OBJECT ENCODING hash
OBJECT ENCODING widehash
OBJECT ENCODING zset
OBJECT ENCODING widezset
OBJECT ENCODING stream
OBJECT ENCODING nosuch
OBJECT REFCOUNT int
OBJECT REFCOUNT shared
OBJECT REFCOUNT unshared
OBJECT REFCOUNT short
OBJECT REFCOUNT list
OBJECT REFCOUNT nosuch
OBJECT FREQ int
OBJECT FREQ nosuch
OBJECT IDLETIME nosuch
OBJECT ENCODING
OBJECT ENCODING a b
OBJECT FOO
OBJECT HELP
MEMORY USAGE nosuch
MEMORY USAGE int SAMPLES x
MEMORY USAGE int FOO 1
MEMORY USAGE
MEMORY FOO
MEMORY HELP
MEMORY PURGE
"""


def _big_collections() -> list[bytes]:
    """Values just past Redis's thresholds: 513 integers, 513 hash fields, 129 members."""
    ints = b"SADD bigints " + b" ".join(b"%d" % number for number in range(513))
    fields = b"HSET bighash " + b" ".join(b"f%d v" % number for number in range(513))
    members = b"ZADD bigzset " + b" ".join(b"%d m%d" % (number, number) for number in range(129))
    edge_ints = b"SADD edgeints " + b" ".join(b"%d" % number for number in range(512))
    edge_hash = b"HSET edgehash " + b" ".join(b"f%d v" % number for number in range(512))
    edge_zset = b"ZADD edgezset " + b" ".join(b"%d m%d" % (number, number) for number in range(128))
    return [ints, fields, members, edge_ints, edge_hash, edge_zset]


@pytest.mark.parametrize("protocol", [2, 3])
def test_object_and_memory_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    setup = [("c", b"HELLO %d\r\n" % protocol, 1)] + [("c", request + b"\r\n", 1) for request in OBJECT_SETUP + _big_collections()]
    thresholds = lines("c", "\n".join(f"OBJECT ENCODING {key}" for key in
                                      ("bigints", "bighash", "bigzset", "edgeints", "edgehash", "edgezset")))
    compare(redis_port, tmp_path / "data", setup + lines("c", OBJECT_SCRIPT) + thresholds)


DIAGNOSTICS_SCRIPT = """
SLOWLOG RESET
SLOWLOG LEN
SLOWLOG GET
SLOWLOG GET x
SLOWLOG GET -2
SLOWLOG GET 1 2
SLOWLOG FOO
SLOWLOG HELP
SLOWLOG
LATENCY LATEST
LATENCY HISTORY command
LATENCY HISTORY nosuch
LATENCY RESET
LATENCY RESET command x
LATENCY DOCTOR
LATENCY GRAPH command
LATENCY HISTOGRAM nosuch
LATENCY FOO
LATENCY HELP
LATENCY HISTORY
ROLE
ROLE x
WAIT 0 0
WAIT 1 50
WAIT x 1
WAIT 1 -1
WAIT 1
MULTI
WAIT 1 0
ROLE
EXEC
DEBUG OBJECT x
DEBUG SLEEP 0
DEBUG
MODULE LIST
MODULE LOAD /nonexistent.so
MODULE LOADEX /nonexistent.so
MODULE UNLOAD nosuch
MODULE HELP
MODULE FOO
CONFIG REWRITE
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_slowlog_latency_role_and_wait_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", DIAGNOSTICS_SCRIPT))


def test_the_slow_log_records_what_redis_records(redis_port, tmp_path) -> None:  # noqa: F811
    """With every command logged: the entries' arguments (cut at 32 and at 128 bytes,
    secrets redacted), client names, ids and counts equal Redis's (times are blanked)."""
    long_value = b"y" * 200
    many = b"RPUSH many " + b" ".join(b"%d" % number for number in range(40))
    steps = [
        ("c", b"CLIENT SETNAME slowpoke\r\n", 1),
        ("c", b"CONFIG SET slowlog-log-slower-than 0\r\n", 1),
        ("c", b"SET k " + long_value + b"\r\n", 1),
        ("c", many + b"\r\n", 1),
        ("c", b"AUTH secret\r\n", 1),
        ("c", b"HELLO 2 AUTH default secret\r\n", 1),
        ("c", b"MULTI\r\nINCR n\r\nEXEC\r\n", 3),
        ("c", b"CONFIG SET slowlog-log-slower-than 10000\r\n", 1),
        ("c", b"SLOWLOG LEN\r\n", 1),
        ("c", b"SLOWLOG GET -1\r\n", 1),
        ("c", b"CONFIG SET slowlog-max-len 2\r\n", 1),
        ("c", b"SLOWLOG LEN\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps, normalize_reply=_blank_slowlog_times)


def _blank_slowlog_times(reply):
    """SLOWLOG entries: [id, unix time, microseconds, args, address, name] -> times blanked."""
    if isinstance(reply, list) and reply and all(isinstance(entry, list) and len(entry) == 6 for entry in reply):
        return [[entry[0], "*", "*", entry[3], "*", entry[5]] for entry in reply]
    return reply


CONFIG_SCRIPT = """
CONFIG GET slowlog-log-slower-than
CONFIG GET slowlog-max-len
CONFIG GET latency-monitor-threshold
CONFIG GET latency-tracking-info-percentiles
CONFIG GET maxmemory
CONFIG GET maxmemory-policy
CONFIG GET maxmemory-samples
CONFIG GET tracking-table-max-keys
CONFIG GET acllog-max-len
CONFIG GET timeout
CONFIG GET notify-keyspace-events
CONFIG GET aclfile
CONFIG GET hash-max-listpack-entries
CONFIG GET hash-max-listpack-value
CONFIG GET zset-max-listpack-entries
CONFIG GET zset-max-listpack-value
CONFIG GET set-max-intset-entries
CONFIG GET list-max-listpack-size
CONFIG GET list-compress-depth
CONFIG SET slowlog-log-slower-than x
CONFIG SET slowlog-log-slower-than -5
CONFIG SET slowlog-max-len -1
CONFIG SET latency-monitor-threshold -1
CONFIG SET latency-tracking maybe
CONFIG SET latency-tracking-info-percentiles "50 200"
CONFIG SET latency-tracking-info-percentiles "50 x"
CONFIG SET tracking-table-max-keys -1
CONFIG SET maxmemory x
CONFIG SET maxmemory-policy foo
CONFIG SET maxmemory 0
CONFIG SET maxmemory-policy noeviction
CONFIG SET slowlog-max-len 64
CONFIG GET slowlog-max-len
CONFIG SET slowlog-max-len 128
CONFIG SET timeout 0
CONFIG RESETSTAT
CONFIG HELP
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_config_parameters_clients_read_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", CONFIG_SCRIPT))


def test_client_kill_closes_the_connections_it_names_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("a", b"CLIENT SETNAME victim\r\n", 1),
        ("p", b"SUBSCRIBE ch\r\n", 1),
        ("k", b"CLIENT KILL TYPE pubsub\r\n", 1),
        ("k", b"CLIENT KILL TYPE normal SKIPME yes\r\n", 1),
        ("k", b"CLIENT LIST TYPE normal\r\n", 1),
        ("k", b"CLIENT KILL TYPE normal SKIPME no\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps, normalize_reply=without_library_fields)


def without_library_fields(reply):
    """CLIENT LIST lines without Redis 7.2's lib-name / lib-ver, which kevy adds."""
    if isinstance(reply, bytes) and reply.startswith(b"id="):
        return re.sub(rb" lib-name=[^ \n]* lib-ver=[^ \n]*", b"", reply)
    return reply


def test_client_pause_holds_writes_and_all_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    """Held commands are answered after the pause, in order; reads pass a WRITE pause."""
    steps = [
        ("a", b"CLIENT PAUSE 100 WRITE\r\n", 1),
        ("b", b"GET k\r\nSET k 1\r\nGET k\r\n", 1),
        ("b", b"", 2),
        ("a", b"CLIENT PAUSE 100 ALL\r\n", 1),
        ("b", b"GET k\r\n", 1),
        ("a", b"CLIENT PAUSE 100000 WRITE\r\n", 1),
        ("b", b"INCR k\r\n", 0),
        ("a", b"CLIENT UNPAUSE\r\n", 1),
        ("b", b"", 1),
    ]
    compare(redis_port, tmp_path / "data", steps)
