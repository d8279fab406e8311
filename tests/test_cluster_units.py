"""The pure parts of cluster mode: where replies end (`ReplyScanner`), who owns a slot and
what a foreign key is answered (`ClusterTopology`), how the main port combines the replies of
a command every shard ran (`cluster_proxy.combine`).

Method: replies Redis sends, encoded by our RESP2/RESP3 encoders, concatenated and fed to
the scanner in every possible two-piece split and byte by byte: the frame ends must be the
same as for the whole stream; the topology against the routing functions for every slot.
"""

from __future__ import annotations

import pytest

from kevy_persist.commands.replies import Double, ErrorReply, SimpleString
from kevy_persist.layout.routing import key_slot, slot_to_shard
from kevy_server.cluster_proxy import combine
from kevy_server.cluster_topology import CROSSSLOT, ClusterTopology, advertised_host, node_id
from kevy_server.replies import Push, ReplyMap, Verbatim, encode2, encode3

REPLIES = [
    SimpleString("OK"), ErrorReply("ERR x"), 42, b"bulk", None, [], [b"a", [1, [None, b""]], 2],
    ReplyMap([b"k", [1, 2], b"m", ReplyMap()]), Verbatim(b"text\r\nwith lines\n"), Push([b"message", b"c", b"hi"]),
    Double(3.5), [ReplyMap([b"slots", [0, 8191]])],
]


@pytest.mark.parametrize("encode", [encode2, encode3], ids=["resp2", "resp3"])
def test_frames_are_found_whatever_the_reads(encode) -> None:
    from kevy_server.reply_frames import ReplyScanner

    parts = [encode(reply) for reply in REPLIES]
    stream = b"".join(parts)
    ends, position = [], 0
    for part in parts:
        position += len(part)
        ends.append(position)
    pushes = [isinstance(reply, Push) and encode is encode3 for reply in REPLIES]
    assert ReplyScanner().scan(stream) == list(zip(ends, pushes))
    for cut in range(len(stream) + 1):
        scanner, buffer = ReplyScanner(), bytearray(stream[:cut])
        found = scanner.scan(buffer)
        buffer += stream[cut:]
        found += scanner.scan(buffer)
        assert [end for end, _ in found] == ends, cut
    scanner, buffer, found = ReplyScanner(), bytearray(), []
    for byte in stream:
        buffer.append(byte)
        found += scanner.scan(buffer)
    assert [end for end, _ in found] == ends


def test_rebase_keeps_scanning_after_the_consumed_bytes() -> None:
    from kevy_server.reply_frames import ReplyScanner

    scanner, buffer = ReplyScanner(), bytearray(b"+OK\r\n*2\r\n:1\r\n")
    assert scanner.scan(buffer) == [(5, False)]
    del buffer[:5]
    scanner.rebase(5)
    buffer += b":2\r\n"
    assert scanner.scan(buffer) == [(12, False)]


def test_a_non_reply_is_refused() -> None:
    from kevy_server.reply_frames import ReplyScanner

    with pytest.raises(ValueError):
        ReplyScanner().scan(b"hello\r\n")


@pytest.mark.parametrize("shard_count", [1, 2, 3, 5])
def test_topology_owns_what_the_routing_routes(shard_count: int) -> None:
    topologies = [ClusterTopology(shard_count, index, "127.0.0.1", 7001) for index in range(shard_count)]
    for slot in range(16384):
        owner = slot_to_shard(slot, shard_count)
        assert all(topology.owner(slot) == owner for topology in topologies)
        assert slot in topologies[owner].my_slots
    key = b"foo"
    owner = slot_to_shard(key_slot(key), shard_count)
    for topology in topologies:
        expected = None if topology.shard_index == owner else f"MOVED 12182 127.0.0.1:{7001 + owner}"
        found = topology.redirect([key])
        assert (str(found) if found is not None else None) == expected
        assert topology.redirect([]) is None
        assert topology.redirect([b"{u}a", b"b"]) is CROSSSLOT
        assert topology.redirect([b"{u}a", b"{u}b"]) == topology.redirect([b"u"])


def test_the_single_key_check_answers_as_the_general_one() -> None:
    import random

    from kevy_persist.commands.key_positions import command_keys

    generator = random.Random(10)
    keys = [b"foo", b"", b"{", b"}", b"{}", b"a{}b{c}", b"foo{{bar}}zap", b"{user1000}.following"]
    keys += [bytes(generator.choice(b"ab{}") for _ in range(generator.randrange(8))) for _ in range(500)]
    keys += [generator.randbytes(16) for _ in range(500)]
    for shard_count in (2, 3):
        topology = ClusterTopology(shard_count, 1, "127.0.0.1", 7001)
        names = topology.single_key_names()
        assert {b"get", b"SET", b"incr", b"LPUSH", b"hset", b"ZADD"} <= names
        assert not {b"mget", b"MSET", b"DEL", b"zunionstore", b"ping"} & names
        for name in names:
            assert command_keys([name, b"k", b"v", b"w"]) == [b"k"], name
        for key in keys:
            found, expected = topology.redirect_single(key), topology.redirect([key])
            assert (str(found) if found is not None else None) == (str(expected) if expected is not None else None)


def test_node_ids_and_advertised_host_follow_kevy() -> None:
    assert node_id(0) == "0" * 39 + "1" and node_id(15) == "0" * 38 + "10"
    assert advertised_host("0.0.0.0") == "127.0.0.1" and advertised_host("10.0.0.5") == "10.0.0.5"


def test_replies_of_every_shard_are_combined() -> None:
    assert combine(b"DBSIZE", [b":3\r\n", b":4\r\n"]) == b":7\r\n"
    assert combine(b"KEYS", [b"*1\r\n$1\r\na\r\n", b"*0\r\n", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"]) == \
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    assert combine(b"FLUSHALL", [b"+OK\r\n", b"-ERR no\r\n"]) == b"-ERR no\r\n"
    assert combine(b"HELLO", [b"%1\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:2\r\n"]) == b"%1\r\n$1\r\na\r\n:1\r\n"
