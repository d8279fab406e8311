"""kevy-server answers Redis clients: reply types, pipelining, inline commands, MULTI, AUTH.

Method: a `KevyServer` runs in this process on an ephemeral loopback port over a temporary
data dir; the tests talk to it with redis-py (RESP2) and with a raw socket whose replies are
parsed by hiredis, and compare with the replies Redis 7.0 gives for the same requests.
"""

from __future__ import annotations

import hiredis
import pytest
import redis
from server_support import RawClient, client, running_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path / "data") as running:
        yield running


def test_every_reply_type_reaches_redis_py(server) -> None:
    """Status, bulk, nil, integer, array, nested array, double and error replies decode."""
    r = client(server)
    assert r.ping() is True
    assert r.set("text", "value") is True
    assert r.get("text") == b"value"
    assert r.get("missing") is None
    assert r.incr("counter") == 1
    assert r.rpush("list", "a", "b", "c") == 3
    assert r.lrange("list", 0, -1) == [b"a", b"b", b"c"]
    assert r.zadd("zset", {"m": 1.5}) == 1
    assert r.zscore("zset", "m") == 1.5
    cursor, keys = r.scan(0, count=100)
    assert cursor == 0 and sorted(keys) == [b"counter", b"list", b"text", b"zset"]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.incr("list")
    assert r.echo("hello") == b"hello"
    assert r.dbsize() == 4


