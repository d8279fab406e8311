"""XREAD BLOCK and XREADGROUP BLOCK on kevy-server: parked by the event loop, woken by writes.

Method: an in-process kevy-server (one or three shards) and raw RESP connections, one per
client, each a socket the test reads exactly the replies it expects from; a blocked request
is sent and answered later. What is checked is what each client receives and when (served
by a write on another connection, by a write inside another client's MULTI once its EXEC is
done, every reader on a key rather than only the first, consumers of one group each served
distinct entries), what the log holds (a served XREADGROUP logged as its effect, never as
XREADGROUP; the PEL survives a restart) and, under `appendfsync always`, that the reader's
entries reach it only once the log holding the delivery is fsynced. The deterministic parts
also run against redis-server 7.0 (`redis` marker) and must answer byte for byte the same,
in RESP2 and RESP3. No assertion depends on timing: waits are for events, with timeouts only
as a bound on failure.
"""

from __future__ import annotations

import os
import time

import pytest
from differential_sessions import compare
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_support import RawClient, running_server
from store_support import CountingFileSystem

from kevy_persist import Store
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.formats.aof_scan import iter_log
from kevy_server import ServerConfig

pytestmark = pytest.mark.timeout(60)


def wait_blocked(port: int, count: int) -> None:
    with RawClient(port) as probe:
        deadline = time.monotonic() + 10
        while b"blocked_clients:%d\r\n" % count not in probe.call(b"INFO clients\r\n"):
            assert time.monotonic() < deadline, "the clients never blocked"
            time.sleep(0.01)


def entries(reply, key: bytes) -> list:
    """The entries of `key` in an XREAD reply ([[key, entries], ...])."""
    return [found for name, found in reply if name == key][0]


@pytest.mark.parametrize("shard_count", [1, 3])
def test_xread_block_wakes_on_an_xadd_from_another_connection(tmp_path, shard_count) -> None:
    with running_server(tmp_path / "data", shard_count=shard_count) as server:
        reader, writer = RawClient(server.port), RawClient(server.port)
        writer.call(b"XADD {s}stream 1-0 f old\r\n")
        reader.send(b"XREAD BLOCK 0 STREAMS {s}stream $\r\n")
        wait_blocked(server.port, 1)
        assert writer.call(b"XADD {s}other 1-0 f v\r\n") == b"1-0"  # another key: still parked
        assert writer.call(b"XADD {s}stream 2-0 f new\r\n") == b"2-0"
        assert reader.replies(1) == [[[b"{s}stream", [[b"2-0", [b"f", b"new"]]]]]]
        wait_blocked(server.port, 0)


