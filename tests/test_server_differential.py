"""kevy-server against a real redis-server 7.0, byte for byte, for the server-level verbs.

Method: each session is a list of raw requests on one or more named connections, with the
number of replies to read after each (0 when the request blocks, collected by a later step).
The session runs on a fresh kevy-server and on the reference redis-server (flushed first, its
notification and buffer settings reset); the two transcripts, every reply parsed with its
RESP type kept, must be equal once client ids, addresses and versions are blanked
(`server_differential.normalize`). Sessions cover HELLO / AUTH / CLIENT / RESET, MULTI /
EXEC / WATCH, pub/sub in RESP2 and RESP3, blocking pops (errors, timeouts, serving, FIFO,
MULTI), keyspace notifications and CONFIG texts, each in RESP2 and RESP3 where the shapes
differ.
"""

from __future__ import annotations

import time

import pytest
from redis_oracle import RespClient, redis_port  # noqa: F401 -- fixture
from server_differential import Step, WireClient, assert_same_transcripts, run_session
from server_support import running_server

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def _reset_reference(port: int) -> None:
    client = RespClient(port)
    client.call([b"FLUSHALL"])
    client.call([b"CONFIG", b"SET", b"notify-keyspace-events", b""])
    client.call([b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 33554432 8388608 60"])
    client.close()


def compare(redis_port: int, tmp_path, steps: list[Step], **options) -> None:
    _reset_reference(redis_port)
    theirs = run_session(redis_port, steps)
    with running_server(tmp_path / "data", **options) as server:
        ours = run_session(server.port, steps)
    assert_same_transcripts(ours, theirs)


def lines(connection: str, text: str, replies_each: int = 1) -> list[Step]:
    """One step per line of `text` on `connection`, each read for `replies_each` replies."""
    return [(connection, line.strip().encode() + b"\r\n", replies_each) for line in text.strip().splitlines()]


CONNECTION_SCRIPT = """
HELLO
HELLO 2
HELLO 3
HELLO 4
HELLO x
HELLO 3 FOO
HELLO 3 AUTH a
HELLO 3 SETNAME
HELLO 3 SETNAME bad\\nname
HELLO 2 SETNAME worker
CLIENT GETNAME
CLIENT FOO
CLIENT SETNAME
CLIENT SETNAME a b
CLIENT UNBLOCK 99999
CLIENT UNBLOCK x
CLIENT UNBLOCK 99999 FOO
CLIENT LIST TYPE foo
CLIENT LIST ID x
CLIENT NO-EVICT maybe
AUTH a b c
AUTH x
AUTH default x
AUTH someone x
PING a b
PING
PING hi
ECHO
SELECT x
SELECT 0
CONFIG FOO
CONFIG GET
CONFIG SET maxclients 0
CONFIG SET timeout -1
CONFIG SET timeout abc
CONFIG SET nosuch 1
CONFIG SET appendfsync sometimes
CONFIG SET notify-keyspace-events Q
CONFIG SET client-output-buffer-limit x
CONFIG SET client-output-buffer-limit "foo 1 2 3"
CONFIG SET client-output-buffer-limit "pubsub 1 2"
CONFIG GET maxclients
COMMAND FOO
PUBSUB FOO
RESET
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_connection_and_config_verbs_answer_like_redis(redis_port, tmp_path, protocol) -> None:
    hello = [("c", b"HELLO %d\r\n" % protocol, 1)]
    compare(redis_port, tmp_path, hello + lines("c", CONNECTION_SCRIPT))


def test_notification_flags_and_buffer_limits_read_back_like_redis(redis_port, tmp_path) -> None:
    script = """
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events KEA
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events Elg
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events KA
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events g$lshzxetdmn
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events KEAm
    CONFIG GET notify-keyspace-events
    CONFIG SET notify-keyspace-events ""
    CONFIG SET client-output-buffer-limit "pubsub 1mb 512kb 10"
    CONFIG GET client-output-buffer-limit
    CONFIG SET client-output-buffer-limit "pubsub 33554432 8388608 60"
    """
    compare(redis_port, tmp_path, lines("c", script))


TRANSACTION_SCRIPT = """
EXEC
DISCARD
MULTI
MULTI
WATCH k
UNWATCH
SET a 1
SAVE
SHUTDOWN
PING
EXEC
MULTI
SET a 1
INCR a
LPUSH a x
GET a
EXEC
MULTI
NOSUCH x
SET a 2
EXEC
GET a
MULTI
BLPOP nolist 0
BZPOPMIN nozset 0
BRPOPLPUSH a b 0
EXEC
WATCH w
SET w 1
MULTI
GET w
EXEC
WATCH w
MULTI
GET w
EXEC
WATCH gone
DEL gone
MULTI
PING
EXEC
MULTI
SET a 3
RESET
EXEC
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_transactions_and_watch_answer_like_redis(redis_port, tmp_path, protocol) -> None:
    compare(redis_port, tmp_path, [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", TRANSACTION_SCRIPT))


def test_watch_sees_writes_flushes_and_expiry_from_other_connections(redis_port, tmp_path) -> None:
    steps = [
        ("a", b"SET k 1\r\n", 1), ("a", b"WATCH k\r\n", 1), ("b", b"SET k 2\r\n", 1),
        ("a", b"MULTI\r\nGET k\r\nEXEC\r\n", 3),
        ("a", b"WATCH k\r\n", 1), ("b", b"SET k 2 NX\r\n", 1), ("a", b"MULTI\r\nGET k\r\nEXEC\r\n", 3),
        ("a", b"WATCH missing\r\n", 1), ("b", b"DEL missing other\r\n", 1), ("a", b"MULTI\r\nPING\r\nEXEC\r\n", 3),
        ("a", b"WATCH missing\r\n", 1), ("b", b"FLUSHALL\r\n", 1), ("a", b"MULTI\r\nPING\r\nEXEC\r\n", 3),
        ("b", b"SET k 1\r\n", 1), ("a", b"WATCH k\r\n", 1), ("b", b"FLUSHALL\r\n", 1), ("a", b"MULTI\r\nPING\r\nEXEC\r\n", 3),
        # A watched key that expires before EXEC aborts it (the BLPOP only lets time pass).
        ("b", b"SET t 1 PX 30\r\n", 1), ("a", b"WATCH t\r\n", 1), ("a", b"BLPOP never 0.1\r\n", 1),
        ("a", b"MULTI\r\nPING\r\nEXEC\r\n", 3),
    ]
    compare(redis_port, tmp_path, steps)


PUBSUB_SESSION = [
    ("s", b"SUBSCRIBE a b\r\n", 2),
    ("s", b"GET x\r\n", 1),
    ("s", b"PING\r\n", 1),
    ("s", b"PING hello\r\n", 1),
    ("s", b"PSUBSCRIBE p*\r\n", 1),
    ("p", b"PUBLISH a m1\r\n", 1),
    ("s", b"", 1),
    ("p", b"PUBLISH pq m2\r\n", 1),
    ("s", b"", 1),
    ("p", b"PUBSUB CHANNELS a\r\n", 1),  # one match: the order of several is unspecified
    ("p", b"PUBSUB NUMSUB a b c\r\n", 1),
    ("p", b"PUBSUB NUMPAT\r\n", 1),
    ("s", b"SSUBSCRIBE sh\r\n", 1),
    ("p", b"SPUBLISH sh m3\r\n", 1),
    ("s", b"", 1),
    ("p", b"PUBSUB SHARDCHANNELS\r\n", 1),
    ("p", b"PUBSUB SHARDNUMSUB sh\r\n", 1),
    ("s", b"UNSUBSCRIBE b\r\n", 1),
    ("s", b"UNSUBSCRIBE\r\n", 1),  # one channel left: with several, Redis's order is its hash's
    ("s", b"PUNSUBSCRIBE\r\n", 1),
    ("s", b"SUNSUBSCRIBE nothing\r\n", 1),
    ("s", b"UNSUBSCRIBE\r\n", 1),
    ("s", b"SUNSUBSCRIBE\r\n", 1),
    ("s", b"GET x\r\n", 1),
    ("s", b"SUBSCRIBE c\r\n", 1),
    ("s", b"RESET\r\n", 1),
    ("s", b"GET x\r\n", 1),
    ("p", b"PUBLISH c nobody\r\n", 1),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_answers_and_delivers_like_redis(redis_port, tmp_path, protocol) -> None:
    hello = [("s", b"HELLO %d\r\n" % protocol, 1), ("p", b"HELLO %d\r\n" % protocol, 1)]
    compare(redis_port, tmp_path, hello + PUBSUB_SESSION)


def test_keyspace_notifications_name_the_events_redis_names(redis_port, tmp_path) -> None:
    writes = (
        b"SET k v\r\nSET k v EX 100\r\nRPUSH l a\r\nLPOP l\r\nDEL nothing k\r\nINCR n\r\nINCRBYFLOAT f 1.5\r\n"
        b"HSET h a 1\r\nHDEL h a\r\nSADD s x\r\nSPOP s\r\nZADD z 1 a\r\nZINCRBY z 1 a\r\nZREM z a\r\nRPUSH l2 a b\r\n"
        b"RPOPLPUSH l2 l3\r\nLMOVE l2 l3 RIGHT LEFT\r\nEXPIRE n 100\r\nPERSIST n\r\nRENAME n n2\r\nGETDEL n2\r\n"
        b"SETEX e 10 v\r\nMSET a 1 b 2\r\nAPPEND a x\r\nSADD s1 a\r\nSMOVE s1 s2 a\r\nEXPIRE e -1\r\nFLUSHALL\r\n"
    )
    count = writes.count(b"\r\n")
    events = 2 * 33  # keyspace + keyevent message per event
    steps = [
        ("w", b"CONFIG SET notify-keyspace-events KEA\r\n", 1),
        ("s", b"PSUBSCRIBE __key*__:*\r\n", 1),
        ("w", writes, count),
        ("s", b"", events),
        ("w", b"CONFIG SET notify-keyspace-events Kl\r\n", 1),
        ("w", b"SET quiet 1\r\nRPUSH loud x\r\n", 2),
        ("s", b"", 1),
    ]
    compare(redis_port, tmp_path, steps)


BLOCKING_ERRORS = """
BLPOP k abc
BLPOP k -1
BLPOP k 1e100
BLPOP k inf
BLPOP k nan
BLPOP k 99999999999999999
BLPOP k 0.01
BRPOP k 0.01
BRPOPLPUSH a b 0.01
BLMOVE a b LEFT RIGHT 0.01
BLMOVE a b UP DOWN 0
BLMPOP 0.01 1 a LEFT
BLMPOP 0 0 a LEFT
BLMPOP 0 x a LEFT
BLMPOP 0 1 a UP
BLMPOP 0 1 a LEFT COUNT 0
BLMPOP 0 1 a LEFT COUNT 2 COUNT 3
BLMPOP 0 3 a LEFT
BZPOPMIN z 0.01
BZPOPMAX z 0.01
BZMPOP 0.01 1 z MIN
BZMPOP 0 1 z MIDDLE
SET str x
BLPOP str 0
BZPOPMIN str 0
BLMPOP 0 1 str LEFT
RPUSH l a b c
BLPOP nothing l 0
BRPOP l 0
BLMPOP 0 2 nothing l RIGHT COUNT 5
ZADD z 1 a 2 b 3 c
BZPOPMIN z 0
BZPOPMAX z 0
BZMPOP 0 1 z MAX COUNT 5
RPUSH src x
BLMOVE src str LEFT LEFT 0
BRPOPLPUSH src dst 0
LRANGE dst 0 -1
"""


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_commands_check_and_serve_like_redis(redis_port, tmp_path, protocol) -> None:
    compare(redis_port, tmp_path, [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", BLOCKING_ERRORS))


def test_blocked_clients_are_served_first_come_first_served(redis_port, tmp_path) -> None:
    steps = [
        ("a", b"BLPOP q 0\r\n", 0),
        ("b", b"BLPOP q 0\r\n", 0),
        ("c", b"BRPOP other q 0\r\n", 0),
        ("p", b"RPUSH q one two\r\n", 1),
        ("a", b"", 1),
        ("b", b"", 1),
        ("p", b"RPUSH q three\r\n", 1),
        ("c", b"", 1),
        ("a", b"BZPOPMIN z 0\r\n", 0),
        ("p", b"MULTI\r\nZADD z 2 b 1 a\r\nSET after 1\r\nEXEC\r\n", 4),
        ("a", b"", 1),
        ("b", b"BLMOVE src dst LEFT RIGHT 0\r\n", 0),
        ("c", b"BLPOP dst 0\r\n", 0),
        ("p", b"LPUSH src moved\r\n", 1),
        ("b", b"", 1),
        ("c", b"", 1),
        ("a", b"BLPOP k 0\r\nGET afterwards\r\n", 0),
        ("p", b"SET afterwards yes\r\nRPUSH k v\r\n", 2),
        ("a", b"", 2),
    ]
    compare(redis_port, tmp_path, steps)


def _unblock_session(port: int) -> list:
    """BLPOP, then CLIENT UNBLOCK from another connection with each reason; then once more
    when nothing blocks (0)."""
    blocked, other = WireClient(port), WireClient(port)
    try:
        blocked.send(b"CLIENT ID\r\n")
        client_id = blocked.reply()
        transcript = []
        for reason in (b"", b" TIMEOUT", b" ERROR"):
            blocked.send(b"BLPOP k 0\r\n")
            time.sleep(0.05)  # the BLPOP reaches the server before the unblock
            other.send(b"CLIENT UNBLOCK %d%s\r\n" % (client_id, reason))
            transcript.append((other.reply(), blocked.reply()))
        other.send(b"CLIENT UNBLOCK %d\r\n" % client_id)
        transcript.append(other.reply())
        return transcript
    finally:
        blocked.close()
        other.close()


def test_client_unblock_answers_timeout_or_error_like_redis(redis_port, tmp_path) -> None:
    _reset_reference(redis_port)
    theirs = _unblock_session(redis_port)
    with running_server(tmp_path / "data") as server:
        ours = _unblock_session(server.port)
    assert ours == theirs


def test_a_shard_channel_alone_puts_a_resp2_client_in_subscribed_mode(redis_port, tmp_path) -> None:
    steps = [("s", b"SSUBSCRIBE only\r\n", 1), ("s", b"GET x\r\n", 1), ("s", b"SUNSUBSCRIBE\r\n", 1),
             ("s", b"GET x\r\n", 1)]
    compare(redis_port, tmp_path, steps)