def test_raw_replies_are_exact_resp2_bytes(server) -> None:
    """The wire bytes of each reply type are those Redis 7.0 sends."""
    with RawClient(server.port) as raw:
        expectations = [
            (b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
            (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n", b"+OK\r\n"),
            (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$2\r\nv1\r\n"),
            (b"*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n", b"$-1\r\n"),
            (b"*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n", b":1\r\n"),
            (b"*3\r\n$4\r\nMGET\r\n$1\r\nk\r\n$4\r\nnone\r\n", b"*2\r\n$2\r\nv1\r\n$-1\r\n"),
            (b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", b"-ERR value is not an integer or out of range\r\n"),
            (b"*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n2.5\r\n$1\r\nm\r\n", b":1\r\n"),
            (b"*3\r\n$6\r\nZSCORE\r\n$1\r\nz\r\n$1\r\nm\r\n", b"$3\r\n2.5\r\n"),
            (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", b"+OK\r\n"),
            (b"*2\r\n$6\r\nSELECT\r\n$2\r\n16\r\n", b"-ERR DB index is out of range\r\n"),
            (b"*1\r\n$6\r\nNOSUCH\r\n", b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"),
        ]
        for request, expected in expectations:
            raw.send(request)
            assert raw.sock.recv(65536) == expected, request


def test_a_thousand_pipelined_commands_are_answered_in_order(server) -> None:
    """1000 requests in one write get 1000 replies in request order (raw and redis-py)."""
    with RawClient(server.port) as raw:
        requests = b"".join(b"*2\r\n$4\r\nINCR\r\n$7\r\npipe:ctr\r\n" for _ in range(1000))
        raw.send(requests)
        assert raw.replies(1000) == list(range(1, 1001))
    r = client(server)
    pipeline = r.pipeline(transaction=False)
    for index in range(1000):
        pipeline.set(f"key:{index}", index)
        pipeline.get(f"key:{index}")
    results = pipeline.execute()
    assert results[0::2] == [True] * 1000
    assert results[1::2] == [str(index).encode() for index in range(1000)]


def test_inline_commands_work_alone_and_mixed_with_multibulk(server) -> None:
    """`PING\\r\\n`, quoted inline arguments, and inline lines after multibulk frames."""
    with RawClient(server.port) as raw:
        raw.send(b'PING\r\nSET greeting "hello world"\nGET greeting\r\n*1\r\n$4\r\nPING\r\nECHO \'a b\'\r\n\r\n')
        assert raw.replies(5) == [b"PONG", b"OK", b"hello world", b"PONG", b"a b"]


def test_multi_exec_runs_the_queue_and_keeps_going_past_runtime_errors(server) -> None:
    """EXEC answers every queued command; a WRONGTYPE inside does not stop the others."""
    with RawClient(server.port) as raw:
        raw.send(b"MULTI\r\nSET t:a 1\r\nLPUSH t:a x\r\nINCR t:a\r\nEXEC\r\n")
        replies = raw.replies(5)
    assert replies[:4] == [b"OK", b"QUEUED", b"QUEUED", b"QUEUED"]
    executed = replies[4]
    assert executed[0] == b"OK" and executed[2] == 2
    assert isinstance(executed[1], hiredis.ReplyError) and str(executed[1]).startswith("WRONGTYPE")
    r = client(server)
    pipeline = r.pipeline(transaction=True)
    pipeline.set("t:b", "1").incrby("t:b", 5).get("t:b")
    assert pipeline.execute() == [True, 6, b"6"]


def test_a_queue_time_error_aborts_the_whole_transaction(server) -> None:
    """Unknown command or bad arity while queued -> EXECABORT, and nothing of it ran."""
    with RawClient(server.port) as raw:
        raw.send(b"MULTI\r\nSET t:c 1\r\nNOSUCHCMD\r\nGET\r\nSET t:c 2\r\nEXEC\r\nGET t:c\r\n")
        replies = raw.replies(7)
    assert replies[0] == b"OK" and replies[1] == b"QUEUED" and replies[4] == b"QUEUED"
    assert str(replies[2]).startswith("ERR unknown command 'NOSUCHCMD'")
    assert str(replies[3]) == "ERR wrong number of arguments for 'get' command"
    assert str(replies[5]) == "EXECABORT Transaction discarded because of previous errors."
    assert replies[6] is None


def test_discard_and_misplaced_transaction_verbs(server) -> None:
    """DISCARD drops the queue; EXEC/DISCARD without MULTI and nested MULTI are errors; a
    `no-multi` verb (SAVE) is refused inside MULTI, as Redis 7.0 refuses it."""
    with RawClient(server.port) as raw:
        raw.send(b"EXEC\r\nDISCARD\r\nMULTI\r\nMULTI\r\nSET t:d 1\r\nSAVE\r\nDISCARD\r\nGET t:d\r\nMULTI\r\nEXEC\r\n")
        replies = raw.replies(10)
    assert [str(reply) for reply in replies[:2]] == ["ERR EXEC without MULTI", "ERR DISCARD without MULTI"]
    assert replies[2] == b"OK" and str(replies[3]) == "ERR MULTI calls can not be nested"
    assert replies[4] == b"QUEUED" and str(replies[5]) == "ERR Command not allowed inside a transaction"
    assert replies[6] == b"OK" and replies[7] is None
    assert replies[8] == b"OK" and replies[9] == []


def test_requirepass_refuses_everything_before_auth(tmp_path) -> None:
    """NOAUTH before AUTH, WRONGPASS for a bad password, everything after a good one."""
    with running_server(tmp_path / "data", requirepass="s3cret") as server:
        with RawClient(server.port) as raw:
            assert str(raw.call(b"GET k\r\n")) == "NOAUTH Authentication required."
            assert str(raw.call(b"AUTH wrong\r\n")).startswith("WRONGPASS")
            assert str(raw.call(b"AUTH someone s3cret\r\n")).startswith("WRONGPASS")
            assert raw.call(b"AUTH s3cret\r\n") == b"OK"
            assert raw.call(b"SET k v\r\n") == b"OK"
        assert client(server, password="s3cret").get("k") == b"v"
        with pytest.raises(redis.AuthenticationError):
            client(server).get("k")
        with RawClient(server.port) as raw:
            assert raw.call(b"HELLO 2 AUTH default s3cret\r\n")[:2] == [b"server", b"redis"]
    with running_server(tmp_path / "other") as open_server:
        with RawClient(open_server.port) as raw:
            assert "without any password configured" in str(raw.call(b"AUTH x\r\n"))
            assert raw.call(b"AUTH default anything\r\n") == b"OK"  # the nopass default user
            assert str(raw.call(b"AUTH other anything\r\n")).startswith("WRONGPASS")


def test_server_verbs_answer_like_redis(server) -> None:
    """HELLO, CLIENT, COMMAND, TIME, CONFIG, SAVE/BGSAVE/BGREWRITEAOF/LASTSAVE, FLUSHALL."""
    r = client(server)
    with RawClient(server.port) as raw:
        hello = raw.call(b"HELLO 2\r\n")
        assert dict(zip(hello[0::2], hello[1::2]))[b"proto"] == 2
        assert str(raw.call(b"HELLO 4\r\n")) == "NOPROTO unsupported protocol version"
        assert raw.call(b"CLIENT GETNAME\r\n") is None
        assert raw.call(b"CLIENT SETNAME worker-1\r\n") == b"OK"
        assert raw.call(b"CLIENT GETNAME\r\n") == b"worker-1"
        assert isinstance(raw.call(b"CLIENT ID\r\n"), int)
        assert b"name=worker-1" in r.execute_command("CLIENT", "LIST")
        docs = raw.call(b"COMMAND DOCS GET\r\n")
        assert docs[0] == b"get" and docs[1][:2] == [b"summary", b"Get the value of a key"]
        assert raw.call(b"COMMAND COUNT\r\n") > 100
    seconds, microseconds = r.time()
    assert seconds > 1_600_000_000 and 0 <= microseconds < 1_000_000
    assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    with pytest.raises(redis.ResponseError, match="must be one of"):
        r.config_set("appendfsync", "sometimes")
    assert r.config_set("appendfsync", "always") is True
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    assert r.info("persistence")["appendfsync"] == "always"
    assert r.config_set("appendfsync", "everysec") is True
    with pytest.raises(redis.ResponseError, match="cannot change 'appendonly'"):
        r.config_set("appendonly", "no")
    assert r.config_set("maxclients", 50) is True and r.config_get("maxclients") == {"maxclients": "50"}
    r.set("kept", "1")
    before = r.lastsave()
    assert r.save() is True
    assert r.lastsave() >= before
    with RawClient(server.port) as raw:
        # One read, one turn: the save cannot have been committed before the rewrite request
        # (commits run between turns), so the rewrite waits for it -- Redis's answer too.
        raw.send(b"BGSAVE\r\nBGREWRITEAOF\r\n")
        assert raw.replies(2) == [b"Background saving started", b"Background append only file rewriting scheduled"]
    assert r.get("kept") == b"1"
    assert r.flushall() is True and r.dbsize() == 0


def test_info_reports_real_layout_policy_and_keys(tmp_path) -> None:
    """INFO's persistence, clients and keyspace sections show the configuration and data."""
    with running_server(tmp_path / "data", shard_count=3, appendfsync="always") as server:
        r = client(server)
        for index in range(10):
            r.set(f"info:{index}", index, ex=100 if index < 4 else None)
        info = r.info()
        assert info["shards"] == 3 and info["appendfsync"] == "always" and info["aof_enabled"] == 1
        assert info["connected_clients"] == 1
        db0 = info["db0"]
        assert (db0["keys"], db0["expires"]) == (10, 4)
        assert 90_000 < db0["avg_ttl"] <= 100_000  # the real mean of four TTLs of 100 s
        assert r.info("persistence")["open_replayed_commands"] == 0
        assert "db0" not in r.info("server")
    with running_server(tmp_path / "data", shard_count=3) as reopened:
        persistence = client(reopened).info("persistence")
        assert persistence["open_replayed_commands"] >= 10
        assert persistence["open_replayed_bytes"] > 0 and persistence["open_dropped_bytes"] == 0
