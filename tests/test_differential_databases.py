"""The sixteen databases against a real redis-server 7.0, reply for reply, in RESP2 and RESP3.

Method: scripted sessions (`differential_sessions.compare`): the same raw requests on the
same named connections to a fresh kevy-server and to the reference redis-server, every
reply parsed with its RESP type kept; the transcripts must be equal (client ids, addresses
and times blanked). Covered: SELECT and its errors, keys per database, MOVE (with its TTL,
onto an existing key, of a missing key, to the same database, bad indexes), COPY ... DB
(REPLACE, same object, bad indexes, the order of its option checks; indexes past the
C `int` range, as Redis 7.0 reads them), SWAPDB (with 0, with a never-written database, the
same index, bad indexes), FLUSHDB of one database and FLUSHALL of all, DBSIZE, KEYS, SCAN,
INFO keyspace's per-database lines, CLIENT INFO / CLIENT LIST's `db=`, RESET back to
database 0, HELLO keeping the database, WATCH per database, a blocking pop served only by
its own database, keyspace events on `__keyspace@N__`, pub/sub across databases, and
MULTI/EXEC inside the selected database.
"""

from __future__ import annotations

import pytest
from differential_sessions import compare, lines
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_support import RawClient, running_server

from kevy_persist.errors import LayoutError

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

PROTOCOLS = pytest.mark.parametrize("protocol", [2, 3])

BASICS = """
SELECT 0
SELECT 15
SELECT 16
SELECT -1
SELECT x
SELECT 1.5
SELECT 2147483648
SELECT
SELECT 3
SET a in3
SET t ttl3
EXPIRE t 1000
RPUSH l x y z
HSET h f v
SELECT 0
GET a
SET a in0
EXISTS l
SELECT 3
GET a
DBSIZE
KEYS a*
MOVE a 0
MOVE a 3
MOVE missing 0
MOVE t 5
MOVE a 16
MOVE a -1
MOVE a x
MOVE a 4294967296
MOVE l 0
MOVE h 0 extra
SELECT 5
TTL t
GET t
SELECT 0
LRANGE l 0 -1
COPY l l2 DB 7
COPY l l2 DB 7
COPY l l2 DB 7 REPLACE
COPY l l DB 0
COPY l l DB 7
COPY nokey x DB 7
COPY l x DB 16
COPY l x DB y
COPY l x DB
COPY l x FOO
COPY l x DB 16 FOO
COPY l x DB -1
COPY l x DB 99999999999999999999 REPLACE
COPY l x REPLACE DB 0 DB 16
COPY l l DB 3 DB 0
COPY l x FOO DB 99
COPY l x DB 4294967296
COPY l x DB -2147483649
SELECT 7
LRANGE l2 0 -1
LRANGE l 0 -1
DBSIZE
SWAPDB 0 7
DBSIZE
EXISTS l l2 a
SELECT 0
EXISTS l l2 a
SWAPDB 0 9
DBSIZE
SELECT 9
DBSIZE
SWAPDB 9 9
SWAPDB 1 16
SWAPDB x 1
SWAPDB 1 x
SWAPDB -1 1
SWAPDB 4294967296 1
SWAPDB 1 -4294967296
SWAPDB 1
SELECT 9
FLUSHDB
DBSIZE
SELECT 5
DBSIZE
FLUSHALL
DBSIZE
SELECT 9
DBSIZE
"""


@PROTOCOLS
def test_select_move_copy_swapdb_and_flushes_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", BASICS))


KEYSPACE = """
SET a 1
SELECT 2
SET a 1
SET b 2
SELECT 11
RPUSH l 1
INFO keyspace
SELECT 2
FLUSHDB
INFO keyspace
FLUSHALL
INFO keyspace
"""


def test_info_keyspace_lists_each_database_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", lines("c", KEYSPACE))


CONNECTION = """
SELECT 4
CLIENT INFO
HELLO 3
CLIENT INFO
SET k v
HELLO 2
GET k
RESET
CLIENT INFO
GET k
SELECT 4
GET k
SCAN 0
"""


@PROTOCOLS
def test_client_info_hello_and_reset_track_the_database_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    steps = [("c", b"HELLO %d\r\n" % protocol, 1)] + lines("c", CONNECTION)
    compare(redis_port, tmp_path / "data", steps, normalize_reply=_without_library_fields)


def _without_library_fields(reply):
    if isinstance(reply, bytes) and reply.startswith(b"id="):
        return b" ".join(field for field in reply.split(b" ") if not field.startswith((b"lib-", b"resp=", b"cmd=")))
    return reply


