"""Redis clients work unchanged: redis-py's defaults (RESP3), redis.asyncio, pub/sub, blocking
pops, WATCH and the transaction helper, over real sockets with several connections.

Method: an in-process kevy-server on an ephemeral loopback port (one or several shards);
redis-py 8 clients built with their default constructor (which says HELLO 3) and with
`protocol=2`; threads play the other connections. What is checked is what a client sees
(replies, messages, wake-ups, aborts) and what the log holds afterwards (a served BLPOP is
logged as LPOP). No assertion depends on timing: waits are for events, with timeouts only as
a bound on failure.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import redis
import redis.asyncio
from server_support import RawClient, running_server

from kevy_persist.formats.aof_scan import iter_log
from kevy_persist.disk.os_fs import OsFileSystem

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path / "data") as running:
        yield running


def default_client(server, **options) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=10, **options)


def wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def blocked_clients(server) -> int:
    return default_client(server).info("clients")["blocked_clients"]


@pytest.mark.parametrize("protocol", [None, 2, 3])
def test_redis_py_with_its_defaults_sees_every_reply_shape(server, protocol) -> None:
    """HELLO 3 by default: maps, sets, doubles, nulls, verbatim INFO all decode."""
    options = {} if protocol is None else {"protocol": protocol}
    r = default_client(server, **options)
    assert r.ping() is True
    assert r.set("s", "v") is True and r.get("s") == b"v" and r.get("missing") is None
    assert r.hset("h", mapping={"a": 1, "b": 2}) == 2 and r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert r.sadd("set", "x", "y") == 2 and r.smembers("set") == {b"x", b"y"}
    assert r.zadd("z", {"m": 1.5, "n": 2}) == 2 and r.zscore("z", "m") == 1.5
    # What redis-py gives for Redis 7.0's replies (checked against redis-server): explicit
    # protocol=3 keeps RESP3's shapes, the default and protocol=2 make tuples.
    if protocol == 3:
        assert r.zrange("z", 0, -1, withscores=True) == [[b"m", 1.5], [b"n", 2.0]]
        assert r.zpopmin("z") == [b"m", 1.5]
    else:
        assert r.zrange("z", 0, -1, withscores=True) == [(b"m", 1.5), (b"n", 2.0)]
        assert r.zpopmin("z") == [(b"m", 1.5)]
    assert r.info()["redis_version"].startswith("7.0")
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert r.client_info()["resp"] == ("2" if protocol == 2 else "3")
    assert r.lpush("l", "a") == 1 and r.lrange("l", 0, -1) == [b"a"]
    pipeline = r.pipeline(transaction=True)
    pipeline.incr("n").incr("n").get("n")
    assert pipeline.execute() == [1, 2, b"2"]


def test_redis_asyncio_with_its_defaults_works(server) -> None:
    async def main() -> list:
        client = redis.asyncio.Redis(port=server.port)
        try:
            await client.set("a", "1")
            values = [await client.get("a"), await client.incr("a"), await client.hgetall("none")]
            pubsub = client.pubsub()
            await pubsub.subscribe("news")
            confirmation = await pubsub.get_message(timeout=5)
            await client.publish("news", "hello")
            message = None
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            await pubsub.aclose()
            return [*values, confirmation["type"], message["data"]]
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [b"1", 2, {}, "subscribe", b"hello"]


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_messages_and_pattern_messages_reach_every_subscriber(server, protocol) -> None:
    subscribers = [default_client(server, protocol=protocol).pubsub() for _ in range(3)]
    for pubsub in subscribers[:2]:
        pubsub.subscribe("news")
    subscribers[2].psubscribe("n*")
    for pubsub in subscribers:
        assert pubsub.get_message(timeout=5)["type"] in ("subscribe", "psubscribe")
    publisher = default_client(server, protocol=protocol)
    assert publisher.publish("news", "m1") == 3
    assert publisher.pubsub_numsub("news") == [(b"news", 2)]
    assert publisher.pubsub_numpat() == 1
    for pubsub in subscribers:
        message = pubsub.get_message(timeout=5)
        assert message["data"] == b"m1" and message["channel"] == b"news"
    for pubsub in subscribers:
        pubsub.close()


def test_resp3_pushes_and_replies_share_one_connection(server) -> None:
    """A RESP3 subscriber may still run commands; pushes arrive between its replies."""
    with RawClient(server.port) as raw:
        assert raw.call(b"HELLO 3\r\n")[b"proto"] == 3
        raw.send(b"SUBSCRIBE ch\r\n")
        assert raw.replies(1) == [[b"subscribe", b"ch", 1]]
        default_client(server).publish("ch", "between")
        raw.send(b"SET k v\r\nGET k\r\n")
        replies = raw.replies(3)
        assert [b"message", b"ch", b"between"] in replies and b"OK" in replies and b"v" in replies


def test_resp2_subscribed_mode_allows_only_the_subscribe_family(server) -> None:
    with RawClient(server.port) as raw:
        raw.send(b"SUBSCRIBE ch\r\nGET k\r\nPING\r\nQUIT\r\n")
        replies = raw.replies(4)
        assert replies[0] == [b"subscribe", b"ch", 1]
        assert str(replies[1]).startswith("ERR Can't execute 'get'")
        assert replies[2] == [b"pong", b""] and replies[3] == b"OK"


def test_a_slow_subscriber_past_the_pubsub_limit_is_disconnected(server) -> None:
    """client-output-buffer-limit pubsub: a subscriber that never reads is closed, not buffered."""
    r = default_client(server)
    r.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
    with RawClient(server.port) as slow:
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send(b"SUBSCRIBE firehose\r\n")
        assert slow.replies(1) == [[b"subscribe", b"firehose", 1]]
        payload = b"x" * 4096
        delivered = 0
        for _ in range(2000):
            delivered = r.publish("firehose", payload)
            if delivered == 0:
                break
        assert delivered == 0, "the subscriber was never disconnected"
    assert r.info("stats")["client_output_buffer_limit_disconnections"] >= 1
    assert r.ping() is True


@pytest.mark.parametrize("shard_count", [1, 3])
def test_blpop_wakes_on_a_push_from_another_connection_on_any_shard(tmp_path, shard_count) -> None:
    with running_server(tmp_path / "data", shard_count=shard_count) as server:
        results: list = []
        keys = [f"queue:{index}" for index in range(6)]  # spread over the shards

        def consume() -> None:
            results.append(default_client(server).blpop(keys, timeout=10))

        consumer = threading.Thread(target=consume)
        consumer.start()
        wait_until(lambda: blocked_clients(server) == 1)
        default_client(server).rpush(keys[-1], "hello")
        consumer.join(10)
        assert results == [(keys[-1].encode(), b"hello")]
        assert blocked_clients(server) == 0


def test_a_push_inside_another_clients_multi_wakes_the_blocked_client_after_exec(server) -> None:
    results: list = []
    consumer = threading.Thread(target=lambda: results.append(default_client(server).brpop(["jobs"], timeout=10)))
    consumer.start()
    wait_until(lambda: blocked_clients(server) == 1)
    pipeline = default_client(server).pipeline(transaction=True)
    pipeline.lpush("jobs", "first").lpush("jobs", "second").llen("jobs")
    assert pipeline.execute() == [1, 2, 2]
    consumer.join(10)
    assert results == [(b"jobs", b"first")]
    assert default_client(server).lrange("jobs", 0, -1) == [b"second"]


def test_blocked_clients_are_served_in_the_order_they_blocked(server) -> None:
    order: list = []
    threads = []
    for index in range(4):
        thread = threading.Thread(target=lambda index=index: order.append((index, default_client(server).blpop("fifo", 10))))
        thread.start()
        threads.append(thread)
        wait_until(lambda count=index + 1: blocked_clients(server) == count)
    default_client(server).rpush("fifo", "a", "b", "c", "d")
    for thread in threads:
        thread.join(10)
    assert sorted(order) == [(0, (b"fifo", b"a")), (1, (b"fifo", b"b")), (2, (b"fifo", b"c")), (3, (b"fifo", b"d"))]


def test_a_served_pop_is_logged_as_the_pop_never_as_the_blocking_verb(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, appendfsync="always") as server:
        results: list = []
        consumer = threading.Thread(target=lambda: results.append(default_client(server).blmove("src", "dst", 10, "RIGHT", "LEFT")))
        consumer.start()
        wait_until(lambda: blocked_clients(server) == 1)
        default_client(server).rpush("src", "a", "b")
        consumer.join(10)
        assert results == [b"b"]
        assert default_client(server).bzpopmin("nothing", timeout=0.05) is None
    verbs = [entry.argv[0].upper() for entry in iter_log(OsFileSystem(), str(data_dir / "aof-0.aof")) if entry.argv]
    assert b"LMOVE" in verbs and not any(verb.startswith(b"BL") or verb.startswith(b"BZ") for verb in verbs)
    with running_server(data_dir) as reopened:
        r = default_client(reopened)
        assert r.lrange("src", 0, -1) == [b"a"] and r.lrange("dst", 0, -1) == [b"b"]


def test_client_unblock_and_timeouts_answer_the_blocked_client(server) -> None:
    r = default_client(server)
    blocked_id: list = []
    results: list = []

    def consume() -> None:
        client = default_client(server)
        blocked_id.append(client.client_id())
        results.append(client.blpop("never", timeout=0))

    consumer = threading.Thread(target=consume)
    consumer.start()
    wait_until(lambda: blocked_clients(server) == 1)
    assert r.client_unblock(blocked_id[0]) is True
    consumer.join(10)
    assert results == [None] and blocked_clients(server) == 0
    started = time.monotonic()
    assert r.blpop("never", timeout=0.2) is None
    assert time.monotonic() - started >= 0.15  # a lower bound only: never an upper one


def test_watch_aborts_exec_when_another_connection_writes(server) -> None:
    r = default_client(server)
    r.set("balance", 10)
    with r.pipeline() as pipeline:
        pipeline.watch("balance")
        current = int(pipeline.get("balance"))
        default_client(server).set("balance", 99)
        pipeline.multi()
        pipeline.set("balance", current - 1)
        with pytest.raises(redis.WatchError):
            pipeline.execute()
    assert r.get("balance") == b"99"


def test_redis_py_transaction_helper_retries_until_exec_succeeds(server) -> None:
    r = default_client(server)
    r.set("counter", 0)
    attempts = []

    def increment(pipeline) -> None:
        value = int(pipeline.get("counter"))
        if not attempts:
            default_client(server).incr("counter")  # the first attempt is spoiled
        attempts.append(value)
        pipeline.multi()
        pipeline.set("counter", value + 1)

    r.transaction(increment, "counter")
    assert attempts == [0, 1] and r.get("counter") == b"2"


def test_watch_counts_expiry_and_flush_but_not_writes_that_change_nothing(server) -> None:
    r = default_client(server)
    other = default_client(server)
    with r.pipeline() as pipeline:
        pipeline.watch("absent")
        other.delete("absent")  # deletes nothing
        pipeline.multi()
        pipeline.ping()
        assert pipeline.execute() == [True]
    r.set("short", 1, px=50)
    with r.pipeline() as pipeline:
        pipeline.watch("short")
        wait_until(lambda: other.get("short") is None)
        pipeline.multi()
        pipeline.ping()
        with pytest.raises(redis.WatchError):
            pipeline.execute()
    r.set("flushed", 1)
    with r.pipeline() as pipeline:
        pipeline.watch("flushed")
        other.flushall()
        pipeline.multi()
        pipeline.ping()
        with pytest.raises(redis.WatchError):
            pipeline.execute()


def test_an_idle_client_is_closed_after_the_timeout_but_not_a_subscriber(tmp_path) -> None:
    """`timeout 1`: an idle connection is closed by the ticker; a subscriber and a blocked
    client are not (Redis never times those out)."""
    with running_server(tmp_path / "data", idle_timeout_s=1) as server:
        idle = RawClient(server.port)
        assert idle.call(b"PING\r\n") == b"PONG"
        subscriber = RawClient(server.port)
        subscriber.send(b"SUBSCRIBE ch\r\n")
        assert subscriber.replies(1) == [[b"subscribe", b"ch", 1]]
        waiter = RawClient(server.port)
        waiter.send(b"BLPOP never 0\r\n")
        wait_until(lambda: blocked_clients(server) == 1)
        assert idle.is_closed_by_server()  # the read returns end-of-stream once it is closed
        assert default_client(server).publish("ch", "still here") == 1
        assert subscriber.replies(1) == [[b"message", b"ch", b"still here"]]
        assert blocked_clients(server) == 1
        for connection in (idle, subscriber, waiter):
            connection.close()