def test_every_reader_of_a_key_is_served_and_group_consumers_get_distinct_entries(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        writer = RawClient(server.port)
        writer.call(b"XGROUP CREATE s g $ MKSTREAM\r\n")
        plain = [RawClient(server.port) for _ in range(2)]
        consumers = [RawClient(server.port) for _ in range(2)]
        for reader in plain:
            reader.send(b"XREAD BLOCK 0 STREAMS s $\r\n")
        for number, consumer in enumerate(consumers):
            consumer.send(b"XREADGROUP GROUP g c%d COUNT 1 BLOCK 0 STREAMS s >\r\n" % number)
        wait_blocked(server.port, 4)
        writer.call(b"XADD s 1-0 n 1\r\n")
        for reader in plain:
            assert reader.replies(1) == [[[b"s", [[b"1-0", [b"n", b"1"]]]]]]
        assert consumers[0].replies(1) == [[[b"s", [[b"1-0", [b"n", b"1"]]]]]]
        wait_blocked(server.port, 1)  # the second consumer found nothing new: still parked
        writer.call(b"XADD s 2-0 n 2\r\n")
        assert consumers[1].replies(1) == [[[b"s", [[b"2-0", [b"n", b"2"]]]]]]
        assert writer.call(b"XPENDING s g - + 10\r\n") == [
            [b"1-0", b"c0", pytest.approx(0, abs=10_000), 1], [b"2-0", b"c1", pytest.approx(0, abs=10_000), 1],
        ]


def test_a_reader_and_a_pop_waiting_on_one_missing_key_each_get_their_type(tmp_path) -> None:
    """A BLPOP waiting on a key that becomes a stream stays parked (wrong type, as in Redis)
    and does not stop the stream reader behind it from being served."""
    with running_server(tmp_path / "data") as server:
        pop, reader, writer = RawClient(server.port), RawClient(server.port), RawClient(server.port)
        pop.send(b"BLPOP k 0\r\n")
        wait_blocked(server.port, 1)
        reader.send(b"XREAD BLOCK 0 STREAMS k $\r\n")
        wait_blocked(server.port, 2)
        writer.call(b"XADD k 5-0 a b\r\n")
        assert reader.replies(1) == [[[b"k", [[b"5-0", [b"a", b"b"]]]]]]
        wait_blocked(server.port, 1)
        writer.call(b"DEL k\r\n")
        writer.call(b"RPUSH k item\r\n")
        assert pop.replies(1) == [[b"k", b"item"]]


def test_an_xadd_inside_another_clients_multi_wakes_the_reader_after_exec(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        reader, writer = RawClient(server.port), RawClient(server.port)
        writer.call(b"XGROUP CREATE jobs workers $ MKSTREAM\r\n")
        reader.send(b"XREADGROUP GROUP workers w1 BLOCK 0 STREAMS jobs >\r\n")
        wait_blocked(server.port, 1)
        writer.send(b"MULTI\r\nXADD jobs 1-0 task one\r\nXADD jobs 2-0 task two\r\nXLEN jobs\r\nEXEC\r\n")
        assert writer.replies(5) == [b"OK", b"QUEUED", b"QUEUED", b"QUEUED", [b"1-0", b"2-0", 2]]
        # Served once EXEC is done: both entries the block added are there to read.
        assert reader.replies(1) == [[[b"jobs", [[b"1-0", [b"task", b"one"]], [b"2-0", [b"task", b"two"]]]]]]


def test_inside_multi_a_blocking_read_answers_at_once(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        client = RawClient(server.port)
        client.send(b"MULTI\r\nXREAD BLOCK 0 STREAMS nothing $\r\nEXEC\r\n")
        assert client.replies(3) == [b"OK", b"QUEUED", [None]]


def test_timeouts_client_unblock_and_vanished_groups_answer_the_reader(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        control = RawClient(server.port)
        control.call(b"XGROUP CREATE s g $ MKSTREAM\r\n")
        started = time.monotonic()
        assert RawClient(server.port).call(b"XREAD BLOCK 100 STREAMS s $\r\n") is None
        assert time.monotonic() - started >= 0.09  # a lower bound only: never an upper one
        reader = RawClient(server.port)
        reader_id = reader.call(b"CLIENT ID\r\n")
        reader.send(b"XREAD BLOCK 0 STREAMS s $\r\n")
        wait_blocked(server.port, 1)
        assert control.call(b"CLIENT UNBLOCK %d\r\n" % reader_id) == 1
        assert reader.replies(1) == [None]
        reader.send(b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n")
        wait_blocked(server.port, 1)
        assert control.call(b"CLIENT UNBLOCK %d ERROR\r\n" % reader_id) == 1
        assert str(reader.replies(1)[0]) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
        reader.send(b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n")
        wait_blocked(server.port, 1)
        control.call(b"XGROUP DESTROY s g\r\n")
        assert str(reader.replies(1)[0]) == "NOGROUP the consumer group this client was blocked on no longer exists"
        control.call(b"XGROUP CREATE s g $\r\n")
        reader.send(b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n")
        wait_blocked(server.port, 1)
        control.call(b"DEL s\r\n")
        assert str(reader.replies(1)[0]) == "UNBLOCKED the stream key no longer exists"


def test_a_served_xreadgroup_is_logged_as_its_effect_and_durable_before_the_reply(tmp_path) -> None:
    data_dir = tmp_path / "data"
    file_system = CountingFileSystem(OsFileSystem())
    config = ServerConfig(port=0, data_dir=str(data_dir), appendfsync="always")
    store = Store.open(config.store_config(), file_system=file_system)
    log_path = os.path.join(str(data_dir), "aof-0.aof")
    with running_server(data_dir, store=store, appendfsync="always") as server:
        reader, writer = RawClient(server.port), RawClient(server.port)
        writer.call(b"XGROUP CREATE q g $ MKSTREAM\r\n")
        for round_number in range(5):
            reader.send(b"XREADGROUP GROUP g worker BLOCK 0 STREAMS q >\r\n")
            wait_blocked(server.port, 1)
            writer.send(b"XADD q %d-0 job %d\r\n" % (round_number + 1, round_number))
            served = reader.replies(1)[0]
            # The reply left after the fsync covering the delivery's records.
            assert file_system.unsynced_bytes(log_path) == 0
            assert entries(served, b"q") == [[b"%d-0" % (round_number + 1), [b"job", b"%d" % round_number]]]
            writer.replies(1)
    verbs = {entry.argv[0].upper() for entry in iter_log(OsFileSystem(), str(data_dir / "aof-0.aof")) if entry.argv}
    assert b"XREADGROUP" not in verbs and b"XCLAIM" in verbs
    with running_server(data_dir) as reopened:
        pending = RawClient(reopened.port).call(b"XPENDING q g\r\n")
        assert pending[:3] == [5, b"1-0", b"5-0"] and pending[3] == [[b"worker", b"5"]]


# -- against redis-server 7.0 ----------------------------------------------------------------


def _session(protocol: int) -> list:
    hello = b"HELLO %d\r\n" % protocol
    return [
        ("r", hello, 1), ("w", hello, 1), ("x", hello, 1),
        ("w", b"XADD s 1-0 f v\r\nXGROUP CREATE s g $\r\n", 2),
        ("r", b"XREAD BLOCK 0 STREAMS s $\r\n", 0),
        ("x", b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n", 0),
        ("w", b"XADD s 2-0 a 1\r\n", 1),
        ("r", b"", 1), ("x", b"", 1),
        ("x", b"XREADGROUP GROUP g c BLOCK 0 COUNT 1 STREAMS s >\r\n", 0),
        ("w", b"MULTI\r\nXADD s 3-0 b 2\r\nXADD s 4-0 c 3\r\nEXEC\r\n", 4),
        ("x", b"", 1),
        ("r", b"XREAD BLOCK 10 STREAMS s $\r\n", 1),
        ("r", b"XREADGROUP GROUP g c BLOCK 10 STREAMS s >\r\n", 1),
        ("r", b"XREAD BLOCK 10 STREAMS s 0-0\r\n", 1),
        ("r", b"XREAD BLOCK -1 STREAMS s $\r\nXREAD BLOCK x STREAMS s $\r\nXREADGROUP GROUP nog c BLOCK 0 STREAMS s >\r\n", 3),
        ("r", b"MULTI\r\nXREAD BLOCK 0 STREAMS s $\r\nXREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\nEXEC\r\n", 4),
        ("x", b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n", 0),
        ("w", b"XGROUP DESTROY s g\r\n", 1),
        ("x", b"", 1),
        ("w", b"XGROUP CREATE s g $\r\n", 1),
        ("x", b"XREADGROUP GROUP g c BLOCK 0 STREAMS s >\r\n", 0),
        ("w", b"DEL s\r\n", 1),
        ("x", b"", 1),
        ("w", b"XPENDING s g\r\n", 1),
    ]


@pytest.mark.redis
@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_stream_reads_answer_like_redis(redis_port, tmp_path, protocol) -> None:  # noqa: F811
    compare(redis_port, tmp_path / "data", _session(protocol))
