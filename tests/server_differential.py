"""Helpers for differential tests of kevy-server against a real redis-server (not a test module).

A *session* is a list of steps `(connection, request, replies)`: send `request` (raw bytes:
inline or RESP) on the named connection, then read exactly `replies` replies from it (0 for a
request that blocks; a later step `(name, b"", n)` collects what arrives). The same session
runs against both servers, on fresh connections, and the two transcripts -- every reply
parsed with its RESP2/RESP3 type kept (`WireClient`) -- must be equal once `normalize` has
blanked what legitimately differs (client ids, addresses, timings).

The reference server comes from `redis_oracle.redis_port` (one redis-server for the test
session, flushed before each session); kevy's from `server_support.running_server`.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

from kevy_persist.commands.replies import ErrorReply, SimpleString

Step = tuple[str, bytes, int]
TIMEOUT_S = 5.0


class WireClient:
    """A blocking socket that parses replies keeping their RESP type, push frames included."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if data:
            self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def reply(self) -> Any:
        line = self._line()
        marker, rest = line[:1], line[1:]
        if marker == b"+":
            return SimpleString(rest.decode())
        if marker == b"-":
            return ErrorReply(rest.decode())
        if marker == b":":
            return int(rest)
        if marker == b"$":
            return None if int(rest) < 0 else self._exact(int(rest))
        if marker == b"*":
            count = int(rest)
            return ("null-array",) if count < 0 else [self.reply() for _ in range(count)]
        if marker == b"_":
            return ("null",)
        if marker == b",":
            return ("double", rest)
        if marker == b"#":
            return ("bool", rest == b"t")
        if marker == b"(":
            return ("big", int(rest))
        if marker == b"%":
            return ("map", [self.reply() for _ in range(2 * int(rest))])
        if marker == b"~":
            return ("set", sorted(self.reply() for _ in range(int(rest))))
        if marker == b">":
            return ("push", [self.reply() for _ in range(int(rest))])
        if marker == b"=":
            data = self._exact(int(rest))
            return ("verbatim", data[:3], data[4:])
        raise AssertionError(f"unexpected RESP line {line!r}")

    def replies(self, count: int) -> list[Any]:
        return [self.reply() for _ in range(count)]

    def closed(self) -> bool:
        """True when the server closed the connection (end of stream within the timeout)."""
        try:
            return self.sock.recv(1) == b"" and not self.buffer
        except (ConnectionResetError, socket.timeout):
            return False


def run_session(port: int, steps: list[Step]) -> list[tuple[str, list[Any]]]:
    """Run `steps` against the server on `port`; the transcript of (connection, replies)."""
    connections: dict[str, WireClient] = {}
    transcript: list[tuple[str, list[Any]]] = []
    try:
        for name, request, count in steps:
            if name not in connections:
                connections[name] = WireClient(port)
            connection = connections[name]
            connection.send(request)
            transcript.append((name, connection.replies(count)))
            if count == 0:
                time.sleep(0.05)  # let a blocking request reach the server before the next step
    finally:
        for connection in connections.values():
            connection.close()
    return transcript


_IDS = re.compile(rb"\b(id|addr|laddr|fd|age|idle|qbuf|qbuf-free|argv-mem|multi-mem|obl|oll|omem|tot-mem|rbs|rbp|events|lib-name|lib-ver)=[^ ]*")


def normalize(reply: Any) -> Any:
    """Blank what differs between two correct servers: ids, addresses, INFO and CLIENT texts."""
    if isinstance(reply, list):
        items = [normalize(item) for item in reply]
        if items[:2] == [b"server", b"redis"]:  # HELLO's reply in RESP2: blank the client id
            items[items.index(b"id") + 1] = "*"
        return items
    if isinstance(reply, tuple) and reply[:1] == ("verbatim",):
        return ("verbatim", reply[1])
    if isinstance(reply, tuple) and reply[:1] in (("map",), ("push",)):
        items = [normalize(item) for item in reply[1]]
        if reply[0] == "map":
            # HELLO's map: the client id and the patch version differ.
            for position in range(0, len(items) - 1, 2):
                if items[position] in (b"id", b"version"):
                    items[position + 1] = "*"
        return (reply[0], items)
    if isinstance(reply, bytes) and reply.startswith(b"id="):
        return _IDS.sub(rb"\1=*", reply)
    return reply


def assert_same_transcripts(ours: list[tuple[str, list[Any]]], theirs: list[tuple[str, list[Any]]]) -> None:
    assert len(ours) == len(theirs)
    for step, (mine, redis) in enumerate(zip(ours, theirs)):
        assert mine[0] == redis[0]
        assert normalize(mine[1]) == normalize(redis[1]), f"step {step} on {mine[0]}: redis {redis[1]!r}, kevy {mine[1]!r}"
