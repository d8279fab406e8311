"""Bad clients cost their own connection, never the server: malformed input, limits, floods.

Method: an in-process `KevyServer` on an ephemeral loopback port; raw sockets send garbage,
forged lengths and oversized requests, or open more connections than `maxclients`; after each
abuse a fresh client must still get PONG and see the data written before.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import TIMEOUT_S, RawClient, client, running_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("robust") / "data", max_request_bytes=1024 * 1024) as running:
        client(running).set("canary", "alive")
        yield running


def assert_healthy(server) -> None:
    r = client(server)
    assert r.ping() is True
    assert r.get("canary") == b"alive"


@pytest.mark.parametrize(
    "garbage, message",
    [
        (b"*1\r\n$99999999999\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*-5\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*99999999\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*2\r\n$3\r\nGET\r\n:12\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$" + b"7" * 40 + b"\r\n", "ERR Protocol error: too big bulk count string"),
        (b'SET "open quote\r\n', "ERR Protocol error: unbalanced quotes in request"),
    ],
)
def test_protocol_errors_answer_then_close_and_the_server_lives(server, garbage, message) -> None:
    """The client gets `-ERR Protocol error: ...`, its connection is closed, others go on."""
    with RawClient(server.port) as raw:
        raw.send(garbage)
        replies = raw.replies(1)
        assert [str(reply) for reply in replies] == [message]
        assert raw.is_closed_by_server()
    assert_healthy(server)


def test_requests_before_a_protocol_error_are_answered_first(server) -> None:
    """Like Redis: the good requests of the batch get replies, then the error, then close."""
    with RawClient(server.port) as raw:
        raw.send(b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$-9\r\n")
        replies = raw.replies(3)
        assert replies[:2] == [b"PONG", b"hi"]
        assert str(replies[2]) == "ERR Protocol error: invalid bulk length"
        assert raw.is_closed_by_server()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=300))
def test_random_bytes_never_take_the_server_down(server, garbage) -> None:
    """Whatever a client sends, the next client is served (and sees the old data)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S)
    try:
        sock.sendall(garbage)
        sock.shutdown(socket.SHUT_WR)  # end-of-stream: the server must finish and close
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert_healthy(server)


def test_a_request_above_max_request_bytes_is_refused(server) -> None:
    """A request whose bulk lengths add up beyond the limit is an error, not a buffer."""
    with RawClient(server.port) as raw:
        header = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % (2 * 1024 * 1024)
        raw.send(header)
        assert str(raw.replies(1)[0]) == "ERR Protocol error: invalid bulk length"
    with RawClient(server.port) as raw:  # many arguments, each small, adding up too much
        # 9 + 27 * 38836 bytes is the first size above 1 MiB: the server can only object
        # after reading the last byte, so no byte of ours meets a closed socket.
        raw.send(b"*100000\r\n" + (b"$20\r\n" + b"y" * 20 + b"\r\n") * 38836)
        assert str(raw.replies(1)[0]) == "ERR Protocol error: request exceeds max-request-bytes"
    assert_healthy(server)


def test_a_big_value_within_the_limit_arrives_whole(server) -> None:
    """A 900 KiB value sent in many reads is stored and read back exactly."""
    value = bytes(range(256)) * 3600
    r = client(server)
    assert r.set("big", value) is True
    assert r.get("big") == value


def test_maxclients_refuses_one_more_and_admits_after_a_close(tmp_path) -> None:
    """With maxclients=2 the third connection gets the Redis error; a slot frees on close."""
    with running_server(tmp_path / "data", maxclients=2) as server:
        first, second = RawClient(server.port), RawClient(server.port)
        assert first.call(b"PING\r\n") == b"PONG" and second.call(b"PING\r\n") == b"PONG"
        with RawClient(server.port) as third:
            assert str(third.replies(1)[0]) == "ERR max number of clients reached"
            assert third.is_closed_by_server()
        first.close()
        deadline = time.monotonic() + 10
        replies: list = []
        while replies != [b"PONG"] and time.monotonic() < deadline:
            time.sleep(0.01)  # the server notices the close on the connection's own thread
            with RawClient(server.port) as fourth:
                fourth.send(b"PING\r\n")
                # A refused client may see only a reset (its PING was never read): no reply.
                replies = fourth.replies(1)
        assert replies == [b"PONG"]
        second.close()
        assert server.rejected_connections >= 1  # INFO's figure; a client could still be refused


def test_client_that_disconnects_mid_request_leaves_no_trace(server) -> None:
    """Half a frame then a close: the partial request is dropped, nothing is applied."""
    with RawClient(server.port) as raw:
        raw.send(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nabc")
    assert client(server).get("half") is None
    assert_healthy(server)
