"""CLIENT TRACKING: server-assisted client-side caching, against redis-server 7.0 and by a
small cache built on it.

Method: differential sessions over several connections (`differential_sessions.compare`):
a tracking connection reads keys, others write them, and the invalidation pushes (RESP3),
the redirected `__redis__:invalidate` messages (RESP2 subscriber), the flush's null, the
`tracking-redir-broken` push, BCAST with prefixes and NOLOOP, OPTIN with CLIENT CACHING,
and the writer's own invalidation after its reply must arrive exactly as Redis sends them.
Then a behaviour test: a dictionary cache kept coherent by the pushes alone serves reads
that always equal the server's value while other connections write (redis-py 8's own
client-side cache refuses servers before 7.4, so the test carries its own).
"""

from __future__ import annotations

import random
import socket

import hiredis
import pytest
from differential_sessions import compare
from redis_oracle import redis_port  # noqa: F401 -- fixture
from server_support import running_server

pytestmark = pytest.mark.timeout(120)


@pytest.mark.redis
def test_default_mode_invalidations_reach_the_reader_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("t", b"HELLO 3\r\n", 1),
        ("t", b"CLIENT TRACKING ON\r\n", 1),
        ("t", b"GET k\r\nMGET k2 k3\r\n", 2),
        ("w", b"SET k 1\r\n", 1),
        ("t", b"", 1),
        ("w", b"MSET k2 a k3 b\r\n", 1),
        ("t", b"", 2),
        ("w", b"SET k 2\r\n", 1),  # k was not read again: no second message
        ("t", b"GET k\r\nSET k 3\r\n", 3),  # its own write: the message follows the reply
        ("t", b"GET k\r\n", 1),
        ("w", b"FLUSHALL\r\n", 1),
        ("t", b"", 1),
        ("t", b"GET e\r\n", 1),
        ("w", b"SET e 1 PX 1\r\n", 1),
        ("t", b"", 1),
        ("t", b"CLIENT TRACKING OFF\r\nGET z\r\n", 2),
        ("w", b"SET z 1\r\n", 1),
        ("t", b"PING\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps)


def _redirect_session(port: int) -> list:
    """Run the redirect scenario by hand (it needs the subscriber's id): the transcript."""
    from server_differential import WireClient

    subscriber, tracker, writer = WireClient(port), WireClient(port), WireClient(port)
    transcript = []
    subscriber.send(b"CLIENT ID\r\nSUBSCRIBE __redis__:invalidate\r\n")
    subscriber_id = subscriber.reply()
    transcript.append(subscriber.reply())
    tracker.send(b"CLIENT TRACKING ON REDIRECT %d\r\nGET z\r\nCLIENT GETREDIR\r\nCLIENT TRACKINGINFO\r\n" % subscriber_id)
    reply = tracker.replies(4)
    transcript.append([reply[0], reply[1], reply[2] == subscriber_id, reply[3][:2], reply[3][4:]])
    writer.send(b"SET z 1\r\n")
    transcript.append(writer.reply())
    transcript.append(subscriber.reply())
    tracker.send(b"GET z\r\n")
    transcript.append(tracker.reply())
    writer.send(b"FLUSHALL\r\n")
    transcript.append(writer.reply())
    transcript.append(subscriber.reply())
    tracker.send(b"GET z\r\n")
    transcript.append(tracker.reply())
    subscriber.close()
    tracker.send(b"HELLO 3\r\n")
    tracker.reply()
    writer.send(b"PING\r\n")
    writer.reply()  # the subscriber's close is seen by now
    writer.send(b"SET z 2\r\n")
    transcript.append(writer.reply())
    pushed = tracker.reply()
    transcript.append((pushed[0], pushed[1][0], pushed[1][1] == subscriber_id))
    tracker.send(b"CLIENT TRACKINGINFO\r\n")
    info = tracker.reply()
    transcript.append(info[1][:2])
    for connection in (tracker, writer):
        connection.close()
    return transcript


@pytest.mark.redis
def test_redirected_messages_and_the_broken_redirect_push_match_redis(redis_port, tmp_path) -> None:  # noqa: F811
    from differential_sessions import reset_reference

    reset_reference(redis_port)
    theirs = _redirect_session(redis_port)
    with running_server(tmp_path / "data") as server:
        ours = _redirect_session(server.port)
    assert ours == theirs


@pytest.mark.redis
def test_broadcast_prefixes_noloop_and_optin_like_redis(redis_port, tmp_path) -> None:  # noqa: F811
    steps = [
        ("b", b"HELLO 3\r\n", 1),
        ("b", b"CLIENT TRACKING ON BCAST PREFIX a: PREFIX b: NOLOOP\r\n", 1),
        ("b", b"SET a:own x\r\n", 1),  # its own write, NOLOOP: nothing
        ("w", b"SET a:1 y\r\nSET a:2 y\r\nSET c 1\r\nSET b:x 1\r\n", 4),
        ("b", b"", 2),
        ("w", b"MSET a:3 1 b:4 2\r\n", 1),
        ("b", b"", 2),
        ("o", b"HELLO 3\r\n", 1),
        ("o", b"CLIENT TRACKING ON OPTIN\r\nGET o1\r\nCLIENT CACHING yes\r\nGET o2\r\nGET o3\r\n", 5),
        ("w", b"MSET o1 1 o2 2 o3 3\r\n", 1),
        ("o", b"", 1),
        ("p", b"HELLO 3\r\n", 1),
        ("p", b"CLIENT TRACKING ON OPTOUT\r\nGET q1\r\nCLIENT CACHING no\r\nGET q2\r\nGET q3\r\n", 5),
        ("w", b"MSET q1 1 q2 2 q3 3\r\n", 1),
        ("p", b"", 2),
        ("p", b"CLIENT TRACKINGINFO\r\n", 1),
    ]
    compare(redis_port, tmp_path / "data", steps)


class TrackedCache:
    """A client-side cache over one RESP3 connection: GET answers from the cache when it
    can; invalidation pushes (read with every reply) drop entries."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        self.cache: dict[bytes, bytes | None] = {}
        self.hits = 0
        assert self.call(b"HELLO", b"3")[b"proto"] == 3
        assert self.call(b"CLIENT", b"TRACKING", b"ON") == b"OK"

    def _reply(self):
        while True:
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(65536))
                continue
            if isinstance(reply, list) and len(reply) == 2 and reply[0] == b"invalidate":
                keys = reply[1]
                if keys is None:
                    self.cache.clear()
                else:
                    for key in keys:
                        self.cache.pop(key, None)
                continue
            return reply

    def call(self, *argv: bytes):
        self.sock.sendall(b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(item), item) for item in argv))
        return self._reply()

    def get(self, key: bytes):
        self.call(b"PING")  # a round trip: every push sent before it has been read
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        value = self.call(b"GET", key)
        self.cache[key] = value
        return value


def test_a_cache_kept_by_invalidations_alone_never_serves_a_stale_value(tmp_path) -> None:
    with running_server(tmp_path / "data", shard_count=2) as server:
        cache = TrackedCache(server.port)
        writer = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        writer_reader = hiredis.Reader()
        rng = random.Random(7)
        truth: dict[bytes, bytes | None] = {}
        keys = [b"{s}key:%d" % number for number in range(8)] + [b"key:%d" % number for number in range(8)]
        for step in range(600):
            key = rng.choice(keys)
            action = rng.random()
            if action < 0.35:
                value = b"%d" % step
                writer.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(key), key, len(value), value))
                truth[key] = value
            elif action < 0.45:
                writer.sendall(b"*2\r\n$3\r\nDEL\r\n$%d\r\n%b\r\n" % (len(key), key))
                truth[key] = None
            elif action < 0.47:
                writer.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
                truth.clear()
            else:
                # Let the writer's commands land first: read its pending replies.
                writer.sendall(b"*1\r\n$4\r\nPING\r\n")
                while True:
                    reply = writer_reader.gets()
                    if reply is False:
                        writer_reader.feed(writer.recv(65536))
                        continue
                    if reply == b"PONG":
                        break
                assert cache.get(key) == truth.get(key), (step, key)
        assert cache.hits > 50  # the cache did serve reads
