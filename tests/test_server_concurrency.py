"""200 concurrent connections mixing pipelines, MULTI, blocking pops and pub/sub: every reply
arrives, in order, exactly once.

Method: one thread per connection, each with a raw socket (replies parsed by hiredis), all
released together by a barrier against one in-process kevy-server (2 shards, slot routing so a `{tag}` keeps a transaction on one shard):
- 89 pipeliners send 25 batches of `INCR own-counter` / `ECHO token` pairs and check every
  reply is the next counter value and the token it sent (a reordered or lost reply fails);
- 40 transactions run MULTI / INCR / RPUSH / EXEC on their own keys and check each EXEC's
  pair of replies;
- 30 consumers BLPOP a shared queue until each has 10 items, while 10 producers RPUSH 30
  unique items each: every item is consumed exactly once;
- 30 subscribers receive all 50 numbered messages of a publisher, in order.
Afterwards the keyspace holds exactly the counters and lists the clients were told about.
"""

from __future__ import annotations

import threading

import pytest
from server_support import RawClient, running_server

pytestmark = pytest.mark.timeout(240)

PIPELINERS, TRANSACTIONS, CONSUMERS, PRODUCERS, SUBSCRIBERS = 89, 40, 30, 10, 30
BATCHES, PAIRS_PER_BATCH, TRANSACTION_ROUNDS = 25, 8, 20
ITEMS_PER_CONSUMER, MESSAGES = 10, 50
CONNECTIONS = PIPELINERS + TRANSACTIONS + CONSUMERS + PRODUCERS + SUBSCRIBERS + 1  # + the publisher


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
def test_two_hundred_connections_get_every_reply_in_order(tmp_path, appendfsync) -> None:
    assert CONNECTIONS == 200
    with running_server(tmp_path / "data", shard_count=2, routing="slots", appendfsync=appendfsync) as server:
        barrier = threading.Barrier(CONNECTIONS)
        errors: list[BaseException] = []
        consumed: list[bytes] = []
        subscribed = threading.Barrier(SUBSCRIBERS + 1)
        lock = threading.Lock()

        def pipeliner(index: int) -> None:
            with RawClient(server.port) as raw:
                barrier.wait()
                expected = 0
                for batch in range(BATCHES):
                    request = b""
                    for pair in range(PAIRS_PER_BATCH):
                        token = b"p%d-%d-%d" % (index, batch, pair)
                        request += b"INCR pipe:%d\r\nECHO %s\r\n" % (index, token)
                    raw.send(request)
                    replies = raw.replies(2 * PAIRS_PER_BATCH)
                    for pair in range(PAIRS_PER_BATCH):
                        expected += 1
                        assert replies[2 * pair] == expected
                        assert replies[2 * pair + 1] == b"p%d-%d-%d" % (index, batch, pair)

        def transaction(index: int) -> None:
            with RawClient(server.port) as raw:
                barrier.wait()
                for round_number in range(1, TRANSACTION_ROUNDS + 1):
                    raw.send(b"MULTI\r\nINCR {t%d}n\r\nRPUSH {t%d}l %d\r\nEXEC\r\n" % (index, index, round_number))
                    replies = raw.replies(4)
                    assert replies[:3] == [b"OK", b"QUEUED", b"QUEUED"]
                    assert replies[3] == [round_number, round_number]

        def consumer(index: int) -> None:
            with RawClient(server.port) as raw:
                barrier.wait()
                for _ in range(ITEMS_PER_CONSUMER):
                    raw.send(b"BLPOP shared:queue 30\r\n")
                    reply = raw.replies(1)[0]
                    assert reply is not None and reply[0] == b"shared:queue", reply
                    with lock:
                        consumed.append(reply[1])

        def producer(index: int) -> None:
            per_producer = CONSUMERS * ITEMS_PER_CONSUMER // PRODUCERS
            with RawClient(server.port) as raw:
                barrier.wait()
                for item in range(per_producer):
                    assert raw.call(b"RPUSH shared:queue item-%d-%d\r\n" % (index, item)) >= 1

        def subscriber(index: int) -> None:
            with RawClient(server.port) as raw:
                raw.send(b"SUBSCRIBE news\r\n")
                assert raw.replies(1) == [[b"subscribe", b"news", 1]]
                subscribed.wait()
                barrier.wait()
                messages = raw.replies(MESSAGES)
                assert messages == [[b"message", b"news", b"m%d" % number] for number in range(MESSAGES)]

        def publisher() -> None:
            with RawClient(server.port) as raw:
                subscribed.wait()
                barrier.wait()
                for number in range(MESSAGES):
                    assert raw.call(b"PUBLISH news m%d\r\n" % number) == SUBSCRIBERS

        def guarded(work, *arguments) -> None:
            try:
                work(*arguments)
            except BaseException as error:  # noqa: BLE001 -- reported by the main thread
                errors.append(error)
                barrier.abort()

        roles = (
            [(pipeliner, index) for index in range(PIPELINERS)]
            + [(transaction, index) for index in range(TRANSACTIONS)]
            + [(consumer, index) for index in range(CONSUMERS)]
            + [(producer, index) for index in range(PRODUCERS)]
            + [(subscriber, index) for index in range(SUBSCRIBERS)]
        )
        threads = [threading.Thread(target=guarded, args=role) for role in roles]
        threads.append(threading.Thread(target=guarded, args=(publisher,)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(200)
        assert not errors, errors[0]
        assert not any(thread.is_alive() for thread in threads)
        assert sorted(consumed) == sorted(
            b"item-%d-%d" % (index, item)
            for index in range(PRODUCERS) for item in range(CONSUMERS * ITEMS_PER_CONSUMER // PRODUCERS)
        )
        with RawClient(server.port) as raw:
            counters = raw.call(b"MGET " + b" ".join(b"pipe:%d" % index for index in range(PIPELINERS)) + b"\r\n")
            assert counters == [b"%d" % (BATCHES * PAIRS_PER_BATCH)] * PIPELINERS
            assert raw.call(b"LLEN {t7}l\r\n") == TRANSACTION_ROUNDS
            assert raw.call(b"EXISTS shared:queue\r\n") == 0