@PROTOCOLS
def test_watch_is_per_database_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    steps = [("c", b"HELLO %d\r\n" % protocol, 1), ("d", b"HELLO %d\r\n" % protocol, 1)] + lines("c", """
SELECT 1
WATCH k
""") + lines("d", """
SET k other-database
SELECT 2
SET k still-other
""") + lines("c", """
MULTI
SET k mine
INCR n
EXEC
GET k
WATCH k
""") + lines("d", """
SELECT 1
SET k touched
""") + lines("c", """
MULTI
SET k mine-again
EXEC
GET k
""") + lines("d", "SWAPDB 1 2") + lines("c", "WATCH k\nMULTI\nGET k\nEXEC") + [
        ("c", b"WATCH k\r\n", 1), ("d", b"SWAPDB 1 2\r\n", 1), ("c", b"MULTI\r\n", 1),
        ("c", b"GET k\r\n", 1), ("c", b"EXEC\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps)


def test_blocked_pops_wait_in_their_own_database_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = lines("c", "SELECT 6") + [("c", b"BLPOP q 0\r\n", 0)] + lines("d", """
RPUSH q in-zero
SELECT 3
RPUSH q in-three
SELECT 6
RPUSH q in-six
""") + [("c", b"", 1)] + lines("d", "LLEN q\nSELECT 0\nLLEN q") + lines("c", "SELECT 0") + [
        ("c", b"BLPOP w 0\r\n", 0)] + lines("d", "SELECT 8\nRPUSH w x\nSWAPDB 0 8") + [("c", b"", 1)]
    compare(redis_port, tmp_path / "data", steps)


@PROTOCOLS
def test_keyspace_events_name_the_database_and_pubsub_ignores_it(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    steps = [("s", b"HELLO %d\r\n" % protocol, 1)] + lines("c", "CONFIG SET notify-keyspace-events KEA") + [
        ("s", b"PSUBSCRIBE __key*@*__:*\r\n", 1),
        ("s", b"SUBSCRIBE news\r\n", 1),
    ] + lines("c", """
SELECT 5
SET k v
PUBLISH news from-five
MOVE k 2
SELECT 2
COPY k k2 DB 9
EXPIRE k2 100
DEL k
""") + [("s", b"", 11)] + lines("c", "CONFIG SET notify-keyspace-events \"\"")
    compare(redis_port, tmp_path / "data", steps)


def test_transactions_run_in_the_selected_database_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", lines("c", """
SELECT 12
MULTI
SET a 1
INCR a
RPUSH l a b
EXEC
MULTI
SET a 1
INCR a
RPUSH l a b
COPY a b
EXEC
GET a
LRANGE l 0 -1
SELECT 0
GET a
"""))


def test_commands_across_databases_are_refused_inside_multi(tmp_path) -> None:
    """kevy runs a transaction within one database (one shard's log makes it atomic):
    SELECT, MOVE and SWAPDB are refused while queued (EXEC then aborts), and a COPY to
    another database is refused when EXEC reaches it (Redis runs all of them)."""
    with running_server(tmp_path / "data") as server, RawClient(server.port) as raw:
        for command in (b"SELECT 1", b"MOVE k 1", b"SWAPDB 0 1"):
            raw.send(b"MULTI\r\n" + command + b"\r\nEXEC\r\n")
            replies = raw.replies(3)
            assert "Command not allowed inside a transaction" in str(replies[1])
            assert "EXECABORT" in str(replies[2])
        raw.send(b"SET k v\r\nMULTI\r\nCOPY k c DB 2\r\nCOPY k c\r\nEXEC\r\n")
        replies = raw.replies(5)
        refused, copied = replies[-1]
        assert str(refused) == "ERR kevy runs a transaction within one database: COPY to another database is refused"
        assert copied == 1


def test_redis_py_database_urls_and_restart_keep_every_database(tmp_path) -> None:
    """Method: redis-py clients from `redis://host:port/N` URLs write into databases 0, 3
    and 15 of a kevy-server; after a restart (and after SAVE and another restart) each URL
    sees its own keys, INFO keyspace lists the three, and CONFIG GET databases says 16; a
    server configured with fewer databases than the dir holds refuses to start."""
    import redis

    def write(port: int) -> None:
        for number in (0, 3, 15):
            client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/{number}")
            client.set("where", f"db{number}")
            client.rpush("list", number)
            client.close()

    def read(port: int) -> dict:
        seen = {}
        for number in (0, 3, 15, 4):
            client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/{number}")
            seen[number] = (client.get("where"), client.lrange("list", 0, -1))
            client.close()
        return seen

    expected = {0: (b"db0", [b"0"]), 3: (b"db3", [b"3"]), 15: (b"db15", [b"15"]), 4: (None, [])}
    with running_server(tmp_path / "data") as server:
        write(server.port)
        assert read(server.port) == expected
    with running_server(tmp_path / "data") as server:
        assert read(server.port) == expected
        client = redis.Redis(port=server.port)
        assert sorted(client.info("keyspace")) == ["db0", "db15", "db3"]
        assert client.config_get("databases") == {"databases": "16"}
        client.save()
        client.close()
    with pytest.raises(LayoutError, match="db-15"), running_server(tmp_path / "data", databases=4):
        pass  # a dir holding database 15 is refused with 4 databases configured
