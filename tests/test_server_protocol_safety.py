"""Protocol safety as Redis does it: no forged replies, small requests before AUTH, descriptor
limits, protected mode, and `--requirepass ""`.

Method: raw sockets against in-process servers, with the texts compared to a real redis-server
7.0 where Redis has one (an error echoing CR/LF, the unauthenticated limits); a child
`python -m kevy_server` under a small RLIMIT_NOFILE for the descriptor cap; a stand-in
listener that fails `accept` with EMFILE for the accept back-off; the machine's own
non-loopback address (when it has one) for protected mode.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import subprocess
import sys
import time

import pytest
import redis
from redis_oracle import redis_server_path
from server_differential import WireClient
from server_support import RawClient, running_server

from kevy_server import ServerConfig

pytestmark = pytest.mark.timeout(60)

FORGED = b"*2\r\n$3\r\nFOO\r\n$24\r\nx\r\n+OK\r\n:1\r\n-ERR forged\r\n\r\n*1\r\n$4\r\nPING\r\n"


@pytest.fixture(scope="module")
def protected_redis():
    """A redis-server with a password, for the texts of the unauthenticated limits."""
    path = redis_server_path()
    if path is None:
        pytest.skip("redis-server is not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([path, "--port", str(port), "--save", "", "--appendonly", "no", "--requirepass", "pw"],
                               stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _exchange(port: int, data: bytes, replies: int) -> tuple[list, bool]:
    client = WireClient(port)
    try:
        client.send(data)
        got = client.replies(replies)
        return got, client.closed()
    finally:
        client.close()


@pytest.mark.redis
def test_an_error_never_echoes_cr_or_lf_so_no_reply_can_be_forged(tmp_path, protected_redis) -> None:
    """The unknown-command error quotes the argument with CR/LF turned into spaces, exactly as
    Redis does; the next reply is PING's, not the forged `+OK`."""
    with running_server(tmp_path / "data") as server:
        ours = _exchange(server.port, FORGED, 2)[0]
    theirs = _exchange(protected_redis, b"AUTH pw\r\n" + FORGED, 3)[0][1:]
    assert ours == theirs
    assert str(ours[0]).startswith("ERR unknown command 'FOO', with args beginning with: 'x  +OK  :1  -ERR forged")
    assert "\r" not in str(ours[0]) and "\n" not in str(ours[0])
    assert ours[1] == "PONG"


@pytest.mark.redis
@pytest.mark.parametrize("request_bytes, message", [
    (b"*11\r\n", "ERR Protocol error: unauthenticated multibulk length"),
    (b"*2\r\n$16385\r\n", "ERR Protocol error: unauthenticated bulk length"),
])
def test_before_auth_only_small_requests_are_read(tmp_path, protected_redis, request_bytes, message) -> None:
    with running_server(tmp_path / "data", requirepass="pw") as server:
        ours = _exchange(server.port, request_bytes, 1)
    theirs = _exchange(protected_redis, request_bytes, 1)
    assert ours == theirs == ([message], True)


def test_auth_early_in_a_pipeline_lifts_the_limits_for_the_rest(tmp_path) -> None:
    big = b"y" * 100_000
    with running_server(tmp_path / "data", requirepass="pw") as server:
        with RawClient(server.port) as raw:
            raw.send(b"AUTH pw\r\n*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\nSTRLEN big\r\n" % (len(big), big))
            assert raw.replies(3) == [b"OK", b"OK", len(big)]
        with RawClient(server.port) as raw:  # a request of 16 KiB is still fine before AUTH
            raw.send(b"*2\r\n$4\r\nECHO\r\n$16384\r\n" + b"z" * 16384 + b"\r\n")
            assert str(raw.replies(1)[0]) == "NOAUTH Authentication required."


def test_an_empty_requirepass_means_no_password(tmp_path) -> None:
    assert ServerConfig(requirepass="").requirepass is None
    with running_server(tmp_path / "data", requirepass="") as server:
        with RawClient(server.port) as raw:
            assert raw.call(b"SET k v\r\n") == b"OK"
            assert "without any password configured" in str(raw.call(b"AUTH x\r\n"))


def test_maxclients_is_capped_to_the_descriptor_limit(tmp_path) -> None:
    """RLIMIT_NOFILE 64 cannot hold 10000 clients: the server says so and serves 32."""

    def small_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--dir", str(tmp_path / "data"), "--maxclients", "10000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=small_limit,
    )
    try:
        lines = []
        port = None
        for line in process.stdout:
            lines.append(line)
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
                break
        assert port is not None, lines
        assert any("maxclients 10000 needs" in line and "serving at most 32" in line for line in lines), lines
        r = redis.Redis(port=port, protocol=2, socket_timeout=5)
        assert r.config_get("maxclients") == {"maxclients": "32"}
        r.close()
    finally:
        process.terminate()
        process.communicate(timeout=20)


class _ExhaustedListener:
    """Stands in for the listening socket: `accept` fails with EMFILE `failures` times."""

    def __init__(self, real: socket.socket, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.attempts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self):
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def close(self) -> None:
        self.real.close()

    def getsockname(self):
        return self.real.getsockname()


def test_accept_backs_off_on_emfile_instead_of_spinning(tmp_path, caplog) -> None:
    """One EMFILE unregisters the listener and schedules its return; one warning is logged;
    connections are accepted again afterwards."""
    from kevy_server import KevyServer

    server = KevyServer(ServerConfig(port=0, data_dir=str(tmp_path / "data")))
    loop = server.loop
    try:
        loop.listen("127.0.0.1", 0)
        fake = _ExhaustedListener(loop.listener, failures=1)
        loop.listener = fake
        waiting = socket.create_connection(("127.0.0.1", fake.getsockname()[1]), timeout=5)
        with caplog.at_level(logging.WARNING, logger="kevy_server"):
            loop._accept()  # noqa: SLF001 -- the accept handler itself is under test
        assert fake.attempts == 1 and loop._listener_paused  # noqa: SLF001
        assert sum("accept failed" in record.getMessage() for record in caplog.records) == 1
        loop._resume_accepting()  # noqa: SLF001 -- what the back-off timer runs
        loop._accept()  # noqa: SLF001
        assert len(loop.clients) == 1
        waiting.close()
    finally:
        loop.close()
        server.store.shutdown()


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("options, served", [
    ({}, False), ({"requirepass": "pw"}, True), ({"protected_mode": False}, True),
])
def test_protected_mode_serves_only_loopback_clients_without_a_password(tmp_path, options, served) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    with running_server(tmp_path / "data", bind="0.0.0.0", **options) as server:
        with socket.create_connection((address, server.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(4096)
        if served:
            assert reply in (b"+PONG\r\n", b"-NOAUTH Authentication required.\r\n")
        else:
            assert reply.startswith(b"-DENIED Redis is running in protected mode")
        with RawClient(server.port) as local:  # loopback is always served
            reply = local.call(b"PING\r\n")
            if "requirepass" in options:
                assert str(reply) == "NOAUTH Authentication required."
            else:
                assert reply == b"PONG"


def test_binding_every_interface_without_a_password_logs_a_warning(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="kevy_server"):
        with running_server(tmp_path / "data", bind="0.0.0.0"):
            pass
    assert any("without a password" in record.getMessage() for record in caplog.records)
