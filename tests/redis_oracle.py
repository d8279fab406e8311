"""A real redis-server as an oracle for differential tests, plus a raw RESP2 client.

(Not named redis_reference: bench/redis_reference.py holds that name on sys.path.)

The server runs on a free loopback port with persistence off (`--save "" --appendonly no`)
and is stopped by its own process handle. The client speaks RESP2 (or RESP3 after HELLO 3)
over a socket and parses replies into the model of `kevy_persist.commands.replies` (status ->
SimpleString, error -> ErrorReply, bulk -> bytes, integer -> int, nil / null array -> None,
array -> list) with no per-command reshaping; RESP3's own types become tagged tuples
("double", text), ("map", items), ("set", sorted items), ("bool", value), so a shape
difference is a difference. `parse_resp2` parses our own encoded replies the same way.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from kevy_persist.commands.replies import ErrorReply, SimpleString, encode_resp2, encode_resp3


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RespClient:
    """A minimal blocking RESP2 client for one connection."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buffer = b""
        self.protocol = 2

    def close(self) -> None:
        self._socket.close()

    def call(self, argv: list[bytes]) -> object:
        frame = b"*%d\r\n" % len(argv) + b"".join(
            b"$%d\r\n%b\r\n" % (len(argument), argument) for argument in argv
        )
        self._socket.sendall(frame)
        return self._read_reply()

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size + 2:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
        return data

    def _read_reply(self) -> object:
        line = self._read_line()
        marker, rest = line[:1], line[1:]
        if marker == b"+":
            return SimpleString(rest.decode())
        if marker == b"-":
            return ErrorReply(rest.decode())
        if marker == b":":
            return int(rest)
        if marker == b"$":
            size = int(rest)
            return None if size < 0 else self._read_exact(size)
        if marker == b"*":
            count = int(rest)
            return None if count < 0 else [self._read_reply() for _ in range(count)]
        if marker == b"_":
            return None
        if marker == b",":
            return ("double", rest)
        if marker == b"%":
            return ("map", tuple(self._read_reply() for _ in range(2 * int(rest))))
        if marker == b"~":
            return ("set", tuple(sorted(self._read_reply() for _ in range(int(rest)))))
        if marker == b"#":
            return ("bool", rest == b"t")
        if marker == b"(":
            return int(rest)
        raise AssertionError(f"unexpected RESP line {line!r}")


def parse_resp2(data: bytes) -> object:
    """Parse one RESP2 reply from bytes (used on our own `encode_resp2` output)."""
    parser = RespClient.__new__(RespClient)
    parser._buffer = data
    parser._socket = None  # type: ignore[assignment]
    reply = parser._read_reply()
    assert parser._buffer == b"", "trailing bytes after one reply"
    return reply


def as_wire(reply: object, protocol: int = 2) -> object:
    """Our reply as a RESP2 (or RESP3) client would see it, via our own encoder."""
    return parse_resp2(encode_resp2(reply) if protocol == 2 else encode_resp3(reply))


def plain(reply: object) -> object:
    """A RESP3 reply with its tags dropped (maps and sets as flat lists, doubles as text)."""
    if isinstance(reply, tuple):
        return list(reply[1]) if reply[0] in ("map", "set") else reply[1]
    return reply


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    """Start one redis-server for the session; skip when none is installed."""
    path = redis_server_path()
    if path is None:
        pytest.skip("redis-server is not on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client = RespClient(port)
                client.call([b"PING"])
                client.close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.skip("redis-server did not start")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def redis_client(redis_port: int) -> Iterator[RespClient]:
    """A RESP2 connection to a flushed reference server."""
    client = RespClient(redis_port)
    client.call([b"FLUSHALL"])
    yield client
    client.close()


@pytest.fixture()
def redis_client_resp3(redis_port: int) -> Iterator[RespClient]:
    """A RESP3 connection (HELLO 3) to a flushed reference server."""
    client = RespClient(redis_port)
    client.call([b"HELLO", b"3"])
    client.protocol = 3
    client.call([b"FLUSHALL"])
    yield client
    client.close()
